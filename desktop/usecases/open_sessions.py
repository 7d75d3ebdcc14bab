"""Which practice sessions this computer has started and not yet ended.

Start-up recovery marks a session left ``active`` by a crash as ``abandoned``. On the local
SQLite database every active session was started on this computer, but on a server that several
computers share (a teacher's studio), another student's Etude may be practising right now: its
sessions must be left alone. So every session this data folder starts is written down, as an
empty file ``<data folder>/open-sessions/<session id>``, before the session's row is committed,
and the file is removed once the session has ended. After a crash the files that remain name the
sessions this computer left behind, and only those are recovered on a server.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER = "open-sessions"


class OpenSessions:
    """The ids of the sessions started from one data folder that have not ended yet.

    Safe to use from the database worker and from the GUI thread: each call touches only the
    one session's file (or lists the folder). A failing write is logged, not raised: the session
    itself must not fail because its note could not be kept (on a server it would then be left
    ``active`` after a crash)."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / FOLDER

    def add(self, session_id: uuid.UUID) -> None:
        """Write down a session that has just been started (call before its commit)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / str(session_id)
            with open(path, "wb") as fh:
                os.fsync(fh.fileno())
            _sync_folder(self.folder)
        except OSError:
            log.exception("could not note session %s as open in %s", session_id, self.folder)

    def discard(self, session_id: uuid.UUID) -> None:
        """Forget a session that has ended (call after its end was committed)."""
        try:
            (self.folder / str(session_id)).unlink(missing_ok=True)
        except OSError:
            log.exception("could not clear the note of session %s in %s", session_id, self.folder)

    def ids(self) -> set[uuid.UUID]:
        """The sessions written down and not discarded (files that are not ids are ignored)."""
        out: set[uuid.UUID] = set()
        try:
            names = [p.name for p in self.folder.iterdir()]
        except OSError:
            return out
        for name in names:
            try:
                out.add(uuid.UUID(name))
            except ValueError:
                continue
        return out


def _sync_folder(folder: Path) -> None:
    """Make a new file's name durable (POSIX; Windows cannot open a folder and needs no call)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
