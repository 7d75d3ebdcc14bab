"""Input rules, checked before anything is written.

Each check raises :class:`storage.errors.ValidationError` naming the field and the rule, and
nothing else: a value of the wrong type, text that is not valid Unicode, JSON nested too deep
or a date no clock can show are refused like any other bad value. The rules are the seed's
(scores 0..1, tempo 20..300 BPM, enums, names <= 255 characters, paths <= 500) plus the bounds
of what can happen:

* moments (aware datetimes) lie between :data:`HISTORY_DAYS` days before now and
  :data:`CLOCK_AHEAD` after it: older than any history Etude keeps, or in the future beyond a
  clock set a little fast, cannot be a practice session;
* a take lasts at most :data:`MAX_TAKE_SECONDS` (a day);
* integers fit the database's 32-bit columns; text is at most its column's length and has no NUL
  and no lone surrogate; JSON nests at most :data:`MAX_JSON_DEPTH` levels and holds at most
  :data:`MAX_JSON_CHARS` characters; lists of ids hold at most :data:`MAX_IDS`.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from storage.errors import ValidationError

MAX_NAME = 255
MAX_PATH = 500
MIN_TEMPO_BPM = 20
MAX_TEMPO_BPM = 300
MAX_LIMIT = 1000
MAX_INT32 = 2**31 - 1
# 20 years: twice the longest stats window (3650 days), room for a long imported history.
HISTORY_DAYS = 7305
CLOCK_AHEAD = timedelta(days=1)
MAX_TAKE_SECONDS = 86_400.0
MAX_JSON_DEPTH = 32
MAX_JSON_CHARS = 16_000_000
MAX_IDS = 1000


def check_uuid(field: str, value: Any) -> uuid.UUID:
    """``value`` as a UUID (a UUID or its text form)."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str) and len(value) <= 64:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ValidationError(field, "must be a UUID", value)


def check_text(field: str, value: Any, max_len: int = MAX_NAME, *, required: bool = False) -> None:
    """A string of at most ``max_len`` characters (None allowed unless ``required``), with no
    NUL character and no lone surrogate (it must be storable as UTF-8)."""
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
    _check_unicode(field, value)


def _check_unicode(field: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            field, "must be valid Unicode text (no lone surrogate characters)", text
        ) from exc


def check_path(field: str, value: Any) -> None:
    """A file path of at most 500 characters, or None."""
    check_text(field, value, MAX_PATH)


def check_bool(field: str, value: Any) -> None:
    """True or False (nothing else, not even 0 or 1)."""
    if not isinstance(value, bool):
        raise ValidationError(field, "must be true or false", value)


def check_score(field: str, value: Any) -> None:
    """A finite number in 0.0..1.0, or None."""
    if value is None:
        return
    check_finite(field, value)
    if not 0.0 <= value <= 1.0:
        raise ValidationError(field, "must be between 0 and 1", value)


def check_finite(field: str, value: Any) -> None:
    """A finite number (any sign), or None."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, "must be a finite number", value)
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
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
    if not isinstance(value, str) or value not in allowed:
        raise ValidationError(field, f"must be one of {', '.join(allowed)}", value)


def moment_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """(earliest, latest) aware UTC moment a value may take: :data:`HISTORY_DAYS` days before
    ``now`` (default the current time) and :data:`CLOCK_AHEAD` after it."""
    current = now or datetime.now(UTC)
    return current - timedelta(days=HISTORY_DAYS), current + CLOCK_AHEAD


def check_duration(field: str, value: Any, maximum: float = MAX_TAKE_SECONDS) -> None:
    """A finite number of seconds in 0..``maximum`` (default a day; None is refused)."""
    check_finite(field, value)
    if value is None or value < 0:
        raise ValidationError(field, "must be a number of seconds >= 0", value)
    if value > maximum:
        raise ValidationError(field, f"must be at most {maximum:g} seconds", value)


def check_moment(field: str, value: Any, *, required: bool = False) -> datetime | None:
    """A timezone-aware datetime within :func:`moment_bounds` (None allowed unless
    ``required``); returned in UTC."""
    if value is None:
        if required:
            raise ValidationError(field, "is required", value)
        return None
    if not isinstance(value, datetime):
        raise ValidationError(field, "must be a datetime", value)
    try:
        offset = value.utcoffset()
    except (ValueError, TypeError) as exc:  # a tzinfo that cannot say its offset
        raise ValidationError(field, "must be timezone-aware", value) from exc
    if value.tzinfo is None or offset is None:
        raise ValidationError(field, "must be timezone-aware", value)
    earliest, latest = moment_bounds()
    # Compared before any conversion: converting year 1 or 9999 to UTC can overflow.
    if not earliest <= value <= latest:
        raise ValidationError(
            field,
            f"must be between {earliest:%Y-%m-%d} and {latest:%Y-%m-%d} (UTC)",
            value,
        )
    return value.astimezone(UTC)


def check_timezone(field: str, value: Any) -> None:
    """An IANA timezone name known to zoneinfo, e.g. "Europe/Paris"."""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValidationError(field, "must be an IANA timezone name", value)
    try:
        ZoneInfo(value)
    except Exception as exc:  # zoneinfo raises several kinds for a name that is no zone
        raise ValidationError(field, "must be an IANA timezone name", value) from exc


def check_ids(field: str, value: Any) -> list[uuid.UUID]:
    """A list, tuple or set of at most :data:`MAX_IDS` UUIDs (or their text forms)."""
    if not isinstance(value, list | tuple | set | frozenset):
        raise ValidationError(field, "must be a list of UUIDs", value)
    if len(value) > MAX_IDS:
        raise ValidationError(field, f"must hold at most {MAX_IDS} ids", value)
    return [check_uuid(field, item) for item in value]


def _parse_json(field: str, text: str) -> Any:
    if len(text) > MAX_JSON_CHARS:
        raise ValidationError(field, f"must be at most {MAX_JSON_CHARS} characters", text)
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValidationError(field, f"must nest at most {MAX_JSON_DEPTH} levels", text) from exc
    except ValueError as exc:  # JSONDecodeError, or a number too long to convert
        raise ValidationError(field, "must be valid JSON", text) from exc


def _dump_json(field: str, value: Any) -> str:
    depth = _json_depth(value)
    if depth > MAX_JSON_DEPTH:
        raise ValidationError(field, f"must nest at most {MAX_JSON_DEPTH} levels", value)
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(field, "must be serialisable as JSON", value) from exc
    if len(text) > MAX_JSON_CHARS:
        raise ValidationError(field, f"must be at most {MAX_JSON_CHARS} characters", value)
    _check_unicode(field, text)
    return text


def _json_depth(value: Any) -> int:
    """How deeply ``value``'s lists and dicts nest (0 for a scalar); counted without recursion
    and stopping one level past the limit, so a hostile value costs no more than that."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_json_object(field: str, value: Any, *, allow_none: bool = True) -> str | None:
    """A mapping, or JSON text of an object; returned as compact JSON text."""
    if value is None:
        if allow_none:
            return None
        raise ValidationError(field, "is required", value)
    if isinstance(value, str):
        parsed = _parse_json(field, value)
    elif isinstance(value, Mapping):
        parsed = dict(value)
    else:
        raise ValidationError(field, "must be a JSON object (dict or JSON text)", value)
    if not isinstance(parsed, dict):
        raise ValidationError(field, "must be a JSON object", value)
    return _dump_json(field, parsed)


def check_json(field: str, value: Any) -> str | None:
    """A JSON list or object (as JSON text, or a list, tuple or mapping ``json`` can
    serialise), or None; returned as compact JSON text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _parse_json(field, value)
    if isinstance(value, Mapping):
        value = dict(value)
    if not isinstance(value, dict | list | tuple):
        raise ValidationError(field, "must be a JSON list or object", value)
    return _dump_json(field, value)
