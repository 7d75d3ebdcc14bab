"""Start-up: QApplication, the database (migrated), crash recovery, the main window.

Order matters for "nothing is lost": the database is opened and migrated first (a database
written by a newer Etude is refused untouched, with a dialog), then sessions left "active" by a
crash are marked abandoned and ``.part`` takes are repaired and attached to their session as
recovered takes, all on the database worker before the window's first query runs.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.context import AppContext
from desktop.dbworker import DbWorker, TaskRunner
from desktop.settings import SettingsStore
from desktop.usecases.messages import failure_reason
from desktop.usecases.open_sessions import OpenSessions
from desktop.usecases.profiles import load_profiles

if TYPE_CHECKING:  # these load after the window is shown (see create_main_window, start_storage)
    from desktop.mainwindow import MainWindow
    from desktop.usecases.recovery import RecoveryResult
    from storage.db import Database

log = logging.getLogger(__name__)
APP_NAME = "Etude"


class StartupError(Exception):
    """The app cannot start; the message is written for the student."""


def ensure_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    return app


def open_storage(db_url: str | None) -> Database:
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
        raise StartupError(f"The database could not be opened.\n\n{failure_reason(exc)}") from exc


def build_context(db_url: str | None) -> AppContext:
    """Preferences and workers; the database is opened later, on the database worker."""
    from storage.config import data_dir, recordings_dir, resolve_db_url

    data = data_dir()
    store = SettingsStore(data)
    return AppContext(
        db=DbWorker(None),
        compute=TaskRunner(),
        audio=TaskRunner(),
        store=store,
        prefs=store.load(),
        data_dir=data,
        recordings_dir=recordings_dir(),
        db_url=resolve_db_url(db_url),
        open_sessions=OpenSessions(data),
    )


def start_storage(window: MainWindow) -> None:
    """Queue, in order: open + migrate the database, crash recovery, the profiles. Opening runs
    on the database worker so the window is already on screen while SQLAlchemy and Alembic load
    and a long migration runs; every later operation waits behind it in the same queue."""
    from desktop.usecases.recovery import (  # filelock and the take use cases: after showing
        claim_data_folder,
        forget_settled,
        recover_after_crash,
        recovery_problem,
        recovery_summary,
    )

    ctx = window.ctx
    worker = ctx.db
    url = ctx.db_url

    def open_db() -> Database:
        database = open_storage(url)
        worker.set_session_factory(database.sessionmaker)
        return database

    def opened(database: Database) -> None:
        ctx.database = database
        window.storage_ready.emit()

    def failed(exc: BaseException) -> None:
        window.startup_failed.emit(str(exc))

    def recovered(result: RecoveryResult) -> None:
        forget_settled(ctx.open_sessions, result)
        summary = recovery_summary(result, rec_dir)
        if summary:
            window.practice.messages.show_message(summary, "info")
        problem = recovery_problem(result, rec_dir)
        if problem:
            window.practice.show_problem(problem)
        window.history.reload()

    def recovery_failed(exc: BaseException) -> None:
        if ctx.database is None:
            return  # the failed open already told the student
        window.practice.show_problem(
            f"Etude could not finish checking for sessions and takes interrupted last time "
            f"({failure_reason(exc)}). Nothing was deleted: interrupted recordings are in "
            f"{rec_dir}."
        )

    worker.submit_raw("open database", open_db, opened, failed)
    rec_dir = ctx.recordings_dir
    if window.data_folder_lock is None:
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
        worker.submit("history", lambda _s: None, lambda _: window.history.reload())
    # A failed open already told the student; this would only repeat it.
    worker.submit("profiles", load_profiles, window._profiles_loaded, lambda e: None)


def create_main_window(
    db_url: str | None = None, *, open_storage_now: bool = True, charts_now: bool = True
) -> MainWindow:
    """Everything ``run_app`` does except the event loop (tests and benchmarks call this).
    The window's ``storage_ready`` / ``startup_failed`` signals report how opening went.
    charts_now: build the practice page's charts (pyqtgraph) now; ``run_app`` says False and
    loads them in the background once the window is shown."""
    from desktop.mainwindow import MainWindow
    from desktop.theme import apply_theme

    ctx = build_context(db_url)
    apply_theme(ctx.prefs.theme, restyle_open=False)  # the window is built after it
    window = MainWindow(ctx)
    if charts_now:
        window.practice.ensure_views()
    if open_storage_now:
        start_storage(window)
    return window


def _import_charts() -> None:
    import desktop.widgets.pitch_view
    import desktop.widgets.take_card  # noqa: F401


def _install_signal_handlers(app: QApplication, window: MainWindow) -> QTimer:
    """SIGTERM/SIGINT (logout, Ctrl+C, a system shutdown) close the window the normal way, so a
    take being recorded is finished and saved instead of being left as a .part file."""

    def close_gracefully(signum: int, _frame: FrameType | None) -> None:
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
    window = create_main_window(db_url, open_storage_now=False, charts_now=False)
    from desktop.logfile import setup_logging

    setup_logging(window.ctx.data_dir)  # also when started without the etude command
    exit_code = {"code": 0}

    def cannot_start(message: str) -> None:
        exit_code["code"] = 1
        QMessageBox.critical(window, "Etude cannot start", message)
        window.close()
        app.quit()

    window.startup_failed.connect(cannot_start)

    def usable(_profile: object) -> None:
        if window.practice.start_button.isEnabled() and not said["usable"]:
            said["usable"] = True
            print(
                f"etude: usable after {1000 * (time.perf_counter() - t0):.0f} ms "
                "(profile shown, Start enabled)",
                file=sys.stderr,
                flush=True,
            )

    said = {"usable": False}
    window.ctx.events.profile_changed.connect(usable)
    window.show()

    def shown() -> None:
        # Printed for the cold-start benchmark (tests/bench/desktop.py reads it from stderr).
        print(
            f"etude: window shown after {1000 * (time.perf_counter() - t0):.0f} ms",
            file=sys.stderr,
            flush=True,
        )
        start_storage(window)
        window.show_last_profile()  # Start works now; its database work queues behind opening

    def load_charts() -> None:
        # The charts (pyqtgraph, about a second to import) load in the background once the
        # database is open: importing both at once made the first launch's migration slower.
        if not window.practice.views_built:
            window.ctx.compute.submit(
                "load the charts", _import_charts, lambda _: window.practice.ensure_views()
            )

    window.storage_ready.connect(load_charts)

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
    if ctx.database is not None:
        ctx.database.dispose()
    return int(code) or exit_code["code"]
