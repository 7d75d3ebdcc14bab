"""Headless storage commands (sessions, stats, export, db, progress, demo)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Filled in by the storage work."""
