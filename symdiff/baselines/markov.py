"""A variable-order Markov chain over the per-step pitch sets of each track: the rule-based baseline.

Representation. Each track of a Roll is read as a sequence of **step states**, one per grid step: the pair
``(onsets, held)`` of the sorted pitches that start on that step and the pitches that sound on it having started
earlier. A state therefore says both what is struck and what is sustained, so note lengths are part of the chain.

Context. The next state of a track is drawn given its previous ``order`` states and, on a beat grid with
``metric=True``, the step's position in its bar (``step - bar start``): the chain learns where in the bar notes
start. Counts are kept for every context length ``j = order, order-1, ..., 0`` (``(position, s[t-j], ..., s[t-1])``)
plus the empty context (the overall state frequencies). Generating, the longest context seen in training is used
(backoff, as in Katz / "stupid" backoff without discounting); the start of a piece is preceded by silence.

Tracks. Every track has its own chain; tracks are generated independently of each other. A track plays in a
generated piece with the probability that it holds notes in a training piece. To keep independent voices in one key,
``normalize_key=True`` transposes every training piece by the shift (-5..+6 semitones) that puts most of its
pitched note-steps on the white keys (C major / A minor), so generated music is in C major or A minor.

Velocities are drawn per note from each track's training velocity histogram. Labels (e.g. ``style``) give one set
of chains per label value, besides the chains of all pieces (label ``None``).

The model is saved as JSON (no pickle). Generation is deterministic given ``seed``.

References: C. Ames, "The Markov Process as a Compositional Model: A Survey and Tutorial", Leonardo 22(2), 1989;
S. Katz, "Estimation of probabilities from sparse data for the language model component of a speech recognizer",
IEEE TASSP 35(3), 1987.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..files import atomic_write_text
from ..grid import TEMPO_DTYPE, Grid
from ..layout import TrackLayout
from ..midi import KEY_DTYPE, METER_DTYPE
from ..notes import NOTE_DTYPE, canonical
from ..progress import progress_bar
from ..roll import Roll
from ._pieces import as_pieces, steps_per_bar

if TYPE_CHECKING:
    from ..data.dataset import RollDataset

#: a step state: (pitches starting on the step, pitches still sounding from before), each sorted
State = tuple[tuple[int, ...], tuple[int, ...]]
#: the state of a silent step; it has id 0
SILENCE: State = ((), ())
#: the key of the chains trained on every piece
ALL = "*"
FORMAT = "symdiff.MarkovBaseline"
FORMAT_VERSION = 1
#: pitch classes of C major (and A minor), the target of key normalisation
WHITE_KEYS = frozenset({0, 2, 4, 5, 7, 9, 11})

Context = tuple[int, ...]
Table = dict[Context, dict[int, int]]


@dataclass
class _Chains:
    """The counts of one label: per track, the transition table, the velocity histogram, and how many pieces
    had notes on the track."""

    tables: list[Table]
    velocities: list[dict[int, int]]
    presence: list[int]
    pieces: int = 0

    @classmethod
    def empty(cls, tracks: int) -> _Chains:
        return cls([{} for _ in range(tracks)], [{} for _ in range(tracks)], [0] * tracks)


@dataclass
class MarkovBaseline:
    """A fitted Markov-chain baseline (see the module docstring). Make one with :meth:`fit` or :meth:`load`.

    Attributes:
        order: the longest context, in steps.
        metric: whether the position in the bar is part of the context.
        normalize_key: whether training pieces were moved to C major / A minor.
        layout, grid: those of the training data (and of generated Rolls).
        label_key: the label key of the per-label chains (e.g. ``"style"``), or None.
        states: every step state seen, by id (id 0 is silence).
        chains: the counts, by label (``"*"`` for all pieces).
        programs: the most common General MIDI program of each track in the training data.
        tempo: the median starting tempo of the training pieces (qpm).
    """

    order: int
    metric: bool
    normalize_key: bool
    layout: TrackLayout
    grid: Grid
    label_key: str | None
    states: list[State]
    chains: dict[str, _Chains]
    programs: tuple[int, ...]
    tempo: float
    _index: dict[State, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.states or self.states[0] != SILENCE:
            raise ValueError("states must start with the silent state ((), ())")
        self._index = {s: i for i, s in enumerate(self.states)}

    # ================================================================== fitting
    @classmethod
    def fit(
        cls,
        data: RollDataset | Sequence[Roll],
        order: int = 2,
        *,
        label_key: str | None = None,
        metric: bool = True,
        normalize_key: bool = True,
        progress: bool = False,
    ) -> MarkovBaseline:
        """Count the transitions of every track of every piece.

        Args:
            data: a :class:`~symdiff.RollDataset` (its whole pieces are used; its ``label`` is the default label key)
                or a sequence of Rolls of one layout and grid.
            order: the longest context, in steps (>= 0). Higher orders copy more of the training music.
            label_key: also fit one set of chains per value of this label (``roll.metadata[label_key]`` for Rolls).
            metric: condition on the position in the bar (beat grids only; ignored on a seconds grid).
            normalize_key: transpose each piece to C major / A minor first (see the module docstring).
            progress: show a progress bar.

        Raises:
            ValueError: ``order`` is negative, or ``data`` has no pieces.
        """
        if int(order) != order or order < 0:
            raise ValueError(f"order must be an integer >= 0, got {order!r}")
        pieces = as_pieces(data, label_key)
        layout, grid = pieces.layout, pieces.grid
        model = cls(
            order=int(order),
            metric=bool(metric and grid.is_beat),
            normalize_key=bool(normalize_key),
            layout=layout,
            grid=grid,
            label_key=pieces.label_key,
            states=[SILENCE],
            chains={ALL: _Chains.empty(len(layout))},
            programs=tuple(t.program for t in layout.tracks),
            tempo=120.0,
        )
        program_counts = [dict[int, int]() for _ in layout.tracks]
        tempos: list[float] = []
        bar = progress_bar(len(pieces), progress, "fit Markov", "piece")
        for roll, label in pieces:
            model._count_piece(roll, label)
            tempos.append(float(roll.tempos["qpm"][0]))
            for track in roll.nonempty_tracks():
                program = int(roll.programs[track])
                program_counts[track][program] = program_counts[track].get(program, 0) + 1
            bar.update()
        bar.close()
        model.programs = tuple(
            max(counts, key=lambda p: (counts[p], -p)) if counts else spec.program
            for counts, spec in zip(program_counts, layout.tracks, strict=True)
        )
        model.tempo = float(np.median(tempos))
        return model

    def _count_piece(self, roll: Roll, label: str | None) -> None:
        if self.normalize_key:
            roll = roll.transpose(white_key_shift(roll))
        positions = self._positions(roll)
        targets = [self.chains[ALL]]
        if label is not None:
            targets.append(self.chains.setdefault(label, _Chains.empty(len(self.layout))))
        for chains in targets:
            chains.pieces += 1
        for track in roll.nonempty_tracks():
            mine = roll.notes[roll.notes["track"] == track]
            ids = [self._state_id(s) for s in step_states(mine, roll.length)]
            history = [0] * self.order + ids
            for chains in targets:
                chains.presence[track] += 1
                velocities = chains.velocities[track]
                for v in mine["velocity"][mine["onset"] >= 0].tolist():
                    velocities[v] = velocities.get(v, 0) + 1
                table = chains.tables[track]
                for t, next_id in enumerate(ids):
                    for context in self._contexts(int(positions[t]), history[t : t + self.order]):
                        row = table.setdefault(context, {})
                        row[next_id] = row.get(next_id, 0) + 1

    def _state_id(self, state: State) -> int:
        index = self._index.get(state)
        if index is None:
            index = self._index[state] = len(self.states)
            self.states.append(state)
        return index

    def _positions(self, roll: Roll) -> np.ndarray:
        """The position of each step in its bar (all 0 when the chain is not metric)."""
        steps = np.arange(roll.length)
        if not self.metric:
            return np.zeros(roll.length, dtype=np.int64)
        starts = roll.bar_starts()
        return steps - starts[np.maximum(np.searchsorted(starts, steps, side="right") - 1, 0)]

    def _contexts(self, position: int, history: Sequence[int]) -> list[Context]:
        """Every context of a step, longest first: ``(position, *history[-j:])`` for j = order..0, then ``()``."""
        out = [(position, *history[len(history) - j :]) for j in range(len(history), -1, -1)]
        out.append(())
        return out

    # ================================================================== generating
    def generate(
        self,
        bars: int = 16,
        label: str | None = None,
        meter: tuple[int, int] = (4, 4),
        tempo: float | None = 120.0,
        seed: int = 0,
        *,
        steps: int | None = None,
    ) -> Roll:
        """A new piece of ``bars`` bars of ``meter`` (or ``steps`` steps, on any grid).

        Args:
            bars: the number of bars.
            label: generate with the chains of this label value (None: of all pieces).
            meter: the time signature (numerator, denominator).
            tempo: the tempo in qpm (None: the median training tempo).
            seed: seeds every random draw: the same seed gives the same Roll.
            steps: the length in steps, instead of ``bars`` (needed on a seconds grid).

        Raises:
            ValueError: an unknown label, or a length or meter that is not usable.
        """
        chains = self._chains(label)
        if steps is None:
            if int(bars) != bars or bars < 1:
                raise ValueError(f"bars must be an integer >= 1, got {bars!r}")
            bar_steps = steps_per_bar(self.grid, meter)
            steps = int(bars) * bar_steps
        else:
            if int(steps) != steps or steps < 1:
                raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
            bar_steps = steps_per_bar(self.grid, meter) if self.metric else int(steps)
        rng = np.random.default_rng(seed)
        playing = self._tracks_to_play(chains, rng)
        parts = []
        for track in sorted(playing):
            ids = self._walk(chains.tables[track], int(steps), bar_steps, rng.random(int(steps)))
            parts.append(self._notes(track, ids, chains.velocities[track], rng))
        notes = canonical(np.concatenate(parts)) if parts else np.zeros(0, dtype=NOTE_DTYPE)
        qpm = self.tempo if tempo is None else float(tempo)
        if not qpm > 0:
            raise ValueError(f"tempo must be > 0 qpm, got {tempo!r}")
        return Roll(
            notes=notes,
            length=int(steps),
            layout=self.layout,
            grid=self.grid,
            tempos=np.array([(0, qpm)], dtype=TEMPO_DTYPE),
            meters=np.array([(0, meter[0], meter[1])], dtype=METER_DTYPE),
            keys=np.zeros(0, dtype=KEY_DTYPE),
            programs=self.programs,
            metadata={"generator": "markov", "order": self.order, "seed": seed, "label": label},
        )

    def _chains(self, label: str | None) -> _Chains:
        if label is None:
            return self.chains[ALL]
        if label not in self.chains or label == ALL:
            known = sorted(k for k in self.chains if k != ALL)
            raise ValueError(f"label {label!r} was not seen in training; known labels: {known or 'none'}")
        return self.chains[label]

    def _tracks_to_play(self, chains: _Chains, rng: np.random.Generator) -> set[int]:
        """Each track plays with its training frequency; at least the most frequent one plays."""
        share = np.array(chains.presence, dtype=np.float64) / max(chains.pieces, 1)
        chosen = set(np.flatnonzero(rng.random(len(share)) < share).tolist())
        if not chosen and share.max() > 0:
            chosen = {int(np.argmax(share))}
        return chosen

    def _walk(self, table: Table, steps: int, bar_steps: int, draw: np.ndarray) -> list[int]:
        """State ids for ``steps`` steps, each drawn with the longest context seen (``draw``: uniform numbers)."""
        cache: dict[Context, tuple[np.ndarray, np.ndarray]] = {}
        history = [0] * self.order
        out = []
        for t in range(steps):
            position = t % bar_steps if self.metric else 0
            for context in self._contexts(position, history[len(history) - self.order :]):
                row = cache.get(context)
                if row is None and context in table:
                    counts = table[context]
                    ids = np.array(sorted(counts), dtype=np.int64)
                    row = cache[context] = (ids, np.cumsum([counts[i] for i in ids.tolist()]))
                if row is not None:
                    break
            if row is None:  # the track was never trained
                out.append(0)
            else:
                ids, cumulative = row
                out.append(int(ids[np.searchsorted(cumulative, draw[t] * cumulative[-1], side="right")]))
            history.append(out[-1])
        return out

    def _notes(self, track: int, ids: list[int], velocities: dict[int, int], rng: np.random.Generator) -> np.ndarray:
        """The notes of a sequence of states: an onset starts a note (ending one of that pitch), a note lasts while
        its pitch is held; a held pitch that is not sounding is ignored."""
        values = np.array(sorted(velocities) or [80], dtype=np.int64)
        weights = np.array([velocities.get(int(v), 1) for v in values], dtype=np.float64)
        sounding: dict[int, int] = {}
        found: list[tuple[int, int, int]] = []  # onset, duration, pitch
        for t, state_id in enumerate([*ids, 0]):
            onsets, held = self.states[state_id]
            for pitch in list(sounding):
                if pitch in onsets or pitch not in held:
                    start = sounding.pop(pitch)
                    found.append((start, t - start, pitch))
            for pitch in onsets:
                sounding[pitch] = t
        out = np.zeros(len(found), dtype=NOTE_DTYPE)
        if found:
            columns = np.array(found, dtype=np.int64)
            out["onset"], out["duration"], out["pitch"] = columns[:, 0], columns[:, 1], columns[:, 2]
            out["track"] = track
            out["velocity"] = rng.choice(values, size=len(found), p=weights / weights.sum())
        return out

    # ================================================================== saving
    def to_dict(self) -> dict[str, Any]:
        """The model as a JSON-able dict (what :meth:`save` writes)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "order": self.order,
            "metric": self.metric,
            "normalize_key": self.normalize_key,
            "label_key": self.label_key,
            "layout": self.layout.to_dict(),
            "grid": self.grid.to_dict(),
            "programs": list(self.programs),
            "tempo": self.tempo,
            "states": [[list(onsets), list(held)] for onsets, held in self.states],
            "chains": {
                label: {
                    "pieces": c.pieces,
                    "presence": c.presence,
                    "velocities": [sorted([v, n] for v, n in hist.items()) for hist in c.velocities],
                    "tables": [
                        [[list(context), sorted([i, n] for i, n in row.items())] for context, row in table.items()]
                        for table in c.tables
                    ],
                }
                for label, c in self.chains.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MarkovBaseline:
        """The model :meth:`to_dict` described.

        Raises:
            ValueError: ``data`` is not a saved MarkovBaseline of a format this version reads.
        """
        if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"not a saved {FORMAT} (format version {FORMAT_VERSION}): format={data.get('format')!r}, "
                f"format_version={data.get('format_version')!r}"
            )
        chains = {
            label: _Chains(
                tables=[{tuple(context): {int(i): int(n) for i, n in row} for context, row in t} for t in c["tables"]],
                velocities=[{int(v): int(n) for v, n in hist} for hist in c["velocities"]],
                presence=[int(n) for n in c["presence"]],
                pieces=int(c["pieces"]),
            )
            for label, c in data["chains"].items()
        }
        return cls(
            order=int(data["order"]),
            metric=bool(data["metric"]),
            normalize_key=bool(data["normalize_key"]),
            layout=TrackLayout.from_dict(data["layout"]),
            grid=Grid.from_dict(data["grid"]),
            label_key=data["label_key"],
            states=[(tuple(onsets), tuple(held)) for onsets, held in data["states"]],
            chains=chains,
            programs=tuple(int(p) for p in data["programs"]),
            tempo=float(data["tempo"]),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model to ``path`` as JSON, atomically; returns the path."""
        return atomic_write_text(path, json.dumps(self.to_dict(), separators=(",", ":")))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MarkovBaseline:
        """Read a model :meth:`save` wrote."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    # ================================================================== facts
    @property
    def label_names(self) -> tuple[str, ...]:
        """The label values with chains of their own."""
        return tuple(sorted(k for k in self.chains if k != ALL))

    def num_contexts(self, label: str | None = None) -> int:
        """How many contexts (of every length) have counts, over all tracks."""
        return sum(len(table) for table in self._chains(label).tables)

    def __repr__(self) -> str:
        return (
            f"MarkovBaseline(order={self.order}, metric={self.metric}, normalize_key={self.normalize_key}, "
            f"layout={self.layout.name!r}, {self.grid}, {len(self.states)} states, "
            f"{self.num_contexts()} contexts, {self.chains[ALL].pieces} pieces, labels={list(self.label_names)})"
        )


# ====================================================================== helpers
def step_states(notes: np.ndarray, length: int) -> list[State]:
    """The step state of each step ``0..length-1`` of one track's notes: ``(onset pitches, held pitches)``.

    A note of onset ``o`` and duration ``d`` puts its pitch in the onsets of step ``o`` and in the held pitches of
    steps ``o+1 .. o+d-1`` (clipped to the piece); a pitch struck again on a step is an onset there, not held.
    """
    onsets: list[set[int]] = [set() for _ in range(length)]
    held: list[set[int]] = [set() for _ in range(length)]
    for onset, duration, pitch in zip(
        notes["onset"].tolist(), notes["duration"].tolist(), notes["pitch"].tolist(), strict=True
    ):
        if 0 <= onset < length:
            onsets[onset].add(pitch)
        for t in range(max(onset + 1, 0), min(onset + duration, length)):
            held[t].add(pitch)
    return [(tuple(sorted(on)), tuple(sorted(h - on))) for on, h in zip(onsets, held, strict=True)]


def white_key_shift(roll: Roll) -> int:
    """The transposition in -5..+6 semitones that puts the most note-steps of the pitched tracks on pitch classes
    of C major (so a piece in a major key moves to C major, one in a minor key to A minor); the smaller shift wins
    a tie, 0 for a piece with no pitched notes."""
    drum = np.array([t.is_drum for t in roll.layout.tracks], dtype=bool)
    notes = roll.notes[~drum[roll.notes["track"]]] if len(roll.notes) else roll.notes
    if len(notes) == 0:
        return 0
    weight = np.bincount(notes["pitch"].astype(np.int64) % 12, weights=notes["duration"], minlength=12)
    white = np.array([pc in WHITE_KEYS for pc in range(12)], dtype=np.float64)
    candidates = sorted(range(-5, 7), key=abs)
    scores = [float(np.dot(np.roll(weight, shift), white)) for shift in candidates]
    return candidates[int(np.argmax(scores))]
