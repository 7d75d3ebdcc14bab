"""`etude analyze` run for real through the CLI entry point, on real files and real SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio.scoring import METRIC_KEYS
from desktop.cli import main
from tests.audio import signals as sg

PIECES = Path(__file__).resolve().parents[2] / "resources" / "pieces"
NOTES = [(60, 0.4), (64, 0.4), (67, 0.4), (72, 0.6)]


@pytest.fixture()
def take(tmp_path: Path) -> Path:
    x, _ = sg.melody(NOTES, gap_s=0.1, lead_s=0.3)
    return Path(sg.write_wav(str(tmp_path / "take.wav"), x))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["analyze", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract(take: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, str(take), "--json", "--frames", "--tempo", "120")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert set(obj) == {
        "file",
        "sample_rate",
        "duration_s",
        "metrics",
        "feedback",
        "notes",
        "onsets_s",
        "frames",
        "input",
    }
    assert obj["file"] == str(take)
    assert obj["sample_rate"] == 44100
    assert obj["duration_s"] == pytest.approx(0.3 + 4 * 0.1 + 1.8 + 0.2, abs=0.01)
    assert tuple(obj["metrics"]) == METRIC_KEYS
    assert set(obj["feedback"]) == {
        "strengths",
        "tips",
        "per_note",
        "note_findings",
        "timing",
        "input",
    }
    # a clean synthetic take: loud enough, no clipping, no hum, nothing wrong
    assert set(obj["input"]) == {
        "level_db",
        "peak_db",
        "clipping_share",
        "hum",
        "noise_floor_db",
        "snr_db",
        "rumble",
        "problems",
        "measurable",
        "reason",
    }
    assert obj["input"]["hum"] is None and obj["input"]["problems"] == []
    assert obj["input"]["clipping_share"] == 0.0 and obj["input"]["measurable"] is True
    assert -25.0 < obj["input"]["level_db"] < -5.0
    assert obj["feedback"]["input"] == obj["input"]
    assert [n["target_midi"] for n in obj["notes"]] == [60, 64, 67, 72]
    assert set(obj["notes"][0]) == {
        "onset_s",
        "offset_s",
        "midi",
        "target_midi",
        "cents",
        "level_db",
    }
    starts = [0.3, 0.8, 1.3, 1.8]
    assert [n["onset_s"] for n in obj["notes"]] == pytest.approx(starts, abs=0.03)
    assert obj["onsets_s"] == pytest.approx(starts, abs=0.03)
    frames = obj["frames"]
    assert set(frames[0]) == {"t_s", "f0_hz", "confidence", "level_db"}
    at = {round(f["t_s"], 2): f for f in frames}
    assert at[0.1]["f0_hz"] == 0  # silence before the first note
    mid_first = min(frames, key=lambda f: abs(f["t_s"] - 0.5))
    assert mid_first["f0_hz"] == pytest.approx(261.63, rel=0.002)
    assert obj["metrics"]["rhythm_accuracy"] is not None
    assert obj["metrics"]["total_notes_detected"] == 4


def test_frames_only_on_request(take: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, str(take), "--json")
    assert code == 0
    obj = json.loads(out)
    assert "frames" not in obj
    assert obj["metrics"]["rhythm_accuracy"] is None  # neither tempo nor reference


def test_plain_summary_speaks_to_a_student(take: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, str(take))
    assert code == 0
    assert "4 notes" in out
    assert "In tune            100 % of notes within ±25 cents" in out
    assert "not measured (give --tempo or --reference)" in out


def test_bad_files_get_one_line_each_and_the_rest_is_analysed(
    take: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("this is not audio\n")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(take.read_bytes()[:30])  # cut inside the WAV header
    missing = tmp_path / "missing.flac"
    code, out, err = run_cli(
        capsys, str(text), str(empty), str(header_only), str(missing), str(take), "--json"
    )
    assert code == 1
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 4
    assert "notes.txt: not a readable audio file" in err_lines[0]
    assert "empty.wav: the file is empty" in err_lines[1]
    assert "header.wav" in err_lines[2]
    assert "missing.flac: no such file" in err_lines[3]
    objs = [json.loads(line) for line in out.strip().splitlines()]
    assert [o["file"] for o in objs] == [str(take)]


def test_truncated_take_is_analysed_up_to_where_it_ends(
    take: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = take.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: 44 + 2 * int(1.0 * 44100)])  # header + first second of samples
    code, out, err = run_cli(capsys, str(cut), "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["duration_s"] == pytest.approx(1.0, abs=0.01)
    assert [n["target_midi"] for n in obj["notes"]] == [60, 64]


def test_bad_options_change_nothing(take: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args, msg in (
        (["--tempo", "500"], "--tempo 500 is outside 20..300"),
        (["--a4", "300"], "--a4 300 is outside 400..480"),
        (["--pitch-tolerance", "0"], "--pitch-tolerance 0 is outside 1..100"),
        (["--genre", "zydeco-core"], "unknown genre"),
        (["--reference", str(take)], "not a readable MIDI file"),
        (["--frames"], "--frames needs --json"),
        (["--piece", "x"], "only make sense with --save"),
    ):
        code, out, err = run_cli(capsys, str(take), *args)
        assert code == 2, args
        assert msg in err
        assert out == ""


def test_reference_and_midi_out(
    take: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import mido

    ref = tmp_path / "arpeggio.mid"
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0))
    for k, (p, _) in enumerate(NOTES):
        tr.append(mido.Message("note_on", note=p, velocity=80, time=0 if k == 0 else 48))
        tr.append(mido.Message("note_off", note=p, time=432))
    mid.save(str(ref))
    out_mid = tmp_path / "detected.mid"
    code, out, err = run_cli(
        capsys, str(take), "--json", "--reference", str(ref), "--midi-out", str(out_mid)
    )
    assert code == 0, err
    m = json.loads(out)["metrics"]
    assert m["note_accuracy_rate"] == pytest.approx(1.0)
    assert m["rhythm_accuracy"] == pytest.approx(1.0)
    back = mido.MidiFile(str(out_mid))
    pitches = [msg.note for msg in back.tracks[0] if msg.type == "note_on"]
    assert pitches == [60, 64, 67, 72]


def test_save_stores_session_take_and_analysis(
    take: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from storage.analyses import get_latest_analysis
    from storage.config import default_db_url
    from storage.db import open_database
    from storage.performances import get_session_performances
    from storage.profiles import ensure_default_profile
    from storage.sessions import get_user_sessions

    code, out, err = run_cli(
        capsys, str(take), "--json", "--save", "--piece", "Arpeggio", "--tempo", "120"
    )
    assert code == 0, err
    assert "saved" in err
    metrics = json.loads(out)["metrics"]
    db = open_database(default_db_url())
    try:
        with db.transaction() as s:
            profile = ensure_default_profile(s)
            sessions = get_user_sessions(s, profile.id)
            assert len(sessions) == 1
            sess = sessions[0]
            assert sess.piece_name == "Arpeggio" and sess.status == "completed"
            assert sess.target_tempo == 120
            perfs = get_session_performances(s, sess.id)
            assert len(perfs) == 1 and perfs[0].audio_path == str(take.resolve())
            assert perfs[0].sample_rate == 44100
            analysis = get_latest_analysis(s, perfs[0].id)
            assert analysis is not None
            assert analysis.total_notes_detected == 4
            assert analysis.pitch_accuracy == pytest.approx(metrics["pitch_accuracy"])
            stored = json.loads(analysis.feedback_json or "{}")
            # What --json prints, plus the per-note timeline the take card draws.
            assert [e["target_midi"] for e in stored.pop("timeline")] == [60, 64, 67, 72]
            assert stored == json.loads(metrics["feedback_json"])
    finally:
        db.dispose()


def test_save_to_an_unknown_profile_saves_nothing(
    take: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, str(take), "--save", "--profile", "Nobody")
    assert code == 2
    assert "Nobody" in err and out == ""


def test_installed_command_runs(take: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "desktop", "analyze", str(take), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["metrics"]["total_notes_detected"] == 4


def test_stereo_flac_is_mixed_to_mono(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x, _ = sg.melody([(69, 0.5)], lead_s=0.2)
    stereo = np.stack([x, np.zeros_like(x)], axis=1)
    path = tmp_path / "take.flac"
    sf.write(str(path), stereo, 48000)
    code, out, err = run_cli(capsys, str(path), "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["sample_rate"] == 48000
    # rendered for 44.1 kHz and played at 48 kHz: A4 comes out 147 cents sharp of 440 Hz
    assert [n["target_midi"] for n in obj["notes"]] == [70]
    assert obj["notes"][0]["cents"] == pytest.approx(46.8, abs=2.0)


def test_a_file_whose_analysis_fails_gets_one_line_and_the_others_are_analysed(
    take: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault inside the analysis (issue 20's crash was one) is reported for that file in one
    line, without a traceback; the other files are analysed; the exit status says it."""
    from audio.tracking import tracker as notes

    x, _ = sg.melody(NOTES, gap_s=0.1, lead_s=0.3)
    bad_len = sg.write_wav(str(tmp_path / "long.wav"), np.concatenate([x, x]))
    bad_before = Path(bad_len).read_bytes()
    real_push = notes.NoteTracker.push

    def push_failing_late(self: notes.NoteTracker, t_s: float, *a: object, **k: object) -> object:
        if t_s > 3.0:  # only the long file gets this far
            raise IndexError("list index out of range")
        return real_push(self, t_s, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(notes.NoteTracker, "push", push_failing_late)
    code, out, err = run_cli(capsys, bad_len, str(take), "--json")
    assert code == 1
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 1, err
    assert "long.wav: the analysis failed at" in err_lines[0]
    assert "IndexError" in err_lines[0] and "Traceback" not in err
    objs = [json.loads(line) for line in out.strip().splitlines()]
    assert [o["file"] for o in objs] == [str(take)]
    assert Path(bad_len).read_bytes() == bad_before
