"""Ceilings: `uv run python -m tests.bench.ceiling --ssvd DIR [--rooms] [--cpu] [--quick]`.

Which targets of the singing issue (20) and the real-room issue (13) can be met at all, and
what caps them, measured beside plain aubio (and pYIN where cached) in the same run. It changes
nothing in the analysis; every figure is computed from the data.

SSVD part (``--ssvd DIR``, the loaders and metrics of tests/bench/singing.py):

1. note F1 ceilings (mir_eval, onset 50 ms, pitch 50 cents, offsets ignored), per pitch
   measurer: (a) the labelled notes' onsets and offsets with the tracker's own pitch (median of
   its voiced frames inside each note): what the best segmentation could score with that pitch;
   (b) the tracker's own notes with the labelled pitch of the note each overlaps most: what
   its pitch errors cost; (c) how far each measurer's median pitch of a labelled note lies from
   the label (median, quartiles, share beyond 50 cents; notes no measurer gets within 50 cents),
   and note F1 at 50/60/75/100 cents; (d) the onsets alone: onset F1, the share of labelled
   onsets with no level rise (legato steps), and onset / note F1 with each tracker's median
   onset error taken off all its notes (a constant latency fix).
2. sung frames reported silent vs voicing false alarm: every threshold pair (confidence or
   voiced probability x level) of each tracker's frames, the best VFA at silent <= 1 % and the
   best silent at VFA <= 0.25, also with the level threshold chosen per take by an oracle; and
   how much of what the labels call silence is sound within 10 / 20 dB of the take's median sung
   level.
3. CPU (``--cpu``, or ``--cpu-only`` with ``--ssvd`` to use the takes' audio and skip 1-2):
   aubio pitch alone, aubio onset alone, both, a bare Python hop loop, numpy RMS per hop,
   Etude's front end, pitch measurer and note tracker (fed the frames it got in a full run)
   alone, and Etude's whole StreamAnalyzer, in one run; process CPU, min of ``--reps`` (5),
   set-up outside the timing. ``--instructions S`` also counts instructions on S seconds of aubio
   pitch, aubio pitch + onset, Etude's note tracker and its whole chain (``COUNTED``) under
   valgrind (callgrind, counting switched on after imports and set-up), which the load of a
   shared machine does not move (``perf stat`` has no instruction counter on this VM); slow
   (4-9 min a chain on a loaded machine). Valgrind starts with counting off and the process
   switches it on after its set-up and off after the run (``callgrind_control``); the count of
   a variant that runs nothing (the switching itself) is taken off every count. (Before valgrind
   was started with counting off, the count included imports and set-up: the note tracker's
   set-up runs the whole chain to record its frames, and it counted above the chain.)

Rooms part (``--rooms``; corpora and conditions of tests/bench/rooms.py, default corpus FluidR3
only, ``--corpus`` for others): for every condition, the share of truth frames (from 30 ms after
each note-on) that Etude, aubio yinfft, either of them (and with ``--rooms-pyin`` pYIN over
50-2100 Hz) get within 50 cents, per instrument, and on FluidR3 the share of frames whose note
is still quieter than the note before it (accuracy.sounding_mask); and each soundfont's own
tuning of every key (accuracy.calibration, which the truth includes), beside how aubio and
Etude read the same calibration notes.

pYIN (librosa, as in singing.py) needs its frames cached: note pitches read singing.py's cache
(tests/bench/out/ssvd_pyin/, takes without a cached file are left out of pYIN's rows and said
so); the voiced-probability sweep needs pYIN's probabilities, computed here for every take (or
``--pyin-takes N`` spread over the folder) and cached in tests/bench/out/ceiling_pyin/.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aubio
import mir_eval
import numpy as np
import numpy.typing as npt

from audio.analyzer import StreamAnalyzer
from audio.frontend import FrontEnd
from audio.pitch import FrameAnalyzer
from audio.settings import AnalysisSettings
from audio.tracking import NoteTracker, TrackerEvent
from tests.audio.gm import SF2
from tests.bench import accuracy as acc
from tests.bench import singing as sg

F64 = npt.NDArray[np.float64]
HOP = sg.HOP
PYIN_PROBS = acc.OUT / "ceiling_pyin"
TOLERANCES = (50.0, 60.0, 75.0, 100.0)
LEVEL_WIN_S = 0.03


@dataclass
class Frames:
    """One tracker's frames of a take: times, f0 (Hz, 0 unvoiced), and what its voicing
    decision can threshold (confidence or probability; level in dB)."""

    t: F64
    f0: F64
    conf: F64
    level: F64


@dataclass
class Run:
    notes: list[tuple[float, float, float]]
    frames: Frames


def hop_levels(x: np.ndarray, sr: int, t: F64, win_s: float = LEVEL_WIN_S) -> F64:
    """RMS in dBFS of ``win_s`` of audio centred on each time in ``t`` (one measure of level
    for the trackers that report none of their own)."""
    csum = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    half = int(win_s * sr / 2)
    c = np.round(t * sr).astype(int)
    a = np.clip(c - half, 0, x.size)
    b = np.clip(c + half, 0, x.size)
    power = (csum[b] - csum[a]) / np.maximum(b - a, 1)
    return np.asarray(10.0 * np.log10(np.maximum(power, 1e-12)), dtype=np.float64)


def run_etude(take: sg.Take) -> Run:
    an = StreamAnalyzer(take.sr)
    h = an.hop_samples
    for i in range(0, take.x.size - h + 1, h):
        an.process(take.x[i : i + h], 0.0)
    an.finish(0.0)
    fr = an.frames
    frames = Frames(fr.t_s, fr.f0_hz, fr.confidence, fr.level_db)
    return Run([(n.onset_s, n.offset_s, n.midi) for n in an.notes], frames)


def aubio_frames(x: np.ndarray, sr: int) -> Frames:
    """aubio yinfft's frames as accuracy.run_baseline times them (its default silence gate of
    -50 dB decides f0 = 0), with its confidence and the level of each frame."""
    p = aubio.pitch("yinfft", 2048, HOP, sr)
    p.set_unit("Hz")
    ts, fs, cs = [], [], []
    for i in range(0, x.size - HOP + 1, HOP):
        f = float(p(x[i : i + HOP])[0])
        ts.append(max(0.0, (i + HOP) / sr - 1024 / sr))
        fs.append(max(f, 0.0))
        cs.append(float(p.get_confidence()))
    t = np.array(ts)
    return Frames(t, np.array(fs), np.array(cs), hop_levels(x, sr, t))


def run_aubio(take: sg.Take) -> Run:
    r = sg.run_aubio_frames(take)
    return Run(r.notes, aubio_frames(take.x, take.sr))


def run_aubio_notes(take: sg.Take, frames: Frames) -> Run:
    return Run(sg.run_aubio_notes(take).notes, frames)


def pyin_cached(take: sg.Take) -> Run | None:
    """pYIN + plain segmentation from singing.py's cache; None when the take is not cached
    (computing it here would take about as long as the take's audio)."""
    if not (sg.CACHE / f"{take.name}.npz").exists():
        return None
    r = sg.run_pyin(take)
    return Run(
        r.notes, Frames(r.t, r.f0, (r.f0 > 0).astype(float), hop_levels(take.x, take.sr, r.t))
    )


def pyin_probs(take: sg.Take) -> Frames:
    """pYIN's frames with its voiced probability as confidence (f0 is its voiced estimate, 0
    where its own decision says unvoiced), computed once and cached in ceiling_pyin/."""
    import librosa

    PYIN_PROBS.mkdir(parents=True, exist_ok=True)
    path = PYIN_PROBS / f"{take.name}.npz"
    if not path.exists():
        y = librosa.resample(take.x, orig_sr=take.sr, target_sr=sg.PYIN_SR)
        f, voiced, prob = librosa.pyin(
            y, fmin=65.0, fmax=1050.0, sr=sg.PYIN_SR, frame_length=1024, hop_length=HOP
        )
        f = np.where(voiced & np.isfinite(f), f, 0.0)
        t = librosa.times_like(f, sr=sg.PYIN_SR, hop_length=HOP)
        np.savez(path, t=t, f=f, p=prob)
    z = np.load(path)
    t = np.asarray(z["t"], dtype=np.float64)
    return Frames(t, z["f"], z["p"], hop_levels(take.x, take.sr, t))


def spread(takes: list[sg.Take], n: int) -> list[sg.Take]:
    """``n`` takes spread evenly over the (sorted) folder."""
    if n <= 0 or not takes:
        return []
    step = max(1, len(takes) // n)
    return takes[::step][:n]


# --- 1. note F1 ceilings ---------------------------------------------------------------------

Note3 = tuple[float, float, float]


def note_counts(
    labels: list[Note3], est: list[Note3], cents: float = 50.0, onset_s: float = 0.05
) -> tuple[int, int, int]:
    """(matched, labelled, reported) by mir_eval's note matching, offsets ignored."""
    ref_i = np.array([[a, max(b, a + 0.01)] for a, b, _ in labels]).reshape(-1, 2)
    ref_p = np.array([mir_eval.util.midi_to_hz(m) for *_, m in labels])
    est = [n for n in est if math.isfinite(n[2])]
    if not est:
        return 0, len(labels), 0
    est_i = np.array([[a, max(b, a + 0.01)] for a, b, _ in est])
    est_p = np.array([mir_eval.util.midi_to_hz(m) for *_, m in est])
    pairs = mir_eval.transcription.match_notes(
        ref_i,
        ref_p,
        est_i,
        est_p,
        onset_tolerance=onset_s,
        pitch_tolerance=cents,
        offset_ratio=None,
    )
    return len(pairs), len(labels), len(est)


def onset_counts(
    labels: list[Note3], est: list[Note3], window_s: float = 0.05
) -> tuple[int, int, int]:
    ref = np.array([a for a, _, _ in labels])
    e = np.array(sorted(a for a, _, _ in est))
    matched = len(mir_eval.util.match_events(ref, e, window_s)) if e.size else 0
    return matched, ref.size, e.size


def f1(counts: list[tuple[int, int, int]]) -> float:
    m = sum(c[0] for c in counts)
    p = m / max(1, sum(c[2] for c in counts))
    r = m / max(1, sum(c[1] for c in counts))
    return 2 * p * r / max(p + r, 1e-9)


def to_midi(f: F64) -> F64:
    return np.asarray(69.0 + 12.0 * np.log2(np.maximum(f, 1e-9) / 440.0), dtype=np.float64)


def measured_pitch(fr: Frames, on: float, off: float) -> float:
    """Median MIDI of the tracker's voiced frames inside [on, off); NaN when none."""
    sel = (fr.t >= on) & (fr.t < off) & (fr.f0 > 0)
    return float(np.median(to_midi(fr.f0[sel]))) if np.any(sel) else math.nan


def with_label_pitch(labels: list[Note3], est: list[Note3]) -> list[Note3]:
    """Each reported note with the pitch of the labelled note it overlaps most (its own pitch
    when it overlaps none)."""
    out = []
    for a, b, m in est:
        ov = [min(lb, b) - max(la, a) for la, lb, _ in labels]
        k = int(np.argmax(ov)) if ov else -1
        out.append((a, b, labels[k][2] if k >= 0 and ov[k] > 0 else m))
    return out


def median_onset_error(
    labels: list[Note3], est: list[Note3], within_s: float = 0.15
) -> list[float]:
    """Signed error (s) from each labelled onset to the nearest reported onset within 150 ms."""
    e = np.array(sorted(a for a, _, _ in est))
    out: list[float] = []
    if e.size == 0:
        return out
    for a, _, _ in labels:
        k = int(np.argmin(np.abs(e - a)))
        if abs(e[k] - a) <= within_s:
            out.append(float(e[k] - a))
    return out


def level_rises(take: sg.Take) -> tuple[F64, F64]:
    """Per labelled onset: the level rise in dB (the loudest 30 ms in the 100 ms after it over
    the quietest in the 100 ms before it), and whether it follows the previous note within
    50 ms (a connected step, 1.0) or after a gap (0.0)."""
    grid = np.arange(0.0, take.x.size / take.sr, HOP / take.sr)
    lev = hop_levels(take.x, take.sr, grid)
    rises, joined = [], []
    prev_off = -1.0
    for on, off, _ in take.labels:
        before = lev[(grid >= on - 0.1) & (grid <= on + 0.02)]
        after = lev[(grid >= on - 0.02) & (grid <= on + 0.1)]
        if before.size and after.size:
            rises.append(float(after.max() - before.min()))
            joined.append(1.0 if on - prev_off <= 0.05 else 0.0)
        prev_off = off
    return np.array(rises), np.array(joined)


@dataclass
class TakeRuns:
    take: sg.Take
    runs: dict[str, Run]


TRACKERS = ("etude", "aubio yinfft", "aubio.notes", "pYIN+plain")
MEASURERS = ("etude", "aubio yinfft", "pYIN+plain")  # aubio.notes' frames are yinfft's


def run_all(takes: list[sg.Take]) -> list[TakeRuns]:
    out = []
    for take in takes:
        runs = {"etude": run_etude(take), "aubio yinfft": run_aubio(take)}
        runs["aubio.notes"] = run_aubio_notes(take, runs["aubio yinfft"].frames)
        p = pyin_cached(take)
        if p is not None:
            runs["pYIN+plain"] = p
        out.append(TakeRuns(take, runs))
    return out


def pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def print_table(head: list[str], rows: list[list[str]], first: int = 24) -> None:
    widths = [max(len(head[k]), *(len(r[k]) for r in rows)) for k in range(1, len(head))]
    print(
        f"{head[0]:{first}s} "
        + " ".join(f"{h:>{w}s}" for h, w in zip(head[1:], widths, strict=True))
    )
    for r in rows:
        print(
            f"{r[0]:{first}s} " + " ".join(f"{c:>{w}s}" for c, w in zip(r[1:], widths, strict=True))
        )


def note_ceilings(data: list[TakeRuns]) -> None:
    n_pyin = sum("pYIN+plain" in d.runs for d in data)
    print(
        f"\n1. Note F1 ceilings (onset 50 ms, pitch 50 cents, offsets ignored); pYIN on the "
        f"{n_pyin} of {len(data)} takes with cached frames (its figures are over those takes)"
    )
    head = [
        "tracker",
        "note F1",
        "(a) labels+own pitch",
        "onset F1 needed for 0.70",
        "(b) own notes+label pitch",
        "onset F1",
        "onset F1 100 ms",
        "(d) F1 latency-fixed",
        "onset F1 latency-fixed",
        "median onset err",
    ]
    rows = []
    for name in TRACKERS:
        have = [d for d in data if name in d.runs]
        if not have:
            continue
        real, orac_a, orac_b, ons, ons100, fixed, fixed_on = [], [], [], [], [], [], []
        errs: list[float] = []
        for d in have:
            r, lab = d.runs[name], d.take.labels
            real.append(note_counts(lab, r.notes))
            own = [(a, b, measured_pitch(r.frames, a, b)) for a, b, _ in lab]
            orac_a.append(note_counts(lab, own))
            orac_b.append(note_counts(lab, with_label_pitch(lab, r.notes)))
            ons.append(onset_counts(lab, r.notes))
            ons100.append(onset_counts(lab, r.notes, 0.1))
            errs += median_onset_error(lab, r.notes)
        shift = float(np.median(errs)) if errs else 0.0
        for d in have:
            r, lab = d.runs[name], d.take.labels
            moved = [(a - shift, b - shift, m) for a, b, m in r.notes]
            fixed.append(note_counts(lab, moved))
            fixed_on.append(onset_counts(lab, moved))
        rows.append(
            [
                name,
                f"{f1(real):.3f}",
                f"{f1(orac_a):.3f}",
                f"{min(0.70 / max(f1(orac_a), 1e-9), 9.999):.3f}",
                f"{f1(orac_b):.3f}",
                f"{f1(ons):.3f}",
                f"{f1(ons100):.3f}",
                f"{f1(fixed):.3f}",
                f"{f1(fixed_on):.3f}",
                f"{1000 * shift:+.0f} ms",
            ]
        )
    print_table(head, rows, 14)
    print(
        "(a) every labelled note, its pitch the median of the tracker's voiced frames inside it:"
        " the best any segmentation scores with that pitch measurer. (b) the tracker's notes, "
        "each given the label pitch of the note it overlaps most: F1 lost to pitch alone is "
        "(b) - note F1. 'needed': the onset F1 that note F1 0.70 takes with (a)'s share of "
        "pitches right (0.70 / (a), if onset and pitch hits were independent).\n(d) all the "
        "tracker's notes moved by its median onset error (nearest onset within 150 ms of each "
        "label)."
    )

    # (c) how far the measured pitch of each labelled note is from its label
    print("\n(c) measured pitch of each labelled note minus its label, cents")
    head = [
        "measurer",
        "notes",
        "median",
        "IQR",
        "|off| > 50",
        "> 50 take-centred",
        "takes' median offset (median)",
    ]
    rows = []
    offs: dict[str, dict[str, F64]] = {}
    for name in MEASURERS:
        have = [d for d in data if name in d.runs]
        if not have:
            continue
        offs[name] = {}
        for d in have:
            fr = d.runs[name].frames
            c = np.array([100 * (measured_pitch(fr, a, b) - m) for a, b, m in d.take.labels])
            offs[name][d.take.name] = c
        per_take = [c for c in offs[name].values() if np.any(np.isfinite(c))]
        allc = np.concatenate(list(offs[name].values()))
        ok = allc[np.isfinite(allc)]
        centred = np.concatenate([c - np.nanmedian(c) for c in per_take])
        q1, q2, q3 = np.percentile(ok, [25, 50, 75])
        rows.append(
            [
                name,
                f"{allc.size} ({allc.size - ok.size} unmeasured)",
                f"{q2:+.1f}",
                f"{q1:+.1f}..{q3:+.1f}",
                pct(float(np.mean(~(np.abs(allc) <= 50)))),
                pct(float(np.mean(~(np.abs(centred) <= 50)))),
                f"{np.median([np.nanmedian(c) for c in per_take]):+.1f}",
            ]
        )
    print_table(head, rows, 14)
    common = [d.take.name for d in data if all(d.take.name in o for o in offs.values())]
    if common:
        m = np.stack([np.concatenate([o[k] for k in common]) for o in offs.values()])
        near = np.abs(np.nan_to_num(m, nan=1e9)) <= 50
        print(
            f"on the {len(common)} takes every measurer ran on ({m.shape[1]} notes): "
            f"no measurer within 50 cents {pct(float(np.mean(~near.any(axis=0))))}, "
            f"some but not all {pct(float(np.mean(near.any(axis=0) & ~near.all(axis=0))))}, "
            f"all within 50 cents {pct(float(np.mean(near.all(axis=0))))}"
        )
        print(
            "'unmeasured': no voiced frame inside the note (counted as off); "
            "'take-centred': each take's median offset taken off first (an oracle tuning)"
        )
    print("\nnote F1 at wider pitch tolerances (the tracker's notes; (a) in brackets)")
    head = ["tracker"] + [f"{c:.0f} cents" for c in TOLERANCES]
    rows = []
    for name in TRACKERS:
        have = [d for d in data if name in d.runs]
        if not have:
            continue
        cells = [name]
        for tol in TOLERANCES:
            real = [note_counts(d.take.labels, d.runs[name].notes, tol) for d in have]
            own_c = [
                note_counts(
                    d.take.labels,
                    [
                        (a, b, measured_pitch(d.runs[name].frames, a, b))
                        for a, b, _ in d.take.labels
                    ],
                    tol,
                )
                for d in have
            ]
            cells.append(f"{f1(real):.3f} ({f1(own_c):.3f})")
        rows.append(cells)
    print_table(head, rows, 14)

    rises, joined = zip(*(level_rises(d.take) for d in data), strict=True)
    rise = np.concatenate(rises)
    join = np.concatenate(joined) > 0
    print(
        f"\n(d) level rise at the {rise.size} labelled onsets (loudest 30 ms in the 100 ms after "
        f"over quietest in the 100 ms before): median {np.median(rise):.1f} dB; "
        f"{join.sum()} follow the previous note within 50 ms (connected), median rise "
        f"{np.median(rise[join]) if join.any() else math.nan:.1f} dB"
    )
    for db in (1.0, 3.0, 6.0):
        print(
            f"    rise < {db:.0f} dB: {pct(float(np.mean(rise < db)))} of all onsets, "
            f"{pct(float(np.mean(rise[join] < db))) if join.any() else '-'} of connected ones"
        )


# --- 2. sung frames reported silent vs voicing false alarm --------------------------------------

LEVEL_STEPS = np.arange(-90.0, -9.0, 2.0)
BUDGETS = (0.005, 0.01, 0.02, 0.05, 0.10)


def frame_masks(take: sg.Take, t: F64) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Sung frames (30 ms after a labelled onset to its offset) and frames outside every
    labelled note, as singing.evaluate counts them."""
    sung = np.zeros(t.size, dtype=bool)
    inside = np.zeros(t.size, dtype=bool)
    for a, b, _ in take.labels:
        sung |= (t >= a + sg.PITCH_FROM_S) & (t < b)
        inside |= (t >= a) & (t < b)
    return sung, ~inside


@dataclass
class Sweep:
    """Frames voiced at every (confidence >= c, level >= l) threshold pair, sung and outside."""

    conf_steps: F64
    sung: npt.NDArray[np.int64]  # [conf step, level step] -> sung frames voiced
    out: npt.NDArray[np.int64]
    n_sung: int
    n_out: int
    own_silent: float
    own_vfa: float


def sweep(pairs: list[tuple[sg.Take, Frames]]) -> Sweep:
    conf_all = np.concatenate([fr.conf for _, fr in pairs])
    conf_steps = np.unique(
        np.concatenate([[-np.inf], np.percentile(conf_all, np.arange(0, 100, 2.5))])
    )
    lev_steps = np.concatenate([[-np.inf], LEVEL_STEPS])
    sung_h = np.zeros((conf_steps.size, lev_steps.size), dtype=np.int64)
    out_h = np.zeros_like(sung_h)
    own_s = own_o = n_s = n_o = 0
    for take, fr in pairs:
        s, o = frame_masks(take, fr.t)
        ci = np.searchsorted(conf_steps, fr.conf, side="right") - 1
        li = np.searchsorted(lev_steps, fr.level, side="right") - 1
        np.add.at(sung_h, (ci[s], li[s]), 1)
        np.add.at(out_h, (ci[o], li[o]), 1)
        n_s += int(s.sum())
        n_o += int(o.sum())
        own_s += int(np.sum(s & (fr.f0 <= 0)))
        own_o += int(np.sum(o & (fr.f0 > 0)))

    def at_least(h: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return np.asarray(h[::-1, ::-1].cumsum(0).cumsum(1)[::-1, ::-1], dtype=np.int64)

    return Sweep(
        conf_steps,
        at_least(sung_h),
        at_least(out_h),
        n_s,
        n_o,
        own_s / max(n_s, 1),
        own_o / max(n_o, 1),
    )


def held_out_pair(pairs: list[tuple[sg.Take, Frames]], budget: float = 0.01) -> str:
    """The threshold pair with the least VFA at silent <= ``budget`` chosen on the even takes,
    applied to the odd ones: (silent, VFA) there."""
    sw = sweep(pairs[::2])
    silent = 1.0 - sw.sung / max(sw.n_sung, 1)
    vfa = np.where(silent <= budget, sw.out / max(sw.n_out, 1), np.inf)
    ci, li = np.unravel_index(int(np.argmin(vfa)), vfa.shape)
    c_thr = sw.conf_steps[ci]
    l_thr = np.concatenate([[-np.inf], LEVEL_STEPS])[li]
    n_s = v_s = n_o = v_o = 0
    for take, fr in pairs[1::2]:
        s, o = frame_masks(take, fr.t)
        v = (fr.conf >= c_thr) & (fr.level >= l_thr)
        n_s += int(s.sum())
        v_s += int(np.sum(s & v))
        n_o += int(o.sum())
        v_o += int(np.sum(o & v))
    return f"{pct(1.0 - v_s / max(n_s, 1))} / {v_o / max(n_o, 1):.3f}"


def oracle_per_take(pairs: list[tuple[sg.Take, Frames]], feature: str, budget: float) -> float:
    """Pooled VFA when each take gets its own threshold on one feature (level or confidence),
    the highest that keeps that take's sung frames reported silent within ``budget``."""
    voiced_out = n_out = 0
    for take, fr in pairs:
        s, o = frame_masks(take, fr.t)
        v = fr.level if feature == "level" else fr.conf
        if not s.any():
            continue
        thr = np.quantile(v[s], budget)
        voiced_out += int(np.sum(o & (v >= thr)))
        n_out += int(o.sum())
    return voiced_out / max(n_out, 1)


def voicing_tradeoff(data: list[TakeRuns], pyin_takes: list[sg.Take]) -> None:
    sets: dict[str, list[tuple[sg.Take, Frames]]] = {
        "etude (periodicity x level)": [(d.take, d.runs["etude"].frames) for d in data],
        "aubio yinfft (confidence x level)": [
            (d.take, d.runs["aubio yinfft"].frames) for d in data
        ],
    }
    if pyin_takes:
        sets[f"pYIN (voiced prob x level, {len(pyin_takes)} takes)"] = [
            (t, pyin_probs(t)) for t in pyin_takes
        ]
        names = {t.name for t in pyin_takes}
        for key in ("etude", "aubio yinfft") if len(names) < len(data) else ():
            sets[f"{key} on those {len(pyin_takes)} takes"] = [
                (d.take, d.runs[key].frames) for d in data if d.take.name in names
            ]
    print(
        "\n2. Sung frames reported silent vs voicing false alarm (VFA), every threshold pair "
        f"(confidence at its 2.5 % quantiles x level {LEVEL_STEPS[0]:.0f}..{LEVEL_STEPS[-1]:.0f}"
        " dB in 2 dB steps): least VFA at each silent budget"
    )
    head = (
        ["frames", "own silent", "own VFA"]
        + [f"silent<={100 * b:g}%" for b in BUDGETS]
        + ["least silent at VFA<=0.25", "per-take oracle: level", "conf", "even->odd: silent / VFA"]
    )
    rows = []
    for name, pairs in sets.items():
        sw = sweep(pairs)
        silent = 1.0 - sw.sung / max(sw.n_sung, 1)
        vfa = sw.out / max(sw.n_out, 1)
        cells = [name, pct(sw.own_silent), f"{sw.own_vfa:.3f}"]
        for b in BUDGETS:
            ok = silent <= b
            cells.append(f"{vfa[ok].min():.3f}" if ok.any() else "-")
        ok = vfa <= 0.25
        cells.append(pct(float(silent[ok].min())) if ok.any() else "-")
        cells.append(f"{oracle_per_take(pairs, 'level', 0.01):.3f}")
        cells.append(f"{oracle_per_take(pairs, 'conf', 0.01):.3f}")
        cells.append(held_out_pair(pairs))
        rows.append(cells)
    print_table(head, rows, 34)
    print(
        "own: the tracker's own decision (f0 > 0). per-take oracle: VFA when each take gets the "
        "level (or confidence) threshold that keeps exactly 1 % of its sung frames silent. "
        "even->odd: the pair with the least VFA at silent <= 1 % on the even takes, applied to "
        "the odd takes (is the best pair fitted to the takes it was picked on?)"
    )
    energy_oracle(data)


def energy_oracle(data: list[TakeRuns]) -> None:
    """How much of what the labels call silence is sound about as loud as the singing."""
    total = 0
    near = {10.0: 0, 20.0: 0}
    where = {10.0: np.zeros(3, dtype=int), 20.0: np.zeros(3, dtype=int)}
    gaps = []
    for d in data:
        take = d.take
        t = np.arange(0.0, take.x.size / take.sr, HOP / take.sr)
        lev = hop_levels(take.x, take.sr, t)
        s, o = frame_masks(take, t)
        if not s.any():
            continue
        sung_db = float(np.median(lev[s]))
        gaps.append(sung_db - float(np.median(lev[o])) if o.any() else math.nan)
        total += int(o.sum())
        offs = np.array([b for _, b, _ in take.labels])
        ons = np.array([a for a, _, _ in take.labels])
        since_off = np.array([np.min(np.where(offs <= x, x - offs, np.inf)) for x in t])
        to_on = np.array([np.min(np.where(ons >= x, ons - x, np.inf)) for x in t])
        for db in near:
            loud = o & (lev >= sung_db - db)
            near[db] += int(loud.sum())
            tail = loud & (since_off <= 0.3)
            lead = loud & ~tail & (to_on <= 0.3)
            where[db] += [int(tail.sum()), int(lead.sum()), int((loud & ~tail & ~lead).sum())]
    print(
        f"\nenergy oracle: {total} frames outside every labelled note; the take's median sung "
        f"level is {np.nanmedian(gaps):.1f} dB over its median outside level (median over takes)"
    )
    for db, n in near.items():
        w = where[db] / max(n, 1)
        print(
            f"    within {db:.0f} dB of the median sung level: {pct(n / max(total, 1))} of them "
            f"(of which {pct(w[0])} within 0.3 s after a labelled offset, {pct(w[1])} within "
            f"0.3 s before an onset, {pct(w[2])} elsewhere)"
        )


# --- 3. CPU floor ----------------------------------------------------------------------------


Runner = Callable[[], object]


def _hops(x: np.ndarray, n: int = HOP) -> list[np.ndarray]:
    return [x[i : i + n] for i in range(0, x.size - n + 1, n)]


def _bare(x: np.ndarray, sr: int) -> Runner:
    def run() -> None:
        for i in range(0, x.size - HOP + 1, HOP):
            x[i : i + HOP]

    return run


def _level(x: np.ndarray, sr: int) -> Runner:
    def run() -> None:
        for i in range(0, x.size - HOP + 1, HOP):
            h = x[i : i + HOP]
            10.0 * math.log10(float(np.dot(h, h)) / HOP + 1e-12)

    return run


def _pitch(x: np.ndarray, sr: int) -> Runner:
    def run() -> None:
        p = aubio.pitch("yinfft", 2048, HOP, sr)
        for i in range(0, x.size - HOP + 1, HOP):
            p(x[i : i + HOP])

    return run


def _onset(x: np.ndarray, sr: int) -> Runner:
    def run() -> None:
        o = aubio.onset("hfc", 512, HOP, sr)
        for i in range(0, x.size - HOP + 1, HOP):
            o(x[i : i + HOP])

    return run


def _both(x: np.ndarray, sr: int) -> Runner:
    def run() -> None:
        p = aubio.pitch("yinfft", 2048, HOP, sr)
        o = aubio.onset("hfc", 512, HOP, sr)
        for i in range(0, x.size - HOP + 1, HOP):
            h = x[i : i + HOP]
            p(h)
            o(h)

    return run


def _front_end(x: np.ndarray, sr: int) -> Runner:
    hops = _hops(x)

    def run() -> None:
        fe = FrontEnd(sr, HOP, AnalysisSettings().buf_samples // 2 // HOP)
        for h in hops:
            fe.process(h)

    return run


def _measurer(x: np.ndarray, sr: int) -> Runner:
    hops = _hops(x)

    def run() -> None:
        m = FrameAnalyzer(sr, HOP, AnalysisSettings().buf_samples)
        for h in hops:
            m.process(h)

    return run


class _Recorder(NoteTracker):
    """A NoteTracker that keeps what it was fed (to feed the same frames again, timed)."""

    def __init__(self, hop_s: float, window_s: float) -> None:
        super().__init__(hop_s, window_s)
        self.fed: list[tuple[float, float | None, float, float, float | None, float, float]] = []

    def push(
        self,
        t_s: float,
        midi: float | None,
        level_db: float,
        level_t_s: float,
        onset_t_s: float | None,
        capture_time_s: float,
        periodicity: float = 1.0,
    ) -> list[TrackerEvent]:
        self.fed.append((t_s, midi, level_db, level_t_s, onset_t_s, capture_time_s, periodicity))
        return super().push(t_s, midi, level_db, level_t_s, onset_t_s, capture_time_s, periodicity)


def _tracker(x: np.ndarray, sr: int) -> Runner:
    an = StreamAnalyzer(sr)
    rec = _Recorder(an._tracker.hop_s, an._tracker.window_s)
    an._tracker = rec
    for h in _hops(x, an.hop_samples):
        an.process(h, 0.0)
    fed = rec.fed

    def run() -> None:
        tr = NoteTracker(rec.hop_s, rec.window_s)
        for args in fed:
            tr.push(*args)
        tr.finish(0.0)

    return run


def _etude(x: np.ndarray, sr: int) -> Runner:
    hops = None if x.size == 0 else _hops(x)

    def run() -> None:
        an = StreamAnalyzer(sr)
        for h in hops or []:
            an.process(h, 0.0)
        an.finish(0.0)

    return run


CPU_VARIANTS: dict[str, Callable[[np.ndarray, int], Runner]] = {
    "bare Python hop loop (slice only)": _bare,
    "numpy level (RMS dB) per hop": _level,
    "aubio onset (hfc 512) alone": _onset,
    "aubio pitch (yinfft 2048) alone": _pitch,
    "aubio pitch + onset": _both,
    "Etude front end alone": _front_end,
    "Etude pitch measurer alone": _measurer,
    "Etude note tracker alone": _tracker,
    "Etude StreamAnalyzer (whole chain)": _etude,
}
PITCH_KEY = "aubio pitch (yinfft 2048) alone"
# the chains whose instructions are counted (each count takes minutes under valgrind)
COUNTED = (
    PITCH_KEY,
    "aubio pitch + onset",
    "Etude note tracker alone",
    "Etude StreamAnalyzer (whole chain)",
)


def cpu_audio(takes: list[sg.Take], seconds: float) -> tuple[np.ndarray, int, str]:
    """``seconds`` of sung takes end to end, or the speed benchmark's synthetic take."""
    if takes:
        parts, n = [], 0
        for t in takes:
            parts.append(t.x)
            n += t.x.size
            if n >= seconds * t.sr:
                break
        x = np.concatenate(parts)[: int(seconds * takes[0].sr)]
        return np.ascontiguousarray(x, dtype=np.float32), takes[0].sr, "SSVD takes end to end"
    from tests.bench import speed

    x = speed.make_take(seconds).astype(np.float32)
    return np.ascontiguousarray(x), speed.SR, "tests.bench.speed's synthetic practice take"


def instructions(name: str, seconds: float, ssvd: Path | None, n_takes: int) -> int | None:
    """Instructions executed by one variant on ``seconds`` of audio under callgrind, or None."""
    exe = shutil.which("valgrind")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            exe,
            "--tool=callgrind",
            # counting starts when the run does (callgrind_control from inside the process)
            "--instr-atstart=no",
            f"--callgrind-out-file={tmp}/cg.out",
            sys.executable,
            "-m",
            "tests.bench.ceiling",
            "--cpu-one",
            name,
            "--cpu-seconds",
            str(seconds),
        ] + (["--ssvd", str(ssvd), "--limit", str(n_takes)] if ssvd else [])
        res = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), check=False)
        for line in res.stderr.splitlines():
            if "Collected :" in line:
                return int(line.split(":")[-1].strip())
    return None


def cpu_floor(
    takes: list[sg.Take], seconds: float, reps: int, ssvd: Path | None, counts: float
) -> None:
    x, sr, what = cpu_audio(takes, seconds)
    audio_s = x.size / sr
    print(f"\n3. CPU per audio second on {audio_s:.0f} s of {what} at {sr} Hz, min of {reps} runs")
    res: dict[str, float] = {}
    for name, fn in CPU_VARIANTS.items():
        best = math.inf
        run = fn(x, sr)
        for _ in range(reps):
            t0 = time.process_time()
            run()
            best = min(best, time.process_time() - t0)
        res[name] = best / audio_s
    base = res[PITCH_KEY]
    icount: dict[str, float] = {}
    if counts > 0:
        got = np.cumsum([t.x.size / t.sr for t in takes]) if takes else np.zeros(1)
        n_takes = int(np.searchsorted(got, counts)) + 1
        zero = instructions("none", 0.0, ssvd, n_takes)
        for name in COUNTED:
            print(f"  counting instructions: {name}", flush=True)
            n = instructions(name, counts, ssvd, n_takes)
            if n is not None and zero is not None:
                icount[name] = (n - zero) / counts
    head = ["chain", "CPU-s per audio-s", "x aubio pitch"] + (
        [f"instructions per audio-s ({counts:g} s, callgrind)", "x aubio pitch"] if icount else []
    )
    rows = []
    for name, v in res.items():
        cells = [name, f"{v:.4f}", f"{v / base:.2f}"]
        if icount:
            ic = icount.get(name)
            cells += [f"{ic / 1e6:.1f} M", f"{ic / icount[PITCH_KEY]:.2f}"] if ic else ["-", "-"]
        rows.append(cells)
    print_table(head, rows, 36)
    if counts > 0 and not icount:
        print("(instruction counts: valgrind not available or it failed)")
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


# --- 4. rooms: truth no frame tracker reaches ------------------------------------------------


def on_grid(t: F64, f: F64, grid: F64) -> F64:
    """A tracker's f0 at the nearest of its frames to each grid time."""
    if t.size == 0:
        return np.zeros_like(grid)
    k = np.clip(np.searchsorted(t, grid), 1, t.size - 1)
    k = np.where(np.abs(t[k - 1] - grid) <= np.abs(t[k] - grid), k - 1, k)
    return np.asarray(f[k], dtype=np.float64)


def right_frames(ref_midi: F64, f: F64) -> npt.NDArray[np.bool_]:
    return (f > 0) & (np.abs(100.0 * (to_midi(f) - ref_midi)) <= 50.0)


def pyin_frames(x: np.ndarray, sr: int) -> tuple[F64, F64]:
    """pYIN over Etude's range (50-2100 Hz; 16 kHz, 1024-sample frames, hop 256): (t, f0)."""
    import librosa

    y = librosa.resample(x, orig_sr=sr, target_sr=sg.PYIN_SR)
    f, voiced, _ = librosa.pyin(
        y, fmin=50.0, fmax=2100.0, sr=sg.PYIN_SR, frame_length=1024, hop_length=HOP
    )
    f = np.where(voiced & np.isfinite(f), f, 0.0)
    return np.asarray(librosa.times_like(f, sr=sg.PYIN_SR, hop_length=HOP)), f


ROOM_COLS = ("frames", "etude", "aubio", "pYIN", "etude|aubio", "any", "none", "quiet", "q&none")


def rooms_ceiling(corpus_names: list[str], conds: list[str], quick: bool, use_pyin: bool) -> None:
    from tests.bench import rooms

    for cname in corpus_names:
        corpus = rooms.CORPORA[cname]
        seeds = corpus.seeds[:1] if quick else corpus.seeds
        ps = rooms.pieces(corpus, seeds)
        stats: dict[str, dict[str, npt.NDArray[np.int64]]] = {c: {} for c in conds}
        pyin_cpu = pyin_audio = 0.0
        for p in ps:
            inst = p.name.split("_")[-1].rstrip("0123456789")
            for cond in conds:
                x = rooms.clip_audio(p, cond)
                _, _, te, fe, _ = acc.run_etude(x)
                _, _, ta, fa = acc.run_baseline(x)
                grid = np.arange(0.0, x.size / acc.SR, HOP / acc.SR)
                ref = np.full(grid.size, np.nan)
                for on, off, m in p.truth.notes:
                    ref[(grid >= on + rooms.PITCH_FROM_S) & (grid < off)] = m
                heard = np.isfinite(ref)
                # (per clip: a reverberated clip is longer than the dry render)
                own = acc.sounding_mask(p.truth, grid) if corpus.sf2 == SF2 else None
                e = right_frames(ref, on_grid(te, fe, grid)) & heard
                a = right_frames(ref, on_grid(ta, fa, grid)) & heard
                py = np.zeros_like(heard)
                if use_pyin:
                    t0 = time.process_time()
                    tp, fp = pyin_frames(x, acc.SR)
                    pyin_cpu += time.process_time() - t0
                    pyin_audio += x.size / acc.SR
                    py = right_frames(ref, on_grid(tp, fp, grid)) & heard
                none = heard & ~e & ~a & ~py
                quieter = heard & ~own if own is not None else np.zeros_like(heard)
                masks = (e, a, py, e | a, e | a | py, none, quieter, quieter & none)
                row = np.array([heard.sum(), *(m.sum() for m in masks)], dtype=np.int64)
                zero = np.zeros(len(ROOM_COLS), dtype=np.int64)
                stats[cond][inst] = stats[cond].get(inst, zero) + row
        print(
            f"\n4. {cname} ({corpus.note}{', first seed only' if quick else ''}): share of the "
            "truth frames (30 ms after each note-on to its note-off) each tracker gets within 50 "
            "cents; 'any': at least one of them; 'none': no tracker"
            + (
                f"; pYIN at {pyin_cpu / max(pyin_audio, 1e-9):.3f} CPU-s per audio-s"
                if use_pyin
                else " (pYIN not run: --rooms-pyin)"
            )
        )
        fluid = corpus.sf2 == SF2
        head = ["condition", *ROOM_COLS[:7], "note quieter than the one before", "... and none"]
        rows = []
        for cond in [*conds, "all"]:
            tot = np.sum(
                [v for c in (conds if cond == "all" else [cond]) for v in stats[c].values()],
                axis=0,
            )
            n = max(int(tot[0]), 1)
            cells = [cond, f"{tot[0]}"] + [f"{v / n:.3f}" for v in tot[1:7]]
            cells += [f"{tot[7] / n:.3f}", f"{tot[8] / n:.3f}"] if fluid else ["-", "-"]
            if not use_pyin:
                cells[4] = cells[6] = "-"
            rows.append(cells)
        print_table(head, rows, 10)
        print(
            "'note quieter': frames whose own note is still quieter than the note before it "
            "(accuracy.sounding_mask, from dry renders of the odd and even notes; FluidR3 only)"
        )
        print("per instrument, etude / aubio / any tracker (share of truth frames right):")
        insts = list(stats[conds[0]])
        head = ["instrument", "all conditions", "dry", "none (dry)", "quieter (dry)"]
        rows = []
        for inst in insts:
            allc = np.sum([stats[c][inst] for c in conds], axis=0)
            dry = stats["dry"][inst] if "dry" in stats else allc
            rows.append(
                [
                    inst,
                    "/".join(f"{allc[k] / max(allc[0], 1):.3f}" for k in (1, 2, 5)),
                    "/".join(f"{dry[k] / max(dry[0], 1):.3f}" for k in (1, 2, 5)),
                    f"{dry[6] / max(dry[0], 1):.3f}",
                    f"{dry[7] / max(dry[0], 1):.3f}" if fluid else "-",
                ]
            )
        print_table(head, rows, 10)
        soundfont_tuning(corpus.sf2)


def soundfont_tuning(sf2: Path) -> None:
    """The soundfont's own tuning of each key (accuracy.calibration, the truth's correction)
    per instrument, and how aubio yinfft and Etude read the same calibration notes."""
    print(f"\n{sf2.stem}: each key's own tuning, cents (isolated 1.2 s notes)")
    head = [
        "instrument",
        "keys",
        "median |tuning|",
        "max |tuning|",
        "|tuning| > 10",
        "aubio - calibration (median |.|)",
        "etude - calibration",
    ]
    rows = []
    tag = "" if sf2 == SF2 else f"{sf2.stem}_"
    for inst, (prog, lo, hi) in acc.INSTRUMENTS.items():
        cal = acc.calibration(prog, lo, hi, sf2)
        wav = acc.OUT / f"calib_{tag}{prog}.wav"
        cents = np.array(list(cal.values()))
        cells = [
            inst,
            f"{cents.size}",
            f"{np.median(np.abs(cents)):.1f}",
            f"{np.max(np.abs(cents)):.1f}",
            pct(float(np.mean(np.abs(cents) > 10))),
        ]
        if wav.exists():
            x = acc.read_mono(wav)
            _, _, te, fe, _ = acc.run_etude(x)
            _, _, ta, fa = acc.run_baseline(x)
            for t, f in ((ta, fa), (te, fe)):
                diffs = []
                for i, k in enumerate(sorted(cal)):
                    on = 0.2 + 1.5 * i  # as accuracy.calibration lays the notes out
                    sel = (t >= on + 0.35) & (t < on + 1.05) & (f > 0)
                    if sel.any():
                        diffs.append(100 * (float(np.median(to_midi(f[sel]))) - k) - cal[k])
                d = np.abs(np.array(diffs))
                cells.append(f"{np.median(d):.1f} (>50: {int(np.sum(d > 50))})" if d.size else "-")
        else:
            cells += ["-", "-"]
        rows.append(cells)
    print_table(head, rows, 10)


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from tests.bench import rooms

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ssvd", type=Path, metavar="DIR", help="sung takes + labels (singing.py)")
    ap.add_argument("--limit", type=int, help="only the first N takes")
    ap.add_argument(
        "--pyin-takes",
        type=int,
        metavar="N",
        help="only N takes (spread over the folder) in pYIN's voiced-probability sweep (0: none;"
        " default all: about 0.15 CPU-s per audio-s on the first run, then cached)",
    )
    ap.add_argument("--cpu", action="store_true", help="the CPU floor (part 3)")
    ap.add_argument(
        "--cpu-only", action="store_true", help="with --ssvd: only part 3, on the takes' audio"
    )
    ap.add_argument("--cpu-seconds", type=float, default=60.0, help="audio for part 3")
    ap.add_argument("--reps", type=int, default=5, help="part 3: runs per variant (min taken)")
    ap.add_argument(
        "--instructions",
        type=float,
        default=0.0,
        metavar="S",
        help="part 3: also count instructions under valgrind on S seconds (slow: try 5)",
    )
    ap.add_argument("--cpu-one", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="rooms: one piece per instrument")
    ap.add_argument(
        "--rooms-pyin", action="store_true", help="rooms: pYIN on every clip as a third tracker"
    )
    rooms.add_arguments(ap)
    args = ap.parse_args(argv)
    takes = sg.load_takes(args.ssvd, args.limit) if args.ssvd else []
    if args.cpu_one:  # one variant, for the instruction count
        x, sr, _ = cpu_audio(takes, max(args.cpu_seconds, 1.0))
        x = x[: int(args.cpu_seconds * sr)]
        fn = CPU_VARIANTS.get(args.cpu_one)
        if fn is not None:
            fn(x[: 4 * HOP], sr)()  # imports and first-call set-up outside the count
            run = fn(x, sr)
        # under valgrind started with --instr-atstart=no: count from here on ("none": only
        # what switching the count on costs, taken off every variant's count)
        subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], capture_output=True)
        if fn is not None:
            run()
        # ... and stops with it: the interpreter's shutdown (tens of millions of instructions,
        # more after a variant that kept more objects) is not the variant's
        subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], capture_output=True)
        return 0
    wall0 = time.time()
    if args.ssvd is not None and not takes:
        print(f"no labelled takes in {args.ssvd}")
        return 2
    if args.ssvd is not None and not args.cpu_only:
        data = run_all(takes)
        print(
            f"SSVD: {len(takes)} takes, {sum(t.x.size / t.sr for t in takes):.0f} s, "
            f"{sum(len(t.labels) for t in takes)} labelled notes"
        )
        note_ceilings(data)
        voicing_tradeoff(data, takes if args.pyin_takes is None else spread(takes, args.pyin_takes))
    if args.cpu or args.cpu_only:
        cpu_floor(takes, args.cpu_seconds, args.reps, args.ssvd, args.instructions)
    if args.rooms:
        conds = args.conditions or list(rooms.CONDITIONS)
        rooms_ceiling(args.corpus or ["fluidr3"], conds, args.quick, args.rooms_pyin)
    if args.ssvd is None and not args.cpu and not args.rooms and not args.cpu_only:
        ap.print_usage()
        return 2
    print(f"\nbenchmark wall time {time.time() - wall0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
