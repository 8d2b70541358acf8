"""Memorisation: how much of the generated music is copied from the training set, and from which piece.

Every generated piece is cut into windows of ``bars`` bars (default 4, moving one bar at a time); each window is
an *onset set*: the ``(step from the window start, track, pitch)`` of every note starting in it. A window is

- **copied exactly** when some training window has the same onset set up to a transposition (any number of
  semitones, octaves included): both are normalised by subtracting the lowest pitched note of the window, and
  matched through a hash of the normalised set (a sorted-array lookup, no loop over training windows);
- **copied nearly** when some training window, transposed by -6..+5 semitones, has a Jaccard similarity
  ``|A ∩ B| / |A ∪ B| >= min_jaccard`` with it (and, with ``max_differing``, at most that many onsets in
  ``A △ B``). Candidates come from MinHash locality-sensitive hashing (Broder 1997; Indyk & Motwani 1998): a
  window's set is summarised by ``bands * rows`` min-hashes, and training windows agreeing on all ``rows`` of some
  band are candidates; only candidates are compared exactly. With the default 16 bands of 4 rows a window of
  Jaccard 0.8 is found with probability ``1 - (1 - 0.8^4)^16 > 0.9998``, one of 0.5 with probability 0.64.

Drum tracks keep their absolute pitches (drum notes are instruments, not pitches) and are never transposed.
Windows with fewer than ``min_notes`` onsets (silence, a held chord) are skipped: copying them means nothing.

References:
    Broder. "On the resemblance and containment of documents", Compression and Complexity of Sequences, 1997.
    Leskovec, Rajaraman, Ullman. "Mining of Massive Datasets", chapter 3 (MinHash, LSH banding), 2014.
    The "copied bars" analyses of generative music models, e.g. Yin, Reuben, Stepney, Collins. "Measuring when a
    music generation algorithm copies too much: the originality report, cardinality score, and symbolic
    fingerprinting by geometric hashing", SN Computer Science 3, 2022.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..progress import progress_bar

if TYPE_CHECKING:
    from ..data.dataset import RollDataset
    from ..grid import Grid
    from ..roll import Roll

#: transpositions tried for near matches, in semitones
NEAR_TRANSPOSITIONS: tuple[int, ...] = tuple(range(-6, 6))
_STEP_SHIFT = (
    17  # code = step << 17 | track << 9 | pitch code (pitched: pitch + 16 or pitch - lowest; drums 256 + pitch)
)


# ====================================================================== hashing helpers
def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on uint64 arrays: a fast, well-mixed 64-bit hash (Steele et al. 2014)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _set_hash(codes: np.ndarray) -> int:
    """A stable 64-bit hash of a sorted code array (blake2b of its bytes, as a signed int64)."""
    digest = hashlib.blake2b(np.ascontiguousarray(codes, dtype="<i8").tobytes(), digest_size=8).digest()
    return int(np.frombuffer(digest, dtype="<i8")[0])


@dataclass(frozen=True)
class _Piece:
    """One piece's onsets, sorted by step: what windows are cut from."""

    piece_id: str
    step: np.ndarray  # int64
    track: np.ndarray  # int64
    pitch: np.ndarray  # int64
    drum: np.ndarray  # bool
    edges: np.ndarray  # bar starts and the end, int64


def _piece(roll: Roll, piece_id: str, merge_tracks: bool) -> _Piece:
    notes = roll.notes[(roll.notes["onset"] >= 0) & (roll.notes["onset"] < roll.length)]
    order = np.argsort(notes["onset"], kind="stable")
    notes = notes[order]
    is_drum = np.array([t.is_drum for t in roll.layout.tracks], dtype=bool)
    track = notes["track"].astype(np.int64)
    return _Piece(
        piece_id=piece_id,
        step=notes["onset"].astype(np.int64),
        track=np.zeros_like(track) if merge_tracks else track,
        pitch=notes["pitch"].astype(np.int64),
        drum=is_drum[track],
        edges=np.r_[roll.bar_starts().astype(np.int64), roll.length],
    )


def _window(piece: _Piece, bar: int, bars: int) -> slice:
    start, stop = piece.edges[bar], piece.edges[bar + bars]
    return slice(int(np.searchsorted(piece.step, start)), int(np.searchsorted(piece.step, stop)))


def _codes(piece: _Piece, bar: int, bars: int, pitch_offset: int | None) -> tuple[np.ndarray, int]:
    """The sorted unique onset codes of a window and its lowest pitched note (-1 for none).

    ``pitch_offset`` None: pitched notes relative to the window's lowest (the exact, transposition-invariant form);
    an int: absolute pitches moved by that many semitones (the near form).
    """
    part = _window(piece, bar, bars)
    step = piece.step[part] - piece.edges[bar]
    pitch, drum, track = piece.pitch[part], piece.drum[part], piece.track[part]
    pitched = pitch[~drum]
    lowest = int(pitched.min()) if len(pitched) else -1
    shift = -lowest if pitch_offset is None else 16 + pitch_offset
    code_pitch = np.where(drum, 256 + pitch, pitch + shift)
    return np.unique(step << _STEP_SHIFT | track << 9 | code_pitch), lowest


class _MinHasher:
    """MinHash signatures of code sets, cut into LSH band keys."""

    def __init__(self, bands: int, rows: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        count = bands * rows
        self.bands, self.rows = bands, rows
        self.a = rng.integers(1, 2**63, count, dtype=np.uint64) | np.uint64(1)  # odd multipliers
        self.b = rng.integers(0, 2**63, count, dtype=np.uint64)

    def band_keys(self, code_sets: Sequence[np.ndarray]) -> np.ndarray:
        """``(len(code_sets), bands)`` uint64 keys; every set must be non-empty."""
        if not code_sets:
            return np.zeros((0, self.bands), dtype=np.uint64)
        lengths = np.array([len(c) for c in code_sets])
        mixed = _splitmix64(np.concatenate(code_sets).view(np.uint64))
        with np.errstate(over="ignore"):
            hashed = mixed[:, None] * self.a[None, :] + self.b[None, :]
        signatures = np.minimum.reduceat(hashed, np.r_[0, np.cumsum(lengths)[:-1]], axis=0)
        keys = np.zeros((len(code_sets), self.bands), dtype=np.uint64)
        for band in range(self.bands):
            key = np.full(len(code_sets), np.uint64(band))
            for row in range(self.rows):
                key = _splitmix64(key ^ signatures[:, band * self.rows + row])
            keys[:, band] = key
        return keys


# ====================================================================== report
@dataclass(frozen=True)
class WindowMatch:
    """A generated window found in the training set.

    Attributes:
        generated: index of the generated piece; ``generated_id`` its name.
        bar: the window's first bar (0-based) in the generated piece.
        training_id: the training piece it matches; ``training_bar`` the first bar of the matching window.
        transposition: semitones from the training window to the generated one.
        jaccard: Jaccard similarity of the two onset sets (1.0 for an exact match).
        differing: onsets in one window but not the other (0 for an exact match).
        exact: whether the onset sets are equal up to the transposition.
        others: how many further training windows match exactly (exact matches only).
    """

    generated: int
    generated_id: str
    bar: int
    training_id: str
    training_bar: int
    transposition: int
    jaccard: float
    differing: int
    exact: bool
    others: int = 0


@dataclass(frozen=True)
class PieceMemorisation:
    """One generated piece: its windows, how many were copied, and the training piece nearest to it (the one with
    the highest Jaccard similarity to any of its windows among the LSH candidates; None when there were none)."""

    generated_id: str
    windows: int
    exact: int
    near: int
    nearest_training_id: str | None
    nearest_jaccard: float


@dataclass(frozen=True)
class MemorisationReport:
    """What :meth:`TrainingIndex.check` found.

    Attributes:
        windows: generated windows checked (with at least ``min_notes`` onsets); ``skipped`` those left out.
        exact, near: windows copied exactly, and nearly but not exactly.
        matches: every copied window.
        pieces: per generated piece.
        settings: the index's settings (bars, hop, min_jaccard, ...).
    """

    windows: int
    skipped: int
    exact: int
    near: int
    matches: list[WindowMatch] = field(default_factory=list)
    pieces: list[PieceMemorisation] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction_exact(self) -> float:
        """Fraction of checked windows copied exactly (NaN with none checked)."""
        return self.exact / self.windows if self.windows else float("nan")

    @property
    def fraction_near(self) -> float:
        """Fraction of checked windows copied nearly but not exactly."""
        return self.near / self.windows if self.windows else float("nan")

    @property
    def fraction_copied(self) -> float:
        """Fraction of checked windows copied exactly or nearly."""
        return (self.exact + self.near) / self.windows if self.windows else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (NaN fractions become None)."""

        def number(x: float) -> float | None:
            return None if x != x else x

        return {
            "windows": self.windows,
            "skipped": self.skipped,
            "exact": self.exact,
            "near": self.near,
            "fraction_exact": number(self.fraction_exact),
            "fraction_near": number(self.fraction_near),
            "fraction_copied": number(self.fraction_copied),
            "settings": dict(self.settings),
            "pieces": [asdict(p) for p in self.pieces],
            "matches": [asdict(m) for m in self.matches],
        }


# ====================================================================== the index
class TrainingIndex:
    """An index of every ``bars``-bar window of a training set, for :meth:`check`.

    Build it with :meth:`build`. Memory: the training onsets (about 40 bytes a note) plus 8 bytes per window for the
    exact hashes and ``8 * bands`` per window for the LSH keys.
    """

    def __init__(
        self,
        pieces: list[_Piece],
        grid: Grid,
        layout_names: tuple[str, ...] | None,
        *,
        bars: int,
        hop: int,
        min_notes: int,
        bands: int,
        rows: int,
        seed: int,
        progress: bool = False,
    ) -> None:
        self.pieces, self.grid, self.layout_names = pieces, grid, layout_names
        self.bars, self.hop, self.min_notes = bars, hop, min_notes
        self.seed = seed
        self.hasher = _MinHasher(bands, rows, seed)
        windows: list[tuple[int, int]] = []
        exact_hashes: list[int] = []
        lowest: list[int] = []
        keys: list[np.ndarray] = []
        bar = progress_bar(len(pieces), progress, "indexing training windows", "piece")
        for p, piece in enumerate(pieces):
            batch = []
            for b in range(0, len(piece.edges) - 1 - bars + 1, hop):
                normal, low = _codes(piece, b, bars, None)
                if len(normal) < min_notes:
                    continue
                windows.append((p, b))
                exact_hashes.append(_set_hash(normal))
                lowest.append(low)
                batch.append(_codes(piece, b, bars, 0)[0])
            keys.append(self.hasher.band_keys(batch))
            bar.update()
        bar.close()
        self.windows = np.array(windows, dtype=np.int64).reshape(-1, 2)
        self.lowest = np.array(lowest, dtype=np.int64)
        hashes = np.array(exact_hashes, dtype=np.int64)
        self._exact_order = np.argsort(hashes, kind="stable")
        self._exact_sorted = hashes[self._exact_order]
        band_keys = np.concatenate(keys) if keys else np.zeros((0, bands), dtype=np.uint64)
        # per band, contiguous: the window indices in key order, and the sorted keys (for binary search)
        self._band_order = [np.argsort(band_keys[:, b], kind="stable") for b in range(bands)]
        self._band_sorted = [np.ascontiguousarray(band_keys[order, b]) for b, order in enumerate(self._band_order)]

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        source: Sequence[Roll] | RollDataset,
        bars: int = 4,
        *,
        hop: int = 1,
        ids: Sequence[str] | None = None,
        min_notes: int = 8,
        merge_tracks: bool = False,
        bands: int = 16,
        rows: int = 4,
        seed: int = 0,
        progress: bool = False,
    ) -> TrainingIndex:
        """Index a training set.

        Args:
            source: Rolls (one grid), or a :class:`~symdiff.RollDataset` split (its whole pieces are indexed).
            bars: bars per window; ``hop``: bars between window starts.
            ids: a name per piece; default: a RollDataset's piece ids, else each Roll's ``metadata["piece_id"]``,
                ``metadata["file"]`` or ``"piece<i>"``.
            min_notes: windows with fewer onsets are not indexed (nor checked).
            merge_tracks: ignore which track a note is on (compare pieces of different layouts); drums still
                keep their identity.
            bands, rows: the LSH banding (``bands * rows`` min-hashes per window).
            seed: seeds the min-hash functions.
            progress: show a progress bar.
        """
        if bars < 1 or hop < 1:
            raise ValueError(f"TrainingIndex.build: bars and hop must be >= 1, got bars={bars}, hop={hop}")
        if min_notes < 1:
            raise ValueError(f"TrainingIndex.build: min_notes must be >= 1, got {min_notes}")
        if bands < 1 or rows < 1:
            raise ValueError(f"TrainingIndex.build: bands and rows must be >= 1, got bands={bands}, rows={rows}")
        rolls, names = _rolls_and_ids(source, ids)
        if not rolls:
            raise ValueError("TrainingIndex.build: the training set is empty")
        grid = rolls[0].grid
        for name, roll in zip(names, rolls):
            if roll.grid != grid:
                raise ValueError(f"TrainingIndex.build: piece {name!r} is on a {roll.grid}, the first on a {grid}")
        layout_names = None if merge_tracks else rolls[0].layout.names
        if layout_names is not None and any(r.layout.names != layout_names for r in rolls):
            raise ValueError("TrainingIndex.build: the pieces have different track layouts; pass merge_tracks=True")
        pieces = [_piece(r, n, merge_tracks) for r, n in zip(rolls, names)]
        return cls(
            pieces,
            grid,
            layout_names,
            bars=bars,
            hop=hop,
            min_notes=min_notes,
            bands=bands,
            rows=rows,
            seed=seed,
            progress=progress,
        )

    def __len__(self) -> int:
        """The number of indexed training windows."""
        return len(self.windows)

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "bars": self.bars,
            "hop": self.hop,
            "min_notes": self.min_notes,
            "bands": self.hasher.bands,
            "rows": self.hasher.rows,
            "merge_tracks": self.layout_names is None,
            "training_pieces": len(self.pieces),
            "training_windows": len(self.windows),
        }

    # ------------------------------------------------------------------ checking
    def check(
        self,
        generated: Sequence[Roll],
        *,
        ids: Sequence[str] | None = None,
        min_jaccard: float = 0.8,
        max_differing: int | None = None,
        max_candidates: int = 64,
        progress: bool = False,
    ) -> MemorisationReport:
        """Find the windows of ``generated`` that are copied from the training set.

        Args:
            generated: Rolls on the index's grid (and layout, unless it was built with ``merge_tracks``).
            ids: names of the generated pieces (default as in :meth:`build`).
            min_jaccard: a near copy has at least this Jaccard similarity (0 < min_jaccard <= 1).
            max_differing: and, when given, at most this many differing onsets.
            max_candidates: per window and transposition, how many LSH candidates (those sharing the most bands)
                are compared exactly.
            progress: show a progress bar.

        Returns:
            a :class:`MemorisationReport`.
        """
        if not 0 < min_jaccard <= 1:
            raise ValueError(f"check: min_jaccard must be in (0, 1], got {min_jaccard}")
        if max_differing is not None and max_differing < 0:
            raise ValueError(f"check: max_differing must be >= 0 or None, got {max_differing}")
        merge = self.layout_names is None
        rolls, names = _rolls_and_ids(generated, ids)
        for name, roll in zip(names, rolls):
            if roll.grid != self.grid:
                raise ValueError(
                    f"check: generated piece {name!r} is on a {roll.grid}, the training set on a {self.grid}; "
                    "read both on one grid"
                )
            if not merge and roll.layout.names != self.layout_names:
                raise ValueError(
                    f"check: generated piece {name!r} has tracks {list(roll.layout.names)}, the training set "
                    f"{list(self.layout_names or ())}; build the index with merge_tracks=True to compare them"
                )
        matches: list[WindowMatch] = []
        summaries: list[PieceMemorisation] = []
        checked = skipped = exact_count = near_count = 0
        bar = progress_bar(len(rolls), progress, "checking memorisation", "piece")
        for g, (roll, name) in enumerate(zip(rolls, names)):
            piece = _piece(roll, name, merge)
            windows = exact = near = 0
            nearest: tuple[float, str | None] = (0.0, None)
            for b in range(0, len(piece.edges) - 1 - self.bars + 1, self.hop):
                normal, low = _codes(piece, b, self.bars, None)
                if len(normal) < self.min_notes:
                    skipped += 1
                    continue
                windows += 1
                found = self._exact(normal)
                if len(found):
                    w = int(found[0])
                    p, tb = (int(v) for v in self.windows[w])
                    shift = low - int(self.lowest[w]) if low >= 0 else 0
                    training_id = self.pieces[p].piece_id
                    matches.append(WindowMatch(g, name, b, training_id, tb, shift, 1.0, 0, True, len(found) - 1))
                    exact += 1
                    nearest = (1.0, training_id) if nearest[0] < 1.0 else nearest
                    continue
                best = self._near(piece, b, max_candidates)
                if best is None:
                    continue
                jaccard, differing, w, shift = best
                p, tb = (int(v) for v in self.windows[w])
                if jaccard > nearest[0]:
                    nearest = (jaccard, self.pieces[p].piece_id)
                if jaccard >= min_jaccard and (max_differing is None or differing <= max_differing):
                    matches.append(
                        WindowMatch(g, name, b, self.pieces[p].piece_id, tb, shift, jaccard, differing, False)
                    )
                    near += 1
            checked += windows
            exact_count += exact
            near_count += near
            summaries.append(PieceMemorisation(name, windows, exact, near, nearest[1], nearest[0]))
            bar.update()
        bar.close()
        settings = {**self.settings, "min_jaccard": min_jaccard, "max_differing": max_differing}
        return MemorisationReport(checked, skipped, exact_count, near_count, matches, summaries, settings)

    def _exact(self, normal: np.ndarray) -> np.ndarray:
        """Indices of the training windows whose normalised onset set equals ``normal`` (looked up by hash; the
        sets are compared to rule out a hash collision)."""
        key = _set_hash(normal)
        lo = np.searchsorted(self._exact_sorted, key, side="left")
        hi = np.searchsorted(self._exact_sorted, key, side="right")
        found = np.sort(self._exact_order[lo:hi])
        same = [
            int(w)
            for w in found
            if np.array_equal(
                _codes(self.pieces[self.windows[w][0]], int(self.windows[w][1]), self.bars, None)[0], normal
            )
        ]
        return np.array(same, dtype=np.int64)

    def _near(self, piece: _Piece, bar: int, max_candidates: int) -> tuple[float, int, int, int] | None:
        """The best near match of a generated window over the transpositions: (jaccard, differing, window,
        semitones from the training window to the generated one), or None without LSH candidates."""
        variants = [_codes(piece, bar, self.bars, t)[0] for t in NEAR_TRANSPOSITIONS]
        keys = self.hasher.band_keys(variants)  # (transpositions, bands)
        ranges = [
            (
                np.searchsorted(self._band_sorted[band], keys[:, band], side="left"),
                np.searchsorted(self._band_sorted[band], keys[:, band], side="right"),
            )
            for band in range(self.hasher.bands)
        ]
        best: tuple[float, int, int, int] | None = None
        for i, (t, codes) in enumerate(zip(NEAR_TRANSPOSITIONS, variants)):
            candidates = [self._band_order[band][lo[i] : hi[i]] for band, (lo, hi) in enumerate(ranges)]
            if not sum(len(c) for c in candidates):
                continue
            found, hits = np.unique(np.concatenate(candidates), return_counts=True)
            for w in found[np.argsort(-hits, kind="stable")[:max_candidates]]:
                p, tb = (int(v) for v in self.windows[w])
                other = _codes(self.pieces[p], tb, self.bars, 0)[0]
                common = len(np.intersect1d(codes, other, assume_unique=True))
                union = len(codes) + len(other) - common
                if best is None or common / union > best[0]:
                    best = (common / union, union - common, int(w), -t)  # generated + t = training
        return best


def _rolls_and_ids(source: Sequence[Roll] | RollDataset, ids: Sequence[str] | None) -> tuple[list[Roll], list[str]]:
    """The Rolls of a list or a RollDataset, and a name for each."""
    from ..data.dataset import RollDataset

    if isinstance(source, RollDataset):
        rolls = [source.piece_roll(i) for i in range(len(source.pieces))]
        default = [str(p["piece_id"]) for p in source.pieces]
    else:
        rolls = list(source)
        default = [
            str(r.metadata.get("piece_id") or r.metadata.get("file") or f"piece{i}") for i, r in enumerate(rolls)
        ]
    names = list(ids) if ids is not None else default
    if len(names) != len(rolls):
        raise ValueError(f"ids: need one name per piece ({len(rolls)}), got {len(names)}")
    return rolls, names


def check_memorisation(
    generated: Sequence[Roll],
    training: Sequence[Roll] | RollDataset,
    bars: int = 4,
    *,
    min_jaccard: float = 0.8,
    progress: bool = False,
) -> MemorisationReport:
    """:meth:`TrainingIndex.build` on ``training`` then :meth:`TrainingIndex.check` of ``generated``, in one call."""
    return TrainingIndex.build(training, bars, progress=progress).check(
        generated, min_jaccard=min_jaccard, progress=progress
    )
