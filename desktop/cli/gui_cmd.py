"""``etude`` / ``etude gui``: open the practice window."""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("gui", help="open the practice window (the default)")
    p.add_argument(
        "--start", action="store_true", help="start listening as soon as the window opens"
    )
    p.add_argument(
        "--record", action="store_true", help="start listening and record a take at once"
    )
    p.set_defaults(func=run)


def display_problem() -> str | None:
    """Say why no window can be shown here, or None when one can."""
    if sys.platform.startswith("linux"):
        platform = os.environ.get("QT_QPA_PLATFORM", "")
        if not platform and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            return (
                "etude: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so the window "
                "cannot open; the headless commands still work: see 'etude --help'."
            )
    return None


def run(args: argparse.Namespace) -> int:
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from desktop.app import run_app

    return run_app(
        db_url=args.db,
        start=bool(getattr(args, "start", False)),
        record=bool(getattr(args, "record", False)),
    )
