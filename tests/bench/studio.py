"""Teacher's studio benchmark against a real PostgreSQL server (loopback).

    uv run python -m tests.bench.studio [--pg URL] [--students 30] [--years 2] [--reps 15]

Set-up (not timed): ``--students`` students, each with ``--years`` of realistic practice
(storage.demo's generator: most days, holidays, 1-3 sessions, varying takes), progress built,
first-synced from a computer of their own, and two assignments each.

1. **Studio window open**: from creating the window (connected as the teacher) to the table
   and assignments on screen (its ``loaded`` signal), ``--reps`` times; and the studio's
   queries alone (``load_studio``). Goal: <= 500 ms.
2. **Report for one student and a year**: reading it (``load_report``) and writing the HTML
   page and the CSV. Goal: <= 1 s.

Baselines in the same run: a bare round trip as the teacher (SELECT 1), a bare query (the
student's takes of that year, one SELECT under the same row-level security), and a bare Qt
window (an empty QMainWindow with a 30-row table, shown and painted). Medians and p95 are
printed; the load average too, since the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from sqlalchemy import text

from storage import progress
from storage.demo import generate_history
from storage.profiles import create_profile
from storage.sync.link import link_profile
from storage.sync.protocol import sync
from storage.sync.studio import open_studio
from tests.bench.storage import pct
from tests.bench.sync import DEFAULT_PG, Bench


def _ms(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples):7.1f} ms   p95 {pct(samples, 95):7.1f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pg", default=DEFAULT_PG)
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--years", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--explain", action="store_true", help="print the plan of the bare query")
    args = ap.parse_args(argv)

    from PySide6.QtWidgets import QApplication, QMainWindow, QTableWidget

    from desktop.app import ensure_app
    from desktop.studio_window import StudioWindow
    from desktop.usecases.reports import load_report, report_html, write_log_csv
    from desktop.usecases.studio import load_studio

    # A kill (SIGTERM) still drops the benchmark's schema and roles (the finally below).
    signal.signal(signal.SIGTERM, lambda *_a: sys.exit(143))
    app = ensure_app()
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="etude-studio-bench-") as tmp:
        work = Path(tmp)
        bench = Bench(args.pg, work)
        try:
            from storage.sync import server as srv

            bench_teacher = _teacher_account(bench, srv)
            _, ids = seed_with(bench, bench_teacher, args.students, args.years)
            address = bench.address(bench_teacher, via_proxy=False)
            studio = open_studio(address, bench_teacher.password)

            # Baselines.
            rtt = []
            for _ in range(args.reps * 3):
                with studio.session() as s:
                    t0 = time.perf_counter()
                    s.execute(text("SELECT 1"))
                    rtt.append((time.perf_counter() - t0) * 1000)
            bare_qt = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                w = QMainWindow()
                table = QTableWidget(args.students, 9)
                w.setCentralWidget(table)
                w.resize(1200, 760)
                w.show()
                QApplication.processEvents()
                bare_qt.append((time.perf_counter() - t0) * 1000)
                w.close()
                w.deleteLater()
                QApplication.processEvents()

            # 1. The studio window.
            queries = []
            for _ in range(args.reps):
                with studio.session() as s:
                    t0 = time.perf_counter()
                    data = load_studio(s)
                    queries.append((time.perf_counter() - t0) * 1000)
            assert len(data.students) == args.students
            window_ms, complete_ms = [], []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                win = StudioWindow(studio, work / "teacher")
                win.show()
                done: list[float] = []
                full: list[float] = []
                win.loaded.connect(lambda _d, done=done: done.append(time.perf_counter()))
                win.assignments_loaded.connect(lambda _d, f=full: f.append(time.perf_counter()))
                while not done:
                    app.processEvents()
                    time.sleep(0.001)
                app.processEvents()  # the table painted
                window_ms.append((time.perf_counter() - t0) * 1000)
                while not full:
                    app.processEvents()
                    time.sleep(0.001)
                app.processEvents()
                complete_ms.append((time.perf_counter() - t0) * 1000)
                win.db.wait_for_done()
                win.close()
                win.deleteLater()
                app.processEvents()

            # 2. The report of one student for a year.
            uid = next(iter(ids.values()))
            until = datetime.now(UTC).date()
            since = until - timedelta(days=365)
            bare_q, report_ms, read_ms = [], [], []
            for _ in range(args.reps):
                with studio.session() as s:
                    t0 = time.perf_counter()
                    n = len(
                        s.execute(
                            text(
                                "SELECT p.recording_started_at, a.overall_score, a.feedback_json "
                                "FROM realtime_sessions r "
                                "JOIN performances p ON p.session_id = r.id "
                                "JOIN analysis_results a ON a.performance_id = p.id "
                                "WHERE r.user_id = :u AND r.started_at >= :s"
                            ),
                            {"u": uid, "s": datetime.combine(since, datetime.min.time(), UTC)},
                        ).all()
                    )
                    bare_q.append((time.perf_counter() - t0) * 1000)
                with studio.session() as s:
                    t0 = time.perf_counter()
                    report = load_report(s, uid, since, until)
                    t1 = time.perf_counter()
                    (work / "r.html").write_text(report_html(report), encoding="utf-8")
                    write_log_csv(report, work / "r.csv")
                    t2 = time.perf_counter()
                read_ms.append((t1 - t0) * 1000)
                report_ms.append((t2 - t0) * 1000)
            # Where the studio's time goes: the overview and the assignments' statuses apart.
            from desktop.usecases.studio import studio_assignments
            from storage.sync.studio import studio_overview

            overview_ms, assignments_ms = [], []
            for _ in range(args.reps):
                with studio.session() as s:
                    t0 = time.perf_counter()
                    rows = studio_overview(s)
                    t1 = time.perf_counter()
                    studio_assignments(s, rows)
                    t2 = time.perf_counter()
                overview_ms.append((t1 - t0) * 1000)
                assignments_ms.append((t2 - t1) * 1000)
            if args.explain:
                with studio.session() as s:
                    plan = s.execute(
                        text(
                            "EXPLAIN (ANALYZE, COSTS OFF) SELECT p.recording_started_at, "
                            "a.overall_score FROM realtime_sessions r "
                            "JOIN performances p ON p.session_id = r.id "
                            "JOIN analysis_results a ON a.performance_id = p.id "
                            "WHERE r.user_id = :u"
                        ),
                        {"u": uid},
                    ).all()
                print("\n".join(str(r[0]) for r in plan))
            studio.dispose()

            print()
            print(f"{args.students} students x {args.years} years on the server; {args.reps} reps")
            print(f"bare round trip as the teacher (SELECT 1)     {_ms(rtt)}")
            print(f"bare Qt window (table, shown, painted)        {_ms(bare_qt)}")
            print(f"studio queries alone (load_studio)            {_ms(queries)}")
            print(f"  of which the students' rows (overview)      {_ms(overview_ms)}")
            print(f"  of which the assignments and their status   {_ms(assignments_ms)}")
            print(
                f"studio window open -> table on screen         {_ms(window_ms)}   "
                f"goal <= 500 ms: {'met' if pct(window_ms, 95) <= 500 else 'NOT met'} (p95)"
            )
            print(f"  ... and the assignments' statuses on screen {_ms(complete_ms)}")
            print(f"bare query: one student's year of takes ({n})  {_ms(bare_q)}")
            print(f"report, reading it (load_report)              {_ms(read_ms)}")
            print(
                f"report for one student and a year, written    {_ms(report_ms)}   "
                f"goal <= 1 s: {'met' if pct(report_ms, 95) <= 1000 else 'NOT met'} (p95)"
            )
            print(
                f"  ({len(report.takes)} takes, {report.sessions} sessions in the year; "
                f"window open = {statistics.median(window_ms) / statistics.median(bare_qt):.1f} "
                f"x bare Qt window, studio queries = "
                f"{statistics.median(queries) / statistics.median(rtt):.0f} x a round trip)"
            )
            print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        finally:
            bench.close()
    return 0


def _teacher_account(bench: Bench, srv: Any) -> Any:
    """Bench() already made the teacher "Teacher" without keeping its password; a studio needs
    it, so the students here go to a teacher made for this benchmark."""
    return srv.add_teacher(bench.url, "Studio teacher", prefix=bench.prefix)


def seed_with(
    bench: Bench, teacher: Any, students: int, years: int
) -> tuple[Any, dict[str, uuid.UUID]]:
    """Students of ``teacher`` with history, synced; the profile ids by name."""
    from storage.assignments import create_assignments
    from storage.sync import server as srv

    ids: dict[str, uuid.UUID] = {}
    rows = 0
    t0 = time.perf_counter()
    for i in range(students):
        name = f"Student {i + 1:02d}"
        acc = srv.add_student(bench.url, name, teacher.account.role_name, prefix=bench.prefix)
        db = bench.computer(f"s{i}")
        with db.transaction() as s:
            uid = create_profile(s, name, "Europe/Paris").id
            counts = generate_history(s, uid, 365 * years, seed=100 + i)
            progress.rebuild_user(s, uid)
        rows += sum(counts)
        link_profile(db, bench.address(acc, via_proxy=False), acc.password, profile_id=uid)
        sync(db, uid, acc.password)
        db.dispose()
        ids[name] = uid
        print(
            f"  {name}: {counts[0]} sessions, {counts[1]} takes, {counts[2]} analyses", flush=True
        )
    studio = open_studio(bench.address(teacher, via_proxy=False), teacher.password)
    with studio.transaction() as s:
        for uid in ids.values():
            for title in ("Scales", "Minuet"):
                create_assignments(
                    s, [uid], teacher_name="Studio teacher", title=title, min_minutes=60
                )
    studio.dispose()
    print(
        f"set-up: {students} students x {years} years ({rows} sessions, takes and analyses), "
        f"{time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    return teacher, ids


if __name__ == "__main__":
    sys.exit(main())
