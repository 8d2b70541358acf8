"""What every data source is: a card (:class:`SourceInfo`), a listing (:class:`PieceRef`), a reader (:class:`Source`).

Also the small shared rules: which file names are MIDI files, and the hash split (first hex digit of a digest:
``e`` → validation, ``f`` → test, anything else → train, i.e. 14/16 train, 1/16 validation, 1/16 test).
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ...errors import MidiError

#: the split names every source uses, in this order
SPLITS: tuple[str, ...] = ("train", "validation", "test")

#: extensions of MIDI files, matched case-insensitively on the file name's last suffix; anything that starts with
#: ``.mid`` counts (``.mid``, ``.midi``, and the ``.mid0`` … ``.mid9`` of the Beatles files in Lakh MIDI)
MIDI_SUFFIX_PREFIXES: tuple[str, ...] = (".mid", ".kar")


@dataclass(frozen=True)
class SourceInfo:
    """The data-set card of a source, declared as data.

    Attributes:
        name: the registry name (``"maestro"``, ``"lakh"``, ``"folder"``, ``"corpus"``).
        title: the data set's full name.
        homepage: where to get it and read about it.
        licence: the licence of the data (not of symdiff).
        citation: a BibTeX entry to cite when using it.
        layout: the default track layout preset for it (``"piano"``, ``"gm"``, …).
        grid: the default time grid, as keyword arguments of :class:`symdiff.Grid`.
        split_rule: one sentence: how pieces are assigned to train / validation / test.
        layout_description: the folder layout the source expects on disk.
    """

    name: str
    title: str
    homepage: str
    licence: str
    citation: str
    layout: str
    grid: dict[str, Any] = field(hash=False)
    split_rule: str
    layout_description: str


@dataclass(frozen=True)
class PieceRef:
    """One piece of a source: enough to find it, split it and label it, and small enough to ship to a worker.

    Attributes:
        source: the :attr:`SourceInfo.name` of its source.
        piece_id: stable and unique within the source (MAESTRO: ``midi_filename``; Lakh: the md5; folder: the posix
            path relative to the root; corpus: ``"bach/bwv66.6"`` or ``"essenFolksong/kinder0#50"``).
        split: ``"train"``, ``"validation"`` or ``"test"``.
        labels: text labels, e.g. ``{"composer": …, "title": …, "year": …}``; not part of the hash.
        path: the absolute path of the file on disk (it may be missing: reading it then raises
            :class:`~symdiff.errors.MidiError`), or None when the piece has no file of its own.
    """

    source: str
    piece_id: str
    split: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    path: str | None = None

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            allowed = ", ".join(SPLITS)
            raise ValueError(f"{self.source} {self.piece_id}: split must be one of {allowed}, got {self.split!r}")


class Source(ABC):
    """A corpus: lists its pieces and reads the MIDI bytes of one.

    Subclasses keep plain, picklable attributes (paths and strings) and do no work at import time, so a source can
    be shipped to worker processes. :meth:`pieces` scans the disk each time it is called; it is meant to be called
    once (by ``symdiff prepare``) and the result kept.
    """

    info: ClassVar[SourceInfo]

    @abstractmethod
    def pieces(self) -> list[PieceRef]:
        """Every piece of the source, sorted by ``piece_id``."""

    def read_midi(self, ref: PieceRef) -> bytes:
        """The MIDI bytes of one piece (default: the bytes of the file at ``ref.path``).

        Raises:
            MidiError: the piece has no file, or the file is missing or cannot be read.
        """
        if ref.path is None:
            raise MidiError(ref.piece_id, f"{self.info.name} piece has no file")
        try:
            return Path(ref.path).read_bytes()
        except FileNotFoundError:
            raise MidiError(ref.path, f"file is missing ({self.info.name} piece {ref.piece_id})") from None
        except OSError as error:
            raise MidiError(ref.path, f"cannot read the file: {error.strerror or error}") from error

    def __repr__(self) -> str:
        state = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({state})"


# ---------------------------------------------------------------------------------------------- shared helpers


def is_midi_name(name: str) -> bool:
    """Whether a file name looks like a MIDI file: its suffix starts with ``.mid`` or is ``.kar`` (any case)."""
    suffix = os.path.splitext(name)[1].lower()
    return suffix.startswith(MIDI_SUFFIX_PREFIXES)


def find_midi_files(root: Path) -> Iterator[Path]:
    """Every MIDI file under ``root``, recursively, skipping hidden files and folders (names starting with ``.``,
    e.g. macOS ``._name.mid`` resource forks). Follows no folder symlinks; order is not defined."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        for name in files:
            if not name.startswith(".") and is_midi_name(name):
                yield Path(folder, name)


def split_from_digest(hexdigest: str) -> str:
    """The split of a hex digest: first digit ``e`` → validation, ``f`` → test, anything else → train."""
    first = hexdigest[:1].lower()
    return "validation" if first == "e" else "test" if first == "f" else "train"


def md5_file(path: str | os.PathLike[str]) -> str:
    """The md5 hex digest of a file's bytes."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def id_split(piece_id: str) -> str:
    """The split of a piece known only by its id: :func:`split_from_digest` of the sha1 of the UTF-8 id."""
    return split_from_digest(hashlib.sha1(piece_id.encode("utf-8"), usedforsecurity=False).hexdigest())


def check_split(value: str, where: str) -> str:
    """``value`` if it is a split name (after stripping spaces and lowercasing), else a ValueError naming ``where``."""
    split = value.strip().lower()
    if split not in SPLITS:
        raise ValueError(f"{where}: unknown split {value!r}; allowed values are {', '.join(SPLITS)}")
    return split


def resolve_file(root: Path, path: str | os.PathLike[str], what: str) -> Path:
    """An existing file given by the user: absolute, or relative to ``root``, or else to the working directory.

    Raises:
        FileNotFoundError: it is in none of those places (the message names ``what`` and the places looked in).
    """
    given = Path(path).expanduser()
    candidates = [given] if given.is_absolute() else [root / given, Path.cwd() / given]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise FileNotFoundError(f"{what} {given} does not exist (looked for {' and '.join(map(str, candidates))})")
