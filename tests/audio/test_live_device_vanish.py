"""A microphone that disappears mid-take: the sound server is killed under a live stream."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from audio.sources import AudioUnavailableError, MicrophoneSource
from audio.worker import AnalysisWorker
from tests.audio.nullsink import PORTAUDIO_DEVICE, private_pulse_server, setup_null_sink
from tests.conftest import need

pytestmark = pytest.mark.mic


def test_a_vanished_microphone_ends_the_take_cleanly_and_says_why(tmp_path: Path) -> None:
    need(shutil.which("pulseaudio") is not None, "pulseaudio is not installed")
    reason = setup_null_sink()  # same prerequisites: PortAudio with the ALSA pulse plugin
    need(reason is None, reason or "")
    take = tmp_path / "take.flac"
    with private_pulse_server(tmp_path) as daemon:
        worker = AnalysisWorker(MicrophoneSource(PORTAUDIO_DEVICE))
        worker.start()
        time.sleep(0.3)
        worker.start_take(take)
        time.sleep(1.0)
        daemon.kill()  # the "microphone" is gone
        deadline = time.monotonic() + 5
        while worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not worker.is_alive(), "the worker did not notice the device vanished"
        assert isinstance(worker.error, AudioUnavailableError)
        assert not worker.recording  # the worker ended the take itself
        result = worker.stop()

    assert "unplugged" in str(result.error)
    span = result.takes[0]
    assert span.path == take and not take.with_name("take.flac.part").exists()
    info = sf.info(take)
    assert info.duration == pytest.approx(span.end_s - span.start_s, abs=0.01)
    assert 0.8 < info.duration < 1.6


def test_a_microphone_that_goes_silent_without_an_error_is_noticed(tmp_path: Path) -> None:
    # A frozen sound server delivers nothing and reports nothing: the watchdog must notice.
    need(shutil.which("pulseaudio") is not None, "pulseaudio is not installed")
    reason = setup_null_sink()
    need(reason is None, reason or "")
    take = tmp_path / "take.wav"
    with private_pulse_server(tmp_path) as daemon:
        worker = AnalysisWorker(MicrophoneSource(PORTAUDIO_DEVICE), take_format="WAV")
        worker.start()
        time.sleep(0.3)
        worker.start_take(take)
        time.sleep(0.5)
        daemon.send_signal(signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 8
            while worker.is_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            alive = worker.is_alive()
        finally:
            daemon.send_signal(signal.SIGCONT)
        assert not alive, "the worker did not notice the stalled device"
        result = worker.stop()
    assert isinstance(result.error, AudioUnavailableError)
    assert "stopped sending sound" in str(result.error)
    assert 0.3 < sf.info(take).duration < 1.0


# The student's app, in a process of its own: records, the sound server freezes, the take is
# stopped (PortAudio's stop does not come back: the stream is abandoned), and the app quits.
QUIT_WHILE_FROZEN = """
import os, signal, sys, time
from audio.sources import MicrophoneSource
from audio.worker import AnalysisWorker
source = MicrophoneSource(sys.argv[2])
worker = AnalysisWorker(source)
worker.start()
time.sleep(0.5)
os.kill(int(sys.argv[1]), signal.SIGSTOP)
worker.stop()
print("abandoned" if source.abandoned_stream else "closed", flush=True)
"""


def test_the_app_quits_while_the_sound_server_is_frozen(tmp_path: Path) -> None:
    # Before: PortAudio's termination at exit closed the abandoned stream again from a second
    # thread and waited on the frozen server (and on a PortAudio thread cancelled inside the
    # ALSA pulse plugin) forever: the app, and the whole test suite, never ended.
    need(shutil.which("pulseaudio") is not None, "pulseaudio is not installed")
    reason = setup_null_sink()
    need(reason is None, reason or "")
    root = Path(__file__).resolve().parents[2]
    with private_pulse_server(tmp_path) as daemon:
        app = subprocess.Popen(
            [sys.executable, "-c", QUIT_WHILE_FROZEN, str(daemon.pid), PORTAUDIO_DEVICE],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            out, _ = app.communicate(timeout=60)
            code: int | None = app.returncode
        except subprocess.TimeoutExpired:
            app.kill()
            out, _ = app.communicate()
            code = None
        finally:
            daemon.send_signal(signal.SIGCONT)
    assert out.split() == ["abandoned"]  # the stop really was given up on
    assert code == 0, "the app did not quit within 60 s while the sound server was frozen"
