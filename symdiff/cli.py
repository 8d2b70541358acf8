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
from typing import NoReturn

from .checks import check_device
from .errors import SymdiffError
from .layout import PRESETS

EPILOG = """examples:
  symdiff generate --bars 16 --style bach --seed 1 -o chorale.mid --wav chorale.wav --png chorale.png
  symdiff continue melody.mid --bars 8 --seed 2 -o longer.mid
  symdiff inpaint song.mid --bars 9 12 -o filled.mid
  symdiff accompany tune.mid --keep Soprano -o harmonised.mid --musicxml harmonised.musicxml
  symdiff render chorale.mid chorale.wav
  symdiff info
  symdiff convert song.mid quantised.mid --layout lpd5 --steps-per-beat 12
  symdiff convert performance.midi out.mid --layout piano --frames-per-second 100
  symdiff demo --out demo
"""


class _UsageError(Exception):
    """A command line argparse refuses (:meth:`_Parser.error`); :func:`main` prints it."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``symdiff convert: error: ...``, and status 2 from :func:`main`, as
    every other error is, instead of the usage text and ``SystemExit`` (``--help`` still exits)."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: error: {message}")


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


# ---------------------------------------------------------------------------------------------- generation
def _pipeline(args: argparse.Namespace):  # -> Pipeline (imported lazily: torch)
    from .pipeline import Pipeline

    device = check_device("--device", args.device) if args.device else None
    pipe = Pipeline.from_pretrained(args.model)
    return pipe.to(device) if device is not None else pipe


def _sampling(args: argparse.Namespace) -> dict:
    return {
        "style": args.style,
        "num_samples": args.num_samples,
        "steps": args.steps,
        "sampler": args.sampler,
        "guidance_scale": args.guidance,
        "seed": args.seed,
        "progress": not args.quiet,
    }


def _write_outputs(args: argparse.Namespace, result) -> int:
    """Write each Roll as MIDI (and WAV / PNG / MusicXML when asked); print what was written."""
    rolls = result if isinstance(result, list) else [result]
    written = []
    for i, roll in enumerate(rolls):

        def name(path: Path | None, i: int = i) -> Path | None:
            if path is None or len(rolls) == 1:
                return path
            return path.with_name(f"{path.stem}-{i + 1}{path.suffix}")

        entry = {"midi": str(name(args.output)), "bars": roll.num_bars, "seconds": round(roll.seconds, 2)}
        entry["notes"] = len(roll.notes)
        roll.to_midi(name(args.output))
        if args.wav:
            roll.save_audio(name(args.wav))
            entry["wav"] = str(name(args.wav))
        if args.png:
            from .plot import save_png

            save_png(roll, name(args.png))
            entry["png"] = str(name(args.png))
        if args.musicxml:
            roll.to_musicxml(name(args.musicxml))
            entry["musicxml"] = str(name(args.musicxml))
        written.append(entry)
    print(json.dumps(written if len(written) > 1 else written[0], indent=2))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """New music in a style, length, meter and tempo."""
    pipe = _pipeline(args)
    numerator, _, denominator = args.time_signature.partition("/")
    if not (numerator.isdigit() and denominator.isdigit()):
        raise ValueError(f"--time-signature must look like 3/4, got {args.time_signature!r}")
    result = pipe.generate(
        args.bars, tempo=args.tempo, time_signature=(int(numerator), int(denominator)), **_sampling(args)
    )
    return _write_outputs(args, result)


def cmd_continue(args: argparse.Namespace) -> int:
    """The given MIDI file and ``--bars`` more."""
    return _write_outputs(args, _pipeline(args).continue_(args.input, args.bars, **_sampling(args)))


def cmd_inpaint(args: argparse.Namespace) -> int:
    """The given MIDI file with bars FIRST..LAST written anew."""
    pipe = _pipeline(args)
    result = pipe.inpaint(args.input, tuple(args.bars), tracks=args.tracks or None, **_sampling(args))
    return _write_outputs(args, result)


def cmd_accompany(args: argparse.Namespace) -> int:
    """Keep some tracks of the given MIDI file and write the others."""
    return _write_outputs(args, _pipeline(args).accompany(args.input, args.keep, **_sampling(args)))


def cmd_info(args: argparse.Namespace) -> int:
    """What a model knows: tracks, styles, grid, window, size, training."""
    print(json.dumps(_pipeline(args).info(), indent=2))
    return 0


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None, help="a model folder (default: the bundled model)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cpu)")


def _add_sampling_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    from .diffusion.sample import SAMPLERS

    _add_model_options(parser)
    parser.add_argument(
        "-o", "--output", type=Path, default=Path(default_out), help=f"MIDI file (default: {default_out})"
    )
    parser.add_argument("--wav", type=Path, help="also render audio to this WAV file (FluidSynth)")
    parser.add_argument("--png", type=Path, help="also draw the piano roll to this PNG file")
    parser.add_argument("--musicxml", type=Path, help="also write MusicXML for notation programs")
    parser.add_argument("--style", help="a style the model knows (see symdiff info); default: none")
    parser.add_argument("--num-samples", type=int, default=1, help="how many pieces (files get -1, -2, ...)")
    parser.add_argument("--steps", type=int, default=20, help="sampler steps (default: 20)")
    parser.add_argument("--sampler", default="dpmsolver++", choices=SAMPLERS, help="default: dpmsolver++")
    parser.add_argument("--guidance", type=float, default=1.5, help="classifier-free guidance scale (default 1.5)")
    parser.add_argument("--seed", type=int, default=None, help="the same seed gives the same music")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_generation_commands(sub: argparse._SubParsersAction) -> None:
    def add(name: str, func, help: str, examples: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(
            name,
            help=help,
            description=help,
            epilog="examples:\n" + examples,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.set_defaults(func=func)
        return parser

    gen = add(
        "generate",
        cmd_generate,
        "generate new music with a trained model",
        "  symdiff generate --bars 16 --style bach --seed 1 -o out.mid --wav out.wav --png out.png\n"
        "  symdiff generate --bars 32 --time-signature 3/4 --tempo 90 --num-samples 4 -o waltz.mid\n",
    )
    gen.add_argument("--bars", type=int, default=16, help="length in bars (default: 16)")
    gen.add_argument("--tempo", type=float, default=100.0, help="quarter notes per minute (default: 100)")
    gen.add_argument("--time-signature", default="4/4", help="e.g. 3/4, 6/8 (default: 4/4)")
    _add_sampling_options(gen, "generated.mid")

    cont = add(
        "continue",
        cmd_continue,
        "continue a MIDI file by some bars",
        "  symdiff continue melody.mid --bars 8 --seed 2 -o longer.mid --wav longer.wav\n",
    )
    cont.add_argument("input", help="the MIDI file to continue")
    cont.add_argument("--bars", type=int, default=8, help="bars to add (default: 8)")
    _add_sampling_options(cont, "continued.mid")

    inp = add(
        "inpaint",
        cmd_inpaint,
        "write some bars of a MIDI file anew (bars counted from 1, both ends included)",
        "  symdiff inpaint song.mid --bars 9 12 -o filled.mid\n"
        "  symdiff inpaint song.mid --bars 5 6 --tracks Alto Tenor\n",
    )
    inp.add_argument("input", help="the MIDI file")
    inp.add_argument("--bars", type=int, nargs=2, required=True, metavar=("FIRST", "LAST"), help="bars to fill")
    inp.add_argument("--tracks", nargs="*", help="only these tracks of the model's layout (default: all)")
    _add_sampling_options(inp, "inpainted.mid")

    acc = add(
        "accompany",
        cmd_accompany,
        "keep some tracks of a MIDI file and write the others around them",
        "  symdiff accompany tune.mid --keep Soprano -o harmonised.mid --musicxml harmonised.musicxml\n",
    )
    acc.add_argument("input", help="the MIDI file")
    acc.add_argument("--keep", nargs="+", required=True, help="tracks to keep (names of the model's layout)")
    _add_sampling_options(acc, "accompanied.mid")

    info = add("info", cmd_info, "show what a model knows (tracks, styles, grid, size)", "  symdiff info\n")
    _add_model_options(info)


def cmd_demo(args: argparse.Namespace) -> int:
    """The README's demo: see :mod:`symdiff.demo`."""
    from .demo import run_demo

    audio = not args.no_audio
    run_demo(Path(args.out), piece=args.piece, bars=args.bars, seed=args.seed, steps=args.steps, audio=audio)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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

    _add_generation_commands(sub)
    from .render import add_render_command

    add_render_command(sub)
    from .metrics.report import add_evaluate_command

    add_evaluate_command(sub)

    demo = sub.add_parser(
        "demo", help="generate a piece in every style of the bundled model, with audio and a picture (make demo)"
    )
    demo.add_argument("--out", default="demo", help="folder for what the demo writes (default: demo)")
    demo.add_argument("--bars", type=int, default=16, help="bars per piece (default: 16)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--steps", type=int, default=20, help="sampler steps (default: 20)")
    demo.add_argument("--no-audio", action="store_true", help="skip the WAV files")
    demo.add_argument("--piece", default="bach/bwv66.6", help="a music21 corpus work (default: bach/bwv66.6)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (errors users can fix give status 2 and one clear line)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as err:
        print(err, file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except (SymdiffError, ValueError, FileNotFoundError) as err:
        print(f"symdiff {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
