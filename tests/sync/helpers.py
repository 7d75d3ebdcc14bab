"""Helpers for sync tests: practice written through the service, and row-for-row comparison of
a profile's data on computers and on the server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import keyring.backend
import psycopg
from psycopg import sql
from sqlalchemy import select

from storage.analyses import create_analysis_result
from storage.db import Database, open_database
from storage.performances import create_performance
from storage.sessions import create_session, end_session
from storage.sync import server
from storage.sync.protocol import owned_by
from storage.sync.tables import DATA_TABLES, TOMBSTONES, USERS, synced_columns

T0 = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)


def practise(
    db: Database,
    user_id: uuid.UUID,
    started_at: datetime,
    takes: int = 3,
    piece: str = "Etude in C",
) -> uuid.UUID:
    """One completed session of ``takes`` takes, each with an analysis; returns its id."""
    with db.transaction() as s:
        sid = create_session(s, user_id, piece, "classical", 96, started_at=started_at).id
        for i in range(takes):
            pid = create_performance(
                s,
                sid,
                audio_path=f"/nowhere/take{i}.flac",
                recording_started_at=started_at + timedelta(minutes=2 * i),
                recording_duration=55.5,
                audio_format="flac",
            ).id
            create_analysis_result(
                s,
                pid,
                0.5 + 0.1 * i,
                0.7,
                0.4,
                0.6 + 0.05 * i,
                {"tips": ["breathe"]},
                total_notes_detected=40 + i,
            )
        end_session(s, sid, started_at + timedelta(minutes=20))
    return sid


def local_rows(db: Database, user_id: uuid.UUID) -> dict[str, dict[uuid.UUID, tuple[Any, ...]]]:
    """The profile's rows per table (synced columns and usn), by id."""
    out: dict[str, dict[uuid.UUID, tuple[Any, ...]]] = {}
    with db.session() as s:
        for table in (*DATA_TABLES, TOMBSTONES):
            t = table.table
            cols = [t.c[c] for c in (*synced_columns(table), "usn")]
            stmt = select(*cols).where(owned_by(table, user_id))
            if table is TOMBSTONES:
                stmt = stmt.where(t.c.table_name != USERS.name)
            out[table.name] = {r[0]: tuple(r) for r in s.execute(stmt)}
    return out


def server_rows(
    conn: psycopg.Connection[Any], user_id: uuid.UUID
) -> dict[str, dict[uuid.UUID, tuple[Any, ...]]]:
    """The same, read on the server through ``conn`` (a student's, teacher's or the owner's)."""
    from storage.sync.protocol import server_owned

    out: dict[str, dict[uuid.UUID, tuple[Any, ...]]] = {}
    for table in (*DATA_TABLES, TOMBSTONES):
        cols = (*synced_columns(table), "usn")
        query = sql.SQL("SELECT {} FROM {} WHERE ").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in cols), sql.Identifier(table.name)
        ) + server_owned(table)
        out[table.name] = {r[0]: tuple(r) for r in conn.execute(query, (user_id,)).fetchall()}
    conn.rollback()
    return out


def owner_rows(url: str, prefix: str, user_id: uuid.UUID) -> dict[str, Any]:
    """The profile's server rows read as the owner (what is really there)."""
    with server.admin_connect(url) as conn, server.as_owner(conn, server.Roles(prefix)):
        return server_rows(conn, user_id)


def open_local(url: str) -> Database:
    return open_database(url)


def assert_same(a: dict[str, Any], b: dict[str, Any], what: str = "") -> None:
    for table in a:
        assert set(a[table]) == set(b[table]), f"{what} {table}: ids differ"
        for key, row in a[table].items():
            assert row == b[table][key], f"{what} {table} {key}: {row} != {b[table][key]}"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend that keeps passwords in this process's memory: the stand-in for the
    operating system's keyring, which a headless test machine does not run. What is tested is
    that Etude hands the password to the keyring API and writes it nowhere else."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)
