"""The screenshot script runs end to end (real worker, real take, demo history) and makes every
picture, in the theme asked for."""

from __future__ import annotations

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
