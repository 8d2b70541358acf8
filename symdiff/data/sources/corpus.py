"""The music21 corpus: the scores that ship inside the ``music21`` package (no download), converted to MIDI.

A collection is a top-level folder of ``music21/corpus`` (``bach``, ``palestrina``, ``essenFolksong``, …; see
:data:`COLLECTIONS`). Score files are MusicXML (``.mxl``, ``.xml``, ``.musicxml``), Humdrum (``.krn``) and ABC
(``.abc``); Roman-numeral analyses (``.rntxt``) and other files are left out, and when a work is there in several
formats (``bach/bwv277.krn`` and ``.mxl``) only one is listed, in that order of preference. An ABC file holding
several tunes (``X:`` fields) lists one piece per tune, ``piece_id`` ``"essenFolksong/kinder0#50"``: the listing
reads only the ``X:`` and ``T:`` lines, and the conversion parses only that tune. In ``josquin`` the tunes of a file
are the voices of one piece, which is listed once and merged into one score.

Listing needs no music21 import (it is slow) and takes well under a second for every collection;
:meth:`CorpusSource.read_midi` imports music21 (0.5-1.5 s, once per process) and converts the score with
``music21.midi.translate``, which keeps part names, instruments, tempo, meter and key. Works per collection in the
music21 10.5 corpus (``"all"``: 14,912), and seconds to convert one on one core of a shared, loaded 2-core machine
(samples; an idle core is about twice as fast: bach/bwv66.6 takes 0.18 s):

==================  =====  ===========  ========  ==============================================================
collection          works  sample       median    notes
==================  =====  ===========  ========  ==============================================================
essenFolksong       8514   300          0.06      one melody per tune; p90 0.17 s
oneills1850         2009   150          0.27      one tune took 199 s (1031-1115#1046: music21's channel
                                                  assignment is quadratic)
palestrina          1318   55           0.7-3     3-6 voices; p90 2-12 s
airdsAirs           1180   100          0.18
ryansMammoth        1059   150          0.24      one tune per file
bach                410    all          0.63      4-voice chorales (plus instrument parts); p90 1.3 s, max 8 s
miscFolk            185    all          0.35      max 32 s (northumbrianminstrelsyopus#71)
trecento            102    8            1.3
monteverdi          49     5            1.5       5-voice madrigals
beethoven           22     3            47        string quartets; opus18no3/no4 are whole quartets in one file:
                                                  1.5 min idle, 17 min loaded
mozart, haydn       16, 9  3, 3         4, 13     quartet movements, up to 40 s
josquin             8      8            1.2
==================  =====  ===========  ========  ==============================================================

No piece of these samples fails with the repairs below (before them about 1 Essen tune in 10 and several quartet
movements did): a meter, key or tempo object the ABC parser shared between measures is copied, voice-header parts
with no notes are removed, and a score whose repeats are badly formed is played once through (see
``strict_repeats``). Any other failure is a :class:`~symdiff.errors.MidiError` naming the piece.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...errors import MidiError
from .base import PieceRef, Source, SourceInfo, id_split

#: score file suffixes, in order of preference when one work is there in several formats
SCORE_SUFFIXES: tuple[str, ...] = (".mxl", ".musicxml", ".xml", ".krn", ".abc")

#: the repertoire collections of the music21 corpus and their composer (None for anthologies);
#: ``"all"`` selects all of them. Other corpus folders (``demos``, ``theoryExercises``, ``leadSheet``) can be
#: named too.
COLLECTIONS: dict[str, str | None] = {
    "airdsAirs": None,
    "bach": "Johann Sebastian Bach",
    "beach": "Amy Beach",
    "beethoven": "Ludwig van Beethoven",
    "chopin": "Frédéric Chopin",
    "ciconia": "Johannes Ciconia",
    "corelli": "Arcangelo Corelli",
    "cpebach": "Carl Philipp Emanuel Bach",
    "essenFolksong": None,
    "handel": "George Frideric Handel",
    "haydn": "Joseph Haydn",
    "johnson_j_r": "J. Rosamond Johnson",
    "joplin": "Scott Joplin",
    "josquin": "Josquin des Prez",
    "liliuokalani": "Liliuokalani",
    "luca": "D. Luca",
    "lusitano": "Vicente Lusitano",
    "miscFolk": None,
    "monteverdi": "Claudio Monteverdi",
    "mozart": "Wolfgang Amadeus Mozart",
    "nottingham-dataset": None,
    "oneills1850": None,
    "palestrina": "Giovanni Pierluigi da Palestrina",
    "ryansMammoth": None,
    "schoenberg": "Arnold Schoenberg",
    "schubert": "Franz Schubert",
    "schumann_clara": "Clara Schumann",
    "schumann_robert": "Robert Schumann",
    "trecento": None,
    "verdi": "Giuseppe Verdi",
    "weber": "Carl Maria von Weber",
    "webern": "Anton Webern",
}
#: other names accepted for collections
ALIASES: dict[str, str] = {"essen": "essenFolksong", "nottingham": "nottingham-dataset", "chorales": "bach"}
#: collections whose ABC files hold the voices of one piece as separate tunes
VOICES_AS_TUNES: frozenset[str] = frozenset({"josquin"})

_CHORALE_VERSION = re.compile(r"^(bach/bwv[0-9.]+)-[A-Za-z0-9]+$")
_X_FIELD = re.compile(r"^X:\s*(\S+)")
_T_FIELD = re.compile(r"^T:\s*(.*?)\s*$")

CORPUS_INFO = SourceInfo(
    name="corpus",
    title="The music21 corpus",
    homepage="https://www.music21.org/music21docs/about/referenceCorpus.html",
    licence=(
        "music21 is BSD-3-Clause; the corpus encodings are distributed with their encoders' permission and some "
        "are for non-commercial use only (see music21/corpus/license.txt and each collection's licence file)"
    ),
    citation="""@inproceedings{cuthbert2010music21,
  title     = {music21: A Toolkit for Computer-Aided Musicology and Symbolic Music Data},
  author    = {Michael Scott Cuthbert and Christopher Ariza},
  booktitle = {Proceedings of the 11th International Society for Music Information Retrieval Conference (ISMIR)},
  pages     = {637--642},
  year      = {2010}
}""",
    layout="gm",
    grid={"steps_per_beat": 12},
    split_rule=(
        "By the sha1 of the work's id (the piece id, but the movements of a work folder such as "
        "'beethoven/opus18no1' and the versions of one Bach chorale such as 'bach/bwv248.23-s' share their work's): "
        "first hex digit e -> validation, f -> test, anything else -> train."
    ),
    layout_description=(
        "No files of your own: the corpus folder inside the installed music21 package, "
        "<collection>/[<work>/]<name>.{mxl,xml,musicxml,krn,abc}."
    ),
)


class CorpusSource(Source):
    """Collections of the music21 corpus, converted to MIDI on reading.

    Args:
        collections: collection names (see :data:`COLLECTIONS` and :data:`ALIASES`), as a list or one string
            separated by commas; ``"all"`` means every collection of :data:`COLLECTIONS`.
        corpus_root: the corpus folder; by default ``corpus`` inside the installed music21 package (found without
            importing it).
        strict_repeats: when music21 cannot expand a score's repeats (they are badly formed, e.g. in
            ``bach/bwv277.krn``), raise a MidiError; by default the score is converted again with its repeat
            signs, jumps and endings dropped, i.e. played once through.

    Labels: ``collection`` and ``style`` (both the collection name), ``composer`` (for single-composer
    collections), and for ABC tunes ``title`` (the first ``T:`` field) and ``book`` (the file's name).

    Raises:
        ValueError: a collection name is unknown (the message lists the ones there are).
    """

    info = CORPUS_INFO

    def __init__(
        self,
        collections: str | Iterable[str],
        corpus_root: str | os.PathLike[str] | None = None,
        strict_repeats: bool = False,
    ) -> None:
        self.strict_repeats = strict_repeats
        self.corpus_root = Path(corpus_root).resolve() if corpus_root is not None else music21_corpus_root()
        names = collections.split(",") if isinstance(collections, str) else list(collections)
        chosen: list[str] = []
        for raw in names:
            name = ALIASES.get(raw.strip(), raw.strip())
            if not name:
                continue
            expanded = [key for key in COLLECTIONS if (self.corpus_root / key).is_dir()] if name == "all" else [name]
            for key in expanded:
                if not (self.corpus_root / key).is_dir() or key.startswith((".", "_")):
                    raise ValueError(
                        f"unknown music21 corpus collection {raw.strip()!r}; available: "
                        f"{', '.join(available_collections(self.corpus_root))} (or 'all')"
                    )
                if key not in chosen:
                    chosen.append(key)
        if not chosen:
            raise ValueError("no music21 corpus collection given")
        self.collections = tuple(chosen)

    def pieces(self) -> list[PieceRef]:
        refs: list[PieceRef] = []
        for collection in self.collections:
            refs.extend(self._collection_pieces(collection))
        return sorted(refs, key=lambda ref: ref.piece_id)

    def read_midi(self, ref: PieceRef) -> bytes:
        """Parse the score with music21 (only the tune, for one tune of an ABC file) and translate it to MIDI.

        Raises:
            MidiError: the file is missing, or music21 cannot parse or translate it (the message names the piece
                and music21's exception).
        """
        if ref.path is None or not Path(ref.path).is_file():
            raise MidiError(ref.piece_id, f"score file {ref.path} is missing from the music21 corpus")
        tune = ref.piece_id.partition("#")[2]
        number = int(tune) if tune else None
        from music21.repeat import ExpanderException

        try:
            try:
                return _score_to_midi(_parse(ref.path, number))
            except ExpanderException:
                if self.strict_repeats:
                    raise
            return _score_to_midi(_parse(ref.path, number), drop_repeats=True)  # parsed again: it was changed
        except Exception as error:  # music21 raises many exception types, none of them a common base
            problem = f"music21 cannot convert it to MIDI: {type(error).__name__}: {error}"
            raise MidiError(ref.piece_id, problem) from error

    # ------------------------------------------------------------------------------------------ listing

    def _collection_pieces(self, collection: str) -> list[PieceRef]:
        labels = {"collection": collection, "style": collection}
        if COLLECTIONS.get(collection):
            labels["composer"] = str(COLLECTIONS[collection])
        refs = []
        for relative, path in _score_files(self.corpus_root, collection):
            tunes = _abc_tunes(path) if path.suffix.lower() == ".abc" else []
            if len(tunes) > 1 and collection not in VOICES_AS_TUNES:
                for number, title in tunes:
                    piece_id = f"{relative}#{number}"
                    tune_labels = {**labels, "book": path.stem, **({"title": title} if title else {})}
                    refs.append(PieceRef(self.info.name, piece_id, id_split(work_id(piece_id)), tune_labels, str(path)))
            else:
                title = tunes[0][1] if tunes else ""
                piece_labels = {**labels, **({"title": title} if title else {})}
                refs.append(PieceRef(self.info.name, relative, id_split(work_id(relative)), piece_labels, str(path)))
        return refs


def _parse(path: str, number: int | None) -> Any:
    """The music21 score of a file (of tune ``number`` of an ABC file), voices of an Opus merged into one score."""
    from music21 import converter, stream

    parsed = converter.parse(path, number=number, forceSource=True, storePickle=False)  # no pickle cache on disk
    if isinstance(parsed, stream.Opus):
        parsed = parsed.mergeScores() if len(parsed.scores) > 1 else parsed.scores[0]
    return parsed


def _score_to_midi(score: Any, drop_repeats: bool = False) -> bytes:
    """MIDI bytes of a music21 score; with ``drop_repeats``, its repeat signs, jumps and endings removed first."""
    from music21.midi import translate

    _unshare_context(score)
    _drop_empty_parts(score)
    if drop_repeats:
        _drop_repeats(score)
    return bytes(translate.streamToMidiFile(score).writestr())


def _unshare_context(score: Any) -> None:
    """Give each measure its own meter, key and tempo objects.

    The ABC parser sometimes puts one TimeSignature object in two measures (about 1 Essen tune in 10), on which
    ``music21.midi.translate`` fails ("the object … is already found in this Stream"); a copy fixes it.
    """
    from music21 import key, meter, tempo

    seen: set[int] = set()
    for container in score.recurse(streamsOnly=True, includeSelf=True):
        for element in list(container.getElementsByClass((meter.TimeSignature, key.KeySignature, tempo.MetronomeMark))):
            if id(element) in seen:
                container.replace(element, copy.deepcopy(element))
            else:
                seen.add(id(element))


def _drop_empty_parts(score: Any) -> None:
    """Remove parts without measures or notes (ABC voice headers; repeat expansion fails on them)."""
    from music21 import note, stream

    if isinstance(score, stream.Score) and len(score.parts) > 1:
        for part in list(score.parts):
            if not part.getElementsByClass(stream.Measure) and not part.recurse().getElementsByClass(note.GeneralNote):
                score.remove(part)


def _drop_repeats(score: Any) -> None:
    """Remove repeat barlines, repeat expressions (da capo, segno, coda, …) and first/second endings."""
    from music21 import bar, repeat, spanner, stream

    for measure in score.recurse().getElementsByClass(stream.Measure):
        if isinstance(measure.leftBarline, bar.Repeat):
            measure.leftBarline = None
        if isinstance(measure.rightBarline, bar.Repeat):
            measure.rightBarline = bar.Barline("regular")
    for element in list(score.recurse().getElementsByClass((repeat.RepeatExpression, spanner.RepeatBracket))):
        element.activeSite.remove(element)
    for bracket in list(score.spannerBundle.getByClass(spanner.RepeatBracket)):
        score.spannerBundle.remove(bracket)


def work_id(piece_id: str) -> str:
    """The work a piece belongs to, which decides its split, so that near-copies do not straddle splits.

    Movements in a work folder share it (``beethoven/opus18no1/movement2`` → ``beethoven/opus18no1``), and so do
    the versions of a Bach chorale (``bach/bwv248.23-s`` → ``bach/bwv248.23``); any other piece is its own work
    (each tune of an ABC file too).
    """
    if "#" in piece_id:
        return piece_id
    parts = piece_id.split("/")
    if len(parts) > 2:
        return "/".join(parts[:2])
    return _CHORALE_VERSION.sub(r"\1", piece_id)


def music21_corpus_root() -> Path:
    """The ``corpus`` folder of the installed music21 package, found without importing music21."""
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("music21 is not installed (pip install music21)")
    for location in spec.submodule_search_locations:
        if (Path(location) / "corpus").is_dir():
            return Path(location, "corpus").resolve()
    raise FileNotFoundError("this music21 installation has no corpus folder")


def available_collections(corpus_root: Path | None = None) -> list[str]:
    """The names of the corpus folders (the collections that can be named), sorted case-insensitively."""
    root = corpus_root or music21_corpus_root()
    names = [child.name for child in root.iterdir() if child.is_dir() and not child.name.startswith((".", "_"))]
    return sorted(names, key=str.lower)


def _score_files(corpus_root: Path, collection: str) -> list[tuple[str, Path]]:
    """``(piece id without tune number, path)`` of each work of a collection: one file per work, sorted."""
    best: dict[str, Path] = {}
    for folder, dirs, files in os.walk(corpus_root / collection):
        dirs[:] = [name for name in dirs if not name.startswith((".", "_"))]
        for name in files:
            suffix = os.path.splitext(name)[1]
            if suffix.lower() not in SCORE_SUFFIXES or name.startswith("."):
                continue
            path = Path(folder, name)
            key = path.relative_to(corpus_root).with_suffix("").as_posix()
            if key not in best or _rank(path) < _rank(best[key]):
                best[key] = path
    return sorted(best.items())


def _rank(path: Path) -> int:
    return SCORE_SUFFIXES.index(path.suffix.lower())


def _abc_tunes(path: Path) -> list[tuple[int, str]]:
    """``(X: number, first T: title)`` of each tune of an ABC file, read from those lines only."""
    tunes: list[tuple[int, str]] = []
    titled = True
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if match := _X_FIELD.match(line):
                if match.group(1).isdigit():
                    tunes.append((int(match.group(1)), ""))
                    titled = False
            elif not titled and (match := _T_FIELD.match(line)):
                tunes[-1] = (tunes[-1][0], match.group(1))
                titled = True
    return tunes
