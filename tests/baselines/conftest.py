"""A small prepared cache of Bach chorales from the music21 corpus (it ships with music21: no download), shared by
the baseline tests, which run on one torch thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from symdiff import RollDataset


@pytest.fixture(scope="session")
def chorales(chorale_cache: Path) -> RollDataset:
    """The training split, labelled by style."""
    return RollDataset(chorale_cache, split="train", label="style")


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Small models: one torch thread is fastest and spares the machine."""
