"""The screenshot script runs end to end (real worker, real take, demo history) and makes every
picture, in the theme asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def test_the_screenshot_script_makes_every_picture_in_the_dark_theme(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("DISPLAY", None)
    args = ["--out", str(tmp_path), "--theme", "dark", "--dialogs"]
    proc = subprocess.run(
        [sys.executable, "-m", "desktop.screenshots", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    names = {
        "practice.png",
        "practice-recording.png",
        "replay.png",
        "take-card.png",
        "progress-first-day.png",
        "progress.png",
        "history.png",
        "settings.png",
        "session-form.png",
        "export.png",
    }
    assert {p.name for p in tmp_path.iterdir()} == names
    for name in names:
        img = QImage(str(tmp_path / name))
        assert not img.isNull() and (tmp_path / name).stat().st_size < 300_000
        # The dark theme: the window's own background, at its left edge, is dark.
        assert img.pixelColor(2, img.height() // 2).lightness() < 100, name


def test_the_take_card_of_a_sung_file_speaks_to_a_singer(qtbot: object, tmp_path: Path) -> None:
    """--take-card: a recording analysed as a dropped file is (the main window's own use case),
    the card drawn; a sight-singing take is told to sing against a reference pitch."""
    from desktop.screenshots import file_take_card
    from tests.audio.test_feedback import _sung_scale_flat

    take = _sung_scale_flat(tmp_path)
    (shot,) = file_take_card(tmp_path / "out", take, "sight_singing")
    assert shot.name == "take-card-sung.png" and shot.stat().st_size < 300_000
    img = QImage(str(shot))
    assert not img.isNull() and img.width() > 400
    # What the card showed is the stored take's feedback (the app's own database, in the test's
    # data folder).
    from sqlalchemy import select

    from storage.config import resolve_db_url
    from storage.db import open_database
    from storage.models import AnalysisResult

    db = open_database(resolve_db_url(None))
    try:
        with db.session() as s:
            (stored,) = s.scalars(select(AnalysisResult.feedback_json)).all()
    finally:
        db.dispose()
    tips = json.loads(stored)["tips"]
    assert [t for t in tips if "sing against a reference pitch or a drone" in t], tips
    assert not [t for t in tips if "tuning note" in t], tips
