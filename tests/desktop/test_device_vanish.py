"""The microphone vanishes mid-take under the real app: real PortAudio on a throw-away PulseAudio
server that the test kills. The take is kept up to that moment and the student is told."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import soundfile as sf

from tests.audio.nullsink import PORTAUDIO_DEVICE, private_pulse_server, setup_null_sink
from tests.conftest import need
from tests.desktop.conftest import wait_idle

pytestmark = pytest.mark.mic


def test_microphone_vanishing_mid_take_keeps_the_take_and_says_so(qtbot, main_window, tmp_path):
    need(shutil.which("pulseaudio") is not None, "pulseaudio is not installed")
    reason = setup_null_sink()
    need(reason is None, reason or "")
    page = main_window.practice
    ctx = main_window.ctx
    ctx.prefs = replace(ctx.prefs, input_device=PORTAUDIO_DEVICE)
    with private_pulse_server(tmp_path / "pulse") as daemon:
        with qtbot.waitSignal(page.practice_started, timeout=10_000):
            assert page.start_practice(), page.messages.text()
        assert page.start_take()
        qtbot.wait(1200)
        with qtbot.waitSignal(page.take_saved, timeout=15_000) as saved:
            daemon.kill()  # the "microphone" is unplugged
        qtbot.waitUntil(lambda: not page.is_live, timeout=10_000)
    wait_idle(qtbot, ctx)
    text = page.messages.text()
    assert text.startswith("The input stopped:")
    assert "Your take was kept up to that moment and saved." in text
    perf = saved.args[0].performance
    audio = Path(perf.audio_path)
    assert audio.is_file() and not audio.with_name(audio.name + ".part").exists()
    duration = sf.info(str(audio)).duration
    assert 0.9 < duration < 2.0
    assert perf.recording_duration == pytest.approx(duration, abs=0.05)
    assert page.start_button.text().startswith("Continue")  # the session is kept, paused
