"""What both baselines train on: whole pieces (Rolls) with an optional text label, from a prepared cache or a list."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..grid import Grid
from ..layout import TrackLayout
from ..roll import Roll

if TYPE_CHECKING:
    from ..data.dataset import RollDataset


@dataclass(frozen=True)
class Pieces:
    """Whole training pieces, read lazily.

    Attributes:
        layout: the track layout every piece has.
        grid: the time grid every piece has.
        labels: the label of each piece (None when it has none or no label key was asked for).
        label_key: the label key the labels are values of (e.g. ``"style"``), or None.
    """

    source: RollDataset | Sequence[Roll]
    layout: TrackLayout
    grid: Grid
    labels: tuple[str | None, ...]
    label_key: str | None

    def __len__(self) -> int:
        return len(self.labels)

    def roll(self, i: int) -> Roll:
        """Piece ``i`` as a Roll."""
        if isinstance(self.source, Sequence):
            return self.source[i]
        return self.source.piece_roll(i)

    def __iter__(self) -> Iterator[tuple[Roll, str | None]]:
        for i, label in enumerate(self.labels):
            yield self.roll(i), label

    @property
    def label_names(self) -> tuple[str, ...]:
        """The distinct labels, sorted."""
        return tuple(sorted({label for label in self.labels if label is not None}))


def as_pieces(data: RollDataset | Sequence[Roll], label_key: str | None = None) -> Pieces:
    """The whole pieces of a :class:`~symdiff.RollDataset` (its split; the label key defaults to its ``label``) or
    a sequence of Rolls (labels from ``roll.metadata[label_key]``).

    Raises:
        ValueError: there are no pieces, or the Rolls differ in layout or grid.
    """
    from ..data.dataset import RollDataset

    if isinstance(data, RollDataset):
        key = label_key if label_key is not None else data.label
        labels = tuple(_label(p["labels"].get(key)) if key else None for p in data.pieces)
        if not labels:
            raise ValueError(f"data: the {data.split!r} split of the cache {data.root} has no pieces")
        return Pieces(data, data.layout, data.grid, labels, key)
    rolls = list(data)
    if not rolls:
        raise ValueError("data: got no Rolls; pass a RollDataset or a non-empty sequence of Rolls")
    if not all(isinstance(r, Roll) for r in rolls):
        raise ValueError("data: must be a RollDataset or a sequence of symdiff.Roll")
    first = rolls[0]
    for r in rolls[1:]:
        if r.layout != first.layout or r.grid != first.grid:
            raise ValueError("data: every Roll must have the same layout and grid")
    labels = tuple(_label(r.metadata.get(label_key)) if label_key else None for r in rolls)
    return Pieces(rolls, first.layout, first.grid, labels, label_key)


def _label(value: object) -> str | None:
    return None if value is None else str(value)


def steps_per_bar(grid: Grid, meter: tuple[int, int]) -> int:
    """Steps in one bar of ``meter`` (numerator, denominator) on a beat grid.

    Raises:
        ValueError: the grid is not a beat grid, the meter is malformed, or a bar is not a whole number of steps.
    """
    if not grid.is_beat or grid.steps_per_beat is None:
        raise ValueError(f"meter: bars need a beat grid (steps_per_beat), this model has {grid}")
    numerator, denominator = meter
    if numerator < 1 or denominator < 1 or denominator & (denominator - 1):
        raise ValueError(f"meter must be (numerator >= 1, a power-of-two denominator), got {meter}")
    steps = grid.steps_per_beat * 4 * numerator / denominator
    if steps != int(steps):
        raise ValueError(f"meter {numerator}/{denominator} is not a whole number of steps at {grid}")
    return int(steps)
