"""A microphone pulled out under PulseAudio (or PipeWire): the server does not end the stream,
it moves it to another source, and the take went on recording that source's silence. Now the
move is noticed through the server, the take is closed at the pull and kept, and nothing of
the other source is appended.

Real parts: a PulseAudio daemon of the test's own with null sinks; the "microphone" is one
sink's monitor, pulled out by unloading its module (``pactl unload-module``) mid-take."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio.pulsewatch import source_present
from audio.sources import InputMovedError, MicrophoneSource
from audio.worker import AnalysisWorker
from tests.audio.nullsink import (
    PORTAUDIO_DEVICE,
    play_tone,
    plug_in,
    pull_out,
    pullable_microphone,
    setup_null_sink,
)
from tests.conftest import need

pytestmark = pytest.mark.mic
SR = 48000


def _silent_run_s(x: np.ndarray) -> float:
    """Length of the digital silence (|x| < 1e-4) at the end of ``x``, in seconds."""
    loud = np.nonzero(np.abs(x) >= 1e-4)[0]
    return (x.shape[0] - (loud[-1] + 1 if loud.size else 0)) / SR


def _wait_ended(worker: AnalysisWorker, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_pulled_microphone_closes_the_take_there_keeps_it_and_appends_no_silence(
    tmp_path: Path,
) -> None:
    need(shutil.which("pulseaudio") is not None, "pulseaudio is not installed")
    reason = setup_null_sink()  # the same prerequisites: PortAudio with the ALSA pulse plugin
    need(reason is None, reason or "")
    take = tmp_path / "take.wav"
    with pullable_microphone(tmp_path) as env:
        tone = play_tone(env, tmp_path)
        try:
            worker = AnalysisWorker(MicrophoneSource(PORTAUDIO_DEVICE), take_format="WAV")
            worker.start()
            time.sleep(0.5)
            worker.start_take(take)
            taken_at = time.perf_counter()
            time.sleep(1.5)
            pulled_at = time.perf_counter()
            pull_out(env)
            _wait_ended(worker)
            noticed_s = time.perf_counter() - pulled_at
            assert not worker.is_alive(), "the worker did not notice the microphone was pulled"
            result = worker.stop()

            # Told: the error says what happened, in the student's words, and names the source.
            assert isinstance(result.error, InputMovedError)
            assert "disconnected" in str(result.error) and "kept" in str(result.error)
            assert result.error.source_name == "etude_a.monitor"
            # Kept, up to the pull: the take's file holds the tone from its start to the pull.
            (span,) = result.takes
            assert span.path == take and take.is_file()
            data, sr = sf.read(take, dtype="float32")
            held_s = data.shape[0] / sr
            assert held_s == pytest.approx(span.end_s - span.start_s, abs=0.01)
            # From its start to the pull, less at most the cut's margin (audio of the take's
            # first moments may still have been in the buffers when it began: up to 0.5 s more
            # on a loaded machine). What follows the pull is the other source's silence, never
            # in the take: checked next.
            assert pulled_at - taken_at - 0.25 <= held_s <= pulled_at - taken_at + 0.5
            # And no silence appended: the tone runs to the very end of the take.
            assert _silent_run_s(data) < 0.005, f"{_silent_run_s(data):.3f} s of silence"
            assert float(np.sqrt(np.mean(data[-2400:] ** 2))) > 0.3
            assert noticed_s < 1.0
            assert not source_present("etude_a.monitor")

            # Plugged back in: the source is there again and records the student again.
            plug_in(env)
            assert source_present("etude_a.monitor")
            tone.kill()
            tone.wait(5)
            tone = play_tone(env, tmp_path)
            again = AnalysisWorker(MicrophoneSource(PORTAUDIO_DEVICE))
            again.start()
            time.sleep(1.0)
            second = again.stop()
            assert second.error is None
            assert any(abs(n.midi - 69) < 0.5 for n in second.notes), second.notes
        finally:
            tone.kill()
            tone.wait(5)
