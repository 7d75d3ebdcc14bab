"""Plain-words feedback for a student, built from the numbers scoring measured."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

NOTE_NAMES = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")
TENDENCY_MIN_CENTS = 10.0
TENDENCY_MIN_COUNT = 2
TIMING_TENDENCY_MS = 15.0


def note_name(midi: int) -> str:
    """Scientific pitch name of a MIDI note number 0..127, e.g. 66 -> "F♯4" (60 = C4)."""
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


@dataclass(frozen=True, slots=True)
class NoteResult:
    """One scored note: target_midi (written pitch, 0..127), signed cents (+ = sharp)."""

    target_midi: int
    cents: float


@dataclass(frozen=True, slots=True)
class TimingSummary:
    """Onset deviations in ms after removing the constant lag; None where not measured."""

    grid: str
    lag_ms: float | None
    spread_ms: float | None
    mean_abs_ms: float | None
    onbeat_ms: float | None
    offbeat_ms: float | None
    onbeat_count: int
    offbeat_count: int


def per_note_tendencies(notes: Sequence[NoteResult]) -> list[dict[str, Any]]:
    """Mean signed cents per note name, most out of tune first.

    Returns [{"note": "F♯5", "mean_cents": 18.0, "count": 4}, ...]; mean_cents rounded to 0.1.
    Notes more than 50 cents off (wrong notes) are left out: they are not a tuning tendency.
    """
    groups: dict[int, list[float]] = {}
    for n in notes:
        if abs(n.cents) <= 50.0:
            groups.setdefault(n.target_midi, []).append(n.cents)
    means = {m: round(sum(c) / len(c), 1) + 0.0 for m, c in groups.items()}
    order = sorted(groups, key=lambda m: (-abs(means[m]), m))
    return [{"note": note_name(m), "mean_cents": means[m], "count": len(groups[m])} for m in order]


def build_feedback(
    metrics: dict[str, Any],
    notes: Sequence[NoteResult],
    timing: TimingSummary | None,
    pitch_tolerance_cents: float,
    timing_tolerance_ms: float,
    missed_notes: Sequence[str] = (),
    wrong_notes: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Strengths, tips, per-note tendencies and timing figures in words a student understands.

    metrics: the AnalysisResult fields (scores 0..1 or None). missed_notes: names of reference
    notes not played. wrong_notes: (played, expected) name pairs.
    """
    strengths: list[str] = []
    tips: list[str] = []
    per_note = per_note_tendencies(notes)
    if not notes:
        tips.append(
            "No notes were heard. Check that the microphone is on and play a little louder."
        )
        return {"strengths": strengths, "tips": tips, "per_note": per_note, "timing": {}}

    pa = metrics.get("pitch_accuracy")
    if pa is not None:
        pct = round(100 * pa)
        tol = round(pitch_tolerance_cents)
        if pa >= 0.85:
            strengths.append(f"Secure intonation: {pct}% of your notes were within ±{tol} cents.")
        elif pa < 0.6:
            tips.append(
                f"Only {pct}% of your notes were within ±{tol} cents. Play slowly with a drone "
                "or the tuner and listen for the beats between you and the reference."
            )
    for row in per_note:
        if int(row["count"]) < TENDENCY_MIN_COUNT:
            continue
        c = float(row["mean_cents"])
        if abs(c) >= max(TENDENCY_MIN_CENTS, pitch_tolerance_cents / 2):
            way = "sharp" if c > 0 else "flat"
            tips.append(f"Your {row['note']} runs {abs(round(c))} cents {way}.")
    signed = [n.cents for n in notes if abs(n.cents) <= 50.0]
    if len(signed) >= 4:
        mean_c = sum(signed) / len(signed)
        if abs(mean_c) >= TENDENCY_MIN_CENTS:
            way = "sharp" if mean_c > 0 else "flat"
            tips.append(
                f"Overall you play {abs(round(mean_c))} cents {way}: check your tuning note."
            )

    if timing is not None:
        ra = metrics.get("rhythm_accuracy")
        if ra is not None:
            pct = round(100 * ra)
            if ra >= 0.85:
                strengths.append(
                    f"Steady rhythm: {pct}% of your notes came within "
                    f"±{round(timing_tolerance_ms)} ms of the beat."
                )
            elif ra < 0.6:
                tips.append(
                    f"Only {pct}% of your notes came within ±{round(timing_tolerance_ms)} ms of "
                    "the beat. Practise with the metronome at a slower tempo."
                )
        checks = [("off-beats", timing.offbeat_ms, timing.offbeat_count)]
        if timing.grid == "reference":
            # On a fitted tempo grid the beats are the reference themselves.
            checks.append(("beats", timing.onbeat_ms, timing.onbeat_count))
        for label, val, count in checks:
            if val is None or count < 3 or abs(val) < TIMING_TENDENCY_MS:
                continue
            verb = "rush" if val < 0 else "drag"
            tips.append(f"You {verb} the {label} by {abs(round(val))} ms.")

    ts = metrics.get("tempo_stability")
    if ts is not None:
        if ts >= 0.85:
            strengths.append("You kept a steady tempo.")
        elif ts < 0.5:
            tips.append("Your tempo wanders: practise with the metronome and keep the pulse.")
    dr = metrics.get("dynamics_range")
    if dr is not None and len(notes) >= 4:
        if dr >= 0.5:
            strengths.append("You use a wide range of loud and soft.")
        elif dr < 0.15:
            tips.append("Everything is at one loudness: try more contrast between loud and soft.")
    if missed_notes:
        shown = ", ".join(missed_notes[:5])
        more = "" if len(missed_notes) <= 5 else f" and {len(missed_notes) - 5} more"
        tips.append(f"You left out {len(missed_notes)} note(s) of the piece: {shown}{more}.")
    if wrong_notes:
        shown = ", ".join(f"{p} instead of {e}" for p, e in wrong_notes[:3])
        tips.append(f"{len(wrong_notes)} wrong note(s): {shown}.")
    nar = metrics.get("note_accuracy_rate")
    if nar is not None and nar >= 0.95:
        strengths.append("You played the notes of the piece correctly.")

    timing_out: dict[str, Any] = {}
    if timing is not None:
        timing_out = {
            "grid": timing.grid,
            "lag_ms": _r(timing.lag_ms),
            "spread_ms": _r(timing.spread_ms),
            "mean_abs_deviation_ms": _r(timing.mean_abs_ms),
            "onbeat_offset_ms": _r(timing.onbeat_ms),
            "offbeat_offset_ms": _r(timing.offbeat_ms),
        }
    return {"strengths": strengths, "tips": tips, "per_note": per_note, "timing": timing_out}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)
