"""Shared test conventions.

``need(condition, reason)``: tests that need a real outside part (the PostgreSQL server, the
PulseAudio null-sink microphone) call it. On a newcomer's laptop a missing part skips the test
with the reason; in CI (``CI=true`` or ``ETUDE_REQUIRE_ALL=1``) it fails, so a broken CI machine
can never pass by skipping.
"""

from __future__ import annotations

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


def _mount_command() -> list[str] | None:
    """How this process can mount a file system: directly as root, or through password-less
    sudo; None when it cannot."""
    if os.geteuid() == 0:
        return []
    if (
        shutil.which("sudo")
        and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0
    ):
        return ["sudo", "-n"]
    return None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MB tmpfs, mounted for the test and unmounted after it: a disk that can really
    fill up (use :func:`fill_disk`). Needs root or password-less sudo (CI has it)."""
    prefix = _mount_command()
    need(prefix is not None, "root or password-less sudo, to mount a small tmpfs")
    assert prefix is not None
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    subprocess.run(
        [*prefix, "mount", "-t", "tmpfs", "-o", "size=4m,mode=1777", "tmpfs", str(mount_point)],
        check=True,
    )
    try:
        yield mount_point
    finally:
        subprocess.run([*prefix, "umount", "-l", str(mount_point)], check=False)


def fill_disk(folder: Path) -> Path:
    """Fill the file system holding ``folder`` to the last byte; returns the filler file (delete
    it to free the space again)."""
    filler = folder / "filler.bin"
    with open(filler, "wb", buffering=0) as fh:
        for size in (65536, 4096, 512, 1):  # down to the last byte
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError:
                continue
    assert shutil.disk_usage(folder).free < 4096
    return filler
