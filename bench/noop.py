"""A raw Procrastinate worker with a no-op task: the baseline the order worker is compared to.

Run as `python -m bench.noop --concurrency N` with DATABASE_URL set.
"""

from __future__ import annotations

import argparse

from orders.settings import Settings
from tasks.jobs.app import app, worker_connector


@app.task(name="bench_noop", queue="bench")
async def bench_noop(n: int) -> None:
    """Does nothing: what remains is Procrastinate's own cost per job."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with app.replace_connector(worker_connector(Settings(), args.concurrency)):
        app.run_worker(queues=["bench"], concurrency=args.concurrency, name="noop")


if __name__ == "__main__":
    main()
