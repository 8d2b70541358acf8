"""The ``symdiff`` command: thin sub-commands over the Python API.

Each sub-command is a function ``(args) -> int`` registered in :func:`build_parser`; :func:`main` takes an argv
list, so every command can be run (and tested) in-process: ``main(["convert", "in.mid", "out.mid"])``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import SymdiffError
from .layout import PRESETS

EPILOG = """examples:
  symdiff convert song.mid quantised.mid --layout lpd5 --steps-per-beat 12
  symdiff convert performance.midi out.mid --layout piano --frames-per-second 100
  symdiff demo --out demo
"""


def _add_grid_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layout", default="gm", help=f"track layout preset: {', '.join(PRESETS)} (default: gm)")
    grid = parser.add_mutually_exclusive_group()
    grid.add_argument("--steps-per-beat", type=int, help="beat grid: steps per quarter note (default: 12)")
    grid.add_argument("--frames-per-second", type=float, help="seconds grid, for performances (e.g. 100)")


def cmd_convert(args: argparse.Namespace) -> int:
    """MIDI -> Roll -> MIDI: quantise a file to a grid and a track layout, and say what came out."""
    from .roll import Roll

    roll = Roll.from_midi(
        args.input, layout=args.layout, steps_per_beat=args.steps_per_beat, frames_per_second=args.frames_per_second
    )
    roll.to_midi(args.output)
    print(json.dumps({"input": str(args.input), "output": str(args.output), **roll.summary()}, indent=2))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Convert a data source into a tensor cache (resumable; see :mod:`symdiff.data.prepare`)."""
    from .data.prepare import prepare
    from .data.sources import get_source

    options = {}
    if args.kind == "lakh":
        options = {k: v for k, v in {"variant": args.variant, "tags": args.tags}.items() if v}
    elif args.kind == "folder" and args.labels:
        options = {"labels": args.labels}
    elif args.kind == "maestro" and args.metadata:
        options = {"metadata": args.metadata}
    spec = [c for c in args.source.split(",") if c] if args.kind == "corpus" else args.source
    manifest = prepare(
        get_source(args.kind, spec, **options),
        args.out,
        layout=args.layout,
        steps_per_beat=args.steps_per_beat,
        frames_per_second=args.frames_per_second,
        workers=args.workers,
        num_shards=args.num_shards,
        shard_index=args.shard_index,
        timeout=args.timeout or None,
        progress=not args.quiet,
    )
    if manifest is None:
        print(f"{args.out}: this shard is done; the manifest is written when the last shard finishes")
    else:
        print(json.dumps({"out": str(args.out), **manifest["counts"]}, indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a denoiser on a prepared cache (see :mod:`symdiff.train`)."""
    from .train import TrainConfig, train

    values = {k: v for k, v in {"data": args.data, "out": args.out}.items() if v}
    config = TrainConfig.load(args.config, args.overrides, **values)
    final = train(config, resume=args.resume, progress=not args.quiet)
    print(f"model written to {final}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The README's demo: see :mod:`symdiff.demo`."""
    from .demo import run_demo

    run_demo(Path(args.out), piece=args.piece)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symdiff",
        description="Symbolic music generation with diffusion models.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = sub.add_parser(
        "convert",
        help="quantise a MIDI file through a Roll and write it back",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    convert.add_argument("input", type=Path, help="a MIDI file (any extension)")
    convert.add_argument("output", type=Path, help="the MIDI file to write")
    _add_grid_options(convert)
    convert.set_defaults(func=cmd_convert)

    prep = sub.add_parser(
        "prepare",
        help="convert MAESTRO, Lakh MIDI, a folder or the music21 corpus into a tensor cache",
        epilog="""examples:
  symdiff prepare corpus bach,palestrina,monteverdi data/corpus --steps-per-beat 4
  symdiff prepare maestro ~/maestro-v3.0.0 data/maestro --workers 8
  symdiff prepare lakh ~/lmd_full data/lmd --workers 8 --num-shards 4 --shard-index 0
  symdiff prepare folder ~/my_midi data/mine --labels labels.csv --layout lpd5
""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prep.add_argument("kind", choices=["maestro", "lakh", "folder", "corpus"], help="what SOURCE is")
    prep.add_argument("source", help="the data set's folder; for corpus, collection names separated by commas")
    prep.add_argument("out", type=Path, help="the cache folder to write (an unfinished one is resumed)")
    prep.add_argument(
        "--layout", default=None, help=f"track layout preset: {', '.join(PRESETS)} (default: the source's)"
    )
    grid = prep.add_mutually_exclusive_group()
    grid.add_argument("--steps-per-beat", type=int, help="beat grid (default: the source's)")
    grid.add_argument("--frames-per-second", type=float, help="seconds grid (MAESTRO's default: 100)")
    prep.add_argument("--workers", type=int, default=1, help="parallel processes (default: 1)")
    prep.add_argument("--num-shards", type=int, default=1, help="split the work over this many machines")
    prep.add_argument("--shard-index", type=int, default=0, help="which of those this run is (0-based)")
    prep.add_argument("--variant", help="lakh: lmd_full, lmd_matched, lmd_aligned or clean_midi (default: detect)")
    prep.add_argument("--tags", help="lakh: a tag file (MSD id or md5, then tags) giving a 'genre' label")
    prep.add_argument("--labels", help="folder: a CSV with a path column, optional split column and labels")
    prep.add_argument("--metadata", help="maestro: the metadata file when it is not in the root")
    prep.add_argument(
        "--timeout", type=float, default=120.0, help="seconds a piece may take (0: no limit; default 120)"
    )
    prep.add_argument("--quiet", action="store_true", help="no progress bar")
    prep.set_defaults(func=cmd_prepare)

    tr = sub.add_parser(
        "train",
        help="train a denoiser on a cache made by `symdiff prepare`",
        epilog="""examples:
  symdiff train --data data/corpus --config configs/tiny.toml --out runs/tiny
  symdiff train --data data/corpus --config configs/bundled.toml --out runs/b max_steps=20000 model.d_model=384
  symdiff train --data data/corpus --config configs/bundled.toml --out runs/b --resume
  torchrun --nproc_per_node 4 -m symdiff.cli train --data data/lmd --config configs/lakh-gpu.toml --out runs/lmd
""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tr.add_argument("--data", help="the cache folder (symdiff prepare's OUT)")
    tr.add_argument("--config", type=Path, help="a TOML training config (see configs/)")
    tr.add_argument("--out", help="the run folder: checkpoints, log.csv, and model/ at the end")
    tr.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. max_steps=500 model.d_model=128"
    )
    tr.set_defaults(func=cmd_train)

    demo = sub.add_parser("demo", help="run the demo on the bundled data (what `make demo` runs)")
    demo.add_argument("--out", default="demo", help="folder for what the demo writes (default: demo)")
    demo.add_argument("--piece", default="bach/bwv66.6", help="a music21 corpus work (default: bach/bwv66.6)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (errors users can fix give status 2 and one clear line)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (SymdiffError, ValueError, FileNotFoundError) as err:
        print(f"symdiff {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
