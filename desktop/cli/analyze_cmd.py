"""``etude analyze``: analyse recordings from the command line."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Filled in by the audio work."""
