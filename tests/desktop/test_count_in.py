"""Record take (R) counts in one bar at the session's tempo, then records; a red mark with a
running timer shows the take. Real offscreen window, real analysis worker, real take file."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from desktop.usecases.plan import SessionPlan
from desktop.widgets.metronome import ClickStream
from desktop.widgets.take_indicator import format_take_time
from tests.desktop.conftest import wait_idle
from tests.desktop.helpers import scale_source


def _listening(qtbot: Any, page: Any, tempo: int | None) -> None:
    page.set_plan(SessionPlan(piece_name="Scale", target_tempo_bpm=tempo))
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()


def test_r_counts_in_one_bar_at_the_tempo_then_records_with_a_running_timer(qtbot, main_window):
    page = main_window.practice
    assert page.count_in_box.isChecked()  # on by default
    _listening(qtbot, page, tempo=240)  # a beat every 0.25 s: the bar lasts 1 s
    beats: list[tuple[Any, float]] = []
    page.controller.count_in_changed.connect(lambda b: beats.append((b, time.monotonic())))
    shown: list[str] = []
    page.controller.count_in_changed.connect(lambda _b: shown.append(page.take_indicator.text()))
    t0 = time.monotonic()
    with qtbot.waitSignal(page.take_started, timeout=10_000):
        page.toggle_take()  # R
        assert page.controller.is_counting_in and not page.is_recording
        assert page.record_button.text().startswith("Cancel count-in")
    started = time.monotonic()
    assert [b for b, _ in beats] == [0, 1, 2, 3, 4, None]
    assert "Count-in  2 / 4" in shown
    # The bar is counted from when the clicks start (the output opens first): beat n is shown
    # no earlier than (n - 1) x 0.25 s after beat 1 (a busy GUI thread may show it late, never
    # early), and the take starts one bar after beat 1.
    first = beats[1][1]
    for n, (_beat, t) in enumerate(beats[2:5], start=2):
        assert t - first >= (n - 1) * 0.25 - 0.01
    assert 0.99 <= started - first <= 1.3
    assert started - t0 >= 0.95
    assert page.is_recording
    assert page.take_indicator.isVisible() or not main_window.isVisible()
    assert page.take_indicator.text() == "● REC  0:00"
    qtbot.waitUntil(lambda: page.take_indicator.text() == "● REC  0:01", timeout=5_000)
    with qtbot.waitSignal(page.take_saved, timeout=20_000):
        page.toggle_take()
    assert page.take_indicator.state == "idle" and page.take_indicator.text() == ""
    page.end_session()
    wait_idle(qtbot, main_window.ctx)


def test_r_again_during_the_count_in_cancels_it_and_nothing_is_recorded(qtbot, main_window):
    page = main_window.practice
    _listening(qtbot, page, tempo=60)  # a 4 s bar
    started: list[str] = []
    page.take_started.connect(started.append)
    page.toggle_take()
    qtbot.waitUntil(lambda: page.take_indicator.text() == "Count-in  1 / 4", timeout=5_000)
    page.toggle_take()  # R again
    assert not page.controller.is_counting_in
    assert page.take_indicator.state == "idle"
    assert page.record_button.text().startswith("Record take")
    qtbot.wait(4500)
    assert started == [] and not page.is_recording
    page.end_session()
    wait_idle(qtbot, main_window.ctx)


def test_without_a_tempo_or_with_count_in_off_r_records_at_once(qtbot, main_window):
    page = main_window.practice
    _listening(qtbot, page, tempo=None)
    with qtbot.waitSignal(page.take_started, timeout=1_000):
        page.toggle_take()
    with qtbot.waitSignal(page.take_saved, timeout=20_000):
        page.toggle_take()
    page.count_in_box.setChecked(False)
    assert main_window.ctx.prefs.count_in_on is False  # remembered
    page.set_plan(SessionPlan(piece_name="Scale", target_tempo_bpm=240))
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    with qtbot.waitSignal(page.take_started, timeout=1_000):
        page.toggle_take()
    assert not page.controller.is_counting_in
    page.end_session()
    wait_idle(qtbot, main_window.ctx)


def test_the_count_in_click_stream_writes_exactly_one_bar():
    sr = 48000
    click = ClickStream(bpm=120.0, sample_rate_hz=sr, max_beats=4)
    out = np.zeros((sr * 4, 1), dtype=np.float32)
    for i in range(0, len(out), 256):
        chunk = out[i : i + 256]
        click._callback(chunk, len(chunk), None, None)
    loud = np.flatnonzero(np.abs(out[:, 0]) > 0.1)
    starts = loud[np.insert(np.diff(loud) > sr // 10, 0, True)]
    # Four clicks, each on its beat's sample (a sine burst crosses 0.1 two samples in).
    assert len(starts) == 4
    assert np.all(
        (starts - np.array([0, sr // 2, sr, 3 * sr // 2]) >= 0) & (starts % (sr // 2) < 4)
    )


def test_take_time_reads_minutes_and_seconds():
    assert [format_take_time(s) for s in (0, 7.9, 83, 725)] == ["0:00", "0:07", "1:23", "12:05"]
