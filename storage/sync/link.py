"""Linking a profile to a student's account on a teacher's server, and the account's password.

The password is kept in the operating system's keyring (Windows Credential Locker, macOS
Keychain, Secret Service on Linux) through the keyring library, and nowhere else: with no usable
keyring the app asks for it at each sync and never writes it to a file, a log or the database.

Linking, by what the server already holds:

- the account has no profile yet: the chosen local profile (or a new one) claims it, and its
  whole history is uploaded by the first sync;
- the account has a profile (the student's other computer): a new local profile takes its id and
  the first sync downloads everything; or an existing local profile with history of its own is
  moved onto that id (its sessions, takes and analyses are kept and uploaded, its progress is
  recomputed), so both computers' practice ends up in one profile.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import keyring
import keyring.errors
import psycopg
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from storage import progress
from storage.db import Database
from storage.models import (
    ProgressMetric,
    RealtimeSession,
    SyncLink,
    Tombstone,
    User,
)
from storage.sync.client import ServerAddress, SyncError, connect, explain
from storage.sync.protocol import check_schema, owned_by
from storage.sync.tables import STUDENT_TABLES, TOMBSTONES

KEYRING_SERVICE = "Etude sync"


@dataclass(frozen=True)
class LinkResult:
    """How a link was made. ``moved_from``: the old id of a local profile that took the
    account's id (second computer with history of its own)."""

    user_id: uuid.UUID
    display_name: str
    created_profile: bool
    moved_from: uuid.UUID | None
    password_stored: bool


def keyring_username(address: ServerAddress) -> str:
    """The keyring entry's user name for an account: role@host:port/dbname."""
    return f"{address.role}@{address.host}:{address.port}/{address.dbname}"


def store_password(address: ServerAddress, password: str) -> bool:
    """Keep the password in the OS keyring; False (nothing written anywhere) without one."""
    try:
        keyring.set_password(KEYRING_SERVICE, keyring_username(address), password)
    except keyring.errors.KeyringError:
        return False
    return True


def load_password(address: ServerAddress) -> str | None:
    """The password from the OS keyring, None when there is none or no keyring."""
    try:
        return keyring.get_password(KEYRING_SERVICE, keyring_username(address))
    except keyring.errors.KeyringError:
        return None


def forget_password(address: ServerAddress) -> None:
    """Remove the password from the keyring (no error when it is not there)."""
    with contextlib.suppress(keyring.errors.KeyringError):
        keyring.delete_password(KEYRING_SERVICE, keyring_username(address))


def link_profile(
    db: Database,
    address: ServerAddress,
    password: str,
    *,
    profile_id: uuid.UUID | None = None,
    upload_audio: bool = True,
    connection: psycopg.Connection[Any] | None = None,
) -> LinkResult:
    """Link ``profile_id`` (None: a new profile for the account) to the account at ``address``
    (see the module docstring) and keep the password in the keyring. Checks the password, TLS
    and the schema revision first; nothing is written locally if any of them fails."""
    conn = connection or connect(address, password)
    try:
        check_schema(conn, address)
        row = conn.execute(
            "SELECT a.user_id, a.kind, a.display_name FROM sync_accounts a "
            "WHERE a.role_name = session_user"
        ).fetchone()
        if row is None or row[1] != "student":
            raise SyncError(f"{address.role} is not a student's account on {address.host}")
        server_user: uuid.UUID | None = row[0]
        account_name = str(row[2])
        server_has_profile = False
        if server_user is not None:
            got = conn.execute("SELECT 1 FROM users WHERE id = %s", (server_user,)).fetchone()
            server_has_profile = got is not None
        with db.session() as s, s.begin():
            if profile_id is not None and s.get(User, profile_id) is None:
                raise SyncError("that profile does not exist on this computer")
            if profile_id is not None and s.get(SyncLink, profile_id) is not None:
                raise SyncError("this profile is already linked: unlink it first")
            created, moved_from = False, None
            if server_user is None:
                if profile_id is None:
                    profile_id = _new_profile(s, uuid.uuid4(), account_name, pending=True)
                    created = True
                claimed = conn.execute("SELECT etude_claim_profile(%s)", (profile_id,)).fetchone()
                if claimed is None or claimed[0] != profile_id:
                    raise SyncError(
                        "the server refused this profile for the account: ask your teacher"
                    )
                user_id = profile_id
            else:
                user_id = server_user
                if s.get(SyncLink, server_user) is not None:
                    raise SyncError("a profile on this computer is already linked to it")
                if profile_id is None or profile_id == server_user:
                    if s.get(User, server_user) is None:
                        # Not pending when the server has the profile: the first pull brings
                        # the student's real name, timezone and settings.
                        _new_profile(s, server_user, account_name, pending=not server_has_profile)
                        created = True
                else:
                    _move_profile(s, profile_id, server_user)
                    moved_from = profile_id
            _mark_all_pending(s, user_id)
            s.add(
                SyncLink(
                    user_id=user_id,
                    host=address.host,
                    port=address.port,
                    dbname=address.dbname,
                    role_name=address.role,
                    ca_cert_path=address.ca_cert_path,
                    upload_audio=upload_audio,
                    last_usn=0,
                )
            )
            s.flush()
            name = str(s.scalar(select(User.display_name).where(User.id == user_id)))
            conn.commit()
    except psycopg.Error as exc:
        raise explain(exc, address) from exc
    finally:
        if connection is None:
            conn.close()
    stored = store_password(address, password)
    return LinkResult(user_id, name, created, moved_from, stored)


def unlink_profile(db: Database, user_id: uuid.UUID) -> None:
    """Stop syncing a profile: its link and keyring entry go; its data stays on both sides."""
    with db.session() as s, s.begin():
        link = s.get(SyncLink, user_id)
        if link is None:
            return
        address = ServerAddress(link.host, link.port, link.dbname, link.role_name)
        s.delete(link)
    forget_password(address)


def _new_profile(s: Session, user_id: uuid.UUID, name: str, *, pending: bool) -> uuid.UUID:
    taken = set(s.scalars(select(User.display_name)))
    display, n = name[:255], 1
    while display in taken:
        n += 1
        display = f"{name[:240]} ({n})"
    # Not pending: dated at the epoch so the server's profile row wins the first pull.
    stamp = datetime.now(UTC) if pending else datetime(1970, 1, 1, tzinfo=UTC)
    s.execute(
        insert(User).values(
            id=user_id,
            display_name=display,
            timezone="UTC",
            settings_json="{}",
            created_at=stamp,
            updated_at=stamp,
            usn=-1 if pending else 0,
        )
    )
    return user_id


def _move_profile(s: Session, old: uuid.UUID, new: uuid.UUID) -> None:
    """Give local profile ``old`` the account's id ``new``: its rows move to ``new`` and become
    pending; its progress is recomputed under the new id."""
    if s.get(User, new) is not None:
        raise SyncError("another profile on this computer already has that account's data")
    user = s.get(User, old)
    assert user is not None
    s.execute(
        insert(User).values(
            id=new,
            display_name=user.display_name,
            timezone=user.timezone,
            settings_json=user.settings_json,
            created_at=user.created_at,
            # Its own edit time: whichever computer renamed the profile last wins the pull.
            updated_at=user.updated_at,
            usn=-1,
        )
    )
    s.execute(update(RealtimeSession).where(RealtimeSession.user_id == old).values(user_id=new))
    s.execute(update(Tombstone).where(Tombstone.user_id == old).values(user_id=new))
    s.execute(delete(ProgressMetric).where(ProgressMetric.user_id == old))
    s.expunge_all()
    s.execute(delete(User).where(User.id == old))
    progress.rebuild_user(s, new)


def _mark_all_pending(s: Session, user_id: uuid.UUID) -> None:
    """A profile linked anew sends everything it holds (rows it got from the server keep their
    counter and are compared equal). The teacher's tables are never sent."""
    for table in (*STUDENT_TABLES, TOMBSTONES):
        t = table.table
        values: dict[str, Any] = {"usn": -1}
        if "updated_at" in t.c:
            values["updated_at"] = t.c.updated_at
        s.execute(update(t).where(owned_by(table, user_id), t.c.usn > 0).values(**values))
