"""Sound the app makes, heard back through the null sink: metronome clicks and take playback."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import soundfile as sf

from audio.sources import MicrophoneSource
from audio.worker import AnalysisWorker
from desktop.takes import play_file
from desktop.widgets.metronome import ClickStream
from tests.audio.nullsink import PORTAUDIO_DEVICE, private_null_sink, require_null_sink

pytestmark = pytest.mark.mic


def _listen(seconds: float, action) -> list[float]:
    """Times (s) where the level heard on a private null sink rises above -30 dBFS while
    ``action`` plays into it (level, not the note onset detector: a click has no pitch). The
    private sink keeps out sound that other tests play into the shared one at the same time."""
    with private_null_sink("etude_desktop_out") as sink:
        old = os.environ.get("PULSE_SINK")
        os.environ["PULSE_SINK"] = sink  # libpulse's default output for streams opened now
        try:
            worker = AnalysisWorker(MicrophoneSource(PORTAUDIO_DEVICE, sample_rate=48000))
            worker.start()
            time.sleep(0.3)
            stop = action()
            time.sleep(seconds)
            stop()
            time.sleep(0.2)
            result = worker.stop()
        finally:
            if old is None:
                os.environ.pop("PULSE_SINK", None)
            else:
                os.environ["PULSE_SINK"] = old
    assert result.error is None
    t = np.array([f.t_s for f in result.frames])
    loud = np.array([f.level_db for f in result.frames]) > -30.0
    rises = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    return [float(x) for x in t[rises]]


def test_the_metronome_clicks_are_heard_at_the_tempo():
    require_null_sink()
    click = ClickStream(bpm=120.0)

    def start():
        click.start()
        return click.stop

    onsets = _listen(3.0, start)
    gaps = np.diff(onsets)
    assert len(onsets) >= 5, onsets
    # 120 BPM = a click every 0.5 s; the output clock and the input clock are the same sink.
    assert np.median(gaps) == pytest.approx(0.5, abs=0.02), gaps


def test_a_take_plays_back_on_the_output(tmp_path):
    require_null_sink()
    sr = 48000
    t = np.arange(int(0.3 * sr)) / sr
    burst = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    signal = np.concatenate([burst, np.zeros(int(0.5 * sr), np.float32), burst])
    path = tmp_path / "take.wav"
    sf.write(str(path), signal, sr)

    def start():
        import sounddevice as sd

        assert play_file(path) == pytest.approx(len(signal) / sr)
        return sd.stop

    onsets = _listen(1.5, start)
    assert len(onsets) >= 2, onsets
    assert onsets[1] - onsets[0] == pytest.approx(0.8, abs=0.05)


def test_a_count_in_clicks_one_bar_then_stays_silent():
    require_null_sink()
    click = ClickStream(bpm=240.0, max_beats=4)  # a beat every 0.25 s

    def start():
        click.start()
        return click.stop

    onsets = _listen(2.5, start)
    # Four clicks 0.25 s apart, then nothing for the rest of the 2.5 s.
    assert len(onsets) == 4, onsets
    assert np.diff(onsets) == pytest.approx([0.25] * 3, abs=0.02)
