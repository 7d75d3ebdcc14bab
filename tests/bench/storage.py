"""Storage benchmark: the seed's operations on ten years of heavy use, SQLite and PostgreSQL.

    uv run python -m tests.bench.storage [--pg URL | --no-pg] [--years 10] [--reps 200]

One profile practises every day for ``--years`` years: 3 sessions a day, 3 takes a session,
2 analyses a take (10 years = 10,950 sessions, 32,850 takes, 65,700 analyses), progress rows
built and the planner statistics refreshed (ANALYZE, as autovacuum would in a database in
steady use). Then each operation runs ``--reps`` times, each in its own Session and transaction
like a user action, on random rows. "op" is the time of the service call (queries and flush); for
write operations "commit" is the time of the COMMIT that follows (SQLite: synchronous=FULL, so an
fsync). The table prints p50/p95 in milliseconds next to the seed's expected figure and the
ratios seed / p50 and seed / p95 (the goal is ≥ 10). The load average is printed too: other
work on the machine shows up mostly in p95. PostgreSQL runs in a fresh schema that is dropped at the
end. Finally the demo generator's time for ten years is measured on each backend.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from storage import progress
from storage.analyses import create_analysis_result, get_latest_analysis, get_performance_analysis
from storage.db import Database, open_database
from storage.demo import create_demo, generate_history, refresh_statistics
from storage.models import Performance, RealtimeSession
from storage.performances import create_performance, get_session_performances
from storage.profiles import create_profile
from storage.progress_metrics import create_or_update_progress_metric, get_user_progress
from storage.sessions import (
    create_session,
    end_session,
    get_complete_session_data,
    get_session,
    get_user_sessions,
    update_chunks_processed,
)
from storage.stats import calculate_user_stats

DEFAULT_PG = os.environ.get(
    "ETUDE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

# (operation, seed's expected figure in ms or None when the seed gives none)
SEED_MS: dict[str, float | None] = {
    "get_session": 5,
    "get_user_sessions(50)": 20,
    "get_user_sessions(50, completed, offset 500)": 20,
    "get_session_performances": 10,
    "get_performance_analysis": 15,
    "get_latest_analysis": 15,
    "calculate_user_stats(30)": 50,
    "get_user_progress(daily, 30)": 25,
    "get_complete_session_data": None,
    "create_session": 10,
    "update_chunks_processed": 10,
    "create_performance": 10,
    "create_analysis_result": 10,
    "end_session (UPDATE only, as the seed)": 15,
    "end_session + progress roll-up": None,
    "create_or_update_progress_metric": 10,
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def timed(db: Database, fn: Callable[[Session], Any]) -> tuple[float, float]:
    """(op ms, commit ms) of one call in its own Session/transaction."""
    with db.session() as s:
        s.begin()
        t0 = time.perf_counter()
        fn(s)
        t1 = time.perf_counter()
        s.commit()
        t2 = time.perf_counter()
    return (t1 - t0) * 1000.0, (t2 - t1) * 1000.0


def populate(db: Database, years: int) -> tuple[uuid.UUID, float]:
    t0 = time.perf_counter()
    with db.transaction() as s:
        uid = create_profile(s, "Heavy user", "Europe/Paris").id
        generate_history(
            s, uid, 365 * years, sessions_per_day=3, takes_per_session=3, analyses_per_take=2
        )
        refresh_statistics(s)
        progress.rebuild_user(s, uid)
    return uid, time.perf_counter() - t0


def run_ops(db: Database, uid: uuid.UUID, reps: int) -> dict[str, tuple[list[float], list[float]]]:
    rng = random.Random(1)
    with db.transaction() as s:
        session_ids = list(s.scalars(select(RealtimeSession.id)))
        perf_ids = list(s.scalars(select(Performance.id)))
    results: dict[str, tuple[list[float], list[float]]] = {}

    def bench(name: str, fn: Callable[[Session], Any]) -> None:
        ops: list[float] = []
        commits: list[float] = []
        for _ in range(reps):
            op_ms, commit_ms = timed(db, fn)
            ops.append(op_ms)
            commits.append(commit_ms)
        results[name] = (ops, commits)

    bench("get_session", lambda s: get_session(s, rng.choice(session_ids)))
    bench("get_user_sessions(50)", lambda s: get_user_sessions(s, uid, 50))
    bench(
        "get_user_sessions(50, completed, offset 500)",
        lambda s: get_user_sessions(s, uid, 50, 500, "completed"),
    )
    bench(
        "get_session_performances",
        lambda s: get_session_performances(s, rng.choice(session_ids)),
    )
    bench("get_performance_analysis", lambda s: get_performance_analysis(s, rng.choice(perf_ids)))
    bench("get_latest_analysis", lambda s: get_latest_analysis(s, rng.choice(perf_ids)))
    bench("calculate_user_stats(30)", lambda s: calculate_user_stats(s, uid, 30))
    bench("get_user_progress(daily, 30)", lambda s: get_user_progress(s, uid, "daily", 30))
    bench(
        "get_complete_session_data",
        lambda s: get_complete_session_data(s, rng.choice(session_ids)),
    )

    new_sessions: list[uuid.UUID] = []
    new_perfs: list[uuid.UUID] = []
    bench(
        "create_session",
        lambda s: new_sessions.append(
            create_session(s, uid, "Bench piece", "jazz", 120, "intermediate").id
        ),
    )
    bench(
        "update_chunks_processed",
        lambda s: update_chunks_processed(s, rng.choice(new_sessions), 8),
    )
    bench(
        "create_performance",
        lambda s: new_perfs.append(
            create_performance(
                s, rng.choice(new_sessions), "/tmp/take.flac", None, 48000, "flac"
            ).id
        ),
    )
    bench(
        "create_analysis_result",
        lambda s: create_analysis_result(
            s,
            rng.choice(new_perfs),
            0.8,
            0.7,
            0.5,
            0.72,
            {"tips": ["Keep going"]},
            total_notes_detected=120,
            processing_time_ms=40,
        ),
    )
    with db.transaction() as s:  # a second batch of active sessions to end (untimed)
        more = [create_session(s, uid, "Bench piece").id for _ in range(reps)]
    plain = iter(new_sessions)
    rolled = iter(more)
    bench(
        "end_session (UPDATE only, as the seed)",
        lambda s: end_session(s, next(plain), update_progress=False),
    )
    bench("end_session + progress roll-up", lambda s: end_session(s, next(rolled)))
    day0 = datetime(2000, 1, 1, tzinfo=UTC)
    bench(
        "create_or_update_progress_metric",
        lambda s: create_or_update_progress_metric(
            s,
            uid,
            day0 + timedelta(days=rng.randrange(50)),
            "daily",
            total_sessions=1,
            avg_overall_score=0.5,
        ),
    )
    return results


def time_demo(url: str, years: int) -> float:
    db = open_database(url, migrate_schema=True)
    try:
        t0 = time.perf_counter()
        with db.transaction() as s:
            create_demo(s, 365 * years, "Europe/Paris")
        return time.perf_counter() - t0
    finally:
        db.dispose()


def pg_schema(url: str) -> tuple[str, Callable[[], None]]:
    from sqlalchemy.engine import make_url

    schema = f"etude_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    parsed = make_url(url)
    query = dict(parsed.query)
    query["options"] = f"-csearch_path={schema}"
    scoped = parsed.set(query=query).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return scoped, drop


def backend(label: str, url: str, years: int, reps: int) -> dict[str, Any]:
    print(f"[{label}] generating {years} years of heavy use ...", file=sys.stderr, flush=True)
    db = open_database(url, migrate_schema=True)
    try:
        uid, gen_s = populate(db, years)
        with db.transaction() as s:
            stats = calculate_user_stats(s, uid, 3650)
        print(
            f"[{label}] {gen_s:.1f} s to generate and roll up; running {reps} reps of each "
            "operation ...",
            file=sys.stderr,
            flush=True,
        )
        results = run_ops(db, uid, reps)
    finally:
        db.dispose()
    print(f"[{label}] timing the demo generator ...", file=sys.stderr, flush=True)
    demo_s = time_demo(url, years)
    return {"results": results, "generate_s": gen_s, "demo_s": demo_s, "stats": stats}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.storage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL URL (default %(default)s)")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args(argv)

    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="etude-bench-") as tmp:
        url = f"sqlite:///{(Path(tmp) / 'bench.db').as_posix()}"
        runs["SQLite"] = backend("SQLite", url, args.years, args.reps)
        demo_url = f"sqlite:///{(Path(tmp) / 'demo.db').as_posix()}"
        runs["SQLite"]["demo_s"] = time_demo(demo_url, args.years)
    if not args.no_pg:
        scoped, drop = pg_schema(args.pg)
        try:
            runs["PostgreSQL"] = backend("PostgreSQL", scoped, args.years, args.reps)
        finally:
            drop()

    first = next(iter(runs.values()))
    st = first["stats"]
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(
        f"Data: {args.years} years, {st.total_sessions} sessions, "
        f"{st.total_sessions * 3} takes, {st.total_analyses} analyses; "
        f"{args.reps} repetitions per operation; times in ms."
    )
    head = f"{'operation':<46} {'seed':>5}"
    for label in runs:
        head += f" | {label + ' p50':>15} {'p95':>6} {'x p50':>6} {'x p95':>6} {'commit':>7}"
    print(head)
    print("-" * len(head))
    worst: dict[str, float] = {}
    worst50: dict[str, float] = {}
    for name, seed in SEED_MS.items():
        line = f"{name:<46} {('<' + str(int(seed))) if seed else '-':>5}"
        for label, run in runs.items():
            ops, commits = run["results"][name]
            p50, p95 = pct(ops, 0.5), pct(ops, 0.95)
            ratio = seed / p95 if seed else float("nan")
            ratio50 = seed / p50 if seed else float("nan")
            if seed:
                worst[label] = min(worst.get(label, float("inf")), ratio)
                worst50[label] = min(worst50.get(label, float("inf")), ratio50)
            is_write = name.startswith(("create", "update", "end"))
            commit = f"{pct(commits, 0.5):.3f}" if is_write else "-"
            ratio_text = f"{ratio:.0f}x" if seed else "-"
            ratio50_text = f"{ratio50:.0f}x" if seed else "-"
            line += f" | {p50:>15.3f} {p95:>6.2f} {ratio50_text:>6} {ratio_text:>6} {commit:>7}"
        print(line)
    print()
    for label, run in runs.items():
        print(
            f"{label}: heavy history generated and rolled up in {run['generate_s']:.1f} s; "
            f"demo generator, {args.years} years: {run['demo_s']:.1f} s; "
            f"smallest ratio seed/p50 {worst50[label]:.1f}x, seed/p95 {worst[label]:.1f}x "
            f"(goal 10x at p95: {'met' if worst[label] >= 10 else 'missed'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
