"""Input rules, checked before anything is written.

Each check raises :class:`storage.errors.ValidationError` naming the field and the rule. The
rules are the seed's (scores 0..1, tempo 20..300 BPM, enums, names <= 255 characters, paths <= 500)
plus the obvious ones (positive sample rate, non-negative counts and durations, limit/offset
bounds, aware datetimes, IANA timezones, JSON objects).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.errors import ValidationError

MAX_NAME = 255
MAX_PATH = 500
MIN_TEMPO_BPM = 20
MAX_TEMPO_BPM = 300
MAX_LIMIT = 1000
MAX_INT32 = 2**31 - 1


def check_uuid(field: str, value: Any) -> uuid.UUID:
    """``value`` as a UUID (a UUID or its text form)."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ValidationError(field, "must be a UUID", value)


def check_text(field: str, value: Any, max_len: int = MAX_NAME, *, required: bool = False) -> None:
    """A string of at most ``max_len`` characters (None allowed unless ``required``)."""
    if value is None:
        if required:
            raise ValidationError(field, "is required", value)
        return
    if not isinstance(value, str):
        raise ValidationError(field, "must be text", value)
    if required and not value.strip():
        raise ValidationError(field, "must not be empty", value)
    if len(value) > max_len:
        raise ValidationError(field, f"must be at most {max_len} characters", value)
    if "\x00" in value:
        raise ValidationError(field, "must not contain NUL characters", value)


def check_path(field: str, value: Any) -> None:
    """A file path of at most 500 characters, or None."""
    check_text(field, value, MAX_PATH)


def check_score(field: str, value: Any) -> None:
    """A finite number in 0.0..1.0, or None."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(field, "must be a finite number", value)
    if not 0.0 <= value <= 1.0:
        raise ValidationError(field, "must be between 0 and 1", value)


def check_finite(field: str, value: Any) -> None:
    """A finite number (any sign), or None."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(field, "must be a finite number", value)


def check_int(
    field: str, value: Any, minimum: int = 0, maximum: int = MAX_INT32, *, required: bool = False
) -> None:
    """An integer in ``minimum..maximum``, or None unless ``required``."""
    if value is None:
        if required:
            raise ValidationError(field, "is required", value)
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, "must be an integer", value)
    if value < minimum:
        rule = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
        raise ValidationError(field, rule, value)
    if value > maximum:
        raise ValidationError(field, f"must be at most {maximum}", value)


def check_tempo(field: str, value: Any) -> None:
    """A tempo in whole BPM, 20..300, or None."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, "must be a whole number of BPM", value)
    if not MIN_TEMPO_BPM <= value <= MAX_TEMPO_BPM:
        raise ValidationError(
            field, f"must be between {MIN_TEMPO_BPM} and {MAX_TEMPO_BPM} BPM", value
        )


def check_enum(field: str, value: Any, allowed: tuple[str, ...], *, required: bool = False) -> None:
    """One of ``allowed``, or None unless ``required``."""
    if value is None:
        if required:
            raise ValidationError(field, f"is required (one of {', '.join(allowed)})", value)
        return
    if value not in allowed:
        raise ValidationError(field, f"must be one of {', '.join(allowed)}", value)


def check_aware(field: str, value: Any, *, required: bool = False) -> None:
    """A timezone-aware datetime, or None unless ``required``."""
    if value is None:
        if required:
            raise ValidationError(field, "is required", value)
        return
    if not isinstance(value, datetime):
        raise ValidationError(field, "must be a datetime", value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(field, "must be timezone-aware", value)


def check_timezone(field: str, value: Any) -> None:
    """An IANA timezone name known to zoneinfo, e.g. "Europe/Paris"."""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValidationError(field, "must be an IANA timezone name", value)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(field, "must be an IANA timezone name", value) from exc


def check_json_object(field: str, value: Any, *, allow_none: bool = True) -> str | None:
    """A mapping, or JSON text of an object; returned as compact JSON text."""
    if value is None:
        if allow_none:
            return None
        raise ValidationError(field, "is required", value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValidationError(field, "must be valid JSON", value) from exc
    elif isinstance(value, Mapping):
        parsed = dict(value)
    else:
        raise ValidationError(field, "must be a JSON object (dict or JSON text)", value)
    if not isinstance(parsed, dict):
        raise ValidationError(field, "must be a JSON object", value)
    try:
        return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, "must be serialisable as JSON", value) from exc


def check_json(field: str, value: Any) -> str | None:
    """Any JSON value (as JSON text, or a value ``json`` can serialise), or None; returned as
    JSON text (text is kept as given)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValidationError(field, "must be valid JSON", value) from exc
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, "must be serialisable as JSON", value) from exc


def check_duration(field: str, value: Any) -> None:
    """A finite number of seconds >= 0 (None is refused)."""
    check_finite(field, value)
    if value is None or value < 0:
        raise ValidationError(field, "must be a number of seconds >= 0", value)
