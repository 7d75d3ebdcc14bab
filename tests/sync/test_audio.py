"""Takes' audio reaches the teacher's server by content hash, in chunks, and resumes after a
cut connection; nothing is deleted on the computer."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from storage.performances import create_performance
from storage.profiles import create_profile
from storage.sessions import create_session
from storage.sync import link
from storage.sync.audio import fetch_audio, hash_takes, upload_audio
from storage.sync.protocol import get_link, link_address, sync
from storage.sync.run import sync_now
from tests.sync.conftest import SyncServer
from tests.sync.helpers import T0, open_local
from tests.sync.proxy import CutPlan, Proxy

pytestmark = pytest.mark.postgres


def _take(folder: Path, name: str, seconds: float, hz: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    t = np.arange(int(44100 * seconds)) / 44100
    noise = np.random.default_rng(int(hz)).normal(0, 0.05, t.size)  # FLAC must not squeeze it
    sf.write(path, (0.3 * np.sin(2 * np.pi * hz * t) + noise).astype("float32"), 44100)
    return path


def test_audio_is_uploaded_by_hash_resumes_after_a_cut_and_the_teacher_hears_it(
    sync_server: SyncServer, local_url: Any, tmp_path: Path
) -> None:
    sync_server.add_teacher("T")
    sync_server.add_student("Ann", "T")
    pw = sync_server.accounts["Ann"].password
    proxy = Proxy()
    db = open_local(local_url("one"))
    try:
        recs = tmp_path / "recordings"
        files = [_take(recs, f"take{i}.flac", 4.0, 220.0 * (i + 1)) for i in range(2)]
        with db.transaction() as s:
            ann = create_profile(s, "Ann").id
            sid = create_session(s, ann, "Tune", started_at=T0).id
            for f in files:
                create_performance(s, sid, audio_path=str(f), audio_format="flac")
            # A take whose file is not on this computer is skipped, not an error.
            create_performance(s, sid, audio_path=str(recs / "gone.flac"))
        link.link_profile(db, sync_server.address("Ann", port=proxy.port), pw, profile_id=ann)
        address = link_address(get_link(db, ann))
        # The hashes travel with the takes; the first upload is cut part-way.
        assert hash_takes(db, ann) == 2
        sync(db, ann, pw)
        proxy.plan = CutPlan(after_bytes=150_000)
        partial = upload_audio(db, ann, address, pw, chunk_bytes=32_768)
        assert partial.error is not None and "cannot be reached" in partial.error
        assert partial.files < 2
        proxy.reset_counters()
        rest = sync_now(db, ann, pw)
        assert rest.audio is not None and rest.audio.files + partial.files == 2
        assert rest.audio.error is None
        # Only what was missing was sent again (the chunks already there were kept).
        total = sum(f.stat().st_size for f in files)
        assert 0 < partial.bytes_sent < total
        assert partial.bytes_sent + rest.audio.bytes_sent <= total
        again = sync_now(db, ann, pw)
        assert again.audio is not None and again.audio.files == 0
        with sync_server.connect_as("T") as teacher:
            for f in files:
                sha = hashlib.sha256(f.read_bytes()).hexdigest()
                assert fetch_audio(teacher, ann, sha) == f.read_bytes()
        assert all(f.exists() for f in files)  # nothing deleted here
    finally:
        db.dispose()
        proxy.close()
