"""Diffusion core: conditioning, noise schedule with EDM preconditioning, and samplers built on diffusers."""

from .cond import Cond, Denoiser
from .sample import SAMPLERS, guided, inpainting, make_scheduler, sample
from .schedule import BETA_SCHEDULES, TRAIN_SIGMAS, KarrasDenoiser, NoiseSchedule, precondition

__all__ = [
    "BETA_SCHEDULES",
    "SAMPLERS",
    "TRAIN_SIGMAS",
    "Cond",
    "Denoiser",
    "KarrasDenoiser",
    "NoiseSchedule",
    "guided",
    "inpainting",
    "make_scheduler",
    "precondition",
    "sample",
]
