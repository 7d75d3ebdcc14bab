"""Smoke test: the real ``etude`` command on a real X server (Xvfb), listening to the
PulseAudio null-sink microphone for about 10 s while a recording plays into it, then closed by
SIGTERM. Fails on any traceback or fatal error, a non-zero exit, or a take that was not saved."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.audio.nullsink import PORTAUDIO_DEVICE, SINK, play, require_null_sink
from tests.conftest import need
from tests.desktop.helpers import write_scale_wav

pytestmark = [pytest.mark.mic, pytest.mark.slow]
RUN_S = 10.0


def _start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        number = fh.readline().strip()
    if not number:
        proc.kill()
        raise RuntimeError("Xvfb did not report a display number")
    return proc, f":{number}"


def test_etude_runs_ten_seconds_on_xvfb_with_the_null_sink_microphone(tmp_path: Path) -> None:
    need(shutil.which("Xvfb") is not None, "Xvfb is not installed (apt-get install xvfb)")
    require_null_sink()
    etude = Path(sys.executable).parent / "etude"
    need(etude.is_file(), f"the etude command is not installed in {etude.parent} (uv sync)")
    data = tmp_path / "data"
    data.mkdir()
    # The student's saved choice of input: PortAudio's PulseAudio device (the null sink).
    (data / "etude.ini").write_text(f"[preferences]\ninput_device={PORTAUDIO_DEVICE}\n")
    wav = write_scale_wav(tmp_path / "scale.wav")
    db_url = f"sqlite:///{(data / 'etude.db').as_posix()}"

    xvfb, display = _start_xvfb()
    try:
        env = {
            **os.environ,
            "DISPLAY": display,
            "ETUDE_DATA_DIR": str(data),
            "QT_QPA_PLATFORM": "xcb",
        }
        app = subprocess.Popen(
            [str(etude), "--db", db_url, "gui", "--record"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        t0 = time.monotonic()
        players = []
        while time.monotonic() - t0 < RUN_S and app.poll() is None:
            if not players or players[-1].poll() is not None:
                players.append(play(wav, SINK))
            time.sleep(0.2)
        assert app.poll() is None, "etude exited during the run"
        app.send_signal(signal.SIGTERM)
        _out, err = app.communicate(timeout=30)
        for p in players:
            p.wait(10)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(10)
        xvfb.terminate()
        xvfb.wait(10)
    stderr = err.decode(errors="replace")
    assert "Traceback" not in stderr, stderr
    assert "Fatal" not in stderr, stderr
    assert app.returncode == 0, stderr
    assert "window shown" in stderr

    from storage.db import open_database
    from storage.profiles import list_profiles
    from storage.sessions import get_complete_session_data, get_user_sessions

    database = open_database(db_url)
    try:
        with database.sessionmaker() as s:
            (profile,) = list_profiles(s)
            (session,) = get_user_sessions(s, profile.id)
            data_ = get_complete_session_data(s, session.id)
    finally:
        database.dispose()
    assert session.status == "completed"
    assert session.chunks_processed > 0
    assert data_.total_performances == 1 and data_.total_analyses == 1
    take = data_.performances[0]
    assert Path(take.performance.audio_path).is_file()
    assert take.analysis_results[0].total_notes_detected >= 1
