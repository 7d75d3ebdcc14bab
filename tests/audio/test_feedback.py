"""Feedback that points at the mistake: per played note, with its time and bar, checked on a
take synthesised with known detuning and timing, analysed for real (file and `etude analyze`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mido
import numpy as np
import pytest

from audio.feedback import NoteResult, TimingSummary, build_feedback, clock
from audio.fileanalysis import analyze_file
from audio.reference import load_reference
from audio.settings import AnalysisSettings
from desktop.cli import main
from tests.audio import signals as sg

BEAT_S = 0.5  # 120 BPM, a quarter note a beat, 4/4
LEAD_S = 0.5
# The piece, a quarter note each, four to a bar. Its notes 3 and 9 are both G4 and notes 6
# and 12 are D4: the take below plays note 9 46 cents sharp, note 3 in tune, note 12 42 cents
# flat (note 6 in tune), and note 7 160 ms late.
PIECE = [60, 64, 67, 64, 60, 62, 64, 65, 67, 65, 64, 62, 60]
CENTS = {9: 46.0, 12: -42.0}
LATE_MS = {7: 160.0}


def write_reference(path: Path) -> Path:
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0))
    for m in PIECE:
        tr.append(mido.Message("note_on", note=m, velocity=80, time=0))
        tr.append(mido.Message("note_off", note=m, velocity=0, time=360))
        tr.append(mido.Message("note_on", note=m, velocity=0, time=120))
    mid.save(str(path))
    return path


def render_take(path: Path) -> Path:
    """The piece as played: the detuned and late notes above, the rest in time and in tune."""
    sr = sg.SR
    x = np.zeros(round((LEAD_S + BEAT_S * len(PIECE) + 1.0) * sr), dtype=np.float32)
    for k, m in enumerate(PIECE, 1):
        onset = LEAD_S + BEAT_S * (k - 1) + LATE_MS.get(k, 0.0) / 1000.0
        y = sg.tone(m + CENTS.get(k, 0.0) / 100.0, 0.3, amp=0.3, sr=sr)
        i = round(onset * sr)
        x[i : i + y.size] += y
    return Path(sg.write_wav(str(path), x, sr))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("feedback")
    return render_take(d / "take.wav"), write_reference(d / "piece.mid")


def _figure(tips: list[str], pattern: str) -> float:
    found = [m for t in tips if (m := re.fullmatch(pattern, t))]
    assert len(found) == 1, (pattern, tips)
    return float(found[0].group(1))


def test_feedback_names_the_sharp_and_the_flat_note_of_a_known_take(
    files: tuple[Path, Path],
) -> None:
    take, piece = files
    result = analyze_file(take, AnalysisSettings(), reference=load_reference(piece))
    tips = result.score.feedback["tips"]
    # Note 9 starts at 0.5 + 8 x 0.5 = 4.5 s (0:04), note 12 at 6.0 s (0:06), both in bar 3.
    assert _figure(tips, r"The G4 at 0:04 \(bar 3\) was (\d+) cents sharp\.") == pytest.approx(
        46, abs=3
    )
    assert _figure(tips, r"The D4 at 0:06 \(bar 3\) was (\d+) cents flat\.") == pytest.approx(
        42, abs=3
    )
    assert _figure(tips, r"Note 7 \(bar 2\) came in (\d+) ms late\.") == pytest.approx(160, abs=15)
    # One sharp G4 and one in tune is no tendency of G4 (it used to read "runs 23 cents sharp"),
    # and one late note is no dragging of the beats.
    assert not [t for t in tips if "runs" in t or "drag" in t or "rush" in t], tips
    findings = result.score.feedback["note_findings"]
    assert [(f["number"], f["note"], f["bar"], f["pitch"], f["timing"]) for f in findings] == [
        (7, "E4", 2, None, "late"),
        (9, "G4", 3, "sharp", None),
        (12, "D4", 3, "flat", None),
    ]
    assert findings[1]["onset_s"] == pytest.approx(4.5, abs=0.03)
    assert findings[1]["time"] == "0:04"
    assert findings[2]["cents"] == pytest.approx(-42, abs=3)
    assert findings[0]["timing_ms"] == pytest.approx(160, abs=15)
    # The per-name means stay in the JSON: G4's is the average of +46 and 0.
    g4 = next(r for r in result.score.feedback["per_note"] if r["note"] == "G4")
    assert g4["count"] == 2 and g4["mean_cents"] == pytest.approx(23, abs=3)


def test_etude_analyze_prints_the_same_words_and_the_findings(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    take, piece = files
    assert main(["analyze", str(take), "--reference", str(piece)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"- The G4 at 0:04 \(bar 3\) was \d+ cents sharp\.", text), text
    assert re.search(r"- The D4 at 0:06 \(bar 3\) was \d+ cents flat\.", text), text
    assert re.search(r"- Note 7 \(bar 2\) came in \d+ ms late\.", text), text
    assert main(["analyze", str(take), "--reference", str(piece), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    findings = obj["feedback"]["note_findings"]
    assert [(f["number"], f["bar"], f["time"]) for f in findings] == [
        (7, 2, "0:03"),
        (9, 3, "0:04"),
        (12, 3, "0:06"),
    ]


def test_with_a_tempo_only_notes_are_told_by_time_without_bars(
    files: tuple[Path, Path],
) -> None:
    take, _ = files
    result = analyze_file(take, AnalysisSettings(target_tempo_bpm=120.0))
    tips = result.score.feedback["tips"]
    assert _figure(tips, r"The G4 at 0:04 was (\d+) cents sharp\.") == pytest.approx(46, abs=3)
    assert _figure(tips, r"The D4 at 0:06 was (\d+) cents flat\.") == pytest.approx(42, abs=3)
    # 160 ms late is nearer the next eighth of the grid (250 ms) than its own: without the
    # piece nobody can tell late from early there, so neither is claimed.
    assert not [t for t in tips if t.startswith("Note")], tips


def test_with_a_tempo_only_a_note_clearly_off_its_beat_is_told(tmp_path: Path) -> None:
    sr = sg.SR
    x = np.zeros(round(5.0 * sr), dtype=np.float32)
    for k in range(8):
        y = sg.tone(69, 0.3, amp=0.3, sr=sr)
        i = round((LEAD_S + BEAT_S * k + (0.055 if k == 4 else 0.0)) * sr)
        x[i : i + y.size] += y
    take = Path(sg.write_wav(str(tmp_path / "late.wav"), x, sr))
    tips = analyze_file(take, AnalysisSettings(target_tempo_bpm=120.0)).score.feedback["tips"]
    assert _figure(tips, r"Note 5 came in (\d+) ms late\.") == pytest.approx(55, abs=10)


def _notes(cents: list[tuple[int, float]]) -> list[NoteResult]:
    return [NoteResult(m, c, onset_s=1.0 + k) for k, (m, c) in enumerate(cents)]


def _tips(notes: list[NoteResult]) -> list[str]:
    fb = build_feedback({}, notes, None, 25.0, 50.0)
    return list(fb["tips"])


def test_a_tendency_is_told_only_when_the_notes_of_a_name_agree() -> None:
    agree = _tips(_notes([(67, 31.0), (60, 0.0), (67, 28.0), (62, 2.0), (67, 33.0)]))
    assert "Your G4 runs 31 cents sharp." in agree
    # ... and its notes are not listed one by one as well
    assert not [t for t in agree if t.startswith("The G4")], agree
    split = _tips(_notes([(67, 46.0), (60, 0.0), (67, 0.0), (62, -42.0)]))
    assert not [t for t in split if "runs" in t], split
    assert "The G4 at 0:01 was 46 cents sharp." in split
    assert "The D4 at 0:04 was 42 cents flat." in split


def test_one_sharp_note_among_in_tune_ones_is_not_playing_sharp_overall() -> None:
    tips = _tips(_notes([(60, 46.0), (62, 0.0), (64, 2.0), (65, -1.0)]))
    assert "The C4 at 0:01 was 46 cents sharp." in tips
    assert not [t for t in tips if t.startswith("Overall")], tips
    tips = _tips(_notes([(60, 18.0), (62, 14.0), (64, 16.0), (65, 0.0)]))
    assert "Overall you play 15 cents sharp: check your tuning note." in tips


def test_many_notes_out_of_tune_name_the_worst_and_count_the_rest() -> None:
    cents = [30.0, -35.0, 40.0, -45.0, 28.0, 0.0]
    tips = _tips(_notes([(60 + 2 * k, c) for k, c in enumerate(cents)]))
    named = [t for t in tips if t.startswith("The ")]
    assert named == [
        "The D4 at 0:02 was 35 cents flat.",
        "The E4 at 0:03 was 40 cents sharp.",
        "The F♯4 at 0:04 was 45 cents flat.",
    ]
    assert "2 more notes were out of tune." in tips


def test_clock_reads_minutes_and_seconds() -> None:
    assert [clock(t) for t in (0.0, 7.4, 59.99, 75.0, 3600.0)] == [
        "0:00",
        "0:07",
        "0:59",
        "1:15",
        "60:00",
    ]


def test_with_a_reference_notes_are_numbered_as_in_the_piece() -> None:
    # The take's second note was missed: its third note is the piece's fourth, 90 ms late.
    notes = [
        NoteResult(60, 0.0, onset_s=1.0, timing_ms=0.0, bar=1, piece_number=1),
        NoteResult(64, 0.0, onset_s=2.0, timing_ms=5.0, bar=1, piece_number=3),
        NoteResult(67, 0.0, onset_s=2.6, timing_ms=90.0, bar=1, piece_number=4),
    ]
    fb = build_feedback({}, notes, None, 25.0, 50.0)
    assert fb["note_findings"][0]["number"] == 3
    assert fb["note_findings"][0]["piece_number"] == 4
    timing = TimingSummary("reference", 0.0, 40.0, 30.0, None, None, 0, 0)
    fb = build_feedback({}, notes, timing, 25.0, 50.0)
    assert "Note 4 (bar 1) came in 90 ms late." in fb["tips"]


def _sung_scale_flat(tmp_path: Path) -> Path:
    """A scale sung 20 cents flat throughout: each note scoops up from a semitone below for
    60 ms, with a 30-cent vibrato, and a breath between notes."""
    parts = [sg.silence(0.3)]
    for m in (60, 62, 64, 65, 67, 65, 64, 62, 60):
        flat = m - 0.2
        parts += [
            sg.tone(flat, 0.5, vibrato_cents=30.0, glide_from=flat - 1.0, glide_s=0.06),
            sg.silence(0.08),
        ]
    return Path(sg.write_wav(str(tmp_path / "sung.wav"), np.concatenate([*parts, sg.silence(0.3)])))


def test_a_singer_is_told_to_sing_against_a_pitch_and_a_player_to_check_the_tuning_note(
    tmp_path: Path,
) -> None:
    take = _sung_scale_flat(tmp_path)
    tips = {
        genre: analyze_file(take, AnalysisSettings(), genre=genre).score.feedback["tips"]
        for genre in ("sight_singing", "choir", "voice", "classical", None)
    }
    for genre in ("sight_singing", "choir", "voice"):
        overall = [t for t in tips[genre] if t.startswith("Overall")]
        assert len(overall) == 1, tips[genre]
        assert re.fullmatch(
            r"Overall you sing (1\d|2\d) cents flat: sing against a reference pitch or a drone, "
            r"and take your starting note from it\.",
            overall[0],
        ), overall
        assert not [t for t in tips[genre] if "tuning note" in t or "play" in t], tips[genre]
    for genre in ("classical", None):  # an instrument's take, or a genre not given
        overall = [t for t in tips[genre] if t.startswith("Overall")]
        assert len(overall) == 1 and re.fullmatch(
            r"Overall you play (1\d|2\d) cents flat: check your tuning note\.", overall[0]
        ), tips[genre]
        assert not [t for t in tips[genre] if "sing" in t], tips[genre]


@pytest.mark.parametrize(
    ("family", "silent", "intonation", "right"),
    [
        (
            "voice",
            "sing a little louder",
            "Sing it slowly and hold each note",
            "You sang the notes",
        ),
        ("instrument", "play a little louder", "Play slowly with a drone", "You played the notes"),
    ],
)
def test_every_family_dependent_sentence_speaks_to_its_family(
    family: str, silent: str, intonation: str, right: str
) -> None:
    (no_notes,) = build_feedback({}, [], None, 25.0, 50.0, family=family)["tips"]
    assert silent in no_notes
    wild = _notes([(60 + k, c) for k, c in enumerate([40.0, -45.0, 35.0, 0.0, -38.0])])
    fb = build_feedback(
        {"pitch_accuracy": 0.2, "note_accuracy_rate": 1.0}, wild, None, 25.0, 50.0, family=family
    )
    assert (
        [t for t in fb["tips"] if t.startswith("Only 20% of your notes")]
        == [t for t in fb["tips"] if intonation in t]
        != []
    )
    assert [s for s in fb["strengths"] if s.startswith(right)], fb["strengths"]
