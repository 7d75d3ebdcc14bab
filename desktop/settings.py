"""The student's preferences, persisted with QSettings in an INI file inside the data folder.

Keeping the file in the data folder (not the platform registry) means tests, which point
ETUDE_DATA_DIR at a temporary folder, never read or write the developer's own preferences, and a
student who moves their data folder takes their settings along.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from audio.settings import AnalysisSettings, SettingOutOfRange

THEMES = ("system", "light", "dark")
SAMPLE_RATES = (44100, 48000)
BLOCK_SIZES = (128, 256, 512, 1024)
LATENCIES = ("low", "high")


@dataclass(frozen=True)
class Preferences:
    """Everything the settings dialog edits. Units are in the names."""

    input_device: str = ""  # device name; "" = system default
    sample_rate_hz: int = 48000
    block_size_samples: int = 256
    latency: str = "low"
    a4_hz: float = 440.0
    transpose_semitones: int = 0
    pitch_tolerance_cents: float = 25.0
    timing_tolerance_ms: float = 50.0
    theme: str = "system"
    metronome_on: bool = False
    count_in_on: bool = True  # R counts in one bar at the session's tempo before recording
    profile_id: str = ""  # the User row's UUID as text; "" = none chosen yet

    def validated(self) -> Preferences:
        """Return self, or raise ValueError naming the first setting that is out of range."""
        problems = []
        try:
            self.analysis_settings()  # A4, transposition and tolerances: audio.settings.LIMITS
        except SettingOutOfRange as exc:
            problems.append(str(exc))
        if self.sample_rate_hz not in SAMPLE_RATES:
            problems.append(f"sample rate must be one of {SAMPLE_RATES}, not {self.sample_rate_hz}")
        if self.block_size_samples not in BLOCK_SIZES:
            problems.append(
                f"block size must be one of {BLOCK_SIZES}, not {self.block_size_samples}"
            )
        if self.latency not in LATENCIES:
            problems.append(f"latency must be one of {LATENCIES}, not {self.latency!r}")
        if self.theme not in THEMES:
            problems.append(f"theme must be one of {THEMES}, not {self.theme!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def analysis_settings(self, target_tempo_bpm: float | None = None) -> AnalysisSettings:
        """The analysis settings these preferences make (SettingOutOfRange for a bad one)."""
        return AnalysisSettings(
            a4_hz=self.a4_hz,
            transpose_semitones=self.transpose_semitones,
            pitch_tolerance_cents=self.pitch_tolerance_cents,
            timing_tolerance_ms=self.timing_tolerance_ms,
            target_tempo_bpm=target_tempo_bpm,
        )


def _coerce(value: Any, default: Any) -> Any:
    # INI files hand everything back as strings; convert to the default's type.
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return bool(value)
    return type(default)(value)


class SettingsStore:
    """Reads and writes :class:`Preferences` in ``<data folder>/etude.ini``."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / "etude.ini"
        self._qs = QSettings(str(self.path), QSettings.Format.IniFormat)

    def load(self) -> Preferences:
        defaults = Preferences()
        values: dict[str, Any] = {}
        for f in fields(Preferences):
            default = getattr(defaults, f.name)
            raw = self._qs.value(f"preferences/{f.name}", None)
            if raw is None:
                continue
            try:
                values[f.name] = _coerce(raw, default)
            except (TypeError, ValueError):
                continue  # a hand-edited bad value falls back to the default
        # A bad value (hand-edited, or from another version) falls back on its own: resetting
        # every preference would lose the student's device and tolerances at the next save.
        good: dict[str, Any] = {}
        for name, value in values.items():
            try:
                replace(defaults, **{name: value}).validated()
            except (TypeError, ValueError):
                continue
            good[name] = value
        try:
            return replace(defaults, **good).validated()
        except (TypeError, ValueError):
            return defaults

    def save(self, prefs: Preferences) -> None:
        prefs.validated()
        for f in fields(Preferences):
            self._qs.setValue(f"preferences/{f.name}", getattr(prefs, f.name))
        self._qs.sync()

    def value(self, key: str, default: Any = None) -> Any:
        return self._qs.value(key, default)

    def set_value(self, key: str, value: Any) -> None:
        self._qs.setValue(key, value)
        self._qs.sync()
