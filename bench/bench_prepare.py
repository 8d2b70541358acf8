"""``symdiff prepare`` throughput, memory and cache size on the real files, with 1 and 2 workers, and the
projection for all of LMD-full (176,581 files) on this machine.

    python bench/bench_prepare.py [--copies 10] [MIDI_DIR ...]   (default: ../shared/midi/{lakh,maestro,other})

The files are linked ``--copies`` times into a temporary folder (under other names, so the run also exercises
duplicate removal) and prepared on the gm layout at 12 steps per beat. Side by side in the same run: reading the
same files' bytes and parsing them with symusic alone (the floor).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import symusic

from symdiff import prepare
from symdiff.data.sources import FolderSource

LMD_FULL_FILES = 176_581


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="*", type=Path)
    parser.add_argument("--copies", type=int, default=10)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1].parent / "shared" / "midi"
    dirs = args.dirs or [root / "lakh", root / "maestro", root / "other"]
    files = [p for d in dirs for p in sorted(d.glob("*")) if p.suffix.lower().startswith((".mid", ".kar"))]
    if not files:
        raise SystemExit("no MIDI files found")

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        for c in range(args.copies):
            (src / f"copy{c}").mkdir(parents=True)
            for p in files:
                os.symlink(p, src / f"copy{c}" / p.name)
        n = len(files) * args.copies
        t0 = time.perf_counter()
        for p in src.rglob("*"):
            if p.is_symlink():
                symusic.Score.from_midi(p.read_bytes())
        floor = time.perf_counter() - t0

        rows = []
        for workers in (1, 2):
            out = Path(tmp) / f"cache{workers}"
            t0 = time.perf_counter()
            manifest = prepare(FolderSource(src), out, layout="gm", steps_per_beat=12, workers=workers, progress=False)
            elapsed = time.perf_counter() - t0
            rows.append((workers, elapsed, folder_size(out), manifest))

    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    midi_bytes = sum(p.stat().st_size for p in files) * args.copies
    print(
        f"{n} files ({len(files)} real files x {args.copies}), {midi_bytes / 1e6:.1f} MB of MIDI; "
        f"{platform.machine()}, {os.cpu_count()} cores"
    )
    print(f"symusic read + parse only (floor): {n / floor:8.0f} files/s")
    for workers, elapsed, size, manifest in rows:
        counts = manifest["counts"]
        per_file = size / n
        print(
            f"prepare, {workers} worker(s):            {n / elapsed:8.0f} files/s  "
            f"cache {size / 1e6:.1f} MB ({per_file / 1e3:.1f} kB/file, {size / midi_bytes:.2f}x the MIDI)  "
            f"kept {counts['kept']}, duplicates {counts['duplicates']}, failed {counts['failed']}"
        )
        print(
            f"  projected for LMD-full ({LMD_FULL_FILES:,} files): {LMD_FULL_FILES * elapsed / n / 60:.1f} min, "
            f"{LMD_FULL_FILES * per_file / 1e9:.1f} GB"
        )
    print(f"ratio prepare(1 worker) / parse floor: {rows[0][1] / floor:.2f}x the time")
    print(f"peak memory: main process {peak_self:.0f} MB, largest worker {peak_children:.0f} MB")


if __name__ == "__main__":
    main()
