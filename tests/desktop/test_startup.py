"""Start-up: the window comes up without the heavy imports (pyqtgraph, SQLAlchemy, Alembic),
and with the profile chosen last time Start works before the database is open."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from desktop.usecases.plan import SessionPlan
from tests.desktop.conftest import wait_idle
from tests.desktop.helpers import scale_source

REPO = Path(__file__).resolve().parents[2]

_SHOW_ONLY = """
import sys
from desktop.app import create_main_window, ensure_app
app = ensure_app()
window = create_main_window(sys.argv[1], open_storage_now=False, charts_now=False)
window.show()
app.processEvents()
heavy = sorted(m for m in ("pyqtgraph", "sqlalchemy", "alembic", "numpy") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_the_window_is_shown_before_the_heavy_imports(tmp_path):
    env = {"QT_QPA_PLATFORM": "offscreen", "ETUDE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin"}
    out = subprocess.run(
        [sys.executable, "-c", _SHOW_ONLY, f"sqlite:///{tmp_path / 'etude.db'}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "none"


def test_the_last_profile_makes_start_work_before_the_database_is_open(qtbot, db_url):
    from desktop.app import create_main_window, start_storage

    first = create_main_window(db_url)
    qtbot.addWidget(first)
    qtbot.waitUntil(lambda: first.ctx.profile is not None, timeout=20_000)
    wait_idle(qtbot, first.ctx)
    chosen = first.ctx.profile
    first.close()
    first.ctx.database.dispose()

    window = create_main_window(db_url, open_storage_now=False, charts_now=False)
    qtbot.addWidget(window)
    page = window.practice
    assert not page.start_button.isEnabled()
    assert not window.show_last_profile()  # not before the database's opening is queued
    window.ctx.db.submit_raw("a slow disk", lambda: time.sleep(1.0))
    start_storage(window)
    assert window.show_last_profile()
    assert window.ctx.database is None  # still opening
    assert window.ctx.profile == chosen
    assert window.profile_combo.currentText() == chosen.display_name
    assert page.start_button.isEnabled()
    assert not page.views_built  # the charts come later (or when first needed)

    page.set_plan(SessionPlan(piece_name="Early start"))
    page.source_factory = lambda prefs: scale_source(total_s=30.0)
    with qtbot.waitSignal(page.practice_started, timeout=20_000) as started:
        assert page.start_practice()  # its session waits behind the database's opening
    assert started.args[0].user_id == chosen.id
    assert page.messages.isHidden(), page.messages.text()  # no job ran before the opening
    qtbot.waitUntil(lambda: len(window.profiles) == 1 and window.ctx.database is not None)
    assert window.ctx.profile == chosen
    assert page.views_built  # listening needed the pitch view
    page.end_session()
    wait_idle(qtbot, window.ctx)
    window.close()
    window.ctx.database.dispose()


def test_a_remembered_profile_that_is_not_the_chosen_one_is_not_shown(qtbot, db_url):
    from desktop.app import create_main_window
    from desktop.mainwindow import LAST_PROFILE_KEY

    window = create_main_window(db_url, open_storage_now=False, charts_now=False)
    qtbot.addWidget(window)
    window.ctx.store.set_value(LAST_PROFILE_KEY, "{not json")
    window.ctx.db.submit_raw("opening", lambda: time.sleep(0.5))
    assert not window.show_last_profile()
    assert window.ctx.profile is None and not window.practice.start_button.isEnabled()
