"""The Sync… dialog and the sync status in the real main window (offscreen Qt) against the real
PostgreSQL server: link with the details, the first sync, a background sync when a session ends,
and "offline" in plain words when the server cannot be reached."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from storage.sessions import create_session, end_session
from tests.sync.conftest import SyncServer
from tests.sync.helpers import T0, MemoryKeyring, owner_rows, practise
from tests.sync.proxy import Proxy

pytestmark = pytest.mark.postgres


def test_link_sync_after_a_session_and_offline_status(
    qtbot: Any, main_window: Any, sync_server: SyncServer, memory_keyring: MemoryKeyring
) -> None:
    window = main_window
    sync_server.add_teacher("T")
    new = sync_server.add_student("Ann", "T")
    inv = new.invitation
    assert window.sync_status.text() == "Sync: off"
    proxy = Proxy()
    try:
        dialog = window.open_sync()
        assert dialog.link_box.isVisible() and not dialog.state_box.isVisible()
        # The details typed by hand (here through a proxy, to pull the plug later).
        dialog.host.setText("127.0.0.1")
        dialog.port.setValue(proxy.port)
        dialog.dbname.setText(inv.dbname)
        dialog.role.setText(inv.role)
        dialog.password.setText(inv.password)
        profile = window.ctx.profile
        database = window.ctx.database
        practise(database, profile.id, T0)
        dialog.link_button.click()
        qtbot.waitUntil(lambda: window.sync.view.state == "synced", timeout=20_000)
        assert window.sync_status.text().startswith("Synced ")
        assert window.sync_status.text().endswith("up to date")
        assert dialog.state_box.isVisible() and dialog.last_label.text() != "never"
        assert list(memory_keyring.entries.values()) == [inv.password]
        rows = owner_rows(sync_server.url, sync_server.prefix, profile.id)
        assert len(rows["realtime_sessions"]) == 1 and len(rows["performances"]) == 3

        # A session ends: it is synced in the background.
        with database.transaction() as s:
            session = create_session(s, profile.id, "Scales", started_at=T0 + timedelta(1))
            session = end_session(s, session.id, T0 + timedelta(days=1, minutes=5))
        window.practice.practice_stopped.emit(session)
        qtbot.waitUntil(lambda: window.sync.view.state == "syncing", timeout=5_000)
        qtbot.waitUntil(lambda: window.sync.view.state == "synced", timeout=20_000)
        rows = owner_rows(sync_server.url, sync_server.prefix, profile.id)
        assert session.id in rows["realtime_sessions"]

        # The server cannot be reached: the status says so, and what waits.
        proxy.close()
        with database.transaction() as s:
            later = create_session(s, profile.id, "Etude", started_at=T0 + timedelta(2))
            later = end_session(s, later.id, T0 + timedelta(days=2, minutes=5))
        window.practice.practice_stopped.emit(later)
        qtbot.waitUntil(lambda: window.sync.view.state == "offline", timeout=30_000)
        text = window.sync_status.text()
        assert text.startswith("Offline: ") and "waiting" in text and "later" in text
        assert "postgres" not in text.lower() and "select" not in text.lower()
    finally:
        proxy.close()
        window.sync.runner.wait_for_done(20_000)
