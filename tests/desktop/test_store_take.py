"""The one use case "store a take and its analysis", through each of its three callers: the
command (``etude analyze --save``), the window's drop path (analyse on the compute runner, store
on the database worker) and a live take (the real analysis worker recording a take).

Whichever way the same recording comes in, the stored rows say the same things: the per-note
timeline in feedback_json, a MIDI file of the notes, the session's analysis hops, and the
declared difficulty (none here), never the analysis's estimate."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import mido
import pytest

from audio.settings import AnalysisSettings
from audio.sources import SyntheticSource
from audio.worker import AnalysisWorker
from desktop.cli import main as etude
from desktop.usecases.plan import SessionPlan
from desktop.usecases.sessions import complete_session, finish_session, start_session
from desktop.usecases.takes import (
    TakeToSave,
    analyse_recording,
    new_take_path,
    notes_in_take,
    save_live_take,
    store_recording,
)
from storage.config import default_db_url, recordings_dir
from storage.db import Database, open_database
from storage.profiles import ensure_default_profile
from storage.sessions import get_user_sessions
from tests.desktop.helpers import SCALE, SR, scale_signal, write_scale_wav

PIECE = "C major scale"
TEMPO_BPM = 100


def _by_the_command(db: Database, wav: Path) -> uuid.UUID:
    code = etude(["analyze", str(wav), "--save", "--piece", PIECE, "--tempo", str(TEMPO_BPM)])
    assert code == 0
    with db.sessionmaker() as s:
        profile = ensure_default_profile(s)
        (session,) = get_user_sessions(s, profile.id)
    return session.id


def _by_the_window(db: Database, wav: Path) -> uuid.UUID:
    plan = SessionPlan(piece_name=PIECE, target_tempo_bpm=TEMPO_BPM)
    settings = AnalysisSettings(target_tempo_bpm=float(TEMPO_BPM))
    recording = analyse_recording(wav, settings)  # the compute runner's half
    with db.transaction() as s:  # the database worker's half
        profile = ensure_default_profile(s)
        saved = store_recording(s, profile.id, plan, recording, recordings_dir())
    assert saved.session is not None
    return saved.session.id


def _live(db: Database, wav: Path) -> uuid.UUID:
    plan = SessionPlan(piece_name=PIECE, target_tempo_bpm=TEMPO_BPM)
    settings = AnalysisSettings(target_tempo_bpm=float(TEMPO_BPM))
    with db.transaction() as s:
        profile = ensure_default_profile(s)
        session = start_session(s, profile.id, plan)
    worker = AnalysisWorker(
        SyntheticSource(signal=scale_signal(), sample_rate=SR, realtime=False), settings
    )
    worker.start_take(new_take_path(recordings_dir(), session.id, 1))
    worker.start()
    assert worker.wait_finished(60)
    run = worker.stop()
    (span,) = run.takes
    notes, onsets = notes_in_take(run.notes, run.onsets, span.start_s, span.end_s)
    take = TakeToSave(
        session_id=session.id,
        audio_path=span.path,
        notes=notes,
        onsets=onsets,
        duration_s=span.end_s - span.start_s,
        sample_rate=SR,
        analysis_cpu_s=span.analysis_cpu_s,
        tempo_bpm=TEMPO_BPM,
    )
    with db.transaction() as s:
        saved = save_live_take(s, take, settings)
        assert saved.problem is None
        finish_session(s, session.id, len(run.frames))
    return session.id


@pytest.mark.parametrize(
    "store", [_by_the_command, _by_the_window, _live], ids=["command", "window", "live"]
)
def test_every_path_stores_a_take_and_its_analysis_alike(
    tmp_path: Path, store: Callable[[Database, Path], uuid.UUID]
) -> None:
    wav = write_scale_wav(tmp_path / "scale.wav")
    db = open_database(default_db_url())
    try:
        session_id = store(db, wav)
        with db.sessionmaker() as s:
            data = complete_session(s, session_id)
    finally:
        db.dispose()

    session = data.session
    assert session.status == "completed"
    assert (session.piece_name, session.target_tempo) == (PIECE, TEMPO_BPM)
    (take,) = data.performances
    (analysis,) = take.analysis_results
    perf = take.performance
    # The scale: 8 notes, two of them 35 cents sharp.
    assert analysis.total_notes_detected == len(SCALE)
    assert analysis.pitch_accuracy == pytest.approx(6 / 8)
    # The student declared no difficulty: the analysis's estimate stays in the analysis.
    assert analysis.difficulty_estimate is not None
    assert session.difficulty_level is None
    # The session counts its analysis hops (256 samples each over at least the 3.6 s played).
    assert session.chunks_processed >= int(3.6 * SR / 256) - 2
    # The timeline the take card draws: one entry per note, the two sharp ones marked.
    timeline = json.loads(analysis.feedback_json or "{}")["timeline"]
    assert [e["target_midi"] for e in timeline] == list(SCALE)
    assert sorted(e["target_midi"] for e in timeline if e["cents"] > 25) == [64, 69]
    # The audio by its absolute path; the notes as MIDI in the recordings folder.
    audio = Path(perf.audio_path or "")
    assert audio.is_absolute() and audio.is_file()
    assert perf.audio_format in ("wav", "flac") and perf.sample_rate == SR
    midi = Path(perf.midi_path or "")
    assert midi.parent == recordings_dir() and midi.is_file()
    played = [m.note for m in mido.MidiFile(str(midi)).tracks[0] if m.type == "note_on"]
    assert [p for p in played if p] == list(SCALE)
    assert analysis.processing_time_ms is not None and analysis.processing_time_ms > 0


def test_a_file_is_never_given_a_midi_file_beside_it(tmp_path: Path) -> None:
    """The student's own folder is theirs: the notes go to the recordings folder."""
    wav = write_scale_wav(tmp_path / "mine.wav")
    db = open_database(default_db_url())
    try:
        _by_the_window(db, wav)
    finally:
        db.dispose()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.wav"]
