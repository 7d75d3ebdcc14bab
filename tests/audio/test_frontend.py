"""The front end: hum, rumble, clipping and silence with hum give the notes played and no
phantom (a reported note with no played note within a semitone while it sounds)."""

from __future__ import annotations

import numpy as np
import pytest

from audio.analyzer import StreamAnalyzer
from audio.frontend import FrontEnd, HumDetector, _median, _median_columns
from audio.records import Note
from tests.audio import signals as sg
from tests.audio.test_analysis import run

SR = 44100
# a phrase with leaps, a repeat after a rest, low and high notes (C3 to E5)
PHRASE = [(60.0, 0.5), (64.0, 0.4), (67.0, 0.6), (72.0, 0.5), (76.0, 0.4), (48.0, 0.8), (55.0, 0.6)]


def phantoms(notes: list[Note], truth: list[sg.TruthNote]) -> list[Note]:
    """Reported notes with no played note within a semitone while they sound (a played note
    counted to 0.1 s after its end)."""
    return [
        n
        for n in notes
        if not any(
            abs(n.midi - t.midi) <= 1.0 and n.onset_s < t.offset_s + 0.1 and n.offset_s > t.onset_s
            for t in truth
        )
    ]


def played(x: np.ndarray, truth: list[sg.TruthNote]) -> StreamAnalyzer:
    an = run(x)
    assert phantoms(an.notes, truth) == []
    assert [n.target_midi for n in an.notes] == [round(t.midi) for t in truth]
    for n, t in zip(an.notes, truth, strict=True):
        assert abs(n.onset_s - t.onset_s) < 0.05
    return an


def with_background(x: np.ndarray, background: np.ndarray) -> np.ndarray:
    return np.clip(x + background[: x.size], -1.0, 1.0).astype(np.float32)


@pytest.mark.parametrize(
    ("mains_hz", "odd_only", "level_db"),
    [(50.0, False, -40.0), (50.0, False, -28.0), (60.0, True, -40.0), (60.0, True, -34.0)],
)
def test_a_melody_over_mains_hum_gives_its_notes_and_no_phantom(
    mains_hz: float, odd_only: bool, level_db: float
) -> None:
    x, truth = sg.melody(PHRASE, gap_s=0.12, lead_s=1.5, tail_s=1.0)
    hum = sg.mains_hum(x.size / SR + 0.1, mains_hz, level_db, odd_only=odd_only)
    an = played(with_background(x, hum), truth)
    # the hum was found and its frequency measured
    assert an._front.hum.mains_hz == pytest.approx(mains_hz, abs=0.05)


@pytest.mark.parametrize(("mains_hz", "odd_only"), [(50.0, False), (60.0, True)])
def test_silence_with_hum_gives_no_notes(mains_hz: float, odd_only: bool) -> None:
    # hum from the first sample on, louder than many quiet notes, and a faint noise floor
    x = sg.mains_hum(6.0, mains_hz, -28.0, odd_only=odd_only) + sg.noise(6.0, -80.0)
    an = run(x.astype(np.float32))
    assert an.notes == []
    assert not an.frames.voiced[an.frames.t_s > 1.0].any()


def test_hum_is_removed_by_at_least_30_db_once_found() -> None:
    x = sg.mains_hum(4.0, 50.0, -30.0)
    front = FrontEnd(SR)
    out = np.concatenate([front.process(x[i : i + 256]) for i in range(0, x.size - 255, 256)])
    tail = out[-SR:].astype(np.float64)
    assert 10 * np.log10(np.mean(tail**2)) < -60.0


def test_a_held_note_on_a_hum_harmonic_is_not_taken_for_hum() -> None:
    """A 100 Hz note (G2, 35 cents sharp) has partials on every second harmonic of 50 Hz, held
    steady for 4 s: never at 50 Hz itself nor on two neighbouring harmonics, so no hum."""
    x = sg.tone(43.35, 4.0, amp=0.3, harmonics=8)
    det = HumDetector(SR)
    assert all(det.push(x[i : i + 256]).mains_hz is None for i in range(0, x.size - 255, 256))


def test_a_note_on_a_hum_harmonic_is_still_a_note() -> None:
    """D3 37 cents sharp is 150 Hz, the hum's third harmonic: no louder than the hum, it is
    still reported, because it leaves its own partials when the hum is taken out."""
    x, truth = sg.melody([(60.0, 0.5), (50.37, 0.8), (62.0, 0.5)], gap_s=0.1, lead_s=1.5)
    hum = sg.mains_hum(x.size / SR + 0.1, 50.0, -28.0)
    an = played(with_background(x, hum), truth)
    assert abs(an.notes[1].midi - 50.37) < 0.1


@pytest.mark.parametrize("level_db", [-36.0, -24.0])
def test_a_melody_over_rumble_gives_its_notes_and_no_phantom(level_db: float) -> None:
    x, truth = sg.melody(PHRASE, gap_s=0.12, lead_s=1.5, tail_s=1.0)
    an = played(with_background(x, sg.rumble(x.size / SR + 0.1, level_db)), truth)
    assert an._front.rumble


def test_silence_with_rumble_gives_no_notes() -> None:
    an = run(sg.rumble(6.0, -24.0))
    assert an.notes == []


def test_clipped_input_gives_its_notes_and_no_phantom() -> None:
    x, truth = sg.melody(PHRASE, gap_s=0.12)
    played(np.clip(x / np.max(np.abs(x)) * 10 ** (12 / 20), -1.0, 1.0).astype(np.float32), truth)


def test_far_too_quiet_input_gives_its_notes_and_no_phantom() -> None:
    x, truth = sg.melody(PHRASE, gap_s=0.12)
    quiet = x / np.max(np.abs(x)) * 10 ** (-38 / 20) + sg.noise(x.size / SR, -90.0)[: x.size]
    played(quiet.astype(np.float32), truth)


def test_clean_input_passes_the_front_end_unchanged_but_for_dc() -> None:
    x, _ = sg.melody(PHRASE, gap_s=0.12)
    x = x + np.float32(0.05)  # a DC offset, as cheap interfaces have
    front = FrontEnd(SR)
    out = np.concatenate([front.process(x[i : i + 256]) for i in range(0, x.size - 255, 256)])
    assert not front.rumble and front.hum.mains_hz is None
    # the offset is gone within a tenth of a second; the music keeps its level to 0.1 dB
    assert abs(float(np.mean(out[SR // 2 :]))) < 0.001
    n = (out.size - SR // 2) // 256 * 256
    hops = out[SR // 2 : SR // 2 + n].reshape(-1, 256).astype(np.float64)
    ref = (x[SR // 2 : SR // 2 + n] - np.float32(0.05)).reshape(-1, 256).astype(np.float64)
    loud = np.mean(ref**2, axis=1) > 1e-4
    ratio_db = 10 * np.log10(np.mean(hops[loud] ** 2, axis=1) / np.mean(ref[loud] ** 2, axis=1))
    assert np.all(np.abs(ratio_db) < 0.1)


@pytest.mark.parametrize("sr", [8000, 11025, 16000, 22050, 32000, 96000, 192000])
def test_hum_is_handled_at_every_sample_rate(sr: int) -> None:
    notes = [(60.0, 0.6), (67.0, 0.6), (64.0, 0.6)]
    x, truth = sg.melody(notes, gap_s=0.15, lead_s=1.5, sr=sr)
    hum = sg.mains_hum(x.size / sr + 0.1, 60.0, -34.0, odd_only=True, sr=sr)
    an = run(with_background(x, hum), sr=sr)
    assert [n.target_midi for n in an.notes] == [round(t.midi) for t in truth]
    assert phantoms(an.notes, truth) == []


def test_hum_detector_medians_equal_numpys() -> None:
    """The detector's cheap medians (one array; each column of a block of line frequencies)
    give exactly what np.median gives, for odd and even counts: the hum's measured frequency
    must not move by a bit when they stand in for it."""
    rng = np.random.default_rng(7)
    for rows in range(1, 9):
        for cols in (1, 2, 5, 12):
            block = 50.0 + 0.05 * rng.standard_normal((rows, cols))
            assert np.array_equal(_median_columns(block), np.median(block, axis=0))
            assert _median(block[:, 0].copy()) == float(np.median(block[:, 0]))
