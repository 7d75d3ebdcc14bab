"""Per-hop measurements: fundamental frequency, voicing, level and onset detection.

Pitch comes from aubio's ``yinfft``. aubio reports a confidence of 0 for ``yinfft`` on every
frame, so voicing is decided here from measurements this module makes itself:

* **periodicity** (reported as the frame's ``confidence``): the normalised autocorrelation of
  the window at the period yinfft found, refined to the best lag within ±4 samples and
  interpolated (1.0 = perfectly periodic, about 0 for noise). The correlation is taken on the
  window smoothed by a moving average one third of a period long, so the lowest partials set
  the period (stretched upper partials of piano strings would read 15-30 cents sharp). The
  refined period replaces yinfft's, removing its few cents of bias. A frame needs
  periodicity >= ``PERIODICITY_MIN`` (0.6).
* **level**: the RMS of the newest hop in dBFS (what a level meter shows). Voicing needs the
  RMS of the hop that starts at the window's centre (the frame's time) to reach
  ``LEVEL_MIN_DB`` (-70 dBFS), so a note that just stopped stays voiced until its end; yinfft
  reports nothing for a silent newest hop, and then the previous frame's period is the
  candidate.
* **filled window**: the older half of the window must hold at least 1 % of the newer half's
  energy (``FILL_RATIO``); otherwise the sound starts after the frame's time.
* **subharmonics**: on a note's first frame, and whenever the period jumps up 1.8-fold, a
  period 2-5 times shorter that correlates at least 90 % as well replaces yinfft's (it locks
  onto a common period when two notes overlap).
* **rumble under the pitch**: while the front end measures rumble or hum,
  the correlation is taken with what lies well below the pitch taken out (``_remove_low``),
  and a frame needs periodicity >= ``LOWCUT_PERIODICITY_MIN`` (0.7): handling thumps and
  what is left of the hum correlated at 0.6-0.66.
* **weak fundamentals**: when yinfft's period correlates at only 0.3-0.8, a period two or three
  times longer that correlates at least 0.25 better, and at 0.85 or more, replaces it
  (yinfft's ear-like weighting reads a low note with a weak fundamental, such as a cello's
  open C, as a higher partial).

The window a pitch estimate describes ends at the newest sample, so its centre lies
``buf_samples / 2`` samples in the past: that is the analysis delay subtracted from frame times.
Onsets come from aubio's ``hfc`` detector (512-sample window, -55 dB silence gate, 50 ms minimum
gap); its reports are moved back by its measured detection delay.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aubio
import numpy as np
import numpy.typing as npt


def _find_correlate() -> Callable[..., npt.NDArray[np.float64]]:
    """What np.correlate calls (numpy >= 2), without its Python wrapper, which costs a tenth
    of a hop's correlation: the same C function, the same sums. numpy 1.x: np.correlate."""
    try:
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x
        return np.correlate
    found: Callable[..., npt.NDArray[np.float64]] = getattr(multiarray, "correlate2", np.correlate)
    return found


_correlate_c = _find_correlate()

PERIODICITY_MIN = 0.6
LEVEL_MIN_DB = -70.0
SILENCE_DB = -120.0
F0_MIN_HZ = 50.0
F0_MAX_HZ = 2100.0
ONSET_BUF_SAMPLES = 512
MIN_CORR_SAMPLES = 1024
SLACK_HOPS = 32
FILL_RATIO = 0.01
SUBHARMONIC_KEEP = 0.9
SUBHARMONIC_JUMP = 1.8
SEARCH_SAMPLES = 4
SEARCH_SHARE = 0.025
WIDE_STEPS = 6
LONG_PERIOD_SHARE = 1 / 6
SUPERPERIOD_FLOOR = 0.3
SUPERPERIOD_CHECK = 0.8
SUPERPERIOD_GAIN = 0.25
SUPERPERIOD_MIN = 0.85
LOWCUT_SHARE = 0.01
LOWCUT_PERIODICITY_MIN = 0.7


@dataclass(slots=True)
class FrameMeasure:
    """What one hop measured (not frozen: a frozen dataclass costs twice as much to build, and
    this one is made every hop and read only by the analyzer).

    f0_hz: refined fundamental in Hz (0.0 when unvoiced), 50..2100 Hz when voiced.
    periodicity: 0..1 (normalised autocorrelation at the period). level_db: hop RMS in dBFS,
    -120..0. voiced: periodicity and level passed their thresholds. onset: aubio fired an onset
    in this hop; onset_t_s: its time in seconds from the stream start (None without an onset).
    """

    f0_hz: float
    periodicity: float
    level_db: float
    voiced: bool
    onset: bool
    onset_t_s: float | None


class PitchMeasurer(Protocol):
    """What the analyzer needs of a pitch measurer: one :class:`FrameMeasure` per hop.

    :class:`FrameAnalyzer` (aubio yinfft refined by autocorrelation, aubio hfc onsets) is the
    one Etude uses; another tracker can be tried by passing a factory with the same signature
    as ``FrameAnalyzer(sample_rate, hop_samples, buf_samples)`` to ``StreamAnalyzer``.
    """

    remove_low: bool
    """Set by the analyzer while the front end measures a low background (hum, rumble)."""

    @property
    def delay_s(self) -> float:
        """Seconds between a window's newest sample and the time its frame describes."""
        ...

    @property
    def samples_fed(self) -> int:
        """Samples analysed since the start of the stream."""
        ...

    def process(self, hop: npt.NDArray[np.float32]) -> FrameMeasure:
        """Measure one hop (float32 mono, ``hop_samples`` long, values in -1..1)."""
        ...


def hz_to_midi(f0_hz: float, a4_hz: float = 440.0) -> float:
    """Fractional MIDI pitch (69.0 = A4) of a frequency in Hz (> 0) for the given A4 in Hz."""
    return 69.0 + 12.0 * math.log2(f0_hz / a4_hz)


class FrameAnalyzer:
    """Runs aubio pitch (yinfft) and onset (hfc) detection on consecutive hops.

    sample_rate: Hz (8000..192000). hop_samples: 32..256. buf_samples: pitch window, a power of
    two >= 2 * hop_samples (2048 at 44.1/48 kHz reaches down to about 50 Hz).
    """

    def __init__(self, sample_rate: int, hop_samples: int = 256, buf_samples: int = 2048) -> None:
        if not 8000 <= sample_rate <= 192000:
            raise ValueError(f"sample rate {sample_rate} Hz is outside 8000..192000 Hz")
        if not 32 <= hop_samples <= 256:
            raise ValueError(f"hop of {hop_samples} samples is outside 32..256")
        if buf_samples < 2 * hop_samples:
            raise ValueError(f"window of {buf_samples} samples is shorter than two hops")
        self.sample_rate = sample_rate
        self.hop_samples = hop_samples
        self.buf_samples = buf_samples
        self._pitch = aubio.pitch("yinfft", buf_samples, hop_samples, sample_rate)
        self._pitch.set_unit("Hz")
        # aubio's own silence gate would hide quiet tails from the level measure; voicing is
        # decided here instead.
        self._pitch.set_silence(-90.0)
        onset_buf = max(ONSET_BUF_SAMPLES, 2 * hop_samples)
        self._onset = aubio.onset("hfc", onset_buf, hop_samples, sample_rate)
        self._onset.set_silence(-55.0)
        self._onset.set_minioi_ms(50.0)
        # aubio reports an onset about two hops after the attack (its peak picker needs the next
        # frame); measured on synthetic attacks, the attack lies 2 hops + half a window back.
        self._onset_delay_samples = 2 * hop_samples + onset_buf // 2
        # Samples and their running sum live in a longer buffer that is compacted only every
        # ``SLACK_HOPS`` hops, so a hop costs no shifting of the whole window.
        size = buf_samples + SLACK_HOPS * hop_samples
        self._store = np.zeros(size, dtype=np.float32)
        self._csum_store = np.zeros(size, dtype=np.float64)
        # The hop widened to float64 before its running sum: ``np.add.accumulate`` on a float64
        # array skips the casting machinery (and ``np.cumsum``'s Python wrapper), same sums.
        self._hop64 = np.zeros(hop_samples, dtype=np.float64)
        self._pos = buf_samples
        # Where each hop goes, for each place a hop can take in the store between two
        # compactions: its slice of the samples, of the running sum, and the running sum just
        # before it (one element, added to the hop's own sum without making a numpy scalar).
        self._slots = [
            (
                self._store[p : p + hop_samples],
                self._csum_store[p : p + hop_samples],
                self._csum_store[p - 1 : p],
            )
            for p in range(buf_samples, size - hop_samples + 1, hop_samples)
        ]
        # The moving-averaged window of ``_correlate``, written in place (no array per hop).
        self._smooth = np.zeros(buf_samples, dtype=np.float64)
        self._lowcut = np.zeros(buf_samples, dtype=np.float64)
        # Set by the analyzer while the front end measures rumble or hum.
        self.remove_low = False
        self._prev_lag = 0.0
        self._samples_fed = 0
        # Mean squares of the last hops, newest last. When half the window is a whole number
        # of hops, the hop that starts at the window's centre (the level gate's) is one of
        # them, and its energy is read here instead of computed again.
        half = buf_samples // 2
        self._centre_aligned = half % hop_samples == 0
        back = half // hop_samples - 1
        self._hop_energies: deque[float] = deque([0.0] * back, maxlen=back + 1)
        self._min_lag = max(2, int(sample_rate / F0_MAX_HZ))
        self._max_lag = min(buf_samples // 2, int(sample_rate / F0_MIN_HZ) + 1)

    @property
    def delay_s(self) -> float:
        """Seconds between a pitch window's newest sample and its centre."""
        return self.buf_samples / 2 / self.sample_rate

    @property
    def samples_fed(self) -> int:
        """Samples analysed since the start of the stream."""
        return self._samples_fed

    def process(self, hop: npt.NDArray[np.float32]) -> FrameMeasure:
        """Measure one hop (float32 mono, exactly ``hop_samples`` long, values in -1..1)."""
        h = self.hop_samples
        n = self.buf_samples
        pos = self._pos
        if pos + h > self._store.shape[0]:
            store, cstore = self._store, self._csum_store
            store[:n] = store[pos - n : pos]
            cstore[:n] = cstore[pos - n : pos] - cstore[pos - n]
            pos = n
        store_hop, csum_hop, csum_before = self._slots[(pos - n) // h]
        store_hop[:] = hop
        hop64 = self._hop64
        hop64[:] = hop
        np.add.accumulate(hop64, out=csum_hop)
        np.add(csum_hop, csum_before, out=csum_hop)
        pos += h
        self._pos = pos
        self._samples_fed += h

        energy = float(hop.dot(hop)) / h
        level_db = 10.0 * math.log10(energy) if energy > 1e-12 else SILENCE_DB
        energies = self._hop_energies
        energies.append(energy)

        f0 = float(self._pitch(hop)[0])
        is_onset = bool(self._onset(hop)[0])
        onset_t: float | None = None
        if is_onset:
            onset_t = max(0.0, (self._samples_fed - self._onset_delay_samples) / self.sample_rate)

        periodicity = 0.0
        refined = 0.0
        # Voicing describes the window's centre (the frame's time), so the level gate reads the
        # hop that starts there, not only the newest hop: a note that has just stopped still
        # sounds at the centre for half a window.
        if self._centre_aligned:
            centre_energy = energies[0]
        else:
            middle = self._store[pos - n // 2 : pos - n // 2 + h]
            centre_energy = float(middle.dot(middle)) / h
        centre_db = 10.0 * math.log10(centre_energy) if centre_energy > 1e-12 else SILENCE_DB
        if f0 <= 0.0 and self._prev_lag > 0.0:
            # yinfft reports nothing when the newest hop is silent; the period heard so far is
            # the candidate while the window's centre still sounds.
            f0 = self.sample_rate / self._prev_lag
        # While a note sounds the window is full: the check matters only where voicing starts.
        if f0 > 0.0 and centre_db >= LEVEL_MIN_DB and (self._prev_lag > 0.0 or self._filled()):
            lag = self.sample_rate / f0
            if self._min_lag <= lag <= self._max_lag:
                if self._prev_lag == 0.0 or lag >= SUBHARMONIC_JUMP * self._prev_lag:
                    lag = self._undo_subharmonic(lag)
                periodicity, refined = self._correlate(lag)
                if SUPERPERIOD_FLOOR <= periodicity < SUPERPERIOD_CHECK:
                    periodicity, refined = self._redo_superperiod(lag, periodicity, refined)
        # Over rumble or hum a noisy frame correlates by chance more often: it must be clearer.
        floor = LOWCUT_PERIODICITY_MIN if self.remove_low else PERIODICITY_MIN
        voiced = periodicity >= floor and centre_db >= LEVEL_MIN_DB and refined > 0.0
        self._prev_lag = self.sample_rate / refined if voiced else 0.0
        return FrameMeasure(
            refined if voiced else 0.0, periodicity, level_db, voiced, is_onset, onset_t
        )

    def _window(self) -> npt.NDArray[np.float32]:
        """The pitch window: the newest ``buf_samples`` samples."""
        return self._store[self._pos - self.buf_samples : self._pos]

    def _filled(self) -> bool:
        """A window whose older half is (nearly) silent describes a sound that starts after
        the frame's time: its pitch belongs to later frames."""
        win = self._window()
        half = self.buf_samples // 2
        older = win[:half]
        newer = win[half:]
        return float(older.dot(older)) >= FILL_RATIO * float(newer.dot(newer))

    def _undo_subharmonic(self, lag: float) -> float:
        """Correct yinfft locking onto two or three times the true period.

        That happens where notes overlap or voices beat (an octave or a twelfth too low). A
        signal periodic at the true period correlates there as well as at the multiple, so
        the shorter period wins when it correlates nearly as well. Checked only on a note's
        first frame and when the period jumps up by 1.8x or more, which keeps it cheap.
        """
        need: float | None = None  # what a shorter period must reach, once one is tried
        for k in (5, 4, 3, 2):
            sub = lag / k
            if sub < self._min_lag + 1:
                continue
            if need is None:
                need = max(SUBHARMONIC_KEEP * self._raw_corr(round(lag)), PERIODICITY_MIN)
            if self._raw_corr(round(sub)) >= need:
                return sub
        return lag

    def _redo_superperiod(
        self, lag: float, periodicity: float, refined: float
    ) -> tuple[float, float]:
        """Correct yinfft locking onto a partial of a note whose fundamental is weak.

        yinfft weights its spectrum like the ear, which all but removes the fundamental of a
        low note: a cello's open C (65 Hz) came out as its third partial (G3) with a periodicity
        of 0.5-0.7, while the signal correlated at 0.99 over the true period. A period two or
        three times longer that correlates clearly better (by ``SUPERPERIOD_GAIN``) and well
        (``SUPERPERIOD_MIN``) replaces yinfft's; a note that truly has the short period
        correlates as well at its multiples, so it keeps its own. (A choir ensemble with reverb
        correlated at 0.67-0.91 at twice its period; without the minimum it read an octave
        low.) Returns (periodicity, f0 in Hz) like :meth:`_correlate`.
        """
        need = max(periodicity + SUPERPERIOD_GAIN, SUPERPERIOD_MIN)
        if need > 1.0:
            # no periodicity can reach it (_correlate's is at most 1): nothing to try
            return periodicity, refined
        for k in (2, 3):
            if k * lag > self._max_lag:
                break
            per, f0 = self._correlate(k * lag)
            if per >= need:
                return per, f0
        return periodicity, refined

    def _remove_low(
        self,
        csum: npt.NDArray[np.float64],
        a: int,
        span: int,
        t0: int,
        need: int,
        sig: npt.NDArray[np.float64],
    ) -> None:
        """Take what lies well below a pitch of period ``t0`` samples out of ``sig`` (the
        smoothed stretch starting ``a`` samples into the window), in place.

        Rumble left over by the front end's high-pass is narrow-band noise around 50 Hz that
        correlates well at any short lag: noise over it looked periodic at a few hundred Hz
        (0.66 where 0.6 voices a frame), and notes under it did not. The average over one
        period around each sample holds none of the note's partials but what lies well below
        them. Only while the front end measures such a background (``remove_low``), because
        below a partial's pitch there may also be the note's own weak fundamental, and only
        when it holds ``LOWCUT_SHARE`` of the energy or more and the window has room for it
        (periods up to about a sixth of the window).
        """
        d = (span - t0) // 2
        if a + d < 0 or a + d + t0 + need > csum.shape[0]:
            return
        low = self._lowcut[:need]
        np.subtract(csum[a + d + t0 : a + d + t0 + need], csum[a + d : a + d + need], out=low)
        low *= span / t0
        if float(low.dot(low)) >= LOWCUT_SHARE * float(sig.dot(sig)):
            sig -= low

    def _raw_corr(self, t0: int) -> float:
        """Best normalised autocorrelation of the raw window at lags t0-1..t0+1."""
        win = self._window()
        n = win.shape[0] - t0 - 2
        head = win[:n]
        cross = _correlate_c(win[t0 - 1 : t0 + n + 1], head, "valid")
        k = int(cross.argmax())
        seg = win[t0 - 1 + k : t0 - 1 + k + n]
        den = math.sqrt(float(head.dot(head)) * float(seg.dot(seg)))
        return float(cross[k]) / den if den > 0.0 else 0.0

    def _correlate(self, lag: float) -> tuple[float, float]:
        """Normalised autocorrelation near ``lag`` samples; returns (peak value, f0 in Hz).

        yinfft's period can sit a few samples off the correlation peak, so lags within
        ``SEARCH_SAMPLES`` of it are tried in one C call and the best is interpolated. For
        periods longer than a sixth of the window (below about 130 Hz at 44.1 kHz) it reads
        short by 1-15 %, more the lower the note (an acoustic bass read 16 cents sharp at G2 and
        142 at A1), so there the search moves on, ``SEARCH_SHARE`` of the lag at a time (at
        most ``WIDE_STEPS`` times), while the best lag found lies on the edge of the last
        search.
        """
        t0 = round(lag)
        # A moving average one third of a period long removes the 3rd, 6th, ... partials and
        # damps all higher ones: stretched upper partials (piano strings) otherwise pull the
        # period sharp by 15-30 cents, while the ear and a tuner follow the lowest partials.
        span = max(1, round(lag / 3.0))
        csum = self._csum_store[self._pos - self.buf_samples : self._pos]
        full = csum.shape[0] - span
        # The usual search first. When the best lag lies on its edge, the peak is further out:
        # wide searches follow it, each centred on the last one's best lag.
        wide = SEARCH_SAMPLES
        if lag >= self.buf_samples * LONG_PERIOD_SHARE:
            wide = max(SEARCH_SAMPLES, math.ceil(SEARCH_SHARE * lag))
        reach = SEARCH_SAMPLES
        for step in range(WIDE_STEPS + 1):
            r = min(reach, t0 - 1)
            n = full - (t0 + r) - 1
            if n < full // 3 or r < 1:
                return 0.0, 0.0
            # Short periods need fewer samples: a centred stretch of at least three periods
            # keeps the estimate centred on the frame's time and the cost down.
            n = min(n, max(3 * t0, MIN_CORR_SAMPLES))
            need = n + t0 + r + 1
            a = (full - need) // 2
            sig = self._smooth[:need]
            np.subtract(csum[a + span : a + span + need], csum[a : a + need], out=sig)
            if self.remove_low:
                self._remove_low(csum, a, span, t0, need, sig)
            head = sig[:n]
            cross = _correlate_c(sig[t0 - r : t0 + r + n], head, "valid")
            k = int(cross.argmax())
            if 0 < k < 2 * r or wide <= SEARCH_SAMPLES or step == WIDE_STEPS:
                break
            t0 += k - r
            reach = wide
        e_head = float(head.dot(head))
        best = sig[t0 - r + k : t0 - r + k + n]
        den = math.sqrt(float(best.dot(best)) * e_head)
        if den <= 0.0:
            return 0.0, 0.0
        # Neighbouring lags shift the segment by one sample: its energy is the same to within
        # a sample's worth, so one normalisation serves all three.
        c = cross.tolist()
        left = c[k - 1] / den if k > 0 else -1.0
        mid = c[k] / den
        right = c[k + 1] / den if k + 1 < len(c) else -1.0
        shift = 0.0
        if left > -1.0 and right > -1.0:
            curv = left - 2.0 * mid + right
            if curv < 0.0:
                shift = max(-0.5, min(0.5, 0.5 * (left - right) / curv))
                mid = mid - 0.25 * (left - right) * shift
        period = float(t0 - r + k) + shift
        if period <= 0.0:
            return 0.0, 0.0
        return max(0.0, min(1.0, mid)), self.sample_rate / period
