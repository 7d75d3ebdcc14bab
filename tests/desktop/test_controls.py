"""Keyboard shortcuts, the metronome, the takes list actions, the settings level test."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import mido
import numpy as np
import pytest
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication

from desktop.widgets.metronome import BeatLight, ClickStream, click_samples
from tests.desktop.conftest import wait_idle
from tests.desktop.helpers import scale_source


def test_space_starts_and_stops_practice_and_r_records_a_take(qtbot, main_window):
    page = main_window.practice
    page.source_factory = lambda prefs: scale_source(total_s=6.0)
    main_window.show()
    qtbot.waitExposed(main_window)
    # The offscreen platform cannot activate windows itself; shortcuts need an active window.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # still the only way offscreen
        QApplication.setActiveWindow(main_window)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is main_window, timeout=5_000)
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        qtbot.keyClick(main_window, Qt.Key.Key_Space)
    with qtbot.waitSignal(page.take_started, timeout=5_000):
        qtbot.keyClick(main_window, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: page.worker.position_s > 1.5, timeout=10_000)
    with qtbot.waitSignal(page.take_saved, timeout=20_000):
        qtbot.keyClick(main_window, Qt.Key.Key_R)
    with qtbot.waitSignal(page.live_changed, timeout=10_000):
        qtbot.keyClick(main_window, Qt.Key.Key_Space)  # pauses; the session stays open
    assert not page.is_live and page.controller.has_session
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000) as stopped:
        page.end_button.click()
    assert stopped.args[0].status == "completed"


def test_click_stream_puts_each_click_on_its_exact_sample():
    sr = 48000
    click = ClickStream(bpm=120.0, beats_per_bar=4, sample_rate_hz=sr)
    period = sr // 2  # 120 BPM
    out = np.zeros((sr * 3, 1), dtype=np.float32)
    block = 256
    for i in range(0, len(out), block):
        chunk = out[i : i + block]
        click._callback(chunk, len(chunk), None, None)
    accent, plain = click_samples(sr, True), click_samples(sr, False)
    for beat in range(6):
        start = beat * period
        expected = accent if beat % 4 == 0 else plain
        got = out[start : start + len(expected), 0]
        np.testing.assert_allclose(got, expected, atol=1e-7)
        # Silence between the clicks.
        assert not out[start + len(expected) : start + period, 0].any()


def test_beat_light_flashes_once_per_beat(qtbot):
    light = BeatLight()
    qtbot.addWidget(light)
    beats: list[int] = []
    light.beat.connect(beats.append)
    light.start(600.0)  # ten beats a second
    qtbot.wait(1050)
    light.stop()
    assert 10 <= len(beats) <= 12
    assert beats == list(range(len(beats)))


class _FolderOpener(QObject):
    """Receives the file:// URLs the app asks the desktop to open (the file manager's role)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_takes_list_exports_midi_and_shows_the_folder(qtbot, main_window, tmp_path):
    page = main_window.practice
    page.source_factory = lambda prefs: scale_source()
    with qtbot.waitSignal(page.practice_started, timeout=10_000):
        page.start_practice()
    page.start_take()
    qtbot.waitUntil(lambda: page.worker.position_s >= 3.0, timeout=10_000)
    with qtbot.waitSignal(page.take_saved, timeout=20_000) as saved:
        page.stop_take()
    page.stop_practice()
    wait_idle(qtbot, main_window.ctx)
    takes = page.takes
    qtbot.waitUntil(lambda: len(takes.rows) == 1, timeout=5_000)
    takes.tree.setCurrentItem(takes.tree.topLevelItem(0))

    target = tmp_path / "my notes.mid"
    assert takes.export_midi(target)
    notes = [m.note for m in mido.MidiFile(str(target)) if m.type == "note_on" and m.velocity]
    assert notes == [60, 62, 64, 65, 67, 69, 71, 72]

    opener = _FolderOpener()
    QDesktopServices.setUrlHandler("file", opener, "open")
    try:
        assert takes.show_in_folder()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    audio = Path(saved.args[0].performance.audio_path)
    assert [u.toLocalFile() for u in opener.urls] == [str(audio.parent)]

    audio.unlink()
    assert not takes.play_selected()
    assert "no longer on disk" in takes.message.text()


@pytest.mark.mic
def test_settings_level_test_shows_the_null_sink_microphone_level(qtbot, main_window, tmp_path):
    from tests.audio.nullsink import PORTAUDIO_DEVICE, SINK, play, require_null_sink
    from tests.desktop.helpers import write_scale_wav

    require_null_sink()
    wav = write_scale_wav(tmp_path / "scale.wav")
    # "pulse" is one of the names of the system default, which the list names once; a
    # student's earlier explicit choice of it stays listed, as here.
    ctx = main_window.ctx
    ctx.prefs = replace(ctx.prefs, input_device=PORTAUDIO_DEVICE)
    dialog = main_window.settings_dialog()
    qtbot.addWidget(dialog)
    i = dialog.device.findData(PORTAUDIO_DEVICE)
    assert i >= 0, "the PulseAudio input is listed"
    dialog.device.setCurrentIndex(i)
    assert dialog.start_level_test()
    player = play(wav, SINK)
    try:
        qtbot.waitUntil(lambda: dialog.meter.level_db > -30.0, timeout=10_000)
    finally:
        player.wait(10)
        dialog.stop_level_test()
    assert dialog._probe is None
    assert "Listening" in dialog.device_message.text()


def test_settings_level_test_reports_a_device_that_cannot_open(qtbot, main_window):
    from desktop.settings_dialog import SettingsDialog

    def broken(prefs: Any) -> Any:
        from audio.sources import AudioUnavailableError

        raise AudioUnavailableError("No input device is called 'USB mic'.")

    dialog = SettingsDialog(main_window.ctx.prefs, ["USB mic"], main_window.ctx.data_dir, broken)
    qtbot.addWidget(dialog)
    assert not dialog.start_level_test()
    assert (
        dialog.device_message.text()
    ) == "Could not open the input: No input device is called 'USB mic'."
    assert not dialog.test_button.isChecked()


def test_level_meter_warns_on_clipping_and_the_warning_fades(qtbot):
    from desktop.widgets.level import CLIP_HOLD_S, LevelMeter

    meter = LevelMeter()
    qtbot.addWidget(meter)
    meter.set_level(-20.0, now_s=100.0)
    assert not meter.is_clipping()
    meter.set_level(-0.3, now_s=100.1)  # a peak at full scale
    assert meter.is_clipping()
    assert "clipping" in meter.warning.text()
    meter.set_level(-18.0, now_s=100.1 + CLIP_HOLD_S / 2)
    assert meter.is_clipping()  # held long enough to be read
    meter.set_level(-18.0, now_s=100.2 + CLIP_HOLD_S)
    assert not meter.is_clipping()
    meter.set_level(float("-inf"), now_s=200.0)  # silence before the first block
    assert meter.level_db == -60.0
