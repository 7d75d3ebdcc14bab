"""Replay a take in the real window: its contour and notes drawn from its file, a playhead that
follows the real output's position, a click on the plot that plays from there, and a
comparison with a take of the same piece from another session."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from desktop.usecases.plan import SessionPlan
from desktop.widgets.take_card import format_value
from tests.audio.nullsink import require_null_sink
from tests.desktop.conftest import wait_idle
from tests.desktop.helpers import SCALE, scale_source

pytestmark = pytest.mark.mic


def _session_with_a_take(qtbot: Any, window: Any) -> Any:
    page = window.practice
    page.set_plan(SessionPlan(piece_name="Scale", target_tempo_bpm=100))
    page.source_factory = lambda prefs: scale_source(total_s=3.6)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    assert page.start_take()
    qtbot.waitUntil(lambda: page.controller.position_s >= 3.5, timeout=15_000)
    with qtbot.waitSignal(page.take_saved, timeout=20_000) as saved:
        page.stop_take()
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000):
        page.end_session()
    wait_idle(qtbot, window.ctx)
    return saved.args[0]


def test_replay_follows_the_sound_seeks_on_click_and_compares_two_takes(qtbot, main_window):
    require_null_sink()
    last_week = _session_with_a_take(qtbot, main_window)
    today = _session_with_a_take(qtbot, main_window)
    assert last_week.performance.session_id != today.performance.session_id
    takes = main_window.practice.takes
    qtbot.waitUntil(lambda: len(takes.rows) == 1, timeout=5_000)
    opened: list[Any] = []
    main_window.practice.takes.replay_requested.connect(lambda *a: opened.append(a))
    takes.replay_button.click()
    win = main_window.replay_window
    assert win is not None and opened[0][1].startswith("Take 1 · ")
    qtbot.waitUntil(lambda: win.contour is not None, timeout=15_000)
    # The contour from the file: the scale's eight notes, and a bar per scored note.
    midi = np.array(win.contour.midi)
    voiced = np.round(midi[np.isfinite(midi)])
    assert set(SCALE) <= {int(m) for m in voiced}
    assert len(win.plot.notes_item.opts["x"]) == len(SCALE)
    # The other take of the same piece is offered; comparing overlays it and its scores.
    qtbot.waitUntil(lambda: win.compare.count() == 2, timeout=5_000)
    with qtbot.waitSignal(win.compared, timeout=15_000):
        win.compare_with(0)
    xs, _ys = win.plot.other.getData()
    assert xs is not None and len(xs) > 100
    row = [win.scores.verticalHeaderItem(r).text() for r in range(win.scores.rowCount())]
    overall = row.index("Overall")
    assert win.scores.item(overall, 0).text() == format_value(today.analysis.overall_score, "pct")
    assert win.scores.item(overall, 1).text() == format_value(
        last_week.analysis.overall_score, "pct"
    )

    # Play: the playhead follows the output's position.
    with qtbot.waitSignal(main_window.practice.player.started, timeout=10_000):
        win.play_button.click()
    assert win.play_button.text() == "■ Stop"
    qtbot.waitUntil(lambda: win.plot.playhead.value() > 0.4, timeout=5_000)
    assert win.time_label.text().endswith(" / 0:03")

    # A click on the plot at 2.5 s plays from there.
    win.show()
    qtbot.waitExposed(win)
    vb = win.plot.plotItem.vb
    scene = vb.mapViewToScene(QPointF(2.5, 65.0))
    where = win.plot.mapFromScene(scene)
    qtbot.mouseClick(
        win.plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(where.x(), where.y())
    )
    qtbot.waitUntil(lambda: win.plot.playhead.value() >= 2.5, timeout=2_000)
    assert main_window.practice.player.position_s == pytest.approx(2.5, abs=0.5)
    with qtbot.waitSignal(main_window.practice.player.stopped, timeout=5_000):
        pass  # the take ends 1.1 s later
    assert win.play_button.text() == "▶ Play"
    win.close()
    wait_idle(qtbot, main_window.ctx)
