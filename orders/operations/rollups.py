"""Reading the rollups that statement-level triggers keep (sql/0011_rollups.sql).

Writers only append deltas; a reader first folds them (cheap: seconds' worth, and a no-op
while another reader folds), then reads a few dozen rollup rows, however long the history.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from psycopg import Connection

from orders.database import Database, Q

ORDER_STATUSES = ("scheduled", "processing", "completed", "failed", "cancelled", "expired")


def fold(db: Database) -> int:
    """Fold pending deltas in a short transaction of its own; rows folded (0 if another does)."""
    with db.transaction() as conn:
        return conn.execute(Q["rollup_fold"]).fetchone()["folded"]


def current(conn: Connection, series: list[str]) -> dict[str, dict[str, dict]]:
    """{series: {label: row}} for the given series, as of now."""
    return grouped(conn.execute(Q["rollup_series"], {"series": series}))


def grouped(rows: Iterable[dict]) -> dict[str, dict[str, dict]]:
    """Rollup rows as {series: {label: row}}; a series without rows reads as empty."""
    found: dict[str, dict[str, dict]] = defaultdict(dict)
    for row in rows:
        found[row["series"]][row["label"]] = row
    return found


def status_counts(rows: dict[str, dict]) -> list[dict]:
    """Orders per status, every status present (zero included), in lifecycle order."""
    return [{"status": s, "n": rows[s]["n"] if s in rows else 0} for s in ORDER_STATUSES]


@dataclass(frozen=True)
class Histogram:
    """A rollup histogram: runs per bucket upper bound (seconds; inf last), sum and largest."""

    buckets: list[tuple[float, int]]
    total: float
    peak: float

    @classmethod
    def of(cls, rows: dict[str, dict], bounds: tuple[float, ...]) -> Histogram:
        counts = {float(label): row["n"] for label, row in rows.items()}
        ordered = [(b, counts.get(float(b), 0)) for b in (*bounds, math.inf)]
        total = sum(row["total"] or 0.0 for row in rows.values())
        peak = max((row["peak"] or 0.0 for row in rows.values()), default=0.0)
        return cls(ordered, total, peak)

    @property
    def count(self) -> int:
        return sum(n for _, n in self.buckets)

    def cumulative(self) -> list[tuple[str, int]]:
        """Prometheus `le` buckets: runs at or below each bound."""
        running, out = 0, []
        for bound, n in self.buckets:
            running += n
            out.append(("+Inf" if bound == math.inf else str(bound), running))
        return out

    def quantile(self, q: float) -> float:
        """Like PromQL's histogram_quantile: linear within the bucket holding rank q * count,
        never above the largest value seen."""
        rank, below, lower = q * self.count, 0, 0.0
        for bound, n in self.buckets:
            if n and below + n >= rank:
                upper = self.peak if bound == math.inf else min(bound, self.peak)
                return lower + (upper - lower) * (rank - below) / n
            below, lower = below + n, bound
        return 0.0
