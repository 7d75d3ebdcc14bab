"""Assignments, comments and read marks through a real PostgreSQL server: the teacher writes
on the server as herself, the students' computers pull them, sessions practised for an
assignment and read marks come back, and every side agrees row for row."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from storage.analyses import create_analysis_result
from storage.assignments import (
    add_comment,
    assignment_statuses,
    create_assignments,
    get_take_comments,
    get_user_assignments,
    get_user_comments,
    mark_comments_read,
    reference_midi,
    unread_by_session,
)
from storage.db import Database
from storage.errors import NotFoundError
from storage.performances import create_performance, get_session_performances
from storage.profiles import create_profile
from storage.sessions import create_session, end_session
from storage.sync import link
from storage.sync.protocol import sync
from storage.sync.studio import open_studio, whoami
from tests.sync.conftest import SyncServer
from tests.sync.helpers import T0, assert_same, local_rows, open_local, owner_rows, practise

pytestmark = pytest.mark.postgres

MIDI = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x04\x00\xff\x2f\x00"


def practise_for(db: Database, uid: uuid.UUID, aid: uuid.UUID, minutes: int, score: float) -> None:
    start = T0 + timedelta(days=3)
    with db.transaction() as s:
        sid = create_session(s, uid, "Scales", None, 80, started_at=start, assignment_id=aid).id
        pid = create_performance(s, sid, recording_started_at=start, recording_duration=30.0).id
        create_analysis_result(s, pid, 0.9, 0.8, 0.5, score, {"tips": []})
        end_session(s, sid, start + timedelta(minutes=minutes))


@pytest.fixture
def world(sync_server: SyncServer, local_url: Any):
    srv = sync_server
    srv.add_teacher("Ms Tee")
    srv.add_teacher("Mr Other")
    dbs = {k: open_local(local_url(k)) for k in ("ann1", "ann2", "bob")}
    ids = {}
    for name, key in (("Ann", "ann1"), ("Bob", "bob")):
        srv.add_student(name, "Ms Tee")
        with dbs[key].transaction() as s:
            ids[name] = create_profile(s, name).id
        practise(dbs[key], ids[name], T0)
        link.link_profile(
            dbs[key], srv.address(name), srv.accounts[name].password, profile_id=ids[name]
        )
        sync(dbs[key], ids[name], srv.accounts[name].password)
    link.link_profile(dbs["ann2"], srv.address("Ann"), srv.accounts["Ann"].password)
    sync(dbs["ann2"], ids["Ann"], srv.accounts["Ann"].password)
    studio = open_studio(srv.address("Ms Tee"), srv.accounts["Ms Tee"].password)
    try:
        yield srv, dbs, ids, studio
    finally:
        studio.dispose()
        for db in dbs.values():
            db.dispose()


def test_assignment_comment_and_read_mark_round_trip(world: Any) -> None:
    srv, dbs, ids, studio = world
    ann, bob = ids["Ann"], ids["Bob"]
    ann_pw = srv.accounts["Ann"].password
    with studio.transaction() as s:
        me = whoami(s)
        made = create_assignments(
            s,
            [ann, bob],
            teacher_name=me.display_name,
            title="Scales in G",
            reference_name="scales.mid",
            reference_midi=MIDI,
            target_tempo=80,
            min_minutes=15,
            target_score=0.7,
        )
        ann_take = get_session_performances(s, _first_session(s, ann))[0].id
        comment = add_comment(
            s, ann_take, "Lovely tone; watch the F#", author_name=me.display_name, at_seconds=12.5
        )
    assert me.display_name == "Ms Tee" and {a.user_id for a in made} == {ann, bob}
    ann_assignment = next(a for a in made if a.user_id == ann)

    sync(dbs["ann1"], ann, ann_pw)
    with dbs["ann1"].session() as s:
        mine = get_user_assignments(s, ann)
        assert [(a.id, a.title, a.target_tempo) for a in mine] == [
            (ann_assignment.id, "Scales in G", 80)
        ]
        assert reference_midi(s, ann_assignment.id) == MIDI
        comments = get_take_comments(s, ann_take)
        assert [(c.body, c.at_seconds, c.unread) for c in comments] == [
            ("Lovely tone; watch the F#", 12.5, True)
        ]
        assert sum(unread_by_session(s, ann).values()) == 1
    # Ann practises for it on computer one; computer two opens the comment.
    practise_for(dbs["ann1"], ann, ann_assignment.id, 20, 0.82)
    sync(dbs["ann1"], ann, ann_pw)
    sync(dbs["ann2"], ann, ann_pw)
    with dbs["ann2"].transaction() as s:
        assert mark_comments_read(s, ann, [comment.id]) == 1
        assert mark_comments_read(s, ann, [comment.id]) == 0
    sync(dbs["ann2"], ann, ann_pw)
    sync(dbs["ann1"], ann, ann_pw)
    with dbs["ann1"].session() as s:
        assert get_user_comments(s, ann, unread_only=True) == []
    # The teacher sees the status and the read mark.
    with studio.session() as s:
        statuses = assignment_statuses(
            s, get_user_assignments(s, ann) + get_user_assignments(s, bob)
        )
        ann_status = statuses[ann_assignment.id]
        assert (ann_status.seconds, ann_status.takes, ann_status.best_score) == (1200, 1, 0.82)
        assert ann_status.done and ann_status.label == "done"
        bob_status = next(v for k, v in statuses.items() if v.user_id == bob)
        assert bob_status.label == "not started"
        assert [c.unread for c in get_take_comments(s, ann_take)] == [False]
    truth = owner_rows(srv.url, srv.prefix, ann)
    for key in ("ann1", "ann2"):
        assert_same(local_rows(dbs[key], ann), truth, key)
    # A comment the teacher deletes goes from Ann's computers at their next sync.
    with studio.transaction() as s:
        s.execute(
            text("DELETE FROM take_comments WHERE id = :i"),
            {"i": comment.id},
        )
    sync(dbs["ann1"], ann, ann_pw)
    with dbs["ann1"].session() as s:
        assert get_take_comments(s, ann_take) == []
    assert_same(local_rows(dbs["ann1"], ann), owner_rows(srv.url, srv.prefix, ann), "after delete")


def test_the_teacher_cannot_assign_or_comment_outside_her_studio(world: Any) -> None:
    srv, dbs, _ids, studio = world
    srv.add_student("Cy", "Mr Other")
    with dbs["bob"].transaction() as s:
        cy = create_profile(s, "Cy").id
    practise(dbs["bob"], cy, T0)
    link.link_profile(dbs["bob"], srv.address("Cy"), srv.accounts["Cy"].password, profile_id=cy)
    sync(dbs["bob"], cy, srv.accounts["Cy"].password)
    with dbs["bob"].session() as s:
        cy_take = s.scalars(
            __import__("sqlalchemy")
            .text(
                "SELECT p.id FROM performances p JOIN realtime_sessions r ON r.id = p.session_id"
                " WHERE r.user_id = :u"
            )
            .bindparams(u=cy)
        ).first()
    with pytest.raises(NotFoundError), studio.transaction() as s:
        create_assignments(s, [cy], teacher_name="Ms Tee", title="Mine now")
    with pytest.raises(NotFoundError), studio.transaction() as s:
        add_comment(s, uuid.UUID(str(cy_take)), "hello", author_name="Ms Tee")


def _first_session(s: Any, uid: uuid.UUID) -> uuid.UUID:
    from storage.sessions import get_user_sessions

    return get_user_sessions(s, uid, limit=1)[-1].id


def test_studio_and_log_from_the_command_line(
    world: Any, memory_keyring: Any, capsys: Any, tmp_path: Any
) -> None:
    from desktop.cli import main

    srv, dbs, _ids, _studio = world
    invitation = srv.accounts["Ms Tee"].invitation.encode()
    assert main(["studio", "setup", invitation]) == 0
    assert srv.accounts["Ms Tee"].password in memory_keyring.entries.values()
    assert main(["studio", "list"]) == 0
    out = capsys.readouterr().out
    assert "studio of Ms Tee: 2 student(s)" in out
    assert out.count("INACTIVE") == 2  # their practice was in January
    html_path, csv_path = tmp_path / "r.html", tmp_path / "r.csv"
    code = main(
        [
            "studio",
            "report",
            "Ann",
            "--since",
            "2026-01-01",
            "--until",
            "2026-01-31",
            "--html",
            str(html_path),
            "--csv",
            str(csv_path),
        ]
    )
    assert code == 0
    assert "Practice report: Ann" in html_path.read_text(encoding="utf-8")
    assert len(csv_path.read_text(encoding="utf-8-sig").splitlines()) == 1 + 3
    assert main(["studio", "report", "Nobody", "--csv", str(csv_path)]) == 1
    assert "no student named 'Nobody'" in capsys.readouterr().err
    log = tmp_path / "log.csv"
    assert main(["--db", dbs["ann1"].url, "log", "--out", str(log), "--no-bom"]) == 0
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("Student,Date,Time,Piece,Assignment,Duration (s),Overall %")
    assert len(lines) == 1 + 3 and lines[1].startswith("Ann,2026-01-05,")


def test_the_teacher_fetches_a_takes_audio_from_the_server(world: Any, tmp_path: Any) -> None:
    import numpy as np
    import soundfile as sf

    from desktop.usecases.studio import fetch_take_audio
    from storage.sync.audio import hash_takes, upload_audio
    from storage.sync.protocol import get_link, link_address

    srv, dbs, ids, studio = world
    ann, pw = ids["Ann"], srv.accounts["Ann"].password
    wav = tmp_path / "rec" / "take.flac"
    wav.parent.mkdir()
    t = np.arange(44100) / 44100
    sf.write(wav, 0.3 * np.sin(2 * np.pi * 440 * t), 44100, format="FLAC")
    with dbs["ann1"].transaction() as s:
        sid = create_session(s, ann, "Tune", started_at=T0 + timedelta(days=1)).id
        take = create_performance(s, sid, audio_path=str(wav), audio_format="flac").id
        end_session(s, sid, T0 + timedelta(days=1, minutes=5))
    with studio.session() as s:
        assert fetch_take_audio(s, take, tmp_path / "teacher") is None  # not synced yet
    hash_takes(dbs["ann1"], ann)
    sync(dbs["ann1"], ann, pw)
    with studio.session() as s:
        assert fetch_take_audio(s, take, tmp_path / "teacher") is None  # the data, no audio yet
    address = link_address(get_link(dbs["ann1"], ann))
    assert upload_audio(dbs["ann1"], ann, address, pw).files == 1
    with studio.session() as s:
        got = fetch_take_audio(s, take, tmp_path / "teacher")
    assert got is not None and got.suffix == ".flac"
    assert got.read_bytes() == wav.read_bytes()
