"""Etude's audio engine: sources, the analysis worker, recording and scoring.

Nothing here imports Qt or the database; every record that crosses a thread is a frozen
dataclass from :mod:`audio.records`.
"""

ENGINE_VERSION = "etude-audio 0.1.0"
