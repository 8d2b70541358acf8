"""Training masks: each task gives the known part it promises, draws are reproducible, arguments are checked."""

from __future__ import annotations

import pytest
import torch

from symdiff.diffusion.masks import TASKS, draw_masks


def only(task: str) -> dict[str, float]:
    return {task: 1.0}


def test_generate_knows_nothing() -> None:
    assert not draw_masks(16, 3, 64, weights=only("generate")).any()


def test_continue_knows_an_aligned_prefix() -> None:
    m = draw_masks(64, 2, 64, weights=only("continue"), align=4, generator=torch.Generator().manual_seed(0))
    assert m.shape == (64, 2, 1, 1, 64)
    known = m[:, 0, 0, 0]  # (B, S)
    lengths = known.sum(-1)
    assert torch.equal(known, torch.arange(64)[None] < lengths[:, None])  # a prefix
    assert (lengths % 4 == 0).all() and (lengths >= 4).all() and (lengths <= 60).all()
    assert torch.equal(m[:, 0], m[:, 1])  # on every track


def test_infill_hides_one_aligned_span() -> None:
    m = draw_masks(64, 1, 64, weights=only("infill"), align=4, generator=torch.Generator().manual_seed(1))
    hidden = ~m[:, 0, 0, 0]
    for row in hidden:
        idx = torch.nonzero(row).flatten()
        assert len(idx) >= 4 and idx[0] % 4 == 0 and len(idx) % 4 == 0
        assert torch.equal(idx, torch.arange(int(idx[0]), int(idx[0]) + len(idx)))  # contiguous


def test_accompany_knows_whole_tracks_some_but_not_all() -> None:
    m = draw_masks(64, 5, 32, weights=only("accompany"), generator=torch.Generator().manual_seed(2))
    per_track = m[:, :, 0, 0]  # (B, T, S)
    assert (per_track.all(-1) | (~per_track).all(-1)).all()  # each track wholly known or unknown
    known_tracks = per_track.all(-1).sum(-1)
    assert (known_tracks >= 1).all() and (known_tracks <= 4).all()


def test_one_track_accompaniment_becomes_continuation() -> None:
    m = draw_masks(32, 1, 32, weights=only("accompany"), generator=torch.Generator().manual_seed(3))
    known = m[:, 0, 0, 0]
    assert known[:, 0].all() and not known[:, -1].any()


def test_mixture_is_reproducible_and_covers_every_task() -> None:
    a = draw_masks(256, 3, 32, generator=torch.Generator().manual_seed(4))
    b = draw_masks(256, 3, 32, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    fraction_known = a.float().mean(dim=(1, 2, 3, 4))
    assert (fraction_known == 0).any() and (fraction_known > 0).any()
    assert set(TASKS) == {"generate", "continue", "infill", "accompany", "continue_accompany"}


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown mask tasks"):
        draw_masks(2, 1, 8, weights={"dance": 1.0})
    with pytest.raises(ValueError, match="positive sum"):
        draw_masks(2, 1, 8, weights={"generate": 0.0})
