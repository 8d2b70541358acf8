"""The ``symdiff`` command in one script: each sub-command run once, printed before it runs.

    python examples/cli_tour.py                           # the bundled model, into cli-tour/
    python examples/cli_tour.py --model runs/tiny/model --steps 10 --train

What it runs, in order (``--model``, ``--steps`` and ``--quiet`` are added to the model commands):

    symdiff convert song.mid quantised.mid --layout voices --steps-per-beat 4
    symdiff info
    symdiff generate --bars 8 --style bach --seed 1 -o generated.mid --png generated.png --musicxml gen.musicxml
    symdiff continue song.mid --bars 4 --seed 2 -o continued.mid
    symdiff inpaint song.mid --bars 3 4 --tracks Alto Tenor --seed 3 -o inpainted.mid
    symdiff accompany song.mid --keep Soprano --seed 4 -o accompanied.mid --musicxml accompanied.musicxml
    symdiff render generated.mid generated.wav            (when FluidSynth is installed)

and with ``--train`` a small training run from a folder of MIDI files, then an evaluation of what it makes:

    symdiff prepare folder midi cache --layout voices --steps-per-beat 4
    symdiff train --data cache --out run window=64 max_steps=60 ... (the settings of configs/tiny.toml)
    symdiff generate --model run/model --bars 4 --num-samples 4 -o samples/piece.mid
    symdiff evaluate samples midi --train cache -o evaluation --layout voices --steps-per-beat 4

``song.mid`` stands for your own MIDI file; here it is a Bach chorale from the music21 corpus (no download).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from symdiff.demo import corpus_midi

MODEL_COMMANDS = ("generate", "continue", "inpaint", "accompany", "info")
#: configs/tiny.toml, spelled out so the tour runs from any folder
TINY = [
    "window=64",
    "batch_size=8",
    "max_steps=60",
    "warmup_steps=10",
    "lr=1e-3",
    "eval_every=60",
    "checkpoint_every=60",
    "precision='fp32'",
    "model.patch=4",
    "model.d_model=64",
    "model.n_layers=2",
    "model.n_heads=2",
    "schedule.data_low=0.0",
]


def audio_available() -> bool:
    try:
        from symdiff.render import _fluidsynth

        _fluidsynth()
    except Exception:
        return False
    return True


def run(command: str, cwd: Path, model: str | None = None, steps: int | None = None) -> None:
    """Print ``command`` and run it (with the model options added to model commands); stop on failure."""
    args = shlex.split(command)
    if args[1] in MODEL_COMMANDS:
        if model is not None and "--model" not in args:
            args += ["--model", model]
        if args[1] != "info":
            args += ["--quiet"] + ([] if steps is None else ["--steps", str(steps)])
    print(f"\n$ {shlex.join(args)}", flush=True)
    # the same program as `symdiff`, through this Python: works without the virtual environment on PATH
    result = subprocess.run([sys.executable, "-m", "symdiff.cli", *args[1:]], cwd=cwd, check=False)
    if result.returncode:
        raise SystemExit(f"failed ({result.returncode}): {command}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="a model folder (default: the bundled model)")
    parser.add_argument("--out", type=Path, default=Path("cli-tour"), help="working folder (default: cli-tour)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the command's, 20)")
    parser.add_argument("--train", action="store_true", help="also prepare, train and evaluate a tiny model")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    model = None if args.model is None else str(Path(args.model).resolve())
    (out / "song.mid").write_bytes(corpus_midi("bach/bwv66.6"))

    def go(command: str) -> None:
        run(command, out, model, args.steps)

    go("symdiff convert song.mid quantised.mid --layout voices --steps-per-beat 4")
    go("symdiff info")
    go("symdiff generate --bars 8 --style bach --seed 1 -o generated.mid --png generated.png --musicxml gen.musicxml")
    go("symdiff continue song.mid --bars 4 --seed 2 -o continued.mid")
    go("symdiff inpaint song.mid --bars 3 4 --tracks Alto Tenor --seed 3 -o inpainted.mid")
    go("symdiff accompany song.mid --keep Soprano --seed 4 -o accompanied.mid --musicxml accompanied.musicxml")
    if audio_available():
        go("symdiff render generated.mid generated.wav --quiet")
    else:
        print("\n(FluidSynth is not installed: symdiff render is skipped)")

    if args.train:
        midi = out / "midi"
        midi.mkdir(exist_ok=True)
        for number in ("bwv66.6", "bwv269", "bwv347", "bwv153.1", "bwv86.6", "bwv267"):
            (midi / f"{number}.mid").write_bytes(corpus_midi(f"bach/{number}"))
        go("symdiff prepare folder midi cache --layout voices --steps-per-beat 4 --quiet")
        go(f"symdiff train --data cache --out run --quiet {' '.join(TINY)}")
        go("symdiff generate --model run/model --bars 4 --num-samples 4 --seed 0 -o samples/piece.mid")
        go("symdiff evaluate samples midi --train cache -o evaluation --layout voices --steps-per-beat 4 --bars 2")
    print("\nwritten:", *sorted(p.relative_to(out).as_posix() for p in out.iterdir()))


if __name__ == "__main__":
    main()
