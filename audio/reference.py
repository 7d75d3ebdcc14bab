"""Reference pieces: target notes read from a MIDI file, and alignment of a performance to them.

Pitches are MIDI note numbers at sounding pitch (the file's written pitch plus the
transposition), times are seconds from the first reference note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mido


class ReferenceError(ValueError):
    """The reference file cannot be used; the message names the problem."""


@dataclass(frozen=True, slots=True)
class RefNote:
    """One target note: onset_s/offset_s in seconds from the first note, midi 0..127,
    velocity 1..127. bar: the bar it starts in, 1 = the file's first bar, counted with the
    file's time signatures (4/4 where it has none); None where not known."""

    onset_s: float
    offset_s: float
    midi: int
    velocity: int
    bar: int | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    """The target notes of a piece in time order, with the file's first tempo (BPM) if any."""

    notes: tuple[RefNote, ...]
    tempo_bpm: float | None
    source: str

    @property
    def duration_s(self) -> float:
        """Seconds from the first onset to the last offset (0.0 when empty)."""
        return max((n.offset_s for n in self.notes), default=0.0)


@dataclass(frozen=True, slots=True)
class Alignment:
    """How a performance maps onto a reference.

    Expected performance time of reference note j: ``offset_s + scale * ref.notes[j].onset_s``
    (seconds; scale > 1 means played slower). ``pairs`` holds (performed index, reference index)
    in increasing order of both.
    """

    offset_s: float
    scale: float
    pairs: tuple[tuple[int, int], ...]

    def expected_s(self, ref_onset_s: float) -> float:
        """Expected performance time in seconds of a reference onset given in seconds."""
        return self.offset_s + self.scale * ref_onset_s


def load_reference(
    path: str | Path,
    track: int | None = None,
    channel: int | None = None,
    transpose_semitones: int = 0,
) -> Reference:
    """Read target notes from a standard MIDI file.

    track: index of the track to use (default: the first track that has notes). channel: 0..15
    to keep only that channel (default: all). transpose_semitones: -24..24 added to the written
    pitch to get the sounding pitch (B♭ clarinet -2, E♭ alto sax -9, F horn -7).
    Raises ReferenceError naming the problem for unreadable files or files without notes.
    """
    p = Path(path)
    if not -24 <= transpose_semitones <= 24:
        raise ReferenceError(f"transposition {transpose_semitones} is outside -24..24 semitones")
    if channel is not None and not 0 <= channel <= 15:
        raise ReferenceError(f"MIDI channel {channel} is outside 0..15")
    try:
        mid = mido.MidiFile(str(p))
    except FileNotFoundError:
        raise ReferenceError(f"{p}: no such reference file") from None
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise ReferenceError(f"{p}: not a readable MIDI file ({_why_unreadable(p, exc)})") from None
    if track is not None and not 0 <= track < len(mid.tracks):
        raise ReferenceError(f"{p}: track {track} does not exist (file has {len(mid.tracks)})")

    tempo_bpm: float | None = None
    for msg in mido.merge_tracks(mid.tracks):
        if msg.type == "set_tempo":
            tempo_bpm = round(float(mido.tempo2bpm(msg.tempo)), 3)
            break

    candidates = [track] if track is not None else list(range(len(mid.tracks)))
    for ti in candidates:
        notes = _track_notes(mid, ti, channel, transpose_semitones)
        if notes:
            t0 = notes[0].onset_s
            shifted = tuple(
                RefNote(n.onset_s - t0, n.offset_s - t0, n.midi, n.velocity, n.bar) for n in notes
            )
            return Reference(notes=shifted, tempo_bpm=tempo_bpm, source=str(p))
    where = f"track {track}" if track is not None else "any track"
    if channel is not None:
        where += f", channel {channel}"
    raise ReferenceError(f"{p}: no notes in {where}")


def _why_unreadable(path: Path, exc: BaseException) -> str:
    # mido says nothing at all for an empty or cut-off file (a bare EOFError).
    try:
        if path.is_file() and path.stat().st_size == 0:
            return "the file is empty"
    except OSError:
        pass
    if isinstance(exc, EOFError):
        return "the file is cut short"
    return str(exc) or type(exc).__name__


def _track_notes(
    mid: mido.MidiFile, track: int, channel: int | None, transpose: int
) -> list[RefNote]:
    # Tempo changes usually live in track 0, so times come from all tracks merged, keeping
    # note messages only from the chosen track.
    tpb = mid.ticks_per_beat
    tempo = 500000
    events: list[tuple[int, int, mido.Message]] = []
    for ti, tr in enumerate(mid.tracks):
        tick = 0
        for msg in tr:
            tick += msg.time
            events.append((tick, 0 if ti == track else 1, msg))
    meter = ("set_tempo", "time_signature")
    events.sort(key=lambda e: (e[0], e[1] if e[2].type not in meter else -1))
    seconds = 0.0
    last_tick = 0
    bars = _Bars(tpb)
    open_notes: dict[tuple[int, int], tuple[float, int, int]] = {}
    out: list[RefNote] = []
    for tick, mine, msg in events:
        seconds += mido.tick2second(tick - last_tick, tpb, tempo)
        last_tick = tick
        if msg.type == "set_tempo":
            tempo = msg.tempo
            continue
        if msg.type == "time_signature":
            bars.change(tick, msg.numerator, msg.denominator)
            continue
        if mine != 0 or msg.type not in ("note_on", "note_off"):
            continue
        if channel is not None and msg.channel != channel:
            continue
        key = (msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            if key in open_notes:
                on, vel, bar = open_notes.pop(key)
                out.append(RefNote(on, seconds, _clip(msg.note + transpose), vel, bar))
            open_notes[key] = (seconds, msg.velocity, bars.at(tick))
        elif key in open_notes:
            on, vel, bar = open_notes.pop(key)
            out.append(RefNote(on, seconds, _clip(msg.note + transpose), vel, bar))
    for (_, note), (on, vel, bar) in open_notes.items():
        out.append(RefNote(on, seconds, _clip(note + transpose), vel, bar))
    out.sort(key=lambda n: (n.onset_s, n.midi))
    return out


class _Bars:
    """Bar numbers from MIDI ticks: 4/4 until the file says otherwise; a time signature
    change starts a new bar (where a bar in progress is cut short, the next number follows)."""

    def __init__(self, ticks_per_beat: int) -> None:
        self.tpb = ticks_per_beat
        self.start_tick = 0
        self.start_bar = 1
        self.bar_ticks = 4 * ticks_per_beat

    def change(self, tick: int, numerator: int, denominator: int) -> None:
        self.start_bar += -(-(tick - self.start_tick) // self.bar_ticks)
        self.start_tick = tick
        self.bar_ticks = max(1, round(numerator * self.tpb * 4 / denominator))

    def at(self, tick: int) -> int:
        return self.start_bar + (tick - self.start_tick) // self.bar_ticks


def _clip(midi: int) -> int:
    return max(0, min(127, midi))


def align(
    onsets_s: Sequence[float],
    midis: Sequence[float],
    reference: Reference,
    window_s: float = 0.15,
) -> Alignment:
    """Align performed notes (onsets in seconds, fractional MIDI pitches) to a reference.

    Tries start offsets and tempo scales (0.5..2.0) implied by pairing each of the first four
    performed notes with each of the first four reference notes and likewise for the last four,
    so one missed or one extra note at either end cannot derail it; keeps the fit that pairs the
    most notes of the same pitch, refines it by least squares on those pairs, then pairs notes in
    order: a performed note pairs with the unpaired reference note nearest in time within
    ``window_s`` seconds (scaled), preferring the same pitch. Returns an empty alignment with
    offset 0 and scale 1 when either side has no notes.
    """
    ref = reference.notes
    n, m = len(onsets_s), len(ref)
    if n == 0 or m == 0:
        return Alignment(0.0, 1.0, ())
    p = list(onsets_s)
    q = [round(x) for x in midis]
    r = [x.onset_s for x in ref]
    rp = [x.midi for x in ref]

    fits: list[tuple[float, float]] = []
    heads = [(i, j) for i in range(min(4, n)) for j in range(min(4, m)) if _same(q[i], rp[j])]
    tails = [
        (i, j)
        for i in range(max(0, n - 4), n)
        for j in range(max(0, m - 4), m)
        if _same(q[i], rp[j])
    ]
    for i1, j1 in heads:
        fits.append((p[i1] - r[j1], 1.0))
        for i2, j2 in tails:
            if i2 <= i1 or j2 <= j1 or r[j2] - r[j1] <= 0.0:
                continue
            scale = (p[i2] - p[i1]) / (r[j2] - r[j1])
            if 0.5 <= scale <= 2.0:
                fits.append((p[i1] - scale * r[j1], scale))
    if not fits:
        fits.append((p[0] - r[0], 1.0))

    best: tuple[int, float, float, float] | None = None
    for off, scale in fits:
        pairs = _pair(p, q, r, rp, off, scale, window_s)
        same = sum(1 for i, j in pairs if _same(q[i], rp[j]))
        err = sum(abs(p[i] - (off + scale * r[j])) for i, j in pairs)
        key = (same, -err)
        if best is None or key > (best[0], -best[3]):
            best = (same, off, scale, err)
    assert best is not None
    _, off, scale = best[0], best[1], best[2]
    for _ in range(2):
        pairs = _pair(p, q, r, rp, off, scale, window_s)
        good = [(i, j) for i, j in pairs if _same(q[i], rp[j])]
        if len(good) >= 2:
            off, scale = _fit_line([r[j] for _, j in good], [p[i] for i, _ in good], scale)
        elif len(good) == 1:
            i, j = good[0]
            off = p[i] - scale * r[j]
    pairs = _pair(p, q, r, rp, off, scale, window_s)
    return Alignment(off, scale, tuple(pairs))


def _same(a: int, b: int) -> bool:
    return a == b


def _fit_line(xs: list[float], ys: list[float], scale: float) -> tuple[float, float]:
    nx = len(xs)
    mx = sum(xs) / nx
    my = sum(ys) / nx
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 1e-9:
        return my - scale * mx, scale
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    if not 0.5 <= b <= 2.0:
        b = scale
    return my - b * mx, b


def _pair(
    p: list[float],
    q: list[int],
    r: list[float],
    rp: list[int],
    off: float,
    scale: float,
    window_s: float,
) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    win = window_s * max(1.0, scale)
    last_j = -1
    j0 = 0
    m = len(r)
    for i, t in enumerate(p):
        best_j = -1
        best_key: tuple[int, float] | None = None
        while j0 < m and off + scale * r[j0] < t - win:
            j0 += 1
        j = max(j0, last_j + 1)
        while j < m and off + scale * r[j] <= t + win:
            dt = abs(t - (off + scale * r[j]))
            key = (0 if _same(q[i], rp[j]) else 1, dt)
            if best_key is None or key < best_key:
                best_key, best_j = key, j
            j += 1
        if best_j >= 0:
            pairs.append((i, best_j))
            last_j = best_j
    return pairs
