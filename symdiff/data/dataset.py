"""RollDataset: windows of the pieces of a prepared cache, as tensors, for PyTorch.

The cache's note arrays are memory-mapped on first use in each process (nothing big is pickled), so the dataset
works in DataLoader workers under fork and spawn. Dense tensors are built per window from the notes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..checks import check_choice, check_instance, check_int
from ..grid import Grid
from ..layout import TrackLayout
from ..notes import NOTE_DTYPE, canonical, notes_to_tensor, transpose_notes
from ..roll import Roll
from .prepare import iter_units
from .sources import SPLITS


@dataclass(frozen=True)
class Augment:
    """Random changes applied to each training window.

    Attributes:
        transpose: lowest and highest semitone shift of pitched tracks (notes leaving a track's range drop out).
        velocity_jitter: each note's velocity moves by a whole number drawn uniformly from ±this.
        tempo_stretch: lowest and highest factor on the tempo. On a beat grid only the tempo changes (the notes
            stay on their steps); on a seconds grid the notes' times are scaled too.
    """

    transpose: tuple[int, int] = (0, 0)
    velocity_jitter: int = 0
    tempo_stretch: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        if self.transpose[0] > self.transpose[1]:
            raise ValueError(f"Augment.transpose must be (low, high) with low <= high, got {self.transpose}")
        if self.velocity_jitter < 0:
            raise ValueError(f"Augment.velocity_jitter must be >= 0, got {self.velocity_jitter}")
        if not 0 < self.tempo_stretch[0] <= self.tempo_stretch[1]:
            raise ValueError(
                f"Augment.tempo_stretch must be (low, high) with 0 < low <= high, got {self.tempo_stretch}"
            )


class RollDataset(Dataset):
    """Windows of ``window`` steps of the pieces of one split of a cache made by :func:`symdiff.prepare`.

    Args:
        root: the cache folder.
        split: ``train``, ``validation`` or ``test``.
        window: steps per window (pieces shorter than it are padded with silence).
        stride: steps between window starts (default: ``window``).
        random_offset: move each window start by a random amount below ``stride`` (for training).
        label: the label key whose values become class ids (e.g. ``"style"``, ``"composer"``); None for none.
        select: keep only pieces whose labels take these values, e.g. ``{"style": ["bach", "palestrina"]}``.
        augment: random transposition, velocity jitter and tempo stretch (see :class:`Augment`).
        seed: with :meth:`set_epoch`, fixes every random draw: item ``i`` of epoch ``e`` is always the same.
        align_bars: start every window on the bar line at or before its start, so a step's place in the window is
            its place in the bar (for models with absolute positions).

    Each item is a dict: ``roll`` (tracks, 3, pitches, window) float32, ``label`` (long, -1 for none), ``tempo``
    (qpm at the window start), ``meter`` (numerator, denominator at the window start), ``piece`` and ``start``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        window: int = 256,
        *,
        stride: int | None = None,
        random_offset: bool = False,
        label: str | None = None,
        select: Mapping[str, Sequence[str]] | None = None,
        augment: Augment | None = None,
        seed: int = 0,
        align_bars: bool = False,
    ) -> None:
        self.root = Path(root)
        manifest_path = self.root / "manifest.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(
                f"{self.root} is not a finished symdiff cache (no manifest.json); run symdiff prepare"
            )
        check_choice("split", split, SPLITS)
        window = check_int("window", window, 1, allowed="an int >= 1 (steps)")
        if stride is not None:
            check_int("stride", stride, 1, allowed="an int >= 1 (steps) or None (the window)")
        check_instance("label", label, str, "a label name (str) or None", optional=True)
        if select is not None and not (
            isinstance(select, Mapping)
            and all(isinstance(k, str) and isinstance(v, (list, tuple, set, frozenset)) for k, v in select.items())
        ):
            raise TypeError(
                f"select must map label names to lists of values, e.g. {{'style': ['bach']}}, got {select!r}"
            )
        check_instance("augment", augment, Augment, "an Augment or None", optional=True)
        self.manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        self.layout = TrackLayout.from_dict(self.manifest["layout"])
        self.grid = Grid.from_dict(self.manifest["grid"])
        self.split, self.window = split, window
        self.stride = int(stride or window)
        self.random_offset, self.augment, self.seed, self.epoch = random_offset, augment or Augment(), seed, 0
        self.label = label
        self.align_bars = align_bars

        duplicates = self.manifest["duplicates"]
        every: list[dict[str, Any]] = []
        for unit, folder in enumerate(iter_units(self.root)):
            index = np.load(folder / "index.npy")
            row = 0
            for line in (folder / "pieces.jsonl").read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                if "error" in record:
                    continue
                record.update(unit=unit, index=index[row])
                row += 1
                if record["piece_id"] not in duplicates:
                    every.append(record)
        values = sorted({p["labels"][label] for p in every if label and label in p["labels"]})
        self.label_names: list[str] = values
        wanted = {k: set(v) for k, v in (select or {}).items()}
        self.pieces = [
            p
            for p in every
            if p["split"] == split and all(p["labels"].get(k) in allowed for k, allowed in wanted.items())
        ]
        starts = []
        for i, p in enumerate(self.pieces):
            length = int(p["index"]["length"])
            last = max(length - self.window, 0)
            starts += [(i, s) for s in range(0, last + 1, self.stride)]
            if last % self.stride and not random_offset:
                starts.append((i, last))  # the end of the piece too
        self.windows = np.array(starts, dtype=np.int64).reshape(-1, 2)
        self._arrays: dict[int, dict[str, np.ndarray]] = {}
        self._bars: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ torch Dataset
    def __len__(self) -> int:
        return len(self.windows)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch, so random offsets and augmentations differ between epochs yet repeat exactly."""
        self.epoch = int(epoch)

    def __getitem__(self, i: int) -> dict[str, Any]:
        piece, start = (int(v) for v in self.windows[i])
        rng = np.random.default_rng([self.seed, self.epoch, i])
        p = self.pieces[piece]
        length = int(p["index"]["length"])
        if self.random_offset:
            start = min(start + int(rng.integers(0, self.stride)), max(length - self.window, 0))
        notes, tempos, meters = self._piece_arrays(piece)
        if self.align_bars:  # back to the bar line at or before the start
            bars = self._bar_starts(piece, tempos, meters, length)
            start = int(bars[max(np.searchsorted(bars, start, side="right") - 1, 0)])
        notes, qpm = self._augmented(notes, tempos, start, rng)
        roll = notes_to_tensor(
            notes, len(self.layout), self.layout.pitch_range[0], self.layout.num_pitches, start, start + self.window
        )
        meter = meters[np.searchsorted(meters["step"], start, side="right") - 1]
        label = p["labels"].get(self.label) if self.label else None
        return {
            "roll": torch.from_numpy(roll),
            "label": torch.tensor(self.label_names.index(label) if label in self.label_names else -1),
            "tempo": torch.tensor(qpm, dtype=torch.float32),
            "meter": torch.tensor([int(meter["numerator"]), int(meter["denominator"])]),
            "piece": torch.tensor(piece),
            "start": torch.tensor(start),
        }

    # ------------------------------------------------------------------ pieces as Rolls
    def piece_roll(self, piece: int) -> Roll:
        """The whole piece ``piece`` (an index into :attr:`pieces`) as a Roll."""
        p = self.pieces[piece]
        notes, tempos, meters = self._piece_arrays(piece)
        keys = self._slice(p, "keys")
        return Roll(
            notes=np.array(notes),
            length=int(p["index"]["length"]),
            layout=self.layout,
            grid=self.grid,
            tempos=np.array(tempos),
            meters=np.array(meters),
            keys=np.array(keys),
            programs=tuple(p["programs"]),
            metadata={"piece_id": p["piece_id"], **p["labels"]},
        )

    def window_roll(self, i: int) -> Roll:
        """Window ``i`` (without augmentation or random offset) as a Roll: the piece's steps it covers."""
        piece, start = (int(v) for v in self.windows[i])
        return self.piece_roll(piece).slice(start, start + self.window) if self.window else self.piece_roll(piece)

    # ------------------------------------------------------------------ internals
    def _unit(self, unit: int) -> dict[str, np.ndarray]:
        arrays = self._arrays.get(unit)
        if arrays is None:
            folder = iter_units(self.root)[unit]
            arrays = {
                name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in ("notes", "tempos", "meters", "keys")
            }
            self._arrays[unit] = arrays
        return arrays

    def _slice(self, p: dict[str, Any], name: str) -> np.ndarray:
        start, count = int(p["index"][f"{name}_start"]), int(p["index"][f"{name}_count"])
        return self._unit(p["unit"])[name][start : start + count]

    def _piece_arrays(self, piece: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.pieces[piece]
        return self._slice(p, "notes"), self._slice(p, "tempos"), self._slice(p, "meters")

    def _bar_starts(self, piece: int, tempos: np.ndarray, meters: np.ndarray, length: int) -> np.ndarray:
        cached = self._bars.get(piece)
        if cached is None:
            tempos, meters = np.asarray(tempos), np.asarray(meters)
            empty = Roll(np.zeros(0, NOTE_DTYPE), length, self.layout, self.grid, tempos, meters)
            cached = self._bars[piece] = empty.bar_starts()
        return cached

    def _augmented(
        self, notes: np.ndarray, tempos: np.ndarray, start: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, float]:
        """The window's notes after augmentation, and the tempo at its start."""
        qpm = float(tempos["qpm"][np.searchsorted(tempos["step"], start, side="right") - 1])
        onset = notes["onset"].astype(np.int64)
        notes = notes[(onset < start + self.window) & (onset + notes["duration"] > start)].copy()
        a = self.augment
        if a.transpose != (0, 0):
            notes = transpose_notes(notes, self.layout, int(rng.integers(a.transpose[0], a.transpose[1] + 1)))
        if a.velocity_jitter:
            jitter = rng.integers(-a.velocity_jitter, a.velocity_jitter + 1, len(notes))
            notes["velocity"] = np.clip(notes["velocity"].astype(np.int64) + jitter, 1, 127)
        if a.tempo_stretch != (1.0, 1.0):
            factor = float(rng.uniform(*a.tempo_stretch))
            qpm *= factor
            if not self.grid.is_beat:  # faster music: the notes come sooner, relative to the window start
                onset = notes["onset"].astype(np.int64) - start
                end = onset + notes["duration"]
                notes["onset"] = start + np.floor(onset / factor + 0.5).astype(np.int64)
                notes["duration"] = np.maximum(
                    np.floor(end / factor + 0.5).astype(np.int64) - (notes["onset"] - start), 1
                )
                notes = canonical(notes)  # rounding may make two notes of a pitch touch or overlap
        return notes, qpm

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_arrays"] = {}  # memory maps are reopened in each process
        state["_bars"] = {}
        return state
