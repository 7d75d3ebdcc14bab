"""Start-up recovery: one take that cannot be registered must not cost the others (or the
abandoned sessions) their registration, since its .part has already been renamed."""

from __future__ import annotations

import pytest

from desktop.usecases.recovery import recover_after_crash
from storage.config import recordings_dir
from storage.db import open_database
from storage.performances import get_session_performances
from storage.profiles import create_profile, ensure_default_profile
from storage.sessions import create_session, get_session
from storage.stats import calculate_user_stats
from tests.desktop.helpers import crashed_take


def _crashed_take(folder, session_id, n):  # type: ignore[no-untyped-def]
    """A take of the session killed mid-recording (a real SIGKILL); returns its .part."""
    name = f"take-20260101-120000-{str(session_id)[:8]}-{n:02d}.wav"
    return crashed_take(folder / name, seconds=0.5)


def test_a_take_that_cannot_be_registered_does_not_undo_the_rest(db_url):
    database = open_database(db_url)
    with database.transaction() as s:
        profile = ensure_default_profile(s)
        session = create_session(s, profile.id, piece_name="Interrupted")
    root = recordings_dir()
    good = _crashed_take(root, session.id, 1)
    # A folder so deep that the repaired take's path is longer than the 500 characters a
    # performance row can hold, however short the temporary folder's own path is.
    deep = root / ("d" * 200) / ("e" * 200) / ("f" * 200)
    deep.mkdir(parents=True)
    assert len(str(deep)) > 600
    bad = _crashed_take(deep, session.id, 2)

    with database.sessionmaker() as s:
        result = recover_after_crash(s, root)
        s.commit()
    assert result.abandoned == [session.id]
    assert result.attached == 1
    assert not good.exists() and not bad.exists()
    with database.sessionmaker() as s:
        assert get_session(s, session.id).status == "abandoned"
        (perf,) = get_session_performances(s, session.id)
    assert perf.recovered and perf.audio_path.endswith("-01.recovered.wav")
    database.dispose()


def test_a_recovered_take_counts_in_its_abandoned_session_at_the_time_it_was_played(db_url):
    from datetime import UTC, datetime, timedelta

    database = open_database(db_url)
    began = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    with database.transaction() as s:
        profile = ensure_default_profile(s)
        session = create_session(s, profile.id, piece_name="Crashed", started_at=began)
    # The take was started 6 minutes into the session (its name carries the local time).
    take_start = began + timedelta(minutes=6)
    stamp = take_start.astimezone().strftime("%Y%m%d-%H%M%S")
    name = f"take-{stamp}-{str(session.id)[:8]}-01.wav"
    crashed_take(recordings_dir() / name, seconds=1.0)

    with database.sessionmaker() as s:
        result = recover_after_crash(s, recordings_dir())
        s.commit()
    assert result.attached == 1
    with database.sessionmaker() as s:
        row = get_session(s, session.id)
        (perf,) = get_session_performances(s, session.id)
        stats = calculate_user_stats(s, profile.id, days=1)
    assert perf.recording_started_at == take_start
    assert abs(perf.recording_duration - 1.0) < 1e-6
    # The session ran until the end of that take: 6 min 1 s of practice, not 0 and not "until
    # Etude was started again".
    assert row.status == "abandoned"
    assert row.duration_seconds == 361
    assert stats.total_practice_hours == round(361 / 3600, 2)
    database.dispose()


def test_a_failing_recovery_is_reported_not_swallowed(qtbot, db_url):
    from sqlalchemy import text

    from desktop.app import create_main_window
    from tests.desktop.conftest import wait_idle

    database = open_database(db_url)
    with database.transaction() as s:
        profile = ensure_default_profile(s)
        create_session(s, profile.id, piece_name="Crashed")
        # A zone this machine's tz database does not know (a database copied from a machine
        # with newer tzdata): closing the abandoned session's progress rows raises.
        s.execute(text("UPDATE users SET timezone = 'Mars/Olympus_Mons'"))
    database.dispose()

    window = create_main_window(db_url)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.ctx.profile is not None, timeout=20_000)
    wait_idle(qtbot, window.ctx)
    text_shown = window.practice.messages.text()
    assert "could not finish checking" in text_shown
    assert "Mars/Olympus_Mons" in text_shown
    assert str(recordings_dir()) in text_shown
    window.close()
    window.ctx.database.dispose()


def test_a_repaired_take_without_a_known_session_is_pointed_to(qtbot, db_url):
    from desktop.app import create_main_window
    from tests.desktop.conftest import wait_idle

    # A take of a session that no longer exists (deleted) is repaired but cannot be attached.
    crashed_take(recordings_dir() / "take-20260101-120000-0badc0de-01.wav", seconds=0.5)

    window = create_main_window(db_url)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.ctx.profile is not None, timeout=20_000)
    wait_idle(qtbot, window.ctx)
    shown = window.practice.messages.text()
    assert "take-20260101-120000-0badc0de-01.recovered.wav" in shown
    assert str(recordings_dir()) in shown
    window.close()
    window.ctx.database.dispose()


def test_a_second_etude_does_not_abandon_the_session_the_first_is_recording(qtbot, db_url):
    from desktop.app import create_main_window
    from tests.desktop.conftest import wait_idle
    from tests.desktop.helpers import record_a_take

    first = create_main_window(db_url)
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first)
    qtbot.waitUntil(lambda: first.ctx.profile is not None, timeout=20_000)
    wait_idle(qtbot, first.ctx)
    page = first.practice
    record_a_take(qtbot, page)
    # The running session is noted as open on this computer (a crash now leaves it recoverable).
    assert first.ctx.open_sessions.ids() == {page.session.id}

    # Etude opened a second time on the same computer, while the first is recording.
    second = create_main_window(db_url)
    qtbot.addWidget(second)
    qtbot.waitUntil(lambda: second.ctx.profile is not None, timeout=20_000)
    wait_idle(qtbot, second.ctx)
    with second.ctx.database.sessionmaker() as s:
        assert get_session(s, page.session.id).status == "active"
    assert "stopped unexpectedly" not in second.practice.messages.text()

    with qtbot.waitSignal(page.take_saved, timeout=20_000):
        page.stop_take()
    with qtbot.waitSignal(page.practice_stopped, timeout=10_000) as stopped:
        page.end_session()
    wait_idle(qtbot, first.ctx)
    assert stopped.args[0].status == "completed"
    assert first.ctx.open_sessions.ids() == set()
    # The first Etude, on screen, shows no problem: nothing of its session was taken from it.
    assert not page.messages.isVisible(), page.messages.text()
    for w in (second, first):
        w.close()
        w.ctx.database.dispose()


def _computer(root, name):  # type: ignore[no-untyped-def]
    """A computer's data folder: its notes of open sessions and its recordings folder."""
    from desktop.usecases.open_sessions import OpenSessions

    folder = root / name
    (folder / "recordings").mkdir(parents=True)
    return OpenSessions(folder), folder / "recordings"


def _recover(database, open_sessions, recordings):  # type: ignore[no-untyped-def]
    from desktop.usecases.recovery import forget_settled

    with database.sessionmaker() as s:
        result = recover_after_crash(s, recordings, open_sessions)
        s.commit()
    forget_settled(open_sessions, result)
    return result


@pytest.fixture
def server_url():  # type: ignore[no-untyped-def]
    from tests.storage.conftest import pg_schema_url

    yield from pg_schema_url()


@pytest.mark.postgres
def test_on_a_shared_server_only_this_computers_crashed_sessions_are_recovered(
    server_url, tmp_path
):  # type: ignore[no-untyped-def]
    from desktop.usecases.plan import SessionPlan
    from desktop.usecases.sessions import finish_session, start_session

    database = open_database(server_url, migrate_schema=True)
    notes_a, rec_a = _computer(tmp_path, "anna-laptop")
    notes_b, rec_b = _computer(tmp_path, "ben-laptop")
    with database.transaction() as s:
        anna = create_profile(s, "Anna")
        ben = create_profile(s, "Ben")
    with database.transaction() as s:
        playing = start_session(s, anna.id, SessionPlan("Scales"), notes_a)
    with database.transaction() as s:
        crashed = start_session(s, ben.id, SessionPlan("Etude No. 3"), notes_b)
    with database.transaction() as s:
        # Ended normally, but Etude was closed before it could clear its note.
        done = start_session(s, ben.id, SessionPlan("Sonata"), notes_b)
        finish_session(s, done.id, 10)
    assert notes_a.ids() == {playing.id}
    assert notes_b.ids() == {crashed.id, done.id}

    # Ben's Etude was killed; it starts again while Anna is still practising.
    result = _recover(database, notes_b, rec_b)
    assert result.abandoned == [crashed.id]
    with database.sessionmaker() as s:
        assert get_session(s, playing.id).status == "active"
        assert get_session(s, crashed.id).status == "abandoned"
        assert get_session(s, done.id).status == "completed"
    assert notes_b.ids() == set()
    assert notes_a.ids() == {playing.id}
    # Starting again finds nothing more to do.
    assert _recover(database, notes_b, rec_b).abandoned == []

    # Then Anna's Etude dies too: her next start recovers her session.
    result = _recover(database, notes_a, rec_a)
    assert result.abandoned == [playing.id]
    with database.sessionmaker() as s:
        assert get_session(s, playing.id).status == "abandoned"
    assert notes_a.ids() == set()
    database.dispose()


@pytest.mark.postgres
def test_on_a_shared_server_a_crashed_take_brings_its_session_with_it(server_url, tmp_path):  # type: ignore[no-untyped-def]
    """A take interrupted on this computer proves its session was practised here, even when the
    session's note is missing (e.g. written by an Etude from before the notes existed)."""
    database = open_database(server_url, migrate_schema=True)
    notes, rec = _computer(tmp_path, "studio-pc")
    with database.transaction() as s:
        profile = create_profile(s, "Cleo")
        session = create_session(s, profile.id, piece_name="Interrupted")
        other = create_session(s, profile.id, piece_name="Elsewhere")
    _crashed_take(rec, session.id, 1)

    result = _recover(database, notes, rec)
    assert result.abandoned == [session.id]
    assert result.attached == 1
    with database.sessionmaker() as s:
        assert get_session(s, other.id).status == "active"
    database.dispose()


def test_on_sqlite_every_active_session_is_recovered_noted_or_not(db_url, tmp_path):  # type: ignore[no-untyped-def]
    from desktop.usecases.plan import SessionPlan
    from desktop.usecases.sessions import start_session

    database = open_database(db_url)
    notes, rec = _computer(tmp_path, "laptop")
    with database.transaction() as s:
        profile = ensure_default_profile(s)
        noted = start_session(s, profile.id, SessionPlan("Noted"), notes)
        # A session from an Etude that wrote no notes yet.
        old = create_session(s, profile.id, piece_name="Before notes")
    (notes.folder / "not-a-session.txt").write_text("ignored")
    assert notes.ids() == {noted.id}
    result = _recover(database, notes, rec)
    assert set(result.abandoned) == {noted.id, old.id}
    assert notes.ids() == set()
    database.dispose()


HOLDER = """
import sys, time
from pathlib import Path
from desktop.usecases.recovery import claim_data_folder
lock = claim_data_folder(Path(sys.argv[1]))
print("held" if lock is not None else "refused", flush=True)
time.sleep(120)
"""


def test_a_data_folder_held_by_another_running_etude_is_refused_until_it_dies(tmp_path):  # type: ignore[no-untyped-def]
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from desktop.usecases.recovery import claim_data_folder

    repo = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        assert claim_data_folder(tmp_path) is None
        assert claim_data_folder(tmp_path) is None  # a refused claim leaves nothing held
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    # The operating system dropped the dead process's lock: the next start recovers.
    lock = claim_data_folder(tmp_path)
    assert lock is not None and lock.is_locked
    lock.release()
    again = claim_data_folder(tmp_path)
    assert again is not None
    again.release()


def test_a_take_finished_on_disk_but_never_stored_is_added_at_the_next_start(db_url):  # type: ignore[no-untyped-def]
    """Killed between renaming the take's file and storing it (tests/bench/kills.py found 4 of
    71 takes so): the next start adds it to its session, once."""
    import numpy as np

    from audio.recorder import TakeRecorder

    database = open_database(db_url)
    with database.transaction() as s:
        profile = ensure_default_profile(s)
        session = create_session(s, profile.id, piece_name="Killed while saving")
    path = recordings_dir() / f"take-20260101-120000-{str(session.id)[:8]}-01.flac"
    rec = TakeRecorder(path, 48000)
    rec.write(np.full(48000, 0.1, dtype=np.float32))
    assert rec.close() == path  # the file is whole; nothing stored it
    half = path.with_name(path.name + ".scores.json.tmp")
    half.write_text('{"session_id": ')  # killed while keeping its scores

    for expected in (1, 0):  # added once; the second start finds nothing to add
        with database.transaction() as s:
            result = recover_after_crash(s, recordings_dir())
        assert result.attached == expected
    with database.sessionmaker() as s:
        (perf,) = get_session_performances(s, session.id)
    assert perf.audio_path == str(path) and perf.recovered
    assert not half.exists()
    assert abs(perf.recording_duration - 1.0) < 1e-6
    database.dispose()
