"""Objective evaluation of generated symbolic music (see docs/metrics.md).

- :mod:`~symdiff.metrics.features`: per-piece features (pitch-class entropy, scale and groove consistency, ...)
  and :func:`piece_features`;
- :mod:`~symdiff.metrics.compare`: set against set: Yang & Lerch's OA and KL, Mittal et al.'s consistency and
  variance, a Fréchet distance of symbolic features; :func:`compare_sets`;
- :mod:`~symdiff.metrics.memorisation`: windows copied from the training set (:class:`TrainingIndex`);
- :mod:`~symdiff.metrics.style`: a style classifier and :func:`style_adherence`;
- :mod:`~symdiff.metrics.report`: :func:`evaluate` folders of MIDI and write a report (``symdiff evaluate``).

Names are imported on first use (PEP 562); importing this package imports neither matplotlib nor the submodules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "FEATURES": "symdiff.metrics.features",
    "Feature": "symdiff.metrics.features",
    "piece_features": "symdiff.metrics.features",
    "feature_table": "symdiff.metrics.features",
    "feature_vector": "symdiff.metrics.features",
    "feature_names": "symdiff.metrics.features",
    "compare_sets": "symdiff.metrics.compare",
    "overlap_area": "symdiff.metrics.compare",
    "kl_divergence": "symdiff.metrics.compare",
    "intra_inter": "symdiff.metrics.compare",
    "consistency_variance": "symdiff.metrics.compare",
    "frechet_distance": "symdiff.metrics.compare",
    "feature_frechet_distance": "symdiff.metrics.compare",
    "TrainingIndex": "symdiff.metrics.memorisation",
    "MemorisationReport": "symdiff.metrics.memorisation",
    "WindowMatch": "symdiff.metrics.memorisation",
    "check_memorisation": "symdiff.metrics.memorisation",
    "StyleClassifier": "symdiff.metrics.style",
    "style_adherence": "symdiff.metrics.style",
    "evaluate": "symdiff.metrics.report",
    "add_evaluate_command": "symdiff.metrics.report",
}

__all__ = [
    "FEATURES",
    "Feature",
    "MemorisationReport",
    "StyleClassifier",
    "TrainingIndex",
    "WindowMatch",
    "add_evaluate_command",
    "check_memorisation",
    "compare_sets",
    "consistency_variance",
    "evaluate",
    "feature_frechet_distance",
    "feature_names",
    "feature_table",
    "feature_vector",
    "frechet_distance",
    "intra_inter",
    "kl_divergence",
    "overlap_area",
    "piece_features",
    "style_adherence",
]

if TYPE_CHECKING:
    from .compare import (
        compare_sets,
        consistency_variance,
        feature_frechet_distance,
        frechet_distance,
        intra_inter,
        kl_divergence,
        overlap_area,
    )
    from .features import FEATURES, Feature, feature_names, feature_table, feature_vector, piece_features
    from .memorisation import MemorisationReport, TrainingIndex, WindowMatch, check_memorisation
    from .report import add_evaluate_command, evaluate
    from .style import StyleClassifier, style_adherence


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'symdiff.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
