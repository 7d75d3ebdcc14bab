"""After a crash: interrupted takes repaired and added to their sessions, sessions left open
closed as "abandoned". Run once at start-up, before the window's first query, by the one Etude
that holds the data folder's lock; the commands that read (``etude sessions``, ``stats``,
``export``) run the same recovery first (:func:`recover_at_start`).

Only one Etude per data folder runs the recovery: :func:`claim_data_folder` holds
``<data folder>/etude.lock`` (a filelock lock: flock on Linux and macOS, LockFileEx on Windows;
the operating system drops it when the process dies, so after a real crash the next start gets
it). A second Etude on the same folder finds it held and leaves the first one's live session and
takes alone.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from desktop.usecases.messages import failure_reason
from desktop.usecases.open_sessions import OpenSessions
from desktop.usecases.takes import (
    SCORES_SUFFIX,
    TAKE_NAME,
    TAKE_STAMP_FORMAT,
    ScoredTake,
    store_scored,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.db import Database

log = logging.getLogger(__name__)
LOCK_NAME = "etude.lock"
RECOVERED_NOTE = "recovered after Etude stopped unexpectedly"


@dataclass(frozen=True)
class RecoveryResult:
    """What start-up recovery did.

    abandoned: sessions closed as abandoned. repaired: every take repaired from its ``.part``.
    attached: how many of those were added to their session; unattached: the repaired takes
    whose session is unknown (deleted, or another database). settled: the sessions noted as
    open on this computer that are no longer active once this commits (their notes can go).
    failed: sessions that could not be closed, with the reason in words a student may read;
    they stay active and are tried again at the next start. postponed: interrupted takes
    (their ``.part``) that hold audio but could not be repaired now (a full disk, an I/O
    error), with the reason; they are kept as they are and tried again at every start.
    late_stored: takes kept on disk with their scores (``<take>.scores.json``, the database was
    busy until Etude stopped) that this recovery stored. kept_done: those copies on disk whose
    take is stored once this commits (:func:`forget_settled` removes them)."""

    abandoned: list[uuid.UUID] = field(default_factory=list)
    repaired: list[Path] = field(default_factory=list)
    attached: int = 0
    unattached: list[Path] = field(default_factory=list)
    settled: list[uuid.UUID] = field(default_factory=list)
    failed: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    postponed: list[tuple[Path, str]] = field(default_factory=list)
    late_stored: int = 0
    kept_done: list[Path] = field(default_factory=list)


def claim_data_folder(data_dir: Path) -> FileLock | None:
    """Lock ``<data folder>/etude.lock`` until the returned lock is released (or this process
    ends). None when another running Etude holds it: that Etude's active session and takes are
    live, so this one must not treat them as left behind by a crash."""
    # Not thread-local: the window claims it on the GUI thread and may release it elsewhere.
    # No soft (marker-file) fallback: a marker outlives a crash and would block every later start.
    lock = FileLock(data_dir / LOCK_NAME, thread_local=False, fallback_to_soft=False)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        return None
    return lock


def recover_after_crash(
    db: Session, recordings_dir: Path, open_sessions: OpenSessions | None = None
) -> RecoveryResult:
    """Repair interrupted takes and close sessions left active (one database operation).

    A take that was being recorded when Etude died exists only as ``<name>.part``; it is
    repaired into ``<name>.recovered.<ext>`` and, when the session named in the file is known,
    stored as a Performance with ``recovered=True`` so History shows it.

    On SQLite every active session is recovered. On a server, or a SQLite database that syncs
    with one, other computers may be practising right now, so only the sessions
    ``open_sessions`` names (started here, never ended) and the sessions of repaired takes are.
    Call :func:`forget_settled` once this has committed."""
    import soundfile as sf
    from sqlalchemy import select

    from audio.recorder import RepairPostponed, repair_partial_takes
    from storage.models import RealtimeSession, SyncLink
    from storage.performances import create_performance
    from storage.recovery import recover_abandoned_sessions

    # Takes are attached before the sessions are closed as abandoned: an abandoned session ends
    # at the end of its last take, so its recovered takes must already be there.
    active = list(db.scalars(select(RealtimeSession.id).where(RealtimeSession.status == "active")))
    ours: set[uuid.UUID] = set()
    # Takes whose scores waited on disk for a busy database first: they are whole takes.
    kept_done: list[Path] = []
    late_stored = 0
    for sidecar in sorted(recordings_dir.rglob(f"*{SCORES_SUFFIX}")):
        kept = _store_kept_take(db, sidecar)
        if kept is not None:
            kept_done.append(sidecar)
            if kept[1]:
                late_stored += 1
                ours.add(kept[0].session_id)
    repaired: list[Path] = []
    postponed: list[tuple[Path, str]] = []

    def keep_for_later(exc: RepairPostponed) -> None:
        log.warning("%s", exc, exc_info=exc.__cause__)
        postponed.append((exc.part, exc.reason))

    folders = [recordings_dir, *[p for p in recordings_dir.rglob("*") if p.is_dir()]]
    for folder in folders:
        try:
            repaired.extend(repair_partial_takes(folder, keep_for_later))
        except Exception:
            log.exception("repairing takes in %s failed", folder)
    # A take finished on disk (renamed from its .part) whose process died before its scores
    # were kept or stored is in no row: it is added like a repaired one (measured under
    # repeated SIGKILL, tests/bench/kills.py: 4 of 71 takes were left so).
    repaired.extend(_finished_but_unstored(db, folders))
    for folder in folders:  # half-written copies of scores (keep_on_disk renames whole ones)
        for tmp in folder.glob(f"*{SCORES_SUFFIX}.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()
    attached = 0
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
    failed: list[tuple[uuid.UUID, str]] = []

    def note_failure(session_id: uuid.UUID, exc: Exception) -> None:
        failed.append((session_id, failure_reason(exc)))

    # A synced profile's database holds sessions pulled from its other computers, which may be
    # practising right now: then only this computer's own are recovered, as on a server.
    synced = db.scalar(select(SyncLink.user_id).limit(1)) is not None
    if db.get_bind().dialect.name == "sqlite" and not synced:
        abandoned = recover_abandoned_sessions(db, on_failure=note_failure)
    else:
        abandoned = recover_abandoned_sessions(
            db, session_ids=(noted & was_active) | ours, on_failure=note_failure
        )
    return RecoveryResult(
        abandoned=abandoned,
        repaired=repaired,
        attached=attached,
        unattached=unattached,
        settled=sorted((noted - was_active) | (noted & set(abandoned)), key=str),
        failed=failed,
        postponed=postponed,
        late_stored=late_stored,
        kept_done=kept_done,
    )


def _finished_but_unstored(db: Session, folders: list[Path]) -> list[Path]:
    """Live takes' files (named by TAKE_NAME, not repaired ones) in no performance row and
    with no scores kept beside them; only run while this Etude holds the data folder, so no
    other Etude is saving them right now."""
    from sqlalchemy import select

    from storage.models import Performance

    found = [
        path
        for folder in folders
        for path in sorted(folder.glob("take-*"))
        if path.suffix.lower() in (".flac", ".wav")
        and ".recovered" not in path.name
        and TAKE_NAME.match(path.name)
        and not path.with_name(path.name + SCORES_SUFFIX).exists()
    ]
    if not found:
        return []
    names = [str(p) for p in found]
    stored: set[str | None] = set()
    for i in range(0, len(names), 500):  # within any database's limit of bound parameters
        chunk = names[i : i + 500]
        stored.update(
            db.scalars(select(Performance.audio_path).where(Performance.audio_path.in_(chunk)))
        )
    return [p for p in found if str(p) not in stored]


def _store_kept_take(db: Session, sidecar: Path) -> tuple[ScoredTake, bool] | None:
    """Store a take kept on disk with its scores (see desktop.usecases.takes.keep_on_disk):
    (it, True) when stored now, (it, False) when it already was (the copy outlived the
    commit), None when it cannot be stored (unreadable copy, audio gone, refused): then the
    copy stays and is tried again at the next start."""
    from sqlalchemy import select

    from storage.models import Performance

    try:
        scored = ScoredTake.from_json(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        log.exception("the kept take %s cannot be read", sidecar)
        return None
    if not scored.audio_path.is_file():
        log.warning("the audio of the kept take %s is gone", sidecar)
        return None
    path = str(scored.audio_path)
    if db.scalar(select(Performance.id).where(Performance.audio_path == path).limit(1)):
        return scored, False
    try:
        with db.begin_nested():
            store_scored(db, scored)
    except Exception:
        log.exception("the kept take %s could not be stored", sidecar)
        return None
    return scored, True


def recover_at_start(
    database: Database, data_dir: Path, recordings_dir: Path
) -> RecoveryResult | None:
    """The start-up recovery, for the commands that read (``etude sessions``, ``stats``,
    ``export``): what the window runs on its database worker at start, in one transaction of
    ``database``, holding the data folder's lock meanwhile. None when another running Etude
    holds the folder (its sessions are live, not left by a crash)."""
    lock = claim_data_folder(data_dir)
    if lock is None:
        return None
    try:
        open_sessions = OpenSessions(data_dir)
        with database.transaction() as s:
            result = recover_after_crash(s, recordings_dir, open_sessions)
        forget_settled(open_sessions, result)
        return result
    finally:
        lock.release()


def recovery_summary(result: RecoveryResult, recordings_dir: Path) -> str | None:
    """What a recovery did, for the student; None when there was nothing to recover."""
    n_sessions = len(result.abandoned)
    n_takes = len(result.repaired)
    late = (
        f"{result.late_stored} take(s) that waited for a busy database are now stored with "
        "their scores; you find them in History."
        if result.late_stored
        else None
    )
    if not (n_sessions or n_takes):
        return late
    text = f"Etude stopped unexpectedly last time. {n_sessions} unfinished session(s) were "
    text += (
        f"kept as 'abandoned' and {n_takes} interrupted take(s) were repaired"
        if n_takes
        else "kept as 'abandoned'"
    )
    loose = result.unattached
    if loose:
        # Their session is unknown (deleted, or another database): say where they are.
        names = ", ".join(p.name for p in loose[:5]) + (" …" if len(loose) > 5 else "")
        text += (
            f". {n_takes - len(loose)} of them are in History; the others ({names}) "
            f"could not be matched to a session and are in {recordings_dir}."
        )
    else:
        text += "; you find them in History."
    return f"{text} {late}" if late else text


def recovery_problem(result: RecoveryResult, recordings_dir: Path) -> str | None:
    """What a recovery could not do, for the student; None when it did everything."""
    from audio.recorder import DISK_FULL

    lines = []
    if result.postponed:
        part, reason = result.postponed[0]
        names = part.name if len(result.postponed) == 1 else f"{len(result.postponed)} takes"
        lines.append(
            f"An interrupted take could not be repaired yet ({reason}): {names} in "
            f"{part.parent} is kept as it is, with its audio, and Etude tries again at every "
            "start" + (" (free some space on that disk)." if reason == DISK_FULL else ".")
        )
    if result.failed:
        lines.append(
            f"Etude could not finish checking {len(result.failed)} session(s) interrupted last "
            f"time ({result.failed[0][1]}); they are kept as they are and checked again at the "
            f"next start. Nothing was deleted: interrupted recordings are in {recordings_dir}."
        )
    return "\n\n".join(lines) or None


def forget_settled(open_sessions: OpenSessions, result: RecoveryResult) -> None:
    """After recovery has committed: clear the notes of sessions that have ended or were just
    recovered (see :func:`recover_after_crash`)."""
    for sid in result.settled:
        open_sessions.discard(sid)
    for sidecar in result.kept_done:
        try:
            sidecar.unlink(missing_ok=True)
        except OSError:  # its take is stored; the next start sees that and tries again
            log.exception("could not remove %s", sidecar)


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
