"""Migrations on SQLite and PostgreSQL: one head, round trips on seeded data, no autogenerate
diff, backup before migrating, and refusal of a database written by a newer Etude."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

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
from storage.errors import DatabaseTooNewError, SchemaPendingError
from storage.models import Base
from storage.performances import create_performance
from storage.profiles import create_profile, get_profile
from storage.sessions import create_session, end_session

T0 = datetime(2025, 3, 10, 18, 0, tzinfo=UTC)

NEXT_REVISION = '''"""test only: a later schema"""
import sqlalchemy as sa
from alembic import op

revision = "0002_test_goal"
down_revision = "0001_initial"
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
    (dst / "versions" / "0002_test_goal.py").write_text(NEXT_REVISION)
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
            ("upgrade", "0002_test_goal"),
            ("downgrade", "0001_initial"),
            ("upgrade", "0002_test_goal"),
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
        assert backup.name.startswith("etude.db.bak-0001_initial-")
        with newer.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == "0002_test_goal"
    finally:
        newer.dispose()
    with sqlite3.connect(backup) as old:
        assert old.execute("SELECT version_num FROM alembic_version").fetchone() == (
            "0001_initial",
        )
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
    assert "0002_test_goal" in message and "Etude 9.9.9" in message and "not touched" in message
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
        assert MigrationContext.configure(conn).get_current_revision() == "0002_test_goal"
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
