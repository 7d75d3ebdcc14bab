"""Sync test fixtures: a real PostgreSQL server set up by ``storage.sync.server`` in a schema
and with a role prefix of its own (roles are cluster-wide), both dropped at the end."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text

from storage.sync import server
from storage.sync.client import ServerAddress
from storage.sync.server import NewAccount
from tests.conftest import fresh_sqlite_url, need
from tests.storage.conftest import PG_URL, pg_available, with_search_path


@dataclass
class SyncServer:
    """A set-up Etude server: the administrator's URL (on its own schema) and role prefix."""

    url: str
    prefix: str
    schema: str
    accounts: dict[str, NewAccount] = field(default_factory=dict)

    def add_teacher(self, name: str) -> NewAccount:
        acc = server.add_teacher(self.url, name, prefix=self.prefix)
        self.accounts[name] = acc
        return acc

    def add_student(self, name: str, teacher: str) -> NewAccount:
        acc = server.add_student(self.url, name, teacher, prefix=self.prefix)
        self.accounts[name] = acc
        return acc

    def address(self, name: str, host: str = "127.0.0.1", port: int | None = None) -> ServerAddress:
        inv = self.accounts[name].invitation
        return ServerAddress(host, port or inv.port, inv.dbname, inv.role)

    def connect_as(self, name: str) -> psycopg.Connection[Any]:
        inv = self.accounts[name].invitation
        return psycopg.connect(
            host="127.0.0.1",
            port=inv.port,
            dbname=inv.dbname,
            user=inv.role,
            password=inv.password,
        )

    def admin(self) -> psycopg.Connection[Any]:
        conn = server.admin_connect(self.url)
        conn.autocommit = True
        return conn


def make_server() -> Iterator[SyncServer]:
    need(pg_available(), f"PostgreSQL server at {PG_URL} (set ETUDE_TEST_PG_URL)")
    tag = uuid.uuid4().hex[:10]
    schema, prefix = f"etude_s_{tag}", f"t{tag}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = with_search_path(PG_URL, schema)
    try:
        server.init_server(url, prefix)
        yield SyncServer(url, prefix, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE usename LIKE :p AND pid <> pg_backend_pid()"
                ),
                {"p": prefix + "%"},
            )
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        server.drop_installation(PG_URL, prefix)


@pytest.fixture
def local_url(tmp_path: Path, migrated_sqlite: Path):
    """``local_url(name)``: a computer's own SQLite database, empty at this Etude's schema (a copy
    of tests/conftest.py's ``migrated_sqlite``)."""

    def make(name: str) -> str:
        return fresh_sqlite_url(migrated_sqlite, tmp_path / name)

    return make
