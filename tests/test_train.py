"""Training on CPU, for real: a short run whose loss falls, exact resume after SIGKILL, 2-process DDP on gloo,
non-finite losses caught, configs validated. The data is a small synthetic corpus made here."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import symusic

from symdiff import prepare
from symdiff.data.sources import FolderSource
from symdiff.model import from_pretrained
from symdiff.train import TrainConfig, TrainingError, train

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.toml"


def write_piece(path: Path, style: str, seed: int) -> None:
    """Eight bars of 4/4: 'scales' climbs in eighth notes, 'chords' holds triads."""
    rng = np.random.default_rng(seed)
    score = symusic.Score(480)
    track = symusic.Track("Piano", 0, False)
    root = int(rng.integers(55, 67))
    if style == "scales":
        for i in range(64):
            track.notes.append(symusic.Note(i * 240, 240, root + [0, 2, 4, 5, 7, 9, 11, 12][i % 8], 90))
    else:
        for bar in range(8):
            for interval in (0, 4, 7):
                track.notes.append(symusic.Note(bar * 1920, 1920, root + interval + (bar % 2) * 5, 70))
    score.tracks.append(track)
    score.dump_midi(str(path))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("synthetic")
    rows = ["path,style,split"]
    for i in range(24):
        style = ("scales", "chords")[i % 2]
        write_piece(src / f"{style}{i}.mid", style, i)
        rows.append(f"{style}{i}.mid,{style},{'validation' if i >= 20 else 'train'}")
    (src / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path_factory.mktemp("cache")
    prepare(FolderSource(src, labels=src / "labels.csv"), out, layout="piano", steps_per_beat=4, progress=False)
    return out


def train_args(cache: Path, out: Path, *overrides: str) -> list[str]:
    """``symdiff.cli train ...`` arguments for a quiet tiny run (after ``python -m``)."""
    return [
        "symdiff.cli",
        "train",
        "--data",
        str(cache),
        "--config",
        str(TINY),
        "--out",
        str(out),
        "--quiet",
        *overrides,
    ]


def losses(run: Path) -> dict[int, float]:
    with open(run / "log.csv") as handle:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(handle) if r["loss"]}


def test_a_short_run_learns_and_writes_a_model(cache: Path, tmp_path: Path) -> None:
    config = TrainConfig.load(TINY, ["max_steps=120", "log_every=5"], data=str(cache), out=str(tmp_path / "run"))
    final = train(config, progress=False)
    curve = losses(tmp_path / "run")
    first, last = np.mean([curve[s] for s in (5, 10, 15)]), np.mean([curve[s] for s in (110, 115, 120)])
    assert last < 0.6 * first, f"loss did not fall: {first:.4f} -> {last:.4f}"
    _, config_loaded, extra = from_pretrained(final)
    assert config_loaded.label_names == ("chords", "scales")
    assert extra["data"]["grid"] == {"steps_per_beat": 4}
    with open(tmp_path / "run" / "log.csv") as handle:
        assert any(r["val_loss"] for r in csv.DictReader(handle))


def test_resume_after_sigkill_continues_exactly(cache: Path, tmp_path: Path) -> None:
    common = ["max_steps=40", "checkpoint_every=10", "log_every=1", "eval_every=100"]
    whole = TrainConfig.load(TINY, common, data=str(cache), out=str(tmp_path / "whole"))
    train(whole, progress=False)

    killed = tmp_path / "killed"
    args = [sys.executable, "-m", *train_args(cache, killed, *common)]
    proc = subprocess.Popen(args, cwd=REPO)
    deadline = time.time() + 120
    while time.time() < deadline and not (killed / "checkpoints" / "step-00000020").is_dir():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "model").exists(), "the run finished before it could be killed"
    result = subprocess.run([*args, "--resume"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert losses(killed) == losses(tmp_path / "whole")


def test_a_moved_run_resumes_and_a_changed_setting_is_refused(cache: Path, tmp_path: Path) -> None:
    """The run folder may move (copied to another disk or machine) and still resume exactly; any other difference
    from the saved training config is refused, naming the setting."""
    common = ["max_steps=20", "checkpoint_every=10", "log_every=1", "eval_every=100"]
    whole = TrainConfig.load(TINY, common, data=str(cache), out=str(tmp_path / "whole"))
    train(whole, progress=False)
    moved = tmp_path / "elsewhere" / "moved"
    shutil.copytree(tmp_path / "whole", moved)
    shutil.rmtree(moved / "model")  # as if killed after the checkpoint of step 10
    (moved / "checkpoints" / "latest").write_text("step-00000010\n")
    longer = TrainConfig.load(TINY, [*common, "max_steps=30"], data=str(cache), out=str(moved))
    with pytest.raises(TrainingError, match=r"another training config \(max_steps differ\)"):
        train(longer, resume=True, progress=False)
    train(TrainConfig.load(TINY, common, data=str(cache), out=str(moved)), resume=True, progress=False)
    assert losses(moved) == losses(tmp_path / "whole") and len(losses(moved)) == 20
    weights = "model/model.safetensors"
    assert (moved / weights).read_bytes() == (tmp_path / "whole" / weights).read_bytes()


def test_two_process_ddp_on_gloo(cache: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={port}",
        "--master_addr=127.0.0.1",
        "-m",
        *train_args(cache, tmp_path / "ddp", "max_steps=12", "batch_size=4", "checkpoint_every=6", "eval_every=6"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "ddp" / "model" / "model.safetensors").is_file()
    assert sorted(losses(tmp_path / "ddp")) == [10, 12]  # rank 0 logs the mean loss over both processes
    assert sorted(p.name for p in (tmp_path / "ddp" / "checkpoints").glob("step-*")) == [
        "step-00000006",
        "step-00000012",
    ]


def test_non_finite_losses_stop_or_are_skipped(cache: Path, tmp_path: Path) -> None:
    boom = ["max_steps=6", "lr=1e30", "warmup_steps=1", "grad_clip=1e30", "log_every=1"]
    with pytest.raises(TrainingError, match=r"step \d+: the loss or gradient is not finite"):
        train(TrainConfig.load(TINY, boom, data=str(cache), out=str(tmp_path / "stop")), progress=False)
    train(
        TrainConfig.load(TINY, [*boom, "nan_policy='skip'"], data=str(cache), out=str(tmp_path / "skip")),
        progress=False,
    )
    with open(tmp_path / "skip" / "log.csv") as handle:
        assert int(list(csv.DictReader(handle))[-1]["skipped"]) >= 1


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown training config keys"):
        TrainConfig.load(TINY, ["learning_rate=1"])
    with pytest.raises(ValueError, match="precision must be"):
        TrainConfig.load(TINY, ["precision='fp8'"])
    with pytest.raises(ValueError, match="not key=value"):
        TrainConfig.load(TINY, ["max_steps"])
