"""Scoring definitions checked on notes whose answers are known by construction."""

from __future__ import annotations

import json

import pytest

from audio.genres import UnknownGenreError, genre_profiles, get_genre
from audio.records import Note, Onset
from audio.scoring import METRIC_KEYS, WEIGHTS, score_take
from audio.settings import AnalysisSettings


def note(onset: float, midi: float, level: float = -20.0, dur: float = 0.2) -> Note:
    target = round(midi)
    return Note(onset, onset + dur, midi, target, (midi - target) * 100.0, level, 0.0)


def onsets_of(notes: list[Note]) -> list[Onset]:
    return [Onset(n.onset_s, 0.0) for n in notes]


def score(notes: list[Note], **kw: object):  # type: ignore[no-untyped-def]
    settings = kw.pop("settings", AnalysisSettings())
    return score_take(notes, onsets_of(notes), [], settings, duration_s=10.0, **kw)  # type: ignore[arg-type]


def test_metric_keys_are_exactly_the_seed_fields() -> None:
    s = score([note(0.5, 60.0), note(1.0, 62.0)])
    assert tuple(s.metrics) == METRIC_KEYS
    assert json.loads(s.metrics["feedback_json"]) == s.feedback
    assert s.metrics["analysis_engine_version"].startswith("etude-audio")
    assert isinstance(s.metrics["processing_time_ms"], int)


def test_silence_has_no_scores_only_counts() -> None:
    s = score([])
    for k in (
        "pitch_accuracy",
        "rhythm_accuracy",
        "dynamics_range",
        "overall_score",
        "avg_pitch_deviation_cents",
        "timing_consistency",
        "tempo_stability",
        "note_accuracy_rate",
        "difficulty_estimate",
    ):
        assert s.metrics[k] is None, k
    assert s.metrics["total_notes_detected"] == 0
    assert s.metrics["total_onsets_detected"] == 0
    assert s.feedback["tips"] and "No notes" in s.feedback["tips"][0]


def test_pitch_accuracy_and_average_cents_follow_the_definition() -> None:
    cents = [0.0, 10.0, -24.0, 26.0, -40.0, 5.0, 30.0, -3.0]
    notes = [note(0.5 * k, 60 + c / 100.0) for k, c in enumerate(cents)]
    s = score(notes)
    assert s.metrics["pitch_accuracy"] == pytest.approx(5 / 8)
    assert s.metrics["avg_pitch_deviation_cents"] == pytest.approx(sum(map(abs, cents)) / 8)
    tight = score(notes, settings=AnalysisSettings(pitch_tolerance_cents=5.0))
    assert tight.metrics["pitch_accuracy"] == pytest.approx(3 / 8)


def test_rhythm_is_null_without_tempo_or_reference() -> None:
    notes = [note(0.5 * k, 60.0) for k in range(8)]
    assert score(notes).metrics["rhythm_accuracy"] is None


def test_rhythm_on_a_tempo_grid_removes_the_constant_lag() -> None:
    # 120 BPM: eighth grid of 0.25 s. Everything 70 ms late (latency), two notes 90 ms off more.
    offsets = [0.0] * 10
    offsets[3] = 0.09
    offsets[7] = -0.09
    notes = [note(1.0 + 0.07 + 0.25 * k + o, 60.0) for k, o in enumerate(offsets)]
    s = score(notes, settings=AnalysisSettings(target_tempo_bpm=120.0))
    assert s.metrics["rhythm_accuracy"] == pytest.approx(8 / 10)
    on_grid = [note(1.07 + 0.25 * k, 60.0) for k in range(10)]
    s2 = score(on_grid, settings=AnalysisSettings(target_tempo_bpm=120.0))
    assert s2.metrics["rhythm_accuracy"] == pytest.approx(1.0)
    assert s2.metrics["timing_consistency"] == pytest.approx(1.0, abs=1e-6)
    assert s2.metrics["tempo_stability"] == pytest.approx(1.0)


def test_a_few_late_notes_do_not_pull_the_grid_off_the_notes_on_time() -> None:
    # 120 BPM (eighths 0.25 s). Ten notes on time, alternately 40 ms early and late, and four
    # notes 62.5 ms late. A circular mean of all onsets would sit 25 ms late, so the early
    # on-time notes would count as 65 ms early and the late ones as on time (9/14); the grid
    # the most notes agree on keeps the ten on time and the four late (10/14).
    times = [1.0 + 0.25 * k + (0.04 if k % 2 else -0.04) for k in range(10)]
    times += [1.0 + 0.25 * k + 0.0625 for k in range(10, 14)]
    s = score([note(t, 60.0) for t in times], settings=AnalysisSettings(target_tempo_bpm=120.0))
    assert s.metrics["rhythm_accuracy"] == pytest.approx(10 / 14)


def test_timing_consistency_from_the_spread() -> None:
    # Alternating +-30 ms around the grid: standard deviation 30 ms -> 1 - 30/100 = 0.7
    notes = [note(2.0 + 0.5 * k + (0.03 if k % 2 else -0.03), 60.0) for k in range(12)]
    s = score(notes, settings=AnalysisSettings(target_tempo_bpm=60.0))
    assert s.metrics["timing_consistency"] == pytest.approx(0.7, abs=0.01)


def test_tempo_drift_lowers_tempo_stability() -> None:
    t, times = 0.0, []
    for k in range(16):
        times.append(t)
        t += 0.5 * (1.0 + 0.03 * k)  # slowing down steadily
    steady = score([note(0.5 * k, 60.0) for k in range(16)])
    drifting = score([note(x, 60.0) for x in times])
    assert steady.metrics["tempo_stability"] == pytest.approx(1.0)
    assert drifting.metrics["tempo_stability"] < 0.5


def test_dynamics_range_and_events() -> None:
    levels = [-30.0, -30.0, -12.0, -12.0, -30.0, -20.0, -20.0, -12.0, -30.0, -30.0]
    notes = [note(0.5 * k, 60.0, level=lv) for k, lv in enumerate(levels)]
    s = score(notes)
    # 90th - 10th percentile = 18 dB -> 18/30
    assert s.metrics["dynamics_range"] == pytest.approx(18.0 / 30.0)
    assert s.metrics["total_dynamics_events"] == 5


def test_overall_is_the_weighted_mean_of_available_parts() -> None:
    notes = [note(1.0 + 0.25 * k, 60.0 + (0.4 if k < 2 else 0.0)) for k in range(8)]
    s = score(notes, settings=AnalysisSettings(target_tempo_bpm=120.0))
    m = s.metrics
    parts = {k: m[k] for k in WEIGHTS if m[k] is not None}
    assert "note_accuracy_rate" not in parts
    want = sum(WEIGHTS[k] * v for k, v in parts.items()) / sum(WEIGHTS[k] for k in parts)
    assert m["overall_score"] == pytest.approx(want)
    assert m["pitch_accuracy"] == pytest.approx(6 / 8)


def test_feedback_names_a_sharp_note_in_plain_words() -> None:
    notes = [note(0.5 * k, 78.18 if k % 2 else 60.0) for k in range(8)]  # F#5 18 cents sharp
    s = score(notes)
    assert "Your F♯5 runs 18 cents sharp." in s.feedback["tips"]
    row = s.feedback["per_note"][0]
    assert row == {"note": "F♯5", "mean_cents": 18.0, "count": 4}


def test_feedback_catches_rushed_off_beats() -> None:
    # 100 BPM: beats every 0.6 s, off-beats 40 ms early.
    times = []
    for b in range(8):
        times += [1.0 + 0.6 * b, 1.0 + 0.6 * b + 0.3 - 0.04]
    s = score([note(t, 62.0) for t in times], settings=AnalysisSettings(target_tempo_bpm=100.0))
    assert "You rush the off-beats by 40 ms." in s.feedback["tips"]
    assert s.feedback["timing"]["offbeat_offset_ms"] == pytest.approx(-40.0, abs=1.0)


def test_transposed_instrument_feedback_uses_written_names() -> None:
    # A B-flat clarinet playing written D5 sounds C5 (72); it runs 20 cents flat.
    notes = [note(0.5 * k, 71.8) for k in range(4)]
    s = score(notes, settings=AnalysisSettings(transpose_semitones=-2))
    assert "Your D5 runs 20 cents flat." in s.feedback["tips"]


def test_difficulty_estimate_levels() -> None:
    slow = [note(1.0 * k, 60 + k % 5) for k in range(8)]
    fast_wide = [note(0.15 * k, 50 + (k * 7) % 26) for k in range(40)]
    assert score(slow).metrics["difficulty_estimate"] == "beginner"
    assert score(fast_wide).metrics["difficulty_estimate"] == "advanced"


def test_genre_match_uses_the_profile_table() -> None:
    notes = [note(1.0 + 0.25 * k, 60.0, level=-20.0 - (k % 4) * 5) for k in range(16)]
    settings = AnalysisSettings(target_tempo_bpm=120.0)
    assert score(notes, settings=settings).metrics["genre_match_score"] is None
    pop = score(notes, settings=settings, genre="pop").metrics["genre_match_score"]
    ballad = score(notes, settings=settings, genre="jazz_ballad").metrics["genre_match_score"]
    assert pop is not None and ballad is not None
    assert pop > ballad
    assert 0.0 <= ballad <= 1.0
    # a free-text genre without a profile cannot be matched: null, not an error
    assert score(notes, genre="polka-metal").metrics["genre_match_score"] is None
    with pytest.raises(UnknownGenreError, match="known genres: baroque"):
        get_genre("polka-metal")
    assert {"classical", "jazz_swing", "pop"} <= set(genre_profiles())


def test_swung_eighths_fit_swing_better_than_straight() -> None:
    swung = []
    for b in range(12):
        swung += [1.0 + 0.5 * b, 1.0 + 0.5 * b + 0.333]
    notes = [note(t, 62.0) for t in swung]
    settings = AnalysisSettings(target_tempo_bpm=120.0)
    jazz = score(notes, settings=settings, genre="jazz_swing").metrics["genre_match_score"]
    baroque = score(notes, settings=settings, genre="baroque").metrics["genre_match_score"]
    assert jazz > baroque
