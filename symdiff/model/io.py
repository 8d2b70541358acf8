"""Saving and loading a denoiser: ``config.json`` beside ``model.safetensors``; loading never unpickles anything.

``config.json`` holds the :class:`~symdiff.model.DenoiserConfig` fields at the top level, plus

* ``"schedule"``: the :class:`~symdiff.diffusion.NoiseSchedule` the model was trained with;
* ``"extra"``: any JSON object the caller saved with it (data settings, training step, ...);
* ``"format"``, ``"format_version"`` and ``"weights_sha256"`` (the hash of ``model.safetensors``, so that weights and
  config from two different saves are not silently paired).

Both files are written atomically (temporary name, fsync, rename), the weights first.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ..diffusion.schedule import KarrasDenoiser, NoiseSchedule
from ..files import atomic_path, atomic_write_text
from .config import DenoiserConfig
from .denoiser import TransformerDenoiser

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "symdiff.TransformerDenoiser"
FORMAT_VERSION = 1
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
"""Weight files that would need unpickling: refused, never opened."""
_RESERVED = ("format", "format_version", "schedule", "extra", "weights_sha256")


def _unwrap(model: nn.Module, schedule: NoiseSchedule | None) -> tuple[TransformerDenoiser, NoiseSchedule]:
    """The bare network (through ``KarrasDenoiser`` and ``torch.compile`` wrappers) and the schedule to save."""
    if isinstance(model, KarrasDenoiser):
        if schedule is not None and schedule != model.schedule:
            raise ValueError("schedule differs from the KarrasDenoiser's own schedule; pass one or the other")
        schedule = model.schedule
        model = model.net
    model = getattr(model, "_orig_mod", model)  # torch.compile's OptimizedModule
    if not isinstance(model, TransformerDenoiser):
        raise TypeError(f"model must be a TransformerDenoiser or a KarrasDenoiser of one, got {type(model).__name__}")
    return model, schedule if schedule is not None else NoiseSchedule()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def save_pretrained(
    directory: str | os.PathLike[str],
    model: nn.Module,
    config: DenoiserConfig,
    extra: dict[str, Any] | None = None,
    *,
    schedule: NoiseSchedule | None = None,
) -> Path:
    """Save ``model`` to ``directory`` (created if needed) as ``config.json`` + ``model.safetensors``.

    Args:
        directory: where to write; existing files of the same names are replaced atomically.
        model: a :class:`TransformerDenoiser`, or a :class:`~symdiff.diffusion.KarrasDenoiser` wrapping one (its
            schedule is saved); ``torch.compile`` wrappers are looked through.
        config: the model's config (must equal ``model.config``).
        extra: a JSON object saved under ``"extra"`` and returned by :func:`from_pretrained`.
        schedule: the noise schedule, for a bare network (default ``NoiseSchedule()``).

    Returns:
        The directory.
    """
    net, schedule = _unwrap(model, schedule)
    if not isinstance(config, DenoiserConfig):
        raise TypeError(f"config must be a DenoiserConfig, got {type(config).__name__}")
    if net.config != config:
        raise ValueError(f"config does not match the model's own config:\n  given {config}\n  model {net.config}")
    if extra is None:
        extra = {}
    if not isinstance(extra, dict) or not all(isinstance(k, str) for k in extra):
        raise TypeError(f"extra must be a dict with str keys (a JSON object), got {type(extra).__name__}")
    try:
        json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"extra must be JSON-serialisable (no NaN or infinity): {e}") from None

    directory = Path(directory)
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in net.state_dict().items()}
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        # one metadata key: safetensors keeps metadata in a hash map whose order changes from run to run, so
        # with two keys the same weights would not always give the same bytes
        save_file(tensors, str(tmp), metadata={"format": "pt"})
        sha = _sha256(tmp)
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **config.to_dict(),
        "schedule": schedule.to_dict(),
        "extra": extra,
        "weights_sha256": sha,
    }
    atomic_write_text(directory / CONFIG_NAME, json.dumps(document, indent=2, allow_nan=False) + "\n")
    return directory


def from_pretrained(
    directory: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> tuple[KarrasDenoiser, DenoiserConfig, dict[str, Any]]:
    """Load what :func:`save_pretrained` wrote.

    Only ``model.safetensors`` is read: a directory holding pickled weights (``.bin``, ``.pt``, ``.pkl``, ...) instead
    is refused, unopened. Tensors are checked against the config's model: a missing, unexpected or misshapen tensor
    is an error naming it. The weights keep their saved dtype, so a save / load round trip is bit-exact.

    Returns:
        ``(denoiser, config, extra)``: the network wrapped in a :class:`~symdiff.diffusion.KarrasDenoiser` with the
        saved schedule (the network is ``denoiser.net``), in eval mode on ``device``; its config; the saved extra.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such model directory")
    weights_path, config_path = directory / WEIGHTS_NAME, directory / CONFIG_NAME
    if not weights_path.is_file():
        pickles = sorted(p.name for p in directory.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        if pickles:
            raise ValueError(
                f"{directory}: the weights here are pickle files ({', '.join(pickles)}); symdiff loads only "
                f"safetensors ({WEIGHTS_NAME}) and never unpickles. Convert them where you trust the source, e.g. "
                f"safetensors.torch.save_file(torch.load(path, weights_only=True), '{WEIGHTS_NAME}')"
            )
        raise FileNotFoundError(f"{directory}: no {WEIGHTS_NAME}")
    if not config_path.is_file():
        raise FileNotFoundError(f"{directory}: no {CONFIG_NAME}")

    config, schedule, extra, sha = _read_config(config_path)
    if sha is not None and _sha256(weights_path) != sha:
        raise ValueError(
            f"{weights_path} is not the file {CONFIG_NAME} was saved with (its sha256 differs): the weights and the "
            "config come from different saves"
        )
    try:
        tensors = load_file(str(weights_path), device=str(device))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{weights_path}: not a readable safetensors file ({e})") from None

    net = TransformerDenoiser(config).to(device)
    _check_tensors(weights_path, tensors, net.state_dict())
    net.load_state_dict(tensors, strict=True, assign=True)
    return KarrasDenoiser(net, schedule).eval(), config, extra


def _read_config(path: Path) -> tuple[DenoiserConfig, NoiseSchedule, dict[str, Any], str | None]:
    """Parse and check ``config.json``; every error names the file and the field."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(document).__name__}")
    document = dict(document)
    fmt = document.pop("format", FORMAT)
    if fmt != FORMAT:
        raise ValueError(f"{path}: 'format' is {fmt!r}, expected {FORMAT!r}")
    version = document.pop("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(
            f"{path}: 'format_version' {version!r} is not supported (this symdiff reads 1..{FORMAT_VERSION})"
        )
    if "schedule" not in document:
        raise ValueError(f"{path}: no 'schedule' (the NoiseSchedule the model was trained with)")
    schedule_dict = document.pop("schedule")
    extra = document.pop("extra", {})
    sha = document.pop("weights_sha256", None)
    if not isinstance(extra, dict):
        raise ValueError(f"{path}: 'extra' must be a JSON object, got {type(extra).__name__}")
    if sha is not None and not isinstance(sha, str):
        raise ValueError(f"{path}: 'weights_sha256' must be a string, got {sha!r}")
    if not isinstance(schedule_dict, dict):
        raise ValueError(f"{path}: 'schedule' must be a JSON object, got {type(schedule_dict).__name__}")
    try:
        schedule = NoiseSchedule.from_dict(schedule_dict)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad 'schedule': {e}") from None
    try:
        config = DenoiserConfig.from_dict(document)
    except (TypeError, ValueError) as e:
        reserved = f" (besides the config fields, {CONFIG_NAME} may hold {list(_RESERVED)})"
        raise ValueError(f"{path}: {e}" + (reserved if "unknown" in str(e) else "")) from None
    return config, schedule, extra, sha


def _check_tensors(path: Path, loaded: dict[str, Tensor], expected: dict[str, Tensor]) -> None:
    """Same names and shapes as the model's state dict, floating dtypes; the error names the tensors."""
    missing = sorted(set(expected) - set(loaded))
    unexpected = sorted(set(loaded) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing tensors {missing}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected}")
    for name in sorted(set(expected) & set(loaded)):
        if loaded[name].shape != expected[name].shape:
            problems.append(
                f"tensor {name!r} has shape {tuple(loaded[name].shape)}, the config's model expects "
                f"{tuple(expected[name].shape)}"
            )
        elif not loaded[name].dtype.is_floating_point:
            problems.append(f"tensor {name!r} has dtype {loaded[name].dtype}, expected a floating dtype")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ValueError(f"{path} does not fit the model of {CONFIG_NAME}: {shown}")
