"""Concurrent chunk counting loses nothing; sessions left active by a crash are recovered."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from storage.db import Database, open_database
from storage.errors import ValidationError
from storage.models import Performance, RealtimeSession
from storage.performances import create_performance
from storage.profiles import create_profile, list_profiles
from storage.progress_metrics import get_user_progress
from storage.recovery import recover_abandoned_sessions
from storage.sessions import (
    create_session,
    end_session,
    get_session,
    get_user_sessions,
    update_chunks_processed,
)

T0 = datetime(2025, 3, 10, 18, 0, tzinfo=UTC)
THREADS = 4
PER_THREAD = 60


def test_concurrent_chunk_updates_lose_nothing(backend_url: str) -> None:
    """Each thread has its own engine (as separate processes would): one UPDATE per call."""
    setup = open_database(backend_url, migrate_schema=True)
    with setup.transaction() as s:
        uid = create_profile(s, "Ann").id
        sid = create_session(s, uid, started_at=T0).id
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(k: int) -> None:
        db = open_database(backend_url, migrate_schema=False)
        try:
            start.wait()
            for i in range(PER_THREAD):
                with db.transaction() as s:
                    update_chunks_processed(s, sid, k + 1 + (i % 3))
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    expected = sum(k + 1 + (i % 3) for k in range(THREADS) for i in range(PER_THREAD))
    with setup.transaction() as s:
        assert get_session(s, sid).chunks_processed == expected
    setup.dispose()


def test_abandoned_sessions_are_recovered(store: Database) -> None:
    with store.transaction() as s:
        uid = create_profile(s, "Ann").id
        crashed = create_session(s, uid, "Crashed", started_at=T0).id
        create_performance(
            s,
            crashed,
            "/r/1.wav",
            recording_started_at=T0 + timedelta(minutes=2),
            recording_duration=90.0,
        )
        create_performance(
            s,
            crashed,
            "/r/2.wav",
            recording_started_at=T0 + timedelta(minutes=10),
            recording_duration=30.5,
            recovered=True,
        )
        bare = create_session(s, uid, "No takes", started_at=T0 + timedelta(hours=2)).id
        done = create_session(s, uid, "Finished", started_at=T0 - timedelta(days=1)).id
        end_session(s, done, T0 - timedelta(days=1) + timedelta(minutes=5))
    now = T0 + timedelta(days=1)
    with store.transaction() as s:
        recovered = recover_abandoned_sessions(s, now=now)
    assert set(recovered) == {crashed, bare}
    with store.transaction() as s:
        c = get_session(s, crashed)
        b = get_session(s, bare)
        d = get_session(s, done)
        assert c.status == "abandoned"
        assert c.ended_at == T0 + timedelta(minutes=10, seconds=30.5)
        assert c.duration_seconds == 630
        assert b.status == "abandoned" and b.duration_seconds == 0 and b.ended_at == b.started_at
        assert d.status == "completed"
        # The recovered practice time counts in progress.
        day = get_user_progress(s, uid, "daily", limit=1)[0]
        assert day.total_sessions == 2 and day.total_practice_time_seconds == 630
        # Recovery is idempotent: nothing is active any more.
        assert recover_abandoned_sessions(s, now=now) == []
        assert get_user_sessions(s, uid, status="abandoned")[0].id == bare


def test_recovery_can_be_limited_to_given_sessions(backend_url: str) -> None:
    store = open_database(backend_url, migrate_schema=True)
    with store.transaction() as s:
        uid = create_profile(s, "Ann").id
        mine = create_session(s, uid, "Mine", started_at=T0).id
        theirs = create_session(s, uid, "Theirs", started_at=T0).id
    now = T0 + timedelta(hours=1)
    with store.transaction() as s:
        assert recover_abandoned_sessions(s, now=now, session_ids=[]) == []
        with pytest.raises(ValidationError, match="session_ids"):
            recover_abandoned_sessions(s, now=now, session_ids=[mine, "not-a-uuid"])
        assert get_session(s, mine).status == "active"
        assert recover_abandoned_sessions(s, now=now, session_ids={mine}) == [mine]
    with store.transaction() as s:
        assert get_session(s, mine).status == "abandoned"
        assert get_session(s, theirs).status == "active"
    store.dispose()


def test_recovery_ignores_sessions_starting_after_now(sqlite_store: Database) -> None:
    with sqlite_store.transaction() as s:
        uid = create_profile(s, "Ann").id
        later = create_session(s, uid, started_at=T0 + timedelta(hours=1)).id
        assert recover_abandoned_sessions(s, now=T0) == []
        assert get_session(s, later).status == "active"


@pytest.mark.parametrize("n", [0, 1_000_000])
def test_chunk_bounds_are_accepted(sqlite_store: Database, n: int) -> None:
    with sqlite_store.transaction() as s:
        uid = create_profile(s, "Ann").id
        sid = create_session(s, uid, started_at=T0).id
        assert update_chunks_processed(s, sid, n) == n


def test_rows_no_validation_lets_in_today_never_block_recovery(backend_url: str) -> None:
    """An older Etude stored whatever it was given: a take of 10^12 seconds, a session dated in
    year 1. Recovery closes every session it can, each with its progress rows or not at all, and
    the one it cannot stays active without stopping the others."""
    store = open_database(backend_url, migrate_schema=True)
    with store.transaction() as s:
        ann = create_profile(s, "Ann", "Europe/Paris").id
        bob = create_profile(s, "Bob", "America/New_York").id
        huge = create_session(s, ann, "Huge take", started_at=T0).id
        huge_take = create_performance(
            s, huge, "/r/h.wav", recording_started_at=T0 + timedelta(minutes=1)
        ).id
        ancient = create_session(s, bob, "Year 1", started_at=T0).id
        plain = create_session(s, bob, "Plain", started_at=T0 + timedelta(hours=1)).id
    with store.engine.begin() as conn:  # as an older Etude wrote them, past today's checks
        conn.execute(
            update(Performance).where(Performance.id == huge_take).values(recording_duration=1e12)
        )
        conn.execute(
            update(RealtimeSession)
            .where(RealtimeSession.id == ancient)
            .values(started_at=datetime(1, 1, 1, tzinfo=UTC))
        )
    now = T0 + timedelta(days=3)
    with store.transaction() as s:
        recovered = recover_abandoned_sessions(s, now=now)
    assert set(recovered) == {huge, plain}
    with store.transaction() as s:
        h = get_session(s, huge)
        # The take counts as at most a day, never as 31,000 years.
        assert h.status == "abandoned"
        assert h.ended_at == T0 + timedelta(minutes=1, days=1)
        assert get_session(s, plain).status == "abandoned"
        stuck = get_session(s, ancient)
        assert stuck.status == "active" and stuck.ended_at is None  # untouched, tried next time
        assert get_user_progress(s, ann, "daily")[0].total_practice_time_seconds == 86_460
        assert get_user_progress(s, bob, "daily")[0].total_sessions == 1
    store.dispose()


def test_work_in_a_savepoint_goes_with_the_transaction_around_it(backend_url: str) -> None:
    """On SQLite, Python's driver let the first savepoint of a transaction commit on release:
    a take attached at start-up stayed stored although the recovery around it failed."""
    store = open_database(backend_url, migrate_schema=True)
    with pytest.raises(RuntimeError), store.transaction() as s:
        assert list_profiles(s) == []  # a read, no write, before the savepoint
        with s.begin_nested():
            create_profile(s, "Kept only with its transaction")
        raise RuntimeError("the recovery around it fails")
    with store.transaction() as s:
        assert list_profiles(s) == []
        kept = create_profile(s, "A").id
        with pytest.raises(ValidationError), s.begin_nested():
            create_profile(s, "B")
            create_profile(s, "A")  # refused: the savepoint's B goes, A stays
    with store.transaction() as s:
        assert [p.id for p in list_profiles(s)] == [kept]
    store.dispose()


LOCK_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")  # holds the write lock, as a long write would
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""

WRITER = """
import sys
from storage.db import open_database
from storage.sessions import create_session, end_session
db = open_database(sys.argv[1], migrate_schema=False)
for _ in range(int(sys.argv[3])):
    with db.transaction() as s:
        sid = create_session(s, sys.argv[2], "Busy").id
        end_session(s, sid)
db.dispose()
print("done", flush=True)
"""


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    repo = Path(__file__).resolve().parents[2]
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )


def test_a_write_waits_for_another_process_holding_the_lock(sqlite_store: Database) -> None:
    with sqlite_store.transaction() as s:
        uid = create_profile(s, "Ann").id
    path = sqlite_store.engine.url.database
    assert path is not None
    holder = _python(LOCK_HOLDER, path, "1.5")
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with sqlite_store.transaction() as s:  # waits, then writes
        sid = create_session(s, uid, "After the lock").id
    assert holder.wait(timeout=30) == 0
    with sqlite_store.transaction() as s:
        assert get_session(s, sid).piece_name == "After the lock"


def test_two_writer_processes_lose_nothing(sqlite_store: Database) -> None:
    with sqlite_store.transaction() as s:
        users = [create_profile(s, name).id for name in ("Ann", "Bob")]
    url = str(sqlite_store.engine.url)
    procs = [_python(WRITER, url, str(uid), "40") for uid in users]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0 and out.strip() == "done", err
    with sqlite_store.transaction() as s:
        for uid in users:
            rows = get_user_sessions(s, uid, limit=1000)
            assert len(rows) == 40 and {r.status for r in rows} == {"completed"}
