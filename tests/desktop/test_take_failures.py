"""A take whose file could not be finished (disk full, folder gone) must never get a history row
that points at a file that does not exist, or at an earlier take's file.

The disk really fills up: the recordings folder is a small tmpfs of its own, filled to the last
byte while the take is being written, so the recorder's writes fail with ENOSPC as they would on
a student's full disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import soundfile as sf

from desktop.usecases.recovery import recover_after_crash, recovery_problem, recovery_summary
from storage.sessions import get_complete_session_data
from tests.conftest import fill_disk
from tests.desktop.conftest import wait_idle
from tests.desktop.helpers import scale_source


def _performances(window: Any, session_id: Any) -> list[Any]:
    with window.ctx.database.sessionmaker() as s:
        return list(get_complete_session_data(s, session_id).performances)


def _the_part(folder: Path) -> Path:
    (part,) = folder.glob("*.flac.part")
    return part


def test_a_take_that_could_not_be_written_is_not_stored_twice_or_pointing_nowhere(
    qtbot, main_window, small_disk
):
    main_window.ctx.recordings_dir = small_disk
    page = main_window.practice
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    session_id = page.session.id

    # Measured from where each take starts: the input may have run a while before.
    assert page.start_take()
    p0 = page.controller.position_s
    qtbot.waitUntil(lambda: page.controller.position_s >= p0 + 0.6, timeout=10_000)
    with qtbot.waitSignal(page.take_saved, timeout=20_000):
        page.stop_take()

    assert page.start_take()
    p0 = page.controller.position_s
    qtbot.waitUntil(lambda: page.controller.position_s >= p0 + 1.8, timeout=10_000)
    part = _the_part(small_disk)
    filler = fill_disk(small_disk)  # the disk is full from here on
    qtbot.waitUntil(lambda: page.controller.position_s >= p0 + 2.8, timeout=10_000)
    page.stop_take()
    wait_idle(qtbot, main_window.ctx)

    perfs = _performances(main_window, session_id)
    # Only the good first take is in the history; the broken one is not stored under a file
    # name that does not exist.
    assert len(perfs) == 1
    assert all(Path(p.performance.audio_path).is_file() for p in perfs)
    text = page.messages.text()
    assert text.startswith("The take could not be finished (")
    assert "the disk is full" in text
    assert text.count(part.name) == 1 and str(part) in text and "next time" in text
    assert part.is_file()  # the audio so far is kept for the repair at the next start
    page.end_session()  # Stop only pauses; the session is ended, nothing left to abandon
    wait_idle(qtbot, main_window.ctx)

    # The next starts, with the disk still full: the repair needs space for its output, so the
    # .part is kept exactly as it is (never "unreadable"), and the student is told why.
    raw = part.read_bytes()
    for _ in range(2):
        with main_window.ctx.database.sessionmaker() as s:
            result = recover_after_crash(s, main_window.ctx.recordings_dir)
            s.commit()
        assert result.repaired == [] and result.attached == 0
        assert result.postponed == [(part, "the disk is full")]
        assert part.read_bytes() == raw
        assert sorted(p.name for p in small_disk.iterdir() if p.suffix != ".mid") == sorted(
            [Path(perfs[0].performance.audio_path).name, part.name, filler.name]
        )
        problem = recovery_problem(result, small_disk)
        assert problem is not None and "the disk is full" in problem and part.name in problem
        assert "tries again at every start" in problem
        assert recovery_summary(result, small_disk) is None  # nothing repaired, nothing to claim
    assert len(_performances(main_window, session_id)) == 1

    # Space is freed; the next start repairs the take and attaches it once: two takes, both
    # playable, the recovered one holding the audio that reached the disk before it filled.
    os.unlink(filler)
    with main_window.ctx.database.sessionmaker() as s:
        result = recover_after_crash(s, main_window.ctx.recordings_dir)
        s.commit()
    assert result.attached == 1 and result.postponed == []
    assert recovery_problem(result, small_disk) is None
    perfs = _performances(main_window, session_id)
    assert len(perfs) == 2
    paths = [Path(p.performance.audio_path) for p in perfs]
    assert len(set(paths)) == 2 and all(p.is_file() for p in paths)
    assert sum(bool(p.performance.recovered) for p in perfs) == 1
    assert all(sf.info(str(p)).frames > 0 for p in paths)
    (recovered,) = [p for p in perfs if p.performance.recovered]
    assert recovered.performance.recording_duration >= 1.0


def test_the_input_ending_a_take_that_could_not_be_written_does_not_repeat_the_last_take(
    qtbot, main_window, small_disk
):
    main_window.ctx.recordings_dir = small_disk
    page = main_window.practice
    # The source dies at 3.5 s; by then the second take's disk is already full.
    page.source_factory = lambda prefs: scale_source(fail_after_s=3.5, total_s=30.0)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    session_id = page.session.id
    assert page.start_take()
    qtbot.waitUntil(lambda: page.controller.position_s >= 0.6, timeout=10_000)
    with qtbot.waitSignal(page.take_saved, timeout=20_000):
        page.stop_take()
    first = _performances(main_window, session_id)[0].performance.audio_path

    assert page.start_take()
    qtbot.waitUntil(lambda: page.controller.position_s >= 2.2, timeout=10_000)
    part = _the_part(small_disk)
    fill_disk(small_disk)
    qtbot.waitUntil(lambda: not page.is_live, timeout=10_000)
    wait_idle(qtbot, main_window.ctx)

    perfs = _performances(main_window, session_id)
    assert [p.performance.audio_path for p in perfs] == [first]
    text = page.messages.text()
    assert "saved" not in text and text.count(str(part)) == 1
    assert "The input stopped" in text
