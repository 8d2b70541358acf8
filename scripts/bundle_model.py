"""Copy a trained model into the package as the bundled default (half-precision weights, under 25 MB).

    python scripts/bundle_model.py runs/bundled symdiff/assets/default

A run stopped before its last step is bundled from its newest checkpoint's EMA weights, with the decoder
calibrated here on the run's data exactly as ``symdiff train`` does at the end.

Prints what the model card (docs/model-card.md) needs: steps, wall time, final losses, size, decoder.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import torch

from symdiff.data.dataset import RollDataset
from symdiff.diffusion.decode import Decoder
from symdiff.pipeline import Pipeline
from symdiff.train import TrainConfig, _calibrate_decoder, _Dist


def load_run(run: Path) -> Pipeline:
    """The finished model of a run, or its newest checkpoint's EMA weights with a freshly calibrated decoder."""
    if (run / "model" / "config.json").is_file():
        return Pipeline.from_pretrained(run / "model")
    step = (run / "checkpoints" / "latest").read_text().strip()
    folder = run / "checkpoints" / step
    pipe = Pipeline.from_pretrained(folder / "ema")
    config = TrainConfig(**json.loads((folder / "train_config.json").read_text(encoding="utf-8")))
    data = RollDataset(config.data, "train", config.window, label=config.label)
    val = RollDataset(config.data, "validation", config.window, label=config.label)
    net = pipe.denoiser.net
    decoder, scores = _calibrate_decoder(
        net, pipe.denoiser.schedule, data, val, config, pipe.config.num_labels, _Dist()
    )
    pipe.decoder = Decoder.from_dict(decoder.to_dict())
    pipe.extra.update(decoder_scores=scores, checkpoint=step)
    return pipe


def training_summary(run: Path) -> dict[str, object]:
    """Steps, wall time and the last losses from a run's log.csv."""
    if not (run / "log.csv").is_file():
        return {}
    rows = list(csv.DictReader((run / "log.csv").open(encoding="utf-8")))
    if not rows:
        return {}
    last = rows[-1]
    val = [r for r in rows if r.get("val_loss")]
    rate = float(last.get("steps_per_s") or 0.0)
    steps = int(last["step"])
    return {
        "steps": steps,
        "final_loss": float(last["loss"]),
        "final_val_loss": float(val[-1]["val_loss"]) if val else None,
        "steps_per_s": round(rate, 3),
        "hours": round(steps / rate / 3600, 2) if rate else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a training run folder (symdiff train --out)")
    parser.add_argument("out", type=Path, help="where to write the bundled model")
    args = parser.parse_args()
    pipe = load_run(args.run)
    pipe.extra["training_summary"] = training_summary(args.run)
    pipe.save_pretrained(args.out, dtype=torch.float16)
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 1e6
    print(
        json.dumps(
            {
                "out": str(args.out),
                "megabytes": round(size, 1),
                **pipe.info(),
                "training_summary": pipe.extra["training_summary"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
