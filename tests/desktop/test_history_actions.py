"""History that acts, in the real window: a score column, play an old take, delete a take or a
session after a confirmation (tombstones written, audio moved to the trash folder), rename a
profile, practise a session again; and the same deletion from the command line."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, QUrl
from PySide6.QtWidgets import QApplication, QMessageBox
from sqlalchemy import select

from desktop.cli import main as etude
from desktop.usecases.plan import SessionPlan
from storage.models import Tombstone
from storage.performances import get_session_performances
from storage.sessions import get_user_sessions
from tests.desktop.conftest import wait_idle
from tests.desktop.helpers import scale_source

SCALE_MID = Path(__file__).resolve().parents[2] / "resources" / "pieces" / "c_major_scale.mid"


def _two_takes(qtbot: Any, window: Any) -> Any:
    """One ended session with two scored takes; returns its SessionRecord."""
    page = window.practice
    page.set_plan(SessionPlan(piece_name="Scale", target_tempo_bpm=100, reference_path=SCALE_MID))
    page.count_in_box.setChecked(False)
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        assert page.start_practice()
    for _ in range(2):
        assert page.start_take()
        qtbot.wait(1200)
        with qtbot.waitSignal(page.take_saved, timeout=20_000):
            page.stop_take()
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000) as ended:
        page.end_session()
    wait_idle(qtbot, window.ctx)
    return ended.args[0]


def _answer(button: str) -> None:
    """Click ``button`` ("Delete" or "Cancel") in the confirmation box once it is up."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        for b in box.buttons():
            if b.text().replace("&", "") == button:
                b.click()
                return
        raise AssertionError([b.text() for b in box.buttons()])

    QTimer.singleShot(20, click)


def _open(qtbot: Any, window: Any, session_id: uuid.UUID) -> Any:
    history = window.history
    with qtbot.waitSignal(history.session_opened, timeout=10_000) as opened:
        history.open_session(session_id)
    return opened.args[0]


def _tombstones(window: Any) -> set[tuple[str, uuid.UUID]]:
    with window.ctx.database.sessionmaker() as s:
        return {(t.table_name, t.row_id) for t in s.scalars(select(Tombstone))}


def test_history_shows_scores_plays_and_deletes_a_take_to_the_trash(qtbot, main_window):
    session = _two_takes(qtbot, main_window)
    history = main_window.history
    history.reload()
    wait_idle(qtbot, main_window.ctx)
    item = history.tree.topLevelItem(0)
    column = [history.tree.headerItem().text(c) for c in range(history.tree.columnCount())]
    best = item.text(column.index("Best score"))
    assert best.endswith(" %") and 0 < int(best[:-2]) <= 100

    data = _open(qtbot, main_window, session.id)
    first, second = (p.performance for p in data.performances)
    html = history.detail.toHtml()
    assert f"play:{first.id}" in html and f"delete:{second.id}" in html

    # Play the first take: the shared player opens the output and plays the file.
    with qtbot.waitSignal(history.player.started, timeout=10_000):
        history.detail.anchorClicked.emit(QUrl(f"play:{first.id}"))
    assert (
        history.player.playback.duration_s == first.recording_duration
        or abs(history.player.playback.duration_s - first.recording_duration) < 0.05
    )
    history.player.stop()

    # Delete the second: Cancel keeps it, Delete removes it.
    _answer("Cancel")
    history.detail.anchorClicked.emit(QUrl(f"delete:{second.id}"))
    wait_idle(qtbot, main_window.ctx)
    assert Path(second.audio_path).is_file()
    _answer("Delete")
    with qtbot.waitSignal(history.deleted, timeout=10_000) as deleted:
        history.detail.anchorClicked.emit(QUrl(f"delete:{second.id}"))
    wait_idle(qtbot, main_window.ctx)
    done = deleted.args[0]
    with main_window.ctx.database.sessionmaker() as s:
        assert [p.id for p in get_session_performances(s, session.id)] == [first.id]
    assert ("performances", second.id) in _tombstones(main_window)
    assert not Path(second.audio_path).exists()
    trash = main_window.ctx.data_dir / "trash"
    names = {p.name for p in done.trashed}
    assert Path(second.audio_path).name in names
    assert all(p.is_file() and trash in p.parents for p in done.trashed)
    assert Path(first.audio_path).is_file()  # the other take is untouched
    assert "Take deleted" in history.message.text()


def test_deleting_a_session_after_confirming_and_practising_again(qtbot, main_window):
    session = _two_takes(qtbot, main_window)
    history = main_window.history
    data = _open(qtbot, main_window, session.id)
    files = [Path(p.performance.audio_path) for p in data.performances]

    # Practise again: a new session with the same piece, tempo and reference, listening.
    page = main_window.practice
    with qtbot.waitSignal(page.practice_started, timeout=10_000) as started:
        history.again_button.click()
    again = started.args[0]
    assert again.id != session.id
    assert (again.piece_name, again.target_tempo) == ("Scale", 100)
    assert page.plan.reference_path == SCALE_MID and page.reference is not None
    assert main_window.tabs.currentWidget() is page
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000):
        page.end_session()
    wait_idle(qtbot, main_window.ctx)

    _open(qtbot, main_window, session.id)
    _answer("Delete")
    with qtbot.waitSignal(history.deleted, timeout=10_000) as deleted:
        history.delete_button.click()
    wait_idle(qtbot, main_window.ctx)
    assert deleted.args[0].takes == 2
    with main_window.ctx.database.sessionmaker() as s:
        ids = [r.id for r in get_user_sessions(s, main_window.ctx.profile.id)]
    assert ids == [again.id]
    stones = _tombstones(main_window)
    assert ("realtime_sessions", session.id) in stones
    assert all(("performances", p.performance.id) in stones for p in data.performances)
    assert not any(f.exists() for f in files)
    assert {p.name for p in deleted.args[0].trashed} >= {f.name for f in files}
    assert not history.delete_button.isEnabled()


def test_an_active_session_is_not_deleted(qtbot, main_window):
    page = main_window.practice
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    with qtbot.waitSignal(page.practice_started, timeout=10_000) as started:
        assert page.start_practice()
    page.stop_practice()  # paused: still active
    wait_idle(qtbot, main_window.ctx)
    history = main_window.history
    history.delete_session(started.args[0].id)
    wait_idle(qtbot, main_window.ctx)
    assert "still being practised" in history.message.text()
    with main_window.ctx.database.sessionmaker() as s:
        assert len(get_user_sessions(s, main_window.ctx.profile.id)) == 1


def test_renaming_the_profile(qtbot, main_window):
    with qtbot.waitSignal(main_window.profiles_loaded, timeout=10_000):
        main_window.rename_profile("  Ada  ")
    assert main_window.ctx.profile.display_name == "Ada"
    assert main_window.profile_combo.currentText() == "Ada"
    main_window.create_profile("Ben")
    wait_idle(qtbot, main_window.ctx)
    main_window.rename_profile("Ada")  # taken
    wait_idle(qtbot, main_window.ctx)
    assert "not renamed" in main_window.practice.messages.text()
    assert main_window.ctx.profile.display_name == "Ben"


def test_the_command_line_deletes_a_take_into_the_same_trash(qtbot, main_window, monkeypatch):
    session = _two_takes(qtbot, main_window)
    with main_window.ctx.database.sessionmaker() as s:
        _first, second = get_session_performances(s, session.id)
    monkeypatch.setenv("ETUDE_DB_URL", main_window.ctx.db_url)
    assert etude(["delete", "take", "not-an-id"]) == 1
    assert etude(["delete", "take", str(second.id)]) == 0
    assert not Path(second.audio_path).exists()
    trash = main_window.ctx.data_dir / "trash"
    assert [p.name for p in trash.rglob("*.flac")] == [Path(second.audio_path).name]
    assert ("performances", second.id) in _tombstones(main_window)
    assert etude(["profiles", "rename", main_window.ctx.profile.display_name, "Cleo"]) == 0
