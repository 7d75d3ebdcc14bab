"""Errors the storage layer raises. Each message names the problem in words a user can act on."""

from __future__ import annotations

import reprlib
import uuid
from datetime import datetime
from typing import Any


class StorageError(Exception):
    """Base class of every storage error."""


class ValidationError(StorageError, ValueError):
    """Input broke a rule; nothing was written. ``field`` and ``rule`` name what and why."""

    def __init__(self, field: str, rule: str, value: Any = None) -> None:
        self.field = field
        self.rule = rule
        self.value = value
        super().__init__(f"invalid {field}: {rule} (got {_shown(value)})")


_SHORT = reprlib.Repr()
_SHORT.maxlevel = 3  # a value nested thousands of levels deep must not overflow the stack
_SHORT.maxother = 80


def _shown(value: Any) -> str:
    # The value as the student wrote it: a date or id in its usual form, a long text cut short.
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str) and len(value) > 80:
        return f"{value[:60]!r}… ({len(value)} characters)"
    try:
        return _SHORT.repr(value)
    except Exception:  # a value whose own repr fails is still named by its type
        return f"a {type(value).__name__}"


class NotFoundError(StorageError, LookupError):
    """No row of ``entity`` has the given id (or name)."""

    def __init__(self, entity: str, key: Any) -> None:
        self.entity = entity
        self.key = key
        super().__init__(
            f"no {entity} with id {key}" if entity != "profile" else f"no profile {key!r}"
        )


class DatabaseTooNewError(StorageError):
    """The database was written by a newer Etude; it is refused and left untouched."""


class MigrationError(StorageError):
    """A schema migration failed; for SQLite the backup copy is named in the message."""


class SchemaPendingError(MigrationError):
    """A server database needs ``etude db upgrade`` before this Etude can use it."""


class DiskFullError(StorageError):
    """The disk holding the database is full, so even reading it failed; nothing was changed."""
