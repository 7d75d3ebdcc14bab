"""The input check in the practice window: a one-line notice while something is wrong with the
input, and a take too poor to tell notes apart stored and shown as not measurable, with why.
Real analysis worker on a real-time synthetic source, real take file, real SQLite rows."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from audio.sources import SyntheticSource
from desktop.usecases.plan import SessionPlan
from desktop.usecases.takes import SavedTake
from storage.sessions import get_complete_session_data
from tests.audio import signals as sg
from tests.desktop.conftest import wait_idle
from tests.desktop.helpers import SR, scale_signal


def _source(signal: np.ndarray) -> SyntheticSource:
    return SyntheticSource(signal=signal.astype(np.float32), sample_rate=SR, realtime=True)


def test_hum_shows_a_one_line_notice_with_what_to_do(qtbot, main_window):
    page = main_window.practice
    x = scale_signal(6.0)
    hum = sg.mains_hum(x.size / SR, 50.0, -34.0, sr=SR)
    page.set_plan(SessionPlan(piece_name="Scale", genre=None, target_tempo_bpm=None))
    page.source_factory = lambda prefs: _source(x + hum[: x.size])
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    assert page.input_notice.isHidden()
    qtbot.waitUntil(lambda: not page.input_notice.isHidden(), timeout=15_000)
    text = page.input_notice.text()
    assert text.startswith("Mains hum at 50 Hz: a ground loop.")
    assert "USB port" in text
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000):
        page.end_session()
    wait_idle(qtbot, main_window.ctx)


def test_a_take_too_quiet_to_tell_notes_apart_is_stored_and_shown_as_not_measurable(
    qtbot, main_window
):
    page = main_window.practice
    # the playing 60 dB under where it should be: about -70 dBFS, near the interface's noise
    x = scale_signal(4.0) * np.float32(10 ** (-60 / 20))
    x = x + sg.noise(x.size / SR, -100.0, sr=SR)[: x.size]
    page.set_plan(SessionPlan(piece_name="Scale", genre=None, target_tempo_bpm=100))
    page.source_factory = lambda prefs: _source(x)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    assert page.start_take()
    qtbot.waitUntil(lambda: page.controller.position_s >= 3.6, timeout=15_000)
    with qtbot.waitSignal(page.take_saved, timeout=20_000) as saved_sig:
        page.stop_take()
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000):
        page.end_session()
    wait_idle(qtbot, main_window.ctx)

    saved: SavedTake = saved_sig.args[0]
    with main_window.ctx.database.sessionmaker() as s:
        data = get_complete_session_data(s, saved.performance.session_id)
    (analysis,) = data.performances[0].analysis_results
    for field in ("pitch_accuracy", "rhythm_accuracy", "overall_score", "timing_consistency"):
        assert getattr(analysis, field) is None, field
    fb = json.loads(analysis.feedback_json)
    assert "far too quiet" in fb["not_measurable"]
    assert fb["input"]["measurable"] is False
    assert fb["per_note"] == []
    # The card says so, in plain words, and shows no score.
    shown = page.card.feedback.text()
    assert "Not measurable:" in shown and "far too quiet" in shown
    assert page.card.value_labels["pitch_accuracy"].text() == "n/a"


@pytest.mark.mic
def test_the_settings_level_test_names_hum_heard_through_the_null_sink_microphone(
    qtbot, main_window, tmp_path
):
    from tests.audio.nullsink import PORTAUDIO_DEVICE, SINK, play, require_null_sink

    require_null_sink()
    x = scale_signal(6.0)
    wav = tmp_path / "hum.wav"
    sf.write(str(wav), x + sg.mains_hum(x.size / SR, 60.0, -30.0, sr=SR)[: x.size], SR)
    # "pulse" is one of the names of the system default, which the list names once; a
    # student's earlier explicit choice of it stays listed, as here.
    ctx = main_window.ctx
    ctx.prefs = replace(ctx.prefs, input_device=PORTAUDIO_DEVICE)
    dialog = main_window.settings_dialog()
    qtbot.addWidget(dialog)
    i = dialog.device.findData(PORTAUDIO_DEVICE)
    assert i >= 0, "the PulseAudio input is listed"
    dialog.device.setCurrentIndex(i)
    assert dialog.start_level_test()
    player = play(wav, SINK)
    try:
        qtbot.waitUntil(lambda: "Mains hum at 60 Hz" in dialog.input_check.text(), timeout=15_000)
    finally:
        player.wait(15)
        dialog.stop_level_test()
    assert dialog.input_check.text() == ""
