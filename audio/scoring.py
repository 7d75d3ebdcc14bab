"""Scoring: turns a take's notes (+ optional reference piece and target tempo) into the
AnalysisResult metrics and student feedback.

Definitions (tolerances come from AnalysisSettings; times in seconds, pitches in MIDI):

* **Target of a note**: with a reference, the reference note the alignment pairs it with; a
  note left unpaired (an extra note) and every note without a reference targets the nearest
  equal-tempered pitch for the student's A4. ``cents`` = 100 x (pitch - target).
* **pitch_accuracy** = share of notes with |cents| <= pitch tolerance (default 25).
* **avg_pitch_deviation_cents** = mean |cents| over notes.
* **rhythm_accuracy** = share of notes whose onset deviation is within the timing tolerance
  (default 50 ms). Deviation with a reference: onset minus the aligned reference onset mapped
  through the fitted start offset and tempo scale, over paired notes, the constant lag removed.
  Without a reference but with a target tempo: onset minus the nearest point of an eighth-note
  grid at that tempo, over all notes, the grid's phase fitted (which removes the constant lag).
  The lag (grid phase) is the median of the largest group of notes whose deviations (grid
  phases) fit in a span of twice the tolerance; a mean or median over all notes would let a few
  late or rushed notes pull it off the notes played on time. Null with neither, or with fewer
  than ``MIN_RHYTHM_NOTES``.
* **timing_consistency** = clamp(1 - s / (2 x timing tolerance)), s = standard deviation of those
  onset deviations; without reference and tempo the grid is an eighth-note grid at the tempo
  estimated from the notes. 1 = every note deviates the same way, 0 = spread of 100 ms or more.
* **tempo_stability** = clamp(1 - CV / 0.15), CV = coefficient of variation of the local tempo:
  the ratio of expected to played time over windows of ``TEMPO_WINDOW`` consecutive note gaps
  (expected from the reference, else from the grid unit). A 15 % tempo wobble scores 0.
* **dynamics_range** = clamp(spread / 30 dB), spread = 90th minus 10th percentile of note levels.
  **total_dynamics_events** = notes whose level differs from the previous note's by >= 6 dB.
* **note_accuracy_rate** (reference only) = share of reference notes paired with a performed
  note within 50 cents of it (paired = within 150 ms of its expected time, scaled by tempo).
* **overall_score** = weighted mean of the components that are not null, weights
  pitch_accuracy 0.40, rhythm_accuracy 0.25, note_accuracy_rate 0.20, timing_consistency 0.10,
  dynamics_range 0.05, renormalised over the available ones.
* **difficulty_estimate** from points: notes per second >= 5 (2 points) or >= 2.5 (1), pitch
  range >= 19 semitones (2) or >= 12 (1), tempo >= 150 BPM (1); 0-1 beginner, 2-3 intermediate,
  4+ advanced. Null below 3 notes.
* **genre_match_score**: see audio.genres; null without a genre or for a genre with no profile.
* **processing_time_ms** = CPU time of the analysis plus scoring, in ms.

Silence (no notes) leaves every score null; the counts are still reported. So does input too
poor to tell notes apart (an :class:`~audio.inputcheck.InputCheck` that is not measurable): the
feedback then holds ``not_measurable`` (the reason, in plain words) and the input's problems as
tips, and says nothing about notes. With an input check the feedback also holds ``input``
(:meth:`~audio.inputcheck.InputCheck.as_json`).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import aubio
import numpy as np

from audio.feedback import NoteResult, TimingSummary, build_feedback, note_name
from audio.genres import UnknownGenreError, genre_match, get_genre
from audio.inputcheck import InputCheck
from audio.records import Note, Onset, PitchFrame
from audio.reference import Alignment, Reference, align
from audio.settings import AnalysisSettings

ENGINE_VERSION = f"etude-audio 0.1 (aubio {aubio.version} yinfft+periodicity, hfc onsets)"
WEIGHTS = {
    "pitch_accuracy": 0.40,
    "rhythm_accuracy": 0.25,
    "note_accuracy_rate": 0.20,
    "timing_consistency": 0.10,
    "dynamics_range": 0.05,
}
MIN_RHYTHM_NOTES = 3
TEMPO_WINDOW = 4
TEMPO_CV_ZERO = 0.15
DYNAMICS_FULL_DB = 30.0
DYNAMICS_EVENT_DB = 6.0
METRIC_KEYS = (
    "pitch_accuracy",
    "rhythm_accuracy",
    "dynamics_range",
    "overall_score",
    "avg_pitch_deviation_cents",
    "timing_consistency",
    "tempo_stability",
    "note_accuracy_rate",
    "total_notes_detected",
    "total_onsets_detected",
    "total_dynamics_events",
    "feedback_json",
    "difficulty_estimate",
    "genre_match_score",
    "analysis_engine_version",
    "processing_time_ms",
)


@dataclass(frozen=True, slots=True)
class TakeScore:
    """The result of scoring a take.

    metrics: exactly the AnalysisResult field names (METRIC_KEYS); scores 0..1 or None.
    feedback: {"strengths": [...], "tips": [...], "per_note": [...], "note_findings": [...],
    "timing": {...}} (see audio.feedback.build_feedback).
    notes: the notes re-targeted against the aligned reference, in the order played.
    played: what feedback was told about each of those notes (written name, cents, onset,
    timing deviation, bar), same order.
    alignment: the reference alignment, None without a reference.
    estimated_tempo_bpm: quarter-note tempo estimated from the note gaps (40..240), None with
    fewer than five usable gaps. extra: {"duration_s": the take's length in seconds}.
    """

    metrics: dict[str, Any]
    feedback: dict[str, Any]
    notes: tuple[Note, ...] = ()
    alignment: Alignment | None = None
    played: tuple[NoteResult, ...] = ()
    estimated_tempo_bpm: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Rhythm:
    grid: str
    deviations: list[float]
    beat_parity: list[bool | None]
    ratios_expected: list[float]
    ratios_played: list[float]
    lag_s: float
    unit_s: float | None


def _clamp01(x: float) -> float:
    return max(0.0, min(1.0, x))


def _consensus(values: np.ndarray, window: float, period: float | None = None) -> float:
    """The shift (s) the largest group of ``values`` agrees on.

    The interval of width 2 x ``window`` holding the most values is found (the tightest such
    interval on a tie) and the median of the values in it is returned. With ``period``, values
    lie on a circle of that length (grid phases) and the result is in [0, period). Unlike a mean
    or a median of all values, a few late or rushed notes cannot pull the shift off the notes
    played on time. O(n log n); ``values`` must not be empty.
    """
    v = np.sort(np.mod(values, period) if period else values)
    n = v.size
    ext = np.concatenate([v, v + period]) if period else v
    width = min(2.0 * window, period) if period else 2.0 * window
    last = np.searchsorted(ext, v + width, "right") - 1
    if period:
        last = np.minimum(last, np.arange(n) + n - 1)
    counts = last - np.arange(n)
    spans = ext[last] - v
    best = int(np.lexsort((spans, -counts))[0])
    centre = float(np.median(ext[best : last[best] + 1]))
    return float(np.mod(centre, period)) if period else centre


def _circular_grid(
    times: np.ndarray, unit: float, window: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Deviations (s) from the nearest point of a grid of step ``unit`` whose phase is the one
    the largest group of onsets agrees on within ``window`` seconds (see :func:`_consensus`)."""
    origin = _consensus(times, window, period=unit)
    k = np.round((times - origin) / unit)
    dev = times - (origin + k * unit)
    return dev, k.astype(np.int64), origin


def estimate_unit_s(onsets_s: Sequence[float]) -> float | None:
    """The shortest common note gap in seconds (the rhythmic unit), None below 4 gaps.

    The median of the gaps no longer than 1.5 x their 20th percentile (gaps under 60 ms are
    ignored as ornaments).
    """
    iois = np.diff(np.asarray(onsets_s, dtype=np.float64))
    iois = iois[iois >= 0.06]
    if iois.size < 4:
        return None
    q20 = float(np.percentile(iois, 20))
    return float(np.median(iois[iois <= 1.5 * q20]))


def unit_to_tempo(unit_s: float) -> float:
    """Quarter-note BPM (folded into 40..240) from a rhythmic unit in seconds (> 0)."""
    beat = 2.0 * unit_s if unit_s < 0.3 else unit_s
    tempo = 60.0 / beat
    while tempo > 240.0:
        tempo /= 2.0
    while tempo < 40.0:
        tempo *= 2.0
    return tempo


def _grid_rhythm(
    onsets: np.ndarray, levels: np.ndarray, unit: float, grid: str, window: float
) -> _Rhythm:
    dev, k, origin = _circular_grid(onsets, unit, window)
    # Which eighth of the pair is the beat is unknown from phase alone: the one holding more
    # notes (then the louder) is taken as the beat.
    even = k % 2 == 0
    n_even, n_odd = int(even.sum()), int((~even).sum())
    if n_even == n_odd:
        le = float(levels[even].mean()) if n_even else -200.0
        lo = float(levels[~even].mean()) if n_odd else -200.0
        # Equally many and equally loud: a take usually starts on a beat.
        beat_even = bool(even[0]) if abs(le - lo) < 1.0 else le > lo
    else:
        beat_even = n_even > n_odd
    parity: list[bool | None] = [bool(e == beat_even) for e in even]
    iois = np.diff(onsets)
    steps = np.maximum(1, np.round(iois / unit))
    return _Rhythm(
        grid=grid,
        deviations=dev.tolist(),
        beat_parity=parity,
        ratios_expected=(steps * unit).tolist(),
        ratios_played=iois.tolist(),
        lag_s=float(origin),
        unit_s=unit,
    )


def _ref_rhythm(
    onsets: np.ndarray, alignment: Alignment, reference: Reference, window: float
) -> _Rhythm | None:
    pairs = alignment.pairs
    if len(pairs) < MIN_RHYTHM_NOTES:
        return None
    ref = reference.notes
    dev = np.array([onsets[i] - alignment.expected_s(ref[j].onset_s) for i, j in pairs])
    lag = _consensus(dev, window)
    dev = dev - lag
    parity: list[bool | None] = []
    beat = 60.0 / reference.tempo_bpm if reference.tempo_bpm else None
    for _, j in pairs:
        if beat is None:
            parity.append(None)
            continue
        frac = (ref[j].onset_s / beat) % 1.0
        if min(frac, 1.0 - frac) < 0.1:
            parity.append(True)
        elif abs(frac - 0.5) < 0.1:
            parity.append(False)
        else:
            parity.append(None)
    exp: list[float] = []
    played: list[float] = []
    for (i1, j1), (i2, j2) in itertools.pairwise(pairs):
        e = alignment.scale * (ref[j2].onset_s - ref[j1].onset_s)
        p = onsets[i2] - onsets[i1]
        if e > 0.03 and p > 0.03:
            exp.append(e)
            played.append(float(p))
    return _Rhythm(
        grid="reference",
        deviations=dev.tolist(),
        beat_parity=parity,
        ratios_expected=exp,
        ratios_played=played,
        lag_s=lag,
        unit_s=None,
    )


def _tempo_stability(rh: _Rhythm) -> float | None:
    exp = np.asarray(rh.ratios_expected)
    pl = np.asarray(rh.ratios_played)
    if exp.size < TEMPO_WINDOW:
        return None
    w = TEMPO_WINDOW if exp.size >= 2 * TEMPO_WINDOW else 2
    ce = np.convolve(exp, np.ones(w), "valid")
    cp = np.convolve(pl, np.ones(w), "valid")
    local = ce / cp
    if local.size < 2:
        return None
    cv = float(np.std(local) / np.mean(local))
    return _clamp01(1.0 - cv / TEMPO_CV_ZERO)


def _swing_ratio(onsets: np.ndarray, rh: _Rhythm) -> float | None:
    if rh.unit_s is None or rh.grid == "estimated":
        return None
    unit = rh.unit_s
    ratios = []
    for a in range(len(onsets) - 1):
        if rh.beat_parity[a] is True and rh.beat_parity[a + 1] is False:
            gap = onsets[a + 1] - onsets[a]
            if 0.4 * unit < gap < 1.8 * unit:
                first = gap
                second = 2.0 * unit - gap
                if second > 0.05 * unit:
                    ratios.append(first / second)
    if len(ratios) < 4:
        return None
    return float(np.median(ratios))


def score_take(
    notes: Sequence[Note],
    onsets: Sequence[Onset],
    frames: Sequence[PitchFrame],
    settings: AnalysisSettings,
    reference: Reference | None = None,
    duration_s: float | None = None,
    genre: str | None = None,
    analysis_cpu_s: float = 0.0,
    input_check: InputCheck | None = None,
) -> TakeScore:
    """Score a take. Notes/onsets as the StreamAnalyzer produced them (times in seconds).

    frames: the take's frames (used for the duration when ``duration_s`` is None).
    genre: a name from resources/genres/genres.json; None or a name without a profile gives
    genre_match_score None (check names with audio.genres.get_genre).
    analysis_cpu_s: CPU seconds the analysis took, added to the scoring's own CPU time in
    processing_time_ms. input_check: what the input was like (StreamAnalyzer.input_check);
    when it is not measurable every score is null and the feedback says why.
    """
    # thread_time: in the app other threads (GUI, audio, recorder) run while this scores.
    cpu0 = time.thread_time()
    profile = None
    if genre is not None:
        try:
            profile = get_genre(genre)
        except UnknownGenreError:
            # A session's genre is free text; without a profile there is nothing to match.
            profile = None
    if duration_s is None:
        duration_s = frames[-1].t_s if len(frames) else 0.0
    notes = sorted(notes, key=lambda n: n.onset_s)
    tol_c = settings.pitch_tolerance_cents
    tol_s = settings.timing_tolerance_ms / 1000.0
    metrics: dict[str, Any] = dict.fromkeys(METRIC_KEYS)
    metrics["total_notes_detected"] = len(notes)
    metrics["total_onsets_detected"] = len(onsets)
    metrics["analysis_engine_version"] = ENGINE_VERSION

    alignment: Alignment | None = None
    scored: list[Note] = []
    onsets_arr = np.array([n.onset_s for n in notes], dtype=np.float64)
    levels = np.array([n.level_db for n in notes], dtype=np.float64)
    missed: list[str] = []
    if reference is not None and notes:
        alignment = align(onsets_arr.tolist(), [n.midi for n in notes], reference)
        by_perf = dict(alignment.pairs)
        for i, n in enumerate(notes):
            j = by_perf.get(i)
            target = reference.notes[j].midi if j is not None else round(n.midi)
            scored.append(_retarget(n, target, j))
        paired_refs = {j for _, j in alignment.pairs}
        right = sum(1 for i, _ in alignment.pairs if abs(scored[i].cents) <= 50.0)
        for j, rn in enumerate(reference.notes):
            if j not in paired_refs:
                missed.append(note_name(rn.midi - settings.transpose_semitones))
        metrics["note_accuracy_rate"] = right / len(reference.notes)
    else:
        scored = [_retarget(n, round(n.midi), None) for n in notes]

    rh: _Rhythm | None = None
    est_unit: float | None = None
    est_tempo: float | None = None
    if notes:
        cents = np.array([n.cents for n in scored])
        metrics["pitch_accuracy"] = float(np.mean(np.abs(cents) <= tol_c + 1e-9))
        metrics["avg_pitch_deviation_cents"] = float(np.mean(np.abs(cents)))
        est_unit = estimate_unit_s(onsets_arr.tolist())
        if est_unit is not None:
            est_tempo = unit_to_tempo(est_unit)
        if reference is not None and alignment is not None:
            rh = _ref_rhythm(onsets_arr, alignment, reference, tol_s)
        elif settings.target_tempo_bpm is not None and len(notes) >= MIN_RHYTHM_NOTES:
            unit = 30.0 / settings.target_tempo_bpm
            rh = _grid_rhythm(onsets_arr, levels, unit, "tempo", tol_s)
        if rh is not None:
            dev = np.asarray(rh.deviations)
            metrics["rhythm_accuracy"] = float(np.mean(np.abs(dev) <= tol_s + 1e-9))
        elif est_unit is not None:
            rh = _grid_rhythm(onsets_arr, levels, est_unit, "estimated", tol_s)
        if rh is not None and len(rh.deviations) >= MIN_RHYTHM_NOTES:
            sd = float(np.std(rh.deviations))
            metrics["timing_consistency"] = _clamp01(1.0 - sd / (2.0 * tol_s))
            metrics["tempo_stability"] = _tempo_stability(rh)
        if len(notes) >= 2:
            spread = float(np.percentile(levels, 90) - np.percentile(levels, 10))
            metrics["dynamics_range"] = _clamp01(spread / DYNAMICS_FULL_DB)
        metrics["total_dynamics_events"] = int(np.sum(np.abs(np.diff(levels)) >= DYNAMICS_EVENT_DB))
        num = den = 0.0
        for k, w in WEIGHTS.items():
            if metrics[k] is not None:
                num += w * float(metrics[k])
                den += w
        metrics["overall_score"] = num / den if den > 0 else None
        metrics["difficulty_estimate"] = _difficulty(
            scored, settings.target_tempo_bpm or _ref_tempo(reference, alignment) or est_tempo
        )
        if profile is not None:
            tempo = settings.target_tempo_bpm or _ref_tempo(reference, alignment) or est_tempo
            swing = _swing_ratio(onsets_arr, rh) if rh is not None else None
            spread_db = (
                float(np.percentile(levels, 90) - np.percentile(levels, 10))
                if len(notes) >= 2
                else None
            )
            metrics["genre_match_score"] = genre_match(profile, tempo, swing, spread_db)
    else:
        metrics["total_dynamics_events"] = 0

    timing: TimingSummary | None = None
    if rh is not None and rh.grid != "estimated":
        dev_ms = np.asarray(rh.deviations) * 1000.0
        on = [d for d, p in zip(dev_ms, rh.beat_parity, strict=True) if p is True]
        off = [d for d, p in zip(dev_ms, rh.beat_parity, strict=True) if p is False]
        # Rushing off-beats shows relative to the beats, so report off-beats against them.
        # Medians: a rush or drag is told only when most of those notes agree, never because
        # one very late note pulled a mean (as with the pitch tendencies, audio.feedback).
        on_mean = float(np.median(on)) if on else None
        off_mean = float(np.median(off)) if off else None
        timing = TimingSummary(
            grid=rh.grid,
            lag_ms=rh.lag_s * 1000.0 if rh.grid == "reference" else None,
            spread_ms=float(np.std(dev_ms)),
            mean_abs_ms=float(np.mean(np.abs(dev_ms))),
            onbeat_ms=on_mean,
            offbeat_ms=(off_mean - (on_mean or 0.0)) if off_mean is not None else None,
            onbeat_count=len(on),
            offbeat_count=len(off),
        )
    results = _results(scored, settings, rh, alignment, reference)
    feedback = build_feedback(
        metrics,
        results,
        timing,
        tol_c,
        settings.timing_tolerance_ms,
        missed_notes=missed,
        family=profile.family if profile is not None else "instrument",
    )
    if input_check is not None:
        feedback["input"] = input_check.as_json()
        if not input_check.measurable:
            _not_measurable(metrics, feedback, input_check)
    metrics["feedback_json"] = json.dumps(feedback, ensure_ascii=False)
    cpu = analysis_cpu_s + (time.thread_time() - cpu0)
    metrics["processing_time_ms"] = round(cpu * 1000.0)
    return TakeScore(
        metrics=metrics,
        feedback=feedback,
        notes=tuple(scored),
        played=tuple(results),
        alignment=alignment,
        estimated_tempo_bpm=est_tempo,
        extra={"duration_s": duration_s},
    )


# The metrics that judge the playing (null when the input is not measurable); the rest are
# counts and facts about the analysis.
SCORE_KEYS = tuple(
    k
    for k in METRIC_KEYS
    if not k.startswith("total_")
    and k not in ("feedback_json", "analysis_engine_version", "processing_time_ms")
)


def _not_measurable(metrics: dict[str, Any], feedback: dict[str, Any], check: InputCheck) -> None:
    """Null every score (the counts stay) and replace the feedback about notes by the reason
    and what to do about the input."""
    for k in SCORE_KEYS:
        metrics[k] = None
    feedback["not_measurable"] = check.reason
    feedback["strengths"] = []
    feedback["tips"] = [p.message for p in check.problems]
    feedback["per_note"] = []
    feedback["note_findings"] = []
    feedback["timing"] = {}


def _results(
    scored: Sequence[Note],
    settings: AnalysisSettings,
    rh: _Rhythm | None,
    alignment: Alignment | None,
    reference: Reference | None,
) -> list[NoteResult]:
    """Each scored note as feedback sees it: its written target, cents, onset, its timing
    deviation in ms where rhythm is judged (the reference's pairs, or the notes within a
    quarter of a grid step of the target tempo's eighth-note grid; the lag removed) and its
    reference bar."""
    timing: dict[int, float] = {}
    if rh is not None and rh.grid == "reference" and alignment is not None:
        timing = {i: d * 1000.0 for (i, _), d in zip(alignment.pairs, rh.deviations, strict=True)}
    elif rh is not None and rh.grid == "tempo" and rh.unit_s is not None:
        # A note half a grid step off is as near the next point as its own: whether it was
        # late or early is told only while it is clearly nearer one (within a quarter step).
        timing = {i: d * 1000.0 for i, d in enumerate(rh.deviations) if abs(d) < rh.unit_s / 4.0}
    out = []
    for i, n in enumerate(scored):
        bar = None
        if reference is not None and n.ref_index is not None:
            bar = reference.notes[n.ref_index].bar
        out.append(
            NoteResult(
                n.target_midi - settings.transpose_semitones,
                n.cents,
                onset_s=n.onset_s,
                timing_ms=timing.get(i),
                bar=bar,
                piece_number=None if n.ref_index is None else n.ref_index + 1,
            )
        )
    return out


def _retarget(n: Note, target: int, ref_index: int | None) -> Note:
    return replace(n, target_midi=target, cents=(n.midi - target) * 100.0, ref_index=ref_index)


def _ref_tempo(reference: Reference | None, alignment: Alignment | None) -> float | None:
    if reference is None or reference.tempo_bpm is None or alignment is None:
        return None
    return reference.tempo_bpm / alignment.scale


def _difficulty(notes: Sequence[Note], tempo_bpm: float | None) -> str | None:
    if len(notes) < 3:
        return None
    span = notes[-1].onset_s - notes[0].onset_s
    rate = (len(notes) - 1) / span if span > 0 else 0.0
    targets = [n.target_midi for n in notes]
    rng = max(targets) - min(targets)
    points = 0
    points += 2 if rate >= 5.0 else 1 if rate >= 2.5 else 0
    points += 2 if rng >= 19 else 1 if rng >= 12 else 0
    points += 1 if tempo_bpm is not None and tempo_bpm >= 150.0 else 0
    if points <= 1:
        return "beginner"
    if points <= 3:
        return "intermediate"
    return "advanced"
