"""Headless storage commands: sessions, stats, export, db upgrade, progress rebuild, demo,
profiles.

Each opens the database from ``--db`` / $ETUDE_DB_URL / the default SQLite file (migrating it
first, with a backup copy when a migration is pending). Commands that act on one profile take
``--profile NAME``; without it they use the first profile other than the demo one, and when no
profile exists at all one is created, named after the operating-system user. Errors print one
line on stderr and exit non-zero.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.usecases.profiles import profile_to_use

if TYPE_CHECKING:
    from storage.db import Database

# Storage (SQLAlchemy, Alembic) is imported inside the commands, not here: every `etude` start,
# the GUI's too, builds this parser, and those imports cost over a second.

EXIT_ERROR = 1
# storage.export.TABLES, spelled out so building the parser loads no storage code (a test keeps
# the two equal).
EXPORT_TABLES = ("sessions", "performances", "analyses", "progress")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the storage subcommands to the ``etude`` parser."""
    p = sub.add_parser("sessions", help="list a profile's practice sessions, newest first")
    _profile_arg(p)
    p.add_argument("--limit", type=int, default=20, help="how many (1..1000, default 20)")
    p.add_argument("--offset", type=int, default=0, help="skip this many newest sessions")
    p.add_argument("--status", choices=("active", "completed", "abandoned"))
    p.set_defaults(func=_guard(_cmd_sessions))

    p = sub.add_parser("stats", help="practice stats over the last N days")
    _profile_arg(p)
    p.add_argument("--days", type=int, default=30, help="window in days (1..3650, default 30)")
    p.set_defaults(func=_guard(_cmd_stats))

    p = sub.add_parser("export", help="export sessions, takes, analyses and progress to CSV")
    p.add_argument("--table", choices=(*EXPORT_TABLES, "all"), default="all")
    _profile_arg(p)
    p.add_argument("--since", metavar="DATE", help="YYYY-MM-DD (local day) or ISO datetime")
    p.add_argument("--until", metavar="DATE", help="YYYY-MM-DD (inclusive) or ISO datetime")
    p.add_argument("--out", required=True, type=Path, help="a file for one table, a folder for all")
    p.add_argument(
        "--bom",
        action="store_true",
        help="start each file with a UTF-8 byte-order mark, so Excel shows accents right",
    )
    p.set_defaults(func=_guard(_cmd_export))

    p = sub.add_parser("db", help="database administration")
    dbsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dbsub.add_parser("upgrade", help="migrate a database (e.g. a PostgreSQL server)")
    up.add_argument("--db", metavar="URL", default=argparse.SUPPRESS, help="database URL")
    up.set_defaults(func=_guard(_cmd_db_upgrade))

    p = sub.add_parser("progress", help="progress roll-ups")
    psub = p.add_subparsers(dest="progress_command", metavar="ACTION", required=True)
    rb = psub.add_parser("rebuild", help="recompute the daily/weekly/monthly progress rows")
    _profile_arg(rb)
    rb.add_argument("--all", action="store_true", help="every profile")
    rb.set_defaults(func=_guard(_cmd_progress_rebuild))

    p = sub.add_parser("demo", help="fill the demo profile with practice history")
    p.add_argument("--days", type=int, default=365, help="days of history (default 365)")
    p.add_argument("--timezone", default=None, help="IANA timezone (default: this machine's)")
    p.set_defaults(func=_guard(_cmd_demo))

    p = sub.add_parser("profiles", help="list or create student profiles")
    prsub = p.add_subparsers(dest="profiles_command", metavar="ACTION")
    prsub.add_parser("list", help="list profiles (the default)")
    cr = prsub.add_parser("create", help="create a profile")
    cr.add_argument("name")
    cr.add_argument("--timezone", default=None, help="IANA timezone (default: this machine's)")
    rn = prsub.add_parser("rename", help="rename a profile")
    rn.add_argument("name", help="the profile's name now")
    rn.add_argument("new_name")
    p.set_defaults(func=_guard(_cmd_profiles))

    p = sub.add_parser(
        "delete",
        help="delete a take or a session (its audio files go to <data folder>/trash)",
    )
    p.add_argument("what", choices=("take", "session"))
    p.add_argument("id", help="the take's or session's id (`etude export` lists them)")
    p.set_defaults(func=_guard(_cmd_delete))


def _profile_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", metavar="NAME", help="profile name (default: the first profile)")


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import SQLAlchemyError

        from storage.errors import StorageError

        try:
            return fn(args)
        except (StorageError, ValueError, OSError) as exc:
            print(f"etude: error: {exc}", file=sys.stderr)
        except SQLAlchemyError as exc:
            from storage.config import resolve_db_url
            from storage.db import disk_full_message

            full = disk_full_message(resolve_db_url(getattr(args, "db", None)))
            # A DBAPIError carries the driver's own error; its first line is the readable part.
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            print(
                f"etude: error: {full}"
                if full
                else f"etude: database error: {first[0] if first else type(exc).__name__}",
                file=sys.stderr,
            )
        return EXIT_ERROR

    return run


@contextmanager
def _database(args: argparse.Namespace, *, recover: bool = False) -> Iterator[Database]:
    """The database of ``--db``; with ``recover``, first the start-up recovery the window runs
    (sessions and takes a crash left behind), so what the command reads is what the window
    would show."""
    from storage.config import resolve_db_url
    from storage.db import open_database

    db = open_database(resolve_db_url(getattr(args, "db", None)))
    try:
        if db.backup_path is not None:
            print(
                f"etude: database migrated; the previous copy is {db.backup_path}", file=sys.stderr
            )
        if recover:
            _recover(db)
        yield db
    finally:
        db.dispose()


def _recover(db: Database) -> None:
    from desktop.usecases.messages import failure_reason
    from desktop.usecases.recovery import (
        recover_at_start,
        recovery_problem,
        recovery_summary,
    )
    from storage.config import data_dir, recordings_dir

    try:
        result = recover_at_start(db, data_dir(), recordings_dir())
    except Exception as exc:  # the command still shows what is stored; recovery runs next time
        print(
            f"etude: the check for sessions interrupted last time could not finish "
            f"({failure_reason(exc)}); it runs again next time",
            file=sys.stderr,
        )
        return
    summary = recovery_summary(result, recordings_dir()) if result is not None else None
    problem = recovery_problem(result, recordings_dir()) if result is not None else None
    for line in (summary, problem):
        if line:
            print(f"etude: {line}", file=sys.stderr)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _cmd_sessions(args: argparse.Namespace) -> int:
    from storage.sessions import get_user_sessions

    with _database(args, recover=True) as db, db.transaction() as s:
        profile = profile_to_use(s, args.profile)
        rows = get_user_sessions(s, profile.id, args.limit, args.offset, args.status)
        print(f"{profile.display_name}: {len(rows)} session(s)")
        print(f"{'started (UTC)':<20} {'status':<10} {'minutes':>7} {'BPM':>4}  piece / genre")
        for r in rows:
            minutes = "-" if r.duration_seconds is None else f"{r.duration_seconds / 60:.1f}"
            print(
                f"{r.started_at:%Y-%m-%d %H:%M}     {r.status:<10} {minutes:>7} "
                f"{_fmt(r.target_tempo):>4}  {r.piece_name or '-'} / {r.genre or '-'}"
            )
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from storage.stats import calculate_user_stats

    with _database(args, recover=True) as db, db.transaction() as s:
        profile = profile_to_use(s, args.profile)
        st = calculate_user_stats(s, profile.id, args.days)
        print(f"{profile.display_name}, last {st.period_days} days")
        for label, value in (
            ("total_sessions", st.total_sessions),
            ("total_practice_hours", st.total_practice_hours),
            ("total_analyses", st.total_analyses),
            ("avg_pitch_accuracy", st.avg_pitch_accuracy),
            ("avg_rhythm_accuracy", st.avg_rhythm_accuracy),
            ("avg_overall_score", st.avg_overall_score),
            ("current_streak_days", st.current_streak_days),
            ("longest_streak_days", st.longest_streak_days),
        ):
            print(f"  {label:<22} {_fmt(value)}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from storage.export import export_csv, parse_bound

    with _database(args, recover=True) as db, db.transaction() as s:
        profile = profile_to_use(s, args.profile)
        since = parse_bound(args.since, profile.timezone, end=False) if args.since else None
        until = parse_bound(args.until, profile.timezone, end=True) if args.until else None
        result = export_csv(s, args.out, args.table, profile.id, since, until, excel_bom=args.bom)
    for table, path in result.files.items():
        print(f"{table}: {result.rows[table]} row(s) -> {path}")
    return 0


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from storage.config import resolve_db_url
    from storage.db import migrate

    url = resolve_db_url(getattr(args, "db", None))
    backup = migrate(url)
    print("database is at the current schema" + (f" (previous copy: {backup})" if backup else ""))
    return 0


def _cmd_progress_rebuild(args: argparse.Namespace) -> int:
    from storage import progress

    with _database(args) as db, db.transaction() as s:
        if args.all:
            n = progress.rebuild_all(s)
            print(f"rebuilt {n} progress row(s) for every profile")
        else:
            profile = profile_to_use(s, args.profile)
            n = progress.rebuild_user(s, profile.id)
            print(f"rebuilt {n} progress row(s) for {profile.display_name}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from storage.config import local_timezone_name
    from storage.demo import create_demo

    with _database(args) as db, db.transaction() as s:
        tz = args.timezone or local_timezone_name()
        r = create_demo(s, args.days, tz)
    print(
        f'"{r.display_name}": {r.sessions} sessions, {r.performances} takes, '
        f"{r.analyses} analyses, {r.progress_rows} progress rows in {r.seconds:.1f} s"
    )
    return 0


def _cmd_profiles(args: argparse.Namespace) -> int:
    from storage.config import local_timezone_name
    from storage.profiles import create_profile, list_profiles

    with _database(args) as db, db.transaction() as s:
        if args.profiles_command == "rename":
            from desktop.usecases.history import rename_profile
            from storage.profiles import get_profile_by_name

            old = get_profile_by_name(s, args.name)
            p = rename_profile(s, old.id, args.new_name)
            print(f"renamed profile {args.name!r} to {p.display_name!r}")
            return 0
        if args.profiles_command == "create":
            tz = args.timezone or local_timezone_name()
            p = create_profile(s, args.name, tz)
            print(f"created profile {p.display_name!r} ({p.timezone}) {p.id}")
            return 0
        profiles = list_profiles(s)
        if not profiles:
            print("no profiles yet")
        for p in profiles:
            print(f"{p.display_name}\t{p.timezone}\t{p.id}")
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    import uuid

    from desktop.usecases.history import delete_session, delete_take
    from storage.config import data_dir

    try:
        row_id = uuid.UUID(args.id)
    except ValueError:
        raise ValueError(f"{args.id!r} is not an id (a UUID such as 1b4e28ba-2fa1-...)") from None
    with _database(args) as db, db.transaction() as s:
        if args.what == "take":
            done = delete_take(s, row_id, data_dir())
        else:
            done = delete_session(s, row_id, data_dir())
    print(f"deleted {args.what} {row_id} ({done.takes} take(s))")
    for path in done.trashed:
        print(f"moved to the trash: {path}")
    return 0
