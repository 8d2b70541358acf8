"""The Python API in one script: generate in every style, then continue, fill in and accompany a piece.

    python examples/generate.py                       # the bundled model, into generated/
    python examples/generate.py --model runs/tiny/model --out out --steps 10

Writes MIDI (for a DAW), MusicXML (for MuseScore), a PNG piano roll and, when FluidSynth is installed, WAV files,
and prints one line per piece. Everything is offline: the model ships inside the package and the chorale used as
"your MIDI" inside music21.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from symdiff import Roll
from symdiff.demo import corpus_midi
from symdiff.files import atomic_write_bytes
from symdiff.pipeline import Pipeline
from symdiff.plot import roll_png
from symdiff.render import AudioUnavailableError


def export(roll: Roll, stem: Path, audio: bool = True) -> None:
    """Write ``stem``.mid, .musicxml, .png (and .wav) and print what was written."""
    roll.to_midi(stem.with_suffix(".mid"))
    roll.to_musicxml(stem.with_suffix(".musicxml"))
    atomic_write_bytes(stem.with_suffix(".png"), roll_png(roll))
    written = [".mid", ".musicxml", ".png"]
    if audio:
        try:
            roll.save_audio(stem.with_suffix(".wav"))
            written.append(".wav")
        except AudioUnavailableError:  # FluidSynth is not installed: skip the audio
            pass
    print(f"{stem.name:<16} {roll.num_bars:>3} bars {len(roll.notes):>4} notes  {' '.join(written)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="a model folder (default: the bundled model)")
    parser.add_argument("--out", type=Path, default=Path("generated"), help="output folder (default: generated)")
    parser.add_argument("--bars", type=int, default=8, help="bars per generated piece (default: 8)")
    parser.add_argument("--steps", type=int, default=20, help="sampler steps (default: 20)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--no-audio", action="store_true", help="skip the WAV files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    audio = not args.no_audio

    pipe = Pipeline.from_pretrained(args.model)
    print(pipe)
    sampling = {"steps": args.steps, "seed": args.seed}

    # 1. new music, once per style the model knows (or once without a style)
    for style in pipe.styles or [None]:
        piece = pipe.generate(args.bars, style=style, tempo=96, time_signature=(4, 4), **sampling)
        export(piece, args.out / f"generated-{style or 'any'}", audio)

    # 2. "your MIDI": the first four bars of a Bach chorale, on the model's tracks and grid
    song = Roll.from_midi(corpus_midi("bach/bwv66.6"), layout=pipe.layout, **pipe.grid.to_dict()).bars(0, 4)
    export(song, args.out / "sketch", audio)

    # 3. continue it by four bars: the sketch comes back unchanged, followed by new music
    longer = pipe.continue_(song, bars=4, **sampling)
    assert np.array_equal(longer.to_tensor(0, song.length), song.to_tensor())
    export(longer, args.out / "continued", audio)

    # 4. write bars 2-3 of the inner voices anew; the Soprano and Bass stay as they were
    filled = pipe.inpaint(longer, bars=(2, 3), tracks=["Alto", "Tenor"], **sampling)
    export(filled, args.out / "inpainted", audio)

    # 5. keep the Soprano and write the other voices around it
    harmonised = pipe.accompany(song, keep_tracks=["Soprano"], **sampling)
    export(harmonised, args.out / "accompanied", audio)


if __name__ == "__main__":
    main()
