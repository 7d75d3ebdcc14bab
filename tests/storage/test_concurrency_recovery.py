"""Concurrent chunk counting loses nothing; sessions left active by a crash are recovered."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from storage.db import Database, open_database
from storage.errors import ValidationError
from storage.performances import create_performance
from storage.profiles import create_profile
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
