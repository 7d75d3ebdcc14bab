"""Writer fairness: several processes writing to one SQLite database at once.

    uv run python -m tests.bench.writers [--seconds 30] [--writers 2] [--pg URL]

Each writer process opens the database as Etude does and, for ``--seconds``, records practice
sessions as fast as it can: one transaction per session (create_session, update_chunks_processed,
end_session with its progress roll-up), like a window that starts and ends sessions, each writer
for its own profile. Printed per writer: sessions completed, and the time each transaction took
from its start to its commit (waiting for the other writers included): p50, p99 and max. Then
the fairness figures: the share of the busiest writer over the least busy (1.0 = fair) and the
longest any one transaction waited. With ``--pg URL`` the same run on a PostgreSQL schema,
whose row locks let the writers of different profiles through side by side: the baseline.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

DEFAULT_PG = os.environ.get(
    "ETUDE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def writer(url: str, user_id: str, seconds: float, start_at: float, out: Any) -> None:
    from storage.db import open_database
    from storage.sessions import create_session, end_session, update_chunks_processed

    db = open_database(url, migrate_schema=False)
    latencies: list[float] = []
    while time.time() < start_at:
        time.sleep(0.001)
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        t0 = time.perf_counter()
        with db.transaction() as s:
            sid = create_session(s, user_id, "Fairness").id
            update_chunks_processed(s, sid, 100)
            end_session(s, sid)
        latencies.append(time.perf_counter() - t0)
    db.dispose()
    out.put((user_id, latencies))


def run(url: str, writers: int, seconds: float) -> list[list[float]]:
    from storage.db import open_database
    from storage.profiles import create_profile

    db = open_database(url, migrate_schema=True)
    with db.transaction() as s:
        users = [str(create_profile(s, f"Writer {i}", "UTC").id) for i in range(writers)]
    db.dispose()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # every process imported and connected before the start
    procs = [ctx.Process(target=writer, args=(url, u, seconds, start_at, out)) for u in users]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=seconds + 120) for _ in procs)
    for p in procs:
        p.join()
    return [results[u] for u in users]


def report(name: str, runs: list[list[float]]) -> None:
    counts = [len(r) for r in runs]
    print(f"\n{name}")
    print(f"{'writer':<8} {'sessions':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for i, lat in enumerate(runs):
        ordered = sorted(lat)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        print(
            f"{i:<8} {len(lat):>8} {1000 * statistics.median(lat):>8.1f} "
            f"{1000 * p99:>8.1f} {1000 * max(lat):>8.1f}"
        )
    longest = max(max(r) for r in runs)
    ratio = max(counts) / max(1, min(counts))
    print(
        f"total {sum(counts)} sessions; busiest/least busy {ratio:.2f}; "
        f"longest transaction {1000 * longest:.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--pg", default=None, help="also run on this PostgreSQL server")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{(Path(tmp) / 'etude.db').as_posix()}"
        report(
            f"SQLite, {args.writers} writers, {args.seconds:.0f} s",
            run(url, args.writers, args.seconds),
        )
    if args.pg:
        schema = f"etude_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            from tests.storage.conftest import with_search_path

            url = with_search_path(args.pg, schema)
            report(
                f"PostgreSQL, {args.writers} writers, {args.seconds:.0f} s",
                run(url, args.writers, args.seconds),
            )
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
