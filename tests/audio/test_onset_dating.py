"""Issue 20 item 2: where a note's onset is dated (audio/tracking/boundaries.py).

A sung note is dated where its pitched sound begins: a consonant or breath before the vowel
(unpitched noise, well over the background) is not the note. An instrument's attack keeps its
onset: a hard attack, and a slow bowed swell whose pitch is heard while it grows. The signals
are made here.
"""

from __future__ import annotations

import numpy as np
import pytest

from audio.analyzer import StreamAnalyzer
from tests.audio import signals as sg

SR = sg.SR
LEAD_S = 0.4


def _onsets(x: np.ndarray) -> list[tuple[float, int]]:
    """(onset s, target MIDI) of the notes Etude reports for ``x`` (a faint noise floor added)."""
    x = x + sg.noise(x.size / SR, -65.0)[: x.size]
    an = StreamAnalyzer(SR)
    h = an.hop_samples
    x = np.concatenate([x, np.zeros((-x.size) % h, dtype=np.float32)]).astype(np.float32)
    for i in range(0, x.size, h):
        an.process(x[i : i + h], 0.0)
    an.finish(0.0)
    return [(n.onset_s, n.target_midi) for n in an.notes]


@pytest.mark.parametrize(("consonant_s", "consonant_db"), [(0.08, -10.0), (0.12, -12.0)])
def test_a_consonant_before_a_sung_vowel_is_not_the_note(
    consonant_s: float, consonant_db: float
) -> None:
    # "sa": white noise (a sibilant) at consonant_db under the vowel's RMS, then a sung E4 with
    # vibrato. The note begins at the vowel, not at the hiss (it was dated 68 and 108 ms early,
    # at the start of the hiss).
    vowel = sg.tone(64, 0.5, amp=0.2, vibrato_cents=30.0, attack_s=0.02)
    vowel_db = 20.0 * np.log10(0.2 / np.sqrt(2.0))
    hiss = sg.noise(consonant_s, vowel_db + consonant_db, seed=3)
    x = np.concatenate([sg.silence(LEAD_S), hiss, vowel, sg.silence(0.4)])
    notes = _onsets(x)
    assert [m for _, m in notes] == [64]
    vowel_s = LEAD_S + consonant_s
    assert abs(notes[0][0] - vowel_s) <= 0.035
    assert notes[0][0] > LEAD_S + 0.03  # well after the hiss began


def test_a_hard_attack_keeps_its_onset() -> None:
    # A plucked C4: a 3 ms attack and an exponential decay.
    t = sg.tone(60, 0.6, amp=0.3, attack_s=0.003)
    t = (t * np.exp(-np.arange(t.size) / SR / 0.3)).astype(np.float32)
    notes = _onsets(np.concatenate([sg.silence(LEAD_S), t, sg.silence(0.3)]))
    assert [m for _, m in notes] == [60]
    assert abs(notes[0][0] - LEAD_S) <= 0.02


def test_a_slow_bowed_attack_keeps_its_onset() -> None:
    # A bowed C3 swelling over 120 ms: its pitch is heard as it grows, so the note begins
    # where the sound does.
    t = sg.tone(48, 0.8, amp=0.3, attack_s=0.12)
    notes = _onsets(np.concatenate([sg.silence(LEAD_S), t, sg.silence(0.3)]))
    assert [m for _, m in notes] == [48]
    assert abs(notes[0][0] - LEAD_S) <= 0.02
