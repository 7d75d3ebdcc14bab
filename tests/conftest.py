"""Shared test conventions.

``need(condition, reason)``: tests that need a real outside part (the PostgreSQL server, the
PulseAudio null-sink microphone) call it. On a newcomer's laptop a missing part skips the test
with the reason; in CI (``CI=true`` or ``ETUDE_REQUIRE_ALL=1``) it fails, so a broken CI machine
can never pass by skipping.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

STRICT = os.environ.get("CI", "").lower() == "true" or os.environ.get("ETUDE_REQUIRE_ALL") == "1"


def need(condition: bool, reason: str) -> None:
    if condition:
        return
    if STRICT:
        pytest.fail(f"required in CI but missing: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to this Etude's schema by :func:`storage.db.open_database`, once
    per run (migrating a new file runs every Alembic script: 0.3-1 s). Tests that only need an
    empty, current database get a copy (:func:`fresh_sqlite_url`); tests of the migration itself
    make their own files."""
    from storage.db import open_database

    path = tmp_path_factory.mktemp("migrated") / "etude.db"
    open_database(f"sqlite:///{path.as_posix()}").dispose()
    # Disposed: the write-ahead log is checkpointed into the file, so the file alone is whole.
    assert not path.with_name(path.name + "-wal").exists()
    return path


def fresh_sqlite_url(template: Path, folder: Path) -> str:
    """The URL of ``folder``/etude.db, a copy of the migrated ``template`` made there unless a
    database is there already (asking twice gives the same database)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "etude.db"
    if not target.exists():
        shutil.copyfile(template, target)
    return f"sqlite:///{target.as_posix()}"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the developer's real Etude data folder from a test."""
    data = tmp_path_factory.mktemp("etude-data")
    monkeypatch.setenv("ETUDE_DATA_DIR", str(data))
    monkeypatch.delenv("ETUDE_DB_URL", raising=False)
    return data


def _mount_command() -> list[str] | None:
    """How this process can mount a file system: directly as root, or through password-less
    sudo; None when it cannot."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return []
    if (
        shutil.which("sudo")
        and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0
    ):
        return ["sudo", "-n"]
    return None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real, empty 16 MiB file system (tmpfs) mounted for this test, that it can fill up with
    :func:`fill_disk` to make every write in it fail with ENOSPC, as on a full disk. Mounting
    needs root or password-less sudo: without it the test skips, saying so (and fails in CI)."""
    prefix = _mount_command()
    need(prefix is not None, "root or password-less sudo, to mount a small tmpfs")
    assert prefix is not None
    need(shutil.which("mount") is not None, "the mount command is missing")
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(
        [*prefix, "mount", "-t", "tmpfs", "-o", "size=16m,mode=1777", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    need(mounted.returncode == 0, f"could not mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run([*prefix, "umount", "-l", str(folder)], capture_output=True, check=False)


def fill_disk(folder: Path) -> Path:
    """Write a file into ``folder`` until its file system is full (ENOSPC), down to the last
    byte; returns the file, whose removal frees the space again."""
    filler = folder / "filler.bin"
    with open(filler, "ab", buffering=0) as fh:
        for size in (64 * 1024, 4096, 512, 1):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    assert os.statvfs(folder).f_bavail == 0
    return filler


@pytest.fixture(autouse=True)
def _no_os_keyring():
    """Never write to the developer's real keyring from a test: tests see no keyring unless
    they ask for ``memory_keyring``."""
    import keyring
    import keyring.backends.fail

    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def sync_server():
    """A teacher's server set up by storage.sync.server on the test PostgreSQL, in a schema and
    with a role prefix of its own (tests/sync/conftest.py)."""
    from tests.sync.conftest import make_server

    yield from make_server()


@pytest.fixture
def memory_keyring():
    """The process's keyring replaced by tests.sync.helpers.MemoryKeyring for the test."""
    import keyring

    from tests.sync.helpers import MemoryKeyring

    previous = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        yield ring
    finally:
        keyring.set_keyring(previous)
