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


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the developer's real Etude data folder from a test."""
    data = tmp_path_factory.mktemp("etude-data")
    monkeypatch.setenv("ETUDE_DATA_DIR", str(data))
    monkeypatch.delenv("ETUDE_DB_URL", raising=False)
    return data


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real, empty 16 MiB file system (tmpfs) mounted for this test, that it can fill up with
    :func:`fill_up` to make every write in it fail with ENOSPC, as on a full disk. Mounting
    needs root: without it the test skips, saying so (and fails in CI)."""
    need(hasattr(os, "geteuid") and os.geteuid() == 0, "a small tmpfs is mounted as root")
    need(shutil.which("mount") is not None, "the mount command is missing")
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0777", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    need(mounted.returncode == 0, f"could not mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def fill_up(folder: Path) -> Path:
    """Write a file into ``folder`` until its file system is full (ENOSPC); returns the file,
    whose removal frees the space again."""
    filler = folder / "filler.bin"
    block = b"\0" * (64 * 1024)
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(block)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    # Blocks smaller than 64 KiB may still fit; take them too.
    with open(filler, "ab", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 512)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    assert os.statvfs(folder).f_bavail == 0
    return filler
