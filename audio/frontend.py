"""The front end: conditions the input before pitch, onset and level analysis.

Real rooms add to a microphone signal what the student never played: DC offset, rumble and
handling noise below any instrument's range, and mains hum (50 or 60 Hz and its harmonics, from
ground loops and cheap USB interfaces). Each would otherwise be measured as pitch, level or
onsets. The front end runs causally, hop by hop, in :class:`~audio.analyzer.StreamAnalyzer`, so
live input and files take the same path:

1. :class:`Highpass` removes DC and everything below the lowest note Etude tracks.
2. :class:`HumDetector` decides from the signal itself whether mains hum is present: a line at
   50 or 60 Hz (or at two neighbouring harmonics of it) that stands clear of the spectrum around
   it and holds a steady level over ``HumParams.onset_s`` seconds, whether or not anyone plays.
   A note cannot do that: no note Etude tracks lies at 50 or 60 Hz, and a note's partials lie at
   multiples of its own pitch, never at two neighbouring multiples of 50 or 60 Hz.
3. :class:`HumRemover` subtracts the hum only while it is present: a running average of the
   signal over whole mains periods (the part that repeats every period, which music does not)
   is the hum's waveform, subtracted one period later. In steady state this is a comb of notches
   ``HumParams.notch_bw_hz`` wide at every harmonic of the measured mains frequency and flat
   elsewhere; it starts from nothing, so switching it on adds no click.

All parameters live in the dataclasses below; units are in their names.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import aubio
import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]
STEADY_FREQ_DB = 1.5
# ndarray.any() without its Python wrapper (numpy's _methods._any): the same reduction
_ANY = np.logical_or.reduce
FREQ_BLOCKS = 3


@dataclass(frozen=True, slots=True)
class HighpassParams:
    """DC removal, always, and the rumble filter, while there is rumble."""

    # the DC blocker's -3 dB point, Hz (first order: 0.01 dB and 3 degrees at 55 Hz)
    dc_hz: float = 3.0
    # the rumble filter's -3 dB point, Hz: under the lowest pitch analysed (50 Hz)
    cutoff_hz: float = 45.0
    # its Butterworth biquads in cascade: 2 = 4th order, 24 dB per octave (20 Hz drops by 28)
    sections: int = 2
    # rumble is present from this noise-like level in the band under the lowest pitch, dBFS
    # mean square (a quiet room measures under -90 there; the benchmark's rumble -50 to -30)
    rumble_db: float = -70.0
    # ... held for this long, s
    rumble_onset_s: float = 0.7
    # ... and gone once it has stayed this far under that level for ``HumParams.release_s``
    rumble_release_db: float = 6.0
    # the band, Hz
    rumble_from_hz: float = 12.0
    rumble_to_hz: float = 30.0
    # ... holding per hertz this much more than ``above_band_hz`` (broadband noise holds as
    # much everywhere), dB
    rumble_excess_db: float = 15.0
    above_band_hz: tuple[float, float] = (150.0, 400.0)
    # hops over which the filter fades in or out (no click)
    fade_hops: int = 4


@dataclass(frozen=True, slots=True)
class HumParams:
    """How mains hum is recognised and removed."""

    # the candidate mains frequencies, Hz
    mains_hz: tuple[float, ...] = (50.0, 60.0)
    # harmonics measured per candidate (a ground-loop buzz reaches the 11th)
    harmonics: int = 12
    # spectrum length, s (a power of two of samples: 16384, 2.7 Hz bins, at 44.1/48 kHz)
    window_s: float = 0.37
    # a spectrum is taken every this many seconds
    block_s: float = 0.18
    # the k-th harmonic's line counts within k times this of k x mains, Hz (grids hold 50/60 Hz
    # within 0.2 Hz); its frequency is measured from its phase advance between spectra
    tolerance_hz: float = 0.25
    # how far a line must stand over the median of the spectrum 6-20 Hz either side, dB
    line_db: float = 10.0
    # how much a line's level may vary while hum is being recognised, dB
    steady_db: float = 3.0
    # how long lines must hold before hum is declared, s
    onset_s: float = 0.5
    # ... agreeing on the mains frequency within this, Hz (each line's frequency / its number)
    agree_hz: float = 0.05
    # two neighbouring harmonics up to this number declare hum
    adjacent_max: int = 6
    # how long every line must be gone before hum is declared over, s
    release_s: float = 2.0
    # lines quieter than this are ignored, dBFS
    min_level_db: float = -100.0
    # lines this far under the whole window's level are ignored, dB (a FluidR3 voice sample
    # holds a steady 60 Hz line 60 dB under its note; such a line disturbs nothing)
    below_signal_db: float = 45.0
    # width of each notch of the remover, Hz (3 dB points); its waveform settles in about
    # mains / (pi x this) periods
    notch_bw_hz: float = 1.0


@dataclass(frozen=True, slots=True)
class BackgroundParams:
    """When a pitch is the background's, not a note (:meth:`FrontEnd.is_background_pitch`)."""

    # a frame within this of 1-4 times the mains frequency may be the hum's, cents
    hum_pitch_cents: float = 25.0
    # before the hum detector can decide, a pitch this close to 50 or 60 Hz is hum's, cents
    startup_mains_cents: float = 60.0
    # ... and is when, the hum removed, the level left is at least this under the hum's, dB
    hum_residual_db: float = 15.0
    # ... or when the level, hum included, is at most this over the hum's (nothing but hum,
    # while the remover is still learning it), dB
    hum_louder_db: float = 3.0
    # the low band, Hz, where rumble left over by the high-pass is narrow-band noise that
    # reads as a low pitch
    low_band_from_hz: float = 40.0
    low_band_hz: float = 75.0
    # its noise-like level is the quietest over this long, s
    low_floor_s: float = 6.0
    # while rumble is filtered, pitches under this times the filter's cutoff are rumble (the
    # filter's own edge leaves narrow-band noise there; the lowest notes tracked are A1, 55 Hz)
    under_filter: float = 1.2
    # a frame pitched in the low band no more than this over that level is background, dB
    # (the level of narrow-band noise swings about 6 dB over its mean from hop to hop)
    low_margin_db: float = 12.0


@dataclass(frozen=True, slots=True)
class FrontEndParams:
    """The front end's stages; ``remove_hum`` False measures hum but leaves it in."""

    highpass: HighpassParams = field(default_factory=HighpassParams)
    hum: HumParams = field(default_factory=HumParams)
    background: BackgroundParams = field(default_factory=BackgroundParams)
    remove_hum: bool = True


def butterworth_highpass(
    cutoff_hz: float, sample_rate: int, sections: int
) -> list[tuple[float, float, float, float, float]]:
    """Biquad coefficients (b0, b1, b2, a1, a2) of a Butterworth high-pass of order
    2 x ``sections`` at ``cutoff_hz`` (Hz, below half of ``sample_rate`` Hz): bilinear
    transform with the cutoff pre-warped, each section's Q from the Butterworth pole angles."""
    order = 2 * sections
    w0 = 2.0 * math.pi * cutoff_hz / sample_rate
    cos_w, sin_w = math.cos(w0), math.sin(w0)
    out = []
    for k in range(sections):
        q = 1.0 / (2.0 * math.cos(math.pi * (2 * k + 1) / (2 * order)))
        alpha = sin_w / (2.0 * q)
        a0 = 1.0 + alpha
        b0 = (1.0 + cos_w) / 2.0 / a0
        out.append((b0, -2.0 * b0, b0, -2.0 * cos_w / a0, (1.0 - alpha) / a0))
    return out


class Highpass:
    """A high-pass run in C by aubio, one biquad per section: Butterworth at ``cutoff_hz``
    (Hz) of order 2 x ``sections``, or with ``sections`` 0 a first-order DC blocker.
    sample_rate: Hz (8000..192000)."""

    def __init__(self, sample_rate: int, cutoff_hz: float, sections: int) -> None:
        self._filters = []
        if sections == 0:
            # y[n] = x[n] - x[n-1] + pole * y[n-1]
            pole = math.exp(-2.0 * math.pi * cutoff_hz / sample_rate)
            coeffs = [(1.0, -1.0, 0.0, -pole, 0.0)]
        else:
            coeffs = butterworth_highpass(cutoff_hz, sample_rate, sections)
        for b0, b1, b2, a1, a2 in coeffs:
            f = aubio.digital_filter(3)
            f.set_biquad(b0, b1, b2, a1, a2)
            self._filters.append(f)

    def process(self, hop: Samples) -> Samples:
        """Filter one hop (float32); returns a new array."""
        y = hop
        for f in self._filters:
            # aubio returns its own output buffer (float32), reused on the next call: copied
            # at the end.
            y = f(y)
        return y.copy()


@dataclass(frozen=True, slots=True)
class HumState:
    """What the detector knows. mains_hz: the measured mains frequency (Hz, e.g. 50.02) while
    hum is present, else None. level_db: the hum's level (dBFS RMS of its lines) while present,
    else None."""

    mains_hz: float | None
    level_db: float | None


class HumDetector:
    """Decides causally whether mains hum is present, and at what frequency.

    Feed every (high-passed) hop to :meth:`push`; every ``block_s`` it takes a spectrum of the
    last ``window_s`` and measures each mains harmonic's line: its level, how far it stands
    over the spectrum around it, and its exact frequency from the phase advance since the last
    spectrum. sample_rate: Hz.
    """

    def __init__(
        self,
        sample_rate: int,
        params: HumParams = HumParams(),
        background: BackgroundParams = BackgroundParams(),
        highpass: HighpassParams = HighpassParams(),
    ) -> None:
        self.params = params
        self.sample_rate = sample_rate
        n = 1 << max(10, round(math.log2(params.window_s * sample_rate)))
        self._n = n
        self._win = np.hanning(n).astype(np.float32)
        # Power of a full-scale sine's peak bin through this window (for dBFS).
        self._ref_power = (float(self._win.sum()) / 2.0) ** 2 / 2.0
        self._ring = np.zeros(n, dtype=np.float32)
        self._write = 0
        self._block = max(1, round(params.block_s * sample_rate))
        self._since = 0
        self._fed = 0
        self._last_fed = 0
        bin_hz = sample_rate / n
        self._bin_hz = bin_hz
        block_s = self._block / sample_rate
        keep = max(2, math.ceil(params.release_s / block_s))
        self._onset_blocks = max(2, math.ceil(params.onset_s / block_s))
        self._cands = [_Candidate(m, params, bin_hz, n, keep) for m in params.mains_hz]
        self._cands = [c for c in self._cands if c.k.size]
        self.state = HumState(None, None)
        self._active: _Candidate | None = None
        self._low_hz = (background.low_band_from_hz, background.low_band_hz)
        self._rumble_hz = (highpass.rumble_from_hz, highpass.rumble_to_hz)
        self._rumble: deque[float] = deque(maxlen=keep)
        # the same density higher up, to tell rumble from broadband noise (which has as much
        # under 30 Hz per hertz as anywhere)
        self._above_hz = highpass.above_band_hz
        self._above: deque[float] = deque(maxlen=keep)
        self._excess = 10.0 ** (highpass.rumble_excess_db / 10.0)
        self._rumble_db: float | None = None
        self._rumble_recent_db: float | None = None
        self._low_noise_db: float | None = None
        self._lines: frozenset[int] = frozenset()
        self._rumble_blocks = max(1, min(keep, math.ceil(highpass.rumble_onset_s / block_s)))
        self._low_band: deque[float] = deque(
            maxlen=max(1, math.ceil(background.low_floor_s / block_s))
        )
        # the bands of the full window's spectrum, worked out once
        self._bands = self._band_bins(n, self._win)
        # how many of the full window's bins any measurement reads (the lines, the spectrum
        # around them, the bands): the power of the bins above is never looked at
        self._spec_bins = 2 + max(
            [int(c.search.max()) for c in self._cands]
            + [int(c.near.max()) for c in self._cands if c.near.size]
            + [int(bins.max()) for bins, _, _ in self._bands if bins.size],
            default=0,
        )

    @property
    def lines(self) -> frozenset[int]:
        """The harmonic numbers of the hum's lines seen over the last ``release_s`` (empty
        without hum)."""
        return self._lines

    @property
    def decided(self) -> bool:
        """The detector has seen enough to tell hum from its absence."""
        return self._fed >= self._n + self._onset_blocks * self._block

    def push(self, hop: Samples) -> HumState:
        """Take one hop (float32); returns the state after it."""
        ring = self._ring
        n = ring.shape[0]
        h = hop.shape[0]
        w = self._write
        if h >= n:
            ring[:] = hop[-n:]
            w = 0
        elif w + h <= n:
            ring[w : w + h] = hop
            w = (w + h) % n
        else:
            first = n - w
            ring[w:] = hop[:first]
            ring[: h - first] = hop[first:]
            w = h - first
        self._write = w
        self._fed += h
        self._since += h
        if self._fed < self._n:
            # Until the window is full, a spectrum of its newer half measures the low bands
            # (rumble from the first fifth of a second on); hum needs the full window.
            if self._since >= self._block // 2 and 2 * self._fed >= self._n:
                self._since = 0
                self._measure_young()
        elif self._since >= self._block or self._last_fed == 0:
            self._since = 0
            self._measure()
        return self.state

    def _measure_young(self) -> None:
        m = 1 << int(math.log2(self._fed))
        w = self._write
        frame = np.concatenate((self._ring[w:], self._ring[:w]))[-m:]
        win = np.hanning(m).astype(np.float32)
        spec_c = np.fft.rfft(frame * win)
        spec = spec_c.real**2 + spec_c.imag**2
        self._band_levels(spec, self._band_bins(m, win))
        self._summarise()

    def _band_bins(
        self, m: int, win: npt.NDArray[np.float32]
    ) -> list[tuple[npt.NDArray[np.int64], float, deque[float]]]:
        """For a spectrum of ``m`` samples windowed by ``win``: each band's bins, the factor
        from a bin's power to mean square, and where the band's level goes."""
        bin_hz = self.sample_rate / m
        to_ms = 2.0 / (m * float(np.sum(win.astype(np.float64) ** 2)))
        out = []
        for (lo_hz, hi_hz), levels in (
            (self._low_hz, self._low_band),
            (self._rumble_hz, self._rumble),
            (self._above_hz, self._above),
        ):
            bins = np.arange(max(1, math.ceil(lo_hz / bin_hz)), int(hi_hz / bin_hz) + 1)
            out.append((bins, to_ms, levels))
        return out

    def _band_levels(
        self,
        spec: npt.NDArray[np.float64],
        bands: list[tuple[npt.NDArray[np.int64], float, deque[float]]],
    ) -> None:
        """The noise-like levels of the low band, the rumble band and the band above it from a
        spectrum, with ``bands`` from :meth:`_band_bins` for its length and window. Median,
        not sum: lines (a bass note's fundamental, hum) do not count, only the noise-like
        background the band holds."""
        for bins, to_ms, out in bands:
            out.append(_median(spec[bins]) * bins.size * to_ms if bins.size else 0.0)

    def _measure(self) -> None:
        p = self.params
        w = self._write
        frame = np.concatenate((self._ring[w:], self._ring[:w]))
        # float32 throughout: a float64 dot product of this length goes to a multithreaded
        # BLAS, 40 times slower on a busy machine
        window_db = 10.0 * math.log10(float(frame.dot(frame)) / frame.shape[0] + 1e-30)
        frame *= self._win
        spec_c = np.fft.rfft(frame)
        read = spec_c[: self._spec_bins]
        spec = read.real**2 + read.imag**2
        step = self._fed - self._last_fed
        self._last_fed = self._fed
        quietest_db = max(p.min_level_db, window_db - p.below_signal_db)
        # Once hum is found, only its own mains frequency is watched.
        for cand in self._cands if self._active is None else [self._active]:
            cand.measure(spec_c, spec, step, quietest_db, self._ref_power, p)
        self._decide()
        self._band_levels(spec, self._bands)
        self._summarise()

    @property
    def rumble_db(self) -> float | None:
        """The noise-like level under the lowest pitch (``HighpassParams.rumble_from_hz`` to
        ``rumble_to_hz``), dBFS mean square: the quietest over the last
        ``HighpassParams.rumble_onset_s`` (a low note's attack and the skirts of its
        fundamental reach that band for a moment; rumble stays), or of the spectra so far;
        None before the first."""
        return self._rumble_db

    @property
    def rumble_recent_db(self) -> float | None:
        """The loudest such level over the last ``HumParams.release_s``, dBFS mean square."""
        return self._rumble_recent_db

    @property
    def low_noise_db(self) -> float | None:
        """Noise-like background in the low band (``BackgroundParams``: rumble, handling
        noise, a fan's low end), dBFS mean square: the quietest of the last ``low_floor_s``
        seconds' spectra, None before the first spectrum."""
        return self._low_noise_db

    def _summarise(self) -> None:
        """Work out, once per spectrum, what the properties read on every hop or frame."""
        if self._rumble:
            recent = list(self._rumble)[-self._rumble_blocks :]
            above = list(self._above)[-self._rumble_blocks :]
            (lo, hi), (alo, ahi) = self._rumble_hz, self._above_hz
            ratio = self._excess * (hi - lo) / (ahi - alo)
            # per hertz, the band must hold rumble_excess_db more than the band above it
            low = [r if r >= ratio * a else 0.0 for r, a in zip(recent, above, strict=True)]
            self._rumble_db = _db(min(low))
            self._rumble_recent_db = _db(max(self._rumble))
        if self._low_band:
            self._low_noise_db = _db(min(self._low_band))
        if self._active is None:
            self._lines = frozenset()
        else:
            seen = ~np.isnan(np.array(list(self._active.history)))
            self._lines = frozenset(int(k) for k in self._active.k[_ANY(seen, axis=0)])

    def _decide(self) -> None:
        if self._active is None:
            for cand in self._cands:
                p = self.params
                lines = cand.steady_lines(self._onset_blocks, p.steady_db, p.agree_hz)
                # A note's partials lie at multiples of its own pitch: never at 50/60 Hz (no
                # note Etude tracks is that low) nor at two neighbouring low harmonics of it.
                # (High up, a low note's partials lie close together: a cello's C2 has its
                # 10th and 11th within 3 Hz of 660 and 720 Hz.)
                low = [k for k in lines if k <= p.adjacent_max]
                if 1 in lines or any(k + 1 in low for k in low):
                    self._active = cand
                    for other in self._cands:
                        if other is not cand:
                            other.forget()  # unwatched while hum lasts: no stale evidence
                    break
        elif self._active.gone():
            self._active = None
        active = self._active
        if active is None:
            self.state = HumState(None, None)
            return
        recent = list(active.freqs)[-FREQ_BLOCKS:]
        mains_hz = _median(np.asarray(recent)) if recent else active.mains_hz
        # The hum's level: its lines' summed power, the lowest of the last ``release_s``. A
        # note's partial next to a line lifts that line; the hum itself holds steady.
        levels = [p for p in active.power if p is not None]
        level = _db(min(levels)) if levels else -100.0
        self.state = HumState(mains_hz, level)


class _Candidate:
    """One mains frequency's harmonics: where to look in the spectrum, and what was seen."""

    def __init__(self, mains_hz: float, p: HumParams, bin_hz: float, n: int, keep: int) -> None:
        self.mains_hz = mains_hz
        top = n // 2 - 2
        ks = [
            k
            for k in range(1, p.harmonics + 1)
            if round((k * (mains_hz + p.tolerance_hz) + 20.0) / bin_hz) < top
        ]
        self.k = np.array(ks, dtype=np.int64)
        self.rows = np.arange(len(ks))
        f = self.k * mains_hz
        self.lo = np.maximum(1, np.round((f - p.tolerance_hz * self.k) / bin_hz).astype(np.int64))
        self.hi = np.round((f + p.tolerance_hz * self.k) / bin_hz).astype(np.int64)
        width = int((self.hi - self.lo).max()) + 1 if ks else 1
        self.search = np.minimum(self.lo[:, None] + np.arange(width)[None, :], self.hi[:, None])
        near_lo = [
            np.arange(max(1, round((fk - 20.0) / bin_hz)), round((fk - 6.0) / bin_hz)) for fk in f
        ]
        near_hi = [np.arange(round((fk + 6.0) / bin_hz), round((fk + 20.0) / bin_hz)) for fk in f]
        m = min(a.size + b.size for a, b in zip(near_lo, near_hi, strict=True)) if ks else 1
        self.near = np.array(
            [np.concatenate((a, b))[:m] for a, b in zip(near_lo, near_hi, strict=True)],
            dtype=np.int64,
        ).reshape(len(ks), m)
        self.f = f
        self.tol = p.tolerance_hz * self.k
        self.bin_hz = bin_hz
        self.n = n
        self.line_ratio = 10.0 ** (p.line_db / 10.0)
        self.last_bins = np.full(len(ks), -1, dtype=np.int64)
        self.last_x = np.zeros(len(ks), dtype=np.complex128)
        self.history: deque[npt.NDArray[np.float64]] = deque(maxlen=keep)
        # each line's frequency divided by its harmonic number, Hz, per block (nan: not seen)
        self.mains_by_line: deque[npt.NDArray[np.float64]] = deque(maxlen=keep)
        self.freqs: deque[float] = deque(maxlen=keep)
        # the summed power of the lines seen in each block of ``history`` (None: none seen)
        self.power: deque[float | None] = deque(maxlen=keep)
        # each line's usual level (dBFS), a running average of the levels it was seen at
        self.usual_db = np.full(len(ks), np.nan)
        # a line per harmonic, none seen (copied for each spectrum: np.full costs more)
        self.unseen = np.full(len(ks), np.nan)

    def measure(
        self,
        spec_c: npt.NDArray[np.complex128],
        spec: npt.NDArray[np.float64],
        step: int,
        quietest_db: float,
        ref_power: float,
        p: HumParams,
    ) -> None:
        cols = spec[self.search].argmax(axis=1)
        b = self.search[self.rows, cols]
        peak = spec[b]
        # a peak on the edge of the search range that keeps rising beyond it is something
        # else's (a partial next to the harmonic)
        rising = ((b == self.lo) & (spec[b - 1] > peak)) | ((b == self.hi) & (spec[b + 1] > peak))
        mid = self.near.shape[1] // 2
        near = spec[self.near]  # a copy, partitioned in place
        near.partition(mid, axis=1)
        floor = near[:, mid]  # the median, cheaper
        level_db = 10.0 * np.log10(peak / ref_power + 1e-30)
        ok = ~rising & (level_db >= quietest_db) & (peak >= floor * self.line_ratio)
        x = spec_c[b]
        levels = self.unseen.copy()
        per_line = self.unseen.copy()
        same = ok & (b == self.last_bins) & (step > 0)
        power: float | None = None
        if _ANY(same):
            # The phase advance over ``step`` samples gives the line's frequency far more
            # precisely than the bin (the remover needs it within 0.01 Hz); a line that is
            # not one steady sinusoid (a gliding partial, noise) fails here.
            expected = 2.0 * np.pi * b[same] * step / self.n
            dphi = np.angle(x[same] / self.last_x[same]) - expected
            dphi = (dphi + np.pi) % (2.0 * np.pi) - np.pi
            f_line = (b[same] + dphi * self.n / (2.0 * np.pi * step)) * self.bin_hz
            good = np.abs(f_line - self.f[same]) <= self.tol[same]
            idx = np.flatnonzero(same)[good]
            levels[idx] = level_db[idx]
            if idx.size:
                power = float(np.sum(10.0 ** (levels[idx] / 10.0))) / 2.0
            per_line[idx] = f_line[good] / self.k[idx]
            # Only lines at their usual level measure the mains frequency: a partial of a note
            # next to a harmonic lifts that line and pulls its phase.
            usual = np.abs(level_db[idx] - self.usual_db[idx]) <= STEADY_FREQ_DB
            if _ANY(usual):
                self.freqs.append(_median(f_line[good][usual] / self.k[idx][usual]))
            self.usual_db[idx] = np.where(
                np.isnan(self.usual_db[idx]),
                level_db[idx],
                self.usual_db[idx] + 0.2 * (level_db[idx] - self.usual_db[idx]),
            )
        self.last_bins = np.where(ok, b, -1)
        self.last_x = x
        self.history.append(levels)
        self.mains_by_line.append(per_line)
        self.power.append(power)

    def steady_lines(self, blocks: int, steady_db: float, agree_hz: float) -> list[int]:
        """Harmonic numbers whose line stood out in each of the last ``blocks`` blocks with a
        level steady within ``steady_db``, all of one mains frequency within ``agree_hz``."""
        if len(self.history) < blocks:
            return []
        arr = np.array(list(self.history)[-blocks:])
        ok = ~_ANY(np.isnan(arr), axis=0)
        if not _ANY(ok):
            return []
        spread = arr[:, ok].max(axis=0) - arr[:, ok].min(axis=0)
        keep = np.flatnonzero(ok)[spread <= steady_db]
        if keep.size == 0:
            return []
        mains = _median_columns(np.array(list(self.mains_by_line)[-blocks:])[:, keep])
        agree = np.abs(mains - _median(mains)) <= agree_hz
        return [int(k) for k in self.k[keep[agree]]]

    def forget(self) -> None:
        """Drop everything seen so far."""
        self.history.clear()
        self.mains_by_line.clear()
        self.power.clear()
        self.freqs.clear()
        self.last_bins[:] = -1

    def gone(self) -> bool:
        """No line of it seen for the whole history kept (``release_s``)."""
        p = self.power
        return len(p) == p.maxlen and all(x is None for x in p)


class HumRemover:
    """Subtracts the part of the signal that repeats every mains period.

    The hum's waveform is learnt as an exponential average over periods (each sample averaged
    with the one a period earlier, weight ``1 - decay`` for the new one) and subtracted one
    period later. The first periods are plain averages, so it settles within about
    ``1 / (1 - decay)`` periods. Periods need not be whole samples (linear interpolation).
    sample_rate: Hz.
    """

    def __init__(self, sample_rate: int, params: HumParams = HumParams()) -> None:
        self.sample_rate = sample_rate
        self.params = params
        self._period = 0.0
        self._decay = 0.0
        self._hist = np.zeros(0, dtype=np.float64)
        self._w = 0
        self._periods_seen = 0.0
        self._periods_run = 0.0

    @property
    def settled(self) -> bool:
        """The remover has run for ``1 / (1 - decay)`` periods since it started, the time its
        waveform takes to settle on a hum heard alone."""
        return self._decay > 0.0 and self._periods_run >= 1.0 / (1.0 - self._decay)

    def reset(self) -> None:
        """Forget the learnt waveform (the hum has gone)."""
        self._hist[:] = 0.0
        self._periods_seen = 0.0
        self._periods_run = 0.0

    def process(self, hop: Samples, mains_hz: float, learn: float = 1.0) -> Samples:
        """Remove hum at ``mains_hz`` (Hz) from one hop (float32); returns a new array.

        learn: whether this hop may update the learnt waveform. The front end lets it learn
        only while nobody plays (the level is the hum's own): a note averaged into the
        waveform would come back, subtracted, as a faint echo of itself.
        """
        period = self.sample_rate / mains_hz
        if period != self._period:
            self._period = period
            self._decay = 1.0 - math.pi * self.params.notch_bw_hz / mains_hz
            keep = math.ceil(period) + 2
            if self._hist.shape[0] < 4 * keep + 2 * hop.shape[0]:
                grown = np.zeros(4 * keep + 2 * hop.shape[0])
                if self._w:
                    tail = self._hist[max(0, self._w - keep) : self._w]
                    grown[keep - tail.shape[0] : keep] = tail
                self._hist = grown
                self._w = keep
        hist = self._hist
        keep = math.ceil(period) + 2
        out = np.empty(hop.shape[0], dtype=np.float32)
        chunk = max(1, math.floor(period) - 1)
        for a in range(0, hop.shape[0], chunk):
            xc = hop[a : a + chunk].astype(np.float64)
            n = xc.shape[0]
            if self._w + n > hist.shape[0]:
                hist[:keep] = hist[self._w - keep : self._w]
                self._w = keep
            w = self._w
            base = w - period
            i0 = math.floor(base)
            frac = base - i0
            prev = hist[i0 : i0 + n] * (1.0 - frac)
            prev += hist[i0 + 1 : i0 + 1 + n] * frac
            xc -= prev
            out[a : a + n] = xc
            # plain averages over the first periods, then the exponential average
            wt = learn * max(1.0 - self._decay, 1.0 / (1.0 + self._periods_seen))
            self._periods_seen += learn * n / period
            self._periods_run += n / period
            xc *= wt
            xc += prev
            hist[w : w + n] = xc
            self._w = w + n
        return out


class FrontEnd:
    """The whole front end for one stream: high-pass, hum detection, hum removal, and the
    rule that a pitch the hum itself makes is background, not a note.

    sample_rate: Hz (8000..192000), the rate the analysis runs at. hop_samples: the hop fed to
    :meth:`process`. centre_hops: how many hops back the pitch window's centre (a frame's time)
    lies (4 for a 2048-sample window and 256-sample hops).
    """

    def __init__(
        self,
        sample_rate: int,
        hop_samples: int = 256,
        centre_hops: int = 4,
        params: FrontEndParams = FrontEndParams(),
    ) -> None:
        self.params = params
        self.sample_rate = sample_rate
        hp = params.highpass
        self._dc = Highpass(sample_rate, hp.dc_hz, 0)
        self._highpass = Highpass(sample_rate, hp.cutoff_hz, hp.sections)
        self._hum = HumDetector(sample_rate, params.hum, params.background, hp)
        self._rumble = False
        self._fade = 0
        self._remover = HumRemover(sample_rate, params.hum)
        self._removing = False
        # hop energies (mean square, after the high-pass, before hum removal), newest last
        period_hops = math.ceil(sample_rate / min(params.hum.mains_hz) / hop_samples)
        self._period_hops = period_hops
        self._centre_hops = centre_hops
        self._energies: deque[float] = deque(
            [0.0] * (centre_hops + period_hops + 1), maxlen=centre_hops + period_hops + 1
        )
        # the same after hum removal: what is left besides the hum
        self._left: deque[float] = deque([0.0] * (2 * centre_hops + 1), maxlen=2 * centre_hops + 1)
        self._hop_samples = hop_samples
        self._fed = 0

    @property
    def hum(self) -> HumState:
        """The hum detector's current state."""
        return self._hum.state

    def process(self, hop: Samples) -> Samples:
        """Condition one hop (float32 mono, -1..1); returns a new float32 array as long."""
        x = self._dc.process(hop)
        state = self._hum.push(x)
        y = self._filter_rumble(x)
        self._fed += y.shape[0]
        energy = float(y.dot(y)) / y.shape[0]
        self._energies.append(energy)
        if state.mains_hz is not None and state.level_db is not None and self.params.remove_hum:
            self._removing = True
            recent = list(self._energies)[-self._period_hops :]
            level_db = _db(sum(recent) / len(recent))
            # The waveform learns in proportion to the hum's share of the sound: fully while
            # nobody plays, hardly at all under a loud note (whose waveform would otherwise
            # come back, subtracted, as a faint echo of it).
            share = min(1.0, 10.0 ** ((state.level_db - level_db) / 10.0))
            y = self._remover.process(y, state.mains_hz, share)
            energy = float(y.dot(y)) / y.shape[0]
        elif self._removing:
            self._removing = False
            self._remover.reset()
        self._left.append(energy)
        return y

    def _filter_rumble(self, x: Samples) -> Samples:
        """The rumble filter, faded in over ``fade_hops`` while there is rumble and out once
        it has gone; clean input passes unchanged (and costs nothing)."""
        hp = self.params.highpass
        now, recent = self._hum.rumble_db, self._hum.rumble_recent_db
        if now is not None and now >= hp.rumble_db:
            self._rumble = True
        elif recent is not None and recent < hp.rumble_db - hp.rumble_release_db:
            self._rumble = False
        # the fade moves one hop towards full while there is rumble, towards none after
        if self._rumble:
            step = 1
            if self._fade < hp.fade_hops:
                self._fade += 1
        elif self._fade > 0:
            step = -1
            self._fade -= 1
        else:
            return x
        if self._fade == 0:
            return x
        filtered = self._highpass.process(x)
        if self._fade == hp.fade_hops:
            return filtered
        g = np.linspace(self._fade - step, self._fade, x.shape[0], dtype=np.float32) / hp.fade_hops
        return (x + g * (filtered - x)).astype(np.float32)

    @property
    def low_background(self) -> bool:
        """Rumble or hum is present, or the stream is too young to tell (its first fifth of a
        second): sound well below most pitches that the pitch measure must look past
        (``FrameAnalyzer.remove_low``)."""
        return self._rumble or self._hum.state.mains_hz is not None or self._hum.rumble_db is None

    @property
    def rumble(self) -> bool:
        """Rumble is present (and being filtered): the noise-like level under the lowest pitch
        has reached ``HighpassParams.rumble_db``."""
        return self._rumble

    def is_background_pitch(self, f0_hz: float) -> bool:
        """Whether a pitch (Hz) measured at the newest frame is the background's, not a note.

        While hum is present: ``f0_hz`` lies within ``hum_pitch_cents`` of 1-4 times the mains
        frequency and either, the hum removed, the level left at the frame's time is
        ``hum_residual_db`` or more under the hum's (a note played there, even one no louder
        than the hum, leaves its own partials), or the level with the hum is at most
        ``hum_louder_db`` over the hum's (nothing else sounds; then, while the remover is still
        learning the hum, at any pitch: what is left reads as any pitch). The first rule also
        holds at any harmonic the detector sees as one of the hum's lines (a buzz reaches the
        11th; the second is kept to 1-4 times, where a quiet note is seldom tuned). Before the
        detector has had time to decide (``HumParams.onset_s`` after its first spectrum), any
        pitch that close to 1-4 times 50 or 60 Hz, or within ``startup_mains_cents`` of 50 or
        60 Hz: such a line heard from the start is far more often hum than a note.

        While rumble is filtered, below ``under_filter`` times the filter's cutoff. Below
        ``low_band_hz``: when the level around the frame's time is at most
        ``low_margin_db`` over the noise-like background measured in the low band, and always
        before the first spectrum (the first ``HumParams.window_s``).
        """
        b = self.params.background
        if self._rumble and f0_hz < b.under_filter * self.params.highpass.cutoff_hz:
            return True
        if f0_hz < b.low_band_hz:
            noise_db = self._hum.low_noise_db
            if noise_db is None:
                return True
            around = list(self._left)
            if _db(sum(around) / len(around)) <= noise_db + b.low_margin_db:
                return True
        state = self._hum.state
        if state.mains_hz is not None and state.level_db is not None:
            # mean squares over about one mains period around the frame's time
            c = self._centre_hops
            half = self._period_hops // 2
            energies = list(self._energies)
            end = max(1, len(energies) - c + half)
            total = energies[max(0, end - self._period_hops) : end]
            only_hum = _db(sum(total) / len(total)) <= state.level_db + b.hum_louder_db
            if only_hum and not self._remover.settled:
                # what is left of a hum still being learnt reads as any pitch (once learnt,
                # a decaying note as quiet as the hum is still a note)
                return True
            if only_hum and _near_multiple(f0_hz, state.mains_hz, b.hum_pitch_cents):
                return True
            return (
                _near_multiple(f0_hz, state.mains_hz, b.hum_pitch_cents, self._hum.lines)
                and _db(self._left[-1 - c]) <= state.level_db - b.hum_residual_db
            )
        if self._hum.decided:
            return False
        return any(
            _near_multiple(f0_hz, m, b.hum_pitch_cents)
            or abs(1200.0 * math.log2(f0_hz / m)) <= b.startup_mains_cents
            for m in self.params.hum.mains_hz
        )


def _near_multiple(
    f0_hz: float, mains_hz: float, cents: float, also: frozenset[int] = frozenset()
) -> bool:
    """``f0_hz`` lies within ``cents`` of 1-4 times ``mains_hz`` or of a multiple in ``also``."""
    m = round(f0_hz / mains_hz)
    return (1 <= m <= 4 or m in also) and abs(1200.0 * math.log2(f0_hz / (m * mains_hz))) <= cents


def _median(values: npt.NDArray[np.float64]) -> float:
    """The median of a non-empty array, as np.median gives it, for a tenth of its cost on
    short arrays."""
    n = values.shape[0]
    mid = n // 2
    part = values.copy()  # what np.partition does, without its Python wrapper
    if n % 2:
        part.partition(mid)
        return float(part[mid])
    part.partition([mid - 1, mid])
    return 0.5 * (float(part[mid - 1]) + float(part[mid]))


def _median_columns(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each column's median of a 2-D array without NaNs, as np.median(values, axis=0) gives
    it, without its overhead (and without the one-off import of numpy.ma it makes, a 0.15 s
    stall of the analysis the first time hum lines show)."""
    rows = values.shape[0]
    mid = rows // 2
    part: npt.NDArray[np.float64]
    out: npt.NDArray[np.float64]
    if rows % 2:
        part = np.partition(values, mid, axis=0)
        out = part[mid]
    else:
        part = np.partition(values, [mid - 1, mid], axis=0)
        out = (part[mid - 1] + part[mid]) / 2.0
    return out


def _db(mean_square: float) -> float:
    return 10.0 * math.log10(mean_square) if mean_square > 1e-12 else -120.0
