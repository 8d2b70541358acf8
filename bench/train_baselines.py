"""Fit the Markov baseline and train the autoregressive baseline on a prepared cache, for the evaluation.

    python bench/train_baselines.py CACHE OUT [--params 8e6] [--steps 5000] [--batch 16] [--seq-len 512]
        [--order 2] [--label style] [--threads 2] [--seed 0] [--samples 4 --bars 16] [--no-markov] [--no-ar]

Both train on the ``train`` split of CACHE (a folder made by ``symdiff prepare``); the autoregressive model is
sized to about ``--params`` parameters (``ARConfig.for_parameters``: match the diffusion model's count) and
reports its loss on the ``validation`` split. Written to OUT:

- ``markov.json``: the Markov baseline (``MarkovBaseline.load``);
- ``autoregressive/``: the Transformer (``AutoregressiveBaseline.from_pretrained``), with ``log.csv`` and
  ``checkpoint/``; an interrupted run started again with the same arguments resumes from its last checkpoint;
- ``samples/``: ``--samples`` pieces of ``--bars`` bars from each, as MIDI;
- ``summary.json``: settings, parameter count, wall times, losses.

Wall times are printed as each part ends.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from symdiff import RollDataset
from symdiff.baselines import ARConfig, MarkovBaseline, RollTokenizer, TokenizerSettings, train_autoregressive
from symdiff.files import atomic_write_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cache", type=Path, help="a cache folder made by symdiff prepare")
    parser.add_argument("out", type=Path, help="the output folder")
    parser.add_argument("--params", type=float, default=8e6, help="parameters of the Transformer (about)")
    parser.add_argument("--steps", type=int, default=5000, help="Transformer training steps")
    parser.add_argument("--batch", type=int, default=16, help="sequences per step")
    parser.add_argument("--seq-len", type=int, default=512, help="tokens per sequence")
    parser.add_argument("--lr", type=float, default=3e-4, help="peak learning rate")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up steps")
    parser.add_argument("--transpose", type=int, default=0, help="random transposition range (semitones)")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints")
    parser.add_argument("--eval-every", type=int, default=500, help="steps between validation losses")
    parser.add_argument("--order", type=int, default=2, help="Markov order (steps of context)")
    parser.add_argument("--label", default="style", help="label key for per-label models ('' for none)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=4, help="pieces to generate from each model")
    parser.add_argument("--bars", type=int, default=16, help="bars per generated piece")
    parser.add_argument("--no-markov", action="store_true", help="skip the Markov baseline")
    parser.add_argument("--no-ar", action="store_true", help="skip the Transformer")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    label = args.label or None
    train = RollDataset(args.cache, split="train", label=label)
    validation = RollDataset(args.cache, split="validation", label=label)
    print(
        f"{args.cache}: {len(train.pieces)} training pieces, {len(validation.pieces)} validation pieces, "
        f"layout {train.layout.name!r}, {train.grid}, labels {train.label_names}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    samples = args.out / "samples"
    summary: dict[str, object] = {"cache": str(args.cache), "arguments": {k: str(v) for k, v in vars(args).items()}}

    if not args.no_markov:
        started = time.perf_counter()
        markov = MarkovBaseline.fit(train, order=args.order, progress=True)
        markov.save(args.out / "markov.json")
        fit_seconds = time.perf_counter() - started
        print(f"Markov: {markov}; fitted and saved in {fit_seconds:.1f} s")
        started = time.perf_counter()
        for i in range(args.samples):
            markov.generate(bars=args.bars, seed=args.seed + i).to_midi(samples / f"markov-{i}.mid")
        sample_seconds = (time.perf_counter() - started) / max(args.samples, 1)
        print(f"Markov: {sample_seconds:.2f} s per {args.bars}-bar piece")
        summary["markov"] = {
            "order": args.order,
            "states": len(markov.states),
            "contexts": markov.num_contexts(),
            "fit_seconds": round(fit_seconds, 2),
            "seconds_per_piece": round(sample_seconds, 3),
        }

    if not args.no_ar:
        settings = TokenizerSettings()
        vocab = len(RollTokenizer(train.layout, train.grid, settings)) + 1 + len(train.label_names)
        config = ARConfig.for_parameters(
            int(args.params),
            vocab,
            seq_len=args.seq_len,
            lr=args.lr,
            warmup_steps=args.warmup,
            transpose=args.transpose,
            tokenizer=settings,
        )
        print(
            f"Transformer: d_model={config.d_model}, n_layers={config.n_layers}, n_heads={config.n_heads}, "
            f"vocabulary {vocab}"
        )
        started = time.perf_counter()
        result = train_autoregressive(
            train,
            config,
            args.out / "autoregressive",
            steps=args.steps,
            batch_size=args.batch,
            seed=args.seed,
            validation=validation if validation.pieces else None,
            eval_every=args.eval_every,
            checkpoint_every=args.checkpoint_every,
            progress=True,
        )
        total = time.perf_counter() - started
        ran = len(result.losses)
        print(
            f"Transformer: {result.parameters / 1e6:.2f} M parameters, {ran} steps in {result.seconds:.1f} s "
            f"({ran / max(result.seconds, 1e-9):.2f} steps/s), {total:.1f} s with tokenizing and saving; "
            f"final loss {result.losses[-1][1] if ran else float('nan'):.3f}, "
            f"validation {result.val_losses[-1][1] if result.val_losses else float('nan'):.3f}"
        )
        started = time.perf_counter()
        for i in range(args.samples):
            piece = result.model.generate(bars=args.bars, seed=args.seed + i)
            piece.to_midi(samples / f"autoregressive-{i}.mid")
        sample_seconds = (time.perf_counter() - started) / max(args.samples, 1)
        print(f"Transformer: {sample_seconds:.2f} s per {args.bars}-bar piece")
        summary["autoregressive"] = {
            "config": config.to_dict(),
            "parameters": result.parameters,
            "steps_run": ran,
            "train_seconds": round(result.seconds, 1),
            "total_seconds": round(total, 1),
            "steps_per_second": round(ran / max(result.seconds, 1e-9), 3),
            "final_loss": result.losses[-1][1] if ran else None,
            "val_losses": result.val_losses,
            "seconds_per_piece": round(sample_seconds, 3),
        }
    atomic_write_text(args.out / "summary.json", json.dumps(summary, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
