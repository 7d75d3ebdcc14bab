"""Takes under repeated SIGKILL: the whole take path (record, score, keep, store) killed at random.

    uv run python -m tests.bench.kills [--kills 20] [--seed 1]

A child process does what the window does for every take, over and over, on one SQLite data
folder: the AnalysisWorker records the scale into ``take-….flac.part`` (a synthetic source,
faster than real time), closes and renames it, then ``save_live_take_when_free`` scores it,
keeps it beside the audio (``.scores.json``) and stores it. The parent kills the child
(SIGKILL) at a random moment, 0.2-2.5 s after it started, runs the start-up recovery
(``recover_at_start``, as the next Etude would) and checks the database (``integrity_check``).

Printed: kills survived (recovery ran and the database is intact), takes the children began
(a take file or ``.part`` exists), takes stored with their audio, and takes lost: a take whose
audio is on disk but that is in no row after recovery (goal 0). A take killed before any audio
reached the disk leaves nothing to lose and is not counted.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import os, sys
from pathlib import Path
from audio.settings import AnalysisSettings
from audio.sources import SyntheticSource
from audio.worker import AnalysisWorker
from desktop.usecases.plan import SessionPlan
from desktop.usecases.sessions import start_session
from desktop.usecases.takes import (
    TakeToSave, new_take_path, notes_in_take, save_live_take_when_free
)
from storage.config import recordings_dir
from storage.db import open_database
from storage.profiles import ensure_default_profile
from tests.desktop.helpers import SR, scale_signal

db = open_database(sys.argv[1])
settings = AnalysisSettings()
with db.transaction() as s:
    profile = ensure_default_profile(s)
    session = start_session(s, profile.id, SessionPlan(piece_name="killed"))
print("ready", flush=True)
n = 0
while True:
    n += 1
    source = SyntheticSource(signal=scale_signal(), sample_rate=SR, realtime=False)
    worker = AnalysisWorker(source, settings)
    worker.start_take(new_take_path(recordings_dir(), session.id, n))
    worker.start()
    worker.wait_finished(60)
    run = worker.stop()
    (span,) = run.takes
    notes, onsets = notes_in_take(run.notes, run.onsets, span.start_s, span.end_s)
    take = TakeToSave(session.id, span.path, notes, onsets, span.end_s - span.start_s, SR)
    save_live_take_when_free(db.transaction, take, settings)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    data = Path(tempfile.mkdtemp(prefix="etude-kills-"))
    env = {**os.environ, "ETUDE_DATA_DIR": str(data), "PYTHONPATH": str(REPO)}
    os.environ["ETUDE_DATA_DIR"] = str(data)
    from desktop.usecases.recovery import recover_at_start
    from storage.config import data_dir, default_db_url, recordings_dir
    from storage.db import open_database

    url = default_db_url()
    survived = 0
    for _ in range(args.kills):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, url], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        child.stdout.readline()  # "ready": the database is open and the session exists
        time.sleep(rng.uniform(0.2, 2.5))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        database = open_database(url)
        try:
            recover_at_start(database, data_dir(), recordings_dir())
        finally:
            database.dispose()
        with sqlite3.connect(data / "etude.db") as con:
            ok = con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        survived += ok

    rec = recordings_dir()
    # Every take begun: its audio, its .part, or the .part set aside as holding no audio.
    takes = {
        p.name.split(".")[0]
        for p in rec.iterdir()
        if p.name.startswith("take-") and (p.suffix in (".flac", ".part") or ".flac" in p.name)
    }
    with sqlite3.connect(data / "etude.db") as con:
        stored = {
            Path(r[0]).name.split(".")[0]
            for r in con.execute("SELECT audio_path FROM performances")
        }
    audio = {
        p.name.split(".")[0]
        for p in rec.iterdir()
        if p.name.startswith("take-")
        and (p.name.endswith(".flac") or p.name.endswith(".flac.part"))
        and p.stat().st_size > 0
    }
    lost = sorted(audio - stored)
    print(f"kills: {args.kills}, survived (recovered, integrity ok): {survived}")
    print(f"takes begun: {len(takes)}, stored: {len(stored)}, with audio on disk: {len(audio)}")
    print(f"takes lost (audio on disk, in no row): {len(lost)} {lost[:5]}")
    print(
        f"left as .part: {len(list(rec.glob('*.part')))}, "
        f"kept scores: {len(list(rec.glob('*.scores.json')))}, data folder: {data}"
    )


if __name__ == "__main__":
    main()
