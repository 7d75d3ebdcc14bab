"""Nothing stale on screen: the tuner through silence, after Stop and into a new session;
History's detail pane and its date filter."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from PySide6.QtCore import QDate

from storage.sessions import create_session, end_session
from tests.desktop.conftest import wait_idle
from tests.desktop.helpers import FIRST_ONSET_S, NOTE_SPACING_S, SCALE, scale_source

SCALE_END_S = FIRST_ONSET_S + len(SCALE) * NOTE_SPACING_S


def _start(qtbot: Any, page: Any, total_s: float) -> None:
    page.source_factory = lambda prefs: scale_source(total_s=total_s)
    with qtbot.waitSignal(page.live_changed, timeout=10_000):
        assert page.start_practice()


def test_the_tuner_reads_dash_in_silence_after_stop_and_in_a_new_session(qtbot, main_window):
    page = main_window.practice
    tuner = page.tuner
    _start(qtbot, page, total_s=30.0)
    qtbot.waitUntil(lambda: tuner.reading_text() != "—", timeout=10_000)
    played = tuner.reading_text()
    assert played[0] in "CDEFGAB"
    # The scale ends; a second of silence later the dial no longer shows its last note.
    qtbot.waitUntil(lambda: page.controller.position_s >= SCALE_END_S + 1.0, timeout=15_000)
    qtbot.wait(100)
    assert page.is_live
    assert tuner.reading_text() == "—"
    with qtbot.waitSignal(page.live_changed, timeout=10_000):
        page.stop_practice()
    wait_idle(qtbot, main_window.ctx)

    # Stop (the session stays open) in the middle of a note: the reading goes with it, and
    # listening again in the same session starts from an empty dial.
    _start(qtbot, page, total_s=30.0)
    qtbot.waitUntil(lambda: tuner.reading_text() != "—", timeout=10_000)
    with qtbot.waitSignal(page.live_changed, timeout=10_000):
        page.stop_practice()
    assert tuner.reading_text() == "—"
    wait_idle(qtbot, main_window.ctx)
    assert tuner.reading_text() == "—"

    # A new session starts with an empty dial, whatever the last one showed.
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000):
        page.end_session()
    wait_idle(qtbot, main_window.ctx)
    tuner.set_reading(69, 12.0)
    _start(qtbot, page, total_s=30.0)
    assert tuner.reading_text() == "—"
    page.stop_practice()
    wait_idle(qtbot, main_window.ctx)


def _session(window: Any, piece: str, day: date) -> Any:
    started = datetime.combine(day, time(10)).astimezone()
    with window.ctx.database.transaction() as s:
        rec = create_session(s, window.ctx.profile.id, piece_name=piece, started_at=started)
        end_session(s, rec.id, started + timedelta(minutes=20))
    return rec


def test_history_detail_goes_when_the_filter_hides_its_session(qtbot, main_window):
    today = date.today()
    scales = _session(main_window, "Scales", today)
    _session(main_window, "Minuet", today)
    hist = main_window.history
    hist.reload()
    qtbot.waitUntil(lambda: len(hist.shown) == 2, timeout=10_000)
    with qtbot.waitSignal(hist.session_opened, timeout=10_000):
        hist.open_session(scales.id)
    assert "Scales" in hist.detail.toPlainText()

    # A filter that keeps it keeps the detail (and its row stays selected).
    hist.piece.setText("sca")
    assert [s.piece_name for s in hist.shown] == ["Scales"]
    assert "Scales" in hist.detail.toPlainText()
    assert hist.tree.currentItem() is not None
    assert hist.tree.currentItem().text(1) == "Scales"
    # One that hides it clears it.
    hist.piece.setText("minuet")
    assert [s.piece_name for s in hist.shown] == ["Minuet"]
    assert hist.detail.toPlainText() == ""
    assert hist.detail_session_id is None


def test_history_shows_a_session_started_after_midnight_with_the_app_open(qtbot, main_window):
    hist = main_window.history
    today = date.today()
    tomorrow = today + timedelta(days=1)
    hist.today = lambda: today  # the app was opened today
    hist.reload()
    wait_idle(qtbot, main_window.ctx)
    assert hist.until.date() == QDate(today.year, today.month, today.day)

    # Midnight passes with the window open; the student practises on the new day.
    _session(main_window, "After midnight", tomorrow)
    hist.today = lambda: tomorrow
    hist.reload()
    wait_idle(qtbot, main_window.ctx)
    assert [s.piece_name for s in hist.shown] == ["After midnight"]
    assert hist.until.date() == QDate(tomorrow.year, tomorrow.month, tomorrow.day)

    # A "to" date the student chose stays theirs.
    hist.until.setDate(QDate(today.year, today.month, today.day))
    assert hist.shown == []
    hist.today = lambda: tomorrow + timedelta(days=1)
    hist.reload()
    wait_idle(qtbot, main_window.ctx)
    assert hist.shown == []
    assert hist.until.date() == QDate(today.year, today.month, today.day)
