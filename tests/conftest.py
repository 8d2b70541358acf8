"""Shared fixtures: the real MIDI corpus beside the repository (``../shared/midi``), skipped cleanly when absent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

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
