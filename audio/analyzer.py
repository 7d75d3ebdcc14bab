"""The streaming analyzer: one hop in, records out. Live input and files use this same class.

Each call to :meth:`StreamAnalyzer.process` takes the newest hop and returns the
:class:`~audio.records.PitchFrame` for it, plus any :class:`~audio.records.Onset` and finished
:class:`~audio.records.Note` records. It never looks ahead: everything it reports depends only on
audio already fed. Times in records are seconds from the start of the stream at the moment the
sound happened (the analysis delay subtracted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

from audio.frontend import FrontEnd
from audio.inputcheck import InputCheck, InputMeter, MeterMark, assess
from audio.pitch import FrameAnalyzer, PitchMeasurer, hz_to_midi
from audio.records import Note, Onset, PitchFrame, Record, pitch_frame
from audio.reference import Reference
from audio.settings import AnalysisSettings
from audio.tracking import NoteTracker, TrackerEvent


class FrameTrack(Sequence[PitchFrame]):
    """All frames of a stream kept as columns (a few bytes per hop instead of an object).

    Indexing returns a PitchFrame; the arrays give fast access: ``t_s`` (seconds), ``f0_hz``
    (Hz, 0 when unvoiced), ``confidence`` (0..1), ``level_db`` (dBFS), ``voiced`` (bool).
    """

    def __init__(self, a4_hz: float) -> None:
        self._a4 = a4_hz
        self._t: list[float] = []
        self._f0: list[float] = []
        self._conf: list[float] = []
        self._level: list[float] = []
        self._cap: list[float] = []

    def append(self, t_s: float, f0_hz: float, conf: float, level_db: float, cap: float) -> None:
        """Add one frame (times in seconds, f0 in Hz or 0, confidence 0..1, level in dBFS)."""
        self._t.append(t_s)
        self._f0.append(f0_hz)
        self._conf.append(conf)
        self._level.append(level_db)
        self._cap.append(cap)

    def bridge(self, count: int, f0_hz: float) -> None:
        """The newest ``count`` frames (reported without a pitch) lay in a short break of a
        held note: they report ``f0_hz`` (see :mod:`audio.tracking.voicing`)."""
        n = len(self._f0)
        for k in range(max(0, n - count), n):
            self._f0[k] = f0_hz

    def __len__(self) -> int:
        return len(self._t)

    @overload
    def __getitem__(self, i: int) -> PitchFrame: ...
    @overload
    def __getitem__(self, i: slice) -> list[PitchFrame]: ...
    def __getitem__(self, i: int | slice) -> PitchFrame | list[PitchFrame]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        f0 = self._f0[i]
        midi = hz_to_midi(f0, self._a4) if f0 > 0.0 else None
        target = round(midi) if midi is not None else None
        return pitch_frame(
            self._t[i],
            f0,
            midi,
            target,
            (midi - target) * 100.0 if midi is not None and target is not None else None,
            f0 > 0.0,
            self._conf[i],
            self._level[i],
            self._cap[i],
        )

    def __iter__(self) -> Iterator[PitchFrame]:
        for k in range(len(self)):
            yield self[k]

    @property
    def t_s(self) -> npt.NDArray[np.float64]:
        """Frame times in seconds."""
        return np.asarray(self._t, dtype=np.float64)

    @property
    def f0_hz(self) -> npt.NDArray[np.float64]:
        """Fundamentals in Hz, 0 when unvoiced."""
        return np.asarray(self._f0, dtype=np.float64)

    @property
    def confidence(self) -> npt.NDArray[np.float64]:
        """Voicing confidence 0..1 (the measured periodicity)."""
        return np.asarray(self._conf, dtype=np.float64)

    @property
    def level_db(self) -> npt.NDArray[np.float64]:
        """Hop levels in dBFS."""
        return np.asarray(self._level, dtype=np.float64)

    @property
    def voiced(self) -> npt.NDArray[np.bool_]:
        """True where a pitch was found."""
        return np.asarray(self._f0, dtype=np.float64) > 0.0


@dataclass(slots=True)
class _Follower:
    """A cheap live score follower: the next reference notes a performed note may be.

    A note matches a reference note of the same semitone among the next three; a note that
    matches none is taken as a wrong note in place of the next one. If the following note turns
    out to be that one after all, the guess was an extra note and the follower steps back.
    """

    reference: Reference
    pos: int = 0
    guess: int | None = None

    def target(self, midi: float) -> tuple[int, int | None]:
        notes = self.reference.notes
        cands = [] if self.guess is None else [self.guess]
        cands += range(self.pos, min(len(notes), self.pos + 3))
        for j in cands:
            if abs(midi - notes[j].midi) <= 0.5:
                self.pos = j + 1
                self.guess = None
                return notes[j].midi, j
        if self.pos < len(notes):
            self.guess = self.pos
            self.pos += 1
            return notes[self.guess].midi, self.guess
        self.guess = None
        return round(midi), None


MAX_ANALYSIS_RATE = 50_000


class Decimator:
    """Streaming low-pass and downsampling by an integer factor (2 for 88.2/96 kHz, 4 for
    176.4/192 kHz), so audio recorded at a high rate is analysed at 44.1/48 kHz.

    The analysis window is a fixed number of samples: at 96 kHz the 2048-sample window would
    last 21 ms and reach down only to 94 Hz, losing a cello's lowest string, and the tracker's
    timings were measured at 44.1/48 kHz. The filter is a causal windowed-sinc FIR (Blackman,
    16 taps per unit of factor each side): flat (0.0 dB) to 16 kHz, -60 dB at the new Nyquist
    frequency and -75 dB or less from 26 kHz on. Its delay, ``delay_samples`` input samples
    (0.33 ms), is subtracted from times.
    """

    def __init__(self, factor: int) -> None:
        if factor < 2:
            raise ValueError(f"decimation factor must be 2 or more, got {factor}")
        self.factor = factor
        taps = 32 * factor + 1
        n = np.arange(taps) - (taps - 1) / 2
        cutoff = 0.42 / factor  # cycles per input sample; the new Nyquist is 0.5 / factor
        h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(taps)
        self._taps = (h / h.sum()).astype(np.float32)
        self.delay_samples = (taps - 1) // 2
        self._history = np.zeros(taps - 1, dtype=np.float32)

    def process(self, block: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Filter a block (float32, a multiple of ``factor`` samples long) and return every
        ``factor``-th sample, the newest of each group."""
        data = np.concatenate((self._history, block))
        self._history = data[-self._history.size :]
        smooth = np.convolve(data, self._taps, "valid")
        return np.ascontiguousarray(smooth[self.factor - 1 :: self.factor])


def decimation_factor(sample_rate: int) -> int:
    """By how much a stream at ``sample_rate`` Hz is downsampled before analysis: the smallest
    power of two that brings it to 50 kHz or less (1 up to 50 kHz, 2 for 88.2/96 kHz)."""
    factor = 1
    while sample_rate / factor > MAX_ANALYSIS_RATE:
        factor *= 2
    return factor


class StreamAnalyzer:
    """Causal per-hop analysis: pitch, voicing, level, onsets and notes.

    sample_rate: Hz (8000..192000). settings: see AnalysisSettings (hop_samples <= 256).
    reference: target notes; during the stream each finished note is matched to the next
    expected reference notes (final scoring re-aligns the whole take). measurer: makes the pitch
    measurer from (analysis rate, hop samples, window samples); see ``audio.pitch.PitchMeasurer``.

    Above 50 kHz the stream is first downsampled (:class:`Decimator`) and analysed at
    ``analysis_rate`` (48 kHz for 96 kHz audio); ``hop_samples`` is then counted at the input
    rate (512 at 96 kHz), so that each hop still holds 256 analysed samples.
    """

    def __init__(
        self,
        sample_rate: int,
        settings: AnalysisSettings = AnalysisSettings(),  # noqa: B008 - frozen, shared safely
        reference: Reference | None = None,
        measurer: Callable[[int, int, int], PitchMeasurer] = FrameAnalyzer,
    ) -> None:
        self.settings = settings
        self.sample_rate = sample_rate
        factor = decimation_factor(sample_rate)
        self._decimator = Decimator(factor) if factor > 1 else None
        self.analysis_rate = sample_rate // factor
        self._front = FrontEnd(
            self.analysis_rate,
            settings.hop_samples,
            settings.buf_samples // 2 // settings.hop_samples,
        )
        self._frames_an = measurer(self.analysis_rate, settings.hop_samples, settings.buf_samples)
        self.hop_samples: int = settings.hop_samples * factor
        # Seconds the decimating filter delays the analysed signal (0 without one).
        self._filter_s = self._decimator.delay_samples / sample_rate if self._decimator else 0.0
        # Seconds from a pitch window's newest sample back to its centre (the frame's time).
        self._window_delay_s = self._frames_an.delay_s
        self.delay_s: float = self._window_delay_s + self._filter_s
        self._hop_s = settings.hop_samples / self.analysis_rate
        self._tracker = NoteTracker(self._hop_s, settings.buf_samples / self.analysis_rate)
        # What the input check reads: level, clipping and background, hop by hop.
        self.input_meter = InputMeter(self._hop_s)
        self._follower = _Follower(reference) if reference is not None else None
        self.reference = reference
        self.notes: list[Note] = []
        self.onsets: list[Onset] = []
        self.frames = FrameTrack(settings.a4_hz)
        self._a4 = settings.a4_hz

    @property
    def duration_s(self) -> float:
        """Seconds of audio fed so far."""
        return self._frames_an.samples_fed / self.analysis_rate

    def restart_reference(self) -> None:
        """The student starts the reference piece again (a new take): follow it from its first
        note. Safe to call from another thread; it replaces the follower in one assignment."""
        if self.reference is not None:
            self._follower = _Follower(self.reference)

    def process(self, hop: npt.NDArray[np.float32], capture_time_s: float) -> list[Record]:
        """Analyse one hop: float32 mono samples in -1..1, exactly ``hop_samples`` long.

        capture_time_s: perf_counter() seconds when the hop's audio was captured (or fed).
        Returns this hop's PitchFrame first, then Onsets and finished Notes, in time order.
        """
        if hop.shape != (self.hop_samples,):
            raise ValueError(f"hop must be {self.hop_samples} samples, got shape {hop.shape}")
        if hop.dtype != np.float32:
            hop = hop.astype(np.float32)
        raw = hop
        if self._decimator is not None:
            hop = self._decimator.process(hop)
        hop = self._front.process(hop)
        frames_an = self._frames_an
        frames_an.remove_low = self._front.low_background
        m = frames_an.process(hop)
        if m.voiced and self._front.is_background_pitch(m.f0_hz):
            m.voiced = False
            m.f0_hz = 0.0
        end_s = frames_an.samples_fed / self.analysis_rate - self._filter_s
        t_s = max(0.0, end_s - self._window_delay_s)
        level_t = end_s - 0.5 * self._hop_s
        onset_t = m.onset_t_s
        if onset_t is not None and self._filter_s:
            onset_t = max(0.0, onset_t - self._filter_s)
        f0, periodicity, level_db = m.f0_hz, m.periodicity, m.level_db
        self.input_meter.push(raw, level_db)
        midi = hz_to_midi(f0, self._a4) if m.voiced else None
        tracker = self._tracker
        events = tracker.push(t_s, midi, level_db, level_t, onset_t, capture_time_s, periodicity)
        # The frame reports what the tracker decided (audio.tracking.voicing): no pitch near the
        # background, the held pitch across a short break in a note; a break bridged once the
        # note went on is amended in the kept frame track.
        if tracker.bridged:
            self.frames.bridge(tracker.bridged, self._hz(tracker.bridged_midi))
        if tracker.frame_midi != midi:
            midi = tracker.frame_midi
            f0 = 0.0 if midi is None else self._hz(midi)
        target: int | None = None
        cents: float | None = None
        if midi is not None:
            target = round(midi)
            cents = (midi - target) * 100.0
        frame = pitch_frame(
            t_s, f0, midi, target, cents, midi is not None, periodicity, level_db, capture_time_s
        )
        self.frames.append(t_s, f0, periodicity, level_db, capture_time_s)
        out: list[Record] = [frame]
        if events:
            self._publish(events, capture_time_s, out)
        return out

    def _hz(self, midi: float) -> float:
        return float(self._a4 * 2.0 ** ((midi - 69.0) / 12.0))

    def input_check(self, since: MeterMark | None = None, recent: bool = False) -> InputCheck:
        """What the input was like: over the whole stream, after ``since`` (a mark from
        ``input_meter.mark()``, e.g. where a take began), or with ``recent`` over the last
        few seconds (the live notice). Hum and rumble are what the front end finds now."""
        counts = self.input_meter.recent() if recent else self.input_meter.counts_since(since)
        hum = self._front.hum
        return assess(counts, hum.mains_hz, hum.level_db, self._front.rumble)

    def finish(self, capture_time_s: float) -> list[Record]:
        """End of stream: return the Onset/Note records of the note still sounding, if any."""
        out: list[Record] = []
        self._publish(self._tracker.finish(capture_time_s), capture_time_s, out)
        return out

    def _publish(
        self, events: list[TrackerEvent], capture_time_s: float, out: list[Record]
    ) -> None:
        for ev in events:
            if ev.note is None:
                onset = Onset(t_s=ev.onset_s, capture_time_s=capture_time_s)
                self.onsets.append(onset)
                out.append(onset)
                continue
            tn = ev.note
            ref_index: int | None = None
            if self._follower is not None:
                target, ref_index = self._follower.target(tn.midi)
            else:
                target = round(tn.midi)
            note = Note(
                onset_s=tn.onset_s,
                offset_s=tn.offset_s,
                midi=tn.midi,
                target_midi=target,
                cents=(tn.midi - target) * 100.0,
                level_db=tn.level_db,
                capture_time_s=tn.capture_time_s,
                ref_index=ref_index,
            )
            self.notes.append(note)
            out.append(note)
