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


def _melody(detune_cents: float = 0.0) -> tuple[np.ndarray, float]:
    """The reference piece as a student might play it: its own notes and rhythm, a little
    vibrato, the second E and the second G 30 cents sharp, the second-last D 35 cents flat and
    the eighth note (a D) 120 ms late, so the card has something to say; detune_cents moves
    every note (an earlier, flatter take to compare with)."""
    from audio.reference import load_reference
    from audio.sources import SynthNote, render_notes

    notes = [
        SynthNote(
            midi=n.midi,
            start_s=LEAD_IN_S + n.onset_s + (0.12 if i == 7 else 0.0),
            dur_s=0.9 * (n.offset_s - n.onset_s) - (0.12 if i == 7 else 0.0),
            amplitude=0.25 + 0.1 * (i % 4) / 3,
            cents=detune_cents
            + (30.0 if i in (1, 4) else -35.0 if i == 13 else (-8.0 if i % 3 == 0 else 4.0)),
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


def _open_main_window() -> tuple[QCoreApplication, MainWindow]:
    """The app and its main window on its embedded database, shown at the pictures' size, once
    its profile is loaded."""
    from desktop.app import create_main_window, ensure_app

    app = ensure_app()
    window = create_main_window(None)
    window.resize(1280, 860)
    window.show()
    ctx = window.ctx
    _wait(app, lambda: ctx.profile is not None and not ctx.db.is_busy(), 20, "the profile")
    return app, window


def take_screenshots(out: Path, dialogs: bool = False, suffix: str = "") -> list[Path]:
    """The README's pictures in ``out``: the practice window, the progress window on the first
    day (the one take just recorded) and with a year of history, and History; with ``dialogs``
    also the settings, new-session and export dialogs (to look at, not for the README). Each
    file is named ``<what><suffix>.png``."""
    from audio.sources import SyntheticSource
    from desktop.usecases.plan import SessionPlan
    from storage.demo import create_demo

    out.mkdir(parents=True, exist_ok=True)
    app, window = _open_main_window()
    ctx = window.ctx

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
    _wait(app, lambda: page.controller.position_s >= tune_end_s * 0.6, 30, "half the piece")
    paths = [_save(window, out / f"practice-recording{suffix}.png")]  # the REC mark, its timer
    _wait(app, lambda: page.controller.position_s >= tune_end_s + 0.3, 30, "the whole piece")
    page.stop_take()
    _wait(app, lambda: bool(saved), 20, "the take to be scored")
    _wait(app, lambda: len(page.takes.rows) == 1, 10, "the takes list")
    paths += [
        _save(window, out / f"practice{suffix}.png"),
        _save(page.card, out / f"take-card{suffix}.png"),
    ]
    if dialogs:
        paths += _dialogs(app, window, out, suffix)
    page.stop_practice()
    _wait(app, lambda: not ctx.is_busy(), 20, "saving")
    # Stop only pauses; ending the session (as quitting would) is what counts it in Progress.
    page.end_session()
    _wait(app, lambda: not ctx.is_busy(), 20, "ending the session")

    # A new student's first day: the session just ended holds the one take.
    progress = window.open_progress()
    progress.resize(1280, 980)
    _wait(app, lambda: progress.data is not None and not ctx.db.is_busy(), 20, "progress")
    _pump(app, 0.3)
    paths.append(_save(progress, out / f"progress-first-day{suffix}.png"))
    progress.close()
    paths += _replay(app, window, out / f"replay{suffix}.png", _melody(-30.0)[0], saved[0])

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


def file_take_card(out: Path, audio: Path, genre: str, suffix: str = "") -> list[Path]:
    """The take card (its scores, tips and timeline) of one recording, analysed as the app
    analyses a file dropped on the window (:meth:`MainWindow.analyse_file`: the same use case,
    the same analysis settings) for a session of ``genre`` with no reference piece. The file is
    named ``take-card-<audio stem><suffix>.png``. Nothing of the recording is copied into
    ``out`` but that picture."""
    from desktop.usecases.plan import SessionPlan

    out.mkdir(parents=True, exist_ok=True)
    app, window = _open_main_window()
    ctx = window.ctx
    window.practice.set_plan(SessionPlan(genre=genre))
    stored: list[object] = []
    window.file_analysed.connect(stored.append)
    if not window.analyse_file(audio):
        raise RuntimeError(f"screenshots: {audio} was refused")
    _wait(app, lambda: bool(stored) and not ctx.is_busy(), 120, "the file's analysis")
    _pump(app, 0.3)
    shot = _save(window.practice.card, out / f"take-card-{audio.stem}{suffix}.png")
    window.close()
    if ctx.database is not None:
        ctx.database.dispose()
    return [shot]


def _replay(
    app: QCoreApplication, window: MainWindow, path: Path, signal: np.ndarray, take: object
) -> list[Path]:
    """The replay window comparing the take with an earlier one of the same piece
    (``signal``: the melody played flatter, stored as an analysed recording)."""
    import soundfile as sf

    from desktop.usecases.takes import SavedTake

    assert isinstance(take, SavedTake)
    ctx = window.ctx
    earlier = Path(os.environ["ETUDE_DATA_DIR"]) / "earlier-take.wav"
    sf.write(str(earlier), signal, 48000)
    stored: list[object] = []
    window.file_analysed.connect(stored.append)
    window.analyse_file(earlier)
    _wait(app, lambda: bool(stored) and not ctx.is_busy(), 30, "the earlier take")
    window.tabs.setCurrentWidget(window.practice)
    replay = window.open_replay(take, "Take 1 · today")
    replay.resize(1000, 560)
    _wait(app, lambda: replay.contour is not None and replay.compare.count() == 2, 20, "replay")
    compared: list[object] = []
    replay.compared.connect(lambda: compared.append(True))
    replay.compare_with(0)
    _wait(app, lambda: bool(compared), 20, "the comparison")
    replay.plot.set_playhead(3.2)  # as if playing
    _pump(app, 0.3)
    shot = _save(replay, path)
    replay.close()
    return [shot]


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


STUDENTS = (
    # name, days of history, days since the last practice, seed
    ("Ann Lee", 200, 0, 11),
    ("Bob Marsh", 150, 1, 12),
    ("Chloé Dubois", 120, 0, 13),
    ("Dev Patel", 90, 12, 14),
    ("Emma Hart", 60, 3, 15),
    ("Felix Braun", 30, 25, 16),
)


def studio_screenshots(out: Path, pg_url: str, suffix: str = "") -> list[Path]:
    """The teacher's studio window and a student's report, from a studio server set up for the
    purpose on ``pg_url`` (its own schema and role prefix, dropped afterwards): six students,
    each with history of their own (storage.demo's generator) synced from a computer of their
    own, assignments, and a comment."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from desktop.app import ensure_app
    from desktop.studio_window import StudioWindow
    from desktop.usecases.reports import load_report, report_html
    from desktop.usecases.studio import assign, comment, session_take_views, student_sessions
    from storage import progress
    from storage.db import open_database
    from storage.demo import generate_history
    from storage.profiles import create_profile
    from storage.sync import server
    from storage.sync.client import ServerAddress
    from storage.sync.link import link_profile
    from storage.sync.protocol import sync
    from storage.sync.studio import open_studio

    out.mkdir(parents=True, exist_ok=True)
    app = ensure_app()
    tag = uuid.uuid4().hex[:8]
    schema, prefix = f"etude_shots_{tag}", f"shots{tag}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    parsed = make_url(pg_url)
    url = parsed.set(
        query={**dict(parsed.query), "options": f"-csearch_path={schema}"}
    ).render_as_string(hide_password=False)
    paths: list[Path] = []
    try:
        server.init_server(url, prefix)
        teacher = server.add_teacher(url, "Ms Tee", prefix=prefix)

        def address(acc: server.NewAccount) -> ServerAddress:
            inv = acc.invitation
            return ServerAddress(parsed.host or "127.0.0.1", inv.port, inv.dbname, inv.role)

        ids = {}
        with tempfile.TemporaryDirectory(prefix="etude-studio-shots-") as tmp:
            now = datetime.now(UTC)
            for name, days, idle, seed in STUDENTS:
                acc = server.add_student(url, name, "Ms Tee", prefix=prefix)
                db = open_database(f"sqlite:///{tmp}/{seed}/etude.db")
                with db.transaction() as s:
                    uid = create_profile(s, name, "Europe/Paris").id
                    generate_history(s, uid, days, end=now - timedelta(days=idle), seed=seed)
                    progress.rebuild_user(s, uid)
                link_profile(db, address(acc), acc.password, profile_id=uid)
                sync(db, uid, acc.password)
                db.dispose()
                ids[name] = uid
        studio = open_studio(address(teacher), teacher.password)
        with studio.transaction() as s:
            assign(
                s,
                list(ids.values())[:4],
                title="Bach: Minuet in G",
                target_tempo=96,
                min_minutes=60,
                target_score=0.85,
            )
            assign(
                s,
                [ids["Ann Lee"]],
                title="Scales: G major, two octaves",
                target_tempo=80,
                min_minutes=20,
            )
            last = student_sessions(s, ids["Ann Lee"])[0]
            take = session_take_views(s, last.id)[0].take.performance.id
            comment(s, take, "Lovely phrasing. Listen to the F# in bar 3: it creeps sharp.", 4.0)
        window = StudioWindow(studio, Path(tempfile.gettempdir()))
        window.resize(1280, 620)
        window.show()
        done: list[object] = []
        window.assignments_loaded.connect(done.append)
        _wait(app, lambda: bool(done) and not window.db.is_busy(), 30, "the studio")
        _pump(app, 0.3)
        paths.append(_save(window, out / f"studio{suffix}.png"))
        row = next(r for r in window.data.students if r.name == "Ann Lee") if window.data else None
        assert row is not None and row.user_id is not None
        view = window.open_student(row)
        view.tabs.setCurrentIndex(1)
        _wait(app, lambda: bool(view.sessions) and not window.db.is_busy(), 30, "sessions")
        view.select_session(0)
        _wait(app, lambda: bool(view.takes) and not window.db.is_busy(), 30, "takes")
        _pump(app, 0.3)
        paths.append(_save(window, out / f"studio-student{suffix}.png"))
        today = datetime.now().date()
        with studio.session() as s:
            report = load_report(s, ids["Dev Patel"], today - timedelta(days=90), today)
        paths.append(_save_html(report_html(report), out / f"report{suffix}.png"))
        window.close()
        window.db.wait_for_done()
        studio.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE usename LIKE :p AND pid <> pg_backend_pid()"
                ),
                {"p": prefix + "%"},
            )
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        server.drop_installation(pg_url, prefix)
    return paths


def _save_html(page: str, path: Path, width: int = 820) -> Path:
    """The report as Qt's rich text draws it (an A4-like page): its inline SVG charts are
    drawn by QtSvg into the page as images, since Qt's HTML has no SVG of its own."""
    import re

    from PySide6.QtCore import QByteArray, QSize, QUrl
    from PySide6.QtGui import QImage, QPainter, QTextDocument
    from PySide6.QtSvg import QSvgRenderer
    from PySide6.QtWidgets import QTextBrowser

    doc = QTextDocument()
    charts = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    for i, svg in enumerate(charts):
        renderer = QSvgRenderer(QByteArray(svg.encode()))
        image = QImage(QSize(370, 135), QImage.Format.Format_ARGB32)
        image.fill(0xFFFFFFFF)
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(f"chart{i}"), image)
        page = page.replace(svg, f'<img src="chart{i}" width="370" height="135">', 1)
    doc.setHtml(page)
    view = QTextBrowser()
    view.setDocument(doc)
    view.setStyleSheet("background: white; color: #222;")
    view.resize(width, 1060)
    view.show()
    from PySide6.QtWidgets import QApplication

    _pump(QApplication.instance(), 0.3)  # type: ignore[arg-type]
    return _save(view, path)


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
    parser.add_argument(
        "--studio",
        metavar="PG_URL",
        nargs="?",
        const=os.environ.get(
            "ETUDE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="only the teacher's studio and a report, from a studio set up on this PostgreSQL "
        "(default: $ETUDE_TEST_PG_URL or the tests' server)",
    )
    parser.add_argument(
        "--take-card",
        metavar="AUDIO",
        type=Path,
        help="only the take card of this recording, analysed as a file dropped on the window "
        "(no reference piece), named take-card-<file name>.png",
    )
    parser.add_argument(
        "--genre",
        default="sight_singing",
        help="the session's genre for --take-card (default: sight_singing)",
    )
    args = parser.parse_args(argv)
    if args.theme == "both":
        # One app per theme, each in its own process (as a student's Etude would be).
        import subprocess

        rest = ["--out", str(args.out)] + (["--dialogs"] if args.dialogs else [])
        rest += [f"--studio={args.studio}"] if args.studio else []
        if args.take_card:
            rest += ["--take-card", str(args.take_card.resolve()), f"--genre={args.genre}"]
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
        if args.studio:
            from desktop.app import ensure_app
            from desktop.theme import apply_theme

            ensure_app()
            apply_theme(args.theme)
            shots = studio_screenshots(args.out, args.studio, args.suffix)
        elif args.take_card:
            shots = file_take_card(args.out, args.take_card, args.genre, args.suffix)
        else:
            shots = take_screenshots(args.out, args.dialogs, args.suffix)
        for path in shots:
            print(f"{path}  {path.stat().st_size / 1000:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
