"""The log file in the data folder: what went wrong in full (database statements, stack traces),
which the student's messages leave out. Help > Show log folder opens it (desktop.mainwindow).

``<data folder>/logs/etude.log``, rotated at 1 MB with three older files kept, so it never
grows without bound. No Qt here: the headless commands log to the same file.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
from pathlib import Path

LOG_FOLDER = "logs"
LOG_NAME = "etude.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
_HANDLER_NAME = "etude-logfile"


def log_folder(data_dir: Path) -> Path:
    """Where the log files are: ``<data folder>/logs``."""
    return data_dir / LOG_FOLDER


def setup_logging(data_dir: Path, level: int = logging.INFO) -> Path | None:
    """Send this process's log records at ``level`` and above to the log file in ``data_dir``
    (replacing an earlier call's file, so calling it again is harmless). Returns the file, or
    None when it cannot be opened (a full or read-only disk): Etude runs on without a log."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
            handler.close()
    path = log_folder(data_dir) / LOG_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError:
        return None
    handler.set_name(_HANDLER_NAME)
    handler.setLevel(level)
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s %(levelname)s %(process)d %(threadName)s %(name)s: %(message)s"
        )
    )
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    with contextlib.suppress(Exception):
        logging.captureWarnings(True)
    return path
