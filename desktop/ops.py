"""The database operations the windows run on the database worker.

Each function takes the worker's fresh Session first, calls the storage service modules
(``storage.sessions``, ``storage.performances``, ...; they validate and flush), and returns frozen
records or plain data. They hold no Qt and no UI code, so they also run unchanged from a test or
a script. Storage is imported inside each function, on the database worker's thread: SQLAlchemy
is a large import and the window must be on screen before it has finished.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from audio.records import Note, Onset
from audio.settings import AnalysisSettings
from desktop.open_sessions import OpenSessions
from desktop.session_form import SessionPlan

log = logging.getLogger(__name__)


def record_dict(record: Any) -> dict[str, Any]:
    """A frozen record as a plain dict (for the card and the detail views)."""
    if is_dataclass(record) and not isinstance(record, type):
        return {f.name: getattr(record, f.name) for f in fields(record)}
    return dict(record)


# -- profiles ---------------------------------------------------------------------------------


def load_profiles(db: Any) -> list[Any]:
    """Every profile; the first start creates one named after the computer's user."""
    from storage.profiles import ensure_default_profile, list_profiles

    profiles: list[Any] = list_profiles(db)
    if not profiles:
        profiles = [ensure_default_profile(db)]
    return profiles


def create_profile(db: Any, name: str) -> Any:
    from storage import profiles

    return profiles.create_profile(db, name.strip())


# -- sessions ---------------------------------------------------------------------------------


def start_session(
    db: Any, profile_id: uuid.UUID, plan: SessionPlan, open_sessions: OpenSessions | None = None
) -> Any:
    """Create the session; it is noted in ``open_sessions`` before the worker commits it, so a
    crash at any later moment leaves it recoverable by this computer (see open_sessions.py)."""
    from storage.sessions import create_session

    session = create_session(
        db,
        profile_id,
        piece_name=plan.piece_name,
        genre=plan.genre,
        target_tempo=plan.target_tempo_bpm,
        difficulty_level=plan.difficulty_level,
    )
    if open_sessions is not None:
        open_sessions.add(session.id)
    return session


def finish_session(db: Any, session_id: uuid.UUID, hops: int) -> Any:
    from storage.sessions import end_session, update_chunks_processed

    if hops > 0:
        update_chunks_processed(db, session_id, hops)
    return end_session(db, session_id)


# -- takes ------------------------------------------------------------------------------------


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
    # What the input was like during the take (audio.inputcheck.InputCheck), if known.
    input_check: Any = None


def timeline(notes: Sequence[Note], alignment: Any, reference: Any) -> list[dict[str, Any]]:
    """One entry per scored note for the card's timeline: times in seconds, signed cents, and
    (with a reference) timing_ms = onset minus the aligned expected time (+ = late). The
    alignment's offset already absorbs a constant lag, as the rhythm score does."""
    out = []
    for n in notes:
        entry: dict[str, Any] = {
            "onset_s": round(n.onset_s, 4),
            "offset_s": round(n.offset_s, 4),
            "target_midi": int(n.target_midi),
            "cents": round(float(n.cents), 1),
        }
        if alignment is not None and reference is not None and n.ref_index is not None:
            expected = alignment.expected_s(reference.notes[n.ref_index].onset_s)
            entry["timing_ms"] = round((n.onset_s - expected) * 1000.0, 1)
        out.append(entry)
    return out


def score_take_values(
    notes: tuple[Note, ...],
    onsets: tuple[Onset, ...],
    duration_s: float,
    settings: AnalysisSettings,
    reference: Any,
    genre: str | None,
    analysis_cpu_s: float = 0.0,
    input_check: Any = None,
) -> dict[str, Any]:
    """The AnalysisResult columns for a take: audio.scoring's metrics, with the per-note
    timeline added to the feedback so the card and the history redraw it from the stored row."""
    from audio.scoring import score_take

    score = score_take(
        list(notes),
        list(onsets),
        [],
        settings,
        reference=reference,
        duration_s=duration_s,
        genre=genre,
        analysis_cpu_s=analysis_cpu_s,
        input_check=input_check,
    )
    values = dict(score.metrics)
    feedback = dict(score.feedback)
    feedback["timeline"] = timeline(score.notes, score.alignment, reference)
    values["feedback_json"] = json.dumps(feedback, ensure_ascii=False, default=_json_default)
    return values


def _json_default(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, Path | uuid.UUID | datetime):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in feedback")


def store_take(
    db: Any, take: TakeToSave, values: dict[str, Any], midi_notes: tuple[Note, ...]
) -> dict[str, Any]:
    """Write the take's notes as MIDI beside the audio and store Performance + AnalysisResult.
    Returns {"performance": PerformanceRecord, "analysis": AnalysisRecord}."""
    from storage.analyses import create_analysis_result
    from storage.performances import create_performance

    midi_path: Path | None = None
    if midi_notes:
        midi_path = take.midi_path or take.audio_path.with_suffix(".mid")
        try:
            export_midi(midi_notes, midi_path)
        except Exception:
            midi_path = None  # the take and its scores matter more than the MIDI copy
    started = take.started_at or datetime.now(UTC) - timedelta(seconds=take.duration_s)
    perf = create_performance(
        db,
        take.session_id,
        audio_path=str(take.audio_path),
        midi_path=str(midi_path) if midi_path else None,
        sample_rate=take.sample_rate,
        audio_format=take.audio_path.suffix.lstrip(".").lower() or None,
        notes=take.note_text,
        recording_started_at=started,
        recording_duration=max(0.0, take.duration_s),
        recovered=take.recovered,
    )
    from audio.scoring import METRIC_KEYS  # the AnalysisResult fields scoring fills

    analysis = create_analysis_result(
        db, perf.id, **{k: v for k, v in values.items() if k in METRIC_KEYS}
    )
    return {"performance": perf, "analysis": analysis}


def save_take(
    db: Any, take: TakeToSave, settings: AnalysisSettings, reference: Any = None
) -> dict[str, Any]:
    """Score a live take and store it (one database operation).

    The recording is already on disk: if scoring it or storing its scores fails, the take is
    still stored, without an analysis, and ``"problem"`` says why (analysis is then None)."""
    try:
        values = score_take_values(
            take.notes,
            take.onsets,
            take.duration_s,
            settings,
            reference,
            _known_genre(take.genre),
            take.analysis_cpu_s,
            take.input_check,
        )
    except Exception as exc:
        log.exception("scoring a take failed")
        return _store_unscored(db, take, f"the take could not be scored ({exc})")
    try:
        with db.begin_nested():
            return store_take(db, take, values, take.notes)
    except Exception as exc:
        log.exception("storing a take's scores failed")
        return _store_unscored(db, take, f"its scores could not be stored ({exc})")


def _store_unscored(db: Any, take: TakeToSave, problem: str) -> dict[str, Any]:
    from storage.performances import create_performance

    started = take.started_at or datetime.now(UTC) - timedelta(seconds=take.duration_s)
    note = f"{take.note_text} {problem}" if take.note_text else problem
    perf = create_performance(
        db,
        take.session_id,
        audio_path=str(take.audio_path),
        sample_rate=take.sample_rate,
        audio_format=take.audio_path.suffix.lstrip(".").lower() or None,
        notes=note[:10_000],
        recording_started_at=started,
        recording_duration=max(0.0, take.duration_s),
        recovered=take.recovered,
    )
    return {"performance": perf, "analysis": None, "problem": problem}


def _known_genre(genre: str | None) -> str | None:
    # A free-text genre the scoring has no profile for simply gets no genre score.
    if not genre:
        return None
    try:
        from audio.genres import get_genre

        get_genre(genre)
    except (ValueError, KeyError, LookupError):
        return None
    return genre


def export_midi(notes: tuple[Note, ...] | list[Note], path: Path) -> Path:
    from audio.midi_out import write_notes_midi

    write_notes_midi(list(notes), path)
    return path


def shift_notes(notes: list[Note], start_s: float) -> tuple[Note, ...]:
    """Notes moved onto the take's own time axis (0 = the take's first sample)."""
    return tuple(
        replace(n, onset_s=n.onset_s - start_s, offset_s=n.offset_s - start_s) for n in notes
    )


def shift_onsets(onsets: list[Onset], start_s: float) -> tuple[Onset, ...]:
    return tuple(replace(o, t_s=o.t_s - start_s) for o in onsets)


# -- history ----------------------------------------------------------------------------------


def session_takes(db: Any, session_id: uuid.UUID) -> list[dict[str, Any]]:
    """The takes of a session, each with its latest analysis (or None)."""
    from storage.analyses import get_latest_analysis
    from storage.performances import get_session_performances

    out = []
    for perf in get_session_performances(db, session_id):
        out.append({"performance": perf, "analysis": get_latest_analysis(db, perf.id)})
    return out


def complete_session(db: Any, session_id: uuid.UUID) -> Any:
    from storage.sessions import get_complete_session_data

    return get_complete_session_data(db, session_id)


def list_sessions(db: Any, profile_id: uuid.UUID, status: str | None = None) -> list[Any]:
    from storage.sessions import get_user_sessions

    out: list[Any] = []
    offset = 0
    while True:
        batch = get_user_sessions(db, profile_id, limit=500, offset=offset, status=status)
        out.extend(batch)
        if len(batch) < 500:
            return out
        offset += 500


# -- analysing a recording --------------------------------------------------------------------


def analyse_recording(
    path: Path, settings: AnalysisSettings, reference: Any, genre: str | None
) -> tuple[Any, dict[str, Any]]:
    """Compute-runner half: analyse the file (no database). Returns (FileAnalysis, columns)."""
    from audio.fileanalysis import analyze_file

    fa = analyze_file(path, settings, reference=reference, genre=_known_genre(genre))
    values = dict(fa.score.metrics)
    feedback = dict(fa.score.feedback)
    feedback["timeline"] = timeline(fa.score.notes, fa.score.alignment, reference)
    values["feedback_json"] = json.dumps(feedback, ensure_ascii=False, default=_json_default)
    return fa, values


def store_recording(
    db: Any,
    profile_id: uuid.UUID,
    plan: SessionPlan,
    fa: Any,
    values: dict[str, Any],
    midi_dir: Path,
) -> dict[str, Any]:
    """Database half: a completed session holding the recording as its one take. The notes'
    MIDI goes to ``midi_dir`` (the student's recordings folder), never beside their file."""
    from storage.sessions import create_session, end_session, update_chunks_processed

    path = Path(fa.path)
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
        note_text="analysed from a file",
        midi_path=midi_dir / f"{path.stem}-{uuid.uuid4().hex[:8]}.mid",
    )
    saved = store_take(db, take, values, tuple(fa.notes))
    update_chunks_processed(db, session.id, max(0, len(fa.frames)))
    saved["session"] = end_session(db, session.id, ended_at=now)
    return saved
