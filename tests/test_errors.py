"""Bad input: a clear symdiff.MidiError naming the source and the problem, never another exception."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import symusic

from symdiff import Limits, MidiError, Roll

from .conftest import real_midi_files

CORRUPT = real_midi_files("corrupt")

#: what each file in ../shared/midi/corrupt gives: a MidiError matching the pattern, or None for a documented
#: recovery (the file is valid MIDI and reads as a Roll)
EXPECTED = {
    "05_-_Octopus's_Garden.mid0": "not a readable MIDI file",
    "06_-_Let_It_Be.mid5": "not a readable MIDI file",
    "11_-_Every_Little_Thing.mid0": "not a readable MIDI file",
    "Issue104_Bizarre_Love_Triangle2.mid": "not a readable MIDI file",
    "RunTimeError_unexpected_EOF.mid": None,  # strict parsers choke; symusic reads all its 6,085 notes
    "ValueError_Control168.mid": "not a readable MIDI file",
    "empty.mid": None,  # a valid file with no notes: an empty Roll
    "negative-ticks-per-beat.mid": "SMPTE",
    "type2.mid": "format 2",
    "zero-ticks-per-beat.mid": "division of 0",
}


@pytest.mark.parametrize("path", CORRUPT, ids=[p.name for p in CORRUPT])
def test_corrupt_files(path: Path) -> None:
    expected = EXPECTED[path.name]
    if expected is None:
        roll = Roll.from_midi(path)
        assert roll.length >= 0
        return
    with pytest.raises(MidiError, match=expected) as info:
        Roll.from_midi(path)
    assert path.name in str(info.value)
    assert isinstance(info.value, ValueError)


def test_empty_midi_gives_an_empty_roll(shared_midi: Path) -> None:
    roll = Roll.from_midi(shared_midi / "corrupt" / "empty.mid")
    assert len(roll.notes) == 0 and roll.length == 0


def header(fmt: int = 1, ntracks: int = 1, division: int = 480) -> bytes:
    return b"MThd" + struct.pack(">IHHH", 6, fmt, ntracks, division)


def track(events: bytes) -> bytes:
    return b"MTrk" + struct.pack(">I", len(events)) + events


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"", "empty"),
        (b"hello world, not midi", "not a MIDI file"),
        (b"MThd\x00\x00", "truncated"),
        (b"RIFF\x00\x00\x00\x00RMIDdata", "RIFF"),
        (header(fmt=2), "format 2"),
        (header(fmt=7), "unknown MIDI format"),
        (header(division=0), "division of 0"),
        (header(division=0xE728), "SMPTE"),
        (header() + track(b"\x00\x90\x3c"), "not a readable MIDI file"),  # truncated note-on
    ],
)
def test_bad_bytes(data: bytes, pattern: str) -> None:
    with pytest.raises(MidiError, match=pattern) as info:
        Roll.from_midi(data)
    assert str(info.value).startswith("<bytes>: ")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(MidiError, match="cannot read") as info:
        Roll.from_midi(tmp_path / "nope.mid")
    assert "nope.mid" in str(info.value)
    with pytest.raises(MidiError, match="not a file"):
        Roll.from_midi(tmp_path)


def test_giant_delta_time_is_refused_before_building_anything() -> None:
    # one note after a delta time of 2**28 - 1 ticks (the largest variable-length quantity): ~77 hours at 120 qpm
    vlq = b"\xff\xff\xff\x7f"
    data = header() + track(b"\x00\x90\x3c\x40" + vlq + b"\x80\x3c\x40\x00\xff\x2f\x00")
    with pytest.raises(MidiError, match=r"Limits\.max_steps"):
        Roll.from_midi(data, steps_per_beat=24)
    # nine of them overflow a 32-bit tick counter
    data = header() + track(b"\x00\x90\x3c\x40" + (vlq + b"\xb0\x07\x40") * 9 + b"\x00\x80\x3c\x40\x00\xff\x2f\x00")
    with pytest.raises(MidiError, match=r"overflow|Limits\.max_steps"):
        Roll.from_midi(data, steps_per_beat=24)


def test_size_limits_are_configurable(shared_midi: Path) -> None:
    path = shared_midi / "lakh" / "17_-_Her_Majesty.mid1"
    with pytest.raises(MidiError, match=r"Limits\.max_notes"):
        Roll.from_midi(path, limits=Limits(max_notes=100))
    with pytest.raises(MidiError, match=r"Limits\.max_bytes"):
        Roll.from_midi(path, limits=Limits(max_bytes=1000))
    assert len(Roll.from_midi(path).notes) > 100


def test_wrong_argument_types_and_values() -> None:
    with pytest.raises(TypeError, match="a MIDI source is"):
        Roll.from_midi(12345)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one of steps_per_beat"):
        Roll.from_midi(b"", steps_per_beat=4, frames_per_second=100)
    with pytest.raises(ValueError, match="unknown layout preset 'orchestra'"):
        Roll.from_midi(b"", layout="orchestra")
    with pytest.raises(ValueError, match="steps_per_beat must be an integer"):
        Roll.from_midi(b"", steps_per_beat=0)


def test_score_sources_in_other_time_units_are_accepted() -> None:
    s = symusic.Score(480)
    t = symusic.Track("p", 0, False)
    t.notes.append(symusic.Note(0, 480, 60, 100))
    s.tracks.append(t)
    assert len(Roll.from_midi(s.to("quarter"), steps_per_beat=4).notes) == 1
