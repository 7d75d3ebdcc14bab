"""One rule per analysis setting: the settings dialog, the stored preferences and `etude
analyze` all take their ranges from audio.settings.LIMITS."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from audio.settings import LIMITS, AnalysisSettings, SettingOutOfRange
from desktop.cli import main as etude
from desktop.settings import Preferences

# The preference (or dialog box) and the analyze option of each analysis setting.
SETTINGS = {
    "a4_hz": ("a4", "--a4"),
    "transpose_semitones": ("transpose", "--transpose"),
    "pitch_tolerance_cents": ("pitch_tol", "--pitch-tolerance"),
    "timing_tolerance_ms": ("timing_tol", "--timing-tolerance"),
}


def test_the_dialog_offers_exactly_each_settings_range(qtbot: Any, main_window: Any) -> None:
    dialog = main_window.settings_dialog()
    qtbot.addWidget(dialog)
    for field, (box_name, _option) in SETTINGS.items():
        box = getattr(dialog, box_name)
        assert (box.minimum(), box.maximum()) == (LIMITS[field].lo, LIMITS[field].hi), field
        assert box.suffix() == f" {LIMITS[field].unit}"


@pytest.mark.parametrize("field", sorted(SETTINGS))
def test_preferences_and_the_command_refuse_what_the_settings_refuse(
    field: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    too_high = LIMITS[field].hi + 1
    with pytest.raises(SettingOutOfRange) as rule:
        AnalysisSettings(**{field: too_high})
    with pytest.raises(ValueError) as prefs:
        replace(Preferences(), **{field: too_high}).validated()
    assert str(prefs.value) == str(rule.value)

    option = SETTINGS[field][1]
    code = etude(["analyze", str(tmp_path / "never-read.wav"), option, f"{too_high:g}"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{option} {too_high:g} is outside {LIMITS[field].lo:g}..{LIMITS[field].hi:g}" in err
