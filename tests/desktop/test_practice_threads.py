"""No blocking call on the GUI thread: opening the input, starting and finishing a take (the
recorder joins its writer thread, flushes and renames the file) and stopping the analysis
worker (joins its thread) all run on the audio runner, while the window keeps repainting."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from audio.recorder import TakeRecorder
from audio.worker import AnalysisWorker
from tests.desktop.conftest import wait_idle
from tests.desktop.helpers import record_a_take


def _spy(
    monkeypatch: pytest.MonkeyPatch, cls: type, name: str, seen: list[tuple[str, str]]
) -> None:
    """Record the thread each call of the real ``cls.name`` runs on (the call itself is real)."""
    real: Callable[..., Any] = getattr(cls, name)

    def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append((f"{cls.__name__}.{name}", threading.current_thread().name))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, recorded)


def test_the_take_and_session_lifecycle_never_blocks_the_gui_thread(
    qtbot: Any, main_window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []
    for cls, name in (
        (AnalysisWorker, "start"),
        (AnalysisWorker, "start_take"),
        (AnalysisWorker, "stop_take"),
        (AnalysisWorker, "stop"),
        (TakeRecorder, "close"),
    ):
        _spy(monkeypatch, cls, name, seen)
    page = main_window.practice
    record_a_take(qtbot, page)
    with qtbot.waitSignal(page.take_saved, timeout=20_000):
        assert page.stop_take()
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000):
        page.end_session()
    wait_idle(qtbot, main_window.ctx)

    calls = {call for call, _thread in seen}
    assert calls == {
        "AnalysisWorker.start",
        "AnalysisWorker.start_take",
        "AnalysisWorker.stop_take",
        "AnalysisWorker.stop",
        "TakeRecorder.close",
    }
    gui = threading.main_thread().name
    assert [call for call, thread in seen if thread == gui] == []
