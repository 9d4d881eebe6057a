"""The table bench/burst.py prints."""

from __future__ import annotations

import statistics


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def print_report(r: dict) -> None:
    args, empty, scale = r["args"], r["empty"], r["scale"]
    active = f"{args['active']:,} active"
    print(f"\n{'measure':<64} value")
    print(f"{'raw Procrastinate no-op jobs/s (baseline), 2 processes x 8':<64} {r['noop']:9.0f}")
    for name, b in (("empty database", empty), (active, scale)):
        _burst_rows(name, b, r["noop"])
    print(
        f"{'burst rate at scale / on the empty database':<64} {scale['rate'] / empty['rate']:9.2f}"
    )
    late = r["lateness"]
    print(
        f"{f'lateness of {len(late)} orders due at 10/s, {active} (ms)':<64} "
        f"p50 {pct(late, 50):.0f}  p95 {pct(late, 95):.0f}  p99 {pct(late, 99):.0f}  "
        f"max {max(late):.0f}"
    )
    print(f"\n{'statement (median ms)':<40} {'1,000 active':>14} {active:>18}")
    for name, small in r["small"]["sql"].items():
        print(f"{name:<40} {small:14.2f} {r['large']['sql'][name]:18.2f}")
    for i, what in enumerate(("worker start (s)", "worker stop (s)")):
        small, large = r["small"]["start_stop"][i], r["large"]["start_stop"][i]
        print(f"{what:<40} {small:14.2f} {large:18.2f}")


def _burst_rows(name: str, b: dict, noop: float) -> None:
    label = f"burst, {name}: {b['count']:,} due at once"
    print(f"{label + ', created by POST /orders/batch/s':<64} {b['create_rate']:9.0f}")
    print(f"{'  last run started after the due instant (s)':<64} {b['last_start']:9.2f}")
    print(f"{'  executions/s (count / last start)':<64} {b['rate']:9.0f}")
    print(f"{'  ratio to raw no-op jobs/s':<64} {b['rate'] / noop:9.1f}")
    print(
        f"{'  each once: runs / distinct / one-time completed':<64} "
        f"{b['runs']} / {b['distinct_runs']} / {b['one_time_completed']} of {b['one_time']}"
    )
    print(
        f"{'  recurring with their next-run job / audit status rows':<64} "
        f"{b['next_jobs']} of {b['recurring']} / {b['audit_status_rows']}"
    )
    print(f"{'  status log complete (one line per event) after (s)':<64} {b['log_lag']:9.1f}")
