"""The receiver's verification code in docs/webhooks.md, run as written against real signed
deliveries: it accepts them, and refuses a changed body, another secret and an old timestamp."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.receivers import Receiver, deliver, hook_settings

DOC = Path(__file__).parent.parent / "docs" / "webhooks.md"
CODE = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


@pytest.fixture
def settings(settings):
    return hook_settings(settings)


def documented_verify():
    scope: dict = {}
    exec(compile(CODE[0], str(DOC), "exec"), scope)  # noqa: S102 - our own documentation
    return scope


def test_the_documented_receiver_code_verifies_real_deliveries(
    client, alice, settings, database_url
):
    receiver = Receiver().start()
    try:
        body = {"url": receiver.url(), "events": ["order.failed"]}
        hook = client.post("/webhooks", json=body, headers=alice.headers).json
        client.post(f"/webhooks/{hook['endpoint_id']}/ping", headers=alice.headers)
        deliver(database_url, settings)
    finally:
        receiver.stop()
    scope = documented_verify()
    verify = scope["verify_orders_webhook"]
    (hit,) = receiver.hits
    header = hit.headers["Orders-Signature"]

    assert verify(hit.body, header, hook["secret"])
    assert not verify(hit.body + b" ", header, hook["secret"])
    assert not verify(hit.body, header, "whsec_another")
    scope["TOLERANCE_SECONDS"] = -1  # any timestamp is now too old
    assert not verify(hit.body, header, hook["secret"])
