"""Round trips through a real PostgreSQL server: one student on two computers and their
teacher. After syncing, every row is equal everywhere, and the teacher sees it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from storage.db import Database
from storage.performances import (
    delete_performance,
    get_session_performances,
    mark_performance_recovered,
)
from storage.profiles import create_profile, get_profile, rename_profile
from storage.progress_metrics import get_user_progress
from storage.sessions import delete_session, get_user_sessions
from storage.stats import calculate_user_stats
from storage.sync import link
from storage.sync.client import SchemaMismatchError
from storage.sync.protocol import full_sync, pending_count, sync
from tests.sync.conftest import SyncServer
from tests.sync.helpers import (
    T0,
    assert_same,
    local_rows,
    open_local,
    owner_rows,
    practise,
    server_rows,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def two_computers(sync_server: SyncServer, local_url: Any):
    sync_server.add_teacher("Ms Tee")
    sync_server.add_student("Ann", "Ms Tee")
    one, two = open_local(local_url("one")), open_local(local_url("two"))
    try:
        yield sync_server, one, two
    finally:
        one.dispose()
        two.dispose()


def _linked_with_practice(srv: SyncServer, db: Database, pw: str) -> uuid.UUID:
    """Ann's profile on ``db`` with one session of practice, linked to her account."""
    with db.transaction() as s:
        ann = create_profile(s, "Ann").id
    practise(db, ann, T0)
    link.link_profile(db, srv.address("Ann"), pw, profile_id=ann)
    return ann


def _everywhere_equal(srv: SyncServer, uid: uuid.UUID, *computers: Database) -> dict[str, Any]:
    truth = owner_rows(srv.url, srv.prefix, uid)
    for i, db in enumerate(computers):
        assert_same(local_rows(db, uid), truth, f"computer {i + 1} vs server:")
    with srv.connect_as("Ms Tee") as conn:
        assert_same(server_rows(conn, uid), truth, "teacher's view vs server:")
    for db in computers:
        assert pending_count(db, uid) == 0
    return truth


def test_two_computers_and_a_teacher_converge(two_computers: Any) -> None:
    srv, one, two = two_computers
    pw = srv.accounts["Ann"].password
    # Computer one has a history before sync existed: linking uploads it.
    with one.transaction() as s:
        ann = create_profile(s, "Ann", "Europe/Paris").id
    for day in range(3):
        practise(one, ann, T0 + timedelta(days=day))
    linked = link.link_profile(one, srv.address("Ann"), pw, profile_id=ann)
    assert linked.user_id == ann and not linked.created_profile
    first = sync(one, ann, pw)
    assert first.pushed["realtime_sessions"] == 3 and first.pushed["analysis_results"] == 9
    # Computer two starts empty: a new profile takes the account's id and pulls everything.
    on_two = link.link_profile(two, srv.address("Ann"), pw)
    assert on_two.user_id == ann and on_two.created_profile
    got = sync(two, ann, pw)
    assert got.pulled["performances"] == 9 and got.pulled["progress_metrics"] > 0
    with two.transaction() as s:
        assert get_profile(s, ann).display_name == "Ann"
        assert get_profile(s, ann).timezone == "Europe/Paris"
    _everywhere_equal(srv, ann, one, two)

    # Offline on both: edits, deletes and new takes.
    with one.transaction() as s:
        sessions = get_user_sessions(s, ann)
        delete_session(s, sessions[-1].id)  # the oldest
        rename_profile(s, ann, "Ann B.")
    practise(one, ann, T0 + timedelta(days=5), takes=2)
    with two.transaction() as s:
        newest = get_user_sessions(s, ann)[0]
        takes = get_session_performances(s, newest.id)
        delete_performance(s, takes[0].id)
        mark_performance_recovered(s, takes[1].id, 50.0)
    practise(two, ann, T0 + timedelta(days=6), takes=1, piece="Scales")
    # Each computer's last sync may recompute progress from what it pulled; one more round
    # carries those rows over.
    for db in (one, two, one, two):
        sync(db, ann, pw)
    truth = _everywhere_equal(srv, ann, one, two)
    assert len(truth["realtime_sessions"]) == 4
    assert len(truth["performances"]) == 3 + 3 - 1 + 2 + 1
    with two.transaction() as s:
        assert get_profile(s, ann).display_name == "Ann B."
        # Progress on computer two counts the session practised on computer one.
        stats = calculate_user_stats(s, ann, days=3650, now=T0 + timedelta(days=30))
        assert stats.total_sessions == 4
    # Nothing pending, nothing moves.
    again = sync(two, ann, pw)
    assert sum(again.pulled.values()) == 0 and sum(again.pushed.values()) == 0


def test_a_second_computer_with_its_own_history_merges(two_computers: Any) -> None:
    srv, one, two = two_computers
    pw = srv.accounts["Ann"].password
    ann = _linked_with_practice(srv, one, pw)
    sync(one, ann, pw)
    with two.transaction() as s:
        laptop = create_profile(s, "Ann on the laptop").id
    practise(two, laptop, T0 + timedelta(hours=3))
    moved = link.link_profile(two, srv.address("Ann"), pw, profile_id=laptop)
    assert moved.user_id == ann and moved.moved_from == laptop
    sync(two, ann, pw)
    sync(one, ann, pw)
    sync(two, ann, pw)
    truth = _everywhere_equal(srv, ann, one, two)
    assert len(truth["realtime_sessions"]) == 2
    with one.transaction() as s:
        daily = get_user_progress(s, ann, "daily")
        assert [p.total_sessions for p in daily] == [2]


def test_sync_is_refused_at_another_schema_revision(two_computers: Any) -> None:
    srv, one, _ = two_computers
    pw = srv.accounts["Ann"].password
    ann = _linked_with_practice(srv, one, pw)
    before = local_rows(one, ann)
    with srv.admin() as admin:
        admin.execute("UPDATE alembic_version SET version_num = '9999_newer'")
        with pytest.raises(SchemaMismatchError, match="Update Etude"):
            sync(one, ann, pw)
        admin.execute("UPDATE alembic_version SET version_num = '0001_initial'")
        with pytest.raises(SchemaMismatchError, match="update the server"):
            sync(one, ann, pw)
    assert local_rows(one, ann) == before
    assert all(not rows for rows in owner_rows(srv.url, srv.prefix, ann).values())


def test_full_sync_never_lets_an_empty_side_overwrite_data(two_computers: Any) -> None:
    from storage.sync.client import FullSyncRefusedError

    srv, one, two = two_computers
    pw = srv.accounts["Ann"].password
    ann = _linked_with_practice(srv, one, pw)
    # The server is empty: downloading would erase computer one's practice.
    with pytest.raises(FullSyncRefusedError):
        full_sync(one, ann, pw, "download")
    full_sync(one, ann, pw, "upload")
    link.link_profile(two, srv.address("Ann"), pw)
    # Computer two is empty: uploading would erase the server's copy.
    with pytest.raises(FullSyncRefusedError):
        full_sync(two, ann, pw, "upload")
    full_sync(two, ann, pw, "download")
    _everywhere_equal(srv, ann, one, two)
