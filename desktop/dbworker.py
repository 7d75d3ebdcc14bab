"""The one database worker: every user action that touches the database runs here.

Anki's pattern: each action is one operation (a plain function taking a fresh SQLAlchemy
``Session``) that runs off the GUI thread, commits on success, rolls back on any error, and hands
its result back to the GUI thread through a queued signal. The operation must return plain data
(dicts, dataclasses), never live ORM objects, because its Session is closed when it returns, and
UI code never runs inside it.
"""

from __future__ import annotations

import itertools
import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

Operation = Callable[[Any], Any]
OnDone = Callable[[Any], None]
OnError = Callable[[BaseException], None]


class _Relay(QObject):
    # Emitted from the pool thread; Qt queues it onto the relay's (GUI) thread.
    op_finished = Signal(int, object)
    op_failed = Signal(int, object)


class _OpRunnable(QRunnable):
    def __init__(self, ticket: int, op: Operation, worker: DbWorker, raw: bool):
        super().__init__()
        self._ticket = ticket
        self._op = op
        self._worker = worker
        self._raw = raw
        self._relay = worker._relay

    def run(self) -> None:
        try:
            if self._raw or not self._worker.needs_session:
                # No database for this one (opening the database itself, or a compute runner).
                result = self._op(None)
                self._relay.op_finished.emit(self._ticket, result)
                return
            # Read at run time: the first operation of the queue may be the one that opens
            # the database and installs the factory.
            factory = self._worker.session_factory
            if factory is None:
                raise RuntimeError("the database is not open")
            with factory() as session:
                try:
                    result = self._op(session)
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        except BaseException as exc:
            log.warning("database operation failed:\n%s", traceback.format_exc())
            self._relay.op_failed.emit(self._ticket, exc)
            return
        self._relay.op_finished.emit(self._ticket, result)


class DbWorker(QObject):
    """Runs database operations one at a time on a single background thread.

    ``session_factory`` is a SQLAlchemy ``sessionmaker`` (or any callable returning a context
    manager session), or None until :meth:`set_session_factory` installs it (the app opens the
    database as the queue's first, ``raw`` operation). ``needs_session=False`` makes a compute
    runner whose operations get ``None`` (file analysis: long work that must not hold up the
    database queue).
    ``busy_changed`` fires when the queue goes from idle to busy and back, so
    the window can show a small busy indicator.
    """

    busy_changed = Signal(bool)
    op_failed = Signal(str, object)  # label, exception: for operations without their own handler

    def __init__(
        self,
        session_factory: Callable[[], Any] | None,
        parent: QObject | None = None,
        threads: int = 1,
        needs_session: bool = True,
    ):
        super().__init__(parent)
        self._factory = session_factory
        self.needs_session = needs_session
        self._pool = QThreadPool(self)
        # One thread: SQLite allows one writer, and operations then apply in the order asked.
        self._pool.setMaxThreadCount(threads)
        self._pool.setExpiryTimeout(-1)
        self._relay = _Relay(self)
        self._relay.op_finished.connect(self._on_finished)
        self._relay.op_failed.connect(self._on_failed)
        self._pending: dict[int, tuple[str, OnDone | None, OnError | None]] = {}
        self._tickets = itertools.count(1)

    @property
    def session_factory(self) -> Callable[[], Any] | None:
        return self._factory

    def set_session_factory(self, factory: Callable[[], Any]) -> None:
        """Install the sessionmaker (called from the worker thread by the opening operation)."""
        self._factory = factory

    def is_busy(self) -> bool:
        return bool(self._pending)

    def submit(
        self,
        label: str,
        op: Operation,
        on_done: OnDone | None = None,
        on_error: OnError | None = None,
        *,
        raw: bool = False,
    ) -> int:
        """Queue ``op(session)``; ``on_done(result)`` or ``on_error(exc)`` run on the GUI thread.
        ``raw``: run ``op(None)`` with no Session (used to open the database)."""
        ticket = next(self._tickets)
        was_idle = not self._pending
        self._pending[ticket] = (label, on_done, on_error)
        if was_idle:
            self.busy_changed.emit(True)
        self._pool.start(_OpRunnable(ticket, op, self, raw))
        return ticket

    def wait_for_done(self, msecs: int = 10_000) -> bool:
        """Block until the queue is drained (used on shutdown and in tests)."""
        return bool(self._pool.waitForDone(msecs))

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
