"""Setting up a teacher's PostgreSQL server: roles, row-level security, accounts, invitations.

Run by whoever administers the server, with an administrator's connection (a superuser, or a
role with CREATEROLE that may act as the owner role). The design:

- ``<prefix>_owner`` (NOLOGIN) owns every table and the sync functions; the migrations run as
  it (``SET ROLE``). Nobody logs in as it.
- ``<prefix>_students`` and ``<prefix>_teachers`` (NOLOGIN) carry the grants; each student and
  each teacher has a LOGIN role of their own, member of one of them, with a connection limit,
  ``statement_timeout`` and ``idle_in_transaction_session_timeout``.
- Row-level security is enabled and FORCED on every table (so even the owner is subject to it).
  Policies compare ``session_user``, the role that logged in, with ``sync_accounts``: not
  ``current_user``, which ``SET ROLE`` changes, and never a setting the client can change. A
  student reads and writes only rows of their own profile; a teacher reads their own students'.
- The per-student update counter (``sync_accounts.usn``) and the one-time claim of a profile id
  are changed only through SECURITY DEFINER functions that act on the caller's own row.
- Passwords are generated here, printed once and sent to the server only as a SCRAM-SHA-256
  verifier, so they appear in no server log or catalog.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from storage.models import Base
from storage.sync.invite import Invitation
from storage.sync.tables import DATA_TABLES, TOMBSTONES, SyncedTable

DEFAULT_PREFIX = "etude"
STUDENT_CONNECTION_LIMIT = 4
TEACHER_CONNECTION_LIMIT = 8
STATEMENT_TIMEOUT = "120s"
IDLE_IN_TRANSACTION_TIMEOUT = "60s"
PASSWORD_BYTES = 18  # 24 URL-safe characters, 144 bits
SCRAM_ITERATIONS = 4096

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,23}$")

# Tables every app role may read whole (the schema revision); none holds a student's data.
PUBLIC_READ_TABLES = ("alembic_version", "etude_meta")
ACCOUNTS = "sync_accounts"
AUDIO_TABLES = ("audio_blobs", "audio_chunks")
# Tables of a computer's own database that a server keeps empty and shows to nobody.
LOCAL_ONLY_TABLES = ("sync_links", "audio_uploads")


class ServerSetupError(Exception):
    """A server set-up command could not do what was asked; nothing was changed."""


@dataclass(frozen=True)
class Roles:
    """The role names of one Etude installation on a PostgreSQL cluster (roles are
    cluster-wide, so each installation has its own ``prefix``)."""

    prefix: str

    @property
    def owner(self) -> str:
        return f"{self.prefix}_owner"

    @property
    def students(self) -> str:
        return f"{self.prefix}_students"

    @property
    def teachers(self) -> str:
        return f"{self.prefix}_teachers"

    def account(self, kind: str, name: str, taken: set[str]) -> str:
        """A free login role name for an account called ``name`` (ASCII, at most 63 bytes)."""
        base = f"{self.prefix}_{kind[0]}_{_slug(name)}"[:55]
        role, n = base, 1
        while role in taken:
            n += 1
            role = f"{base}_{n}"
        return role


@dataclass(frozen=True)
class Account:
    """One account of the server, as ``etude server list`` shows it."""

    role_name: str
    kind: str
    display_name: str
    teacher_role: str | None
    linked: bool
    usn: int
    sessions: int


@dataclass(frozen=True)
class NewAccount:
    """A freshly created account: its password is shown once and then exists nowhere."""

    account: Account
    password: str
    invitation: Invitation


def check_prefix(prefix: str) -> str:
    """A valid role prefix: a lowercase letter, then up to 23 lowercase letters, digits or _."""
    if not _PREFIX_RE.match(prefix):
        raise ServerSetupError(
            f"the role prefix {prefix!r} must start with a lowercase letter and hold at most 24 "
            "lowercase letters, digits or underscores"
        )
    return prefix


def admin_connect(url: str) -> psycopg.Connection[Any]:
    """A psycopg connection for an administrator's SQLAlchemy or libpq URL."""
    return psycopg.connect(**conninfo_from_url(url), autocommit=False)


def conninfo_from_url(url: str) -> dict[str, Any]:
    """libpq keyword arguments (host, port, user, password, dbname and query options) for a
    ``postgresql[+psycopg]://`` URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ServerSetupError("the server must be a PostgreSQL database (postgresql://...)")
    out: dict[str, Any] = {}
    for key, value in (
        ("host", parsed.host),
        ("port", parsed.port),
        ("user", parsed.username),
        ("password", parsed.password),
        ("dbname", parsed.database),
    ):
        if value is not None:
            out[key] = value
    for key, qvalue in parsed.query.items():
        out[key] = qvalue if isinstance(qvalue, str) else qvalue[-1]
    return out


@contextmanager
def as_owner(conn: psycopg.Connection[Any], roles: Roles) -> Iterator[None]:
    """Run the block as the owner role (``SET ROLE``), back to the administrator afterwards."""
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(roles.owner)))
    try:
        yield
    finally:
        if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
            conn.execute("RESET ROLE")


def init_server(url: str, prefix: str = DEFAULT_PREFIX) -> str:
    """``etude server init``: create the owner and group roles, migrate the schema as the owner,
    then (re)apply ownership, grants, row-level security, policies and functions. Safe to run
    again, e.g. after upgrading Etude (it migrates too). Returns the schema's name."""
    from storage.db import make_engine, migrate_engine

    roles = Roles(check_prefix(prefix))
    with admin_connect(url) as conn:
        schema, dbname = _where(conn)
        _ensure_group_roles(conn, roles, schema)
        _give_tables_to_owner(conn, roles, schema)
        conn.commit()

    engine = make_engine(url)

    def _set_owner(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(roles.owner)))
        dbapi_connection.commit()

    from sqlalchemy import event

    event.listen(engine, "connect", _set_owner)
    try:
        migrate_engine(engine, backup=False)
    finally:
        engine.dispose()

    with admin_connect(url) as conn:
        _apply_security(conn, roles, schema, dbname)
        conn.commit()
    return schema


def _where(conn: psycopg.Connection[Any]) -> tuple[str, str]:
    row = conn.execute("SELECT current_schema(), current_database()").fetchone()
    if row is None or row[0] is None:
        raise ServerSetupError("the connection has no schema to work in (check search_path)")
    return str(row[0]), str(row[1])


def _role_exists(conn: psycopg.Connection[Any], role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def _ensure_group_roles(conn: psycopg.Connection[Any], roles: Roles, schema: str) -> None:
    for role in (roles.owner, roles.students, roles.teachers):
        if not _role_exists(conn, role):
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                ).format(sql.Identifier(role))
            )
    # The administrator acts as the owner (SET ROLE) to migrate and to manage accounts' data.
    superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    row = superuser.fetchone()
    if not (row and row[0]):
        conn.execute(sql.SQL("GRANT {} TO current_user").format(sql.Identifier(roles.owner)))
    conn.execute(
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(
            sql.Identifier(schema), sql.Identifier(roles.owner)
        )
    )


def _etude_tables() -> list[str]:
    return [*Base.metadata.tables, "alembic_version"]


def _existing_tables(conn: psycopg.Connection[Any], schema: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = %s", (schema,)
    ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _give_tables_to_owner(conn: psycopg.Connection[Any], roles: Roles, schema: str) -> None:
    # A schema made earlier with `etude db upgrade` belongs to the administrator.
    existing = _existing_tables(conn, schema)
    for name in _etude_tables():
        if name in existing and existing[name] != roles.owner:
            conn.execute(
                sql.SQL("ALTER TABLE {}.{} OWNER TO {}").format(
                    sql.Identifier(schema), sql.Identifier(name), sql.Identifier(roles.owner)
                )
            )


def _own_user(schema: str) -> sql.Composable:
    return sql.SQL(
        "(SELECT a.user_id FROM {}.sync_accounts a "
        "WHERE a.role_name = session_user AND a.kind = 'student')"
    ).format(sql.Identifier(schema))


def _students_of_caller(schema: str) -> sql.Composable:
    return sql.SQL(
        "(SELECT a.user_id FROM {}.sync_accounts a WHERE a.teacher_role = session_user)"
    ).format(sql.Identifier(schema))


def _row_owner_test(table: SyncedTable, schema: str, users: sql.Composable, op: str) -> Any:
    """SQL true when a row of ``table`` belongs to a profile in ``users`` (a subquery);
    ``op`` is "=" for a single id or "IN" for a set.

    Takes and analyses have no profile column: they are checked through their session by the
    SECURITY DEFINER functions etude_session_visible / etude_performance_visible, which look the
    parent up by primary key alone and compare its profile with the caller's accounts. Every
    form written in the policy itself (IN (SELECT ...), EXISTS with a join, nested scalar
    subqueries) picked up the parent table's own row-level security, and on tables without
    statistics PostgreSQL then chose the (user_id, ...) index and walked all the student's
    sessions for every row an upsert checked: a year's first sync took a minute, then 3 s."""
    name = sql.Identifier(table.name)
    s = sql.Identifier(schema)
    if table.owner == "self":
        return sql.SQL("id {} {}").format(sql.SQL(op), users)
    if table.owner == "user":
        return sql.SQL("user_id {} {}").format(sql.SQL(op), users)
    if table.owner == "session":
        return sql.SQL("{}.etude_session_visible({}.session_id)").format(s, name)
    return sql.SQL("{}.etude_performance_visible({}.performance_id)").format(s, name)


def _apply_security(conn: psycopg.Connection[Any], roles: Roles, schema: str, dbname: str) -> None:
    s = sql.Identifier(schema)
    owner, students, teachers = (
        sql.Identifier(r) for r in (roles.owner, roles.students, roles.teachers)
    )
    _give_tables_to_owner(conn, roles, schema)
    existing = _existing_tables(conn, schema)
    missing = [t for t in _etude_tables() if t not in existing]
    if missing:
        raise ServerSetupError(f"the schema lacks tables {missing}: the migration did not run")

    conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(s))
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}, {}").format(s, students, teachers))
    conn.execute(
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}").format(
            sql.Identifier(dbname), students, teachers
        )
    )
    conn.execute(
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} REVOKE EXECUTE ON FUNCTIONS "
            "FROM PUBLIC"
        ).format(owner, s)
    )

    with as_owner(conn, roles):
        for name in _etude_tables():
            t = sql.SQL("{}.{}").format(s, sql.Identifier(name))
            conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(t))
            conn.execute(sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(t))
            conn.execute(
                sql.SQL("REVOKE ALL ON {} FROM PUBLIC, {}, {}").format(t, students, teachers)
            )
            for (pol,) in conn.execute(
                "SELECT policyname FROM pg_policies WHERE schemaname = %s AND tablename = %s",
                (schema, name),
            ).fetchall():
                conn.execute(sql.SQL("DROP POLICY {} ON {}").format(sql.Identifier(pol), t))
            # The owner's own policy: administrators acting as the owner manage every row (the
            # SECURITY DEFINER functions also run as the owner, and filter by session_user).
            conn.execute(
                sql.SQL(
                    "CREATE POLICY owner_all ON {} AS PERMISSIVE FOR ALL TO {} "
                    "USING (true) WITH CHECK (true)"
                ).format(t, owner)
            )
        for name in PUBLIC_READ_TABLES:
            t = sql.SQL("{}.{}").format(s, sql.Identifier(name))
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}, {}").format(t, students, teachers))
            conn.execute(
                sql.SQL("CREATE POLICY read_all ON {} FOR SELECT TO {}, {} USING (true)").format(
                    t, students, teachers
                )
            )
        acc = sql.SQL("{}.{}").format(s, sql.Identifier(ACCOUNTS))
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}, {}").format(acc, students, teachers))
        conn.execute(
            sql.SQL(
                "CREATE POLICY own_accounts ON {} FOR SELECT TO {}, {} "
                "USING (role_name = session_user OR teacher_role = session_user)"
            ).format(acc, students, teachers)
        )
        _create_functions(conn, schema, roles)
        for table in (*DATA_TABLES, TOMBSTONES):
            _table_policies(conn, schema, table, students, teachers)
        for name in AUDIO_TABLES:
            _table_policies(conn, schema, SyncedTable(name, "user", "user_id"), students, teachers)


def _table_policies(
    conn: psycopg.Connection[Any],
    schema: str,
    table: SyncedTable,
    students: sql.Identifier,
    teachers: sql.Identifier,
) -> None:
    t = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table.name))
    own = _row_owner_test(table, schema, _own_user(schema), "=")
    theirs = _row_owner_test(table, schema, _students_of_caller(schema), "IN")
    if table.writer == "teacher":
        # The teacher's tables (assignments, comments): the teacher writes rows of their own
        # students only (a comment only on that student's take); the student reads their own.
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(t, students))
        conn.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(t, teachers)
        )
        conn.execute(
            sql.SQL("CREATE POLICY student_read ON {} FOR SELECT TO {} USING ({})").format(
                t, students, own
            )
        )
        check = theirs
        if "performance_id" in table.columns:
            check = sql.SQL("{} AND {}.etude_performance_owner(performance_id) = user_id").format(
                theirs, sql.Identifier(schema)
            )
        conn.execute(
            sql.SQL(
                "CREATE POLICY teacher_write ON {} FOR ALL TO {} USING ({}) WITH CHECK ({})"
            ).format(t, teachers, theirs, check)
        )
        conn.execute(sql.SQL("DROP TRIGGER IF EXISTS etude_teacher_write ON {}").format(t))
        conn.execute(
            sql.SQL(
                "CREATE TRIGGER etude_teacher_write BEFORE INSERT OR UPDATE OR DELETE ON {} "
                "FOR EACH ROW EXECUTE FUNCTION {}.etude_teacher_write()"
            ).format(t, sql.Identifier(schema))
        )
        return
    conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}").format(t, students))
    conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(t, teachers))
    conn.execute(
        sql.SQL("CREATE POLICY student_own ON {} FOR ALL TO {} USING ({}) WITH CHECK ({})").format(
            t, students, own, own
        )
    )
    conn.execute(
        sql.SQL("CREATE POLICY teacher_students ON {} FOR SELECT TO {} USING ({})").format(
            t, teachers, theirs
        )
    )


def _create_functions(conn: psycopg.Connection[Any], schema: str, roles: Roles) -> None:
    s = sql.Identifier(schema)
    path = sql.SQL("SET search_path = {}, pg_temp").format(s)
    # The caller's account, locked until their transaction ends: two syncs of one student run
    # one after the other, and the counter read here is the one their push will bump.
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}.etude_sync_begin() "
            "RETURNS TABLE (user_id uuid, usn integer, kind varchar) "
            "LANGUAGE sql VOLATILE SECURITY DEFINER {} AS $$ "
            "SELECT a.user_id, a.usn, a.kind FROM sync_accounts a "
            "WHERE a.role_name = session_user FOR UPDATE $$"
        ).format(s, path)
    )
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}.etude_sync_bump() RETURNS integer "
            "LANGUAGE sql VOLATILE SECURITY DEFINER {} AS $$ "
            "UPDATE sync_accounts SET usn = usn + 1 "
            "WHERE role_name = session_user AND kind = 'student' RETURNING usn $$"
        ).format(s, path)
    )
    # A profile id is claimed once, by the account's first sync, and never changed: an id that
    # already has rows on the server (e.g. a removed student's kept data) cannot be claimed.
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}.etude_claim_profile(profile uuid) RETURNS uuid "
            "LANGUAGE plpgsql VOLATILE SECURITY DEFINER {} AS $$ "
            "DECLARE result uuid; "
            "BEGIN "
            "  IF EXISTS (SELECT 1 FROM users WHERE id = profile) "
            "     OR EXISTS (SELECT 1 FROM sync_accounts WHERE user_id = profile) THEN "
            "    SELECT a.user_id INTO result FROM sync_accounts a "
            "      WHERE a.role_name = session_user AND a.kind = 'student'; "
            "    RETURN result; "
            "  END IF; "
            "  UPDATE sync_accounts SET user_id = profile "
            "    WHERE role_name = session_user AND kind = 'student' AND user_id IS NULL; "
            "  SELECT a.user_id INTO result FROM sync_accounts a "
            "    WHERE a.role_name = session_user AND a.kind = 'student'; "
            "  RETURN result; "
            "END $$"
        ).format(s, path)
    )
    # Whether a session / take belongs to the caller (a student) or to one of the caller's
    # students (a teacher): one primary-key probe, as the owner, for the policies above. They
    # answer only about the caller's own rows, which row-level security shows them anyway.
    visible = (
        "EXISTS (SELECT 1 FROM sync_accounts a WHERE a.user_id = owner AND "
        "((a.role_name = session_user AND a.kind = 'student') OR a.teacher_role = session_user))"
    )
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}.etude_session_visible(session uuid) RETURNS boolean "
            "LANGUAGE sql STABLE SECURITY DEFINER {} AS $$ "
            "SELECT " + visible.replace("owner", "r.user_id") + " "
            "FROM realtime_sessions r WHERE r.id = session $$"
        ).format(s, path)
    )
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}.etude_performance_visible(take uuid) RETURNS boolean "
            "LANGUAGE sql STABLE SECURITY DEFINER {} AS $$ "
            "SELECT " + visible.replace("owner", "r.user_id") + " "
            "FROM performances p JOIN realtime_sessions r ON r.id = p.session_id "
            "WHERE p.id = take $$"
        ).format(s, path)
    )
    # The take's student, for a teacher's comment (None unless the take is one of the caller's
    # students'): a comment must name the take's own student, whose computers will pull it.
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}.etude_performance_owner(take uuid) RETURNS uuid "
            "LANGUAGE sql STABLE SECURITY DEFINER {} AS $$ "
            "SELECT r.user_id FROM performances p JOIN realtime_sessions r ON r.id = p.session_id "
            "WHERE p.id = take AND EXISTS (SELECT 1 FROM sync_accounts a "
            "WHERE a.user_id = r.user_id AND a.teacher_role = session_user) $$"
        ).format(s, path)
    )
    # A teacher's write to an assignment or comment bumps the student's counter and stamps the
    # row with it (a deletion leaves a tombstone stamped so), so the student's next pull sees it.
    # The counter's row lock also waits for a sync of that student that is under way, so a pull
    # never skips the row. Writes by anyone but a teacher (the owner) pass unchanged.
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}.etude_teacher_write() RETURNS trigger "
            "LANGUAGE plpgsql SECURITY DEFINER {} AS $$ "
            "DECLARE n integer; student uuid; "
            "BEGIN "
            "  IF NOT EXISTS (SELECT 1 FROM sync_accounts "
            "                 WHERE role_name = session_user AND kind = 'teacher') THEN "
            "    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; "
            "    RETURN NEW; "
            "  END IF; "
            "  IF TG_OP = 'DELETE' THEN student := OLD.user_id; "
            "  ELSE student := NEW.user_id; END IF; "
            "  IF TG_OP = 'UPDATE' AND NEW.user_id <> OLD.user_id THEN "
            "    RAISE EXCEPTION 'a row cannot move to another student' USING ERRCODE = '42501'; "
            "  END IF; "
            "  UPDATE sync_accounts SET usn = usn + 1 "
            "    WHERE user_id = student AND kind = 'student' AND teacher_role = session_user "
            "    RETURNING usn INTO n; "
            "  IF n IS NULL THEN "
            "    RAISE EXCEPTION 'not one of your students' USING ERRCODE = '42501'; "
            "  END IF; "
            "  IF TG_OP = 'DELETE' THEN "
            "    INSERT INTO tombstones (id, table_name, row_id, deleted_at, usn, user_id) "
            "      VALUES (gen_random_uuid(), TG_TABLE_NAME, OLD.id, now(), n, OLD.user_id); "
            "    RETURN OLD; "
            "  END IF; "
            "  NEW.usn := n; "
            "  NEW.updated_at := now(); "
            "  IF TG_OP = 'INSERT' AND NEW.created_at IS NULL THEN "
            "    NEW.created_at := now(); "
            "  END IF; "
            "  RETURN NEW; "
            "END $$"
        ).format(s, path)
    )
    # The count check's figures for the caller's own profile, counted as the owner by index
    # joins: under the policies every row counted would cost a function call.
    me = (
        "(SELECT a.user_id FROM sync_accounts a "
        "WHERE a.role_name = session_user AND a.kind = 'student')"
    )
    counts = []
    for table in DATA_TABLES:
        t = sql.Identifier(table.name)
        if table.owner == "self":
            counts.append(
                sql.SQL("(SELECT count(*) FROM {} x WHERE x.id = {})").format(t, sql.SQL(me))
            )
        elif table.owner == "user":
            counts.append(
                sql.SQL("(SELECT count(*) FROM {} x WHERE x.user_id = {})").format(t, sql.SQL(me))
            )
        elif table.owner == "session":
            counts.append(
                sql.SQL(
                    "(SELECT count(*) FROM {} x JOIN realtime_sessions r ON r.id = x.session_id "
                    "WHERE r.user_id = {})"
                ).format(t, sql.SQL(me))
            )
        else:
            counts.append(
                sql.SQL(
                    "(SELECT count(*) FROM {} x JOIN performances p ON p.id = x.performance_id "
                    "JOIN realtime_sessions r ON r.id = p.session_id WHERE r.user_id = {})"
                ).format(t, sql.SQL(me))
            )
    conn.execute(
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}.etude_sync_counts() RETURNS bigint[] "
            "LANGUAGE sql STABLE SECURITY DEFINER {} AS $$ SELECT ARRAY[{}] $$"
        ).format(s, path, sql.SQL(", ").join(counts))
    )
    # A pull reads the caller's rows changed since a counter value. Counters are per student,
    # so "usn > n" alone matches other students' rows too, and under the policies every row
    # read would cost a function call: these functions read the caller's own rows by index
    # joins instead, as the owner.
    changed = []
    for table in (*DATA_TABLES, TOMBSTONES):
        t = sql.Identifier(table.name)
        if table.owner == "self":
            body = sql.SQL("SELECT x.* FROM {} x WHERE x.id = {} AND x.usn > since").format(
                t, sql.SQL(me)
            )
        elif table.owner == "user":
            body = sql.SQL("SELECT x.* FROM {} x WHERE x.user_id = {} AND x.usn > since").format(
                t, sql.SQL(me)
            )
        elif table.owner == "session":
            body = sql.SQL(
                "SELECT x.* FROM {} x JOIN realtime_sessions r ON r.id = x.session_id "
                "WHERE r.user_id = {} AND x.usn > since"
            ).format(t, sql.SQL(me))
        else:
            body = sql.SQL(
                "SELECT x.* FROM {} x JOIN performances p ON p.id = x.performance_id "
                "JOIN realtime_sessions r ON r.id = p.session_id "
                "WHERE r.user_id = {} AND x.usn > since"
            ).format(t, sql.SQL(me))
        fn = f"etude_changed_{table.name}"
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE FUNCTION {}.{}(since integer) RETURNS SETOF {}.{} "
                "LANGUAGE sql STABLE SECURITY DEFINER {} AS $$ {} $$"
            ).format(s, sql.Identifier(fn), s, t, path, body)
        )
        changed.append(f"{fn}(integer)")
    both = sql.SQL("{}, {}").format(sql.Identifier(roles.students), sql.Identifier(roles.teachers))
    for fn, grantees in (
        ("etude_sync_begin()", sql.Identifier(roles.students)),
        ("etude_sync_bump()", sql.Identifier(roles.students)),
        ("etude_claim_profile(uuid)", sql.Identifier(roles.students)),
        ("etude_sync_counts()", sql.Identifier(roles.students)),
        *((fn, sql.Identifier(roles.students)) for fn in changed),
        ("etude_session_visible(uuid)", both),
        ("etude_performance_visible(uuid)", both),
        ("etude_performance_owner(uuid)", sql.Identifier(roles.teachers)),
        # Fired by the triggers only, never called: no role needs EXECUTE.
        ("etude_teacher_write()", None),
    ):
        f = sql.SQL("{}.{}").format(s, sql.SQL(fn))
        conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(f))
        if grantees is not None:
            conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(f, grantees))


# --------------------------------------------------------------------------------------------
# Accounts


def add_teacher(
    url: str, name: str, *, prefix: str = DEFAULT_PREFIX, host: str | None = None
) -> NewAccount:
    """``etude server add-teacher NAME``: a teacher's login role (reads their students' data)."""
    return _add_account(url, Roles(check_prefix(prefix)), "teacher", name, None, host)


def add_student(
    url: str, name: str, teacher: str, *, prefix: str = DEFAULT_PREFIX, host: str | None = None
) -> NewAccount:
    """``etude server add-student NAME --teacher NAME``: a student's login role under an existing
    teacher (given by name or role)."""
    return _add_account(url, Roles(check_prefix(prefix)), "student", name, teacher, host)


def _add_account(
    url: str, roles: Roles, kind: str, name: str, teacher: str | None, host: str | None
) -> NewAccount:
    name = name.strip()
    if not name or len(name) > 255 or "\x00" in name:
        raise ServerSetupError("an account's name must be 1 to 255 characters")
    info = conninfo_from_url(url)
    with admin_connect(url) as conn:
        schema, dbname = _where(conn)
        _require_initialised(conn, roles, schema)
        teacher_role: str | None = None
        with as_owner(conn, roles):
            if teacher is not None:
                teacher_role = _find_account(conn, teacher, "teacher").role_name
            taken = {
                str(r[0])
                for r in conn.execute(
                    "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (roles.prefix + "%",)
                )
            }
            role = roles.account(kind, name, taken)
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        group = roles.students if kind == "student" else roles.teachers
        limit = STUDENT_CONNECTION_LIMIT if kind == "student" else TEACHER_CONNECTION_LIMIT
        conn.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE "
                "NOREPLICATION INHERIT CONNECTION LIMIT {} PASSWORD {} IN ROLE {}"
            ).format(
                sql.Identifier(role),
                sql.Literal(limit),
                sql.Literal(scram_verifier(password)),
                sql.Identifier(group),
            )
        )
        for setting, value in (
            ("search_path", schema),
            ("statement_timeout", STATEMENT_TIMEOUT),
            ("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION_TIMEOUT),
        ):
            conn.execute(
                sql.SQL("ALTER ROLE {} IN DATABASE {} SET {} = {}").format(
                    sql.Identifier(role),
                    sql.Identifier(dbname),
                    sql.Identifier(setting),
                    sql.Literal(value),
                )
            )
        with as_owner(conn, roles):
            conn.execute(
                "INSERT INTO sync_accounts (role_name, kind, display_name, teacher_role, usn, "
                "created_at) VALUES (%s, %s, %s, %s, 0, now())",
                (role, kind, name, teacher_role),
            )
        conn.commit()
    account = Account(role, kind, name, teacher_role, False, 0, 0)
    invitation = Invitation(
        host=host or str(info.get("host") or "localhost"),
        port=int(info.get("port") or 5432),
        dbname=dbname,
        role=role,
        password=password,
    )
    return NewAccount(account, password, invitation)


def _require_initialised(conn: psycopg.Connection[Any], roles: Roles, schema: str) -> None:
    tables = _existing_tables(conn, schema)
    if tables.get(ACCOUNTS) != roles.owner:
        raise ServerSetupError(
            f"this server is not set up for Etude with role prefix {roles.prefix!r}: "
            "run `etude server init` first"
        )


def _find_account(conn: psycopg.Connection[Any], key: str, kind: str | None) -> Account:
    rows = conn.execute(
        "SELECT role_name, kind, display_name, teacher_role, user_id IS NOT NULL, usn "
        "FROM sync_accounts WHERE (display_name = %s OR role_name = %s)"
        + (" AND kind = %s" if kind else ""),
        (key, key, kind) if kind else (key, key),
    ).fetchall()
    what = kind or "account"
    if not rows:
        raise ServerSetupError(f"there is no {what} named {key!r}")
    if len(rows) > 1:
        names = ", ".join(str(r[0]) for r in rows)
        raise ServerSetupError(f"several accounts are named {key!r} ({names}): give the role")
    r = rows[0]
    return Account(str(r[0]), str(r[1]), str(r[2]), r[3], bool(r[4]), int(r[5]), 0)


def list_accounts(url: str, *, prefix: str = DEFAULT_PREFIX) -> list[Account]:
    """``etude server list``: every account, teachers first, with each student's session count."""
    roles = Roles(check_prefix(prefix))
    with admin_connect(url) as conn:
        schema, _ = _where(conn)
        _require_initialised(conn, roles, schema)
        with as_owner(conn, roles):
            rows = conn.execute(
                "SELECT a.role_name, a.kind, a.display_name, a.teacher_role, "
                "a.user_id IS NOT NULL, a.usn, "
                "(SELECT count(*) FROM realtime_sessions r WHERE r.user_id = a.user_id) "
                "FROM sync_accounts a ORDER BY a.kind DESC, a.display_name, a.role_name"
            ).fetchall()
        conn.rollback()
    return [
        Account(str(r[0]), str(r[1]), str(r[2]), r[3], bool(r[4]), int(r[5]), int(r[6]))
        for r in rows
    ]


def remove_student(url: str, name: str, *, delete_data: bool, prefix: str = DEFAULT_PREFIX) -> int:
    """``etude server remove-student NAME``: drop the student's login role. With
    ``delete_data`` their synced rows and audio are deleted too; otherwise the rows stay on the
    server, readable by no student or teacher (only administrators). Returns the number of
    sessions deleted (0 when kept)."""
    roles = Roles(check_prefix(prefix))
    with admin_connect(url) as conn:
        schema, _ = _where(conn)
        _require_initialised(conn, roles, schema)
        deleted = 0
        with as_owner(conn, roles):
            account = _find_account(conn, name, "student")
            uid = conn.execute(
                "SELECT user_id FROM sync_accounts WHERE role_name = %s", (account.role_name,)
            ).fetchone()
            user_id = uid[0] if uid else None
            if delete_data and user_id is not None:
                row = conn.execute(
                    "SELECT count(*) FROM realtime_sessions WHERE user_id = %s", (user_id,)
                ).fetchone()
                deleted = int(row[0]) if row else 0
                conn.execute("DELETE FROM audio_blobs WHERE user_id = %s", (user_id,))
                conn.execute("DELETE FROM tombstones WHERE user_id = %s", (user_id,))
                conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
            conn.execute("DELETE FROM sync_accounts WHERE role_name = %s", (account.role_name,))
        # Its open connections go first, or DROP ROLE would wait for them.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
            (account.role_name,),
        )
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(account.role_name)))
        conn.commit()
    return deleted


def drop_installation(url: str, prefix: str) -> None:
    """Remove every role of an installation (its login roles, groups and owner) after the
    schema holding its tables has been dropped; used by tests, which make one per run."""
    roles = Roles(check_prefix(prefix))
    with admin_connect(url) as conn:
        conn.autocommit = True
        names = [
            str(r[0])
            for r in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE %s",
                (roles.prefix.replace("_", r"\_") + r"\_%",),
            )
        ]
        for role in names:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
        for role in names:
            conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
        for role in sorted(names, key=lambda r: r in (roles.owner, roles.students, roles.teachers)):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def scram_verifier(password: str, *, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677), made
    here so the password itself is never sent to the server, where a statement log could keep
    it. ``password`` must be ASCII (generated ones are), where SASLprep changes nothing."""
    if not password.isascii():
        raise ValueError("generated passwords are ASCII")
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    return slug or "account"
