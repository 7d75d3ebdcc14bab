"""The server's security, checked against a real PostgreSQL: row-level security keyed on the
role that logged in, the smallest grants, and the catalog facts that make it hold."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql

from desktop.cli import main
from storage.models import Base
from storage.sync import server
from tests.sync.conftest import SyncServer

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
# Every table a student's data lives in, with how to find one student's rows in it.
OWNED = {
    "users": "id = %s",
    "realtime_sessions": "user_id = %s",
    "performances": "session_id IN (SELECT id FROM realtime_sessions WHERE user_id = %s)",
    "analysis_results": "performance_id IN (SELECT p.id FROM performances p JOIN "
    "realtime_sessions r ON r.id = p.session_id WHERE r.user_id = %s)",
    "progress_metrics": "user_id = %s",
    "tombstones": "user_id = %s",
    "assignments": "user_id = %s",
    "take_comments": "user_id = %s",
    "comment_reads": "user_id = %s",
    "audio_blobs": "user_id = %s",
    "audio_chunks": "user_id = %s",
}


def seed_as(conn: psycopg.Connection[Any]) -> dict[str, uuid.UUID]:
    """As a student: claim a profile id and write one row in every table (what a sync does)."""
    ids = {k: uuid.uuid4() for k in ("user", "session", "perf", "analysis", "progress", "tomb")}
    claimed = conn.execute("SELECT etude_claim_profile(%s)", (ids["user"],)).fetchone()
    assert claimed == (ids["user"],)
    u, s, p = ids["user"], ids["session"], ids["perf"]
    conn.execute(
        "INSERT INTO users (id, display_name, timezone, settings_json, created_at, updated_at,"
        " usn) VALUES (%s, 'Student', 'UTC', '{}', %s, %s, 1)",
        (u, T0, T0),
    )
    conn.execute(
        "INSERT INTO realtime_sessions (id, user_id, started_at, chunks_processed, status,"
        " created_at, updated_at, usn) VALUES (%s, %s, %s, 0, 'completed', %s, %s, 1)",
        (s, u, T0, T0, T0),
    )
    conn.execute(
        "INSERT INTO performances (id, session_id, recording_started_at, recording_duration,"
        " sample_rate, created_at, updated_at, usn) VALUES (%s, %s, %s, 3.0, 44100, %s, %s, 1)",
        (p, s, T0, T0, T0),
    )
    conn.execute(
        "INSERT INTO analysis_results (id, performance_id, overall_score, created_at, updated_at,"
        " usn) VALUES (%s, %s, 0.8, %s, %s, 1)",
        (ids["analysis"], p, T0, T0),
    )
    conn.execute(
        "INSERT INTO progress_metrics (id, user_id, metric_date, period_type, total_sessions,"
        " total_practice_time_seconds, created_at, updated_at, usn)"
        " VALUES (%s, %s, %s, 'daily', 1, 60, %s, %s, 1)",
        (ids["progress"], u, T0, T0, T0),
    )
    conn.execute(
        "INSERT INTO tombstones (id, table_name, row_id, deleted_at, usn, user_id)"
        " VALUES (%s, 'performances', %s, %s, 1, %s)",
        (ids["tomb"], uuid.uuid4(), T0, u),
    )
    conn.execute(
        "INSERT INTO audio_blobs (user_id, sha256, size_bytes, chunk_bytes, complete, created_at)"
        " VALUES (%s, %s, 3, 3, true, %s)",
        (u, "ab" * 32, T0),
    )
    conn.execute(
        "INSERT INTO audio_chunks (user_id, sha256, chunk_index, data) VALUES (%s, %s, 0, %s)",
        (u, "ab" * 32, b"abc"),
    )
    conn.commit()
    return ids


def teach_as(conn: psycopg.Connection[Any], ids: dict[str, uuid.UUID]) -> None:
    """As the student's teacher: one assignment for the student and one comment on their take;
    the ids are added to ``ids``."""
    ids["assignment"], ids["comment"] = uuid.uuid4(), uuid.uuid4()
    conn.execute(
        "INSERT INTO assignments (id, user_id, teacher_name, title, created_at, updated_at, usn)"
        " VALUES (%s, %s, 'Teacher', 'Scales', %s, %s, 0)",
        (ids["assignment"], ids["user"], T0, T0),
    )
    conn.execute(
        "INSERT INTO take_comments (id, user_id, performance_id, author_name, body, created_at,"
        " updated_at, usn) VALUES (%s, %s, %s, 'Teacher', 'Lovely', %s, %s, 0)",
        (ids["comment"], ids["user"], ids["perf"], T0, T0),
    )
    conn.commit()


def read_as(conn: psycopg.Connection[Any], ids: dict[str, uuid.UUID]) -> None:
    """As the student: the read mark of the teacher's comment."""
    ids["read"] = uuid.uuid4()
    conn.execute(
        "INSERT INTO comment_reads (id, user_id, comment_id, read_at, created_at, updated_at,"
        " usn) VALUES (%s, %s, %s, %s, %s, %s, 1)",
        (ids["read"], ids["user"], ids["comment"], T0, T0, T0),
    )
    conn.commit()


@pytest.fixture
def studio(sync_server: SyncServer) -> tuple[SyncServer, dict[str, dict[str, uuid.UUID]]]:
    sync_server.add_teacher("Ms Tee")
    sync_server.add_teacher("Mr Other")
    sync_server.add_student("Ann", "Ms Tee")
    sync_server.add_student("Bob", "Ms Tee")
    sync_server.add_student("Cy", "Mr Other")
    data = {}
    for name in ("Ann", "Bob", "Cy"):
        with sync_server.connect_as(name) as conn:
            data[name] = seed_as(conn)
    for name, teacher in (("Ann", "Ms Tee"), ("Bob", "Ms Tee"), ("Cy", "Mr Other")):
        with sync_server.connect_as(teacher) as conn:
            teach_as(conn, data[name])
        with sync_server.connect_as(name) as conn:
            read_as(conn, data[name])
    return sync_server, data


def _count(conn: psycopg.Connection[Any], table: str, where: str = "true", *args: Any) -> int:
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE ").format(sql.Identifier(table)) + sql.SQL(where),
        args,
    ).fetchone()
    assert row is not None
    return int(row[0])


def _visible_everywhere(
    conn: psycopg.Connection[Any], data: dict[str, dict[str, uuid.UUID]], who: list[str]
) -> None:
    """Each table shows exactly the rows of the students in ``who``."""
    for table, where in OWNED.items():
        for name, ids in data.items():
            expected = 1 if name in who else 0
            assert _count(conn, table, where, ids["user"]) == expected, (table, name)
        assert _count(conn, table) == len(who), table


def test_a_student_sees_and_writes_only_their_own_rows(studio: Any) -> None:
    srv, data = studio
    bob = data["Bob"]
    with srv.connect_as("Ann") as conn:
        _visible_everywhere(conn, data, ["Ann"])
        # Writing a row that names Bob fails...
        attempts = [
            (
                "INSERT INTO realtime_sessions (id, user_id, started_at, chunks_processed, status,"
                " created_at, updated_at, usn) VALUES (%s, %s, %s, 0, 'active', %s, %s, 1)",
                (uuid.uuid4(), bob["user"], T0, T0, T0),
            ),
            (
                "INSERT INTO performances (id, session_id, recording_started_at,"
                " recording_duration, sample_rate, created_at, updated_at, usn)"
                " VALUES (%s, %s, %s, 1, 44100, %s, %s, 1)",
                (uuid.uuid4(), bob["session"], T0, T0, T0),
            ),
            (
                "INSERT INTO analysis_results (id, performance_id, created_at, updated_at, usn)"
                " VALUES (%s, %s, %s, %s, 1)",
                (uuid.uuid4(), bob["perf"], T0, T0),
            ),
            (
                "INSERT INTO users (id, display_name, timezone, settings_json, created_at,"
                " updated_at, usn) VALUES (%s, 'x', 'UTC', '{}', %s, %s, 1)",
                (uuid.uuid4(), T0, T0),
            ),
            (
                "INSERT INTO tombstones (id, table_name, row_id, deleted_at, usn, user_id)"
                " VALUES (%s, 'users', %s, %s, 1, %s)",
                (uuid.uuid4(), bob["user"], T0, bob["user"]),
            ),
            # Moving one's own row to Bob is refused as well.
            (
                "UPDATE realtime_sessions SET user_id = %s WHERE id = %s",
                (bob["user"], data["Ann"]["session"]),
            ),
            # Upserting over Bob's row by its id: the conflicting row is not Ann's to update.
            (
                "INSERT INTO realtime_sessions (id, user_id, started_at, chunks_processed, status,"
                " created_at, updated_at, usn) VALUES (%s, %s, %s, 0, 'active', %s, %s, 1)"
                " ON CONFLICT (id) DO UPDATE SET piece_name = 'stolen'",
                (bob["session"], data["Ann"]["user"], T0, T0, T0),
            ),
        ]
        for statement, args in attempts:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement, args)
            conn.rollback()
        # ... and updating or deleting Bob's rows touches nothing.
        for statement, args in [
            ("UPDATE realtime_sessions SET piece_name = 'x' WHERE id = %s", (bob["session"],)),
            ("UPDATE users SET display_name = 'x' WHERE id = %s", (bob["user"],)),
            ("DELETE FROM performances WHERE id = %s", (bob["perf"],)),
            ("DELETE FROM analysis_results WHERE id = %s", (bob["analysis"],)),
            ("DELETE FROM users WHERE id = %s", (bob["user"],)),
        ]:
            assert conn.execute(statement, args).rowcount == 0
        conn.commit()
        # The counter and the claimed profile id cannot be changed directly.
        for statement in (
            "UPDATE sync_accounts SET usn = 99",
            "UPDATE sync_accounts SET user_id = gen_random_uuid()",
            "INSERT INTO sync_accounts (role_name, kind, display_name, usn, created_at)"
            " VALUES ('x', 'teacher', 'x', 0, now())",
            "DELETE FROM sync_accounts",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
        # The server functions a sync reads through answer about Ann's own rows only.
        for table in OWNED:
            if not table.startswith("audio"):
                fn = sql.Identifier(f"etude_changed_{table}")
                n = conn.execute(sql.SQL("SELECT count(*) FROM {}(-1)").format(fn)).fetchone()
                assert n == (1,), table
        assert conn.execute("SELECT etude_sync_counts()").fetchone() == ([1] * 8,)
        for fn in ("etude_session_visible", "etude_performance_visible"):
            for key, expected in (("session", True), ("perf", True)):
                if (fn == "etude_session_visible") != (key == "session"):
                    continue
                mine = conn.execute(f"SELECT {fn}(%s)", (data["Ann"][key],)).fetchone()
                theirs = conn.execute(f"SELECT {fn}(%s)", (bob[key],)).fetchone()
                assert mine == (expected,) and theirs == (False,)
        # Claiming another profile id once one is claimed changes nothing.
        again = conn.execute("SELECT etude_claim_profile(%s)", (bob["user"],)).fetchone()
        assert again == (data["Ann"]["user"],)
        assert _count(conn, "sync_accounts") == 1
        conn.rollback()
    with srv.admin() as admin, server.as_owner(admin, server.Roles(srv.prefix)):
        row = admin.execute(
            "SELECT piece_name FROM realtime_sessions WHERE id = %s", (bob["session"],)
        ).fetchone()
        assert row == (None,)
        assert _count(admin, "analysis_results") == 3


def test_set_role_and_settings_change_nothing(studio: Any) -> None:
    srv, data = studio
    roles = server.Roles(srv.prefix)
    bob_role = srv.accounts["Bob"].invitation.role
    with srv.connect_as("Ann") as conn:
        conn.autocommit = True
        for statement in (
            sql.SQL("SET ROLE {}").format(sql.Identifier(bob_role)),
            sql.SQL("SET ROLE {}").format(sql.Identifier(roles.owner)),
            sql.SQL("SET ROLE {}").format(sql.Identifier(roles.teachers)),
            sql.SQL("SET SESSION AUTHORIZATION {}").format(sql.Identifier(bob_role)),
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        # Turning row security off makes a filtered query fail instead of showing more.
        conn.execute("SET row_security = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM realtime_sessions")
        conn.execute("RESET row_security")
        # The one role Ann may become is her own group: still only her rows.
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(roles.students)))
        _visible_everywhere(conn, data, ["Ann"])
        # Settings a client can change are not what the policies look at.
        for setting in ("etude.user_id", "application_name", "search_path"):
            conn.execute(
                sql.SQL("SELECT set_config({}, {}, false)").format(
                    sql.Literal(setting), sql.Literal(str(data["Bob"]["user"]))
                )
            )
        conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(srv.schema)))
        _visible_everywhere(conn, data, ["Ann"])
        conn.execute("RESET ROLE")
        _visible_everywhere(conn, data, ["Ann"])


def test_a_teacher_sees_only_their_own_students_and_writes_nothing(studio: Any) -> None:
    srv, data = studio
    with srv.connect_as("Ms Tee") as conn:
        _visible_everywhere(conn, data, ["Ann", "Bob"])
        assert _count(conn, "sync_accounts") == 3  # herself and her two students
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE realtime_sessions SET piece_name = 'x'")
        conn.rollback()
        for fn in ("etude_sync_begin()", "etude_changed_users(-1)", "etude_sync_counts()"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {fn}")
            conn.rollback()
    with srv.connect_as("Mr Other") as conn:
        _visible_everywhere(conn, data, ["Cy"])


def test_catalog_no_app_role_is_privileged_and_rls_is_forced_everywhere(studio: Any) -> None:
    srv, _ = studio
    roles = server.Roles(srv.prefix)
    with srv.admin() as admin:
        app_roles = admin.execute(
            "SELECT rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolcanlogin,"
            " rolconnlimit FROM pg_roles WHERE rolname LIKE %s",
            (srv.prefix + "%",),
        ).fetchall()
        assert len(app_roles) == 3 + 5
        for name, sup, bypass, createrole, createdb, login, limit in app_roles:
            assert not (sup or bypass or createrole or createdb), name
            if name in (roles.owner, roles.students, roles.teachers):
                assert not login, name
            else:
                assert login and 0 < limit <= server.TEACHER_CONNECTION_LIMIT, name
        tables = admin.execute(
            "SELECT c.relname, pg_get_userbyid(c.relowner), c.relrowsecurity,"
            " c.relforcerowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
            (srv.schema,),
        ).fetchall()
        assert {t[0] for t in tables} == {*Base.metadata.tables, "alembic_version"}
        for name, owner, rls, forced in tables:
            assert owner == roles.owner and rls and forced, name
        # Every login role has its timeouts; none owns anything or has a direct table grant.
        logins = [r[0] for r in app_roles if r[5]]
        for role in logins:
            settings = admin.execute(
                "SELECT unnest(setconfig) FROM pg_db_role_setting s JOIN pg_roles r"
                " ON r.oid = s.setrole WHERE r.rolname = %s",
                (role,),
            ).fetchall()
            names = {str(s[0]).split("=")[0] for s in settings}
            assert {"statement_timeout", "idle_in_transaction_session_timeout"} <= names
            grants = admin.execute(
                "SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = %s",
                (role,),
            ).fetchone()
            assert grants == (0,)
        functions = admin.execute(
            "SELECT p.proname, pg_get_userbyid(p.proowner), p.prosecdef, p.proconfig"
            " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s",
            (srv.schema,),
        ).fetchall()
        assert {f[0] for f in functions} == {
            "etude_sync_begin",
            "etude_sync_bump",
            "etude_claim_profile",
            "etude_session_visible",
            "etude_performance_visible",
            "etude_sync_counts",
            "etude_performance_owner",
            "etude_teacher_write",
            *(f"etude_changed_{t}" for t in OWNED if not t.startswith("audio")),
        }
        for _name, owner, secdef, config in functions:
            assert owner == roles.owner and secdef and any("search_path" in c for c in config)


def test_passwords_are_in_no_database_row_or_catalog(studio: Any, tmp_path: Any) -> None:
    srv, _ = studio
    passwords = [a.password for a in srv.accounts.values()]
    with srv.admin() as admin:
        verifiers = admin.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname LIKE %s AND rolcanlogin",
            (srv.prefix + "%",),
        ).fetchall()
        assert len(verifiers) == 5
        for (verifier,) in verifiers:
            assert verifier.startswith("SCRAM-SHA-256$")
            assert not any(p in verifier for p in passwords)
        with server.as_owner(admin, server.Roles(srv.prefix)):
            for table in Base.metadata.tables:
                rows = admin.execute(
                    sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(table))
                ).fetchall()
                text_dump = "\n".join(str(r[0]) for r in rows)
                assert not any(p in text_dump for p in passwords), table


def test_server_commands_from_the_command_line(
    sync_server: SyncServer, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["server", "--db", sync_server.url, "--prefix", sync_server.prefix]
    assert main([*base, "init"]) == 0  # again: idempotent
    assert main([*base, "add-teacher", "Ms Tee"]) == 0
    out = capsys.readouterr().out
    assert "password" in out.lower() and "etude1:" in out
    assert main([*base, "add-student", "Zoë Ng", "--teacher", "Ms Tee"]) == 0
    invitation = [w for w in capsys.readouterr().out.split() if w.startswith("etude1:")]
    assert len(invitation) == 1
    from storage.sync.invite import decode

    inv = decode(invitation[0])
    assert inv.role == f"{sync_server.prefix}_s_zoe_ng"
    with psycopg.connect(
        host="127.0.0.1", port=inv.port, dbname=inv.dbname, user=inv.role, password=inv.password
    ) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
    assert main([*base, "add-student", "Al", "--teacher", "Nobody"]) == 1
    assert "no teacher named 'Nobody'" in capsys.readouterr().err
    assert main([*base, "list"]) == 0
    listing = capsys.readouterr().out
    assert "Zoë Ng" in listing and "Ms Tee" in listing
    # Removing asks what to do with the data: neither flag is an error that changes nothing.
    assert main([*base, "remove-student", "Zoë Ng"]) == 2
    capsys.readouterr()
    assert main([*base, "remove-student", "Zoë Ng", "--keep-data"]) == 0
    with sync_server.admin() as admin:
        gone = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (inv.role,)).fetchone()
        assert gone is None
