"""Fixtures for the metrics tests: hand-built Rolls with known answers, and real pieces of two clearly different
styles from the music21 corpus (installed with music21, read offline): Bach chorales and Essen folk songs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest
import torch

from symdiff import Grid, Roll, TrackLayout
from symdiff.grid import tempo_map
from symdiff.midi import METER_DTYPE
from symdiff.notes import canonical, make_notes

#: pieces per style read from the corpus (the first chorales, Essen tunes spread over the collection)
PER_STYLE = 16


def make_roll(
    notes: Sequence[tuple[int, int, int]] | Sequence[tuple[int, int, int, int]],
    length: int,
    *,
    layout: str | TrackLayout = "piano",
    steps_per_beat: int = 4,
    meter: tuple[int, int] = (4, 4),
    velocity: int = 100,
    grid: Grid | None = None,
    qpm: float = 120.0,
) -> Roll:
    """A Roll from ``(onset, duration, pitch[, track])`` rows (steps), one meter and tempo."""
    rows = [(*n, 0) if len(n) == 3 else tuple(n) for n in notes]
    onset, duration, pitch, track = (list(column) for column in zip(*rows)) if rows else ([], [], [], [])
    meters = np.zeros(1, dtype=METER_DTYPE)
    meters["numerator"], meters["denominator"] = meter
    return Roll(
        notes=canonical(make_notes(onset, duration, pitch, velocity, track)),
        length=length,
        layout=TrackLayout.resolve(layout),
        grid=grid or Grid(steps_per_beat=steps_per_beat),
        tempos=tempo_map([0], [qpm]),
        meters=meters,
    )


@pytest.fixture(scope="session")
def corpus() -> dict[str, list[Roll]]:
    """``{"bach": [...], "essen": [...]}``: PER_STYLE real pieces each, layout ``voices``, 4 steps per beat; each
    Roll's ``metadata["piece_id"]`` is its corpus id."""
    from dataclasses import replace

    from symdiff.data.sources.corpus import CorpusSource

    try:
        source = CorpusSource("bach,essen")
        refs = source.pieces()
    except (ValueError, FileNotFoundError) as error:
        pytest.skip(f"the music21 corpus is not available: {error}")
    chorales = [r for r in refs if r.piece_id.startswith("bach/") and "-" not in r.piece_id][:PER_STYLE]
    tunes = [r for r in refs if r.piece_id.startswith("essenFolksong/")][::300][:PER_STYLE]
    out: dict[str, list[Roll]] = {}
    for style, chosen in (("bach", chorales), ("essen", tunes)):
        rolls = []
        for ref in chosen:
            roll = Roll.from_midi(source.read_midi(ref), layout="voices", steps_per_beat=4)
            rolls.append(replace(roll, metadata={**roll.metadata, "piece_id": ref.piece_id}))
        out[style] = rolls
    return out


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """The metrics are numpy code; keep torch (imported by Roll) from spawning threads on the shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
