"""The analysis worker thread with the real StreamAnalyzer: files and synthetic live input,
takes started and stopped while the stream runs, a source failing mid-take, a stalled GUI."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from audio.analyzer import StreamAnalyzer
from audio.recorder import TakeRecorder
from audio.records import Note, Onset, PitchFrame
from audio.sources import (
    AudioUnavailableError,
    FileSource,
    MicrophoneSource,
    SyntheticSource,
    SynthNote,
    render_notes,
)
from audio.worker import AnalysisWorker, Outbox

SR = 48000
SCALE = [SynthNote(60 + step, 0.2 + 0.4 * i, 0.3) for i, step in enumerate([0, 2, 4, 5, 7])]


def _wav(folder: Path, notes: list[SynthNote], name: str = "in.wav") -> Path:
    path = folder / name
    sf.write(path, render_notes(notes, SR), SR, subtype="FLOAT")
    return path


def test_a_file_through_the_worker_gives_exactly_what_the_analyzer_gives_hop_by_hop(
    tmp_path: Path,
) -> None:
    wav = _wav(tmp_path, SCALE)
    worker = AnalysisWorker(FileSource(wav))
    worker.start()
    assert worker.wait_finished(20)
    result = worker.stop()

    direct = StreamAnalyzer(SR)
    samples = sf.read(wav, dtype="float32")[0]
    hop = direct.hop_samples
    padded = np.zeros(-(-samples.shape[0] // hop) * hop, dtype=np.float32)
    padded[: samples.shape[0]] = samples
    for i in range(0, padded.shape[0], hop):
        direct.process(padded[i : i + hop], 0.0)
    direct.finish(0.0)

    assert result.error is None and result.overflows == 0
    assert result.duration_s == pytest.approx(samples.shape[0] / SR)
    assert [n.target_midi for n in result.notes] == [60, 62, 64, 65, 67]
    assert [(n.onset_s, n.midi) for n in result.notes] == [
        (n.onset_s, n.midi) for n in direct.notes
    ]
    assert len(result.frames) == len(direct.frames) == padded.shape[0] // hop
    assert np.array_equal(result.frames.f0_hz, direct.frames.f0_hz)  # type: ignore[attr-defined]
    assert worker.latest_level_db < -60  # the file ends in silence
    assert worker.cpu_time_s > 0


def test_a_take_started_and_stopped_mid_stream_holds_exactly_that_audio(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    signal = (0.2 * rng.standard_normal(SR * 3)).astype(np.float32)
    worker = AnalysisWorker(SyntheticSource(signal=signal, sample_rate=SR), take_format="WAV")
    worker.start()
    time.sleep(0.6)
    worker.start_take(tmp_path / "t1.wav")
    assert worker.recording
    with pytest.raises(RuntimeError, match="already being recorded"):
        worker.start_take(tmp_path / "t2.wav")
    time.sleep(0.8)
    path = worker.stop_take()
    assert not worker.recording
    with pytest.raises(RuntimeError, match="no take"):
        worker.stop_take()
    result = worker.stop()

    span = worker.last_take
    assert span is not None and span.path == path == tmp_path / "t1.wav"
    assert result.takes == [span]
    data = sf.read(path, dtype="float32")[0]
    start = round(span.start_s * SR)
    assert 0.4 < span.start_s < 0.9 and 0.6 < span.end_s - span.start_s < 1.2
    assert data.shape[0] == round((span.end_s - span.start_s) * SR)
    assert np.max(np.abs(data - signal[start : start + data.shape[0]])) < 1e-6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t1.wav"]
    # The take's share of the analyzer's CPU: some, and less than the whole run's.
    assert 0 < span.analysis_cpu_s < worker.analysis_cpu_s <= worker.cpu_time_s


def test_a_source_failing_mid_take_ends_the_take_cleanly_and_reports_why(tmp_path: Path) -> None:
    notes = [SynthNote(69, 0.1, 0.5), SynthNote(72, 0.8, 0.5), SynthNote(76, 1.5, 0.5)]
    source = SyntheticSource(notes, realtime=False, fail_after_s=1.4)
    take = tmp_path / "cut.flac"
    worker = AnalysisWorker(source, recorder=TakeRecorder(take, SR))
    worker.start()
    assert worker.wait_finished(20)  # nobody pressed stop: the failure ends the run
    assert isinstance(worker.error, AudioUnavailableError)
    assert not worker.recording
    result = worker.stop()

    assert isinstance(result.error, AudioUnavailableError)
    assert "unplugged" in str(result.error)
    assert [n.target_midi for n in result.notes] == [69, 72]
    assert sf.info(take).frames == round(1.4 * SR)
    assert not take.with_name("cut.flac.part").exists()
    assert result.takes[0].path == take


def test_a_stalled_gui_drops_old_frames_but_never_a_note_or_onset(tmp_path: Path) -> None:
    worker = AnalysisWorker(FileSource(_wav(tmp_path, SCALE)), outbox_max_frames=50)
    worker.start()
    assert worker.wait_finished(20)
    result = worker.stop()
    got = worker.outbox.drain()
    frames = [r for r in got if isinstance(r, PitchFrame)]
    assert len(frames) == 50
    assert frames == list(result.frames[-50:])
    assert worker.outbox.dropped_frames == len(result.frames) - 50
    assert [r for r in got if isinstance(r, Note)] == result.notes
    assert [r for r in got if isinstance(r, Onset)] == result.onsets
    assert len(result.notes) == 5
    assert worker.outbox.drain() == []


def test_outbox_keeps_publication_order_across_kinds() -> None:
    box = Outbox(max_frames=3)
    frames = [
        PitchFrame(i * 0.01, 0.0, None, None, None, False, 0.0, -90.0, float(i)) for i in range(6)
    ]
    onset = Onset(0.015, 1.5)
    box.put([frames[0], frames[1], onset])
    box.put(frames[2:])
    assert box.drain() == [onset, frames[3], frames[4], frames[5]]
    assert box.dropped_frames == 3 and box.published == 7
    with pytest.raises(ValueError, match="max_frames"):
        Outbox(0)


def test_stop_mid_stream_returns_promptly_with_what_was_heard() -> None:
    worker = AnalysisWorker(SyntheticSource([SynthNote(64, 0.0, 20.0)]))
    worker.start()
    deadline = time.monotonic() + 0.8
    while time.monotonic() < deadline:  # the GUI may read the latencies while it runs
        recent = worker.latencies_s()
        assert all(0 <= d < 1.0 for d in recent)
    t0 = time.perf_counter()
    result = worker.stop()
    assert time.perf_counter() - t0 < 1.0
    assert 0.6 < result.duration_s < 1.2
    assert result.error is None
    assert result.notes and result.notes[0].target_midi == 64  # the held note is finished
    assert worker.latest_level_db > -30
    assert worker.stop() is result


def test_bad_requests_are_refused_and_change_nothing(tmp_path: Path) -> None:
    existing = tmp_path / "keep.flac"
    existing.write_bytes(b"earlier take")
    worker = AnalysisWorker(SyntheticSource([SynthNote(60, 0.0, 5.0)]))
    worker.start()
    try:
        with pytest.raises(ValueError, match="already exists"):
            worker.start_take(existing)
        assert not worker.recording
    finally:
        worker.stop()
    assert existing.read_bytes() == b"earlier take"
    with pytest.raises(ValueError, match="44100 Hz"):
        AnalysisWorker(SyntheticSource(sample_rate=48000), analyzer=StreamAnalyzer(44100))


def test_a_microphone_that_cannot_open_fails_start_on_the_callers_thread() -> None:
    # Whatever this machine has (no PortAudio, no device, or devices with other names), the
    # GUI gets an AudioUnavailableError from start() itself, and no thread is left running.
    worker = AnalysisWorker(MicrophoneSource("no such microphone 1234"))
    with pytest.raises(AudioUnavailableError):
        worker.start()
    assert not worker.is_alive()


@pytest.mark.parametrize("hops_per_wake", [1, 3, 64])
def test_waking_for_several_hops_at_once_changes_nothing_in_the_analysis(
    tmp_path: Path, hops_per_wake: int
) -> None:
    signal = render_notes(SCALE, SR)
    direct = StreamAnalyzer(SR)
    hop = direct.hop_samples
    for i in range(0, signal.shape[0] - hop + 1, hop):
        direct.process(signal[i : i + hop], 0.0)
    # Real time, like a microphone: the worker sleeps until hops_per_wake hops are waiting.
    source = SyntheticSource(signal=signal[: signal.shape[0] // hop * hop], sample_rate=SR)
    worker = AnalysisWorker(source, hops_per_wake=hops_per_wake, take_format="WAV")
    worker.start()
    worker.start_take(tmp_path / "take.wav")
    assert worker.wait_finished(30)
    result = worker.stop()

    assert result.error is None and result.overflows == 0
    assert np.array_equal(result.frames.f0_hz, direct.frames.f0_hz)  # type: ignore[attr-defined]
    assert [(n.onset_s, n.midi) for n in result.notes] == [
        (n.onset_s, n.midi) for n in direct.notes
    ]
    # One latency per hop, and every record reached the outbox in order.
    assert worker.hops_analysed == len(result.frames) == len(worker.latencies_s())
    got = worker.outbox.drain()
    assert [r for r in got if isinstance(r, PitchFrame)] == list(result.frames)
    assert [r for r in got if isinstance(r, Note)] == result.notes
    # The take holds every sample although the recorder now gets several hops per write.
    take = sf.read(tmp_path / "take.wav", dtype="float32")[0]
    start = round(result.takes[0].start_s * SR)
    assert take.shape[0] == signal.shape[0] // hop * hop - start
    assert np.max(np.abs(take - signal[start : start + take.shape[0]])) < 1e-6
    if hops_per_wake > 1:
        assert worker.wakeups < worker.hops_analysed


def test_hops_per_wake_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="hops_per_wake"):
        AnalysisWorker(SyntheticSource(sample_rate=SR), hops_per_wake=0)
    with pytest.raises(ValueError, match="hops_per_wake"):
        AnalysisWorker(SyntheticSource(sample_rate=SR), hops_per_wake=65)
    # The default waits for as many hops as fit in the latency budget: 3 at 48 kHz / 256.
    assert AnalysisWorker(SyntheticSource(sample_rate=SR)).hops_per_wake == 1


def test_an_analysis_crash_mid_take_keeps_the_take_and_reports_why(tmp_path: Path) -> None:
    """Issue 20: a tracker that raises on the worker thread (as the 16 kHz tracker crash did)
    ends the run, but the take recorded so far is finished, readable and kept, and the crash is
    reported for the window to show. The measurer is the real one, made to fail after 1.2 s."""
    from audio.pitch import FrameAnalyzer

    class FailsLater(FrameAnalyzer):
        def process(self, hop: np.ndarray) -> Any:  # type: ignore[override]
            if self.samples_fed >= int(1.2 * self.sample_rate):
                raise IndexError("the tracker's bug")
            return super().process(hop)

    notes = [SynthNote(69, 0.1, 0.5), SynthNote(72, 0.8, 0.5), SynthNote(76, 1.5, 0.5)]
    source = SyntheticSource(notes, realtime=False)
    take = tmp_path / "crash.flac"
    analyzer = StreamAnalyzer(SR, measurer=FailsLater)
    worker = AnalysisWorker(source, analyzer=analyzer, recorder=TakeRecorder(take, SR))
    worker.start()
    assert worker.wait_finished(20)  # nobody pressed stop: the crash ends the run
    assert isinstance(worker.error, IndexError)
    assert not worker.recording
    result = worker.stop()

    assert result.takes and result.takes[0].path == take
    assert not take.with_name("crash.flac.part").exists()
    kept_s = sf.info(take).frames / SR
    # Everything up to the crash, and the batch of hops already written when it came.
    assert 1.2 <= kept_s < 1.6, kept_s
