"""The two contracts everything in :mod:`symdiff.diffusion` is built on: :class:`Cond` and :class:`Denoiser`.

A denoiser works in the variance-exploding (Karras / EDM) form

.. math::  x = x_0 + \\sigma\\,\\varepsilon, \\qquad \\varepsilon \\sim \\mathcal N(0, I),

and returns its estimate :math:`\\hat x_0 = D(x; \\sigma, c) \\approx \\mathbb E[x_0 \\mid x, c]`. The conditioning
:math:`c` is a :class:`Cond`: what is known about the sample (inpainting), a class label, tempo and meter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Protocol

import torch
from torch import Tensor


class Denoiser(Protocol):
    """Anything that maps a noisy sample to an estimate of the clean one.

    ``denoise(x, sigma, cond) -> x0`` with ``x`` of shape ``(B, ...)`` (any rank), ``sigma`` of shape ``(B,)`` (float32,
    the VE noise level of each example: :math:`x = x_0 + \\sigma\\varepsilon`) and ``cond`` a :class:`Cond` or ``None``.
    The result has the shape of ``x``.
    """

    def __call__(self, x: Tensor, sigma: Tensor, cond: Cond | None) -> Tensor: ...


@dataclass(frozen=True)
class Cond:
    """Conditioning of a batch of ``B`` examples; every field is optional.

    Attributes:
        known: clean values of the known part, shape of ``x`` (only the positions where ``mask`` is True matter).
        mask: bool, broadcastable to ``x``; True = known. Given together with ``known``.
        label: ``(B,)`` long class label, ``-1`` = no label (the "unconditional" label of classifier-free guidance).
        tempo: ``(B,)`` float, quarter notes per minute.
        meter: ``(B, 2)`` long, time signature numerator / denominator.
    """

    known: Tensor | None = None
    mask: Tensor | None = None
    label: Tensor | None = None
    tempo: Tensor | None = None
    meter: Tensor | None = None

    def __post_init__(self) -> None:
        if (self.known is None) != (self.mask is None):
            raise ValueError("Cond.known and Cond.mask must be given together (mask True = known)")
        if self.known is not None and self.mask is not None:
            if self.mask.dtype != torch.bool:
                raise TypeError(f"Cond.mask must be a bool tensor, got {self.mask.dtype}")
            if self.known.ndim < 1:
                raise ValueError("Cond.known must have a batch dimension")
            try:
                shape = torch.broadcast_shapes(self.mask.shape, self.known.shape)
            except RuntimeError:
                shape = None
            if shape != self.known.shape:
                raise ValueError(
                    f"Cond.mask of shape {tuple(self.mask.shape)} does not broadcast to Cond.known's shape "
                    f"{tuple(self.known.shape)}"
                )
        if self.label is not None and (self.label.ndim != 1 or self.label.dtype.is_floating_point):
            raise ValueError(
                f"Cond.label must be a (B,) integer tensor, got {self.label.dtype} {tuple(self.label.shape)}"
            )
        if self.tempo is not None and (self.tempo.ndim != 1 or not self.tempo.dtype.is_floating_point):
            raise ValueError(
                f"Cond.tempo must be a (B,) float tensor, got {self.tempo.dtype} {tuple(self.tempo.shape)}"
            )
        if self.meter is not None and (
            self.meter.ndim != 2 or self.meter.shape[1] != 2 or self.meter.dtype.is_floating_point
        ):
            raise ValueError(
                f"Cond.meter must be a (B, 2) integer tensor, got {self.meter.dtype} {tuple(self.meter.shape)}"
            )
        sizes = {t.shape[0] for t in (self.known, self.label, self.tempo, self.meter) if t is not None}
        if len(sizes) > 1:
            raise ValueError(f"Cond fields disagree on the batch size: {sorted(sizes)}")

    @property
    def batch_size(self) -> int | None:
        """``B``, or ``None`` when no field carries a batch dimension (an empty Cond)."""
        for t in (self.known, self.label, self.tempo, self.meter):
            if t is not None:
                return t.shape[0]
        return None

    def without_label(self) -> Cond:
        """The same conditioning with every label set to ``-1`` (no label), as used by classifier-free guidance."""
        if self.label is None:
            return self
        return replace(self, label=torch.full_like(self.label, -1))

    @staticmethod
    def cat(a: Cond, b: Cond) -> Cond:
        """Batch-concatenate ``a`` and ``b`` (``a``'s examples first). A field must be set in both or in neither."""
        a, b = a._full_mask(), b._full_mask()
        out: dict[str, Tensor | None] = {}
        for f in fields(Cond):
            ta, tb = getattr(a, f.name), getattr(b, f.name)
            if (ta is None) != (tb is None):
                raise ValueError(f"Cond.cat: field {f.name!r} is set in one Cond but not in the other")
            out[f.name] = None if ta is None else torch.cat([ta, tb])
        return Cond(**out)

    def to(self, device: torch.device | str) -> Cond:
        """Move every tensor to ``device``."""
        return self._map(lambda t: t.to(device))

    def index(self, idx: int | slice | Tensor) -> Cond:
        """Select examples along the batch dimension (``idx`` as in ``tensor[idx]``; an int keeps the dimension)."""
        if isinstance(idx, int):
            idx = slice(idx, idx + 1 if idx != -1 else None)
        return self._full_mask()._map(lambda t: t[idx])

    def repeat(self, n: int) -> Cond:
        """Repeat every example ``n`` times in place (``[a, b] -> [a, a, b, b]`` for ``n = 2``)."""
        return self._full_mask()._map(lambda t: t.repeat_interleave(n, dim=0))

    def _full_mask(self) -> Cond:
        """The same Cond with ``mask`` expanded to the full shape of ``known`` (so it has a batch dimension)."""
        if self.mask is None or self.known is None or self.mask.shape == self.known.shape:
            return self
        return replace(self, mask=self.mask.expand(self.known.shape))

    def _map(self, fn: Callable[[Tensor], Tensor]) -> Cond:
        return Cond(**{f.name: None if (t := getattr(self, f.name)) is None else fn(t) for f in fields(Cond)})
