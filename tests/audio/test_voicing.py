"""Issue 20 items 3 and 4: what the frames report for a sung voice (audio/tracking/voicing.py).

A short break in voicing inside a held note -- the voice goes breathy or rough for a few tens
of ms at about the note's level -- reports the note's pitch, not silence; a consonant, a louder
burst or a change of pitch is not bridged; a faint pitched sound between phrases reports no
pitch. The signals are made here (sung-like tones with vibrato, breath noise, gaps).
"""

from __future__ import annotations

import numpy as np

from audio.analyzer import StreamAnalyzer
from audio.tracking import NoteTracker
from tests.audio import signals as sg

SR = sg.SR
HOP_S = 256 / SR


def _analyse(x: np.ndarray) -> StreamAnalyzer:
    return sg.analyse(x, SR, noise_db=-65.0)


def _held_note_with(stretch_s: float, tone_db: float, noise_db: float) -> np.ndarray:
    """A sung E4 (vibrato 30 cents) held 1 s; from 0.5 s, for ``stretch_s``, the tone drops
    ``tone_db`` and breath noise ``noise_db`` relative to the tone's level is mixed in."""
    x = sg.tone(64, 1.0, amp=0.2, vibrato_cents=30.0)
    a, b = int(0.5 * SR), int((0.5 + stretch_s) * SR)
    rms = float(np.sqrt(np.mean(x[:a] ** 2)))
    breath = sg.noise(stretch_s, 20 * np.log10(rms) + noise_db, seed=2)[: b - a]
    x[a:b] = x[a:b] * 10 ** (tone_db / 20) + breath
    return np.concatenate([sg.silence(0.3), x, sg.silence(0.3)])


def _stretch(an: StreamAnalyzer, start_s: float, dur_s: float) -> tuple[np.ndarray, np.ndarray]:
    t, f = an.frames.t_s, an.frames.f0_hz
    sel = (t >= start_s) & (t < start_s + dur_s)
    return f[sel], an.frames.confidence[sel]


def test_a_breathy_stretch_inside_a_held_note_keeps_its_pitch() -> None:
    # 60 ms where the voice turns to breath at the same level (the tone 12 dB down under
    # noise 1 dB under it): the periodicity collapses, the note goes on. The frames there
    # report the note's pitch, not silence (before: six frames of silence).
    an = _analyse(_held_note_with(0.06, tone_db=-12.0, noise_db=-1.0))
    assert [n.target_midi for n in an.notes] == [64]
    f0, conf = _stretch(an, 0.8, 0.06)
    assert conf.min() < 0.6, "the pitch detector itself finds no pitch there"
    assert np.all(f0 > 0)
    # (a frame the detector itself reads an octave low in the noise may stay so)
    assert np.mean(np.abs(12 * np.log2(f0 / sg.midi_hz(64))) < 0.5) >= 0.8


def test_a_louder_burst_inside_a_note_is_not_bridged() -> None:
    # The same 60 ms, but the noise 16 dB over the voice (a cough, a loud consonant): not the
    # held note, so its unvoiced frames stay silent.
    an = _analyse(_held_note_with(0.06, tone_db=-6.0, noise_db=16.0))
    f0, conf = _stretch(an, 0.8, 0.06)
    assert np.sum(conf < 0.6) >= 3
    assert np.all(f0[conf < 0.6] == 0.0)


def test_a_consonant_gap_is_silence_and_a_new_note() -> None:
    # "la-la" on one pitch: the voice stops for 60 ms (a consonant), then sings again.
    note = sg.tone(64, 0.45, amp=0.2, vibrato_cents=30.0)
    x = np.concatenate([sg.silence(0.3), note, sg.silence(0.06), note, sg.silence(0.3)])
    an = _analyse(x)
    assert [n.target_midi for n in an.notes] == [64, 64]
    f0, _ = _stretch(an, 0.76, 0.05)
    assert np.all(f0 == 0.0)


def _feed(frames: list[tuple[int, float | None, float, float]]) -> list[float | None]:
    """Feed (count, midi or None, level dB, periodicity) runs of frames to a NoteTracker; return
    what each frame reports in the end (a bridged break amended, as the analyzer's frame track
    is)."""
    tracker = NoteTracker(HOP_S)
    out: list[float | None] = []
    t = 0.0
    for count, midi, level, periodicity in frames:
        for _ in range(count):
            tracker.push(t, midi, level, t, None, 0.0, periodicity)
            for k in range(1, tracker.bridged + 1):
                out[-k] = tracker.bridged_midi
            out.append(tracker.frame_midi)
            t += HOP_S
    return out


def test_a_rough_break_on_the_same_pitch_is_bridged_once_the_note_goes_on() -> None:
    # 8 frames (46 ms) of no pitch at 0.2 periodicity, 3 dB under the note, then the same
    # pitch again: the break reports the note's pitch.
    out = _feed(
        [
            (30, None, -90.0, 0.0),
            (40, 64.1, -20.0, 0.9),
            (8, None, -23.0, 0.2),
            (30, 64.0, -20.0, 0.9),
        ]
    )
    assert out[70:78] == [64.1] * 8


def test_a_barely_periodic_break_reports_the_held_pitch_at_once() -> None:
    # Frames still 0.45 periodic (a roughened voice) report the held pitch as they come
    # (live), without waiting for the note to go on.
    tracker = NoteTracker(HOP_S)
    t = 0.0
    for k in range(50):
        tracker.push(t, 64.1 if k < 40 else None, -20.0, t, None, 0.0, 0.9 if k < 40 else 0.45)
        t += HOP_S
    assert tracker.frame_midi == 64.1


def test_a_break_before_a_new_pitch_is_not_bridged() -> None:
    # The voice glides to a new note through 8 frames without a pitch: the break belongs to
    # neither note and reports nothing.
    out = _feed(
        [
            (30, None, -90.0, 0.0),
            (40, 64.0, -20.0, 0.9),
            (8, None, -21.0, 0.2),
            (30, 66.0, -20.0, 0.9),
        ]
    )
    assert out[70:78] == [None] * 8


def test_a_break_where_the_level_falls_away_is_not_bridged() -> None:
    out = _feed(
        [
            (30, None, -90.0, 0.0),
            (40, 64.0, -20.0, 0.9),
            (8, None, -40.0, 0.5),
            (30, 64.0, -20.0, 0.9),
        ]
    )
    assert out[70:78] == [None] * 8


def test_a_long_break_is_not_bridged() -> None:
    # 25 frames (0.15 s) is a rest, not a dropout.
    out = _feed(
        [
            (30, None, -90.0, 0.0),
            (40, 64.0, -20.0, 0.9),
            (25, None, -21.0, 0.2),
            (30, 64.0, -20.0, 0.9),
        ]
    )
    assert out[70:95] == [None] * 25


def test_a_breath_between_phrases_behind_a_noise_gate_is_silence() -> None:
    # A phone recording: its noise gate writes digital silence into the pauses, and the room
    # sounds at about -52 dBFS where the gate is open. A faint pitched breath (-44 dBFS)
    # between phrases lies 8 dB over the room and 26 dB under the singing: neither a note nor
    # pitched frames, though it lies 76 dB over the quietest hop (the gate's silence).
    def room(dur_s: float, seed: int) -> np.ndarray:
        return sg.noise(dur_s, -52.0, seed=seed)

    def phrase(seed: int) -> np.ndarray:
        sung = np.concatenate(
            [sg.tone(m, 0.45, amp=0.18, vibrato_cents=30.0) for m in (62, 64, 66)]
        )
        return sung + room(sung.size / SR, seed)[: sung.size]

    faint = sg.tone(50, 0.3, amp=0.009)
    x = np.concatenate(
        [
            sg.silence(0.3),
            phrase(1),
            room(0.4, 2),
            faint + room(0.3, 3)[: faint.size],
            room(0.4, 4),
            sg.silence(0.2),
            phrase(5),
            sg.silence(0.3),
        ]
    )
    an = sg.analyse(x, SR)
    assert [n.target_midi for n in an.notes] == [62, 64, 66, 62, 64, 66]
    t, f0 = an.frames.t_s, an.frames.f0_hz
    faint_at = 0.3 + 3 * 0.45 + 0.4
    assert np.all(f0[(t > faint_at) & (t < faint_at + 0.3)] == 0.0)
