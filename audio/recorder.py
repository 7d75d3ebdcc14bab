"""Crash-safe recording of takes.

A :class:`TakeRecorder` writes blocks on its own writer thread (the analysis worker only queues
them) into ``<final name>.part``, flushes the file to disk at least once a second, and renames it
to the final name when the take ends. If the program dies mid-take (crash, ``kill -9``, power
loss after the last flush), :func:`repair_partial_takes` run at the next start turns every
``.part`` into a readable ``<stem>.recovered.<ext>`` take. Audio is never deleted.

Takes are mono, 24-bit PCM (WAV) or 24-bit FLAC.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import shutil
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
from filelock import FileLock, Timeout

from audio.ringbuffer import FloatArray

FLUSH_INTERVAL_S = 0.5
PART_SUFFIX = ".part"
LOCK_SUFFIX = ".lock"  # <name>.part.lock: held while a recorder writes <name>.part
WRITE_INTERVAL_S = 0.1
DISK_FULL = "the disk is full"  # the reason a repair or a take gives for a full disk
_FORMATS = {"FLAC": ("FLAC", "PCM_24", ".flac"), "WAV": ("WAV", "PCM_24", ".wav")}


class RecorderError(RuntimeError):
    """The take could not be written (disk full, folder not writable...)."""


class TakeRecorder:
    """Writes one mono take to ``path`` through ``path + '.part'``.

    path: final file name (its folder must exist; an existing file is never overwritten).
    sample_rate: Hz, 8000..192000. format: "FLAC" or "WAV" (24-bit). Call :meth:`write` with
    float32 blocks in -1..1 from any one thread, then :meth:`close` to finish and rename.
    """

    def __init__(
        self, path: str | Path, sample_rate: int, format: Literal["FLAC", "WAV"] = "FLAC"
    ) -> None:
        fmt = format.upper()
        if fmt not in _FORMATS:
            raise ValueError(f"format must be 'FLAC' or 'WAV', got {format!r}")
        if not 8000 <= sample_rate <= 192000:
            raise ValueError(f"sample_rate must be 8000..192000 Hz, got {sample_rate}")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise ValueError(f"{self.path.parent}: the folder for the take does not exist")
        if self.path.exists():
            raise ValueError(f"{self.path}: a file with that name already exists")
        self.part_path = self.path.with_name(self.path.name + PART_SUFFIX)
        self.sample_rate = int(sample_rate)
        self.format = fmt
        major, subtype, _ = _FORMATS[fmt]
        try:
            self._file = sf.SoundFile(
                str(self.part_path),
                mode="x",
                samplerate=self.sample_rate,
                channels=1,
                format=major,
                subtype=subtype,
            )
        except (sf.LibsndfileError, OSError) as exc:
            raise RecorderError(f"cannot create {self.part_path}: {exc}") from exc
        # Held until the take is closed; the operating system drops it if the process dies, so
        # repair_partial_takes can tell a take still being written from a crashed one.
        self._lock = _claim(self.part_path)
        self._queue: queue.SimpleQueue[FloatArray | None] = queue.SimpleQueue()
        self._wake = threading.Event()
        self.frames_written = 0
        self.frames_flushed = 0
        self.error: Exception | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="TakeRecorder", daemon=True)
        self._thread.start()

    @property
    def duration_s(self) -> float:
        """Seconds written to the file so far."""
        return self.frames_written / self.sample_rate

    def write(self, block: FloatArray) -> None:
        """Queue mono float32 samples (-1..1) for writing; never blocks on the disk."""
        if self._closed:
            raise RecorderError(f"{self.path.name}: the take is already closed")
        self._queue.put(block)

    def _run(self) -> None:
        # Waking once per 100 ms and writing everything queued in one call costs a fifth of the
        # CPU of waking for every 5 ms hop (measured live: 0.018 -> 0.0035 CPU-s per audio-s).
        last_flush = time.monotonic()
        done = False
        while not done:
            self._wake.wait(WRITE_INTERVAL_S)
            blocks: list[FloatArray] = []
            while True:
                try:
                    block = self._queue.get_nowait()
                except queue.Empty:
                    break
                if block is None:
                    done = True
                    break
                blocks.append(block)
            if blocks and self.error is None:
                try:
                    self._file.write(np.concatenate(blocks))
                    self.frames_written += sum(b.shape[0] for b in blocks)
                except Exception as exc:  # keep draining so the worker never blocks
                    self.error = exc
            if self.error is None and (done or time.monotonic() - last_flush >= FLUSH_INTERVAL_S):
                self._flush()
                last_flush = time.monotonic()

    def _flush(self) -> None:
        try:
            self._file.flush()
            # libsndfile's FLAC encoder does not always report a write that a full disk
            # refused (the take was then finished and stored cut short, 1 run in 5 of
            # tests/desktop/test_take_failures.py): no free byte at all means it may have been.
            if shutil.disk_usage(self.part_path.parent).free == 0:
                raise OSError(errno.ENOSPC, DISK_FULL, str(self.part_path))
            self.frames_flushed = self.frames_written
        except Exception as exc:
            self.error = exc

    def close(self, keep_frames: int | None = None) -> Path:
        """Write what is queued, close the file and rename it to the final name.

        keep_frames: keep only the first this many frames (a take cut where its microphone was
        pulled out, after which the stream delivered another source's sound); the file is
        rewritten whole to a temporary name and renamed over, so it is never half cut.
        Returns the final path. If writing failed, the ``.part`` file is kept (repairable) and
        RecorderError is raised.
        """
        if self._closed:
            return self.path
        self._closed = True
        self._queue.put(None)
        self._wake.set()
        self._thread.join()
        try:
            self._file.close()
        except Exception as exc:
            self.error = self.error or exc
        if self.error is not None:
            self._release_lock()
            # The .part is not named here: whoever shows this says where the audio is kept.
            raise RecorderError(
                f"the take could not be fully written: {_why(self.error, self.part_path.parent)}"
            )
        try:
            if keep_frames is not None and 0 <= keep_frames < self.frames_written:
                self._cut(keep_frames)
            # Renamed while still locked: a repair never sees this .part free and half-renamed.
            os.replace(self.part_path, self.path)
        finally:
            self._release_lock()
        return self.path

    def _cut(self, frames: int) -> None:
        """Rewrite the closed ``.part`` with its first ``frames`` frames only (a pulled
        microphone's take: what followed is not the student's). On failure the whole take is
        kept: more than was played beats losing any of it."""
        major, subtype, _ = _FORMATS[self.format]
        tmp = self.part_path.with_name(self.part_path.name + ".cut")
        try:
            data, _ = sf.read(str(self.part_path), frames=frames, dtype="float32")
            sf.write(str(tmp), data, self.sample_rate, format=major, subtype=subtype)
            os.replace(tmp, self.part_path)
            self.frames_written = self.frames_flushed = frames
        except (sf.LibsndfileError, RuntimeError, OSError):
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def _release_lock(self) -> None:
        lock, self._lock = self._lock, None
        _release(lock, self.part_path)


def _lock_path(part: Path) -> Path:
    return part.with_name(part.name + LOCK_SUFFIX)


def _claim(part: Path) -> FileLock | None:
    """Lock ``part`` (through ``<part>.lock``) without waiting; None when another recorder,
    in this or another process, holds it, or when the file system cannot lock (recording
    matters more than the lock)."""
    # Not thread-local: a take is opened on one thread and closed on another. No soft
    # (marker-file) fallback: a marker would outlive a crash and hide the .part from repair.
    lock = FileLock(_lock_path(part), thread_local=False, fallback_to_soft=False)
    try:
        lock.acquire(blocking=False)
    except OSError:  # filelock.Timeout is an OSError too
        return None
    return lock


def _release(lock: FileLock | None, part: Path) -> None:
    """Release ``lock`` and remove its lock file (Windows removes it itself on release)."""
    if lock is None:
        return
    lock.release()
    with contextlib.suppress(OSError):
        _lock_path(part).unlink(missing_ok=True)


@contextlib.contextmanager
def _unless_in_use(part: Path) -> Iterator[bool]:
    """False while a live TakeRecorder (in any process) holds ``part``'s lock; otherwise True,
    with the lock held for the block, so no recorder can take ``part`` back meanwhile (when
    the file system cannot lock at all, True without a lock, as before locks existed)."""
    probe = FileLock(_lock_path(part), thread_local=False, fallback_to_soft=False)
    try:
        probe.acquire(blocking=False)
    except Timeout:
        yield False
        return
    except OSError:
        yield True
        return
    try:
        yield True
    finally:
        _release(probe, part)


def _unique(path: Path) -> Path:
    if not path.exists():
        return path
    for i in range(2, 10_000):
        cand = path.with_name(f"{path.stem}-{i}{path.suffix}")
        if not cand.exists():
            return cand
    raise RecorderError(f"too many recovered takes named like {path}")


def _recovered_name(part: Path) -> tuple[Path, str]:
    final = part.with_name(part.name[: -len(PART_SUFFIX)])
    ext = final.suffix.lower()
    if ext not in (".flac", ".wav"):
        ext = ".wav"
    return _unique(final.with_name(f"{final.stem}.recovered{ext}")), ext


def _repair_wav(part: Path) -> bool:
    """Fix RIFF and data chunk sizes in place to match what reached the disk.

    Returns False (file untouched) when the header itself is incomplete or not WAV.
    """
    size = part.stat().st_size
    with part.open("r+b") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return False
        pos = 12
        block_align = 0
        while pos + 8 <= size:
            f.seek(pos)
            cid, clen = struct.unpack("<4sI", f.read(8))
            if cid == b"fmt ":
                fmt = f.read(16)
                if len(fmt) < 16:
                    return False
                block_align = struct.unpack("<HHIIHH", fmt)[4]
            if cid == b"data":
                if block_align <= 0:
                    return False
                data_len = size - (pos + 8)
                data_len -= data_len % block_align
                f.seek(pos + 4)
                f.write(struct.pack("<I", min(data_len, 0xFFFFFFFF)))
                f.seek(4)
                f.write(struct.pack("<I", min(pos + data_len, 0xFFFFFFFF)))
                return True
            pos += 8 + clen + (clen & 1)
    return False


class RepairPostponed(RecorderError):
    """A ``.part`` that holds audio could not be repaired now (the disk is full, an I/O error, no
    permission): it is left exactly as it was, to be tried again at the next start.

    reason: why, in words a student may read (never a stack trace)."""

    def __init__(self, part: Path, reason: str) -> None:
        super().__init__(f"{part.name} could not be repaired yet: {reason}")
        self.part = part
        self.reason = reason


def _why(exc: BaseException, folder: Path) -> str:
    """A failed write's reason in plain words. libsndfile reports a full disk as a bare encoder
    error (code 157, no text), so the free space is asked as well."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DISK_FULL
    with contextlib.suppress(OSError):
        if shutil.disk_usage(folder).free == 0:
            return DISK_FULL
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = (str(exc).strip().splitlines() or [""])[0][:200]
    return text or "the file could not be written"


def _read_all(part: Path) -> None:
    """Read every byte of ``part``, raising OSError on an I/O error: libsndfile turns an I/O
    error into "not a sound file", which must never make a take look unreadable."""
    with part.open("rb") as f:
        while f.read(1 << 20):
            pass


def _decode_what_reads(part: Path, target: Path) -> int:
    """Decode ``part`` block by block until it fails, writing the good audio to ``target``.

    Returns the frames written: 0 when libsndfile cannot open ``part`` or decodes not one frame
    of it (then ``target`` is not created). Any failure to write ``target`` raises
    RepairPostponed, with ``target`` removed."""
    try:
        src = sf.SoundFile(str(part))
    except (sf.LibsndfileError, RuntimeError):
        return 0
    with src:
        try:
            first = src.read(4096, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError):
            return 0
        if first.shape[0] == 0:
            return 0
        wrote = 0
        try:
            with sf.SoundFile(
                str(target),
                mode="x",
                samplerate=src.samplerate,
                channels=src.channels,
                format="WAV" if target.suffix.lower() == ".wav" else "FLAC",
                subtype="PCM_24",
            ) as dst:
                block = first
                while block.shape[0] > 0:
                    dst.write(block)
                    wrote += block.shape[0]
                    try:
                        block = src.read(4096, dtype="float32", always_2d=True)
                    except (sf.LibsndfileError, RuntimeError):
                        break  # the rest of the .part is damaged: keep what decoded
        except Exception as exc:
            with contextlib.suppress(OSError):
                target.unlink(missing_ok=True)  # our own half-written output, not student audio
            raise RepairPostponed(part, _why(exc, target.parent)) from exc
    return wrote


def repair_partial_takes(
    folder: str | Path, on_postponed: Callable[[RepairPostponed], None] | None = None
) -> list[Path]:
    """Turn every ``*.part`` left in ``folder`` by an interrupted take into a playable take.

    WAV: the header sizes are fixed in place and the file is renamed to
    ``<stem>.recovered.wav``. FLAC: every frame that decodes is re-encoded into
    ``<stem>.recovered.flac``; the original is kept next to it as ``<name>.part.orig``.

    A ``.part`` is set aside as ``<name>.part.unreadable`` only when it truly holds no audio:
    every byte of it could be read, and libsndfile finds in them no header it can open (for a
    WAV: no complete ``fmt `` and ``data`` chunk) or not one frame after the header. A repair
    that fails for any other reason (the disk is full, an I/O error, no permission) leaves the
    ``.part`` exactly as it was and calls ``on_postponed`` with the reason; the next run tries
    again. A ``.part`` a running take is still writing (locked by its recorder, in this or
    another process) is skipped. Returns the recovered takes' paths (empty when nothing needed
    repair).
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder")
    recovered: list[Path] = []
    for part in sorted(root.glob(f"*{PART_SUFFIX}")):
        with _unless_in_use(part) as free:
            # Checked again under the lock: a recorder may have finished and renamed it.
            if not (free and part.is_file()):
                continue
            try:
                target = _repair_one(part)
            except RepairPostponed as exc:
                if on_postponed is not None:
                    on_postponed(exc)
                continue
            if target is not None:
                recovered.append(target)
    return recovered


def _repair_one(part: Path) -> Path | None:
    """Repair one ``.part`` no recorder holds (see :func:`repair_partial_takes`); the recovered
    take's path, None when it held no audio (then it is renamed ``.unreadable``). Raises
    RepairPostponed, with ``part`` untouched, when it could not be repaired now."""
    try:
        _read_all(part)
        target, ext = _recovered_name(part)
        if ext == ".wav":
            # In place, no new space needed: only the two size fields are rewritten.
            frames = 0
            if _repair_wav(part):
                with contextlib.suppress(sf.LibsndfileError, RuntimeError):
                    frames = sf.info(str(part)).frames
            if frames > 0:
                os.replace(part, target)
                return target
        elif _decode_what_reads(part, target) > 0:
            try:
                os.replace(part, _unique(part.with_name(part.name + ".orig")))
            except OSError:
                target.unlink(missing_ok=True)  # tried again, whole, at the next start
                raise
            return target
        os.replace(part, _unique(part.with_name(part.name + ".unreadable")))
    except OSError as exc:
        raise RepairPostponed(part, _why(exc, part.parent)) from exc
    return None
