"""Migrations on SQLite and PostgreSQL: one head, round trips on seeded data, no autogenerate
diff, backup before migrating, and refusal of a database written by a newer Etude."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Uuid, bindparam, inspect, text

import migrations
from storage.analyses import create_analysis_result
from storage.db import (
    Database,
    alembic_config,
    head_revision,
    make_engine,
    open_database,
    run_alembic,
    stamped_version,
)
from storage.errors import DatabaseTooNewError, SchemaPendingError, ValidationError
from storage.models import Base, UTCDateTime
from storage.performances import create_performance, get_session_performances
from storage.profiles import create_profile, get_profile, list_profiles
from storage.sessions import create_session, end_session

T0 = datetime(2025, 3, 10, 18, 0, tzinfo=UTC)
HEAD = head_revision()  # the newest revision shipped; the test revision below follows it

NEXT_REVISION = '''"""test only: a later schema"""
import sqlalchemy as sa
from alembic import op

revision = "9999_test_goal"
down_revision = "%s"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("practice_goal_minutes", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("practice_goal_minutes")
'''


@pytest.fixture
def newer_scripts(tmp_path: Path) -> Path:
    """A copy of Etude's migrations plus one later revision, as a newer Etude would ship."""
    src = Path(migrations.__file__).parent
    dst = tmp_path / "newer_migrations"
    (dst / "versions").mkdir(parents=True)
    for name in ("env.py", "script.py.mako"):
        shutil.copy(src / name, dst / name)
    for f in (src / "versions").glob("*.py"):
        shutil.copy(f, dst / "versions" / f.name)
    (dst / "versions" / "9999_test_goal.py").write_text(NEXT_REVISION % HEAD)
    return dst


def _seed(db: Database) -> None:
    with db.transaction() as s:
        uid = create_profile(s, "Ann", "Europe/Paris").id
        sid = create_session(s, uid, "Piece", "jazz", 100, started_at=T0).id
        pid = create_performance(s, sid, "/r/a.wav").id
        create_analysis_result(s, pid, 0.9, 0.8, 0.7, 0.8, {"tips": []})
        end_session(s, sid, T0 + timedelta(minutes=20))


def _count(db: Database, table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_single_head_and_linear_history() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    bases = script.get_bases()
    assert len(bases) == 1
    assert head_revision() == script.get_current_head()


def test_upgrade_downgrade_upgrade_on_seeded_database(backend_url: str) -> None:
    db = open_database(backend_url, migrate_schema=True)
    try:
        _seed(db)
        assert _count(db, "analysis_results") == 1 and _count(db, "progress_metrics") == 3
        run_alembic(db.engine, "downgrade", "base")
        with db.engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            assert names <= {"alembic_version"}
            assert MigrationContext.configure(conn).get_current_revision() is None
        run_alembic(db.engine, "upgrade", "head")
        with db.engine.connect() as conn:
            assert set(Base.metadata.tables) <= set(inspect(conn).get_table_names())
        _seed(db)
        assert _count(db, "realtime_sessions") == 1
    finally:
        db.dispose()


def test_later_revision_round_trip_keeps_data(backend_url: str, newer_scripts: Path) -> None:
    db = open_database(backend_url, migrate_schema=True)
    try:
        _seed(db)
        for action, target in (
            ("upgrade", "9999_test_goal"),
            ("downgrade", HEAD),
            ("upgrade", "9999_test_goal"),
        ):
            run_alembic(db.engine, action, target, newer_scripts)
            assert _count(db, "users") == 1
            assert _count(db, "analysis_results") == 1
            assert _count(db, "progress_metrics") == 3
        with db.engine.connect() as conn:
            cols = {c["name"] for c in inspect(conn).get_columns("users")}
            assert "practice_goal_minutes" in cols
    finally:
        db.dispose()


def _old_database_with_profiles(url: str, profiles: list[tuple[str, str]]) -> Database:
    """A database at the first schema (before users.is_demo) holding ``profiles`` (name,
    settings JSON), each with one completed session, as an Etude of that time wrote them."""
    engine = make_engine(url)
    run_alembic(engine, "upgrade", "0001_initial")
    with engine.begin() as conn:
        for name, settings in profiles:
            uid, sid = uuid.uuid4(), uuid.uuid4()
            conn.execute(
                text(
                    "INSERT INTO users (id, display_name, timezone, settings_json, created_at,"
                    " updated_at, usn) VALUES (:id, :name, 'UTC', :settings, :t, :t, -1)"
                ).bindparams(bindparam("id", type_=Uuid()), bindparam("t", type_=UTCDateTime())),
                {"id": uid, "name": name, "settings": settings, "t": T0},
            )
            conn.execute(
                text(
                    "INSERT INTO realtime_sessions (id, user_id, started_at, ended_at,"
                    " duration_seconds, chunks_processed, status, created_at, updated_at, usn)"
                    " VALUES (:sid, :uid, :t, :t, 0, 0, 'completed', :t, :t, -1)"
                ).bindparams(
                    bindparam("sid", type_=Uuid()),
                    bindparam("uid", type_=Uuid()),
                    bindparam("t", type_=UTCDateTime()),
                ),
                {"sid": sid, "uid": uid, "t": T0},
            )
    engine.dispose()
    return open_database(url, migrate_schema=True)


@pytest.mark.parametrize(
    ("name", "settings", "demo"),
    [
        ("Demo student", '{"demo":true}', True),  # what `etude demo` wrote
        ("Demo student", "{}", False),  # a student who chose that name
        ("Ann", '{"demo":true}', False),  # a flag alone is a setting, not the demo
    ],
)
def test_upgrading_an_old_database_marks_only_the_old_demo_profile(
    backend_url: str, name: str, settings: str, demo: bool
) -> None:
    db = _old_database_with_profiles(backend_url, [(name, settings), ("Bea", "{}")])
    try:
        with db.transaction() as s:
            flags = {p.display_name: p.is_demo for p in list_profiles(s)}
        assert flags == {name: demo, "Bea": False}
        assert _count(db, "realtime_sessions") == 2
        run_alembic(db.engine, "downgrade", "0001_initial")
        assert _count(db, "users") == 2 and _count(db, "realtime_sessions") == 2
        run_alembic(db.engine, "upgrade", "head")
        with db.transaction() as s:
            assert {p.display_name: p.is_demo for p in list_profiles(s)} == flags
    finally:
        db.dispose()


def test_autogenerate_finds_no_difference(backend_url: str) -> None:
    db = open_database(backend_url, migrate_schema=True)
    try:
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == []
    finally:
        db.dispose()


def test_sqlite_pragmas_on_every_connection(sqlite_store: Database) -> None:
    for _ in range(2):
        with sqlite_store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_backup_is_made_only_when_a_migration_is_pending(
    tmp_path: Path, newer_scripts: Path
) -> None:
    path = tmp_path / "etude.db"
    url = f"sqlite:///{path.as_posix()}"
    db = open_database(url)
    assert db.backup_path is None  # a new, empty database has nothing to save
    _seed(db)
    db.dispose()
    again = open_database(url)
    assert again.backup_path is None  # nothing pending: no copy
    again.dispose()
    assert sorted(p.name for p in tmp_path.iterdir() if ".bak-" in p.name) == []

    newer = open_database(url, script_location=newer_scripts)
    try:
        backup = newer.backup_path
        assert backup is not None and backup.exists()
        assert backup.name.startswith(f"etude.db.bak-{HEAD}-")
        with newer.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == "9999_test_goal"
    finally:
        newer.dispose()
    with sqlite3.connect(backup) as old:
        assert old.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD,)
        assert old.execute("SELECT count(*) FROM analysis_results").fetchone() == (1,)
        cols = [r[1] for r in old.execute("PRAGMA table_info(users)")]
        assert "practice_goal_minutes" not in cols


def test_newer_sqlite_database_is_refused_untouched(tmp_path: Path, newer_scripts: Path) -> None:
    path = tmp_path / "etude.db"
    url = f"sqlite:///{path.as_posix()}"
    newer = open_database(url, script_location=newer_scripts)
    _seed(newer)
    with newer.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    newer.dispose()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE etude_meta SET value = '9.9.9' WHERE key = 'app_version'")
    before = _sha(path)
    listing = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(DatabaseTooNewError) as info:
        open_database(url)
    message = str(info.value)
    assert "9999_test_goal" in message and "Etude 9.9.9" in message and "not touched" in message
    assert _sha(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no backup, nothing new


@pytest.mark.postgres
def test_newer_postgres_database_is_refused_by_db_upgrade(
    pg_url: str, newer_scripts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.cli import main

    open_database(pg_url, migrate_schema=True, script_location=newer_scripts).dispose()
    assert main(["db", "upgrade", "--db", pg_url]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "newer than this Etude" in err[0]
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "9999_test_goal"
    engine.dispose()


@pytest.mark.postgres
def test_db_upgrade_command_migrates_a_server(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.cli import main

    assert main(["db", "upgrade", "--db", pg_url]) == 0
    assert "current schema" in capsys.readouterr().out
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        assert set(Base.metadata.tables) <= set(inspect(conn).get_table_names())
    assert stamped_version(engine)
    engine.dispose()


def test_in_memory_database_keeps_its_schema_across_sessions() -> None:
    db = open_database("sqlite://")
    try:
        assert db.backup_path is None
        with db.transaction() as s:
            uid = create_profile(s, "Mem").id
        with db.transaction() as s:
            assert get_profile(s, uid).display_name == "Mem"
    finally:
        db.dispose()


@pytest.mark.postgres
def test_postgres_connections_cost_random_reads_as_cached(pg_url: str) -> None:
    db = open_database(pg_url, migrate_schema=True)
    try:
        for _ in range(2):  # also after the pool's rollback-on-return
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql("SHOW random_page_cost").scalar() == "1.1"
    finally:
        db.dispose()


@pytest.mark.postgres
def test_a_server_is_only_migrated_by_db_upgrade(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.cli import main

    with pytest.raises(SchemaPendingError, match="etude db upgrade"):
        open_database(pg_url)
    assert main(["--db", pg_url, "sessions"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "etude db upgrade" in err[0]
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        assert inspect(conn).get_table_names() == []  # untouched
    engine.dispose()
    assert main(["db", "upgrade", "--db", pg_url]) == 0
    open_database(pg_url).dispose()  # now current: opens without migrating


def test_a_database_of_the_first_revision_with_data_upgrades(backend_url: str) -> None:
    """A database written before sync existed (revision 0001) keeps every row; its progress rows
    get their derived ids, two profiles may now share a name, and old tombstones have no owner."""
    import uuid

    from storage.models import progress_row_id

    engine = make_engine(backend_url)
    run_alembic(engine, "upgrade", "0001_initial")
    uid, sid, pid, old_progress_id, tomb = (uuid.uuid4() for _ in range(5))
    day = datetime(2025, 3, 9, 23, 0, tzinfo=UTC)
    naive = backend_url.startswith("sqlite")

    def moment(value: datetime) -> datetime:
        return value.replace(tzinfo=None) if naive else value

    def key(value: uuid.UUID) -> uuid.UUID | str:
        return value.hex if naive else value  # how the Uuid type stores it on SQLite

    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, display_name, timezone, settings_json, created_at,"
                " updated_at, usn) VALUES (:id, 'Old', 'Europe/Paris', '{}', :t, :t, -1)"
            ),
            {"id": key(uid), "t": moment(T0)},
        )
        conn.execute(
            text(
                "INSERT INTO realtime_sessions (id, user_id, started_at, chunks_processed,"
                " status, created_at, updated_at, usn) VALUES (:id, :u, :t, 0, 'completed', :t,"
                " :t, -1)"
            ),
            {"id": key(sid), "u": key(uid), "t": moment(T0)},
        )
        conn.execute(
            text(
                "INSERT INTO performances (id, session_id, recording_started_at,"
                " recording_duration, sample_rate, created_at, updated_at, usn) VALUES (:id, :s,"
                " :t, 12.5, 44100, :t, :t, -1)"
            ),
            {"id": key(pid), "s": key(sid), "t": moment(T0)},
        )
        conn.execute(
            text(
                "INSERT INTO progress_metrics (id, user_id, metric_date, period_type,"
                " total_sessions, total_practice_time_seconds, created_at, updated_at, usn)"
                " VALUES (:id, :u, :d, 'daily', 1, 60, :t, :t, -1)"
            ),
            {"id": key(old_progress_id), "u": key(uid), "d": moment(day), "t": moment(T0)},
        )
        conn.execute(
            text(
                "INSERT INTO tombstones (id, table_name, row_id, deleted_at, usn)"
                " VALUES (:id, 'performances', :r, :t, -1)"
            ),
            {"id": key(tomb), "r": key(uuid.uuid4()), "t": moment(T0)},
        )
    engine.dispose()
    db = open_database(backend_url, migrate_schema=True)
    try:
        with db.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == HEAD
            ids = conn.execute(text("SELECT id FROM progress_metrics")).scalars().all()
            assert [uuid.UUID(str(i)) for i in ids] == [progress_row_id(uid, "daily", day)]
            owner = conn.execute(text("SELECT user_id FROM tombstones")).scalar_one()
            assert owner is None
        assert _count(db, "performances") == 1 and _count(db, "realtime_sessions") == 1
        with db.transaction() as s:
            assert get_profile(s, uid).display_name == "Old"
            assert len(get_session_performances(s, sid)) == 1
            # Profile names stay unique on one computer, through the service.
            with pytest.raises(ValidationError, match="unique"):
                create_profile(s, "Old")
    finally:
        db.dispose()


def test_the_head_read_from_the_files_is_alembics_and_a_current_database_opens_without_alembic(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from storage.db import scripted_head

    assert scripted_head() == head_revision()
    url = f"sqlite:///{(tmp_path / 'etude.db').as_posix()}"
    open_database(url).dispose()  # created and migrated (Alembic runs)
    code = (
        "import sys; from storage.db import open_database; "
        f"open_database({url!r}).dispose(); print('alembic' in sys.modules)"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_revision_the_files_cannot_tell_falls_back_to_alembic(tmp_path: Path) -> None:
    from storage.db import scripted_head

    copy = tmp_path / "scripts"
    shutil.copytree(Path(migrations.__file__).parent, copy)
    (copy / "versions" / "0099_odd.py").write_text("# a file without revision lines\n")
    assert scripted_head(copy) is None
