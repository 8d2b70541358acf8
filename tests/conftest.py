"""Shared fixtures: the real MIDI corpus beside the repository (``../shared/midi``), skipped cleanly when absent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from symdiff import prepare
from symdiff.data.sources import CorpusSource, PieceRef

REPO = Path(__file__).resolve().parents[1]
MIDI_EXTENSIONS = (".mid", ".midi", ".kar")


def shared_midi_dir() -> Path | None:
    """The real MIDI corpus: ``$SYMDIFF_TEST_MIDI`` or ``../shared/midi`` from the project root."""
    path = Path(os.environ.get("SYMDIFF_TEST_MIDI") or REPO.parent / "shared" / "midi")
    return path if path.is_dir() else None


def real_midi_files(*folders: str) -> list[Path]:
    """Every MIDI file (any ``.mid*`` extension) in the named folders of the corpus; empty when it is absent."""
    root = shared_midi_dir()
    if root is None:
        return []
    return sorted(
        p for folder in folders for p in (root / folder).glob("*") if p.suffix.lower().startswith((".mid", ".kar"))
    )


@pytest.fixture(scope="session")
def shared_midi() -> Path:
    root = shared_midi_dir()
    if root is None:
        pytest.skip("the real MIDI corpus (../shared/midi or $SYMDIFF_TEST_MIDI) is not here")
    return root


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run a test on one torch thread: for tiny tensors intra-op threads only add overhead (and thrash on a
    loaded machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


#: chorales in the shared small cache (about 0.2 s each to convert)
CHORALES = 30


class FirstChorales(CorpusSource):
    """The first ``count`` works of the music21 ``bach`` collection."""

    def __init__(self, count: int) -> None:
        super().__init__("bach")
        self.count = count

    def pieces(self) -> list[PieceRef]:
        return super().pieces()[: self.count]


@pytest.fixture(scope="session")
def chorale_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``voices`` cache at 4 steps per beat of the first Bach chorales of the music21 corpus (it ships with
    music21: no download); labels: ``style`` = ``bach``."""
    out = tmp_path_factory.mktemp("chorales")
    manifest = prepare(FirstChorales(CHORALES), out, layout="voices", steps_per_beat=4, progress=False)
    assert manifest is not None and manifest["counts"]["kept"] >= CHORALES - 3
    return out
