"""Hear the piece: the practice page plays the reference through the real output (the null
sink), and what comes back through the null-sink microphone is the piece's notes in order."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from audio.reference import load_reference
from audio.sources import MicrophoneSource
from audio.worker import AnalysisWorker
from desktop.usecases.plan import SessionPlan
from tests.audio.nullsink import PORTAUDIO_DEVICE, private_null_sink, require_null_sink
from tests.desktop.conftest import wait_idle

pytestmark = pytest.mark.mic
SCALE_MID = Path(__file__).resolve().parents[2] / "resources" / "pieces" / "c_major_scale.mid"


def test_hear_the_piece_plays_the_reference_notes_at_the_target_tempo(qtbot, main_window):
    require_null_sink()
    page = main_window.practice
    assert not page.hear_button.isEnabled()  # no reference yet
    page.set_plan(SessionPlan(piece_name="Scale", target_tempo_bpm=200, reference_path=SCALE_MID))
    assert page.hear_button.isEnabled()
    ref = load_reference(SCALE_MID)
    with private_null_sink("etude_piece_out") as sink:
        old = os.environ.get("PULSE_SINK")
        os.environ["PULSE_SINK"] = sink  # the player's output stream opens on this sink
        try:
            worker = AnalysisWorker(MicrophoneSource(PORTAUDIO_DEVICE, sample_rate=48000))
            worker.start()
            qtbot.wait(300)
            with qtbot.waitSignal(page.player.started, timeout=10_000):
                page.hear_button.click()
            assert page.hear_button.text() == "Stop the piece"
            # The whole piece: 4 beats of lead-in + 15 quarter notes at 200 BPM, about 5.7 s.
            with qtbot.waitSignal(page.player.stopped, timeout=15_000):
                pass
            assert page.hear_button.text() == "Hear the piece"
            qtbot.wait(300)
            result = worker.stop()
        finally:
            if old is None:
                os.environ.pop("PULSE_SINK", None)
            else:
                os.environ["PULSE_SINK"] = old
    assert result.error is None
    heard = result.notes
    assert [n.target_midi for n in heard] == [n.midi for n in ref.notes]
    # At the target tempo: written at 80 BPM, played at 200, the notes come 2.5 times faster.
    gaps = np.diff([n.onset_s for n in heard])
    written = np.diff([n.onset_s for n in ref.notes])
    assert np.median(gaps / written) == pytest.approx(80 / 200, abs=0.03)
    wait_idle(qtbot, main_window.ctx)


def test_the_piece_stops_when_asked_and_when_practice_starts(qtbot, main_window):
    require_null_sink()
    from tests.desktop.helpers import scale_source

    page = main_window.practice
    page.set_plan(SessionPlan(piece_name="Scale", target_tempo_bpm=60, reference_path=SCALE_MID))
    with qtbot.waitSignal(page.player.started, timeout=10_000):
        page.hear_piece()
    playback = page.player.playback
    with qtbot.waitSignal(page.player.stopped, timeout=5_000):
        page.hear_button.click()
    wait_idle(qtbot, main_window.ctx)
    assert playback.finished and playback.position_s < playback.duration_s
    assert page.hear_button.text() == "Hear the piece"

    with qtbot.waitSignal(page.player.started, timeout=10_000):
        page.hear_piece()
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    with qtbot.waitSignal(page.player.stopped, timeout=5_000):
        assert page.start_practice()  # the microphone must not hear the piece
    assert not page.hear_button.isEnabled()
    page.end_session()
    wait_idle(qtbot, main_window.ctx)
