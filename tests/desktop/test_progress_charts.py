"""The progress window from a student's first day to ten years: empty states that say what will
appear, one practice day drawn as a point and a narrow bar under local dates, ticks that never
collide, charts the mouse cannot zoom away, and the dark theme applied at once."""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QFontMetrics, QWheelEvent
from PySide6.QtWidgets import QApplication, QWidget

from desktop.progress_window import SERIES_STYLE, practice_time_text, streak_text
from desktop.widgets.date_axis import LocalDateAxis, day_x, x_day
from tests.desktop.conftest import wait_idle
from tests.desktop.helpers import write_scale_wav

DAY_LABEL = re.compile(r"^\d{1,2} \w+( \d{4})?$")


def _open_progress(qtbot: Any, window: Any) -> Any:
    win = window.prepare_progress_window()
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.drawn, timeout=10_000):
        window.open_progress()
    return win


def _lightness(widget: QWidget) -> tuple[int, int]:
    """(darkest, lightest) pixel of the widget as drawn on screen."""
    img = widget.grab().toImage()
    values = [
        img.pixelColor(x, y).lightness()
        for x in range(0, img.width(), 2)
        for y in range(0, img.height(), 2)
    ]
    return min(values), max(values)


def _ticks(axis: Any, lo: float, hi: float, width_px: float) -> list[tuple[float, str]]:
    levels = axis.tickValues(lo, hi, width_px)
    out: list[tuple[float, str]] = []
    for spacing, values in levels:
        out += zip(values, axis.tickStrings(values, 1.0, spacing), strict=True)
    return out


def test_a_new_students_progress_says_what_will_appear(qtbot, main_window):
    win = _open_progress(qtbot, main_window)
    for chart in win.charts():
        assert chart.is_empty
        assert chart.empty.isVisible() and not chart.plot.isVisible()
        assert "will appear" in chart.empty.text()
        assert not chart.export_button.isEnabled()
    assert win.streak.text() == "No streak yet: practise today to start one"
    assert "0 sessions" in win.cards[7].body.text()


def test_one_practice_day_is_a_marked_point_and_a_narrow_bar_under_local_dates(
    qtbot, main_window, tmp_path
):
    with qtbot.waitSignal(main_window.file_analysed, timeout=30_000):
        assert main_window.analyse_file(write_scale_wav(tmp_path / "scale.wav"))
    wait_idle(qtbot, main_window.ctx)
    win = _open_progress(qtbot, main_window)
    win.resize(1100, 900)
    qtbot.wait(50)

    assert not win.scores.is_empty and not win.practice.is_empty
    overall = win.score_curves["avg_overall_score"]
    x, y = overall.getData()
    assert len(x) == 1 and 0 < y[0] <= 1
    # A single point draws no line: it has a marker.
    assert overall.opts["symbol"] == "o"
    # The chart shows a week around the day, not a few seconds of it.
    (lo, hi), _ = win.scores.plot.getViewBox().viewRange()
    assert hi - lo >= 7 * 86400
    assert lo <= x[0] <= hi
    # The one practice week's bar is a slim part of the chart, not all of it.
    (plo, phi), _ = win.practice.plot.getViewBox().viewRange()
    assert win.practice_bars.opts["width"] / (phi - plo) < 0.15

    # Ticks are local days (Mondays, for weeks), labelled like "3 Dec", around this week.
    axis = win.scores.plot.getAxis("bottom")
    ticks = _ticks(axis, lo, hi, axis.width())
    labels = [text for _, text in ticks]
    assert len(ticks) >= 3
    assert all(DAY_LABEL.match(t) for t in labels), labels
    days = [x_day(v) for v, _ in ticks]
    assert all(d.weekday() == 0 for d in days)
    assert labels == [f"{d.day} {d.strftime('%b')}" for d in days]
    today = date.today()
    assert days[0] < today <= days[-1] + timedelta(days=7)
    assert abs((x_day(x[0]) - today).days) <= 6

    assert win.streak.text() == "Streak: 1 day (longest 1 day)"
    assert "1 session\n" in win.cards[7].body.text()
    assert "1 take analysed" in win.cards[7].body.text()


@pytest.mark.parametrize("width_px", [260, 500, 1100])
@pytest.mark.parametrize("span_days", [1, 8, 60, 365, 3 * 365, 10 * 365, 40 * 365])
def test_date_tick_labels_never_collide(qtbot, width_px, span_days):
    plot = pg.PlotWidget(axisItems={"bottom": LocalDateAxis()})
    qtbot.addWidget(plot)
    axis = plot.getAxis("bottom")
    hi_day = date(2026, 12, 3)
    lo, hi = day_x(hi_day - timedelta(days=span_days)), day_x(hi_day)
    ticks = _ticks(axis, lo, hi, width_px)
    assert ticks, (span_days, width_px)
    assert len(ticks) >= 2 or span_days <= 1 or width_px < 300
    metrics = QFontMetrics(axis.style.get("tickFont") or axis.font())
    px = [(v - lo) / (hi - lo) * width_px for v, _ in ticks]
    widths = [metrics.horizontalAdvance(t) for _, t in ticks]
    for i in range(1, len(ticks)):
        # Labels are centred on their ticks: half of each must fit between them.
        assert px[i] - px[i - 1] >= (widths[i] + widths[i - 1]) / 2 + 4, ticks
    for _, text in ticks:
        assert ":" not in text and "." not in text


def test_the_mouse_wheel_does_not_zoom_a_progress_chart(qtbot, main_window, tmp_path):
    with qtbot.waitSignal(main_window.file_analysed, timeout=30_000):
        main_window.analyse_file(write_scale_wav(tmp_path / "scale.wav"))
    wait_idle(qtbot, main_window.ctx)
    win = _open_progress(qtbot, main_window)
    for chart in win.charts():
        if chart.is_empty:
            continue
        view = chart.plot.viewport()
        before = chart.plot.getViewBox().viewRange()
        centre = QPointF(view.width() / 2, view.height() / 2)
        wheel = QWheelEvent(
            centre,
            view.mapToGlobal(centre),
            QPoint(0, 0),
            QPoint(0, 360),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(view, wheel)
        qtbot.wait(20)
        assert chart.plot.getViewBox().viewRange() == before, chart.title


def test_switching_to_dark_applies_at_once_to_headings_charts_and_buttons(
    qtbot, main_window, tmp_path
):
    with qtbot.waitSignal(main_window.file_analysed, timeout=30_000):
        main_window.analyse_file(write_scale_wav(tmp_path / "scale.wav"))
    wait_idle(qtbot, main_window.ctx)
    main_window.apply_settings(replace(main_window.ctx.prefs, theme="light"))
    win = _open_progress(qtbot, main_window)
    page = main_window.practice
    main_window.show()
    heading = page.plan_label  # a bold heading (styled by a style sheet)
    assert _lightness(heading)[0] < 60  # dark text on a light window

    with qtbot.waitSignal(win.drawn, timeout=10_000):
        main_window.apply_settings(replace(main_window.ctx.prefs, theme="dark"))
    qtbot.wait(50)  # Qt hands the new palette to each widget in an event
    # The heading: light text on a dark window, without reopening anything.
    darkest, lightest = _lightness(heading)
    assert darkest > 30 and lightest > 200
    # The charts already open: dark background, light axes, the Overall line readable.
    img = win.scores.plot.grab().toImage()
    assert img.pixelColor(img.width() // 2, 5).lightness() < 60
    overall = win.score_curves["avg_overall_score"].opts["pen"].color()
    assert overall.lightness() > 180
    assert overall.getRgb()[:3] == SERIES_STYLE["avg_overall_score"][2]
    axis_text = win.scores.plot.getAxis("bottom").textPen().color()
    assert axis_text.lightness() > 180
    # A disabled button looks it: "Record take" (before Start) is much dimmer than "Start".
    assert not page.record_button.isEnabled() and page.start_button.isEnabled()
    assert _lightness(page.record_button)[1] < _lightness(page.start_button)[1] - 60

    # And back to light, at once too.
    main_window.apply_settings(replace(main_window.ctx.prefs, theme="light"))
    qtbot.wait(50)
    assert _lightness(heading)[0] < 60
    img = win.scores.plot.grab().toImage()
    assert img.pixelColor(img.width() // 2, 5).lightness() > 200
    assert streak_text(2, 5) == "Streak: 2 days (longest 5 days)"


def test_practice_time_reads_in_minutes_then_hours() -> None:
    assert practice_time_text(0.0, 0) == "0 min"
    assert practice_time_text(0.0, 1) == "under 1 min"  # a first ten-second session
    assert practice_time_text(0.5, 3) == "30 min"
    assert practice_time_text(3.46, 9) == "3.5 h"


def test_preparing_the_progress_window_opens_no_stray_window(qtbot, main_window):
    """The progress window is built behind the practice window; none of its parts may become
    a window of its own (a stray one took the focus, and Space and R stopped working)."""
    main_window.show()
    qtbot.waitExposed(main_window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # still the only way offscreen
        QApplication.setActiveWindow(main_window)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is main_window, timeout=5_000)
    main_window.progress_window = None  # build it again, as at start-up
    win = main_window.prepare_progress_window()
    qtbot.addWidget(win)
    qtbot.wait(50)
    shown = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    assert shown == [main_window], shown
    assert QApplication.activeWindow() is main_window
