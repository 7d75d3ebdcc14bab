"""One player for the window: the piece's preview, a take replayed. It reports where it is
(for a playhead) and can be moved (seek); opening and closing the output run on
``ctx.compute`` so the GUI thread never waits for the device."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.context import AppContext
from desktop.usecases.messages import failure_reason

if TYPE_CHECKING:
    from audio.playback import Playback

POSITION_HZ = 30


class Player(QObject):
    """Plays one thing at a time: starting another stops the first."""

    started = Signal(str)  # what is playing (its label)
    position_changed = Signal(float)  # seconds into what is playing
    stopped = Signal(str)  # it ended or was stopped (its label)
    failed = Signal(str)  # why it could not play, in words

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.playback: Playback | None = None
        self.label = ""
        self._ticket = 0  # which play() the next answer belongs to
        self._opening = False  # a play() whose output is being opened
        self._timer = QTimer(self)
        self._timer.setInterval(1000 // POSITION_HZ)
        self._timer.timeout.connect(self._tick)

    @property
    def is_playing(self) -> bool:
        return self.playback is not None

    @property
    def position_s(self) -> float:
        return self.playback.position_s if self.playback is not None else 0.0

    def play(self, label: str, make: Callable[[], Playback]) -> None:
        """Make the Playback (render or read the samples) and start it, off the GUI thread."""
        self.stop()
        self._ticket += 1
        ticket = self._ticket
        self.label = label
        self._opening = True

        def open_output() -> Playback:
            playback = make()
            playback.start()
            return playback

        def opened(playback: Playback) -> None:
            if ticket != self._ticket:  # stopped, or something else asked to play meanwhile
                self.ctx.compute.submit("stop playing", playback.stop)
                return
            self._opening = False
            self.playback = playback
            self._timer.start()
            self.started.emit(label)

        def could_not(exc: BaseException) -> None:
            if ticket == self._ticket:
                self._opening = False
                self.failed.emit(f"Cannot play {label}: {failure_reason(exc)}")
                self.stopped.emit(label)

        self.ctx.compute.submit(f"play {label}", open_output, opened, could_not)

    def seek(self, seconds: float) -> None:
        if self.playback is not None:
            self.playback.seek(seconds)
            self.position_changed.emit(self.playback.position_s)

    def stop(self) -> None:
        self._ticket += 1
        playback, self.playback = self.playback, None
        opening, self._opening = self._opening, False
        self._timer.stop()
        if playback is not None:
            self.ctx.compute.submit("stop playing", playback.stop)
        if playback is not None or opening:
            self.stopped.emit(self.label)

    def _tick(self) -> None:
        playback = self.playback
        if playback is None:
            return
        self.position_changed.emit(playback.position_s)
        if playback.finished:
            self.stop()
