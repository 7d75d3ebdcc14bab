"""Sync benchmark against a real PostgreSQL server (loopback).

    uv run python -m tests.bench.sync [--pg URL] [--years 10] [--reps 40] [--students 30]

1. **First sync of ten years** of heavy use (the storage benchmark's data: 3 sessions a day, 3
   takes a session, 2 analyses a take, progress built): the upload from the computer that holds
   it, then the download onto a second, empty computer. Goal: <= 30 s each.
2. **Incremental sync** of one session with three takes (each analysed), ``--reps`` times:
   the sync that sends it and the other computer's sync that receives it, p50/p95. Goal:
   <= 300 ms p95.
3. **Bytes per take**, counted by a TCP proxy on the connection: a sync of one session with
   three takes without audio, and with 60 s FLAC takes uploaded.
4. **Concurrent students**: ``--students`` processes, each a student with their own account and
   computer, sync a new session at the same moment, 3 rounds: connections used (peak seen in
   pg_stat_activity), p50/p95 sync time, errors. Goal: 0 errors.

Baselines measured in the same run: the same rows written by a bare ``executemany`` in one
transaction with no protocol (what moving the bytes costs), and a bare round trip (SELECT 1).
The load average is printed: other work on the machine shows up mostly in p95.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import soundfile as sf
from sqlalchemy import create_engine, text

from storage import progress
from storage.analyses import create_analysis_result
from storage.db import Database, open_database
from storage.demo import generate_history, refresh_statistics
from storage.performances import create_performance
from storage.profiles import create_profile
from storage.sessions import create_session, end_session
from storage.sync import server
from storage.sync.audio import hash_takes, upload_audio
from storage.sync.client import ServerAddress
from storage.sync.link import link_profile
from storage.sync.protocol import get_link, link_address, sync
from storage.sync.tables import DATA_TABLES, synced_columns
from tests.bench.storage import pct
from tests.sync.proxy import Proxy

DEFAULT_PG = os.environ.get(
    "ETUDE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def with_search_path(url: str, schema: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    query = dict(parsed.query)
    query["options"] = f"-csearch_path={schema}"
    return parsed.set(query=query).render_as_string(hide_password=False)


class Bench:
    """A fresh schema and role prefix on the server, dropped at the end."""

    def __init__(self, pg_url: str, work: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.pg_url, self.work = pg_url, work
        self.schema, self.prefix = f"etude_bench_{tag}", f"b{tag}"
        self.admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        self.url = with_search_path(pg_url, self.schema)
        server.init_server(self.url, self.prefix)
        server.add_teacher(self.url, "Teacher", prefix=self.prefix)
        self.proxy = Proxy()

    def student(self, name: str) -> server.NewAccount:
        return server.add_student(self.url, name, "Teacher", prefix=self.prefix)

    def computer(self, name: str) -> Database:
        return open_database(f"sqlite:///{(self.work / name / 'etude.db').as_posix()}")

    def address(self, acc: server.NewAccount, via_proxy: bool = True) -> ServerAddress:
        inv = acc.invitation
        port = self.proxy.port if via_proxy else inv.port
        return ServerAddress("127.0.0.1", port, inv.dbname, inv.role)

    def close(self) -> None:
        self.proxy.close()
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        self.admin.dispose()
        server.drop_installation(self.pg_url, self.prefix)


def practise(db: Database, uid: uuid.UUID, when: datetime, audio: list[Path] | None = None) -> None:
    """One session with three analysed takes, written as the app writes them."""
    with db.transaction() as s:
        sid = create_session(s, uid, "Etude in C", "classical", 96, started_at=when).id
        for i in range(3):
            path = str(audio[i]) if audio else f"/recordings/{uuid.uuid4().hex}.flac"
            pid = create_performance(
                s,
                sid,
                audio_path=path,
                audio_format="flac",
                recording_started_at=when + timedelta(minutes=3 * i),
                recording_duration=60.0,
            ).id
            create_analysis_result(
                s,
                pid,
                0.8,
                0.7,
                0.5,
                0.75,
                {"strengths": ["steady"], "tips": ["listen"]},
                total_notes_detected=120,
                analysis_engine_version="etude-bench",
            )
        end_session(s, sid, when + timedelta(minutes=12))


def bare_copy_ms(bench: Bench, db: Database, uid: uuid.UUID) -> float:
    """Baseline: the profile's rows written by one executemany per table into an unlogged
    scratch copy of the tables, in one transaction, no protocol."""
    from storage.sync.protocol import local_pending, owned_by

    with db.session() as s:
        rows = {}
        for t in DATA_TABLES:
            cols = [t.table.c[c] for c in synced_columns(t)]
            from sqlalchemy import select

            rows[t.name] = [tuple(r) for r in s.execute(select(*cols).where(owned_by(t, uid)))]
    _ = local_pending
    with psycopg.connect(**server.conninfo_from_url(bench.url)) as conn:
        for t in DATA_TABLES:
            conn.execute(
                f'CREATE TEMP TABLE "bare_{t.name}" AS SELECT {", ".join(synced_columns(t))} '
                f'FROM "{t.name}" WHERE false'
            )
        conn.commit()
        t0 = time.perf_counter()
        with conn.cursor() as cur:
            for t in DATA_TABLES:
                cols = synced_columns(t)
                cur.executemany(
                    f'INSERT INTO "bare_{t.name}" VALUES ({", ".join(["%s"] * len(cols))})',
                    rows[t.name],
                )
        conn.commit()
        return (time.perf_counter() - t0) * 1000.0


def round_trip_ms(bench: Bench) -> float:
    with psycopg.connect(**server.conninfo_from_url(bench.url)) as conn:
        times = []
        for _ in range(50):
            t0 = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            times.append((time.perf_counter() - t0) * 1000.0)
    return pct(times, 0.5)


def first_sync(bench: Bench, years: int) -> dict[str, Any]:
    acc = bench.student("Heavy user")
    one = bench.computer("heavy-one")
    t0 = time.perf_counter()
    with one.transaction() as s:
        uid = create_profile(s, "Heavy user", "Europe/Paris").id
        counts = generate_history(
            s, uid, 365 * years, sessions_per_day=3, takes_per_session=3, analyses_per_take=2
        )
        refresh_statistics(s)
        progress.rebuild_user(s, uid)
    built = time.perf_counter() - t0
    bare = bare_copy_ms(bench, one, uid)
    link_profile(one, bench.address(acc), acc.password, profile_id=uid)
    bench.proxy.reset_counters()
    up = sync(one, uid, acc.password)
    up_bytes = bench.proxy.bytes_up + bench.proxy.bytes_down
    two = bench.computer("heavy-two")
    link_profile(two, bench.address(acc), acc.password)
    bench.proxy.reset_counters()
    down = sync(two, uid, acc.password)
    down_bytes = bench.proxy.bytes_up + bench.proxy.bytes_down
    one.dispose()
    two.dispose()
    return {
        "rows": sum(up.pushed.values()),
        "counts": counts,
        "built_s": built,
        "upload_s": up.seconds,
        "download_s": down.seconds,
        "bare_s": bare / 1000.0,
        "upload_mb": up_bytes / 1e6,
        "download_mb": down_bytes / 1e6,
        "download_rows": sum(down.pulled.values()),
    }


def incremental(bench: Bench, reps: int) -> dict[str, Any]:
    acc = bench.student("Daily")
    one, two = bench.computer("daily-one"), bench.computer("daily-two")
    with one.transaction() as s:
        uid = create_profile(s, "Daily", "Europe/Paris").id
        generate_history(s, uid, 365, sessions_per_day=2, takes_per_session=3, analyses_per_take=1)
        progress.rebuild_user(s, uid)
    link_profile(one, bench.address(acc), acc.password, profile_id=uid)
    sync(one, uid, acc.password)
    link_profile(two, bench.address(acc), acc.password)
    sync(two, uid, acc.password)
    send, receive, sent_bytes = [], [], []
    start = datetime.now(UTC) + timedelta(days=1)
    for i in range(reps):
        practise(one, uid, start + timedelta(hours=5 * i))
        bench.proxy.reset_counters()
        r = sync(one, uid, acc.password)
        send.append(r.seconds * 1000.0)
        sent_bytes.append(bench.proxy.bytes_up + bench.proxy.bytes_down)
        r = sync(two, uid, acc.password)
        receive.append(r.seconds * 1000.0)
    # Bytes per take with audio: three 60 s FLAC takes.
    folder = bench.work / "audio"
    folder.mkdir(exist_ok=True)
    takes = []
    for i in range(3):
        path = folder / f"take{i}.flac"
        t = np.arange(44100 * 60) / 44100
        tone = 0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t)
        noise = np.random.default_rng(i).normal(0, 0.01, t.size)
        sf.write(path, (tone + noise).astype("float32"), 44100, subtype="PCM_16")
        takes.append(path)
    practise(one, uid, start + timedelta(days=60), audio=takes)
    bench.proxy.reset_counters()
    hash_takes(one, uid)
    sync(one, uid, acc.password)
    audio_result = upload_audio(one, uid, link_address(get_link(one, uid)), acc.password)
    with_audio = bench.proxy.bytes_up + bench.proxy.bytes_down
    flac_bytes = sum(p.stat().st_size for p in takes)
    one.dispose()
    two.dispose()
    return {
        "send": send,
        "receive": receive,
        "bytes_per_take": pct(sent_bytes, 0.5) / 3,
        "bytes_per_take_audio": with_audio / 3,
        "flac_per_take": flac_bytes / 3,
        "audio_files": audio_result.files,
    }


def _student_worker(args: tuple[str, str, str, str, int, Any, Any]) -> list[tuple[float, str]]:
    db_url, uid_text, password, _name, rounds, barrier, _ = args
    db = open_database(db_url)
    uid = uuid.UUID(uid_text)
    out: list[tuple[float, str]] = []
    rng = random.Random(uid_text)
    try:
        for r in range(rounds):
            practise(db, uid, datetime.now(UTC) + timedelta(days=10 + r, hours=rng.random()))
            barrier.wait()
            t0 = time.perf_counter()
            try:
                sync(db, uid, password)
                out.append(((time.perf_counter() - t0) * 1000.0, ""))
            except Exception as exc:  # counted and printed: the goal is 0
                out.append(((time.perf_counter() - t0) * 1000.0, f"{type(exc).__name__}: {exc}"))
    finally:
        db.dispose()
    return out


def concurrent(bench: Bench, students: int, rounds: int = 3) -> dict[str, Any]:
    jobs = []
    manager = mp.Manager()
    barrier = manager.Barrier(students)
    for i in range(students):
        acc = bench.student(f"Student {i:02d}")
        db = bench.computer(f"student-{i:02d}")
        with db.transaction() as s:
            uid = create_profile(s, f"Student {i:02d}", "Europe/Paris").id
            generate_history(s, uid, 60, seed=i)
            progress.rebuild_user(s, uid)
        link_profile(db, bench.address(acc, via_proxy=False), acc.password, profile_id=uid)
        sync(db, uid, acc.password)
        jobs.append((db.url, str(uid), acc.password, f"s{i}", rounds, barrier, None))
        db.dispose()
    peak = [0]
    stop = threading.Event()

    def watch() -> None:
        with psycopg.connect(**server.conninfo_from_url(bench.url), autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename LIKE %s",
                    (bench.prefix + "\\_%",),
                ).fetchone()
                peak[0] = max(peak[0], int(row[0]) if row else 0)
                time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ctx = mp.get_context("fork")
    with ctx.Pool(students) as pool:
        results = pool.map(_student_worker, jobs)
    stop.set()
    watcher.join()
    manager.shutdown()
    times = [t for res in results for t, _ in res]
    errors = [e for res in results for _, e in res if e]
    return {"times": times, "errors": errors, "peak": peak[0], "syncs": len(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=DEFAULT_PG, help="administrator URL of the server")
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--students", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="etude-sync-bench-") as tmp:
        bench = Bench(args.pg, Path(tmp))
        try:
            rt = round_trip_ms(bench)
            print(f"load average {os.getloadavg()[0]:.2f}; bare round trip (SELECT 1) {rt:.2f} ms")
            first = first_sync(bench, args.years)
            s, p, a = first["counts"]
            print(
                f"\n1. first sync of {args.years} years ({s} sessions, {p} takes, {a} analyses, "
                f"{first['rows']} rows with profile and progress; "
                f"built in {first['built_s']:.1f} s)"
            )
            print(
                f"   upload from the computer that has it   {first['upload_s']:7.2f} s   "
                f"{first['upload_mb']:.1f} MB on the wire   goal <= 30 s"
            )
            print(
                f"   download onto an empty computer        {first['download_s']:7.2f} s   "
                f"{first['download_mb']:.1f} MB on the wire   goal <= 30 s"
            )
            print(
                f"   baseline: the same rows by bare executemany, no protocol "
                f"{first['bare_s']:.2f} s (upload / baseline = "
                f"{first['upload_s'] / first['bare_s']:.1f}x)"
            )
            inc = incremental(bench, args.reps)
            print(
                f"\n2. incremental sync of one session with 3 analysed takes ({args.reps} reps, "
                "a year of history on each side)"
            )
            for label, key in (
                ("send (computer that practised)", "send"),
                ("receive (the other computer)", "receive"),
            ):
                v = inc[key]
                print(
                    f"   {label:<34} p50 {pct(v, 0.5):6.1f} ms   p95 {pct(v, 0.95):6.1f} ms"
                    f"   (p95 = {pct(v, 0.95) / rt:.0f}x a bare round trip)   goal p95 <= 300 ms"
                )
            print("\n3. bytes on the wire per take (one session of 3 takes)")
            print(f"   without audio  {inc['bytes_per_take'] / 1e3:8.1f} kB")
            print(
                f"   with audio     {inc['bytes_per_take_audio'] / 1e3:8.1f} kB   "
                f"(FLAC file {inc['flac_per_take'] / 1e3:.1f} kB, 60 s mono 44.1 kHz; "
                f"{inc['audio_files']} files uploaded)"
            )
            con = concurrent(bench, args.students)
            t = con["times"]
            print(f"\n4. {args.students} students syncing at once, 3 rounds ({con['syncs']} syncs)")
            print(
                f"   connections used (peak) {con['peak']}   p50 {pct(t, 0.5):.0f} ms   "
                f"p95 {pct(t, 0.95):.0f} ms   errors {len(con['errors'])}   goal 0 errors"
            )
            for e in con["errors"][:5]:
                print(f"   error: {e}")
            print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
        finally:
            bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
