"""Noticing a pulled microphone under PulseAudio or PipeWire.

Through a sound server, pulling out a USB microphone does not end the recording stream: the
server moves it to another source (the laptop's microphone, a monitor) and PortAudio goes on
delivering blocks, with no error and no status flag, of whatever that source hears, often
digital silence. PortAudio's device list does not change either (it is read once, at
``Pa_Initialize``, and the ALSA ``pulse``/``default`` device stays). Only the server knows, so
this asks it: :class:`PulseStreamWatch` finds the record stream(s) this process opened and
listens to the server's events; when the source a stream started on is removed, or the stream
is moved to another source, it calls back once with the moment the event arrived
(``time.perf_counter()``), so the take can be closed there.

The server is reached through libpulse (pulsectl, ctypes), which PipeWire's pulse server answers
as well. Without it (Windows, macOS, plain ALSA, no server running) nothing is watched, and a
device that vanishes is noticed as before: the stream fails or stops calling back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# How long closing the watch waits for its thread (it wakes at once when told to stop).
CLOSE_TIMEOUT_S = 2.0
# Longest wait for an event before the watch checks the stream anyway (an event lost in a
# reconnect must not hide a move for long).
RECHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class InputLost:
    """What happened to the stream. source_name: the server's name of the source it started on
    (e.g. ``alsa_input.usb-…`` or ``etude_a.monitor``); description: that source's
    human-readable name; removed: True when the source is gone (pulled out), False when the
    stream was moved away from a source that still exists; at_s: ``perf_counter()`` when the
    server's event arrived."""

    source_name: str
    description: str
    removed: bool
    at_s: float


def _pulsectl() -> Any | None:
    try:
        import pulsectl  # type: ignore[import-untyped,unused-ignore]
    except Exception:  # not installed, or no libpulse on this system
        return None
    return pulsectl


def _connect(name: str) -> Any | None:
    pulsectl = _pulsectl()
    if pulsectl is None:
        return None
    try:
        return pulsectl.Pulse(name, connect=True)
    except Exception:  # no server running (plain ALSA, Windows, macOS)
        return None


def _my_streams(pulse: Any) -> dict[int, int]:
    """This process's record streams: source-output index -> source index."""
    pid = str(os.getpid())
    return {
        int(o.index): int(o.source)
        for o in pulse.source_output_list()
        if o.proplist.get("application.process.id") == pid
    }


def source_present(source_name: str) -> bool:
    """True when the sound server has a source called ``source_name`` (a microphone that was
    pulled out is back); False when it has not, or there is no server to ask."""
    pulse = _connect("etude-probe")
    if pulse is None:
        return False
    try:
        return any(s.name == source_name for s in pulse.source_list())
    except Exception:
        return False
    finally:
        pulse.close()


class PulseStreamWatch:
    """Watches the record stream(s) this process opens between :meth:`before_open` and
    :meth:`attach`; calls ``on_lost(InputLost)`` once, on its own thread, when their source is
    removed or they are moved to another source. :meth:`close` ends it (safe to call twice)."""

    def __init__(self, pulse: Any) -> None:
        self._pulse = pulse
        self._before = set(_my_streams(pulse))
        self._streams: dict[int, int] = {}
        self._sources: dict[int, tuple[str, str]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._event_at: float | None = None
        self.lost: InputLost | None = None
        # libpulse aborts the process when a freed connection is woken: closing it (the watch's
        # thread) and waking it (close(), another thread) never overlap, and never wake it after.
        self._conn_lock = threading.Lock()
        self._conn_open = True

    @classmethod
    def before_open(cls) -> PulseStreamWatch | None:
        """Call before opening the stream: notes the streams this process already has. None
        when there is no sound server to watch."""
        pulse = _connect("etude-watch")
        if pulse is None:
            return None
        try:
            return cls(pulse)
        except Exception:
            pulse.close()
            return None

    @property
    def source_name(self) -> str | None:
        """The server's name of the source the watched stream started on (None: not watching)."""
        return next(iter(self._sources.values()))[0] if self._sources else None

    def attach(self, on_lost: Callable[[InputLost], object]) -> bool:
        """Call once the stream runs: finds the stream(s) opened since :meth:`before_open` and
        starts watching them. False (and nothing watched) when the stream does not go through
        the server (a ``hw:`` device)."""
        try:
            self._streams = {
                i: s for i, s in _my_streams(self._pulse).items() if i not in self._before
            }
            for source in self._pulse.source_list():
                if int(source.index) in self._streams.values():
                    self._sources[int(source.index)] = (
                        str(source.name),
                        str(source.description or source.name),
                    )
        except Exception:
            log.exception("the sound server could not be asked about the new stream")
            self._streams = {}
        if not self._streams or not self._sources:
            self.close()
            return False
        self._thread = threading.Thread(
            target=self._run, args=(on_lost,), name="PulseStreamWatch", daemon=True
        )
        self._thread.start()
        return True

    def _run(self, on_lost: Callable[[InputLost], object]) -> None:
        pulsectl: Any = _pulsectl()  # imported by before_open already
        pulse = self._pulse
        try:
            pulse.event_mask_set("source_output", "source")

            def event(_ev: Any) -> None:
                # On this thread, inside libpulse's loop: no server calls here, only note when.
                if self._event_at is None:
                    self._event_at = time.perf_counter()
                raise pulsectl.PulseLoopStop

            pulse.event_callback_set(event)
            while not self._stop.is_set():
                pulse.event_listen(timeout=RECHECK_S)
                if self._stop.is_set():
                    return
                lost = self._check(self._event_at or time.perf_counter())
                self._event_at = None
                if lost is not None:
                    self.lost = lost
                    on_lost(lost)
                    return
        except Exception:
            if not self._stop.is_set():
                log.exception(
                    "watching the sound server failed; a pulled microphone is then "
                    "noticed only when its stream fails"
                )
        finally:
            with self._conn_lock:
                self._conn_open = False
                pulse.close()

    def _check(self, at_s: float) -> InputLost | None:
        now = _my_streams(self._pulse)
        present = {int(s.index) for s in self._pulse.source_list()}
        for stream, source in self._streams.items():
            name, description = self._sources.get(source, ("", ""))
            if source not in present:
                return InputLost(name, description, True, at_s)
            if stream in now and now[stream] != source:
                return InputLost(name, description, False, at_s)
        return None

    def close(self) -> None:
        """Stop watching; returns within about CLOSE_TIMEOUT_S."""
        if self._stop.is_set():
            return
        self._stop.set()
        thread = self._thread
        with self._conn_lock:
            if thread is None:
                self._conn_open = False
                self._pulse.close()
                return
            if self._conn_open:
                with contextlib.suppress(Exception):
                    self._pulse.event_listen_stop()
        if thread is not threading.current_thread():
            thread.join(CLOSE_TIMEOUT_S)
