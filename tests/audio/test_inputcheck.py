"""The input check names each problem with what to do, and input too poor to tell notes apart
leaves the take's scores null with the reason (through the real analyzer and scoring)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audio.inputcheck import PEAK_BATCH_HOPS, InputCheck, InputMeter
from audio.scoring import METRIC_KEYS, score_take
from audio.settings import AnalysisSettings
from tests.audio import signals as sg
from tests.audio.test_analysis import run

SR = 44100
PHRASE = [(60.0, 0.5), (64.0, 0.4), (67.0, 0.6), (72.0, 0.5), (67.0, 0.4), (64.0, 0.8)] * 2


def melody() -> np.ndarray:
    x, _ = sg.melody(PHRASE, gap_s=0.15, lead_s=0.5, tail_s=0.5)
    return x


def check(x: np.ndarray) -> InputCheck:
    return run(x.astype(np.float32)).input_check()


def codes(c: InputCheck) -> list[str]:
    return [p.code for p in c.problems]


def test_a_clean_take_has_no_problem() -> None:
    c = check(melody())
    assert codes(c) == [] and c.measurable and c.reason is None
    assert c.hum_hz is None and not c.rumble and c.clipping_share == 0.0
    assert c.level_db is not None and -20.0 < c.level_db < -8.0
    assert c.snr_db is not None and c.snr_db > 40.0


def test_too_quiet_says_move_closer() -> None:
    x = melody()
    c = check(x / np.max(np.abs(x)) * 10 ** (-48 / 20) + sg.noise(x.size / SR, -95.0)[: x.size])
    assert codes(c) == ["too_quiet"]
    assert "move closer" in c.problems[0].message
    assert c.measurable


def test_clipping_says_turn_the_gain_down() -> None:
    x = melody()
    c = check(np.clip(x / np.max(np.abs(x)) * 10 ** (12 / 20), -1.0, 1.0))
    assert codes(c) == ["clipping"]
    assert "turn the input gain down" in c.problems[0].message
    assert 0.01 < c.clipping_share < 0.6
    assert c.measurable


@pytest.mark.parametrize("mains_hz", [50.0, 60.0])
def test_hum_names_its_frequency_and_a_ground_loop(mains_hz: float) -> None:
    x = melody()
    c = check(x + sg.mains_hum(x.size / SR, mains_hz, -40.0)[: x.size])
    assert codes(c) == ["hum"]
    assert f"Mains hum at {mains_hz:.0f} Hz" in c.problems[0].message
    assert "ground loop" in c.problems[0].message and "USB port" in c.problems[0].message
    assert c.hum_hz == pytest.approx(mains_hz, abs=0.05)
    assert c.hum_db is not None and -45.0 < c.hum_db < -35.0


def test_heavy_background_noise_says_find_a_quieter_spot() -> None:
    x = melody()
    c = check(x + sg.noise(x.size / SR, -24.0)[: x.size])
    assert codes(c) == ["noise"]
    assert "quieter" in c.problems[0].message
    assert c.snr_db is not None and 6.0 < c.snr_db < 15.0 and c.measurable


def test_rumble_says_put_the_microphone_on_a_stand() -> None:
    x = melody()
    c = check(x + sg.rumble(x.size / SR, -30.0)[: x.size])
    assert "rumble" in codes(c)
    assert "stand" in c.problems[codes(c).index("rumble")].message


def test_the_live_check_looks_at_the_last_seconds() -> None:
    """Hum that starts halfway through shows in the recent check, not from the start."""
    x = melody()
    half = x.size // 2
    x = x.copy()
    x[half:] += sg.mains_hum((x.size - half) / SR, 50.0, -34.0)[: x.size - half]
    an = run(x)
    assert "hum" in codes(an.input_check(recent=True))
    assert an.input_check(recent=True).notice.startswith("Mains hum at 50 Hz")


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda x: x / np.max(np.abs(x)) * 10 ** (-72 / 20), "far too quiet"),
        (lambda x: x + sg.noise(x.size / SR, -14.0)[: x.size], "as loud as you,"),
        (lambda x: np.clip(x / np.max(np.abs(x)) * 10 ** (40 / 20), -1.0, 1.0), "clipped"),
    ],
)
def test_input_too_poor_to_tell_notes_apart_leaves_the_scores_null_with_the_reason(
    make: object, why: str
) -> None:
    an = run(make(melody()).astype(np.float32))  # type: ignore[operator]
    c = an.input_check()
    assert not c.measurable and why in (c.reason or "")
    score = score_take(
        an.notes, an.onsets, an.frames, AnalysisSettings(target_tempo_bpm=120.0), input_check=c
    )
    m = score.metrics
    for k in ("pitch_accuracy", "rhythm_accuracy", "overall_score", "avg_pitch_deviation_cents"):
        assert m[k] is None
    assert set(m) == set(METRIC_KEYS)
    fb = json.loads(m["feedback_json"])
    assert fb["not_measurable"] == c.reason
    assert fb["per_note"] == [] and fb["strengths"] == []
    assert fb["input"]["measurable"] is False
    # no feedback about notes nobody could tell apart
    assert not any("cents" in t or "sharp" in t or "flat" in t for t in fb["tips"])


def test_the_meter_counts_every_hop_pushed_before_a_reading() -> None:
    """Peaks are measured a batch of hops at a time; a reading between batches still counts
    every hop pushed so far, exactly as a hop-by-hop count would."""
    x = melody().astype(np.float32)
    x[300:340] = 1.0  # a clipped stretch in the second hop
    meter = InputMeter(256 / SR)
    peak = 0.0
    clipped = 0
    for k in range(PEAK_BATCH_HOPS + 3):
        hop = x[k * 256 : (k + 1) * 256]
        meter.push(hop, -20.0)
        peak = max(peak, float(np.abs(hop).max()))
        clipped += int(np.count_nonzero(np.abs(hop) >= 0.99))
        if k in (1, 2, PEAK_BATCH_HOPS - 1, PEAK_BATCH_HOPS + 2):
            mark = meter.mark()
            assert mark.samples == (k + 1) * 256
            assert mark.clipped == clipped == 40
            assert mark.peak == peak == 1.0
            recent = meter.recent()
            assert recent.samples == (k + 1) * 256 and recent.clipped == 40
            assert int(recent.levels.sum()) == k + 1
