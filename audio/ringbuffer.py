"""A preallocated single-producer/single-consumer ring of mono float32 samples.

The producer is the PortAudio callback (or a file/synthetic feeder thread); the consumer is the
analysis worker. The producer side does no allocation of arrays, no logging and never waits on a
lock: it copies the block into preallocated storage, stamps the block with its capture time,
publishes it by advancing one integer, and, only when the consumer asked for that much, wakes it
by releasing a lock (a release never blocks). Under CPython a single attribute store is atomic,
and the consumer only ever reads samples below the published write position, so the samples
need no lock.

Capture time: ``time.perf_counter()`` read inside the callback when the block arrives. We do not
use ``time_info.inputBufferAdcTime``: with PortAudio's ALSA backend over the PulseAudio plugin it
is on a different clock whose offset to ``perf_counter`` would itself have to be estimated, and the
latency we promise the student is "sound reached the program -> number on screen", which the
callback time measures directly.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


class SampleRing:
    """Mono float32 ring buffer with per-block capture times and overflow counters.

    capacity_samples: storage size in samples (>= 2 * the largest block). max_blocks: how many
    block timestamps can be pending at once (>= capacity_samples / smallest block).

    ``last_write_time_s`` is the ``perf_counter()`` time of the last block offered (kept or
    dropped), so a watchdog can tell a silent device from a slow consumer.

    Counters (read them from any thread): ``input_overflows`` counts PortAudio's
    ``input_overflow`` flag (the driver lost audio before we saw it); ``dropped_blocks`` and
    ``dropped_samples`` count blocks the consumer was too slow for (ring full, block discarded).
    """

    def __init__(self, capacity_samples: int, max_blocks: int = 4096) -> None:
        if capacity_samples < 64:
            raise ValueError(f"ring capacity must be at least 64 samples, got {capacity_samples}")
        if max_blocks < 2:
            raise ValueError(f"max_blocks must be at least 2, got {max_blocks}")
        self.capacity_samples = int(capacity_samples)
        self._data: FloatArray = np.zeros(self.capacity_samples, dtype=np.float32)
        # Absolute positions (samples since start) grow forever; index = pos % capacity.
        self._write_pos = 0
        self._read_pos = 0
        self._max_blocks = int(max_blocks)
        self._block_end: npt.NDArray[np.int64] = np.zeros(self._max_blocks, dtype=np.int64)
        self._block_time: npt.NDArray[np.float64] = np.zeros(self._max_blocks, dtype=np.float64)
        self._blocks_written = 0
        self._blocks_read = 0
        self.input_overflows = 0
        self.dropped_blocks = 0
        self.dropped_samples = 0
        self.last_write_time_s = 0.0
        # The wake-up flag is a bare lock used as a binary semaphore: held = nothing to report,
        # released = wake the consumer. threading.Event would do, but its wait and set run a
        # Condition in Python (lock allocation, waiter list) on every block; a lock's
        # acquire/release are single C calls, for the callback and for the worker.
        self._signal = threading.Lock()
        self._signal.acquire()
        # The producer signals only once the write position reaches _wake_at (set by
        # wait_available); 0 means "every write", as wait() wants. _woken: wake() was called.
        self._wake_at = 0
        self._woken = False

    # -- producer side -----------------------------------------------------------------------

    def write(self, block: FloatArray, capture_time_s: float | None = None) -> bool:
        """Copy one mono block in; return False (and count a drop) when it does not fit.

        block: float32 samples in -1..1, any length up to the capacity. capture_time_s:
        ``perf_counter()`` seconds when the block arrived (read now when None).
        Safe to call from the PortAudio callback: no allocation, no locks held while copying.
        """
        now = time.perf_counter() if capture_time_s is None else capture_time_s
        # Set even when the block is dropped: the device is alive, only the consumer is behind.
        self.last_write_time_s = now
        n = block.shape[0]
        wpos = self._write_pos
        if (
            n > self.capacity_samples - (wpos - self._read_pos)
            or self._blocks_written - self._blocks_read >= self._max_blocks
        ):
            self.dropped_blocks += 1
            self.dropped_samples += n
            return False
        start = wpos % self.capacity_samples
        first = min(n, self.capacity_samples - start)
        self._data[start : start + first] = block[:first]
        if first < n:
            self._data[: n - first] = block[first:]
        slot = self._blocks_written % self._max_blocks
        self._block_end[slot] = wpos + n
        self._block_time[slot] = now
        # Publish the samples only after they and their timestamp are in place.
        self._write_pos = wpos + n
        self._blocks_written += 1
        # Wake the consumer only once its threshold is reached, and only if not already done.
        if wpos + n >= self._wake_at and self._signal.locked():
            self._raise_signal()
        return True

    def _raise_signal(self) -> None:
        # try/except rather than contextlib.suppress: no object built on the audio callback.
        try:  # noqa: SIM105
            self._signal.release()
        except RuntimeError:
            pass  # wake() from another thread released it at the same moment: already up

    def note_input_overflow(self) -> None:
        """Count one PortAudio ``input_overflow`` report (audio lost before the callback)."""
        self.input_overflows += 1

    # -- consumer side -----------------------------------------------------------------------

    @property
    def available(self) -> int:
        """Samples written and not yet read (0..capacity_samples)."""
        return self._write_pos - self._read_pos

    @property
    def free(self) -> int:
        """Samples that can be written before the ring is full (0..capacity_samples)."""
        return self.capacity_samples - (self._write_pos - self._read_pos)

    @property
    def samples_read(self) -> int:
        """Total samples the consumer has taken since the ring was created."""
        return self._read_pos

    @property
    def overflows(self) -> int:
        """Driver overflows plus blocks dropped because the ring was full."""
        return self.input_overflows + self.dropped_blocks

    def wait(self, timeout_s: float) -> bool:
        """Block the consumer until new samples were written or ``timeout_s`` seconds passed.

        Returns True when woken by a write. Clears the wake-up flag first, so a write that lands
        while the consumer is busy still wakes the next wait at once.
        """
        self._wake_at = 0
        self._woken = False
        # Taking the lock consumes the signal: the flag is cleared for the next wait.
        return self._signal.acquire(timeout=max(0.0, timeout_s))

    def wait_available(self, n: int, timeout_s: float) -> bool:
        """Block the consumer until at least ``n`` samples are available, :meth:`wake` was
        called, or ``timeout_s`` seconds passed; return True when ``n`` samples are available.

        Unlike :meth:`wait`, the writes in between do not wake the consumer: the producer sets
        the flag only once the threshold is reached, so a consumer that wants several blocks at
        a time is woken once for them (each wake-up of an idle thread is costly, see
        tests/bench/live.py). A :meth:`wake` since the previous wait returns at once.
        """
        if n <= 0:
            raise ValueError(f"wait size must be positive, got {n}")
        # Order matters (no lost wake-up): clear, publish the threshold, then look at the data.
        # A write the check below misses publishes its samples after this threshold was set, so
        # the producer sees it and raises the flag after the clear.
        self._signal.acquire(blocking=False)  # clear a signal meant for an earlier threshold
        self._wake_at = self._read_pos + n
        if self._woken:
            self._woken = False
            return self._write_pos - self._read_pos >= n
        if self._write_pos - self._read_pos >= n:
            return True
        # _woken stays up if wake() ended this wait: the next wait returns at once (harmless).
        self._signal.acquire(timeout=max(0.0, timeout_s))
        return self._write_pos - self._read_pos >= n

    def wake(self) -> None:
        """Wake a waiting consumer without writing (used to stop the worker promptly)."""
        self._woken = True
        if self._signal.locked():
            self._raise_signal()

    def read(self, n: int) -> tuple[FloatArray, float] | None:
        """Take exactly ``n`` samples as a new array, with the capture time of the block that
        completed them (``perf_counter()`` seconds); None when fewer than ``n`` are available.
        """
        if n <= 0:
            raise ValueError(f"read size must be positive, got {n}")
        rpos = self._read_pos
        if self._write_pos - rpos < n:
            return None
        out = self._copy_out(rpos, n)
        capture = self._capture_at(rpos + n)
        self._read_pos = rpos + n
        return out, capture

    def read_hops(self, hop: int, max_hops: int) -> tuple[FloatArray, list[float]] | None:
        """Take as many whole hops of ``hop`` samples as are available, at most ``max_hops``,
        in one new array (hop ``i`` is ``samples[i * hop : (i + 1) * hop]``), with each hop's
        capture time as :meth:`read` gives it; None when not even one hop is available.
        """
        if hop <= 0 or max_hops <= 0:
            raise ValueError(f"hop and max_hops must be positive, got {hop} and {max_hops}")
        rpos = self._read_pos
        k = min((self._write_pos - rpos) // hop, max_hops)
        if k <= 0:
            return None
        out = self._copy_out(rpos, k * hop)
        captures = [self._capture_at(rpos + (i + 1) * hop) for i in range(k)]
        self._read_pos = rpos + k * hop
        return out, captures

    def _copy_out(self, rpos: int, n: int) -> FloatArray:
        out: FloatArray = np.empty(n, dtype=np.float32)
        start = rpos % self.capacity_samples
        first = min(n, self.capacity_samples - start)
        out[:first] = self._data[start : start + first]
        if first < n:
            out[first:] = self._data[: n - first]
        return out

    def _capture_at(self, end: int) -> float:
        # The block whose end is the first at or past ``end`` delivered that sample; blocks
        # wholly consumed are released. Reads must ask for increasing ``end``.
        while True:
            slot = self._blocks_read % self._max_blocks
            block_end = self._block_end[slot]
            if block_end >= end:
                capture = float(self._block_time[slot])
                if block_end == end:
                    self._blocks_read += 1
                return capture
            self._blocks_read += 1

    def read_rest(self) -> tuple[FloatArray, float] | None:
        """Take everything still available (fewer than a hop at the end of a stream), or None."""
        n = self.available
        if n <= 0:
            return None
        return self.read(n)
