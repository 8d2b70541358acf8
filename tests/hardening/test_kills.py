"""``symdiff prepare`` and ``symdiff train`` killed with SIGKILL at seeded random moments, then resumed: the final
files are byte-identical to an uninterrupted run's, after every kill every file under a name a reader would open
is whole, and no process of the killed run is left behind.

The default suite kills each command 3 times; the ``slow`` tests 10 times. A kill that lands after the run has
finished does not count: the finished output is compared with the reference, removed, and the next run starts
afresh. A checkpoint save is also killed (simulated) at each of its file operations in turn.
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from symdiff.model import from_pretrained

from ..conftest import real_midi_files
from .conftest import REPO, TINY, TRAIN_OVERRIDES, Training

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
PREPARE_FILES = 12
"""Real files in the prepare folder (plus two corrupt ones), 2 to a unit: 7 units."""


# ------------------------------------------------------------------------------------------------ checks
def visible(root: Path) -> dict[str, bytes]:
    """Every file a reader would open (no part of its path starts with '.'), by relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def assert_whole(root: Path) -> int:
    """Every visible file parses completely as what its name says; returns how many were checked."""
    checked = 0
    for name, data in visible(root).items():
        path = root / name
        if name.endswith(".json"):
            json.loads(data)
        elif name.endswith(".jsonl"):
            assert data.endswith(b"\n"), f"{name} ends inside a line"
            [json.loads(line) for line in data.decode().splitlines()]
        elif name.endswith(".npy"):
            np.load(path, allow_pickle=False)
        elif name.endswith(".tsv"):
            lines = data.decode().splitlines()
            assert data.endswith(b"\n") and all(len(line.split("\t")) == 3 for line in lines), name
        elif name.endswith(".csv"):
            rows = list(csv.reader(data.decode().splitlines()))
            assert all(len(row) == len(rows[0]) for row in rows), f"{name} has a partial row"
        elif name.endswith(".safetensors"):
            load_file(str(path))
        elif name.endswith(".pt"):
            torch.load(path, map_location="cpu", weights_only=True)
        elif name.endswith("latest"):
            assert (path.parent / data.decode().strip() / "train_state.pt").is_file(), "latest names no checkpoint"
        else:
            continue
        checked += 1
    for unit in (root / "units").glob("unit-*"):  # a unit is whole: all its arrays, and counts that agree
        index = np.load(unit / "index.npy")
        records = [json.loads(line) for line in (unit / "pieces.jsonl").read_text().splitlines()]
        assert len(index) == sum("error" not in r for r in records)
        for name in ("notes", "tempos", "meters", "keys"):
            assert len(np.load(unit / f"{name}.npy")) == int(index[f"{name}_count"].sum())
    for config in root.rglob("config.json"):  # a config beside weights is the config of those weights
        if not any(part.startswith(".") for part in config.relative_to(root).parts):
            from_pretrained(config.parent)
    return checked


def wait_gone(group: int, seconds: float = 10.0) -> None:
    """Wait until no process of the killed run's process group is left (workers must not outlive it)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(group, signal.SIGKILL)
    pytest.fail(f"processes of the killed run (group {group}) were still alive {seconds:g} s after the kill")


def kill_and_resume(
    command: list[str],
    out: Path,
    kills: int,
    seed: int,
    progress: Callable[[float], int],
    total: int,
    same_as_reference: Callable[[], None],
    log: Path,
    jitter: float = 0.3,
) -> dict[str, int]:
    """Run ``command`` (which resumes whatever is in ``out``) over and over and SIGKILL it at seeded random
    moments, until ``kills`` kills have landed on a running process.

    A moment is a point of the work, not of the clock (the machine is shared, its speed varies): a target drawn
    from ``progress(t0)`` (the work done, as this run started at ``t0`` sees it) to ``total``, then a delay of up to
    ``jitter`` seconds once the run gets there. After each kill every visible file must be whole and every process
    of the run gone. A run that finishes first must match the reference (its output is then removed). Finally a
    run to the end must match the reference."""
    rng = random.Random(seed)
    landed = finished = checked = 0
    with open(log, "ab") as stderr:
        while landed < kills:
            assert landed + finished < 3 * kills, "the runs keep finishing before the kill"
            target, delay = rng.randint(min(max(progress(0.0), 0), total), total), rng.uniform(0.0, jitter)
            t0 = time.time()
            proc = subprocess.Popen(
                command, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
            )
            deadline = time.monotonic() + 300
            while proc.poll() is None and progress(t0) < target:
                assert time.monotonic() < deadline, f"{command} made no progress for 300 s"
                time.sleep(0.005)
            try:
                code = proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                landed += 1
            else:
                assert code == 0, f"{command} failed ({code}); see {log}"
                same_as_reference()
                shutil.rmtree(out)
                finished += 1
            wait_gone(proc.pid)
            if out.exists():
                checked += assert_whole(out)
        result = subprocess.run(command, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=stderr, check=False)
    assert result.returncode == 0, f"the resumed run failed; see {log}"
    same_as_reference()
    return {"kills": landed, "finished_early": finished, "files_checked": checked}


# ------------------------------------------------------------------------------------------------ prepare
PREPARE_SCRIPT = """
import functools, sys, time
from symdiff.cli import main
from symdiff.data import prepare as P

convert = P.convert_piece
def slow_convert(*args, **kwargs):  # a conversion of 0.1 s, so the run lasts long enough to be killed in
    time.sleep(0.1)
    return convert(*args, **kwargs)

P.convert_piece = slow_convert
P.prepare = functools.partial(P.prepare, unit_size=2)  # the CLI has no --unit-size: 2 pieces a unit, 7 units
sys.exit(main(["prepare", "folder", sys.argv[1], sys.argv[2], "--layout", "gm", "--steps-per-beat", "4",
               "--workers", "2", "--quiet"]))
"""


@pytest.fixture(scope="module")
def prepare_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lakh, corrupt = real_midi_files("lakh"), real_midi_files("corrupt")
    if not lakh:
        pytest.skip("the real MIDI corpus is not here")
    src = tmp_path_factory.mktemp("kill-prepare-src")
    for p in lakh[:PREPARE_FILES] + corrupt[:2]:
        shutil.copy(p, src / p.name)
    return src


@pytest.fixture(scope="module")
def prepare_reference(prepare_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run of the same command."""
    out = tmp_path_factory.mktemp("kill-prepare-ref") / "cache"
    command = [sys.executable, "-c", PREPARE_SCRIPT, str(prepare_folder), str(out)]
    subprocess.run(command, cwd=REPO, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return out


def _same_cache(out: Path, reference: Path) -> None:
    assert visible(out) == visible(reference)
    assert not list((out / "units").glob(".tmp-*")), "a killed run's unit folder was left behind"


def _kill_prepare(kills: int, seed: int, folder: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache"

    def progress(t0: float) -> int:  # units written (a target of 0: while listing, or at the first unit)
        return len(list((out / "units").glob("unit-*"))) + (out / "manifest.json").is_file()

    units = -(-(PREPARE_FILES + 2) // 2)
    command = [sys.executable, "-c", PREPARE_SCRIPT, str(folder), str(out)]
    result = kill_and_resume(
        command, out, kills, seed, progress, units, functools.partial(_same_cache, out, reference),
        tmp_path / "stderr.log",
    )  # fmt: skip
    assert result["kills"] == kills and result["files_checked"] > 0


def test_prepare_killed_3_times_resumes_to_the_same_cache(
    prepare_folder: Path, prepare_reference: Path, tmp_path: Path
) -> None:
    _kill_prepare(3, 11, prepare_folder, prepare_reference, tmp_path)


@pytest.mark.slow
def test_prepare_killed_10_times_resumes_to_the_same_cache(
    prepare_folder: Path, prepare_reference: Path, tmp_path: Path
) -> None:
    _kill_prepare(10, 12, prepare_folder, prepare_reference, tmp_path)


# ------------------------------------------------------------------------------------------------ train
def train_command(cache: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "symdiff.cli", "train", "--data", str(cache), "--config", str(TINY), "--out", str(out),
        "--quiet", "--resume", *TRAIN_OVERRIDES,
    ]  # fmt: skip


def log_rows(run: Path) -> list[tuple[str, ...]]:
    """The rows of log.csv without the speed column (it differs from run to run)."""
    with open(run / "log.csv", newline="") as handle:
        return [(r["step"], r["loss"], r["val_loss"], r["grad_norm"], r["lr"]) for r in csv.DictReader(handle)]


def _same_run(out: Path, reference: Path) -> None:
    assert log_rows(out) == log_rows(reference)
    assert (out / "model" / "model.safetensors").read_bytes() == (
        reference / "model" / "model.safetensors"
    ).read_bytes()


def _kill_train(kills: int, seed: int, cache: Path, reference: Training, tmp_path: Path) -> None:
    out = tmp_path / "run"
    steps = int(dict(o.split("=") for o in TRAIN_OVERRIDES)["max_steps"])

    def progress(t0: float) -> int:
        """Steps logged by this run (log_every=1); -1 before it has rewritten log.csv; for the target's lower
        bound (t0 = 0) the step of the latest checkpoint, where the next run resumes."""
        if t0 == 0.0:
            latest = out / "checkpoints" / "latest"
            return int(latest.read_text().strip()[len("step-") :]) if latest.is_file() else 0
        path = out / "log.csv"
        if not path.is_file() or path.stat().st_mtime < t0:
            return -1
        return max(0, path.read_text().count("\n") - 1)

    result = kill_and_resume(
        train_command(cache, out), out, kills, seed, progress, steps, functools.partial(_same_run, out, reference.run),
        tmp_path / "stderr.log", jitter=0.5,
    )  # fmt: skip
    assert result["kills"] == kills and result["files_checked"] > 0


def test_train_killed_3_times_resumes_to_the_same_losses_and_weights(
    chorale_cache: Path, tiny_training: Training, tmp_path: Path
) -> None:
    _kill_train(3, 21, chorale_cache, tiny_training, tmp_path)


@pytest.mark.slow
def test_train_killed_10_times_resumes_to_the_same_losses_and_weights(
    chorale_cache: Path, tiny_training: Training, tmp_path: Path
) -> None:
    _kill_train(10, 22, chorale_cache, tiny_training, tmp_path)


def test_a_kill_while_log_csv_is_rewritten_loses_no_rows(
    chorale_cache: Path, tiny_training: Training, tmp_path: Path
) -> None:
    """The one moment the random kills above seldom hit: just after a resumed run has opened log.csv."""
    out = tmp_path / "run"
    command = train_command(chorale_cache, out)

    def run_until(ready: Callable[[float], bool]) -> None:
        t0 = time.time()
        proc = subprocess.Popen(command, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, start_new_session=True)
        while proc.poll() is None and not ready(t0):
            time.sleep(0.001)
        assert proc.poll() is None, "the run finished before the kill"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    run_until(lambda t0: (out / "checkpoints" / "step-00000015").is_dir())
    rows = (out / "log.csv").read_text().count("\n") - 1
    assert rows >= 15
    run_until(lambda t0: (out / "log.csv").is_file() and (out / "log.csv").stat().st_mtime >= t0)
    subprocess.run(command, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, check=True)
    _same_run(out, tiny_training.run)


# ------------------------------------------------------------------------------------------------ checkpoint rotation
class Killed(BaseException):
    """A simulated SIGKILL, raised in place of one file operation of a checkpoint save."""


def kill_at(patch: pytest.MonkeyPatch, n: int) -> None:
    """Make the ``n``-th file operation (1-based) of ``symdiff.train``'s checkpoint code a kill; a removal killed
    half-way has taken one file (the weights first) with it."""
    import symdiff.train as train_module

    calls = itertools.count(1)

    def wrap(function: Callable, removal: bool = False) -> Callable:
        def call(*args: object, **kwargs: object) -> object:
            if next(calls) == n:
                files = [p for p in Path(args[0]).rglob("*") if p.is_file()] if removal else []
                victim = next((p for p in files if p.suffix == ".safetensors"), files[0] if files else None)
                if victim is not None:
                    victim.unlink()
                raise Killed
            return function(*args, **kwargs)

        return call

    patch.setattr(train_module, "save_pretrained", wrap(train_module.save_pretrained))
    patch.setattr(train_module, "atomic_write_text", wrap(train_module.atomic_write_text))
    patch.setattr(torch, "save", wrap(torch.save))
    patch.setattr(os, "rename", wrap(os.rename))
    patch.setattr(shutil, "rmtree", wrap(shutil.rmtree, removal=True))


@pytest.mark.parametrize("keep", [1, 2])
def test_a_kill_at_any_moment_of_a_checkpoint_save_leaves_a_whole_checkpoint_that_latest_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: int
) -> None:
    """Checkpoints at steps 10 and 20 (``keep`` of them kept), and a step-40 folder that ``latest`` does not name (a
    run killed between renaming it into place and pointing ``latest`` at it, then resumed from 20). The resumed
    run saves step 30, killed at each of its file operations in turn: every visible file stays whole, ``latest``
    names a whole checkpoint, and saving again (as the next resume does) ends with step 30 and the ``keep - 1``
    checkpoints before it, nothing left half-removed."""
    from symdiff.diffusion.schedule import NoiseSchedule
    from symdiff.model import DenoiserConfig, TransformerDenoiser
    from symdiff.train import TrainConfig, _save_checkpoint

    model_config = DenoiserConfig.tiny(tracks=1, pitches=8, max_steps=32)
    net = TransformerDenoiser(model_config)
    optimizer = torch.optim.AdamW(net.parameters())
    run, config = tmp_path / "run", TrainConfig(keep_checkpoints=keep)
    checkpoints = run / "checkpoints"

    def save(step: int) -> None:
        _save_checkpoint(run, step, 0, step, net, net, optimizer, model_config, NoiseSchedule(), {}, config)

    for n in itertools.count(1):
        shutil.rmtree(run, ignore_errors=True)
        save(10)
        save(20)
        shutil.copytree(checkpoints / "step-00000020", checkpoints / "step-00000040")
        with monkeypatch.context() as patch:
            kill_at(patch, n)
            try:
                save(30)
            except Killed:
                killed = True
            else:
                killed = False
        assert_whole(run)
        assert (checkpoints / "latest").read_text().strip() in ("step-00000020", "step-00000030"), n
        if not killed:
            break
        save(30)
        assert_whole(run)
    assert n > 5, "the save made fewer file operations than expected: is the kill injection still in place?"
    assert (checkpoints / "latest").read_text().strip() == "step-00000030"
    kept = {1: [30, 40], 2: [20, 30, 40]}[keep]  # 40 is newer than latest: left for the run to replace
    assert sorted(p.name for p in checkpoints.iterdir() if p.name != "latest") == [f"step-{s:08d}" for s in kept]
