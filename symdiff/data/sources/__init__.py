"""Data sources: each corpus declared as data, with its listing, official split rule and labels.

========  ==================================  ============================================================
name      class                               root_or_spec
========  ==================================  ============================================================
maestro   :class:`MaestroSource`              the MAESTRO folder (v1, v2 or v3; CSV or JSON metadata)
lakh      :class:`LakhSource`                 an ``lmd_full`` / ``lmd_matched`` / ``lmd_aligned`` /
                                              ``clean_midi`` folder
folder    :class:`FolderSource`               any folder of MIDI files (optional labels CSV)
corpus    :class:`CorpusSource`               music21 corpus collection names, e.g. ``"bach,palestrina"``
========  ==================================  ============================================================

>>> source = get_source("maestro", "~/data/maestro-v3.0.0")     # doctest: +SKIP
>>> refs = source.pieces()                                        # doctest: +SKIP
>>> data = source.read_midi(refs[0])                              # doctest: +SKIP

Every source is picklable and imports nothing heavy until it reads a piece, so it can be sent to worker processes.
"""

from __future__ import annotations

from typing import Any

from .base import SPLITS, PieceRef, Source, SourceInfo, is_midi_name, split_from_digest
from .corpus import CorpusSource
from .folder import FolderSource
from .lakh import LakhSource
from .maestro import MaestroSource

#: the sources by name
SOURCES: dict[str, type[Source]] = {
    "maestro": MaestroSource,
    "lakh": LakhSource,
    "folder": FolderSource,
    "corpus": CorpusSource,
}


def get_source(name: str, root_or_spec: Any, **options: Any) -> Source:
    """The source ``name`` (a key of :data:`SOURCES`) for ``root_or_spec`` (a folder, or the corpus collections).

    ``options`` are the keyword arguments of the source's class, e.g. ``variant="lmd_matched"`` or
    ``tags="msd_tagtraum_cd2.cls"`` for Lakh, ``labels="labels.csv"`` for a folder, ``metadata=`` for MAESTRO.

    Raises:
        ValueError: ``name`` is not a known source.
    """
    try:
        cls = SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown data source {name!r}; choose one of {', '.join(SOURCES)}") from None
    return cls(root_or_spec, **options)


__all__ = [
    "SOURCES",
    "SPLITS",
    "CorpusSource",
    "FolderSource",
    "LakhSource",
    "MaestroSource",
    "PieceRef",
    "Source",
    "SourceInfo",
    "get_source",
    "is_midi_name",
    "split_from_digest",
]
