"""From a model's continuous output back to notes: thresholds, onsets, sustains and velocities.

A sampler returns :math:`\\hat x_0` in model space; ``NoiseSchedule.to_unit`` maps it to the Roll's 0..1 scale,
where each cell reads as the probability that it is on. :class:`Decoder` turns that ``(tracks, 3, pitches, steps)``
tensor into a canonical note array (``symdiff.notes``):

1. **Frames.** A cell sounds when its frame value exceeds ``frame_threshold``.
2. **Broken sustains.** A silent gap of at most ``max_gap`` steps between two sounding runs of one pitch is filled
   when the run after it has no onset: the model held the note but wavered in between. With an onset there, the
   gap is a real rest before a repeated note, and it stays.
3. **Notes.** A note starts on a sounding step whose onset value exceeds ``onset_threshold``, or where the step
   before was silent; it lasts until the frame goes off or the next onset. A repeated onset that would cut the
   note before it to fewer than ``min_steps`` steps is ignored (onset flicker), and then any note still shorter
   than ``min_steps`` is dropped (frame flicker).
4. **Velocity.** The mean of the velocity channel over the note's steps (the training data paints the velocity on
   every sounding step), scaled to 1..127.

On a clean tensor (``Roll.to_tensor``) with ``min_steps=1`` this is exactly ``symdiff.notes.tensor_to_notes``, so
decoding real data gives back its notes. The thresholds are chosen **on data** by :func:`calibrate`: real
validation windows are noised to the low noise levels where a sampler's last steps decide what sounds, denoised by
the trained model, and the setting that maximises note-and-frame F1 against the true notes is kept; ``min_steps``
comes from the training notes' length distribution (:func:`min_steps_from_data`). The chosen values are saved in
the model's ``config.json`` (``extra["decoder"]``) and used by the pipeline.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..notes import CHANNELS, NOTE_DTYPE, sort_notes
from .cond import Cond, Denoiser
from .schedule import NoiseSchedule

ONSET, FRAME, VELOCITY = (CHANNELS.index(c) for c in ("onset", "frame", "velocity"))


@dataclass(frozen=True)
class Decoder:
    """Decode a 0..1 ``(tracks, 3, pitches, steps)`` tensor into canonical notes (see the module docstring).

    Attributes:
        frame_threshold: a frame above it sounds (0 < t < 1).
        onset_threshold: an onset above it (on a sounding step) starts a note (0 < t < 1).
        min_steps: notes shorter than this many steps are dropped; re-onsets closer than it are ignored.
        max_gap: silent gaps of up to this many steps inside a held pitch are filled when no onset follows.
    """

    frame_threshold: float = 0.5
    onset_threshold: float = 0.5
    min_steps: int = 1
    max_gap: int = 1

    def __post_init__(self) -> None:
        for name in ("frame_threshold", "onset_threshold"):
            value = getattr(self, name)
            if not 0.0 < float(value) < 1.0:
                raise ValueError(f"Decoder.{name} must be strictly between 0 and 1, got {value!r}")
        if isinstance(self.min_steps, bool) or not isinstance(self.min_steps, int) or self.min_steps < 1:
            raise ValueError(f"Decoder.min_steps must be an int >= 1, got {self.min_steps!r}")
        if isinstance(self.max_gap, bool) or not isinstance(self.max_gap, int) or self.max_gap < 0:
            raise ValueError(f"Decoder.max_gap must be an int >= 0, got {self.max_gap!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Decoder:
        """The decoder saved by :meth:`to_dict` (``None``: the defaults); unknown keys are an error."""
        if not data:
            return cls()
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown Decoder keys {unknown}; known keys: {sorted(names)}")
        return cls(**data)

    def __call__(self, tensor: Tensor | np.ndarray, pitch_low: int) -> np.ndarray:
        """Canonical notes (``NOTE_DTYPE``) of one ``(tracks, 3, pitches, steps)`` tensor on the 0..1 scale."""
        array = tensor.detach().float().cpu().numpy() if isinstance(tensor, Tensor) else np.asarray(tensor, np.float32)
        if array.ndim != 4 or array.shape[1] != len(CHANNELS):
            raise ValueError(f"expected a (tracks, {len(CHANNELS)}, pitches, steps) tensor, got shape {array.shape}")
        _, _, pitches, steps = array.shape
        if steps == 0:
            return np.zeros(0, dtype=NOTE_DTYPE)
        active = array[:, FRAME] > self.frame_threshold  # (T, P, S)
        onset = array[:, ONSET] > self.onset_threshold
        active = _fill_gaps(active, onset, self.max_gap)
        onset &= active

        rows = active.reshape(-1, steps)
        prev = np.zeros_like(rows)
        prev[:, 1:] = rows[:, :-1]
        start = rows & (onset.reshape(-1, steps) | ~prev)
        # runs of sounding steps: [run_start, run_end] per row, then split at onsets inside each run
        edge = np.diff(np.pad(rows.astype(np.int8), ((0, 0), (1, 1))), axis=1)
        run_row, run_first = np.nonzero(edge == 1)
        _, run_stop = np.nonzero(edge == -1)  # same row-major order as the starts
        start_row, start_step = np.nonzero(start)
        run_of_start = np.searchsorted(run_row * steps + run_first, start_row * steps + start_step, side="right") - 1
        start_step, start_row, run_of_start = _drop_close_onsets(start_step, start_row, run_of_start, self.min_steps)
        nxt = np.empty_like(start_step)
        nxt[:-1] = start_step[1:]
        last_of_run = np.ones(len(start_step), dtype=bool)
        last_of_run[:-1] = run_of_start[1:] != run_of_start[:-1]
        stop = np.where(last_of_run, run_stop[run_of_start], nxt)
        duration = stop - start_step
        keep = duration >= self.min_steps
        start_step, start_row, stop, duration = start_step[keep], start_row[keep], stop[keep], duration[keep]

        # mean velocity over each note's steps: notes are sorted and disjoint in the flat (row, step) order
        flat = np.append(array[:, VELOCITY].reshape(-1), np.float32(0))
        bounds = np.stack([start_row * steps + start_step, start_row * steps + stop], axis=1).reshape(-1)
        sums = np.add.reduceat(flat, bounds)[::2] if len(bounds) else np.zeros(0, np.float32)
        mean_velocity = sums / np.maximum(duration, 1)
        out = np.empty(len(start_step), dtype=NOTE_DTYPE)
        out["onset"] = start_step
        out["duration"] = duration
        track, pitch = np.divmod(start_row, pitches)
        out["track"] = track
        out["pitch"] = pitch + pitch_low
        out["velocity"] = np.clip(np.rint(mean_velocity * 127.0), 1, 127)
        return sort_notes(out)


def _fill_gaps(active: np.ndarray, onset: np.ndarray, max_gap: int) -> np.ndarray:
    """``active`` with silent gaps of 1..max_gap steps filled where a run continues after them with no onset."""
    if max_gap < 1:
        return active
    out = active.copy()
    steps = active.shape[-1]
    for gap in range(1, max_gap + 1):
        if steps < gap + 2:
            break
        before = active[..., : steps - gap - 1]
        after = active[..., gap + 1 :] & ~onset[..., gap + 1 :]
        silent = np.ones_like(before)
        for k in range(1, gap + 1):
            silent &= ~active[..., k : steps - gap - 1 + k]
        fill = before & silent & after
        for k in range(1, gap + 1):
            out[..., k : steps - gap - 1 + k] |= fill
    return out


def _drop_close_onsets(
    step: np.ndarray, row: np.ndarray, run: np.ndarray, min_steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove re-onsets (starts inside a run) fewer than ``min_steps`` after the kept start before them."""
    if min_steps <= 1 or len(step) == 0:
        return step, row, run
    keep = np.ones(len(step), dtype=bool)
    first_of_run = np.ones(len(step), dtype=bool)
    first_of_run[1:] = run[1:] != run[:-1]
    kept = 0
    for i in range(len(step)):  # a re-onset's fate depends on the start kept before it
        if first_of_run[i] or step[i] - step[kept] >= min_steps:
            kept = i
        else:
            keep[i] = False
    return step[keep], row[keep], run[keep]


# ---------------------------------------------------------------------------------------------- calibration
def note_f1(predicted: np.ndarray, reference: np.ndarray) -> float:
    """F1 of notes matched on (track, pitch, onset) exactly; 1.0 when both are empty."""
    a = set(zip(predicted["track"].tolist(), predicted["pitch"].tolist(), predicted["onset"].tolist()))
    b = set(zip(reference["track"].tolist(), reference["pitch"].tolist(), reference["onset"].tolist()))
    if not a and not b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


def frame_f1(predicted: np.ndarray, reference: np.ndarray) -> float:
    """F1 of the sounding (track, pitch, step) cells of two note arrays; 1.0 when both are empty."""
    cells = []
    for notes in (predicted, reference):
        steps = np.repeat(notes["onset"], notes["duration"]) + _ranges(notes["duration"])
        track = np.repeat(notes["track"].astype(np.int64), notes["duration"])
        pitch = np.repeat(notes["pitch"].astype(np.int64), notes["duration"])
        cells.append(np.unique((track * 128 + pitch) * (1 << 32) + steps))
    inter = len(np.intersect1d(cells[0], cells[1]))
    if len(cells[0]) + len(cells[1]) == 0:
        return 1.0
    return 2 * inter / (len(cells[0]) + len(cells[1]))


def _ranges(lengths: np.ndarray) -> np.ndarray:
    lengths = lengths.astype(np.int64)
    return np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def min_steps_from_data(durations: np.ndarray, quantile: float = 0.005) -> int:
    """The shortest note length worth keeping: the largest ``d`` such that fewer than ``quantile`` of the
    training notes are shorter than ``d`` steps (at least 1)."""
    durations = np.asarray(durations)
    if len(durations) == 0:
        return 1
    d = 1
    while np.mean(durations < d + 1) < quantile:
        d += 1
    return d


@torch.no_grad()
def calibrate(
    denoiser: Denoiser,
    windows: Tensor,
    pitch_low: int,
    *,
    cond: Cond | None = None,
    schedule: NoiseSchedule | None = None,
    sigmas: Sequence[float] = (0.1, 0.25, 0.5),
    min_steps: int = 1,
    frame_thresholds: Iterable[float] = (0.3, 0.4, 0.5, 0.6, 0.7),
    onset_thresholds: Iterable[float] = (0.3, 0.4, 0.5, 0.6, 0.7),
    max_gaps: Iterable[int] = (0, 1, 2),
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> tuple[Decoder, dict[str, float]]:
    """Choose the decoder's thresholds on data: the setting with the best mean of note F1 and frame F1.

    Each real window (``windows``: ``(B, tracks, 3, pitches, steps)`` on the 0..1 scale) is moved to model space
    (``schedule``'s mapping; default ``NoiseSchedule()``), noised to each level of ``sigmas`` and denoised by
    ``denoiser``; every combination of thresholds and ``max_gap`` decodes the estimates, which are scored against
    the window's own notes.

    Returns:
        the best :class:`Decoder` and its scores ``{"note_f1", "frame_f1", "score"}``.
    """
    if seed is not None:
        if generator is not None:
            raise ValueError("pass either seed or generator, not both")
        generator = torch.Generator().manual_seed(seed)
    if windows.ndim != 5:
        raise ValueError(f"windows must be (batch, tracks, 3, pitches, steps), got shape {tuple(windows.shape)}")
    schedule = schedule if schedule is not None else NoiseSchedule()
    reference = [Decoder()(w, pitch_low) for w in windows]
    x0 = schedule.to_model(windows.float())
    estimates = []
    for sigma in sigmas:
        noise = torch.randn(x0.shape, generator=generator)
        x = x0 + float(sigma) * noise.to(x0.device)
        s = torch.full((x0.shape[0],), float(sigma), device=x0.device)
        estimates.append(schedule.to_unit(denoiser(x, s, cond)).cpu().numpy())
    best: tuple[float, Decoder, dict[str, float]] | None = None
    for ft, ot, gap in itertools.product(frame_thresholds, onset_thresholds, max_gaps):
        decoder = Decoder(float(ft), float(ot), min_steps, int(gap))
        nf, ff = [], []
        for estimate in estimates:
            for i, ref in enumerate(reference):
                notes = decoder(estimate[i], pitch_low)
                nf.append(note_f1(notes, ref))
                ff.append(frame_f1(notes, ref))
        scores = {"note_f1": float(np.mean(nf)), "frame_f1": float(np.mean(ff))}
        scores["score"] = (scores["note_f1"] + scores["frame_f1"]) / 2
        if best is None or scores["score"] > best[0] + 1e-9:
            best = (scores["score"], decoder, scores)
    assert best is not None
    return best[1], best[2]


def flicker_rate(notes: np.ndarray) -> float:
    """Fraction of notes one step long (the symptom of naive thresholding); 0.0 for no notes."""
    return float(np.mean(notes["duration"] <= 1)) if len(notes) else 0.0


__all__ = [
    "Decoder",
    "calibrate",
    "flicker_rate",
    "frame_f1",
    "min_steps_from_data",
    "note_f1",
]
