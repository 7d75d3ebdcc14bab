"""``etude analyze``: analyse recordings from the command line.

Each FILE goes through the same streaming analyzer as live input, then scoring. Without
``--json`` a short summary in plain words is printed per file; with ``--json`` one JSON object
per file, one per line. A file that cannot be analysed gets a one-line error on stderr and the
command exits 1 after the other files have been analysed; a bad option exits 2 before any work.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audio.genres import UnknownGenreError, genre_profiles, get_genre
from audio.settings import LIMITS, AnalysisSettings, SettingOutOfRange

if TYPE_CHECKING:
    from audio.fileanalysis import FileAnalysis
    from audio.reference import Reference
    from desktop.usecases.plan import SessionPlan
    from desktop.usecases.takes import AnalysedRecording

EXIT_FILE_ERROR = 1
EXIT_USAGE = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``analyze`` to the ``etude`` parser."""
    p = sub.add_parser(
        "analyze",
        help="analyse recorded takes (WAV/FLAC/OGG): pitch, rhythm, feedback",
        description=(
            "Analyse recorded takes through the same analysis as live practice: notes, "
            "intonation, rhythm and feedback per file."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files to analyse")
    p.add_argument("--reference", metavar="MID", type=Path, help="MIDI file of the piece")
    p.add_argument("--track", type=int, help="reference track index (default: first with notes)")
    p.add_argument("--channel", type=int, help="reference MIDI channel 0..15 (default: all)")
    p.add_argument(
        "--tempo",
        type=float,
        metavar="BPM",
        help=f"target tempo {_range('target_tempo_bpm')} BPM",
    )
    p.add_argument(
        "--a4", type=float, default=440.0, metavar="HZ", help=f"A4 in Hz ({_range('a4_hz')})"
    )
    p.add_argument(
        "--transpose",
        type=int,
        default=0,
        metavar="SEMITONES",
        help=(
            f"written-to-sounding shift, {_range('transpose_semitones')} "
            "(B♭ clarinet -2, E♭ alto sax -9, F horn -7)"
        ),
    )
    p.add_argument(
        "--pitch-tolerance",
        type=float,
        default=25.0,
        metavar="CENTS",
        help=f"{_range('pitch_tolerance_cents')} (25)",
    )
    p.add_argument(
        "--timing-tolerance",
        type=float,
        default=50.0,
        metavar="MS",
        help=f"{_range('timing_tolerance_ms')} (50)",
    )
    p.add_argument(
        "--genre",
        metavar="NAME",
        help="score the fit to a genre profile: " + ", ".join(sorted(genre_profiles())),
    )
    p.add_argument("--json", action="store_true", help="one JSON object per file, one per line")
    p.add_argument("--frames", action="store_true", help="include every analysis frame in JSON")
    p.add_argument(
        "--midi-out",
        type=Path,
        metavar="PATH",
        help="write the detected notes as MIDI (a folder when several files are given)",
    )
    p.add_argument("--save", action="store_true", help="store session, take and analysis")
    p.add_argument("--profile", metavar="NAME", help="profile to save under (with --save)")
    p.add_argument("--piece", metavar="TEXT", help="piece name to save (with --save)")
    p.set_defaults(func=run)


# The options that set AnalysisSettings' fields; their ranges are audio.settings.LIMITS.
OPTION_OF_FIELD = {
    "a4_hz": "--a4",
    "transpose_semitones": "--transpose",
    "pitch_tolerance_cents": "--pitch-tolerance",
    "timing_tolerance_ms": "--timing-tolerance",
    "target_tempo_bpm": "--tempo",
}


def _range(field: str) -> str:
    return f"{LIMITS[field].lo:g}..{LIMITS[field].hi:g}"


def _settings(args: argparse.Namespace) -> AnalysisSettings:
    if (args.profile or args.piece) and not args.save:
        raise ValueError("--profile and --piece only make sense with --save")
    if args.frames and not args.json:
        raise ValueError("--frames needs --json")
    try:
        return AnalysisSettings(
            a4_hz=args.a4,
            transpose_semitones=args.transpose,
            pitch_tolerance_cents=args.pitch_tolerance,
            timing_tolerance_ms=args.timing_tolerance,
            target_tempo_bpm=args.tempo,
        )
    except SettingOutOfRange as exc:
        value = f"{exc.value:g}" if isinstance(exc.value, int | float) else repr(exc.value)
        raise ValueError(
            f"{OPTION_OF_FIELD[exc.field]} {value} is outside {_range(exc.field)}"
        ) from None


def run(args: argparse.Namespace) -> int:
    """Analyse every file; 0 when all were analysed, 1 when any failed, 2 for bad options."""
    # Imported here, not at the top: every `etude` start (the GUI too) builds this parser, and
    # numpy/aubio/mido would add to that start-up for nothing.
    from audio.fileanalysis import AudioFileError
    from audio.midi_out import write_notes_midi
    from audio.reference import ReferenceError, load_reference
    from desktop.usecases.plan import SessionPlan
    from desktop.usecases.takes import analyse_recording

    try:
        settings = _settings(args)
        if args.genre is not None:
            get_genre(args.genre)
        reference: Reference | None = None
        if args.reference is not None:
            reference = load_reference(
                args.reference, args.track, args.channel, transpose_semitones=args.transpose
            )
        plan = (
            SessionPlan(
                piece_name=args.piece,
                genre=args.genre,
                target_tempo_bpm=round(args.tempo) if args.tempo else None,
                reference_path=args.reference,
            ).validated()
            if args.save
            else None
        )
    except (ValueError, UnknownGenreError, ReferenceError) as exc:
        print(f"etude analyze: {exc}", file=sys.stderr)
        return EXIT_USAGE
    midi_dir: Path | None = None
    if args.midi_out is not None and len(args.files) > 1:
        midi_dir = args.midi_out
        if midi_dir.exists() and not midi_dir.is_dir():
            print(
                f"etude analyze: --midi-out {midi_dir} must be a folder for several files",
                file=sys.stderr,
            )
            return EXIT_USAGE
        midi_dir.mkdir(parents=True, exist_ok=True)

    failed = 0
    try:
        saver_cm = _saver(args, plan)
        saver = saver_cm.__enter__()
    except Exception as exc:  # the database or the profile is unusable: nothing was analysed
        print(f"etude analyze: cannot save: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        for name in args.files:
            try:
                recording = analyse_recording(Path(name), settings, reference, args.genre)
            except AudioFileError as exc:
                print(f"etude analyze: {exc}", file=sys.stderr)
                failed += 1
                continue
            result = recording.analysis
            try:
                if args.midi_out is not None:
                    midi_path = (
                        midi_dir / (Path(name).stem + ".mid")
                        if midi_dir is not None
                        else args.midi_out
                    )
                    write_notes_midi(result.notes, midi_path, tempo_bpm=args.tempo or 120.0)
                if saver is not None:
                    saver(recording)
            except Exception as exc:  # one file's save/export failure must not stop the rest
                print(f"etude analyze: {name}: could not save ({exc})", file=sys.stderr)
                failed += 1
            if args.json:
                print(json.dumps(to_json(result, args.frames), ensure_ascii=False), flush=True)
            else:
                print(summary(result, settings), flush=True)
    finally:
        saver_cm.__exit__(None, None, None)
    return EXIT_FILE_ERROR if failed else 0


@contextmanager
def _saver(
    args: argparse.Namespace, plan: SessionPlan | None
) -> Iterator[Callable[[AnalysedRecording], None] | None]:
    """Yields a function storing one analysed file as a session of ``plan``, or None without
    ``--save`` (plan None)."""
    if plan is None:
        yield None
        return
    from desktop.usecases.profiles import profile_to_use
    from desktop.usecases.takes import store_recording
    from storage.config import recordings_dir, resolve_db_url
    from storage.db import open_database

    db = open_database(resolve_db_url(getattr(args, "db", None)))
    try:
        with db.transaction() as s:
            profile_id = profile_to_use(s, args.profile).id
        midi_dir = recordings_dir()
    except BaseException:
        db.dispose()
        raise
    try:

        def save(recording: AnalysedRecording) -> None:
            with db.transaction() as s:
                saved = store_recording(s, profile_id, plan, recording, midi_dir)
            session_id = saved.session.id if saved.session else "?"
            analysis_id = saved.analysis.id if saved.analysis else "?"
            print(
                f"etude analyze: saved {recording.analysis.path} (session {session_id}, "
                f"take {saved.performance.id}, analysis {analysis_id})",
                file=sys.stderr,
            )

        yield save
    finally:
        db.dispose()


def _r(x: float | None, digits: int) -> float | None:
    return None if x is None else round(float(x), digits)


def to_json(result: FileAnalysis, frames: bool) -> dict[str, Any]:
    """The JSON contract of ``etude analyze --json`` for one file (times in seconds)."""
    from storage.records import ANALYSIS_SCORE_FIELDS

    m = dict(result.score.metrics)
    for k in ANALYSIS_SCORE_FIELDS:
        m[k] = _r(m[k], 4)
    m["avg_pitch_deviation_cents"] = _r(m["avg_pitch_deviation_cents"], 2)
    out: dict[str, Any] = {
        "file": result.path,
        "sample_rate": result.sample_rate,
        "duration_s": round(result.duration_s, 4),
        "metrics": m,
        "feedback": result.score.feedback,
        "notes": [
            {
                "onset_s": round(n.onset_s, 4),
                "offset_s": round(n.offset_s, 4),
                "midi": round(n.midi, 3),
                "target_midi": n.target_midi,
                "cents": round(n.cents, 1),
                "level_db": round(n.level_db, 1),
            }
            for n in result.notes
        ],
        "onsets_s": [round(o.t_s, 4) for o in result.onsets],
        "input": result.input.as_json(),
    }
    if frames:
        fr = result.frames
        out["frames"] = [
            {
                "t_s": round(t, 4),
                "f0_hz": round(f, 2),
                "confidence": round(c, 3),
                "level_db": round(lv, 1),
            }
            for t, f, c, lv in zip(
                fr.t_s.tolist(),
                fr.f0_hz.tolist(),
                fr.confidence.tolist(),
                fr.level_db.tolist(),
                strict=True,
            )
        ]
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{round(100 * x)} %"


def input_line(check: Any) -> str:
    """The input check in one line: level, clipping, hum, background (an InputCheck)."""

    def db(x: float | None) -> str:
        return "-" if x is None else f"{x:.0f} dBFS"

    hum = "none" if check.hum_hz is None else f"{check.hum_hz:.0f} Hz at {db(check.hum_db)}"
    snr = "" if check.snr_db is None else f" ({check.snr_db:.0f} dB under the notes)"
    return (
        f"Input              level {db(check.level_db)}, clipping "
        f"{100 * check.clipping_share:.1f} %, hum {hum}, background {db(check.noise_floor_db)}"
        f"{snr}"
    )


def summary(result: FileAnalysis, settings: AnalysisSettings) -> str:
    """A few lines a student understands."""
    m = result.score.metrics
    fb = result.score.feedback
    lines = [
        f"{result.path}: {result.duration_s:.1f} s, {m['total_notes_detected']} notes",
        "  " + input_line(result.input),
    ]
    for p in result.input.problems:
        lines.append(f"  ! {p.message}")
    if not result.input.measurable:
        lines.append(f"  Not measurable: {result.input.reason}")
        return "\n".join(lines)
    if not m["total_notes_detected"]:
        lines.append("  No notes were heard in this recording.")
        return "\n".join(lines)
    lines.append(f"  Overall score      {_pct(m['overall_score'])}")
    lines.append(
        f"  In tune            {_pct(m['pitch_accuracy'])} of notes within "
        f"±{settings.pitch_tolerance_cents:g} cents "
        f"(on average {m['avg_pitch_deviation_cents']:.0f} cents off)"
    )
    if m["rhythm_accuracy"] is None:
        lines.append("  On time            not measured (give --tempo or --reference)")
    else:
        lines.append(
            f"  On time            {_pct(m['rhythm_accuracy'])} of notes within "
            f"±{settings.timing_tolerance_ms:g} ms"
        )
    if m["note_accuracy_rate"] is not None:
        lines.append(f"  Right notes        {_pct(m['note_accuracy_rate'])} of the piece")
    lines.append(f"  Steady timing      {_pct(m['timing_consistency'])}")
    lines.append(f"  Steady tempo       {_pct(m['tempo_stability'])}")
    lines.append(f"  Loud/soft range    {_pct(m['dynamics_range'])}")
    if m["difficulty_estimate"]:
        lines.append(f"  Difficulty         {m['difficulty_estimate']} (of the music played)")
    if m["genre_match_score"] is not None:
        lines.append(f"  Genre fit          {_pct(m['genre_match_score'])}")
    for s in fb["strengths"]:
        lines.append(f"  + {s}")
    for t in fb["tips"]:
        lines.append(f"  - {t}")
    return "\n".join(lines)
