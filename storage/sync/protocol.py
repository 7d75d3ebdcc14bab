"""One sync of a profile with its account on a teacher's server (Anki-style).

A sync is one local transaction and one server transaction:

1. The local write lock is taken first (a write to the profile's ``sync_links`` row), so no
   practice write can slip between reading what is pending and marking it synced.
2. The server's schema revision must equal this Etude's, else nothing is written.
3. ``etude_sync_begin()`` locks the student's account row until the server transaction ends and
   returns their counter ``usn``: two syncs of one student run one after the other, and a pull
   never skips a row another sync is still writing.
4. **Pull**: every server row with ``usn`` above the profile's high-water mark. A row changed on
   both sides since the last sync is a conflict: the later ``updated_at`` wins, an exact tie goes
   to the larger digest of the row's values (the same on every computer). Deletions
   (tombstones) win over edits; a pulled row whose id the profile deleted is not applied.
   Progress rows of the periods the pulled sessions, takes and analyses touch are recomputed.
5. **Push**: every local row of the profile still pending (``usn`` = -1) is upserted
   (``INSERT ... ON CONFLICT (id) DO UPDATE``) with the counter bumped once; pending tombstones
   delete their rows (children by cascade) and are stored on the server.
6. **Count check**: the profile's rows per table are counted on both sides; any difference rolls
   both transactions back (CountMismatchError) and a full sync is offered.
7. The server commits, then the local transaction marks the pushed rows with the new counter
   and moves the high-water mark, so a crash between the two commits only makes the next sync
   pull back its own rows, which compare equal and change nothing.

A full sync (:func:`full_sync`) replaces one side with the other under the same lock, and refuses
when the side it would copy holds no practice while the other does.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from psycopg import sql
from sqlalchemy import Table, delete, exists, func, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage import progress
from storage.db import Database, head_revision
from storage.models import (
    AnalysisResult,
    Performance,
    RealtimeSession,
    SyncLink,
    Tombstone,
    utcnow,
)
from storage.sync.client import (
    CountMismatchError,
    FullSyncRefusedError,
    SchemaMismatchError,
    ServerAddress,
    SyncError,
    connect,
    explain,
)
from storage.sync.tables import (
    ANALYSES,
    BY_NAME,
    DATA_TABLES,
    PERFORMANCES,
    PROGRESS,
    SESSIONS,
    STUDENT_TABLES,
    TOMBSTONES,
    USERS,
    SyncedTable,
    synced_columns,
)

# Ids per IN list on SQLite (its limit on bound parameters is 32766; smaller lists plan faster).
CHUNK = 500
# Past this many touched sessions, the profile's progress is rebuilt whole (one pass) instead of
# period by period.
REBUILD_PROGRESS_OVER = 200

# Longer than the server's idle_in_transaction_session_timeout (60 s, storage.sync.server), so
# a lock held by a dead connection is released before a waiting sync gives up.
LOCK_TIMEOUT_S = 75

ProgressCallback = Callable[[str, int, int], None]


@dataclass
class SyncResult:
    """What one sync moved. Counts are rows per table; ``server_usn`` is the counter after it."""

    pulled: Counter[str] = field(default_factory=Counter)
    pushed: Counter[str] = field(default_factory=Counter)
    deleted_here: int = 0
    deleted_there: int = 0
    conflicts_won_here: int = 0
    conflicts_won_there: int = 0
    server_usn: int = 0
    full: str | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for a student: what came in and what went out."""
        got = sum(self.pulled.values())
        sent = sum(self.pushed.values())
        parts = [f"received {got} change(s)", f"sent {sent}"]
        if self.deleted_here or self.deleted_there:
            parts.append(f"deletions: {self.deleted_here} here, {self.deleted_there} there")
        if self.conflicts_won_here or self.conflicts_won_there:
            parts.append(
                f"edited on both sides: {self.conflicts_won_here} kept from here, "
                f"{self.conflicts_won_there} from the server"
            )
        return "; ".join(parts)


def link_address(link: SyncLink) -> ServerAddress:
    """The server a link points at."""
    return ServerAddress(link.host, link.port, link.dbname, link.role_name, link.ca_cert_path)


def get_link(db: Database, user_id: uuid.UUID) -> SyncLink:
    """The profile's link; SyncError when it is not linked to a server."""
    with db.session() as s:
        link = s.get(SyncLink, user_id)
        if link is None:
            raise SyncError("this profile is not linked to a teacher's server: set up sync first")
        s.expunge(link)
        return link


def digest(table: SyncedTable, row: dict[str, Any]) -> str:
    """SHA-256 (hex) of a row's synced values in a canonical form: equal on every computer and
    on the server for equal rows; breaks ties of ``updated_at`` deterministically."""
    values = [_canonical(row.get(c)) for c in synced_columns(table)]
    return hashlib.sha256(json.dumps(values, separators=(",", ":")).encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return value


def server_wins(table: SyncedTable, local: dict[str, Any], remote: dict[str, Any]) -> bool:
    """Last writer wins on ``updated_at``; an exact tie goes to the larger digest (equal rows:
    the server's, which changes nothing)."""
    lt, rt = local["updated_at"], remote["updated_at"]
    if rt != lt:
        return bool(rt > lt)
    return digest(table, remote) >= digest(table, local)


# --------------------------------------------------------------------------------------------
# Local side


def owned_by(table: SyncedTable, user_id: uuid.UUID) -> Any:
    """SQLAlchemy condition: a row of ``table`` belongs to profile ``user_id``. Takes and
    analyses look their parents up by primary key (correlated EXISTS), so with ``usn = -1`` a
    query costs the pending rows, not the profile's whole history."""
    t = table.table
    if table.owner == "self":
        return t.c.id == user_id
    if table.owner == "user":
        return t.c.user_id == user_id
    sessions = RealtimeSession.__table__
    if table.owner == "session":
        return exists().where(sessions.c.id == t.c.session_id, sessions.c.user_id == user_id)
    perfs = Performance.__table__
    return exists().where(
        perfs.c.id == t.c.performance_id,
        sessions.c.id == perfs.c.session_id,
        sessions.c.user_id == user_id,
    )


def _rows(s: Session, stmt: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in s.execute(stmt)]


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def local_pending(s: Session, table: SyncedTable, user_id: uuid.UUID) -> list[dict[str, Any]]:
    """The profile's rows of ``table`` not yet on the server (usn = -1). Never any of the
    teacher's tables (assignments, comments): a student's computer only reads those."""
    if table.writer == "teacher":
        return []
    t = table.table
    cols = [t.c[c] for c in synced_columns(table)]
    stmt = select(*cols).where(t.c.usn == -1, owned_by(table, user_id))
    if table is TOMBSTONES:
        # A profile's own deletion is never sent: deleting a profile on one computer must not
        # erase the student's data on the server (``etude server remove-student`` does that).
        stmt = stmt.where(t.c.table_name != USERS.name)
    return _rows(s, stmt)


def _has_pending(s: Session, table: SyncedTable, user_id: uuid.UUID) -> bool:
    t = table.table
    stmt = select(t.c.id).where(t.c.usn == -1, owned_by(table, user_id)).limit(1)
    return s.scalar(stmt) is not None


def local_counts(s: Session, user_id: uuid.UUID) -> dict[str, int]:
    """Rows of the profile per data table."""
    out: dict[str, int] = {}
    for table in DATA_TABLES:
        t = table.table
        out[table.name] = int(
            s.scalar(select(func.count()).select_from(t).where(owned_by(table, user_id))) or 0
        )
    return out


def _upsert_local(s: Session, table: SyncedTable, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    t: Table = table.table
    stmt = sqlite_insert(t)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.id], set_={c: stmt.excluded[c] for c in table.columns if c != "id"}
    )
    for part in _chunks(rows):
        s.execute(stmt, list(part))


def _existing_ids(s: Session, t: Table, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for part in _chunks(ids):
        found.update(s.scalars(select(t.c.id).where(t.c.id.in_(part))))
    return found


def _session_starts_of(s: Session, table: SyncedTable, ids: Sequence[uuid.UUID]) -> list[datetime]:
    """Start times of the sessions that rows ``ids`` of ``table`` belong to (for progress)."""
    if not ids:
        return []
    out: list[datetime] = []
    for part in _chunks(ids):
        if table is SESSIONS:
            stmt = select(RealtimeSession.started_at).where(RealtimeSession.id.in_(part))
        elif table is PERFORMANCES:
            stmt = (
                select(RealtimeSession.started_at)
                .join(Performance, Performance.session_id == RealtimeSession.id)
                .where(Performance.id.in_(part))
            )
        elif table is ANALYSES:
            stmt = (
                select(RealtimeSession.started_at)
                .join(Performance, Performance.session_id == RealtimeSession.id)
                .join(AnalysisResult, AnalysisResult.performance_id == Performance.id)
                .where(AnalysisResult.id.in_(part))
            )
        else:
            return out
        out.extend(s.scalars(stmt))
    return out


# --------------------------------------------------------------------------------------------
# Server side


def changed_rows(
    conn: psycopg.Connection[Any], table: SyncedTable, since: int
) -> list[dict[str, Any]]:
    """The caller's rows of ``table`` with usn above ``since`` (-1: all of them), read through
    the server's ``etude_changed_<table>`` function."""
    cols = synced_columns(table)
    query = sql.SQL("SELECT {}, usn FROM {}(%s)").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in cols),
        sql.Identifier(f"etude_changed_{table.name}"),
    )
    with conn.cursor(binary=True) as cur:
        cur.execute(query, (since,))
        names = [*cols, "usn"]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def server_owned(table: SyncedTable) -> sql.Composable:
    """Server condition (one %s: the profile id) picking the profile's rows of ``table``; the
    row-level security would filter the same, this lets the planner use the indexes."""
    if table.owner == "self":
        return sql.SQL("id = %s")
    if table.owner == "user":
        return sql.SQL("user_id = %s")
    if table.owner == "session":
        return sql.SQL("session_id IN (SELECT id FROM realtime_sessions WHERE user_id = %s)")
    return sql.SQL(
        "performance_id IN (SELECT p.id FROM performances p JOIN realtime_sessions r "
        "ON r.id = p.session_id WHERE r.user_id = %s)"
    )


def server_counts(conn: psycopg.Connection[Any], user_id: uuid.UUID) -> dict[str, int]:
    """Rows of the caller's profile per data table on the server (``etude_sync_counts()``
    counts the caller's own rows only; ``user_id`` must be the caller's profile)."""
    row = conn.execute("SELECT etude_sync_counts()").fetchone()
    assert row is not None
    return {t.name: int(v) for t, v in zip(DATA_TABLES, row[0], strict=True)}


# Rows per upsert statement: one statement checks its rows' policies with one evaluation of the
# account lookups, where one statement per row (executemany) re-ran them for every row.
SERVER_BATCH = 5000


@functools.cache
def _pg_type(table: SyncedTable, column: str) -> str:
    from sqlalchemy.dialects.postgresql.base import PGDialect

    dialect = PGDialect()  # type: ignore[no-untyped-call]  # (SQLAlchemy leaves it untyped)
    return str(table.table.c[column].type.compile(dialect=dialect))


def _upsert_server(
    conn: psycopg.Connection[Any], table: SyncedTable, rows: list[dict[str, Any]], usn: int
) -> None:
    """INSERT ... SELECT FROM unnest(one array per column) ON CONFLICT (id) DO UPDATE: a batch
    of rows in one statement."""
    if not rows:
        return
    cols = synced_columns(table)
    stmt = sql.SQL(
        "INSERT INTO {} ({}, usn) SELECT *, %s FROM unnest({}) ON CONFLICT (id) DO UPDATE SET {}"
    ).format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(c) for c in cols),
        sql.SQL(", ").join(sql.SQL("%b::{}[]").format(sql.SQL(_pg_type(table, c))) for c in cols),
        sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
            for c in (*cols, "usn")
            if c != "id"
        ),
    )
    for part in _chunks(rows, SERVER_BATCH):
        # Binary: text arrays would be escaped value by value, slower than the insert itself.
        with conn.cursor(binary=True) as cur:
            cur.execute(stmt, [usn, *([r[c] for r in part] for c in cols)])


# --------------------------------------------------------------------------------------------
# One sync


@dataclass
class _Run:
    """The state of one sync between its two transactions."""

    s: Session
    conn: psycopg.Connection[Any]
    user_id: uuid.UUID
    result: SyncResult
    report: ProgressCallback | None
    touched_starts: list[datetime] = field(default_factory=list)
    recompute: bool = True

    def tell(self, phase: str, done: int, total: int) -> None:
        if self.report is not None:
            self.report(phase, done, total)


def sync(
    db: Database,
    user_id: uuid.UUID,
    password: str,
    *,
    report: ProgressCallback | None = None,
    connection: psycopg.Connection[Any] | None = None,
) -> SyncResult:
    """Sync profile ``user_id`` with the server it is linked to (see the module docstring).
    ``report(phase, done, total)`` is called as rows move (for a progress bar). Raises a
    SyncError subclass, after rolling both sides back, on any failure: nothing is half-done.
    ``connection``: an open server connection to use (tests, benchmarks), else one is opened."""
    started = time.perf_counter()
    result = SyncResult()
    with _both_sides(db, user_id, password, connection) as (s, conn, address):
        run = _Run(s, conn, user_id, result, report)
        last_usn = _begin(run, address)
        _pull(run, last_usn)
        _recompute_progress(run)
        new_usn = _push(run)
        _count_check(run)
        try:
            conn.commit()
        except psycopg.Error as exc:
            # The commit's outcome is unknown (connection cut): the local side stays pending,
            # and the next sync pulls whatever did land and compares it equal.
            raise explain(exc, address) from exc
        _mark_synced(run, new_usn)
        result.server_usn = new_usn
    result.seconds = time.perf_counter() - started
    return result


@contextmanager
def _both_sides(
    db: Database,
    user_id: uuid.UUID,
    password: str,
    connection: psycopg.Connection[Any] | None,
) -> Iterator[tuple[Session, psycopg.Connection[Any], ServerAddress]]:
    """The local transaction (committed when the block ends) and the server connection (the
    block commits it); on any error the server side is rolled back and a database or network
    failure becomes a SyncError in plain words."""
    address = link_address(get_link(db, user_id))
    conn = connection or connect(address, password)
    try:
        with db.session() as s, s.begin():
            yield s, conn, address
    except psycopg.Error as exc:
        _rollback_quietly(conn)
        raise explain(exc, address) from exc
    except BaseException:
        _rollback_quietly(conn)
        raise
    finally:
        if connection is None:
            conn.close()


def _rollback_quietly(conn: psycopg.Connection[Any]) -> None:
    try:
        if not conn.closed:
            conn.rollback()
    except psycopg.Error:
        pass


def check_schema(conn: psycopg.Connection[Any], address: ServerAddress) -> None:
    """SchemaMismatchError unless the server's schema revision is this Etude's."""
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    server_rev = None if row is None else str(row[0])
    mine = head_revision()
    if server_rev != mine:
        raise SchemaMismatchError(
            f"the server {address.host} has data format {server_rev or '(none)'} and this Etude "
            f"uses {mine}: nothing was synced. "
            + (
                "Update Etude on this computer."
                if server_rev is not None and server_rev > mine
                else "Ask your teacher to update the server (etude server init)."
            )
        )


def _begin(run: _Run, address: ServerAddress) -> int:
    """Take both locks, check the schema and the account; returns the profile's high-water mark."""
    s, conn = run.s, run.conn
    # The local write lock, held to the end: pending rows cannot change under the sync.
    s.execute(update(SyncLink).where(SyncLink.user_id == run.user_id).values(last_error=None))
    check_schema(conn, address)
    # Another sync of this student holds the account's lock: wait for it, but not forever (a
    # connection that died silently holds it until the server's idle-in-transaction timeout).
    conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'")
    row = conn.execute("SELECT user_id, usn, kind FROM etude_sync_begin()").fetchone()
    if row is None or row[2] != "student":
        raise SyncError(f"the account {address.role} is not a student's account on {address.host}")
    server_user, _usn, _kind = row
    if server_user is None:
        claimed = conn.execute("SELECT etude_claim_profile(%s)", (run.user_id,)).fetchone()
        server_user = claimed[0] if claimed else None
    if server_user != run.user_id:
        raise SyncError(
            f"the account {address.role} belongs to another profile on the server: link this "
            "profile again (Sync… or `etude sync setup`)"
        )
    last = s.scalar(select(SyncLink.last_usn).where(SyncLink.user_id == run.user_id))
    return int(last or 0)


def _pull(run: _Run, last_usn: int) -> None:
    s, conn, uid = run.s, run.conn, run.user_id
    pending_deleted = set(
        s.scalars(select(Tombstone.row_id).where(Tombstone.user_id == uid, Tombstone.usn == -1))
    )
    synced_deleted = set(
        s.scalars(select(Tombstone.row_id).where(Tombstone.user_id == uid, Tombstone.usn != -1))
    )
    # Progress needs recomputing only when this computer holds practice the server has not seen:
    # otherwise the server's progress rows, pushed by the computer that sent the practice after
    # it had recomputed them, already count everything pulled (a first download skips it).
    run.recompute = bool(pending_deleted) or any(
        _has_pending(s, t, uid) for t in (SESSIONS, PERFORMANCES, ANALYSES)
    )
    for table in DATA_TABLES:
        remote = changed_rows(conn, table, last_usn)
        run.tell(f"receiving {table.name}", 0, len(remote))
        if not remote:
            continue
        if pending_deleted:
            remote = [r for r in remote if r["id"] not in pending_deleted]
            # Children whose parent was deleted here (pending) go with it.
            if table.fk is not None and table.parent is not None and remote:
                wanted = sorted({r[table.fk] for r in remote}, key=str)
                present = _existing_ids(s, BY_NAME[table.parent].table, wanted)
                remote = [r for r in remote if r[table.fk] in present]
        mine = {r["id"]: r for r in local_pending(s, table, uid)}
        apply: list[dict[str, Any]] = []
        for r in remote:
            here = mine.get(r["id"])
            if here is not None:
                if not server_wins(table, here, r):
                    run.result.conflicts_won_here += 1
                    continue
                if digest(table, here) != digest(table, r):
                    run.result.conflicts_won_there += 1
            apply.append(r)
        watched = run.recompute and table in (SESSIONS, PERFORMANCES, ANALYSES)
        if watched:
            # Progress of the periods these rows were in before and are in now.
            run.touched_starts.extend(_session_starts_of(s, table, [r["id"] for r in apply]))
        _upsert_local(s, table, apply)
        if watched:
            run.touched_starts.extend(_session_starts_of(s, table, [r["id"] for r in apply]))
        # A row live again on the server (a progress period filled again) ends its tombstone.
        revived = [r["id"] for r in apply if r["id"] in synced_deleted]
        for part in _chunks(revived):
            s.execute(delete(Tombstone).where(Tombstone.row_id.in_(part), Tombstone.usn != -1))
        run.result.pulled[table.name] += len(apply)
        run.tell(f"receiving {table.name}", len(remote), len(remote))
    tombs = changed_rows(conn, TOMBSTONES, last_usn)
    _apply_tombstones(run, tombs)


def _apply_tombstones(run: _Run, tombs: list[dict[str, Any]]) -> None:
    s = run.s
    by_table: dict[str, list[uuid.UUID]] = {}
    for tomb in tombs:
        by_table.setdefault(tomb["table_name"], []).append(tomb["row_id"])
    # Children first, so the progress periods of deleted takes are found through their session.
    for table in reversed(DATA_TABLES):
        ids = by_table.get(table.name, [])
        if not ids or table is USERS:
            continue
        if run.recompute:
            run.touched_starts.extend(_session_starts_of(s, table, ids))
        t = table.table
        for part in _chunks(ids):
            gone = s.connection().execute(delete(t).where(t.c.id.in_(part)))
            run.result.deleted_here += int(gone.rowcount or 0)
    if tombs:
        existing = _existing_ids(s, TOMBSTONES.table, [t["id"] for t in tombs])
        _upsert_local(s, TOMBSTONES, [t for t in tombs if t["id"] not in existing])
        run.result.pulled[TOMBSTONES.name] += len(tombs)


def _recompute_progress(run: _Run) -> None:
    if not run.recompute or not run.touched_starts:
        return
    if len(run.touched_starts) > REBUILD_PROGRESS_OVER:
        progress.rebuild_user(run.s, run.user_id)
    else:
        progress.recompute_for_sessions(run.s, run.user_id, run.touched_starts)
    run.s.flush()


def _push(run: _Run) -> int:
    """Send every pending row; returns the server counter after the sync."""
    s, conn, uid = run.s, run.conn, run.user_id
    # A row created again after its deletion (a progress period that filled again) is live:
    # its pending tombstone is obsolete.
    has_pending_tombstones = _has_pending(s, TOMBSTONES, uid)
    for table in STUDENT_TABLES if has_pending_tombstones else ():
        t = table.table
        s.execute(
            delete(Tombstone).where(
                Tombstone.user_id == uid,
                Tombstone.usn == -1,
                Tombstone.row_id.in_(select(t.c.id).where(owned_by(table, uid))),
            )
        )
    pending = {table.name: local_pending(s, table, uid) for table in (*DATA_TABLES, TOMBSTONES)}
    total = sum(len(v) for v in pending.values())
    row = conn.execute("SELECT usn FROM etude_sync_begin()").fetchone()
    current = int(row[0]) if row else 0
    if total == 0:
        return current
    bumped = conn.execute("SELECT etude_sync_bump()").fetchone()
    new_usn = int(bumped[0]) if bumped else current + 1
    done = 0
    for table in STUDENT_TABLES:
        rows = pending[table.name]
        _upsert_server(conn, table, rows, new_usn)
        if table is PROGRESS and rows:
            revived = [r["id"] for r in rows]
            conn.execute(
                "DELETE FROM tombstones WHERE row_id = ANY(%s) AND user_id = %s",
                (revived, uid),
            )
            # The same here: a period deleted on another computer (its tombstone pulled) and
            # filled again on this one ends its tombstone on both sides, or the two would differ.
            for part in _chunks(revived):
                s.execute(
                    delete(Tombstone).where(Tombstone.row_id.in_(part), Tombstone.user_id == uid)
                )
        run.result.pushed[table.name] += len(rows)
        done += len(rows)
        run.tell(f"sending {table.name}", done, total)
    tombs = pending[TOMBSTONES.name]
    by_table: dict[str, list[uuid.UUID]] = {}
    for tomb in tombs:
        by_table.setdefault(tomb["table_name"], []).append(tomb["row_id"])
    for table in STUDENT_TABLES:
        ids = by_table.get(table.name)
        if ids:
            cur = conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(sql.Identifier(table.name)),
                (ids,),
            )
            run.result.deleted_there += max(cur.rowcount, 0)
    _upsert_server(conn, TOMBSTONES, tombs, new_usn)
    run.result.pushed[TOMBSTONES.name] += len(tombs)
    return new_usn


def _count_check(run: _Run) -> None:
    here = local_counts(run.s, run.user_id)
    there = server_counts(run.conn, run.user_id)
    if here != there:
        diff = ", ".join(
            f"{name}: {here[name]} here, {there[name]} on the server"
            for name in here
            if here[name] != there[name]
        )
        raise CountMismatchError(
            f"after syncing, this computer and the server disagree ({diff}); nothing was "
            "changed on either side. A full sync will set it right."
        )


def _mark_synced(run: _Run, new_usn: int) -> None:
    s, uid = run.s, run.user_id
    for table in (*DATA_TABLES, TOMBSTONES):
        t = table.table
        values: dict[str, Any] = {"usn": new_usn}
        if "updated_at" in t.c:
            values["updated_at"] = t.c.updated_at  # not the models' onupdate: nothing changed
        stmt = update(t).where(t.c.usn == -1, owned_by(table, uid)).values(**values)
        if table is TOMBSTONES:
            stmt = stmt.where(t.c.table_name != USERS.name)
        s.execute(stmt)
    s.execute(
        update(SyncLink)
        .where(SyncLink.user_id == uid)
        .values(last_usn=new_usn, last_synced_at=utcnow(), last_error=None)
    )


# --------------------------------------------------------------------------------------------
# Full sync


def full_sync(
    db: Database,
    user_id: uuid.UUID,
    password: str,
    direction: Literal["download", "upload"],
    *,
    connection: psycopg.Connection[Any] | None = None,
) -> SyncResult:
    """Replace one side's copy of the profile with the other's, under the same locks and in one
    transaction per side. ``download``: this computer takes the server's rows (pending local
    changes are dropped; recordings on disk are kept). ``upload``: the server takes this
    computer's. Refused (FullSyncRefusedError, nothing written) when the side being copied holds
    no sessions and no progress while the other holds some."""
    started = time.perf_counter()
    result = SyncResult(full=direction)
    with _both_sides(db, user_id, password, connection) as (s, conn, address):
        run = _Run(s, conn, user_id, result, None)
        _begin(run, address)
        here, there = local_counts(s, user_id), server_counts(conn, user_id)
        practice_here = here[SESSIONS.name] + here[PROGRESS.name]
        practice_there = there[SESSIONS.name] + there[PROGRESS.name]
        if direction == "download" and practice_there == 0 and practice_here > 0:
            raise FullSyncRefusedError(
                "the server holds no practice for this profile while this computer does: "
                "downloading would erase it here. Nothing was changed."
            )
        if direction == "upload" and practice_here == 0 and practice_there > 0:
            raise FullSyncRefusedError(
                "this computer holds no practice for this profile while the server does: "
                "uploading would erase it there. Nothing was changed."
            )
        new_usn = _download_all(run) if direction == "download" else _upload_all(run)
        _count_check(run)
        conn.commit()
        s.execute(
            update(SyncLink)
            .where(SyncLink.user_id == user_id)
            .values(last_usn=new_usn, last_synced_at=utcnow(), last_error=None)
        )
        result.server_usn = new_usn
    result.seconds = time.perf_counter() - started
    return result


def _download_all(run: _Run) -> int:
    s, conn, uid = run.s, run.conn, run.user_id
    row = conn.execute("SELECT usn FROM etude_sync_begin()").fetchone()
    usn = int(row[0]) if row else 0
    for table in reversed(DATA_TABLES[1:]):
        t = table.table
        s.execute(delete(t).where(owned_by(table, uid)))
    s.execute(delete(Tombstone).where(Tombstone.user_id == uid, Tombstone.table_name != "users"))
    for table in (*DATA_TABLES, TOMBSTONES):
        rows = changed_rows(conn, table, -1)
        _upsert_local(s, table, rows)
        run.result.pulled[table.name] += len(rows)
    return usn


def _upload_all(run: _Run) -> int:
    """The server takes this computer's rows of the student's tables. Rows this computer also
    holds are overwritten in place, not deleted first, so the teacher's comments on them (which
    the server would cascade-delete with their take) survive; the teacher's own tables stay."""
    s, conn, uid = run.s, run.conn, run.user_id
    bumped = conn.execute("SELECT etude_sync_bump()").fetchone()
    usn = int(bumped[0]) if bumped else 0
    local: dict[str, list[dict[str, Any]]] = {}
    for table in (*STUDENT_TABLES, TOMBSTONES):
        t = table.table
        cols = [t.c[c] for c in synced_columns(table)]
        stmt = select(*cols).where(owned_by(table, uid))
        if table is TOMBSTONES:
            stmt = stmt.where(t.c.table_name != USERS.name)
        local[table.name] = _rows(s, stmt)
    conn.execute("DELETE FROM tombstones WHERE user_id = %s", (uid,))
    for table in reversed(STUDENT_TABLES[1:]):
        keep = [r["id"] for r in local[table.name]]
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE NOT (id = ANY(%s)) AND ").format(
                sql.Identifier(table.name)
            )
            + server_owned(table),
            (keep, uid),
        )
    for table in (*STUDENT_TABLES, TOMBSTONES):
        t = table.table
        rows = local[table.name]
        _upsert_server(conn, table, rows, usn)
        run.result.pushed[table.name] += len(rows)
        values: dict[str, Any] = {"usn": usn}
        if "updated_at" in t.c:
            values["updated_at"] = t.c.updated_at
        s.execute(update(t).where(owned_by(table, uid)).values(**values))
    return usn


def pending_count(db: Database, user_id: uuid.UUID) -> int:
    """How many of the profile's rows (and deletions) wait to be sent."""
    with db.session() as s:
        return sum(len(local_pending(s, t, user_id)) for t in (*DATA_TABLES, TOMBSTONES))
