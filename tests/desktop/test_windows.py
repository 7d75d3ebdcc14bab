"""Progress window on demo data, the export dialog, history, settings, drops, start-up errors."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDate, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QDropEvent, QImage

from desktop.progress_window import MILESTONE_WORDS, milestone_lines, streak_text
from storage import progress
from storage.demo import DEMO_PROFILE_NAME, create_demo
from storage.profiles import ensure_default_profile, get_profile, set_profile_timezone
from storage.sessions import create_session, get_user_sessions
from storage.stats import calculate_user_stats
from tests.desktop.conftest import wait_idle
from tests.desktop.helpers import SCALE, crashed_take, write_scale_wav


def _select_profile(qtbot: Any, window: Any, name: str) -> Any:
    with qtbot.waitSignal(window.profiles_loaded, timeout=10_000):
        window.load_profiles()
    i = window.profile_combo.findText(name)
    assert i >= 0
    window.profile_combo.setCurrentIndex(i)
    assert window.ctx.profile.display_name == name
    return window.ctx.profile


@pytest.fixture
def demo_window(qtbot: Any, main_window: Any) -> Any:
    with main_window.ctx.database.transaction() as s:
        create_demo(s, 120)
    _select_profile(qtbot, main_window, DEMO_PROFILE_NAME)
    wait_idle(qtbot, main_window.ctx)
    return main_window


def test_progress_window_draws_the_demo_series(qtbot, demo_window, tmp_path):
    win = demo_window.open_progress()
    qtbot.addWidget(win)
    qtbot.waitUntil(
        lambda: win.data is not None and win.data.period_type == "weekly", timeout=10_000
    )
    pid = demo_window.ctx.profile.id
    with demo_window.ctx.database.sessionmaker() as s:
        weekly = progress.progress_series(s, pid, "weekly", "avg_overall_score")
        minutes = progress.practice_time_series(s, pid, "weekly")
        stats30 = calculate_user_stats(s, pid, 30)
        stats365 = calculate_user_stats(s, pid, 365)
    x, y = win.score_curves["avg_overall_score"].getData()
    assert len(x) == len(weekly) > 10
    assert [round(v, 9) for v in y] == [round(v, 9) for _, v in weekly]
    bars = win.practice_bars.opts
    assert list(bars["height"]) == pytest.approx([m for _, m in minutes])
    assert f"{stats30.total_sessions} sessions" in win.cards[30].body.text()
    assert win.streak.text() == streak_text(
        stats365.current_streak_days, stats365.longest_streak_days
    )
    shown = [win.milestones.item(i).text() for i in range(win.milestones.count())]
    assert any("First session" in line for line in shown)
    # Each kind of milestone once: years of streaks do not bury the rest.
    kinds = [line.split("  ", 1)[1].split(":")[0] for line in shown]
    assert len(kinds) == len(set(kinds)) <= len(MILESTONE_WORDS)

    # Monthly granularity redraws from the monthly rows.
    with qtbot.waitSignal(win.drawn, timeout=10_000):
        win.period.setCurrentIndex(win.period.findData("monthly"))
    with demo_window.ctx.database.sessionmaker() as s:
        monthly = progress.progress_series(s, pid, "monthly", "avg_pitch_accuracy")
    assert len(win.score_curves["avg_pitch_accuracy"].getData()[0]) == len(monthly)

    # Every chart exports as a PNG.
    for chart in win.charts():
        out = chart.export_png(tmp_path / f"{chart.title}.png", width=800)
        img = QImage(str(out))
        assert not img.isNull() and img.width() == 800
        assert out.stat().st_size < 300_000


def test_export_dialog_writes_csv_off_the_gui_thread(qtbot, demo_window, tmp_path):
    dialog = demo_window.open_export()
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(tmp_path / "out"))
    dialog.table_boxes["progress"].setChecked(False)
    with qtbot.waitSignal(dialog.export_finished, timeout=30_000) as sig:
        assert dialog.start_export()
    result = sig.args[0]
    assert set(result.files) == {"sessions", "performances", "analyses"}
    pid = str(demo_window.ctx.profile.id)
    with (tmp_path / "out" / "sessions.csv").open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == result.rows["sessions"] > 0
    assert {r["user_id"] for r in rows} == {pid}
    assert not (tmp_path / "out" / "progress.csv").exists()
    assert dialog.bar.value() == dialog.bar.maximum()
    assert "Exported" in dialog.message.text()
    # The window's export is for spreadsheets by default (byte-order mark); unticked, plain UTF-8.
    assert (tmp_path / "out" / "sessions.csv").read_bytes().startswith(b"\xef\xbb\xbfid,")
    dialog.excel_bom.setChecked(False)
    dialog.folder.setText(str(tmp_path / "plain"))
    with qtbot.waitSignal(dialog.export_finished, timeout=30_000):
        assert dialog.start_export()
    assert (tmp_path / "plain" / "sessions.csv").read_bytes().startswith(b"id,")


def test_cancelling_an_export_leaves_no_file(qtbot, demo_window, tmp_path):
    dialog = demo_window.open_export()
    qtbot.addWidget(dialog)
    out = tmp_path / "cancelled"
    dialog.folder.setText(str(out))
    assert dialog.start_export()
    dialog.cancel_button.click()  # while the export runs: cancel, not close
    wait_idle(qtbot, demo_window.ctx)
    assert "Export cancelled" in dialog.message.text()
    assert dialog.result_data is None
    assert list(out.glob("*.csv")) == [] and list(out.glob(".*.part")) == []


def test_export_dialog_refuses_bad_input_without_writing(qtbot, main_window, tmp_path):
    dialog = main_window.open_export()
    qtbot.addWidget(dialog)
    for box in dialog.table_boxes.values():
        box.setChecked(False)
    assert not dialog.start_export()
    assert "at least one table" in dialog.message.text()
    dialog.table_boxes["sessions"].setChecked(True)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    dialog.folder.setText(str(a_file))
    assert not dialog.start_export()
    assert "is a file" in dialog.message.text()
    assert a_file.read_text() == "x"


def test_settings_persist_across_a_restart(qtbot, main_window, db_url):
    from desktop.app import create_main_window

    dialog = main_window.settings_dialog()
    qtbot.addWidget(dialog)
    dialog.a4.setValue(442.0)
    dialog.transpose.setValue(-2)
    dialog.pitch_tol.setValue(15)
    dialog.timing_tol.setValue(40)
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.block_size.setCurrentIndex(dialog.block_size.findData(512))
    main_window.apply_settings(dialog.preferences())
    assert main_window.practice.tuner.tolerance_cents == 15
    store_path = main_window.ctx.store.path
    main_window.close()

    again = create_main_window(db_url)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.ctx.profile is not None, timeout=10_000)
    p = again.ctx.prefs
    assert (p.a4_hz, p.transpose_semitones, p.pitch_tolerance_cents) == (442.0, -2, 15.0)
    assert (p.timing_tolerance_ms, p.theme, p.block_size_samples) == (40.0, "dark", 512)
    assert again.ctx.store.path == store_path
    assert again.practice.tuner.tolerance_cents == 15
    s = again.settings_dialog()
    qtbot.addWidget(s)
    assert s.a4.value() == 442.0 and s.data_label.text() == str(again.ctx.data_dir)
    from tests.desktop.test_controls import _FolderOpener

    opener = _FolderOpener()
    QDesktopServices.setUrlHandler("file", opener, "open")
    try:
        assert s.open_data_folder()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [u.toLocalFile() for u in opener.urls] == [str(again.ctx.data_dir)]
    wait_idle(qtbot, again.ctx)
    again.close()
    again.ctx.database.dispose()


def test_out_of_range_preferences_are_refused_and_nothing_is_saved(main_window):
    from dataclasses import replace

    before = main_window.ctx.store.load()
    bad = replace(before, a4_hz=500.0)
    with pytest.raises(ValueError, match="A4 must be 400–480 Hz"):
        main_window.ctx.save_preferences(bad)
    assert main_window.ctx.store.load() == before
    assert main_window.ctx.prefs == before


def _drop(window: Any, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(QPoint(10, 10)),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)


def test_dropping_a_file_that_is_not_audio_says_so(qtbot, main_window, tmp_path):
    notes = tmp_path / "lesson notes.txt"
    notes.write_text("practise slowly")
    _drop(main_window, notes)
    text = main_window.practice.messages.text()
    assert "lesson notes.txt is not an audio file" in text
    wait_idle(qtbot, main_window.ctx)
    with main_window.ctx.database.sessionmaker() as s:
        assert get_user_sessions(s, main_window.ctx.profile.id) == []


def test_dropping_a_recording_analyses_and_stores_it(qtbot, main_window, tmp_path):
    wav = write_scale_wav(tmp_path / "my scale.wav")
    with qtbot.waitSignal(main_window.file_analysed, timeout=30_000) as sig:
        _drop(main_window, wav)
    saved = sig.args[0]
    wait_idle(qtbot, main_window.ctx)
    assert saved.performance.audio_path == str(wav)
    assert saved.session.status == "completed"
    a = saved.analysis
    assert a.total_notes_detected == len(SCALE)
    assert a.pitch_accuracy == pytest.approx(6 / 8)
    card = main_window.practice.card
    assert card.value_labels["pitch_accuracy"].text() == "75 %"
    assert card.timeline.bars == len(SCALE)
    # Named like any take, with the student's own file name after it.
    started = saved.performance.recording_started_at.astimezone().strftime("%H:%M")
    assert card.title.text() == f"Take 1 · {started} · my scale.wav"
    assert Path(saved.performance.midi_path).parent == main_window.ctx.recordings_dir

    # History lists it; the filters narrow it; the detail shows the complete session data.
    hist = main_window.history
    qtbot.waitUntil(lambda: len(hist.sessions) == 1, timeout=10_000)
    hist.piece.setText("my sc")
    assert len(hist.shown) == 1
    hist.piece.setText("nocturne")
    assert hist.shown == []
    hist.piece.setText("")
    hist.status.setCurrentIndex(hist.status.findData("abandoned"))
    assert hist.shown == []
    hist.status.setCurrentIndex(hist.status.findData("completed"))
    assert len(hist.shown) == 1
    hist.since.setDate(QDate.currentDate().addDays(1))
    assert hist.shown == []
    hist.since.setDate(QDate.currentDate())
    assert len(hist.shown) == 1
    with qtbot.waitSignal(hist.session_opened, timeout=10_000) as opened:
        hist.open_session(saved.session.id)
    data = opened.args[0]
    assert data.total_performances == 1 and data.total_analyses == 1
    html = hist.detail.toHtml()
    assert "my scale" in html and "75 %" in html


def test_a_crash_leaves_an_abandoned_session_and_a_recovered_take(qtbot, db_url, tmp_path):
    """A session left active and a .part take (as after kill -9) show up as such."""
    from desktop.app import create_main_window
    from desktop.history import STATUS_WORDS
    from storage.config import recordings_dir
    from storage.db import open_database

    database = open_database(db_url)
    with database.transaction() as s:
        profile = ensure_default_profile(s)
        session = create_session(s, profile.id, piece_name="Interrupted")
    database.dispose()
    name = f"take-20260101-120000-{str(session.id)[:8]}-01.wav"
    # Etude killed mid-take (a real SIGKILL): the .part stays behind.
    crashed_take(recordings_dir() / name, seconds=1.0)

    window = create_main_window(db_url)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.ctx.profile is not None, timeout=10_000)
    hist = window.history
    qtbot.waitUntil(lambda: len(hist.sessions) == 1, timeout=10_000)
    assert hist.sessions[0].status == "abandoned"
    headers = [hist.tree.headerItem().text(c) for c in range(hist.tree.columnCount())]
    status_column = headers.index("Status")
    assert hist.tree.topLevelItem(0).text(status_column) == STATUS_WORDS["abandoned"]
    assert "stopped unexpectedly" in window.practice.messages.text()
    with qtbot.waitSignal(hist.session_opened, timeout=10_000) as opened:
        hist.open_session(session.id)
    data = opened.args[0]
    assert data.total_performances == 1
    perf = data.performances[0].performance
    assert perf.recovered is True
    assert ".recovered." in perf.audio_path and Path(perf.audio_path).is_file()
    assert "recovered after a crash" in hist.detail.toHtml()
    wait_idle(qtbot, window.ctx)
    window.close()
    window.ctx.database.dispose()


def test_a_database_from_a_newer_etude_is_refused_untouched(qtbot, db_url, tmp_path):
    from sqlalchemy import create_engine, text

    from desktop.app import create_main_window
    from storage.db import open_database

    open_database(db_url).dispose()
    engine = create_engine(db_url)
    with engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = 'ffffffffffff'"))
    engine.dispose()
    db_file = Path(db_url.removeprefix("sqlite:///"))
    before = db_file.read_bytes()
    window = create_main_window(db_url, open_storage_now=False)
    qtbot.addWidget(window)
    from desktop.app import start_storage

    with qtbot.waitSignal(window.startup_failed, timeout=20_000) as failed:
        start_storage(window)
    assert "newer than this Etude" in failed.args[0]
    assert "was not touched" in failed.args[0]
    wait_idle(qtbot, window.ctx)
    assert window.ctx.database is None and window.ctx.profile is None
    assert not window.practice.start_button.isEnabled()
    assert db_file.read_bytes() == before


def test_a_bad_reference_file_is_reported_and_the_plan_is_kept(qtbot, main_window, tmp_path):
    from desktop.usecases.plan import SessionPlan

    page = main_window.practice
    page.set_plan(SessionPlan(piece_name="Minuet"))
    bogus = tmp_path / "minuet.mid"
    bogus.write_bytes(b"not midi at all")
    page.set_plan(SessionPlan(piece_name="Other", reference_path=bogus))
    assert "cannot be used" in page.messages.text()
    assert page.plan.piece_name == "Minuet"
    assert page.reference is None


def test_new_profile_is_created_selected_and_a_duplicate_is_refused(qtbot, main_window):
    with qtbot.waitSignal(main_window.profiles_loaded, timeout=10_000):
        main_window.create_profile("Clara")
    assert main_window.ctx.profile.display_name == "Clara"
    assert main_window.profile_combo.currentText() == "Clara"
    assert main_window.ctx.store.load().profile_id == str(main_window.ctx.profile.id)
    main_window.create_profile("Clara")
    wait_idle(qtbot, main_window.ctx)
    assert "The profile was not created" in main_window.practice.messages.text()
    assert [main_window.profile_combo.itemText(i) for i in range(2)].count("Clara") == 1


def test_session_form_refuses_a_name_that_is_too_long(qtbot, main_window):
    from desktop.session_form import SessionForm

    form = SessionForm(parent=main_window)
    qtbot.addWidget(form)
    form.piece.setText("x" * 256)
    form._accept()
    assert "too long" in form.error.text()
    assert form.result() == 0
    form.piece.setText("Minuet in G")
    form.tempo.setValue(112)
    form.difficulty.setCurrentIndex(form.difficulty.findData("beginner"))
    plan = form.plan()
    assert (plan.piece_name, plan.target_tempo_bpm, plan.difficulty_level) == (
        "Minuet in G",
        112,
        "beginner",
    )


def test_milestones_are_listed_once_per_kind_newest_first() -> None:
    d = date.fromisoformat
    lines = milestone_lines(
        [
            (d("2025-01-03"), "first_session"),
            (d("2025-01-05"), "streak_3"),
            (d("2025-03-01"), "streak_3"),
            (d("2025-02-10"), "hours_10"),
            (d("2025-06-30"), "streak_3"),
        ]
    )
    assert lines == [
        "2025-06-30  3 days in a row: 3 times, first on 2025-01-05",
        "2025-02-10  10 hours of practice",
        "2025-01-03  First session",
    ]


def test_export_dialog_dates_are_the_profiles_local_days(qtbot, main_window, tmp_path, monkeypatch):
    """Like `etude export` and the progress rows, a chosen day is the profile's local day."""
    import datetime as dt
    import time

    monkeypatch.setenv("TZ", "UTC")  # the computer's zone differs from the profile's
    time.tzset()

    from PySide6.QtCore import QDate

    ctx = main_window.ctx
    with ctx.database.sessionmaker() as s:
        set_profile_timezone(s, ctx.profile.id, "Pacific/Auckland")
        ctx.profile = get_profile(s, ctx.profile.id)
        # 11 March 00:30 in Auckland, still 10 March in UTC (this machine's zone in CI).
        started = dt.datetime(2025, 3, 10, 11, 30, tzinfo=dt.UTC)
        create_session(s, ctx.profile.id, piece_name="Late night", started_at=started)
        s.commit()
    dialog = main_window.open_export()
    qtbot.addWidget(dialog)
    for key, box in dialog.table_boxes.items():
        box.setChecked(key == "sessions")
    dialog.all_dates.setChecked(False)
    dialog.since.setDate(QDate(2025, 3, 11))
    dialog.until.setDate(QDate(2025, 3, 11))
    dialog.folder.setText(str(tmp_path / "out"))
    try:
        with qtbot.waitSignal(dialog.export_finished, timeout=30_000) as sig:
            assert dialog.start_export()
    finally:
        monkeypatch.undo()
        time.tzset()
    assert sig.args[0].rows["sessions"] == 1


def test_history_shows_a_short_session_in_seconds_not_as_0_min() -> None:
    from desktop.history import session_length

    assert session_length(None) == "–"
    assert session_length(45) == "45 s"
    assert session_length(0) == "0 s"
    assert session_length(60) == "1 min"
    assert session_length(3599) == "59 min"
    assert session_length(3 * 3600 + 25 * 60) == "3 h 25 min"


def test_one_bad_value_in_the_settings_file_does_not_reset_the_others(tmp_path):
    from desktop.settings import SettingsStore

    (tmp_path / "etude.ini").write_text(
        "[preferences]\nsample_rate_hz=44100\ntheme=dark\npitch_tolerance_cents=5000\n",
        encoding="utf-8",
    )
    prefs = SettingsStore(tmp_path).load()
    assert prefs.sample_rate_hz == 44100 and prefs.theme == "dark"
    assert prefs.pitch_tolerance_cents == 25.0  # only the bad one falls back
