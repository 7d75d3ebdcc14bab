"""Plain-words feedback for a student, built from the numbers scoring measured.

Feedback points at the notes that went wrong, one played note at a time: "The G4 at 0:07
(bar 3) was 46 cents sharp.", "Notes 7 and 11 came in 160 and 120 ms late." A note name's
tendency ("Your G4 runs 18 cents sharp.") is told only when the notes of that name agree: at
least ``TENDENCY_MIN_COUNT`` of them, and ``TENDENCY_AGREE_SHARE`` of them off the same way by
``TENDENCY_MIN_CENTS`` or more, so one sharp G4 is never averaged with an in-tune one into a
tendency; its notes are then not listed one by one as well.

The words suit who made the sound: the genre's family (audio.genres) picks :data:`WORDING`, so a
singer is told to sing against a reference pitch or a drone where a player is told to check
their tuning note. What is measured and scored is the same for every family.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NOTE_NAMES = ("C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B")
TENDENCY_MIN_CENTS = 10.0
TENDENCY_MIN_COUNT = 2
TENDENCY_AGREE_SHARE = 0.75
TIMING_TENDENCY_MS = 15.0
WRONG_NOTE_CENTS = 50.0
# The most notes named one by one in a tip; the rest are counted.
MAX_NAMED_PITCH = 3
MAX_NAMED_TIMING = 4


@dataclass(frozen=True, slots=True)
class Wording:
    """The sentences of the feedback that depend on who made the sound. ``overall`` and
    ``low_intonation`` are format strings: ``{cents}`` and ``{way}`` ("sharp"/"flat"), and
    ``{pct}`` and ``{tol}`` (the share in tune and the tolerance)."""

    no_notes: str
    low_intonation: str
    overall: str
    right_notes: str


WORDING = {
    "instrument": Wording(
        no_notes="No notes were heard. Check that the microphone is on and play a little louder.",
        low_intonation="Only {pct}% of your notes were within ±{tol} cents. Play slowly with a "
        "drone or the tuner and listen for the beats between you and the reference.",
        overall="Overall you play {cents} cents {way}: check your tuning note.",
        right_notes="You played the notes of the piece correctly.",
    ),
    # A voice has no tuning note and no tuner to set it by: it holds its pitch by hearing one.
    "voice": Wording(
        no_notes="No notes were heard. Check that the microphone is on and sing a little louder.",
        low_intonation="Only {pct}% of your notes were within ±{tol} cents. Sing it slowly and "
        "hold each note until it settles on its pitch.",
        overall="Overall you sing {cents} cents {way}: sing against a reference pitch or a "
        "drone, and take your starting note from it.",
        right_notes="You sang the notes of the piece correctly.",
    ),
}


def note_name(midi: int) -> str:
    """Scientific pitch name of a MIDI note number 0..127, e.g. 66 -> "F♯4" (60 = C4)."""
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


@dataclass(frozen=True, slots=True)
class NoteResult:
    """One scored note: target_midi (written pitch, 0..127), signed cents (+ = sharp).

    onset_s: when it began, seconds from the start of the take. timing_ms: its onset's
    deviation from where it belonged (+ = late), the constant lag removed as the rhythm score
    does; None where timing is not judged. bar: the reference bar it was played for, None
    without one. piece_number: the place of that reference note in the piece (1 = first), None
    without one. Notes are given in the order played; their number is their place (1 = first).
    """

    target_midi: int
    cents: float
    onset_s: float | None = None
    timing_ms: float | None = None
    bar: int | None = None
    piece_number: int | None = None


@dataclass(frozen=True, slots=True)
class TimingSummary:
    """Onset deviations in ms after removing the constant lag; None where not measured.
    onbeat_ms: the median deviation of the notes on beats; offbeat_ms: the median of the notes
    between beats less onbeat_ms (how far they rush or drag against the beats)."""

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
    groups = _by_name(notes)
    means = {m: round(sum(c) / len(c), 1) + 0.0 for m, c in groups.items()}
    order = sorted(groups, key=lambda m: (-abs(means[m]), m))
    return [{"note": note_name(m), "mean_cents": means[m], "count": len(groups[m])} for m in order]


def _by_name(notes: Sequence[NoteResult]) -> dict[int, list[float]]:
    groups: dict[int, list[float]] = {}
    for n in notes:
        if abs(n.cents) <= WRONG_NOTE_CENTS:
            groups.setdefault(n.target_midi, []).append(n.cents)
    return groups


def agreed_tendencies(
    notes: Sequence[NoteResult], pitch_tolerance_cents: float
) -> dict[int, float]:
    """Note names (written MIDI) whose notes agree on running sharp or flat -> their mean cents.

    Agree: at least TENDENCY_MIN_COUNT notes of the name, TENDENCY_AGREE_SHARE of them off the
    same way as their mean by TENDENCY_MIN_CENTS or more, and the mean at least
    max(TENDENCY_MIN_CENTS, half the tolerance) off. A G4 +46 with a G4 in tune does not agree.
    """
    out: dict[int, float] = {}
    least = max(TENDENCY_MIN_CENTS, pitch_tolerance_cents / 2)
    for midi, cents in _by_name(notes).items():
        mean = sum(cents) / len(cents)
        if len(cents) < TENDENCY_MIN_COUNT or abs(mean) < least:
            continue
        same_way = sum(1 for c in cents if c * mean > 0 and abs(c) >= TENDENCY_MIN_CENTS)
        if same_way >= TENDENCY_AGREE_SHARE * len(cents):
            out[midi] = mean
    return out


def clock(t_s: float) -> str:
    """Seconds into a take as a student reads a clock: 7.4 -> "0:07", 75 -> "1:15"."""
    whole = max(0, int(t_s))
    return f"{whole // 60}:{whole % 60:02d}"


def note_findings(
    notes: Sequence[NoteResult], pitch_tolerance_cents: float, timing_tolerance_ms: float
) -> list[dict[str, Any]]:
    """The played notes with something to say, in the order played.

    Each: {"number": place in the take (1 = first), "note": written name, "onset_s", "time":
    "0:07", "bar": reference bar or None, "piece_number": place in the reference or None,
    "cents": signed, "timing_ms": + = late or None, "pitch": "sharp" | "flat" | "wrong" | None,
    "timing": "early" | "late" | None}. Pitch is "sharp"/"flat" beyond the pitch tolerance,
    "wrong" beyond 50 cents of its reference note ("note" is then the note of the piece,
    "played" the one played); timing is told beyond the timing tolerance.
    """
    out: list[dict[str, Any]] = []
    for i, n in enumerate(notes, 1):
        pitch: str | None = None
        if abs(n.cents) > WRONG_NOTE_CENTS:
            pitch = "wrong"
        elif abs(n.cents) > pitch_tolerance_cents:
            pitch = "sharp" if n.cents > 0 else "flat"
        timing: str | None = None
        if n.timing_ms is not None and abs(n.timing_ms) > timing_tolerance_ms:
            timing = "late" if n.timing_ms > 0 else "early"
        if pitch is None and timing is None:
            continue
        row: dict[str, Any] = {
            "number": i,
            "note": note_name(n.target_midi),
            "onset_s": None if n.onset_s is None else round(n.onset_s, 3),
            "time": None if n.onset_s is None else clock(n.onset_s),
            "bar": n.bar,
            "piece_number": n.piece_number,
            "cents": round(n.cents, 1) + 0.0,
            "timing_ms": _r(n.timing_ms),
            "pitch": pitch,
            "timing": timing,
        }
        if pitch == "wrong":
            row["played"] = note_name(round(n.target_midi + n.cents / 100.0))
        out.append(row)
    return out


def _where(f: Mapping[str, Any]) -> str:
    """ " at 0:07 (bar 3)", " at 0:07", " (bar 3)" or ""."""
    at = f" at {f['time']}" if f.get("time") else ""
    bar = f" (bar {f['bar']})" if f.get("bar") is not None else ""
    return at + bar


def pitch_tips(findings: Sequence[Mapping[str, Any]], told: Collection[str]) -> list[str]:
    """One sentence per out-of-tune note, the worst MAX_NAMED_PITCH in the order played, the
    rest counted; notes of a name in ``told`` (a tendency already said) are left out."""
    off = [f for f in findings if f["pitch"] in ("sharp", "flat") and f["note"] not in told]
    worst = sorted(off, key=lambda f: -abs(float(f["cents"])))[:MAX_NAMED_PITCH]
    tips = [
        f"The {f['note']}{_where(f)} was {abs(round(float(f['cents'])))} cents {f['pitch']}."
        for f in sorted(worst, key=lambda f: int(f["number"]))
    ]
    more = len(off) - len(worst)
    if more:
        tips.append(
            "1 more note was out of tune." if more == 1 else f"{more} more notes were out of tune."
        )
    return tips


def wrong_note_tip(findings: Sequence[Mapping[str, Any]]) -> str | None:
    """The wrong notes (pitch "wrong"), each with the note it should have been and where."""
    wrong = [f for f in findings if f["pitch"] == "wrong"]
    if not wrong:
        return None
    shown = ", ".join(f"{f['played']} instead of {f['note']}{_where(f)}" for f in wrong[:3])
    return f"{len(wrong)} wrong note(s): {shown}."


def timing_tips(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    """ "Notes 7 and 11 came in 160 and 120 ms late." (the MAX_NAMED_TIMING furthest off per
    direction, in the order played, the rest counted), then the same for early notes. Notes
    are numbered as in the piece where a reference is loaded, else as played."""
    tips = []
    for way in ("late", "early"):
        off = [f for f in findings if f["timing"] == way]
        if not off:
            continue
        named = sorted(
            sorted(off, key=lambda f: -abs(float(f["timing_ms"])))[:MAX_NAMED_TIMING],
            key=lambda f: int(f["number"]),
        )
        nums = _and([_note_number(f) for f in named])
        ms = _and([f"{abs(round(float(f['timing_ms'])))}" for f in named])
        word = "Note" if len(named) == 1 else "Notes"
        more = f", and {len(off) - len(named)} more" if len(off) > len(named) else ""
        tips.append(f"{word} {nums} came in {ms} ms {way}{more}.")
    return tips


def _note_number(f: Mapping[str, Any]) -> str:
    """A note's number as the student counts it: its place in the piece where a reference gives
    one (a note the analysis missed does not shift the rest), else its place in the take."""
    number = f.get("piece_number") or f["number"]
    return f"{number}" + (f" (bar {f['bar']})" if f.get("bar") else "")


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def build_feedback(
    metrics: dict[str, Any],
    notes: Sequence[NoteResult],
    timing: TimingSummary | None,
    pitch_tolerance_cents: float,
    timing_tolerance_ms: float,
    missed_notes: Sequence[str] = (),
    family: str = "instrument",
) -> dict[str, Any]:
    """Strengths, tips, per-note tendencies, the notes that went wrong and timing figures in
    words a student understands; ``family`` (a key of WORDING, from the genre) picks the words
    for a player or a singer.

    metrics: the AnalysisResult fields (scores 0..1 or None). notes: every scored note in the
    order played. missed_notes: names of reference notes not played. Returns {"strengths",
    "tips", "per_note" (per_note_tendencies), "note_findings" (note_findings), "timing"}.
    """
    words = WORDING[family]
    strengths: list[str] = []
    tips: list[str] = []
    per_note = per_note_tendencies(notes)
    findings = note_findings(notes, pitch_tolerance_cents, timing_tolerance_ms)
    if not notes:
        tips.append(words.no_notes)
        return {
            "strengths": strengths,
            "tips": tips,
            "per_note": per_note,
            "note_findings": findings,
            "timing": {},
        }

    pa = metrics.get("pitch_accuracy")
    if pa is not None:
        pct = round(100 * pa)
        tol = round(pitch_tolerance_cents)
        if pa >= 0.85:
            strengths.append(f"Secure intonation: {pct}% of your notes were within ±{tol} cents.")
        elif pa < 0.6:
            tips.append(words.low_intonation.format(pct=pct, tol=tol))
    agreed = agreed_tendencies(notes, pitch_tolerance_cents)
    for midi, c in sorted(agreed.items(), key=lambda kv: (-abs(kv[1]), kv[0])):
        way = "sharp" if c > 0 else "flat"
        tips.append(f"Your {note_name(midi)} runs {abs(round(c))} cents {way}.")
    tips += pitch_tips(findings, {note_name(m) for m in agreed})
    signed = sorted(n.cents for n in notes if abs(n.cents) <= WRONG_NOTE_CENTS)
    if len(signed) >= 4:
        # The median: most notes must be off that way, not one very sharp note among in-tune ones.
        mid = len(signed) // 2
        median_c = signed[mid] if len(signed) % 2 else (signed[mid - 1] + signed[mid]) / 2
        if abs(median_c) >= TENDENCY_MIN_CENTS:
            way = "sharp" if median_c > 0 else "flat"
            tips.append(words.overall.format(cents=abs(round(median_c)), way=way))

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
        tips += timing_tips(findings)

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
    wrong = wrong_note_tip(findings)
    if wrong:
        tips.append(wrong)
    nar = metrics.get("note_accuracy_rate")
    if nar is not None and nar >= 0.95:
        strengths.append(words.right_notes)

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
    return {
        "strengths": strengths,
        "tips": tips,
        "per_note": per_note,
        "note_findings": findings,
        "timing": timing_out,
    }


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)
