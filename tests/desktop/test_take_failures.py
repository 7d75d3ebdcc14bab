"""A take whose file could not be finished (disk full, folder gone) must never get a history row
that points at a file that does not exist, or at an earlier take's file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import soundfile as sf

from desktop.app import recover_after_crash
from storage.sessions import get_complete_session_data
from tests.desktop.conftest import wait_idle
from tests.desktop.helpers import scale_source


def _performances(window: Any, session_id: Any) -> list[Any]:
    with window.ctx.database.sessionmaker() as s:
        return list(get_complete_session_data(s, session_id).performances)


def _break_disk(page: Any) -> Path:
    """The running take's writer hits ENOSPC: what a full disk does to the recorder."""
    rec = page.worker._recorder
    rec.error = OSError(28, "No space left on device")
    return Path(rec.part_path)


def test_a_take_that_could_not_be_written_is_not_stored_twice_or_pointing_nowhere(
    qtbot, main_window
):
    page = main_window.practice
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    session_id = page.session.id

    assert page.start_take()
    qtbot.waitUntil(lambda: page.worker.position_s >= 0.6, timeout=10_000)
    with qtbot.waitSignal(page.take_saved, timeout=20_000):
        page.stop_take()

    assert page.start_take()
    qtbot.waitUntil(lambda: page.worker.position_s >= 1.4, timeout=10_000)
    part = _break_disk(page)
    page.stop_take()
    wait_idle(qtbot, main_window.ctx)

    perfs = _performances(main_window, session_id)
    # Only the good first take is in the history; the broken one is not stored under a file
    # name that does not exist.
    assert len(perfs) == 1
    assert all(Path(p.performance.audio_path).is_file() for p in perfs)
    text = page.messages.text()
    assert str(part) in text and "next time" in text and "No space left" in text
    assert part.is_file()  # the audio so far is kept for the repair at the next start
    page.stop_practice()
    wait_idle(qtbot, main_window.ctx)

    # The next start repairs it and attaches it once: two takes, both playable.
    with main_window.ctx.database.sessionmaker() as s:
        result = recover_after_crash(s, main_window.ctx.recordings_dir)
        s.commit()
    assert result["attached"] == 1
    perfs = _performances(main_window, session_id)
    assert len(perfs) == 2
    paths = [Path(p.performance.audio_path) for p in perfs]
    assert len(set(paths)) == 2 and all(p.is_file() for p in paths)
    assert sum(p.performance.recovered for p in perfs) == 1
    assert all(sf.info(str(p)).frames > 0 for p in paths)


def test_the_input_ending_a_take_that_could_not_be_written_does_not_repeat_the_last_take(
    qtbot, main_window
):
    page = main_window.practice
    # The source dies at 2.5 s; by then the second take's writer has already hit a full disk.
    page.source_factory = lambda prefs: scale_source(fail_after_s=2.5, total_s=30.0)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    session_id = page.session.id
    assert page.start_take()
    qtbot.waitUntil(lambda: page.worker.position_s >= 0.6, timeout=10_000)
    with qtbot.waitSignal(page.take_saved, timeout=20_000):
        page.stop_take()
    first = _performances(main_window, session_id)[0].performance.audio_path

    assert page.start_take()
    qtbot.waitUntil(lambda: page.worker.position_s >= 1.2, timeout=10_000)
    part = _break_disk(page)
    qtbot.waitUntil(lambda: not page.is_live, timeout=10_000)
    wait_idle(qtbot, main_window.ctx)

    perfs = _performances(main_window, session_id)
    assert [p.performance.audio_path for p in perfs] == [first]
    text = page.messages.text()
    assert "saved" not in text and str(part) in text
