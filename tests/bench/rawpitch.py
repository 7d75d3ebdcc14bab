"""Why Etude's raw pitch falls under plain aubio's: `uv run python -m tests.bench.rawpitch`.

For each condition of the rooms benchmark (``tests/bench/rooms.py``) and each corpus, or for the
sung takes of ``--ssvd DIR``, every clip goes through Etude (with a probe on its pitch measurer)
and through plain aubio yinfft (``accuracy.run_baseline``). On the frames that raw pitch counts
(from 30 ms after each note-on to its note-off), it counts the frames aubio gets right (within
50 cents) and Etude not, sorted by cause:

Etude reports no pitch --

* ``level``: the hop at the window's centre is under ``pitch.LEVEL_MIN_DB``;
* ``no yinfft``: yinfft found nothing (and no note was held);
* ``not filled``: the window's older half is (nearly) silent (``pitch.FILL_RATIO``);
* ``per<0.6``: periodicity under ``pitch.PERIODICITY_MIN``;
* ``lowcut``: periodicity 0.6-0.7 while rumble or hum is measured
  (``pitch.LOWCUT_PERIODICITY_MIN``);
* ``bg pitch``: the front end called the measured pitch the background's
  (``FrontEnd.is_background_pitch``);
* ``quiet``: the measurer voiced the frame, the note tracker reported no pitch
  (``audio/tracking/voicing.py``: near the room's level outside a heard note);
* ``other``: anything else (a period outside the measurable range).

Etude reports a wrong pitch --

* ``multiple``: within 50 cents of 2-5 times or a 2nd-5th of the truth (octave, twelfth, ...);
* ``near note``: within 50 cents of the previous or next played note (an overlap or a release);
* ``50-100 c``: the right semitone, just over the tolerance;
* ``far``: anything else;
* ``held``: of the wrong frames, those the tracker filled with a held pitch (a bridged break).

Also printed: the frames Etude gets right and aubio not (the other side of the balance), and
each tracker's median and spread (MAD, cents) from the truth over the frames both get within a
semitone (bias and scatter, comparable between the two on the same frames).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from audio import pitch as P
from audio.analyzer import StreamAnalyzer
from audio.settings import AnalysisSettings
from tests.audio import signals
from tests.bench import accuracy as acc
from tests.bench import rooms

UNVOICED = ("level", "no yinfft", "not filled", "per<0.6", "lowcut", "bg pitch", "quiet", "other")
WRONG = ("multiple", "near note", "50-100 c", "far")


class ProbeAnalyzer(P.FrameAnalyzer):
    """Etude's pitch measurer, recording per hop what decided its voicing."""

    def __init__(self, sample_rate: int, hop_samples: int = 256, buf_samples: int = 2048) -> None:
        super().__init__(sample_rate, hop_samples, buf_samples)
        inner = self._pitch
        self._yin = 0.0

        def yin(hop: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
            out: npt.NDArray[np.float32] = inner(hop)
            self._yin = float(out[0])
            return out

        self._pitch = yin
        self._fill: bool | None = None
        self.last: P.FrameMeasure | None = None
        self.reasons: list[str] = []  # per hop: '' when voiced, else the gate
        self.yin: list[float] = []
        self.periodicity: list[float] = []
        self.low: list[bool] = []
        self.energies: list[float] = []

    def _filled(self) -> bool:
        self._fill = super()._filled()
        return self._fill

    def process(self, hop: npt.NDArray[np.float32]) -> P.FrameMeasure:
        self._fill = None
        held = self._prev_lag > 0.0
        m = super().process(hop)
        self.energies.append(float(hop.dot(hop)) / hop.shape[0])
        back = self.buf_samples // 2 // self.hop_samples - 1
        centre = self.energies[-1 - back] if len(self.energies) > back else 0.0
        centre_db = 10.0 * math.log10(centre) if centre > 1e-12 else P.SILENCE_DB
        reason = ""
        if not m.voiced:
            if centre_db < P.LEVEL_MIN_DB:
                reason = "level"
            elif self._yin <= 0.0 and not held:
                reason = "no yinfft"
            elif self._fill is False:
                reason = "not filled"
            elif m.periodicity < P.PERIODICITY_MIN:
                reason = "per<0.6"
            elif self.remove_low and m.periodicity < P.LOWCUT_PERIODICITY_MIN:
                reason = "lowcut"
            else:
                reason = "other"
        self.reasons.append(reason)
        self.yin.append(self._yin)
        self.periodicity.append(m.periodicity)
        self.low.append(self.remove_low)
        self.last = m
        return m


@dataclass
class Run:
    t: npt.NDArray[np.float64]
    published: npt.NDArray[np.float64]  # the frame track (Hz, 0 unvoiced)
    measured: npt.NDArray[np.float64]  # the measurer's pitch after the background rule
    reasons: list[str]
    periodicity: npt.NDArray[np.float64]


def run_probed(x: npt.NDArray[np.float32], sr: int) -> Run:
    probes: list[ProbeAnalyzer] = []

    def make(rate: int, hop: int, buf: int) -> ProbeAnalyzer:
        probes.append(ProbeAnalyzer(rate, hop, buf))
        return probes[-1]

    an = StreamAnalyzer(sr, AnalysisSettings(), measurer=make)
    probe = probes[0]
    h = an.hop_samples
    measured: list[float] = []
    for i in range(0, x.size - h + 1, h):
        an.process(x[i : i + h], 0.0)
        m = probe.last
        assert m is not None
        if not m.voiced and not probe.reasons[-1]:
            probe.reasons[-1] = "bg pitch"  # voiced by the measurer, dropped by the analyzer
        measured.append(m.f0_hz if m.voiced else 0.0)
    an.finish(0.0)
    return Run(
        an.frames.t_s,
        an.frames.f0_hz,
        np.asarray(measured),
        probe.reasons,
        np.asarray(probe.periodicity),
    )


@dataclass
class Tally:
    frames: int = 0
    etude_right: int = 0
    aubio_right: int = 0
    only_aubio: int = 0
    only_etude: int = 0
    causes: Counter[str] = field(default_factory=Counter)
    held: int = 0
    e_cents: list[float] = field(default_factory=list)
    a_cents: list[float] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.frames += other.frames
        self.etude_right += other.etude_right
        self.aubio_right += other.aubio_right
        self.only_aubio += other.only_aubio
        self.only_etude += other.only_etude
        self.causes.update(other.causes)
        self.held += other.held
        self.e_cents += other.e_cents
        self.a_cents += other.a_cents


def _cents(f: npt.NDArray[np.float64], ref: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1200.0 * np.log2(np.maximum(f, 1e-9) / np.maximum(ref, 1e-9))


def diagnose(
    notes: list[tuple[float, float, float]],
    run: Run,
    at: npt.NDArray[np.float64],
    af: npt.NDArray[np.float64],
) -> Tally:
    """Sort the frames aubio (times ``at``, Hz ``af``) gets right and Etude not by cause.

    notes: the truth (onset s, offset s, MIDI), in time order."""
    t = run.t
    n = min(t.size, at.size)
    t, ef, mf, af = t[:n], run.published[:n], run.measured[:n], af[:n]
    ref = np.zeros(n)
    prev = np.zeros(n)
    nxt = np.zeros(n)
    for k, (on, off, m) in enumerate(notes):
        sel = (t >= on + rooms.PITCH_FROM_S) & (t < off)
        ref[sel] = signals.midi_hz(m)
        if k > 0:
            prev[sel] = signals.midi_hz(notes[k - 1][2])
        if k + 1 < len(notes):
            nxt[sel] = signals.midi_hz(notes[k + 1][2])
    counted = ref > 0
    e_c = _cents(ef, ref)
    a_c = _cents(af, ref)
    e_ok = counted & (ef > 0) & (np.abs(e_c) <= 50.0)
    a_ok = counted & (af > 0) & (np.abs(a_c) <= 50.0)
    out = Tally(int(counted.sum()), int(e_ok.sum()), int(a_ok.sum()))
    out.only_aubio = int(np.sum(a_ok & ~e_ok))
    out.only_etude = int(np.sum(e_ok & ~a_ok))
    both = counted & (ef > 0) & (af > 0) & (np.abs(e_c) <= 100.0) & (np.abs(a_c) <= 100.0)
    out.e_cents = e_c[both].tolist()
    out.a_cents = a_c[both].tolist()
    for k in np.flatnonzero(a_ok & ~e_ok).tolist():
        if ef[k] <= 0.0:
            reason = run.reasons[k] if k < len(run.reasons) else "other"
            if not reason:
                reason = "quiet" if mf[k] > 0.0 else "other"
            out.causes[reason] += 1
            continue
        if mf[k] <= 0.0:
            out.held += 1
        c = e_c[k]
        ratio = abs(c) / 1200.0
        mult = any(abs(ratio - math.log2(q)) * 1200.0 <= 50.0 for q in (2, 3, 4, 5))
        near = any(o > 0 and abs(1200.0 * math.log2(ef[k] / o)) <= 50.0 for o in (prev[k], nxt[k]))
        if mult:
            out.causes["multiple"] += 1
        elif near:
            out.causes["near note"] += 1
        elif abs(c) <= 100.0:
            out.causes["50-100 c"] += 1
        else:
            out.causes["far"] += 1
    return out


def _mad(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    v = np.asarray(values)
    med = float(np.median(v))
    return med, float(np.median(np.abs(v - med)))


def print_rows(title: str, rows: dict[str, Tally]) -> None:
    print(f"\n{title}")
    head = (
        f"{'':10s} {'frames':>7s} {'etude':>6s} {'aubio':>6s} {'a-only':>6s} {'e-only':>6s} "
        + " ".join(f"{c:>9s}" for c in UNVOICED + WRONG)
        + f" {'held':>5s} {'e med/MAD':>11s} {'a med/MAD':>11s}"
    )
    print(head)
    total = Tally()
    for name, r in [*rows.items(), ("all", total)]:
        if name != "all":
            total.add(r)
        f = max(r.frames, 1)
        em, emad = _mad(r.e_cents)
        am, amad = _mad(r.a_cents)
        print(
            f"{name:10s} {r.frames:7d} {r.etude_right / f:6.3f} {r.aubio_right / f:6.3f} "
            f"{r.only_aubio:6d} {r.only_etude:6d} "
            + " ".join(f"{r.causes.get(c, 0):9d}" for c in UNVOICED + WRONG)
            + f" {r.held:5d} {em:5.1f}/{emad:4.1f}  {am:5.1f}/{amad:4.1f}"
        )


def run_rooms(args: argparse.Namespace) -> None:
    names = args.corpus or list(rooms.CORPORA)
    conds = args.conditions or list(rooms.CONDITIONS)
    for name in names:
        corpus = rooms.CORPORA[name]
        seeds = corpus.seeds if args.full else corpus.seeds[:1]
        rows: dict[str, Tally] = {c: Tally() for c in conds}
        for p in rooms.pieces(corpus, seeds):
            for cond in conds:
                x = rooms.clip_audio(p, cond)
                run = run_probed(x, rooms.SR)
                _, _, at, af = acc.run_baseline(x)
                tally = diagnose(p.truth.notes, run, at, af)
                rows[cond].add(tally)
                if args.verbose:
                    print(
                        f"  {p.name:22s} {cond:8s} e {tally.etude_right / max(tally.frames, 1):.3f}"
                        f" a {tally.aubio_right / max(tally.frames, 1):.3f} "
                        + " ".join(f"{k}={v}" for k, v in tally.causes.most_common()),
                        flush=True,
                    )
        print_rows(f"{name} ({corpus.note}{'' if args.full else ', first seed'})", rows)


def run_ssvd(args: argparse.Namespace) -> None:
    from tests.bench import singing

    takes = singing.load_takes(args.ssvd, args.limit)
    rows: dict[str, Tally] = {}
    for take in takes:
        run = run_probed(take.x, take.sr)
        _, _, at, af = acc.run_baseline(take.x)
        rows[take.name] = diagnose(take.labels, run, at, af)
    total = Tally()
    for r in rows.values():
        total.add(r)
    print_rows(
        f"SSVD {args.ssvd} ({len(takes)} takes; labels sit ~20 cents sharp)", {"ssvd": total}
    )
    if args.verbose:
        print_rows("per take", rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", nargs="+", choices=list(rooms.CORPORA))
    ap.add_argument("--conditions", nargs="+", choices=list(rooms.CONDITIONS))
    ap.add_argument("--full", action="store_true", help="every seed (default: the first)")
    ap.add_argument("--ssvd", type=Path, help="sung takes with labels instead (singing.py)")
    ap.add_argument("--limit", type=int, help="with --ssvd: only the first N takes")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    wall0 = time.time()
    if args.ssvd is not None:
        run_ssvd(args)
    else:
        run_rooms(args)
    print(f"wall time {time.time() - wall0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
