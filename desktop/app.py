"""Start-up: QApplication, the database (migrated), crash recovery, the main window.

Order matters for "nothing is lost": the database is opened and migrated first (a database
written by a newer Etude is refused untouched, with a dialog), then sessions left "active" by a
crash are marked abandoned and ``.part`` takes are repaired and attached to their session as
recovered takes, all on the database worker before the window's first query runs.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.context import AppContext
from desktop.dbworker import DbWorker
from desktop.open_sessions import OpenSessions
from desktop.settings import SettingsStore

log = logging.getLogger(__name__)
APP_NAME = "Etude"
_TAKE_NAME = re.compile(r"^take-(?P<stamp>\d{8}-\d{6})-(?P<sid>[0-9a-f]{8})-\d+")


class StartupError(Exception):
    """The app cannot start; the message is written for the student."""


def ensure_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    return app


def open_storage(db_url: str | None) -> Any:
    """Open + migrate the database; StartupError with a readable message on failure."""
    from storage.config import resolve_db_url
    from storage.db import open_database
    from storage.errors import DatabaseTooNewError, MigrationError

    url = resolve_db_url(db_url)
    try:
        return open_database(url)
    except DatabaseTooNewError as exc:
        raise StartupError(f"This database is newer than this Etude.\n\n{exc}") from exc
    except MigrationError as exc:
        raise StartupError(f"The database could not be updated.\n\n{exc}") from exc
    except Exception as exc:
        raise StartupError(f"The database could not be opened.\n\n{exc}") from exc


def recover_after_crash(
    db: Any, recordings_dir: Path, open_sessions: OpenSessions | None = None
) -> dict[str, Any]:
    """Database-worker operation run once at start: abandoned sessions + repaired takes.

    A take that was being recorded when Etude died exists only as ``<name>.part``; it is
    repaired into ``<name>.recovered.<ext>``, and when the session named in the file is known,
    stored as a Performance with ``recovered=True`` so the history shows it.

    On SQLite every active session is recovered. On a server other computers may be practising
    right now, so only the sessions ``open_sessions`` names (started here, never ended) and the
    sessions of repaired takes are. The result's ``"settled"`` lists the noted sessions that are
    no longer active once this commits: :func:`forget_settled` clears their notes afterwards."""
    import soundfile as sf
    from sqlalchemy import select

    from audio.recorder import repair_partial_takes
    from storage.models import RealtimeSession
    from storage.performances import create_performance
    from storage.recovery import recover_abandoned_sessions

    # Takes are attached before the sessions are closed as abandoned: an abandoned session ends
    # at the end of its last take, so its recovered takes must already be there.
    active = list(db.scalars(select(RealtimeSession.id).where(RealtimeSession.status == "active")))
    repaired: list[Path] = []
    folders = [recordings_dir, *[p for p in recordings_dir.rglob("*") if p.is_dir()]]
    for folder in folders:
        try:
            repaired.extend(repair_partial_takes(folder))
        except Exception:
            log.exception("repairing takes in %s failed", folder)
    attached = 0
    ours: set[uuid.UUID] = set()
    unattached: list[Path] = []
    for path in repaired:
        m = _TAKE_NAME.match(path.name)
        session = _session_by_prefix(db, m.group("sid"), active) if m else None
        if m is None or session is None:
            unattached.append(path)
            continue
        # The .part is already renamed, so a failure here would never be retried: one take
        # that cannot be stored must not roll back the others or the abandoned sessions.
        try:
            with db.begin_nested():
                info = sf.info(str(path))
                duration_s = float(info.frames) / float(info.samplerate)
                create_performance(
                    db,
                    session,
                    audio_path=str(path),
                    sample_rate=int(info.samplerate),
                    audio_format=path.suffix.lstrip("."),
                    notes="recovered after Etude stopped unexpectedly",
                    recording_started_at=_take_started_at(m.group("stamp"), duration_s),
                    recording_duration=duration_s,
                    recovered=True,
                )
        except Exception:
            log.exception("the recovered take %s could not be added to the history", path)
            unattached.append(path)
            continue
        attached += 1
        ours.add(session)
    noted = open_sessions.ids() if open_sessions is not None else set()
    was_active = set(active)
    if db.get_bind().dialect.name == "sqlite":
        abandoned = recover_abandoned_sessions(db)
    else:
        abandoned = recover_abandoned_sessions(db, session_ids=(noted & was_active) | ours)
    return {
        "abandoned": abandoned,
        "settled": sorted((noted - was_active) | (noted & set(abandoned)), key=str),
        "repaired": repaired,
        "attached": attached,
        "unattached": unattached,
    }


def forget_settled(open_sessions: OpenSessions, result: dict[str, Any]) -> None:
    """After recovery has committed: clear the notes of sessions that have ended or were just
    recovered (see :func:`recover_after_crash`)."""
    for sid in result.get("settled", []):
        open_sessions.discard(sid)


def _take_started_at(stamp: str, duration_s: float) -> datetime:
    """When a take began: the local time in its file name (not the start-up that found it)."""
    now = datetime.now(UTC)
    try:
        started = datetime.strptime(stamp, "%Y%m%d-%H%M%S").astimezone().astimezone(UTC)
    except ValueError:
        return now - timedelta(seconds=duration_s)
    return min(started, now - timedelta(seconds=duration_s))


def _session_by_prefix(db: Any, prefix: str, candidates: list[uuid.UUID]) -> uuid.UUID | None:
    for sid in candidates:
        if str(sid).startswith(prefix):
            return sid
    from sqlalchemy import String, cast, select

    from storage.models import RealtimeSession

    rows = list(
        db.scalars(
            select(RealtimeSession.id).where(cast(RealtimeSession.id, String).like(f"{prefix}%"))
        )
    )
    return rows[0] if len(rows) == 1 else None


def build_context(db_url: str | None) -> AppContext:
    """Preferences and workers; the database is opened later, on the database worker."""
    from storage.config import data_dir, recordings_dir, resolve_db_url

    data = data_dir()
    store = SettingsStore(data)
    return AppContext(
        db=DbWorker(None),
        compute=DbWorker(None, threads=1, needs_session=False),
        store=store,
        prefs=store.load(),
        data_dir=data,
        recordings_dir=recordings_dir(),
        db_url=resolve_db_url(db_url),
        open_sessions=OpenSessions(data),
    )


def claim_data_folder(data_dir: Path) -> Any | None:
    """Lock ``<data folder>/etude.lock`` for as long as the returned handle stays open.

    None when another running Etude holds it: that Etude's active session and takes are live,
    so this one must not treat them as left behind by a crash. The kernel drops the lock when
    a process dies, so after a real crash the next start gets it. (No fcntl, on Windows: the
    lock is always granted.)"""
    handle = open(data_dir / "etude.lock", "a")  # noqa: SIM115 - held open on purpose
    try:
        import fcntl
    except ImportError:
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def start_storage(window: Any) -> None:
    """Queue, in order: open + migrate the database, crash recovery, the profiles. Opening runs
    on the database worker so the window is already on screen while SQLAlchemy and Alembic load
    and a long migration runs; every later operation waits behind it in the same queue."""
    ctx = window.ctx
    worker = ctx.db
    url = ctx.db_url

    def open_db(_: None) -> Any:
        database = open_storage(url)
        worker.set_session_factory(database.sessionmaker)
        return database

    def opened(database: Any) -> None:
        ctx.database = database
        window.storage_ready.emit()

    def failed(exc: BaseException) -> None:
        window.startup_failed.emit(str(exc))

    def recovered(result: dict[str, Any]) -> None:
        forget_settled(ctx.open_sessions, result)
        n_sessions = len(result["abandoned"])
        n_takes = len(result["repaired"])
        loose: list[Path] = result.get("unattached", [])
        if n_sessions or n_takes:
            text = (
                f"Etude stopped unexpectedly last time. {n_sessions} unfinished session(s) were "
                f"kept as 'abandoned' and {n_takes} interrupted take(s) were repaired"
            )
            if loose:
                # Their session is unknown (deleted, or another database): say where they are.
                names = ", ".join(p.name for p in loose[:5]) + (" …" if len(loose) > 5 else "")
                text += (
                    f". {n_takes - len(loose)} of them are in History; the others ({names}) "
                    f"could not be matched to a session and are in {rec_dir}."
                )
            else:
                text += "; you find them in History."
            window.practice.messages.show_message(text, "info")
        window.history.reload()

    def recovery_failed(exc: BaseException) -> None:
        if getattr(ctx, "database", None) is None:
            return  # the failed open already told the student
        window.practice.show_problem(
            f"Etude could not finish checking for sessions and takes interrupted last time "
            f"({exc}). Nothing was deleted: interrupted recordings are in {rec_dir}."
        )

    worker.submit("open database", open_db, opened, failed, raw=True)
    rec_dir = ctx.recordings_dir
    if getattr(window, "data_folder_lock", None) is None:
        window.data_folder_lock = claim_data_folder(ctx.data_dir)
    if window.data_folder_lock is not None:
        worker.submit(
            "recover",
            lambda s: recover_after_crash(s, rec_dir, ctx.open_sessions),
            recovered,
            recovery_failed,
        )
    else:
        log.info("another Etude is running on %s: no crash recovery", ctx.data_dir)
        worker.submit("history", lambda s: None, lambda _r: window.history.reload())
    # A failed open already told the student; this would only repeat it.
    worker.submit("profiles", _load_profiles, window._profiles_loaded, lambda e: None)


def _load_profiles(db: Any) -> Any:
    from desktop import ops

    return ops.load_profiles(db)


def create_main_window(db_url: str | None = None, *, open_storage_now: bool = True) -> Any:
    """Everything ``run_app`` does except the event loop (tests and benchmarks call this).
    The window's ``storage_ready`` / ``startup_failed`` signals report how opening went."""
    from desktop.mainwindow import MainWindow
    from desktop.theme import apply_theme

    ctx = build_context(db_url)
    apply_theme(ctx.prefs.theme)
    window = MainWindow(ctx)
    if open_storage_now:
        start_storage(window)
    return window


def _install_signal_handlers(app: QApplication, window: Any) -> QTimer:
    """SIGTERM/SIGINT (logout, Ctrl+C, a system shutdown) close the window the normal way, so a
    take being recorded is finished and saved instead of being left as a .part file."""

    def close_gracefully(signum: int, _frame: Any) -> None:
        log.info("signal %s: closing", signum)
        QTimer.singleShot(0, window.close)
        QTimer.singleShot(0, app.quit)

    signal.signal(signal.SIGTERM, close_gracefully)
    signal.signal(signal.SIGINT, close_gracefully)
    # Python runs signal handlers only between bytecodes; a short timer lets it in while the
    # Qt event loop (C++) is waiting.
    wake = QTimer()
    wake.start(200)
    wake.timeout.connect(lambda: None)
    return wake


def run_app(db_url: str | None = None, *, start: bool = False, record: bool = False) -> int:
    """Open the practice window; returns the process exit code.

    start: begin listening as soon as the window is up; record: also record a take at once."""
    t0 = time.perf_counter()
    app = ensure_app()
    window = create_main_window(db_url, open_storage_now=False)
    exit_code = {"code": 0}

    def cannot_start(message: str) -> None:
        exit_code["code"] = 1
        QMessageBox.critical(window, "Etude cannot start", message)
        window.close()
        app.quit()

    window.startup_failed.connect(cannot_start)
    window.show()

    def shown() -> None:
        # Printed for the cold-start benchmark (tests/bench/desktop.py reads it from stderr).
        print(
            f"etude: window shown after {1000 * (time.perf_counter() - t0):.0f} ms",
            file=sys.stderr,
            flush=True,
        )
        start_storage(window)

    window.profiles_loaded.connect(
        lambda _p: print(
            f"etude: ready after {1000 * (time.perf_counter() - t0):.0f} ms",
            file=sys.stderr,
            flush=True,
        )
    )
    QTimer.singleShot(0, shown)
    if start or record:
        page = window.practice
        if record:
            page.practice_started.connect(lambda _s: page.start_take())

        def begin() -> None:
            if window.ctx.profile is None:
                window.profiles_loaded.connect(lambda _p: page.start_practice())
            else:
                page.start_practice()

        QTimer.singleShot(0, begin)
    wake = _install_signal_handlers(app, window)
    code = app.exec()
    wake.stop()
    window.close()
    ctx = window.ctx
    ctx.db.wait_for_done(15_000)
    database = getattr(ctx, "database", None)
    if database is not None:
        database.dispose()
    return int(code) or exit_code["code"]
