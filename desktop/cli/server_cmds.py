"""``etude server ...``: set up a teacher's PostgreSQL server (run by whoever administers it).

Every action takes the administrator's URL (``--db`` or $ETUDE_DB_URL) and the role prefix
(``--prefix``, default "etude"; several Etude installations can share one PostgreSQL cluster
under different prefixes). A new account's password is printed once, with the one-line
invitation the student or teacher pastes into Etude; it is stored nowhere.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_ERROR = 1
EXIT_USAGE = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``etude server`` and its actions to the ``etude`` parser."""
    p = sub.add_parser("server", help="set up a teacher's PostgreSQL server (administrators)")
    _where(p)
    ssub = p.add_subparsers(dest="server_command", metavar="ACTION", required=True)
    a = ssub.add_parser("init", help="create roles, schema (migrations), policies and grants")
    _where(a)
    a.set_defaults(func=_guard(_cmd_init))
    a = ssub.add_parser("add-teacher", help="create a teacher's account and print its invitation")
    a.add_argument("name")
    a.add_argument("--host", help="server address students use (default: the --db URL's host)")
    _where(a)
    a.set_defaults(func=_guard(_cmd_add_teacher))
    a = ssub.add_parser("add-student", help="create a student's account and print its invitation")
    a.add_argument("name")
    a.add_argument("--teacher", required=True, metavar="NAME", help="the student's teacher")
    a.add_argument("--host", help="server address students use (default: the --db URL's host)")
    _where(a)
    a.set_defaults(func=_guard(_cmd_add_student))
    a = ssub.add_parser("list", help="list teachers and students")
    _where(a)
    a.set_defaults(func=_guard(_cmd_list))
    a = ssub.add_parser("remove-student", help="remove a student's account")
    a.add_argument("name")
    keep = a.add_mutually_exclusive_group()
    keep.add_argument("--keep-data", action="store_true", help="keep their synced data")
    keep.add_argument("--delete-data", action="store_true", help="delete their synced data")
    _where(a)
    a.set_defaults(func=_guard(_cmd_remove_student))


def _where(p: argparse.ArgumentParser) -> None:
    # Accepted before or after the action (`etude server init --db URL`).
    p.add_argument("--db", metavar="URL", default=argparse.SUPPRESS, help="administrator's URL")
    p.add_argument(
        "--prefix",
        default=argparse.SUPPRESS,
        help="role name prefix of this installation (default etude)",
    )


def _guard(fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        import psycopg

        from storage.errors import StorageError
        from storage.sync.server import ServerSetupError

        try:
            if not hasattr(args, "prefix"):
                args.prefix = "etude"
            code: int = fn(args)
            return code
        except (ServerSetupError, StorageError, ValueError, OSError) as exc:
            print(f"etude: error: {exc}", file=sys.stderr)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()
            print(
                f"etude: server error: {first[0] if first else type(exc).__name__}", file=sys.stderr
            )
        return EXIT_ERROR

    return run


def _url(args: argparse.Namespace) -> str:
    url = getattr(args, "db", None)
    if not url:
        raise ValueError("give the server's administrator URL with --db (or $ETUDE_DB_URL)")
    return str(url)


def _cmd_init(args: argparse.Namespace) -> int:
    from storage.sync.server import init_server

    schema = init_server(_url(args), args.prefix)
    print(
        f"server ready: schema {schema}, owner role {args.prefix}_owner, groups "
        f"{args.prefix}_students and {args.prefix}_teachers; row-level security on every table"
    )
    return 0


def _print_new(new: Any) -> None:
    acc = new.account
    print(f"{acc.kind} {acc.display_name!r}: login role {acc.role_name}")
    print(f"password (shown once, stored nowhere): {new.password}")
    print("invitation, to paste into Etude (Sync… or `etude sync setup`):")
    print(new.invitation.encode())


def _cmd_add_teacher(args: argparse.Namespace) -> int:
    from storage.sync.server import add_teacher

    _print_new(add_teacher(_url(args), args.name, prefix=args.prefix, host=args.host))
    return 0


def _cmd_add_student(args: argparse.Namespace) -> int:
    from storage.sync.server import add_student

    new = add_student(_url(args), args.name, args.teacher, prefix=args.prefix, host=args.host)
    _print_new(new)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from storage.sync.server import list_accounts

    accounts = list_accounts(_url(args), prefix=args.prefix)
    if not accounts:
        print("no accounts yet: add a teacher with `etude server add-teacher NAME`")
    print(f"{'kind':<8} {'name':<24} {'role':<32} {'teacher':<28} {'linked':<6} sessions")
    for a in accounts:
        print(
            f"{a.kind:<8} {a.display_name:<24} {a.role_name:<32} {a.teacher_role or '-':<28} "
            f"{'yes' if a.linked else 'no':<6} {a.sessions if a.kind == 'student' else '-'}"
        )
    return 0


def _cmd_remove_student(args: argparse.Namespace) -> int:
    from storage.sync.server import remove_student

    if not (args.keep_data or args.delete_data):
        print(
            "etude: error: say what happens to the student's synced data: --keep-data or "
            "--delete-data (nothing was changed)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    n = remove_student(_url(args), args.name, delete_data=args.delete_data, prefix=args.prefix)
    if args.delete_data:
        print(f"removed {args.name!r} and deleted their data ({n} session(s))")
    else:
        print(f"removed {args.name!r}; their data stays on the server, readable by no account")
    return 0
