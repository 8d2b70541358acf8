"""What ``make demo`` runs: a 16-bar piece in each style of the bundled model, written as MIDI, WAV and a
piano-roll PNG, plus a MIDI round trip of a music21 corpus chorale as a check that the MIDI side works here.
Everything is offline: the model ships inside the package, the chorale inside music21."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def round_trip(out: Path, piece: str = "bach/bwv66.6") -> dict[str, Any]:
    """Convert ``piece`` to a Roll (gm layout, 12 steps per beat), write it back, read that again: exact?"""
    data = corpus_midi(piece)
    roll = Roll.from_midi(data, layout="gm", steps_per_beat=12)
    written = out / f"{piece.replace('/', '_')}.roundtrip.mid"
    roll.to_midi(written)
    again = Roll.from_midi(written, layout="gm", steps_per_beat=12)
    same = bool(np.array_equal(again.notes, roll.notes) and again.length == roll.length)
    if not same:
        raise RuntimeError(f"the round trip of {piece} changed the notes: a bug, please report it")
    return {"piece": piece, "written": str(written), "notes": len(roll.notes), "round trip exact": same}


def run_demo(
    out: Path,
    piece: str = "bach/bwv66.6",
    bars: int = 16,
    seed: int = 0,
    steps: int = 20,
    audio: bool = True,
    print_fn: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Generate ``bars`` bars in every style of the bundled model into ``out`` (MIDI, WAV, PNG) and check a round
    trip of ``piece``; prints and returns what was written."""
    from .pipeline import Pipeline
    from .plot import save_png

    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"round trip": round_trip(out, piece), "pieces": []}
    pipe = Pipeline.from_pretrained()
    print_fn(f"model: {pipe}")
    for style in pipe.styles or [None]:
        began = time.perf_counter()
        roll = pipe.generate(bars, style=style, seed=seed, steps=steps)
        took = time.perf_counter() - began
        assert isinstance(roll, Roll)
        stem = out / f"{style or 'piece'}-{seed}"
        entry: dict[str, Any] = {"style": style, "seconds to generate": round(took, 2), "notes": len(roll.notes)}
        roll.to_midi(stem.with_suffix(".mid"))
        entry["midi"] = str(stem.with_suffix(".mid"))
        save_png(roll, stem.with_suffix(".png"))
        entry["png"] = str(stem.with_suffix(".png"))
        if audio:
            try:
                roll.save_audio(stem.with_suffix(".wav"))
                entry["wav"] = str(stem.with_suffix(".wav"))
            except RuntimeError as err:  # FluidSynth missing: say so, keep going
                entry["wav"] = f"skipped: {err}"
        report["pieces"].append(entry)
        print_fn("  ".join(f"{k}: {v}" for k, v in entry.items()))
    print_fn(f"round trip of {piece}: exact ({report['round trip']['written']})")
    return report
