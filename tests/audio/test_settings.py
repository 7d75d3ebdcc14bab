"""The ranges of the analysis settings are checked where the settings are made."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from audio.settings import LIMITS, AnalysisSettings, SettingOutOfRange


@pytest.mark.parametrize("field", sorted(LIMITS))
def test_each_setting_takes_its_range_and_refuses_what_lies_outside(field: str) -> None:
    lim = LIMITS[field]
    for ok in (lim.lo, lim.hi):
        assert getattr(AnalysisSettings(**{field: ok}), field) == ok
    step = 1 if lim.whole else 1e-6
    for bad in (lim.lo - step, lim.hi + step, math.nan, math.inf, -math.inf):
        with pytest.raises(SettingOutOfRange) as caught:
            AnalysisSettings(**{field: bad})
        assert caught.value.field == field
        assert f"{lim.lo:g}–{lim.hi:g} {lim.unit}" in str(caught.value)


def test_whole_number_settings_refuse_fractions_and_booleans() -> None:
    with pytest.raises(SettingOutOfRange, match=r"transposition .* whole number"):
        AnalysisSettings(transpose_semitones=2.5)  # type: ignore[arg-type]
    with pytest.raises(SettingOutOfRange, match="A4"):
        AnalysisSettings(a4_hz=True)  # a bool is not a frequency
    assert AnalysisSettings(transpose_semitones=-9).transpose_semitones == -9


def test_no_tempo_is_allowed_and_replace_checks_again() -> None:
    settings = AnalysisSettings(target_tempo_bpm=None)
    with pytest.raises(SettingOutOfRange, match="target tempo must be 20–300 BPM, not 500"):
        replace(settings, target_tempo_bpm=500.0)
