"""The practice window when the microphone is pulled out under PulseAudio: the take is closed
at the pull and saved, the student is told, and listening starts again once the microphone is
plugged back in. Real parts: the window, PortAudio, a PulseAudio daemon of the test's own whose
"microphone" (a null sink's monitor) is unloaded mid-take (tests/audio/nullsink.py)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from audio.sources import MicrophoneSource
from tests.audio.nullsink import (
    PORTAUDIO_DEVICE,
    play_tone,
    plug_in,
    pull_out,
    pullable_microphone,
    setup_null_sink,
)
from tests.conftest import need
from tests.desktop.conftest import wait_idle

pytestmark = pytest.mark.mic


def test_a_pulled_microphone_saves_the_take_up_to_the_pull_and_listens_again_when_back(
    qtbot: Any, main_window: Any, tmp_path: Path
) -> None:
    need(shutil.which("pulseaudio") is not None, "pulseaudio is not installed")
    reason = setup_null_sink()
    need(reason is None, reason or "")
    page = main_window.practice
    page.source_factory = lambda prefs: MicrophoneSource(PORTAUDIO_DEVICE)
    with pullable_microphone(tmp_path) as env:
        tone = play_tone(env, tmp_path)
        try:
            with qtbot.waitSignal(page.practice_started, timeout=15_000):
                assert page.start_practice()
            qtbot.waitUntil(lambda: page.controller.position_s >= 0.3, timeout=10_000)
            assert page.start_take()
            taken_at = time.perf_counter()
            qtbot.waitUntil(lambda: page.controller.position_s >= 1.8, timeout=10_000)
            with qtbot.waitSignal(page.take_saved, timeout=20_000) as saved:
                pulled_at = time.perf_counter()
                pull_out(env)
            stored = saved.args[0]
            text = page.messages.text()
            assert "disconnected" in text and "saved" in text and "plugged back in" in text
            assert not page.is_live
            audio, sr = sf.read(stored.performance.audio_path, dtype="float32")
            assert pulled_at - taken_at - 0.25 <= audio.shape[0] / sr <= pulled_at - taken_at + 0.5
            assert stored.performance.recording_duration == pytest.approx(
                audio.shape[0] / sr, abs=0.02
            )
            loud = np.nonzero(np.abs(audio) >= 1e-4)[0]
            assert audio.shape[0] - (loud[-1] + 1) < int(0.005 * sr), "silence was appended"

            # Plugged back in: the window listens again by itself, and says so.
            plug_in(env)
            qtbot.waitUntil(lambda: page.controller.is_listening, timeout=15_000)
            assert "back" in page.messages.text()
            page.stop_practice()
            wait_idle(qtbot, main_window.ctx)
        finally:
            tone.kill()
            tone.wait(5)
