"""Round trips over every readable real file in ../shared/midi/{lakh,maestro,other}.

1. MIDI -> Roll -> MIDI -> Roll gives the same notes, length, tempo map, meters and keys (exactly).
2. The Roll's notes against an independent reading of the original (mido, quantised to the same grid, in the
   piano roll's canonical form): note F1 >= 0.99 on a 24-steps-per-beat grid with the gm layout, a note matching
   only with the same track, pitch, onset, offset and velocity.
3. Roll -> tensor -> notes gives the notes back, window by window.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symdiff import Roll, TrackLayout
from symdiff.notes import clip_notes, tensor_to_notes

from .conftest import real_midi_files
from .reference import as_counter, f1, reference_notes

REAL = real_midi_files("lakh", "maestro", "other")
MAESTRO = real_midi_files("maestro")
ids = [p.name for p in REAL]


def assert_same_roll(a: Roll, b: Roll) -> None:
    assert a.length == b.length
    np.testing.assert_array_equal(a.notes, b.notes)
    np.testing.assert_array_equal(a.tempos["step"], b.tempos["step"])
    np.testing.assert_allclose(a.tempos["qpm"], b.tempos["qpm"], rtol=2e-6)
    np.testing.assert_array_equal(a.meters, b.meters)
    np.testing.assert_array_equal(a.keys, b.keys)
    assert a.programs == b.programs


@pytest.mark.parametrize("path", REAL, ids=ids)
def test_beat_grid_round_trip(path: Path) -> None:
    roll = Roll.from_midi(path, layout="gm", steps_per_beat=24)
    again = Roll.from_midi(roll.to_midi_bytes(), layout="gm", steps_per_beat=24)
    assert_same_roll(roll, again)


@pytest.mark.parametrize("path", MAESTRO, ids=[p.name for p in MAESTRO])
def test_seconds_grid_round_trip(path: Path) -> None:
    roll = Roll.from_midi(path, layout="piano", frames_per_second=100)
    assert len(roll.notes) > 100
    again = Roll.from_midi(roll.to_midi_bytes(), layout="piano", frames_per_second=100)
    assert_same_roll(roll, again)


F1_FILES = real_midi_files("lakh", "maestro", "other")


@pytest.mark.parametrize("path", F1_FILES, ids=[p.name for p in F1_FILES])
def test_note_f1_against_an_independent_reader(path: Path) -> None:
    layout = TrackLayout.preset("gm")
    ours = as_counter(Roll.from_midi(path, layout=layout, steps_per_beat=24).notes)
    score = f1(ours, reference_notes(path, 24, layout))
    assert score >= 0.99, f"note F1 {score:.4f} for {path.name}"


@pytest.mark.parametrize("path", REAL[::4], ids=ids[::4])
def test_tensor_round_trip_by_windows(path: Path) -> None:
    roll = Roll.from_midi(path, layout="gm", steps_per_beat=12)
    low = roll.layout.pitch_range[0]
    window = 1024
    for start in range(0, roll.length, window):
        stop = min(start + window, roll.length)
        decoded = tensor_to_notes(roll.to_tensor(start, stop).numpy(), low)
        kept, s, e = clip_notes(roll.notes, start, stop)
        assert len(decoded) == len(kept)
        order = np.lexsort((kept["pitch"], s, kept["track"]))
        np.testing.assert_array_equal(decoded["onset"], (s - start)[order])
        np.testing.assert_array_equal(decoded["duration"], (e - s)[order])
        np.testing.assert_array_equal(decoded["pitch"], kept["pitch"][order])
        np.testing.assert_array_equal(decoded["velocity"], kept["velocity"][order])
