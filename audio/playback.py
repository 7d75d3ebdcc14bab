"""Playing samples on the default output with a position the window can follow and move: the
piece's preview, a take being replayed.

Threads: the PortAudio callback only copies the next block of the array and advances a counter
(under a lock, no allocation); ``position_s`` and ``seek`` are called from any other thread.
``start`` and ``stop`` open and close the device and may block: call them off the GUI thread.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt


class Playback:
    """Mono float32 ``samples`` at ``sample_rate_hz``, played once from ``start_s``."""

    def __init__(
        self, samples: npt.NDArray[np.float32], sample_rate_hz: int, start_s: float = 0.0
    ) -> None:
        if sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz must be positive, not {sample_rate_hz}")
        data = np.asarray(samples, dtype=np.float32)
        if data.ndim == 2:
            data = data.mean(axis=1, dtype=np.float32)
        self.samples = np.ascontiguousarray(data)
        self.sample_rate_hz = sample_rate_hz
        self._pos = 0
        self._lock = threading.Lock()
        self._stream: Any = None
        self._done = threading.Event()
        self.seek(start_s)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz

    @property
    def position_s(self) -> float:
        """Seconds from the start of the samples of the next block to be played (0..duration)."""
        with self._lock:
            return self._pos / self.sample_rate_hz

    @property
    def finished(self) -> bool:
        """Every sample was handed to the device (or playback was stopped)."""
        return self._done.is_set()

    def seek(self, seconds: float) -> None:
        """Go on playing from ``seconds`` (clamped to 0..duration)."""
        frame = round(max(0.0, seconds) * self.sample_rate_hz)
        with self._lock:
            self._pos = min(frame, len(self.samples))
            if self._pos < len(self.samples):
                self._done.clear()

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        with self._lock:
            start = self._pos
            chunk = self.samples[start : start + frames]
            self._pos = start + len(chunk)
            at_end = self._pos >= len(self.samples)
        outdata[: len(chunk), 0] = chunk
        outdata[len(chunk) :, 0] = 0.0
        if at_end:
            self._done.set()

    def start(self) -> None:
        """Open the default output and start playing (raises what sounddevice raises when
        there is no output device)."""
        import sounddevice as sd

        self._stream = sd.OutputStream(
            samplerate=self.sample_rate_hz, channels=1, dtype="float32", callback=self._callback
        )
        self._stream.start()

    def stop(self) -> None:
        """Stop and close the output; idempotent."""
        self._done.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
            finally:
                stream.close(ignore_errors=True)
