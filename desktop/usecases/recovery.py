"""After a crash: interrupted takes repaired and added to their sessions, sessions left open
closed as "abandoned". Run once at start-up, before the window's first query, by the one Etude
that holds the data folder's lock."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.usecases.takes import TAKE_NAME, TAKE_STAMP_FORMAT

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from desktop.usecases.open_sessions import OpenSessions

log = logging.getLogger(__name__)
RECOVERED_NOTE = "recovered after Etude stopped unexpectedly"


@dataclass(frozen=True)
class RecoveryResult:
    """What start-up recovery did.

    abandoned: sessions closed as abandoned. repaired: every take repaired from its ``.part``.
    attached: how many of those were added to their session; unattached: the repaired takes
    whose session is unknown (deleted, or another database). settled: the sessions noted as
    open on this computer that are no longer active once this commits (their notes can go)."""

    abandoned: list[uuid.UUID] = field(default_factory=list)
    repaired: list[Path] = field(default_factory=list)
    attached: int = 0
    unattached: list[Path] = field(default_factory=list)
    settled: list[uuid.UUID] = field(default_factory=list)


def recover_after_crash(
    db: Session, recordings_dir: Path, open_sessions: OpenSessions | None = None
) -> RecoveryResult:
    """Repair interrupted takes and close sessions left active (one database operation).

    A take that was being recorded when Etude died exists only as ``<name>.part``; it is
    repaired into ``<name>.recovered.<ext>`` and, when the session named in the file is known,
    stored as a Performance with ``recovered=True`` so History shows it.

    On SQLite every active session is recovered. On a server other computers may be practising
    right now, so only the sessions ``open_sessions`` names (started here, never ended) and the
    sessions of repaired takes are. Call :func:`forget_settled` once this has committed."""
    import soundfile as sf
    from sqlalchemy import select

    from audio.recorder import repair_partial_takes
    from storage.models import RealtimeSession
    from storage.performances import create_performance
    from storage.recovery import recover_abandoned_sessions

    # Takes are attached before the sessions are closed as abandoned: an abandoned session ends
    # at the end of its last take, so its recovered takes must already be there.
    active = list(db.scalars(select(RealtimeSession.id).where(RealtimeSession.status == "active")))
    repaired: list[Path] = []
    folders = [recordings_dir, *[p for p in recordings_dir.rglob("*") if p.is_dir()]]
    for folder in folders:
        try:
            repaired.extend(repair_partial_takes(folder))
        except Exception:
            log.exception("repairing takes in %s failed", folder)
    attached = 0
    ours: set[uuid.UUID] = set()
    unattached: list[Path] = []
    for path in repaired:
        m = TAKE_NAME.match(path.name)
        session = _session_by_prefix(db, m.group("sid"), active) if m else None
        if m is None or session is None:
            unattached.append(path)
            continue
        # The .part is already renamed, so a failure here would never be retried: one take
        # that cannot be stored must not roll back the others or the abandoned sessions.
        try:
            with db.begin_nested():
                info = sf.info(str(path))
                duration_s = float(info.frames) / float(info.samplerate)
                create_performance(
                    db,
                    session,
                    audio_path=str(path),
                    sample_rate=int(info.samplerate),
                    audio_format=path.suffix.lstrip("."),
                    notes=RECOVERED_NOTE,
                    recording_started_at=_take_started_at(m.group("stamp"), duration_s),
                    recording_duration=duration_s,
                    recovered=True,
                )
        except Exception:
            log.exception("the recovered take %s could not be added to the history", path)
            unattached.append(path)
            continue
        attached += 1
        ours.add(session)
    noted = open_sessions.ids() if open_sessions is not None else set()
    was_active = set(active)
    if db.get_bind().dialect.name == "sqlite":
        abandoned = recover_abandoned_sessions(db)
    else:
        abandoned = recover_abandoned_sessions(db, session_ids=(noted & was_active) | ours)
    return RecoveryResult(
        abandoned=abandoned,
        repaired=repaired,
        attached=attached,
        unattached=unattached,
        settled=sorted((noted - was_active) | (noted & set(abandoned)), key=str),
    )


def forget_settled(open_sessions: OpenSessions, result: RecoveryResult) -> None:
    """After recovery has committed: clear the notes of sessions that have ended or were just
    recovered (see :func:`recover_after_crash`)."""
    for sid in result.settled:
        open_sessions.discard(sid)


def _take_started_at(stamp: str, duration_s: float) -> datetime:
    """When a take began: the local time in its file name (not the start-up that found it)."""
    now = datetime.now(UTC)
    try:
        started = datetime.strptime(stamp, TAKE_STAMP_FORMAT).astimezone().astimezone(UTC)
    except ValueError:
        return now - timedelta(seconds=duration_s)
    return min(started, now - timedelta(seconds=duration_s))


def _session_by_prefix(db: Session, prefix: str, candidates: list[uuid.UUID]) -> uuid.UUID | None:
    for sid in candidates:
        if str(sid).startswith(prefix):
            return sid
    from sqlalchemy import String, cast, select

    from storage.models import RealtimeSession

    rows = list(
        db.scalars(
            select(RealtimeSession.id).where(cast(RealtimeSession.id, String).like(f"{prefix}%"))
        )
    )
    return rows[0] if len(rows) == 1 else None
