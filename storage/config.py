"""Where Etude keeps its data, and which database it opens.

``ETUDE_DATA_DIR`` overrides the platform's user data folder (platformdirs). The default
database is the SQLite file ``etude.db`` in that folder; recordings go to ``recordings/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

DB_FILENAME = "etude.db"


def data_dir() -> Path:
    """The folder holding the default database and recordings ($ETUDE_DATA_DIR, else the
    platform's user data folder for "Etude"). Created if missing."""
    env = os.environ.get("ETUDE_DATA_DIR")
    path = Path(env) if env else Path(user_data_dir("Etude", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def recordings_dir() -> Path:
    """The folder where takes are recorded (``<data_dir>/recordings``). Created if missing."""
    path = data_dir() / "recordings"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_url() -> str:
    """SQLAlchemy URL of the default SQLite database in :func:`data_dir`."""
    return f"sqlite:///{(data_dir() / DB_FILENAME).as_posix()}"


def resolve_db_url(cli_value: str | None) -> str:
    """The database URL to use: the ``--db`` value, else $ETUDE_DB_URL, else the default."""
    if cli_value:
        return cli_value
    env = os.environ.get("ETUDE_DB_URL")
    if env:
        return env
    return default_db_url()
