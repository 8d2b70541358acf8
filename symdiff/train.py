"""Training: ``train(TrainConfig)`` and ``symdiff train``, on a cache made by ``symdiff prepare``.

AdamW with linear warm-up and a cosine decay, gradient clipping and accumulation, an EMA of the weights (what is
shipped), bf16 autocast where the hardware has it, a validation loss on the validation split, a progress bar and a
CSV log (TensorBoard too when it is installed). Several GPUs or machines: launch with ``torchrun``; each process
takes its share of every batch (the process group comes from the environment torchrun sets; NCCL on CUDA, gloo
otherwise) and rank 0 writes.

**Resuming is exact.** Every random draw of step ``k`` (noise, masks, label dropout, dropout) is seeded from
``(seed, rank, k)`` and every data window from ``(seed, epoch, index)``, so a checkpoint needs only the weights, the
EMA, the optimiser state and the step: ``resume=True`` continues with the same losses an uninterrupted run has.
Checkpoints are folders written under a temporary name and renamed into place; ``latest`` names the newest.

**Numerics.** A loss or gradient that is NaN or infinite is reported with its step; ``nan_policy`` says whether the
run stops (default) or skips that batch. The weights are never updated from a non-finite gradient.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .checks import (
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_number,
    check_path,
    is_int,
    is_number,
    must_be,
)
from .data.dataset import Augment, RollDataset
from .diffusion.cond import Cond
from .diffusion.decode import Decoder, calibrate, min_steps_from_data
from .diffusion.masks import DEFAULT_TASK_WEIGHTS, TASKS, draw_masks
from .diffusion.schedule import KarrasDenoiser, NoiseSchedule
from .errors import SymdiffError
from .files import atomic_write_text
from .model import DenoiserConfig, TransformerDenoiser, from_pretrained, save_pretrained
from .progress import progress_bar

log = logging.getLogger(__name__)


class TrainingError(SymdiffError):
    """Training cannot go on (a non-finite loss under ``nan_policy="stop"``, a bad cache, ...)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; saved beside its checkpoints. ``model`` holds DenoiserConfig fields
    (the data fixes ``tracks``, ``pitches``, ``num_labels`` and ``label_names``), ``schedule`` NoiseSchedule
    fields, ``tasks`` the weights of the mask tasks (``symdiff.diffusion.masks``)."""

    data: str = ""
    out: str = ""
    model: Mapping[str, Any] = field(default_factory=dict)
    schedule: Mapping[str, Any] = field(default_factory=dict)
    tasks: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TASK_WEIGHTS))
    window: int = 256
    label: str | None = "style"
    label_dropout: float = 0.1
    balance_labels: bool = False
    align_bars: bool = False
    transpose: tuple[int, int] = (0, 0)
    velocity_jitter: int = 0
    batch_size: int = 16
    grad_accum: int = 1
    max_steps: int = 1000
    lr: float = 3e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    precision: str = "auto"
    compile: bool = False
    num_workers: int = 0
    seed: int = 0
    log_every: int = 10
    eval_every: int = 200
    eval_batches: int = 4
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    nan_policy: str = "stop"

    def __post_init__(self) -> None:
        """Check every field: a bad one is a ValueError ``TrainConfig.<name> must be <allowed>, got <value!r>``."""
        for name in ("data", "out"):
            object.__setattr__(self, name, check_path(f"TrainConfig.{name}", getattr(self, name), allowed=_FOLDER))
        for name in _POSITIVE_INTS:
            check_int(f"TrainConfig.{name}", getattr(self, name), 1)
        for name in ("warmup_steps", "velocity_jitter", "num_workers", "seed"):
            check_int(f"TrainConfig.{name}", getattr(self, name), 0)
        for name in ("lr", "grad_clip"):
            check_number(f"TrainConfig.{name}", getattr(self, name), 0, low_open=True)
        check_number("TrainConfig.weight_decay", self.weight_decay, 0)
        for name in ("min_lr_ratio", "label_dropout"):
            check_number(f"TrainConfig.{name}", getattr(self, name), 0, 1, allowed="a number in [0, 1]")
        check_number("TrainConfig.ema_decay", self.ema_decay, 0, 1, high_open=True)
        if not (_is_pair(self.betas) and all(is_number(b) and 0 <= b < 1 for b in self.betas)):
            raise ValueError(must_be("TrainConfig.betas", "two numbers in [0, 1), e.g. (0.9, 0.99)", self.betas))
        low_high = _is_pair(self.transpose) and all(is_int(t) for t in self.transpose)
        if not (low_high and self.transpose[0] <= self.transpose[1]):
            allowed = "two ints (low, high) with low <= high, e.g. (-3, 3)"
            raise ValueError(must_be("TrainConfig.transpose", allowed, self.transpose))
        for name in ("compile", "balance_labels", "align_bars"):
            check_bool(f"TrainConfig.{name}", getattr(self, name))
        check_instance(
            "TrainConfig.label", self.label, str, "a label name (str) or None", optional=True, error=ValueError
        )
        check_choice("TrainConfig.precision", self.precision, ("auto", "fp32", "bf16"))
        check_choice("TrainConfig.nan_policy", self.nan_policy, ("stop", "skip"))
        patch = _check_tables(self)
        if self.window % patch:
            raise ValueError(must_be("TrainConfig.window", f"a multiple of model.patch ({patch})", self.window))
        object.__setattr__(self, "transpose", tuple(self.transpose))
        object.__setattr__(self, "betas", tuple(self.betas))

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, overrides: Sequence[str] = (), **values: Any
    ) -> TrainConfig:
        """A config from a TOML file (``configs/*.toml``), then ``key=value`` overrides (values in TOML syntax,
        dotted keys into ``model`` / ``schedule`` / ``tasks``: ``model.d_model=128``), then keyword values."""
        data: dict[str, Any] = {}
        if path is not None:
            try:
                data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as err:
                raise ValueError(f"cannot read training config {path}: {err}") from None
        for item in overrides:
            key, sep, text = item.partition("=")
            if not sep:
                raise ValueError(f"override {item!r} is not key=value")
            try:
                value = tomllib.loads(f"v = {text}")["v"]
            except tomllib.TOMLDecodeError:
                value = text  # a bare word: a string
            target = data
            *parents, last = key.strip().split(".")
            for p in parents:
                target = target.setdefault(p, {})
            target[last] = value
        data.update(values)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training config keys {unknown}; known keys: {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


_FOLDER = "a folder path (str)"
_POSITIVE_INTS = (
    "window",
    "batch_size",
    "grad_accum",
    "max_steps",
    "log_every",
    "eval_every",
    "eval_batches",
    "checkpoint_every",
    "keep_checkpoints",
)
#: DenoiserConfig fields the data sets (train() fills them in), so ``TrainConfig.model`` does not take them
_FROM_DATA = ("tracks", "pitches", "num_labels", "label_names")


def _is_pair(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == 2


def _check_tables(config: TrainConfig) -> int:
    """Check ``model``, ``schedule`` and ``tasks`` (names, then values, by building what they describe); returns
    the model's patch."""
    fields = [f.name for f in dataclasses.fields(DenoiserConfig) if f.name not in _FROM_DATA]
    if not (isinstance(config.model, Mapping) and set(config.model) <= set(fields)):
        allowed = f"a table of DenoiserConfig fields ({', '.join(fields)})"
        raise ValueError(must_be("TrainConfig.model", allowed, config.model))
    names = [f.name for f in dataclasses.fields(NoiseSchedule)]
    if not (isinstance(config.schedule, Mapping) and set(config.schedule) <= set(names)):
        allowed = f"a table of NoiseSchedule fields ({', '.join(names)})"
        raise ValueError(must_be("TrainConfig.schedule", allowed, config.schedule))
    tasks = config.tasks
    if not (
        isinstance(tasks, Mapping)
        and set(tasks) <= set(TASKS)
        and all(is_number(w) and 0 <= w < float("inf") for w in tasks.values())
        and sum(tasks.values()) > 0
    ):
        allowed = f"a table of mask tasks ({', '.join(TASKS)}) to weights >= 0 with a positive sum"
        raise ValueError(must_be("TrainConfig.tasks", allowed, tasks))
    try:
        model = DenoiserConfig.from_dict({"tracks": 1, "pitches": 1, **config.model})
        NoiseSchedule.from_dict(dict(config.schedule))
    except (TypeError, ValueError) as err:
        raise ValueError(f"TrainConfig: {err}") from None
    return model.patch


# ---------------------------------------------------------------------------------------------- the loop
@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed() -> _Dist:
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return _Dist(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    return _Dist(rank=dist.get_rank(), world=dist.get_world_size(), device=device)


def _batches(
    n: int,
    batch: int,
    seed: int,
    epoch: int,
    start: int,
    rank: int,
    world: int,
    weights: Tensor | None = None,
) -> Iterator[list[int]]:
    """This rank's index lists for ``epoch`` from batch number ``start`` on: a permutation seeded by (seed, epoch)
    (with ``weights``: ``n`` draws with replacement in proportion to them), cut into global batches of
    ``batch * world``, each shared out by rank."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    per_step = batch * world
    draws = max(n, per_step)  # a split smaller than a batch is drawn several times over
    if weights is None:
        order = torch.cat([torch.randperm(n, generator=g) for _ in range(-(-draws // n))])[:draws].tolist()
    else:
        order = torch.multinomial(weights, draws, replacement=True, generator=g).tolist()
    for b in range(start, draws // per_step):
        chunk = order[b * per_step : (b + 1) * per_step]
        yield chunk[rank * batch : (rank + 1) * batch]


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then a cosine down to ``lr * min_lr_ratio`` at ``max_steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def _autocast(device: torch.device, precision: str) -> Any:
    if precision == "fp32":
        return nullcontext()
    if precision == "auto":
        supported = torch.cuda.is_bf16_supported() if device.type == "cuda" else _cpu_has_bf16()
        if not supported:
            return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); elsewhere bf16 autocast is slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _collate(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


class _Loader:
    """Batches for (epoch, position) on: a DataLoader over an explicit batch list, so resuming skips nothing."""

    def __init__(self, data: RollDataset, config: TrainConfig, rank: int, world: int) -> None:
        self.data, self.config, self.rank, self.world = data, config, rank, world
        if len(data) == 0:
            raise TrainingError(f"{config.data}: the training split has no windows")

        self.weights = _label_balance(data) if config.balance_labels else None

    def epoch(self, epoch: int, start: int) -> Iterator[dict[str, Tensor]]:
        self.data.set_epoch(epoch)
        order = list(
            _batches(
                len(self.data),
                self.config.batch_size,
                self.config.seed,
                epoch,
                start,
                self.rank,
                self.world,
                self.weights,
            )
        )
        loader = torch.utils.data.DataLoader(
            self.data,
            batch_sampler=order,
            num_workers=self.config.num_workers,
            collate_fn=_collate,
            persistent_workers=False,
        )
        yield from loader


def _label_balance(data: RollDataset) -> Tensor | None:
    """Per-window sampling weights giving every label (and "no label") the same share of the batches."""
    if not data.label:
        return None
    labels = [data.pieces[int(p)]["labels"].get(data.label) for p in data.windows[:, 0]]
    counts = Counter(labels)
    return torch.tensor([1.0 / counts[lab] for lab in labels], dtype=torch.float64)


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1 - decay)


def _step_seed(config: TrainConfig, rank: int, step: int) -> int:
    return (config.seed * 1_000_003 + rank * 10_007 + step) % (2**63 - 1)


def _cond_for(
    batch: dict[str, Tensor], x0: Tensor, config: TrainConfig, g: torch.Generator, align: int, num_labels: int
) -> Cond:
    b, tracks, _, _, steps = x0.shape
    mask = draw_masks(b, tracks, steps, weights=config.tasks, align=align, generator=g, device=x0.device)
    label = batch["label"].to(x0.device)
    if num_labels:
        drop = torch.rand(b, generator=g).to(x0.device) < config.label_dropout
        label = torch.where(drop, torch.full_like(label, -1), label)
    else:
        label = None
    return Cond(
        known=x0, mask=mask, label=label, tempo=batch["tempo"].to(x0.device), meter=batch["meter"].to(x0.device)
    )


def train(config: TrainConfig, *, resume: bool = False, progress: bool = True) -> Path:
    """Train a denoiser on ``config.data``; returns the folder of the final model (``config.out``/``model``)."""
    if not config.data or not config.out:
        raise ValueError("TrainConfig needs data (a cache made by symdiff prepare) and out (a folder)")
    env = _init_distributed()
    out = Path(config.out)
    data = RollDataset(
        config.data,
        "train",
        config.window,
        random_offset=True,
        label=config.label,
        augment=Augment(transpose=config.transpose, velocity_jitter=config.velocity_jitter),
        seed=config.seed,
        align_bars=config.align_bars,
    )
    val = RollDataset(config.data, "validation", config.window, label=config.label)
    if config.label and not data.label_names:
        log.warning("no piece has a %r label: training an unconditional model", config.label)
    schedule = NoiseSchedule.from_dict(dict(config.schedule))
    model_config = DenoiserConfig.from_dict(
        {
            "max_steps": config.window,  # the longest window the model will be asked for (positions are learnt)
            **dict(config.model),
            "tracks": len(data.layout),
            "pitches": data.layout.num_pitches,
            "num_labels": len(data.label_names),
            "label_names": list(data.label_names),
        }
    )
    torch.manual_seed(config.seed)
    net = TransformerDenoiser(model_config).to(env.device)
    ema = TransformerDenoiser(model_config).to(env.device)
    ema.load_state_dict(net.state_dict())
    ema.requires_grad_(False)
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        (decay if p.ndim >= 2 and "embed" not in name else no_decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=config.betas,
        fused=env.device.type == "cuda",
    )
    step, epoch, position = 0, 0, 0
    if resume:
        state = _load_latest(out, net, ema, optimizer, config)
        if state is not None:
            step, epoch, position = state["step"], state["epoch"], state["position"]
    module: nn.Module = net
    if env.world > 1:
        module = nn.parallel.DistributedDataParallel(
            net, device_ids=[env.device.index] if env.device.type == "cuda" else None
        )
    if config.compile:
        module = torch.compile(module)
    denoiser = KarrasDenoiser(module, schedule)
    extra = {"data": _data_settings(data), "train": config.to_dict()}
    loader = _Loader(data, config, env.rank, env.world)
    align = model_config.patch
    autocast = _autocast(env.device, config.precision)

    logger = _Log(out, env.main, resume_from=step if resume else None)
    bar = progress_bar(config.max_steps, progress and env.main, "train", "step", initial=step)
    batches = loader.epoch(epoch, position)
    started, skipped, first_step = time.perf_counter(), 0, step
    try:
        while step < config.max_steps:
            g = torch.Generator().manual_seed(_step_seed(config, env.rank, step))
            torch.manual_seed(_step_seed(config, env.rank, step))
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, config)
            total = torch.zeros((), device=env.device)
            for micro in range(config.grad_accum):
                batch = next(batches, None)
                if batch is None:
                    epoch, position = epoch + 1, 0
                    batches = loader.epoch(epoch, 0)
                    batch = next(batches)
                position += 1
                x0 = schedule.to_model(batch["roll"].to(env.device))
                cond = _cond_for(batch, x0, config, g, align, model_config.num_labels)
                sync = nullcontext() if env.world == 1 or micro == config.grad_accum - 1 else module.no_sync()
                with sync, autocast:
                    loss = denoiser.loss(x0, cond, generator=g) / config.grad_accum
                loss.backward()
                total += loss.detach()
            grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
            if env.world > 1:
                dist.all_reduce(total)
                total /= env.world
            finite = bool(torch.isfinite(total)) and bool(torch.isfinite(grad_norm))
            if finite:
                optimizer.step()
                _ema_update(ema, net, config.ema_decay)
            else:
                skipped += 1
                message = (
                    f"step {step}: the loss or gradient is not finite "
                    f"(loss {float(total)}, grad norm {float(grad_norm)})"
                )
                if config.nan_policy == "stop":
                    raise TrainingError(message + "; set nan_policy='skip' to skip such batches")
                log.warning("%s; batch skipped", message)
            optimizer.zero_grad(set_to_none=True)
            step += 1
            bar.update(1)
            row: dict[str, Any] = {}
            if step % config.log_every == 0 or step == config.max_steps:
                row.update(
                    loss=float(total),
                    grad_norm=float(grad_norm),
                    lr=lr_at(step - 1, config),
                    steps_per_s=(step - first_step) / max(time.perf_counter() - started, 1e-9),
                    skipped=skipped,
                )
                bar.set_postfix(loss=f"{float(total):.4f}")
            if (step % config.eval_every == 0 or step == config.max_steps) and len(val):
                row["val_loss"] = _validate(ema, schedule, val, config, env, align, autocast, model_config.num_labels)
            if row:
                logger.write(step, row)
            if env.main and (step % config.checkpoint_every == 0 or step == config.max_steps):
                _save_checkpoint(out, step, epoch, position, net, ema, optimizer, model_config, schedule, extra, config)
            if env.world > 1 and step % config.checkpoint_every == 0:
                dist.barrier()
    finally:
        bar.close()
        logger.close()
    final = out / "model"
    if env.main:
        decoder, scores = _calibrate_decoder(ema, schedule, data, val, config, model_config.num_labels, env)
        extra["decoder"], extra["decoder_scores"] = decoder.to_dict(), scores
        save_pretrained(final, ema, model_config, schedule=schedule, extra=extra)
    if env.world > 1:
        dist.barrier()
    return final


@torch.no_grad()
def _validate(
    ema: nn.Module,
    schedule: NoiseSchedule,
    val: RollDataset,
    config: TrainConfig,
    env: _Dist,
    align: int,
    autocast: Any,
    num_labels: int,
) -> float:
    """Mean loss of the EMA weights over the first ``eval_batches`` validation batches, with fixed noise."""
    denoiser = KarrasDenoiser(ema, schedule)
    losses = []
    for b in range(config.eval_batches):
        idx = list(range(b * config.batch_size, min((b + 1) * config.batch_size, len(val))))
        if not idx:
            break
        batch = _collate([val[i] for i in idx])
        g = torch.Generator().manual_seed(config.seed + 7919 * (b + 1))
        x0 = schedule.to_model(batch["roll"].to(env.device))
        cond = _cond_for(batch, x0, config, g, align, num_labels)
        with autocast:
            losses.append(float(denoiser.loss(x0, cond, generator=g)))
    return sum(losses) / max(len(losses), 1)


@torch.no_grad()
def _calibrate_decoder(
    ema: nn.Module,
    schedule: NoiseSchedule,
    data: RollDataset,
    val: RollDataset,
    config: TrainConfig,
    num_labels: int,
    env: _Dist,
) -> tuple[Decoder, dict[str, float]]:
    """The decoder for this model, chosen on data (``symdiff.diffusion.decode``): ``min_steps`` from the training
    notes' lengths, thresholds and gap filling by :func:`~symdiff.diffusion.decode.calibrate` on up to 64
    validation windows (training windows when there is no validation split)."""
    durations = [data._piece_arrays(i)[0]["duration"] for i in range(len(data.pieces))]
    min_steps = min_steps_from_data(np.concatenate(durations) if durations else np.zeros(0, np.int64))
    source = val if len(val) else data
    idx = np.linspace(0, len(source) - 1, min(64, len(source))).astype(int).tolist()
    batch = _collate([source[i] for i in idx])
    cond = Cond(
        label=batch["label"].to(env.device) if num_labels else None,
        tempo=batch["tempo"].to(env.device),
        meter=batch["meter"].to(env.device),
    )
    denoiser = KarrasDenoiser(ema, schedule).eval()
    windows, pitch_low = batch["roll"].to(env.device), data.layout.pitch_range[0]
    return calibrate(denoiser, windows, pitch_low, cond=cond, schedule=schedule, min_steps=min_steps, seed=config.seed)


def _data_settings(data: RollDataset) -> dict[str, Any]:
    return {
        "layout": data.layout.to_dict(),
        "grid": data.grid.to_dict(),
        "label": data.label,
        "source": data.manifest.get("source"),
        "window": data.window,
    }


# ---------------------------------------------------------------------------------------------- checkpoints
def _save_checkpoint(
    out: Path,
    step: int,
    epoch: int,
    position: int,
    net: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    model_config: DenoiserConfig,
    schedule: NoiseSchedule,
    extra: dict[str, Any],
    config: TrainConfig,
) -> None:
    """Write ``checkpoints/step-NNNNNNNN`` under a temporary name, rename it, point ``latest`` at it, and only then
    remove older checkpoints beyond ``keep_checkpoints``, so a kill at any moment leaves a whole checkpoint that
    ``latest`` names. A folder is renamed out of sight before it is removed (a kill never leaves half of one)."""
    root = out / "checkpoints"
    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-step-{step:08d}-{os.getpid()}"
    for leftover in [*root.glob(".tmp-step-*"), *root.glob(".old-step-*")]:  # of killed runs
        shutil.rmtree(leftover, ignore_errors=True)
    save_pretrained(tmp / "ema", ema, model_config, schedule=schedule, extra=extra)
    save_pretrained(tmp / "model", net, model_config, schedule=schedule, extra=extra)
    torch.save(
        {"optimizer": optimizer.state_dict(), "step": step, "epoch": epoch, "position": position},
        tmp / "train_state.pt",
    )
    atomic_write_text(tmp / "train_config.json", json.dumps(config.to_dict(), indent=2))
    _discard(final)  # left by a run killed before it pointed latest at it
    os.rename(tmp, final)
    atomic_write_text(root / "latest", final.name + "\n")
    # older checkpoints only: a newer folder is a leftover that latest does not name, replaced when the run gets there
    older = sorted(s for s in map(_checkpoint_step, root.glob("step-*")) if s is not None and s < step)
    for old in older[: max(0, len(older) - (config.keep_checkpoints - 1))]:
        _discard(root / f"step-{old:08d}")


def _checkpoint_step(folder: Path) -> int | None:
    """The step of a checkpoint folder ``step-NNNNNNNN``; None for anything else."""
    digits = folder.name[len("step-") :]
    return int(digits) if folder.is_dir() and digits.isdigit() else None


def _discard(folder: Path) -> None:
    """Remove a checkpoint folder: first renamed to a hidden name (atomic), then deleted."""
    if folder.exists():
        hidden = folder.with_name(f".old-{folder.name}-{os.getpid()}")
        os.rename(folder, hidden)
        shutil.rmtree(hidden, ignore_errors=True)


def _load_latest(
    out: Path, net: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer, config: TrainConfig
) -> dict[str, Any] | None:
    pointer = out / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    name = pointer.read_text().strip()
    folder = out / "checkpoints" / name
    if _checkpoint_step(folder) is None or not (folder / "train_config.json").is_file():
        raise TrainingError(
            f"{pointer} names {name!r}, which is not a checkpoint folder beside it (step-NNNNNNNN with "
            "train_config.json); write the name of one that is into it, or start without --resume"
        )
    # where the run folder is does not matter (a run may be moved or copied, then resumed); everything else must match
    saved = {k: v for k, v in json.loads((folder / "train_config.json").read_text()).items() if k != "out"}
    current = {k: v for k, v in config.to_dict().items() if k != "out"}
    if saved != current:
        changed = sorted(k for k in saved.keys() | current.keys() if saved.get(k) != current.get(k))
        raise TrainingError(f"{folder} was made with another training config ({', '.join(changed)} differ)")
    loaded_net, _, _ = from_pretrained(folder / "model")
    loaded_ema, _, _ = from_pretrained(folder / "ema")
    net.load_state_dict(loaded_net.net.state_dict())
    ema.load_state_dict(loaded_ema.net.state_dict())
    state = _read_train_state(folder / "train_state.pt")
    optimizer.load_state_dict(state["optimizer"])
    log.info("resumed from %s (step %d)", folder, state["step"])
    return state


def _read_train_state(path: Path) -> dict[str, Any]:
    """A checkpoint's optimiser state and position, read with ``weights_only=True`` (tensors and plain data only, so
    a crafted file cannot run code); a file that is not one is a TrainingError naming it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a refused pickle, a truncated zip, an empty or missing file: torch raises any of many
        raise TrainingError(
            f"{path} is not a valid checkpoint train state ({_first_reason(err)}); it is read with weights_only=True "
            "and nothing else is unpickled. Name an older checkpoint in checkpoints/latest, or start without --resume"
        ) from None
    if not (
        isinstance(state, dict)
        and isinstance(state.get("optimizer"), dict)
        and all(is_int(state.get(key)) for key in ("step", "epoch", "position"))
    ):
        raise TrainingError(f"{path} is not a valid checkpoint train state (no optimizer state, step, epoch, position)")
    return state


def _first_reason(err: Exception) -> str:
    """The gist of a torch.load error: its first sentence (after torch's advice on ``weights_only``)."""
    text = str(err).split("WeightsUnpickler error:", 1)[-1]
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return f"{type(err).__name__}: {line.split('. ')[0]}" if line else type(err).__name__


# ---------------------------------------------------------------------------------------------- logging
class _Log:
    """``log.csv`` (appended to when resuming) and, when installed, TensorBoard; rank 0 only."""

    FIELDS = ("step", "loss", "val_loss", "grad_norm", "lr", "steps_per_s", "skipped")

    def __init__(self, out: Path, enabled: bool, resume_from: int | None) -> None:
        self.enabled, self.writer, self.tb = enabled, None, None
        if not enabled:
            return
        out.mkdir(parents=True, exist_ok=True)
        path = out / "log.csv"
        kept: list[dict[str, str]] = []
        if resume_from is not None and path.exists():  # rows after the checkpoint will be written again
            with open(path, newline="") as handle:
                kept = [r for r in csv.DictReader(handle) if int(r["step"]) <= resume_from]
        text = io.StringIO()  # the kept rows are rewritten atomically: a kill now loses none of them
        rewriter = csv.DictWriter(text, fieldnames=self.FIELDS)
        rewriter.writeheader()
        rewriter.writerows(kept)
        atomic_write_text(path, text.getvalue())
        self.handle = open(path, "a", newline="")  # noqa: SIM115 (closed in close())
        self.writer = csv.DictWriter(self.handle, fieldnames=self.FIELDS)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"))
        except ImportError:
            self.tb = None

    def write(self, step: int, row: dict[str, Any]) -> None:
        if not self.enabled or self.writer is None:
            return
        self.writer.writerow({"step": step, **row})
        self.handle.flush()
        if self.tb is not None:
            for k, v in row.items():
                self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.enabled and self.writer is not None:
            self.handle.close()
            if self.tb is not None:
                self.tb.close()
