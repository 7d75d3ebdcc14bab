"""Reports a teacher can use, and the student's readable practice log.

:func:`load_report` reads one student's practice over a range of local days (on the teacher's
connection to the server, or on the student's own database); :func:`report_html` makes it a
one-page HTML report that prints well (charts are inline SVG, no scripts); :func:`write_log_csv`
writes the readable CSV, one row per take: no UUIDs, no sync columns, percentages, local date
and time, ready for a spreadsheet. Qt-free: the studio window, ``etude studio report``,
``etude export --table log`` and the tests call these.
"""

from __future__ import annotations

import csv
import html
import json
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.assignments import AssignmentRecord, AssignmentStatus

LOG_HEADER = (
    "Student",
    "Date",
    "Time",
    "Piece",
    "Assignment",
    "Duration (s)",
    "Overall %",
    "Pitch %",
    "Rhythm %",
    "Dynamics %",
    "Main tip",
)
BEST_TAKES = 5
# A note "runs" sharp or flat when its mean over the range is at least this many cents off and
# at least this share of the takes that played it lean the same way.
LEAN_CENTS = 8.0
LEAN_SHARE = 0.7
LEAN_MIN_TAKES = 3


@dataclass(frozen=True)
class TakeLine:
    """One take of the range, as the CSV and the report show it. Scores 0..1 or None."""

    started_at: datetime  # aware, the take's start
    local: datetime  # the same in the student's time zone
    piece: str
    assignment: str
    duration_s: float
    overall: float | None
    pitch: float | None
    rhythm: float | None
    dynamics: float | None
    tip: str
    per_note: tuple[tuple[str, float, int], ...]  # (note, mean cents, count)


@dataclass(frozen=True)
class NoteLean:
    """A note that runs sharp (+) or flat (-): mean cents over the takes that played it, how
    many takes, and the share of those that leaned the same way."""

    note: str
    mean_cents: float
    takes: int
    share: float


@dataclass
class ReportData:
    """One student's practice from ``since`` to ``until`` (local days, inclusive)."""

    student: str
    timezone: str
    since: date
    until: date
    sessions: int = 0
    practice_seconds: int = 0
    takes: list[TakeLine] = field(default_factory=list)
    weekly_minutes: list[tuple[date, float]] = field(default_factory=list)
    weekly_scores: list[tuple[date, float | None, float | None, float | None]] = field(
        default_factory=list
    )
    assignments: list[tuple[AssignmentRecord, AssignmentStatus]] = field(default_factory=list)
    notes: list[NoteLean] = field(default_factory=list)

    @property
    def best_takes(self) -> list[TakeLine]:
        scored = [t for t in self.takes if t.overall is not None]
        return sorted(scored, key=lambda t: (-(t.overall or 0.0), t.started_at))[:BEST_TAKES]


def load_report(db: Session, user_id: uuid.UUID, since: date, until: date) -> ReportData:
    """Everything the report and the log show for a student and a range of local days."""
    from sqlalchemy import select

    from storage.assignments import assignment_statuses, get_user_assignments
    from storage.errors import NotFoundError, ValidationError
    from storage.models import AnalysisResult, Assignment, Performance, RealtimeSession, User
    from storage.progress import local_midnight_utc, period_start

    if until < since:
        raise ValidationError("until", "must not be before since", until)
    user = db.get(User, user_id)
    if user is None:
        raise NotFoundError("user", user_id)
    tz = ZoneInfo(user.timezone)
    start = local_midnight_utc(since, tz)
    end = local_midnight_utc(until + timedelta(days=1), tz)
    data = ReportData(user.display_name, user.timezone, since, until)
    in_range = (
        RealtimeSession.user_id == user_id,
        RealtimeSession.started_at >= start,
        RealtimeSession.started_at < end,
    )
    sessions = db.execute(
        select(RealtimeSession.started_at, RealtimeSession.duration_seconds).where(*in_range)
    ).all()
    data.sessions = len(sessions)
    minutes: dict[date, float] = defaultdict(float)
    for started, secs in sessions:
        data.practice_seconds += int(secs or 0)
        week = period_start(started.astimezone(tz).date(), "weekly")
        minutes[week] += (secs or 0) / 60.0
    # Every analysis of the range's takes, oldest first: the last one seen per take is its
    # latest (one query, bounded by the student and the range).
    stmt = (
        select(
            Performance.id,
            Performance.recording_started_at,
            RealtimeSession.piece_name,
            Assignment.title,
            Performance.recording_duration,
            AnalysisResult.overall_score,
            AnalysisResult.pitch_accuracy,
            AnalysisResult.rhythm_accuracy,
            AnalysisResult.dynamics_range,
            AnalysisResult.feedback_json,
        )
        .select_from(RealtimeSession)
        .join(Performance, Performance.session_id == RealtimeSession.id)
        .outerjoin(Assignment, Assignment.id == RealtimeSession.assignment_id)
        .outerjoin(AnalysisResult, AnalysisResult.performance_id == Performance.id)
        .where(*in_range)
        .order_by(Performance.recording_started_at, Performance.id, AnalysisResult.created_at)
    )
    latest: dict[uuid.UUID, Any] = {}
    for row in db.execute(stmt):
        latest[row[0]] = row[1:]
    for row in latest.values():
        fb = _feedback(row[8])
        data.takes.append(
            TakeLine(
                started_at=row[0],
                local=row[0].astimezone(tz),
                piece=row[1] or "Free practice",
                assignment=row[2] or "",
                duration_s=float(row[3] or 0.0),
                overall=row[4],
                pitch=row[5],
                rhythm=row[6],
                dynamics=row[7],
                tip=_main_tip(fb),
                per_note=_per_note(fb),
            )
        )
    scores: dict[date, list[list[float]]] = defaultdict(lambda: [[], [], []])
    for t in data.takes:
        week = period_start(t.local.date(), "weekly")
        for i, v in enumerate((t.overall, t.pitch, t.rhythm)):
            if v is not None:
                scores[week][i].append(v)
    first_week = period_start(since, "weekly")
    week = first_week
    while week <= until:
        data.weekly_minutes.append((week, minutes.get(week, 0.0)))
        lists = scores.get(week, [[], [], []])
        means = [sum(v) / len(v) if v else None for v in lists]
        data.weekly_scores.append((week, means[0], means[1], means[2]))
        week += timedelta(weeks=1)
    items = [
        a
        for a in get_user_assignments(db, user_id)
        if a.created_at < end and (a.due_on is None or a.due_on >= since)
    ]
    statuses = assignment_statuses(db, items)
    data.assignments = [(a, statuses[a.id]) for a in items]
    data.notes = note_leans(data.takes)
    return data


def _feedback(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _main_tip(fb: dict[str, Any]) -> str:
    if fb.get("not_measurable"):
        return f"Not measurable: {fb['not_measurable']}"
    tips = fb.get("tips")
    if isinstance(tips, list) and tips:
        return str(tips[0])
    return ""


def _per_note(fb: dict[str, Any]) -> tuple[tuple[str, float, int], ...]:
    out = []
    items = fb.get("per_note")
    for item in items if isinstance(items, list) else []:
        try:
            cents, count = float(item["mean_cents"]), int(item.get("count", 1))
            if math.isfinite(cents) and count > 0:
                out.append((str(item["note"]), cents, count))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return tuple(out)


def note_leans(takes: list[TakeLine]) -> list[NoteLean]:
    """The notes that run sharp or flat most consistently over the takes: mean cents (weighted
    by how often each take played it) at least LEAN_CENTS off, in at least LEAN_MIN_TAKES takes,
    LEAN_SHARE of them leaning the same way; the largest lean first."""
    per: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for t in takes:
        for note, cents, count in t.per_note:
            per[note].append((cents, count))
    out = []
    for note, items in per.items():
        if len(items) < LEAN_MIN_TAKES:
            continue
        weight = sum(c for _, c in items)
        mean = sum(x * c for x, c in items) / weight
        same = sum(1 for x, _ in items if (x > 0) == (mean > 0) and x != 0) / len(items)
        if abs(mean) >= LEAN_CENTS and same >= LEAN_SHARE:
            out.append(NoteLean(note, mean, len(items), same))
    return sorted(out, key=lambda n: -abs(n.mean_cents))


# --------------------------------------------------------------------------------------------
# The readable CSV


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v * 100:.0f}"


def log_rows(data: ReportData) -> list[list[str]]:
    """The CSV's rows (without the header): one per take, oldest first."""
    from storage.export import escape_cell

    return [
        [
            escape_cell(data.student),
            t.local.strftime("%Y-%m-%d"),
            t.local.strftime("%H:%M"),
            escape_cell(t.piece),
            escape_cell(t.assignment),
            f"{t.duration_s:.1f}",
            _pct(t.overall),
            _pct(t.pitch),
            _pct(t.rhythm),
            _pct(t.dynamics),
            escape_cell(t.tip),
        ]
        for t in data.takes
    ]


def write_log_csv(data: ReportData, path: Path, *, bom: bool = True) -> int:
    """Write the readable practice log (UTF-8, a byte-order mark for Excel unless ``bom`` is
    False); returns the number of takes written. Written to ``<path>.part`` and renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    rows = log_rows(data)
    with tmp.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(LOG_HEADER)
        writer.writerows(rows)
    tmp.replace(path)
    return len(rows)


def practice_log(db: Session, user_id: uuid.UUID, since: date, until: date, path: Path) -> int:
    """The student's own readable practice log (beside the full table export)."""
    return write_log_csv(load_report(db, user_id, since, until), path)


# --------------------------------------------------------------------------------------------
# The one-page HTML report

_TABLE = "<table cellpadding='3' cellspacing='0'>"
_CSS = """
@page { size: A4; margin: 14mm; }
body { font-family: "Helvetica Neue", Arial, sans-serif; font-size: 10.5pt; color: #222;
       max-width: 180mm; margin: 0 auto; }
h1 { font-size: 17pt; margin: 0 0 2pt 0; } h2 { font-size: 12pt; margin: 10pt 0 4pt 0;
     border-bottom: 1px solid #bbb; }
.sub { color: #555; margin: 0 0 6pt 0; }
table.figures td { border: 1px solid #ccc; padding: 4pt 8pt; width: 25%; }
.big { font-size: 14pt; font-weight: bold; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 2pt 5pt; border-bottom: 1px solid #ddd; }
th { background: #f2f2f2; } td.n { text-align: right; }
table.charts td { border: none; width: 50%; vertical-align: top; padding: 0 4pt 0 0; }
svg text { font-size: 8px; fill: #444; }
@media print { h2 { break-after: avoid; } table, svg { break-inside: avoid; } }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _bars_svg(points: list[tuple[date, float]], width: int = 330, height: int = 120) -> str:
    top = max([v for _, v in points] + [1.0])
    n = max(len(points), 1)
    bw = (width - 30) / n
    out = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img">']
    out.append(f'<text x="0" y="10">{top:.0f} min</text>')
    for i, (week, v) in enumerate(points):
        h = (height - 30) * v / top
        x = 28 + i * bw
        out.append(
            f'<rect x="{x:.1f}" y="{height - 16 - h:.1f}" width="{max(bw - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="#5b8fd6"><title>{week} {v:.0f} min</title></rect>'
        )
    if points:
        out.append(f'<text x="28" y="{height - 3}">{points[0][0].strftime("%d %b")}</text>')
        out.append(
            f'<text x="{width - 50}" y="{height - 3}">{points[-1][0].strftime("%d %b")}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _lines_svg(
    points: list[tuple[date, float | None, float | None, float | None]],
    width: int = 330,
    height: int = 120,
) -> str:
    colours = (("Overall", "#333"), ("Pitch", "#1e78dc"), ("Rhythm", "#2eaa5a"))
    n = max(len(points) - 1, 1)
    out = [f'<svg viewBox="0 0 {width} {height}" width="100%" role="img">']
    for pct in (0, 50, 100):
        y = (height - 16) - (height - 30) * pct / 100
        out.append(f'<text x="0" y="{y + 3:.1f}">{pct} %</text>')
        out.append(f'<line x1="28" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>')
    for k, (label, colour) in enumerate(colours):
        segs: list[list[str]] = [[]]
        for i, p in enumerate(points):
            v = (p[1], p[2], p[3])[k]
            if v is None:
                segs.append([])
                continue
            x = 28 + i * (width - 34) / n
            y = (height - 16) - (height - 30) * v
            segs[-1].append(f"{x:.1f},{y:.1f}")
        for seg in segs:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{colour}"/>')
            elif seg:
                out.append(
                    f'<polyline points="{" ".join(seg)}" fill="none" stroke="{colour}" '
                    'stroke-width="1.5"/>'
                )
        out.append(f'<text x="{40 + 55 * k}" y="{height - 2}" style="fill:{colour}">{label}</text>')
    out.append("</svg>")
    return "".join(out)


def report_html(data: ReportData) -> str:
    """The one-page report as a standalone HTML document (prints on one A4 page for a term of
    practice: the tables are capped, the charts are vector)."""
    minutes = data.practice_seconds / 60
    scored = [t.overall for t in data.takes if t.overall is not None]
    mean = sum(scored) / len(scored) if scored else None
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Practice report: {_e(data.student)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Practice report: {_e(data.student)}</h1>",
        f"<p class='sub'>{data.since.isoformat()} to {data.until.isoformat()} "
        f"(time zone {_e(data.timezone)})</p>",
        "<table class='figures' cellpadding='5' cellspacing='0'><tr>",
        f"<td>Practice<br><span class='big'>{minutes / 60:.1f} h</span></td>",
        f"<td>Sessions<br><span class='big'>{data.sessions}</span></td>",
        f"<td>Takes<br><span class='big'>{len(data.takes)}</span></td>",
        "<td>Average overall<br><span class='big'>"
        f"{_pct(mean) + ' %' if mean is not None else '–'}</span></td>",
        "</tr></table>",
        "<table class='charts' cellspacing='0'><tr><td><h2>Practice time per week</h2>",
        _bars_svg(data.weekly_minutes),
        "</td><td><h2>Scores over time (weekly average)</h2>",
        _lines_svg(data.weekly_scores),
        "</td></tr></table>",
        "<h2>Assignments</h2>",
    ]
    if data.assignments:
        out.append(_TABLE + "<tr><th>Piece</th><th>Due</th><th>Goals</th><th>Status</th></tr>")
        for a, st in data.assignments[:8]:
            goals = ", ".join(
                g
                for g in (
                    f"{a.min_minutes} min" if a.min_minutes else "",
                    f"{_pct(a.target_score)} %" if a.target_score is not None else "",
                )
                if g
            )
            out.append(
                f"<tr><td>{_e(a.title)}</td><td>{a.due_on or ''}</td><td>{_e(goals)}</td>"
                f"<td>{_e(st.label)}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append("<p>No assignments in this period.</p>")
    out.append("<h2>Notes that run sharp or flat</h2>")
    if data.notes:
        out.append(_TABLE + "<tr><th>Note</th><th>Tends to be</th><th>Takes</th></tr>")
        for n in data.notes[:6]:
            way = "sharp" if n.mean_cents > 0 else "flat"
            out.append(
                f"<tr><td>{_e(n.note)}</td><td>{way} by {abs(n.mean_cents):.0f} cents "
                f"({n.share * 100:.0f} % of takes)</td><td class='n'>{n.takes}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append("<p>No note runs consistently sharp or flat.</p>")
    out.append("<h2>Best takes</h2>")
    if data.best_takes:
        out.append(
            _TABLE + "<tr><th>Date</th><th>Piece</th><th>Overall</th><th>Pitch</th>"
            "<th>Rhythm</th></tr>"
        )
        for t in data.best_takes:
            out.append(
                f"<tr><td>{t.local.strftime('%Y-%m-%d %H:%M')}</td><td>{_e(t.piece)}</td>"
                f"<td class='n'>{_pct(t.overall)} %</td><td class='n'>{_pct(t.pitch)} %</td>"
                f"<td class='n'>{_pct(t.rhythm) + ' %' if t.rhythm is not None else '–'}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append("<p>No scored takes in this period.</p>")
    out.append("</body></html>")
    return "".join(out)


def write_report(data: ReportData, path: Path) -> Path:
    """Write the HTML report (to ``<path>.part``, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(report_html(data), encoding="utf-8")
    tmp.replace(path)
    return path
