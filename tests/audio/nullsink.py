"""The null-sink microphone for tests and benchmarks (shared: the desktop tests import it).

``.ci/pulse-setup.sh`` makes a PulseAudio null sink ``etude_null`` whose monitor is the default
input, so what ``paplay --device=etude_null`` plays is what PortAudio's ALSA "pulse"/"default"
device records. Use :func:`require_null_sink` at the top of a ``mic`` test: it runs the setup
script and calls ``need(...)`` (skip on a laptop, fail in CI) when the path does not work.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

SINK = "etude_null"
SOURCE = f"{SINK}.monitor"
PORTAUDIO_DEVICE = "pulse"
SETUP_SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "pulse-setup.sh"


def setup_null_sink() -> str | None:
    """Run the setup script; return None when the null-sink microphone works, else why not."""
    for tool in ("pulseaudio", "pactl", "pacat", "paplay"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils)"
    try:
        proc = subprocess.run(["sh", str(SETUP_SCRIPT)], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "pulse-setup.sh did not finish within 30 s"
    if proc.returncode != 0:
        return f"pulse-setup.sh failed: {proc.stderr.strip() or proc.stdout.strip()}"
    try:
        import sounddevice as sd
    except OSError as exc:
        return f"PortAudio is not available: {exc}"
    names = [str(d["name"]) for d in sd.query_devices() if int(d["max_input_channels"]) > 0]
    if PORTAUDIO_DEVICE not in names:
        return f"PortAudio has no {PORTAUDIO_DEVICE!r} input (libasound2-plugins missing?): {names}"
    return None


def require_null_sink() -> None:
    """Set up the null-sink microphone or skip (laptop) / fail (CI) the calling test."""
    from tests.conftest import need

    reason = setup_null_sink()
    need(reason is None, reason or "")


def play(path: str | Path, sink: str = SINK, latency_ms: int = 60) -> subprocess.Popen[bytes]:
    """Start playing an audio file into ``sink``; returns the paplay process.

    latency_ms is paplay's buffer: small values underrun on a busy 2-core machine, which puts
    gaps of silence into the "performance" (extra notes that were never played).
    """
    return subprocess.Popen(
        ["paplay", f"--latency-msec={latency_ms}", f"--device={sink}", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@contextlib.contextmanager
def private_null_sink(name: str) -> Iterator[str]:
    """A separate null sink, with its own silence clock, recorded from by this process only.

    Sets ``PULSE_SOURCE`` so PortAudio streams opened inside the block record its monitor, which
    keeps long benchmarks free of sound other tests play into ``etude_null`` at the same time.
    Yields the sink name; unloads it afterwards.
    """
    module = subprocess.run(
        ["pactl", "load-module", "module-null-sink", f"sink_name={name}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    clock = subprocess.Popen(
        [
            "pacat",
            "--playback",
            f"--device={name}",
            "--latency-msec=10",
            "--raw",
            "--format=s16le",
            "--channels=2",
            "--rate=48000",
            "/dev/zero",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    old = os.environ.get("PULSE_SOURCE")
    os.environ["PULSE_SOURCE"] = f"{name}.monitor"
    try:
        time.sleep(2.2)  # see pulse-setup.sh: the sink first finishes a 2-second idle chunk
        yield name
    finally:
        if old is None:
            os.environ.pop("PULSE_SOURCE", None)
        else:
            os.environ["PULSE_SOURCE"] = old
        clock.terminate()
        clock.wait(5)
        subprocess.run(["pactl", "unload-module", module], capture_output=True, check=False)


@contextlib.contextmanager
def private_pulse_server(
    folder: Path, sink: str = "etude_vanish"
) -> Iterator[subprocess.Popen[bytes]]:
    """A second, throw-away PulseAudio daemon with one null sink, for tests that kill it.

    Inside the block, PortAudio streams this process opens record ``<sink>.monitor`` of that
    daemon (``PULSE_SERVER``/``PULSE_SOURCE`` are set). Killing the yielded process is the closest
    a machine without hardware gets to pulling out a USB microphone. Everything is restored after.
    """
    env = {**os.environ, "PULSE_RUNTIME_PATH": str(folder), "HOME": str(folder)}
    socket = folder / "native"
    daemon = subprocess.Popen(
        [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--use-pid-file=no",
            "--log-level=error",
            "-L",
            f"module-native-protocol-unix socket={socket} auth-anonymous=1",
            "-L",
            f"module-null-sink sink_name={sink}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    saved = {k: os.environ.get(k) for k in ("PULSE_SERVER", "PULSE_SOURCE")}
    clock: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 10
        while not socket.exists():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the private PulseAudio daemon did not start")
            time.sleep(0.05)
        os.environ["PULSE_SERVER"] = f"unix:{socket}"
        os.environ["PULSE_SOURCE"] = f"{sink}.monitor"
        clock = subprocess.Popen(
            ["pacat", "--playback", f"--device={sink}", "--latency-msec=10", "--raw", "/dev/zero"],
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(2.2)  # the sink leaves its 2-second idle chunk (see pulse-setup.sh)
        yield daemon
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if clock is not None:
            clock.kill()
            clock.wait(5)
        if daemon.poll() is None:
            daemon.kill()
        daemon.wait(5)


@contextlib.contextmanager
def pullable_microphone(folder: Path) -> Iterator[dict[str, str]]:
    """A throw-away PulseAudio daemon with three null sinks, for a microphone pulled out:
    PortAudio streams opened inside the block record ``etude_a.monitor`` (the "USB
    microphone"); the default source is ``etude_b.monitor`` (silent: the "laptop microphone"
    the server falls back to) and the default sink ``etude_c``, where players of a sink that
    goes away end up (so ``etude_b`` stays silent). Unloading ``etude_a``'s module is pulling
    the microphone out; loading it again, plugging it back in. Yields the environment to run
    ``pactl``/``pacat`` against that daemon with. Everything is restored afterwards."""
    socket = folder / "native"
    env = {**os.environ, "PULSE_RUNTIME_PATH": str(folder), "HOME": str(folder)}
    daemon = subprocess.Popen(
        [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--use-pid-file=no",
            "--log-level=error",
            "-L",
            f"module-native-protocol-unix socket={socket} auth-anonymous=1",
            "-L",
            "module-null-sink sink_name=etude_b",
            "-L",
            "module-null-sink sink_name=etude_c",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    saved = {k: os.environ.get(k) for k in ("PULSE_SERVER", "PULSE_SOURCE")}
    clock: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 10
        while not socket.exists():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the private PulseAudio daemon did not start")
            time.sleep(0.05)
        pulse_env = {**env, "PULSE_SERVER": f"unix:{socket}"}
        for args in (["set-default-source", "etude_b.monitor"], ["set-default-sink", "etude_c"]):
            subprocess.run(["pactl", *args], env=pulse_env, check=True, capture_output=True)
        plug_in(pulse_env)
        os.environ["PULSE_SERVER"] = pulse_env["PULSE_SERVER"]
        os.environ["PULSE_SOURCE"] = "etude_a.monitor"
        # The fallback source renders every 10 ms too, as a real microphone would.
        clock = subprocess.Popen(
            ["pacat", "--playback", "--device=etude_b", "--latency-msec=10", "--raw", "/dev/zero"],
            env=pulse_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(2.2)  # the sinks leave their 2-second idle chunk (see pulse-setup.sh)
        yield pulse_env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if clock is not None:
            clock.kill()
            clock.wait(5)
        if daemon.poll() is None:
            daemon.kill()
        daemon.wait(5)


def plug_in(pulse_env: dict[str, str]) -> None:
    """(Re)load the null sink ``etude_a``: the microphone of :func:`pullable_microphone`."""
    subprocess.run(
        ["pactl", "load-module", "module-null-sink", "sink_name=etude_a"],
        env=pulse_env,
        check=True,
        capture_output=True,
    )


def pull_out(pulse_env: dict[str, str]) -> None:
    """Unload ``etude_a``'s module: the microphone of :func:`pullable_microphone` is gone."""
    modules = subprocess.run(
        ["pactl", "list", "short", "modules"],
        env=pulse_env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (module,) = [line.split()[0] for line in modules.splitlines() if "sink_name=etude_a" in line]
    subprocess.run(["pactl", "unload-module", module], env=pulse_env, check=True)


def play_tone(
    pulse_env: dict[str, str], folder: Path, sink: str = "etude_a", seconds: float = 60.0
) -> subprocess.Popen[bytes]:
    """Start a steady 440 Hz tone at -6 dBFS into ``sink`` (10 ms buffer); returns the player
    once the sink renders it in real time."""
    import numpy as np

    raw = folder / "tone.f32"
    if not raw.exists():
        t = np.arange(int(seconds * 48000)) / 48000.0
        (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype("<f4").tofile(raw)
    player = subprocess.Popen(
        [
            "pacat",
            "--playback",
            f"--device={sink}",
            "--latency-msec=10",
            "--raw",
            "--format=float32le",
            "--channels=1",
            "--rate=48000",
            str(raw),
        ],
        env=pulse_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(2.2)  # the sink leaves its 2-second idle chunk (see pulse-setup.sh)
    return player
