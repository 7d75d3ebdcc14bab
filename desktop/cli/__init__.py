"""The ``etude`` command: with no subcommand it starts the GUI; subcommands do headless work.

Each subcommand lives in its own module with a ``register(subparsers)`` function that adds its
parser and sets ``func`` (called with the parsed arguments, returns the exit code). Only the GUI
subcommand imports Qt, and only when it runs, so headless commands work without a display.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from desktop.cli import analyze_cmd, gui_cmd, server_cmds, storage_cmds, studio_cmds, sync_cmds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="etude",
        description="Etude, a practice companion. With no command, opens the practice window.",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        default=os.environ.get("ETUDE_DB_URL"),
        help="database URL (default: $ETUDE_DB_URL, else SQLite in the data folder)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui_cmd.register(sub)
    storage_cmds.register(sub)
    analyze_cmd.register(sub)
    server_cmds.register(sub)
    sync_cmds.register(sub)
    studio_cmds.register(sub)
    parser.set_defaults(func=gui_cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _log_to_data_folder()
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


def _log_to_data_folder() -> None:
    # What a command's messages leave out (database statements, stack traces) goes here.
    from desktop.logfile import setup_logging
    from storage.config import data_dir

    # No data folder (a full disk): the command still says what it can, without a log.
    with contextlib.suppress(OSError):
        setup_logging(data_dir())


if __name__ == "__main__":
    sys.exit(main())
