"""Every public service function driven with generated values, on SQLite and on PostgreSQL.

Each call either raises the project's own error (ValidationError naming a field of the call and
its rule, or NotFoundError for an unknown id) and leaves the database exactly as it was, or it
writes: then every row in the database still obeys the rules the service checks, and what runs
at the next start and in the windows (crash recovery, stats, progress, a session's complete data)
still runs on it. Any other exception, a changed database after a refusal or an invalid row
fails the test.

Values mix plausible ones (ids of real rows, moments near now, scores in 0..1) with hostile ones:
lone surrogates and NUL in text, JSON nested thousands of levels deep, aware datetimes in years
1 and 9999, huge and non-finite numbers, and values of the wrong type. Each example runs in a
transaction that is rolled back afterwards, so every example starts from the same seeded data.

The number of calls made and how they ended is printed at the end of the run (a line
"generated service calls: ..."); any call that ended otherwise fails its test.
"""

from __future__ import annotations

import inspect
import json
import math
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import (
    analyses,
    export,
    performances,
    profiles,
    progress,
    progress_metrics,
    recovery,
    sessions,
    stats,
)
from storage.db import Database, open_database
from storage.errors import NotFoundError, ValidationError
from storage.models import (
    DIFFICULTY_LEVELS,
    PERIOD_TYPES,
    SESSION_STATUSES,
    AnalysisResult,
    Base,
    Performance,
    ProgressMetric,
    RealtimeSession,
    User,
)
from storage.records import ANALYSIS_COUNT_FIELDS, ANALYSIS_SCORE_FIELDS
from storage.validation import (
    HISTORY_DAYS,
    MAX_INT32,
    MAX_TAKE_SECONDS,
    check_json_object,
    check_moment,
    check_text,
    check_timezone,
)
from tests.storage.conftest import GENERATED_CALLS as TALLY
from tests.storage.conftest import pg_schema_url

# Per function and backend: 1,600 generated calls on each. Each hostile value of each argument
# is also tried every run by the catalogue below (test_every_bad_value_is_refused_by_the_name_
# of_its_argument), so the generated calls look for combinations; at 100 they took 4-7 s per
# function and backend on a loaded 2-core machine, most of it re-reading every user's stats,
# progress and recovery after each write.
EXAMPLES = 50
NOW = datetime.now(UTC)


# --------------------------------------------------------------------------------------------
# Seeded databases, one per backend for the module


@dataclass
class Seeded:
    db: Database
    ids: dict[str, list[uuid.UUID]]
    names: list[str]
    folder: Path


def _seed(url: str) -> Seeded:
    db = open_database(url, migrate_schema=True)
    start = NOW - timedelta(days=3)
    with db.transaction() as s:
        ann = profiles.create_profile(s, "Ann", "Europe/Paris", {"a4_hz": 440})
        bob = profiles.create_profile(s, "Bob", "Pacific/Auckland")
        demo = profiles.create_profile(s, "Demo student", "UTC", is_demo=True)
        done = sessions.create_session(s, ann.id, "Minuet", "classical", 100, started_at=start)
        take = performances.create_performance(
            s, done.id, "/r/a.flac", recording_started_at=start, recording_duration=60.0
        )
        analysis = analyses.create_analysis_result(
            s, take.id, 0.8, 0.7, 0.5, 0.7, {"per_note": [{"note": "A4", "mean_cents": 3}]}
        )
        sessions.end_session(s, done.id, start + timedelta(minutes=5))
        live = sessions.create_session(s, ann.id, "Scales", started_at=NOW - timedelta(hours=1))
        live_take = performances.create_performance(
            s, live.id, "/r/b.wav", recording_started_at=NOW - timedelta(minutes=50)
        )
        other = sessions.create_session(s, bob.id, started_at=NOW - timedelta(days=1))
    ids = {
        "user": [ann.id, bob.id, demo.id],
        "session": [done.id, live.id, other.id],
        "performance": [take.id, live_take.id],
        "analysis": [analysis.id],
    }
    return Seeded(db, ids, ["Ann", "Bob", "Demo student"], Path(tempfile.mkdtemp()))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    if request.param == "sqlite":
        url = f"sqlite:///{(tmp_path_factory.mktemp('gen') / 'etude.db').as_posix()}"
        data = _seed(url)
        yield data
        data.db.dispose()
    else:
        urls = pg_schema_url()
        data = _seed(next(urls))
        yield data
        data.db.dispose()
        urls.close()  # drops the schema


# --------------------------------------------------------------------------------------------
# Values

UTC_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
ZONES = st.one_of(st.just(UTC), UTC_OFFSETS, st.timezones())
EXTREME_MOMENTS = st.datetimes(timezones=ZONES).filter(lambda d: d.year < 1900 or d.year > 2200)
NEAR_MOMENTS = st.one_of(
    st.integers(-10 * 86400, 600).map(lambda s: NOW + timedelta(seconds=s)),
    # The edges of what is allowed: 20 years back, a day ahead (less a margin for the run).
    st.sampled_from(
        [
            NOW - timedelta(days=HISTORY_DAYS) + timedelta(minutes=30),
            NOW + timedelta(hours=23),
            NOW - timedelta(days=3650),
        ]
    ),
)
HOSTILE_MOMENTS = st.one_of(
    st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2100, 1, 1), timezones=ZONES),
    EXTREME_MOMENTS,
    st.datetimes(),  # naive
    st.sampled_from(
        [
            datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
            datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-5))),
            NOW - timedelta(days=HISTORY_DAYS + 1),
            NOW + timedelta(days=2),
        ]
    ),
)
MOMENTS = st.one_of(
    NEAR_MOMENTS,
    NEAR_MOMENTS.map(lambda d: d.astimezone(timezone(timedelta(hours=-7)))),
    HOSTILE_MOMENTS,
)
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)  # lone surrogates too
HOSTILE_TEXT = st.one_of(
    ANY_TEXT,
    st.sampled_from(["", "   ", "a\x00b", "\ud800", "x\udfff", "'=1+1", "é" * 256, "Ann"]),
    st.text(min_size=250, max_size=600),
)


class Deep(dict[str, Any]):
    """A JSON object nested ``depth`` levels deep, shown by its depth (printing it whole in a
    failure report would itself overflow the stack)."""

    def __init__(self, depth: int) -> None:
        value: Any = 1
        for i in range(depth - 1):
            value = [value] if i % 2 else {"k": value}
        super().__init__(k=value)
        self.depth = depth

    def __repr__(self) -> str:
        return f"Deep({self.depth})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


def _nested(depth: int) -> Deep:
    return Deep(depth)


JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    ANY_TEXT,
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(ANY_TEXT, inner, max_size=3)
    ),
    max_leaves=8,
)
DEEP = st.integers(20, 5000)
JSONISH = st.one_of(
    st.none(),
    st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=4),
    JSON_VALUES,
    DEEP.map(_nested),
    DEEP.map(lambda n: "[" * n + "]" * n),
    DEEP.map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.dictionaries(ANY_TEXT, JSON_VALUES, max_size=4).map(
        lambda d: json.dumps(d, ensure_ascii=False)
    ),
    st.sampled_from(['{"x": "\\ud800"}', '{"n": 1' + "0" * 5000 + "}", "{", "[]", "NaN"]),
    ANY_TEXT,
    st.integers(),
)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(-(2**80), 2**80),
    st.floats(),
    st.sampled_from([0, 1, -1, 0.5, 1.0000001, MAX_INT32, MAX_INT32 + 1, 1e12, -1e-300]),
    st.sampled_from([MAX_TAKE_SECONDS, MAX_TAKE_SECONDS + 0.001, math.inf, math.nan]),
)
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.just(object()),
    st.just({"a": 1}),
)
ANYTHING = st.one_of(NUMBERS, HOSTILE_TEXT, MOMENTS, WRONG, JSONISH, st.uuids())


@dataclass
class Args:
    """A function's required and optional keyword arguments, each a strategy; ``post`` may
    adjust the drawn arguments (e.g. a file or a folder to export to, as the table asks)."""

    required: dict[str, st.SearchStrategy[Any]]
    optional: dict[str, st.SearchStrategy[Any]]
    post: Callable[[dict[str, Any]], dict[str, Any]] = lambda kwargs: kwargs


def calls(seeded: Seeded) -> dict[str, tuple[Callable[..., Any], st.SearchStrategy[Any]]]:
    """Each function's arguments: half the time all plausible (so calls with many arguments
    still write, at the edges of what is allowed too), half the time one argument hostile and
    the others plausible (so the bad value is the one the call meets)."""
    plausible, hostile = _calls(seeded, hostile=False), _calls(seeded, hostile=True)
    out: dict[str, tuple[Callable[..., Any], st.SearchStrategy[Any]]] = {}
    for name, (fn, good) in plausible.items():
        bad = hostile[name][1]

        def one_bad(arg: str, good: Args = good, bad: Args = bad) -> st.SearchStrategy[Any]:
            required = {k: bad.required[k] if k == arg else v for k, v in good.required.items()}
            if arg in bad.optional:  # an optional one, or one only a hostile caller passes
                required[arg] = bad.optional[arg]
            optional = {k: v for k, v in good.optional.items() if k != arg}
            return st.fixed_dictionaries(required, optional=optional).map(good.post)

        all_good = st.fixed_dictionaries(good.required, optional=good.optional).map(good.post)
        names = [*good.required, *good.optional]
        names += [k for k in bad.optional if k not in names]
        strategy = (
            st.one_of(all_good, st.sampled_from(names).flatmap(one_bad)) if names else all_good
        )
        out[name] = (fn, strategy)
    return out


# --------------------------------------------------------------------------------------------
# The functions and how to call them: name -> (function, strategy of keyword arguments)


def _calls(seeded: Seeded, *, hostile: bool) -> dict[str, tuple[Callable[..., Any], Args]]:
    def ids(kind: str) -> st.SearchStrategy[Any]:
        real = st.sampled_from(seeded.ids[kind])
        if not hostile:
            return st.one_of(real, real, real.map(str), st.uuids())
        return st.one_of(
            HOSTILE_TEXT, NUMBERS, WRONG, st.just(" " * 70), st.just(str(uuid.uuid4()))
        )

    def maybe(value: st.SearchStrategy[Any], plausible: st.SearchStrategy[Any]) -> Any:
        return value if hostile else plausible

    def scores() -> st.SearchStrategy[Any]:
        return maybe(NUMBERS, st.one_of(st.none(), st.floats(0, 1)))

    user, session_id = ids("user"), ids("session")
    perf = ids("performance")
    name = maybe(HOSTILE_TEXT, st.sampled_from([*seeded.names, "Clara", " Dora ", "Éloïse"]))
    zone = maybe(HOSTILE_TEXT, st.sampled_from(["UTC", "Europe/Paris", "Asia/Kathmandu"]))
    moment = maybe(HOSTILE_MOMENTS, st.one_of(st.none(), NEAR_MOMENTS))
    text = maybe(ANY_TEXT, st.one_of(st.none(), st.text(max_size=30)))
    count = maybe(NUMBERS, st.one_of(st.none(), st.integers(0, 500)))
    period = maybe(ANYTHING, st.sampled_from(PERIOD_TYPES))
    b = maybe(ANYTHING, st.booleans())
    jsonish = maybe(JSONISH, st.one_of(st.none(), st.dictionaries(st.text(), JSON_VALUES)))

    def kw(**fields: st.SearchStrategy[Any]) -> Args:
        # Every optional argument may also be left out, so defaults are exercised too.
        return Args({}, fields)

    def req(required: dict[str, Any], **optional: Any) -> Args:
        return Args(required, optional)

    analysis_fields = {f: scores() for f in ANALYSIS_SCORE_FIELDS}
    analysis_fields.update({f: count for f in ANALYSIS_COUNT_FIELDS})
    by_kind = {
        "count": count,
        "score": scores(),
        "signed_score": maybe(NUMBERS, st.floats(-1, 1)),
        "json": jsonish,
        "json_any": jsonish,
    }
    progress_fields: dict[str, Any] = {
        name: by_kind[kind] for name, kind in progress_metrics.PROGRESS_METRIC_FIELDS.items()
    }
    if hostile:
        progress_fields["not_a_field"] = ANYTHING
    out = seeded.folder
    return {
        "create_profile": (
            profiles.create_profile,
            req({"display_name": name}, timezone=zone, settings=jsonish, is_demo=b),
        ),
        "get_profile": (profiles.get_profile, req({"user_id": user})),
        "get_profile_by_name": (profiles.get_profile_by_name, req({"display_name": name})),
        "list_profiles": (profiles.list_profiles, kw()),
        "ensure_default_profile": (profiles.ensure_default_profile, kw()),
        "rename_profile": (
            profiles.rename_profile,
            req({"user_id": user, "display_name": name}),
        ),
        "update_profile_settings": (
            profiles.update_profile_settings,
            req({"user_id": user, "settings": jsonish}),
        ),
        "set_profile_timezone": (
            profiles.set_profile_timezone,
            req({"user_id": user, "timezone": zone}),
        ),
        "delete_profile": (profiles.delete_profile, req({"user_id": user})),
        "create_session": (
            sessions.create_session,
            req(
                {"user_id": user},
                piece_name=text,
                genre=text,
                target_tempo=maybe(NUMBERS, st.integers(20, 300)),
                difficulty_level=maybe(ANYTHING, st.sampled_from(DIFFICULTY_LEVELS)),
                websocket_session_id=text,
                started_at=moment,
            ),
        ),
        "end_session": (
            sessions.end_session,
            req({"session_id": session_id}, ended_at=moment, update_progress=b),
        ),
        "get_session": (sessions.get_session, req({"session_id": session_id})),
        "get_user_sessions": (
            sessions.get_user_sessions,
            req(
                {"user_id": user},
                limit=maybe(NUMBERS, st.integers(1, 1000)),
                offset=maybe(NUMBERS, st.integers(0, 10)),
                status=maybe(ANYTHING, st.sampled_from(SESSION_STATUSES)),
            ),
        ),
        "update_chunks_processed": (
            sessions.update_chunks_processed,
            req({"session_id": session_id, "chunks": maybe(NUMBERS, st.integers(0, 10**6))}),
        ),
        "delete_session": (sessions.delete_session, req({"session_id": session_id})),
        "get_complete_session_data": (
            sessions.get_complete_session_data,
            req({"session_id": session_id}),
        ),
        "create_performance": (
            performances.create_performance,
            req(
                {"session_id": session_id},
                audio_path=text,
                midi_path=text,
                sample_rate=maybe(NUMBERS, st.sampled_from([44100, 48000])),
                audio_format=text,
                notes=maybe(HOSTILE_TEXT, st.none()),
                recording_started_at=moment,
                recording_duration=maybe(NUMBERS, st.floats(0, MAX_TAKE_SECONDS)),
                recovered=b,
            ),
        ),
        "get_session_performances": (
            performances.get_session_performances,
            req({"session_id": session_id}),
        ),
        "mark_performance_recovered": (
            performances.mark_performance_recovered,
            req(
                {"performance_id": perf},
                recording_duration=maybe(NUMBERS, st.floats(0, 3600)),
            ),
        ),
        "delete_performance": (performances.delete_performance, req({"performance_id": perf})),
        "create_analysis_result": (
            analyses.create_analysis_result,
            req(
                {"performance_id": perf},
                feedback_json=jsonish,
                avg_pitch_deviation_cents=maybe(NUMBERS, st.floats(0, 1200)),
                difficulty_estimate=maybe(ANYTHING, st.sampled_from(DIFFICULTY_LEVELS)),
                analysis_engine_version=text,
                processing_time_ms=count,
                created_at=moment,
                **analysis_fields,
            ),
        ),
        "get_performance_analysis": (
            analyses.get_performance_analysis,
            req({"performance_id": perf}),
        ),
        "get_latest_analysis": (analyses.get_latest_analysis, req({"performance_id": perf})),
        "create_or_update_progress_metric": (
            progress_metrics.create_or_update_progress_metric,
            req(
                {"user_id": user, "metric_date": moment, "period_type": period},
                **progress_fields,
            ),
        ),
        "get_user_progress": (
            progress_metrics.get_user_progress,
            req(
                {"user_id": user},
                period_type=period,
                limit=maybe(NUMBERS, st.integers(1, 1000)),
                since=moment,
                until=moment,
            ),
        ),
        "calculate_user_stats": (
            stats.calculate_user_stats,
            req({"user_id": user}, days=maybe(NUMBERS, st.integers(1, 3650)), now=moment),
        ),
        "best_overall_by_session": (stats.best_overall_by_session, req({"user_id": user})),
        "recover_abandoned_sessions": (
            recovery.recover_abandoned_sessions,
            kw(
                now=moment,
                session_ids=maybe(
                    st.one_of(ANYTHING, st.lists(session_id, min_size=1, max_size=4)),
                    st.lists(st.one_of(session_id, st.uuids()), max_size=4),
                ),
            ),
        ),
        "progress_series": (
            progress.progress_series,
            req(
                {
                    "user_id": user,
                    "period_type": period,
                    "metric": maybe(ANYTHING, st.sampled_from(progress.SERIES_METRICS)),
                },
                since=moment,
                until=moment,
            ),
        ),
        "practice_time_series": (
            progress.practice_time_series,
            req({"user_id": user}, period_type=period),
        ),
        "intonation_tendencies": (
            progress.intonation_tendencies,
            req({"user_id": user}, since=moment),
        ),
        "rebuild_user": (progress.rebuild_user, req({"user_id": user})),
        "export_csv": (
            export.export_csv,
            # A folder for every table, a file for one (the wrong kind is refused, by name).
            Args(
                {},
                {
                    "table": maybe(ANYTHING, st.sampled_from([*export.TABLES, "all"])),
                    "user_id": st.one_of(st.none(), user),
                    "since": moment,
                    "until": moment,
                    "excel_bom": b,
                },
                lambda k: {"out": out if k.get("table", "all") == "all" else out / "t.csv", **k},
            ),
        ),
    }


FUNCTIONS = [
    "create_profile",
    "get_profile",
    "get_profile_by_name",
    "list_profiles",
    "ensure_default_profile",
    "rename_profile",
    "update_profile_settings",
    "set_profile_timezone",
    "delete_profile",
    "create_session",
    "end_session",
    "get_session",
    "get_user_sessions",
    "update_chunks_processed",
    "delete_session",
    "get_complete_session_data",
    "create_performance",
    "get_session_performances",
    "mark_performance_recovered",
    "delete_performance",
    "create_analysis_result",
    "get_performance_analysis",
    "get_latest_analysis",
    "create_or_update_progress_metric",
    "get_user_progress",
    "calculate_user_stats",
    "best_overall_by_session",
    "recover_abandoned_sessions",
    "progress_series",
    "practice_time_series",
    "intonation_tendencies",
    "rebuild_user",
    "export_csv",
]


# Functions that change nothing: after one of them there is nothing new to check.
READ_ONLY = {
    "get_profile",
    "get_profile_by_name",
    "list_profiles",
    "get_session",
    "get_user_sessions",
    "get_complete_session_data",
    "get_session_performances",
    "get_performance_analysis",
    "get_latest_analysis",
    "get_user_progress",
    "calculate_user_stats",
    "best_overall_by_session",
    "progress_series",
    "practice_time_series",
    "intonation_tendencies",
    "export_csv",
}


def test_every_public_service_function_is_driven() -> None:
    """The list above is every public function of the service modules (a new one must be added
    here, with its values)."""
    modules = (profiles, sessions, performances, analyses, progress_metrics, stats, recovery)
    public = {
        n
        for m in modules
        for n, f in vars(m).items()
        if inspect.isfunction(f) and f.__module__ == m.__name__ and not n.startswith("_")
    }
    assert public <= set(FUNCTIONS), public - set(FUNCTIONS)


# --------------------------------------------------------------------------------------------
# What must hold


def _snapshot(s: Session) -> dict[str, list[tuple[Any, ...]]]:
    conn = s.connection()
    return {
        t.name: sorted((tuple(r) for r in conn.execute(t.select())), key=repr)
        for t in Base.metadata.sorted_tables
    }


def _assert_rows_valid(s: Session) -> None:
    """Every row obeys the rules the service checks, so whatever reads it can trust it."""
    earliest = NOW - timedelta(days=HISTORY_DAYS + 1)
    latest = datetime.now(UTC) + timedelta(days=1, minutes=1)

    def moment_ok(value: datetime | None, slack_days: int = 0) -> bool:
        return value is None or (
            earliest - timedelta(days=slack_days) <= value <= latest + timedelta(days=slack_days)
        )

    for u in s.scalars(select(User)):
        check_text("display_name", u.display_name, required=True)
        check_timezone("timezone", u.timezone)
        check_json_object("settings_json", u.settings_json, allow_none=False)
    for r in s.scalars(select(RealtimeSession)):
        assert moment_ok(r.started_at) and moment_ok(r.ended_at), r.started_at
        assert 0 <= r.chunks_processed <= MAX_INT32
        if r.ended_at is not None:
            assert r.ended_at >= r.started_at
            assert r.duration_seconds == int((r.ended_at - r.started_at).total_seconds())
        for t in (r.piece_name, r.genre, r.websocket_session_id):
            check_text("text", t)
    for p in s.scalars(select(Performance)):
        assert moment_ok(p.recording_started_at)
        assert 0 <= p.recording_duration <= MAX_TAKE_SECONDS
        for t in (p.audio_path, p.midi_path, p.notes, p.audio_format):
            check_text("text", t, 10_000)
    for a in s.scalars(select(AnalysisResult)):
        assert moment_ok(a.created_at)
        for f in ANALYSIS_SCORE_FIELDS:
            value = getattr(a, f)
            assert value is None or 0.0 <= value <= 1.0, (f, value)
        if a.feedback_json is not None:
            check_json_object("feedback_json", a.feedback_json)
    for m in s.scalars(select(ProgressMetric)):
        # A month's row starts up to a month before its first session.
        assert moment_ok(m.metric_date, slack_days=32)
        assert 0 <= m.total_sessions <= MAX_INT32
        assert 0 <= m.total_practice_time_seconds <= MAX_INT32


def _assert_everything_still_reads(s: Session) -> None:
    """What the next start and the windows run on this data: no crash."""
    for uid in list(s.scalars(select(User.id))):
        stats.calculate_user_stats(s, uid, 3650)
        progress_metrics.get_user_progress(s, uid, "monthly", 1000)
        progress.progress_series(s, uid, "weekly", "avg_overall_score")
        progress.intonation_tendencies(s, uid)
    for sid in list(s.scalars(select(RealtimeSession.id))):
        sessions.get_complete_session_data(s, sid)
    with s.begin_nested():
        recovery.recover_abandoned_sessions(s)
        for uid in list(s.scalars(select(User.id))):
            progress.rebuild_user(s, uid)


def _check_refusal(exc: Exception, fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    if isinstance(exc, NotFoundError):
        return
    assert isinstance(exc, ValidationError), f"{type(exc).__name__}: {exc}"
    named = set(inspect.signature(fn).parameters) | set(kwargs)
    # The rule of a field reached through another: a session's status, settings as JSON.
    named |= {"status", "settings_json", "chunks"}
    assert exc.field in named, (exc.field, named)
    assert exc.rule and str(exc).startswith(f"invalid {exc.field}: ")


@pytest.mark.slow
@pytest.mark.parametrize("name", FUNCTIONS)
def test_generated_calls_refuse_cleanly_or_write_valid_rows(seeded: Seeded, name: str) -> None:
    fn, strategy = calls(seeded)[name]
    before = None

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(kwargs=strategy)
    def run(kwargs: dict[str, Any]) -> None:
        nonlocal before
        with seeded.db.session() as s:
            s.begin()
            try:
                if before is None:
                    before = _snapshot(s)
                TALLY["calls"] += 1
                try:
                    fn(s, **kwargs)
                except Exception as exc:
                    _check_refusal(exc, fn, kwargs)
                    TALLY["refused"] += 1
                    s.flush()
                    assert _snapshot(s) == before, "a refused call changed the database"
                    return
                TALLY["succeeded"] += 1
                if name in READ_ONLY:
                    return
                s.flush()
                _assert_rows_valid(s)
                _assert_everything_still_reads(s)
            finally:
                s.rollback()

    run()


# --------------------------------------------------------------------------------------------
# A catalogue of bad values: each argument of each function meets every bad value of its kind
# (the others plausible), and must be refused by its own name. Deterministic, so each kind of
# crash the generated calls may reach only rarely is tried every run.

MOMENT_ARGS = {
    "started_at",
    "ended_at",
    "recording_started_at",
    "created_at",
    "metric_date",
    "since",
    "until",
    "now",
}
TEXT_ARGS = {
    "piece_name",
    "genre",
    "websocket_session_id",
    "audio_path",
    "midi_path",
    "audio_format",
    "notes",
    "analysis_engine_version",
}
INT_ARGS = {
    "target_tempo",
    "limit",
    "offset",
    "chunks",
    "sample_rate",
    "days",
    "processing_time_ms",
    "total_sessions",
    "total_practice_time_seconds",
    *ANALYSIS_COUNT_FIELDS,
}
SCORE_ARGS = {
    *ANALYSIS_SCORE_FIELDS,
    "avg_pitch_accuracy",
    "avg_rhythm_accuracy",
    "avg_dynamics_range",
    "avg_overall_score",
    "consistency_score",
}
ENUM_ARGS = {"difficulty_level", "difficulty_estimate", "status", "period_type", "metric", "table"}
DEEP_TEXT = "[" * 100_000 + "]" * 100_000
JSON_BAD = [
    Deep(100_000),
    Deep(40),
    DEEP_TEXT,
    {"x": "\ud800"},
    '{"x": "\\ud800"}',
    '{"n": 1' + "0" * 5000 + "}",
    {"n": 10**5000},
    {"f": math.nan},
    {("tuple", "key"): 1},
    "{",
    5,
]
CATALOGUE: dict[str, list[Any]] = {
    "moment": [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-5))),
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        NOW + timedelta(days=2),
        NOW - timedelta(days=HISTORY_DAYS + 2),
        datetime(2025, 1, 1),  # naive
        "2025-01-01T00:00:00+00:00",
        1_700_000_000,
    ],
    "text": ["\ud800", "a\udfffb", "a\x00b", "x" * 10_001, 5, b"bytes", ["x"]],
    "name": ["\ud800", "a\x00b", "x" * 256, "", "   ", 5, None],
    "zone": ["Nowhere/Land", "\ud800", "", "../../etc/passwd", "a\x00b", "x" * 100, 5, None],
    "json_object": [*JSON_BAD, "[1]", [1]],
    "json": JSON_BAD,
    "bool": [0, 1, "true", None, 2.5],
    "id": ["not-a-uuid", "\ud800", 5, b"\x00" * 16, 1.5, ["x"], None],
    # An id that may be None (a session's assignment): the same less None.
    "optional_id": ["not-a-uuid", "\ud800", 5, b"\x00" * 16, 1.5, ["x"]],
    "int": [2**80, -(2**80), 1.5, "5", True, math.nan],
    "duration": [1e12, 86_400.5, -1, math.nan, math.inf, "5", True, 10**400],
    "score": [1.01, -0.01, math.nan, math.inf, "0.5", True, 10**400],
    "signed_score": [1.01, -1.01, math.nan, math.inf, "0.5", True],
    "cents": [1200.5, -1, math.nan, math.inf, "x"],
    "enum": ["nope", "\ud800", 5, ["daily"], True],
    "ids": ["abc", 5, {"a": 1}, ["x"], [5], [uuid.uuid4() for _ in range(1001)], iter([])],
    "callable": [5, "print"],
}


def _kind(function: str, arg: str) -> str | None:
    if arg in ("db", "out"):
        return None
    if arg == "display_name":
        return "name"
    if arg == "timezone":
        return "zone"
    if arg in ("settings", "feedback_json", "genre_breakdown_json"):
        return "json_object"
    if arg == "milestones_json":
        return "json"
    if arg in ("is_demo", "recovered", "update_progress", "excel_bom"):
        return "bool"
    if arg in ("user_id", "session_id", "performance_id"):
        return "id"
    if arg == "assignment_id":
        return "optional_id"
    if arg == "session_ids":
        return "ids"
    if arg == "recording_duration":
        return "duration"
    if arg == "improvement_rate":
        return "signed_score"
    if arg == "avg_pitch_deviation_cents":
        return "cents"
    if arg in ("progress", "on_failure"):
        return "callable"
    for kind, names in (
        ("moment", MOMENT_ARGS),
        ("text", TEXT_ARGS),
        ("int", INT_ARGS),
        ("score", SCORE_ARGS),
        ("enum", ENUM_ARGS),
    ):
        if arg in names:
            return kind
    raise AssertionError(f"no kind of values for {function}({arg}=...)")


def _base(seeded: Seeded) -> dict[str, dict[str, Any]]:
    """Plausible arguments each function accepts."""
    ann, bob, _demo = seeded.ids["user"]
    done, live, _other = seeded.ids["session"]
    take = seeded.ids["performance"][0]
    return {
        "create_profile": {"display_name": "Clara"},
        "get_profile": {"user_id": ann},
        "get_profile_by_name": {"display_name": "Ann"},
        "list_profiles": {},
        "ensure_default_profile": {},
        "rename_profile": {"user_id": ann, "display_name": "Anna"},
        "update_profile_settings": {"user_id": ann, "settings": {}},
        "set_profile_timezone": {"user_id": ann, "timezone": "UTC"},
        "delete_profile": {"user_id": bob},
        "create_session": {"user_id": ann},
        "end_session": {"session_id": live},
        "get_session": {"session_id": done},
        "get_user_sessions": {"user_id": ann},
        "update_chunks_processed": {"session_id": live, "chunks": 5},
        "delete_session": {"session_id": done},
        "get_complete_session_data": {"session_id": done},
        "create_performance": {"session_id": live},
        "get_session_performances": {"session_id": done},
        "mark_performance_recovered": {"performance_id": take},
        "delete_performance": {"performance_id": take},
        "create_analysis_result": {"performance_id": take},
        "get_performance_analysis": {"performance_id": take},
        "get_latest_analysis": {"performance_id": take},
        "create_or_update_progress_metric": {
            "user_id": ann,
            "metric_date": NOW - timedelta(days=1),
            "period_type": "daily",
        },
        "get_user_progress": {"user_id": ann},
        "calculate_user_stats": {"user_id": ann},
        "best_overall_by_session": {"user_id": ann},
        "recover_abandoned_sessions": {},
        "progress_series": {
            "user_id": ann,
            "period_type": "weekly",
            "metric": "avg_overall_score",
        },
        "practice_time_series": {"user_id": ann},
        "intonation_tendencies": {"user_id": ann},
        "rebuild_user": {"user_id": ann},
        "export_csv": {"out": seeded.folder},
    }


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_bad_value_is_refused_by_the_name_of_its_argument(seeded: Seeded, name: str) -> None:
    fn = calls(seeded)[name][0]
    base = _base(seeded)[name]
    args = [a for a in inspect.signature(fn).parameters if a != "metrics"]
    if name == "create_or_update_progress_metric":
        args += list(progress_metrics.PROGRESS_METRIC_FIELDS)
    tried = 0
    with seeded.db.session() as s:
        s.begin()
        before = _snapshot(s)
        for arg in args:
            kind = _kind(name, arg)
            if kind is None:
                continue
            for value in CATALOGUE[kind]:
                if value is None and arg == "user_id" and name == "export_csv":
                    continue  # None means every profile there
                kwargs = {**base, arg: value}
                TALLY["catalogue calls"] += 1
                tried += 1
                with pytest.raises(ValidationError) as info, s.begin_nested():
                    fn(s, **kwargs)
                expected = "settings_json" if arg == "settings" else arg
                assert info.value.field == expected, (arg, _shown_short(value), info.value)
        s.flush()
        assert _snapshot(s) == before
        s.rollback()
    assert tried or not [a for a in args if _kind(name, a)]


def _shown_short(value: Any) -> str:
    return repr(value)[:80] if not isinstance(value, Deep) else repr(value)


def test_moments_beyond_the_bounds_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="ended_at: must be between"):
        check_moment("ended_at", datetime(9999, 12, 31, tzinfo=timezone(timedelta(hours=-5))))
