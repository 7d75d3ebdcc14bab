"""The piece's preview: the reference rendered by the built-in synth, checked by analysing the
samples with Etude's own file analysis; and the playback that plays it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio.fileanalysis import analyze_file
from audio.playback import Playback
from audio.preview import click_samples, render_reference
from audio.reference import load_reference

PIECES = Path(__file__).resolve().parents[2] / "resources" / "pieces"


@pytest.mark.parametrize("name", ["twinkle", "ode_to_joy", "c_major_scale"])
@pytest.mark.parametrize("tempo", [None, 132])
def test_the_rendered_piece_has_the_reference_notes_at_the_tempo(tmp_path, name, tempo):
    ref = load_reference(PIECES / f"{name}.mid")
    preview = render_reference(ref, tempo_bpm=tempo, metronome=True)
    written = ref.tempo_bpm
    assert preview.scale == pytest.approx(written / tempo if tempo else 1.0)
    assert preview.first_note_s == pytest.approx(4 * 60.0 / (tempo or written))
    path = tmp_path / "preview.wav"
    sf.write(str(path), preview.samples, preview.sample_rate_hz)
    found = analyze_file(path).notes
    # Every note, in order, in tune, where the tempo puts it (clicks are not taken for notes).
    assert [n.target_midi for n in found] == [n.midi for n in ref.notes]
    assert all(abs(n.cents) < 5 for n in found)
    expected = [preview.first_note_s + n.onset_s * preview.scale for n in ref.notes]
    assert np.abs(np.array([n.onset_s for n in found]) - expected).max() < 0.03


def test_the_metronome_clicks_every_beat_from_the_lead_in(tmp_path):
    ref = load_reference(PIECES / "twinkle.mid")
    with_clicks = render_reference(ref, tempo_bpm=100, metronome=True)
    without = render_reference(ref, tempo_bpm=100, metronome=False)
    clicks = with_clicks.samples - without.samples
    sr = with_clicks.sample_rate_hz
    beat = round(0.6 * sr)
    n_beats = int(np.ceil(len(clicks) / beat))
    for k in range(n_beats):
        at = clicks[k * beat : k * beat + 100]
        click = click_samples(sr, k % 4 == 0)[: len(at)]
        assert np.corrcoef(at, click)[0, 1] > 0.99, k
        # Silence (no click) between beats.
        assert not np.any(np.abs(clicks[k * beat + 2000 : (k + 1) * beat - 10]) > 1e-6)
    assert np.abs(with_clicks.samples).max() <= 1.0


def test_bad_arguments_say_what_is_wrong():
    ref = load_reference(PIECES / "twinkle.mid")
    with pytest.raises(ValueError, match=r"20\.\.300 BPM"):
        render_reference(ref, tempo_bpm=500)
    with pytest.raises(ValueError, match="lead_in_beats"):
        render_reference(ref, lead_in_beats=-1)


def test_playback_hands_out_every_sample_once_and_seeks():
    x = np.arange(1000, dtype=np.float32) / 1000
    p = Playback(x, 1000)
    out = np.zeros((300, 1), dtype=np.float32)
    p._callback(out, 300, None, None)
    np.testing.assert_array_equal(out[:, 0], x[:300])
    assert p.position_s == pytest.approx(0.3)
    p.seek(0.9)
    p._callback(out, 300, None, None)
    np.testing.assert_array_equal(out[:100, 0], x[900:])
    assert not out[100:].any() and p.finished
    p.seek(0.5)
    assert not p.finished and p.position_s == pytest.approx(0.5)
