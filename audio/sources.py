"""Where sound comes from: the microphone (PortAudio via sounddevice), a file, or a synthesiser.

Every source has the same small interface (:class:`AudioSource`): ``start(ring)`` begins pushing
mono float32 blocks into a :class:`~audio.ringbuffer.SampleRing`, ``stop()`` ends it, and
``sample_rate``, ``finished`` and ``error`` describe its state. Sources never raise from their
audio thread: a failure (device unplugged, file unreadable mid-way) is stored in ``error`` and
``finished`` becomes True, so the analysis worker can end the take cleanly and the GUI can show it.

sounddevice is imported lazily so that file analysis works on a machine without PortAudio; when
the library or an input device is missing, :class:`AudioUnavailableError` explains it in words a
student understands.
"""

from __future__ import annotations

import atexit
import math
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import soundfile as sf

from audio.ringbuffer import FloatArray, SampleRing

SUPPORTED_SAMPLE_RATES = (44100, 48000)
MAX_BLOCK_FRAMES = 4096
# A live stream that delivers nothing for this long is treated as a vanished device.
STALL_TIMEOUT_S = 1.5
# How long stop() waits for PortAudio before giving up on a hung sound system.
STOP_TIMEOUT_S = 2.0
# A take cut at a pulled microphone ends this long before the sound server's event arrived:
# the first blocks of the other source reach the callback a few ms before the event does
# (measured: 4 ms on an idle machine), and the event's thread may wait for the GIL.
CUT_MARGIN_S = 0.05


class AudioUnavailableError(RuntimeError):
    """Live audio cannot be used here: no PortAudio library, no input device, or the device
    failed. The message is written for the student and can be shown as is."""


class InputMovedError(AudioUnavailableError):
    """The sound server moved the recording away from the microphone it started on (pulled
    out, or switched in the system's sound settings). source_name: the server's name of that
    microphone, to know when it is back (audio.pulsewatch.source_present)."""

    def __init__(self, message: str, source_name: str) -> None:
        super().__init__(message)
        self.source_name = source_name


class AudioSource(Protocol):
    """What the analysis worker needs from a source."""

    @property
    def sample_rate(self) -> int: ...

    @property
    def finished(self) -> bool: ...

    @property
    def error(self) -> Exception | None: ...

    def start(self, ring: SampleRing) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class InputDevice:
    """An input device as PortAudio reports it.

    index: PortAudio device index. channels: maximum input channels (>= 1).
    default_sample_rate: the device's preferred rate in Hz.
    """

    index: int
    name: str
    host_api: str
    channels: int
    default_sample_rate: float
    is_default: bool


def _sounddevice() -> ModuleType:
    try:
        import sounddevice
    except OSError as exc:  # the Python package is there but libportaudio is not
        raise AudioUnavailableError(
            "Live audio is not available: the PortAudio sound library is not installed "
            "(on Debian/Ubuntu: sudo apt install libportaudio2). You can still analyse files."
        ) from exc
    module: ModuleType = sounddevice
    return module


# Microphone streams being stopped on their MicClose thread. A frozen sound server keeps such a
# thread inside PortAudio for as long as it stays frozen; MicrophoneSource.stop() gives up
# waiting after STOP_TIMEOUT_S and leaves the thread to finish on its own.
_closes_in_progress: set[threading.Thread] = set()
_exit_guarded = False


def _guard_exit() -> None:
    """After a stop was given up on: make quitting safe (once per process).

    sounddevice terminates PortAudio at exit, and PortAudio then closes every stream still open,
    the one whose stop is still waiting on the frozen server included, from a second thread:
    that close waits on the same server, so the process never ends (measured: a frozen
    PulseAudio server, a student quitting after the take; the app hung in Pa_Terminate).
    Registered after sounddevice's own handler, this one runs before it.
    """
    global _exit_guarded
    if not _exit_guarded:
        _exit_guarded = True
        atexit.register(_leave_stuck_streams_to_the_os)


def _leave_stuck_streams_to_the_os() -> None:
    """At exit: give stops still in progress up to STOP_TIMEOUT_S to finish; if one has not,
    skip PortAudio's termination (the operating system releases the device with the process)."""
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for thread in list(_closes_in_progress):
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in list(_closes_in_progress)):
        sd = sys.modules.get("sounddevice")
        handler = getattr(sd, "_exit_handler", None)
        if handler is not None:
            atexit.unregister(handler)


def list_input_devices() -> list[InputDevice]:
    """All devices with at least one input channel, in PortAudio order.

    Raises AudioUnavailableError when PortAudio itself is missing. An empty list means the
    library works but no microphone is connected.
    """
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default_in = sd.default.device[0]
    except sd.PortAudioError as exc:
        raise AudioUnavailableError(f"Could not ask the sound system for devices: {exc}") from exc
    out: list[InputDevice] = []
    for dev in devices:
        if int(dev["max_input_channels"]) < 1:
            continue
        out.append(
            InputDevice(
                index=int(dev["index"]),
                name=str(dev["name"]),
                host_api=str(hostapis[int(dev["hostapi"])]["name"]),
                channels=int(dev["max_input_channels"]),
                default_sample_rate=float(dev["default_samplerate"]),
                is_default=int(dev["index"]) == default_in,
            )
        )
    return out


# Names under which sound systems offer "whatever the system's default input is": ALSA's
# routes to PulseAudio/PipeWire and its own default, and Windows' MME/DirectSound mappers. The
# settings already offer "System default", so listing these too named one microphone thrice.
DEFAULT_DEVICE_ALIASES = frozenset(
    {
        "default",
        "sysdefault",
        "pulse",
        "pipewire",
        "microsoft sound mapper - input",
        "primary sound capture driver",
    }
)


def distinct_input_devices(devices: list[InputDevice]) -> list[InputDevice]:
    """The devices a student chooses between: no alias of the system default (see
    DEFAULT_DEVICE_ALIASES) and each name once (the same microphone appears under every host
    API on Windows and macOS; the first, PortAudio's preferred API, is kept). Order is kept."""
    out: list[InputDevice] = []
    seen: set[str] = set()
    for dev in devices:
        key = dev.name.strip().casefold()
        if key in DEFAULT_DEVICE_ALIASES or key in seen:
            continue
        seen.add(key)
        out.append(dev)
    return out


def resolve_input_device(device: int | str | None) -> InputDevice:
    """Find an input device by PortAudio index, by (part of) its name, or the default (None).

    Raises AudioUnavailableError naming the problem when nothing matches or nothing exists.
    """
    devices = list_input_devices()
    if not devices:
        raise AudioUnavailableError(
            "No microphone or other input device was found. Plug one in (or enable it in your "
            "system's sound settings) and try again."
        )
    if device is None:
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    if isinstance(device, bool) or not isinstance(device, int | str):
        raise ValueError(f"device must be an index, a name or None, got {device!r}")
    if isinstance(device, int):
        for d in devices:
            if d.index == device:
                return d
        raise AudioUnavailableError(
            f"There is no input device number {device}. Available: "
            + ", ".join(f"{d.index}: {d.name}" for d in devices)
        )
    exact = [d for d in devices if d.name == device]
    partial = [d for d in devices if device.lower() in d.name.lower()]
    matches = exact or partial
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise AudioUnavailableError(
            f"No input device is called {device!r}. Available: "
            + ", ".join(d.name for d in devices)
        )
    raise AudioUnavailableError(
        f"{device!r} matches several input devices ("
        + ", ".join(d.name for d in matches)
        + "); use the full name or the number."
    )


class MicrophoneSource:
    """Live input through PortAudio.

    device: PortAudio index, (part of) a device name, or None for the system default.
    sample_rate: 44100 or 48000 Hz. block_frames: frames per callback, 32..4096 (256 = 5.3 ms at
    48 kHz). latency: "low", "high" or seconds, passed to PortAudio. channels: input channels to
    open (1..device max); several channels are averaged to mono inside the callback.
    """

    def __init__(
        self,
        device: int | str | None = None,
        sample_rate: int = 48000,
        block_frames: int = 256,
        latency: Literal["low", "high"] | float = "low",
        channels: int = 1,
    ) -> None:
        if sample_rate not in SUPPORTED_SAMPLE_RATES:
            raise ValueError(f"sample_rate must be 44100 or 48000 Hz, got {sample_rate}")
        if not 32 <= block_frames <= MAX_BLOCK_FRAMES:
            raise ValueError(f"block_frames must be 32..{MAX_BLOCK_FRAMES}, got {block_frames}")
        if isinstance(latency, str):
            if latency not in ("low", "high"):
                raise ValueError(f"latency must be 'low', 'high' or seconds, got {latency!r}")
        elif not 0 < float(latency) <= 1:
            raise ValueError(f"latency in seconds must be in (0, 1], got {latency}")
        if not 1 <= channels <= 32:
            raise ValueError(f"channels must be 1..32, got {channels}")
        self._device = device
        self._sample_rate = int(sample_rate)
        self.block_frames = int(block_frames)
        self.latency = latency
        self.channels = int(channels)
        self.device_info: InputDevice | None = None
        self._stream: Any = None
        self._ring: SampleRing | None = None
        self._mono: FloatArray = np.zeros(MAX_BLOCK_FRAMES * 4, dtype=np.float32)
        self._inv_channels = np.float32(1.0 / self.channels)
        self._stopping = False
        self._finished = False
        self._error: Exception | None = None
        self._started_at = 0.0
        self._stream_latency_s: float | None = None
        self.abandoned_stream = False
        self._watch: Any = None  # audio.pulsewatch.PulseStreamWatch while one is watched
        # perf_counter() time after which blocks are not the chosen microphone's (it was pulled
        # out or the stream moved): the callback drops them and the worker ends the take there.
        self.lost_at_s: float | None = None

    @property
    def sample_rate(self) -> int:
        """Hz."""
        return self._sample_rate

    @property
    def finished(self) -> bool:
        """True once the stream has ended (stopped, failed or stalled)."""
        self._check_stall()
        return self._finished

    @property
    def error(self) -> Exception | None:
        """The failure that ended the stream, or None."""
        self._check_stall()
        return self._error

    def _check_stall(self) -> None:
        # A frozen sound server or a hung driver keeps the stream "active" without calling back
        # and without an error, so no callback for too long counts as the device vanishing.
        ring = self._ring
        if self._finished or ring is None or self._stream is None or self._stopping:
            return
        last = ring.last_write_time_s or self._started_at
        if time.perf_counter() - last > STALL_TIMEOUT_S:
            self._error = AudioUnavailableError(
                f"The microphone stopped sending sound for {STALL_TIMEOUT_S:.1f} s "
                "(was it unplugged?). What was recorded so far is kept."
            )
            self._finished = True

    def start(self, ring: SampleRing) -> None:
        """Open the device and start pushing blocks into ``ring``.

        Raises AudioUnavailableError (with a student-readable message) when the device cannot be
        opened at this rate/channel count.
        """
        sd = _sounddevice()
        info = resolve_input_device(self._device)
        if self.channels > info.channels:
            raise AudioUnavailableError(
                f"{info.name} has {info.channels} input channel(s); {self.channels} were asked for."
            )
        self.device_info = info
        self._ring = ring
        self._stopping = False
        self._finished = False
        self._error = None
        self.lost_at_s = None
        from audio.pulsewatch import PulseStreamWatch

        watch = PulseStreamWatch.before_open()

        def callback(indata: FloatArray, frames: int, time_info: Any, status: Any) -> None:
            # Runs on PortAudio's thread: copy only, never allocate big arrays, log or analyse.
            if self.lost_at_s is not None:
                return  # another source's sound since the microphone was pulled: not the take
            now = time.perf_counter()
            if status and status.input_overflow:
                ring.note_input_overflow()
            if self.channels == 1:
                ring.write(indata[:, 0], now)
            elif frames > self._mono.shape[0]:
                ring.note_input_overflow()  # cannot happen with a fixed blocksize; never raise here
            else:
                mono = self._mono[:frames]
                np.sum(indata, axis=1, out=mono)
                mono *= self._inv_channels
                ring.write(mono, now)

        def finished_callback() -> None:
            if not self._stopping and self._error is None:
                self._error = AudioUnavailableError(
                    f"The input device {info.name!r} stopped unexpectedly (was it unplugged?). "
                    "What was recorded so far is kept."
                )
            self._finished = True

        try:
            self._stream = sd.InputStream(
                device=info.index,
                samplerate=self._sample_rate,
                blocksize=self.block_frames,
                latency=self.latency,
                channels=self.channels,
                dtype="float32",
                callback=callback,
                finished_callback=finished_callback,
            )
            self._stream_latency_s = float(self._stream.latency)
            self._started_at = time.perf_counter()
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            stream, self._stream = self._stream, None
            if stream is not None:  # opened but would not start: not left open until exit
                stream.close(ignore_errors=True)
            if watch is not None:
                watch.close()
            raise AudioUnavailableError(
                f"Could not open {info.name!r} at {self._sample_rate} Hz with "
                f"{self.channels} channel(s): {exc}"
            ) from exc
        if watch is not None and watch.attach(self._input_lost):
            self._watch = watch

    def _input_lost(self, lost: Any) -> None:
        # On the watch's thread (audio.pulsewatch.InputLost): the take ends where the sound
        # server switched sources, and what came from the other source is dropped.
        self.lost_at_s = lost.at_s - CUT_MARGIN_S
        what = lost.description or lost.source_name
        if lost.removed:
            text = (
                f"The microphone {what!r} was disconnected, and the sound system switched the "
                "recording to another input. What was recorded up to that moment is kept."
            )
        else:
            text = (
                f"The sound system switched the recording away from {what!r} (a change in the "
                "sound settings?). What was recorded up to that moment is kept."
            )
        if self._error is None:
            self._error = InputMovedError(text, lost.source_name)
        self._finished = True
        ring = self._ring
        if ring is not None:
            ring.wake()

    @property
    def stream_latency_s(self) -> float | None:
        """PortAudio's reported input latency of the last opened stream in seconds, None before
        the first start."""
        return self._stream_latency_s

    def stop(self) -> None:
        """Stop and close the stream; safe to call twice or after a failure.

        Returns within about ``STOP_TIMEOUT_S`` seconds even when the sound system hangs: a
        frozen server can block PortAudio's stop forever, so the stop runs on a helper thread and
        is abandoned (``abandoned_stream`` set, ``error`` explains) if it does not come back.
        """
        self._check_stall()
        failed = self._error is not None
        self._stopping = True
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.close()
        stream, self._stream = self._stream, None
        if stream is not None:
            closer = threading.Thread(
                target=self._close_stream, args=(stream, failed), name="MicClose", daemon=True
            )
            _closes_in_progress.add(closer)
            closer.start()
            closer.join(STOP_TIMEOUT_S)
            if closer.is_alive():
                self.abandoned_stream = True
                _guard_exit()
                if self._error is None:
                    self._error = AudioUnavailableError(
                        "The sound system did not respond when the microphone was stopped."
                    )
        self._finished = True

    def _close_stream(self, stream: Any, failed: bool) -> None:
        try:
            # After a failure there is nothing left worth draining; abort() is quicker. (stop()
            # instead was tried: with a frozen server, killed after, it left PortAudio's thread
            # wedged inside libpulse more often: 3 of 7 takes, against 0 of 12 with abort().)
            if failed:
                stream.abort()
            else:
                stream.stop()
        except Exception as exc:  # a vanished device may fail to stop; keep going
            if self._error is None:
                self._error = exc
        finally:
            stream.close(ignore_errors=True)
            _closes_in_progress.discard(threading.current_thread())


class _FeederSource:
    """A source that pushes blocks from its own thread, in real time or as fast as consumed."""

    def __init__(self, sample_rate: int, block_frames: int, realtime: bool) -> None:
        if not 8000 <= sample_rate <= 192000:
            raise ValueError(f"sample_rate must be 8000..192000 Hz, got {sample_rate}")
        if not 32 <= block_frames <= MAX_BLOCK_FRAMES:
            raise ValueError(f"block_frames must be 32..{MAX_BLOCK_FRAMES}, got {block_frames}")
        self._sample_rate = int(sample_rate)
        self.block_frames = int(block_frames)
        self.realtime = bool(realtime)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._finished = False
        self._error: Exception | None = None

    @property
    def sample_rate(self) -> int:
        """Hz."""
        return self._sample_rate

    @property
    def finished(self) -> bool:
        """True once every block was delivered, the source was stopped, or it failed."""
        return self._finished

    @property
    def error(self) -> Exception | None:
        """The failure that ended the source, or None."""
        return self._error

    def _blocks(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def start(self, ring: SampleRing) -> None:
        """Start the feeder thread pushing blocks into ``ring``."""
        if self._thread is not None:
            raise RuntimeError("source already started")
        self._finished = False
        thread = threading.Thread(
            target=self._run, args=(ring,), name=type(self).__name__, daemon=True
        )
        thread.start()
        # Published only once started, so a concurrent stop() never joins an unstarted thread.
        self._thread = thread

    def _run(self, ring: SampleRing) -> None:
        t0 = time.perf_counter()
        sent = 0
        try:
            for block in self._blocks():
                if self._stop.is_set():
                    break
                if self.realtime:
                    due = t0 + (sent + block.shape[0]) / self._sample_rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        self._stop.wait(delay)
                    ring.write(block)
                else:
                    # Files are not live: wait for room instead of dropping audio.
                    while ring.free < block.shape[0] and not self._stop.is_set():
                        time.sleep(0.001)
                    if self._stop.is_set():
                        break
                    ring.write(block)
                sent += block.shape[0]
        except Exception as exc:  # surfaced through .error, never raised on this thread
            self._error = exc
        finally:
            self._finished = True
            ring.wake()

    def stop(self) -> None:
        """Stop delivering blocks and wait for the feeder thread (at most 2 s)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._finished = True


class FileSource(_FeederSource):
    """Blocks from an audio file (WAV, FLAC, OGG, anything libsndfile reads), mixed to mono.

    block_frames: frames per block, 32..4096. realtime: pace blocks at the file's own speed (for
    demos and GUI tests); otherwise deliver as fast as the worker consumes. Raises ValueError
    naming the file when it is missing, empty or not audio (at construction, before anything runs).
    """

    def __init__(self, path: str | Path, block_frames: int = 256, realtime: bool = False) -> None:
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"{p}: no such file")
        try:
            info = sf.info(str(p))
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise ValueError(f"{p}: not a readable audio file ({exc})") from exc
        if info.frames == 0:
            raise ValueError(f"{p}: the file contains no audio")
        super().__init__(int(info.samplerate), block_frames, realtime)
        self.path = p
        self.frames = int(info.frames)
        self.duration_s = self.frames / self._sample_rate

    def _blocks(self) -> Any:
        with sf.SoundFile(str(self.path)) as f:
            for block in f.blocks(blocksize=self.block_frames, dtype="float32", always_2d=True):
                yield np.ascontiguousarray(block.mean(axis=1, dtype=np.float32))


@dataclass(frozen=True, slots=True)
class SynthNote:
    """A synthetic note: midi pitch (fractional, 69 = A4 at ``a4_hz``), start_s and dur_s in
    seconds (dur_s > 0), amplitude 0..1 peak, cents detuning, vibrato_cents depth at 5.5 Hz."""

    midi: float
    start_s: float
    dur_s: float
    amplitude: float = 0.3
    cents: float = 0.0
    vibrato_cents: float = 0.0


def render_notes(
    notes: Sequence[SynthNote],
    sample_rate: int = 48000,
    a4_hz: float = 440.0,
    tail_s: float = 0.3,
    harmonics: int = 5,
) -> FloatArray:
    """Render harmonic tones (1/k partial amplitudes, 10 ms attack, 40 ms release) to mono float32.

    The output runs from 0 to the last note's end plus ``tail_s`` seconds of silence; peaks stay
    within -1..1 for amplitudes summing to <= 1.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    end_s = max((n.start_s + n.dur_s for n in notes), default=0.0) + tail_s
    out = np.zeros(math.ceil(end_s * sample_rate), dtype=np.float64)
    norm = sum(1.0 / k for k in range(1, harmonics + 1))
    for n in notes:
        if n.dur_s <= 0 or n.start_s < 0:
            raise ValueError(f"note {n}: start_s must be >= 0 and dur_s > 0")
        i0 = round(n.start_s * sample_rate)
        length = round(n.dur_s * sample_rate)
        t = np.arange(length) / sample_rate
        cents = n.cents + n.vibrato_cents * np.sin(2 * np.pi * 5.5 * t)
        f0 = a4_hz * 2.0 ** ((n.midi - 69 + cents / 100.0) / 12.0)
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate
        tone = sum(np.sin(k * phase) / k for k in range(1, harmonics + 1)) / norm
        env = np.ones(length)
        att = min(length, int(0.01 * sample_rate))
        rel = min(length - att, int(0.04 * sample_rate))
        env[:att] = np.linspace(0, 1, att, endpoint=False)
        if rel > 0:
            env[length - rel :] = np.linspace(1, 0, rel)
        out[i0 : i0 + length] += n.amplitude * env * tone
    result: FloatArray = out.astype(np.float32)
    return result


class SyntheticSource(_FeederSource):
    """Synthetic notes (see :func:`render_notes`) or a given signal, delivered block by block.

    notes: what to play; signal: alternatively, mono float32 samples in -1..1. sample_rate in Hz.
    realtime: pace at real speed (default) like a microphone. fail_after_s: after this many
    seconds of audio, stop and report an AudioUnavailableError as a vanished device would (to
    exercise error handling in the worker and GUI without unplugging hardware).
    """

    def __init__(
        self,
        notes: Sequence[SynthNote] = (),
        sample_rate: int = 48000,
        block_frames: int = 256,
        realtime: bool = True,
        signal: npt.NDArray[np.floating[Any]] | None = None,
        fail_after_s: float | None = None,
    ) -> None:
        super().__init__(sample_rate, block_frames, realtime)
        if signal is not None:
            self.signal: FloatArray = np.asarray(signal, dtype=np.float32).reshape(-1)
        else:
            self.signal = render_notes(notes, sample_rate)
        self.fail_after_s = fail_after_s

    def _blocks(self) -> Any:
        limit = self.signal.shape[0]
        if self.fail_after_s is not None:
            limit = min(limit, int(self.fail_after_s * self._sample_rate))
        for i in range(0, limit, self.block_frames):
            yield self.signal[i : min(i + self.block_frames, limit)]
        if self.fail_after_s is not None and limit < self.signal.shape[0]:
            raise AudioUnavailableError(
                "The synthetic input was cut off on purpose (fail_after_s) to simulate an "
                "unplugged microphone."
            )
