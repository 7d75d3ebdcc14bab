"""The teacher's studio, walked through the real windows against a real PostgreSQL server with
two synced students: the studio table shows the students' own figures, an assignment reaches a
student's New-session form and is practised from there in one click, its status comes back to
the teacher, a comment goes to the student's History and its read mark back, and the report and
the CSV hold the right figures."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from storage.analyses import create_analysis_result
from storage.db import Database, open_database
from storage.models import AnalysisResult, Performance, ProgressMetric, RealtimeSession
from storage.performances import create_performance
from storage.profiles import create_profile
from storage.progress import local_day, period_start, streaks
from storage.sessions import create_session, end_session
from storage.sync import link
from storage.sync.protocol import sync
from storage.sync.studio import open_studio
from tests.desktop.conftest import wait_idle
from tests.sync.conftest import SyncServer

pytestmark = pytest.mark.postgres

SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def _scale_midi() -> bytes:
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500_000))
    for m in SCALE:
        track.append(mido.Message("note_on", note=m, velocity=80, time=0))
        track.append(mido.Message("note_off", note=m, velocity=0, time=240))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def practise_days(db: Database, uid: uuid.UUID, days: list[int], sharp: float, base: float) -> None:
    """A session on each of ``days`` days ago (20-40 min, two scored takes, the F#4 of each take
    ``sharp`` cents off)."""
    now = datetime.now(UTC)
    for k, ago in enumerate(days):
        start = now - timedelta(days=ago, hours=1)
        with db.transaction() as s:
            sid = create_session(s, uid, "Minuet", "classical", 96, started_at=start).id
            for i in range(2):
                pid = create_performance(
                    s,
                    sid,
                    recording_started_at=start + timedelta(minutes=5 * i),
                    recording_duration=40.0 + i,
                ).id
                score = min(1.0, base + 0.01 * k + 0.05 * i)
                create_analysis_result(
                    s,
                    pid,
                    score - 0.05,
                    score - 0.1,
                    0.4,
                    score,
                    {
                        "tips": [f"Keep the F# down (take {k}.{i})"],
                        "per_note": [{"note": "F#4", "mean_cents": sharp, "count": 3}],
                    },
                )
            end_session(s, sid, start + timedelta(minutes=20 + k))


@pytest.fixture
def studio_world(sync_server: SyncServer, tmp_path: Path):
    srv = sync_server
    srv.add_teacher("Ms Tee")
    urls = {}
    ids = {}
    plan = {"Ann": ([0, 1, 2, 5, 9], 18.0, 0.6), "Bob": ([12, 30], -14.0, 0.5)}
    for name, (days, sharp, base) in plan.items():
        srv.add_student(name, "Ms Tee")
        urls[name] = f"sqlite:///{(tmp_path / name / 'etude.db').as_posix()}"
        db = open_database(urls[name])
        with db.transaction() as s:
            ids[name] = create_profile(s, name, "Europe/Paris").id
        practise_days(db, ids[name], days, sharp, base)
        link.link_profile(db, srv.address(name), srv.accounts[name].password, profile_id=ids[name])
        sync(db, ids[name], srv.accounts[name].password)
        db.dispose()
    studio = open_studio(srv.address("Ms Tee"), srv.accounts["Ms Tee"].password)
    try:
        yield srv, urls, ids, studio
    finally:
        studio.dispose()


def _expected_row(url: str, uid: uuid.UUID) -> dict[str, Any]:
    """What the studio table must show for a student, worked out from the student's own
    database (sessions and progress rows), not through the studio's queries."""
    db = open_database(url)
    try:
        with db.session() as s:
            starts = [
                (r[0], r[1])
                for r in s.execute(
                    select(RealtimeSession.started_at, RealtimeSession.duration_seconds).where(
                        RealtimeSession.user_id == uid
                    )
                )
            ]
            latest = s.execute(
                select(ProgressMetric.avg_overall_score, ProgressMetric.avg_pitch_accuracy)
                .where(ProgressMetric.user_id == uid, ProgressMetric.period_type == "daily")
                .order_by(ProgressMetric.metric_date.desc())
                .limit(1)
            ).one()
    finally:
        db.dispose()
    tz = ZoneInfo("Europe/Paris")
    now = datetime.now(UTC)
    week = period_start(local_day(now, tz), "weekly")
    minutes = sum((d or 0) for st, d in starts if local_day(st, tz) >= week) / 60
    return {
        "last": max(st for st, _ in starts),
        "minutes": minutes,
        "streak": streaks([st for st, _ in starts], "Europe/Paris", now)[0],
        "overall": latest[0],
        "pitch": latest[1],
    }


def _student_window(qtbot: Any, url: str) -> Any:
    from desktop.app import create_main_window

    window = create_main_window(url)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.ctx.profile is not None, timeout=20_000)
    wait_idle(qtbot, window.ctx)
    return window


def _close(qtbot: Any, window: Any) -> None:
    window.practice.shutdown()
    wait_idle(qtbot, window.ctx)
    window.close()
    window.ctx.database.dispose()


def test_the_teachers_flows_with_two_synced_students(
    qtbot: Any, studio_world: Any, tmp_path: Path
) -> None:
    from audio.sources import SyntheticSource, SynthNote, render_notes
    from desktop.studio_window import StudioWindow

    srv, urls, ids, studio = studio_world
    window = StudioWindow(studio, tmp_path / "teacher")
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.assignments_loaded, timeout=20_000) as got:
        pass
    data = got.args[0]
    assert data.teacher.display_name == "Ms Tee"

    # 1. The studio table shows each student's own figures.
    assert [r.name for r in data.students] == ["Ann", "Bob"]
    for row in data.students:
        want = _expected_row(urls[row.name], ids[row.name])
        assert row.last_practice == want["last"]
        assert row.minutes_this_week == pytest.approx(want["minutes"])
        assert row.streak_days == want["streak"]
        assert row.overall == pytest.approx(want["overall"])
        assert row.pitch == pytest.approx(want["pitch"])
    ann_row, bob_row = data.students
    assert ann_row.streak_days == 3 and not ann_row.inactive
    assert bob_row.inactive and bob_row.days_inactive >= 12
    table = window.table
    assert table.rowCount() == 2
    # Sorting by streak (descending) puts Ann first; the cells say what the rows hold.
    table.sortItems(3)
    assert table.item(0, 0).text() == "Bob" and table.item(1, 3).text() == "3"
    assert (
        table.item(0, 0).background().color().name() != table.item(1, 0).background().color().name()
    )

    # 2. An assignment for Ann, with its reference, reaches her New-session form after a sync.
    midi_file = tmp_path / "scale.mid"
    midi_file.write_bytes(_scale_midi())
    with qtbot.waitSignal(window.assignments_loaded, timeout=20_000):
        window.create_assignment(
            [ids["Ann"]],
            {"title": "Scale in C", "reference": midi_file, "target_tempo": 100, "min_minutes": 30},
        )
    line = next(a for a in window.data.assignments if a.student == "Ann")
    assert line.status.label == "not started"
    assert window.assignments.item(0, 4).text() == "not started"

    ann_db = open_database(urls["Ann"])
    sync(ann_db, ids["Ann"], srv.accounts["Ann"].password)
    ann = _student_window(qtbot, urls["Ann"])
    page = ann.practice
    notes = [SynthNote(m, 0.5 + 0.3 * i, 0.22, amplitude=0.4) for i, m in enumerate(SCALE)]
    signal = render_notes(notes, 48000, tail_s=1.0)
    page.source_factory = lambda prefs: SyntheticSource(signal=signal, sample_rate=48000)
    seen: dict[str, Any] = {}

    def click_practise() -> None:
        form = QApplication.activeModalWidget()
        if form is None:
            QTimer.singleShot(20, click_practise)
            return
        seen["items"] = [
            form.assignments.list.item(i).text() for i in range(form.assignments.list.count())
        ]
        form.assignments.button.click()

    QTimer.singleShot(0, click_practise)
    with qtbot.waitSignal(page.practice_started, timeout=20_000) as started:
        page.edit_plan()
    assert seen["items"] == ["Scale in C · ♩ = 100 · not started"]
    session = started.args[0]
    assert session.assignment_id == line.assignment.id
    assert page.plan.piece_name == "Scale in C" and page.plan.target_tempo_bpm == 100
    assert page.reference is not None and len(page.reference.notes) == len(SCALE)
    page.start_take()
    qtbot.waitUntil(lambda: page.worker.position_s >= 3.2, timeout=15_000)
    with qtbot.waitSignal(page.take_saved, timeout=20_000) as saved:
        page.stop_take()
    with qtbot.waitSignal(page.practice_stopped, timeout=20_000):
        page.end_session()
    wait_idle(qtbot, ann.ctx)
    take = saved.args[0]
    sync(ann_db, ids["Ann"], srv.accounts["Ann"].password)

    # 3. The teacher sees the status move.
    with qtbot.waitSignal(window.assignments_loaded, timeout=20_000):
        window.reload()
    line = next(a for a in window.data.assignments if a.student == "Ann")
    with ann_db.session() as s:
        secs = s.scalar(
            select(RealtimeSession.duration_seconds).where(RealtimeSession.id == session.id)
        )
    assert (line.status.takes, line.status.seconds) == (1, secs)
    assert line.status.best_score == pytest.approx(take.analysis.overall_score)
    assert line.status.label.startswith("practised") and not line.status.done

    # 4. A comment at a moment of that take: in Ann's History as new, then read, and the
    #    read mark goes back to the teacher.
    view = window.open_student(ann_row)
    qtbot.waitUntil(lambda: len(view.sessions) == 6, timeout=20_000)
    # Her progress, the student's own charts, read from the server.
    qtbot.waitUntil(lambda: view.progress.data is not None, timeout=20_000)
    from storage.stats import calculate_user_stats

    with ann_db.session() as s:
        own = calculate_user_stats(s, ids["Ann"], 30)
    shown = view.progress.data.stats[30]
    assert (shown.total_sessions, shown.total_analyses) == (own.total_sessions, own.total_analyses)
    assert shown.avg_overall_score == pytest.approx(own.avg_overall_score)
    index = next(i for i, s in enumerate(view.sessions) if s.id == session.id)
    view.select_session(index)
    qtbot.waitUntil(lambda: len(view.takes) == 1, timeout=20_000)
    assert (
        view.card.value_labels["overall_score"].text()
        == f"{round(take.analysis.overall_score * 100)} %"
    )
    view.comment_text.setText("Good; the E was a touch flat")
    view.comment_at.setValue(1.5)
    view.add_comment()
    qtbot.waitUntil(lambda: "next sync" in view.message.text(), timeout=20_000)
    sync(ann_db, ids["Ann"], srv.accounts["Ann"].password)
    history = ann.history
    history.reload()
    wait_idle(qtbot, ann.ctx)
    assert history.unread == {session.id: 1}
    names = [history.tree.topLevelItem(i).text(1) for i in range(history.tree.topLevelItemCount())]
    assert "Scale in C  ● 1 new comment" in names
    history.open_session(session.id)
    wait_idle(qtbot, ann.ctx)
    text = history.detail.toPlainText()
    assert "Good; the E was a touch flat" in text and "at 0:01" in text and "new" in text
    assert history.unread == {}
    sync(ann_db, ids["Ann"], srv.accounts["Ann"].password)
    view.select_session(index)
    qtbot.waitUntil(
        lambda: bool(view.takes) and not view.takes[0].comments[0].unread, timeout=20_000
    )
    _close(qtbot, ann)

    # 5. The report and the CSV hold Ann's own figures.
    from desktop.usecases.reports import load_report, report_html, write_log_csv

    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    with studio.session() as s:
        report = load_report(s, ids["Ann"], today - timedelta(days=30), today)
    out = tmp_path / "ann.csv"
    assert write_log_csv(report, out) == 11
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with ann_db.session() as s:
        truth = s.execute(
            select(
                Performance.recording_started_at,
                AnalysisResult.overall_score,
                AnalysisResult.pitch_accuracy,
            )
            .join(AnalysisResult, AnalysisResult.performance_id == Performance.id)
            .order_by(Performance.recording_started_at)
        ).all()
    assert len(rows) == len(truth) == 11
    for row, (started, overall, pitch) in zip(rows, truth, strict=True):
        local = started.astimezone(ZoneInfo("Europe/Paris"))
        assert (row["Date"], row["Time"]) == (local.strftime("%Y-%m-%d"), local.strftime("%H:%M"))
        assert row["Overall %"] == f"{overall * 100:.0f}" and row["Pitch %"] == f"{pitch * 100:.0f}"
        assert row["Student"] == "Ann"
    assert sum(r["Assignment"] == "Scale in C" for r in rows) == 1
    assert rows[0]["Main tip"].startswith("Keep the F# down")
    assert not any("-" * 8 in v for r in rows for v in r.values())  # no UUIDs
    assert report.notes and report.notes[0].note == "F#4" and report.notes[0].mean_cents > 0
    page_html = report_html(report)
    best = max(o for _, o, _ in truth)
    assert (
        "Practice report: Ann" in page_html
        and "F#4" in page_html
        and "sharp by 18 cents" in page_html
    )
    assert f"{best * 100:.0f} %" in page_html and "Scale in C" in page_html
    assert report.practice_seconds == sum(
        (d or 0) for d in (s.duration_seconds for s in view.sessions)
    )
    ann_db.dispose()
    window.close()


def test_a_student_writes_her_readable_practice_log_from_the_export_dialog(
    qtbot: Any, main_window: Any, tmp_path: Path
) -> None:
    ctx = main_window.ctx
    uid = ctx.profile.id
    practise_days(ctx.database, uid, [1, 2], 12.0, 0.7)
    dialog = main_window.open_export()
    dialog.folder.setText(str(tmp_path / "out"))
    dialog.log_button.click()
    qtbot.waitUntil(lambda: "take(s) written" in dialog.message.text(), timeout=20_000)
    with (tmp_path / "out" / "practice-log.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with ctx.database.session() as s:
        overall = sorted(
            s.scalars(
                select(AnalysisResult.overall_score)
                .join(Performance, Performance.id == AnalysisResult.performance_id)
                .order_by(Performance.recording_started_at)
            )
        )
    assert len(rows) == 4 and sorted(float(r["Overall %"]) for r in rows) == [
        round(v * 100) for v in overall
    ]
    assert {r["Piece"] for r in rows} == {"Minuet"} and all(r["Main tip"] for r in rows)
    assert dialog.message.text().startswith("Practice log: 4 take(s) written to")


def test_the_assignment_dialog_checks_its_fields(qtbot: Any, tmp_path: Path) -> None:
    from datetime import date

    from PySide6.QtCore import QDate, Qt

    from desktop.studio_window import AssignmentDialog
    from storage.sync.studio import StudentRow

    def row(name: str, uid: uuid.UUID | None) -> StudentRow:
        return StudentRow("r", name, uid, "UTC", None, 0.0, 0, None, None, None, 0, (), None, True)

    ann, bob = uuid.uuid4(), uuid.uuid4()
    dialog = AssignmentDialog([row("Ann", ann), row("Bob", bob), row("New", None)])
    qtbot.addWidget(dialog)
    assert dialog.students.count() == 2  # a student who never synced cannot be assigned yet
    dialog._accept()
    assert dialog.error.text() == "Choose at least one student."
    dialog.check(bob)
    dialog.students.item(0).setCheckState(Qt.CheckState.Checked)
    dialog._accept()
    assert dialog.error.text() == "Name the piece."
    dialog.title.setText("  Minuet in G ")
    dialog.tempo.setValue(12)
    dialog._accept()
    assert "20–300" in dialog.error.text()
    dialog.tempo.setValue(96)
    dialog.has_due.setChecked(True)
    dialog.due.setDate(QDate(2030, 5, 1))
    dialog.target.setValue(85)
    dialog._accept()
    assert dialog.result() == AssignmentDialog.DialogCode.Accepted
    assert dialog.chosen() == [ann, bob]
    assert dialog.fields() == {
        "title": "Minuet in G",
        "reference": None,
        "target_tempo": 96,
        "genre": None,
        "difficulty_level": None,
        "due_on": date(2030, 5, 1),
        "min_minutes": None,
        "target_score": 0.85,
        "instructions": None,
    }
