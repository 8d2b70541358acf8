"""The only room that touches MIDI bytes: read a MIDI source into grid-quantised arrays, and write them back.

Reading uses symusic (MidiTok's C++ parser, ~0.25 ms a file). Untrusted bytes are checked before they reach the
parser (header, format, division, size) and after it (note count, length, bars), so a bad file gives a
:class:`~symdiff.errors.MidiError` that names it and says what is wrong, never another exception or an
unbounded allocation. Writing refuses a Roll too long for MIDI's delta times rather than write it wrong.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import symusic

from .checks import check_bool, check_int
from .errors import MidiError
from .grid import TEMPO_DTYPE, Grid
from .layout import TrackLayout
from .notes import NOTE_DTYPE, canonical_from_columns

if TYPE_CHECKING:
    import pretty_midi

#: structured dtype of the time signatures: the step where each starts, numerator, denominator
METER_DTYPE = np.dtype([("step", "<i8"), ("numerator", "u1"), ("denominator", "u1")])
#: structured dtype of the key signatures: step, sharps (negative: flats) -7..7, tonality (0 major, 1 minor)
KEY_DTYPE = np.dtype([("step", "<i8"), ("key", "i1"), ("tonality", "u1")])

#: what Roll.from_midi reads: a path (any extension), MIDI bytes, a symusic.Score or a pretty_midi.PrettyMIDI
MidiSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, symusic.Score, "pretty_midi.PrettyMIDI"]


@dataclass(frozen=True)
class Limits:
    """What a MIDI source may hold before it is refused (to bound memory and time on hostile input).

    Attributes:
        max_bytes: size of the file.
        max_notes: notes in it.
        max_steps: its length on the grid it is read onto.
        max_bars: bars in it, as its time signatures divide it (a meter such as 1/128 makes a bar of a 32nd of a
            quarter note, so a long piece could make more bars than any memory holds).
    """

    max_bytes: int = 64 * 2**20
    max_notes: int = 2_000_000
    max_steps: int = 2**22
    max_bars: int = 2**21

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_notes", "max_steps", "max_bars"):
            check_int(f"Limits.{name}", getattr(self, name), 1, allowed="a positive int")


DEFAULT_LIMITS = Limits()
#: what ``sustain_pedal`` may be, where it is taken
SUSTAIN_PEDAL = "True, False or None (the grid's default)"
#: the largest tick a written MIDI event may have: a delta time (the ticks between two events of a track) holds at
#: most 2**28 - 1, and symusic writes a longer one modulo 2**28, silently (so a note of 2**28 ticks came back 0 long)
MAX_TICK = 2**28 - 1


@dataclass
class MidiContent:
    """What :func:`read` extracts from a MIDI source, quantised to a grid (the fields of a Roll)."""

    notes: np.ndarray
    length: int
    tempos: np.ndarray
    meters: np.ndarray
    keys: np.ndarray
    programs: tuple[int, ...]
    metadata: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- reading
def load_bytes(source: MidiSource, limits: Limits = DEFAULT_LIMITS) -> tuple[bytes, str]:
    """The bytes of a MIDI source and a name for messages. Paths are read whatever their extension."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "<bytes>"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path)
        try:
            size = path.stat().st_size
        except OSError as err:
            raise MidiError(name, f"cannot read the file ({err.strerror or err})") from None
        if not path.is_file():
            raise MidiError(name, "is not a file")
        if size > limits.max_bytes:
            raise MidiError(name, f"file is {size:,} bytes, over the limit of {limits.max_bytes:,} (Limits.max_bytes)")
        try:
            data = path.read_bytes()
        except OSError as err:
            raise MidiError(name, f"cannot read the file ({err.strerror or err})") from None
    elif _is_pretty_midi(source):
        buffer = io.BytesIO()
        try:
            source.write(buffer)
        except Exception as err:  # pretty_midi raises many types
            raise MidiError("<PrettyMIDI>", f"pretty_midi could not write it: {err}") from None
        data, name = buffer.getvalue(), "<PrettyMIDI>"
    else:
        raise TypeError(
            f"a MIDI source is a path, bytes, a symusic.Score or a pretty_midi.PrettyMIDI, got {type(source).__name__}"
        )
    if len(data) > limits.max_bytes:
        raise MidiError(name, f"{len(data):,} bytes, over the limit of {limits.max_bytes:,} (Limits.max_bytes)")
    return data, name


def check_header(data: bytes, name: str) -> None:
    """Refuse bytes that are not a standard MIDI file symdiff can read, before they reach the C++ parser."""
    if len(data) == 0:
        raise MidiError(name, "is empty (0 bytes)")
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":
        raise MidiError(name, "is a RIFF-wrapped MIDI (RMID) file; extract its 'data' chunk first")
    if data[:4] != b"MThd":
        raise MidiError(name, f"is not a MIDI file: it starts with {data[:4]!r}, not b'MThd'")
    if len(data) < 14:
        raise MidiError(name, f"is truncated: {len(data)} bytes, shorter than a MIDI header (14)")
    header_length, fmt, _ntracks, division = struct.unpack(">IHHH", data[4:14])
    if header_length < 6:
        raise MidiError(name, f"has a malformed header (length {header_length}, expected 6)")
    if fmt == 2:
        raise MidiError(name, "is a format 2 MIDI file (independent sequences), which symdiff does not read")
    if fmt not in (0, 1):
        raise MidiError(name, f"has an unknown MIDI format {fmt} (expected 0 or 1)")
    if division & 0x8000:
        raise MidiError(name, "uses SMPTE time division (negative division), which symdiff does not read")
    if division == 0:
        raise MidiError(name, "has a time division of 0 ticks per quarter note")


def parse(source: MidiSource, limits: Limits = DEFAULT_LIMITS) -> tuple[symusic.Score, str]:
    """A checked ``symusic.Score`` (in ticks) and a name for messages."""
    if isinstance(source, symusic.Score) or type(source).__module__.startswith("symusic"):
        score = source if source.ttype == symusic.TimeUnit.tick else source.to("tick")
        name = "<Score>"
        if score.tpq <= 0:
            raise MidiError(name, f"has a time division of {score.tpq} ticks per quarter note")
    else:
        data, name = load_bytes(source, limits)
        check_header(data, name)
        try:
            score = symusic.Score.from_midi(data)
        except Exception as err:  # symusic raises RuntimeError (and others) with the parser's message
            raise MidiError(name, f"is not a readable MIDI file ({err})") from None
    if score.start() < 0 or score.end() < 0:
        raise MidiError(name, "has event times beyond the parser's range (delta times overflow)")
    if score.note_num() > limits.max_notes:
        raise MidiError(
            name, f"holds {score.note_num():,} notes, over the limit of {limits.max_notes:,} (Limits.max_notes)"
        )
    return score, name


def read(
    source: MidiSource,
    layout: TrackLayout,
    grid: Grid,
    *,
    sustain_pedal: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> MidiContent:
    """Read a MIDI source and quantise it to ``grid`` under ``layout`` (see :meth:`symdiff.Roll.from_midi`)."""
    check_bool("sustain_pedal", sustain_pedal, allowed=SUSTAIN_PEDAL, error=TypeError)
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a symdiff.Limits, got {type(limits).__name__}")
    score, name = parse(source, limits)
    tpq = int(score.tpq)
    if grid.is_beat:
        timed = score
        end_steps = (2 * int(score.end()) * grid.steps_per_beat + tpq) // (2 * tpq)  # as ticks_to_steps
    else:
        timed = score.to("second")
        end_steps = int(np.floor(float(timed.end()) * grid.frames_per_second + 0.5))  # as seconds_to_steps
    if end_steps > limits.max_steps:
        raise MidiError(
            name,
            f"lasts {end_steps:,} steps on a grid of {grid}, over the limit of {limits.max_steps:,} (Limits.max_steps)",
        )

    def to_steps(times: np.ndarray) -> np.ndarray:
        return grid.ticks_to_steps(times, tpq) if grid.is_beat else grid.seconds_to_steps(times)

    starts, stops, pitches, velocities, counts, indices = [], [], [], [], [], []
    program_votes: dict[tuple[int, int], int] = {}  # (layout track, program) -> notes
    assigned = []
    for source_track in timed.tracks:
        if len(source_track.notes):
            index = layout.assign(int(source_track.program), bool(source_track.is_drum), str(source_track.name))
            if index is not None:
                assigned.append((index, source_track))
    assigned.sort(key=lambda pair: pair[0])  # in layout order, the notes are nearly sorted already
    for index, source_track in assigned:
        arrays = source_track.notes.numpy()
        start = arrays["time"]
        stop = start + arrays["duration"]
        if sustain_pedal and len(source_track.pedals):
            stop = _fold_pedal(start, stop, arrays["pitch"], source_track.pedals.numpy())
        starts.append(start)
        stops.append(stop)
        pitches.append(arrays["pitch"])
        velocities.append(arrays["velocity"])
        counts.append(len(start))
        indices.append(index)
        key = (index, int(source_track.program))
        program_votes[key] = program_votes.get(key, 0) + len(start)

    notes = np.zeros(0, dtype=NOTE_DTYPE)
    dropped = 0
    if starts:
        onset = to_steps(np.concatenate(starts))
        duration = to_steps(np.concatenate(stops)) - onset
        pitch = np.concatenate(pitches).astype(np.int64)
        velocity = np.concatenate(velocities)
        track = np.repeat(np.array(indices, dtype=np.int64), counts)
        if layout.clips_pitches:
            ranges = np.array([t.pitch_range for t in layout.tracks])
            keep = (pitch >= ranges[track, 0]) & (pitch <= ranges[track, 1])
            dropped = int(len(keep) - np.count_nonzero(keep))
            if dropped:
                onset, duration, pitch, track, velocity = (a[keep] for a in (onset, duration, pitch, track, velocity))
        notes = canonical_from_columns(track, pitch, onset, duration, velocity)

    # each track writes back the program most of its notes had (the lower on a tie); drums keep the default
    programs = [t.program for t in layout.tracks]
    best: dict[int, tuple[int, int]] = {}
    for (index, program), count in program_votes.items():
        if not layout.tracks[index].is_drum and (count, -program) > best.get(index, (0, 0)):
            best[index] = (count, -program)
            programs[index] = program

    note_end = int((notes["onset"].astype(np.int64) + notes["duration"]).max()) if len(notes) else 0
    length = max(end_steps, note_end)
    tempos, meters = _tempos(timed, to_steps), _meters(timed, to_steps)
    bars = _count_bars(meters, length, grid, tempos)
    if bars > limits.max_bars:
        shortest = meters[np.argmax(meters["denominator"] / np.maximum(meters["numerator"], 1))]
        raise MidiError(
            name,
            f"has {bars:,.0f} bars (time signatures down to {shortest['numerator']}/{shortest['denominator']}), over "
            f"the limit of {limits.max_bars:,} (Limits.max_bars)",
        )
    return MidiContent(
        notes=notes,
        length=length,
        tempos=tempos,
        meters=meters,
        keys=_keys(timed, to_steps),
        programs=tuple(programs),
        metadata={"source": name, "ticks_per_quarter": tpq, "dropped_notes": dropped},
    )


def _fold_pedal(start: np.ndarray, stop: np.ndarray, pitch: np.ndarray, pedals: dict[str, np.ndarray]) -> np.ndarray:
    """Note ends with the sustain pedal folded in: a note released while the pedal is down sounds until the pedal
    lifts, or until the same pitch is struck again, whichever comes first (never shorter than it was)."""
    pedal_start = pedals["time"]
    pedal_end = pedal_start + pedals["duration"]
    i = np.searchsorted(pedal_start, stop, side="right") - 1
    held = (i >= 0) & (stop < pedal_end[np.clip(i, 0, None)])
    extended = np.where(held, pedal_end[np.clip(i, 0, None)], stop)
    # the next onset of the same pitch bounds the extension
    order = np.lexsort((start, pitch))
    next_same = np.full(len(start), np.iinfo(np.int64).max if start.dtype.kind == "i" else np.inf)
    same = pitch[order][1:] == pitch[order][:-1]
    nxt = np.where(same, start[order][1:], next_same[0])
    next_same[order[:-1]] = nxt
    return np.maximum(stop, np.minimum(extended, next_same)).astype(stop.dtype)


def _timeline(
    steps: np.ndarray, columns: dict[str, np.ndarray], dtype: np.dtype, default: dict[str, float] | None
) -> np.ndarray:
    """Events as a structured array sorted by step; of events quantised to one step the last wins; with a
    ``default``, an event at step 0 is added when the first comes later (MIDI's defaults hold until then)."""
    if len(steps) > 1:
        order = np.argsort(steps, kind="stable")
        steps = steps[order]
        last = np.ones(len(steps), dtype=bool)
        last[:-1] = steps[1:] != steps[:-1]
        steps = steps[last]
        columns = {name: values[order][last] for name, values in columns.items()}
    if default is not None and (len(steps) == 0 or steps[0] != 0):
        steps = np.concatenate(([0], steps))
        columns = {name: np.concatenate(([default[name]], values)) for name, values in columns.items()}
    out = np.empty(len(steps), dtype=dtype)
    out["step"] = steps
    for name, values in columns.items():
        out[name] = values
    return out


_DEFAULT_TEMPOS = np.array([(0, 120.0)], dtype=TEMPO_DTYPE)
_DEFAULT_METERS = np.array([(0, 4, 4)], dtype=METER_DTYPE)


def _tempos(score: symusic.Score, to_steps: Any) -> np.ndarray:
    if len(score.tempos) == 0:
        return _DEFAULT_TEMPOS.copy()
    arrays = score.tempos.numpy()
    valid = arrays["mspq"] > 0
    qpm = 60_000_000.0 / arrays["mspq"][valid]
    return _timeline(to_steps(arrays["time"][valid]), {"qpm": qpm}, TEMPO_DTYPE, {"qpm": 120.0})


def _meters(score: symusic.Score, to_steps: Any) -> np.ndarray:
    if len(score.time_signatures) == 0:
        return _DEFAULT_METERS.copy()
    arrays = score.time_signatures.numpy()
    num, den = arrays["numerator"].astype(np.int64), arrays["denominator"].astype(np.int64)
    valid = (num >= 1) & (den >= 1) & ((den & (den - 1)) == 0)  # denominators are powers of two
    columns = {"numerator": num[valid], "denominator": den[valid]}
    return _timeline(to_steps(arrays["time"][valid]), columns, METER_DTYPE, {"numerator": 4, "denominator": 4})


def _keys(score: symusic.Score, to_steps: Any) -> np.ndarray:
    if len(score.key_signatures) == 0:
        return np.zeros(0, dtype=KEY_DTYPE)
    arrays = score.key_signatures.numpy()
    key, tonality = arrays["key"].astype(np.int64), arrays["tonality"].astype(np.int64)
    valid = (key >= -7) & (key <= 7) & (tonality <= 1)
    columns = {"key": key[valid], "tonality": tonality[valid]}
    return _timeline(to_steps(arrays["time"][valid]), columns, KEY_DTYPE, None)


def _count_bars(meters: np.ndarray, length: int, grid: Grid, tempos: np.ndarray) -> float:
    """How many bars the time signatures make of ``length`` steps (as ``Roll.bar_starts`` counts them, before
    bars shorter than a step merge)."""
    edges = np.append(meters["step"], max(length, int(meters["step"][-1]) + 1)).astype(np.float64)
    quarters = np.diff(grid.quarters(edges, tempos))
    bar = 4.0 * meters["numerator"].astype(np.float64) / meters["denominator"].astype(np.float64)
    return float(np.sum(np.ceil(quarters / bar)))


def _is_pretty_midi(obj: object) -> bool:
    return type(obj).__name__ == "PrettyMIDI" and type(obj).__module__.startswith("pretty_midi")


# ---------------------------------------------------------------------------------------------- writing
def to_score(
    notes: np.ndarray,
    length: int,
    grid: Grid,
    layout: TrackLayout,
    programs: tuple[int, ...],
    tempos: np.ndarray,
    meters: np.ndarray,
    keys: np.ndarray,
    *,
    keep_empty_tracks: bool = False,
) -> symusic.Score:
    """A type-1 ``symusic.Score`` (ticks) of Roll content: one named track per (non-empty) layout track with its
    program, drums on channel 10, the tempo map, meters and keys; notes clipped to ``[0, length)``. When the
    music ends in silence, an ``end`` marker and an All-Notes-Off controller at ``length`` keep it in the file."""
    tpq = grid.ticks_per_quarter()
    score = symusic.Score(tpq)

    def ticks(steps: np.ndarray) -> np.ndarray:
        return grid.steps_to_ticks(steps, tempos, tpq)

    last = max(int(length), *(int(e["step"].max()) for e in (tempos, meters, keys) if len(e)))
    last_tick = int(ticks(np.array([last]))[0])
    if last_tick > MAX_TICK:  # past it, times between events would wrap round (or overflow 32 bits), not be written
        raise MidiError(
            "<Roll>",
            f"cannot be written as MIDI: it lasts {last_tick:,} ticks ({tpq} a quarter note), past the longest time "
            f"one MIDI event can follow another ({MAX_TICK:,} ticks); write it in parts (roll.slice)",
        )
    tempo_ticks = ticks(tempos["step"])
    for t, qpm in zip(tempo_ticks.tolist(), tempos["qpm"].tolist()):
        score.tempos.append(symusic.Tempo(int(t), mspq=round(60_000_000.0 / qpm)))
    for t, m in zip(ticks(meters["step"]).tolist(), meters):
        score.time_signatures.append(symusic.TimeSignature(int(t), int(m["numerator"]), int(m["denominator"])))
    for t, k in zip(ticks(keys["step"]).tolist(), keys):
        score.key_signatures.append(symusic.KeySignature(int(t), int(k["key"]), int(k["tonality"])))

    onset = np.maximum(notes["onset"].astype(np.int64), 0)
    end = np.minimum(notes["onset"].astype(np.int64) + notes["duration"], length)
    inside = end > onset
    notes, onset, end = notes[inside], onset[inside], end[inside]
    start_tick, end_tick = ticks(onset), ticks(end)
    for index, spec in enumerate(layout.tracks):
        mine = notes["track"] == index
        if not keep_empty_tracks and not mine.any():
            continue
        track = symusic.Track(name=spec.name, program=int(programs[index]), is_drum=spec.is_drum)
        track.notes = symusic.Note.from_numpy(
            time=start_tick[mine].astype(np.int32),
            duration=(end_tick[mine] - start_tick[mine]).astype(np.int32),
            pitch=notes["pitch"][mine].astype(np.int8),
            velocity=notes["velocity"][mine].astype(np.int8),
        )
        score.tracks.append(track)
    last_note = int(end.max()) if len(end) else 0
    if length > last_note:  # keep the trailing silence: a marker (read back by symdiff) and a harmless controller
        end_tick = int(ticks(np.array([length]))[0])
        score.markers.append(symusic.TextMeta(end_tick, "end"))
        if len(score.tracks):
            score.tracks[0].controls.append(symusic.ControlChange(end_tick, 123, 0))
    return score


def dump(score: symusic.Score) -> bytes:
    """Standard MIDI file bytes of a Score."""
    return bytes(score.dumps_midi())
