"""Settings: input device with a live level test, audio format, tuning, tolerances, theme, data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from audio.settings import LIMITS
from desktop.settings import BLOCK_SIZES, LATENCIES, SAMPLE_RATES, THEMES, Preferences
from desktop.widgets.level import LevelMeter


def _spin(field: str, value: float, decimals: int = 0) -> QDoubleSpinBox:
    """An input for one analysis setting, bounded by its range in audio.settings.LIMITS (the one
    place those ranges are defined); whole-number settings show no decimals."""
    limit = LIMITS[field]
    box = QDoubleSpinBox()
    box.setRange(limit.lo, limit.hi)
    box.setDecimals(0 if limit.whole else decimals)
    box.setSuffix(f" {limit.unit}")
    box.setValue(value)
    return box


# Opens the chosen input for the level test; returns an object with ``latest_level_db`` and
# ``stop()``, or raises with a message the student can read.
LevelProbeFactory = Callable[[Preferences], Any]


def input_check_text(check: Any) -> str:
    """The level test's verdict on the input (an audio.inputcheck.InputCheck or None)."""
    if check is None:
        return ""
    if check.problems:
        return " ".join(p.message for p in check.problems)
    if check.level_db is None:
        return "Listening… play or sing for a few seconds."
    return (
        f"The input sounds fine: your sound at {check.level_db:.0f} dBFS, the background "
        f"{check.snr_db:.0f} dB under it."
        if check.snr_db is not None
        else f"The input sounds fine: your sound at {check.level_db:.0f} dBFS."
    )


class SettingsDialog(QDialog):
    def __init__(
        self,
        prefs: Preferences,
        devices: Sequence[str],
        data_dir: Path,
        level_probe: LevelProbeFactory | None = None,
        device_problem: str | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Etude settings")
        self.setMinimumWidth(560)
        self._prefs = prefs
        self._probe_factory = level_probe
        self._probe: Any = None
        self.data_dir = Path(data_dir)
        form = QFormLayout()

        self.device = QComboBox()
        self.device.addItem("System default", "")
        for name in devices:
            self.device.addItem(name, name)
        i = self.device.findData(prefs.input_device)
        self.device.setCurrentIndex(max(0, i))
        self.test_button = QPushButton("Test level")
        self.test_button.setCheckable(True)
        self.test_button.toggled.connect(self._toggle_test)
        self.meter = LevelMeter()
        self.device_message = QLabel(device_problem or "")
        self.device_message.setWordWrap(True)
        # What the level test hears wrong with the input, and what to do about it.
        self.input_check = QLabel("")
        self.input_check.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.device, 1)
        row.addWidget(self.test_button)
        form.addRow("Input device", row)
        form.addRow("", self.meter)
        form.addRow("", self.input_check)
        form.addRow("", self.device_message)
        if device_problem:
            self.test_button.setEnabled(False)

        self.sample_rate = QComboBox()
        for sr in SAMPLE_RATES:
            self.sample_rate.addItem(f"{sr} Hz", sr)
        self.sample_rate.setCurrentIndex(max(0, self.sample_rate.findData(prefs.sample_rate_hz)))
        form.addRow("Sample rate", self.sample_rate)

        self.block_size = QComboBox()
        for b in BLOCK_SIZES:
            self.block_size.addItem(f"{b} samples", b)
        self.block_size.setCurrentIndex(max(0, self.block_size.findData(prefs.block_size_samples)))
        form.addRow("Block size", self.block_size)

        self.latency = QComboBox()
        for lat in LATENCIES:
            self.latency.addItem(lat, lat)
        self.latency.setCurrentIndex(max(0, self.latency.findData(prefs.latency)))
        form.addRow("Latency", self.latency)

        self.a4 = _spin("a4_hz", prefs.a4_hz, decimals=1)
        form.addRow("A4 tuning", self.a4)

        self.transpose = _spin("transpose_semitones", prefs.transpose_semitones)
        self.transpose.setToolTip("B♭ clarinet/trumpet: -2, E♭ alto sax: -9, F horn: -7")
        form.addRow("Transposition", self.transpose)

        self.pitch_tol = _spin("pitch_tolerance_cents", prefs.pitch_tolerance_cents)
        form.addRow("In tune within ±", self.pitch_tol)

        self.timing_tol = _spin("timing_tolerance_ms", prefs.timing_tolerance_ms)
        form.addRow("On time within ±", self.timing_tol)

        self.theme = QComboBox()
        for t in THEMES:
            self.theme.addItem({"system": "Follow the system"}.get(t, t.capitalize()), t)
        self.theme.setCurrentIndex(max(0, self.theme.findData(prefs.theme)))
        form.addRow("Theme", self.theme)

        self.data_label = QLabel(str(self.data_dir))
        self.data_label.setWordWrap(True)
        open_btn = QPushButton("Open data folder")
        open_btn.clicked.connect(self.open_data_folder)
        drow = QHBoxLayout()
        drow.addWidget(self.data_label, 1)
        drow.addWidget(open_btn)
        form.addRow("Your data", drow)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)

        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._poll_level)

    def preferences(self) -> Preferences:
        """The edited preferences (validated: raises ValueError naming a bad value)."""
        return replace(
            self._prefs,
            input_device=str(self.device.currentData() or ""),
            sample_rate_hz=int(self.sample_rate.currentData()),
            block_size_samples=int(self.block_size.currentData()),
            latency=str(self.latency.currentData()),
            a4_hz=float(self.a4.value()),
            transpose_semitones=round(self.transpose.value()),
            pitch_tolerance_cents=float(self.pitch_tol.value()),
            timing_tolerance_ms=float(self.timing_tol.value()),
            theme=str(self.theme.currentData()),
        ).validated()

    def open_data_folder(self) -> bool:
        return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.data_dir))))

    def _toggle_test(self, on: bool) -> None:
        if on:
            self.start_level_test()
        else:
            self.stop_level_test()

    def start_level_test(self) -> bool:
        if self._probe_factory is None:
            return False
        try:
            self._probe = self._probe_factory(self.preferences())
        except Exception as exc:
            self.device_message.setText(f"Could not open the input: {exc}")
            self.test_button.setChecked(False)
            return False
        self.device_message.setText("Listening… play or sing to see the level.")
        self._timer.start()
        return True

    def stop_level_test(self) -> None:
        self._timer.stop()
        self.input_check.setText("")
        if self._probe is not None:
            probe, self._probe = self._probe, None
            probe.stop()
        if self.test_button.isChecked():
            self.test_button.setChecked(False)

    def _poll_level(self) -> None:
        if self._probe is not None:
            self.meter.set_level(self._probe.latest_level_db)
            self.input_check.setText(input_check_text(getattr(self._probe, "latest_input", None)))

    def done(self, result: int) -> None:
        self.stop_level_test()
        super().done(result)
