"""A take whose scoring fails is still stored: the recording is on disk and must be listed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio.settings import AnalysisSettings
from desktop.usecases import takes
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
    take = takes.TakeToSave(
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
        saved = takes.save_live_take(s, take, AnalysisSettings())
    assert saved.analysis is None and "float division by zero" in saved.problem
    with db.sessionmaker() as s:
        (row,) = get_complete_session_data(s, sid).performances
    assert row.performance.audio_path == str(take.audio_path)
    assert "could not be scored" in (row.performance.notes or "")
    assert row.analysis_results == ()


def test_scores_the_database_refuses_still_leave_the_take_stored(take_setup, monkeypatch):
    db, sid, take = take_setup

    real = takes.score_live_take

    def out_of_range(*args, **kwargs):  # a rounding slip past 1.0 in a score
        values = real(*args, **kwargs)
        values["pitch_accuracy"] = 1.0000000002
        return values

    monkeypatch.setattr(takes, "score_live_take", out_of_range)
    with db.transaction() as s:
        saved = takes.save_live_take(s, take, AnalysisSettings())
    assert saved.analysis is None and "pitch_accuracy" in saved.problem
    with db.sessionmaker() as s:
        perfs = get_complete_session_data(s, sid).performances
    assert len(perfs) == 1 and perfs[0].analysis_results == ()


def test_the_page_says_a_take_was_saved_without_scores(qtbot, main_window, monkeypatch):
    import audio.scoring
    from tests.desktop.conftest import wait_idle
    from tests.desktop.helpers import record_a_take

    monkeypatch.setattr(
        audio.scoring, "score_take", lambda *a, **k: (_ for _ in ()).throw(ValueError("bad"))
    )
    page = main_window.practice
    record_a_take(qtbot, page)
    with qtbot.waitSignal(page.take_saved, timeout=10_000) as saved:
        page.stop_take()
    page.stop_practice()
    wait_idle(qtbot, main_window.ctx)
    name = saved.args[0].label  # "Take 1 · 14:05", not the file's name
    assert name.startswith("Take 1 · ")
    assert saved.args[0].analysis is None
    text = page.messages.text()
    assert f"{name} was saved in your history" in text and "could not be scored (bad)" in text
