"""Takes' audio on the teacher's server, keyed by content hash, uploaded in resumable chunks.

Before a sync, each take of the profile whose recording is on disk gets its SHA-256
(``performances.audio_sha256``), so the sync carries the hash with the take. After the sync,
each hash the server does not hold complete is uploaded: a blob row, then chunk after chunk,
each in its own server transaction, so a cut connection loses at most the chunk in flight and
the next sync carries on from the chunks already there. When all are in, the server hashes the
whole and only then marks it complete. Nothing is ever deleted on this computer; a take whose
file is missing is skipped and tried again at the next sync.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import insert, select, update

from storage.db import Database
from storage.models import AudioUpload, Performance, RealtimeSession
from storage.sync.client import ServerAddress, SyncError, connect, explain

CHUNK_BYTES = 1 << 20  # 1 MiB: about 10 s of FLAC; a cut costs at most that much again
READ_BYTES = 1 << 16


@dataclass
class AudioResult:
    """What an audio upload did: files completed, bytes sent, takes skipped (file missing) and
    failed (the upload stopped; retried at the next sync)."""

    files: int = 0
    bytes_sent: int = 0
    missing: int = 0
    failed: int = 0
    error: str | None = None


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 64 KiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(READ_BYTES):
            h.update(block)
    return h.hexdigest()


def hash_takes(db: Database, user_id: uuid.UUID) -> int:
    """Give every take of the profile whose file is on disk its ``audio_sha256`` (the take
    becomes pending, so the next sync sends the hash). Returns how many were hashed."""
    with db.transaction() as s:
        rows = s.execute(
            select(Performance.id, Performance.audio_path)
            .join(RealtimeSession, RealtimeSession.id == Performance.session_id)
            .where(
                RealtimeSession.user_id == user_id,
                Performance.audio_path.is_not(None),
                Performance.audio_sha256.is_(None),
            )
        ).all()
        done = 0
        for pid, path in rows:
            p = Path(path or "")
            if not path or not p.is_file():
                continue
            s.execute(
                update(Performance).where(Performance.id == pid).values(audio_sha256=file_sha256(p))
            )
            done += 1
    return done


def _to_upload(db: Database, user_id: uuid.UUID) -> list[tuple[str, Path, str | None]]:
    """(sha256, file, format) of the profile's takes whose audio the server is not known to
    hold, one per hash."""
    with db.session() as s:
        known = set(s.scalars(select(AudioUpload.sha256).where(AudioUpload.user_id == user_id)))
        rows = s.execute(
            select(Performance.audio_sha256, Performance.audio_path, Performance.audio_format)
            .join(RealtimeSession, RealtimeSession.id == Performance.session_id)
            .where(RealtimeSession.user_id == user_id, Performance.audio_sha256.is_not(None))
            .order_by(Performance.recording_started_at)
        ).all()
    out: dict[str, tuple[str, Path, str | None]] = {}
    for sha, path, fmt in rows:
        if sha is None or sha in known or sha in out or path is None:
            continue
        out[sha] = (sha, Path(path), fmt)
    return list(out.values())


def upload_audio(
    db: Database,
    user_id: uuid.UUID,
    address: ServerAddress,
    password: str,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    connection: psycopg.Connection[Any] | None = None,
) -> AudioResult:
    """Upload the audio the server lacks (see the module docstring). A failure stops the upload
    and is reported in the result (``error``), never raised: the data sync has already landed."""
    result = AudioResult()
    todo = _to_upload(db, user_id)
    if not todo:
        return result
    try:
        conn = connection or connect(address, password)
    except SyncError as exc:
        result.failed, result.error = len(todo), str(exc)
        return result
    try:
        for sha, path, fmt in todo:
            if not path.is_file():
                result.missing += 1
                continue
            if file_sha256(path) != sha:
                # The file changed after its take was hashed: not the take's audio any more.
                result.missing += 1
                continue
            _upload_one(conn, user_id, sha, path, fmt, chunk_bytes, result)
            with db.transaction() as s:
                s.execute(insert(AudioUpload).values(user_id=user_id, sha256=sha))
            result.files += 1
    except (psycopg.Error, SyncError) as exc:
        result.failed = len(todo) - result.files - result.missing
        result.error = str(exc if isinstance(exc, SyncError) else explain(exc, address))
    finally:
        if connection is None:
            conn.close()
    return result


def _upload_one(
    conn: psycopg.Connection[Any],
    user_id: uuid.UUID,
    sha: str,
    path: Path,
    fmt: str | None,
    chunk_bytes: int,
    result: AudioResult,
) -> None:
    """Send the chunks of one file the server lacks, counting them in ``result``."""
    size = path.stat().st_size
    row = conn.execute(
        "SELECT chunk_bytes, complete FROM audio_blobs WHERE user_id = %s AND sha256 = %s",
        (user_id, sha),
    ).fetchone()
    if row is not None and row[1]:
        conn.commit()
        return
    if row is None:
        conn.execute(
            "INSERT INTO audio_blobs (user_id, sha256, size_bytes, chunk_bytes, audio_format, "
            "complete, created_at) VALUES (%s, %s, %s, %s, %s, false, now()) "
            "ON CONFLICT DO NOTHING",
            (user_id, sha, size, chunk_bytes, fmt),
        )
        conn.commit()
    else:
        chunk_bytes = int(row[0])  # resume with the chunk size the upload began with
    present = {
        int(r[0])
        for r in conn.execute(
            "SELECT chunk_index FROM audio_chunks WHERE user_id = %s AND sha256 = %s",
            (user_id, sha),
        ).fetchall()
    }
    conn.commit()
    count = max(1, -(-size // chunk_bytes))
    with open(path, "rb") as fh:
        for index in range(count):
            if index in present:
                continue
            fh.seek(index * chunk_bytes)
            data = fh.read(chunk_bytes)
            conn.execute(
                "INSERT INTO audio_chunks (user_id, sha256, chunk_index, data) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (user_id, sha, index, data),
            )
            conn.commit()
            result.bytes_sent += len(data)
    check = conn.execute(
        "SELECT encode(sha256(string_agg(data, ''::bytea ORDER BY chunk_index)), 'hex'), "
        "count(*) FROM audio_chunks WHERE user_id = %s AND sha256 = %s",
        (user_id, sha),
    ).fetchone()
    if check is None or check[0] != sha or int(check[1]) != count:
        # Chunks from a different file under this hash: start again next time.
        conn.execute("DELETE FROM audio_blobs WHERE user_id = %s AND sha256 = %s", (user_id, sha))
        conn.commit()
        raise SyncError(
            f"the audio of a take ({path.name}) did not arrive whole; it will be sent again"
        )
    conn.execute(
        "UPDATE audio_blobs SET complete = true WHERE user_id = %s AND sha256 = %s",
        (user_id, sha),
    )
    conn.commit()


def fetch_audio(conn: psycopg.Connection[Any], user_id: uuid.UUID, sha: str) -> bytes | None:
    """A take's complete audio from the server (as a student or their teacher), None when the
    server does not hold it complete."""
    row = conn.execute(
        "SELECT string_agg(c.data, ''::bytea ORDER BY c.chunk_index) FROM audio_chunks c "
        "JOIN audio_blobs b ON b.user_id = c.user_id AND b.sha256 = c.sha256 "
        "WHERE c.user_id = %s AND c.sha256 = %s AND b.complete",
        (user_id, sha),
    ).fetchone()
    conn.rollback()
    return None if row is None or row[0] is None else bytes(row[0])
