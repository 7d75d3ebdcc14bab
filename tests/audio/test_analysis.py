"""The streaming analyzer on synthesised signals with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.signal as sps
import soundfile as sf

from audio.analyzer import StreamAnalyzer
from audio.records import Note, Onset, PitchFrame
from audio.settings import AnalysisSettings
from tests.audio import gm
from tests.audio import signals as sg
from tests.conftest import need

SR = sg.SR


def run(x: np.ndarray, settings: AnalysisSettings | None = None, sr: int = SR) -> StreamAnalyzer:
    an = StreamAnalyzer(sr, settings or AnalysisSettings())
    h = an.hop_samples
    pad = (-x.size) % h
    x = np.concatenate([x, np.zeros(pad, dtype=np.float32)]).astype(np.float32)
    for i in range(0, x.size, h):
        an.process(x[i : i + h], float(i))
    an.finish(float(x.size))
    return an


def test_pure_sine_is_one_in_tune_note() -> None:
    x = np.concatenate([sg.silence(0.2), sg.tone(69, 1.0, harmonics=1), sg.silence(0.2)])
    an = run(x)
    assert len(an.notes) == 1
    n = an.notes[0]
    assert n.target_midi == 69
    assert abs(n.cents) < 1.0
    assert abs(n.onset_s - 0.2) < 0.03
    assert abs(n.offset_s - 1.2) < 0.06
    voiced = an.frames.f0_hz[an.frames.voiced]
    assert np.all(np.abs(1200 * np.log2(voiced / 440.0)) < 5.0)


@pytest.mark.parametrize("hop", [200, 160])
def test_a_hop_that_does_not_divide_half_the_window_reads_the_note(hop: int) -> None:
    """The level gate reads the hop at the window's centre; when half the window is not a
    whole number of hops it is measured from the window itself."""
    x = np.concatenate([sg.silence(0.2), sg.tone(69, 1.0), sg.silence(0.2)])
    an = run(x, AnalysisSettings(hop_samples=hop))
    assert [n.target_midi for n in an.notes] == [69]
    assert abs(an.notes[0].cents) < 2.0 and abs(an.notes[0].onset_s - 0.2) < 0.03


def test_detuned_harmonic_tones_report_their_cents() -> None:
    notes = [(60.2, 0.5), (66.0 - 0.18, 0.5), (79.35, 0.5), (45.0, 0.6)]
    x, truth = sg.melody(notes, gap_s=0.15)
    an = run(x)
    assert [n.target_midi for n in an.notes] == [60, 66, 79, 45]
    for got, want in zip(an.notes, [20.0, -18.0, 35.0, 0.0], strict=True):
        assert got.cents == pytest.approx(want, abs=2.0)
    for got, t in zip(an.notes, truth, strict=True):
        assert abs(got.onset_s - t.onset_s) < 0.03


def test_a4_setting_moves_the_targets() -> None:
    x = np.concatenate([sg.tone(69, 0.6, a4_hz=442.0), sg.silence(0.1)])
    an = run(x, AnalysisSettings(a4_hz=442.0))
    assert len(an.notes) == 1
    assert abs(an.notes[0].cents) < 1.5
    plain = run(x)
    assert plain.notes[0].cents == pytest.approx(7.85, abs=1.5)  # 442 Hz is 7.85 c above 440


def test_vibrato_does_not_split_and_keeps_the_centre_pitch() -> None:
    x = np.concatenate([sg.silence(0.1), sg.tone(67, 1.5, vibrato_cents=45.0), sg.silence(0.1)])
    an = run(x)
    assert len(an.notes) == 1
    assert an.notes[0].target_midi == 67
    assert abs(an.notes[0].cents) < 6.0


def test_slide_into_a_note_is_one_note_at_the_arrival_pitch() -> None:
    x = np.concatenate(
        [sg.silence(0.1), sg.tone(64, 0.8, glide_from=63.0, glide_s=0.12), sg.silence(0.1)]
    )
    an = run(x)
    assert len(an.notes) == 1
    assert an.notes[0].target_midi == 64
    assert abs(an.notes[0].cents) < 5.0


def test_legato_line_splits_on_lasting_pitch_changes() -> None:
    x, truth = sg.melody([(62, 0.4), (64, 0.4), (65, 0.3), (64, 0.4), (60, 0.5)], legato=True)
    an = run(x)
    assert [n.target_midi for n in an.notes] == [62, 64, 65, 64, 60]
    for got, t in zip(an.notes, truth, strict=True):
        assert abs(got.onset_s - t.onset_s) < 0.05


def test_repeated_notes_split_on_onsets() -> None:
    # Re-attacks of one pitch with only a short dip between them: no pitch change at all.
    parts = [sg.silence(0.2)]
    for _ in range(4):
        parts.append(sg.tone(57, 0.35, attack_s=0.005, release_s=0.01))
    parts.append(sg.silence(0.2))
    an = run(np.concatenate(parts))
    assert [n.target_midi for n in an.notes] == [57, 57, 57, 57]
    for k, n in enumerate(an.notes):
        assert abs(n.onset_s - (0.2 + 0.35 * k)) < 0.04


def test_short_octave_jump_is_folded_back() -> None:
    base = sg.tone(55, 0.5, release_s=0.0)
    blip = sg.tone(67, 0.05, attack_s=0.0, release_s=0.0)
    rest = sg.tone(55, 0.5, attack_s=0.0)
    an = run(np.concatenate([sg.silence(0.1), base, blip, rest, sg.silence(0.1)]))
    assert [n.target_midi for n in an.notes] == [55]


def test_lasting_octave_change_is_a_new_note() -> None:
    x, _ = sg.melody([(55, 0.5), (67, 0.5)], legato=True)
    an = run(x)
    assert [n.target_midi for n in an.notes] == [55, 67]


def test_frames_stay_voiced_until_the_sound_stops() -> None:
    # A frame describes its window's centre: a tone that stops dead (digital silence after it)
    # still sounds there for half a window, so frames up to its end are voiced and in tune.
    x = np.concatenate([sg.silence(0.3), sg.tone(67, 0.6, amp=0.3), sg.silence(0.3)])
    an = run(x)
    t, f0 = an.frames.t_s, an.frames.f0_hz
    inside = (t >= 0.33) & (t <= 0.9 - 0.006)
    assert inside.sum() > 90
    assert np.all(f0[inside] > 0.0), t[inside & (f0 <= 0.0)]
    # the last frames' correlation reaches into the silence: a few cents of bias, no more
    settled = (t >= 0.33) & (t <= 0.9 - 0.012)
    cents = 1200 * np.log2(f0[settled] / (440.0 * 2 ** (-2 / 12)))
    assert np.all(np.abs(cents) < 10.0)
    end_cents = 1200 * np.log2(f0[inside & ~settled] / (440.0 * 2 ** (-2 / 12)))
    assert np.all(np.abs(end_cents) < 25.0)
    after = t >= 0.9 + 0.03
    assert not an.frames.voiced[after].any()


def test_silence_gives_no_notes_and_unvoiced_frames() -> None:
    an = run(sg.silence(1.0))
    assert an.notes == [] and an.onsets == []
    assert not an.frames.voiced.any()
    assert len(an.frames) == SR // an.hop_samples + 1


def test_noise_gives_no_notes() -> None:
    an = run(sg.noise(1.5, level_db=-20.0))
    assert an.notes == []
    assert an.frames.voiced.mean() < 0.02


def test_clicks_are_not_notes() -> None:
    an = run(sg.clicks([0.2, 0.5, 0.8, 1.1], 1.4))
    assert an.notes == []


def test_clipped_tone_keeps_its_pitch() -> None:
    x = np.clip(sg.tone(57, 0.8, amp=3.0), -1.0, 1.0)
    an = run(np.concatenate([sg.silence(0.1), x, sg.silence(0.1)]))
    assert len(an.notes) == 1
    assert an.notes[0].target_midi == 57
    assert abs(an.notes[0].cents) < 3.0


def test_quiet_release_tail_is_not_an_extra_note() -> None:
    # A loud note, then a long soft tail slightly flat (as a string settling): one note.
    loud = sg.tone(64, 0.5, release_s=0.0)
    tail = sg.tone(63.9, 0.3, amp=0.01, attack_s=0.0)
    an = run(np.concatenate([sg.silence(0.1), loud, tail, sg.silence(0.1)]))
    assert [n.target_midi for n in an.notes] == [64]


def test_process_returns_frame_first_then_onsets_and_notes() -> None:
    x, _ = sg.melody([(60, 0.3), (64, 0.3)], gap_s=0.1)
    an = StreamAnalyzer(SR)
    h = an.hop_samples
    records: list[object] = []
    for i in range(0, x.size - h + 1, h):
        out = an.process(x[i : i + h], 123.0 + i)
        assert isinstance(out[0], PitchFrame)
        assert all(isinstance(r, Onset | Note) for r in out[1:])
        assert out[0].capture_time_s == 123.0 + i
        records += out
    records += an.finish(0.0)
    notes = [r for r in records if isinstance(r, Note)]
    onsets = [r for r in records if isinstance(r, Onset)]
    assert [n.target_midi for n in notes] == [60, 64]
    assert len(onsets) == 2
    assert notes == an.notes


def test_analysis_is_causal() -> None:
    """Frames and notes published for a prefix do not change when more audio follows."""
    x, _ = sg.melody([(60, 0.4), (67, 0.4), (64, 0.4)], gap_s=0.05)
    cut = (x.size // 2) // 256 * 256
    full = run(x)
    part = StreamAnalyzer(SR)
    for i in range(0, cut, 256):
        part.process(x[i : i + 256], float(i))
    n = len(part.frames)
    assert np.array_equal(part.frames.f0_hz, full.frames.f0_hz[:n])
    assert part.notes == full.notes[: len(part.notes)]


def test_delay_and_hop_are_reported() -> None:
    an = StreamAnalyzer(48000)
    assert an.hop_samples <= 256
    assert an.delay_s == pytest.approx(2048 / 2 / 48000)
    with pytest.raises(ValueError, match="hop must be 256 samples"):
        an.process(np.zeros(100, dtype=np.float32), 0.0)


@pytest.mark.parametrize("sr", [44100, 48000])
def test_low_notes_read_in_tune(sr: int) -> None:
    """yinfft reads long periods short: C2 (65 Hz) came out 11-23 cents sharp, A1 more."""
    notes = [33, 35, 36, 38, 40, 43]
    parts = [sg.silence(0.2, sr=sr)]
    for m in notes:
        parts += [sg.tone(m, 0.8, harmonics=8, rolloff=0.5, sr=sr), sg.silence(0.15, sr=sr)]
    an = run(np.concatenate(parts), sr=sr)
    assert [n.target_midi for n in an.notes] == notes
    assert max(abs(n.cents) for n in an.notes) < 3.0


@pytest.mark.parametrize("sr", [88200, 96000, 192000])
def test_high_sample_rates_are_analysed_like_44_and_48_khz(sr: int) -> None:
    """Audio recorded at 88.2-192 kHz is downsampled first: the 2048-sample window would last
    only 10-23 ms there and lose every note below 94 Hz (at 192 kHz, C2 and E2 came out as a
    string of notes near C6, and G2 and C3 gave none)."""
    base = 44100 if sr % 44100 == 0 else 48000
    melody = [36, 40, 43, 48, 55, 69, 84]

    def analyse(rate: int) -> StreamAnalyzer:
        parts = [sg.silence(0.2, sr=rate)]
        for m in melody:
            parts += [sg.tone(m, 0.6, sr=rate), sg.silence(0.1, sr=rate)]
        return run(np.concatenate(parts), sr=rate)

    high, ref = analyse(sr), analyse(base)
    assert high.analysis_rate == base
    assert high.hop_samples == 256 * sr // base
    assert [n.target_midi for n in high.notes] == melody
    for a, b in zip(high.notes, ref.notes, strict=True):
        assert abs(a.cents - b.cents) < 1.0
        assert abs(a.onset_s - b.onset_s) < 256 / base + 0.001  # a hop
        assert abs(a.offset_s - b.offset_s) < 0.01
    # Frames are reported once per analysed hop, on the same time axis.
    assert abs(len(high.frames) - len(ref.frames)) <= 1
    assert np.allclose(high.frames.t_s[:50], ref.frames.t_s[:50], atol=0.001)


@pytest.mark.parametrize("factor", [2, 4])
def test_the_downsampler_keeps_the_music_and_removes_what_would_alias(factor: int) -> None:
    from audio.analyzer import Decimator

    sr = 48000 * factor
    t = np.arange(sr) / sr

    def gain_db(freq: float) -> float:
        dec = Decimator(factor)
        x = np.sin(2 * np.pi * freq * t).astype(np.float32)
        y = np.concatenate([dec.process(x[i : i + 1024]) for i in range(0, sr, 1024)])
        assert y.size == sr // factor
        return float(20 * np.log10(np.sqrt(2 * np.mean(y[1000:] ** 2)) + 1e-12))

    for freq in (100.0, 1000.0, 8000.0, 16000.0):
        assert abs(gain_db(freq)) < 0.1
    for freq in (26000.0, 30000.0, 40000.0):  # would fold back to 22, 18 and 8 kHz
        assert gain_db(freq) < -70.0


def test_frame_track_reads_back_as_pitch_frames() -> None:
    an = run(np.concatenate([sg.silence(0.1), sg.tone(69, 0.3)]))
    frames = list(an.frames)
    assert len(frames) == len(an.frames)
    voiced = [f for f in frames if f.voiced]
    assert voiced and all(f.target_midi == 69 and f.cents is not None for f in voiced)
    assert all(f.midi is None and f.f0_hz == 0.0 for f in frames if not f.voiced)
    assert an.frames[-1] == frames[-1]


def _track(frames: list[tuple[float, float | None]]) -> list[Note]:
    """Feed (duration_s, midi or None) runs of frames straight into the note tracker, at
    -20 dB where voiced and -90 dB where not; returns the notes it published."""
    return _track_levels(
        [(d, m, -20.0, -20.0) if m is not None else (d, m, -90.0, -90.0) for d, m in frames]
    )


def test_subharmonic_frames_in_a_legato_change_become_the_new_note() -> None:
    # 76 -> 80 where the detector reads five periods (52.14) for 60 ms during the crossfade
    notes = _track([(0.1, None), (0.5, 76.0), (0.06, 80.0 - 27.86), (0.4, 80.0), (0.1, None)])
    assert [n.target_midi for n in notes] == [76, 80]
    assert notes[1].onset_s == pytest.approx(0.6, abs=0.02)


def test_short_subharmonic_note_after_a_break_merges_into_the_next() -> None:
    notes = _track(
        [(0.1, None), (0.4, 64.0), (0.05, None), (0.09, 72.0 - 19.02), (0.04, None), (0.4, 72.0)]
    )
    assert [n.target_midi for n in notes] == [64, 72]
    assert notes[1].onset_s == pytest.approx(0.55, abs=0.02)


def test_a_cross_fade_misread_an_octave_under_both_notes_is_the_next_notes_attack() -> None:
    # 67 -> 73 where, for 0.2 s of the cross-fade, the detector reads 55: an octave under the
    # old note (its period doubled) and 18 semitones under the new one. One change, no 55.
    notes = _track([(0.1, None), (0.5, 67.0), (0.2, 55.0), (0.5, 73.0), (0.1, None)])
    assert [n.target_midi for n in notes] == [67, 73]
    assert notes[1].onset_s == pytest.approx(0.6, abs=0.02)


@pytest.mark.parametrize(
    ("low", "dur"),
    [(53.0, 0.2), (55.0, 0.6)],
    ids=["no harmonic of either neighbour", "longer than a cross-fade"],
)
def test_a_low_note_between_two_higher_ones_stays_a_note(low: float, dur: float) -> None:
    notes = _track([(0.1, None), (0.5, 67.0), (dur, low), (0.5, 73.0), (0.1, None)])
    assert [n.target_midi for n in notes] == [67, round(low), 73]


def test_a_short_high_note_between_silences_stays_a_note() -> None:
    # A twelfth over the note after it and 21 semitones over the one before, 0.4 s long, but
    # with silence either side: its own note, not a cross-fade's misreading.
    notes = _track([(0.1, None), (0.5, 56.0), (0.05, None), (0.4, 77.0), (0.05, None), (0.5, 58.0)])
    assert [n.target_midi for n in notes] == [56, 77, 58]


@pytest.mark.parametrize("seed", [1, 2, 7])
def test_a_legato_change_in_a_reverberant_room_gives_no_subharmonic_note(
    tmp_path: Path, seed: int
) -> None:
    """FluidR3 cello 56 -> 62 -> 64 legato in a room (RT60 0.9 s): while the room holds 56
    under the new 62, the detector read 43.9 (56's period doubled) for 0.13-0.28 s, a note
    nobody played, before the 62."""
    need(
        gm.available(),
        "fluidsynth and the FluidR3 soundfont (apt-get install fluidsynth fluid-soundfont-gm)",
    )
    from tests.bench.rooms import reverb_ir

    line = [(0.2, 0.9, 56, -4.0, 90), (0.93, 1.66, 62, -8.0, 90), (1.7, 2.4, 64, 0.0, 90)]
    dry = _render_gm(tmp_path, line, program=42).astype(np.float64)
    wet = sps.fftconvolve(dry, reverb_ir(0.9, 0.0, seed)).astype(np.float32)
    an = run(wet)
    assert [n.target_midi for n in an.notes] == [56, 62, 64]
    assert an.notes[1].onset_s == pytest.approx(0.93, abs=0.15)


def test_subharmonic_attack_dated_back_over_a_break_still_takes_the_next_pitch() -> None:
    # A sung note roughens for 60 ms (unvoiced, the level held), voicing returns an octave
    # low for 80 ms (the detector locked onto twice the period), then on the note again. The
    # low fragment's onset is dated back over the break to an aubio onset inside the first
    # note (the rejoin rule), 0.17 s before the pitch returns; it is still only 80 ms of
    # subharmonic frames: the next note's attack, not a note an octave under it.
    notes = _track_levels(
        [
            (0.1, None, -90.0, -90.0),
            (0.15, 58.0, -20.0, -20.0),
            (0.06, None, -22.0, -22.0),
            (0.08, 46.0, -20.0, -20.0),
            (0.012, None, -21.0, -21.0),
            (0.4, 58.0, -20.0, -20.0),
            (0.1, None, -90.0, -90.0),
        ],
        onsets_s=(0.1, 0.23),
    )
    assert [n.target_midi for n in notes] == [58, 58]
    assert notes[1].offset_s == pytest.approx(0.8, abs=0.01)


@pytest.mark.parametrize(("bend", "new", "glide_s"), [(61.5, 57, 0.03), (58.5, 64, 0.03)])
def test_a_sung_release_bending_away_is_neither_note(bend: float, new: int, glide_s: float) -> None:
    # A singer holds C4, bends 1.5 semitones AWAY from the next note as she lets it go (60 ms
    # there, 40 ms held), then moves to the next note in 30 ms, on one breath. The bend is
    # the old note's release: no note of its own, not the start of the new note (which starts
    # where the move towards it begins), and not in the old note's pitch. (A second of room
    # first: until the hum detector has heard the room, pitches near 4 x 60 Hz are doubted.)
    x = sg.sung([(0, 60), (0.6, 60), (0.66, bend), (0.7, bend), (0.7 + glide_s, new), (1.3, new)])
    an = sg.analyse(np.concatenate([sg.silence(1.0), x, sg.silence(0.2)]), noise_db=-70.0)
    assert [n.target_midi for n in an.notes] == [60, new]
    assert abs(an.notes[0].cents) < 5.0
    assert an.notes[1].onset_s == pytest.approx(1.0 + 0.7, abs=0.025)


def test_a_release_bend_and_a_break_before_the_next_note_start_neither_note() -> None:
    # The frames of a sung change as SSVD's singers make it: the old note (50.5) bends up 2.7
    # semitones over 0.11 s as it is let go, voicing breaks for 23 ms with the level held, and
    # the new note (46) is reached by a glide down from 47.7. The new note starts after the
    # break, not where the bend began.
    def ramp(a: float, b: float, dur: float) -> list[tuple[float, float | None, float, float]]:
        return [(dur / 10, a + (b - a) * (k + 0.5) / 10, -20.0, -20.0) for k in range(10)]

    notes = _track_levels(
        [
            (0.1, None, -90.0, -90.0),
            (0.35, 50.5, -20.0, -20.0),
            *ramp(50.6, 53.2, 0.11),
            (0.023, None, -25.0, -25.0),
            *ramp(47.7, 46.0, 0.07),
            (0.3, 46.0, -20.0, -20.0),
            (0.1, None, -90.0, -90.0),
        ]
    )
    assert [n.target_midi for n in notes] == [50, 46]  # 50.5 rounds to even
    assert notes[1].onset_s == pytest.approx(0.583, abs=0.01)


@pytest.mark.parametrize("attack", [True, False])
def test_a_new_syllable_during_a_sung_glide_starts_the_new_note(attack: bool) -> None:
    # D4 held, then the voice falls towards B3 for 80 ms, 8 dB softer, before the next
    # syllable's vowel comes in 10 dB louder (at 0.68 s) and settles on B3. The new note is
    # sung from that attack, not from where D4 began to fall (the fall is D4's release).
    # Without the attack (one slurred glide) the new note starts where the pitch moved.
    level = [(0, 0), (0.6, 0), (0.66, -8), (0.68, -8), (0.69, 2), (1.3, 0)] if attack else None
    pitch = [(0, 62), (0.6, 62), (0.68, 60.5), (0.7, 59.6), (0.75, 59), (1.3, 59)]
    x = sg.sung(pitch, level)
    an = sg.analyse(np.concatenate([sg.silence(1.0), x, sg.silence(0.2)]), noise_db=-70.0)
    assert [n.target_midi for n in an.notes] == [62, 59]
    assert an.notes[1].onset_s == pytest.approx(1.0 + (0.68 if attack else 0.6), abs=0.02)


@pytest.mark.parametrize("k", range(8, 18))
def test_one_stray_frame_in_a_legato_change_is_no_release(k: int) -> None:
    # 60 -> 57 with one frame read at 62 (beyond 60, away from 57) after k frames of the new
    # pitch: wherever it falls, in the frames the split reads as settled or before them, it
    # neither moves the new note's start nor breaks the split.
    hop = 256 / SR
    notes = _track_levels(
        [
            (0.1, None, -90.0, -90.0),
            (0.3, 60.0, -20.0, -20.0),
            (k * hop, 57.0, -20.0, -20.0),
            (hop, 62.0, -20.0, -20.0),
            (0.2, 57.0, -20.0, -20.0),
        ]
    )
    assert [n.target_midi for n in notes] == [60, 57]
    assert notes[1].onset_s == pytest.approx(0.4, abs=0.01)


@pytest.mark.parametrize("midi", [40, 42, 45])
def test_low_note_level_flutter_is_not_a_reattack(midi: int) -> None:
    # A 6 ms hop is shorter than the period of a low, bright tone (82-110 Hz), so the hop RMS
    # swings by several dB with the waveform; only the envelope over a period may count.
    x = np.concatenate(
        [sg.silence(0.2), sg.tone(midi, 1.5, harmonics=12, rolloff=0.9), sg.silence(0.2)]
    )
    an = run(x)
    assert [n.target_midi for n in an.notes] == [midi]
    assert an.notes[0].onset_s == pytest.approx(0.2, abs=0.03)


def test_ensemble_swells_are_not_reattacks() -> None:
    # Voices beating: the level dips 5 dB and swells 3 dB over it four times a second. The
    # swell climbs 8 dB in 15 ms, enough for a re-attack, but the dip never falls far under
    # the level the note held.
    base = sg.tone(57, 2.0)
    phase = (np.arange(base.size) / SR % 0.25) / 0.25
    gain_db = np.interp(phase, [0.0, 0.4, 0.5, 0.56, 0.7, 1.0], [0.0, 0.0, -5.0, 3.0, 0.0, 0.0])
    swelling = (base * 10.0 ** (gain_db / 20.0)).astype(np.float32)
    an = run(np.concatenate([sg.silence(0.2), swelling, sg.silence(0.2)]))
    assert [n.target_midi for n in an.notes] == [57]


@pytest.mark.parametrize(("away", "new"), [(60.3, 57), (59.7, 64)])
def test_legato_change_starts_where_the_old_pitch_began_to_move(away: float, new: int) -> None:
    # Before the change the old note wavers 30 cents AWAY from the new pitch for 50 ms (a
    # finger or bow disturbing it): the new note starts there, not where its pitch settled.
    x, truth = sg.melody([(60, 0.5), (away, 0.05), (new, 0.5)], legato=True)
    an = run(x)
    assert [n.target_midi for n in an.notes] == [60, new]
    assert an.notes[1].onset_s == pytest.approx(truth[1].onset_s, abs=0.015)


def test_repeat_after_a_long_fade_splits_without_a_dip() -> None:
    # A note fades 30 dB over 0.8 s, then the same pitch is attacked again at full level: the
    # level climbs straight out of the faded tail, with no V-shaped dip before it.
    first = sg.tone(72, 0.8, release_s=0.0)
    first = (first * np.geomspace(1.0, 10 ** (-30 / 20), first.size)).astype(np.float32)
    second = sg.tone(72, 0.6, attack_s=0.005)
    x = np.concatenate([sg.silence(0.2), first, second, sg.silence(0.2)])
    an = run(x + sg.noise(x.size / SR, level_db=-70.0))
    assert [n.target_midi for n in an.notes] == [72, 72]
    assert an.notes[1].onset_s == pytest.approx(1.0, abs=0.03)


def _track_levels(
    frames: list[tuple[float, float | None, float, float]], onsets_s: tuple[float, ...] = ()
) -> list[Note]:
    """Feed (duration_s, midi or None, level_db at start, level_db at end) runs of frames
    straight into the note tracker, the level moving linearly, with an aubio onset reported at
    each of ``onsets_s`` (on the first frame at or after it); returns the notes."""
    from audio.tracking import NoteTracker

    hop_s = 256 / SR
    tracker = NoteTracker(hop_s)
    t = 0.0
    notes: list[Note] = []
    events = []
    pending = sorted(onsets_s)
    for dur, midi, lv0, lv1 in frames:
        n = round(dur / hop_s)
        for k in range(n):
            onset = pending.pop(0) if pending and pending[0] <= t + 1e-9 else None
            events += tracker.push(t, midi, lv0 + (lv1 - lv0) * k / n, t, onset, 0.0)
            t += hop_s
    events += tracker.finish(0.0)
    for ev in events:
        if ev.note is not None:
            m = ev.note
            notes.append(Note(m.onset_s, m.offset_s, m.midi, round(m.midi), 0.0, -20.0, 0.0))
    return notes


def test_a_scoop_into_a_note_is_part_of_it() -> None:
    # A sung note starts with an onset and scoops up from 3 semitones below for 80 ms before
    # it settles. The pitch change begins at the note's own onset: one note, at the settled
    # pitch and from that onset (not a scoop note and a second note sharing its onset).
    notes = _track_levels(
        [
            (0.2, None, -90.0, -90.0),
            (0.08, 60.0, -40.0, -30.0),
            (0.5, 63.0, -30.0, -30.0),
            (0.2, None, -90.0, -90.0),
        ],
        onsets_s=(0.2,),
    )
    assert [n.target_midi for n in notes] == [63]
    assert notes[0].onset_s == pytest.approx(0.2, abs=0.01)


def test_repeat_out_of_a_tail_resting_on_the_noise_floor_splits() -> None:
    # A sung note fades onto the room's noise floor and rests there, still voiced, for 0.1 s
    # (drifting up by under 1 dB); then the same pitch is sung again, and aubio reports the
    # onset as the level leaves the floor. The climb is measured from the end of the floor,
    # not from its quietest hop 0.1 s earlier.
    notes = _track_levels(
        [
            (0.1, None, -90.0, -90.0),
            (0.6, 72.0, -25.0, -25.0),
            (0.3, 72.0, -25.0, -48.0),
            (0.1, 72.0, -48.6, -47.8),
            (0.03, 72.0, -40.0, -24.0),
            (0.5, 72.0, -24.0, -24.0),
        ],
        onsets_s=(1.1,),
    )
    assert [n.target_midi for n in notes] == [72, 72]
    assert notes[1].onset_s == pytest.approx(1.1, abs=0.02)


def test_note_after_a_tail_faded_into_noise_starts_at_its_own_rise() -> None:
    # A note held at -35 dB fades into background noise at -48 dB, still read as voiced; after
    # 80 ms of noise alone the next note rises. The break did not come from the new note's
    # attack (the sound had fallen away from the old note), so the new note starts where its
    # level rose, not back at the old note's end.
    notes = _track_levels(
        [
            (0.1, None, -90.0, -90.0),
            (1.0, 56.0, -35.0, -35.0),
            (0.25, 56.0, -35.0, -48.0),
            (0.08, None, -48.5, -48.5),
            (0.03, None, -48.0, -44.0),
            (0.5, 61.0, -44.0, -30.0),
        ]
    )
    assert [n.target_midi for n in notes] == [56, 61]
    assert notes[1].onset_s == pytest.approx(1.43, abs=0.03)


@pytest.mark.parametrize(
    ("pitches", "velocities"),
    [((50, 47, 45, 43, 47, 50), (100, 60, 90, 60, 100, 60)), ((45, 48, 52, 50, 47, 45), (80,) * 6)],
)
def test_slurred_cello_notes_start_when_they_enter_under_the_old_one(
    tmp_path: Path, pitches: tuple[int, ...], velocities: tuple[int, ...]
) -> None:
    # A real sampled cello (FluidR3 through fluidsynth), slurred: each note begins 5 ms after
    # the previous one ends. The old note's release rings on at its own pitch, louder than the
    # new note's bow attack, for 50-150 ms, so the frames change pitch late; the old note's
    # periodicity falls as soon as the new one enters, and that dates the change.
    need(gm.available(), "fluidsynth and fluid-soundfont-gm (apt-get install both)")
    truth = [(0.3 + 0.7 * i, 0.3 + 0.7 * i + 0.695) for i in range(len(pitches))]
    notes = [
        (on, off, p, 0.0, v) for (on, off), p, v in zip(truth, pitches, velocities, strict=True)
    ]
    an = run(_render_gm(tmp_path, notes, program=42))
    assert [n.target_midi for n in an.notes] == list(pitches)
    late = [n.onset_s - on for n, (on, _) in zip(an.notes, truth, strict=True)]
    assert max(abs(d) for d in late) <= 0.1, late
    assert float(np.median(np.abs(late[1:]))) <= 0.04, late


@pytest.mark.parametrize(
    ("program", "pitches", "gap_s"),
    [
        (73, (70, 73, 68, 63, 68, 67, 70), 0.13),  # flute
        (0, (60, 64, 67, 72, 67, 64, 60), 0.13),  # piano
        (56, (71, 76, 73, 74, 73, 79, 76, 79), 0.08),  # trumpet
        (71, (64, 67, 71, 69, 67, 72, 71, 67), 0.05),  # clarinet
    ],
)
def test_detached_notes_in_noise_start_at_their_own_attack(
    tmp_path: Path, program: int, pitches: tuple[int, ...], gap_s: float
) -> None:
    # Real sampled instruments, a short silence between notes, background noise 15 dB under
    # the music. Each tail keeps its pitch while it sinks into the noise and loses periodicity
    # on the way: that is no second note entering under the old one (the tail lies near the
    # noise floor, or the next note climbs in its own attack), so each note starts at its
    # attack, not back where the tail began to fade.
    need(gm.available(), "fluidsynth and fluid-soundfont-gm (apt-get install both)")
    truth = [0.3 + 0.6 * i for i in range(len(pitches))]
    notes = [(on, on + 0.6 - gap_s, p, 0.0, 90) for on, p in zip(truth, pitches, strict=True)]
    x = _render_gm(tmp_path, notes, program)
    rms = float(np.sqrt(np.mean(x[np.abs(x) > 1e-4] ** 2)))
    noise = np.random.default_rng(1).standard_normal(x.size) * rms * 10 ** (-15 / 20)
    an = run((x + noise).astype(np.float32))
    assert [n.target_midi for n in an.notes] == list(pitches)
    off = [n.onset_s - on for n, on in zip(an.notes, truth, strict=True)]
    assert max(abs(d) for d in off) <= 0.05, off


def test_a_cellos_open_c_is_read_as_c2_not_its_third_partial(tmp_path: Path) -> None:
    """FluidR3's cello C2 has so weak a fundamental that yinfft, which weights its spectrum
    like the ear, reads the third partial (G3) for most of the note: the note came out as a
    short C2 and then G3. The signal correlates at 0.99 over the true period."""
    need(
        gm.available(),
        "fluidsynth and the FluidR3 soundfont (apt-get install fluidsynth fluid-soundfont-gm)",
    )
    notes = [(0.2, 1.4, 36, 0.0, 100), (1.7, 2.9, 37, 0.0, 100), (3.2, 4.4, 36, 0.0, 70)]
    an = run(_render_gm(tmp_path, notes, program=42))
    long = [n for n in an.notes if n.offset_s - n.onset_s > 0.5]
    assert [n.target_midi for n in long] == [36, 37, 36]
    assert max(abs(n.cents) for n in long) < 15.0
    assert all(n.target_midi in (36, 37) for n in an.notes)


def test_an_acoustic_bass_reads_in_tune_down_to_a1(tmp_path: Path) -> None:
    """FluidR3's acoustic bass (in tune to 0.3 cents from A1 to G2) read 16-142 cents sharp
    from A1 to G2: yinfft reads these periods 5-15 % short."""
    need(
        gm.available(),
        "fluidsynth and the FluidR3 soundfont (apt-get install fluidsynth fluid-soundfont-gm)",
    )
    keys = [33, 34, 35, 36, 38, 40, 43]
    notes = [(0.2 + 1.0 * i, 1.0 + 1.0 * i, m, 0.0, 100) for i, m in enumerate(keys)]
    an = run(_render_gm(tmp_path, notes, program=32))
    long = [n for n in an.notes if n.offset_s - n.onset_s > 0.4]
    assert [n.target_midi for n in long] == keys
    assert max(abs(n.cents) for n in long) < 8.0


def _render_gm(
    folder: Path, notes: list[tuple[float, float, int, float, int]], program: int
) -> np.ndarray:
    """``notes`` played by General MIDI ``program`` through fluidsynth, mono float32."""
    mid, wav = folder / "line.mid", folder / "line.wav"
    gm.write_midi(mid, notes, program=program, tempo=120.0)
    gm.render(mid, wav)
    x, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    assert sr == SR
    return np.ascontiguousarray(x.mean(axis=1))
