"""Any folder of MIDI files, searched recursively, with optional labels and splits from a CSV file."""

from __future__ import annotations

import csv
import os
from pathlib import Path, PurePosixPath

from .base import (
    PieceRef,
    Source,
    SourceInfo,
    check_split,
    find_midi_files,
    id_split,
    md5_file,
    resolve_file,
    split_from_digest,
)

FOLDER_INFO = SourceInfo(
    name="folder",
    title="A folder of MIDI files",
    homepage="",
    licence="as given by the owners of the files",
    citation="",
    layout="gm",
    grid={"steps_per_beat": 12},
    split_rule=(
        "The labels CSV's split column where given, else by the md5 of the file's bytes as for Lakh MIDI: first "
        "hex digit e -> validation, f -> test, anything else -> train (identical files share a split)."
    ),
    layout_description=(
        "Any folder tree of MIDI files (.mid, .midi, .mid0-.mid9, .kar, any case; hidden files skipped), plus an "
        "optional CSV with a path column (relative to the folder, posix), an optional split column and any "
        "other columns as labels."
    ),
)


class FolderSource(Source):
    """Every MIDI file under ``root``; ``piece_id`` is its posix path relative to ``root``.

    Args:
        root: the folder.
        labels: an optional CSV file (UTF-8, header row). Its ``path`` column names a file relative to ``root``
            (posix ``/``; ``\\`` is accepted too); its optional ``split`` column (``train``, ``validation``,
            ``test``, or empty for the default rule) sets the split; every other non-empty cell becomes a label
            named by its column. A row naming a missing file still lists a piece, whose read fails with a
            MidiError naming the file (its default split then comes from the sha1 of its path). Files the CSV
            does not name are listed too, without labels. A relative ``labels`` path is looked for in ``root``,
            then in the working directory.

    Raises (from :meth:`pieces`):
        ValueError: the CSV has no ``path`` column, a row has no path, names a file outside ``root`` or twice,
            or has a split that is not one of the allowed values (the message names the row).
    """

    info = FOLDER_INFO

    def __init__(self, root: str | os.PathLike[str], labels: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"MIDI folder {self.root} does not exist")
        self.labels = None if labels is None else resolve_file(self.root, labels, "labels file")

    def pieces(self) -> list[PieceRef]:
        rows = self._read_labels() if self.labels else {}
        files = {path.relative_to(self.root).as_posix(): path for path in find_midi_files(self.root)}
        refs = []
        for piece_id in sorted(files.keys() | rows.keys()):
            path = files.get(piece_id, self.root / piece_id)
            split, labels = rows.get(piece_id, (None, {}))
            if split is None:
                split = split_from_digest(md5_file(path)) if piece_id in files else id_split(piece_id)
            refs.append(PieceRef(self.info.name, piece_id, split, labels, str(path)))
        return refs

    def _read_labels(self) -> dict[str, tuple[str | None, dict[str, str]]]:
        """``{piece_id: (split or None, labels)}`` from the labels CSV."""
        assert self.labels is not None
        rows: dict[str, tuple[str | None, dict[str, str]]] = {}
        lines: dict[str, int] = {}
        with open(self.labels, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [name.strip() for name in reader.fieldnames or []]
            if "path" not in columns:
                raise ValueError(f"{self.labels}: no 'path' column (columns: {', '.join(columns) or 'none'})")
            for row in reader:
                where = f"{self.labels} line {reader.line_num}"
                cells = {(key or "").strip(): (value or "").strip() for key, value in row.items() if key}
                piece_id = self._piece_id(cells.get("path", ""), where)
                if piece_id in rows:
                    raise ValueError(f"{where}: {piece_id} is already listed on line {lines[piece_id]}")
                split = check_split(cells["split"], where) if cells.get("split") else None
                labels = {key: value for key, value in cells.items() if key not in ("path", "split") and value}
                rows[piece_id], lines[piece_id] = (split, labels), reader.line_num
        return rows

    def _piece_id(self, text: str, where: str) -> str:
        """The posix path relative to the root that a CSV path cell names."""
        if not text:
            raise ValueError(f"{where}: empty path")
        path = Path(text.replace("\\", "/")).expanduser()
        if path.is_absolute():
            try:
                path = path.relative_to(self.root)
            except ValueError:
                raise ValueError(f"{where}: {text} is not inside {self.root}") from None
        posix = PurePosixPath(path.as_posix())
        if ".." in posix.parts:
            raise ValueError(f"{where}: {text} is not inside {self.root}")
        return posix.as_posix()
