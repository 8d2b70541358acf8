"""The noise schedule shared by training and sampling, and Karras (EDM) preconditioning.

Everything here is in the variance-exploding form :math:`x = x_0 + \\sigma\\varepsilon`. A discrete DDPM schedule
(betas :math:`\\beta_t`, :math:`\\bar\\alpha_t = \\prod_{s \\le t}(1-\\beta_s)`) maps onto it through

.. math::  \\sigma_t = \\sqrt{(1-\\bar\\alpha_t)/\\bar\\alpha_t}, \\qquad
           x^{\\mathrm{VP}}_t = \\sqrt{\\bar\\alpha_t}\\,x_0 + \\sqrt{1-\\bar\\alpha_t}\\,\\varepsilon
           = \\sqrt{\\bar\\alpha_t}\\,x^{\\mathrm{VE}}_t ,

so a network trained on VE noise levels can drive any diffusers scheduler built from the same betas
(see :mod:`symdiff.diffusion.sample`).

**Relation to v-prediction.** Write :math:`y = x/\\sigma_d` and :math:`s = \\sigma/\\sigma_d`. Then
:math:`c_{in} x = y / \\sqrt{s^2+1}` is exactly the VP sample :math:`\\alpha_s y_0 + \\sigma_s \\varepsilon`
(:math:`\\alpha_s = 1/\\sqrt{s^2+1}`, :math:`\\sigma_s = s\\,\\alpha_s`) and the training target of :math:`F` is
:math:`(x_0 - c_{skip} x)/c_{out} = \\sigma_s y_0 - \\alpha_s \\varepsilon = -v`. So EDM preconditioning is
v-prediction on the data rescaled by :math:`1/\\sigma_d` (exactly v-prediction when :math:`\\sigma_d = 1`), with the
network conditioned on :math:`c_{noise} = \\tfrac14 \\ln\\sigma` instead of an integer timestep, and the EDM loss
weight is the v-prediction (SNR+1) weighting.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from diffusers import DDPMScheduler
from torch import Tensor, nn

from .cond import Cond

BETA_SCHEDULES = ("squaredcos_cap_v2", "scaled_linear", "linear")
"""Beta schedules accepted by :class:`NoiseSchedule` (diffusers' names)."""

TRAIN_SIGMAS = ("timesteps", "lognormal")
"""Training noise-level distributions accepted by :class:`NoiseSchedule`."""

OBJECTIVES = ("mse", "bce")
"""Training objectives accepted by :class:`NoiseSchedule` (see its ``objective``)."""


@dataclass(frozen=True)
class NoiseSchedule:
    """A discrete diffusion schedule seen in VE form, saved in a model's config.

    Attributes:
        num_train_timesteps: number of discrete timesteps :math:`t = 0 \\dots N-1`.
        beta_schedule: one of :data:`BETA_SCHEDULES`, built by diffusers exactly as its schedulers do.
        beta_start, beta_end: endpoints of the "linear" and "scaled_linear" schedules (unused by the cosine one).
        sigma_data: standard deviation of the data, :math:`\\sigma_d` of the EDM preconditioning.
        train_sigmas: how :meth:`sample_sigmas` draws training noise levels:

            * ``"timesteps"`` (default): :math:`t \\sim \\mathcal U\\{0..N-1\\}`, :math:`\\sigma = \\sigma_t`. This is
              the DDPM training distribution and covers exactly the discrete levels every sampler visits, including
              the very first one, :math:`\\sigma_{max}` (samplers start at :math:`t = N-1`, "trailing" spacing).
            * ``"lognormal"``: :math:`\\ln\\sigma \\sim \\mathcal N(P_{mean}, P_{std}^2)` as in EDM. Concentrated on
              mid noise levels (95 % within :math:`[0.03, 3.3]` with the defaults); rarely sees
              :math:`\\sigma_{max}`, where the cosine schedule reaches :math:`2\\cdot10^4`. Not clamped.
        p_mean, p_std: parameters of the lognormal distribution (EDM: -1.2, 1.2).
        data_low, data_high: the model-space values of a silent cell and of a full one (:meth:`to_model`). A piano
            roll is almost all silence (about 0.3 % of the cells of a four-voice roll sound), so where silence sits
            matters: at ``-1`` the data mean is about ``-1`` and the network must first learn a large constant
            offset (thousands of optimiser steps) before it learns any music; at ``0`` the preconditioned skip path
            already carries silence through. See docs/representation.md for the measurements.
        objective: what the network predicts and how it is trained (:class:`KarrasDenoiser`):

            * ``"mse"`` (default): EDM, :math:`D = c_{skip} x + c_{out} F` trained with the weighted squared error.
            * ``"bce"``: :math:`F` is the logit that a cell is full, :math:`D = lo + (hi - lo)\\,s(F + b)` with
              :math:`s` the logistic function and :math:`b` = ``logit_bias``, trained with binary cross-entropy
              against the clean roll on its 0..1 scale. Its minimiser is the same posterior mean
              :math:`E[x_0 \\mid x]` as the squared error's, so every sampler uses it unchanged; but a sounding cell
              that the network misses costs :math:`-\\ln p` instead of :math:`(1-p)^2`, so the rare notes of a
              sparse roll are not drowned by its silence, and estimates stay within ``[data_low, data_high]``.
        logit_bias: :math:`b` of the ``"bce"`` objective: the network starts at :math:`s(b)` (2 % full for -4), near
            a piano roll's density, instead of 50 %.
    """

    num_train_timesteps: int = 1000
    beta_schedule: Literal["squaredcos_cap_v2", "scaled_linear", "linear"] = "squaredcos_cap_v2"
    beta_start: float = 0.0001
    beta_end: float = 0.02
    sigma_data: float = 0.5
    train_sigmas: Literal["timesteps", "lognormal"] = "timesteps"
    p_mean: float = -1.2
    p_std: float = 1.2
    data_low: float = -1.0
    data_high: float = 1.0
    objective: Literal["mse", "bce"] = "mse"
    logit_bias: float = -4.0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; choose one of {', '.join(OBJECTIVES)}")
        if not math.isfinite(self.logit_bias):
            raise ValueError(f"logit_bias must be a finite number, got {self.logit_bias!r}")
        if self.beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f"unknown beta_schedule {self.beta_schedule!r}; choose one of {', '.join(BETA_SCHEDULES)}")
        if self.train_sigmas not in TRAIN_SIGMAS:
            raise ValueError(f"unknown train_sigmas {self.train_sigmas!r}; choose one of {', '.join(TRAIN_SIGMAS)}")
        if isinstance(self.num_train_timesteps, bool) or not isinstance(self.num_train_timesteps, int):
            raise TypeError(f"num_train_timesteps must be an int, got {self.num_train_timesteps!r}")
        if self.num_train_timesteps < 2:
            raise ValueError(f"num_train_timesteps must be >= 2, got {self.num_train_timesteps}")
        if not 0 < self.beta_start < self.beta_end < 1:
            raise ValueError(f"need 0 < beta_start < beta_end < 1, got {self.beta_start}, {self.beta_end}")
        if not (math.isfinite(self.sigma_data) and self.sigma_data > 0):
            raise ValueError(f"sigma_data must be a positive number, got {self.sigma_data}")
        if not (math.isfinite(self.p_std) and self.p_std > 0 and math.isfinite(self.p_mean)):
            raise ValueError(f"need a finite p_mean and p_std > 0, got {self.p_mean}, {self.p_std}")
        if not (math.isfinite(self.data_low) and math.isfinite(self.data_high) and self.data_low < self.data_high):
            raise ValueError(f"need finite data_low < data_high, got {self.data_low}, {self.data_high}")

    def to_model(self, roll: Tensor) -> Tensor:
        """A Roll tensor (0 silent .. 1 full) in model space: ``data_low + roll * (data_high - data_low)``."""
        return self.data_low + roll * (self.data_high - self.data_low)

    def to_unit(self, x: Tensor) -> Tensor:
        """Model space back to the Roll's 0..1 scale, clamped (the inverse of :meth:`to_model`)."""
        return ((x - self.data_low) / (self.data_high - self.data_low)).clamp(0.0, 1.0)

    def diffusers_config(self) -> dict[str, Any]:
        """The part of a diffusers scheduler config that defines the betas."""
        return {
            "num_train_timesteps": self.num_train_timesteps,
            "beta_schedule": self.beta_schedule,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
        }

    def alphas_cumprod(self) -> Tensor:
        """:math:`\\bar\\alpha_t`, ``(N,)`` float32, taken from a diffusers scheduler so they match bit for bit."""
        return _alphas_cumprod(self.num_train_timesteps, self.beta_schedule, self.beta_start, self.beta_end).clone()

    def sigmas(self) -> Tensor:
        """VE noise level per train timestep, :math:`\\sigma_t = \\sqrt{(1-\\bar\\alpha_t)/\\bar\\alpha_t}`,
        ``(N,)`` float32, increasing in ``t``; computed exactly as diffusers' Euler-family schedulers do."""
        ac = self.alphas_cumprod()
        return ((1 - ac) / ac) ** 0.5

    @property
    def sigma_min(self) -> float:
        """:math:`\\sigma_0`, the smallest noise level the model is trained on."""
        return float(self.sigmas()[0])

    @property
    def sigma_max(self) -> float:
        """:math:`\\sigma_{N-1}`, where every sampler starts."""
        return float(self.sigmas()[-1])

    def sample_sigmas(
        self,
        batch: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """Draw ``(batch,)`` float32 training noise levels from the ``train_sigmas`` distribution.

        Random numbers come from ``generator`` (on its device) and are then moved to ``device``.
        """
        gen_device = generator.device if generator is not None else device
        if self.train_sigmas == "timesteps":
            t = torch.randint(0, self.num_train_timesteps, (batch,), generator=generator, device=gen_device)
            sigma = self.sigmas().to(t.device)[t]
        else:
            z = torch.randn(batch, generator=generator, device=gen_device)
            sigma = (self.p_mean + self.p_std * z).exp()
        return sigma.to(device) if device is not None else sigma

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_dict` inverts it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NoiseSchedule:
        """Build from :meth:`to_dict`'s output; missing keys take their defaults, unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown NoiseSchedule keys {unknown}; known keys: {sorted(names)}")
        return cls(**d)


@functools.lru_cache(maxsize=16)
def _alphas_cumprod(num_train_timesteps: int, beta_schedule: str, beta_start: float, beta_end: float) -> Tensor:
    scheduler = DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=beta_schedule,
        beta_start=beta_start,
        beta_end=beta_end,
    )
    return scheduler.alphas_cumprod.to(torch.float32)


def precondition(sigma: Tensor, sigma_data: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """EDM preconditioning coefficients (Karras et al. 2022, Table 1), elementwise in ``sigma``.

    .. math::
        c_{skip} = \\frac{\\sigma_d^2}{\\sigma^2+\\sigma_d^2}, \\quad
        c_{out} = \\frac{\\sigma\\,\\sigma_d}{\\sqrt{\\sigma^2+\\sigma_d^2}}, \\quad
        c_{in} = \\frac{1}{\\sqrt{\\sigma^2+\\sigma_d^2}}, \\quad
        c_{noise} = \\tfrac14 \\ln\\sigma ,

    so that :math:`D(x;\\sigma) = c_{skip}\\,x + c_{out}\\,F(c_{in}\\,x, c_{noise})` has a unit-variance input and a
    unit-variance training target for :math:`F`.

    Returns:
        ``(c_skip, c_out, c_in, c_noise)``, each of ``sigma``'s shape and dtype.
    """
    s2 = sigma**2 + sigma_data**2
    c_skip = sigma_data**2 / s2
    c_out = sigma * sigma_data / s2.sqrt()
    c_in = 1 / s2.sqrt()
    c_noise = sigma.log() / 4
    return c_skip, c_out, c_in, c_noise


def _per_example(v: Tensor, x: Tensor) -> Tensor:
    """Reshape a ``(B,)`` (or scalar) tensor to ``(B, 1, ..., 1)`` so it broadcasts against ``x``."""
    if v.ndim == 0:
        v = v.expand(x.shape[0])
    return v.reshape(-1, *([1] * (x.ndim - 1)))


class KarrasDenoiser(nn.Module):
    """Turns a raw network into a :class:`~symdiff.diffusion.cond.Denoiser` with EDM preconditioning.

    ``net(x_in, c_noise, cond) -> F`` receives the scaled input :math:`c_{in} x` (shape of ``x``), the ``(B,)`` noise
    embedding input :math:`c_{noise}` and the conditioning, and returns :math:`F` of ``x``'s shape. Then

    .. math::  D(x; \\sigma, c) = c_{skip}\\,x + c_{out}\\,F(c_{in}\\,x,\\ c_{noise},\\ c)
               \\quad \\text{(coefficients of } \\sigma\\text{, see } \\texttt{precondition}).

    With ``schedule.objective == "bce"`` the network's output is a logit instead (see :class:`NoiseSchedule`):

    .. math::  D(x; \\sigma, c) = lo + (hi - lo)\\,s\\big(F(c_{in}\\,x,\\ c_{noise},\\ c) + b\\big).

    Coefficients are computed in (at least) float32 and cast to ``x``'s dtype.
    """

    def __init__(self, net: nn.Module, schedule: NoiseSchedule | None = None) -> None:
        super().__init__()
        self.net = net
        self.schedule = schedule if schedule is not None else NoiseSchedule()

    def forward(self, x: Tensor, sigma: Tensor, cond: Cond | None = None) -> Tensor:
        """:math:`\\hat x_0 = D(x; \\sigma, c)` for ``x`` of shape ``(B, ...)`` and ``sigma`` of shape ``(B,)``."""
        sigma = sigma.to(torch.promote_types(sigma.dtype, torch.float32))
        c_skip, c_out, c_in, c_noise = precondition(sigma, self.schedule.sigma_data)
        c_skip, c_out, c_in = (_per_example(c, x).to(x.dtype) for c in (c_skip, c_out, c_in))
        out = self.net(c_in * x, c_noise.expand(x.shape[0]), cond)
        if self.schedule.objective == "bce":
            lo, hi = self.schedule.data_low, self.schedule.data_high
            return (lo + (hi - lo) * torch.sigmoid(out.float() + self.schedule.logit_bias)).to(x.dtype)
        return c_skip * x + c_out * out

    def loss(
        self,
        x0: Tensor,
        cond: Cond | None = None,
        *,
        generator: torch.Generator | None = None,
        weight: Tensor | None = None,
        exclude_known: bool | Tensor = True,
        reduction: Literal["mean", "none"] = "mean",
    ) -> Tensor:
        """EDM training loss on a batch of clean samples ``x0`` of shape ``(B, ...)``.

        Draws :math:`\\sigma` from ``schedule.sample_sigmas`` and :math:`n \\sim \\mathcal N(0, \\sigma^2 I)`, sets
        :math:`x = x_0 + n` and computes

        .. math::  \\lambda(\\sigma)\\,\\lVert D(x;\\sigma) - x_0 \\rVert^2
                   = \\lVert F(c_{in} x, c_{noise}) - \\frac{x_0 - c_{skip}\\,x}{c_{out}} \\rVert^2 ,
                   \\qquad \\lambda(\\sigma) = \\frac{\\sigma^2+\\sigma_d^2}{(\\sigma\\,\\sigma_d)^2} = c_{out}^{-2},

        i.e. a plain MSE on F's target, elementwise weighted by :math:`w`. With the ``"bce"`` objective the
        elementwise error is instead the binary cross-entropy between :math:`s(F + b)` and the clean roll on its 0..1
        scale, with the same weight at every noise level.

        Args:
            x0: clean data.
            cond: conditioning handed to the network (``cond.known`` should be ``x0``'s values on the known part).
            generator: source of the random noise levels and noise (drawn on the generator's device).
            weight: optional elementwise weight, broadcastable to ``x0``.
            exclude_known: when ``cond.mask`` is set, give the known positions weight 0 (they are given, not
                predicted). A bool, or a ``(B,)`` bool tensor choosing per example.
            reduction: ``"mean"`` returns the weighted mean :math:`\\sum w\\,e / \\sum w` (0 if all weights are 0);
                ``"none"`` returns the weighted elementwise loss :math:`w\\,e` of shape ``x0.shape``.
        """
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        batch = x0.shape[0]
        sigma = self.schedule.sample_sigmas(batch, generator=generator, device=x0.device)
        gen_device = generator.device if generator is not None else x0.device
        noise = torch.randn(x0.shape, generator=generator, device=gen_device, dtype=x0.dtype).to(x0.device)
        c_skip, c_out, c_in, c_noise = precondition(sigma, self.schedule.sigma_data)
        c_skip, c_out, c_in = (_per_example(c, x0).to(x0.dtype) for c in (c_skip, c_out, c_in))
        x = x0 + _per_example(sigma, x0).to(x0.dtype) * noise
        out = self.net(c_in * x, c_noise, cond)
        if self.schedule.objective == "bce":
            lo, hi = self.schedule.data_low, self.schedule.data_high
            p0 = ((x0.float() - lo) / (hi - lo)).clamp(0.0, 1.0)
            logits = out.float() + self.schedule.logit_bias
            err = nn.functional.binary_cross_entropy_with_logits(logits, p0, reduction="none")
        else:
            err = (out - (x0 - c_skip * x) / c_out) ** 2

        w = torch.ones_like(err) if weight is None else torch.broadcast_to(weight.to(err.dtype), err.shape)
        if cond is not None and cond.mask is not None:
            drop = cond.mask.to(err.device)
            if isinstance(exclude_known, Tensor):
                if exclude_known.shape != (batch,):
                    raise ValueError(f"exclude_known must be a bool or a ({batch},) tensor")
                drop = drop & _per_example(exclude_known.to(device=err.device, dtype=torch.bool), err)
            elif not exclude_known:
                drop = torch.zeros_like(drop)
            w = w * ~torch.broadcast_to(drop, err.shape)
        if reduction == "none":
            return w * err
        return (w * err).sum() / w.sum().clamp_min(torch.finfo(w.dtype).tiny)
