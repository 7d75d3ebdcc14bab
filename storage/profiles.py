"""Student profiles (the ``users`` table): create, find, rename, settings, timezone, delete.

Conventions as in :mod:`storage.rows`: a caller-owned Session, validation before any write,
frozen :class:`~storage.records.Profile` records back.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import progress
from storage.config import default_profile_name, local_timezone_name
from storage.errors import NotFoundError, ValidationError
from storage.models import Tombstone, User
from storage.records import Profile, snapshot
from storage.rows import user_row
from storage.validation import MAX_NAME, check_json_object, check_text, check_timezone

DEMO_PROFILE_NAME = "Demo student"


def create_profile(
    db: Session,
    display_name: str,
    timezone: str = "UTC",
    settings: Mapping[str, Any] | str | None = None,
) -> Profile:
    """Create a student profile. display_name: 1..255 characters, unique; timezone: IANA name
    (defines the local day for progress); settings: a JSON object (dict or text)."""
    check_text("display_name", display_name, MAX_NAME, required=True)
    check_timezone("timezone", timezone)
    settings_json = check_json_object("settings_json", settings or {}, allow_none=False)
    _check_name_free(db, display_name.strip())
    user = User(display_name=display_name.strip(), timezone=timezone, settings_json=settings_json)
    db.add(user)
    db.flush()
    return snapshot(Profile, user)


def get_profile(db: Session, user_id: uuid.UUID | str) -> Profile:
    """The profile with id ``user_id``; NotFoundError if none."""
    return snapshot(Profile, user_row(db, user_id))


def get_profile_by_name(db: Session, display_name: str) -> Profile:
    """The profile named exactly ``display_name``; NotFoundError if none."""
    check_text("display_name", display_name, MAX_NAME, required=True)
    user = db.scalar(select(User).where(User.display_name == display_name.strip()))
    if user is None:
        raise NotFoundError("profile", display_name)
    return snapshot(Profile, user)


def list_profiles(db: Session) -> list[Profile]:
    """Every profile, oldest first."""
    users = db.scalars(select(User).order_by(User.created_at, User.display_name))
    return [snapshot(Profile, u) for u in users]


def ensure_default_profile(db: Session) -> Profile:
    """The first profile (oldest, the demo profile excluded when another exists); when there is
    none, create one named after the OS user (:func:`storage.config.default_profile_name`)."""
    users = list(db.scalars(select(User).order_by(User.created_at, User.display_name)))
    real = [u for u in users if u.display_name != DEMO_PROFILE_NAME]
    if real:
        return snapshot(Profile, real[0])
    return create_profile(db, default_profile_name(), local_timezone_name())


def rename_profile(db: Session, user_id: uuid.UUID | str, display_name: str) -> Profile:
    """Give a profile a new unique display_name (1..255 characters)."""
    check_text("display_name", display_name, MAX_NAME, required=True)
    user = user_row(db, user_id)
    name = display_name.strip()
    if name != user.display_name:
        _check_name_free(db, name)
        user.display_name = name
        db.flush()
    return snapshot(Profile, user)


def update_profile_settings(
    db: Session, user_id: uuid.UUID | str, settings: Mapping[str, Any] | str
) -> Profile:
    """Replace a profile's settings with ``settings`` (a JSON object, dict or text)."""
    settings_json = check_json_object("settings_json", settings, allow_none=False)
    user = user_row(db, user_id)
    assert settings_json is not None
    user.settings_json = settings_json
    db.flush()
    return snapshot(Profile, user)


def set_profile_timezone(db: Session, user_id: uuid.UUID | str, timezone: str) -> Profile:
    """Change a profile's IANA timezone; its progress rows are rebuilt for the new local days."""
    check_timezone("timezone", timezone)
    user = user_row(db, user_id)
    if timezone != user.timezone:
        user.timezone = timezone
        db.flush()
        progress.rebuild_user(db, user.id)
    return snapshot(Profile, user)


def delete_profile(db: Session, user_id: uuid.UUID | str) -> None:
    """Delete a profile and (by cascade) everything it owns; a tombstone records the deletion.
    Recording files on disk are left alone."""
    user = user_row(db, user_id)
    db.add(Tombstone(table_name="users", row_id=user.id))
    # passive_deletes: the database's ON DELETE CASCADE removes the children, unloaded.
    db.delete(user)
    db.flush()


def _check_name_free(db: Session, name: str) -> None:
    if db.scalar(select(User.id).where(User.display_name == name)) is not None:
        raise ValidationError("display_name", "must be unique (a profile has that name)", name)
