"""The teacher's studio tables on a real PostgreSQL: only a student's own teacher writes their
assignments and comments (a comment only on that student's take), every such write moves the
student's counter so their next pull sees it, a deletion leaves a tombstone, and a student reads
their own and writes only read marks."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.sync.test_server_security import T0, studio  # noqa: F401  (the fixture)

pytestmark = pytest.mark.postgres


def _usn(conn: psycopg.Connection[Any], user_id: uuid.UUID) -> int:
    row = conn.execute("SELECT usn FROM sync_accounts WHERE user_id = %s", (user_id,)).fetchone()
    assert row is not None
    return int(row[0])


def _assign(conn: psycopg.Connection[Any], user_id: uuid.UUID) -> uuid.UUID:
    aid = uuid.uuid4()
    conn.execute(
        "INSERT INTO assignments (id, user_id, teacher_name, title, created_at, updated_at, usn)"
        " VALUES (%s, %s, 'Ms Tee', 'Arpeggios', %s, %s, 0)",
        (aid, user_id, T0, T0),
    )
    return aid


def test_a_teacher_writes_only_her_own_students_and_each_write_moves_their_counter(
    studio: Any,  # noqa: F811
) -> None:
    srv, data = studio
    ann, bob, cy = data["Ann"], data["Bob"], data["Cy"]
    with srv.connect_as("Ms Tee") as conn:
        before = _usn(conn, ann["user"])
        aid = _assign(conn, ann["user"])
        row = conn.execute("SELECT usn FROM assignments WHERE id = %s", (aid,)).fetchone()
        assert row == (before + 1,) and _usn(conn, ann["user"]) == before + 1
        conn.execute("UPDATE assignments SET title = 'Arpeggios, slower' WHERE id = %s", (aid,))
        assert _usn(conn, ann["user"]) == before + 2
        conn.commit()
        refused = [
            # Another teacher's student.
            (
                "INSERT INTO assignments (id, user_id, teacher_name, title, created_at,"
                " updated_at, usn) VALUES (%s, %s, 'x', 'x', %s, %s, 0)",
                (uuid.uuid4(), cy["user"], T0, T0),
            ),
            # A comment naming Ann on Bob's take: Ann's computers could never hold it.
            (
                "INSERT INTO take_comments (id, user_id, performance_id, author_name, body,"
                " created_at, updated_at, usn) VALUES (%s, %s, %s, 'x', 'x', %s, %s, 0)",
                (uuid.uuid4(), ann["user"], bob["perf"], T0, T0),
            ),
            # Moving Ann's assignment to Bob.
            ("UPDATE assignments SET user_id = %s WHERE id = %s", (bob["user"], aid)),
            # The students' own tables stay read-only for her.
            ("DELETE FROM comment_reads WHERE id = %s", (ann["read"],)),
        ]
        for statement, args in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement, args)
            conn.rollback()
        # Cy's rows are invisible to her, so neither changed nor deleted.
        assert (
            conn.execute(
                "UPDATE assignments SET title = 'x' WHERE id = %s", (cy["assignment"],)
            ).rowcount
            == 0
        )
        assert (
            conn.execute("DELETE FROM take_comments WHERE id = %s", (cy["comment"],)).rowcount == 0
        )
        # Her students' read marks she may read.
        assert conn.execute("SELECT count(*) FROM comment_reads").fetchone() == (2,)
        # Deleting a comment leaves a tombstone at a new counter value, which Ann will pull.
        at = _usn(conn, ann["user"])
        conn.execute("DELETE FROM take_comments WHERE id = %s", (ann["comment"],))
        conn.commit()
    with srv.connect_as("Ann") as conn:
        tombs = conn.execute(
            "SELECT table_name, row_id, usn FROM etude_changed_tombstones(%s)", (at,)
        ).fetchall()
        assert tombs == [("take_comments", ann["comment"], at + 1)]
        # Her read mark went with the comment (cascade); her other rows are untouched.
        assert conn.execute("SELECT count(*) FROM comment_reads").fetchone() == (0,)
        titles = conn.execute(
            "SELECT title FROM etude_changed_assignments(%s) ORDER BY title", (before,)
        ).fetchall()
        assert titles == [("Arpeggios, slower",)]


def test_a_student_reads_her_assignments_and_comments_and_writes_only_read_marks(
    studio: Any,  # noqa: F811
) -> None:
    srv, data = studio
    ann, bob = data["Ann"], data["Bob"]
    with srv.connect_as("Ann") as conn:
        assert conn.execute("SELECT count(*) FROM assignments").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM take_comments").fetchone() == (1,)
        for statement, args in [
            (
                "INSERT INTO assignments (id, user_id, teacher_name, title, created_at,"
                " updated_at, usn) VALUES (%s, %s, 'me', 'easy', %s, %s, 1)",
                (uuid.uuid4(), ann["user"], T0, T0),
            ),
            ("UPDATE assignments SET target_score = 0.1 WHERE id = %s", (ann["assignment"],)),
            ("DELETE FROM take_comments WHERE id = %s", (ann["comment"],)),
            (
                "INSERT INTO take_comments (id, user_id, performance_id, author_name, body,"
                " created_at, updated_at, usn) VALUES (%s, %s, %s, 'me', 'great', %s, %s, 1)",
                (uuid.uuid4(), ann["user"], ann["perf"], T0, T0),
            ),
            # A read mark for Bob.
            (
                "INSERT INTO comment_reads (id, user_id, comment_id, read_at, created_at,"
                " updated_at, usn) VALUES (%s, %s, %s, %s, %s, %s, 1)",
                (uuid.uuid4(), bob["user"], bob["comment"], T0, T0, T0),
            ),
        ]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement, args)
            conn.rollback()
        # Her own read mark she may take back.
        assert conn.execute("DELETE FROM comment_reads WHERE id = %s", (ann["read"],)).rowcount == 1
        conn.rollback()
