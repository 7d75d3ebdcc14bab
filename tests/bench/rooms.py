"""Real-room conditions for the accuracy benchmark: `uv run python -m tests.bench.accuracy --rooms`.

Every piece of a corpus goes through each condition below; each condition's clips go through
Etude and through plain aubio (yinfft, see ``accuracy.run_baseline``) in the same run, and one
row per condition is printed, per corpus.

Corpora (``CORPORA``): the default one, FluidR3 seeds 1 and 2 (what the engine was tuned on),
and held-out sets it was never tuned on: FluidR3 with other pieces (seeds 3, 4) and two other
General MIDI sound sources, TimGM6mb (seeds 5, 6) and csound's sf_GMbank (seeds 7, 8). A corpus
is eight instruments x two pieces (``accuracy.make_piece``); every condition runs on all of
them. Renders are cached in tests/bench/out/; the conditions are computed from the dry render
each run (deterministic: every random draw is seeded by the piece).

Conditions (``CONDITIONS``; levels are dBFS RMS unless named peaks):

* dry -- the render as it is.
* noise -- white noise 20 dB under the signal's RMS.
* reverb -- fluidsynth's own reverb and chorus (its default effects).
* hum50 -- 50 Hz mains hum, all harmonics to the 8th (falling 1, 1/2, ... ), at -40, -34 or
  -28 dBFS (cycling over the pieces), drifting +-0.03 Hz as a grid does.
* hum60 -- 60 Hz hum with odd harmonics to the 11th (a ground-loop buzz), same levels.
* rumble -- noise below 40 Hz (4th-order low-pass) at -36, -30 or -24 dBFS, plus a handling
  thump (one 12-25 Hz cycle, peak 0.15) every 2-4 s.
* laptop -- a small room (RT60 0.3 s, direct 4 dB over the reverberation), a fan (pink noise
  below 4 kHz 25 dB under the signal, with a 163 Hz blade tone and its double), then the
  microphone: 2nd-order high-pass at 250 Hz, 4th-order low-pass at 6.5 kHz.
* room -- a reverberant room: RT60 0.9 s, direct sound as loud as the reverberation (0 dB).
* quiet -- far too quiet: peaks at -38 dBFS, an interface noise floor of -90 dBFS, 16 bits.
* clipped -- the gain 12 dB over full scale, clipped at +-1.

Figures per condition (pooled over the condition's clips; "etude/aubio"):

* raw pitch -- mir_eval raw pitch accuracy (50 cents) over the frames from 30 ms after each
  note-on to its note-off (where the note is heard; the first 30 ms hold the attack).
* phantom -- reported notes with no played note within a semitone while they sound (a played
  note's sound counted to 0.1 s after its note-off, its release), as a share of reported notes.
* note F1 (onset 50 ms, pitch 50 cents, offsets ignored), onset F1 (50 ms), note count error
  (|reported - played| / played, mean over clips).
* A clip on which Etude raises an exception is counted as reporting nothing, and named
  ("crashed").
* |pa-t|, cents, rhy-t, rhy-r: |metric - truth| for pitch_accuracy, avg_pitch_deviation_cents,
  rhythm_accuracy with the target tempo and with the reference (truth = the same scoring on the
  played notes). A take whose score is null (not measurable) is left out of these and counted
  under "n/a".

``--causes`` adds, per corpus, Etude's phantom notes sorted by cause (``PHANTOM_CAUSES``) and the
played notes note F1 left unmatched sorted by cause (``MISS_CAUSES``), one column per condition;
with ``--verbose`` every phantom note is listed with its cause.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mir_eval
import numpy as np
import scipy.signal as sps

from audio.records import Note, Onset
from audio.reference import Reference, load_reference
from audio.scoring import score_take
from audio.settings import AnalysisSettings
from tests.audio import signals
from tests.audio.gm import SF2, render
from tests.bench import accuracy as acc

SR = acc.SR
SF_DIR = SF2.parent
RELEASE_S = 0.1
PITCH_FROM_S = 0.03


@dataclass(frozen=True)
class Corpus:
    name: str
    sf2: Path
    seeds: tuple[int, ...]
    note: str


CORPORA = {
    "fluidr3": Corpus("fluidr3", SF2, (1, 2), "default: FluidR3, seeds 1 2"),
    "fluidr3-held": Corpus("fluidr3-held", SF2, (3, 4), "held out: FluidR3, seeds 3 4"),
    "timgm": Corpus("timgm", SF_DIR / "TimGM6mb.sf2", (5, 6), "held out: TimGM6mb, seeds 5 6"),
    "sfgm": Corpus("sfgm", SF_DIR / "sf_GMbank.sf2", (7, 8), "held out: sf_GMbank, seeds 7 8"),
}


@dataclass
class Piece:
    name: str
    index: int  # position in the corpus: picks the level of the leveled conditions
    dry: Path
    fx: Path
    truth: acc.Truth
    seed: int


def _rms(x: np.ndarray) -> float:
    loud = x[np.abs(x) > 1e-4]
    return float(np.sqrt(np.mean(loud.astype(np.float64) ** 2))) if loud.size else 0.01


def _db(level_db: float) -> float:
    return float(10.0 ** (level_db / 20.0))


def hum(n: int, f0_hz: float, gains: dict[int, float], level_db: float, seed: int) -> np.ndarray:
    """Harmonics ``gains`` (number -> relative amplitude) of ``f0_hz`` drifting slowly by
    +-0.03 Hz, scaled to ``level_db`` dBFS RMS (the laptop's fan tone)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    drift = 0.03 * np.sin(2 * np.pi * 0.05 * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(f0_hz + drift) / SR
    y = np.zeros(n)
    for h, g in gains.items():
        y += g * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    return y * _db(level_db) / float(np.sqrt(np.mean(y**2)))


def reverb_ir(rt60_s: float, drr_db: float, seed: int) -> np.ndarray:
    """A room's impulse response: the direct sound (1 at t = 0), six early reflections in the
    first 30 ms and a diffuse tail of decaying noise (60 dB in ``rt60_s``, high frequencies
    dying faster), scaled so the direct sound is ``drr_db`` over all the rest."""
    rng = np.random.default_rng(seed)
    n = int((rt60_s * 1.3 + 0.05) * SR)
    t = np.arange(n) / SR
    tail = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60_s)
    tail[: int(0.008 * SR)] = 0.0
    tail = sps.lfilter([0.35], [1.0, -0.65], tail)  # air and walls absorb the highs
    for d in rng.uniform(0.004, 0.03, 6):
        tail[int(d * SR)] += rng.uniform(0.3, 0.6) * rng.choice([-1.0, 1.0])
    tail *= 1.0 / (math.sqrt(float(np.sum(tail**2))) * _db(drr_db))
    tail[0] = 1.0
    return tail


def _convolve(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    return sps.fftconvolve(x.astype(np.float64), ir)


def cond_noise(x: np.ndarray, p: Piece) -> np.ndarray:
    rng = np.random.default_rng(p.seed)
    return x + rng.standard_normal(x.size) * _rms(x) * _db(-20.0)


HUM_LEVELS_DB = (-40.0, -34.0, -28.0)


def cond_hum50(x: np.ndarray, p: Piece) -> np.ndarray:
    level = HUM_LEVELS_DB[p.index % len(HUM_LEVELS_DB)]
    return x + signals.mains_hum(x.size / SR, 50.0, level, seed=p.seed)[: x.size]


def cond_hum60(x: np.ndarray, p: Piece) -> np.ndarray:
    level = HUM_LEVELS_DB[(p.index + 1) % len(HUM_LEVELS_DB)]
    return x + signals.mains_hum(x.size / SR, 60.0, level, odd_only=True, seed=p.seed + 1)[: x.size]


RUMBLE_LEVELS_DB = (-36.0, -30.0, -24.0)


def cond_rumble(x: np.ndarray, p: Piece) -> np.ndarray:
    level = RUMBLE_LEVELS_DB[p.index % len(RUMBLE_LEVELS_DB)]
    return x + signals.rumble(x.size / SR, level, seed=p.seed + 2)


def cond_laptop(x: np.ndarray, p: Piece) -> np.ndarray:
    rng = np.random.default_rng(p.seed + 3)
    y = _convolve(x, reverb_ir(0.3, 4.0, p.seed + 3))
    white = np.fft.rfft(rng.standard_normal(y.size))
    freqs = np.fft.rfftfreq(y.size, 1 / SR)
    pink = np.fft.irfft(white / np.sqrt(np.maximum(freqs, 20.0)), y.size)
    pink = sps.sosfilt(sps.butter(2, 4000.0, "low", fs=SR, output="sos"), pink)
    fan = pink * _rms(x) * _db(-25.0) / float(np.sqrt(np.mean(pink**2)))
    fan_rms = float(np.sqrt(np.mean(fan**2)))
    fan += hum(y.size, 163.0, {1: 1.0, 2: 0.5}, 20 * math.log10(fan_rms) - 10.0, p.seed + 4)
    y = y + fan
    y = sps.sosfilt(sps.butter(2, 250.0, "high", fs=SR, output="sos"), y)
    return sps.sosfilt(sps.butter(4, 6500.0, "low", fs=SR, output="sos"), y)


def cond_room(x: np.ndarray, p: Piece) -> np.ndarray:
    return _convolve(x, reverb_ir(0.9, 0.0, p.seed + 5))


def cond_quiet(x: np.ndarray, p: Piece) -> np.ndarray:
    rng = np.random.default_rng(p.seed + 6)
    y = x / float(np.max(np.abs(x))) * _db(-38.0)
    y = y + rng.standard_normal(y.size) * _db(-90.0)
    return np.round(y * 32767.0) / 32767.0


def cond_clipped(x: np.ndarray, p: Piece) -> np.ndarray:
    return np.clip(x / float(np.max(np.abs(x))) * _db(12.0), -1.0, 1.0)


CONDITIONS: dict[str, Callable[[np.ndarray, Piece], np.ndarray] | None] = {
    "dry": lambda x, p: x,
    "noise": cond_noise,
    "reverb": None,  # fluidsynth's effects: the fx render
    "hum50": cond_hum50,
    "hum60": cond_hum60,
    "rumble": cond_rumble,
    "laptop": cond_laptop,
    "room": cond_room,
    "quiet": cond_quiet,
    "clipped": cond_clipped,
}


def pieces(corpus: Corpus, seeds: tuple[int, ...]) -> list[Piece]:
    out = []
    tag = "" if corpus.sf2 == SF2 else f"{corpus.sf2.stem}_"
    for inst, (prog, lo, hi) in acc.INSTRUMENTS.items():
        for s in seeds:
            name = f"{tag}{inst}{s}"
            midi, truth = acc.make_piece(name, prog, lo, hi, seed=100 * prog + s, sf2=corpus.sf2)
            dry = acc.OUT / f"{name}.wav"
            fx = acc.OUT / f"{name}_fx.wav"
            render(midi, dry, sf2=corpus.sf2)
            render(midi, fx, effects=True, sf2=corpus.sf2)
            out.append(Piece(name, len(out), dry, fx, truth, 1000 * prog + s))
    return out


def clip_audio(p: Piece, cond: str) -> np.ndarray:
    """The piece as heard under ``cond``: float32 mono at 44.1 kHz (the clean render's values
    before clipping or quantising stay within -1..1 except where a condition clips)."""
    fn = CONDITIONS[cond]
    if fn is None:
        return acc.read_mono(p.fx)
    y = fn(acc.read_mono(p.dry), p)
    return np.ascontiguousarray(np.clip(y, -1.0, 1.0), dtype=np.float32)


def phantoms(truth: acc.Truth, notes: list[Note]) -> int:
    """Reported notes with no played note within a semitone while they sound."""
    return len(phantom_notes(truth, notes))


PHANTOM_CAUSES = (
    "background tone: mains or fan harmonic",
    "octave/twelfth of a sounding note",
    "reverb tail: same pitch, note ended",
    "legato change: between two notes",
    "fragment: 1-3 st off a sounding note",
    "other pitch while a note sounds",
    "silence: burst, thump or noise",
)
"""Why a phantom note is there, tried in this order (the first that fits): its pitch lies
within 40 cents of a harmonic of a tone the condition adds (``TONES``); it lies 12, 19, 24, 28
or 31 semitones (+-1) above or below a note sounding under it; a played note within a semitone
of it ended (counting its release) less than 2 s before it began (the room, or the sound
source's own release); it begins within 0.15 s of a change between two played notes less than
0.2 s apart; it lies 1-3 semitones off a note sounding under it; another note sounds under it;
nothing is played under it."""

MISS_CAUSES = (
    "missed: merged with the note before (same pitch)",
    "missed: found 50-300 ms early",
    "missed: found 50-300 ms late",
    "missed: octave/twelfth at its onset",
    "missed: other pitch at its onset",
    "missed: nothing there",
)
"""Why a played note has no reported note in note F1 (onset 50 ms, pitch 50 cents), tried in
this order: one reported note within 50 cents of it also covers the played note before it, of
the same pitch; a reported note within 50 cents of it begins 50-300 ms before it; ... after it;
a reported note beginning within 50 ms of it lies 12, 19, 24, 28 or 31 semitones (+-1) off;
... at another pitch; nothing."""

HARMONIC_INTERVALS = (12.0, 19.0, 24.0, 28.0, 31.0)
# (fundamental Hz, highest harmonic) of the tones a condition adds: hum, the laptop's fan
TONES: dict[str, tuple[float, int]] = {
    "hum50": (50.0, 8),
    "hum60": (60.0, 11),
    "laptop": (163.0, 2),
}


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _harmonic(d: float) -> bool:
    return any(abs(abs(d) - h) <= 1.0 for h in HARMONIC_INTERVALS)


def _on_tone(midi: float, cond: str) -> bool:
    if cond not in TONES:
        return False
    base, top = TONES[cond]
    k = round(_hz(midi) / base)
    return 1 <= k <= top and abs(1200.0 * math.log2(_hz(midi) / (k * base))) <= 40.0


def phantom_cause(truth: acc.Truth, n: Note, cond: str) -> str:
    """Which of ``PHANTOM_CAUSES`` explains the phantom note ``n`` under ``cond``."""
    under = [
        (on, off, m)
        for on, off, m in truth.notes
        if on < n.offset_s and off + RELEASE_S > n.onset_s
    ]
    if _on_tone(n.midi, cond):
        return PHANTOM_CAUSES[0]
    if any(_harmonic(n.midi - m) for *_, m in under):
        return PHANTOM_CAUSES[1]
    if any(
        abs(n.midi - m) <= 1.0 and off + RELEASE_S <= n.onset_s < off + 2.0
        for _, off, m in truth.notes
    ):
        return PHANTOM_CAUSES[2]
    for a, b in itertools.pairwise(truth.notes):
        if b[0] - a[1] < 0.2 and abs(n.onset_s - b[0]) <= 0.15:
            return PHANTOM_CAUSES[3]
    if any(abs(n.midi - m) <= 3.0 for *_, m in under):
        return PHANTOM_CAUSES[4]
    if under:
        return PHANTOM_CAUSES[5]
    return PHANTOM_CAUSES[6]


def miss_cause(truth: acc.Truth, i: int, notes: list[Note]) -> str:
    """Which of ``MISS_CAUSES`` explains why played note ``i`` has no match."""
    on, _, m = truth.notes[i]
    same = [n for n in notes if abs(n.midi - m) <= 0.5]
    if i > 0:
        _, p_off, p_m = truth.notes[i - 1]
        if abs(p_m - m) <= 0.5 and any(n.onset_s < p_off and n.offset_s > on for n in same):
            return MISS_CAUSES[0]
    if any(on - 0.3 <= n.onset_s < on - 0.05 for n in same):
        return MISS_CAUSES[1]
    if any(on + 0.05 < n.onset_s <= on + 0.3 for n in same):
        return MISS_CAUSES[2]
    at = [n for n in notes if abs(n.onset_s - on) <= 0.05]
    if any(_harmonic(n.midi - m) for n in at):
        return MISS_CAUSES[3]
    if at:
        return MISS_CAUSES[4]
    return MISS_CAUSES[5]


def phantom_notes(truth: acc.Truth, notes: list[Note]) -> list[Note]:
    """The reported notes that are phantoms (see :func:`phantoms`)."""
    return [
        n
        for n in notes
        if not any(
            abs(n.midi - m) <= 1.0 and n.onset_s < off + RELEASE_S and n.offset_s > on
            for on, off, m in truth.notes
        )
    ]


def causes(truth: acc.Truth, notes: list[Note], cond: str) -> dict[str, int]:
    """Phantom notes by cause (``PHANTOM_CAUSES``) and missed played notes by cause
    (``MISS_CAUSES``), counted."""
    out = dict.fromkeys(PHANTOM_CAUSES + MISS_CAUSES, 0)
    for n in phantom_notes(truth, notes):
        out[phantom_cause(truth, n, cond)] += 1
    pairs = mir_eval.transcription.match_notes(*acc.note_arrays(truth, notes), **acc.NOTE_MATCH)
    paired = {i for i, _ in pairs}
    for i in range(len(truth.notes)):
        if i not in paired:
            out[miss_cause(truth, i, notes)] += 1
    return out


def raw_pitch_heard(truth: acc.Truth, t: np.ndarray, f: np.ndarray) -> tuple[float, int]:
    """Raw pitch accuracy (50 c) over frames from 30 ms after each note-on; (share, frames)."""
    ref = np.zeros_like(t)
    for on, off, m in truth.notes:
        sel = (t >= on + PITCH_FROM_S) & (t < off)
        ref[sel] = 440.0 * 2 ** ((m - 69) / 12)
    rv, rc, ev, ec = mir_eval.melody.to_cent_voicing(t, ref, t, f)
    return float(mir_eval.melody.raw_pitch_accuracy(rv, rc, ev, ec)), int(np.sum(rv > 0))


METRICS = (
    ("", "pitch_accuracy", "pa"),
    ("", "avg_pitch_deviation_cents", "cents"),
    ("tempo_", "rhythm_accuracy", "rhy_t"),
    ("ref_", "rhythm_accuracy", "rhy_r"),
)


def evaluate(
    truth: acc.Truth,
    notes: list[Note],
    onsets: list[Onset],
    t: np.ndarray,
    f: np.ndarray,
    ref: Reference | None,
    cond: str = "dry",
) -> dict[str, float]:
    rp, frames = raw_pitch_heard(truth, t, f)
    r: dict[str, float] = {"raw_pitch": rp, "frames": frames}
    r["phantoms"] = phantoms(truth, notes)
    r.update({f"cause:{k}": v for k, v in causes(truth, notes, cond).items()})
    r["reported"] = len(notes)
    ref_on = np.array([n[0] for n in truth.notes])
    est_on = np.array(sorted(o.t_s for o in onsets))
    r["onset_f1"] = mir_eval.onset.f_measure(ref_on, est_on, window=0.05)[0]
    r["note_f1"] = (
        mir_eval.transcription.precision_recall_f1_overlap(
            *acc.note_arrays(truth, notes), **acc.NOTE_MATCH
        )[2]
        if notes
        else 0.0
    )
    r["count_err"] = abs(len(notes) - len(truth.notes)) / len(truth.notes)
    tn = acc.truth_notes(truth)
    variants = {
        "": (AnalysisSettings(), None),
        "tempo_": (AnalysisSettings(target_tempo_bpm=truth.tempo_bpm), None),
        "ref_": (AnalysisSettings(), ref),
    }
    for label, key, short in METRICS:
        settings, reference = variants[label]
        est = score_take(notes, onsets, [], settings, reference=reference, duration_s=1.0).metrics
        tru = score_take(tn, [], [], settings, reference=reference, duration_s=1.0).metrics
        if tru[key] is None:
            continue
        if est[key] is None:
            r[f"{short}_na"] = 1
            continue
        r[short] = abs(est[key] - tru[key])
    return r


COLUMNS = (
    ("raw pitch", "raw_pitch"),
    ("phantom", "phantom"),
    ("note F1", "note_f1"),
    ("onset F1", "onset_f1"),
    ("count err", "count_err"),
)
SCORE_COLUMNS = (("|pa-t|", "pa"), ("cents", "cents"), ("rhy-t", "rhy_t"), ("rhy-r", "rhy_r"))


def pooled(rows: list[dict[str, float]]) -> dict[str, float]:
    """One row's figures from its clips: raw pitch over all their frames, phantoms over all
    reported notes, the rest as means over clips."""
    out: dict[str, float] = {"crashed": sum(r.get("crashed", 0) for r in rows)}
    frames = sum(r["frames"] for r in rows)
    out["raw_pitch"] = sum(r["raw_pitch"] * r["frames"] for r in rows) / max(1, frames)
    reported = sum(r["reported"] for r in rows)
    out["phantom"] = sum(r["phantoms"] for r in rows) / reported if reported else 0.0
    for k in ("note_f1", "onset_f1", "count_err"):
        out[k] = float(np.mean([r[k] for r in rows]))
    for _, k in SCORE_COLUMNS:
        vals = [r[k] for r in rows if k in r]
        out[k] = float(np.mean(vals)) if vals else float("nan")
        out[k + "_na"] = sum(r.get(k + "_na", 0) for r in rows)
    return out


TARGETS = {
    "raw_pitch": 0.96,
    "phantom": 0.02,
    "note_f1": 0.88,
    "onset_f1": 0.88,
    "count_err": 0.10,
    "pa": 0.05,
    "cents": 6.0,
    "rhy_t": 0.08,
    "rhy_r": 0.08,
}
LOWER_IS_BETTER = {"phantom", "count_err", "pa", "cents", "rhy_t", "rhy_r"}
CONDITION_F1_FLOOR = 0.80
F1_EXEMPT = ("quiet", "room")


def _met(key: str, v: float, target: float) -> bool:
    return v <= target if key in LOWER_IS_BETTER else v >= target


def print_table(title: str, by_cond: dict[str, dict[str, list[dict[str, float]]]]) -> list[str]:
    """Print one corpus's table; return the targets it misses, in words."""
    misses: list[str] = []
    print(f"\n{title}")
    head = " ".join(f"{h:>13s}" for h, _ in COLUMNS)
    tail = " ".join(f"{h:>6s}" for h, _ in SCORE_COLUMNS)
    print(f"{'condition':10s} {head}  {tail}  n/a  (etude/aubio; scores: etude)")
    all_rows: dict[str, list[dict[str, float]]] = {"etude": [], "aubio": []}
    for cond, rows in [*by_cond.items(), ("all", all_rows)]:
        if cond != "all":
            all_rows["etude"] += rows["etude"]
            all_rows["aubio"] += rows["aubio"]
        e, a = pooled(rows["etude"]), pooled(rows["aubio"])
        cells = []
        for _, k in COLUMNS:
            fmt = "{:.1%}" if k == "phantom" else "{:.3f}"
            cells.append(f"{fmt.format(e[k])}/{fmt.format(a[k])}")
        scores = " ".join(
            f"{e[k]:6.1f}" if k == "cents" else f"{e[k]:6.3f}" for _, k in SCORE_COLUMNS
        )
        na = sum(int(e[k + "_na"]) for _, k in SCORE_COLUMNS)
        crash = f"  {int(e['crashed'])} crashed" if e["crashed"] else ""
        print(f"{cond:10s} " + " ".join(f"{c:>13s}" for c in cells) + f"  {scores}  {na:3d}{crash}")
        if cond == "all":
            for k, target in TARGETS.items():
                if not math.isnan(e[k]) and not _met(k, e[k], target):
                    misses.append(f"{k} {e[k]:.3f} (target {target})")
        else:
            if e["raw_pitch"] < a["raw_pitch"]:
                misses.append(
                    f"{cond}: raw pitch {e['raw_pitch']:.3f} < aubio {a['raw_pitch']:.3f}"
                )
            for k in ("note_f1", "onset_f1"):
                if cond not in F1_EXEMPT and e[k] < CONDITION_F1_FLOOR:
                    misses.append(f"{cond}: {k} {e[k]:.3f} < {CONDITION_F1_FLOOR}")
            if e["phantom"] > TARGETS["phantom"]:
                misses.append(f"{cond}: phantom {e['phantom']:.1%}")
    print("targets missed: " + ("; ".join(misses) if misses else "none"))
    return misses


def print_causes(title: str, by_cond: dict[str, dict[str, list[dict[str, float]]]]) -> None:
    """Etude's phantom notes and note-F1 misses by cause, one column per condition."""
    conds = list(by_cond)
    print(f"\n{title}: Etude's phantom notes and missed played notes by cause (counts)")
    print(f"{'':48s} " + " ".join(f"{c[:7]:>7s}" for c in conds) + f" {'all':>6s}")
    for group, kinds in (("phantom", PHANTOM_CAUSES), ("", MISS_CAUSES)):
        for kind in kinds:
            counts = [sum(int(r[f"cause:{kind}"]) for r in by_cond[c]["etude"]) for c in conds]
            label = f"{group}: {kind}" if group else kind
            print(f"{label[:48]:48s} " + " ".join(f"{n:7d}" for n in counts) + f" {sum(counts):6d}")
    reported = [sum(int(r["reported"]) for r in by_cond[c]["etude"]) for c in conds]
    print(
        f"{'reported notes':48s} " + " ".join(f"{n:7d}" for n in reported) + f" {sum(reported):6d}"
    )


def run_corpus(
    corpus: Corpus, seeds: tuple[int, ...], conds: list[str], verbose: bool
) -> tuple[dict[str, dict[str, list[dict[str, float]]]], float, float]:
    by_cond: dict[str, dict[str, list[dict[str, float]]]] = {
        c: {"etude": [], "aubio": []} for c in conds
    }
    audio_s = cpu_s = 0.0
    for p in pieces(corpus, seeds):
        ref = load_reference(p.truth.ref_path) if p.truth.ref_path else None
        for cond in conds:
            x = clip_audio(p, cond)
            try:
                notes, onsets, t, f, cpu = acc.run_etude(x)
            except Exception as exc:  # a crash is a finding: counted, shown, run goes on
                print(f"  CRASH {p.name} {cond}: {exc!r}", flush=True)
                notes, onsets, cpu = [], [], 0.0
                t = np.arange(0.0, x.size / SR, acc.HOP / SR)
                f = np.zeros_like(t)
                crashed = True
            else:
                crashed = False
            audio_s += x.size / SR
            cpu_s += cpu
            e = evaluate(p.truth, notes, onsets, t, f, ref, cond)
            e["crashed"] = crashed
            bn, bo, bt, bf = acc.run_baseline(x)
            b = evaluate(p.truth, bn, bo, bt, bf, ref, cond)
            by_cond[cond]["etude"].append(e)
            by_cond[cond]["aubio"].append(b)
            if verbose:
                print(
                    f"  {p.name:24s} {cond:8s} raw {e['raw_pitch']:.3f}/{b['raw_pitch']:.3f} "
                    f"phantom {int(e['phantoms'])}/{int(e['reported'])} "
                    f"noteF1 {e['note_f1']:.3f} onsetF1 {e['onset_f1']:.3f}",
                    flush=True,
                )
                for n in phantom_notes(p.truth, notes):
                    print(
                        f"    phantom {n.onset_s:6.2f}-{n.offset_s:6.2f} s midi {n.midi:6.2f} "
                        f"{n.level_db:6.1f} dB: {phantom_cause(p.truth, n, cond)}"
                    )
    return by_cond, audio_s, cpu_s


def main(args: argparse.Namespace) -> int:
    wall0 = time.time()
    acc.OUT.mkdir(parents=True, exist_ok=True)
    names = args.corpus or list(CORPORA)
    conds = args.conditions or list(CONDITIONS)
    for c in conds:
        if c not in CONDITIONS:
            print(f"unknown condition {c}; known: {', '.join(CONDITIONS)}")
            return 2
    missing = [CORPORA[n].sf2 for n in names if not CORPORA[n].sf2.exists()]
    if missing:
        print(f"missing soundfont(s): {', '.join(map(str, missing))}")
        return 2
    total_misses = 0
    audio_all = cpu_all = 0.0
    for name in names:
        corpus = CORPORA[name]
        seeds = corpus.seeds[:1] if args.quick else corpus.seeds
        by_cond, audio_s, cpu_s = run_corpus(corpus, seeds, conds, args.verbose)
        audio_all += audio_s
        cpu_all += cpu_s
        n = len(next(iter(by_cond.values()))["etude"])
        title = (
            f"{name} ({corpus.note}{', first seed only' if args.quick else ''}): "
            f"{n} pieces x {len(conds)} conditions, {audio_s:.0f} s of audio"
        )
        total_misses += len(print_table(title, by_cond))
        if args.causes:
            print_causes(name, by_cond)
    print(
        f"\nEtude analysis CPU: {cpu_all / max(audio_all, 1e-9):.4f} s per audio second; "
        f"benchmark wall time {time.time() - wall0:.0f} s"
    )
    return 0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--rooms",
        action="store_true",
        help="real-room conditions per corpus, one row per condition (tests/bench/rooms.py)",
    )
    ap.add_argument("--corpus", nargs="+", choices=list(CORPORA), help="with --rooms: which")
    ap.add_argument(
        "--causes",
        action="store_true",
        help="with --rooms: Etude's phantom notes and note-F1 misses by cause, per condition "
        "(with --verbose, every phantom note)",
    )
    ap.add_argument("--conditions", nargs="+", metavar="NAME", help="with --rooms: which")
