"""Roll: one piece (or a window of one) on a time grid, as notes plus everything needed to write it back.

The notes are the source of truth (11 bytes a note); the dense ``(tracks, channels, pitches, steps)`` float32
tensor the model sees is built on demand, for a window (:meth:`Roll.to_tensor`) or the whole piece
(:attr:`Roll.tensor`), so a 20-minute performance or a 17-track song costs memory in proportion to its notes.

A window cut from a piece keeps the notes that sound in it whole: a note that began before the window has a
negative onset, one that goes on past it a duration beyond ``length``. Tensors and MIDI files clip them to the
window (a note that began before has no onset in the tensor). So windows concatenate back into the piece exactly.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from . import midi as midi_io
from .checks import check_int, must_be
from .files import atomic_write_bytes
from .grid import TEMPO_DTYPE, Grid
from .layout import TrackLayout
from .midi import DEFAULT_LIMITS, KEY_DTYPE, METER_DTYPE, Limits, MidiSource
from .notes import CHANNELS, NOTE_DTYPE, canonical, notes_to_tensor, sort_notes, tensor_to_notes, transpose_notes

if TYPE_CHECKING:
    import pretty_midi
    import symusic

_A_STEP = "an int (a step)"
_A_BAR = "an int (a bar index from 0)"


@dataclass(frozen=True, eq=False)
class Roll:
    """A piece of music on a grid: notes, track layout, tempo map, meters, keys and metadata.

    Build one with :meth:`from_midi` (or :meth:`from_tensor`); write it with :meth:`to_midi`. Rolls are
    immutable: slicing, transposing and concatenating return new Rolls.

    Attributes:
        notes: note array (``symdiff.notes.NOTE_DTYPE``), canonical, sorted by (track, onset, pitch).
        length: the number of steps, trailing silence included.
        layout: the tracks.
        grid: beat grid or seconds grid.
        tempos: tempo map, ``(step, qpm)`` records, the first at step 0.
        meters: time signatures, ``(step, numerator, denominator)`` records, the first at step 0.
        keys: key signatures, ``(step, key, tonality)`` records (may be empty).
        programs: the General MIDI program written for each track.
        metadata: JSON-able facts about the source (file name, labels, ...).
    """

    notes: np.ndarray
    length: int
    layout: TrackLayout
    grid: Grid
    tempos: np.ndarray
    meters: np.ndarray
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=KEY_DTYPE))
    programs: tuple[int, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.notes.dtype != NOTE_DTYPE:
            raise TypeError(f"notes must have dtype symdiff.notes.NOTE_DTYPE, got {self.notes.dtype}")
        if self.length < 0:
            raise ValueError(f"length must be >= 0, got {self.length}")
        if len(self.tempos) == 0 or self.tempos["step"][0] != 0:
            raise ValueError("the tempo map must start with a tempo at step 0")
        if len(self.meters) == 0 or self.meters["step"][0] != 0:
            raise ValueError("the time signatures must start with one at step 0")
        if len(self.notes) and int(self.notes["track"].max()) >= len(self.layout):
            raise ValueError(f"a note names track {int(self.notes['track'].max())}; the layout has {len(self.layout)}")
        if not self.programs:
            object.__setattr__(self, "programs", tuple(t.program for t in self.layout.tracks))
        if len(self.programs) != len(self.layout):
            raise ValueError(f"programs has {len(self.programs)} entries for {len(self.layout)} tracks")

    # ================================================================== reading and writing MIDI
    @classmethod
    def from_midi(
        cls,
        source: MidiSource,
        layout: TrackLayout | str = "gm",
        steps_per_beat: int | None = None,
        frames_per_second: float | None = None,
        *,
        sustain_pedal: bool | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> Roll:
        """Read a MIDI file into a Roll.

        Args:
            source: a path (any extension), MIDI bytes, a ``symusic.Score`` or a ``pretty_midi.PrettyMIDI``.
            layout: a :class:`TrackLayout` or a preset name (``piano``, ``lpd5``, ``gm``).
            steps_per_beat: a beat grid of this many steps per quarter note (default: 12).
            frames_per_second: a seconds grid instead, for expressive performances.
            sustain_pedal: fold the sustain pedal into note lengths; default on for a seconds grid, off otherwise.
            limits: sizes past which the source is refused.

        Raises:
            symdiff.MidiError: the source is not a readable MIDI file, or exceeds ``limits``.
        """
        grid = Grid.resolve(steps_per_beat, frames_per_second)
        layout = TrackLayout.resolve(layout)
        pedal = (not grid.is_beat) if sustain_pedal is None else sustain_pedal
        content = midi_io.read(source, layout, grid, sustain_pedal=pedal, limits=limits)
        return cls(
            notes=content.notes,
            length=content.length,
            layout=layout,
            grid=grid,
            tempos=content.tempos,
            meters=content.meters,
            keys=content.keys,
            programs=content.programs,
            metadata=content.metadata,
        )

    def to_score(self, keep_empty_tracks: bool = False) -> symusic.Score:
        """The Roll as a type-1 ``symusic.Score`` (see :meth:`to_midi`)."""
        return midi_io.to_score(
            self.notes,
            self.length,
            self.grid,
            self.layout,
            self.programs,
            self.tempos,
            self.meters,
            self.keys,
            keep_empty_tracks=keep_empty_tracks,
        )

    def to_midi_bytes(self, keep_empty_tracks: bool = False) -> bytes:
        """The bytes of the standard MIDI file :meth:`to_midi` writes."""
        return midi_io.dump(self.to_score(keep_empty_tracks))

    def to_midi(
        self, path: str | os.PathLike[str] | None = None, keep_empty_tracks: bool = False
    ) -> pretty_midi.PrettyMIDI:
        """Write a standard MIDI file (when ``path`` is given, atomically) and return it as a ``PrettyMIDI``.

        The file is type 1 with one named track per non-empty layout track (all of them with
        ``keep_empty_tracks``) and its program, drums on channel 10, the tempo map, time signatures and key
        signatures, notes on the grid with their velocities, and any trailing silence.
        """
        import pretty_midi

        data = self.to_midi_bytes(keep_empty_tracks)
        if path is not None:
            atomic_write_bytes(path, data)
        return pretty_midi.PrettyMIDI(io.BytesIO(data))

    # ================================================================== tensors
    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(tracks, channels, pitches, steps)`` of the full tensor."""
        return (len(self.layout), len(CHANNELS), self.layout.num_pitches, self.length)

    def to_tensor(
        self,
        start: int = 0,
        stop: int | None = None,
        tracks: Sequence[int | str] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """The dense ``(tracks, 3, pitches, stop - start)`` tensor of steps ``[start, stop)``.

        Channels are ``onset``, ``frame`` and ``velocity`` (``symdiff.notes.CHANNELS``). ``stop`` may pass the end
        (the tensor is padded with silence) and ``start`` may be negative. ``tracks`` (indices or names) selects
        tracks, in that order; :meth:`nonempty_tracks` lists those with notes.
        """
        stop = self.length if stop is None else stop
        start = check_int("to_tensor: start", start, allowed=_A_STEP, error=TypeError)
        stop = check_int("to_tensor: stop", stop, allowed=_A_STEP, error=TypeError)
        if stop < start:
            raise ValueError(f"to_tensor: stop ({stop}) is before start ({start})")
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(must_be("to_tensor: dtype", "a floating dtype (the tensor holds 0..1)", dtype))
        notes, count = self.notes, len(self.layout)
        if tracks is not None:
            chosen = self.layout.track_indices(tracks)
            position = np.full(len(self.layout), -1)
            position[chosen] = np.arange(len(chosen))
            notes = notes[position[notes["track"]] >= 0].copy()
            notes["track"] = position[notes["track"]]
            count = len(chosen)
        array = notes_to_tensor(notes, count, self.layout.pitch_range[0], self.layout.num_pitches, start, stop)
        return torch.from_numpy(array).to(dtype)

    def nonempty_tracks(self) -> list[int]:
        """Indices of the tracks that hold notes."""
        return np.unique(self.notes["track"]).astype(int).tolist()

    @property
    def tensor(self) -> torch.Tensor:
        """The dense tensor of the whole piece (memory: 12 × tracks × pitches × steps bytes)."""
        return self.to_tensor()

    @classmethod
    def from_tensor(
        cls,
        tensor: torch.Tensor | np.ndarray,
        layout: TrackLayout | str = "gm",
        grid: Grid | None = None,
        *,
        tempo: float | np.ndarray = 120.0,
        time_signature: tuple[int, int] | np.ndarray = (4, 4),
        keys: np.ndarray | None = None,
        programs: tuple[int, ...] = (),
        threshold: float = 0.5,
        metadata: dict[str, Any] | None = None,
    ) -> Roll:
        """A Roll from a ``(tracks, 3, pitches, steps)`` tensor (see ``symdiff.notes.tensor_to_notes``).

        ``tempo`` is a qpm or a tempo map array; ``time_signature`` a ``(numerator, denominator)`` or a meter array.
        """
        layout = TrackLayout.resolve(layout)
        grid = grid or Grid(steps_per_beat=12)
        array = tensor.detach().float().cpu().numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor)
        expected = (len(layout), len(CHANNELS), layout.num_pitches)
        if array.ndim != 4 or tuple(array.shape[:3]) != expected:
            raise ValueError(
                f"from_tensor: expected shape {(*expected, 'steps')} for layout {layout.name!r}, got {array.shape}"
            )
        tempos = tempo if isinstance(tempo, np.ndarray) else _single(TEMPO_DTYPE, qpm=float(tempo))
        meters = (
            time_signature
            if isinstance(time_signature, np.ndarray)
            else _single(METER_DTYPE, numerator=time_signature[0], denominator=time_signature[1])
        )
        return cls(
            notes=tensor_to_notes(array, layout.pitch_range[0], threshold),
            length=array.shape[-1],
            layout=layout,
            grid=grid,
            tempos=tempos,
            meters=meters,
            keys=np.zeros(0, dtype=KEY_DTYPE) if keys is None else keys,
            programs=programs,
            metadata=dict(metadata or {}),
        )

    # ================================================================== time
    def bar_starts(self) -> np.ndarray:
        """The step where each bar starts, following the time signatures (the last bar may be incomplete)."""
        edges = np.concatenate((self.meters["step"], [max(self.length, int(self.meters["step"][-1]) + 1)]))
        starts: list[np.ndarray] = []
        for i, meter in enumerate(self.meters):
            q0 = float(self.grid.quarters(edges[i], self.tempos))
            q1 = float(self.grid.quarters(edges[i + 1], self.tempos))
            bar = 4.0 * int(meter["numerator"]) / int(meter["denominator"])
            count = int(np.ceil((q1 - q0) / bar - 1e-9))
            quarters = q0 + bar * np.arange(max(count, 1 if i == len(self.meters) - 1 else 0))
            starts.append(np.floor(self.grid.steps_at_quarters(quarters, self.tempos) + 0.5).astype(np.int64))
        out = np.unique(np.concatenate(starts)) if starts else np.zeros(1, dtype=np.int64)
        return out[out < max(self.length, 1)]

    @property
    def num_bars(self) -> int:
        return len(self.bar_starts())

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return float(self.grid.seconds(self.length, self.tempos))

    # ================================================================== editing
    def slice(self, start: int, stop: int | None = None) -> Roll:
        """Steps ``[start, stop)`` as a new Roll (notes sounding at the window's edges are kept whole)."""
        stop = self.length if stop is None else stop
        start = check_int("slice: start", start, allowed=_A_STEP, error=TypeError)
        stop = check_int("slice: stop", stop, allowed=_A_STEP, error=TypeError)
        if not 0 <= start <= stop:
            raise ValueError(f"slice: need 0 <= start <= stop, got start={start}, stop={stop}")
        onset = self.notes["onset"].astype(np.int64)
        inside = (onset < stop) & (onset + self.notes["duration"] > start)
        notes = self.notes[inside].copy()
        notes["onset"] -= start
        return replace(
            self,
            notes=notes,
            length=stop - start,
            tempos=_window_events(self.tempos, start, stop),
            meters=_window_events(self.meters, start, stop),
            keys=_window_events(self.keys, start, stop),
            metadata=dict(self.metadata),
        )

    def __getitem__(self, index: slice) -> Roll:
        """``roll[a:b]``: steps ``a`` to ``b`` (see :meth:`slice`)."""
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("index a Roll with a step slice such as roll[0:96]; use roll.bars(i, j) for bars")
        start, stop, _ = index.indices(self.length)
        return self.slice(start, max(start, stop))

    def bars(self, start: int, stop: int | None = None) -> Roll:
        """Bars ``[start, stop)`` (0-based) as a new Roll."""
        bar_starts = self.bar_starts()
        count = len(bar_starts)
        stop = count if stop is None else stop
        start = check_int("bars: start", start, allowed=_A_BAR, error=TypeError)
        stop = check_int("bars: stop", stop, allowed=_A_BAR, error=TypeError)
        if not 0 <= start <= stop <= count:
            raise ValueError(
                f"bars: need 0 <= start <= stop <= {count} (the piece has {count} bars), got {start}, {stop}"
            )
        edges = np.concatenate((bar_starts, [self.length]))
        return self.slice(int(edges[start]), int(edges[stop]))

    def transpose(self, semitones: int) -> Roll:
        """Pitched tracks moved by ``semitones``; notes leaving a track's pitch range are dropped."""
        check_int("transpose: semitones", semitones, allowed="an integer")
        semitones = check_int("transpose: semitones", semitones, -127, 127, allowed="an integer from -127 to 127")
        out = transpose_notes(self.notes, self.layout, semitones)
        keys = self.keys.copy()
        if len(keys):
            keys["key"] = (keys["key"].astype(np.int64) + 7 * semitones + 6) % 12 - 6  # move round the fifths
        return replace(self, notes=out, keys=keys, metadata=dict(self.metadata))

    @staticmethod
    def concatenate(rolls: Sequence[Roll]) -> Roll:
        """One Roll after another (same layout and grid). A note that runs past the end of one Roll and is the
        same note (same start) as one that began before the start of the next is joined, so
        ``Roll.concatenate([r[a:b], r[b:c]])`` equals ``r[a:c]``; other notes are clipped to their Roll."""
        if not rolls:
            raise ValueError("concatenate: need at least one Roll")
        first = rolls[0]
        for r in rolls[1:]:
            if r.layout != first.layout or r.grid != first.grid:
                raise ValueError("concatenate: every Roll must have the same layout and grid")
        parts, tempos, meters, keys = [], [], [], []
        offset = 0
        for r in rolls:
            notes = r.notes.copy()
            notes["onset"] += offset
            tag = np.full(len(notes), offset, dtype=np.int64)
            parts.append((notes, tag, offset, offset + r.length))
            tempos.append(_shift(r.tempos, offset))
            meters.append(_shift(r.meters, offset))
            keys.append(_shift(r.keys, offset))
            offset += r.length
        notes = _join_parts(parts)
        return replace(
            first,
            notes=notes,
            length=offset,
            tempos=_dedupe_events(np.concatenate(tempos), ("qpm",)),
            meters=_dedupe_events(np.concatenate(meters), ("numerator", "denominator")),
            keys=_dedupe_events(np.concatenate(keys), ("key", "tonality")),
            metadata=dict(first.metadata),
        )

    # ================================================================== display
    def __repr__(self) -> str:
        meters = ", ".join(f"{m['numerator']}/{m['denominator']}" for m in self.meters[:3])
        more = "..." if len(self.meters) > 3 else ""
        return (
            f"Roll({len(self.notes)} notes, {self.length} steps ({self.seconds:.1f} s), {self.num_bars} bars, "
            f"{self.grid}, layout={self.layout.name!r} ({len(self.layout)} tracks), "
            f"tempo {self.tempos['qpm'][0]:.1f} qpm{' +changes' if len(self.tempos) > 1 else ''}, meter {meters}{more})"
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-able description: counts per track, tempo, meters, length."""
        counts = (
            np.bincount(self.notes["track"], minlength=len(self.layout))
            if len(self.notes)
            else np.zeros(len(self.layout), int)
        )
        return {
            "notes": len(self.notes),
            "steps": self.length,
            "seconds": round(self.seconds, 3),
            "bars": self.num_bars,
            "grid": self.grid.to_dict(),
            "layout": self.layout.name,
            "tracks": {self.layout.tracks[i].name: int(n) for i, n in enumerate(counts) if n},
            "tempo_changes": len(self.tempos),
            "time_signatures": [f"{m['numerator']}/{m['denominator']}" for m in self.meters],
        }

    # ---- audio, pictures, notation (render.py, plot.py, notation.py)
    def render(
        self, soundfont: str | os.PathLike[str] | None = None, sample_rate: int = 44100, **kwargs: Any
    ) -> np.ndarray:
        """The Roll as audio through FluidSynth: float32 ``(samples, 2)`` stereo at -1 dBFS peak, with a 1 s tail.

        See :func:`symdiff.render.render` (``kwargs``: ``gain``, ``stereo``, ``tail``, ``normalize``, ``progress``).
        """
        from .render import render

        return render(self, soundfont=soundfont, sample_rate=sample_rate, **kwargs)

    def save_audio(
        self, path: str | os.PathLike[str], soundfont: str | os.PathLike[str] | None = None, sample_rate: int = 44100
    ) -> os.PathLike[str]:
        """Render the Roll (see :meth:`render`) and write it as a 16-bit stereo WAV file, atomically."""
        from .render import save_audio

        return save_audio(self.render(soundfont=soundfont, sample_rate=sample_rate), path, sample_rate)

    def to_musicxml(self, path: str | os.PathLike[str], **kwargs: Any) -> os.PathLike[str]:
        """Write the Roll as MusicXML (``.mxl``: compressed) through music21 and return the path; see
        :func:`symdiff.notation.to_musicxml`."""
        from .notation import to_musicxml

        return to_musicxml(self, path, **kwargs)

    def plot(self, **kwargs: Any) -> Any:
        """A matplotlib piano roll of the Roll (a Figure); see :func:`symdiff.plot.plot_roll`."""
        from .plot import plot_roll

        return plot_roll(self, **kwargs)

    def _repr_html_(self) -> str | None:
        """Jupyter's view: summary, piano roll and an audio player (see :func:`symdiff.plot.roll_html`)."""
        try:
            from .plot import roll_html

            return roll_html(self)
        except ImportError:  # no matplotlib: Jupyter falls back to repr()
            return None


# ====================================================================== helpers
def _single(dtype: np.dtype, **values: Any) -> np.ndarray:
    out = np.zeros(1, dtype=dtype)
    for name, value in values.items():
        out[name] = value
    return out


def _shift(events: np.ndarray, offset: int) -> np.ndarray:
    out = events.copy()
    out["step"] += offset
    return out


def _window_events(events: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Events inside ``[start, stop)`` moved to the window; the one in force at ``start`` moves to step 0."""
    steps = events["step"]
    inside = (steps > start) & (steps < stop)
    before = np.flatnonzero(steps <= start)
    chosen = np.concatenate((before[-1:], np.flatnonzero(inside)))
    out = events[chosen].copy()
    out["step"] = np.maximum(out["step"] - start, 0)
    return out


def _dedupe_events(events: np.ndarray, value_fields: tuple[str, ...]) -> np.ndarray:
    """Drop an event that repeats the values of the one before it (as where two windows meet)."""
    if len(events) < 2:
        return events
    same = np.ones(len(events) - 1, dtype=bool)
    for name in value_fields:
        same &= events[name][1:] == events[name][:-1]
    return events[np.concatenate(([True], ~same))]


def _join_parts(parts: list[tuple[np.ndarray, np.ndarray, int, int]]) -> np.ndarray:
    """Concatenated notes: continuations across part boundaries joined, the rest clipped to their part."""
    joined = []
    for i, (notes, _, lo, hi) in enumerate(parts):
        onset = notes["onset"].astype(np.int64)
        end = onset + notes["duration"]
        # a note that began before this part: keep it only if the previous part does not hold the same note
        if i > 0:
            prev = parts[i - 1][0]
            prev_keys = set(zip(prev["track"].tolist(), prev["pitch"].tolist(), prev["onset"].tolist()))
            early = np.flatnonzero(onset < lo)
            continued = np.array(
                [(int(notes["track"][j]), int(notes["pitch"][j]), int(onset[j])) in prev_keys for j in early],
                dtype=bool,
            )
            drop = np.zeros(len(notes), dtype=bool)
            drop[early[continued]] = True
            onset = np.where(onset < lo, lo, onset)
        else:
            drop = np.zeros(len(notes), dtype=bool)
        # a note that runs past this part: keep it whole only if the next part continues it
        if i + 1 < len(parts):
            nxt = parts[i + 1][0]
            next_keys = set(zip(nxt["track"].tolist(), nxt["pitch"].tolist(), nxt["onset"].tolist()))
            late = np.flatnonzero(end > hi)
            carried = np.array(
                [(int(notes["track"][j]), int(notes["pitch"][j]), int(notes["onset"][j])) in next_keys for j in late],
                dtype=bool,
            )
            end = end.copy()
            end[late[~carried]] = hi
        out = notes.copy()
        out["onset"] = onset
        out["duration"] = end - onset
        joined.append(out[~drop & (end > onset)])
    return sort_notes(canonical(np.concatenate(joined))) if joined else np.zeros(0, dtype=NOTE_DTYPE)
