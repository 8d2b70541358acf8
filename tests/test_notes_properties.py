"""Properties of note arrays, checked on random inputs (hypothesis)."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from symdiff import Grid, Roll, TrackLayout, TrackSpec
from symdiff.grid import tempo_map
from symdiff.midi import METER_DTYPE
from symdiff.notes import canonical, make_notes, notes_to_tensor, tensor_to_notes

LAYOUT = TrackLayout(
    (
        TrackSpec("A", 0, programs=tuple(range(64)), pitch_range=(60, 67)),
        TrackSpec("B", 64, programs=tuple(range(64, 128)), pitch_range=(60, 67)),
    ),
    name="two",
)

note_lists = st.lists(
    st.tuples(
        st.integers(0, 1),  # track
        st.integers(60, 67),  # pitch
        st.integers(0, 60),  # onset
        st.integers(0, 12),  # duration (0: shortest)
        st.integers(1, 127),  # velocity
    ),
    max_size=60,
)


def as_notes(rows: list[tuple[int, int, int, int, int]]) -> np.ndarray:
    if not rows:
        return canonical(make_notes([], [], []))
    t, p, o, d, v = map(np.array, zip(*rows))
    return canonical(make_notes(o, d, p, v, t))


@settings(max_examples=300, deadline=None)
@given(note_lists)
def test_canonical_is_idempotent_and_has_no_overlaps(rows) -> None:
    notes = as_notes(rows)
    np.testing.assert_array_equal(canonical(notes), notes)
    assert (notes["duration"] >= 1).all()
    for lane in set(zip(notes["track"].tolist(), notes["pitch"].tolist())):
        mine = notes[(notes["track"] == lane[0]) & (notes["pitch"] == lane[1])]
        ends = mine["onset"].astype(int) + mine["duration"]
        assert (mine["onset"][1:] >= ends[:-1]).all()


@settings(max_examples=300, deadline=None)
@given(note_lists)
def test_tensor_round_trip_is_exact(rows) -> None:
    notes = as_notes(rows)
    length = 80
    tensor = notes_to_tensor(notes, 2, 60, 8, 0, length)
    np.testing.assert_array_equal(tensor_to_notes(tensor, 60), notes)


@settings(max_examples=150, deadline=None)
@given(note_lists, st.lists(st.integers(1, 79), max_size=4, unique=True))
def test_slices_concatenate_back_and_survive_midi(rows, cuts) -> None:
    notes = as_notes(rows)
    roll = Roll(
        notes=notes,
        length=80,
        layout=LAYOUT,
        grid=Grid(steps_per_beat=4),
        tempos=tempo_map([0, 30], [120.0, 90.0]),
        meters=np.array([(0, 3, 4)], dtype=METER_DTYPE),
    )
    edges = [0, *sorted(cuts), 80]
    parts = [roll[a:b] for a, b in itertools.pairwise(edges)]
    np.testing.assert_array_equal(Roll.concatenate(parts).notes, notes)
    again = Roll.from_midi(roll.to_midi_bytes(), layout=LAYOUT, steps_per_beat=4)
    np.testing.assert_array_equal(again.notes, notes)
    assert again.length == 80
