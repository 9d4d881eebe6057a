"""The database: connection pool, named queries (every package's *.sql), migrations, job queue."""

from orders.database.pool import Database, Keepalives, Timeouts, begin, make_pool
from orders.database.queries import Q, load_queries

__all__ = ["Database", "Keepalives", "Q", "Timeouts", "begin", "load_queries", "make_pool"]
