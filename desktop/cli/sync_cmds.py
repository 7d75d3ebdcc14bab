"""``etude sync``: link a profile to a teacher's server, sync it, show its state.

    etude sync [--profile NAME] [--no-audio] [--full download|upload] [--password-stdin]
    etude sync setup [--profile NAME | --new] (INVITATION | --host H --role R [--port P]
                     [--dbname D]) [--ca-cert FILE] [--no-audio] [--password-stdin]
    etude sync status [--profile NAME]
    etude sync unlink [--profile NAME]

The password comes from the invitation (setup) and is kept in the OS keyring. Without a usable
keyring it is asked for at each sync (typed at the terminal, or one line on standard input with
``--password-stdin``) and never written anywhere.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

EXIT_ERROR = 1
EXIT_USAGE = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``etude sync`` to the ``etude`` parser."""
    p = sub.add_parser("sync", help="sync a profile with a teacher's server (see `sync setup`)")
    _common(p)
    p.add_argument("--no-audio", action="store_true", help="do not upload takes' audio this time")
    p.add_argument(
        "--full",
        choices=("download", "upload"),
        help="replace this computer's copy with the server's (download) or the other way round",
    )
    p.set_defaults(func=_guard(_cmd_sync))
    ssub = p.add_subparsers(dest="sync_command", metavar="ACTION")
    a = ssub.add_parser("setup", help="link a profile to an account (paste the invitation)")
    _common(a)
    a.add_argument("invitation", nargs="?", help="the etude1:... line your teacher gave you")
    a.add_argument("--new", action="store_true", help="link a new profile, not an existing one")
    a.add_argument("--host", help="server address (instead of an invitation)")
    a.add_argument("--port", type=int, default=5432)
    a.add_argument("--dbname", default="postgres", help="database name (default postgres)")
    a.add_argument("--role", help="your account (login role)")
    a.add_argument("--ca-cert", metavar="FILE", help="your teacher's root certificate (.crt/.pem)")
    a.add_argument("--no-audio", action="store_true", help="never upload takes' audio")
    a.set_defaults(func=_guard(_cmd_setup))
    a = ssub.add_parser("status", help="is this profile linked, when did it last sync")
    _common(a)
    a.set_defaults(func=_guard(_cmd_status))
    a = ssub.add_parser("unlink", help="stop syncing this profile (its data stays)")
    _common(a)
    a.set_defaults(func=_guard(_cmd_unlink))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", metavar="NAME", default=argparse.SUPPRESS, help="profile name")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        default=argparse.SUPPRESS,
        help="read the password from standard input (when there is no keyring)",
    )


def _guard(fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import SQLAlchemyError

        from storage.errors import StorageError
        from storage.sync.client import SyncError
        from storage.sync.invite import InvitationError

        try:
            code: int = fn(args)
            return code
        except (SyncError, InvitationError, StorageError, ValueError, OSError) as exc:
            print(f"etude: {exc}", file=sys.stderr)
        except SQLAlchemyError as exc:
            print(f"etude: database error: {type(exc).__name__}", file=sys.stderr)
        return EXIT_ERROR

    return run


def _database(args: argparse.Namespace) -> Any:
    from storage.config import resolve_db_url
    from storage.db import open_database

    return open_database(resolve_db_url(getattr(args, "db", None)))


def _profile_id(db: Any, args: argparse.Namespace) -> Any:
    from storage.profiles import ensure_default_profile, get_profile_by_name

    with db.transaction() as s:
        name = getattr(args, "profile", None)
        if name:
            return get_profile_by_name(s, name).id
        return ensure_default_profile(s).id


def _password(args: argparse.Namespace, address: Any) -> str:
    from storage.sync.link import load_password

    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise ValueError("no password on standard input")
        return line
    stored = load_password(address)
    if stored:
        return stored
    if not sys.stdin.isatty():
        raise ValueError(
            "the password is not in a keyring on this computer: run this in a terminal to type "
            "it, or pass it on standard input with --password-stdin"
        )
    return getpass.getpass(f"password for {address.role} on {address.host}: ")


def _cmd_setup(args: argparse.Namespace) -> int:
    from storage.sync.client import ServerAddress
    from storage.sync.invite import decode
    from storage.sync.link import link_profile

    if args.invitation:
        inv = decode(args.invitation)
        address = ServerAddress(inv.host, inv.port, inv.dbname, inv.role, args.ca_cert)
        password = inv.password
    elif args.host and args.role:
        address = ServerAddress(args.host, args.port, args.dbname, args.role, args.ca_cert)
        password = _password(args, address)
    else:
        print(
            "etude: give the invitation your teacher sent (etude1:...), or --host and --role",
            file=sys.stderr,
        )
        return EXIT_USAGE
    db = _database(args)
    try:
        profile = None if args.new else _profile_id(db, args)
        linked = link_profile(
            db, address, password, profile_id=profile, upload_audio=not args.no_audio
        )
    finally:
        db.dispose()
    how = "a new profile" if linked.created_profile else "this profile"
    print(f"linked {how} {linked.display_name!r} to {address.describe()}")
    if linked.moved_from is not None:
        print("its history will be merged with what the account already holds")
    if linked.password_stored:
        print("the password is kept in this computer's keyring")
    else:
        print(
            "no keyring on this computer: Etude will ask for the password at each sync "
            "(it is written nowhere)"
        )
    print("run `etude sync` to sync now")
    return 0


def _cmd_sync(args: argparse.Namespace) -> int:
    from storage.sync import protocol
    from storage.sync.run import sync_now

    if getattr(args, "sync_command", None):  # a subcommand's func ran instead
        return EXIT_USAGE
    db = _database(args)
    try:
        uid = _profile_id(db, args)
        link = protocol.get_link(db, uid)
        address = protocol.link_address(link)
        password = _password(args, address)
        if args.full:
            result = protocol.full_sync(db, uid, password, args.full)
            print(f"full sync ({args.full}) done: {result.summary()}")
            return 0

        def report(phase: str, done: int, total: int) -> None:
            if total >= 1000 and sys.stderr.isatty():
                print(f"\r{phase}: {done}/{total}", end="", file=sys.stderr)

        outcome = sync_now(
            db, uid, password, upload_audio=False if args.no_audio else None, report=report
        )
        print(f"synced with {address.describe()}: {outcome.summary()}")
    finally:
        db.dispose()
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from storage.sync.run import status

    db = _database(args)
    try:
        st = status(db, _profile_id(db, args))
    finally:
        db.dispose()
    if not st.linked:
        print("this profile is not linked to a teacher's server (see `etude sync setup`)")
        return 0
    when = (
        st.last_synced_at.astimezone().strftime("%Y-%m-%d %H:%M") if st.last_synced_at else "never"
    )
    print(f"server: {st.server}")
    print(f"last synced: {when}")
    print(f"changes waiting: {st.pending}")
    print(f"audio upload: {'on' if st.upload_audio else 'off'}")
    if st.last_error:
        print(f"last problem: {st.last_error}")
    return 0


def _cmd_unlink(args: argparse.Namespace) -> int:
    from storage.sync.link import unlink_profile

    db = _database(args)
    try:
        unlink_profile(db, _profile_id(db, args))
    finally:
        db.dispose()
    print("this profile no longer syncs; its data stays here and on the server")
    return 0
