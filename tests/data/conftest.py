"""Miniature copies of the real data-set layouts, built in a temporary folder from the files in ``shared/midi``.

``shared/midi`` is found as ``$SYMDIFF_TEST_MIDI`` or ``../shared/midi`` beside the repository; every fixture
skips cleanly when it is absent. Files are copied into temporary folders, never into the repository.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _shared_midi() -> Path:
    return Path(os.environ.get("SYMDIFF_TEST_MIDI") or REPO.parent / "shared" / "midi").resolve()


@pytest.fixture(scope="session")
def midi_root() -> Path:
    """The real MIDI corpus (``shared/midi``); skips when it is not here."""
    root = _shared_midi()
    if not (root / "metadata").is_dir():
        pytest.skip(f"the real MIDI corpus is not at {root} (set SYMDIFF_TEST_MIDI)")
    return root


def _copy(source: Path, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, destination)
    return destination


def lmd_layout(midi_root: Path) -> list[dict[str, str]]:
    """The rows of ``metadata/lmd_layout.tsv``: local_path, md5, lmd_full_path, clean_midi_path, lmd_matched_path."""
    with open(midi_root / "metadata" / "lmd_layout.tsv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="session")
def maestro_rows(midi_root: Path) -> list[dict[str, str]]:
    """The rows of the real MAESTRO v3 metadata excerpt."""
    with open(midi_root / "metadata" / "maestro-v3.0.0.excerpt.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def maestro_tree(midi_root: Path, maestro_rows: list[dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``maestro-v3.0.0/`` with ``<year>/<name>.midi`` for each excerpt row whose file is in ``maestro/``, plus the
    v3 CSV and JSON (the other rows' files are missing, as the source must tolerate)."""
    root = tmp_path_factory.mktemp("maestro") / "maestro-v3.0.0"
    local = {path.stem: path for path in (midi_root / "maestro").iterdir()}
    for row in maestro_rows:
        stem = Path(row["midi_filename"]).stem
        if stem in local:
            _copy(local[stem], root / row["midi_filename"])
    metadata = midi_root / "metadata"
    _copy(metadata / "maestro-v3.0.0.excerpt.csv", root / "maestro-v3.0.0.csv")
    _copy(metadata / "maestro-v3.0.0.excerpt.json", root / "maestro-v3.0.0.json")
    return root


@pytest.fixture(scope="session")
def lmd_full_tree(midi_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``lmd_full/<h>/<md5>.mid`` for every local Lakh file (canonical paths from lmd_layout.tsv)."""
    root = tmp_path_factory.mktemp("lakh")
    for row in lmd_layout(midi_root):
        _copy(midi_root / row["local_path"], root / row["lmd_full_path"])
    return root / "lmd_full"


#: the MSD track ids used to build lmd_matched: the real one of the Slakh file, and ones from the real
#: match_scores excerpt (given to other local files)
SLAKH_TRID = "TROOHTB128F931F9DF"
OTHER_TRID = "TRRNARX128F4264AEB"
THIRD_TRID = "TRWMHMP128EF34293F"


@pytest.fixture(scope="session")
def lmd_matched_tree(midi_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``lmd_matched/`` and ``match_scores.json`` (the real excerpt plus entries for our files).

    The Slakh file (md5 1a81…) sits under its real track and under OTHER_TRID, scored 0.55 and 0.91; the
    md5-named files sit under THIRD_TRID, one of them without a score.
    """
    base = tmp_path_factory.mktemp("lakh_matched")
    root = base / "lmd_matched"
    rows = {Path(row["local_path"]).name: row for row in lmd_layout(midi_root)}
    slakh = rows["all_src.mid"]
    _copy(midi_root / slakh["local_path"], base / slakh["lmd_matched_path"])
    _copy(midi_root / slakh["local_path"], root / "R" / "N" / "A" / OTHER_TRID / f"{slakh['md5']}.mid")
    md5_named = sorted(name for name in rows if name.endswith(".mid") and len(name) == 36)
    for name in md5_named:
        _copy(midi_root / rows[name]["local_path"], root / "W" / "M" / "H" / THIRD_TRID / name)
    scores = json.loads((midi_root / "metadata" / "lmd_match_scores.excerpt.json").read_text())
    scores.setdefault(SLAKH_TRID, {})[slakh["md5"]] = 0.55
    scores.setdefault(OTHER_TRID, {})[slakh["md5"]] = 0.91
    for name in md5_named[:-1]:
        scores.setdefault(THIRD_TRID, {})[name[:-4]] = 0.61
    (base / "match_scores.json").write_text(json.dumps(scores))
    return base


@pytest.fixture(scope="session")
def clean_midi_tree(midi_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``clean_midi/<Artist>/<Title>[.N].mid`` for every local file with a clean_midi path, plus, in a folder that
    sorts last, a byte-identical copy of one of them (``Yesterday.MID3``) and another file as ``.KAR``."""
    root = tmp_path_factory.mktemp("lakh_clean") / "clean_midi"
    for row in lmd_layout(midi_root):
        if row["clean_midi_path"]:
            _copy(midi_root / row["local_path"], root / row["clean_midi_path"])
    _copy(root / "The Beatles" / "Yesterday.mid", root / "Zz Copies" / "Yesterday.MID3")
    _copy(midi_root / "other" / "key-signatures.mid", root / "Zz Copies" / "Key Signatures.KAR")
    (root / "Zz Copies" / "notes.txt").write_text("not MIDI")
    return root
