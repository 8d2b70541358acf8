"""The representation, no model needed: MIDI to a Roll, its tensor, slicing by bars, transposition, and back.

    python examples/roll_basics.py                    # a Bach chorale from the music21 corpus
    python examples/roll_basics.py song.mid --layout gm --steps-per-beat 12 --out roll-basics

Prints what it does and writes the MIDI files and a PNG into --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from symdiff import Roll
from symdiff.demo import corpus_midi
from symdiff.files import atomic_write_bytes
from symdiff.plot import roll_png


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("midi", nargs="?", default=None, help="a MIDI file (default: J. S. Bach, BWV 66.6)")
    parser.add_argument("--layout", default="voices", help="piano, lpd5, gm or voices (default: voices)")
    parser.add_argument("--steps-per-beat", type=int, default=4, help="grid steps per quarter note (default: 4)")
    parser.add_argument("--out", type=Path, default=Path("roll-basics"), help="output folder (default: roll-basics)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    source = args.midi if args.midi is not None else corpus_midi("bach/bwv66.6")

    # read: any MIDI file, bytes, a symusic.Score or a pretty_midi.PrettyMIDI
    roll = Roll.from_midi(source, layout=args.layout, steps_per_beat=args.steps_per_beat)
    print(roll)
    print("tracks with notes:", [roll.layout.names[i] for i in roll.nonempty_tracks()])
    print("first notes (onset, duration, track, pitch, velocity):", roll.notes[:3].tolist())

    # the tensor the model sees: (tracks, channels onset/frame/velocity, pitches, steps), built on demand
    window = roll.to_tensor(0, 64)
    print("tensor of the first 64 steps:", tuple(window.shape), window.dtype)
    print(f"cells sounding: {float(window[:, 1].mean()):.2%}")

    # slicing by bars (or by steps: roll[16:48]), transposing, joining
    first, rest = roll.bars(0, 2), roll.bars(2)
    assert np.array_equal(Roll.concatenate([first, rest]).notes, roll.notes)
    up = roll.transpose(2)
    print(f"bars 1-2: {first.num_bars} bars, {len(first.notes)} notes; transposed up a tone: {up}")

    # the tensor decodes back to the same notes
    again = Roll.from_tensor(roll.to_tensor(), roll.layout, roll.grid, tempo=roll.tempos, time_signature=roll.meters)
    fields = ["onset", "duration", "track", "pitch"]
    print("tensor -> notes exact:", np.array_equal(again.notes[fields], roll.notes[fields]))

    # write MIDI (atomically) and read it back: exact
    roll.to_midi(args.out / "piece.mid")
    up.to_midi(args.out / "piece-up-a-tone.mid")
    back = Roll.from_midi(args.out / "piece.mid", layout=args.layout, steps_per_beat=args.steps_per_beat)
    print("MIDI round trip exact:", np.array_equal(back.notes, roll.notes) and back.length == roll.length)
    atomic_write_bytes(args.out / "piece.png", roll_png(roll))
    print("wrote", *sorted(str(p) for p in args.out.iterdir()))


if __name__ == "__main__":
    main()
