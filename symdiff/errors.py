"""The errors users catch."""

from __future__ import annotations

from os import PathLike


class SymdiffError(Exception):
    """Base class of every error symdiff raises on purpose."""


class MidiError(SymdiffError, ValueError):
    """A MIDI source could not be read or written.

    The message always names the source (a file name, or ``<bytes>`` / ``<Score>``) and what is wrong with it.
    """

    def __init__(self, source: str | PathLike[str] | None, problem: str) -> None:
        self.source = str(source) if source is not None else "<midi>"
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")
