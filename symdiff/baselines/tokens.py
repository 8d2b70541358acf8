"""Rolls as MidiTok REMI tokens, for the autoregressive baseline.

A :class:`RollTokenizer` wraps a ``miditok.REMI`` tokenizer (Huang & Yang, "Pop Music Transformer", ACM MM 2020)
configured for one layout and beat grid:

- positions and durations on the grid itself (``beat_res = {(0, max_duration_beats): steps_per_beat}``), so a note
  keeps its onset and duration exactly unless it is longer than ``max_duration_beats`` beats (then it is shortened);
- the layout's pitch range; ``num_velocities`` velocity bins (so velocities are quantised);
- one token stream for every track: a ``Program_i`` token before each note names the layout track ``i`` (the drum
  track is ``Program_-1``), whatever the General MIDI programs of the source were;
- a ``TimeSig`` token after every ``Bar`` (when ``time_signatures`` is on); no tempo tokens (a generated piece gets
  the tempo it is asked for);
- ``PAD``, ``BOS`` and ``EOS`` special tokens: :meth:`RollTokenizer.encode` gives ``BOS, ..., EOS``.

Decoding goes through a ``symusic.Score`` whose tracks carry their layout track's name and default program, read
back with :meth:`symdiff.Roll.from_midi` (so the layout must map those back to their own tracks, which the
constructor checks). miditok is imported only when a tokenizer is made.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..files import atomic_write_text
from ..grid import Grid
from ..layout import TrackLayout
from ..roll import Roll

if TYPE_CHECKING:
    import miditok
    import symusic

TOKENIZER_NAME = "tokenizer.json"
#: the time signatures the tokenizer knows: denominator -> numerators
TIME_SIGNATURES: dict[int, list[int]] = {2: [1, 2, 3, 4], 4: [1, 2, 3, 4, 5, 6, 7], 8: [3, 5, 6, 7, 9, 12]}


@dataclass(frozen=True)
class TokenizerSettings:
    """What a :class:`RollTokenizer` keeps of the music.

    Attributes:
        max_duration_beats: the longest note, in beats; longer notes are shortened to it.
        num_velocities: velocity bins (1..127 split evenly).
        time_signatures: put a ``TimeSig`` token after every ``Bar``.
    """

    max_duration_beats: int = 8
    num_velocities: int = 8
    time_signatures: bool = True

    def __post_init__(self) -> None:
        if self.max_duration_beats < 1:
            raise ValueError(f"max_duration_beats must be >= 1, got {self.max_duration_beats}")
        if not 1 <= self.num_velocities <= 127:
            raise ValueError(f"num_velocities must be in 1..127, got {self.num_velocities}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenizerSettings:
        return cls(**data)


class RollTokenizer:
    """REMI tokens of Rolls of one layout and beat grid (see the module docstring).

    Args:
        layout: the track layout (at most one drum track, at most 128 pitched tracks).
        grid: a beat grid.
        settings: what to keep of the music.
        params: a saved miditok tokenizer (``tokenizer.json``) to load instead of building one from ``settings``.

    Raises:
        ValueError: a seconds grid, or a layout that cannot be told apart by program or read back by name.
    """

    def __init__(
        self,
        layout: TrackLayout | str,
        grid: Grid,
        settings: TokenizerSettings | None = None,
        *,
        params: str | os.PathLike[str] | None = None,
    ) -> None:
        import miditok

        self.layout = TrackLayout.resolve(layout)
        self.grid = grid
        self.settings = settings or TokenizerSettings()
        if not grid.is_beat or grid.steps_per_beat is None:
            raise ValueError(f"grid: the autoregressive baseline needs a beat grid (steps_per_beat), got {grid}")
        self.track_programs = _track_programs(self.layout)
        check_layout_reads_back(self.layout)
        if params is not None:
            self.tokenizer: miditok.REMI = miditok.REMI(params=Path(params))
        else:
            lo, hi = self.layout.pitch_range
            config = miditok.TokenizerConfig(
                pitch_range=(lo, hi),
                beat_res={(0, self.settings.max_duration_beats): grid.steps_per_beat},
                num_velocities=self.settings.num_velocities,
                special_tokens=["PAD", "BOS", "EOS"],
                use_programs=True,
                one_token_stream_for_programs=True,
                programs=sorted(self.track_programs),
                use_time_signatures=self.settings.time_signatures,
                time_signature_range=TIME_SIGNATURES,
                use_tempos=False,
                use_chords=False,
                use_rests=False,
                use_sustain_pedals=False,
                use_pitch_bends=False,
            )
            self.tokenizer = miditok.REMI(config)
        vocab = self.tokenizer.vocab
        self.pad_id, self.bos_id, self.eos_id = vocab["PAD_None"], vocab["BOS_None"], vocab["EOS_None"]
        self.bar_id = vocab["Bar_None"]
        self.pitch_ids = {int(t.split("_")[1]): i for t, i in vocab.items() if t.startswith("Pitch_")}

    # ------------------------------------------------------------------ vocabulary
    def __len__(self) -> int:
        return len(self.tokenizer)

    @property
    def vocab(self) -> dict[str, int]:
        """Token name -> id."""
        return dict(self.tokenizer.vocab)

    def time_signature_id(self, meter: tuple[int, int]) -> int | None:
        """The id of the ``TimeSig`` token of ``meter``, or None when the tokenizer has no such token."""
        return self.tokenizer.vocab.get(f"TimeSig_{meter[0]}/{meter[1]}")

    def transposer(self, semitones: int) -> np.ndarray:
        """An id -> id table moving every ``Pitch`` token by ``semitones`` (-1 where a pitch would leave the range);
        other ids map to themselves. Drum pitches move too, so use it only for layouts without drums."""
        table = np.arange(len(self), dtype=np.int64)
        for pitch, index in self.pitch_ids.items():
            table[index] = self.pitch_ids.get(pitch + semitones, -1)
        return table

    # ------------------------------------------------------------------ encoding
    def to_score(self, roll: Roll) -> symusic.Score:
        """The Score the tokenizer reads: ``roll.to_score()`` with track ``i`` on program ``i`` (drums: -1)."""
        if roll.layout != self.layout or roll.grid != self.grid:
            raise ValueError(
                f"roll: its layout {roll.layout.name!r} and grid ({roll.grid}) must be the tokenizer's "
                f"({self.layout.name!r}, {self.grid})"
            )
        score = roll.to_score()
        for track in score.tracks:
            index = self.layout.index(track.name)
            track.program = max(self.track_programs[index], 0)
            track.is_drum = self.layout.tracks[index].is_drum
        return score

    def encode(self, roll: Roll) -> np.ndarray:
        """The token ids of a Roll: ``BOS``, the REMI tokens, ``EOS`` (int64)."""
        sequence = self.tokenizer.encode(self.to_score(roll))
        ids = sequence.ids if not isinstance(sequence, list) else [i for s in sequence for i in s.ids]
        return np.array([self.bos_id, *ids, self.eos_id], dtype=np.int64)

    # ------------------------------------------------------------------ decoding
    def decode(
        self,
        ids: np.ndarray | list[int],
        *,
        length: int | None = None,
        tempo: float = 120.0,
        programs: tuple[int, ...] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Roll:
        """A Roll from token ids.

        Ids outside the tokenizer's vocabulary (such as a model's label tokens) and special tokens are dropped.

        Args:
            ids: token ids.
            length: cut or pad the Roll to this many steps (notes clipped to it); default: where the music ends.
            tempo: the tempo (qpm) of the Roll.
            programs: the General MIDI program of each layout track (default: the layout's).
            metadata: stored in the Roll.
        """
        import symusic

        if not tempo > 0:
            raise ValueError(f"tempo must be > 0 qpm, got {tempo!r}")
        special = {self.pad_id, self.bos_id, self.eos_id}
        kept = [int(i) for i in np.asarray(ids).tolist() if 0 <= int(i) < len(self) and int(i) not in special]
        score = self.tokenizer.decode(kept) if kept else symusic.Score(self.tokenizer.time_division)
        by_program = {program: i for i, program in enumerate(self.track_programs)}
        for track in score.tracks:
            index = by_program[-1 if track.is_drum else int(track.program)]
            spec = self.layout.tracks[index]
            track.name, track.program, track.is_drum = spec.name, spec.program, spec.is_drum
        score.tempos.clear()
        score.tempos.append(symusic.Tempo(0, mspq=round(60_000_000.0 / tempo)))
        if not score.time_signatures:
            score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
        roll = Roll.from_midi(score, layout=self.layout, steps_per_beat=self.grid.steps_per_beat)
        roll = replace(roll, programs=programs or tuple(t.program for t in self.layout.tracks), metadata=metadata or {})
        return roll if length is None else fit_length(roll, length)

    # ------------------------------------------------------------------ saving
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the miditok parameters to ``directory/tokenizer.json`` (atomically); returns the file."""
        return atomic_write_text(Path(directory) / TOKENIZER_NAME, json.dumps(self.tokenizer.to_dict(), indent=1))

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str], layout: TrackLayout | str, grid: Grid, settings: TokenizerSettings
    ) -> RollTokenizer:
        """The tokenizer :meth:`save` wrote to ``directory``."""
        return cls(layout, grid, settings, params=Path(directory) / TOKENIZER_NAME)


# ====================================================================== helpers
def _track_programs(layout: TrackLayout) -> list[int]:
    """The program that stands for each layout track in the token stream: ``i`` for pitched track ``i``, -1 for
    the drum track."""
    drums = [i for i, t in enumerate(layout.tracks) if t.is_drum]
    if len(drums) > 1:
        raise ValueError(f"layout: the tokenizer takes at most one drum track, {layout.name!r} has {len(drums)}")
    if len(layout) - len(drums) > 128:
        raise ValueError(f"layout: the tokenizer takes at most 128 pitched tracks, {layout.name!r} has more")
    programs, pitched = [], 0
    for spec in layout.tracks:
        programs.append(-1 if spec.is_drum else pitched)
        pitched += not spec.is_drum
    return programs


def check_layout_reads_back(layout: TrackLayout) -> None:
    """Check that a MIDI track named after a layout track, on its default program, is read into that track.

    Raises:
        ValueError: some track is read into another one (or dropped).
    """
    for index, spec in enumerate(layout.tracks):
        found = layout.assign(spec.program, spec.is_drum, spec.name)
        if found != index:
            raise ValueError(
                f"layout: a track named {spec.name!r} on program {spec.program} is read into track {found}, not "
                f"{index}; the tokenizer needs each track to read back into itself"
            )


def fit_length(roll: Roll, length: int) -> Roll:
    """``roll`` cut or padded with silence to ``length`` steps; notes are clipped to it."""
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    notes = roll.notes[roll.notes["onset"] < length].copy()
    end = np.minimum(notes["onset"].astype(np.int64) + notes["duration"], length)
    notes["duration"] = end - notes["onset"]
    return replace(
        roll,
        notes=notes,
        length=int(length),
        tempos=_before(roll.tempos, length),
        meters=_before(roll.meters, length),
        keys=_before(roll.keys, length),
        metadata=dict(roll.metadata),
    )


def _before(events: np.ndarray, length: int) -> np.ndarray:
    """The events before step ``length`` (the one at step 0 always)."""
    return events[events["step"] < max(length, 1)]
