"""Real singing: `uv run python -m tests.bench.singing --ssvd DIR` (or accuracy --ssvd DIR).

DIR holds sung takes (``NAME.flac`` or ``.wav``) with a label file each (``NAME.txt``: one note a
line, onset seconds, offset seconds, MIDI pitch), as in the train&valid folder of SSVD v2.0
(GitHub xk-wang/SSVD-v2.0; Wang et al., "MusicYOLO: a sight-singing onset/offset detection
framework based on object detection instead of spectrum frames", ICASSP 2022). Its test folder
is a held-out check: don't tune on it. Nothing of the data set is kept in the repository.

Every take goes through Etude's analysis (the same StreamAnalyzer as live input) and, in the same
run, through three other trackers:

* aubio yinfft -- frames with aubio's default silence gate and the plain note split of
  ``accuracy.run_baseline`` (a note per run of frames on one semitone);
* aubio.notes -- aubio's own note tracker (default onset method, buffer 512, hop 256);
* pYIN -- librosa's ``pyin`` (65-1050 Hz, 1024-sample frames at 16 kHz, hop 256) with a plain
  note segmentation: its voiced frames, median-filtered over five frames, split where the
  rounded pitch changes, runs under 60 ms dropped (cached per take under tests/bench/out/).

Figures, pooled over the takes. The labels' pitches are the sung pitch of each note (its
centre frequency as MIDI, not a written semitone); every tracker hears SSVD's voices about 20
cents under them, and nothing is tuned to that: pitches are compared within 50 cents.

* note F1 / P / R -- mir_eval transcription, onset 50 ms, pitch 50 cents, offsets ignored;
* onset F1 -- mir_eval onset F-measure, 50 ms, of the reported notes' onsets;
* notes/sung -- reported notes per sung note; one -- share of sung notes that get exactly one
  reported note (each reported note counted for the sung note it overlaps most, if any);
* onset err -- median signed onset error of the matched notes, ms (negative: early);
* raw pitch -- share of sung frames (from 30 ms after each labelled onset to its offset) whose
  reported pitch is within 50 cents of the labelled pitch;
* raw 100c -- the same within 100 cents (the right semitone, whatever the labels' offset);
* raw centred -- within 50 cents once each take's own offset from its labels is taken off (the
  tracker's median cents over its sung frames within a semitone): SSVD's voices sit ~20 cents
  under the labels, where a cent of bias moves raw pitch by half a point;
* cents med / sd -- median and spread of the signed cents from the label of the sung frames
  within a semitone of it (how a tracker reads the voices, bias and scatter);
* silent -- share of those sung frames reported unvoiced;
* VFA -- voicing false alarm: share of frames outside every labelled note reported voiced;
* outside -- reported notes more than 3 semitones outside the take's sung range;
* CPU -- CPU seconds per audio second.

``--losses`` sorts every sung note Etude misses and every note it reports unpaired by cause
(see :func:`sung_losses`), and sets Etude's misses beside pYIN's matches on the same notes.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aubio
import mir_eval
import numpy as np
import soundfile as sf

from audio.analyzer import StreamAnalyzer
from tests.bench import accuracy as acc

HOP = 256
PITCH_FROM_S = 0.03
PYIN_SR = 16000
CACHE = acc.OUT / "ssvd_pyin"


@dataclass
class Take:
    name: str
    x: np.ndarray
    sr: int
    labels: list[tuple[float, float, float]]  # onset s, offset s, MIDI (the sung pitch)


@dataclass
class Result:
    notes: list[tuple[float, float, float]]  # onset s, offset s, MIDI (fractional)
    t: np.ndarray  # frame times, s
    f0: np.ndarray  # Hz, 0 where unvoiced
    cpu_s: float


def load_takes(folder: Path, limit: int | None = None) -> list[Take]:
    takes = []
    for lab in sorted(folder.glob("*.txt")):
        audio = next(
            (lab.with_suffix(s) for s in (".flac", ".wav") if lab.with_suffix(s).exists()), None
        )
        if audio is None:
            continue
        x, sr = sf.read(str(audio), dtype="float32", always_2d=True)
        rows = [ln.split() for ln in lab.read_text().splitlines() if ln.strip()]
        labels = [(float(a), float(b), float(m)) for a, b, m in (r[:3] for r in rows)]
        takes.append(Take(lab.stem, np.ascontiguousarray(x.mean(axis=1)), int(sr), labels))
        if limit and len(takes) >= limit:
            break
    return takes


def run_etude(take: Take) -> Result:
    an = StreamAnalyzer(take.sr)
    h = an.hop_samples
    x = take.x
    t0 = time.process_time()
    for i in range(0, x.size - h + 1, h):
        an.process(x[i : i + h], 0.0)
    an.finish(0.0)
    cpu = time.process_time() - t0
    notes = [(n.onset_s, n.offset_s, n.midi) for n in an.notes]
    return Result(notes, np.asarray(an.frames.t_s), np.asarray(an.frames.f0_hz), cpu)


def run_aubio_frames(take: Take) -> Result:
    assert take.sr == acc.SR
    t0 = time.process_time()
    notes, _, t, f = acc.run_baseline(take.x)
    cpu = time.process_time() - t0
    return Result([(n.onset_s, n.offset_s, n.midi) for n in notes], t, f, cpu)


def run_aubio_notes(take: Take) -> Result:
    """aubio's note tracker; its frames are aubio yinfft's (for the frame figures)."""
    sr = take.sr
    t0 = time.process_time()
    tracker = aubio.notes("default", 512, HOP, sr)
    notes: list[tuple[float, float, float]] = []
    cur: tuple[float, float] | None = None
    x = take.x
    delay = 512 / sr  # the note is reported about one buffer after its onset
    for i in range(0, x.size - HOP + 1, HOP):
        out = tracker(x[i : i + HOP])
        now = (i + HOP) / sr - delay
        if out[2] > 0 and cur is not None:  # a note-off
            notes.append((cur[0], max(now, cur[0] + 0.01), cur[1]))
            cur = None
        if out[0] > 0:  # a note-on (closing any note still open)
            if cur is not None:
                notes.append((cur[0], max(now, cur[0] + 0.01), cur[1]))
            cur = (max(0.0, now), float(out[0]))
    if cur is not None:
        notes.append((cur[0], x.size / sr, cur[1]))
    cpu = time.process_time() - t0
    base = run_aubio_frames(take)
    return Result(notes, base.t, base.f0, cpu)


def run_pyin(take: Take) -> Result:
    import librosa

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{take.name}.npz"
    if path.exists():
        z = np.load(path)
        t, f, cpu = z["t"], z["f"], float(z["cpu"])
    else:
        t0 = time.process_time()
        y = librosa.resample(take.x, orig_sr=take.sr, target_sr=PYIN_SR)
        f, voiced, _ = librosa.pyin(
            y, fmin=65.0, fmax=1050.0, sr=PYIN_SR, frame_length=1024, hop_length=HOP
        )
        cpu = time.process_time() - t0
        f = np.where(voiced & np.isfinite(f), f, 0.0)
        t = librosa.times_like(f, sr=PYIN_SR, hop_length=HOP)
        np.savez(path, t=t, f=f, cpu=cpu)
    return Result(plain_segmentation(t, f), t, f, cpu)


def plain_segmentation(
    t: np.ndarray, f: np.ndarray, min_s: float = 0.06
) -> list[tuple[float, float, float]]:
    """Voiced frames, median-filtered over five frames, split where the rounded pitch changes."""
    midi = np.where(f > 0, 69.0 + 12.0 * np.log2(np.maximum(f, 1e-9) / 440.0), np.nan)
    pad = np.concatenate([[np.nan] * 2, midi, [np.nan] * 2])
    win = np.lib.stride_tricks.sliding_window_view(pad, 5)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(win, axis=1)
    smooth = np.where(np.isnan(midi), np.nan, med)
    notes: list[tuple[float, float, float]] = []
    start = None
    for k in range(len(smooth) + 1):
        m = smooth[k] if k < len(smooth) else np.nan
        if start is not None and (np.isnan(m) or round(m) != round(smooth[start])):
            if t[k - 1] - t[start] >= min_s:
                notes.append((float(t[start]), float(t[k - 1]), float(np.median(smooth[start:k]))))
            start = None
        if start is None and not np.isnan(m):
            start = k
    return notes


def evaluate(take: Take, r: Result) -> dict[str, float]:
    ref_i = np.array([[a, max(b, a + 0.01)] for a, b, _ in take.labels])
    ref_p = np.array([mir_eval.util.midi_to_hz(m) for *_, m in take.labels])
    est = [(a, b, m) for a, b, m in r.notes if math.isfinite(m)]
    est_i = np.array([[a, max(b, a + 0.01)] for a, b, _ in est]).reshape(-1, 2)
    est_p = np.array([mir_eval.util.midi_to_hz(m) for *_, m in est])
    pairs = mir_eval.transcription.match_notes(
        ref_i, ref_p, est_i, est_p, onset_tolerance=0.05, pitch_tolerance=50.0, offset_ratio=None
    )
    onset_pairs = mir_eval.util.match_events(ref_i[:, 0], est_i[:, 0], 0.05) if est else []
    # each reported note counted for the sung note it overlaps most
    per_sung = np.zeros(len(take.labels), dtype=int)
    for a, b, _ in est:
        ov = np.minimum(ref_i[:, 1], b) - np.maximum(ref_i[:, 0], a)
        if ov.size and ov.max() > 0:
            per_sung[int(np.argmax(ov))] += 1
    lo = min(m for *_, m in take.labels)
    hi = max(m for *_, m in take.labels)
    outside = sum(1 for *_, m in est if m < lo - 3 or m > hi + 3)
    # frames
    t, f = r.t, r.f0
    sung = np.zeros(t.size, dtype=bool)
    inside = np.zeros(t.size, dtype=bool)
    ref_f = np.zeros(t.size)
    for (a, b), hz in zip(ref_i, ref_p, strict=True):
        sel = (t >= a + PITCH_FROM_S) & (t < b)
        sung |= sel
        ref_f[sel] = hz
        inside |= (t >= a) & (t < b)
    voiced = f > 0
    signed = 1200.0 * np.log2(np.maximum(f, 1e-9) / np.maximum(ref_f, 1e-9))
    cents = np.abs(signed)
    # The take's own offset from its labels (each tracker's median over its sung frames within
    # a semitone): SSVD's voices sit ~20 cents under the labels, so the 50-cent edge weighs a
    # cent of bias heavily; with the offset taken off, what is left is the frames' own spread.
    near = signed[sung & voiced & (cents <= 100.0)]
    offset = float(np.median(near)) if near.size else 0.0
    return {
        "ref": len(take.labels),
        "est": len(est),
        "match": len(pairs),
        "onset_match": len(onset_pairs),
        "onset_err": [est_i[j, 0] - ref_i[i, 0] for i, j in pairs],
        "one": int(np.sum(per_sung == 1)),
        "outside": outside,
        "sung": int(sung.sum()),
        "sung_right": int(np.sum(sung & voiced & (cents <= 50.0))),
        "sung_right_100": int(np.sum(sung & voiced & (cents <= 100.0))),
        "sung_right_centred": int(np.sum(sung & voiced & (np.abs(signed - offset) <= 50.0))),
        "sung_silent": int(np.sum(sung & ~voiced)),
        "near_cents": near.tolist(),
        "out": int(np.sum(~inside)),
        "out_voiced": int(np.sum(~inside & voiced)),
        "cpu": r.cpu_s,
        "audio": take.x.size / take.sr,
    }


def pooled(rows: list[dict[str, float]]) -> dict[str, float]:
    lists = ("onset_err", "near_cents")
    s = {k: sum(r[k] for r in rows) for k in rows[0] if k not in lists}
    p = s["match"] / max(s["est"], 1)
    r = s["match"] / max(s["ref"], 1)
    op = s["onset_match"] / max(s["est"], 1)
    orc = s["onset_match"] / max(s["ref"], 1)
    errs = [e for row in rows for e in row["onset_err"]]  # type: ignore[attr-defined]
    near = np.array([c for row in rows for c in row["near_cents"]])  # type: ignore[attr-defined]
    return {
        "F1": 2 * p * r / max(p + r, 1e-9),
        "P": p,
        "R": r,
        "onset F1": 2 * op * orc / max(op + orc, 1e-9),
        "notes/sung": s["est"] / max(s["ref"], 1),
        "one": s["one"] / max(s["ref"], 1),
        "onset err ms": 1000.0 * float(np.median(errs)) if errs else float("nan"),
        "raw pitch": s["sung_right"] / max(s["sung"], 1),
        "raw 100c": s["sung_right_100"] / max(s["sung"], 1),
        "raw centred": s["sung_right_centred"] / max(s["sung"], 1),
        "cents med": float(np.median(near)) if near.size else float("nan"),
        "cents sd": float(np.std(near)) if near.size else float("nan"),
        "silent": s["sung_silent"] / max(s["sung"], 1),
        "VFA": s["out_voiced"] / max(s["out"], 1),
        "outside": s["outside"] / max(s["est"], 1),
        "CPU": s["cpu"] / max(s["audio"], 1e-9),
    }


LEGATO_GAP_S = 0.05
"""A sung note whose label starts less than this after the previous one's offset is a legato
step; otherwise it starts after a labelled gap, where the sound may go on (a reported note ends
less than this before the reported onset) or not (after silence)."""


def _octave(cents: float) -> bool:
    """``cents`` (reported minus sung) is within 70 cents of an octave, a twelfth or two
    octaves, either way."""
    return any(abs(abs(cents) - 100.0 * k) <= 70.0 for k in (12, 19, 24))


def _ms_bin(ms: float) -> str:
    a = abs(ms)
    return "50-100 ms" if a < 100 else "100-200 ms" if a < 200 else ">= 200 ms"


def sung_losses(
    take: Take, notes: list[tuple[float, float, float]], other: set[int] | None = None
) -> tuple[dict[str, int], set[int]]:
    """Why each of ``take``'s sung notes is missed (mir_eval, onset 50 ms, pitch 50 cents) and
    why each reported note is left unpaired; returns the counts by cause and the indices of the
    sung notes matched.

    A missed sung note gets one cause, the first that applies: *nothing there* (no reported
    note overlaps it and none starts within 50 ms of it); *merged* (every reported note that
    overlaps it overlaps another sung note more: it was taken into a neighbour); otherwise the
    first reported note it owns (that overlaps it most) is read: *pitch off* (over 50 cents:
    octave/twelfth, a semitone or less, more), *onset early/late* (by 50-100, 100-200, over
    200 ms; a legato step, a labelled gap the sound goes on through, or after silence: see
    ``LEGATO_GAP_S``), else *lost in pairing* (one
    reported note near two sung ones). A miss whose sung note owns two or more reported notes
    is also counted as *split*. An unpaired reported note is *octave/subharmonic* of the sung
    note it overlaps most, the *late/early twin* of a missed sung note (the same note, onset or
    pitch off), a *fragment* of a sung note already paired, *outside the sung range* (over 3
    semitones) or *between sung notes* (breath, consonant, release), under or over 0.1 s.
    ``other``: indices of the sung notes another tracker matched; the counts then include
    which of Etude's misses that tracker got, by cause."""
    ref_i = np.array([[a, max(b, a + 0.01)] for a, b, _ in take.labels])
    ref_p = np.array([mir_eval.util.midi_to_hz(m) for *_, m in take.labels])
    est = [(a, b, m) for a, b, m in notes if math.isfinite(m)]
    est_i = np.array([[a, max(b, a + 0.01)] for a, b, _ in est]).reshape(-1, 2)
    est_p = np.array([mir_eval.util.midi_to_hz(m) for *_, m in est])
    pairs = mir_eval.transcription.match_notes(
        ref_i, ref_p, est_i, est_p, onset_tolerance=0.05, pitch_tolerance=50.0, offset_ratio=None
    )
    paired_ref = {i for i, _ in pairs}
    paired_est = {j for _, j in pairs}
    # each reported note's owner: the sung note it overlaps most (None: none)
    owner: list[int | None] = []
    for a, b, _ in est:
        ov = np.minimum(ref_i[:, 1], b) - np.maximum(ref_i[:, 0], a)
        owner.append(int(np.argmax(ov)) if ov.size and ov.max() > 0 else None)
    out: dict[str, int] = {}

    def count(kind: str) -> None:
        out[kind] = out.get(kind, 0) + 1

    labels = take.labels
    lo = min(m for *_, m in labels)
    hi = max(m for *_, m in labels)
    cause_of: dict[int, str] = {}
    for i, (on, off, m) in enumerate(labels):
        if i in paired_ref:
            continue
        legato = i > 0 and on - labels[i - 1][1] < LEGATO_GAP_S
        owned = [j for j, o in enumerate(owner) if o == i]
        overlapping = [j for j, (a, b, _) in enumerate(est) if a < off and b > on]
        near_onset = [j for j, (a, _, _) in enumerate(est) if abs(a - on) <= 0.05]
        if not overlapping and not near_onset:
            cause = "nothing there"
        elif not owned:
            cause = "merged into a neighbour"
        else:
            j = min(owned, key=lambda k: est[k][0])
            cents = 100.0 * (est[j][2] - m)
            err_ms = 1000.0 * (est[j][0] - on)
            if abs(cents) > 50.0:
                cause = (
                    "pitch off: octave/twelfth"
                    if _octave(cents)
                    else "pitch off: 50-100 cents"
                    if abs(cents) <= 100.0
                    else "pitch off: > 1 semitone"
                )
            elif abs(err_ms) > 50.0:
                side = "early" if err_ms < 0 else "late"
                a0 = est[j][0]
                joined = any(
                    0.0 <= a0 - b < LEGATO_GAP_S for k, (_, b, _) in enumerate(est) if k != j
                )
                step = (
                    "legato step"
                    if legato
                    else "labelled gap, sound goes on"
                    if joined
                    else "after silence"
                )
                cause = f"onset {side} {_ms_bin(err_ms)}, {step}"
            else:
                cause = "lost in pairing"
            if len(owned) > 1:
                count("missed (also split)")
        cause_of[i] = cause
        count("missed: " + cause)
        if other is not None and i in other:
            count("missed, pYIN got it: " + cause)
    for j, (a, b, mm) in enumerate(est):
        if j in paired_est:
            continue
        o = owner[j]
        if o is not None:
            cents = 100.0 * (mm - labels[o][2])
            if _octave(cents):
                kind = "octave/subharmonic of a sung note"
            elif o in cause_of:
                kind = "twin of a missed sung note"
            else:
                kind = "fragment of a sung note already paired"
        elif mm < lo - 3 or mm > hi + 3:
            kind = "outside the sung range"
        else:
            kind = "between sung notes, " + ("< 0.1 s" if b - a < 0.1 else ">= 0.1 s")
        count("extra: " + kind)
    if other is not None:
        got = {i for i, _ in pairs}
        count_both = len(got & other)
        out["sung notes: both matched"] = count_both
        out["sung notes: Etude only"] = len(got - other)
        out["sung notes: pYIN only"] = len(other - got)
        out["sung notes: neither"] = len(labels) - len(got | other)
    return out, paired_ref


def matched_sung(take: Take, notes: list[tuple[float, float, float]]) -> set[int]:
    """Indices of ``take``'s sung notes that ``notes`` match (onset 50 ms, pitch 50 cents)."""
    return sung_losses(take, notes)[1]


def print_losses(losses: list[dict[str, int]], n_ref: int, n_est: int) -> None:
    total: dict[str, int] = {}
    for row in losses:
        for k, v in row.items():
            total[k] = total.get(k, 0) + v
    print(f"\nEtude's losses on {n_ref} sung notes, {n_est} reported notes:")
    for k in sorted(total):
        base = n_est if k.startswith("extra") else n_ref
        print(f"  {k:60s} {total[k]:5d}  {100.0 * total[k] / max(base, 1):5.1f} %")


TRACKERS: dict[str, Callable[[Take], Result]] = {
    "etude": run_etude,
    "aubio yinfft": run_aubio_frames,
    "aubio.notes": run_aubio_notes,
    "pYIN+plain": run_pyin,
}
TARGETS = (
    "targets: F1 >= 0.70 and over pYIN's; notes/sung 0.9-1.15; |onset err| <= 20 ms; "
    "silent <= 1 %; VFA <= 0.25; raw pitch >= aubio's"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ssvd", type=Path, required=True, help="folder of NAME.flac + NAME.txt")
    ap.add_argument("--limit", type=int, help="only the first N takes")
    ap.add_argument("--trackers", nargs="+", choices=list(TRACKERS), default=list(TRACKERS))
    ap.add_argument("--verbose", action="store_true", help="Etude's figures per take")
    ap.add_argument(
        "--losses",
        action="store_true",
        help="sort Etude's misses and extra notes by cause, beside pYIN's matches (etude and "
        "pYIN+plain must be among the trackers)",
    )
    args = ap.parse_args(argv)
    takes = load_takes(args.ssvd, args.limit)
    if not takes:
        print(f"no labelled takes in {args.ssvd}")
        return 2
    wall0 = time.time()
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in args.trackers}
    losses: list[dict[str, int]] = []
    for take in takes:
        results: dict[str, Result] = {}
        for name in args.trackers:
            results[name] = r = TRACKERS[name](take)
            e = evaluate(take, r)
            rows[name].append(e)
            if args.verbose and name == "etude":
                q = pooled([e])
                print(
                    f"  {take.name:8s} F1 {q['F1']:.3f} notes/sung {q['notes/sung']:.2f} "
                    f"silent {q['silent']:.3f} VFA {q['VFA']:.3f}",
                    flush=True,
                )
        if args.losses and "etude" in results:
            pyin = results.get("pYIN+plain")
            other = matched_sung(take, pyin.notes) if pyin is not None else None
            losses.append(sung_losses(take, results["etude"].notes, other)[0])
    audio_s = sum(t.x.size / t.sr for t in takes)
    print(
        f"\n{len(takes)} sung takes, {audio_s:.0f} s, "
        f"{sum(len(t.labels) for t in takes)} sung notes"
    )
    cols = list(pooled(rows[args.trackers[0]]))
    print(f"{'tracker':14s}" + "".join(f"{c:>13s}" for c in cols))
    for name in args.trackers:
        q = pooled(rows[name])
        cells = []
        for c in cols:
            v = q[c]
            cells.append(
                f"{v:13.1f}"
                if c in ("onset err ms", "cents med", "cents sd")
                else f"{v:13.4f}"
                if c == "CPU"
                else f"{v:13.3f}"
            )
        print(f"{name:14s}" + "".join(cells))
    print(TARGETS)
    if args.losses and "etude" in rows:
        est = int(sum(r["est"] for r in rows["etude"]))
        print_losses(losses, sum(len(t.labels) for t in takes), est)
    print(f"benchmark wall time {time.time() - wall0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
