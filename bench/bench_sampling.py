"""Sampling time for 16 bars (256 steps of 4/4 at 4 steps per beat) with each sampler at 10, 20 and 50 steps, and
1000-step DDPM, side by side in one run; per step and in total.

    python bench/bench_sampling.py [--threads 2] [--d-model 256] [--layers 6]

The network is an untrained TransformerDenoiser of the bench_model size (4 tracks × 64 pitches, patch 4): the
time of a sampling run does not depend on the weights. Batch 1, fp32, inference mode, with a style label and
classifier-free guidance scale 1 (one forward per step) and 3 (one forward of a doubled batch per step).
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from symdiff.diffusion import SAMPLERS, Cond, KarrasDenoiser, sample
from symdiff.model import DenoiserConfig, TransformerDenoiser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = DenoiserConfig(
        tracks=4,
        pitches=64,
        patch=4,
        d_model=args.d_model,
        n_layers=args.layers,
        n_heads=4,
        num_labels=3,
        label_names=("a", "b", "c"),
    )
    torch.manual_seed(0)
    denoiser = KarrasDenoiser(TransformerDenoiser(config)).eval()
    shape = (1, 4, 3, 64, 256)
    cond = Cond(label=torch.tensor([1]))

    def run(sampler: str, steps: int, scale: float) -> float:
        t0 = time.perf_counter()
        with torch.inference_mode():
            sample(denoiser, shape, sampler=sampler, steps=steps, cond=cond, guidance_scale=scale, seed=0)
        return time.perf_counter() - t0

    run("ddim", 2, 1.0)  # warm up
    print(f"{platform.machine()}, {args.threads} threads, d={args.d_model}, {args.layers} layers, batch 1, 256 steps")
    print(f"{'sampler':16s} {'steps':>5s} {'total s (cfg 1)':>16s} {'ms/step':>8s} {'total s (cfg 3)':>16s}")
    for sampler in SAMPLERS:
        for steps in (10, 20, 50):
            t1, t3 = run(sampler, steps, 1.0), run(sampler, steps, 3.0)
            print(f"{sampler:16s} {steps:5d} {t1:16.3f} {1000 * t1 / steps:8.1f} {t3:16.3f}")
    t = run("ddpm", 1000, 1.0)
    print(f"{'ddpm':16s} {1000:5d} {t:16.3f} {t:8.1f}")


if __name__ == "__main__":
    main()
