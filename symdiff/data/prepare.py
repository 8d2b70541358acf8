"""``symdiff prepare``: convert a data source once into a compact, memory-mappable cache.

Layout of the output folder::

    OUT/
      settings.json          the source card, layout, grid, pedal setting and unit size (fixed at the first run)
      listing.jsonl          the pieces as listed at the first run (a resumed run converts exactly these)
      units/unit-00000/      one finished work unit (written to a temporary folder, then renamed):
          notes.npy            the notes of its pieces, one after another (symdiff.notes.NOTE_DTYPE)
          tempos.npy meters.npy keys.npy   their tempo maps, time signatures and key signatures
          index.npy            per piece: offsets and counts into those arrays, length, content hash
          pieces.jsonl         per piece: id, split, labels, programs, status or error
      manifest.json          written when every unit is done: settings, counts, duplicates, units
      errors.tsv             every piece that could not be converted, and why

Work is split into units of ``unit_size`` consecutive pieces. A unit is written whole or not at all, so a run that
is killed resumes at the first missing unit and ends with the same files as a run that never stopped.
``num_shards`` / ``shard_index`` give each machine of a job array every ``num_shards``-th unit; whichever run
finds all units done writes the manifest. A bad file is logged in ``errors.tsv`` and skipped; a worker process
that crashes takes only its own piece down.

Duplicates are found by content (a hash of the quantised notes and length): of identical pieces the one in the
most held-out split is kept (test, then validation, then train; then the smallest ``piece_id``), so test pieces
do not leak into training.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import check_bool, check_int, is_number
from ..errors import MidiError
from ..files import atomic_write_text
from ..grid import TEMPO_DTYPE, Grid
from ..layout import TrackLayout
from ..midi import DEFAULT_LIMITS, KEY_DTYPE, METER_DTYPE, SUSTAIN_PEDAL, Limits, read
from ..notes import NOTE_DTYPE
from ..progress import progress_bar
from .sources import SPLITS, PieceRef, Source

log = logging.getLogger(__name__)

#: per-piece record of a unit's index.npy
INDEX_DTYPE = np.dtype(
    [
        ("notes_start", "<i8"),
        ("notes_count", "<i8"),
        ("tempos_start", "<i8"),
        ("tempos_count", "<i8"),
        ("meters_start", "<i8"),
        ("meters_count", "<i8"),
        ("keys_start", "<i8"),
        ("keys_count", "<i8"),
        ("length", "<i8"),
        ("hash", "S16"),
    ]
)
CACHE_VERSION = 1
#: held-out splits win when identical pieces are in several splits
_SPLIT_PRECEDENCE = {"test": 0, "validation": 1, "train": 2}


@dataclass(frozen=True)
class Converted:
    """One piece, converted (``error`` is None) or not."""

    ref: PieceRef
    error: str | None = None
    notes: np.ndarray | None = None
    tempos: np.ndarray | None = None
    meters: np.ndarray | None = None
    keys: np.ndarray | None = None
    length: int = 0
    programs: tuple[int, ...] = ()
    digest: bytes = b""


def convert_piece(
    source: Source, ref: PieceRef, layout: TrackLayout, grid: Grid, sustain_pedal: bool, limits: Limits = DEFAULT_LIMITS
) -> Converted:
    """Read and quantise one piece; any error is caught and returned, so one bad file never stops a batch."""
    try:
        content = read(source.read_midi(ref), layout, grid, sustain_pedal=sustain_pedal, limits=limits)
    except MidiError as err:  # the path is logged beside the message, so the message keeps only the problem
        return Converted(ref, error=err.problem)
    except Exception as err:  # a batch job logs every failure and goes on
        return Converted(ref, error=f"{type(err).__name__}: {err}")
    if len(content.notes) == 0:
        return Converted(ref, error="no notes (after the layout dropped what it does not take)")
    digest = hashlib.blake2b(content.notes.tobytes(), digest_size=16)
    digest.update(np.int64(content.length).tobytes())
    return Converted(
        ref,
        notes=content.notes,
        tempos=content.tempos,
        meters=content.meters,
        keys=content.keys,
        length=content.length,
        programs=content.programs,
        digest=digest.digest(),
    )


@dataclass(frozen=True)
class _Task:
    source: Source
    ref: PieceRef
    layout: TrackLayout
    grid: Grid
    sustain_pedal: bool
    limits: Limits
    timeout: float | None = None


class _PieceTimeout(BaseException):
    """Raised by the alarm inside a conversion that runs too long (a BaseException: no handler swallows it)."""


def _run_tasks(tasks: list[_Task]) -> list[Converted]:
    return [_run_one(t) for t in tasks]


def _run_one(t: _Task) -> Converted:
    """Convert one piece, stopped after ``t.timeout`` seconds by a SIGALRM timer where there is one (Unix, in the
    main thread of the process: always so in the worker processes)."""
    if (
        t.timeout is None
        or not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        return convert_piece(t.source, t.ref, t.layout, t.grid, t.sustain_pedal, t.limits)

    def on_alarm(signum: int, frame: Any) -> None:
        raise _PieceTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, t.timeout)
    try:
        return convert_piece(t.source, t.ref, t.layout, t.grid, t.sustain_pedal, t.limits)
    except _PieceTimeout:
        return Converted(t.ref, error=f"took longer than {t.timeout:g} s to convert (the timeout)")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def prepare(
    source: Source,
    out: str | os.PathLike[str],
    *,
    layout: TrackLayout | str | None = None,
    steps_per_beat: int | None = None,
    frames_per_second: float | None = None,
    sustain_pedal: bool | None = None,
    workers: int = 1,
    num_shards: int = 1,
    shard_index: int = 0,
    unit_size: int = 256,
    limits: Limits = DEFAULT_LIMITS,
    timeout: float | None = 120.0,
    progress: bool = True,
) -> dict[str, Any] | None:
    """Convert ``source`` into a cache in ``out`` (see the module docstring); returns the manifest, or None while
    units of other shards are still missing.

    Args:
        source: a data source (``symdiff.data.sources.get_source(...)``).
        out: the cache folder; an existing one is resumed (its settings must match).
        layout, steps_per_beat, frames_per_second, sustain_pedal: as :meth:`symdiff.Roll.from_midi`; by default
            the source's own (``source.info.layout`` / ``source.info.grid``).
        workers: processes converting in parallel (1: in this process).
        num_shards, shard_index: do only units ``u`` with ``u % num_shards == shard_index``.
        unit_size: pieces per work unit (the grain of resuming).
        timeout: seconds one piece may take to convert before it is logged as failed (None: no limit). Pieces
            are milliseconds each; some music21 corpus works take minutes.
        progress: show a progress bar.
    """
    check_int("workers", workers, 1)
    check_int("num_shards", num_shards, 1)
    check_int("shard_index", shard_index, 0)
    if shard_index >= num_shards:
        raise ValueError(
            f"shard_index must be from 0 to num_shards - 1 = {num_shards - 1} (shards count from 0), got {shard_index}"
        )
    check_int("unit_size", unit_size, 1)
    if timeout is not None and not (is_number(timeout) and 0 < timeout < float("inf")):
        raise ValueError(f"timeout must be a positive number of seconds, or None for no limit; got {timeout!r}")
    check_bool("sustain_pedal", sustain_pedal, optional=True, allowed=SUSTAIN_PEDAL, error=TypeError)
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a symdiff.Limits, got {type(limits).__name__}")
    layout = TrackLayout.resolve(layout or source.info.layout)
    if steps_per_beat is None and frames_per_second is None:
        grid = Grid.from_dict(source.info.grid)
    else:
        grid = Grid(steps_per_beat=steps_per_beat, frames_per_second=frames_per_second)
    pedal = (not grid.is_beat) if sustain_pedal is None else bool(sustain_pedal)
    out = Path(out)
    (out / "units").mkdir(parents=True, exist_ok=True)

    settings = {
        "cache_version": CACHE_VERSION,
        "source": source.info.name,
        "source_options": repr(source),
        "layout": layout.to_dict(),
        "grid": grid.to_dict(),
        "sustain_pedal": pedal,
        "unit_size": unit_size,
    }
    refs = _fixed_listing(out, source, settings)
    units = [refs[i : i + unit_size] for i in range(0, len(refs), unit_size)]
    mine = [u for u in range(len(units)) if u % num_shards == shard_index and not _unit_dir(out, u).is_dir()]

    bar = progress_bar(sum(len(units[u]) for u in mine), progress, f"prepare {source.info.name}", "piece")
    try:
        with _Converter(workers) as converter:
            for u in mine:
                tasks = [_Task(source, ref, layout, grid, pedal, limits, timeout) for ref in units[u]]
                _write_unit(out, u, converter.run(tasks, bar.update))
    finally:
        bar.close()

    if not all(_unit_dir(out, u).is_dir() for u in range(len(units))):
        missing = [u for u in range(len(units)) if not _unit_dir(out, u).is_dir()]
        log.info("prepare: %d of %d units still to do (other shards)", len(missing), len(units))
        return None
    return _finalise(out, settings, len(units))


# ---------------------------------------------------------------------------------------------- steps
def _fixed_listing(out: Path, source: Source, settings: dict[str, Any]) -> list[PieceRef]:
    """The listing of the first run (written with the settings), so a resumed run does the same work."""
    settings_path, listing_path = out / "settings.json", out / "listing.jsonl"
    if settings_path.exists():
        saved = json.loads(settings_path.read_text())
        if saved != settings:
            changed = sorted(k for k in settings if saved.get(k) != settings[k])
            raise ValueError(
                f"{out} holds a cache made with other settings ({', '.join(changed)} differ); "
                "use another output folder, or delete this one to start again"
            )
        if listing_path.exists():
            return [_ref_from_json(json.loads(line)) for line in listing_path.read_text().splitlines() if line]
    refs = source.pieces()
    atomic_write_text(listing_path, "".join(json.dumps(_ref_to_json(r), ensure_ascii=False) + "\n" for r in refs))
    atomic_write_text(settings_path, json.dumps(settings, indent=2))
    return refs


class _Converter:
    """Converts lists of pieces, in this process (``workers == 1``) or in a pool of worker processes kept for the
    whole run. Pieces go to workers in small chunks; if a process dies (a crash in native code), the unfinished
    pieces are redone one at a time in a single worker, so the piece that crashes it is found and logged, and
    every other piece is converted."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: cf.ProcessPoolExecutor | None = None

    def __enter__(self) -> _Converter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def run(self, tasks: Sequence[_Task], advance: Any) -> list[Converted]:
        if self.workers == 1:
            out = []
            for task in tasks:
                out.extend(_run_tasks([task]))
                advance(1)
            return out
        results: dict[int, Converted] = {}
        pending, workers = list(range(len(tasks))), self.workers
        chunk = max(1, min(16, len(tasks) // (4 * workers)))
        while pending:
            if self.pool is None:
                self.pool = cf.ProcessPoolExecutor(
                    max_workers=workers, initializer=_exit_with_parent, initargs=(os.getpid(),)
                )
            try:
                groups = [pending[i : i + chunk] for i in range(0, len(pending), chunk)]
                futures = {self.pool.submit(_run_tasks, [tasks[i] for i in group]): group for group in groups}
                for future in cf.as_completed(futures):
                    for i, result in zip(futures[future], future.result()):
                        results[i] = result
                    advance(len(futures[future]))
                pending = []
            except cf.process.BrokenProcessPool:
                self.pool.shutdown(cancel_futures=True)
                self.pool = None
                pending = [i for i in pending if i not in results]
                if workers == 1 and chunk == 1:  # one worker, in order: the first unfinished piece is the culprit
                    culprit = pending.pop(0)
                    results[culprit] = Converted(
                        tasks[culprit].ref, error="the converting process crashed on this file"
                    )
                    advance(1)
                workers, chunk = 1, 1
        if workers != self.workers and self.pool is not None:  # back to full strength for the next unit
            self.pool.shutdown()
            self.pool = None
        return [results[i] for i in range(len(tasks))]


def _exit_with_parent(parent: int) -> None:
    """Pool initializer: the worker ends itself (within half a second) once the process that started it is gone.
    A pool's workers wait for work on a pipe they hold both ends of, so without this a ``prepare`` killed by
    SIGKILL (or the OOM killer) would leave them waiting, as orphans, for ever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="symdiff-exit-with-parent", daemon=True).start()


def _write_unit(out: Path, unit: int, results: list[Converted]) -> None:
    """Write one unit into a temporary folder, then rename it into place (all or nothing)."""
    ok = [r for r in results if r.error is None]
    index = np.zeros(len(ok), dtype=INDEX_DTYPE)
    offsets = {"notes": 0, "tempos": 0, "meters": 0, "keys": 0}
    for i, r in enumerate(ok):
        for name in offsets:
            count = len(getattr(r, name))
            index[i][f"{name}_start"], index[i][f"{name}_count"] = offsets[name], count
            offsets[name] += count
        index[i]["length"], index[i]["hash"] = r.length, r.digest

    def cat(name: str, dtype: np.dtype) -> np.ndarray:
        parts = [getattr(r, name) for r in ok]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    final = _unit_dir(out, unit)
    tmp = out / "units" / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "notes.npy", cat("notes", NOTE_DTYPE))
    np.save(tmp / "tempos.npy", cat("tempos", TEMPO_DTYPE))
    np.save(tmp / "meters.npy", cat("meters", METER_DTYPE))
    np.save(tmp / "keys.npy", cat("keys", KEY_DTYPE))
    np.save(tmp / "index.npy", index)
    lines = []
    for r in results:
        record = _ref_to_json(r.ref)
        record.update({"error": r.error} if r.error else {"programs": list(r.programs)})
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    (tmp / "pieces.jsonl").write_text("".join(lines), encoding="utf-8")
    for path in tmp.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    os.rename(tmp, final)


def _finalise(out: Path, settings: dict[str, Any], num_units: int) -> dict[str, Any]:
    """Find duplicates, count, and write manifest.json and errors.tsv (atomically). The temporary folders of units
    that killed runs left are removed (every unit is done, so none is still being written)."""
    for stale in (out / "units").glob(".tmp-unit-*"):
        shutil.rmtree(stale, ignore_errors=True)
    pieces: list[dict[str, Any]] = []  # converted pieces, with unit and row
    errors: list[tuple[str, str, str]] = []
    for u in range(num_units):
        unit = _unit_dir(out, u)
        index = np.load(unit / "index.npy")
        row = 0
        for line in (unit / "pieces.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if "error" in record:
                errors.append((record["piece_id"], record.get("path") or "", record["error"]))
                continue
            record.update(
                unit=u,
                row=row,
                hash=index[row]["hash"].hex(),
                length=int(index[row]["length"]),
                notes=int(index[row]["notes_count"]),
            )
            pieces.append(record)
            row += 1

    duplicates: dict[str, str] = {}
    by_hash: dict[str, list[dict[str, Any]]] = {}
    for p in pieces:
        by_hash.setdefault(p["hash"], []).append(p)
    for group in by_hash.values():
        if len(group) > 1:
            group.sort(key=lambda p: (_SPLIT_PRECEDENCE[p["split"]], p["piece_id"]))
            for dup in group[1:]:
                duplicates[dup["piece_id"]] = group[0]["piece_id"]

    kept = [p for p in pieces if p["piece_id"] not in duplicates]
    counts = {
        "listed": len(pieces) + len(errors),
        "converted": len(pieces),
        "failed": len(errors),
        "duplicates": len(duplicates),
        "kept": len(kept),
        "splits": {s: sum(p["split"] == s for p in kept) for s in SPLITS},
        "notes": sum(p["notes"] for p in kept),
        "steps": sum(p["length"] for p in kept),
    }
    manifest = {**settings, "units": num_units, "counts": counts, "duplicates": duplicates}
    atomic_write_text(
        out / "errors.tsv",
        "piece_id\tpath\terror\n"
        + "".join("\t".join(field.replace("\t", " ").replace("\n", " ") for field in e) + "\n" for e in errors),
    )
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest


# ---------------------------------------------------------------------------------------------- helpers
def _unit_dir(out: Path, unit: int) -> Path:
    return out / "units" / f"unit-{unit:05d}"


def _ref_to_json(ref: PieceRef) -> dict[str, Any]:
    return {
        "piece_id": ref.piece_id,
        "source": ref.source,
        "split": ref.split,
        "labels": dict(ref.labels),
        "path": ref.path,
    }


def _ref_from_json(data: dict[str, Any]) -> PieceRef:
    return PieceRef(
        source=data["source"],
        piece_id=data["piece_id"],
        split=data["split"],
        labels=data.get("labels", {}),
        path=data.get("path"),
    )


def iter_units(out: str | os.PathLike[str]) -> Iterable[Path]:
    """The finished unit folders of a cache, in order."""
    return sorted((Path(out) / "units").glob("unit-*"))
