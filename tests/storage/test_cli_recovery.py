"""The commands that read run the window's start-up recovery first, and a full disk is named.

Real parts: a recording process killed with SIGKILL mid-take, a second process holding the data
folder as a running Etude does, and a real 4 MB tmpfs filled to the last byte.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from desktop.cli import main
from storage.config import data_dir, default_db_url, recordings_dir
from storage.db import open_database
from storage.errors import DiskFullError
from storage.performances import get_session_performances
from storage.profiles import create_profile, list_profiles
from storage.sessions import create_session, get_session
from tests.conftest import fill_disk

REPO = Path(__file__).resolve().parents[2]
RECORDER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from audio.recorder import TakeRecorder
    rec = TakeRecorder(sys.argv[1], 48000, "FLAC")
    tone = (0.3 * np.sin(np.arange(48000) * 0.06)).astype(np.float32)
    for _ in range(30):
        rec.write(tone)
        print("second", flush=True)
        time.sleep(1.0)
    """
)
HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from desktop.usecases.recovery import claim_data_folder
    lock = claim_data_folder(Path(sys.argv[1]))
    print("held" if lock else "refused", flush=True)
    time.sleep(120)
    """
)


def _child(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _crashed_session_with_a_killed_take() -> tuple[uuid.UUID, Path]:
    """A session left active and a take whose recording process was killed mid-take."""
    db = open_database(default_db_url())
    with db.transaction() as s:
        uid = create_profile(s, "Ann", "UTC").id
        sid = create_session(s, uid, "Crashed").id
    db.dispose()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    take = recordings_dir() / f"take-{stamp}-{str(sid)[:8]}-01.flac"
    child = _child(RECORDER, str(take))
    assert child.stdout is not None
    for _ in range(2):  # two seconds handed over, more than one flush
        assert child.stdout.readline().strip() == "second"
    time.sleep(0.7)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert take.with_name(take.name + ".part").exists()
    return sid, take


def test_sessions_and_stats_first_recover_what_a_crash_left(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sid, take = _crashed_session_with_a_killed_take()
    assert main(["sessions"]) == 0
    out, err = capsys.readouterr()
    assert "abandoned" in out.splitlines()[2]  # as the window would show it
    assert "1 unfinished session(s) were kept as 'abandoned'" in err
    assert "1 interrupted take(s) were repaired" in err
    db = open_database(default_db_url())
    with db.transaction() as s:
        assert get_session(s, sid).status == "abandoned"
        (perf,) = get_session_performances(s, sid)
        assert perf.recovered and perf.recording_duration >= 1.0
    db.dispose()
    assert not list(recordings_dir().glob("*.part"))
    assert Path(perf.audio_path or "") == take.with_name(f"{take.stem}.recovered.flac")
    # Done once: the next command has nothing left to recover and says nothing about it.
    assert main(["stats"]) == 0
    assert "stopped unexpectedly" not in capsys.readouterr().err


def test_a_running_etude_keeps_its_session_active_for_the_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = open_database(default_db_url())
    with db.transaction() as s:
        uid = create_profile(s, "Ann", "UTC").id
        sid = create_session(s, uid, "Practising now").id
    db.dispose()
    holder = _child(HOLDER, str(data_dir()))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert main(["stats"]) == 0
        assert main(["sessions", "--status", "active"]) == 0
        out, err = capsys.readouterr()
        assert "Practising now" in out and "stopped unexpectedly" not in err
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    db = open_database(default_db_url())
    with db.transaction() as s:
        assert get_session(s, sid).status == "active"
    db.dispose()


def test_a_full_disk_is_named_when_even_reading_fails(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ETUDE_DATA_DIR", str(small_disk / "Etude"))
    assert main(["profiles", "create", "Ann", "--timezone", "UTC"]) == 0
    filler = fill_disk(small_disk)
    capsys.readouterr()
    for command in (["sessions"], ["stats"], ["profiles"]):
        assert main(command) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is full" in err[0] and str(small_disk) in err[0], err
        assert "I/O" not in err[0]
    with pytest.raises(DiskFullError, match="Free some space"):
        open_database(default_db_url())
    filler.unlink()  # space freed: everything is there, untouched
    assert main(["sessions"]) == 0
    db = open_database(default_db_url())
    with db.transaction() as s:
        assert [p.display_name for p in list_profiles(s)] == ["Ann"]
    db.dispose()
