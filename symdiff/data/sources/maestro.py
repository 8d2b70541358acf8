"""MAESTRO (v1, v2, v3): virtuoso piano performances with their official train / validation / test split.

The root is the folder as distributed: ``<year>/<name>.midi`` files beside the metadata, which is a CSV
(``maestro-v3.0.0.csv``) or a JSON file. The v3 JSON is pandas "columns" orient (``{column: {"<row>": value}}``);
the v2 JSON is a list of row objects. The CSV is preferred when both are present.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any

from .base import PieceRef, Source, SourceInfo, check_split, resolve_file

#: metadata file names looked for in the root, in order of preference
METADATA_NAMES: tuple[str, ...] = tuple(
    f"maestro-v{version}.{ext}" for version in ("3.0.0", "2.0.0", "1.0.0") for ext in ("csv", "json")
)
#: columns every MAESTRO metadata file has and this source reads
REQUIRED_COLUMNS: tuple[str, ...] = ("canonical_composer", "canonical_title", "split", "year", "midi_filename")

_VERSION = re.compile(r"maestro-v(\d+(?:\.\d+)*)", re.IGNORECASE)

MAESTRO_INFO = SourceInfo(
    name="maestro",
    title="MAESTRO (MIDI and Audio Edited for Synchronous TRacks and Organization)",
    homepage="https://magenta.tensorflow.org/datasets/maestro",
    licence="CC BY-NC-SA 4.0 (Creative Commons Attribution-NonCommercial-ShareAlike 4.0)",
    citation="""@inproceedings{hawthorne2019enabling,
  title     = {Enabling Factorized Piano Music Modeling and Generation with the {MAESTRO} Dataset},
  author    = {Curtis Hawthorne and Andriy Stasyuk and Adam Roberts and Ian Simon and Cheng-Zhi Anna Huang and
               Sander Dieleman and Erich Elsen and Jesse Engel and Douglas Eck},
  booktitle = {International Conference on Learning Representations},
  year      = {2019},
  url       = {https://openreview.net/forum?id=r1lYRjC9F7}
}""",
    layout="piano",
    grid={"frames_per_second": 100},
    split_rule=(
        "The official split from the metadata's split column (train / validation / test), which keeps every "
        "composition in a single split."
    ),
    layout_description=(
        "maestro-v3.0.0/ with <year>/<name>.midi files and maestro-v3.0.0.csv or maestro-v3.0.0.json "
        "(or the v2.0.0 / v1.0.0 equivalents) at the top; rows keep midi_filename relative to that folder."
    ),
)


class MaestroSource(Source):
    """The MAESTRO data set in ``root``; labels ``composer``, ``title`` and ``year`` come from the metadata.

    Args:
        root: the data-set folder (holding the year folders and, normally, the metadata file).
        metadata: the metadata file (CSV or JSON) when it is not one of :data:`METADATA_NAMES` in ``root``;
            a relative path is looked for in ``root``, then in the working directory.

    Rows whose MIDI file is missing still give a :class:`PieceRef`; reading it raises a MidiError naming the file.

    Raises:
        FileNotFoundError: the metadata file given does not exist, or none was given and none of
            :data:`METADATA_NAMES` is in ``root``.
    """

    info = MAESTRO_INFO

    def __init__(self, root: str | os.PathLike[str], metadata: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        self.metadata = _find_metadata(self.root, metadata)
        match = _VERSION.search(self.metadata.name)
        self.version = match.group(1) if match else None

    def pieces(self) -> list[PieceRef]:
        rows = _read_rows(self.metadata)
        refs: dict[str, PieceRef] = {}
        for number, row in enumerate(rows, start=1):
            where = f"{self.metadata} row {number}"
            missing = [column for column in REQUIRED_COLUMNS if row.get(column) in (None, "")]
            if missing:
                raise ValueError(f"{where}: no value for {', '.join(missing)}")
            piece_id = str(row["midi_filename"]).replace("\\", "/")
            if piece_id in refs:
                raise ValueError(f"{where}: {piece_id} is listed twice")
            refs[piece_id] = PieceRef(
                source=self.info.name,
                piece_id=piece_id,
                split=check_split(str(row["split"]), where),
                labels={
                    "composer": str(row["canonical_composer"]),
                    "title": str(row["canonical_title"]),
                    "year": _year(row["year"]),
                },
                path=str(self.root / piece_id),
            )
        return [refs[key] for key in sorted(refs)]


def _find_metadata(root: Path, metadata: str | os.PathLike[str] | None) -> Path:
    """The metadata file: the one given (relative to ``root`` if relative), or the first of METADATA_NAMES."""
    if metadata is not None:
        return resolve_file(root, metadata, "MAESTRO metadata file")
    for name in METADATA_NAMES:
        if (root / name).is_file():
            return root / name
    others = [p for p in root.glob("maestro-v*.*") if p.suffix.lower() in (".csv", ".json")]
    if others:  # another version: the highest, CSV before JSON
        return max(others, key=lambda p: (p.stem, p.suffix.lower() == ".csv"))
    raise FileNotFoundError(
        f"no MAESTRO metadata in {root}: looked for {', '.join(METADATA_NAMES)} (or any maestro-v*.csv/json); "
        "pass metadata=<path of the CSV or JSON file>"
    )


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """The metadata rows, in file order, from a CSV, a v3 (columns orient) JSON or a v2 (list of rows) JSON."""
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            _check_columns(path, reader.fieldnames or [])
            return list(reader)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a JSON file ({error})") from error
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        _check_columns(path, set().union(*data) if data else set(REQUIRED_COLUMNS))
        return data
    if isinstance(data, dict) and all(isinstance(column, dict) for column in data.values()):
        _check_columns(path, data)
        index = sorted({key for column in data.values() for key in column}, key=_row_key)
        return [{name: column.get(key) for name, column in data.items()} for key in index]
    raise ValueError(
        f"{path}: not a MAESTRO JSON layout (expected a list of rows (v2) or {{column: {{row: value}}}} (v3))"
    )


def _check_columns(path: Path, columns: Any) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise ValueError(f"{path}: missing MAESTRO column(s) {', '.join(missing)}")


def _row_key(key: str) -> tuple[int, int | str]:
    """Sort JSON row indices numerically ("2" before "10"), non-numeric ones after, by text."""
    return (0, int(key)) if key.isdigit() else (1, key)


def _year(value: Any) -> str:
    """The year as text: ``2018`` (not ``2018.0``, which pandas may write)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()
