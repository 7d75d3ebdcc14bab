"""Where Etude keeps its data, which database it opens, and what it asks of the machine.

``ETUDE_DATA_DIR`` overrides the platform's user data folder (platformdirs). The default
database is the SQLite file ``etude.db`` in that folder; recordings go to ``recordings/``.
The operating-system probes (login name, local time zone) live here too, so the service
modules stay pure functions of their arguments and the database.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from platformdirs import user_data_dir

from storage.errors import ValidationError
from storage.validation import MAX_NAME, check_timezone

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


def default_profile_name() -> str:
    """The name given to the profile created on first start: the OS user's login name
    (at most 255 characters), or "Student" when none is known."""
    try:
        name = getpass.getuser().strip()
    except Exception:  # getuser raises different errors per platform when no name is known
        name = ""
    return name[:MAX_NAME] or "Student"


def local_timezone_name() -> str:
    """The machine's IANA timezone name when it can be found, else "UTC"."""
    env = os.environ.get("TZ", "").lstrip(":")
    candidates = [env] if env else []
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    for name in candidates:
        try:
            check_timezone("timezone", name)
        except ValidationError:
            continue
        return name
    return "UTC"
