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

import json
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, is_dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audio.records import Note, Onset
from audio.settings import AnalysisSettings
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
    if isinstance(value, Path | uuid.UUID | datetime):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in feedback")


# -- storing ----------------------------------------------------------------------------------


def store_take(db: Session, take: TakeToSave, columns: AnalysisColumns) -> SavedTake:
    """Write the take's notes as MIDI and store its Performance and AnalysisResult rows.

    A MIDI file that cannot be written costs only the MIDI copy (midi_path stays empty): the
    take and its scores matter more."""
    from storage.analyses import create_analysis_result
    from storage.performances import create_performance

    midi_path: Path | None = None
    if take.notes:
        midi_path = take.midi_path or take.audio_path.with_suffix(".mid")
        try:
            export_midi(take.notes, midi_path, take.tempo_bpm)
        except (OSError, ValueError):
            log.exception("the notes of %s could not be written as MIDI", take.audio_path)
            midi_path = None
    perf = create_performance(
        db,
        take.session_id,
        audio_path=str(take.audio_path),
        midi_path=str(midi_path) if midi_path else None,
        sample_rate=take.sample_rate,
        audio_format=_audio_format(take.audio_path),
        notes=take.note_text,
        recording_started_at=_started_at(take),
        recording_duration=max(0.0, take.duration_s),
        recovered=take.recovered,
    )
    analysis = create_analysis_result(db, perf.id, **columns)
    return SavedTake(perf, analysis, number=_number(db, perf))


def save_live_take(
    db: Session, take: TakeToSave, settings: AnalysisSettings, reference: Reference | None = None
) -> SavedTake:
    """Score a live take and store it (one database operation).

    The recording is already on disk and exists nowhere else: if scoring it or storing its
    scores fails, the take is still stored, without an analysis, and ``problem`` says why."""
    try:
        columns = score_live_take(take, settings, reference)
    except Exception as exc:
        log.exception("scoring a take failed")
        return _store_unscored(db, take, f"the take could not be scored ({exc})")
    try:
        with db.begin_nested():
            return store_take(db, take, columns)
    except Exception as exc:
        log.exception("storing a take's scores failed")
        return _store_unscored(db, take, f"its scores could not be stored ({exc})")


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


def _store_unscored(db: Session, take: TakeToSave, problem: str) -> SavedTake:
    from storage.performances import create_performance

    note = f"{take.note_text} {problem}" if take.note_text else problem
    perf = create_performance(
        db,
        take.session_id,
        audio_path=str(take.audio_path),
        sample_rate=take.sample_rate,
        audio_format=_audio_format(take.audio_path),
        notes=note[:10_000],
        recording_started_at=_started_at(take),
        recording_duration=max(0.0, take.duration_s),
        recovered=take.recovered,
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
