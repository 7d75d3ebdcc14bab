"""Speed of the live chain, measured through the real PulseAudio null-sink microphone.

    uv run python -m tests.bench.live [--seconds 60] [--overflow-minutes 10] [--device pulse]

Phase 1 (``--seconds``): music (a synthesised melody, a note every 250 ms) is played into a
private null sink while MicrophoneSource -> SampleRing -> AnalysisWorker(StreamAnalyzer) runs and a
take is recorded to FLAC, as when a student presses R. Prints, per analysed hop, the delay from
the capture time (perf_counter in the PortAudio callback) to the moment its records are in the
outbox: p50/p95/p99/max, against the target of one hop + 15 ms. Also CPU seconds per second of
audio: the worker thread alone (analysis + hand-over) and the whole process (PortAudio callback
thread, recorder thread, everything).

Phase 2 (``--overflow-minutes``, 0 to skip): the same chain runs for that long with the music
looping; prints the overflow count (PortAudio input overflows + blocks dropped because the ring was
full), target 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from audio.sources import MicrophoneSource
from audio.worker import AnalysisWorker
from tests.audio.nullsink import play, private_null_sink, setup_null_sink
from tests.bench.speed import LIVE_SR, live_melody

SR = LIVE_SR


def _music(seconds: float, folder: Path) -> Path:
    path = folder / "music.wav"
    sf.write(path, live_melody(seconds), SR, subtype="PCM_16")
    return path


def _thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of every thread of this process, by native id (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
            comm = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(tid)] = (comm, (int(fields[11]) + int(fields[12])) / tick)
    return out


def _wakeups(tid: int) -> int:
    """Times thread ``tid`` of this process went to sleep voluntarily (Linux /proc)."""
    try:
        status = Path(f"/proc/self/task/{tid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    return 0


def _ms(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q) * 1000.0)


def _worker(device: str, args: argparse.Namespace) -> AnalysisWorker:
    mic = MicrophoneSource(
        device, sample_rate=SR, block_frames=args.block_frames, latency=args.latency
    )
    return AnalysisWorker(mic, hops_per_wake=args.hops_per_wake)


def latency_phase(
    seconds: float, device: str, sink: str, folder: Path, args: argparse.Namespace
) -> bool:
    music = _music(seconds, folder)
    worker = _worker(device, args)
    hop_ms = worker.hop_samples / SR * 1000
    worker.start()
    time.sleep(0.5)
    worker.start_take(folder / "take.flac")
    recorder_ids = {t.native_id for t in threading.enumerate() if t.name == "TakeRecorder"}
    threads0 = _thread_cpu()
    switches0 = {tid: _wakeups(tid) for tid in threads0}
    wakeups0, hops0 = worker.wakeups, worker.hops_analysed
    cpu0 = time.process_time()
    pos0 = worker.position_s
    player = play(music, sink)
    drained = 0
    while player.poll() is None:
        time.sleep(1 / 30)  # a GUI timer at 30 Hz
        drained += len(worker.outbox.drain())
    audio_s = worker.position_s - pos0
    cpu_process = time.process_time() - cpu0
    threads1 = _thread_cpu()
    switches = {tid: _wakeups(tid) - switches0.get(tid, 0) for tid in threads1}
    wakeups, hops = worker.wakeups - wakeups0, worker.hops_analysed - hops0
    per_thread = {
        tid: cpu - threads0.get(tid, (name, 0.0))[1] for tid, (name, cpu) in threads1.items()
    }
    main_id = threading.main_thread().native_id
    cpu_main = per_thread.pop(main_id, 0.0)
    cpu_worker = per_thread.pop(worker.native_id or -1, 0.0)
    cpu_rec = sum(per_thread.pop(tid, 0.0) for tid in recorder_ids)
    cpu_audio = sum(per_thread.values())
    io_switches = sum(switches.get(tid, 0) for tid in per_thread)
    worker_switches = switches.get(worker.native_id or -1, 0)
    worker.stop_take()
    result = worker.stop()
    lat = np.array(worker.latencies_s())
    notes = len(result.notes)
    mic = worker.source
    assert isinstance(mic, MicrophoneSource)
    target = hop_ms + 15.0
    p95 = _ms(lat, 95)
    print(f"live latency, capture -> outbox, over {audio_s:.1f} s of audio ({lat.size} hops)")
    print(f"  hop                      {hop_ms:7.2f} ms ({worker.hop_samples} samples at {SR} Hz)")
    print(f"  p50                      {_ms(lat, 50):7.2f} ms")
    print(f"  p95                      {p95:7.2f} ms   target <= {target:.2f} ms (hop + 15 ms)")
    print(f"  p99                      {_ms(lat, 99):7.2f} ms")
    print(f"  max                      {lat.max() * 1000:7.2f} ms")
    print(f"  analysis delay (window)  {worker.analyzer.delay_s * 1000:7.2f} ms (not included)")
    print(f"  PortAudio input latency  {(mic.stream_latency_s or 0) * 1000:7.2f} ms (not included)")
    print(f"  notes found              {notes:7d}   (played {int(seconds / 0.25)})")
    print(f"  records drained by GUI   {drained:7d}")
    print("CPU per second of audio")
    print(f"  worker thread            {worker.cpu_time_s / result.duration_s:7.4f} CPU-s/audio-s")
    print(f"  whole process            {cpu_process / audio_s:7.4f} CPU-s/audio-s, of which")
    print(f"    analysis worker thread {cpu_worker / audio_s:7.4f} (same window, from /proc)")
    print(f"    take recorder (FLAC)   {cpu_rec / audio_s:7.4f}")
    print(
        f"    PortAudio + Pulse I/O  {cpu_audio / audio_s:7.4f} (callback thread, client threads)"
    )
    print(f"    main thread (30 Hz GUI-like drain) {cpu_main / audio_s:7.4f}")
    blocks = audio_s * SR / mic.block_frames
    print("per hop / per wake-up (same window)")
    print(
        f"  worker thread            {1e6 * cpu_worker / max(hops, 1):7.1f} us CPU per hop "
        f"(analyzer alone warm: see tests.bench.speed)"
    )
    print(
        f"  worker wake-ups          {wakeups / audio_s:7.1f} /s "
        f"({hops / max(wakeups, 1):.2f} hops each, hops_per_wake={worker.hops_per_wake}); "
        "sleeps from /proc "
        f"{worker_switches / audio_s:.1f} /s"
    )
    print(
        f"  PortAudio + Pulse I/O    {1e6 * cpu_audio / blocks:7.1f} us CPU per block of "
        f"{mic.block_frames} ({blocks / audio_s:.1f} blocks/s, latency={mic.latency!r}); "
        f"sleeps {io_switches / audio_s:.1f} /s"
    )
    print(f"  overflows                {result.overflows:7d}")
    if result.error is not None:
        print(f"  ERROR: {result.error}")
    return p95 <= target and result.overflows == 0 and result.error is None


def overflow_phase(
    minutes: float, device: str, sink: str, folder: Path, args: argparse.Namespace
) -> bool:
    music = _music(60.0, folder)
    worker = _worker(device, args)
    worker.start()
    end = time.monotonic() + minutes * 60
    player = play(music, sink)
    last_report = time.monotonic()
    while time.monotonic() < end:
        time.sleep(1 / 30)
        worker.outbox.drain()
        if player.poll() is not None:
            player = play(music, sink)
        if time.monotonic() - last_report >= 60:
            last_report = time.monotonic()
            print(
                f"  {worker.position_s / 60:5.1f} min: overflows {worker.overflows}",
                flush=True,
            )
    player.terminate()
    result = worker.stop()
    lat = np.array(worker.latencies_s())
    ring = worker.ring
    print(f"overflows over {result.duration_s / 60:.1f} min of live audio")
    print(f"  PortAudio input overflows {ring.input_overflows:6d}")
    print(f"  ring-full dropped blocks  {ring.dropped_blocks:6d}")
    print(f"  total                     {result.overflows:6d}   target 0")
    print(
        f"  latency over the last {lat.size} hops: p50 {_ms(lat, 50):.2f} ms, "
        f"p95 {_ms(lat, 95):.2f} ms, max {lat.max() * 1000:.2f} ms"
    )
    print(f"  worker CPU {worker.cpu_time_s / result.duration_s:.4f} CPU-s/audio-s")
    if result.error is not None:
        print(f"  ERROR: {result.error}")
    return result.overflows == 0 and result.error is None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.live", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="latency run length (s)")
    parser.add_argument("--overflow-minutes", type=float, default=10.0, help="0 to skip")
    parser.add_argument("--device", default="pulse", help="PortAudio input device name/index")
    parser.add_argument("--block-frames", type=int, default=256, help="PortAudio block size")
    parser.add_argument(
        "--latency", default="low", help="PortAudio latency: low, high or seconds (default low)"
    )
    parser.add_argument(
        "--hops-per-wake", type=int, default=1, help="worker batch (default 1, the app's)"
    )
    args = parser.parse_args(argv)
    if args.latency not in ("low", "high"):
        args.latency = float(args.latency)
    reason = setup_null_sink()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    ok = True
    with (
        tempfile.TemporaryDirectory(prefix="etude-bench-") as tmp,
        private_null_sink(f"etude_bench_{int(time.time())}") as sink,
    ):
        folder = Path(tmp)
        if args.seconds > 0:
            ok &= latency_phase(args.seconds, args.device, sink, folder, args)
        if args.overflow_minutes > 0:
            ok &= overflow_phase(args.overflow_minutes, args.device, sink, folder, args)
    print("RESULT", "meets targets" if ok else "misses a target")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
