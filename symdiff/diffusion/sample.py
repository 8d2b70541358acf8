"""Sampling: one loop that drives diffusers' schedulers with a VE :class:`~symdiff.diffusion.cond.Denoiser`.

**The bridge.** diffusers schedulers keep their state ``x`` either in variance-preserving scale (DDPM, DDIM,
DPM-Solver, UniPC: :math:`x = \\sqrt{\\bar\\alpha_t}x_0 + \\sqrt{1-\\bar\\alpha_t}\\varepsilon`) or in VE scale
(Euler, Euler ancestral: :math:`x = x_0 + \\sigma_t\\varepsilon`, initial noise ``init_noise_sigma``). For all of
them ``scheduler.scale_model_input(x, t)`` returns the VP sample :math:`x^{VP}_t` (identity for the former, division
by :math:`\\sqrt{\\sigma_t^2+1}` for the latter). Each step therefore computes

.. math::  \\sigma_t = \\sqrt{(1-\\bar\\alpha_t)/\\bar\\alpha_t}, \\qquad
           x^{VE}_t = x^{VP}_t / \\sqrt{\\bar\\alpha_t} = \\sqrt{1+\\sigma_t^2}\\; x^{VP}_t, \\qquad
           \\hat x_0 = D(x^{VE}_t; \\sigma_t, c)

with :math:`\\bar\\alpha_t` = ``scheduler.alphas_cumprod[t]`` and hands :math:`\\hat x_0` to ``scheduler.step`` as a
``prediction_type="sample"`` output.

**Configuration and upstream quirks** (diffusers 0.42; all checked by ``tests/diffusion``):

* ``timestep_spacing="trailing"`` everywhere: sampling starts at :math:`t = N-1` (:math:`\\sigma_{max}`) whatever the
  number of steps (the default "leading"/"linspace" start lower or use fractional timesteps), and every timestep is
  an integer, so :math:`\\bar\\alpha_t` is read, not interpolated, and :math:`\\sigma_t` equals the sigma the
  Euler-family schedulers hold internally bit for bit. ``final_sigmas_type="zero"`` where the option exists, so the
  last step goes to :math:`\\sigma = 0`; clipping/thresholding off.
* The last step goes to :math:`\\sigma = 0`, where every sampler's update reduces to :math:`x = \\hat x_0` (first-order
  final step). :func:`sample` returns that last :math:`\\hat x_0` itself: bit-exact, and right for
  ``DDIMScheduler``, whose ``prev_t = t - N // steps`` rule (diffusers issues #9261, #12633) ends at ``t = 0``
  instead of :math:`\\sigma = 0` (leaving noise of std :math:`\\sigma_0`) when ``steps`` does not divide ``N``. The
  same rule makes DDIM's intermediate steps land up to one timestep away from the next one it evaluates; harmless.
* ``EulerAncestralDiscreteScheduler`` does not implement ``prediction_type="sample"``: it runs with ``"epsilon"``
  and is given :math:`\\hat\\varepsilon = (x^{VE}_t - \\hat x_0)/\\sigma_t`, which it turns back into
  :math:`\\hat x_0`. Its float32 :math:`\\sigma_{down} = \\sqrt{\\sigma_{to}^2 - \\sigma_{up}^2}` is NaN for
  the cosine schedule's huge :math:`\\sigma_{max}` at low step counts (diffusers issue #14213), so its sigma table is
  switched to float64.
* ``HeunDiscreteScheduler`` is not offered: its trapezoidal correction over the first step
  (:math:`\\sigma_{max} \\approx 2\\cdot10^4 \\to \\sim 13` with the cosine schedule and 20 steps) overshoots
  (Gaussian toy: std +120 % at 20 steps, +8 % at 50). ``DPMSolverSDEScheduler`` needs ``torchsde``; the SDE
  variant of DPM-Solver++ (``"sde-dpmsolver++"``) is offered instead.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any

import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    UniPCMultistepScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..checks import check_int, is_int, is_number, must_be
from .cond import Cond, Denoiser
from .schedule import NoiseSchedule

_SCHEDULERS: dict[str, tuple[type[SchedulerMixin], dict[str, Any]]] = {
    "ddpm": (DDPMScheduler, {"clip_sample": False, "variance_type": "fixed_small"}),
    "ddim": (DDIMScheduler, {"clip_sample": False, "set_alpha_to_one": True}),
    "dpmsolver++": (
        DPMSolverMultistepScheduler,
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "final_sigmas_type": "zero"},
    ),
    "sde-dpmsolver++": (
        DPMSolverMultistepScheduler,
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "final_sigmas_type": "zero"},
    ),
    "unipc": (UniPCMultistepScheduler, {"predict_x0": True, "solver_order": 2, "final_sigmas_type": "zero"}),
    "euler": (EulerDiscreteScheduler, {"final_sigmas_type": "zero"}),
    "euler_ancestral": (EulerAncestralDiscreteScheduler, {"prediction_type": "epsilon"}),
}

SAMPLERS: tuple[str, ...] = tuple(_SCHEDULERS)
"""Names accepted by :func:`sample` and :func:`make_scheduler`; each calls the denoiser once per step.
Deterministic: ddim, dpmsolver++, unipc, euler (ddim and euler are the same first-order ODE step in VE form).
Stochastic: ddpm, sde-dpmsolver++, euler_ancestral (ddpm and euler_ancestral are the same ancestral step)."""


def make_scheduler(sampler: str, schedule: NoiseSchedule | None = None) -> SchedulerMixin:
    """A fresh diffusers scheduler for ``sampler`` with ``schedule``'s betas, configured for :func:`sample`."""
    if sampler not in _SCHEDULERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}")
    schedule = schedule if schedule is not None else NoiseSchedule()
    cls, extra = _SCHEDULERS[sampler]
    config = {"prediction_type": "sample", "timestep_spacing": "trailing", **schedule.diffusers_config(), **extra}
    return cls(**config)


def guided(denoiser: Denoiser, scale: float) -> Denoiser:
    """Classifier-free guidance around ``denoiser``.

    .. math::  \\hat x_0 = \\hat x_0^{u} + w\\,(\\hat x_0^{c} - \\hat x_0^{u}),

    with :math:`\\hat x_0^{c}` the estimate under ``cond`` and :math:`\\hat x_0^{u}` under ``cond.without_label()``,
    both from one forward pass on a doubled batch (``Cond.cat``). Returns ``denoiser`` itself when ``scale == 1``; the
    wrapper passes calls through unchanged when ``cond`` is None or has no label.
    """
    if scale == 1:
        return denoiser

    def denoise(x: Tensor, sigma: Tensor, cond: Cond | None) -> Tensor:
        if cond is None or cond.label is None:
            return denoiser(x, sigma, cond)
        both = Cond.cat(cond, cond.without_label())
        x0_c, x0_u = denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]), both).chunk(2)
        return x0_u + scale * (x0_c - x0_u)

    return denoise


def inpainting(denoiser: Denoiser) -> Denoiser:
    """Replace the estimate on the known part by the known values: :math:`\\hat x_0 = m \\odot k + (1-m) \\odot D(x)`,
    i.e. ``where(cond.mask, cond.known, x0)``. Passes through when ``cond`` is None or has no mask."""

    def denoise(x: Tensor, sigma: Tensor, cond: Cond | None) -> Tensor:
        x0 = denoiser(x, sigma, cond)
        if cond is None or cond.mask is None or cond.known is None:
            return x0
        return torch.where(cond.mask, cond.known.to(x0.dtype), x0)

    return denoise


def sample(
    denoiser: Denoiser,
    shape: Sequence[int],
    *,
    sampler: str = "dpmsolver++",
    steps: int = 20,
    cond: Cond | None = None,
    guidance_scale: float = 1.0,
    schedule: NoiseSchedule | None = None,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> Tensor:
    """Draw samples of ``shape`` = ``(B, ...)`` by running ``sampler`` for ``steps`` steps.

    Args:
        denoiser: the :class:`~symdiff.diffusion.cond.Denoiser` (called with float32 ``sigma`` of shape ``(B,)``).
        shape: output shape, batch first.
        sampler: one of :data:`SAMPLERS`.
        steps: number of scheduler steps, ``1 <= steps <= schedule.num_train_timesteps``.
        cond: conditioning for the whole batch (batch size ``B``). With ``cond.mask`` the sample is inpainted: the
            estimate is replaced by ``cond.known`` on the known part at every step (:func:`inpainting`) and the
            known part of the result is exactly ``cond.known``.
        guidance_scale: classifier-free guidance scale :math:`w` (:func:`guided`); no effect without ``cond.label``.
        schedule: the model's noise schedule (default ``NoiseSchedule()``).
        generator: CPU (or any-device) ``torch.Generator`` for the initial noise and the stochastic samplers.
        seed: shorthand for ``generator=torch.Generator().manual_seed(seed)``; not both.
        device: where the denoiser runs; default: the denoiser's parameters' device if it is an ``nn.Module``,
            else ``cond``'s device, else CPU. Noise is drawn on the generator's device (CPU by default) and then
            moved, so a seed gives the same sample on every device.
        dtype: dtype of the sample and of ``x`` handed to the denoiser. float16 is refused when it cannot hold
            :math:`\\sigma_{max}\\varepsilon` (the cosine schedule's :math:`\\sigma_{max} \\approx 2\\cdot10^4`).
        progress: show a tqdm progress bar.

    Returns:
        The samples, ``(B, ...)`` of ``dtype`` on ``device``.
    """
    if sampler not in _SCHEDULERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}")
    schedule = schedule if schedule is not None else NoiseSchedule()
    check_int("steps", steps, 1, schedule.num_train_timesteps, allowed=f"an int in [1, {schedule.num_train_timesteps}]")
    if not (isinstance(shape, Sequence) and shape and all(is_int(n) and n > 0 for n in shape)):
        raise ValueError(must_be("shape", "a non-empty sequence of positive ints", shape))
    shape = tuple(int(n) for n in shape)
    if not is_number(guidance_scale):
        raise ValueError(must_be("guidance_scale", "a finite number", guidance_scale))
    if not math.isfinite(guidance_scale):
        raise ValueError(f"guidance_scale must be finite, got {guidance_scale}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(must_be("dtype", "a floating dtype", dtype))
    if dtype == torch.float16 and 8 * schedule.sigma_max > torch.finfo(torch.float16).max:
        raise ValueError(
            f"float16 cannot hold the VE samples x0 + sigma * eps at sigma_max = {schedule.sigma_max:.4g} "
            f"({schedule.beta_schedule} schedule); sample in bfloat16 or float32 (the network may still autocast)"
        )
    if seed is not None:
        if generator is not None:
            raise ValueError("pass either seed or generator, not both")
        generator = torch.Generator().manual_seed(check_int("seed", seed))
    device = torch.device(device) if device is not None else _default_device(denoiser, cond)
    if cond is not None:
        if cond.batch_size is not None and cond.batch_size != shape[0]:
            raise ValueError(f"cond has batch size {cond.batch_size} but shape is {shape}")
        if cond.known is not None and tuple(cond.known.shape) != shape:
            raise ValueError(f"cond.known has shape {tuple(cond.known.shape)}, expected {shape}")
        cond = cond.to(device)

    denoise = guided(denoiser, guidance_scale)
    if cond is not None and cond.mask is not None:
        denoise = inpainting(denoise)

    scheduler = make_scheduler(sampler, schedule)
    scheduler.set_timesteps(steps, device=device)
    if isinstance(scheduler, EulerAncestralDiscreteScheduler):
        scheduler.sigmas = scheduler.sigmas.to(torch.float64)  # diffusers #14213: NaN sigma_down in float32
    step_kwargs: dict[str, Any] = {}
    if "generator" in inspect.signature(scheduler.step).parameters:
        step_kwargs["generator"] = generator
    eps_output = scheduler.config.prediction_type == "epsilon"
    alphas_cumprod = scheduler.alphas_cumprod.to(torch.float32).cpu()

    noise_device = generator.device if generator is not None else torch.device("cpu")
    noise = torch.randn(shape, generator=generator, device=noise_device, dtype=torch.float32)
    x = (noise.to(device) * scheduler.init_noise_sigma).to(dtype)
    x0 = x
    for t in tqdm(scheduler.timesteps, desc=sampler, disable=not progress):
        ti = int(t)
        if ti != float(t):  # cannot happen with "trailing" spacing; guards against config drift
            raise RuntimeError(f"{type(scheduler).__name__} produced a non-integer timestep {float(t)}")
        abar = alphas_cumprod[ti]
        sigma = ((1 - abar) / abar) ** 0.5  # the same float32 expression diffusers uses for its sigmas
        # x_ve = x_vp / sqrt(abar); 1 / sqrt(abar) is written sqrt(1 + sigma^2) as the Euler-family schedulers'
        # scale_model_input divides by it, so for them x_ve reproduces their VE state x up to rounding
        x_ve = scheduler.scale_model_input(x, t) * float((1 + sigma**2) ** 0.5)
        sigma_b = torch.full((shape[0],), float(sigma), device=device, dtype=torch.float32)
        x0 = denoise(x_ve, sigma_b, cond)
        out = (x_ve - x0) / float(sigma) if eps_output else x0
        x = scheduler.step(out, t, x, **step_kwargs).prev_sample

    # The last step went to sigma = 0, where x equals the last estimate; return that estimate exactly (see the
    # module docstring: this also finishes DDIM's runs that stop at t = 0).
    if cond is not None and cond.mask is not None and cond.known is not None:
        x0 = torch.where(cond.mask, cond.known.to(x0.dtype), x0)
    return x0.to(dtype)


def _default_device(denoiser: Denoiser, cond: Cond | None) -> torch.device:
    if isinstance(denoiser, nn.Module):
        for p in denoiser.parameters():
            return p.device
    if cond is not None:
        for t in (cond.known, cond.label, cond.tempo, cond.meter):
            if t is not None:
                return t.device
    return torch.device("cpu")
