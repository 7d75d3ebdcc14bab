"""Storage test fixtures: real SQLite files and a real PostgreSQL server.

PostgreSQL: the URL comes from $ETUDE_TEST_PG_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test). Every test that asks for it gets its own
fresh schema (``etude_t_<random>``), reached through the connection's search_path and dropped at
the end, so parallel runs never collide. Without a server the test is skipped on a laptop and
fails in CI (tests/conftest.py ``need``). The desktop tests may import ``pg_schema_url``.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from storage.db import Database, open_database
from tests.conftest import fresh_sqlite_url, need

PG_URL = os.environ.get("ETUDE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_pg_ok: bool | None = None

# How the generated calls of test_generated_calls.py ended, printed after the run.
GENERATED_CALLS: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if GENERATED_CALLS["calls"]:
        terminalreporter.write_line(
            "generated service calls: "
            + ", ".join(f"{k} {v}" for k, v in sorted(GENERATED_CALLS.items()))
        )


def pg_available() -> bool:
    """True when the test PostgreSQL server answers (checked once per run)."""
    global _pg_ok
    if _pg_ok is None:
        try:
            engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_ok = True
        except Exception:
            _pg_ok = False
    return _pg_ok


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` first."""
    parsed = make_url(url)
    query = dict(parsed.query)
    query["options"] = f"-csearch_path={schema}"
    return parsed.set(query=query).render_as_string(hide_password=False)


def pg_schema_url() -> Iterator[str]:
    """Generator for a fixture: a URL on a fresh schema, dropped afterwards."""
    need(pg_available(), f"PostgreSQL server at {PG_URL} (set ETUDE_TEST_PG_URL)")
    schema = f"etude_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield with_search_path(PG_URL, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from pg_schema_url()


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    """A SQLite file of this Etude's schema, empty (a copy of tests/conftest.py's
    ``migrated_sqlite``)."""
    return fresh_sqlite_url(migrated_sqlite, tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on a SQLite file (not there yet) and on an empty PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{(tmp_path / 'etude.db').as_posix()}"
    else:
        yield from pg_schema_url()


@pytest.fixture
def store(backend_url: str, migrated_sqlite: Path, tmp_path: Path) -> Iterator[Database]:
    """``backend_url``'s database at this Etude's schema, empty (SQLite: a copy of
    tests/conftest.py's ``migrated_sqlite``)."""
    if make_url(backend_url).get_backend_name() == "sqlite":
        backend_url = fresh_sqlite_url(migrated_sqlite, tmp_path)
    db = open_database(backend_url, migrate_schema=True)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Database]:
    db = open_database(sqlite_url)
    try:
        yield db
    finally:
        db.dispose()


def table_snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every Etude table, sorted, for before/after comparisons."""
    from storage.models import Base

    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(table.select()).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out
