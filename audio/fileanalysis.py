"""Analysis of a recorded file through the same StreamAnalyzer the live path uses."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from audio.analyzer import FrameTrack, StreamAnalyzer
from audio.inputcheck import InputCheck
from audio.records import Note, Onset
from audio.reference import Reference
from audio.scoring import TakeScore, score_take
from audio.settings import AnalysisSettings

BLOCK_HOPS = 64


class AudioFileError(ValueError):
    """The file cannot be analysed; the message names the file and the problem."""


class AnalysisFailed(AudioFileError):
    """The file was read but its analysis failed (a fault in Etude, not in the file); the
    message names the file, where in it, and the kind of fault, in one line."""


@dataclass(frozen=True, slots=True)
class FileAnalysis:
    """Everything found in one file. Times in seconds from the start of the file."""

    path: str
    sample_rate: int
    duration_s: float
    notes: tuple[Note, ...]
    onsets: tuple[Onset, ...]
    frames: FrameTrack
    score: TakeScore
    cpu_s: float
    input: InputCheck


def analyze_file(
    path: str | Path,
    settings: AnalysisSettings = AnalysisSettings(),  # noqa: B008 - frozen, shared safely
    reference: Reference | None = None,
    genre: str | None = None,
) -> FileAnalysis:
    """Analyse a WAV/FLAC/OGG file (any channel count, mixed to mono) and score it.

    Blocks are fed hop by hop through StreamAnalyzer, causally, exactly as live input is.
    Raises AudioFileError for a missing, empty, non-audio or unreadable file;
    UnknownGenreError for an unknown genre name.
    """
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{p}: no such file")
    if p.is_dir():
        raise AudioFileError(f"{p}: is a folder, not an audio file")
    if p.stat().st_size == 0:
        raise AudioFileError(f"{p}: the file is empty")
    try:
        snd = sf.SoundFile(str(p))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(f"{p}: not a readable audio file ({_why(exc)})") from None
    with snd:
        sr = int(snd.samplerate)
        if snd.frames == 0:
            raise AudioFileError(f"{p}: the audio file holds no samples")
        if not 8000 <= sr <= 192000:
            raise AudioFileError(f"{p}: sample rate {sr} Hz is outside 8000..192000 Hz")
        analyzer = StreamAnalyzer(sr, settings, reference)
        hop = analyzer.hop_samples
        # thread_time, not process_time: in the app other threads (GUI, audio) run meanwhile.
        cpu0 = time.thread_time()
        carry = np.zeros(0, dtype=np.float32)
        fed = 0
        try:
            while True:
                block = snd.read(hop * BLOCK_HOPS, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
                data = np.concatenate((carry, mono)) if carry.size else mono
                n_full = data.shape[0] // hop
                for k in range(n_full):
                    analyzer.process(np.ascontiguousarray(data[k * hop : (k + 1) * hop]), 0.0)
                fed += n_full * hop
                carry = data[n_full * hop :].copy()
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioFileError(
                f"{p}: reading failed after {fed / sr:.2f} s ({_why(exc)})"
            ) from None
        except Exception as exc:  # a fault in the analysis: one line naming it, not a trace
            raise _failed(p, fed / sr, exc) from exc
        try:
            if carry.size:
                # The last partial hop is padded with silence so no audio is dropped.
                last = np.zeros(hop, dtype=np.float32)
                last[: carry.size] = carry
                analyzer.process(last, 0.0)
                fed += carry.size
            analyzer.finish(0.0)
        except Exception as exc:
            raise _failed(p, fed / sr, exc) from exc
        cpu = time.thread_time() - cpu0
    duration = fed / sr
    if fed == 0:
        raise AudioFileError(f"{p}: the audio file holds no samples")
    check = analyzer.input_check()
    try:
        score = score_take(
            analyzer.notes,
            analyzer.onsets,
            analyzer.frames,
            settings,
            reference=reference,
            duration_s=duration,
            genre=genre,
            analysis_cpu_s=cpu,
            input_check=check,
        )
    except Exception as exc:
        raise _failed(p, duration, exc) from exc
    return FileAnalysis(
        path=str(p),
        sample_rate=sr,
        duration_s=duration,
        notes=score.notes,
        onsets=tuple(analyzer.onsets),
        frames=analyzer.frames,
        score=score,
        cpu_s=cpu,
        input=check,
    )


def _failed(p: Path, at_s: float, exc: Exception) -> AnalysisFailed:
    return AnalysisFailed(
        f"{p}: the analysis failed at {at_s:.2f} s (an error in Etude: {type(exc).__name__}); "
        "the file is unchanged, please report it"
    )


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
