"""An independent reading of MIDI notes (mido, not symusic), the yardstick of the round-trip tests and of
``bench/bench_fidelity.py``."""

from __future__ import annotations

import collections
from pathlib import Path

import mido
import numpy as np

from symdiff import TrackLayout
from symdiff.notes import canonical, make_notes


def raw_notes(path: Path, steps_per_beat: int, layout: TrackLayout) -> np.ndarray:
    """The file's notes read with mido: note-on/off paired first-in first-out per (track, channel, pitch),
    programs per channel, channel 10 = drums; quantised half-up to the beat grid; assigned to the layout.
    Not canonical: doublings and overlaps are kept as they are in the file."""
    midi = mido.MidiFile(path, clip=True)
    tpq = midi.ticks_per_beat
    onset, end, pitch, track, velocity = [], [], [], [], []
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
                sounding[(msg.channel, msg.note)].append((now, program[msg.channel], msg.velocity))
            elif msg.type in ("note_on", "note_off") and sounding.get((msg.channel, msg.note)):
                start, prog, vel = sounding[(msg.channel, msg.note)].popleft()
                index = layout.assign(prog, msg.channel == 9, name)
                if index is not None:
                    onset.append((2 * start * steps_per_beat + tpq) // (2 * tpq))
                    end.append(max((2 * now * steps_per_beat + tpq) // (2 * tpq), onset[-1] + 1))
                    pitch.append(msg.note)
                    track.append(index)
                    velocity.append(vel)
    onset_a, end_a = np.array(onset, dtype=np.int64), np.array(end, dtype=np.int64)
    return make_notes(onset_a, end_a - onset_a, pitch, velocity, track)


def reference_notes(path: Path, steps_per_beat: int, layout: TrackLayout) -> collections.Counter:
    """:func:`raw_notes` in the piano roll's canonical form (doublings merged, overlaps cut), as a multiset of
    (track, pitch, onset, end, velocity)."""
    return as_counter(canonical(raw_notes(path, steps_per_beat, layout)))


def as_counter(notes: np.ndarray) -> collections.Counter:
    ends = notes["onset"].astype(np.int64) + notes["duration"]
    return collections.Counter(
        zip(
            notes["track"].tolist(),
            notes["pitch"].tolist(),
            notes["onset"].tolist(),
            ends.tolist(),
            notes["velocity"].tolist(),
        )
    )


def f1(a: collections.Counter, b: collections.Counter) -> float:
    """Note F1 between two multisets of notes (1.0 when both are empty)."""
    total = sum(a.values()) + sum(b.values())
    return 1.0 if total == 0 else 2 * sum((a & b).values()) / total
