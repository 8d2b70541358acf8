"""MIDI -> tensor conversion speed, side by side with pretty_midi and symusic on the same real files, in one run.

    python bench/bench_convert.py [MIDI_DIR ...]     (default: ../shared/midi/{lakh,maestro,other})

Three timings over the same bytes (files already in memory, best of --repeat runs each):

1. ``symusic``: the bare C++ parse (``Score.from_midi``), the floor for any reader built on it.
2. ``symdiff notes``: ``Roll.from_midi`` on the gm layout at 24 steps per beat (parse, layout, quantise,
   canonical form: everything but the dense tensor, which is built lazily).
3. ``parse + piano roll``: pretty_midi ``PrettyMIDI(...).get_piano_roll(fs=100)`` against ``Roll.from_midi``
   on a one-track all-instrument layout at 100 frames per second plus ``to_tensor()`` of the whole piece
   (3 channels × 128 pitches, three times the data pretty_midi's roll holds).
"""

from __future__ import annotations

import argparse
import io
import platform
import time
import warnings
from pathlib import Path

import pretty_midi
import symusic
import torch

from symdiff import Roll, TrackLayout, TrackSpec

ALL_IN_ONE = TrackLayout((TrackSpec("All", 0, programs=tuple(range(128)), name_pattern="."),), fallback=0)


def files(dirs: list[Path]) -> list[bytes]:
    out = []
    for d in dirs:
        out += [p.read_bytes() for p in sorted(d.glob("*")) if p.suffix.lower().startswith((".mid", ".kar"))]
    return out


def best_of(repeat: int, fn) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1].parent / "shared" / "midi"
    dirs = args.dirs or [root / "lakh", root / "maestro", root / "other"]
    data = files(dirs)
    if not data:
        raise SystemExit(f"no MIDI files in {[str(d) for d in dirs]}")
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    n = len(data)

    for d in data:  # warm up: caches, allocator, lazy imports
        Roll.from_midi(d, layout="gm", steps_per_beat=24)
    t_sym = best_of(args.repeat, lambda: [symusic.Score.from_midi(d) for d in data])
    t_sym_notes = best_of(
        args.repeat, lambda: [[t.notes.numpy() for t in symusic.Score.from_midi(d).tracks] for d in data]
    )
    t_notes = best_of(args.repeat, lambda: [Roll.from_midi(d, layout="gm", steps_per_beat=24) for d in data])
    t_ours_roll = best_of(
        args.repeat,
        lambda: [Roll.from_midi(d, layout=ALL_IN_ONE, frames_per_second=100).to_tensor() for d in data],
    )
    t_pm = best_of(
        max(1, args.repeat // 5), lambda: [pretty_midi.PrettyMIDI(io.BytesIO(d)).get_piano_roll(fs=100) for d in data]
    )

    print(f"{n} files, {sum(map(len, data)) / 1e6:.1f} MB; {platform.processor() or platform.machine()}, 1 thread")
    print(f"{'what':42s} {'files/s':>10s} {'ms/file':>9s}")
    for name, t in [
        ("symusic parse (floor)", t_sym),
        ("symusic parse + notes.numpy() per track", t_sym_notes),
        ("symdiff Roll.from_midi (gm, 24/beat)", t_notes),
        ("symdiff from_midi + to_tensor (100 fps)", t_ours_roll),
        ("pretty_midi parse + get_piano_roll(100)", t_pm),
    ]:
        print(f"{name:42s} {n / t:10.0f} {1000 * t / n:9.3f}")
    print(f"ratio symdiff notes / symusic parse:          {t_notes / t_sym:.2f}x the time (target <= 2)")
    print(f"ratio symdiff notes / parse + numpy():        {t_notes / t_sym_notes:.2f}x the time")
    print(f"ratio pretty_midi / symdiff (Roll.from_midi): {t_pm / t_notes:.0f}x faster (target >= 100)")
    print(f"ratio pretty_midi / symdiff (+ whole dense tensor): {t_pm / t_ours_roll:.0f}x faster")


if __name__ == "__main__":
    main()
