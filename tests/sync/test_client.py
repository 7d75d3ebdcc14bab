"""The student's side from the command line: setup with the invitation, the password in the
keyring (or asked for each time, with no keyring) and in no file, log or output."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from desktop.cli import main
from storage.config import default_db_url
from storage.db import open_database
from storage.profiles import create_profile
from storage.sync.invite import InvitationError, decode
from tests.sync.conftest import SyncServer
from tests.sync.helpers import T0, MemoryKeyring, practise

pytestmark = pytest.mark.postgres


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def _files_holding(folder: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_setup_and_sync_from_the_command_line_keep_the_password_in_the_keyring_only(
    sync_server: SyncServer,
    memory_keyring: MemoryKeyring,
    _isolated_data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sync_server.add_teacher("T")
    new = sync_server.add_student("Ann", "T")
    db = open_database(default_db_url())
    with db.transaction() as s:
        ann = create_profile(s, "Ann").id
    practise(db, ann, T0)
    db.dispose()
    invitation = new.invitation.encode()
    assert main(["sync", "setup", invitation, "--profile", "Ann"]) == 0
    out = capsys.readouterr().out
    assert "keyring" in out and "linked this profile 'Ann'" in out
    assert list(memory_keyring.entries.values()) == [new.password]
    assert main(["sync", "--profile", "Ann"]) == 0
    out = capsys.readouterr().out
    assert "sent" in out and "realtime_sessions" not in out
    assert main(["sync", "status", "--profile", "Ann"]) == 0
    status = capsys.readouterr().out
    assert "changes waiting: 0" in status and "last synced: never" not in status
    # The password is in no file of the data folder (database, WAL, settings), no output, no log.
    assert _files_holding(_isolated_data_dir, new.password) == []
    assert new.password not in out + status
    assert all(new.password not in r.getMessage() for r in caplog.records)


def test_without_a_keyring_the_password_is_asked_for_each_time(
    sync_server: SyncServer,
    no_keyring: None,
    _isolated_data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sync_server.add_teacher("T")
    new = sync_server.add_student("Ann", "T")
    assert main(["sync", "setup", new.invitation.encode(), "--new"]) == 0
    assert "ask for the password at each sync" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["sync", "--profile", "Ann"]) == 1
    assert "--password-stdin" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(new.password + "\n"))
    assert main(["sync", "--profile", "Ann", "--password-stdin"]) == 0
    assert "synced" in capsys.readouterr().out
    assert _files_holding(_isolated_data_dir, new.password) == []


def test_a_damaged_invitation_is_refused_and_changes_nothing(
    _isolated_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from storage.sync.invite import Invitation

    good = Invitation("studio.example", 5432, "etude", "etude_s_ann", "pw").encode()
    assert decode(f"  {good[:20]}\n{good[20:]} ") == decode(good)  # pasted across lines
    for bad in ("hello", good[:-6], "etude1:!!!"):
        with pytest.raises(InvitationError):
            decode(bad)
    assert main(["sync", "setup", good[:-6]]) == 1
    assert "copy the whole line" in capsys.readouterr().err
