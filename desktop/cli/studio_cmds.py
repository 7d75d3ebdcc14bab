"""``etude studio`` (the teacher's studio) and ``etude log`` (a student's readable practice log).

    etude studio setup INVITATION [--ca-cert FILE]     remember a teacher's studio on this computer
    etude studio [--password-stdin]                    open the studio window
    etude studio list [--inactive-days 7]              one line per student
    etude studio report STUDENT [--since D] [--until D] [--html FILE] [--csv FILE]
    etude log --out FILE [--profile NAME] [--since D] [--until D] [--no-bom]

The studio's server and account live in ``<data folder>/studio.json``; the password in the OS
keyring (or typed / on standard input), never in a file. Everything the studio shows is read as
the teacher, under the server's row-level security.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from desktop.cli.storage_cmds import _database, _guard, _profile_arg
from desktop.usecases.profiles import profile_to_use


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("studio", help="the teacher's studio (window, list, reports)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=_guard(_cmd_window))
    ssub = p.add_subparsers(dest="studio_command", metavar="ACTION")
    s = ssub.add_parser("setup", help="remember a teacher's studio (from the invitation)")
    s.add_argument("invitation")
    s.add_argument("--ca-cert", type=Path, help="the studio's root certificate (off this computer)")
    s.set_defaults(func=_guard(_cmd_setup))
    s = ssub.add_parser("list", help="one line per student")
    s.add_argument("--inactive-days", type=int, default=7)
    s.add_argument("--password-stdin", action="store_true", default=argparse.SUPPRESS)
    s.set_defaults(func=_guard(_cmd_list))
    s = ssub.add_parser("report", help="a student's report (HTML) and takes (CSV)")
    s.add_argument("student", help="the student's name")
    s.add_argument("--since", type=date.fromisoformat, help="YYYY-MM-DD (default: 90 days ago)")
    s.add_argument(
        "--until", type=date.fromisoformat, help="YYYY-MM-DD, inclusive (default: today)"
    )
    s.add_argument("--html", type=Path, help="write the one-page report here")
    s.add_argument("--csv", type=Path, help="write one row per take here")
    s.add_argument("--password-stdin", action="store_true", default=argparse.SUPPRESS)
    s.set_defaults(func=_guard(_cmd_report))

    p = sub.add_parser("log", help="your practice log as a readable CSV, one row per take")
    _profile_arg(p)
    p.add_argument("--since", type=date.fromisoformat, help="YYYY-MM-DD (default: everything)")
    p.add_argument("--until", type=date.fromisoformat, help="YYYY-MM-DD, inclusive")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--no-bom", action="store_true", help="no UTF-8 byte-order mark")
    p.set_defaults(func=_guard(_cmd_log))


def _data_dir() -> Path:
    from storage.config import data_dir

    return data_dir()


def _address() -> Any:
    from desktop.usecases.studio import load_studio_address

    address = load_studio_address(_data_dir())
    if address is None:
        raise ValueError("no studio on this computer: run `etude studio setup INVITATION` first")
    return address


def _password(args: argparse.Namespace, address: Any) -> str:
    from storage.sync.link import load_password

    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline().strip()
        if not line:
            raise ValueError("no password on standard input")
        return line
    stored = load_password(address)
    if stored:
        return stored
    if not sys.stdin.isatty():
        raise ValueError("the password is not in a keyring here: pass it with --password-stdin")
    return getpass.getpass(f"password for {address.role} on {address.host}: ")


def open_as_teacher(args: argparse.Namespace) -> Any:
    """The studio server, connected as the teacher (storage.db.Database)."""
    from storage.sync.studio import open_studio

    address = _address()
    return open_studio(address, _password(args, address))


def _cmd_setup(args: argparse.Namespace) -> int:
    from desktop.usecases.studio import save_studio_address
    from storage.sync.client import ServerAddress
    from storage.sync.invite import decode
    from storage.sync.link import store_password
    from storage.sync.studio import open_studio, whoami

    inv = decode(args.invitation)
    address = ServerAddress(
        inv.host, inv.port, inv.dbname, inv.role, str(args.ca_cert) if args.ca_cert else None
    )
    studio = open_studio(address, inv.password)
    try:
        with studio.session() as s:
            teacher = whoami(s)
    finally:
        studio.dispose()
    path = save_studio_address(_data_dir(), address)
    kept = store_password(address, inv.password)
    print(f"studio of {teacher.display_name} on {address.host} remembered in {path}")
    print(
        "the password is kept in this computer's keyring"
        if kept
        else "no keyring here: Etude will ask for the password each time"
    )
    return 0


def _cmd_window(args: argparse.Namespace) -> int:
    from desktop.cli.gui_cmd import display_problem

    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    studio = open_as_teacher(args)
    from desktop.studio_window import run_studio

    return run_studio(studio, _data_dir())


def _cmd_list(args: argparse.Namespace) -> int:
    from desktop.usecases.studio import load_studio

    studio = open_as_teacher(args)
    try:
        with studio.session() as s:
            data = load_studio(s, inactive_days=args.inactive_days)
    finally:
        studio.dispose()
    print(f"studio of {data.teacher.display_name}: {len(data.students)} student(s)")
    for r in data.students:
        last = r.last_practice.astimezone().strftime("%Y-%m-%d") if r.last_practice else "never"
        pct = "–" if r.overall is None else f"{round(r.overall * 100)} %"
        flag = "  INACTIVE" if r.inactive else ""
        print(
            f"{r.name:<24} last {last:<10}  {r.minutes_this_week:4.0f} min this week  "
            f"streak {r.streak_days:3d}  overall {pct:>5} {r.trend_arrow}{flag}"
        )
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from desktop.usecases.reports import load_report, write_log_csv, write_report
    from storage.sync.studio import students

    if args.html is None and args.csv is None:
        raise ValueError("say where to write: --html FILE and/or --csv FILE")
    until = args.until or date.today()
    since = args.since or until - timedelta(days=90)
    studio = open_as_teacher(args)
    try:
        with studio.session() as s:
            found = [p[2] for p in students(s) if p[1] == args.student and p[2] is not None]
            if not found or found[0] is None:
                raise ValueError(f"no student named {args.student!r} has synced to this studio")
            data = load_report(s, found[0], since, until)
    finally:
        studio.dispose()
    if args.html is not None:
        print(f"report -> {write_report(data, args.html)}")
    if args.csv is not None:
        n = write_log_csv(data, args.csv)
        print(f"{n} take(s) -> {args.csv}")
    return 0


def _cmd_log(args: argparse.Namespace) -> int:
    from desktop.usecases.reports import load_report, write_log_csv

    with _database(args, recover=True) as db, db.transaction() as s:
        profile = profile_to_use(s, args.profile)
        until = args.until or date.today() + timedelta(days=1)
        since = args.since or date(1990, 1, 1)
        data = load_report(s, profile.id, since, until)
    n = write_log_csv(data, args.out, bom=not args.no_bom)
    print(f"{n} take(s) -> {args.out}")
    return 0
