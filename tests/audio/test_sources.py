"""Sources without a sound card: files, the synthesiser, argument checks, missing PortAudio."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio.ringbuffer import SampleRing
from audio.sources import FileSource, MicrophoneSource, SyntheticSource, SynthNote, render_notes

SR = 48000
REPO = Path(__file__).resolve().parents[2]


def _drain(src: FileSource | SyntheticSource, ring: SampleRing) -> np.ndarray:
    got = []
    while not (src.finished and ring.available == 0):
        ring.wait(0.05)
        rest = ring.read_rest()
        if rest is not None:
            got.append(rest[0])
    return np.concatenate(got)


@pytest.mark.parametrize(("fmt", "ext"), [("FLAC", "flac"), ("OGG", "ogg"), ("WAV", "wav")])
def test_a_stereo_file_arrives_whole_and_mixed_to_mono(tmp_path: Path, fmt: str, ext: str) -> None:
    t = np.arange(SR) / SR
    left = 0.4 * np.sin(2 * np.pi * 440 * t)
    right = 0.2 * np.sin(2 * np.pi * 660 * t)
    path = tmp_path / f"st.{ext}"
    sf.write(path, np.stack([left, right], axis=1), SR, format=fmt)
    src = FileSource(path, block_frames=300)
    assert (src.sample_rate, src.frames) == (SR, SR) and src.duration_s == pytest.approx(1.0)
    ring = SampleRing(2048)  # smaller than the file: the feeder must wait, not drop
    src.start(ring)
    audio = _drain(src, ring)
    src.stop()
    assert src.error is None and ring.dropped_blocks == 0
    assert audio.shape == (SR,)
    tol = 1e-3 if fmt != "OGG" else 0.05  # Vorbis is lossy
    assert np.max(np.abs(audio - (left + right) / 2)) < tol


def test_realtime_file_blocks_arrive_at_the_files_own_speed(tmp_path: Path) -> None:
    path = tmp_path / "half.wav"
    sf.write(path, np.zeros(SR // 2, dtype=np.float32), SR)
    src = FileSource(path, realtime=True)
    ring = SampleRing(SR)
    t0 = time.perf_counter()
    src.start(ring)
    _drain(src, ring)
    elapsed = time.perf_counter() - t0
    assert 0.45 < elapsed < 1.0


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"", "not a readable audio file"), (b"hello", "not a readable")],
)
def test_a_file_that_is_not_audio_is_refused_by_name(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "notes.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as err:
        FileSource(path)
    assert "notes.txt" in str(err.value)


def test_an_empty_wav_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(ValueError, match="contains no audio"):
        FileSource(path)


def test_the_synthesiser_plays_the_asked_pitch_and_timing() -> None:
    audio = render_notes([SynthNote(69, 0.5, 1.0, amplitude=0.5, cents=10)], SR, tail_s=0.5)
    assert audio.shape == (2 * SR,) and audio.dtype == np.float32
    assert np.max(np.abs(audio[: int(0.49 * SR)])) == 0.0
    assert np.max(np.abs(audio[int(0.6 * SR) : int(1.4 * SR)])) > 0.3
    seg = audio[int(0.6 * SR) : int(1.4 * SR)].astype(np.float64)
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.shape[0]), 8 * seg.shape[0]))
    peak = np.argmax(spec) * SR / (8 * seg.shape[0])
    assert peak == pytest.approx(440 * 2 ** (10 / 1200), abs=0.5)
    with pytest.raises(ValueError, match="dur_s"):
        render_notes([SynthNote(60, 0.0, 0.0)])


def test_synthetic_source_can_fail_like_an_unplugged_microphone() -> None:
    src = SyntheticSource(signal=np.ones(SR, dtype=np.float32), realtime=False, fail_after_s=0.25)
    ring = SampleRing(SR)
    src.start(ring)
    audio = _drain(src, ring)
    assert audio.shape == (SR // 4,)
    assert src.error is not None and "unplugged" in str(src.error)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_rate": 22050}, "44100 or 48000"),
        ({"block_frames": 8}, "block_frames"),
        ({"latency": "fast"}, "latency"),
        ({"latency": 3.0}, "latency"),
        ({"channels": 0}, "channels"),
    ],
)
def test_microphone_settings_are_checked_before_anything_opens(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        MicrophoneSource(**kwargs)  # type: ignore[arg-type]


def test_missing_portaudio_gives_a_student_readable_error() -> None:
    # sounddevice finds libportaudio through ctypes.util.find_library; make that lookup come up
    # empty in a child process, exactly what happens on a machine without the library.
    code = (
        "import ctypes.util; ctypes.util.find_library = lambda name: None\n"
        "from audio.sources import AudioUnavailableError, MicrophoneSource, list_input_devices\n"
        "from audio.ringbuffer import SampleRing\n"
        "for call in (list_input_devices, lambda: MicrophoneSource().start(SampleRing(4096))):\n"
        "    try:\n"
        "        call()\n"
        "    except AudioUnavailableError as exc:\n"
        "        print('OK', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 2, out.stdout + out.stderr
    assert all(line.startswith("OK Live audio is not available") for line in lines)
    assert "libportaudio2" in lines[0]
