"""Note arrays: the source of truth of a Roll, their canonical form, and the dense tensor they stand for.

A note array is a numpy structured array of :data:`NOTE_DTYPE` (11 bytes a note). Times are in grid steps.
The **canonical form** is what a piano roll can hold: on each (track, pitch) at most one note sounds at a time.
Two notes starting on the same step merge (the longer duration, the louder velocity); a note still sounding when
the next one of its pitch starts is cut there; every note lasts at least one step. Canonical arrays are sorted by
(track, onset, pitch).

The tensor of a window ``[start, stop)`` has shape ``(tracks, 3, pitches, stop - start)``; its channels are
:data:`CHANNELS`:

- ``onset``: 1 on the step a note starts (absent for a note that began before the window);
- ``frame``: 1 on every step a note sounds;
- ``velocity``: the note's MIDI velocity / 127 on every step it sounds.

Decoding (:func:`tensor_to_notes`) inverts this exactly for canonical notes: a note starts where a frame is on and
either the onset is on or the step before was off, and runs until the frame goes off or another onset comes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .layout import TrackLayout

#: structured dtype of one note: onset and duration in steps, layout track, MIDI pitch and velocity
NOTE_DTYPE = np.dtype([("onset", "<i4"), ("duration", "<i4"), ("track", "u1"), ("pitch", "u1"), ("velocity", "u1")])

#: the channels of a Roll tensor, in order
CHANNELS: tuple[str, ...] = ("onset", "frame", "velocity")
ONSET, FRAME, VELOCITY = 0, 1, 2


def make_notes(
    onset: np.ndarray | list[int],
    duration: np.ndarray | list[int],
    pitch: np.ndarray | list[int],
    velocity: np.ndarray | list[int] | int = 100,
    track: np.ndarray | list[int] | int = 0,
) -> np.ndarray:
    """A note array from columns (scalars broadcast). Not canonicalised: see :func:`canonical`."""
    onset = np.asarray(onset)
    out = np.zeros(len(onset), dtype=NOTE_DTYPE)
    out["onset"] = onset
    out["duration"] = duration
    out["pitch"] = pitch
    out["velocity"] = velocity
    out["track"] = track
    return out


def _order_key(track: np.ndarray, onset: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """One int64 per note that sorts like (track, onset, pitch); onsets may be negative (int32 range)."""
    return (track.astype(np.int64) << 41) | ((onset.astype(np.int64) + 2**32) << 7) | pitch.astype(np.int64)


def sort_notes(notes: np.ndarray) -> np.ndarray:
    """Notes sorted by (track, onset, pitch), stably."""
    return notes[np.argsort(_order_key(notes["track"], notes["onset"], notes["pitch"]), kind="stable")]


def canonical(notes: np.ndarray) -> np.ndarray:
    """The canonical form of a note array (see the module docstring): merged, cut, at least one step, sorted."""
    return canonical_from_columns(notes["track"], notes["pitch"], notes["onset"], notes["duration"], notes["velocity"])


def canonical_from_columns(
    track: np.ndarray, pitch: np.ndarray, onset: np.ndarray, duration: np.ndarray, velocity: np.ndarray
) -> np.ndarray:
    """:func:`canonical` of notes given as columns (the fast path of MIDI reading: no structured array until the
    end). Durations below one step become one step; velocities are clipped to 1..127."""
    if len(onset) == 0:
        return np.zeros(0, dtype=NOTE_DTYPE)
    # one full sort into the output order (track, onset, pitch) ...
    order = np.argsort(_order_key(track, onset, pitch), kind="stable")  # timsort: fast on sorted runs
    track, pitch, onset = track[order].astype(np.int64), pitch[order].astype(np.int64), onset[order].astype(np.int64)
    end = onset + np.maximum(duration[order], 1)
    velocity = np.minimum(np.maximum(velocity[order], 1), 127)
    # ... then a stable radix sort by lane (track, pitch) keeps each lane's notes in onset order
    lane = track * 128 + pitch
    by_lane = np.argsort(lane.astype(np.int16 if lane.max() < 2**15 else np.int32), kind="stable")
    lane_l, onset_l, end_l = lane[by_lane], onset[by_lane], end[by_lane]
    same_lane = lane_l[1:] == lane_l[:-1]

    # notes on the same (track, pitch, onset) merge into the first: the longest end, the loudest velocity
    dup = same_lane & (onset_l[1:] == onset_l[:-1])
    merged = bool(dup.any())
    if merged:
        first = np.flatnonzero(~np.concatenate(([False], dup)))
        end_l = np.maximum.reduceat(end_l, first)
        velocity[by_lane[first]] = np.maximum.reduceat(velocity[by_lane], first)
        by_lane, lane_l, onset_l = by_lane[first], lane_l[first], onset_l[first]
        same_lane = lane_l[1:] == lane_l[:-1]
    # a note is cut where the next note of its (track, pitch) starts
    np.minimum(end_l[:-1], onset_l[1:], out=end_l[:-1], where=same_lane)
    end[by_lane] = end_l
    if merged:
        survives = np.zeros(len(onset), dtype=bool)
        survives[by_lane] = True
        keep = np.flatnonzero(survives)  # positions, in output order, of the notes that survive merging
        track, pitch, onset, end, velocity = track[keep], pitch[keep], onset[keep], end[keep], velocity[keep]

    out = np.empty(len(onset), dtype=NOTE_DTYPE)
    out["onset"] = onset
    out["duration"] = end - onset
    out["track"] = track
    out["pitch"] = pitch
    out["velocity"] = velocity
    return out


def clip_notes(notes: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The part of each note inside ``[start, stop)``: (kept notes, clipped start, clipped end), as int64."""
    onset = notes["onset"].astype(np.int64)
    end = onset + notes["duration"]
    s = np.maximum(onset, start)
    e = np.minimum(end, stop)
    keep = e > s
    return notes[keep], s[keep], e[keep]


def notes_to_tensor(
    notes: np.ndarray, num_tracks: int, pitch_low: int, num_pitches: int, start: int, stop: int
) -> np.ndarray:
    """The dense ``(tracks, 3, pitches, stop - start)`` float32 tensor of canonical notes over ``[start, stop)``.

    Vectorised: one scatter for onsets and one for all sounding steps of all notes.
    """
    steps = stop - start
    if steps < 0:
        raise ValueError(f"window [{start}, {stop}) is empty or reversed")
    out = np.zeros((num_tracks, len(CHANNELS), num_pitches, steps), dtype=np.float32)
    kept, s, e = clip_notes(notes, start, stop)
    if len(kept) == 0:
        return out
    track = kept["track"].astype(np.int64)
    pitch = kept["pitch"].astype(np.int64) - pitch_low
    if np.any((pitch < 0) | (pitch >= num_pitches)) or np.any(track >= num_tracks):
        raise ValueError("notes outside the tensor's tracks or pitch range")
    velocity = kept["velocity"].astype(np.float32) / 127.0

    row = (track * len(CHANNELS)) * num_pitches + pitch  # row of the onset channel; frame is +P, velocity +2P
    starts_here = kept["onset"] >= start
    flat = out.reshape(-1)
    flat[row[starts_here] * steps + (s[starts_here] - start)] = 1.0

    lengths = e - s
    note_of_step = np.repeat(np.arange(len(kept)), lengths)
    offset = np.arange(len(note_of_step)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    t = s[note_of_step] - start + offset
    flat[(row[note_of_step] + FRAME * num_pitches) * steps + t] = 1.0
    flat[(row[note_of_step] + VELOCITY * num_pitches) * steps + t] = velocity[note_of_step]
    return out


def tensor_to_notes(tensor: np.ndarray, pitch_low: int, threshold: float = 0.5) -> np.ndarray:
    """Notes of a ``(tracks, 3, pitches, steps)`` tensor (see the module docstring), in canonical form.

    A frame above ``threshold`` sounds; an onset above it on a sounding step starts a new note. The velocity is
    read at the note's first step (at least 1). For model outputs, see ``symdiff.diffusion.decode``.
    """
    tensor = np.asarray(tensor)
    if tensor.ndim != 4 or tensor.shape[1] != len(CHANNELS):
        raise ValueError(f"expected a (tracks, {len(CHANNELS)}, pitches, steps) tensor, got shape {tensor.shape}")
    _, _, num_pitches, steps = tensor.shape
    if steps == 0:
        return np.zeros(0, dtype=NOTE_DTYPE)
    active = tensor[:, FRAME] > threshold  # (T, P, S)
    onset = (tensor[:, ONSET] > threshold) & active
    prev = np.zeros_like(active)
    prev[..., 1:] = active[..., :-1]
    start = active & (onset | ~prev)
    nxt_active = np.zeros_like(active)
    nxt_active[..., :-1] = active[..., 1:]
    nxt_start = np.zeros_like(start)
    nxt_start[..., :-1] = start[..., 1:]
    end = active & (~nxt_active | nxt_start)  # last sounding step of each note

    start_idx = np.flatnonzero(start)
    end_idx = np.flatnonzero(end)  # starts and ends alternate along each row, so they pair in order
    row, first_step = np.divmod(start_idx, steps)
    track, pitch = np.divmod(row, num_pitches)
    velocity = tensor[:, VELOCITY].reshape(-1)[start_idx]
    out = np.empty(len(start_idx), dtype=NOTE_DTYPE)
    out["onset"] = first_step
    out["duration"] = end_idx - start_idx + 1
    out["track"] = track
    out["pitch"] = pitch + pitch_low
    out["velocity"] = np.clip(np.rint(velocity * 127.0), 1, 127)
    return sort_notes(out)


def transpose_notes(notes: np.ndarray, layout: TrackLayout, semitones: int) -> np.ndarray:
    """Notes of pitched tracks moved by ``semitones`` (drum tracks stay); notes leaving their track's pitch range
    are dropped."""
    track = notes["track"]
    drum = np.array([t.is_drum for t in layout.tracks])[track]
    ranges = np.array([t.pitch_range for t in layout.tracks])[track]
    pitch = notes["pitch"].astype(np.int64) + np.where(drum, 0, int(semitones))
    keep = (pitch >= ranges[:, 0]) & (pitch <= ranges[:, 1])
    out = notes[keep].copy()
    out["pitch"] = pitch[keep]
    return out
