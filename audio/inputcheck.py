"""The input check: what is wrong with the microphone signal, in plain words, and what to do.

:class:`InputMeter` watches every hop the analyzer takes (it lives in
:class:`~audio.analyzer.StreamAnalyzer`, so live input, the Settings level test and
``etude analyze`` measure alike); :func:`assess` turns what it saw, and what the front end
found (hum, rumble), into an :class:`InputCheck`:

* **level** -- how loud the playing is: the 95th percentile of hop levels (dBFS RMS, after the
  front end), so rests do not pull it down.
* **clipping share** -- the share of samples at or beyond ``CLIP_LEVEL`` of full scale (0..1).
* **hum** -- mains hum the front end found: its frequency (Hz) and level (dBFS).
* **noise floor** -- the background between notes: the 10th percentile of hop levels (dBFS).
* **SNR** -- level minus noise floor, dB.

Each problem (``PROBLEMS``) comes with what to do about it. Where the input is too poor to tell
notes apart (``InputCheck.measurable`` False: the playing buried near the interface's own
noise, as loud as the background, or mostly clipped), scoring leaves the take's scores null
with ``InputCheck.reason``.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

_MAX = np.maximum.reduce
_MIN = np.minimum.reduce

# samples at or beyond this share of full scale count as clipped
CLIP_LEVEL = 0.99
# hop levels are counted in bins of this many dB from LEVEL_FLOOR_DB to 0 dBFS
LEVEL_BIN_DB = 0.5
LEVEL_FLOOR_DB = -120.0
# percentiles of hop levels: the playing, and the background between notes
LEVEL_PERCENTILE = 95.0
FLOOR_PERCENTILE = 10.0
# the live notice looks at this many recent seconds
RECENT_S = 4.0
# hops whose peaks are measured together, in two numpy calls instead of two per hop (a reading
# measures what is still waiting first, so it sees every hop pushed before it)
PEAK_BATCH_HOPS = 16
# fewer hops than this say nothing about level or background (0.5 s at 44.1 kHz)
MIN_HOPS = 86

# problems (thresholds)
TOO_QUIET_DB = -45.0
CLIPPING_SHARE = 0.001
NOISY_SNR_DB = 15.0
# not measurable
BURIED_DB = -60.0
DROWNED_SNR_DB = 6.0
WRECKED_CLIPPING_SHARE = 0.6


@dataclass(frozen=True, slots=True)
class InputProblem:
    """One problem with the input. code: "too_quiet", "clipping", "hum", "noise" or "rumble".
    message: what is wrong and what to do, in plain words, one sentence or two."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class InputCheck:
    """What the input was like (see the module docstring for each figure).

    level_db, noise_floor_db: dBFS, None with too little audio. peak_db: dBFS. snr_db: dB or
    None. clipping_share: 0..1. hum_hz, hum_db: the mains hum's frequency (Hz) and level
    (dBFS), None without hum. rumble: low rumble was found (and filtered). problems: in order
    of importance. measurable: False when the input is too poor to tell notes apart; reason
    then says why in plain words.
    """

    level_db: float | None
    peak_db: float
    clipping_share: float
    hum_hz: float | None
    hum_db: float | None
    noise_floor_db: float | None
    snr_db: float | None
    rumble: bool
    problems: tuple[InputProblem, ...] = ()
    measurable: bool = True
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The ``input`` object of ``etude analyze --json`` and of a take's stored feedback:
        level_db, peak_db, clipping_share, hum ({hz, level_db} or null), noise_floor_db,
        snr_db, rumble, problems [{code, message}], measurable, reason."""

        def r(x: float | None, digits: int = 1) -> float | None:
            return None if x is None else round(x, digits)

        return {
            "level_db": r(self.level_db),
            "peak_db": r(self.peak_db),
            "clipping_share": round(self.clipping_share, 5),
            "hum": None
            if self.hum_hz is None
            else {"hz": round(self.hum_hz, 2), "level_db": r(self.hum_db)},
            "noise_floor_db": r(self.noise_floor_db),
            "snr_db": r(self.snr_db),
            "rumble": self.rumble,
            "problems": [{"code": p.code, "message": p.message} for p in self.problems],
            "measurable": self.measurable,
            "reason": self.reason,
        }

    @property
    def notice(self) -> str | None:
        """The most important problem's message, for a one-line notice; None when fine."""
        return self.problems[0].message if self.problems else None


@dataclass(slots=True)
class MeterMark:
    """What an :class:`InputMeter` had counted at some moment (to check a take apart)."""

    levels: npt.NDArray[np.int64]
    samples: int
    clipped: int
    peak: float


@dataclass(slots=True)
class _Counts:
    # a list, not an array: incrementing a Python int is several times cheaper per hop
    levels: list[int] = field(default_factory=lambda: [0] * _n_bins())
    samples: int = 0
    clipped: int = 0
    peak: float = 0.0


def _n_bins() -> int:
    return round(-LEVEL_FLOOR_DB / LEVEL_BIN_DB) + 1


_TOP_BIN = _n_bins() - 1


class InputMeter:
    """Counts what the input check needs, hop by hop (cheap: a histogram, no per-hop lists
    beyond the last ``RECENT_S``). Written by the analysis thread; :meth:`mark` and the
    readings may come from any thread (a lock guards them).

    hop_s: seconds per hop (> 0).
    """

    def __init__(self, hop_s: float) -> None:
        self._all = _Counts()
        keep = max(1, round(RECENT_S / hop_s))
        self._recent_levels: deque[int] = deque(maxlen=keep)
        self._recent_clips: deque[tuple[int, int]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        # hops pushed whose peaks and clipping are not counted yet (rows 0.._waiting-1)
        self._batch: npt.NDArray[Any] = np.zeros((PEAK_BATCH_HOPS, 0), dtype=np.float32)
        self._waiting = 0

    def push(self, raw: npt.NDArray[np.float32], level_db: float) -> None:
        """One hop: ``raw`` the samples as they came in (-1..1, for clipping and peak),
        ``level_db`` its level after the front end (dBFS RMS)."""
        b = _bin(level_db)
        with self._lock:
            self._all.levels[b] += 1
            self._recent_levels.append(b)
            batch = self._batch
            if batch.shape[1] != raw.shape[0] or batch.dtype != raw.dtype:
                self._count_waiting()
                batch = self._batch = np.zeros((PEAK_BATCH_HOPS, raw.shape[0]), raw.dtype)
            batch[self._waiting] = raw
            self._waiting += 1
            if self._waiting == PEAK_BATCH_HOPS:
                self._count_waiting()

    def _count_waiting(self) -> None:
        """Count the peaks and clipped samples of the hops waiting, in the order pushed (the
        lock held)."""
        k = self._waiting
        if k == 0:
            return
        self._waiting = 0
        rows = self._batch[:k]
        # the ufuncs' own reduce, row by row: ndarray.max and .min go through a Python wrapper
        his = _MAX(rows, axis=1).tolist()
        los = _MIN(rows, axis=1).tolist()
        c = self._all
        n = rows.shape[1]
        for i in range(k):
            peak = max(his[i], -los[i])
            clipped = 0
            if peak >= CLIP_LEVEL:
                clipped = int(np.count_nonzero(np.abs(rows[i]) >= CLIP_LEVEL))
            c.samples += n
            c.clipped += clipped
            if peak > c.peak:
                c.peak = peak
            self._recent_clips.append((n, clipped))

    def mark(self) -> MeterMark:
        """What has been counted so far (pass it to :meth:`counts_since`)."""
        with self._lock:
            self._count_waiting()
            c = self._all
            return MeterMark(np.array(c.levels, dtype=np.int64), c.samples, c.clipped, c.peak)

    def counts_since(self, mark: MeterMark | None = None) -> MeterMark:
        """The counts of the whole stream, or of what came after ``mark``. (The peak is the
        stream's since its start: the histogram of levels does not keep peaks.)"""
        now = self.mark()
        if mark is None:
            return now
        return MeterMark(
            now.levels - mark.levels,
            now.samples - mark.samples,
            now.clipped - mark.clipped,
            now.peak,
        )

    def recent(self) -> MeterMark:
        """The counts of the last ``RECENT_S`` seconds."""
        with self._lock:
            self._count_waiting()
            levels = np.bincount(
                np.asarray(self._recent_levels, dtype=np.int64), minlength=_n_bins()
            )
            samples = sum(n for n, _ in self._recent_clips)
            clipped = sum(k for _, k in self._recent_clips)
        return MeterMark(levels, samples, clipped, 0.0)


def _bin(level_db: float) -> int:
    if not level_db > LEVEL_FLOOR_DB:  # also NaN
        return 0
    b = round((level_db - LEVEL_FLOOR_DB) / LEVEL_BIN_DB)
    return b if b < _TOP_BIN else _TOP_BIN


def _percentile(levels: npt.NDArray[np.int64], pct: float) -> float:
    total = int(levels.sum())
    cum = np.cumsum(levels)
    b = int(np.searchsorted(cum, pct / 100.0 * total))
    return LEVEL_FLOOR_DB + b * LEVEL_BIN_DB


def assess(
    counts: MeterMark, hum_hz: float | None, hum_db: float | None, rumble: bool
) -> InputCheck:
    """The input check for ``counts`` (from :meth:`InputMeter.counts_since` or
    :meth:`InputMeter.recent`) and what the front end found: hum at ``hum_hz`` Hz and
    ``hum_db`` dBFS (None without hum), ``rumble``."""
    enough = int(counts.levels.sum()) >= MIN_HOPS
    level = _percentile(counts.levels, LEVEL_PERCENTILE) if enough else None
    floor = _percentile(counts.levels, FLOOR_PERCENTILE) if enough else None
    snr = level - floor if level is not None and floor is not None else None
    clip = counts.clipped / counts.samples if counts.samples else 0.0
    peak_db = 20.0 * math.log10(counts.peak) if counts.peak > 0.0 else LEVEL_FLOOR_DB
    problems: list[InputProblem] = []
    if clip > CLIPPING_SHARE:
        problems.append(
            InputProblem(
                "clipping",
                f"The input clips ({100 * clip:.1f} % of the time): turn the input gain down "
                "or move back from the microphone.",
            )
        )
    if level is not None and level < TOO_QUIET_DB:
        problems.append(
            InputProblem(
                "too_quiet",
                f"The input is very quiet ({level:.0f} dBFS): move closer to the microphone or "
                "turn the input gain up.",
            )
        )
    if hum_hz is not None:
        problems.append(
            InputProblem(
                "hum",
                f"Mains hum at {round(hum_hz):d} Hz: a ground loop. Try another USB port, or run "
                "the laptop on its battery.",
            )
        )
    if snr is not None and snr < NOISY_SNR_DB and (level is None or level >= TOO_QUIET_DB):
        problems.append(
            InputProblem(
                "noise",
                f"Heavy background noise (only {snr:.0f} dB quieter than you): find a quieter "
                "spot, or move closer to the microphone.",
            )
        )
    if rumble:
        problems.append(
            InputProblem(
                "rumble",
                "Low rumble (handling noise, traffic or a desk that shakes): put the microphone "
                "on a stand or a soft pad, off the desk.",
            )
        )
    reason = None
    if clip > WRECKED_CLIPPING_SHARE:
        reason = (
            f"The input clipped {100 * clip:.0f} % of the time, so the notes cannot be told "
            "apart. Turn the input gain down and try again."
        )
    elif level is not None and level < BURIED_DB:
        reason = (
            f"The input was far too quiet ({level:.0f} dBFS) to tell the notes apart. Move "
            "closer to the microphone or turn the input gain up, and try again."
        )
    elif snr is not None and snr < DROWNED_SNR_DB:
        reason = (
            "The background was as loud as you, so the notes cannot be told apart. Find a "
            "quieter spot or move closer to the microphone, and try again."
        )
    return InputCheck(
        level_db=level,
        peak_db=peak_db,
        clipping_share=clip,
        hum_hz=hum_hz,
        hum_db=hum_db,
        noise_floor_db=floor,
        snr_db=snr,
        rumble=rumble,
        problems=tuple(problems),
        measurable=reason is None,
        reason=reason,
    )
