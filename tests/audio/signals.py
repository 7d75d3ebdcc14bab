"""Synthesised test signals with known answers (float32 mono, values in -1..1).

Every generator returns the samples; ``melody`` also returns the truth notes it rendered.
Pitches are MIDI numbers (69 = A4 = 440 Hz unless ``a4_hz`` says otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from audio.analyzer import StreamAnalyzer

SR = 44100
Signal = npt.NDArray[np.float32]


def midi_hz(midi: float, a4_hz: float = 440.0) -> float:
    return float(a4_hz * 2.0 ** ((midi - 69.0) / 12.0))


def silence(dur_s: float, sr: int = SR) -> Signal:
    return np.zeros(round(dur_s * sr), dtype=np.float32)


def noise(dur_s: float, level_db: float = -30.0, sr: int = SR, seed: int = 1) -> Signal:
    """White noise with RMS ``level_db`` dBFS."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(round(dur_s * sr))
    return (x * 10 ** (level_db / 20.0)).astype(np.float32)


def tone(
    midi: float,
    dur_s: float,
    amp: float = 0.3,
    harmonics: int = 6,
    rolloff: float = 0.6,
    vibrato_cents: float = 0.0,
    vibrato_hz: float = 5.5,
    glide_from: float | None = None,
    glide_s: float = 0.0,
    attack_s: float = 0.01,
    release_s: float = 0.02,
    a4_hz: float = 440.0,
    sr: int = SR,
) -> Signal:
    """A harmonic tone: harmonic k has amplitude rolloff**(k-1).

    vibrato_cents: peak deviation of a sinusoidal vibrato. glide_from: MIDI pitch the tone
    slides from over ``glide_s`` seconds before holding ``midi``.
    """
    n = round(dur_s * sr)
    t = np.arange(n) / sr
    pitch = np.full(n, float(midi))
    if glide_from is not None and glide_s > 0:
        g = t < glide_s
        pitch[g] = glide_from + (midi - glide_from) * (t[g] / glide_s)
    if vibrato_cents:
        pitch = pitch + vibrato_cents / 100.0 * np.sin(2 * np.pi * vibrato_hz * t)
    f = a4_hz * 2.0 ** ((pitch - 69.0) / 12.0)
    phase = 2 * np.pi * np.cumsum(f) / sr
    x = np.zeros(n)
    for k in range(1, harmonics + 1):
        x += rolloff ** (k - 1) * np.sin(k * phase)
    x /= np.max(np.abs(x)) or 1.0
    env = np.ones(n)
    a = max(1, int(attack_s * sr))
    r = max(1, int(release_s * sr))
    env[:a] = np.linspace(0.0, 1.0, a)
    env[-r:] = np.minimum(env[-r:], np.linspace(1.0, 0.0, r))
    return (amp * x * env).astype(np.float32)


def clicks(times_s: list[float], dur_s: float, amp: float = 0.8, sr: int = SR) -> Signal:
    """Single-sample clicks followed by a short decaying burst at each time."""
    x = np.zeros(round(dur_s * sr), dtype=np.float32)
    burst = (amp * np.exp(-np.arange(200) / 20.0)).astype(np.float32)
    for t in times_s:
        i = round(t * sr)
        x[i : i + burst.size] += burst[: max(0, x.size - i)]
    return x


@dataclass(frozen=True)
class TruthNote:
    onset_s: float
    offset_s: float
    midi: float


def melody(
    notes: list[tuple[float, float]],
    gap_s: float = 0.0,
    lead_s: float = 0.2,
    tail_s: float = 0.2,
    amp: float = 0.3,
    legato: bool = False,
    sr: int = SR,
    **kw: float,
) -> tuple[Signal, list[TruthNote]]:
    """Render (midi, duration_s) notes one after another.

    gap_s: silence between notes. legato: consecutive notes join with a continuous phase and no
    amplitude dip (no onset spike), as a slurred string or wind line would.
    """
    parts = [silence(lead_s, sr)]
    truth: list[TruthNote] = []
    t = lead_s
    if legato:
        total = sum(d for _, d in notes)
        n = round(total * sr)
        pitch = np.concatenate([np.full(round(d * sr), m) for m, d in notes])[:n]
        f = 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)
        phase = 2 * np.pi * np.cumsum(f) / sr
        x = sum(0.6 ** (k - 1) * np.sin(k * phase) for k in range(1, 6))
        x = x / np.max(np.abs(x))
        env = np.ones(x.size)
        r = int(0.02 * sr)
        env[:r] = np.linspace(0, 1, r)
        env[-r:] = np.linspace(1, 0, r)
        parts.append((amp * x * env).astype(np.float32))
        for m, d in notes:
            truth.append(TruthNote(t, t + d, m))
            t += d
    else:
        for m, d in notes:
            parts.append(tone(m, d, amp=amp, sr=sr, **kw))  # type: ignore[arg-type]
            truth.append(TruthNote(t, t + d, m))
            t += d
            if gap_s:
                parts.append(silence(gap_s, sr))
                t += gap_s
    parts.append(silence(tail_s, sr))
    return np.concatenate(parts).astype(np.float32), truth


def sung(
    pitch: list[tuple[float, float]],
    level: list[tuple[float, float]] | None = None,
    vibrato_cents: float = 0.0,
    vibrato_hz: float = 5.5,
    harmonics: int = 8,
    rolloff: float = 0.7,
    sr: int = SR,
) -> Signal:
    """A sung-like line on one breath: the pitch (MIDI) and the level (dB under full scale,
    peak) follow (time s, value) breakpoints, linearly between them, the phase continuous (no
    attack between notes: a step is where the pitch moves). Starts at 0 s, ends at the last
    pitch breakpoint; ``level`` defaults to 0 dB throughout (amplitude 0.3, fading in and out
    over 20 ms). A voice's harmonics fall off more slowly than a flute's (``rolloff``)."""
    dur = pitch[-1][0]
    n = round(dur * sr)
    t = np.arange(n) / sr
    p = np.interp(t, [a for a, _ in pitch], [b for _, b in pitch])
    if vibrato_cents:
        p = p + vibrato_cents / 100.0 * np.sin(2 * np.pi * vibrato_hz * t)
    phase = 2 * np.pi * np.cumsum(440.0 * 2.0 ** ((p - 69.0) / 12.0)) / sr
    x = sum(rolloff ** (k - 1) * np.sin(k * phase) for k in range(1, harmonics + 1))
    x = x / np.max(np.abs(x))
    db = np.interp(t, [a for a, _ in level], [b for _, b in level]) if level else np.zeros(n)
    env = 10.0 ** (db / 20.0) * np.clip(np.minimum(t, dur - t) / 0.02, 0.0, 1.0)
    return (0.3 * x * env).astype(np.float32)


def write_wav(path: str, x: Signal, sr: int = SR) -> str:
    import soundfile as sf

    sf.write(path, x, sr, subtype="PCM_16")
    return path


def mains_hum(
    dur_s: float,
    mains_hz: float = 50.0,
    level_db: float = -34.0,
    odd_only: bool = False,
    drift_hz: float = 0.03,
    sr: int = SR,
    seed: int = 1,
) -> Signal:
    """Mains hum at ``level_db`` dBFS RMS: harmonics of ``mains_hz`` (all to the 8th falling as
    1/k, or with ``odd_only`` the odd ones to the 11th, a ground-loop buzz), the frequency
    drifting slowly by up to ``drift_hz`` as a grid's does."""
    gains = (
        {1: 1.0, 3: 0.6, 5: 0.4, 7: 0.3, 9: 0.2, 11: 0.15}
        if odd_only
        else {k: 1.0 / k for k in range(1, 9)}
    )
    rng = np.random.default_rng(seed)
    n = round(dur_s * sr)
    t = np.arange(n) / sr
    drift = drift_hz * np.sin(2 * np.pi * 0.05 * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(mains_hz + drift) / sr
    y = np.zeros(n)
    for k, g in gains.items():
        if k * mains_hz < sr / 2:
            y += g * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    return (y * 10 ** (level_db / 20.0) / np.sqrt(np.mean(y**2))).astype(np.float32)


def rumble(
    dur_s: float, level_db: float = -30.0, thump_every_s: float = 3.0, sr: int = SR, seed: int = 1
) -> Signal:
    """Rumble: noise below 40 Hz (4th-order low-pass) at ``level_db`` dBFS RMS, with a handling
    thump (one 12-25 Hz cycle, peak 0.15) about every ``thump_every_s`` seconds."""
    import scipy.signal as sps

    rng = np.random.default_rng(seed)
    n = round(dur_s * sr)
    sos = sps.butter(4, 40.0, "low", fs=sr, output="sos")
    r = sps.sosfilt(sos, rng.standard_normal(n + sr))[sr:]
    r *= 10 ** (level_db / 20.0) / float(np.sqrt(np.mean(r**2)))
    t = rng.uniform(0.5, thump_every_s)
    while t < dur_s - 0.2:
        f = rng.uniform(12.0, 25.0)
        m = int(sr / f)
        a = int(t * sr)
        bump = 0.15 * np.sin(2 * np.pi * np.arange(m) / m) * np.hanning(m)
        r[a : a + m] += bump[: r.size - a]
        t += rng.uniform(2.0 / 3.0, 4.0 / 3.0) * thump_every_s
    return r.astype(np.float32)


def analyse(x: Signal, sr: int = SR, noise_db: float | None = None) -> StreamAnalyzer:
    """``x`` through Etude's StreamAnalyzer hop by hop, as live input goes (zero-padded to whole
    hops), with a faint noise floor at ``noise_db`` dBFS added first when given; returns the
    finished analyzer (its notes, frames, onsets)."""
    if noise_db is not None:
        x = x + noise(x.size / sr, noise_db, sr=sr)[: x.size]
    an = StreamAnalyzer(sr)
    h = an.hop_samples
    x = np.concatenate([x, np.zeros((-x.size) % h, dtype=np.float32)]).astype(np.float32)
    for i in range(0, x.size, h):
        an.process(x[i : i + h], 0.0)
    an.finish(0.0)
    return an
