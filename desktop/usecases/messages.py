"""What went wrong, in words a student may read: never a database statement, a URL or a stack
trace (those go to the log file, see desktop.logfile)."""

from __future__ import annotations


def failure_reason(exc: BaseException) -> str:
    """Why something failed, in one line a student may read: never a database statement (a
    database error's text quotes it) or a stack trace; those go to the log."""
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import is_busy_error

    if is_busy_error(exc):
        return "another program is writing to the database (details in the log)"
    if isinstance(exc, SQLAlchemyError):
        return "the database refused it (details in the log)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text[:200]
