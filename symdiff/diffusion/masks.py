"""Known-content masks for training one model on every task.

Each training example gets a mask saying which of its (track, step) cells are given: the model sees those
(``Cond.known`` / ``Cond.mask``) and learns to fill in the rest. Drawing masks from a mixture of tasks makes one
model do all of them:

========================  ==================================================================================
task                      what is known
========================  ==================================================================================
``generate``              nothing (unconditional, or label-conditional, generation)
``continue``              a prefix of the window (continuation)
``infill``                everything but one span of steps (filling a gap)
``accompany``             a random non-empty proper subset of the tracks, whole (accompaniment)
``continue_accompany``    a prefix of every track plus some whole tracks
========================  ==================================================================================

Masks have shape ``(B, tracks, 1, 1, steps)`` (broadcast over channels and pitches); ``True`` = known. Span edges
fall on multiples of ``align`` steps (a beat or a token), as users ask for bars, not arbitrary steps.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

TASKS: tuple[str, ...] = ("generate", "continue", "infill", "accompany", "continue_accompany")

#: a default mixture: half the examples unconditional, the rest spread over the conditional tasks
DEFAULT_TASK_WEIGHTS: dict[str, float] = {
    "generate": 0.4,
    "continue": 0.2,
    "infill": 0.2,
    "accompany": 0.1,
    "continue_accompany": 0.1,
}


def draw_masks(
    batch: int,
    tracks: int,
    steps: int,
    *,
    weights: Mapping[str, float] | None = None,
    align: int = 1,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Random known-content masks ``(batch, tracks, 1, 1, steps)`` from the task mixture ``weights``.

    With one track, ``accompany`` draws become ``continue`` and ``continue_accompany`` draws become ``continue``.
    """
    weights = dict(DEFAULT_TASK_WEIGHTS if weights is None else weights)
    unknown = sorted(set(weights) - set(TASKS))
    if unknown:
        raise ValueError(f"unknown mask tasks {unknown}; choose among {', '.join(TASKS)}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"task weights must be >= 0 with a positive sum, got {weights}")
    if align < 1 or steps < 1 or tracks < 1:
        raise ValueError(f"need steps >= 1, tracks >= 1 and align >= 1, got {steps}, {tracks}, {align}")
    probs = torch.tensor([float(weights.get(t, 0.0)) for t in TASKS])
    task = torch.multinomial(probs, batch, replacement=True, generator=generator)  # (B,)
    if tracks == 1:
        task = torch.where(task >= 3, torch.ones_like(task), task)  # accompaniment needs two tracks

    units = max(steps // align, 1)
    u = torch.rand(batch, 4, generator=generator)
    t = torch.arange(steps)  # (S,)
    # continuation: the first 1/8 .. 3/4 of the window is known
    prefix = align * (units / 8 + u[:, 0] * units * 5 / 8).floor().clamp(1, units - 1 if units > 1 else 1).long()
    known_prefix = t[None, :] < prefix[:, None]  # (B, S)
    # infilling: a gap of 1/8 .. 1/2 of the window is unknown, the rest known
    gap = (units / 8 + u[:, 1] * units * 3 / 8).floor().clamp(1, units).long()
    gap_start = torch.minimum(((units - gap + 1) * u[:, 2]).floor().long(), units - gap)
    known_infill = (t[None, :] < align * gap_start[:, None]) | (t[None, :] >= align * (gap_start + gap)[:, None])
    # accompaniment: each track known with probability 1/2, at least one known and one unknown
    coin = torch.rand(batch, tracks, generator=generator) < 0.5
    if tracks > 1:
        first, second = torch.randint(0, tracks, (2, batch), generator=generator)
        second = torch.where(second == first, (second + 1) % tracks, second)
        rows = torch.arange(batch)
        coin[rows, first] = True
        coin[rows, second] = False

    everything = torch.ones(batch, tracks, steps, dtype=torch.bool)
    mask = torch.zeros(batch, tracks, steps, dtype=torch.bool)
    mask = torch.where((task == 1)[:, None, None], known_prefix[:, None, :] & everything, mask)
    mask = torch.where((task == 2)[:, None, None], known_infill[:, None, :] & everything, mask)
    mask = torch.where((task == 3)[:, None, None], coin[:, :, None] & everything, mask)
    mask = torch.where((task == 4)[:, None, None], coin[:, :, None] | known_prefix[:, None, :], mask)
    return mask[:, :, None, None, :].to(device)
