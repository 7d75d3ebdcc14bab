"""Shared test conventions.

``need(condition, reason)``: tests that need a real outside part (the PostgreSQL server, the
PulseAudio null-sink microphone) call it. On a newcomer's laptop a missing part skips the test
with the reason; in CI (``CI=true`` or ``ETUDE_REQUIRE_ALL=1``) it fails, so a broken CI machine
can never pass by skipping.
"""

from __future__ import annotations

import os

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
