"""The Lakh MIDI Dataset (LMD v0.1): ``lmd_full``, ``lmd_matched``, ``lmd_aligned`` or ``clean_midi``.

Layouts (from the LMD page):

- ``lmd_full/<first hex digit of md5>/<md5>.mid``: 176,581 deduplicated files named by the md5 of their bytes.
- ``lmd_matched/<A>/<B>/<C>/<TRID>/<md5>.mid`` (``lmd_aligned`` alike), where ``TRID`` is the Million Song
  Dataset track id (e.g. ``TRAAAGR128F425B14B``, ``A``-``C`` its 3rd to 5th letters). One MIDI file can match
  several tracks; ``match_scores.json`` (``{msd_id: {md5: score}}``) gives the confidence of each match.
- ``clean_midi/<Artist>/<Title>[.N].mid``: files matched to an artist and title, ``.N`` numbering duplicates.

Every variant lists one :class:`PieceRef` per md5 (``piece_id`` is the md5), so no piece is listed twice and the
same file gets the same id and split in every variant. The split is the Anticipatory Music Transformer
convention (Thickstun et al., 2023): the first hex digit of the md5 of the file's bytes, ``e`` → validation,
``f`` → test, else train.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .base import PieceRef, Source, SourceInfo, find_midi_files, md5_file, resolve_file, split_from_digest

#: the Lakh MIDI variants, as their folders are named in the distribution
VARIANTS: tuple[str, ...] = ("lmd_full", "lmd_matched", "lmd_aligned", "clean_midi")

_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_MSD_ID = re.compile(r"TR[A-Z0-9]{16}", re.IGNORECASE)
_DUPLICATE_NUMBER = re.compile(r"\.\d+$")

LAKH_INFO = SourceInfo(
    name="lakh",
    title="The Lakh MIDI Dataset v0.1",
    homepage="https://colinraffel.com/projects/lmd/",
    licence="CC BY 4.0 (Creative Commons Attribution 4.0 International)",
    citation="""@phdthesis{raffel2016learning,
  title  = {Learning-Based Methods for Comparing Sequences, with Applications to Audio-to-{MIDI} Alignment
            and Matching},
  author = {Colin Raffel},
  school = {Columbia University},
  year   = {2016}
}""",
    layout="gm",
    grid={"steps_per_beat": 12},
    split_rule=(
        "By the md5 of the file's bytes (the file name in lmd_full/matched/aligned), as in the Anticipatory Music "
        "Transformer: first hex digit e -> validation, f -> test, anything else -> train."
    ),
    layout_description=(
        "lmd_full/<h>/<md5>.mid, lmd_matched/<A>/<B>/<C>/<TRID>/<md5>.mid (lmd_aligned alike, match_scores.json "
        "beside or inside the folder), or clean_midi/<Artist>/<Title>[.N].mid; the root is the variant folder "
        "or the folder holding exactly one of them."
    ),
)


class LakhSource(Source):
    """One variant of the Lakh MIDI Dataset.

    Args:
        root: the variant folder (``…/lmd_full``), or a folder holding exactly one variant folder.
        variant: one of :data:`VARIANTS`; detected from the folder name or layout when omitted.
        match_scores: ``match_scores.json`` (a relative path is looked for in ``root``, then in the working
            directory, as is ``tags``); by default the one in ``root`` or its parent, if any. It gives the
            ``msd_id`` and ``match_score`` labels (for ``lmd_full`` too: the best-scoring track of the file) and
            picks, for an md5 matched to several tracks, the track with the highest score (ties: the smallest id).
        tags: a tag file: TSV or CSV lines ``<msd_id or md5><sep><tag>[<sep><tag>…]``, ``#`` comments and one
            header line allowed, e.g. the tagtraum genre annotations ``msd_tagtraum_cd2.cls``. A piece's first tag
            becomes the ``genre`` label and all its tags, joined by ``;``, the ``tags`` label; its ``msd_id`` is
            looked up first, then its md5.

    Labels: ``md5`` always; ``msd_id`` and ``match_score`` when known; ``artist`` and ``title`` for clean_midi
    (the folder name, and the file name without extension and ``.N``); ``genre`` and ``tags`` from ``tags``.
    """

    info = LAKH_INFO

    def __init__(
        self,
        root: str | os.PathLike[str],
        variant: str | None = None,
        match_scores: str | os.PathLike[str] | None = None,
        tags: str | os.PathLike[str] | None = None,
    ) -> None:
        root = Path(root).expanduser().resolve()
        if variant is not None and variant not in VARIANTS:
            raise ValueError(f"unknown Lakh MIDI variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        if not root.is_dir():
            raise FileNotFoundError(f"Lakh MIDI folder {root} does not exist")
        self.root, self.variant = _locate(root, variant)
        given_scores = None if match_scores is None else resolve_file(root, match_scores, "Lakh MIDI match scores file")
        self.match_scores = given_scores or _find_match_scores(self.root)
        self.tags = None if tags is None else resolve_file(root, tags, "Lakh MIDI tag file")

    def pieces(self) -> list[PieceRef]:
        scores = _read_match_scores(self.match_scores) if self.match_scores else {}
        tags = read_tags(self.tags) if self.tags else {}
        if self.variant == "clean_midi":
            found = self._clean_midi()
        elif self.variant == "lmd_full":
            found = self._full(scores)
        else:
            found = self._matched(scores)
        refs = []
        for md5, (path, labels) in sorted(found.items()):
            key = labels.get("msd_id", "").upper()
            piece_tags = tags.get(key) or tags.get(md5)
            if piece_tags:
                labels = {**labels, "genre": piece_tags[0], "tags": ";".join(piece_tags)}
            refs.append(PieceRef(self.info.name, md5, split_from_digest(md5), labels, str(path)))
        return refs

    # ------------------------------------------------------------------------------------------ per variant

    def _full(self, scores: dict[str, dict[str, float]]) -> dict[str, tuple[Path, dict[str, str]]]:
        best: dict[str, tuple[float, str]] = {}
        for msd_id, matches in scores.items():
            for md5, score in matches.items():
                if md5 not in best or (-score, msd_id) < (-best[md5][0], best[md5][1]):
                    best[md5] = (score, msd_id)
        found: dict[str, tuple[Path, dict[str, str]]] = {}
        for path in sorted(find_midi_files(self.root)):
            md5 = _md5_of(path)
            labels = {"md5": md5}
            if md5 in best:
                labels.update(msd_id=best[md5][1], match_score=str(best[md5][0]))
            found.setdefault(md5, (path, labels))
        return found

    def _matched(self, scores: dict[str, dict[str, float]]) -> dict[str, tuple[Path, dict[str, str]]]:
        candidates: dict[str, list[tuple[float, str, Path]]] = {}
        for path in find_midi_files(self.root):
            md5, msd_id = _md5_of(path), path.parent.name
            if not _MSD_ID.fullmatch(msd_id):
                msd_id = ""
            score = scores.get(msd_id, {}).get(md5, float("-inf"))
            candidates.setdefault(md5, []).append((score, msd_id, path))
        found: dict[str, tuple[Path, dict[str, str]]] = {}
        for md5, options in candidates.items():
            score, msd_id, path = min(options, key=lambda option: (-option[0], option[1], option[2]))
            labels = {"md5": md5}
            if msd_id:
                labels["msd_id"] = msd_id
            if score != float("-inf"):
                labels["match_score"] = str(score)
            found[md5] = (path, labels)
        return found

    def _clean_midi(self) -> dict[str, tuple[Path, dict[str, str]]]:
        found: dict[str, tuple[Path, dict[str, str]]] = {}
        for path in sorted(find_midi_files(self.root)):
            md5 = md5_file(path)
            relative = path.relative_to(self.root)
            stem = os.path.splitext(path.name)[0]
            labels = {"md5": md5, "title": _DUPLICATE_NUMBER.sub("", stem) or stem}
            if len(relative.parts) > 1:
                labels["artist"] = relative.parts[0]
            found.setdefault(md5, (path, labels))
        return found


# ---------------------------------------------------------------------------------------------- helpers


def read_tags(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """A tag file as ``{key: [tag, …]}``: md5 keys lowercased, MSD track ids uppercased.

    Lines are tab-separated if they hold a tab, else comma-separated; blank lines and ``#`` comments are skipped,
    and so is a first line whose key is neither an md5 nor an MSD track id (a header). Later lines for the same
    key add their tags after the earlier ones.

    Raises:
        ValueError: a line (named by file and number) has no tag, or a key that is not an md5 or MSD track id.
    """
    tags: dict[str, list[str]] = {}
    seen_data = False
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            fields = [part.strip() for part in text.split("\t" if "\t" in text else ",")]
            key, values = fields[0], [value for value in fields[1:] if value]
            if _MD5.fullmatch(key):
                key = key.lower()
            elif _MSD_ID.fullmatch(key):
                key = key.upper()
            elif not seen_data:
                seen_data = True  # a header line
                continue
            else:
                raise ValueError(f"{path} line {number}: {key!r} is neither an md5 nor an MSD track id")
            seen_data = True
            if not values:
                raise ValueError(f"{path} line {number}: no tag after {key!r}")
            tags.setdefault(key, []).extend(values)
    return tags


def _locate(root: Path, variant: str | None) -> tuple[Path, str]:
    """The variant folder and its variant name, from the arguments, the folder name or the layout."""
    if variant is not None:
        inner = root / variant
        return (inner, variant) if root.name != variant and inner.is_dir() else (root, variant)
    if root.name in VARIANTS:
        return root, root.name
    inside = [name for name in VARIANTS if (root / name).is_dir()]
    if len(inside) == 1:
        return root / inside[0], inside[0]
    if len(inside) > 1:
        raise ValueError(f"{root} holds several Lakh MIDI variants ({', '.join(inside)}); pass variant=")
    children = {child.name for child in root.iterdir() if child.is_dir()}
    if children and all(re.fullmatch(r"[0-9a-f]", name) for name in children):
        return root, "lmd_full"
    if children and all(re.fullmatch(r"[A-Z]", name) for name in children):
        return root, "lmd_matched"
    raise ValueError(
        f"cannot tell which Lakh MIDI variant {root} holds (its name is none of {', '.join(VARIANTS)} and its "
        "layout is neither <h>/<md5>.mid nor <A>/<B>/<C>/<TRID>/<md5>.mid); pass variant="
    )


def _find_match_scores(root: Path) -> Path | None:
    for folder in (root, root.parent):
        if (folder / "match_scores.json").is_file():
            return folder / "match_scores.json"
    return None


def _read_match_scores(path: Path) -> dict[str, dict[str, float]]:
    """``match_scores.json`` as ``{msd_id: {md5: score}}`` (ids uppercased, md5s lowercased)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {
            msd_id.upper(): {md5.lower(): float(score) for md5, score in matches.items()}
            for msd_id, matches in data.items()
        }
    except (ValueError, AttributeError, TypeError) as error:
        raise ValueError(f"{path}: not a match_scores.json ({{msd_id: {{md5: score}}}}): {error}") from error


def _md5_of(path: Path) -> str:
    """The md5 a Lakh file is named by, or the md5 of its bytes when its name is not one."""
    stem = os.path.splitext(path.name)[0]
    return stem.lower() if _MD5.fullmatch(stem) else md5_file(path)
