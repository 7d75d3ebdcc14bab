"""Feedback benchmark: `uv run python -m tests.bench.feedback` (add --quick for one soundfont).

Does the feedback point at the notes that went wrong, and only at them? Every piece in
resources/pieces/ is played on eight General MIDI instruments, rendered with fluidsynth through
FluidR3 (the sound source the analysis is developed on) and two held-out soundfonts (TimGM6mb
and the csound sf_GMbank, Debian's timgm6mb-soundfont and csound-soundfont), moved by octaves
into each instrument's range. In each performance one note is played 46 cents sharp (another
note of the same name stays in tune), one 42 cents flat and one 120 ms late; everything else is
in tune and on time. The truth of each note's pitch adds the soundfont's own tuning of its key
(tests.bench.accuracy.calibration), so a sample that is itself out of tune counts as out of
tune.

Each take is analysed by Etude and, as the baseline in the same run, by plain aubio (yinfft,
default onsets, a naive note split: tests.bench.accuracy.run_baseline); both go through the
same scoring and feedback against the reference. Per row it prints:

* pitch found: notes truly more than 30 cents off that the feedback names (note_findings,
  with the right direction), over all such notes;
* pitch false: findings about the pitch of notes truly within 20 cents (or of notes the piece
  does not have), per take;
* late found / timing false: the same for the late note and for notes truly on time;
* |err| c: mean |measured - true cents| over the notes named;
* "runs": per-name tendency tips ("Your G4 runs ... sharp") whose notes do not truly agree;
  "old": the same for the rule before per-note feedback (any name with two or more notes whose
  mean was 12.5 cents off, e.g. a G4 +46 with a G4 in tune: "runs 23 cents sharp").
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audio.feedback import note_name
from audio.reference import Reference, load_reference
from audio.scoring import score_take
from audio.settings import AnalysisSettings
from tests.audio.gm import SF2, available, render, write_midi
from tests.bench.accuracy import INSTRUMENTS, OUT, calibration, read_mono, run_baseline, run_etude

PIECES = Path(__file__).resolve().parents[2] / "resources" / "pieces"
SOUNDFONTS = {
    "FluidR3": SF2,
    "TimGM6mb": Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    "sf_GMbank": Path("/usr/share/sounds/sf2/sf_GMbank.sf2"),
}
SHARP_AT, FLAT_AT, LATE_AT = 4, 7, 10  # note indexes in each piece
SHARP_C, FLAT_C, LATE_S = 46.0, -42.0, 0.12
LEAD_S = 1.0
NAMED_OFF_C, IN_TUNE_C = 30.0, 20.0


@dataclass
class Tally:
    pitch_true: int = 0
    pitch_found: int = 0
    pitch_false: int = 0
    late_true: int = 0
    late_found: int = 0
    timing_false: int = 0
    runs_false: int = 0
    runs_old_false: int = 0
    takes: int = 0
    errors: list[float] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for k in vars(self):
            if k == "errors":
                self.errors += other.errors
            else:
                setattr(self, k, getattr(self, k) + getattr(other, k))

    def cells(self) -> list[str]:
        err = f"{np.mean(self.errors):4.1f}" if self.errors else "   -"
        return [
            f"{self.pitch_found:3d}/{self.pitch_true:<3d}",
            f"{self.pitch_false / max(1, self.takes):5.2f}",
            f"{self.late_found:3d}/{self.late_true:<3d}",
            f"{self.timing_false / max(1, self.takes):5.2f}",
            err,
            f"{self.runs_false:3d}",
            f"{self.runs_old_false:3d}",
        ]


def _octave_shift(midis: list[int], lo: int, hi: int) -> int:
    for shift in (0, 12, -12, 24, -24):
        if lo <= min(midis) + shift and max(midis) + shift <= hi:
            return shift
    return 0


def render_take(piece: Path, inst: str, font: str) -> tuple[Path, Reference, list[float]]:
    """The performance's audio, its reference (at sounding pitch) and each note's true cents."""
    program, lo, hi = INSTRUMENTS[inst]
    plain = load_reference(piece)
    shift = _octave_shift([n.midi for n in plain.notes], lo, hi)
    ref = load_reference(piece, transpose_semitones=shift)
    cal = calibration(program, lo, hi, SOUNDFONTS[font])
    notes, truth = [], []
    for i, n in enumerate(ref.notes):
        bend = SHARP_C if i == SHARP_AT else FLAT_C if i == FLAT_AT else 0.0
        late = LATE_S if i == LATE_AT else 0.0
        on = LEAD_S + n.onset_s + late
        off = LEAD_S + n.onset_s + 0.9 * (n.offset_s - n.onset_s)
        notes.append((on, max(on + 0.08, off), n.midi, bend, 90))
        truth.append(bend + cal.get(n.midi, 0.0))
    name = f"feedback_{piece.stem}_{inst}_{font}"
    mid, wav = OUT / f"{name}.mid", OUT / f"{name}.wav"
    write_midi(mid, notes, program, ref.tempo_bpm or 100.0)
    render(mid, wav, sf2=SOUNDFONTS[font])
    return wav, ref, truth


def judge(feedback: dict, truth: list[float], ref: Reference) -> Tally:  # type: ignore[type-arg]
    t = Tally(takes=1, late_true=1)
    findings = feedback["note_findings"]
    named: dict[int, dict] = {}  # type: ignore[type-arg]
    for f in findings:
        j = (f["piece_number"] or 0) - 1
        if f["pitch"] is not None:
            if j < 0 or abs(truth[j]) < IN_TUNE_C:
                t.pitch_false += 1
            else:
                named[j] = f
        if f["timing"] is not None:
            if j == LATE_AT and f["timing"] == "late":
                t.late_found += 1
            else:
                t.timing_false += 1
    for j, c in enumerate(truth):
        if abs(c) > NAMED_OFF_C:
            t.pitch_true += 1
            f = named.get(j)
            if f is not None and (f["cents"] > 0) == (c > 0) and f["pitch"] != "wrong":
                t.pitch_found += 1
                t.errors.append(abs(f["cents"] - c))
    names = [note_name(n.midi) for n in ref.notes]
    for tip in feedback["tips"]:
        if " runs " in tip:
            t.runs_false += _false_tendency(tip, names, truth)
    # The rule before per-note feedback: any name with two notes whose mean is 12.5 cents off.
    for row in feedback["per_note"]:
        if row["count"] >= 2 and abs(row["mean_cents"]) >= 12.5:
            way = "sharp" if row["mean_cents"] > 0 else "flat"
            t.runs_old_false += _false_tendency(f"Your {row['note']} runs {way}", names, truth)
    return t


def _false_tendency(tip: str, names: list[str], truth: list[float]) -> int:
    """1 unless every note of the tip's name is truly off the way the tip says by 10 cents."""
    name = tip.split()[1]
    sharp = "sharp" in tip
    cents = [c for n, c in zip(names, truth, strict=True) if n == name]
    return int(not cents or not all((c > 10) if sharp else (c < -10) for c in cents))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="FluidR3 only")
    args = parser.parse_args()
    if not available():
        print("needs fluidsynth and the FluidR3 soundfont", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    fonts = ["FluidR3"] if args.quick else [f for f, p in SOUNDFONTS.items() if p.exists()]
    settings = AnalysisSettings()
    header = "pitch found  pitch false  late found  timing false  |err| c  runs  old"
    print(f"{'':22s} {'Etude':^69s} | {'plain aubio':^69s}")
    print(f"{'soundfont / instrument':22s} {header} | {header}")
    t0 = time.monotonic()
    grand = {"etude": Tally(), "aubio": Tally()}
    for font in fonts:
        per_font = {"etude": Tally(), "aubio": Tally()}
        for inst in INSTRUMENTS:
            row = {"etude": Tally(), "aubio": Tally()}
            for piece in sorted(PIECES.glob("*.mid")):
                wav, ref, truth = render_take(piece, inst, font)
                x = read_mono(wav)
                e_notes, e_onsets, *_ = run_etude(x)
                a_notes, a_onsets, *_ = run_baseline(x)
                for who, notes, onsets in (
                    ("etude", e_notes, e_onsets),
                    ("aubio", a_notes, a_onsets),
                ):
                    s = score_take(notes, onsets, [], settings, reference=ref, duration_s=None)
                    row[who].add(judge(s.feedback, truth, ref))
            print(f"{font + ' / ' + inst:22s} " + _line(row))
            for who in row:
                per_font[who].add(row[who])
        print(f"{font + ' (all)':22s} " + _line(per_font))
        for who in per_font:
            grand[who].add(per_font[who])
    print(f"{'all':22s} " + _line(grand))
    print(f"({time.monotonic() - t0:.0f} s)")
    return 0


def _line(row: dict[str, Tally]) -> str:
    widths = (11, 12, 11, 13, 8, 5, 4)
    cells = []
    for who in ("etude", "aubio"):
        cells.append(" ".join(f"{c:>{w}s}" for c, w in zip(row[who].cells(), widths, strict=True)))
    return " | ".join(cells)


if __name__ == "__main__":
    sys.exit(main())
