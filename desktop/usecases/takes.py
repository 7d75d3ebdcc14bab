"""Store a take and its analysis: the one path for a live take, a recording dropped on the
window and ``etude analyze --save``.

Whichever way a take comes in, what is stored is the same:

* a Performance row: the audio's absolute path, sample rate, format, length, and when it was
  played;
* the detected notes as a MIDI file, when any note was found: beside a live take in the
  recordings folder; for a file analysed from elsewhere, in the recordings folder too, never
  beside the student's own file;
* an AnalysisResult holding audio.scoring's metrics, with ``feedback_json`` carrying the per-note
  timeline the take card and History draw from the stored row.

A file analysed on its own gets a session of its own, completed at once: its piece, genre, tempo
and difficulty are what the student declared (the session form, or the command's options);
the analysis's difficulty *estimate* stays in the analysis row and never becomes the session's
declared ``difficulty_level``. ``chunks_processed`` counts analysis hops in every session: a
file's session the hops of the file, a live session every hop analysed from Start to Stop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, is_dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audio.records import Note, Onset
from audio.settings import AnalysisSettings
from desktop.usecases.messages import failure_reason
from desktop.usecases.plan import SessionPlan

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from audio.fileanalysis import FileAnalysis
    from audio.inputcheck import InputCheck
    from audio.reference import Reference
    from audio.scoring import TakeScore
    from storage.records import AnalysisRecord, PerformanceRecord, SessionRecord

log = logging.getLogger(__name__)

FROM_A_FILE = "analysed from a file"
# A live take's file name carries when it began (local time) and its session's id, so a take
# interrupted by a crash can be put back into its session at the next start-up.
TAKE_NAME = re.compile(r"^take-(?P<stamp>\d{8}-\d{6})-(?P<sid>[0-9a-f]{8})-\d+")
TAKE_STAMP_FORMAT = "%Y%m%d-%H%M%S"
# AnalysisResult columns by name, as audio.scoring fills them (feedback_json with the timeline).
AnalysisColumns = dict[str, Any]
# "<take file>.scores.json": a scored take not stored yet (the database was busy, or Etude
# stopped first); start-up recovery stores it (desktop.usecases.recovery).
SCORES_SUFFIX = ".scores.json"
# Seconds between tries while the database stays busy (each try itself waits up to
# storage.db.BUSY_TIMEOUT_MS for the lock); the last figure repeats until it frees.
BUSY_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class TakeToSave:
    """A finished take. notes/onsets: on the take's own time axis (0 = its first sample)."""

    session_id: uuid.UUID
    audio_path: Path
    notes: tuple[Note, ...]
    onsets: tuple[Onset, ...]
    duration_s: float
    sample_rate: int
    genre: str | None = None
    note_text: str | None = None
    recovered: bool = False
    midi_path: Path | None = None  # default: beside the audio, same stem
    analysis_cpu_s: float = 0.0  # the worker's analyzer CPU for this take (processing_time_ms)
    # When the take began (aware); default: its duration before the moment it is stored.
    started_at: datetime | None = None
    tempo_bpm: float | None = None  # only how the MIDI file counts beats; default 120
    input_check: InputCheck | None = None  # what the input was like during the take, if known


@dataclass(frozen=True)
class SavedTake:
    """A take as stored: its row, its analysis (None when it has no scores, ``problem`` says
    why) and, for a file analysed on its own, the completed session made for it."""

    performance: PerformanceRecord
    analysis: AnalysisRecord | None
    session: SessionRecord | None = None
    problem: str | None = None
    number: int | None = None  # its place among its session's takes, 1 = first played

    @property
    def label(self) -> str:
        """How the take is named wherever it is shown: "Take 3 · 14:05" (see take_label)."""
        p = self.performance
        from_file = bool(p.notes and p.notes.startswith(FROM_A_FILE))
        name = Path(p.audio_path).name if from_file and p.audio_path else None
        return take_label(self.number, p.recording_started_at, name)


def take_label(number: int | None, started_at: datetime, file_name: str | None = None) -> str:
    """A take's name for a student: "Take 3 · 14:05" (its place in the session, and when it
    began in local time), never the name of the file Etude recorded it to. A recording the
    student brought keeps its own file name beside it: "Take 1 · 14:05 · etude.wav"."""
    when = started_at.astimezone().strftime("%H:%M")
    name = f"Take {number} · {when}" if number else f"Take · {when}"
    return f"{name} · {file_name}" if file_name else name


@dataclass(frozen=True)
class ScoredTake:
    """A take scored and ready to store: exactly what its two rows will hold. Until it is
    stored it is also kept on disk beside its audio (:func:`keep_on_disk`), so neither a busy
    database nor a crash loses its scores. columns: None when it could not be scored
    (``problem`` says why); started_at: aware."""

    session_id: uuid.UUID
    audio_path: Path
    sample_rate: int
    duration_s: float
    started_at: datetime
    note_text: str | None = None
    recovered: bool = False
    midi_path: Path | None = None
    columns: AnalysisColumns | None = None
    problem: str | None = None

    @property
    def sidecar(self) -> Path:
        """Where it is kept until stored: ``<audio file>.scores.json``."""
        return self.audio_path.with_name(self.audio_path.name + SCORES_SUFFIX)

    def to_json(self) -> str:
        fields = asdict(self)
        fields.update(
            session_id=str(self.session_id),
            audio_path=str(self.audio_path),
            midi_path=str(self.midi_path) if self.midi_path else None,
            started_at=self.started_at.isoformat(),
        )
        return json.dumps(fields, ensure_ascii=False, default=_json_default)

    @classmethod
    def from_json(cls, text: str) -> ScoredTake:
        """Read back :meth:`to_json`'s text; ValueError (or KeyError, TypeError) if it is not."""
        d = json.loads(text)
        if not isinstance(d, dict):
            raise ValueError("not a scored take")
        started = datetime.fromisoformat(d["started_at"])
        if started.tzinfo is None:
            raise ValueError("started_at has no time zone")
        return cls(
            session_id=uuid.UUID(d["session_id"]),
            audio_path=Path(d["audio_path"]),
            sample_rate=int(d["sample_rate"]),
            duration_s=float(d["duration_s"]),
            started_at=started,
            note_text=d.get("note_text"),
            recovered=bool(d.get("recovered", False)),
            midi_path=Path(d["midi_path"]) if d.get("midi_path") else None,
            columns=dict(d["columns"]) if d.get("columns") is not None else None,
            problem=d.get("problem"),
        )


class TakeKeptForLater(Exception):
    """Saving was asked to stop (Etude is closing) while the database was still busy: the take
    and its scores are kept on disk, in ``sidecar``, and the next start stores them."""

    def __init__(self, sidecar: Path) -> None:
        super().__init__(
            "the database was busy until Etude closed; the take and its scores are kept and "
            "stored at the next start"
        )
        self.sidecar = sidecar


@dataclass(frozen=True)
class AnalysedRecording:
    """A recording analysed from a file, ready to store (the analysis needs no database)."""

    analysis: FileAnalysis
    columns: AnalysisColumns


# -- scoring ----------------------------------------------------------------------------------


def timeline(score: TakeScore) -> list[dict[str, Any]]:
    """One entry per scored note for the card's timeline, in the order played: its number
    (1 = first), times in seconds, its target (sounding MIDI, and written name), signed cents,
    its reference bar where known, and where rhythm is judged timing_ms = how far its onset
    was from where it belonged (+ = late, the constant lag removed, as the rhythm score and
    the feedback's findings count it)."""
    from audio.feedback import note_name

    out = []
    for i, (n, told) in enumerate(zip(score.notes, score.played, strict=True), 1):
        entry: dict[str, Any] = {
            "number": i,
            "onset_s": round(n.onset_s, 4),
            "offset_s": round(n.offset_s, 4),
            "target_midi": int(n.target_midi),
            "note": note_name(told.target_midi),
            "cents": round(float(n.cents), 1),
        }
        if told.bar is not None:
            entry["bar"] = told.bar
        if told.timing_ms is not None:
            entry["timing_ms"] = round(told.timing_ms, 1)
        out.append(entry)
    return out


def analysis_columns(score: TakeScore) -> AnalysisColumns:
    """The AnalysisResult columns for a scored take: audio.scoring's metrics, with the per-note
    timeline added to the feedback so the card and History redraw it from the stored row."""
    from audio.scoring import METRIC_KEYS

    columns = {key: score.metrics[key] for key in METRIC_KEYS}
    feedback = dict(score.feedback)
    feedback["timeline"] = timeline(score)
    columns["feedback_json"] = json.dumps(feedback, ensure_ascii=False, default=_json_default)
    return columns


def score_live_take(
    take: TakeToSave, settings: AnalysisSettings, reference: Reference | None
) -> AnalysisColumns:
    """Score a live take from the notes the worker found while it was played."""
    from audio.scoring import score_take

    score = score_take(
        list(take.notes),
        list(take.onsets),
        [],
        settings,
        reference=reference,
        duration_s=take.duration_s,
        genre=known_genre(take.genre),
        analysis_cpu_s=take.analysis_cpu_s,
        input_check=take.input_check,
    )
    return analysis_columns(score)


def analyse_recording(
    path: Path,
    settings: AnalysisSettings,
    reference: Reference | None = None,
    genre: str | None = None,
) -> AnalysedRecording:
    """Analyse a file (no database: the window runs this on its compute runner). Raises
    audio.fileanalysis.AudioFileError for a file that cannot be analysed."""
    from audio.fileanalysis import analyze_file

    fa = analyze_file(path, settings, reference=reference, genre=known_genre(genre))
    return AnalysedRecording(fa, analysis_columns(fa.score))


def known_genre(genre: str | None) -> str | None:
    """``genre`` when scoring has a profile for it, else None: a free-text genre the student
    typed is kept on the session but simply gets no genre score."""
    if not genre:
        return None
    from audio.genres import get_genre

    try:
        get_genre(genre)
    except ValueError:  # an unknown name, or an unreadable genre table
        return None
    return genre


def _json_default(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    item = getattr(value, "item", None)  # a numpy number
    if callable(item):
        return item()
    if isinstance(value, Path | uuid.UUID | datetime):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in feedback")


# -- storing ----------------------------------------------------------------------------------


def store_take(db: Session, take: TakeToSave, columns: AnalysisColumns) -> SavedTake:
    """Write the take's notes as MIDI and store its Performance and AnalysisResult rows.

    A MIDI file that cannot be written costs only the MIDI copy (midi_path stays empty): the
    take and its scores matter more."""
    return _insert(db, _scored(take, columns, None))


def prepare_live_take(
    take: TakeToSave, settings: AnalysisSettings, reference: Reference | None = None
) -> ScoredTake:
    """Score a live take and write its notes as MIDI (no database). A take that cannot be
    scored is still stored, without scores: ``problem`` says why."""
    try:
        return _scored(take, score_live_take(take, settings, reference), None)
    except Exception as exc:
        log.exception("scoring a take failed")
        return _scored(take, None, f"the take could not be scored ({failure_reason(exc)})")


def store_scored(db: Session, scored: ScoredTake) -> SavedTake:
    """Store a scored take: its Performance and AnalysisResult rows (one database operation).

    The recording exists nowhere else: if its scores cannot be stored, the take is still
    stored, without an analysis, and ``problem`` says why. A busy database (another program
    holds the write lock, storage.db.is_busy_error) is raised instead, with nothing written,
    so the caller can try again (:func:`store_when_free`)."""
    from storage.db import is_busy_error

    if scored.columns is None:
        return _store_unscored(db, scored)
    try:
        with db.begin_nested():
            return _insert(db, scored)
    except Exception as exc:
        if is_busy_error(exc):
            raise
        log.exception("storing a take's scores failed")
        return _store_unscored(
            db, replace(scored, problem=f"its scores could not be stored ({failure_reason(exc)})")
        )


def save_live_take(
    db: Session, take: TakeToSave, settings: AnalysisSettings, reference: Reference | None = None
) -> SavedTake:
    """Score a live take and store it (one database operation, see :func:`store_scored`)."""
    return store_scored(db, prepare_live_take(take, settings, reference))


def save_live_take_when_free(
    transaction: Callable[[], AbstractContextManager[Session]],
    take: TakeToSave,
    settings: AnalysisSettings,
    reference: Reference | None = None,
    *,
    waiting: Callable[[str], object] | None = None,
    stop: threading.Event | None = None,
) -> SavedTake:
    """What the window does when a take ends: score it, keep it and its scores on disk beside
    the audio, then store it (:func:`store_when_free`), trying again while another program
    holds the database's write lock. ``transaction()`` opens one Session that commits when
    its block ends (storage.db.Database.transaction)."""
    scored = prepare_live_take(take, settings, reference)
    keep_on_disk(scored)
    return store_when_free(transaction, scored, waiting=waiting, stop=stop)


def store_when_free(
    transaction: Callable[[], AbstractContextManager[Session]],
    scored: ScoredTake,
    *,
    waiting: Callable[[str], object] | None = None,
    stop: threading.Event | None = None,
    backoff_s: Sequence[float] = BUSY_BACKOFF_S,
) -> SavedTake:
    """Store ``scored`` in a transaction of its own, trying again with backoff for as long as
    the database is busy; its copy on disk (:func:`keep_on_disk`) is removed once stored.

    waiting: called once, with a message for the student (no SQL, no stack trace: those go to
    the log), when the first try finds the database busy. stop: set it to give up waiting (Etude
    is closing): TakeKeptForLater is raised and the copy on disk stays for the next start. Any
    other failure is raised as is, the copy on disk kept as well."""
    from storage.db import is_busy_error

    tries = 0
    while True:
        try:
            with transaction() as db:
                saved = store_scored(db, scored)
        except Exception as exc:
            if not is_busy_error(exc):
                raise
            delay = backoff_s[min(tries, len(backoff_s) - 1)]
            log.warning(
                "the database is busy: storing %s again in %.1f s (try %d)",
                scored.audio_path,
                delay,
                tries + 1,
                exc_info=True,
            )
            if tries == 0 and waiting is not None:
                waiting(busy_message(scored))
            tries += 1
            if stop is not None and stop.wait(delay):
                raise TakeKeptForLater(scored.sidecar) from exc
            if stop is None:
                time.sleep(delay)
            continue
        forget_on_disk(scored)
        if tries:
            log.info("%s stored after %d busy tries", scored.audio_path, tries)
        return saved


def busy_message(scored: ScoredTake) -> str:
    """What the student reads while a take waits for a busy database."""
    return (
        f"The database is busy: another program is writing to it. Your take "
        f"{scored.audio_path.name} and its scores are kept, and they are stored in your history "
        "as soon as the database is free (at the latest the next time Etude starts)."
    )


def keep_on_disk(scored: ScoredTake) -> Path | None:
    """Write ``scored`` beside its audio (``<audio>.scores.json``), complete or not at all
    (a temporary file flushed to disk, then renamed). None when it cannot be written (a full
    disk): the take is then kept in memory only, and the failure logged."""
    target = scored.sidecar
    tmp = target.with_name(target.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(scored.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except (OSError, TypeError, ValueError):
        log.exception("the scores of %s could not be kept on disk", scored.audio_path)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return None
    return target


def forget_on_disk(scored: ScoredTake) -> None:
    """Remove the copy kept by :func:`keep_on_disk`, once the take is stored (committed)."""
    try:
        scored.sidecar.unlink(missing_ok=True)
    except OSError:  # stored anyway; the next start sees the row and removes it
        log.exception("could not remove %s", scored.sidecar)


def store_recording(
    db: Session,
    profile_id: uuid.UUID,
    plan: SessionPlan,
    recording: AnalysedRecording,
    recordings_dir: Path,
) -> SavedTake:
    """Store a recording analysed from a file as the one take of a new, completed session.

    The session runs from the recording's length before now to now; its declared piece (the
    file's name when the plan has none), genre, tempo and difficulty come from ``plan``. The
    notes' MIDI goes to ``recordings_dir`` (the student's recordings folder), never beside
    their file."""
    from storage.sessions import create_session, end_session, update_chunks_processed

    fa = recording.analysis
    path = Path(fa.path).resolve()
    now = datetime.now(UTC)
    started = now - timedelta(seconds=fa.duration_s)
    session = create_session(
        db,
        profile_id,
        piece_name=plan.piece_name or path.stem[:255],
        genre=plan.genre,
        target_tempo=plan.target_tempo_bpm,
        difficulty_level=plan.difficulty_level,
        started_at=started,
    )
    take = TakeToSave(
        session_id=session.id,
        audio_path=path,
        notes=tuple(fa.notes),
        onsets=tuple(fa.onsets),
        duration_s=float(fa.duration_s),
        sample_rate=int(fa.sample_rate),
        genre=plan.genre,
        note_text=FROM_A_FILE,
        midi_path=recordings_dir / f"{path.stem}-{uuid.uuid4().hex[:8]}.mid",
        started_at=started,
        tempo_bpm=plan.target_tempo_bpm,
    )
    saved = store_take(db, take, recording.columns)
    update_chunks_processed(db, session.id, len(fa.frames))
    return replace(saved, session=end_session(db, session.id, ended_at=now))


def _scored(take: TakeToSave, columns: AnalysisColumns | None, problem: str | None) -> ScoredTake:
    midi_path: Path | None = None
    if take.notes:
        midi_path = take.midi_path or take.audio_path.with_suffix(".mid")
        try:
            export_midi(take.notes, midi_path, take.tempo_bpm)
        except (OSError, ValueError):
            log.exception("the notes of %s could not be written as MIDI", take.audio_path)
            midi_path = None
    return ScoredTake(
        session_id=take.session_id,
        audio_path=take.audio_path,
        sample_rate=take.sample_rate,
        duration_s=max(0.0, take.duration_s),
        started_at=_started_at(take),
        note_text=take.note_text,
        recovered=take.recovered,
        midi_path=midi_path,
        columns=columns,
        problem=problem,
    )


def _insert(db: Session, scored: ScoredTake) -> SavedTake:
    from storage.analyses import create_analysis_result
    from storage.performances import create_performance

    perf = create_performance(
        db,
        scored.session_id,
        audio_path=str(scored.audio_path),
        midi_path=str(scored.midi_path) if scored.midi_path else None,
        sample_rate=scored.sample_rate,
        audio_format=_audio_format(scored.audio_path),
        notes=scored.note_text,
        recording_started_at=scored.started_at,
        recording_duration=scored.duration_s,
        recovered=scored.recovered,
    )
    analysis = create_analysis_result(db, perf.id, **(scored.columns or {}))
    return SavedTake(perf, analysis, number=_number(db, perf))


def _store_unscored(db: Session, scored: ScoredTake) -> SavedTake:
    from storage.performances import create_performance

    problem = scored.problem or "it has no scores"
    note = f"{scored.note_text} {problem}" if scored.note_text else problem
    perf = create_performance(
        db,
        scored.session_id,
        audio_path=str(scored.audio_path),
        sample_rate=scored.sample_rate,
        audio_format=_audio_format(scored.audio_path),
        notes=note[:10_000],
        recording_started_at=scored.started_at,
        recording_duration=scored.duration_s,
        recovered=scored.recovered,
    )
    return SavedTake(perf, None, problem=problem, number=_number(db, perf))


def _number(db: Session, perf: PerformanceRecord) -> int | None:
    """The take's place among its session's takes in the order played (1 = first)."""
    from storage.performances import get_session_performances

    ids = [p.id for p in get_session_performances(db, perf.session_id)]
    return ids.index(perf.id) + 1 if perf.id in ids else None


def _started_at(take: TakeToSave) -> datetime:
    return take.started_at or datetime.now(UTC) - timedelta(seconds=take.duration_s)


def _audio_format(path: Path) -> str | None:
    return path.suffix.lstrip(".").lower()[:32] or None


def new_take_path(
    recordings_dir: Path, session_id: uuid.UUID, number: int, now: datetime | None = None
) -> Path:
    """Where the ``number``-th take (1..99 reads best) of a session is recorded: a FLAC file
    named after the local time and the session (see TAKE_NAME)."""
    stamp = (now or datetime.now()).strftime(TAKE_STAMP_FORMAT)
    return recordings_dir / f"take-{stamp}-{str(session_id)[:8]}-{number:02d}.flac"


# -- notes ------------------------------------------------------------------------------------


def export_midi(notes: Iterable[Note], path: Path, tempo_bpm: float | None = None) -> Path:
    """Write notes as a MIDI file at ``path``; tempo_bpm (20..300, default 120) only sets how
    beats are counted, the notes keep their times in seconds."""
    from audio.midi_out import write_notes_midi

    write_notes_midi(list(notes), path, tempo_bpm=float(tempo_bpm or 120.0))
    return path


def notes_in_take(
    notes: Iterable[Note], onsets: Iterable[Onset], start_s: float, end_s: float
) -> tuple[tuple[Note, ...], tuple[Onset, ...]]:
    """The notes and onsets that began within a take (stream times start_s..end_s seconds),
    moved onto the take's own time axis (0 = its first sample)."""
    lo = start_s - 1e-6
    return (
        tuple(
            replace(n, onset_s=n.onset_s - start_s, offset_s=n.offset_s - start_s)
            for n in notes
            if lo <= n.onset_s < end_s
        ),
        tuple(replace(o, t_s=o.t_s - start_s) for o in onsets if lo <= o.t_s < end_s),
    )
