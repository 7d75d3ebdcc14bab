"""Errors the storage layer raises. Each message names the problem in words a user can act on."""

from __future__ import annotations

from typing import Any


class StorageError(Exception):
    """Base class of every storage error."""


class ValidationError(StorageError, ValueError):
    """Input broke a rule; nothing was written. ``field`` and ``rule`` name what and why."""

    def __init__(self, field: str, rule: str, value: Any = None) -> None:
        self.field = field
        self.rule = rule
        self.value = value
        super().__init__(f"invalid {field}: {rule} (got {value!r})")


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
