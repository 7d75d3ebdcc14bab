"""Takes on disk: normal close, refusal of bad input, and recovery after a real kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio.recorder import (
    DISK_FULL,
    RecorderError,
    RepairPostponed,
    TakeRecorder,
    repair_partial_takes,
)
from tests.conftest import fill_disk
from tests.desktop.helpers import crashed_take

SR = 48000
REPO = Path(__file__).resolve().parents[2]


def _tone(seconds: float) -> np.ndarray:
    n = int(seconds * SR)
    return (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(n) / SR)).astype(np.float32)


@pytest.mark.parametrize("fmt", ["FLAC", "WAV"])
def test_a_closed_take_has_every_sample_under_its_final_name(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"take.{fmt.lower()}"
    rec = TakeRecorder(path, SR, fmt)  # type: ignore[arg-type]
    assert rec.part_path.exists() and not path.exists()
    sig = _tone(1.3)
    for i in range(0, sig.shape[0], 256):
        rec.write(sig[i : i + 256])
    assert rec.close() == path
    assert not rec.part_path.exists()
    data, sr = sf.read(path, dtype="float32")
    assert sr == SR and data.shape == sig.shape
    assert np.max(np.abs(data - sig)) < 1e-6  # 24-bit: quantisation only
    with pytest.raises(RecorderError, match="closed"):
        rec.write(sig[:10])


def test_bad_arguments_are_refused_and_create_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        TakeRecorder(tmp_path / "a.mp3", SR, "MP3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not exist"):
        TakeRecorder(tmp_path / "nope" / "a.flac", SR)
    with pytest.raises(ValueError, match="sample_rate"):
        TakeRecorder(tmp_path / "a.flac", 10)
    (tmp_path / "kept.flac").write_bytes(b"the student's earlier take")
    with pytest.raises(ValueError, match="already exists"):
        TakeRecorder(tmp_path / "kept.flac", SR)
    assert (tmp_path / "kept.flac").read_bytes() == b"the student's earlier take"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.flac"]


RECORDING_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from audio.recorder import TakeRecorder
    path, fmt = sys.argv[1], sys.argv[2]
    sr = 48000
    sig = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(sr * 30) / sr)).astype(np.float32)
    rec = TakeRecorder(path, sr, fmt)
    t0 = time.perf_counter()
    for i in range(0, sig.shape[0], 256):
        rec.write(sig[i : i + 256])
        print(i + 256, flush=True)  # samples handed to the recorder so far
        delay = t0 + (i + 256) / sr - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    """
)


@pytest.mark.parametrize("fmt", ["FLAC", "WAV"])
def test_a_take_killed_mid_recording_is_repaired_up_to_the_last_second(
    tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"take.{fmt.lower()}"
    child = subprocess.Popen(
        [sys.executable, "-c", RECORDING_CHILD, str(path), fmt],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout is not None
    handed = 0
    deadline = time.monotonic() + 20
    while handed < int(2.5 * SR) and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        handed = int(line)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert handed >= int(2.5 * SR), "the recording child did not get going"
    assert not path.exists() and path.with_name(path.name + ".part").exists()

    recovered = repair_partial_takes(tmp_path)

    assert recovered == [tmp_path / f"take.recovered.{fmt.lower()}"]
    data, sr = sf.read(recovered[0], dtype="float32")
    assert sr == SR
    # Flushed at least once a second: all but about the last second survives the kill.
    assert data.shape[0] >= handed - int(1.2 * SR)
    assert data.shape[0] <= handed
    assert np.max(np.abs(data - _tone(30)[: data.shape[0]])) < 1e-6
    assert not list(tmp_path.glob("*.part"))
    if fmt == "FLAC":  # the damaged original is kept, never deleted
        assert (tmp_path / "take.flac.part.orig").exists()
    # Repair is idempotent: nothing left to do the second time.
    assert repair_partial_takes(tmp_path) == []


def test_a_part_another_process_is_writing_is_left_alone_until_that_process_dies(
    tmp_path: Path,
) -> None:
    """Start-up recovery of a second Etude (another process) must never touch a take the first
    is recording; once that process is killed, the take is repaired as usual."""
    path = tmp_path / "take.flac"
    child = subprocess.Popen(
        [sys.executable, "-c", RECORDING_CHILD, str(path), "FLAC"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert child.stdout is not None
    try:
        handed = 0
        deadline = time.monotonic() + 20
        while handed < int(1.5 * SR) and time.monotonic() < deadline:
            handed = int(child.stdout.readline() or 0) or handed
        part = path.with_name(path.name + ".part")
        assert part.stat().st_size > 0, "the recording child did not get going"
        for _ in range(3):
            assert repair_partial_takes(tmp_path) == []
            assert part.exists() and not list(tmp_path.glob("*.recovered.*"))
            assert not list(tmp_path.glob("*.unreadable")) and not list(tmp_path.glob("*.orig"))
            time.sleep(0.3)
        assert child.poll() is None  # still recording, undisturbed
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    recovered = repair_partial_takes(tmp_path)
    assert recovered == [tmp_path / "take.recovered.flac"]
    assert sf.info(str(recovered[0])).frames >= int(0.5 * SR)
    # The dead recorder's lock file goes with its .part: nothing is left to confuse a later run.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "take.flac.part.orig",
        "take.recovered.flac",
    ]


def test_a_part_with_no_audio_is_set_aside_not_deleted(tmp_path: Path) -> None:
    junk = tmp_path / "x.flac.part"
    junk.write_bytes(b"not audio at all")
    assert repair_partial_takes(tmp_path) == []
    assert (tmp_path / "x.flac.part.unreadable").read_bytes() == b"not audio at all"
    with pytest.raises(ValueError, match="not a folder"):
        repair_partial_takes(tmp_path / "missing")


def test_a_wav_part_cut_inside_its_header_is_set_aside_and_others_still_recovered(
    tmp_path: Path,
) -> None:
    # A WAV whose header still says "no data" (sizes written only on close) ...
    whole = tmp_path / "whole.wav"
    sf.write(whole, _tone(0.5), SR, subtype="PCM_24")
    raw = bytearray(whole.read_bytes())
    data_at = raw.index(b"data")
    raw[4:8] = raw[data_at + 4 : data_at + 8] = b"\0\0\0\0"
    whole.unlink()
    (tmp_path / "good.wav.part").write_bytes(raw)
    # ... and one killed before its header was complete.
    (tmp_path / "cut.wav.part").write_bytes(raw[:20])

    recovered = repair_partial_takes(tmp_path)

    assert recovered == [tmp_path / "good.recovered.wav"]
    data, _ = sf.read(recovered[0], dtype="float32")
    assert np.max(np.abs(data - _tone(0.5))) < 1e-6
    assert (tmp_path / "cut.wav.part.unreadable").read_bytes() == raw[:20]


@pytest.mark.parametrize("fmt", ["FLAC", "WAV"])
def test_a_part_still_being_recorded_is_not_repaired(tmp_path: Path, fmt: str) -> None:
    """A second Etude starting (or a repair run) while a take records must leave that take's
    .part alone: the recorder is still writing it and renames it when the take ends."""
    ext = ".flac" if fmt == "FLAC" else ".wav"
    rec = TakeRecorder(tmp_path / f"take{ext}", 48000, fmt)  # type: ignore[arg-type]
    x = (0.2 * np.sin(np.arange(48000) * 0.05)).astype(np.float32)
    rec.write(x)
    time.sleep(0.7)  # past a flush: the .part holds readable audio a repair could take
    assert repair_partial_takes(tmp_path) == []
    # The recorder's lock lives beside the .part (filelock never locks the audio file itself).
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"take{ext}.part", f"take{ext}.part.lock"]
    rec.write(x)
    final = rec.close()
    data, sr = sf.read(str(final), dtype="float32")
    assert sr == 48000 and data.shape[0] == 2 * 48000
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"take{ext}"]


def test_a_full_disk_postpones_a_repair_and_never_makes_the_take_unreadable(
    small_disk: Path,
) -> None:
    """The repaired FLAC needs new space; on a full disk the .part must stay exactly as it was,
    with the reason, at every run, and be repaired once space is freed."""
    part = crashed_take(small_disk / "take.flac", seconds=4.0, fmt="FLAC")  # a real SIGKILL
    raw = part.read_bytes()
    filler = fill_disk(small_disk)

    for _ in range(2):  # every start tries again, and changes nothing while the disk is full
        postponed: list[RepairPostponed] = []
        assert repair_partial_takes(small_disk, postponed.append) == []
        assert [(p.part, p.reason) for p in postponed] == [(part, DISK_FULL)]
        assert part.read_bytes() == raw
        assert sorted(p.name for p in small_disk.iterdir()) == ["filler.bin", "take.flac.part"]

    filler.unlink()
    postponed = []
    recovered = repair_partial_takes(small_disk, postponed.append)
    assert postponed == [] and recovered == [small_disk / "take.recovered.flac"]
    data, _ = sf.read(recovered[0], dtype="float32")
    # What the killed take had flushed, less the FLAC encoder's last unfinished block.
    assert int(3.5 * SR) <= data.shape[0] <= int(4.0 * SR)
    assert np.max(np.abs(data - 0.1)) < 1e-6
    assert (small_disk / "take.flac.part.orig").read_bytes() == raw


def test_a_wav_part_is_repaired_in_place_even_on_a_full_disk(small_disk: Path) -> None:
    whole = small_disk / "w.wav"
    sf.write(whole, _tone(1.0), SR, subtype="PCM_24")
    raw = bytearray(whole.read_bytes())
    whole.unlink()
    data_at = raw.index(b"data")
    raw[4:8] = raw[data_at + 4 : data_at + 8] = b"\0\0\0\0"  # sizes are written on close
    (small_disk / "w.wav.part").write_bytes(raw)
    fill_disk(small_disk)
    assert repair_partial_takes(small_disk) == [small_disk / "w.recovered.wav"]
    data, _ = sf.read(small_disk / "w.recovered.wav", dtype="float32")
    assert np.max(np.abs(data - _tone(1.0))) < 1e-6
