"""Known-answer audio for the desktop flows (rendered by audio.sources.render_notes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from audio.sources import SyntheticSource, SynthNote, render_notes

SR = 48000
SCALE = (60, 62, 64, 65, 67, 69, 71, 72)
# Two notes (E4 and A4) are played 35 cents sharp: six of eight are within ±25 cents.
SHARP = {64: 35.0, 69: 35.0}
NOTE_SPACING_S = 0.3
FIRST_ONSET_S = 0.4


def scale_notes() -> list[SynthNote]:
    return [
        SynthNote(
            midi=m,
            start_s=FIRST_ONSET_S + i * NOTE_SPACING_S,
            dur_s=0.25,
            amplitude=0.4,
            cents=SHARP.get(m, 0.0),
        )
        for i, m in enumerate(SCALE)
    ]


def scale_signal(total_s: float = 3.6) -> np.ndarray:
    x = render_notes(scale_notes(), SR)
    out = np.zeros(int(total_s * SR), dtype=np.float32)
    out[: min(len(x), len(out))] = x[: len(out)]
    return out


def scale_source(fail_after_s: float | None = None, total_s: float = 3.6) -> SyntheticSource:
    return SyntheticSource(
        signal=scale_signal(total_s), sample_rate=SR, realtime=True, fail_after_s=fail_after_s
    )


def write_scale_wav(path: Path) -> Path:
    sf.write(str(path), scale_signal(), SR, subtype="PCM_16")
    return path


# A process that records a take with the real TakeRecorder, says so once everything it wrote has
# been flushed to disk, and then waits to be killed.
_RECORDING_CHILD = """
import sys, time
import numpy as np
from audio.recorder import TakeRecorder
path, fmt, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
rec = TakeRecorder(path, 48000, fmt)
rec.write(np.full(frames, 0.1, dtype=np.float32))
while rec.frames_flushed < frames:
    time.sleep(0.05)
print("flushed", flush=True)
time.sleep(600)
"""


def crashed_take(path: Path, seconds: float = 0.5, fmt: str = "WAV") -> Path:
    """Record ``seconds`` of audio to ``path`` in a real process and kill it (SIGKILL) mid-take,
    as a crash or ``kill -9`` would: what is left is ``<path>.part``, which is returned. The
    kernel drops the dead recorder's lock on it, as after any real crash."""
    import os
    import signal
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", _RECORDING_CHILD, str(path), fmt, str(int(seconds * SR))],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "flushed", f"the recording process did not get going: {line!r}"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    part = path.with_name(path.name + ".part")
    assert part.is_file() and not path.exists()
    return part


def record_a_take(qtbot: Any, page: Any, seconds: float = 1.0, total_s: float = 30.0) -> None:
    """Start practice on the scale (``total_s`` of it, in real time) and record a take until
    ``seconds`` of input have been analysed; the take is still recording on return."""
    page.source_factory = lambda prefs: scale_source(total_s=total_s)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    assert page.start_take()
    qtbot.waitUntil(lambda: page.controller.position_s >= seconds, timeout=10_000)
