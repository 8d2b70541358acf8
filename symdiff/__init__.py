"""symdiff: symbolic music (MIDI) generation with diffusion models.

The public names are listed here and imported on first use (PEP 562), so ``import symdiff`` is quick and does
nothing else: a worker process that only reads MIDI never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "SymdiffError": "symdiff.errors",
    "MidiError": "symdiff.errors",
    "Grid": "symdiff.grid",
    "TrackLayout": "symdiff.layout",
    "TrackSpec": "symdiff.layout",
    "Limits": "symdiff.midi",
    "Roll": "symdiff.roll",
    "prepare": "symdiff.data.prepare",
    "RollDataset": "symdiff.data.dataset",
    "Pipeline": "symdiff.pipeline",
    "TrainConfig": "symdiff.train",
}

__all__ = [
    "Grid",
    "Limits",
    "MidiError",
    "Pipeline",
    "Roll",
    "RollDataset",
    "SymdiffError",
    "TrackLayout",
    "TrackSpec",
    "TrainConfig",
    "__version__",
    "prepare",
]

if TYPE_CHECKING:
    from .data.dataset import RollDataset
    from .data.prepare import prepare
    from .errors import MidiError, SymdiffError
    from .grid import Grid
    from .layout import TrackLayout, TrackSpec
    from .midi import Limits
    from .pipeline import Pipeline
    from .roll import Roll
    from .train import TrainConfig


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'symdiff' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
