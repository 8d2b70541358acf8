"""The bugs the hardening work found and fixed, each pinned by a test (the fuzzer's regression inputs are replayed
in test_fuzz.py; resuming and orphaned workers are checked in test_kills.py)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from symdiff import Limits, MidiError, Roll
from symdiff.midi import MAX_TICK


def midi(division: int, *events: bytes) -> bytes:
    """A one-track type-0 file of the given events (each with its delta time) and an end of track."""
    body = b"".join(events) + b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, division) + b"MTrk" + struct.pack(">I", len(body)) + body


def vlq(value: int) -> bytes:
    out = [value & 0x7F]
    while value := value >> 7:
        out.append(0x80 | (value & 0x7F))
    return bytes(reversed(out))


#: a note held for 2**28 - 1 ticks (the largest delta time) at 96 ticks a beat: 2.8 million quarter notes
LONG_NOTE = (b"\x00\x90\x3c\x40", vlq(2**28 - 1) + b"\x80\x3c\x40")


def test_time_signatures_that_make_millions_of_bars_are_refused() -> None:
    """A 1/128 meter makes a bar of a 32nd of a quarter note: the long note became 90 million bars, and
    ``roll.num_bars`` tried to allocate them all (MemoryError found by the fuzzer)."""
    data = midi(96, b"\x00\xff\x58\x04\x01\x07\x18\x08", *LONG_NOTE)
    with pytest.raises(MidiError, match=r"has [\d,]+ bars \(time signatures down to 1/128\), over the limit of "
                       r"2,097,152 \(Limits\.max_bars\)"):  # fmt: skip
        Roll.from_midi(data, steps_per_beat=1)
    roll = Roll.from_midi(midi(96, b"\x00\xff\x58\x04\x01\x07\x18\x08", b"\x00\x90\x3c\x40", b"\x60\x80\x3c\x40"))
    assert roll.num_bars == roll.length == 12  # a quarter note of 1/128 bars reads: bars of less than a step merge
    five_quarters = midi(96, b"\x00\x90\x3c\x40", b"\x83\x60\x80\x3c\x40")  # two bars of 4/4
    assert Roll.from_midi(five_quarters, limits=Limits(max_bars=2)).num_bars == 2
    with pytest.raises(MidiError, match=r"has 2 bars .*over the limit of 1 \(Limits\.max_bars\)"):
        Roll.from_midi(five_quarters, limits=Limits(max_bars=1))


def test_a_roll_too_long_for_midi_times_is_refused_when_written() -> None:
    """A time between two events of a MIDI track holds at most 2**28 - 1 ticks: symusic wrote a longer one modulo
    2**28 (a note held 2**28 ticks came back 0 long), and past 2**31 ticks raised a TypeError. On a seconds grid
    the long note reads as 1.4 million steps, 2.7e9 ticks when written."""
    roll = Roll.from_midi(midi(96, *LONG_NOTE), layout="piano", frames_per_second=1)
    assert roll.length > 1_000_000 and len(roll.notes) == 1
    refused = r"<Roll>: cannot be written as MIDI: it lasts [\d,]+ ticks \(960 a quarter note\), past the longest "
    with pytest.raises(MidiError, match=refused + r"time one MIDI event can follow another \(268,435,455 ticks\)"):
        roll.to_midi_bytes()
    assert len(roll[:1_000].to_midi_bytes()) > 0  # a part of it writes
    with pytest.raises(MidiError, match="cannot be written as MIDI"):  # on a beat grid too: 480 ticks a step
        Roll.from_midi(midi(96, *LONG_NOTE), steps_per_beat=1).to_midi_bytes()


def test_the_longest_writable_note_round_trips() -> None:
    """Just under the limit the note comes back whole (before the fix, just over it came back a step long)."""
    held = 2**28 - 1000  # ticks at 480 a quarter note: 559,238 quarter notes, 268,434,240 ticks written
    roll = Roll.from_midi(midi(480, b"\x00\x90\x3c\x40", vlq(held) + b"\x80\x3c\x40"), steps_per_beat=1)
    assert int(roll.notes["duration"][0]) == round(held / 480) == 559_238
    again = Roll.from_midi(roll.to_midi_bytes(), steps_per_beat=1)
    np.testing.assert_array_equal(again.notes, roll.notes)
    assert MAX_TICK == 2**28 - 1
