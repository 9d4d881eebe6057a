"""execute_order: the Procrastinate task whose jobs stand for an order's next run.

The API defers one such job per order run in its own transaction (orders/scheduling/jobs.py), so the
order, its audit row and its job commit together. The jobs are run by the batch executor of
`orders worker` (tasks/executor/runs.py: many per transaction, exactly once in effect), never by
Procrastinate's per-job loop, which serves only the other queues (tasks/jobs/app.py).
"""

from __future__ import annotations

from procrastinate import JobContext

from orders.database.queue import EXECUTE_ORDER, ORDERS_QUEUE
from tasks.jobs.app import app


class ExecutedByTheBatchExecutor(RuntimeError):
    pass


@app.task(name=EXECUTE_ORDER, queue=ORDERS_QUEUE, pass_context=True)
async def execute_order(context: JobContext, order_id: int, user_id: int | None = None) -> None:
    """Reached only if a plain Procrastinate worker is pointed at the orders queue."""
    raise ExecutedByTheBatchExecutor(
        f"job {context.job.id} (order {order_id}) belongs to the batch executor: run "
        "`orders worker`, which serves the orders queue itself"
    )
