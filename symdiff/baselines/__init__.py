"""Baselines to compare the diffusion model with, trained on the same prepared caches and generating Rolls of the
same layout and grid:

- :class:`MarkovBaseline` (``symdiff.baselines.markov``): a variable-order Markov chain over each track's per-step
  pitch sets, with backoff; numpy only, saved as JSON.
- :class:`AutoregressiveBaseline` (``symdiff.baselines.autoregressive``): a decoder-only Transformer over MidiTok
  REMI tokens (:class:`RollTokenizer`), trained with :func:`train_autoregressive`; needs ``miditok``
  (``pip install symdiff[eval]``), saved as safetensors + JSON.

Names are imported on first use (PEP 562), so importing this package imports neither torch nor miditok.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "MarkovBaseline": "symdiff.baselines.markov",
    "step_states": "symdiff.baselines.markov",
    "white_key_shift": "symdiff.baselines.markov",
    "ARConfig": "symdiff.baselines.autoregressive",
    "AutoregressiveBaseline": "symdiff.baselines.autoregressive",
    "DecoderTransformer": "symdiff.baselines.autoregressive",
    "TrainResult": "symdiff.baselines.autoregressive",
    "count_parameters": "symdiff.baselines.autoregressive",
    "train_autoregressive": "symdiff.baselines.autoregressive",
    "RollTokenizer": "symdiff.baselines.tokens",
    "TokenizerSettings": "symdiff.baselines.tokens",
}

__all__ = [
    "ARConfig",
    "AutoregressiveBaseline",
    "DecoderTransformer",
    "MarkovBaseline",
    "RollTokenizer",
    "TokenizerSettings",
    "TrainResult",
    "count_parameters",
    "step_states",
    "train_autoregressive",
    "white_key_shift",
]

if TYPE_CHECKING:
    from .autoregressive import (
        ARConfig,
        AutoregressiveBaseline,
        DecoderTransformer,
        TrainResult,
        count_parameters,
        train_autoregressive,
    )
    from .markov import MarkovBaseline, step_states, white_key_shift
    from .tokens import RollTokenizer, TokenizerSettings


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'symdiff.baselines' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
