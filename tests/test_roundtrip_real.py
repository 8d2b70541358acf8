"""Round trips over every readable real file in ../shared/midi/{lakh,maestro,other}.

1. MIDI -> Roll -> MIDI -> Roll gives the same notes, length, tempo map, meters and keys (exactly).
2. The Roll's notes against an independent reading of the original (mido, quantised to the same grid):
   note F1 >= 0.99 on a 24-steps-per-beat grid with the gm layout.
3. Roll -> tensor -> notes gives the notes back, window by window.
"""

from __future__ import annotations

import collections
from pathlib import Path

import mido
import numpy as np
import pytest

from symdiff import Roll, TrackLayout
from symdiff.notes import canonical, clip_notes, make_notes, tensor_to_notes

from .conftest import real_midi_files

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


def reference_notes(path: Path, steps_per_beat: int, layout: TrackLayout) -> collections.Counter:
    """The original's notes read independently of symusic: mido messages, note-on/off paired first-in first-out
    per (track, channel, pitch), programs per channel, channel 10 = drums; quantised half-up to the beat grid;
    assigned to the layout; then put in the piano roll's canonical form (doublings merged, overlaps cut).
    Returns a multiset of (track, pitch, onset, end)."""
    midi = mido.MidiFile(path, clip=True)
    tpq = midi.ticks_per_beat
    onset, end, pitch, track = [], [], [], []
    for source in midi.tracks:
        name, program, now = "", [0] * 16, 0
        sounding: dict[tuple[int, int], collections.deque] = collections.defaultdict(collections.deque)
        for msg in source:
            now += msg.time
            if msg.type == "track_name":
                name = msg.name
            elif msg.type == "program_change":
                program[msg.channel] = msg.program
            elif msg.type == "note_on" and msg.velocity > 0:
                sounding[(msg.channel, msg.note)].append((now, program[msg.channel]))
            elif msg.type in ("note_on", "note_off") and sounding.get((msg.channel, msg.note)):
                start, prog = sounding[(msg.channel, msg.note)].popleft()
                index = layout.assign(prog, msg.channel == 9, name)
                if index is not None:
                    onset.append((2 * start * steps_per_beat + tpq) // (2 * tpq))
                    end.append((2 * now * steps_per_beat + tpq) // (2 * tpq))
                    pitch.append(msg.note)
                    track.append(index)
    onset_a, end_a = np.array(onset, dtype=np.int64), np.array(end, dtype=np.int64)
    notes = canonical(make_notes(onset_a, end_a - onset_a, pitch, 100, track))
    return as_counter(notes)


def as_counter(notes: np.ndarray) -> collections.Counter:
    ends = notes["onset"].astype(np.int64) + notes["duration"]
    return collections.Counter(
        zip(notes["track"].tolist(), notes["pitch"].tolist(), notes["onset"].tolist(), ends.tolist())
    )


F1_FILES = real_midi_files("lakh", "other")


@pytest.mark.parametrize("path", F1_FILES, ids=[p.name for p in F1_FILES])
def test_note_f1_against_an_independent_reader(path: Path) -> None:
    layout = TrackLayout.preset("gm")
    ours = as_counter(Roll.from_midi(path, layout=layout, steps_per_beat=24).notes)
    ref = reference_notes(path, 24, layout)
    matched = sum((ours & ref).values())
    f1 = 2 * matched / (sum(ours.values()) + sum(ref.values()))
    assert f1 >= 0.99, f"note F1 {f1:.4f} for {path.name}"


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
