"""Export a profile's tables to CSV files in a folder (the export dialog's operation; the
``etude export`` command calls storage.export for its one file or folder directly)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.export import ExportResult


def export_tables(
    db: Session,
    folder: Path,
    tables: Sequence[str],
    user_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
    report: Callable[[int, int], object],
    cancelled: threading.Event,
    excel_bom: bool = False,
) -> ExportResult:
    """Write each of ``tables`` to its file in ``folder`` (created if missing). user_id: one
    profile, None for all; since/until: aware bounds (see storage.export.export_csv).
    ``report(rows done, rows in all)`` is called from the database worker as rows are written;
    setting ``cancelled`` stops the export and removes the half-written file
    (storage.export.ExportCancelled)."""
    from storage.export import FILE_NAMES, ExportResult, export_csv

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    rows: dict[str, int] = {}

    def progress(done: int, total: int) -> bool:
        report(done, total)
        return not cancelled.is_set()

    for t in tables:
        result = export_csv(
            db,
            folder / FILE_NAMES[t],
            t,
            user_id=user_id,
            since=since,
            until=until,
            progress=progress,
            excel_bom=excel_bom,
        )
        files.update(result.files)
        rows.update(result.rows)
    return ExportResult(files=files, rows=rows)
