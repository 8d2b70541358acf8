"""Mutation fuzzer for ``Roll.from_midi``: real MIDI files, broken on purpose, read in a watched worker process.

    python bench/fuzz.py --inputs 10000 --seed 0                 (corpus: ../shared/midi or $SYMDIFF_TEST_MIDI)
    python bench/fuzz.py --inputs 200000 --save tests/regressions/midi --deep
    python bench/fuzz.py --replay tests/regressions/midi         (re-run every saved input)
    python bench/fuzz.py --minimize bad.mid --match "exception: IndexError" --options gm-spb12

Each input is a real file of the corpus (``lakh``, ``maestro``, ``other``, ``corrupt``) put through one to three
mutations, each a small pure function ``(data, rng) -> bytes``: bit flips, interesting bytes, truncation, chunk
length fields, header format / track count / division, giant and overlong delta times, absurd tempos, time and
key signatures, running-status edge cases (status dropped after a meta event, at a track start, real-time bytes
inside), huge meta and sysex lengths, out-of-range note data, an event repeated thousands of times, a missing end
of track, many or unknown chunks, and a splice of two files. Input ``i`` of seed ``s`` depends on nothing else, so
any finding can be regenerated from ``(s, i)``; it is also read on a randomly chosen layout and grid.

Every input runs in a persistent worker process (forked once, restarted when it dies) with an address-space limit;
the parent waits at most ``--timeout`` seconds for the answer. Outcomes:

* ``ok``: a Roll came back; ``MidiError``: the expected refusal;
* ``exception``: any other exception escaped (a bug); ``crash``: the worker died (a signal: native code);
* ``timeout``: a read that took more CPU time than the timeout, or no answer within five times the timeout (the
  clock stretches on a loaded machine, CPU time does not); confirmed by a second run in a fresh worker. With
  ``--deep`` the worker also uses each Roll (summary, a tensor, a MIDI round trip) and gets ten times the timeout
  for that, the read itself still being held to the timeout.

Inputs of the last three kinds are minimised (delta debugging over chunks, events and bytes while the same failure
happens) and saved (``--save``) as ``<outcome>-<what>-<layout>-<grid>-<sha1>.mid``, at most ``--keep-per-kind`` per
distinct failure, so the regression folder keeps every input that ever broke something, in a few bytes. At the end
the counts by outcome, the inputs per second, the slowest reads, the refusals by kind and the peak memory (resident
set) of the worker are printed.
With ``--prepare N``, the first N inputs are also written to a folder and converted by ``symdiff prepare folder``
(2 workers, in a subprocess) and its counts printed; tests/hardening/test_fuzz.py checks its errors.tsv against
``Roll.from_midi`` input by input.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import multiprocessing as mp
import os
import random
import re
import resource
import struct
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("lakh", "maestro", "other", "corrupt")
MIDI_SUFFIXES = (".mid", ".kar")
OUTCOMES = ("ok", "MidiError", "exception", "crash", "timeout")
BROKEN = ("exception", "crash", "timeout")

Mutation = Callable[[bytes, random.Random], bytes]
Event = tuple[int, bytes]
"""A track event: its delta time and the bytes after it (status byte first, unless running status omits it)."""

# ================================================================================================ MIDI structure
INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0x81, 0xF0, 0xF7, 0xFE, 0xFF)
INTERESTING_U32 = (0, 1, 5, 6, 0x7F, 0x80, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)


def vlq(value: int) -> bytes:
    """A MIDI variable-length quantity (7 bits a byte, high bit = more); values up to 2**28 - 1 fit in 4 bytes."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def read_vlq(data: bytes, pos: int) -> tuple[int, int] | None:
    """The VLQ at ``pos`` and the position after it, or None when it runs off the end or past 4 bytes."""
    value = 0
    for i in range(4):
        if pos + i >= len(data):
            return None
        byte = data[pos + i]
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos + i + 1
    return None


def split_chunks(data: bytes) -> list[tuple[bytes, bytes]] | None:
    """``[(type, body), ...]`` of a file whose chunks are all whole, or None (not MIDI, or a length is off)."""
    chunks, pos = [], 0
    while pos < len(data):
        if pos + 8 > len(data):
            return None
        kind, (length,) = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])
        if pos + 8 + length > len(data):
            return None
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length
    if not chunks or chunks[0][0] != b"MThd" or len(chunks[0][1]) < 6:
        return None
    return chunks


def join_chunks(chunks: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The bytes of chunks, each with its true length."""
    return b"".join(kind + struct.pack(">I", len(body)) + body for kind, body in chunks)


def _channel_data_length(status: int) -> int:
    return 1 if status & 0xF0 in (0xC0, 0xD0) else 2


def split_events(body: bytes) -> list[Event] | None:
    """The events of a track body, each with an explicit status byte (running status expanded), or None when the
    body is not a well-formed track."""
    events: list[Event] = []
    pos, running = 0, 0
    while pos < len(body):
        got = read_vlq(body, pos)
        if got is None:
            return None
        delta, pos = got
        if pos >= len(body):
            return None
        status = body[pos]
        start = pos
        if status < 0x80:  # running status
            if not running:
                return None
            status, prefix = running, bytes([running])
        else:
            prefix = b""
            pos += 1
        if 0x80 <= status <= 0xEF:
            running = status
            end = pos + _channel_data_length(status)
        elif status in (0xF0, 0xF7):
            got = read_vlq(body, pos)
            if got is None:
                return None
            length, pos = got
            end = pos + length
            running = 0
        elif status == 0xFF:
            if pos >= len(body):
                return None
            got = read_vlq(body, pos + 1)
            if got is None:
                return None
            length, pos = got
            end = pos + length
            running = 0
        else:
            return None
        if end > len(body):
            return None
        events.append((delta, prefix + body[start:end]))
        pos = end
    return events


_VLQ = tuple(vlq(i) for i in range(1 << 14))  # the one- and two-byte quantities, precomputed


def join_events(events: Sequence[Event]) -> bytes:
    """A track body from events."""
    return b"".join([part for delta, raw in events for part in (_VLQ[delta] if delta < 16384 else vlq(delta), raw)])


@functools.lru_cache(maxsize=512)
def track_events(body: bytes) -> tuple[Event, ...] | None:
    """:func:`split_events`, remembered (the seed files' tracks are mutated over and over)."""
    events = split_events(body)
    return None if events is None else tuple(events)


MAX_INPUT = 4 * 2**20
"""Mutations that multiply content stop short of this many bytes."""


def _edit_events(data: bytes, rng: random.Random, edit: Callable[[list[Event], random.Random], None]) -> bytes:
    """Apply ``edit`` to the events of a random track, or flip bits when the file or that track does not parse."""
    chunks = split_chunks(data)
    tracks = [i for i, (kind, _) in enumerate(chunks or ()) if kind == b"MTrk"]
    if chunks is None or not tracks:
        return flip_bits(data, rng)
    t = rng.choice(tracks)
    parsed = track_events(chunks[t][1])
    if not parsed:
        return flip_bits(data, rng)
    events = list(parsed)
    edit(events, rng)
    chunks[t] = (b"MTrk", join_events(events))
    return join_chunks(chunks)


def _indices(events: list[Event], test: Callable[[bytes], bool]) -> list[int]:
    return [i for i, (_, raw) in enumerate(events) if test(raw)]


# ================================================================================================ mutations
def flip_bits(data: bytes, rng: random.Random) -> bytes:
    """Flip 1-16 random bits."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def set_bytes(data: bytes, rng: random.Random) -> bytes:
    """Set 1-8 random bytes to values parsers trip on (0, 0x7F, 0x80, 0xFF, status bytes)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] = rng.choice(INTERESTING_BYTES)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    """Cut the file: anywhere, inside the header, or a few bytes before the end."""
    choice = rng.random()
    if choice < 0.2:
        return data[: rng.randint(0, min(len(data), 22))]
    if choice < 0.5:
        return data[: max(0, len(data) - rng.randint(1, 8))]
    return data[: rng.randint(0, len(data))]


def chunk_length(data: bytes, rng: random.Random) -> bytes:
    """Set the length field of one chunk (header or track) to an interesting or nearby value."""
    positions, pos = [], 0
    while pos + 8 <= len(data):
        positions.append(pos)
        (length,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        pos += 8 + length
    if not positions:
        return flip_bits(data, rng)
    at = rng.choice(positions)
    (old,) = struct.unpack(">I", data[at + 4 : at + 8])
    new = rng.choice([*INTERESTING_U32, old + 1, old - 1, old * 2, old // 2, rng.getrandbits(32)]) & 0xFFFFFFFF
    return data[: at + 4] + struct.pack(">I", new) + data[at + 8 :]


def header_fields(data: bytes, rng: random.Random) -> bytes:
    """Set the header's format or track count to an odd value (0, 2, 3, 0xFFFF, the true count +-1)."""
    if len(data) < 14:
        return flip_bits(data, rng)
    fmt, ntracks = struct.unpack(">HH", data[8:12])
    if rng.random() < 0.5:
        fmt = rng.choice((0, 1, 2, 3, 0x100, 0xFFFF))
    else:
        ntracks = rng.choice((0, 1, 2, ntracks + 1, max(0, ntracks - 1), 0x7FFF, 0xFFFF)) & 0xFFFF
    return data[:8] + struct.pack(">HH", fmt, ntracks) + data[12:]


def absurd_division(data: bytes, rng: random.Random) -> bytes:
    """Set the time division to an absurd value: 1-3 ticks a beat, 0x7FFF, 0, or an SMPTE code."""
    if len(data) < 14:
        return flip_bits(data, rng)
    division = rng.choice((0, 1, 2, 3, 7, 0x7FFF, 0x7FFE, 0x8000, 0xE250, 0xE728, 0xFFFF, rng.getrandbits(16)))
    return data[:12] + struct.pack(">H", division) + data[14:]


def giant_delta(data: bytes, rng: random.Random) -> bytes:
    """Give 1-9 events the largest delta time (2**28 - 1 ticks), or a random large one."""

    def edit(events: list[Event], rng: random.Random) -> None:
        for _ in range(rng.randint(1, 9)):
            i = rng.randrange(len(events))
            big = rng.choice((2**28 - 1, 2**27, 2**21, rng.randrange(2**14, 2**28)))
            events[i] = (big, events[i][1])

    return _edit_events(data, rng, edit)


def overlong_delta(data: bytes, rng: random.Random) -> bytes:
    """Write a delta time as a VLQ of 5+ bytes (continuation bits that never stop), as raw bytes in a track."""
    chunks = split_chunks(data)
    if chunks is None:
        return flip_bits(data, rng)
    tracks = [i for i, (kind, _) in enumerate(chunks) if kind == b"MTrk"]
    if not tracks:
        return flip_bits(data, rng)
    t = rng.choice(tracks)
    kind, body = chunks[t]
    junk = b"\x80" * rng.randint(4, 12) + b"\x00" if rng.random() < 0.5 else b"\xff" * rng.randint(4, 64)
    at = rng.choice((0, rng.randint(0, len(body))))
    chunks[t] = (kind, body[:at] + junk + body[at:])
    return join_chunks(chunks)


def _tempo(mspq: int) -> bytes:
    return b"\xff\x51\x03" + mspq.to_bytes(3, "big")


def absurd_tempo(data: bytes, rng: random.Random) -> bytes:
    """Set tempos (or insert them) to 0, 1 or 0xFFFFFF microseconds a beat; or a set-tempo of the wrong length."""

    def edit(events: list[Event], rng: random.Random) -> None:
        value = rng.choice((0, 1, 2, 0xFFFFFF, 0x800000, rng.getrandbits(24)))
        tempos = _indices(events, lambda raw: raw[:2] == b"\xff\x51")
        if tempos and rng.random() < 0.6:
            for i in tempos if rng.random() < 0.5 else [rng.choice(tempos)]:
                events[i] = (events[i][0], _tempo(value))
        elif rng.random() < 0.7:
            events.insert(rng.randint(0, len(events)), (rng.choice((0, 1, 480)), _tempo(value)))
        else:  # a set-tempo with 0, 1, 2 or 6 data bytes
            size = rng.choice((0, 1, 2, 6))
            events.insert(rng.randint(0, len(events)), (0, b"\xff\x51" + bytes([size]) + b"\x07" * size))

    return _edit_events(data, rng, edit)


def absurd_meta(data: bytes, rng: random.Random) -> bytes:
    """Time signatures with numerator 0 or 255 and denominator exponents up to 255; key signatures out of range;
    meta events of the wrong length."""

    def edit(events: list[Event], rng: random.Random) -> None:
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            if kind < 0.4:
                numerator = rng.choice((0, 1, 3, 127, 255))
                exponent = rng.choice((0, 2, 5, 6, 7, 8, 31, 32, 63, 64, 127, 255))
                raw = b"\xff\x58\x04" + bytes([numerator, exponent, rng.choice((0, 24, 255)), rng.choice((0, 8))])
            elif kind < 0.7:
                raw = b"\xff\x59\x02" + bytes([rng.choice((0x80, 0xF8, 0x08, 0x7F, 0x07)), rng.choice((0, 1, 2, 255))])
            else:
                meta = rng.choice((0x51, 0x58, 0x59, 0x54, 0x2F, 0x03, 0x00, 0x20, 0x7F))
                size = rng.choice((0, 1, 3, 5, 255))
                raw = b"\xff" + bytes([meta]) + vlq(size) + bytes(rng.getrandbits(8) for _ in range(size))
            events.insert(rng.randint(0, len(events)), (rng.choice((0, 0, 96, 2**20)), raw))

    return _edit_events(data, rng, edit)


def running_status(data: bytes, rng: random.Random) -> bytes:
    """Running-status edge cases: drop the status of channel events (valid after the same status, invalid after a
    meta or sysex event or at the start of a track), or put real-time bytes between events."""

    def edit(events: list[Event], rng: random.Random) -> None:
        channel = _indices(events, lambda raw: 0x80 <= raw[0] <= 0xEF)
        if not channel:
            events.insert(0, (0, b"\x3c\x40"))  # data bytes with no status at all
            return
        kind = rng.random()
        if kind < 0.4:  # drop many statuses: valid running status where the previous event shares it
            for i in channel:
                if rng.random() < 0.7:
                    events[i] = (events[i][0], events[i][1][1:])
        elif kind < 0.6:  # after a meta event (running status must not survive it)
            i = rng.choice(channel)
            events.insert(i, (0, b"\xff\x01\x01x"))
            events[i + 1] = (events[i + 1][0], events[i + 1][1][1:])
        elif kind < 0.75:  # at the very start of a track
            i = rng.choice(channel)
            events.insert(0, (0, events[i][1][1:]))
        elif kind < 0.9:  # a system real-time or undefined status byte among the events
            events.insert(rng.randint(0, len(events)), (0, bytes([rng.choice((0xF8, 0xFA, 0xFC, 0xFE, 0xF4, 0xF5))])))
        else:  # a status byte where a data byte should be
            i = rng.choice(channel)
            raw = bytearray(events[i][1])
            raw[-1] = rng.choice((0x80, 0x90, 0xFF))
            events[i] = (events[i][0], bytes(raw))

    return _edit_events(data, rng, edit)


def huge_meta_length(data: bytes, rng: random.Random) -> bytes:
    """Give a meta or sysex event a length far past the end of its track (2**28 - 1, or just past the end)."""

    def edit(events: list[Event], rng: random.Random) -> None:
        length = rng.choice((2**28 - 1, 2**21, 1000, 1))
        status = rng.choice((b"\xff\x01", b"\xff\x03", b"\xf0", b"\xf7", b"\xff\x7f"))
        events.insert(rng.randint(0, len(events)), (0, status + vlq(length)))

    return _edit_events(data, rng, edit)


def note_data(data: bytes, rng: random.Random) -> bytes:
    """Notes at pitch 0 or 127, velocity 0 (a note-off) or 127; note-offs with no note-on; note-ons never ended."""

    def edit(events: list[Event], rng: random.Random) -> None:
        notes = _indices(events, lambda raw: 0x80 <= raw[0] <= 0x9F)
        if not notes:
            events.insert(0, (0, b"\x90\x3c\x40"))
            return
        for i in rng.sample(notes, min(len(notes), rng.randint(1, 16))):
            delta, raw = events[i]
            kind = rng.random()
            if kind < 0.3:
                events[i] = (delta, bytes([raw[0], rng.choice((0, 127)), raw[2]]))
            elif kind < 0.5:
                events[i] = (delta, bytes([raw[0], raw[1], rng.choice((0, 1, 127))]))
            elif kind < 0.7:
                events[i] = (delta, bytes([raw[0] ^ 0x10, raw[1], raw[2]]))  # on <-> off
            else:
                events[i] = (delta, b"\xff\x01\x00")  # the event is gone (a text meta of length 0 keeps the time)

    return _edit_events(data, rng, edit)


def repeat_event(data: bytes, rng: random.Random) -> bytes:
    """Repeat one event 100-20,000 times at delta 0 or 1 (many notes, tempos or meters at one time)."""

    def edit(events: list[Event], rng: random.Random) -> None:
        i = rng.randrange(len(events))
        delta = rng.choice((0, 1))
        count = min(rng.choice((100, 1000, 20_000)), MAX_INPUT // (len(events[i][1]) + 1))
        events[i + 1 : i + 1] = [(delta, events[i][1])] * count

    return _edit_events(data, rng, edit)


def drop_end_of_track(data: bytes, rng: random.Random) -> bytes:
    """Remove the end-of-track event of a track, or put one in the middle."""

    def edit(events: list[Event], rng: random.Random) -> None:
        if rng.random() < 0.7:
            events[:] = [e for e in events if e[1][:2] != b"\xff\x2f"]
        else:
            events.insert(rng.randint(0, len(events)), (0, b"\xff\x2f\x00"))

    return _edit_events(data, rng, edit)


def many_chunks(data: bytes, rng: random.Random) -> bytes:
    """Repeat a track chunk (up to 2,000 times, within :data:`MAX_INPUT`) and maybe raise the header's track
    count to match, or insert unknown, empty or second header chunks between the tracks."""
    chunks = split_chunks(data)
    tracks = [c for c in chunks or () if c[0] == b"MTrk"]
    if chunks is None or not tracks:
        return flip_bits(data, rng)
    if rng.random() < 0.5:
        track = rng.choice(tracks)
        copies = max(1, min(rng.choice((10, 200, 2000)), MAX_INPUT // (len(track[1]) + 8)))
        chunks += [track] * copies
        if rng.random() < 0.5:
            kind, header = chunks[0]
            (ntracks,) = struct.unpack(">H", header[2:4])
            chunks[0] = (kind, header[:2] + struct.pack(">H", min(0xFFFF, ntracks + copies)) + header[4:])
    else:
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice((b"XFIH", b"MTrk", b"MThd", b"\x00\x00\x00\x00", b"RIFF"))
            body = bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 6, 40))))
            chunks.insert(rng.randint(1, len(chunks)), (kind, body))
    return join_chunks(chunks)


MUTATIONS: dict[str, Mutation] = {
    "flip_bits": flip_bits,
    "set_bytes": set_bytes,
    "truncate": truncate,
    "chunk_length": chunk_length,
    "header_fields": header_fields,
    "absurd_division": absurd_division,
    "giant_delta": giant_delta,
    "overlong_delta": overlong_delta,
    "absurd_tempo": absurd_tempo,
    "absurd_meta": absurd_meta,
    "running_status": running_status,
    "huge_meta_length": huge_meta_length,
    "note_data": note_data,
    "repeat_event": repeat_event,
    "drop_end_of_track": drop_end_of_track,
    "many_chunks": many_chunks,
}


def splice(first: bytes, second: bytes, rng: random.Random) -> bytes:
    """The start of one file and the end of another, cut at random points (a crossover)."""
    return first[: rng.randint(0, len(first))] + second[rng.randint(0, len(second)) :]


# ================================================================================================ inputs
#: (layout, grid keyword, value) each input is read with
LAYOUTS = ("gm", "piano", "lpd5", "voices")
GRIDS: tuple[tuple[str, float], ...] = (
    ("steps_per_beat", 1),
    ("steps_per_beat", 4),
    ("steps_per_beat", 12),
    ("steps_per_beat", 24),
    ("steps_per_beat", 960),
    ("frames_per_second", 1.0),
    ("frames_per_second", 100.0),
    ("frames_per_second", 2000.0),
)


@dataclass(frozen=True)
class Options:
    """How an input is read: ``Roll.from_midi(data, layout, **{grid: value}, sustain_pedal=pedal)``."""

    layout: str = "gm"
    grid: str = "steps_per_beat"
    value: float = 12
    pedal: bool | None = None

    def kwargs(self) -> dict[str, Any]:
        value = int(self.value) if self.grid == "steps_per_beat" else float(self.value)
        return {"layout": self.layout, self.grid: value, "sustain_pedal": self.pedal}

    def tag(self) -> str:
        grid = f"spb{int(self.value)}" if self.grid == "steps_per_beat" else f"fps{self.value:g}"
        return f"{self.layout}-{grid}"

    @classmethod
    def from_tag(cls, tag: str) -> Options | None:
        """Options from a :meth:`tag` (as in a saved file name), or None."""
        match = re.search(r"(gm|piano|lpd5|voices)-(spb|fps)([0-9.]+)", tag)
        if match is None:
            return None
        grid = "steps_per_beat" if match.group(2) == "spb" else "frames_per_second"
        return cls(match.group(1), grid, float(match.group(3)))


@dataclass(frozen=True)
class Input:
    index: int
    data: bytes
    seed_name: str
    chain: tuple[str, ...]
    options: Options


def corpus_files(root: Path, folders: Sequence[str] = FOLDERS) -> list[Path]:
    """The real MIDI files of the corpus folders, sorted."""
    return sorted(
        p for f in folders for p in (root / f).glob("*") if p.is_file() and p.suffix.lower().startswith(MIDI_SUFFIXES)
    )


def default_corpus() -> Path:
    return Path(os.environ.get("SYMDIFF_TEST_MIDI") or REPO.parent / "shared" / "midi")


def make_input(seeds: Sequence[tuple[str, bytes]], seed: int, index: int) -> Input:
    """Input ``index`` of run ``seed``: a seed file, one to three mutations (or a splice), and read options."""
    rng = random.Random(seed * 1_000_003 + index)
    name, data = seeds[rng.randrange(len(seeds))]
    chain: list[str] = []
    if rng.random() < 0.08:
        _, other = seeds[rng.randrange(len(seeds))]
        data = splice(data, other, rng)
        chain.append("splice")
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        mutation = rng.choice(list(MUTATIONS))
        data = MUTATIONS[mutation](data, rng)
        chain.append(mutation)
    grid, value = rng.choice(GRIDS)
    pedal = rng.choice((None, None, True, False))
    return Input(index, data, name, tuple(chain), Options(rng.choice(LAYOUTS), grid, value, pedal))


# ================================================================================================ the worker
def read_roll(data: bytes, kwargs: dict[str, Any]) -> Any:
    """What the worker runs on each input: ``Roll.from_midi(data, **kwargs)``."""
    from symdiff import Roll

    return Roll.from_midi(data, **kwargs)


def _worker(conn: Any, memory_mb: int, deep: bool, reader: Callable[[bytes, dict[str, Any]], Any]) -> None:
    """Read inputs from ``conn`` and answer ``(outcome, detail, seconds, peak_rss_kib)`` for each; ``seconds`` is the
    CPU time ``Roll.from_midi`` took (without the ``deep`` use of the Roll): unlike the time on the clock it does not
    grow when other work shares the machine."""
    import faulthandler
    import warnings

    faulthandler.disable()  # a crash is the parent's to report (pytest turns the handler on in the process forked)
    warnings.simplefilter("ignore")
    if memory_mb > 0 and hasattr(resource, "RLIMIT_AS"):
        used = _address_space_bytes()
        limit = used + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    import symdiff.roll  # noqa: F401  (imported now, so the first input's time is not the import's)
    from symdiff import MidiError

    conn.send(("ready", _peak_rss_kib()))
    while True:
        message = conn.recv()
        if message is None:
            return
        data, kwargs = message
        started = time.process_time()
        seconds = None
        try:
            roll = reader(data, kwargs)
            seconds = time.process_time() - started
            detail = f"{len(roll.notes)} notes, {roll.length} steps"
            if deep:
                detail += _use(roll)
            outcome = "ok"
        except MidiError as err:
            outcome, detail = "MidiError", err.problem
        except Exception as err:  # the finding: anything but MidiError
            frame = traceback.extract_tb(err.__traceback__)[-1]
            where = f"{Path(frame.filename).name}:{frame.lineno}"
            outcome, detail = "exception", f"{type(err).__name__} at {where}: {err}"[:500]
        if seconds is None:
            seconds = time.process_time() - started
        conn.send((outcome, detail, seconds, _peak_rss_kib()))


def _use(roll: Any) -> str:
    """Use a Roll read from a hostile file as a caller would: summary, a window's tensor, MIDI bytes read back."""
    from symdiff import Roll

    roll.summary()
    roll.to_tensor(0, min(roll.length, 256))
    again = Roll.from_midi(roll.to_midi_bytes(), layout=roll.layout, **roll.grid.to_dict())
    return f"; written and read back: {len(again.notes)} notes"


def _peak_rss_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


def _address_space_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


class Harness:
    """A worker process fed one input at a time, watched by a timeout; restarted after a crash or a hang.

    ``reader`` is what the worker calls on each input (default :func:`read_roll`); the worker is forked, so any
    callable will do. ``wall`` is how long on the clock a worker may take to answer before it is taken for hung
    (default five times the timeout, ten with ``deep``).
    """

    def __init__(
        self,
        timeout: float = 2.0,
        memory_mb: int = 1024,
        deep: bool = False,
        reader: Callable[[bytes, dict[str, Any]], Any] = read_roll,
        wall: float | None = None,
    ) -> None:
        self.timeout, self.memory_mb, self.deep, self.reader = timeout, memory_mb, deep, reader
        self.wall = wall if wall is not None else timeout * (10 if deep else 5)
        self.context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self.process: Any = None
        self.conn: Any = None
        self.peak_rss_kib = 0
        self.baseline_rss_kib = 0
        self.restarts = 0

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        parent, child = self.context.Pipe()
        args = (child, self.memory_mb, self.deep, self.reader)
        self.process = self.context.Process(target=_worker, args=args, daemon=True)
        self.process.start()
        child.close()
        self.conn = parent
        if not parent.poll(120):
            raise RuntimeError("the fuzz worker did not start within 120 s")
        _, rss = parent.recv()
        self.peak_rss_kib = max(self.peak_rss_kib, rss)
        self.baseline_rss_kib = self.baseline_rss_kib or rss

    def _kill(self, restart: bool = True) -> int | None:
        """Stop the worker; its exit code (negative: the signal that ended it)."""
        if self.process is None:
            return None
        if self.process.is_alive():
            self.process.kill()
        self.process.join(10)
        code = self.process.exitcode
        self.conn.close()
        self.process, self.conn = None, None
        self.restarts += restart
        return code

    def close(self) -> None:
        if self.process is not None:
            try:
                self.conn.send(None)
                self.process.join(5)
            except (OSError, EOFError, BrokenPipeError):
                pass
            self._kill(restart=False)

    def run(self, data: bytes, options: Options) -> tuple[str, str, float]:
        """``(outcome, detail, seconds)`` of reading ``data`` with ``options``: a read that takes more CPU time than
        the timeout is a ``timeout``, and so is a worker that does not answer within ``wall`` seconds on the clock
        (a loaded machine stretches the clock, not the CPU time)."""
        if self.process is None:
            self._start()
        started = time.perf_counter()
        try:
            self.conn.send((data, options.kwargs()))
            answered = self.conn.poll(self.wall)
            if answered:
                outcome, detail, seconds, rss = self.conn.recv()
                self.peak_rss_kib = max(self.peak_rss_kib, rss)
                if seconds > self.timeout:
                    return "timeout", f"the read took {seconds:.2f} s of CPU time ({outcome}: {detail})", seconds
                return outcome, detail, seconds
        except (EOFError, OSError, BrokenPipeError):
            answered = True  # the pipe broke: the worker died
        elapsed = time.perf_counter() - started
        code = self._kill()
        if answered or (code is not None and code != -9):
            return "crash", _signal_name(code), elapsed
        return "timeout", f"no answer in {elapsed:.1f} s", elapsed


def _signal_name(code: int | None) -> str:
    if code is None or code >= 0:
        return f"exit code {code}"
    import signal

    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


# ================================================================================================ the run
@dataclass
class Finding:
    index: int
    outcome: str
    detail: str
    seed_name: str
    chain: tuple[str, ...]
    options: Options
    path: Path | None = None


@dataclass
class Report:
    inputs: int = 0
    seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    mutations: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0
    slow: list[tuple[float, int, str]] = field(default_factory=list)  # the slowest inputs: seconds, index, what
    peak_rss_kib: int = 0
    baseline_rss_kib: int = 0
    restarts: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "seconds": round(self.seconds, 2),
            "inputs_per_second": round(self.rate, 1),
            "outcomes": {k: self.counts.get(k, 0) for k in OUTCOMES},
            "refusals": dict(self.problems.most_common()),
            "slowest_input_seconds": round(self.slowest, 4),
            "peak_worker_rss_mib": round(self.peak_rss_kib / 1024, 1),
            "worker_rss_at_start_mib": round(self.baseline_rss_kib / 1024, 1),
            "worker_restarts": self.restarts,
            "findings": [
                {
                    "index": f.index,
                    "outcome": f.outcome,
                    "detail": f.detail,
                    "seed": f.seed_name,
                    "mutations": list(f.chain),
                    "options": f.options.tag(),
                    "saved": str(f.path) if f.path else None,
                }
                for f in self.findings
            ],
        }


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:limit] or "x"


def _problem_kind(problem: str) -> str:
    """A MidiError message with its numbers and quoted parts taken out, to count refusals by kind."""
    problem = re.sub(r"\(.*", "", problem)
    return re.sub(r"[0-9][0-9,.]*", "N", problem).strip()[:70]


def _signature(outcome: str, detail: str) -> str:
    """What identifies one failure among many inputs: the outcome and the exception type and place."""
    if outcome == "exception":
        return "exception-" + _slug(detail.split(":")[0].replace(" at ", "-"), 60)
    if outcome == "crash":
        return "crash-" + _slug(detail)
    return outcome


def save_input(folder: Path, data: bytes, outcome: str, detail: str, options: Options) -> Path:
    """Save a failing input as ``<signature>-<layout>-<grid>-<sha1[:12]>.mid`` (atomically; kept if present)."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:12]
    path = folder / f"{_signature(outcome, detail)}-{options.tag()}-{digest}.mid"
    if not path.exists():
        tmp = folder / f".{path.name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


def fuzz(
    inputs: int,
    seed: int = 0,
    *,
    corpus: Path | None = None,
    timeout: float = 2.0,
    memory_mb: int = 1024,
    deep: bool = False,
    save: Path | None = None,
    keep_per_kind: int = 3,
    shrink: bool = True,
    progress: bool = False,
) -> Report:
    """Run ``inputs`` fuzzed inputs of run ``seed`` through ``Roll.from_midi`` (see the module docstring); with
    ``save``, failing inputs are minimised (``shrink``) and saved there."""
    root = corpus or default_corpus()
    files = corpus_files(root)
    if not files:
        raise FileNotFoundError(f"no MIDI files under {root} ({', '.join(FOLDERS)})")
    seeds = [(p.name, p.read_bytes()) for p in files]
    report = Report()
    saved: Counter[str] = Counter()
    started = time.perf_counter()
    with Harness(timeout, memory_mb, deep) as harness:
        for i in range(inputs):
            item = make_input(seeds, seed, i)
            outcome, detail, seconds = harness.run(item.data, item.options)
            if outcome == "timeout":  # confirm in a fresh worker: a loaded machine can stall one run
                outcome, detail, seconds = harness.run(item.data, item.options)
            report.counts[outcome] += 1
            report.mutations.update(item.chain)
            report.slowest = max(report.slowest, seconds)
            if len(report.slow) < 5 or seconds > report.slow[-1][0]:
                what = f"{item.seed_name} + {'+'.join(item.chain)}, {item.options.tag()}, {len(item.data):,} bytes"
                report.slow = sorted([*report.slow, (seconds, i, what)], reverse=True)[:5]
            if outcome == "MidiError":
                report.problems[_problem_kind(detail)] += 1
            if outcome in BROKEN:
                finding = Finding(i, outcome, detail, item.seed_name, item.chain, item.options)
                kind = _signature(outcome, detail)
                if save is not None and saved[kind] < keep_per_kind:
                    data = item.data
                    if shrink:  # keep the outcome, and for a crash or an exception its kind and place
                        pattern = (
                            "^timeout" if outcome == "timeout" else f"^{outcome}: {re.escape(detail.split(':')[0])}"
                        )
                        data = minimize(data, failure_test(harness, item.options, pattern))
                    finding.path = save_input(save, data, outcome, detail, item.options)
                    saved[kind] += 1
                report.findings.append(finding)
            if progress and (i + 1) % 1000 == 0:
                elapsed = time.perf_counter() - started
                print(f"  {i + 1:>8,} inputs  {(i + 1) / elapsed:7.0f}/s  {dict(report.counts)}", flush=True)
        report.peak_rss_kib, report.restarts = harness.peak_rss_kib, harness.restarts
        report.baseline_rss_kib = harness.baseline_rss_kib
    report.inputs, report.seconds = inputs, time.perf_counter() - started
    return report


def regression_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.is_file() and p.suffix.lower().startswith(MIDI_SUFFIXES))


def replay(
    folder: Path, *, timeout: float = 2.0, memory_mb: int = 1024, deep: bool = False
) -> list[tuple[Path, Options, str, str, float]]:
    """Every saved input read with the options in its name and with each layout on two grids:
    ``[(path, options, outcome, detail, seconds), ...]``."""
    results = []
    with Harness(timeout, memory_mb, deep) as harness:
        for path in regression_files(folder):
            data = path.read_bytes()
            own = Options.from_tag(path.name)
            variants = [own] if own is not None else []
            variants += [Options(layout, grid, value) for layout in LAYOUTS for grid, value in (GRIDS[2], GRIDS[6])]
            for options in variants:
                outcome, detail, seconds = harness.run(data, options)
                results.append((path, options, outcome, detail, seconds))
    return results


# ================================================================================================ minimising
def _ddmin(items: list[Any], still_fails: Callable[[list[Any]], bool]) -> list[Any]:
    """Delta debugging (Zeller): drop ever smaller runs of ``items`` while ``still_fails`` holds."""
    parts = 2
    while len(items) >= 2:
        size = -(-len(items) // parts)
        for start in range(0, len(items), size):
            candidate = items[:start] + items[start + size :]
            if still_fails(candidate):
                items, parts = candidate, max(parts - 1, 2)
                break
        else:
            if parts >= len(items):
                break
            parts = min(len(items), parts * 2)
    return items


class _Budget(Exception):
    """The minimiser ran out of tries."""


def minimize(data: bytes, still_fails: Callable[[bytes], bool], *, tries: int = 3000, seconds: float = 60.0) -> bytes:
    """A smaller input for which ``still_fails`` holds: whole chunks dropped, then events of each track, then
    bytes (each level by delta debugging), within ``tries`` calls and ``seconds``. Saved inputs are minimised
    so the regression folder holds the few bytes that matter, not copies of the corpus files."""
    deadline, count = time.perf_counter() + seconds, [0]

    def check(candidate: bytes) -> bool:
        if count[0] >= tries or time.perf_counter() > deadline:
            raise _Budget
        count[0] += 1
        return candidate != data and still_fails(candidate)

    best = data
    try:
        chunks = split_chunks(best)
        if chunks is not None and len(chunks) > 1:
            kept = _ddmin(chunks[1:], lambda rest: check(join_chunks([chunks[0], *rest])))
            best = join_chunks([chunks[0], *kept])
        chunks = split_chunks(best)
        for t in range(1, len(chunks or ())):
            assert chunks is not None
            events = split_events(chunks[t][1])
            if not events:
                continue

            def with_events(kept: list[Event], t: int = t) -> bytes:
                assert chunks is not None
                return join_chunks([*chunks[:t], (b"MTrk", join_events(kept)), *chunks[t + 1 :]])

            kept_events = _ddmin(events, lambda kept: check(with_events(kept)))
            chunks[t] = (b"MTrk", join_events(kept_events))
            best = join_chunks(chunks)
        best = bytes(_ddmin(list(best), lambda kept: check(bytes(kept))))
    except _Budget:
        pass
    return best


def failure_test(harness: Harness, options: Options, pattern: str) -> Callable[[bytes], bool]:
    """Whether an input read with ``options`` gives an ``"<outcome>: <detail>"`` matching ``pattern``."""
    regex = re.compile(pattern)

    def still_fails(data: bytes) -> bool:
        outcome, detail, _ = harness.run(data, options)
        return bool(regex.search(f"{outcome}: {detail}"))

    return still_fails


# ================================================================================================ prepare
def prepare_check(inputs: Sequence[Input], folder: Path, out: Path, workers: int = 2) -> dict[str, Any]:
    """Write ``inputs`` to ``folder`` and run ``symdiff prepare folder`` on it in a subprocess; returns the
    manifest's counts, the piece ids in errors.tsv, and the seconds it took."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    for item in inputs:
        (folder / f"input-{item.index:07d}.mid").write_bytes(item.data)
    command = [sys.executable, "-m", "symdiff.cli", "prepare", "folder", str(folder), str(out)]
    command += ["--workers", str(workers), "--timeout", "10", "--quiet"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"symdiff prepare failed ({result.returncode}): {result.stderr[-2000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    rows = (out / "errors.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return {
        "counts": manifest["counts"],
        "errors": {row.split("\t")[0]: row.split("\t")[2] for row in rows},
        "seconds": seconds,
    }


# ================================================================================================ main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=10_000, help="how many inputs (default 10,000)")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (input i depends only on it and i)")
    parser.add_argument("--corpus", type=Path, default=None, help="the real MIDI corpus (default ../shared/midi)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds an input may take (default 2)")
    parser.add_argument("--memory-mb", type=int, default=1024, help="address space a worker may add (0: no limit)")
    parser.add_argument("--deep", action="store_true", help="also use each Roll: summary, tensor, MIDI round trip")
    parser.add_argument("--save", type=Path, default=None, help="save failing inputs here (tests/regressions/midi)")
    parser.add_argument("--keep-per-kind", type=int, default=3, help="failing inputs saved per distinct failure")
    parser.add_argument("--prepare", type=int, default=0, help="also run symdiff prepare on this many inputs")
    parser.add_argument("--no-shrink", action="store_true", help="save failing inputs as they are, not minimised")
    parser.add_argument("--replay", type=Path, default=None, help="only re-run the inputs saved in this folder")
    parser.add_argument("--minimize", type=Path, default=None, help="only minimise this input (see --match)")
    parser.add_argument("--match", default=None, help="--minimize keeps inputs whose '<outcome>: <detail>' matches")
    parser.add_argument("--options", default="gm-spb12", help="--minimize reads with these options (e.g. lpd5-fps1)")
    parser.add_argument("--json", type=Path, default=None, help="write the report here as JSON")
    args = parser.parse_args(argv)
    if args.inputs < 1 or args.timeout <= 0:
        parser.error("--inputs must be >= 1 and --timeout > 0")

    if args.minimize is not None:
        options = Options.from_tag(args.options)
        if options is None or not args.match:
            parser.error("--minimize needs --match REGEX and --options such as gm-spb12 or piano-fps100")
        data = args.minimize.read_bytes()
        with Harness(args.timeout, args.memory_mb, args.deep) as harness:
            still_fails = failure_test(harness, options, args.match)
            if not still_fails(data):
                print(f"{args.minimize}: does not match {args.match!r} as it is")
                return 1
            small = minimize(data, still_fails)
            print(f"{len(data):,} -> {len(small):,} bytes: {harness.run(small, options)[:2]}")
        out = args.minimize.with_name(args.minimize.stem + "-min" + args.minimize.suffix)
        out.write_bytes(small)
        print(f"written to {out}")
        return 0

    if args.replay is not None:
        results = replay(args.replay, timeout=args.timeout, memory_mb=args.memory_mb, deep=args.deep)
        counts = Counter(r[2] for r in results)
        bad = [r for r in results if r[2] in BROKEN]
        for path, options, outcome, detail, _ in bad:
            print(f"{outcome:10s} {path.name} [{options.tag()}]: {detail}")
        print(f"replayed {len(regression_files(args.replay))} files, {len(results)} reads: {dict(counts)}")
        return 1 if bad else 0

    print(f"fuzzing Roll.from_midi: {args.inputs:,} inputs, seed {args.seed}, timeout {args.timeout:g} s")
    report = fuzz(
        args.inputs,
        args.seed,
        corpus=args.corpus,
        timeout=args.timeout,
        memory_mb=args.memory_mb,
        deep=args.deep,
        save=args.save,
        keep_per_kind=args.keep_per_kind,
        shrink=not args.no_shrink,
        progress=True,
    )
    print(f"\n{report.inputs:,} inputs in {report.seconds:.1f} s: {report.rate:,.0f} inputs/s")
    for outcome in OUTCOMES:
        print(f"  {outcome:10s} {report.counts.get(outcome, 0):>9,}")
    print(
        f"slowest read {report.slowest * 1000:.1f} ms of CPU time; worker peak RSS "
        f"{report.peak_rss_kib / 1024:.0f} MiB ({report.baseline_rss_kib / 1024:.0f} MiB at start)"
    )
    print(f"worker restarts {report.restarts}")
    for seconds, index, what in report.slow:
        print(f"  slow: input {index} took {seconds * 1000:.0f} ms ({what})")
    print("refusals (MidiError) by kind:")
    for kind, count in report.problems.most_common(12):
        print(f"  {count:>8,}  {kind}")
    print("mutations used: " + ", ".join(f"{k} {v}" for k, v in sorted(report.mutations.items())))
    kinds = Counter(_signature(f.outcome, f.detail) for f in report.findings)
    for kind, count in kinds.most_common():
        example = next(f for f in report.findings if _signature(f.outcome, f.detail) == kind)
        print(
            f"FINDING {kind} x{count}: input {example.index} ({example.seed_name} + {'+'.join(example.chain)}, "
            f"{example.options.tag()}): {example.detail}"
        )
    result = report.to_dict()
    if args.prepare:
        import tempfile

        root = args.corpus or default_corpus()
        seeds = [(p.name, p.read_bytes()) for p in corpus_files(root)]
        items = [make_input(seeds, args.seed, i) for i in range(min(args.prepare, args.inputs))]
        with tempfile.TemporaryDirectory() as tmp:
            check = prepare_check(items, Path(tmp) / "in", Path(tmp) / "out")
        print(f"symdiff prepare on {len(items)} inputs: {check['counts']} in {check['seconds']:.1f} s")
        result["prepare"] = {"counts": check["counts"], "seconds": round(check["seconds"], 1)}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
