"""Shared by the hardening tests: the fuzzer in ``bench/fuzz.py`` loaded as a module, and a tiny model trained
with ``configs/tiny.toml`` on the suite's small ``voices`` cache of real Bach chorales (``chorale_cache``, in
tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny.toml"
REGRESSIONS = REPO / "tests" / "regressions" / "midi"
#: overrides that make configs/tiny.toml a run of a few seconds with a checkpoint every 5 steps
TRAIN_OVERRIDES = ("max_steps=40", "checkpoint_every=5", "log_every=1", "eval_every=10")


def load_fuzz() -> ModuleType:
    """``bench/fuzz.py`` as a module (bench is not a package)."""
    name = "symdiff_bench_fuzz"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "bench" / "fuzz.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def fuzz() -> ModuleType:
    return load_fuzz()


class Training(NamedTuple):
    run: Path
    seconds: float


@pytest.fixture(scope="session")
def tiny_training(chorale_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Training:
    """An uninterrupted run of configs/tiny.toml (with :data:`TRAIN_OVERRIDES`) on the chorales, on one thread
    (as the killed runs of test_kills are), and the seconds it took: its folder holds ``log.csv``,
    ``checkpoints/`` and ``model/``."""
    from symdiff.train import TrainConfig, train

    out = tmp_path_factory.mktemp("hardening-run") / "run"
    config = TrainConfig.load(TINY, TRAIN_OVERRIDES, data=str(chorale_cache), out=str(out))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    started = time.monotonic()
    try:
        train(config, progress=False)
    finally:
        torch.set_num_threads(threads)
    return Training(out, time.monotonic() - started)


@pytest.fixture(scope="session")
def tiny_run(tiny_training: Training) -> Path:
    """The folder of :func:`tiny_training`'s run (``Pipeline.from_pretrained`` takes it)."""
    return tiny_training.run
