"""Reference pieces: MIDI loading, transposition, alignment, and scoring against them."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from audio.analyzer import StreamAnalyzer
from audio.midi_out import write_notes_midi
from audio.records import Note
from audio.reference import ReferenceError, align, load_reference
from audio.scoring import score_take
from audio.settings import AnalysisSettings
from tests.audio import signals as sg

PIECES = Path(__file__).resolve().parents[2] / "resources" / "pieces"


def write_midi(
    path: Path, tracks: list[list[tuple[int, int, float, float]]], bpm: float = 120
) -> Path:
    """tracks: lists of (channel, pitch, onset_beats, length_beats)."""
    mid = mido.MidiFile(ticks_per_beat=480)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    mid.tracks.append(meta)
    for notes in tracks:
        ev = []
        for ch, p, on, ln in notes:
            ev.append(
                (round(on * 480), 1, mido.Message("note_on", channel=ch, note=p, velocity=70))
            )
            ev.append((round((on + ln) * 480), 0, mido.Message("note_off", channel=ch, note=p)))
        ev.sort(key=lambda e: (e[0], e[1]))
        tr = mido.MidiTrack()
        last = 0
        for tick, _, msg in ev:
            tr.append(msg.copy(time=tick - last))
            last = tick
        mid.tracks.append(tr)
    mid.save(str(path))
    return path


def test_loads_first_track_with_notes_in_seconds(tmp_path: Path) -> None:
    path = write_midi(tmp_path / "a.mid", [[(0, 60, 1, 1), (0, 62, 2, 0.5), (0, 64, 2.5, 1.5)]])
    ref = load_reference(path)
    assert [n.midi for n in ref.notes] == [60, 62, 64]
    assert [n.onset_s for n in ref.notes] == pytest.approx([0.0, 0.5, 0.75])
    assert ref.notes[2].offset_s == pytest.approx(1.5)
    assert ref.tempo_bpm == pytest.approx(120.0)


def test_track_channel_and_transposition(tmp_path: Path) -> None:
    path = write_midi(
        tmp_path / "b.mid",
        [[(0, 60, 0, 1), (1, 48, 0, 2)], [(2, 72, 0, 1), (2, 74, 1, 1)]],
    )
    assert [n.midi for n in load_reference(path, channel=1).notes] == [48]
    assert [n.midi for n in load_reference(path, track=2).notes] == [72, 74]
    # written D5 on a B-flat clarinet sounds C5
    assert [n.midi for n in load_reference(path, track=2, transpose_semitones=-2).notes] == [70, 72]


def test_bad_reference_files_get_clear_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.mid"
    text.write_text("not midi at all")
    with pytest.raises(ReferenceError, match="not a readable MIDI file"):
        load_reference(text)
    with pytest.raises(ReferenceError, match="no such reference file"):
        load_reference(tmp_path / "missing.mid")
    empty = write_midi(tmp_path / "empty.mid", [[]])
    with pytest.raises(ReferenceError, match="no notes"):
        load_reference(empty)
    with pytest.raises(ReferenceError, match="track 9 does not exist"):
        load_reference(empty, track=9)
    with pytest.raises(ReferenceError, match="transposition 30"):
        load_reference(empty, transpose_semitones=30)
    zero = tmp_path / "zero.mid"
    zero.write_bytes(b"")
    with pytest.raises(ReferenceError, match=r"not a readable MIDI file \(the file is empty\)$"):
        load_reference(zero)
    cut = tmp_path / "cut.mid"
    cut.write_bytes(empty.read_bytes()[:20])
    with pytest.raises(ReferenceError, match=r"\(the file is cut short\)$"):
        load_reference(cut)


def test_shipped_pieces_load() -> None:
    names = sorted(p.name for p in PIECES.glob("*.mid"))
    assert {"c_major_scale.mid", "ode_to_joy.mid", "twinkle.mid"} <= set(names)
    ode = load_reference(PIECES / "ode_to_joy.mid")
    assert [n.midi for n in ode.notes][:5] == [64, 64, 65, 67, 67]
    assert ode.tempo_bpm == pytest.approx(100.0)


def test_alignment_survives_a_missed_and_an_extra_note() -> None:
    ref = load_reference(PIECES / "ode_to_joy.mid")
    # Played 10 % slower, starting 1.3 s into the take; note 4 left out; an extra C4 after 8.
    played: list[tuple[float, float]] = []
    for j, rn in enumerate(ref.notes):
        if j == 4:
            continue
        played.append((1.3 + 1.1 * rn.onset_s, float(rn.midi)))
        if j == 8:
            played.append((1.3 + 1.1 * rn.onset_s + 0.25, 60.0))
    al = align([t for t, _ in played], [m for _, m in played], ref)
    assert al.scale == pytest.approx(1.1, abs=0.01)
    assert al.offset_s == pytest.approx(1.3, abs=0.02)
    pairs = dict(al.pairs)
    # performed index -> reference index; the missed note shifts indices by one after it
    assert pairs[0] == 0 and pairs[3] == 3 and pairs[4] == 5
    extra = 8  # played right after reference note 8 (performed index 7)
    assert played[extra][1] == 60.0 and pairs[7] == 8
    assert extra not in pairs
    assert pairs[9] == 9
    assert 4 not in set(pairs.values())


def test_alignment_survives_a_missed_first_note() -> None:
    ref = load_reference(PIECES / "c_major_scale.mid")
    played = [(0.5 + rn.onset_s, float(rn.midi)) for rn in ref.notes[1:]]
    al = align([t for t, _ in played], [m for _, m in played], ref)
    assert dict(al.pairs)[0] == 1
    assert al.offset_s == pytest.approx(0.5, abs=0.02)


def _note(t: float, midi: float) -> Note:
    return Note(t, t + 0.3, midi, round(midi), (midi - round(midi)) * 100, -20.0, 0.0)


def test_scoring_against_a_reference() -> None:
    ref = load_reference(PIECES / "twinkle.mid")
    notes = []
    for j, rn in enumerate(ref.notes):
        if j == 6:
            continue  # missed
        pitch = float(rn.midi)
        t = 0.8 + rn.onset_s
        if j == 3:
            pitch += 2.0  # wrong note
        if j == 9:
            t += 0.08  # late beyond 50 ms
        if j == 10:
            pitch += 0.3  # 30 cents sharp
        notes.append(_note(t, pitch))
    s = score_take(notes, [], [], AnalysisSettings(), reference=ref, duration_s=12.0)
    m = s.metrics
    n_ref = len(ref.notes)
    assert m["note_accuracy_rate"] == pytest.approx((n_ref - 2) / n_ref)
    assert m["pitch_accuracy"] == pytest.approx((len(notes) - 2) / len(notes))
    assert m["rhythm_accuracy"] == pytest.approx((len(notes) - 1) / len(notes))
    wrong = next(n for n in s.notes if n.ref_index == 3)
    assert wrong.target_midi == ref.notes[3].midi and wrong.cents == pytest.approx(200.0)
    tips = " ".join(s.feedback["tips"])
    assert "left out 1 note" in tips and "A4 instead of G4" in tips


def test_rendered_piece_scores_right_against_its_reference() -> None:
    ref = load_reference(PIECES / "c_major_scale.mid")
    x, _ = sg.melody([(n.midi, 0.675) for n in ref.notes], gap_s=0.075, lead_s=0.5, release_s=0.03)
    an = StreamAnalyzer(sg.SR, AnalysisSettings(), ref)
    for i in range(0, x.size - 255, 256):
        an.process(x[i : i + 256], 0.0)
    an.finish(0.0)
    assert [n.ref_index for n in an.notes] == list(range(len(ref.notes)))
    s = score_take(an.notes, an.onsets, an.frames, AnalysisSettings(), reference=ref)
    assert s.metrics["note_accuracy_rate"] == pytest.approx(1.0)
    assert s.metrics["pitch_accuracy"] == pytest.approx(1.0)
    assert s.metrics["rhythm_accuracy"] == pytest.approx(1.0)


def test_detected_notes_round_trip_through_midi(tmp_path: Path) -> None:
    notes = [_note(0.25 + 0.5 * k, 60.0 + k + 0.2) for k in range(5)]
    notes.append(_note(0.25 + 0.5 * 5, 64.0))
    notes.append(_note(0.25 + 0.5 * 5 + 0.3, 64.0))  # repeated right after: must stay two notes
    path = write_notes_midi(notes, tmp_path / "out.mid", tempo_bpm=90)
    back = load_reference(path)
    assert [n.midi for n in back.notes] == [round(n.midi) for n in notes]
    assert [n.onset_s for n in back.notes] == pytest.approx(
        [n.onset_s - notes[0].onset_s for n in notes], abs=0.002
    )
    with pytest.raises(ValueError, match="tempo 500"):
        write_notes_midi(notes, tmp_path / "x.mid", tempo_bpm=500)
    assert np.isclose(back.tempo_bpm or 0, 90.0)


def test_a_note_that_overlaps_the_same_key_ends_the_held_one_in_midi(tmp_path: Path) -> None:
    # The tracker can date a note that resumes after a break 23 ms before the previous note of
    # the same pitch ended. In the file the first note must end where the second begins, or
    # its note-off (after the second note-on) would silence the second note.
    first = Note(1.0, 1.5, 64.0, 64, 0.0, -20.0, 0.0)
    second = Note(1.477, 2.0, 64.1, 64, 10.0, -20.0, 0.0)
    path = write_notes_midi([first, second], tmp_path / "overlap.mid", tempo_bpm=120)
    t, sounding, spans = 0.0, {}, []
    for msg in mido.MidiFile(str(path)):
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            assert msg.note not in sounding, "note-on over a key that is still held"
            sounding[msg.note] = t
        elif msg.type in ("note_off", "note_on"):
            spans.append((sounding.pop(msg.note), t))
    assert spans == [
        (pytest.approx(1.0, abs=0.002), pytest.approx(1.477, abs=0.002)),
        (pytest.approx(1.477, abs=0.002), pytest.approx(2.0, abs=0.002)),
    ]


def test_live_targets_follow_the_piece_past_a_missed_and_an_extra_note() -> None:
    ref = load_reference(PIECES / "c_major_scale.mid")
    played = [n.midi for n in ref.notes]
    del played[3]  # F4 left out
    played.insert(6, 49)  # a stray C#3 after the A4
    x, _ = sg.melody([(float(m), 0.4) for m in played], gap_s=0.1, lead_s=0.3)
    an = StreamAnalyzer(sg.SR, AnalysisSettings(), ref)
    for i in range(0, x.size - 255, 256):
        an.process(x[i : i + 256], 0.0)
    an.finish(0.0)
    assert [round(n.midi) for n in an.notes] == played
    want = [0, 1, 2, 4, 5, 6, None, 7, 8, 9, 10, 11, 12, 13, 14]
    got = [n.ref_index for n in an.notes]
    # the stray note is taken for the expected B4 for a moment; the next note puts it right
    assert got[:6] == want[:6] and got[7:] == want[7:]
