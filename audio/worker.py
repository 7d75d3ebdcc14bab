"""The analysis worker thread and its outbox.

Threads, and what each one may do:

* the source's thread (PortAudio callback, or a file/synthetic feeder) only copies blocks into a
  :class:`~audio.ringbuffer.SampleRing`;
* :class:`AnalysisWorker` (one ``threading.Thread``) pulls hops of ``hop_samples`` from the ring,
  runs the :class:`~audio.analyzer.StreamAnalyzer` on each, queues the raw samples to the take
  recorder if a take is running, and publishes the frozen records to an :class:`Outbox`;
* the GUI drains the outbox on a timer (never per block) and reads ``latest_level_db``.

Files and live input take the same path: a :class:`~audio.sources.FileSource` feeds the same ring
and the same worker, causally, hop by hop.
"""

from __future__ import annotations

import collections
import heapq
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from audio.analyzer import StreamAnalyzer
from audio.inputcheck import InputCheck, MeterMark
from audio.recorder import RecorderError, TakeRecorder
from audio.records import Note, Onset, PitchFrame, Record
from audio.reference import Reference
from audio.ringbuffer import FloatArray, SampleRing
from audio.settings import AnalysisSettings
from audio.sources import AudioSource

# Frames the outbox holds for a GUI that stopped draining (about 21 s at 48 kHz / 256).
OUTBOX_MAX_FRAMES = 4096
# How many recent latency samples the worker keeps for the benchmark and the GUI's status line.
LATENCY_HISTORY = 65536
# Ring size: two seconds of audio absorbs any hiccup of the worker short of a real stall.
RING_SECONDS = 2.0
# hops_per_wake > 1 lets the worker sleep until several hops wait. Every wake-up of the idle
# worker costs far more than the hop it brings: after a few ms asleep the caches are cold, and
# the first StreamAnalyzer.process after a sleep takes 2-3x as long as the next ones (measured
# live: about 300 us, then 100-130 us; see tests/bench/live.py). PulseAudio's ALSA plugin
# delivers the 256-frame blocks in bursts about 7.5 ms apart, so waiting for 3 hops measures
# p95 16 ms against 0.6 ms for one hop, for about 20 % less worker CPU (0.040 instead of 0.050
# CPU-s per audio-s). The default stays at one hop: what the student sees on screen is the
# point of the live view, and 15 ms more would use half of the 30 ms capture-to-painted budget.
# Most hops analysed per read, so a worker catching up still checks for stop regularly.
MAX_HOPS_PER_BATCH = 32
# How often the live input check (level, clipping, hum, background) is renewed, s of audio.
INPUT_CHECK_EVERY_S = 0.5
# Longest sleep of the worker: it then checks whether the source ended or stalled.
WAIT_TIMEOUT_S = 0.05


class Outbox:
    """Thread-safe, bounded hand-over of records from the worker to the GUI.

    max_frames: pitch frames kept when nobody drains (oldest dropped first, counted in
    ``dropped_frames``). Notes and onsets are never dropped: they are few (a handful per second)
    and each one is something the student played.
    """

    def __init__(self, max_frames: int = OUTBOX_MAX_FRAMES) -> None:
        if max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        self._lock = threading.Lock()
        self._frames: collections.deque[tuple[int, PitchFrame]] = collections.deque(
            maxlen=max_frames
        )
        self._events: list[tuple[int, Record]] = []
        self._seq = 0
        self.dropped_frames = 0
        self.published = 0

    def put(self, records: list[Record]) -> None:
        """Publish records (in order) from the worker thread."""
        if not records:
            return
        with self._lock:
            for rec in records:
                self._seq += 1
                if isinstance(rec, PitchFrame):
                    if len(self._frames) == self._frames.maxlen:
                        self.dropped_frames += 1
                    self._frames.append((self._seq, rec))
                else:
                    self._events.append((self._seq, rec))
            self.published += len(records)

    def drain(self) -> list[Record]:
        """Everything published since the last drain, in publication order (for a GUI timer)."""
        with self._lock:
            frames, self._frames = self._frames, collections.deque(maxlen=self._frames.maxlen)
            events, self._events = self._events, []
        return [rec for _, rec in heapq.merge(frames, events, key=lambda item: item[0])]

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames) + len(self._events)


@dataclass(frozen=True, slots=True)
class TakeSpan:
    """A recorded take: its file and where it sits on the stream's time axis (seconds)."""

    path: Path
    start_s: float
    end_s: float
    analysis_cpu_s: float = 0.0  # CPU seconds the analyzer spent on this take's audio
    input: InputCheck | None = None  # what the input was like during the take


@dataclass(frozen=True, slots=True)
class TakeResult:
    """What a whole run of the worker produced.

    duration_s: seconds of audio analysed. frames: every pitch frame (stored compactly by the
    analyzer, a few bytes per hop). overflows: driver overflows plus ring-full drops (0 in a
    healthy run). error: the source failure that ended the run early, or None.
    takes: the takes recorded during the run.
    """

    notes: list[Note]
    onsets: list[Onset]
    frames: Sequence[PitchFrame]
    duration_s: float
    overflows: int
    error: Exception | None
    takes: list[TakeSpan] = field(default_factory=list)


class AnalysisWorker(threading.Thread):
    """Pulls hops from the source's ring, analyses them, records takes, fills the outbox.

    source: any :class:`~audio.sources.AudioSource`. settings/reference: passed to the
    StreamAnalyzer. recorder: a take already recording when the stream starts (optional).
    analyzer: an already built StreamAnalyzer at the source's rate (default: a new one).
    take_format: "FLAC" or "WAV" for :meth:`start_take`. outbox_max_frames: pitch frames the
    outbox keeps for a GUI that stopped draining (oldest dropped; notes and onsets never).
    hops_per_wake: the worker sleeps until this many hops are waiting, 1..64 (default 1, see
    the comment on hops_per_wake at the top of this module); the end of a stream,
    :meth:`stop` and a 50 ms timeout (a device that stops delivering) wake it for fewer.

    Use: ``w = AnalysisWorker(src); w.start(); ... w.outbox.drain() ...; result = w.stop()``.
    """

    def __init__(
        self,
        source: AudioSource,
        settings: AnalysisSettings | None = None,
        reference: Reference | None = None,
        recorder: TakeRecorder | None = None,
        *,
        analyzer: StreamAnalyzer | None = None,
        take_format: Literal["FLAC", "WAV"] = "FLAC",
        outbox_max_frames: int = OUTBOX_MAX_FRAMES,
        hops_per_wake: int = 1,
    ) -> None:
        super().__init__(name="AnalysisWorker", daemon=True)
        self.source = source
        self.settings = settings or AnalysisSettings()
        self.sample_rate = int(source.sample_rate)
        self.analyzer = analyzer or StreamAnalyzer(self.sample_rate, self.settings, reference)
        if self.analyzer.sample_rate != self.sample_rate:
            raise ValueError(
                f"analyzer runs at {self.analyzer.sample_rate} Hz but the source at "
                f"{self.sample_rate} Hz"
            )
        self.hop_samples = int(self.analyzer.hop_samples)
        if not 1 <= self.hop_samples <= 4096:
            raise ValueError(f"analyzer hop must be 1..4096 samples, got {self.hop_samples}")
        if not 1 <= hops_per_wake <= 64:
            raise ValueError(f"hops_per_wake must be 1..64, got {hops_per_wake}")
        self.hops_per_wake = int(hops_per_wake)
        self.ring = SampleRing(
            max(int(self.sample_rate * RING_SECONDS), 8 * self.hop_samples * self.hops_per_wake)
        )
        self.outbox = Outbox(outbox_max_frames)
        self.take_format: Literal["FLAC", "WAV"] = take_format
        # _recorder_lock guards the hand-over of each batch; _take_lock a whole start/stop of a
        # take, so the GUI never sees "not recording" before the finished take is listed.
        self._recorder_lock = threading.Lock()
        self._take_lock = threading.RLock()
        self._recorder: TakeRecorder | None = recorder
        self._fed_samples = 0
        self._take_start_sample = 0
        # (stream sample where a recent hop ends, its capture time), to find where a take ends
        # when its microphone was pulled out (see AudioSource.lost_at_s); under _recorder_lock.
        self._hop_ends: collections.deque[tuple[int, float]] = collections.deque(
            maxlen=max(64, int(RING_SECONDS * self.sample_rate) // self.hop_samples)
        )
        self._takes: list[TakeSpan] = []
        self._stop_event = threading.Event()
        self._stop_requested = threading.Event()
        self._latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_HISTORY)
        # Copying a deque while the worker appends would raise; the GUI may ask at any time.
        self._latency_lock = threading.Lock()
        self._result: TakeResult | None = None
        self._failure: BaseException | None = None
        self.latest_level_db = -math.inf
        # The input check over the last few seconds, renewed every INPUT_CHECK_EVERY_S of
        # audio; a frozen record, replaced in one assignment (the GUI reads it any time).
        self.latest_input: InputCheck | None = None
        self._input_due_samples = 0
        self._take_mark: MeterMark | None = None
        self.cpu_time_s = 0.0
        # CPU seconds spent inside the analyzer so far; a take's share is what processing_time_ms
        # reports, so a live take and the same file through `etude analyze` measure alike.
        self.analysis_cpu_s = 0.0
        self._take_start_cpu_s = 0.0
        # Times the worker woke up, and hops it analysed (for the benchmark: hops per wake-up).
        self.wakeups = 0
        self.hops_analysed = 0

    # -- state the GUI reads ---------------------------------------------------------------

    @property
    def overflows(self) -> int:
        """Driver input overflows plus blocks dropped because the worker fell behind."""
        return self.ring.overflows

    @property
    def position_s(self) -> float:
        """Seconds of audio analysed so far."""
        return self.ring.samples_read / self.sample_rate

    @property
    def error(self) -> BaseException | None:
        """The source failure (e.g. microphone unplugged) or worker crash, None when healthy."""
        return self._failure or self.source.error

    @property
    def recording(self) -> bool:
        """True while a take is being recorded (waits for a take that is being closed)."""
        with self._take_lock:
            return self._recorder is not None

    def latencies_s(self) -> list[float]:
        """Recent capture-to-outbox delays in seconds, one per analysed hop (safe from any
        thread, also while the worker runs)."""
        with self._latency_lock:
            return list(self._latencies)

    # -- takes -----------------------------------------------------------------------------

    def start_take(self, path: str | Path) -> None:
        """Start writing the incoming audio to ``path`` (FLAC/WAV per ``take_format``) while
        the analysis keeps running. Raises RuntimeError if a take is already recording and
        ValueError/RecorderError when the file cannot be created."""
        with self._take_lock:
            if self._recorder is not None:
                raise RuntimeError("a take is already being recorded; stop it first")
            rec = TakeRecorder(path, self.sample_rate, self.take_format)
            with self._recorder_lock:
                self._recorder = rec
                self._take_start_sample = self._fed_samples
                self._take_start_cpu_s = self.analysis_cpu_s
                self._take_mark = self.analyzer.input_meter.mark()
            # A take is the student playing the piece (again): the live targets follow it anew.
            self.analyzer.restart_reference()

    def stop_take(self) -> Path:
        """Finish the running take: everything captured so far is written, the file renamed
        from ``.part`` to its final name, and that path returned. RuntimeError if none runs."""
        with self._take_lock:
            with self._recorder_lock:
                rec, self._recorder = self._recorder, None
                end = self._fed_samples
                lost_at = getattr(self.source, "lost_at_s", None)
                if lost_at is not None:
                    end = self._fed_before(lost_at)
                take_cpu_s = self.analysis_cpu_s - self._take_start_cpu_s
            if rec is None:
                raise RuntimeError("no take is being recorded")
            end = max(end, self._take_start_sample)
            path = rec.close(keep_frames=end - self._take_start_sample)
            self._takes.append(
                TakeSpan(
                    path,
                    self._take_start_sample / self.sample_rate,
                    end / self.sample_rate,
                    take_cpu_s,
                    self.analyzer.input_check(since=self._take_mark),
                )
            )
            return path

    @property
    def last_take(self) -> TakeSpan | None:
        """The most recently finished take, or None (waits for a take being closed)."""
        with self._take_lock:
            return self._takes[-1] if self._takes else None

    # -- the thread ------------------------------------------------------------------------

    def start(self) -> None:
        """Open the source on the caller's thread, then start analysing on the worker thread.

        Raises AudioUnavailableError (no PortAudio, no device, device refuses the settings)
        right here, so the GUI can say so instead of discovering it later.
        """
        self.source.start(self.ring)
        try:
            super().start()
        except BaseException:
            self.source.stop()
            raise

    def run(self) -> None:
        cpu0 = time.thread_time()
        try:
            self._loop()
        except BaseException as exc:  # surfaced through .error; the GUI shows it
            self._failure = exc
        finally:
            self.cpu_time_s = time.thread_time() - cpu0
            self._close_source()
            # A stream that ends by itself (end of file, unplugged microphone) ends the take too,
            # so the file is complete and readable even if nobody presses stop.
            try:
                if self.recording:
                    self.stop_take()
            except RecorderError as exc:
                self._failure = self._failure or exc
            except RuntimeError:
                pass  # the GUI stopped the take at the same moment
            except Exception as exc:
                self._failure = self._failure or exc

    def _close_source(self) -> None:
        try:
            self.source.stop()
        except Exception as exc:
            self._failure = self._failure or exc

    def _loop(self) -> None:
        hop = self.hop_samples
        want = hop * self.hops_per_wake
        max_hops = max(MAX_HOPS_PER_BATCH, self.hops_per_wake)
        ring = self.ring
        while True:
            ring.wait_available(want, WAIT_TIMEOUT_S)
            self.wakeups += 1
            while not self._stop_event.is_set():
                item = ring.read_hops(hop, max_hops)
                if item is None:
                    break
                samples, captures = self._before_loss(*item)
                if captures:
                    self._analyse_batch(samples, captures)
            if self._stop_event.is_set():
                return
            ended = self.source.finished or self._stop_requested.is_set()
            if ended and ring.available < hop:
                self._finish_stream()
                return

    def _finish_stream(self) -> None:
        rest = self.ring.read_rest()
        capture = time.perf_counter()
        lost_at = getattr(self.source, "lost_at_s", None)
        if rest is not None and lost_at is not None and rest[1] > lost_at:
            rest = None  # another source's sound, after the microphone was pulled out
        if rest is not None:
            samples, capture = rest
            self._record(samples, [capture])
            padded = np.zeros(self.hop_samples, dtype=np.float32)
            padded[: samples.shape[0]] = samples
            self._publish(self.analyzer.process(padded, capture), [capture])
        self._publish(self.analyzer.finish(capture), [])

    def _fed_before(self, t_s: float) -> int:
        """The stream sample where the first hop captured after ``t_s`` begins (everything fed
        so far when none was); call under _recorder_lock."""
        for end, capture in self._hop_ends:
            if capture > t_s:
                return end - self.hop_samples
        return self._fed_samples

    def _before_loss(
        self, samples: FloatArray, captures: list[float]
    ) -> tuple[FloatArray, list[float]]:
        """The hops captured before the source lost its microphone (all of them while it has
        not): what a pulled microphone's stream delivers afterwards is another source's sound
        (often digital silence) and never goes into the take or the analysis."""
        lost_at = getattr(self.source, "lost_at_s", None)
        if lost_at is None or captures[-1] <= lost_at:
            return samples, captures
        keep = sum(1 for c in captures if c <= lost_at)
        return samples[: keep * self.hop_samples], captures[:keep]

    def _record(self, samples: FloatArray, captures: Sequence[float] = ()) -> None:
        with self._recorder_lock:
            # Counted under the lock so a take's start/end match exactly what its file holds.
            start = self._fed_samples
            self._fed_samples += samples.shape[0]
            hop = self.hop_samples
            self._hop_ends.extend(
                (min(start + (i + 1) * hop, self._fed_samples), c) for i, c in enumerate(captures)
            )
            if self._recorder is not None:
                self._recorder.write(samples)

    def _analyse_batch(self, samples: FloatArray, captures: list[float]) -> None:
        """Record and analyse consecutive hops (``samples`` holds ``len(captures)`` of them),
        then publish all their records at once: one lock each for the recorder, the outbox
        and the latency history per batch instead of per hop."""
        self._record(samples, captures)
        hop = self.hop_samples
        process = self.analyzer.process
        records: list[Record] = []
        cpu0 = time.thread_time()
        for i, capture in enumerate(captures):
            records += process(samples[i * hop : (i + 1) * hop], capture)
        self._input_due_samples -= samples.shape[0]
        if self._input_due_samples <= 0:
            self._input_due_samples = round(INPUT_CHECK_EVERY_S * self.sample_rate)
            self.latest_input = self.analyzer.input_check(recent=True)
        self.analysis_cpu_s += time.thread_time() - cpu0
        self._publish(records, captures)

    def _publish(self, records: list[Record], captures: list[float]) -> None:
        # Each hop's delay runs to this moment, when its records are in the outbox.
        for rec in reversed(records):
            if isinstance(rec, PitchFrame):
                self.latest_level_db = rec.level_db
                break
        self.outbox.put(records)
        now = time.perf_counter()
        with self._latency_lock:
            self._latencies.extend([now - capture for capture in captures])
        self.hops_analysed += len(captures)

    def stop(self, timeout_s: float = 10.0) -> TakeResult:
        """Stop the source, analyse what is still buffered, end any take, and return the run.

        Safe to call after the source finished on its own (end of file, unplugged device).
        Waits at most ``timeout_s`` seconds for the thread. Failures are not raised: a source
        failure or a crash of the analysis is in ``TakeResult.error``.
        """
        if self._result is not None:
            return self._result
        if self.is_alive():
            self._stop_requested.set()
            self.source.stop()
            self.ring.wake()
            # Let the worker drain what the source already delivered, then finish the notes.
            self.join(timeout_s)
            if self.is_alive():
                self._stop_event.set()
                self.ring.wake()
                self.join(timeout_s)
        if self.recording:
            try:
                self.stop_take()
            except Exception as exc:
                self._failure = self._failure or exc
        self._result = TakeResult(
            notes=list(self.analyzer.notes),
            onsets=list(self.analyzer.onsets),
            frames=self.analyzer.frames,
            duration_s=self.ring.samples_read / self.sample_rate,
            overflows=self.overflows,
            error=self.error if isinstance(self.error, Exception) else None,
            takes=list(self._takes),
        )
        return self._result

    def wait_finished(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` seconds for a finite source to be fully analysed."""
        self.join(timeout_s)
        return not self.is_alive()
