"""Conflicts between two offline computers of one student, through a real PostgreSQL server:
an edit on both sides converges to one version, and a deletion beats an edit in either order."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from storage.db import Database
from storage.errors import NotFoundError
from storage.models import RealtimeSession
from storage.performances import create_performance
from storage.profiles import create_profile, get_profile, rename_profile
from storage.sessions import create_session, delete_session, get_session, update_chunks_processed
from storage.sync import link
from storage.sync.protocol import SESSIONS, digest, sync
from storage.sync.tables import synced_columns
from tests.sync.conftest import SyncServer
from tests.sync.helpers import T0, assert_same, local_rows, open_local, owner_rows, practise

pytestmark = pytest.mark.postgres


@pytest.fixture
def pair(sync_server: SyncServer, local_url: Any):
    """Computers one and two, both holding Ann's synced profile with one active session."""
    sync_server.add_teacher("T")
    sync_server.add_student("Ann", "T")
    pw = sync_server.accounts["Ann"].password
    one, two = open_local(local_url("one")), open_local(local_url("two"))
    with one.transaction() as s:
        ann = create_profile(s, "Ann").id
        active = create_session(s, ann, "Sonata", started_at=T0).id
    practise(one, ann, T0 - timedelta(days=1))
    link.link_profile(one, sync_server.address("Ann"), pw, profile_id=ann)
    sync(one, ann, pw)
    link.link_profile(two, sync_server.address("Ann"), pw)
    sync(two, ann, pw)
    try:
        yield sync_server, one, two, ann, active, pw
    finally:
        one.dispose()
        two.dispose()


def _settle(srv: SyncServer, ann: uuid.UUID, pw: str, *computers: Database) -> dict[str, Any]:
    for db in (*computers, *computers):
        sync(db, ann, pw)
    truth = owner_rows(srv.url, srv.prefix, ann)
    for db in computers:
        assert_same(local_rows(db, ann), truth)
    return truth


@pytest.mark.parametrize("first", ["one", "two"])
def test_an_edit_on_both_computers_converges_to_the_later_one(pair: Any, first: str) -> None:
    srv, one, two, ann, active, pw = pair
    with one.transaction() as s:
        update_chunks_processed(s, active, 10)
        rename_profile(s, ann, "Ann (one)")
    with two.transaction() as s:  # later: it wins whoever syncs first
        update_chunks_processed(s, active, 25)
        rename_profile(s, ann, "Ann (two)")
    order = (one, two) if first == "one" else (two, one)
    truth = _settle(srv, ann, pw, *order)
    (session,) = [r for r in truth["realtime_sessions"].values() if r[0] == active]
    assert session[synced_columns(SESSIONS).index("chunks_processed")] == 25
    with one.transaction() as s:
        assert get_profile(s, ann).display_name == "Ann (two)"


@pytest.mark.parametrize("first", ["one", "two"])
def test_an_exact_tie_is_broken_the_same_way_everywhere(pair: Any, first: str) -> None:
    srv, one, two, ann, active, pw = pair
    moment = T0 + timedelta(hours=1)
    for db, chunks in ((one, 7), (two, 9)):
        with db.transaction() as s:
            s.execute(
                update(RealtimeSession)
                .where(RealtimeSession.id == active)
                .values(chunks_processed=chunks, updated_at=moment, usn=-1)
            )
    candidates = {}
    for db in (one, two):
        row = local_rows(db, ann)["realtime_sessions"][active]
        named = dict(zip((*synced_columns(SESSIONS), "usn"), row, strict=True))
        candidates[digest(SESSIONS, named)] = named["chunks_processed"]
    expected = candidates[max(candidates)]
    order = (one, two) if first == "one" else (two, one)
    truth = _settle(srv, ann, pw, *order)
    (session,) = [r for r in truth["realtime_sessions"].values() if r[0] == active]
    assert session[synced_columns(SESSIONS).index("chunks_processed")] == expected


@pytest.mark.parametrize("deleter_first", [True, False])
def test_a_deletion_beats_an_offline_edit(pair: Any, deleter_first: bool) -> None:
    srv, one, two, ann, active, pw = pair
    with one.transaction() as s:
        delete_session(s, active)
    with two.transaction() as s:  # edited later, still deleted
        update_chunks_processed(s, active, 99)
        create_performance(s, active, audio_path="/x/late.flac")
    order = (one, two) if deleter_first else (two, one)
    truth = _settle(srv, ann, pw, *order)
    assert active not in truth["realtime_sessions"]
    assert all(r[1] != active for r in truth["performances"].values())
    for db in (one, two):
        with db.transaction() as s, pytest.raises(NotFoundError):
            get_session(s, active)
