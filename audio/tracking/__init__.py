"""The note tracker, as parts a newcomer can read and change one at a time: see
:mod:`audio.tracking.tracker` for how they fit together."""

from audio.tracking.boundaries import BoundaryParams, TrackedNote
from audio.tracking.levels import LevelParams
from audio.tracking.pitch_split import SplitParams
from audio.tracking.reattack import ReattackParams
from audio.tracking.subharmonics import SubharmonicParams
from audio.tracking.tracker import NoteTracker, TrackerEvent, TrackerParams

__all__ = [
    "BoundaryParams",
    "LevelParams",
    "NoteTracker",
    "ReattackParams",
    "SplitParams",
    "SubharmonicParams",
    "TrackedNote",
    "TrackerEvent",
    "TrackerParams",
]
