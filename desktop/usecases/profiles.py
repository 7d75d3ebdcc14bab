"""Student profiles: the list the window offers, a new one, and the one a command acts on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.records import Profile


def load_profiles(db: Session) -> list[Profile]:
    """Every profile; the first start creates one named after the computer's user."""
    from storage.profiles import ensure_default_profile, list_profiles

    profiles = list_profiles(db)
    return profiles or [ensure_default_profile(db)]


def create_profile(db: Session, name: str) -> Profile:
    """A new profile called ``name`` (surrounding spaces dropped); the service refuses an empty,
    too long or taken name."""
    from storage import profiles

    return profiles.create_profile(db, name.strip())


def profile_to_use(db: Session, name: str | None) -> Profile:
    """The profile a command acts on: the one called ``name``, else the default one (the first
    that is not the demo profile; created, named after the computer's user, when none exists).
    Raises the service's not-found error for an unknown name."""
    from storage.profiles import ensure_default_profile, get_profile_by_name

    if name:
        return get_profile_by_name(db, name)
    return ensure_default_profile(db)
