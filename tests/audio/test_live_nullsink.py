"""Live end to end: a WAV played into a PulseAudio null sink is recorded by PortAudio through
the real MicrophoneSource, analysed by the real worker + StreamAnalyzer, and recorded as a take.

Tests that assert what was heard play into a private null sink of their own (same daemon, same
ALSA "pulse" device, its monitor chosen with PULSE_SOURCE), so sound other tests play into the
shared ``etude_null`` at the same moment cannot leak in. The default-source path itself
(``etude_null.monitor`` as the system's default input) is checked separately.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio.ringbuffer import SampleRing
from audio.sources import (
    AudioUnavailableError,
    FileSource,
    MicrophoneSource,
    SynthNote,
    list_input_devices,
    render_notes,
    resolve_input_device,
)
from audio.worker import AnalysisWorker
from tests.audio.nullsink import (
    PORTAUDIO_DEVICE,
    SOURCE,
    play,
    private_null_sink,
    require_null_sink,
)

pytestmark = pytest.mark.mic

SR = 48000
MELODY = [60, 62, 64, 67, 69, 72]  # C4 D4 E4 G4 A4 C5
STARTS = [0.3 + 0.45 * i for i in range(len(MELODY))]


def _melody_wav(folder: Path) -> Path:
    notes = [SynthNote(m, s, 0.35, amplitude=0.4) for m, s in zip(MELODY, STARTS, strict=True)]
    path = folder / "melody.wav"
    sf.write(path, render_notes(notes, SR, tail_s=0.3), SR, subtype="PCM_16")
    return path


def test_notes_played_into_the_null_sink_are_found_live_and_recorded(tmp_path: Path) -> None:
    require_null_sink()
    wav = _melody_wav(tmp_path)
    take = tmp_path / "take.flac"
    with private_null_sink(f"etude_test_{os.getpid()}") as sink:
        worker = AnalysisWorker(MicrophoneSource(PORTAUDIO_DEVICE, sample_rate=SR))
        worker.start()
        drained = []
        time.sleep(0.3)
        worker.start_take(take)
        player = play(wav, sink)
        while player.poll() is None:  # the GUI's timer: drain while the music plays
            time.sleep(0.05)
            drained.extend(worker.outbox.drain())
        assert player.returncode == 0, player.stderr.read() if player.stderr else ""
        time.sleep(0.4)
        assert worker.stop_take() == take
        result = worker.stop()
        drained.extend(worker.outbox.drain())

    assert result.error is None
    assert result.overflows == 0
    notes = result.notes
    assert [n.target_midi for n in notes] == MELODY, [(n.onset_s, n.midi) for n in notes]
    assert all(abs(n.cents) < 10 for n in notes)
    # Onsets on the stream's clock are shifted by when paplay started; the spacing is the truth.
    onsets = np.array([n.onset_s for n in notes])
    assert np.max(np.abs((onsets - onsets[0]) - (np.array(STARTS) - STARTS[0]))) < 0.03
    # The GUI saw the same notes, and every record carries the capture time of its audio.
    assert [r for r in drained if type(r).__name__ == "Note"] == notes
    now = time.perf_counter()
    assert all(0 < r.capture_time_s <= now for r in drained)
    assert worker.position_s == pytest.approx(result.duration_s)

    # The take on disk holds the same music: analysing it finds the same melody.
    assert take.exists() and not take.with_name("take.flac.part").exists()
    span = result.takes[0]
    assert sf.info(take).duration == pytest.approx(span.end_s - span.start_s, abs=0.01)
    again = AnalysisWorker(FileSource(take))
    again.start()
    assert again.wait_finished(20)
    assert [n.target_midi for n in again.stop().notes] == MELODY


def test_the_default_input_is_the_null_sink_and_delivers_audio_in_real_time() -> None:
    require_null_sink()
    default = subprocess.run(
        ["pactl", "get-default-source"], capture_output=True, text=True, check=True
    )
    assert default.stdout.strip() == SOURCE
    src = MicrophoneSource(None, sample_rate=SR, block_frames=256)  # the system default
    ring = SampleRing(SR * 4)
    src.start(ring)
    time.sleep(1.0)
    src.stop()
    assert src.error is None and src.device_info is not None and src.device_info.is_default
    # A microphone, not a file: about one second of audio in one second, nothing dropped.
    assert 0.8 * SR <= ring.available <= 1.2 * SR
    assert ring.overflows == 0


def test_the_null_sink_microphone_is_listed_and_chosen_by_name() -> None:
    require_null_sink()
    devices = list_input_devices()
    names = [d.name for d in devices]
    assert PORTAUDIO_DEVICE in names
    dev = resolve_input_device(PORTAUDIO_DEVICE)
    assert dev.host_api == "ALSA" and dev.channels >= 1
    assert resolve_input_device(dev.index) == dev
    with pytest.raises(AudioUnavailableError, match="No input device is called 'no such mic'"):
        resolve_input_device("no such mic")
    with pytest.raises(AudioUnavailableError, match="no input device number 999"):
        resolve_input_device(999)


def test_a_stereo_microphone_is_mixed_to_mono_in_the_callback(tmp_path: Path) -> None:
    require_null_sink()
    wav = tmp_path / "a4.wav"
    sf.write(wav, render_notes([SynthNote(69, 0.05, 0.6, amplitude=0.5)], SR), SR)
    src = MicrophoneSource(PORTAUDIO_DEVICE, sample_rate=SR, channels=2)
    ring = SampleRing(SR * 4)
    with private_null_sink(f"etude_test_{os.getpid()}") as sink:
        src.start(ring)
        try:
            player = play(wav, sink)
            player.wait(10)
            time.sleep(0.2)
        finally:
            src.stop()
    assert src.error is None and src.finished
    got = ring.read_rest()
    assert got is not None
    audio = got[0]
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.shape[0])))
    peak_hz = np.argmax(spectrum) * SR / audio.shape[0]
    assert abs(peak_hz - 440.0) < 3.0
    assert 0.2 < np.max(np.abs(audio)) < 0.6


def test_a_consumer_that_stops_reading_makes_the_callback_drop_and_count_not_block() -> None:
    require_null_sink()
    src = MicrophoneSource(PORTAUDIO_DEVICE, sample_rate=SR, block_frames=256)
    ring = SampleRing(1024)
    src.start(ring)
    time.sleep(0.5)  # about 90 blocks arrive; only 4 fit
    src.stop()
    assert src.error is None
    assert ring.available == 1024
    assert ring.dropped_blocks >= 40
    assert ring.dropped_samples == 256 * ring.dropped_blocks
    assert ring.overflows >= ring.dropped_blocks
