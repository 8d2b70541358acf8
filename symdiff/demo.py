"""What ``make demo`` runs: a piece from the music21 corpus (it ships inside the pip package, no download)
converted to a Roll and back to MIDI, with a report of what came out.

Later this becomes generation with the bundled model; the round trip stays as the first check that the
MIDI side works on this machine.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .data.sources.corpus import CorpusSource
from .roll import Roll


def corpus_midi(piece_id: str) -> bytes:
    """The MIDI bytes of a music21 corpus work, e.g. ``"bach/bwv66.6"`` (collection / file stem)."""
    collection = piece_id.split("/", 1)[0]
    source = CorpusSource([collection])
    for ref in source.pieces():
        if ref.piece_id == piece_id:
            return source.read_midi(ref)
    raise ValueError(f"no work {piece_id!r} in the music21 corpus collection {collection!r}")


def run_demo(out: Path, piece: str = "bach/bwv66.6", print_fn=print) -> dict[str, object]:
    """Convert ``piece`` to a Roll at 12 steps per beat (gm layout), write it back, read that again, and report."""
    out.mkdir(parents=True, exist_ok=True)
    stem = piece.replace("/", "_")
    t0 = time.perf_counter()
    data = corpus_midi(piece)
    original = out / f"{stem}.original.mid"
    original.write_bytes(data)
    t1 = time.perf_counter()
    roll = Roll.from_midi(data, layout="gm", steps_per_beat=12)
    t2 = time.perf_counter()
    written = out / f"{stem}.symdiff.mid"
    roll.to_midi(written)
    again = Roll.from_midi(written, layout="gm", steps_per_beat=12)
    same = bool(np.array_equal(again.notes, roll.notes) and again.length == roll.length)
    tensor = roll.to_tensor()
    report = {
        "piece": piece,
        "music21 -> MIDI (s)": round(t1 - t0, 3),
        "MIDI -> Roll (ms)": round(1000 * (t2 - t1), 2),
        "roll": repr(roll),
        "tensor shape (tracks, channels, pitches, steps)": tuple(tensor.shape),
        "tracks": roll.summary()["tracks"],
        "written": str(written),
        "round trip exact": same,
    }
    for key, value in report.items():
        print_fn(f"{key:48s} {value}")
    if not same:
        raise RuntimeError(f"the round trip of {piece} changed the notes: a bug, please report it")
    return report
