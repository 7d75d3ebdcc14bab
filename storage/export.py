"""CSV export of sessions, takes, analyses and progress rows.

Format (stdlib ``csv``, the "excel" dialect): UTF-8, a header row of the field names (the
seed's), one row per database row. With ``excel_bom=True`` the file starts with a UTF-8
byte-order mark: Excel opens a file without one in the local ANSI code page and garbles every
accent ("FÃ¼r Elise"), but a plain ``open(..., encoding="utf-8")`` then reads the mark as part
of the first header, so it is a choice (the GUI's export dialog offers it, ``etude export --bom``)
and plain UTF-8 is the default. Timestamps are ISO 8601 in UTC with their offset
(``2025-03-01T18:30:00.250000+00:00``); null is an empty cell; floats are written with ``repr`` so
they read back exactly; booleans are ``true``/``false``; UUIDs in their 36-character form.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and some with a tab or a
carriage return) as a formula. Free text typed by a user (piece names, genres, notes, paths,
feedback, profile names...) that starts with one of those characters is therefore written with
a single quote ``'`` in front, and so is text that already starts with a quote followed by one
of them or by another quote (``'=1+1`` is written ``''=1+1``), so that :func:`unescape_cell`
gives back exactly what was typed. Numbers are never escaped, so a negative improvement rate
stays a number.

Files are written to a temporary name and renamed into place at the end, so a failed or
cancelled export never leaves a half-written file under the final name.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from storage.errors import StorageError, ValidationError
from storage.models import AnalysisResult, Base, Performance, ProgressMetric, RealtimeSession, User
from storage.progress import local_midnight_utc
from storage.validation import check_bool, check_moment, check_uuid

TABLES: tuple[str, ...] = ("sessions", "performances", "analyses", "progress")
FILE_NAMES: dict[str, str] = {t: f"{t}.csv" for t in TABLES}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Text columns that hold what a person typed or chose; only these are formula-escaped.
_USER_TEXT = {
    "display_name",
    "timezone",
    "piece_name",
    "genre",
    "difficulty_level",
    "websocket_session_id",
    "status",
    "audio_path",
    "midi_path",
    "audio_format",
    "notes",
    "feedback_json",
    "difficulty_estimate",
    "analysis_engine_version",
    "genre_breakdown_json",
    "milestones_json",
    "period_type",
    "settings_json",
}

#: progress(rows_done, rows_total) -> False to cancel; called every few hundred rows and at end.
ProgressCallback = Callable[[int, int], bool | None]


class ExportCancelled(StorageError):
    """The progress callback asked to stop; no output file was left behind."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote: file path and row count per table."""

    files: dict[str, Path]
    rows: dict[str, int]


def escape_cell(text: str) -> str:
    """Prefix user text that a spreadsheet would run as a formula with a single quote; also
    text that already starts with a quote :func:`unescape_cell` would remove, so that the two
    are exact inverses: ``unescape_cell(escape_cell(t)) == t`` for every string."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) or _quoted(text) else text


def unescape_cell(text: str) -> str:
    """Undo :func:`escape_cell` (for reading an export back)."""
    return text[1:] if _quoted(text) else text


def _quoted(text: str) -> bool:
    # A quote escape_cell put there: one before a formula character or before another quote.
    return text.startswith("'") and text[1:].startswith((*FORMULA_PREFIXES, "'"))


def format_value(name: str, value: Any) -> str:
    """One cell: see the module docstring for the format of each type."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int | uuid.UUID):
        return str(value)
    text = str(value)
    return escape_cell(text) if name in _USER_TEXT else text


def parse_bound(text: str, timezone: str, *, end: bool) -> datetime:
    """A --since/--until value as an aware UTC instant.

    ``YYYY-MM-DD`` is a local day of the profile (``timezone``): --since starts at its midnight,
    --until includes the whole day. A full ISO 8601 datetime is used as is (naive = the
    profile's local time)."""
    tz = ZoneInfo(timezone)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return local_midnight_utc(day + (_ONE_DAY if end else _ZERO), tz)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        field = "until" if end else "since"
        raise ValidationError(
            field, "must be a date YYYY-MM-DD or an ISO 8601 datetime", text
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


def export_csv(
    db: Session,
    out: Path,
    table: str = "all",
    user_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: ProgressCallback | None = None,
    excel_bom: bool = False,
) -> ExportResult:
    """Export ``table`` (sessions|performances|analyses|progress|all) to CSV.

    out: a file for one table, a folder for "all" (created if missing; files sessions.csv,
    performances.csv, analyses.csv, progress.csv). user_id: one profile, None for all.
    since (inclusive)/until (exclusive): aware bounds on the session's started_at (takes and
    analyses follow their session) or the progress row's metric_date. progress: see
    :data:`ProgressCallback`. excel_bom: start each file with a UTF-8 byte-order mark."""
    if not isinstance(table, str) or table not in (*TABLES, "all"):
        raise ValidationError("table", f"must be one of {', '.join((*TABLES, 'all'))}", table)
    since = check_moment("since", since)
    until = check_moment("until", until)
    if since is not None and until is not None and until <= since:
        raise ValidationError("until", "must be after since", until)
    check_bool("excel_bom", excel_bom)
    if progress is not None and not callable(progress):
        raise ValidationError("progress", "must be a function or None", progress)
    if user_id is not None:
        user_id = check_uuid("user_id", user_id)
    if user_id is not None and db.get(User, user_id) is None:
        raise ValidationError("user_id", "no such profile", user_id)
    tables = list(TABLES) if table == "all" else [table]
    if table == "all":
        if out.exists() and not out.is_dir():
            raise ValidationError("out", "must be a folder when exporting all tables", str(out))
        out.mkdir(parents=True, exist_ok=True)
        targets = {t: out / FILE_NAMES[t] for t in tables}
    else:
        if out.is_dir():
            raise ValidationError("out", "must be a file path when exporting one table", str(out))
        if not out.parent.is_dir():
            raise ValidationError("out", "its folder must exist", str(out))
        targets = {table: out}

    queries = {t: _query(t, user_id, since, until) for t in tables}
    total = sum(
        int(db.scalar(select(func.count()).select_from(q.subquery())) or 0)
        for q in queries.values()
    )
    done = 0
    temps: list[Path] = []
    rows: dict[str, int] = {}
    try:
        for t in tables:
            target = targets[t]
            temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
            temps.append(temp)
            columns = _columns(t)
            count = 0
            encoding = "utf-8-sig" if excel_bom else "utf-8"
            with open(temp, "w", encoding=encoding, newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(columns)
                for obj in _stream(db, queries[t]):
                    writer.writerow([format_value(c, getattr(obj, c)) for c in columns])
                    count += 1
                    done += 1
                    if progress is not None and done % 500 == 0 and progress(done, total) is False:
                        raise ExportCancelled("export cancelled")
                fh.flush()
                os.fsync(fh.fileno())
            rows[t] = count
        if progress is not None and progress(done, total) is False:
            raise ExportCancelled("export cancelled")
        for t, temp in zip(tables, temps, strict=True):
            os.replace(temp, targets[t])
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
    return ExportResult(files=targets, rows=rows)


_ONE_DAY = date(2000, 1, 2) - date(2000, 1, 1)
_ZERO = _ONE_DAY * 0

_MODELS: dict[str, type[Base]] = {
    "sessions": RealtimeSession,
    "performances": Performance,
    "analyses": AnalysisResult,
    "progress": ProgressMetric,
}


def _columns(table: str) -> list[str]:
    model = _MODELS[table]
    return [c.key for c in model.__table__.columns]


def _query(
    table: str, user_id: uuid.UUID | None, since: datetime | None, until: datetime | None
) -> Select[Any]:
    s = RealtimeSession
    q: Select[Any]
    if table == "progress":
        q = select(ProgressMetric)
        if user_id is not None:
            q = q.where(ProgressMetric.user_id == user_id)
        if since is not None:
            q = q.where(ProgressMetric.metric_date >= since)
        if until is not None:
            q = q.where(ProgressMetric.metric_date < until)
        return q.order_by(
            ProgressMetric.user_id, ProgressMetric.period_type, ProgressMetric.metric_date
        )
    if table == "sessions":
        q = select(s)
        order: Sequence[Any] = (s.started_at, s.id)
    elif table == "performances":
        q = select(Performance).join(s, Performance.session_id == s.id)
        order = (s.started_at, Performance.recording_started_at, Performance.id)
    else:
        q = (
            select(AnalysisResult)
            .join(Performance, AnalysisResult.performance_id == Performance.id)
            .join(s, Performance.session_id == s.id)
        )
        order = (s.started_at, AnalysisResult.created_at, AnalysisResult.id)
    if user_id is not None:
        q = q.where(s.user_id == user_id)
    if since is not None:
        q = q.where(s.started_at >= since)
    if until is not None:
        q = q.where(s.started_at < until)
    return q.order_by(*order)


def _stream(db: Session, query: Select[Any]) -> Iterator[Any]:
    # yield_per keeps memory flat for ten years of analyses.
    yield from db.scalars(query.execution_options(yield_per=1000))
