"""A take whose scoring fails is still stored: the recording is on disk and must be listed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio.settings import AnalysisSettings
from desktop import ops
from storage.db import open_database
from storage.profiles import ensure_default_profile
from storage.sessions import create_session, get_complete_session_data


@pytest.fixture
def take_setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = open_database(f"sqlite:///{tmp_path / 'e.db'}")
    with db.transaction() as s:
        uid = ensure_default_profile(s).id
        sid = create_session(s, uid, piece_name="Scale").id
    audio = tmp_path / "take.flac"
    sf.write(str(audio), np.zeros(48000, dtype=np.float32), 48000, subtype="PCM_24")
    take = ops.TakeToSave(
        session_id=sid, audio_path=audio, notes=(), onsets=(), duration_s=1.0, sample_rate=48000
    )
    yield db, sid, take
    db.dispose()


def test_a_take_whose_scoring_crashes_is_stored_without_scores(take_setup, monkeypatch):
    db, sid, take = take_setup
    import audio.scoring

    def broken(*args, **kwargs):  # a defect in the scoring code, injected
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(audio.scoring, "score_take", broken)
    with db.transaction() as s:
        saved = ops.save_take(s, take, AnalysisSettings())
    assert saved["analysis"] is None and "float division by zero" in saved["problem"]
    with db.sessionmaker() as s:
        (row,) = get_complete_session_data(s, sid).performances
    assert row.performance.audio_path == str(take.audio_path)
    assert "could not be scored" in (row.performance.notes or "")
    assert row.analysis_results == ()


def test_scores_the_database_refuses_still_leave_the_take_stored(take_setup, monkeypatch):
    db, sid, take = take_setup

    real = ops.score_take_values

    def out_of_range(*args, **kwargs):  # a rounding slip past 1.0 in a score
        values = real(*args, **kwargs)
        values["pitch_accuracy"] = 1.0000000002
        return values

    monkeypatch.setattr(ops, "score_take_values", out_of_range)
    with db.transaction() as s:
        saved = ops.save_take(s, take, AnalysisSettings())
    assert saved["analysis"] is None and "pitch_accuracy" in saved["problem"]
    with db.sessionmaker() as s:
        perfs = get_complete_session_data(s, sid).performances
    assert len(perfs) == 1 and perfs[0].analysis_results == ()


def test_the_page_says_a_take_was_saved_without_scores(qtbot, main_window, tmp_path, monkeypatch):
    import audio.scoring
    from tests.desktop.conftest import wait_idle

    monkeypatch.setattr(
        audio.scoring, "score_take", lambda *a, **k: (_ for _ in ()).throw(ValueError("bad"))
    )
    ctx = main_window.ctx
    with ctx.database.transaction() as s:
        sid = create_session(s, ctx.profile.id).id
    audio_file = tmp_path / "t.flac"
    sf.write(str(audio_file), np.zeros(4800, dtype=np.float32), 48000, subtype="PCM_24")
    take = ops.TakeToSave(
        session_id=sid,
        audio_path=audio_file,
        notes=(),
        onsets=(),
        duration_s=0.1,
        sample_rate=48000,
    )
    page = main_window.practice
    with qtbot.waitSignal(page.take_saved, timeout=10_000):
        ctx.db.submit(
            "save", lambda s: ops.save_take(s, take, AnalysisSettings()), page._take_stored
        )
    wait_idle(qtbot, ctx)
    text = page.messages.text()
    assert "t.flac was saved in your history" in text and "could not be scored (bad)" in text
