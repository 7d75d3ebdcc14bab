"""What Etude asks of the machine: the local time zone (through tzlocal) and the login name.

Each probe runs in a fresh process, because the answer is read once per process, as the app
does at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
import zoneinfo
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = "from storage.config import local_timezone_name as f; print(f())"


def _zone_with(tz: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TZ"}
    if tz is not None:
        env["TZ"] = tz
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


@pytest.mark.parametrize(
    ("tz", "expected"),
    [("Europe/Paris", "Europe/Paris"), (":America/Sao_Paulo", "America/Sao_Paulo")],
)
def test_the_zone_set_for_the_process_is_the_local_zone(tz: str, expected: str) -> None:
    assert _zone_with(tz) == expected


@pytest.mark.parametrize("tz", [None, "Nowhere/Land", "/no/such/file", ""])
def test_the_local_zone_is_always_a_valid_iana_zone(tz: str | None) -> None:
    name = _zone_with(tz)
    assert name in zoneinfo.available_timezones() or name == "UTC", name


def test_a_new_profile_gets_the_machine_zone(tmp_path: Path) -> None:
    env = {**os.environ, "TZ": "Asia/Kolkata", "PYTHONPATH": str(REPO)}
    env["ETUDE_DATA_DIR"] = str(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "desktop", "profiles", "create", "Ravi"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "(Asia/Kolkata)" in run.stdout
