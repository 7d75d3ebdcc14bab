"""The storage commands end to end (real SQLite file in ETUDE_DATA_DIR) and the demo history."""

from __future__ import annotations

import csv
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from desktop.cli import main
from storage import progress
from storage.analyses import get_latest_analysis
from storage.config import data_dir, default_db_url, recordings_dir, resolve_db_url
from storage.db import open_database
from storage.demo import DEMO_PROFILE_NAME, create_demo, generate_history
from storage.performances import get_session_performances
from storage.profiles import create_profile, list_profiles
from storage.sessions import get_user_sessions
from storage.stats import calculate_user_stats


def test_config_paths_follow_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETUDE_DATA_DIR", str(tmp_path / "d"))
    assert data_dir() == tmp_path / "d" and data_dir().is_dir()
    assert recordings_dir() == tmp_path / "d" / "recordings"
    assert default_db_url() == f"sqlite:///{(tmp_path / 'd' / 'etude.db').as_posix()}"
    assert resolve_db_url(None) == default_db_url()
    monkeypatch.setenv("ETUDE_DB_URL", "sqlite:////x.db")
    assert resolve_db_url(None) == "sqlite:////x.db"
    assert resolve_db_url("postgresql://h/db") == "postgresql://h/db"


def test_commands_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    assert "no profiles yet" in capsys.readouterr().out
    assert main(["profiles", "create", "Clara", "--timezone", "Europe/Berlin"]) == 0
    assert "Clara" in capsys.readouterr().out
    assert main(["demo", "--days", "60", "--timezone", "UTC"]) == 0
    out = capsys.readouterr().out
    assert DEMO_PROFILE_NAME in out and "progress rows" in out
    assert main(["sessions", "--profile", DEMO_PROFILE_NAME, "--limit", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{DEMO_PROFILE_NAME}: 5 session(s)" and len(lines) == 7
    assert main(["stats", "--profile", DEMO_PROFILE_NAME, "--days", "30"]) == 0
    stats = capsys.readouterr().out
    assert "total_sessions" in stats and "longest_streak_days" in stats
    # Without --profile, the first real profile (not the demo) is used.
    assert main(["stats"]) == 0
    assert capsys.readouterr().out.startswith("Clara, last 30 days")
    assert main(["progress", "rebuild", "--profile", DEMO_PROFILE_NAME]) == 0
    assert "rebuilt" in capsys.readouterr().out
    assert main(["progress", "rebuild", "--all"]) == 0
    out_dir = tmp_path / "csv"
    assert main(["export", "--profile", DEMO_PROFILE_NAME, "--out", str(out_dir)]) == 0
    with open(out_dir / "sessions.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 20
    one = tmp_path / "p.csv"
    assert (
        main(
            [
                "export",
                "--table",
                "progress",
                "--profile",
                DEMO_PROFILE_NAME,
                "--since",
                "2020-01-01",
                "--out",
                str(one),
            ]
        )
        == 0
    )
    assert not one.read_bytes().startswith(b"\xef\xbb\xbf")  # plain UTF-8 unless --bom
    excel = tmp_path / "p-excel.csv"
    argv = ["export", "--table", "progress", "--profile", DEMO_PROFILE_NAME, "--out", str(excel)]
    assert main([*argv, "--since", "2020-01-01", "--bom"]) == 0
    assert excel.read_bytes() == b"\xef\xbb\xbf" + one.read_bytes()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["stats", "--days", "0"], "days"),
        (["sessions", "--profile", "Nobody"], "Nobody"),
        (["sessions", "--limit", "5000"], "limit"),
        (["export", "--out", "/nonexistent/dir/x.csv", "--table", "sessions"], "folder"),
        (["export", "--out", "x", "--since", "not-a-date"], "since"),
        (["demo", "--days", "0"], "days"),
        (["profiles", "create", "Z", "--timezone", "Atlantis/Nowhere"], "timezone"),
        (["--db", "postgresql+psycopg://nobody@127.0.0.1:1/none", "stats"], "database error"),
    ],
)
def test_errors_are_one_line_and_change_nothing(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["profiles", "create", "Ann", "--timezone", "UTC"]) == 0
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    db = open_database(default_db_url())
    with db.transaction() as s:
        assert [p.display_name for p in list_profiles(s)] == ["Ann"]
    db.dispose()


def test_demo_history_is_realistic_and_replaced(sqlite_store) -> None:  # type: ignore[no-untyped-def]
    with sqlite_store.transaction() as s:
        first = create_demo(s, 200, "Europe/Paris")
    with sqlite_store.transaction() as s:
        second = create_demo(s, 200, "Europe/Paris")
        assert [p.display_name for p in list_profiles(s)] == [DEMO_PROFILE_NAME]
        sessions = get_user_sessions(s, second.user_id, limit=1000)
    assert first.sessions == second.sessions == len(sessions)  # seeded: same history
    assert 100 < second.sessions < 600 and second.analyses >= second.performances
    assert len({r.piece_name for r in sessions}) >= 8
    assert len({r.genre for r in sessions}) >= 4
    assert len({r.target_tempo for r in sessions}) >= 8
    days = sorted({r.started_at.date() for r in sessions})
    gaps = [(b - a).days for a, b in itertools.pairwise(days)]
    assert max(gaps) >= 2  # there are days off
    with sqlite_store.transaction() as s:
        monthly = progress.progress_series(s, second.user_id, "monthly", "avg_overall_score")
        tend = progress.intonation_tendencies(s, second.user_id)
        latest = get_latest_analysis(s, get_session_performances(s, sessions[0].id)[0].id)
    values = [v for _, v in monthly if v is not None]
    assert values[-1] > values[0]  # slow improvement
    assert "F#5" in tend and tend["F#5"][-1][1] < tend["F#5"][0][1]  # comes into tune
    assert latest is not None and "per_note" in json.loads(latest.feedback_json or "{}")


def test_heavy_history_counts(sqlite_store) -> None:  # type: ignore[no-untyped-def]
    with sqlite_store.transaction() as s:
        uid = create_profile(s, "Heavy").id
        counts = generate_history(
            s,
            uid,
            10,
            end=datetime(2025, 1, 11, tzinfo=UTC),
            sessions_per_day=3,
            takes_per_session=3,
            analyses_per_take=2,
        )
        assert counts == (30, 90, 180)
        rows = progress.rebuild_user(s, uid)
        stats = calculate_user_stats(s, uid, 30, now=datetime(2025, 1, 11, tzinfo=UTC))
    assert rows == 10 + 2 + 1  # 1..10 Jan: ten days, ISO weeks of 30 Dec and 6 Jan, January
    assert stats.total_sessions == 30 and stats.total_analyses == 180
    assert stats.longest_streak_days == 10
    assert stats.current_streak_days == 10
