"""Screenshots for the README: ``uv run python -m desktop.screenshots [--out DIR]``.

Everything shown is real: a synthetic melody (known notes, two of them sharp) streams in real
time through the real analysis worker, a take is recorded, scored and stored in a throw-away
database, and the progress window draws a year of ``storage.demo`` history. Works with a display
or offscreen (QT_QPA_PLATFORM=offscreen is used when there is no display). PNGs stay < 300 KB.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QWidget

    from desktop.mainwindow import MainWindow

MAX_BYTES = 300_000
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "resources" / "screenshots"


PIECE = DEFAULT_OUT.parent / "pieces" / "ode_to_joy.mid"
# Silence before the tune, so the take (R is pressed once the session exists) holds all of it,
# and after it, so practice is still running when the picture is taken.
LEAD_IN_S = 1.0
TAIL_S = 4.0


def _melody() -> tuple[np.ndarray, float]:
    """The reference piece as a student might play it: its own notes and rhythm, a little
    vibrato, the second E and the second G 30 cents sharp so the card has something to say."""
    from audio.reference import load_reference
    from audio.sources import SynthNote, render_notes

    notes = [
        SynthNote(
            midi=n.midi,
            start_s=LEAD_IN_S + n.onset_s,
            dur_s=0.9 * (n.offset_s - n.onset_s),
            amplitude=0.25 + 0.1 * (i % 4) / 3,
            cents=30.0 if i in (1, 4) else (-8.0 if i % 3 == 0 else 4.0),
            vibrato_cents=12.0,
        )
        for i, n in enumerate(load_reference(PIECE).notes)
    ]
    return render_notes(notes, 48000, tail_s=TAIL_S), notes[-1].start_s + notes[-1].dur_s


def _pump(app: QCoreApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)


def _wait(app: QCoreApplication, cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError(f"screenshots: timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.005)


def _save(widget: QWidget, path: Path) -> Path:
    from PySide6.QtCore import Qt

    img = widget.grab().toImage()
    # PySide6's stub says the format is bytes, but the binding accepts only str (6.11).
    img.save(str(path), "PNG", 9)  # type: ignore[call-overload]
    scale = 1.0
    while path.stat().st_size >= MAX_BYTES and scale > 0.4:
        scale -= 0.1
        smaller = img.scaledToWidth(
            int(img.width() * scale), Qt.TransformationMode.SmoothTransformation
        )
        smaller.save(str(path), "PNG", 9)  # type: ignore[call-overload]
    return path


def take_screenshots(out: Path, dialogs: bool = False, suffix: str = "") -> list[Path]:
    """The README's pictures in ``out``: the practice window, the progress window on the first
    day (the one take just recorded) and with a year of history, and History; with ``dialogs``
    also the settings, new-session and export dialogs (to look at, not for the README). Each
    file is named ``<what><suffix>.png``."""
    from audio.sources import SyntheticSource
    from desktop.app import create_main_window, ensure_app
    from desktop.usecases.plan import SessionPlan
    from storage.demo import create_demo

    out.mkdir(parents=True, exist_ok=True)
    app = ensure_app()
    window = create_main_window(None)
    window.resize(1280, 860)
    window.show()
    ctx = window.ctx
    _wait(app, lambda: ctx.profile is not None and not ctx.db.is_busy(), 20, "the profile")

    page = window.practice
    page.set_plan(
        SessionPlan(
            piece_name="Ode to Joy", genre="classical", target_tempo_bpm=100, reference_path=PIECE
        )
    )
    signal, tune_end_s = _melody()
    page.source_factory = lambda prefs: SyntheticSource(signal=signal, sample_rate=48000)
    saved: list[object] = []
    page.take_saved.connect(saved.append)
    page.start_practice()
    _wait(app, lambda: page.session is not None, 10, "the session")
    page.start_take()
    _wait(app, lambda: page.controller.position_s >= tune_end_s + 0.3, 30, "the whole piece")
    page.stop_take()
    _wait(app, lambda: bool(saved), 20, "the take to be scored")
    _wait(app, lambda: len(page.takes.rows) == 1, 10, "the takes list")
    paths = [_save(window, out / f"practice{suffix}.png")]
    if dialogs:
        paths += _dialogs(app, window, out, suffix)
    page.stop_practice()
    _wait(app, lambda: not ctx.is_busy(), 20, "saving")

    # A new student's first day: the session just ended holds the one take.
    progress = window.open_progress()
    progress.resize(1280, 980)
    _wait(app, lambda: progress.data is not None and not ctx.db.is_busy(), 20, "progress")
    _pump(app, 0.3)
    paths.append(_save(progress, out / f"progress-first-day{suffix}.png"))
    progress.close()

    database = ctx.database
    if database is None:
        raise RuntimeError("screenshots: the database did not open")
    with database.transaction() as s:
        demo = create_demo(s, 365)
    loaded: list[object] = []
    window.profiles_loaded.connect(loaded.append)
    window.load_profiles()
    _wait(app, lambda: bool(loaded), 10, "profiles")
    window.profile_combo.setCurrentIndex(window.profile_combo.findText(demo.display_name))
    progress.data = None
    progress = window.open_progress()
    _wait(app, lambda: progress.data is not None and not ctx.db.is_busy(), 20, "progress")
    _pump(app, 0.3)
    paths.append(_save(progress, out / f"progress{suffix}.png"))
    progress.close()

    history = window.history
    window.tabs.setCurrentWidget(history)
    _wait(app, lambda: bool(history.shown) and not ctx.db.is_busy(), 20, "history")
    opened: list[object] = []
    history.session_opened.connect(opened.append)
    first = history.tree.topLevelItem(0)
    if first is None:
        raise RuntimeError("screenshots: History lists no session")
    history.tree.setCurrentItem(first)
    _wait(app, lambda: bool(opened), 10, "a session's detail")
    _pump(app, 0.3)
    paths.append(_save(window, out / f"history{suffix}.png"))
    window.close()
    database.dispose()
    return paths


def _dialogs(app: QCoreApplication, window: MainWindow, out: Path, suffix: str) -> list[Path]:
    from desktop.session_form import SessionForm

    shots: list[Path] = []
    for name, dialog in (
        ("settings.png", window.settings_dialog()),
        ("session-form.png", SessionForm(window.practice.plan, window)),
        ("export.png", window.open_export()),
    ):
        dialog.show()
        _pump(app, 0.3)
        shots.append(_save(dialog, out / name.replace(".png", f"{suffix}.png")))
        dialog.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the PNGs")
    parser.add_argument(
        "--theme",
        choices=("system", "light", "dark", "both"),
        default="system",
        help="the app's theme; both: light, then dark into files named ...-dark.png",
    )
    parser.add_argument("--suffix", default="", help="added to each file's name")
    parser.add_argument(
        "--dialogs", action="store_true", help="also the settings, new-session and export dialogs"
    )
    args = parser.parse_args(argv)
    if args.theme == "both":
        # One app per theme, each in its own process (as a student's Etude would be).
        import subprocess

        rest = ["--out", str(args.out)] + (["--dialogs"] if args.dialogs else [])
        for theme, suffix in (("light", args.suffix), ("dark", f"{args.suffix}-dark")):
            command = [sys.executable, "-m", "desktop.screenshots", "--theme", theme]
            subprocess.run([*command, f"--suffix={suffix}", *rest], check=True)
        return 0
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="etude-shots-") as tmp:
        # A throw-away data folder: the screenshots never touch the student's own data.
        os.environ["ETUDE_DATA_DIR"] = tmp
        os.environ.pop("ETUDE_DB_URL", None)
        from desktop.settings import Preferences, SettingsStore

        SettingsStore(Path(tmp)).save(Preferences(theme=args.theme))
        for path in take_screenshots(args.out, args.dialogs, args.suffix):
            print(f"{path}  {path.stat().st_size / 1000:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
