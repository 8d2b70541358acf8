"""The bundled model against the Markov baseline and the real-vs-real ceiling, per style, on held-out pieces.

For each style: ``--samples`` 16-bar pieces from the model (default settings: DPM-Solver++ 20 steps, guidance 1.5)
and from a Markov chain fitted on the same training split; the reference is 16-bar excerpts of held-out
(validation + test) pieces of that style, split in two halves for the ceiling. Reported: mean overlapping area
(Yang & Lerch 2020) over every feature of ``symdiff.metrics``, the share of one-step notes, style adherence (a
classifier fitted on real training pieces), and the fraction of generated 4-bar windows copied from training.
Also: 16-bar latency of the model at its defaults against 1000-step DDPM, and quality (mean OA) against the number
of sampler steps.

    python bench/bench_quality.py --data data/corpus4 --samples 24
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from symdiff import Roll, RollDataset
from symdiff.baselines import MarkovBaseline
from symdiff.metrics import StyleClassifier, TrainingIndex, compare_sets, style_adherence
from symdiff.pipeline import Pipeline


def excerpts(data: RollDataset, style: str, bars: int, limit: int) -> list[Roll]:
    out = []
    for i, p in enumerate(data.pieces):
        if p["labels"].get("style") != style:
            continue
        roll = data.piece_roll(i)
        if roll.num_bars >= bars:
            out.append(roll.bars(0, bars))
        if len(out) >= limit:
            break
    return out


def flicker(rolls: list[Roll]) -> float:
    notes = np.concatenate([r.notes for r in rolls]) if rolls else np.zeros(0)
    return float(np.mean(notes["duration"] <= 1)) if len(notes) else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the cache the bundled model was trained on")
    parser.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    parser.add_argument("--samples", type=int, default=24, help="pieces per style and system")
    parser.add_argument("--bars", type=int, default=16)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    torch.manual_seed(0)
    pipe = Pipeline.from_pretrained(args.model)
    train = RollDataset(args.data, "train", pipe.window, label="style")
    held = [RollDataset(args.data, split, pipe.window, label="style") for split in ("validation", "test")]
    results: dict[str, object] = {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads"}

    # latency: 16 bars at the defaults, against 1000-step DDPM, in the same process
    pipe.generate(args.bars, style=pipe.styles[0], seed=0)  # warm-up
    began = time.perf_counter()
    for seed in range(5):
        pipe.generate(args.bars, style=pipe.styles[0], seed=seed)
    default_s = (time.perf_counter() - began) / 5
    began = time.perf_counter()
    pipe.generate(args.bars, style=pipe.styles[0], seed=0, sampler="ddpm", steps=1000)
    ddpm_s = time.perf_counter() - began
    results["latency"] = {
        "default_s": round(default_s, 3),
        "ddpm1000_s": round(ddpm_s, 2),
        "speedup": round(ddpm_s / default_s, 1),
    }
    print("latency", results["latency"], flush=True)

    markov = MarkovBaseline.fit(train, order=2, label_key="style")
    classifier_rolls, classifier_labels = [], []
    for style in pipe.styles:
        for roll in excerpts(train, style, args.bars, 60):
            classifier_rolls.append(roll)
            classifier_labels.append(style)
    classifier = StyleClassifier.fit(classifier_rolls, classifier_labels, seed=0)
    index = TrainingIndex.build(train, bars=4)
    per_style: dict[str, dict[str, object]] = {}
    all_generated: list[Roll] = []
    for style in pipe.styles:
        reference = [r for d in held for r in excerpts(d, style, args.bars, args.samples)]
        generated = [pipe.generate(args.bars, style=style, seed=1000 + s) for s in range(args.samples)]
        baseline = [markov.generate(args.bars, label=style, seed=2000 + s) for s in range(args.samples)]
        half = len(reference) // 2
        row = {
            "reference_pieces": len(reference),
            "model_mean_oa": compare_sets(generated, reference)["mean_oa"],
            "markov_mean_oa": compare_sets(baseline, reference)["mean_oa"],
            "ceiling_mean_oa": compare_sets(reference[:half], reference[half:])["mean_oa"] if half >= 2 else None,
            "model_one_step_notes": flicker(generated),
            "real_one_step_notes": flicker(reference),
            "model_style_adherence": style_adherence(classifier, generated, [style] * len(generated)),
            "markov_style_adherence": style_adherence(classifier, baseline, [style] * len(baseline)),
        }
        per_style[style] = row
        all_generated += generated
        print(style, json.dumps(row), flush=True)
    results["per_style"] = per_style
    results["classifier_holdout_accuracy"] = classifier.holdout_accuracy
    memo = index.check(all_generated)
    results["memorisation"] = {"fraction_copied": memo.fraction_copied, "fraction_exact": memo.fraction_exact}

    # quality against sampler steps (first style), next to 1000-step DDPM
    style = pipe.styles[0]
    reference = [r for d in held for r in excerpts(d, style, args.bars, args.samples)]
    curve = {}
    for sampler, steps in [
        ("dpmsolver++", 10),
        ("dpmsolver++", 20),
        ("dpmsolver++", 50),
        ("unipc", 20),
        ("ddim", 20),
        ("ddpm", 1000),
    ]:
        count = 6  # the same number for every sampler (OA depends on the set size); 1000-step DDPM: ~10 s a piece
        rolls = [
            pipe.generate(args.bars, style=style, seed=3000 + s, sampler=sampler, steps=steps) for s in range(count)
        ]
        curve[f"{sampler}-{steps}"] = compare_sets(rolls, reference)["mean_oa"]
        print(sampler, steps, curve[f"{sampler}-{steps}"], flush=True)
    results["oa_by_sampler"] = curve
    print(json.dumps(results, indent=2, default=float))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2, default=float)


if __name__ == "__main__":
    main()
