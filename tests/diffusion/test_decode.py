"""Decoding continuous estimates into notes: exact on clean data, robust to flicker, thresholds chosen on data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symdiff import Roll
from symdiff.diffusion.decode import (
    FRAME,
    ONSET,
    VELOCITY,
    Decoder,
    calibrate,
    flicker_rate,
    frame_f1,
    min_steps_from_data,
    note_f1,
)
from symdiff.diffusion.schedule import NoiseSchedule
from symdiff.notes import NOTE_DTYPE, canonical, notes_to_tensor, tensor_to_notes

from ..conftest import real_midi_files

REAL = real_midi_files("lakh", "maestro")[::3]


def make_notes(rows: list[tuple[int, int, int, int, int]]) -> np.ndarray:
    """Canonical notes from (onset, duration, track, pitch, velocity) rows."""
    return canonical(np.array(rows, dtype=NOTE_DTYPE))


def _tensor(notes: np.ndarray, pitches: int = 8, steps: int = 16) -> np.ndarray:
    return notes_to_tensor(notes, 1, 60, pitches, 0, steps)


@pytest.mark.skipif(not REAL, reason="../shared/midi is not there")
def test_clean_tensors_decode_to_their_notes():
    for path in REAL:
        roll = Roll.from_midi(path, layout="gm", steps_per_beat=12)[:1536]  # 32 bars of 4/4
        tensor = roll.to_tensor().numpy()
        for decoder in (Decoder(), Decoder(max_gap=2), Decoder(frame_threshold=0.3, onset_threshold=0.7)):
            notes = decoder(tensor, roll.layout.pitch_range[0])
            clipped = roll.notes.copy()  # a slice keeps the full length of notes sounding past its end
            clipped["duration"] = np.minimum(clipped["duration"], roll.length - clipped["onset"])
            assert np.array_equal(notes, clipped), path
            assert np.array_equal(notes, tensor_to_notes(tensor, roll.layout.pitch_range[0]))


def test_broken_sustain_is_bridged_but_a_rest_before_a_repeated_note_is_kept():
    held = make_notes([(0, 8, 0, 62, 100)])
    t = _tensor(held)
    t[0, FRAME, 2, 4] = 0.2  # the model wavers in the middle of a held note: no onset after the gap
    assert len(tensor_to_notes(t, 60)) == 2  # naive thresholding breaks it
    assert np.array_equal(Decoder(max_gap=1)(t, 60), held)
    assert len(Decoder(max_gap=0)(t, 60)) == 2

    repeated = make_notes([(0, 4, 0, 62, 100), (5, 3, 0, 62, 100)])  # a real one-step rest, then an onset
    assert np.array_equal(Decoder(max_gap=1)(_tensor(repeated), 60), repeated)
    two_gap = _tensor(held)
    two_gap[0, FRAME, 2, 4:6] = 0.0
    assert len(Decoder(max_gap=1)(two_gap, 60)) == 2
    assert np.array_equal(Decoder(max_gap=2)(two_gap, 60)["duration"], [8])


def test_flicker_is_removed():
    t = _tensor(make_notes([(0, 8, 0, 64, 90)]))
    t[0, FRAME, 5, 10] = 0.9  # an isolated one-step blip
    t[0, ONSET, 5, 10] = 0.9
    t[0, ONSET, 4, 1] = 0.8  # the onset fires twice at the start of the note
    naive = tensor_to_notes(t, 60)
    assert flicker_rate(naive) > 0.5
    clean = Decoder(min_steps=2)(t, 60)
    assert clean[["onset", "duration", "pitch"]].tolist() == [(0, 8, 64)]
    assert flicker_rate(clean) == 0.0


def test_repeated_onsets_far_enough_apart_make_new_notes():
    notes = make_notes([(0, 3, 0, 60, 80), (3, 3, 0, 60, 80), (6, 2, 0, 60, 80)])
    assert np.array_equal(Decoder(min_steps=2)(_tensor(notes), 60), notes)
    # with min_steps=4 the re-onsets at 3 (3 steps after 0) is ignored, the one at 6 (6 after 0) is kept
    merged = Decoder(min_steps=4)(_tensor(notes), 60)
    assert merged[["onset", "duration"]].tolist() == [(0, 6)]  # the note 6..8 is 2 steps: dropped as flicker


def test_velocity_is_the_mean_over_the_note():
    t = _tensor(make_notes([(2, 4, 0, 61, 64)]))
    t[0, VELOCITY, 1, 2:6] = [0.2, 0.4, 0.6, 0.8]
    assert Decoder()(t, 60)["velocity"].tolist() == [round(0.5 * 127)]


def test_scores():
    a = make_notes([(0, 4, 0, 60, 80), (4, 4, 0, 62, 80)])
    b = make_notes([(0, 4, 0, 60, 80), (5, 3, 0, 62, 80)])
    assert note_f1(a, a) == 1.0 and frame_f1(a, a) == 1.0
    assert note_f1(a, b) == pytest.approx(0.5)
    assert frame_f1(a, b) == pytest.approx(2 * 7 / 15)
    empty = make_notes([])
    assert note_f1(empty, empty) == 1.0 and note_f1(a, empty) == 0.0


def test_min_steps_from_data():
    assert min_steps_from_data(np.array([1, 2, 4, 8] * 100)) == 1
    assert min_steps_from_data(np.array([2] * 999 + [1])) == 2  # 0.1 % one-step notes: below the quantile
    assert min_steps_from_data(np.array([4] * 1000)) == 4
    assert min_steps_from_data(np.array([], dtype=np.int64)) == 1


def test_calibrate_finds_thresholds_for_a_biased_model():
    """A model whose estimates of sounding cells sit at 0.42 defeats a fixed 0.5 threshold; calibration on the
    real windows picks a threshold below it and decodes them perfectly."""
    rng = np.random.default_rng(0)
    notes = []
    for pitch in range(8):
        onset = 0
        while onset < 32:
            length = int(rng.integers(2, 6))
            if rng.random() < 0.5:
                notes.append((onset, length, 0, 60 + pitch, 100))
            onset += length + int(rng.integers(0, 2))
    windows = torch.from_numpy(notes_to_tensor(make_notes(notes), 1, 60, 8, 0, 32))[None]

    def biased(x: torch.Tensor, sigma: torch.Tensor, cond: object) -> torch.Tensor:
        unit = windows * 0.38 + 0.04  # on -> 0.42, off -> 0.04, whatever the input
        return NoiseSchedule().to_model(unit).expand_as(x)

    assert note_f1(Decoder()(biased(windows, None, None)[0] * 0.5 + 0.5, 60), make_notes(notes)) == 0.0
    decoder, scores = calibrate(biased, windows, 60, seed=0)
    assert decoder.frame_threshold < 0.42 and decoder.onset_threshold < 0.42
    assert scores["note_f1"] == 1.0 and scores["frame_f1"] == 1.0


def test_decoder_validation():
    with pytest.raises(ValueError, match="frame_threshold"):
        Decoder(frame_threshold=1.0)
    with pytest.raises(ValueError, match="min_steps"):
        Decoder(min_steps=0)
    with pytest.raises(ValueError, match="unknown Decoder keys"):
        Decoder.from_dict({"threshold": 0.5})
    assert Decoder.from_dict(Decoder(0.4, 0.6, 2, 0).to_dict()) == Decoder(0.4, 0.6, 2, 0)
    with pytest.raises(ValueError, match="tensor"):
        Decoder()(np.zeros((3, 8, 16)), 60)
