"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", one `v1=` per valid secret.

    Orders-Signature: t=1767225600,v1=5f0c...,v1=9ab1...

During a secret rotation both the new and the previous secret sign, so a receiver holding
either verifies. Receivers refuse timestamps outside their replay window (docs/webhooks.md).
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Orders-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={sign(s, timestamp, body)}" for s in secrets)])


def verify(
    header: str,
    body: bytes,
    secret: str,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does: a v1 signature made with `secret`, within the replay window."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in fields if key == "t"]
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        return False
    timestamp = int(timestamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, value) for key, value in fields if key == "v1")
