"""Background runners: the one database worker, and task runners for work that needs no database.

Anki's pattern: each user action is one operation that runs off the GUI thread and hands its
result back to the GUI thread through a queued signal; UI code never runs inside it. The
operations are typed: ``DbWorker.submit(label, op, on_done)`` takes an ``op(Session) -> T`` and
an ``on_done(T)``, so wiring a result to a handler of another type is a mypy error.

A database operation gets a fresh SQLAlchemy ``Session``, committed when it returns and rolled
back on any error. It must return plain data (frozen records, dataclasses), never live ORM
objects: its Session is closed when it returns.
"""

from __future__ import annotations

import itertools
import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

T = TypeVar("T")
OnError = Callable[[BaseException], object]


class _Relay(QObject):
    # Emitted from the pool thread; Qt queues it onto the relay's (GUI) thread.
    op_finished = Signal(int, object)
    op_failed = Signal(int, object)


class _Job(QRunnable):
    def __init__(self, ticket: int, fn: Callable[[], object], relay: _Relay) -> None:
        super().__init__()
        self._ticket = ticket
        self._fn = fn
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._fn()
        except BaseException as exc:
            log.warning("background operation failed:\n%s", traceback.format_exc())
            self._relay.op_failed.emit(self._ticket, exc)
            return
        self._relay.op_finished.emit(self._ticket, result)


class Runner(QObject):
    """Runs jobs one at a time, in the order submitted, on one background thread; each job's
    ``on_done(result)`` or ``on_error(exc)`` runs on the GUI thread.

    ``busy_changed`` fires when the queue goes from idle to busy and back, so the window can
    show a small busy indicator; ``op_failed(label, exc)`` reports a failure of a job that has
    no ``on_error`` of its own."""

    busy_changed = Signal(bool)
    op_failed = Signal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        # One thread: jobs apply in the order asked (and SQLite allows one writer anyway).
        self._pool.setMaxThreadCount(1)
        self._pool.setExpiryTimeout(-1)
        self._relay = _Relay(self)
        self._relay.op_finished.connect(self._on_finished)
        self._relay.op_failed.connect(self._on_failed)
        # The callbacks' result types differ per job; submit() ties each to its job's type.
        self._pending: dict[int, tuple[str, Callable[[Any], object] | None, OnError | None]] = {}
        self._tickets = itertools.count(1)

    def is_busy(self) -> bool:
        return bool(self._pending)

    def wait_for_done(self, msecs: int = 10_000) -> bool:
        """Block until the running jobs have returned (shutdown and tests only: the GUI thread
        must not wait while the app runs; the results' callbacks are still queued after it)."""
        return bool(self._pool.waitForDone(msecs))

    def submit_call(
        self,
        label: str,
        fn: Callable[[], T],
        on_done: Callable[[T], object] | None = None,
        on_error: OnError | None = None,
    ) -> int:
        """Queue ``fn()``; ``on_done(result)`` or ``on_error(exc)`` run on the GUI thread."""
        ticket = next(self._tickets)
        was_idle = not self._pending
        self._pending[ticket] = (label, on_done, on_error)
        if was_idle:
            self.busy_changed.emit(True)
        self._pool.start(_Job(ticket, fn, self._relay))
        return ticket

    @Slot(int, object)
    def _on_finished(self, ticket: int, result: object) -> None:
        _label, on_done, _ = self._pending.pop(ticket, ("", None, None))
        try:
            if on_done is not None:
                on_done(result)
        finally:
            if not self._pending:
                self.busy_changed.emit(False)

    @Slot(int, object)
    def _on_failed(self, ticket: int, exc: object) -> None:
        label, _, on_error = self._pending.pop(ticket, ("", None, None))
        try:
            if on_error is not None and isinstance(exc, BaseException):
                on_error(exc)
            else:
                self.op_failed.emit(label, exc)
        finally:
            if not self._pending:
                self.busy_changed.emit(False)


class TaskRunner(Runner):
    """Jobs that need no database: analysing a file, playing a take, opening and closing audio
    streams and take files (calls that may block for a while and so must not run on the GUI
    thread)."""

    submit = Runner.submit_call


class DbWorker(Runner):
    """The one database worker: every user action that touches the database runs here.

    ``session_factory`` is a SQLAlchemy ``sessionmaker`` (or any callable returning a context
    manager Session), or None until :meth:`set_session_factory` installs it: the app opens the
    database as the queue's first job (:meth:`submit_raw`), so the window is on screen while
    SQLAlchemy and Alembic load, and every later operation waits behind it in the same queue."""

    def __init__(
        self, session_factory: Callable[[], Session] | None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._factory = session_factory

    @property
    def session_factory(self) -> Callable[[], Session] | None:
        return self._factory

    def set_session_factory(self, factory: Callable[[], Session]) -> None:
        """Install the sessionmaker (called on the worker thread by the opening job)."""
        self._factory = factory

    def submit(
        self,
        label: str,
        op: Callable[[Session], T],
        on_done: Callable[[T], object] | None = None,
        on_error: OnError | None = None,
    ) -> int:
        """Queue ``op(session)`` in a transaction of its own; ``on_done(result)`` or
        ``on_error(exc)`` run on the GUI thread."""

        def in_transaction() -> T:
            # Read at run time: the first job of the queue may be the one that opens the
            # database and installs the factory.
            factory = self._factory
            if factory is None:
                raise RuntimeError("the database is not open")
            with factory() as session:
                try:
                    result = op(session)
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
            return result

        return self.submit_call(label, in_transaction, on_done, on_error)

    # Queues fn() with no Session, in the database queue's order (opening the database itself).
    submit_raw = Runner.submit_call
