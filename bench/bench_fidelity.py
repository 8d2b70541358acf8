"""How faithful MIDI -> Roll is, on the real files: note F1 against an independent reader (mido), per folder.

    python bench/bench_fidelity.py [--steps-per-beat 24] [--layout gm]

Two yardsticks, both quantised to the same grid (a note matches with the same track, pitch, onset, offset and
velocity):

- ``canonical``: the reference in the piano roll's canonical form (what a roll can hold): measures the reader.
- ``raw``: the reference as the file has it: also counts what the representation itself changes, i.e. doubled
  notes of one layout track merged and overlapping notes of one pitch cut where the next starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from symdiff import Roll, TrackLayout  # noqa: E402
from tests.reference import as_counter, f1, raw_notes, reference_notes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps-per-beat", type=int, default=24)
    parser.add_argument("--layout", default="gm")
    args = parser.parse_args()
    layout = TrackLayout.preset(args.layout)
    root = REPO.parent / "shared" / "midi"
    print(f"layout {args.layout}, {args.steps_per_beat} steps per beat; note F1 against mido")
    print(f"{'folder':10s} {'files':>5s} {'notes':>8s} {'canonical mean/min':>20s} {'raw mean/min':>16s}")
    for folder in ("lakh", "maestro", "other"):
        files = [p for p in sorted((root / folder).glob("*")) if p.suffix.lower().startswith(".mid")]
        canon, raw, notes = [], [], 0
        for path in files:
            ours = as_counter(Roll.from_midi(path, layout=layout, steps_per_beat=args.steps_per_beat).notes)
            notes += sum(ours.values())
            canon.append(f1(ours, reference_notes(path, args.steps_per_beat, layout)))
            raw.append(f1(ours, as_counter(raw_notes(path, args.steps_per_beat, layout))))
        print(
            f"{folder:10s} {len(files):5d} {notes:8d} {np.mean(canon):12.4f}/{np.min(canon):.4f}"
            f" {np.mean(raw):9.4f}/{np.min(raw):.4f}"
        )


if __name__ == "__main__":
    main()
