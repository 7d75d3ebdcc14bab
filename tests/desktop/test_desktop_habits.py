"""Desktop habits: a Help menu, Ctrl+N / Ctrl+, / Esc / Ctrl+W, recent pieces in the
New-session form, a reference MIDI that fills in name and tempo, genres as words, one name per
input device."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from audio.sources import DEFAULT_DEVICE_ALIASES, InputDevice, distinct_input_devices
from desktop.help import app_version
from desktop.session_form import SessionForm, resource_dir
from desktop.settings_dialog import SettingsDialog
from desktop.usecases.plan import SessionPlan, genre_words
from desktop.usecases.sessions import recent_pieces
from storage.sessions import create_session, end_session
from tests.desktop.conftest import wait_idle

PIECES = resource_dir("pieces")


def _activate(qtbot: Any, window: Any) -> None:
    """Show ``window`` and make it the active one (shortcuts need an active window; the
    offscreen platform cannot activate windows itself)."""
    window.show()
    qtbot.waitExposed(window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # still the only way offscreen
        QApplication.setActiveWindow(window)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)


def _menu_actions(window: Any, title: str) -> dict[str, Any]:
    for action in window.menuBar().actions():
        if action.text().replace("&", "") == title:
            return {a.text(): a for a in action.menu().actions() if a.text()}
    raise AssertionError(f"no {title} menu")


def _when_modal(qtbot: Any, check: Any) -> list[Any]:
    """Run ``check(dialog)`` on the next modal dialog once it is open (exec() blocks the
    caller); returns what check returned, in a list, once it has run."""
    done: list[Any] = []

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(20, poll)
            return
        try:
            done.append(check(dialog))
        finally:
            dialog.close()

    QTimer.singleShot(0, poll)
    return done


def _sessions(window: Any, plans: list[tuple[str | None, str | None, int | None]]) -> None:
    """Sessions of the current profile, oldest first, one a day before now."""
    now = datetime.now().astimezone()
    with window.ctx.database.transaction() as s:
        for i, (piece, genre, tempo) in enumerate(plans):
            started = now - timedelta(days=len(plans) - i)
            rec = create_session(
                s,
                window.ctx.profile.id,
                piece_name=piece,
                genre=genre,
                target_tempo=tempo,
                started_at=started,
            )
            end_session(s, rec.id, started + timedelta(minutes=10))


def test_help_menu_shows_the_shortcuts_and_the_version_and_data_folder(qtbot, main_window):
    actions = _menu_actions(main_window, "Help")
    assert {"Keyboard shortcuts", "About Etude"} <= set(actions)
    actions["About Etude"].trigger()
    about = QApplication.activeModalWidget() or main_window.findChild(QMessageBox)
    assert isinstance(about, QMessageBox)
    text = about.text()
    assert app_version() in text and str(main_window.ctx.data_dir) in text
    assert "password" not in text.lower()
    about.close()
    box = main_window.show_shortcuts()
    for keys in ("Space", "Ctrl+N", "Ctrl+,", "Esc", "Ctrl+W"):
        assert keys in box.text(), keys
    box.close()


def test_ctrl_n_opens_the_new_session_form_and_ctrl_comma_the_settings(qtbot, main_window):
    _activate(qtbot, main_window)
    seen = _when_modal(qtbot, type)
    qtbot.keyClick(main_window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    # The form opens once its assignments and recent pieces are read.
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert seen == [SessionForm]
    _activate(qtbot, main_window)
    seen = _when_modal(qtbot, type)
    qtbot.keyClick(main_window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert seen == [SettingsDialog]


def test_esc_and_ctrl_w_close_secondary_windows(qtbot, main_window):
    win = main_window.open_progress()
    qtbot.addWidget(win)
    wait_idle(qtbot, main_window.ctx)
    _activate(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_Escape)
    assert not win.isVisible()
    main_window.open_progress()
    wait_idle(qtbot, main_window.ctx)
    _activate(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert not win.isVisible()
    dialog = main_window.open_export()
    _activate(qtbot, dialog)
    qtbot.keyClick(dialog, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert not dialog.isVisible()


def test_recent_pieces_fill_in_the_new_session_form(qtbot, main_window):
    _sessions(
        main_window,
        [
            ("Minuet in G", "baroque", 90),
            (None, None, None),  # free practice is not a piece
            ("Ode to Joy", "classical", 100),
            ("minuet in g", "baroque", 96),  # the same piece again, faster
            ("Autumn Leaves", "jazz_ballad", 60),
        ],
    )
    with main_window.ctx.database.sessionmaker() as s:
        recent = recent_pieces(s, main_window.ctx.profile.id)
    assert [(p.piece_name, p.target_tempo_bpm) for p in recent] == [
        ("Autumn Leaves", 60),
        ("minuet in g", 96),
        ("Ode to Joy", 100),
    ]

    page = main_window.practice

    def choose(form: QDialog) -> None:
        assert isinstance(form, SessionForm)
        qtbot.waitUntil(lambda: form.recent.isEnabled(), timeout=10_000)
        labels = [form.recent.itemText(i) for i in range(1, form.recent.count())]
        assert labels[0] == "Autumn Leaves · Jazz ballad · ♩ = 60"
        i = labels.index("Ode to Joy · Classical · ♩ = 100") + 1
        form.recent.setCurrentIndex(i)
        form.recent.activated.emit(i)
        assert form.piece.text() == "Ode to Joy" and form.tempo.value() == 100
        assert form.genre.currentText() == "Classical"
        # The built-in piece of that name comes with its reference.
        assert Path(form.reference.currentData()) == PIECES / "ode_to_joy.mid"
        form.accept()

    done = _when_modal(qtbot, choose)
    page.edit_plan()
    qtbot.waitUntil(lambda: bool(done), timeout=10_000)
    assert done == [None]
    assert page.plan.piece_name == "Ode to Joy"
    assert page.plan.genre == "classical" and page.plan.target_tempo_bpm == 100
    assert page.plan.reference_path == PIECES / "ode_to_joy.mid"


def test_a_reference_midi_fills_in_the_name_and_tempo_unless_typed(qtbot):
    form = SessionForm(SessionPlan())
    qtbot.addWidget(form)
    form.reference.setCurrentIndex(form.reference.findData(str(PIECES / "ode_to_joy.mid")))
    assert (form.piece.text(), form.tempo.value()) == ("Ode to Joy", 100)
    # Another reference replaces what the first filled in...
    form.reference.setCurrentIndex(form.reference.findData(str(PIECES / "twinkle.mid")))
    assert (form.piece.text(), form.tempo.value()) == ("Twinkle", 90)
    # ...but never what the student typed.
    form.piece.setText("My own arrangement")
    form.tempo.setValue(120)
    form.reference.setCurrentIndex(form.reference.findData(str(PIECES / "c_major_scale.mid")))
    assert (form.piece.text(), form.tempo.value()) == ("My own arrangement", 120)
    plan = form.plan()
    assert plan.reference_path == PIECES / "c_major_scale.mid"


def test_genres_read_as_words_and_are_stored_by_key(qtbot, main_window):
    form = SessionForm(SessionPlan(genre="jazz_ballad"))
    qtbot.addWidget(form)
    assert form.genre.currentText() == "Jazz ballad"
    shown = [form.genre.itemText(i) for i in range(form.genre.count())]
    assert all("_" not in g for g in shown)
    assert form.plan().genre == "jazz_ballad"
    form.genre.setCurrentText("Bossa nova")  # the student's own genre stays as typed
    assert form.plan().genre == "Bossa nova"
    assert genre_words("jazz_swing") == "Jazz swing"

    _sessions(main_window, [("Autumn Leaves", "jazz_ballad", 60)])
    hist = main_window.history
    hist.reload()
    qtbot.waitUntil(lambda: len(hist.shown) == 1, timeout=10_000)
    assert hist.tree.topLevelItem(0).text(2) == "Jazz ballad"
    hist.genre.setText("jazz ball")
    assert len(hist.shown) == 1


def _device(index: int, name: str, api: str, default: bool = False) -> InputDevice:
    return InputDevice(index, name, api, 2, 48000.0, default)


def test_the_device_list_names_each_microphone_once(qtbot, main_window):
    # What Windows' PortAudio reports for one USB microphone: the MME mapper, the DirectSound
    # driver, and the device under three host APIs.
    windows = [
        _device(0, "Microsoft Sound Mapper - Input", "MME", True),
        _device(1, "USB Microphone", "MME"),
        _device(2, "Primary Sound Capture Driver", "Windows DirectSound"),
        _device(3, "USB Microphone", "Windows DirectSound"),
        _device(4, "USB Microphone", "Windows WASAPI"),
        _device(5, "Line In (Realtek)", "MME"),
    ]
    assert [d.index for d in distinct_input_devices(windows)] == [1, 5]

    # And this machine's own list, through the real settings dialog.
    dialog = main_window.settings_dialog()
    qtbot.addWidget(dialog)
    names = [dialog.device.itemText(i) for i in range(dialog.device.count())]
    assert names[0] == "System default"
    assert len(names) == len({n.casefold() for n in names})
    assert not any(n.casefold() in DEFAULT_DEVICE_ALIASES for n in names[1:]), names
