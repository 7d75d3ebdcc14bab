"""CSV export: header, UTF-8, ISO 8601 with offset, empty nulls, round trip, formula escaping."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.analyses import create_analysis_result, get_latest_analysis
from storage.db import Database
from storage.errors import ValidationError
from storage.export import (
    ExportCancelled,
    escape_cell,
    export_csv,
    parse_bound,
    unescape_cell,
)
from storage.models import AnalysisResult, Performance, ProgressMetric, RealtimeSession
from storage.performances import create_performance
from storage.profiles import create_profile
from storage.sessions import create_session, end_session, get_session

T0 = datetime(2025, 4, 1, 17, 0, tzinfo=UTC)
TRICKY = ["=SUM(A1:A9)", "+33 6 12", "-3 dB", "@home", 'Für Elise, "Op." 59\nline 2', "ok"]


def _read(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    with open(path, encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def filled(sqlite_store: Database) -> tuple[Database, uuid.UUID, uuid.UUID]:
    with sqlite_store.transaction() as s:
        uid = create_profile(s, "Ann", "Europe/Paris").id
        other = create_profile(s, "Bob").id
        for i, name in enumerate(TRICKY):
            start = T0 + timedelta(days=i)
            sid = create_session(
                s, uid, name, "=cmd|' /C calc'!A0", 100 + i, "advanced", started_at=start
            ).id
            pid = create_performance(
                s,
                sid,
                f"/rec/{i}.wav",
                notes=name,
                recording_started_at=start,
                recording_duration=1.5,
            ).id
            create_analysis_result(
                s,
                pid,
                0.1 + i / 10,
                None,
                1 / 3,
                0.5,
                {"tips": [name]},
                avg_pitch_deviation_cents=-0.0 + i,
                created_at=start,
            )
            end_session(s, sid, start + timedelta(minutes=10))
        bob_sid = create_session(s, other, "Bob's piece", started_at=T0).id
        end_session(s, bob_sid, T0 + timedelta(minutes=1))
    return sqlite_store, uid, other


def test_all_tables_round_trip(
    filled: tuple[Database, uuid.UUID, uuid.UUID], tmp_path: Path
) -> None:
    db, uid, _ = filled
    out = tmp_path / "export"
    calls: list[tuple[int, int]] = []
    with db.transaction() as s:
        result = export_csv(s, out, "all", uid, progress=lambda d, t: calls.append((d, t)))
    assert sorted(p.name for p in out.iterdir()) == [
        "analyses.csv",
        "performances.csv",
        "progress.csv",
        "sessions.csv",
    ]
    assert result.rows["sessions"] == len(TRICKY) and result.rows["analyses"] == len(TRICKY)
    assert calls[-1][0] == calls[-1][1] == sum(result.rows.values())

    sessions = _read(out / "sessions.csv")
    assert list(sessions[0]) == [c.key for c in RealtimeSession.__table__.columns]
    with db.transaction() as s:
        for row in sessions:
            rec = get_session(s, row["id"])
            assert unescape_cell(row["piece_name"]) == rec.piece_name
            assert unescape_cell(row["genre"]) == rec.genre
            assert datetime.fromisoformat(row["started_at"]) == rec.started_at
            assert row["started_at"].endswith("+00:00")
            assert int(row["target_tempo"]) == rec.target_tempo
            assert row["websocket_session_id"] == ""  # null
    perfs = _read(out / "performances.csv")
    assert list(perfs[0]) == [c.key for c in Performance.__table__.columns]
    assert {unescape_cell(p["notes"]) for p in perfs} == set(TRICKY)
    assert {p["recovered"] for p in perfs} == {"false"}
    analyses = _read(out / "analyses.csv")
    assert list(analyses[0]) == [c.key for c in AnalysisResult.__table__.columns]
    with db.transaction() as s:
        for row in analyses:
            rec = get_latest_analysis(s, row["performance_id"])
            assert rec is not None
            assert float(row["pitch_accuracy"]) == rec.pitch_accuracy  # exact
            assert float(row["dynamics_range"]) == 1 / 3
            assert row["rhythm_accuracy"] == ""
            assert json.loads(unescape_cell(row["feedback_json"])) == json.loads(
                rec.feedback_json or ""
            )
    progress = _read(out / "progress.csv")
    assert list(progress[0]) == [c.key for c in ProgressMetric.__table__.columns]
    assert {r["period_type"] for r in progress} == {"daily", "weekly", "monthly"}
    assert all(r["user_id"] == str(uid) for r in progress)


def test_formula_cells_are_escaped(
    filled: tuple[Database, uuid.UUID, uuid.UUID], tmp_path: Path
) -> None:
    db, uid, _ = filled
    path = tmp_path / "s.csv"
    with db.transaction() as s:
        export_csv(s, path, "sessions", uid)
    rows = _read(path)
    names = {r["piece_name"] for r in rows}
    assert {"'=SUM(A1:A9)", "'+33 6 12", "'-3 dB", "'@home", "ok"} <= names
    assert all(r["genre"] == "'=cmd|' /C calc'!A0" for r in rows)
    for r in rows:  # no cell a spreadsheet would evaluate
        assert not any(v.startswith(("=", "+", "@")) for v in r.values())
    assert escape_cell("-5") == "'-5" and unescape_cell("'-5") == "-5"
    assert unescape_cell("'quoted") == "'quoted"  # a quote the user typed stays
    # Numbers are not user text: a negative deviation stays a number.
    path2 = tmp_path / "a.csv"
    with db.transaction() as s:
        export_csv(s, path2, "analyses", uid)
    assert all(not r["avg_pitch_deviation_cents"].startswith("'") for r in _read(path2))


def test_profile_and_date_filters(
    filled: tuple[Database, uuid.UUID, uuid.UUID], tmp_path: Path
) -> None:
    db, uid, other = filled
    since = parse_bound("2025-04-02", "Europe/Paris", end=False)
    until = parse_bound("2025-04-03", "Europe/Paris", end=True)
    assert since == datetime(2025, 4, 1, 22, tzinfo=UTC)
    assert until == datetime(2025, 4, 3, 22, tzinfo=UTC)
    path = tmp_path / "s.csv"
    with db.transaction() as s:
        export_csv(s, path, "sessions", uid, since, until)
    assert [unescape_cell(r["piece_name"]) for r in _read(path)] == TRICKY[1:3]
    with db.transaction() as s:
        export_csv(s, path, "sessions", other)
    assert [r["piece_name"] for r in _read(path)] == ["Bob's piece"]
    with db.transaction() as s:
        res = export_csv(s, path, "sessions", None)
    assert res.rows["sessions"] == len(TRICKY) + 1


def test_bad_arguments_and_cancel_leave_nothing(
    filled: tuple[Database, uuid.UUID, uuid.UUID], tmp_path: Path
) -> None:
    db, uid, _ = filled
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    with db.transaction() as s:
        with pytest.raises(ValidationError, match="table"):
            export_csv(s, tmp_path / "x.csv", "users", uid)
        with pytest.raises(ValidationError, match="folder must exist"):
            export_csv(s, tmp_path / "missing" / "x.csv", "sessions", uid)
        with pytest.raises(ValidationError, match="file path"):
            export_csv(s, tmp_path, "sessions", uid)
        with pytest.raises(ValidationError, match="until"):
            export_csv(s, tmp_path / "x.csv", "sessions", uid, T0, T0)
        with pytest.raises(ValidationError, match="timezone-aware"):
            export_csv(s, tmp_path / "x.csv", "sessions", uid, datetime(2025, 1, 1))
        with pytest.raises(ValidationError, match="profile"):
            export_csv(s, tmp_path / "x.csv", "sessions", uuid.uuid4())
        with pytest.raises(ValidationError, match="since"):
            parse_bound("yesterday", "UTC", end=False)
        (tmp_path / "keep.csv").write_text("old content")
        with pytest.raises(ExportCancelled):
            export_csv(s, tmp_path / "keep.csv", "sessions", uid, progress=lambda d, t: False)
    assert (tmp_path / "keep.csv").read_text() == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]


def test_plain_utf8_by_default_and_a_byte_order_mark_for_excel_on_request(
    sqlite_store: Database, tmp_path: Path
) -> None:
    """Plain UTF-8 reads back with the csv module as it is. Excel opens a CSV without a
    byte-order mark in the local ANSI code page ("Für Elise" shows as "FÃ¼r Elise"), so the
    mark is there when asked for, and utf-8-sig reads it back."""
    with sqlite_store.transaction() as s:
        uid = create_profile(s, "Zoë").id
        create_session(s, uid, "Für Elise — E♭", started_at=T0)
    plain, excel = tmp_path / "sessions.csv", tmp_path / "sessions-excel.csv"
    with sqlite_store.transaction() as s:
        export_csv(s, plain, "sessions")
        export_csv(s, excel, "sessions", excel_bom=True)
    assert plain.read_bytes().startswith(b"id,")
    (row,) = _read(plain)
    assert row["piece_name"] == "Für Elise — E♭"
    raw = excel.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid,")
    assert raw.count(b"\xef\xbb\xbf") == 1
    assert raw[3:] == plain.read_bytes()
    (row,) = _read(excel, "utf-8-sig")
    assert row["piece_name"] == "Für Elise — E♭"
