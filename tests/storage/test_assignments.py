"""storage.assignments on a real SQLite file: bad input is refused by the name of its field and
changes nothing; statuses and read marks count what they say."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.analyses import create_analysis_result
from storage.assignments import (
    add_comment,
    assignment_statuses,
    create_assignments,
    get_take_comments,
    mark_comments_read,
)
from storage.db import Database, open_database
from storage.errors import NotFoundError, ValidationError
from storage.models import Assignment, CommentRead, TakeComment, comment_read_id
from storage.performances import create_performance
from storage.profiles import create_profile
from storage.sessions import create_session, end_session

T0 = datetime.now(UTC) - timedelta(days=2)
MIDI = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0"


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = open_database(f"sqlite:///{(tmp_path / 'etude.db').as_posix()}")
    yield database
    database.dispose()


def _two(db: Database) -> tuple[uuid.UUID, uuid.UUID]:
    with db.transaction() as s:
        return create_profile(s, "Ann").id, create_profile(s, "Bob").id


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("title", {"title": "  "}),
        ("title", {"title": "x" * 256}),
        ("target_tempo", {"target_tempo": 10}),
        ("target_score", {"target_score": 1.5}),
        ("min_minutes", {"min_minutes": 0}),
        ("reference_midi", {"reference_midi": b"not a midi file"}),
        ("difficulty_level", {"difficulty_level": "expert"}),
        ("due_on", {"due_on": datetime(2026, 1, 1, tzinfo=UTC)}),
        ("instructions", {"instructions": "a\x00b"}),
        ("teacher_name", {"teacher_name": ""}),
    ],
)
def test_a_bad_assignment_is_refused_by_name_and_writes_nothing(
    db: Database, field: str, kwargs: dict[str, Any]
) -> None:
    ann, _ = _two(db)
    args: dict[str, Any] = {"teacher_name": "Ms Tee", "title": "Scales", **kwargs}
    with pytest.raises(ValidationError) as err, db.transaction() as s:
        create_assignments(s, [ann], **args)
    assert err.value.field == field
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Assignment)) == 0


def test_students_must_exist_and_be_named_once(db: Database) -> None:
    ann, _ = _two(db)
    for ids, error in (
        ([], ValidationError),
        ([ann, ann], ValidationError),
        ([uuid.uuid4()], NotFoundError),
    ):
        with pytest.raises(error), db.transaction() as s:
            create_assignments(s, ids, teacher_name="T", title="x")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Assignment)) == 0


def test_status_read_marks_and_a_session_only_for_ones_own_assignment(db: Database) -> None:
    ann, bob = _two(db)
    with db.transaction() as s:
        (a,) = create_assignments(
            s,
            [ann],
            teacher_name="T",
            title="Scales",
            reference_midi=MIDI,
            min_minutes=10,
            target_score=0.8,
            due_on=date(2030, 1, 1),
        )
    with pytest.raises(ValidationError) as err, db.transaction() as s:
        create_session(s, bob, "x", assignment_id=a.id)
    assert err.value.field == "assignment_id"
    with pytest.raises(NotFoundError), db.transaction() as s:
        create_session(s, ann, "x", assignment_id=uuid.uuid4())
    with db.session() as s:
        assert assignment_statuses(s, [a])[a.id].label == "not started"
    with db.transaction() as s:
        sid = create_session(s, ann, "Scales", started_at=T0, assignment_id=a.id).id
        pid = create_performance(s, sid, recording_started_at=T0, recording_duration=20.0).id
        create_analysis_result(s, pid, 0.9, 0.9, 0.5, 0.85, {})
        end_session(s, sid, T0 + timedelta(minutes=6))
    with db.session() as s:
        st = assignment_statuses(s, [a])[a.id]
    assert (st.seconds, st.takes, st.best_score, st.done) == (360, 1, 0.85, False)
    assert st.label == "practised 6 min, best 85 %"
    with db.transaction() as s:
        sid = create_session(
            s, ann, "Scales", started_at=T0 + timedelta(hours=1), assignment_id=a.id
        ).id
        end_session(s, sid, T0 + timedelta(hours=1, minutes=5))
    with db.session() as s:
        assert assignment_statuses(s, [a])[a.id].label == "done"
    # Comments: within the take, on a take that exists; read marks once per comment.
    with pytest.raises(ValidationError) as err, db.transaction() as s:
        add_comment(s, pid, "late", author_name="T", at_seconds=25.0)
    assert err.value.field == "at_seconds"
    with pytest.raises(NotFoundError), db.transaction() as s:
        add_comment(s, uuid.uuid4(), "hi", author_name="T")
    with db.transaction() as s:
        c = add_comment(s, pid, "Nice", author_name="T", at_seconds=3.0)
    with pytest.raises(NotFoundError), db.transaction() as s:
        mark_comments_read(s, bob, [c.id])
    with db.transaction() as s:
        assert mark_comments_read(s, ann, [c.id, c.id]) == 1
    with db.session() as s:
        assert [x.unread for x in get_take_comments(s, pid)] == [False]
        assert s.scalar(select(CommentRead.id)) == comment_read_id(c.id)
        assert s.scalar(select(func.count()).select_from(TakeComment)) == 1
