"""Engine and Session factory, and migrations at start-up.

:func:`open_database` is what the app and the commands call: it migrates a local SQLite
database to this Etude's schema (after copying the file aside when a migration is pending),
only checks a server (``etude db upgrade`` migrates one, see :func:`migrate`), refuses a database
written by a newer Etude without touching it, and returns a :class:`Database` whose
:meth:`Database.transaction` gives the one Session of a user action.

SQLite connections get, per connection: WAL journal (readers never block the writer),
``synchronous=FULL`` (a committed take survives a power cut), foreign keys on (ON DELETE CASCADE
works) and a busy timeout (a second writer waits instead of failing).
"""

from __future__ import annotations

import random
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from storage.errors import DatabaseTooNewError, DiskFullError, MigrationError, SchemaPendingError

if TYPE_CHECKING:  # Alembic loads only when a migration is pending (about a second at start-up)
    from alembic.config import Config

BUSY_TIMEOUT_MS = 15_000
# Below this much free space next to a SQLite file, a failing open or read is the full disk: even
# a read needs room for the write-ahead log and its index (32 KB, more for the first writes).
DISK_FULL_BYTES = 1 << 20


def app_version() -> str:
    """This Etude's version string (the installed distribution's, "unknown" if not installed)."""
    try:
        return version("etude")
    except PackageNotFoundError:
        return "unknown"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine for ``url``; SQLite gets the per-connection pragmas above and its
    parent folder created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _sqlite_begin_before_savepoint)
        event.listen(engine, "before_cursor_execute", _sqlite_begin_before_write)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "postgresql":
        event.listen(engine, "connect", _postgres_settings)
    return engine


def _postgres_settings(dbapi_connection: Any, _record: Any) -> None:
    # Etude's tables fit in memory; with the default random_page_cost (4, for spinning disks)
    # PostgreSQL seq-scans a whole table to find a few hundred takes, ten times slower.
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET random_page_cost = 1.1")
    dbapi_connection.commit()  # a SET in a rolled-back transaction would be undone


def _sqlite_begin_before_savepoint(conn: Connection, _name: str | None) -> None:
    # Python's sqlite3 driver begins a transaction only before an INSERT/UPDATE/DELETE. A
    # SAVEPOINT before any of those then opens the transaction itself, and its RELEASE commits
    # it: work done under begin_nested() survived the rollback of the transaction around it.
    # Beginning first keeps a savepoint inside the transaction it belongs to. IMMEDIATE: a
    # transaction with savepoints writes, and taking the write lock now lets the busy timeout
    # wait for it (a deferred one upgraded later can fail at once on a newer snapshot).
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection is not None and not dbapi_connection.in_transaction:
        _begin_immediate(dbapi_connection)


_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def _sqlite_begin_before_write(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
    # Where Python's sqlite3 would begin a deferred transaction itself (before the first write),
    # begin it here instead, waiting for the write lock as _begin_immediate does.
    dbapi_connection = conn.connection.dbapi_connection
    if (
        dbapi_connection is not None
        and not dbapi_connection.in_transaction
        and _WRITE.match(statement)
    ):
        _begin_immediate(dbapi_connection)


def _begin_immediate(dbapi_connection: Any) -> None:
    """BEGIN IMMEDIATE, waiting up to the busy timeout for another writer to finish.

    SQLite's own busy handler sleeps longer and longer between tries (up to 100 ms), so a
    process that writes back to back kept the lock while the other slept: two writers got 1,221
    and 229 sessions in 60 s. Trying again every millisecond or two (jittered) catches the gap
    between the other writer's transactions."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000.0
    dbapi_connection.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(random.uniform(0.0005, 0.002))
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def is_busy_error(exc: BaseException) -> bool:
    """True when ``exc`` (SQLAlchemy's or the driver's) says another connection holds the lock
    this write needed for longer than the busy timeout: the write can succeed if tried again."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig).lower()
        return "database is locked" in text or "database is busy" in text
    # PostgreSQL: lock_not_available, a deadlock or serialization failure, a statement timeout.
    return getattr(orig, "sqlstate", None) in {"55P03", "40P01", "40001", "57014"}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


@dataclass
class Database:
    """An open, migrated database. ``transaction()`` yields one Session per user action."""

    url: str
    engine: Engine
    sessionmaker: sessionmaker[Session]
    backup_path: Path | None = None

    def session(self) -> Session:
        """A new Session the caller closes (prefer :meth:`transaction`)."""
        return self.sessionmaker()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A Session in a transaction: committed when the block ends, rolled back if it raises."""
        with self.sessionmaker() as s, s.begin():
            yield s

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def alembic_config(url: str | None = None, script_location: Path | None = None) -> Config:
    """Alembic configuration built in code: the scripts are the ``migrations`` package (or
    ``script_location``, a folder laid out like it — used by the migration tests)."""
    from alembic.config import Config

    import migrations

    cfg = Config()
    location = script_location or Path(migrations.__file__).parent
    cfg.set_main_option("script_location", str(location))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _scripts_folder(script_location: Path | None) -> Path:
    import migrations

    return script_location or Path(migrations.__file__).parent


_REVISION = re.compile(r"^revision(?:\s*:[^=]*)?\s*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision(?:\s*:[^=]*)?\s*=\s*(None|['\"]([^'\"]+)['\"])", re.M)


def scripted_head(script_location: Path | None = None) -> str | None:
    """The newest revision read straight from the migration files' ``revision`` and
    ``down_revision`` lines, without loading Alembic; None whenever that is not plain (a file
    without both lines, a merge, several heads), and then only Alembic can say."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((_scripts_folder(script_location) / "versions").glob("*.py")):
        if path.name.startswith("_"):
            continue
        text_ = path.read_text(encoding="utf-8")
        rev, down = _REVISION.search(text_), _DOWN.search(text_)
        if rev is None or down is None:
            return None
        revisions.add(rev.group(1))
        if down.group(2):
            parents.add(down.group(2))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def head_revision(script_location: Path | None = None) -> str:
    """The newest schema revision this Etude knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(None, script_location)).get_current_head()
    if head is None:
        raise MigrationError("no migration scripts found")
    return head


def current_revision(connection: Connection) -> str | None:
    """The schema revision stamped in the database, None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _stamped_revision(connection: Connection) -> str | None:
    """What Alembic's version table holds, read with plain SQL (None: no table or no row)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return str(rows[0]) if len(rows) == 1 else None


def _known_revisions(script_location: Path | None) -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(None, script_location))
    return {s.revision for s in script.walk_revisions()}


def _written_by(connection: Connection) -> str:
    if not inspect(connection).has_table("etude_meta"):
        return "an unknown version"
    value = connection.execute(
        text("SELECT value FROM etude_meta WHERE key = 'app_version'")
    ).scalar()
    return f"Etude {value}" if value else "an unknown version"


def check_revision(engine: Engine, script_location: Path | None = None) -> tuple[str | None, bool]:
    """(current revision, migration pending?). Raises DatabaseTooNewError, touching nothing, if
    the database's revision is unknown to this Etude. A database already at the newest revision
    (every start but the first after an update) is recognised without loading Alembic."""
    with engine.connect() as conn:
        stamped = _stamped_revision(conn)
        if stamped is not None and stamped == scripted_head(script_location):
            return stamped, False
        rev = current_revision(conn)
        head = head_revision(script_location)
        if rev is not None and rev not in _known_revisions(script_location):
            raise DatabaseTooNewError(
                f"the database {engine.url.render_as_string(hide_password=True)} was written by "
                f"{_written_by(conn)} (schema revision {rev}), which is newer than this Etude "
                f"{app_version()} (schema revision {head}); it was not touched. "
                "Install a newer Etude to open it."
            )
    return rev, rev != head


def backup_sqlite(db_file: Path, revision: str | None) -> Path:
    """Copy SQLite file ``db_file`` aside as ``<name>.bak-<revision>-<UTC timestamp>`` using
    SQLite's online backup (consistent even with a WAL file). Returns the copy's path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = db_file.with_name(f"{db_file.name}.bak-{revision or 'empty'}-{stamp}")
    with closing(sqlite3.connect(db_file)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target


def run_alembic(
    engine: Engine, action: str, target: str, script_location: Path | None = None
) -> None:
    """Run Alembic ``action`` ("upgrade" or "downgrade") to revision ``target`` in one
    transaction on ``engine``. On SQLite, foreign keys are off during the migration (batch mode
    rebuilds tables, and a DROP would cascade) and back on afterwards; the migration checks that
    no dangling reference is left before committing."""
    if action not in ("upgrade", "downgrade"):
        raise ValueError(f"unknown Alembic action {action!r}")
    from alembic import command

    cfg = alembic_config(None, script_location)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                getattr(command, action)(cfg, target)
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys = ON")
                conn.commit()


def upgrade(engine: Engine, script_location: Path | None = None) -> None:
    """Run every pending migration on ``engine``'s database and record this Etude's version."""
    run_alembic(engine, "upgrade", "head", script_location)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM etude_meta WHERE key = 'app_version'"))
        conn.execute(
            text("INSERT INTO etude_meta (key, value) VALUES ('app_version', :v)"),
            {"v": app_version()},
        )


def migrate_engine(
    engine: Engine, *, backup: bool = True, script_location: Path | None = None
) -> Path | None:
    """Bring ``engine``'s database to this Etude's schema.

    A SQLite file with a pending migration and existing tables is first copied aside
    (:func:`backup_sqlite`); the copy's path is returned (None when nothing was copied). A
    database written by a newer Etude raises DatabaseTooNewError and is not touched."""
    rev, pending = check_revision(engine, script_location)
    if not pending:
        return None
    backup_path: Path | None = None
    db_file = _sqlite_file(engine.url.render_as_string(hide_password=False))
    if backup and db_file is not None and db_file.exists() and rev is not None:
        backup_path = backup_sqlite(db_file, rev)
    try:
        upgrade(engine, script_location)
    except Exception as exc:
        where = f"; the copy made before it is {backup_path}" if backup_path else ""
        safe = engine.url.render_as_string(hide_password=True)
        raise MigrationError(f"migrating {safe} failed: {exc}{where}") from exc
    return backup_path


def migrate(url: str, *, backup: bool = True) -> Path | None:
    """:func:`migrate_engine` on a short-lived engine for ``url`` (e.g. ``etude db upgrade``)."""
    engine = make_engine(url)
    try:
        return migrate_engine(engine, backup=backup)
    finally:
        engine.dispose()


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def open_database(
    url: str,
    *,
    migrate_schema: bool | None = None,
    script_location: Path | None = None,
    **engine_kwargs: Any,
) -> Database:
    """Open the database at ``url``; see the module docstring.

    migrate_schema: None (the default) migrates a local SQLite database and only checks a
    server: a server whose schema is behind raises SchemaPendingError (a MigrationError) telling
    to run ``etude db upgrade``, so a student's app never migrates a shared server by surprise.
    True/False force migrating/checking. An in-memory SQLite URL (``sqlite://``) shares one
    connection so the schema persists."""
    if _sqlite_file(url) is None and make_url(url).get_backend_name() == "sqlite":
        engine_kwargs.setdefault("poolclass", StaticPool)
        engine_kwargs.setdefault("connect_args", {"check_same_thread": False})
    engine = make_engine(url, **engine_kwargs)
    if migrate_schema is None:
        migrate_schema = engine.dialect.name == "sqlite"
    try:
        if migrate_schema:
            backup_path = migrate_engine(engine, script_location=script_location)
        else:
            backup_path = None
            rev, pending = check_revision(engine, script_location)
            if pending:
                safe = engine.url.render_as_string(hide_password=True)
                raise SchemaPendingError(
                    f"the database {safe} is at schema revision {rev or '(empty)'} but this "
                    f"Etude needs {head_revision(script_location)}: run "
                    f"`etude db upgrade --db {safe}` first"
                )
    except OperationalError as exc:
        engine.dispose()
        full = disk_full_message(url)
        if full is not None:
            raise DiskFullError(full) from exc
        raise
    except BaseException:
        engine.dispose()
        raise
    factory = sessionmaker(engine, expire_on_commit=False)
    return Database(url=url, engine=engine, sessionmaker=factory, backup_path=backup_path)


def disk_full_message(url: str) -> str | None:
    """When ``url`` is a SQLite file on a disk with less than 1 MB free: what to tell the
    student (the folder and the space left); None otherwise."""
    db_file = _sqlite_file(url)
    if db_file is None:
        return None
    folder = db_file.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return None
    if free >= DISK_FULL_BYTES:
        return None
    return (
        f"the disk holding {folder} is full ({free // 1024} KB free), so Etude cannot even read "
        "its database there; nothing was changed. Free some space on that disk and try again."
    )


def stamped_version(engine: Engine) -> str | None:
    """The Etude version recorded by the last migration, None if none was recorded."""
    from storage.models import EtudeMeta

    with Session(engine) as s:
        return s.scalar(select(EtudeMeta.value).where(EtudeMeta.key == "app_version"))
