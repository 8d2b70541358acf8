"""Which diffusion parameterisation works on sparse piano rolls? Short runs of each variant, side by side.

Each variant trains the same model (configs/bundled.toml unless --config) for the same number of steps on the same
cache, then is judged on things comparable across variants:

- ``mse@σ``: denoising error of the EMA weights on validation windows at fixed noise levels (the same noise for
  every variant), in model space;
- sampled music (``--samples`` per style, DPM-Solver++ 20 steps, naive decoding at 0.5): the fraction of one-step
  notes (flicker), notes per bar, mean note length, polyphony and pitch-class entropy, each next to the same figure
  for real validation windows.

    python bench/study_parameterisation.py --data data/corpus4 --steps 1500 --out runs/study
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from symdiff.data.dataset import RollDataset
from symdiff.diffusion import Cond, sample
from symdiff.diffusion.decode import Decoder, flicker_rate
from symdiff.model import from_pretrained
from symdiff.train import TrainConfig, train

VARIANTS: dict[str, list[str]] = {
    "zero-lognormal": [
        'schedule.train_sigmas="lognormal"',
        "schedule.p_mean=-0.6",
        "schedule.p_std=1.4",
        "schedule.data_low=0.0",
    ],
    "zero-lognormal-bce": [
        'schedule.train_sigmas="lognormal"',
        "schedule.p_mean=-0.6",
        "schedule.p_std=1.4",
        "schedule.data_low=0.0",
        'schedule.objective="bce"',
    ],
    "zero-timesteps": ['schedule.train_sigmas="timesteps"', "schedule.data_low=0.0"],
    "zero-sd0.1": [
        'schedule.train_sigmas="lognormal"',
        "schedule.p_mean=-0.6",
        "schedule.p_std=1.4",
        "schedule.data_low=0.0",
        "schedule.sigma_data=0.1",
    ],
    "zero-sd0.2": [
        'schedule.train_sigmas="lognormal"',
        "schedule.p_mean=-0.6",
        "schedule.p_std=1.4",
        "schedule.data_low=0.0",
        "schedule.sigma_data=0.2",
    ],
    "timesteps": ['schedule.train_sigmas="timesteps"'],
    "lognormal": ['schedule.train_sigmas="lognormal"', "schedule.p_mean=-0.6", "schedule.p_std=1.4"],
    "lognormal-sd1": [
        'schedule.train_sigmas="lognormal"',
        "schedule.p_mean=-0.6",
        "schedule.p_std=1.4",
        "schedule.sigma_data=1.0",
    ],
}
SIGMAS = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0)


def music_stats(notes_list: list[np.ndarray], steps: int, steps_per_bar: int) -> dict[str, float]:
    """Mean per-window statistics of decoded notes."""
    flicker, per_bar, length, poly, entropy = [], [], [], [], []
    for notes in notes_list:
        flicker.append(flicker_rate(notes))
        per_bar.append(len(notes) / (steps / steps_per_bar))
        length.append(float(notes["duration"].mean()) if len(notes) else 0.0)
        sounding = np.zeros(steps)
        for n in notes:
            sounding[n["onset"] : n["onset"] + n["duration"]] += 1
        poly.append(float(sounding[sounding > 0].mean()) if (sounding > 0).any() else 0.0)
        hist = np.bincount(notes["pitch"] % 12, minlength=12).astype(float)
        p = hist / max(hist.sum(), 1)
        entropy.append(float(-(p[p > 0] * np.log2(p[p > 0])).sum()))
    return {
        "flicker": float(np.mean(flicker)),
        "notes_per_bar": float(np.mean(per_bar)),
        "mean_length": float(np.mean(length)),
        "polyphony": float(np.mean(poly)),
        "pc_entropy": float(np.mean(entropy)),
    }


@torch.no_grad()
def judge(model_dir: Path, data: str, samples: int, window: int) -> dict[str, object]:
    denoiser, config, extra = from_pretrained(model_dir)
    val = RollDataset(data, "validation", window, label=extra["data"]["label"])
    pitch_low = val.layout.pitch_range[0]
    idx = np.linspace(0, len(val) - 1, min(64, len(val))).astype(int)
    batch = [val[int(i)] for i in idx]
    x0 = denoiser.schedule.to_model(torch.stack([b["roll"] for b in batch]))
    cond = Cond(
        label=torch.stack([b["label"] for b in batch]),
        tempo=torch.stack([b["tempo"] for b in batch]),
        meter=torch.stack([b["meter"] for b in batch]),
    )
    g = torch.Generator().manual_seed(0)
    mse = {}
    for s in SIGMAS:
        noise = torch.randn(x0.shape, generator=g)
        est = denoiser(x0 + s * noise, torch.full((len(x0),), s), cond)
        mse[f"mse@{s}"] = float(((est - x0) ** 2).mean())
    real = music_stats([Decoder()(b["roll"], pitch_low) for b in batch], window, 16)

    labels = list(range(config.num_labels)) or [-1]
    notes = []
    for label in labels:
        n = samples
        c = Cond(
            label=torch.full((n,), label, dtype=torch.long),
            tempo=torch.full((n,), 100.0),
            meter=torch.tensor([[4, 4]] * n),
        )
        out = sample(denoiser, (n, config.tracks, 3, config.pitches, window), cond=c, steps=20, seed=label + 1)
        notes += [Decoder(max_gap=0)(denoiser.schedule.to_unit(x), pitch_low) for x in out]
    generated = music_stats(notes, window, 16)
    return {"mse": mse, "real": real, "generated": generated}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", default="configs/bundled.toml")
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--samples", type=int, default=8, help="samples per style")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("overrides", nargs="*", help="extra config overrides for every variant")
    args = parser.parse_args()
    results = {}
    for name in args.variants.split(","):
        out = Path(args.out) / name
        config = TrainConfig.load(
            args.config,
            [*VARIANTS[name], *args.overrides, f"max_steps={args.steps}", f"eval_every={args.steps}"],
            data=args.data,
            out=str(out),
        )
        started = time.perf_counter()
        model_dir = out / "model"
        if not (model_dir / "config.json").is_file():
            model_dir = train(config, resume=True)
        minutes = (time.perf_counter() - started) / 60
        results[name] = {"train_minutes": round(minutes, 1), **judge(model_dir, args.data, args.samples, config.window)}
        print(name, json.dumps(results[name], indent=1), flush=True)
    Path(args.out, "study.json").write_text(json.dumps(results, indent=1))
    columns = " | ".join(f"mse@{s}" for s in SIGMAS)
    print(f"\n| variant | {columns} | flicker | notes/bar | length | poly | H(pc) |")
    print("|---" * (len(SIGMAS) + 6) + "|")
    first = next(iter(results.values()))
    r = first["real"]
    blanks = " | ".join("" for _ in SIGMAS)
    print(
        f"| real validation | {blanks} | {r['flicker']:.3f} | {r['notes_per_bar']:.2f} |"
        f" {r['mean_length']:.2f} | {r['polyphony']:.2f} | {r['pc_entropy']:.2f} |"
    )
    for name, res in results.items():
        g = res["generated"]
        print(
            f"| {name} | "
            + " | ".join(f"{res['mse'][f'mse@{s}']:.4f}" for s in SIGMAS)
            + f" | {g['flicker']:.3f} | {g['notes_per_bar']:.2f} | {g['mean_length']:.2f} | {g['polyphony']:.2f} |"
            f" {g['pc_entropy']:.2f} |"
        )


if __name__ == "__main__":
    main()
