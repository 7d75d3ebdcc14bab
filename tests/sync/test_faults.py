"""Faults during a sync, against a real PostgreSQL server: connections cut by a TCP proxy at
random points (before, during and after the server's commit), and the syncing process killed
with SIGKILL. After each fault the sync is run again; then there are no duplicates and no
losses, the local database passes SQLite's integrity_check, and computer and server agree row
for row. The counts of each kind of fault are printed (pytest -s) and asserted."""

from __future__ import annotations

import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from storage.db import Database
from storage.profiles import create_profile, rename_profile
from storage.sessions import delete_session, get_user_sessions
from storage.sync import link, server
from storage.sync.client import SyncError
from storage.sync.protocol import sync
from tests.sync.conftest import SyncServer
from tests.sync.helpers import T0, assert_same, local_rows, open_local, owner_rows, practise
from tests.sync.proxy import CutPlan, Proxy

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CUTS = 200
KILLS = 50


class World:
    """Ann on two computers behind one proxy, and what should exist."""

    def __init__(self, srv: SyncServer, urls: list[str], proxy: Proxy, rng: random.Random):
        self.srv, self.proxy, self.rng = srv, proxy, rng
        self.pw = srv.accounts["Ann"].password
        self.urls = urls
        self.dbs = [open_local(u) for u in urls]
        with self.dbs[0].transaction() as s:
            self.ann = create_profile(s, "Ann").id
        address = srv.address("Ann", port=proxy.port)
        link.link_profile(self.dbs[0], address, self.pw, profile_id=self.ann)
        sync(self.dbs[0], self.ann, self.pw)
        link.link_profile(self.dbs[1], address, self.pw)
        sync(self.dbs[1], self.ann, self.pw)
        self.live: dict[uuid.UUID, int] = {}  # session -> takes
        self.day = 0

    def close(self) -> None:
        for db in self.dbs:
            db.dispose()

    def change(self, db: Database, sessions: int = 1) -> None:
        """Practice, and sometimes a deletion or an edit, on one computer."""
        for _ in range(sessions):
            self.day += 1
            takes = self.rng.randint(1, 3)
            sid = practise(db, self.ann, T0 + timedelta(hours=7 * self.day), takes=takes)
            self.live[sid] = takes
        roll = self.rng.random()
        with db.transaction() as s:
            mine = [r.id for r in get_user_sessions(s, self.ann, limit=1000)]
            if roll < 0.2 and len(mine) > 2:
                victim = self.rng.choice(mine)
                delete_session(s, victim)
                self.live.pop(victim, None)
            elif roll < 0.5:
                rename_profile(s, self.ann, f"Ann {self.rng.randint(0, 10**6)}")

    def server_usn(self) -> int:
        with (
            server.admin_connect(self.srv.url) as conn,
            server.as_owner(conn, server.Roles(self.srv.prefix)),
        ):
            row = conn.execute(
                "SELECT usn FROM sync_accounts WHERE user_id = %s", (self.ann,)
            ).fetchone()
            assert row is not None
            return int(row[0])

    def check(self, i: int) -> None:
        """Computer i synced last: it and the server agree; nothing lost, nothing twice."""
        db = self.dbs[i]
        path = make_url(self.urls[i]).database
        assert path is not None
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        truth = owner_rows(self.srv.url, self.srv.prefix, self.ann)
        assert_same(local_rows(db, self.ann), truth, f"computer {i + 1} vs server:")
        other = local_rows(self.dbs[1 - i], self.ann)
        for sid in self.live:  # no loss: each live session is on the server or still on the way
            assert sid in truth["realtime_sessions"] or sid in other["realtime_sessions"], sid

    def settle(self) -> None:
        for i in (0, 1, 0, 1):
            sync(self.dbs[i], self.ann, self.pw)
        truth = owner_rows(self.srv.url, self.srv.prefix, self.ann)
        for i in (0, 1):
            self.check(i)
        assert set(truth["realtime_sessions"]) == set(self.live)
        per_session = Counter(r[1] for r in truth["performances"].values())
        assert dict(per_session) == {sid: n for sid, n in self.live.items()}
        analyses = Counter(r[1] for r in truth["analysis_results"].values())
        assert all(n == 1 for n in analyses.values())
        assert len(analyses) == sum(self.live.values())


@pytest.fixture
def world(sync_server: SyncServer, local_url: Any):
    sync_server.add_teacher("T")
    sync_server.add_student("Ann", "T")
    proxy = Proxy()
    w = World(sync_server, [local_url("one"), local_url("two")], proxy, random.Random(16))
    try:
        yield w
    finally:
        w.close()
        proxy.close()


# Hundreds of syncs (and, for the kills, a Python process per sync): minutes on a loaded
# machine, so the suite's 300 s guard is too short for them.
@pytest.mark.timeout(900)
def test_connections_cut_at_random_points_lose_and_duplicate_nothing(world: World) -> None:
    rng, proxy = world.rng, world.proxy
    outcomes: Counter[str] = Counter()
    budget = 20_000
    n = 0
    # Until CUTS syncs have really been cut (a random cut point past the end of a short sync
    # cuts nothing), with a bound.
    while sum(v for k, v in outcomes.items() if k.startswith("cut ")) < CUTS and n < 3 * CUTS:
        i = n % 2
        n += 1
        db = world.dbs[i]
        world.change(db)
        at_commit = rng.random() < 0.3
        usn_before = world.server_usn()
        proxy.plan = CutPlan(at_commit=True) if at_commit else CutPlan(rng.randint(0, budget))
        cuts_before = proxy.cuts
        try:
            sync(db, world.ann, world.pw)
            failed = False
        except SyncError:
            failed = True
        proxy.plan = None
        cut = proxy.cuts > cuts_before
        committed = world.server_usn() != usn_before
        if not cut:
            outcomes["no cut (the sync was shorter)"] += 1
        elif not failed:
            outcomes["cut after the sync had finished"] += 1
        elif committed:
            outcomes["cut after the server's commit, before the local one"] += 1
        else:
            outcomes["cut before the server's commit"] += 1
        proxy.reset_counters()
        sync(db, world.ann, world.pw)  # the rerun
        budget = max(2_000, proxy.bytes_up + proxy.bytes_down)
        world.check(i)
    world.settle()
    print(f"\n{n} syncs, {proxy.cuts} connections cut: {dict(outcomes)}")
    cut_and_failed = (
        outcomes["cut before the server's commit"]
        + outcomes["cut after the server's commit, before the local one"]
    )
    assert cut_and_failed >= CUTS
    assert outcomes["cut after the server's commit, before the local one"] >= 20
    assert outcomes["cut before the server's commit"] >= 100


# The syncing processes are forked, one per sync, from a process that has loaded Python and
# Etude once (loading them took most of each sync's process's life: seconds on a loaded
# machine, 50+ times). Each is a process of its own, with its own database and server
# connections, killed with SIGKILL as before; its parent reports how it ended.
FORKER = """
import os, signal, sys, uuid
from storage.db import open_database
from storage.sync.protocol import sync
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
print("ready", flush=True)
for line in sys.stdin:
    url, uid, password = line.rstrip("\\n").split("\\t")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            db = open_database(url)
            print("child", os.getpid(), flush=True)
            signal.sigwait({signal.SIGUSR1})
            sync(db, uuid.UUID(uid), password)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    print("exit", os.waitstatus_to_exitcode(status), flush=True)
"""


class Forker:
    """The process the syncing processes are forked from (FORKER), and what it says, read on a
    thread so that a wait can time out."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.lines.get(timeout=120) == "ready"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def start(self, url: str, uid: uuid.UUID, password: str) -> int:
        """A syncing process for ``url``, its database open, waiting for SIGUSR1 to sync."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{url}\t{uid}\t{password}\n")
        self.proc.stdin.flush()
        kind, pid = self.lines.get(timeout=60).split()
        assert kind == "child"
        return int(pid)

    def ended(self, timeout: float | None = None) -> int | None:
        """The exit code of the syncing process (-9: killed), or None if it has not ended
        within ``timeout`` seconds."""
        try:
            kind, code = self.lines.get(timeout=timeout).split()
        except queue.Empty:
            return None
        assert kind == "exit"
        return int(code)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


# Hundreds of syncs (and, for the kills, a Python process per sync): minutes on a loaded
# machine, so the suite's 300 s guard is too short for them.
@pytest.mark.timeout(900)
def test_the_syncing_process_killed_at_random_points(world: World) -> None:
    rng, proxy = world.rng, world.proxy
    proxy.delay_s = 0.001  # each forwarded packet waits 1 ms: a sync lasts long enough to hit
    outcomes: Counter[str] = Counter()
    duration_s = 0.0
    n = -1
    forker = Forker()

    def killed() -> int:
        return outcomes["killed before the commit"] + outcomes["killed after the server's commit"]

    while killed() < KILLS and n < 2 * KILLS:
        n += 1
        i = n % 2
        world.change(world.dbs[i], sessions=rng.randint(1, 4))
        # One in three: the server's answer to COMMIT is held back and the process is killed
        # while it waits, between the server's commit and the local one.
        between = n > 0 and rng.random() < 1 / 3
        proxy.commit_seen.clear()
        if between:
            proxy.plan = CutPlan(hold_commit_s=1.0)
        pid = forker.start(world.urls[i], world.ann, world.pw)
        usn_before = world.server_usn()
        started = time.perf_counter()
        os.kill(pid, signal.SIGUSR1)  # go
        code: int | None = None
        if n == 0:  # calibration: how long a whole sync takes here
            code = forker.ended()
            duration_s = time.perf_counter() - started
        elif between:
            assert proxy.commit_seen.wait(30)
            time.sleep(rng.uniform(0.1, 0.5))
        else:
            code = forker.ended(timeout=rng.uniform(0.0, 1.1 * duration_s))
        if code is None:
            os.kill(pid, signal.SIGKILL)
            code = forker.ended()
        proxy.plan = None
        if code == 0:
            outcomes["finished before the kill" if n else "calibration (not killed)"] += 1
        else:
            assert code == -signal.SIGKILL
            committed = world.server_usn() != usn_before
            outcomes[
                "killed after the server's commit" if committed else "killed before the commit"
            ] += 1
        sync(world.dbs[i], world.ann, world.pw)  # the rerun
        world.check(i)
    forker.close()
    world.settle()
    print(f"\n{n} syncs to kill with SIGKILL (whole sync {duration_s:.2f} s): {dict(outcomes)}")
    assert killed() >= KILLS
    assert outcomes["killed after the server's commit"] >= 10
