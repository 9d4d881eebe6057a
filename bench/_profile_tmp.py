import asyncio, time, collections
from datetime import UTC, datetime
import psycopg
from psycopg.rows import dict_row
from bench.cluster import bench_database
from bench.loads import load_orders, make_user, HOURLY, ONE_TIME
from tasks.runs import Policy, run_batch
from orders.config import Settings

async def main(url):
    times = collections.defaultdict(float)
    conn = await psycopg.AsyncConnection.connect(url, row_factory=dict_row)
    orig = conn.execute
    async def timed(q, p=None, **kw):
        t = time.perf_counter()
        r = await orig(q, p, **kw)
        times[q.split("\n")[0][:60] if isinstance(q, str) else str(q)[:60]] += time.perf_counter() - t
        return r
    conn.execute = timed
    policy = Policy(worker="p", batch=500, timeouts=Settings().run_timeouts())
    n = 0; t0 = time.perf_counter(); commits = 0.0
    while True:
        b = await run_batch(conn, policy)
        n += b.claimed
        if b.claimed == 0: break
    total = time.perf_counter() - t0
    print(f"{n} runs in {total:.2f}s = {n/total:.0f}/s")
    for k, v in sorted(times.items(), key=lambda x: -x[1]):
        print(f"{v:7.3f}s  {k}")

with bench_database() as (url, d):
    with psycopg.connect(url, row_factory=dict_row) as conn:
        u = make_user(conn)
        now = datetime.now(UTC)
        load_orders(conn, u, [now]*20000, [HOURLY if i % 5 == 0 else ONE_TIME for i in range(20000)])
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    asyncio.run(main(url))
