"""Level and background tracking for the note tracker: the level envelope the level rules read,
and the quietest level of the last seconds (the background a note rises out of)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

SILENT_DB = -120.0  # the level of digital silence (and of a non-finite level), dBFS


@dataclass(frozen=True, slots=True)
class LevelParams:
    """How levels are read."""

    envelope_max_hops: int = 3
    """The level rules read the mean hop energy over one period of the sounding pitch, at most
    this many hops (a single hop of a low note flutters with its waveform)."""
    floor_span_s: float = 5.0
    """The background is the quietest hop level over this many seconds."""
    floor_block_s: float = 0.1
    """The background is kept as the quietest hop of each block this long."""
    floor_flutter_db: float = 1.5
    """A flat floor: hops within this much of its quietest one (a climb starts at its end)."""
    room_share: float = 0.2
    """The room's level, what a breath or the room is measured against: the level under which
    this share of the ``floor_block_s`` blocks of the last ``floor_span_s`` lie at their
    quietest. Not the single quietest hop: a phone's noise gate writes digital silence
    (-120 dB) into pauses, under a room that sounds at -50 dB."""
    note_over_background_db: float = 16.0
    """A note whose median level lies less than this over the room's level (a pitched frame
    outside a heard note, whose level does) ..."""
    under_phrase_db: float = 15.0
    """... and this far under the median level of the notes of the last ``phrase_s`` is a
    breath or the room, not a note: silence between phrases stays silent."""
    phrase_s: float = 10.0
    """See ``under_phrase_db``."""


class LevelHistory:
    """The recent (time, envelope level dB) points, the envelope itself and the background.

    hop_s: seconds between hops; keep_s: how many seconds of points the other parts read.
    """

    def __init__(self, hop_s: float, keep_s: float, params: LevelParams) -> None:
        self.params = params
        self.hop_s = hop_s
        self.keep_s = keep_s
        self.points: deque[tuple[float, float]] = deque()
        self._energies: deque[float] = deque(maxlen=params.envelope_max_hops)
        self._env_hops = 1
        # (block number, quietest hop level in it) for the last floor_span_s seconds
        self._floor_blocks: deque[tuple[int, float]] = deque()
        # room_db() of the blocks as they are (None: they changed since it was worked out)
        self._room_db: float | None = None

    def push(self, t_s: float, level_db: float, midi: float | None) -> tuple[float, bool]:
        """Take one hop's level (dBFS at ``t_s``) and the frame's pitch (None: unvoiced);
        return the envelope level and whether it rose from the hop before."""
        self._track_floor(t_s, level_db)
        # The level rules read an envelope: the mean energy over the hops that span one period
        # of the sounding pitch (1..envelope_max_hops). A single hop of a low note is shorter
        # than its period, so its RMS flutters with the waveform (9 dB hop to hop on a 92 Hz
        # cello), which the dip rule took for re-attacks; higher notes keep one-hop detail.
        max_hops = self.params.envelope_max_hops
        if midi is not None:
            period_s = 1.0 / (440.0 * 2.0 ** ((midi - 69.0) / 12.0))
            hops = math.ceil(period_s / self.hop_s)
            hops = hops if hops > 1 else 1
            self._env_hops = hops if hops < max_hops else max_hops
        self._energies.append(10.0 ** (level_db / 10.0))  # the newest max_hops
        if self._env_hops > 1:
            span = list(self._energies)[-self._env_hops :]
            energy = sum(span) / len(span)
            level_db = 10.0 * math.log10(energy) if energy > 1e-12 else level_db
        points = self.points
        rising = bool(points) and level_db > points[-1][1]
        points.append((t_s, level_db))
        since = t_s - self.keep_s
        while points[0][0] < since:  # never empty: it holds this point
            points.popleft()
        return level_db, rising

    def room_db(self) -> float:
        """The room's level (see ``LevelParams.room_share``)."""
        if self._room_db is None:
            levels = sorted(lv for _, lv in self._floor_blocks)
            self._room_db = levels[int(self.params.room_share * (len(levels) - 1))]
        return self._room_db

    def background_db(self) -> float:
        """The quietest hop level of the last ``floor_span_s`` seconds."""
        return min(lv for _, lv in self._floor_blocks)

    def _track_floor(self, t_s: float, level_db: float) -> None:
        """Keep the quietest hop level of each ``floor_block_s`` block over ``floor_span_s``."""
        block = int(t_s / self.params.floor_block_s)
        blocks = self._floor_blocks
        if blocks and blocks[-1][0] == block:
            if level_db < blocks[-1][1]:
                blocks[-1] = (block, level_db)
                self._room_db = None
            return
        blocks.append((block, level_db))
        self._room_db = None
        if len(blocks) > self.params.floor_span_s / self.params.floor_block_s:
            blocks.popleft()


def floor_end(levels: Sequence[tuple[float, float]], flutter_db: float) -> int:
    """Index of the bottom of a stretch of (time, level dB) points from which a re-attack's
    climb is measured: the quietest one, moved on through the points after it that stay within
    ``flutter_db`` of it. On a flat floor (a tail faded into background noise) the climb starts
    where the floor ends, not at whichever of its hops happened to be quietest."""
    j = min(range(len(levels)), key=lambda k: levels[k][1])
    bottom = levels[j][1]
    while j + 1 < len(levels) and levels[j + 1][1] <= bottom + flutter_db:
        j += 1
    return j


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence; sorting in Python beats numpy for the short lists here."""
    v = sorted(values)
    n = len(v)
    mid = n // 2
    return float(v[mid]) if n % 2 else 0.5 * (v[mid - 1] + v[mid])
