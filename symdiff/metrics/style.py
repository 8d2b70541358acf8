"""Style adherence: does music generated for a style label sound like that style to a classifier trained on real
music of each label?

:class:`StyleClassifier` is multinomial logistic regression (softmax regression) on the standardised vector of
symbolic features of :mod:`symdiff.metrics.features` (every scalar and histogram bin), fitted by full-batch
gradient descent in numpy: deterministic, a fraction of a second for thousands of pieces. :meth:`StyleClassifier.fit`
first holds out a seeded, stratified part of the real pieces and reports the accuracy on it
(:attr:`StyleClassifier.holdout_accuracy`), so a style-adherence number can be read against what the classifier
achieves on real music; it then refits on every piece.

:func:`style_adherence` is the fraction of generated pieces the classifier assigns to the label they were asked
for: the usual "accuracy of a classifier trained on real data, on generated data" check of conditional
generators. (Ravuri & Vinyals's Classification Accuracy Score is the reverse: a classifier trained on generated
data, tested on real data.)

References:
    Ravuri, Vinyals. "Classification Accuracy Score for Conditional Generative Models", NeurIPS 2019.
    Bishop. "Pattern Recognition and Machine Learning", section 4.3.4 (multiclass logistic regression), 2006.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .features import feature_matrix, feature_names, feature_table

if TYPE_CHECKING:
    from ..roll import Roll


@dataclass(frozen=True)
class StyleClassifier:
    """A fitted softmax-regression style classifier; make one with :meth:`fit`.

    Attributes:
        labels: the class names, in the order of the model's outputs.
        mean, scale: the standardisation of each feature column (fitted on the training pieces).
        fill: the value a NaN feature takes (the column's training mean, before standardisation).
        weights: ``(columns + 1, classes)``, the last row the bias.
        holdout_accuracy: accuracy on the held-out real pieces (NaN when none were held out).
        holdout_size: how many pieces were held out.
    """

    labels: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    fill: np.ndarray
    weights: np.ndarray
    holdout_accuracy: float = float("nan")
    holdout_size: int = 0

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        rolls: Sequence[Roll],
        labels: Sequence[str],
        *,
        seed: int = 0,
        holdout: float = 0.25,
        l2: float = 0.1,
        steps: int = 2000,
        features: Sequence[dict[str, Any]] | None = None,
        progress: bool = False,
    ) -> StyleClassifier:
        """Fit on real pieces and their labels.

        Args:
            rolls: real pieces (at least two labels, each with at least two pieces when ``holdout`` > 0).
            labels: a label per piece.
            seed: seeds the stratified hold-out split.
            holdout: fraction of each label's pieces held out to measure :attr:`holdout_accuracy` (0: none).
            l2: the L2 penalty λ: the loss is the mean cross-entropy plus ``λ/2 |W|^2`` (the bias is not penalised).
            steps: gradient-descent steps.
            features: the pieces' :func:`~symdiff.metrics.features.piece_features`, when already computed.
            progress: show a progress bar while computing features.

        Raises:
            ValueError: fewer than two labels, mismatched lengths, or a bad ``holdout``.
        """
        if len(rolls) != len(labels):
            raise ValueError(f"fit: labels must give one label per Roll ({len(rolls)}), got {len(labels)}")
        if not 0 <= holdout < 1:
            raise ValueError(f"fit: holdout must be in [0, 1), got {holdout}")
        names = tuple(sorted(set(labels)))
        if len(names) < 2:
            raise ValueError(f"fit: need pieces of at least two labels, got {list(names)}")
        x = feature_matrix(features if features is not None else feature_table(rolls, progress))
        y = np.array([names.index(label) for label in labels])
        held = _stratified_holdout(y, holdout, seed)
        accuracy, size = float("nan"), int(held.sum())
        if size:
            if len(np.unique(y[~held])) < len(names):
                raise ValueError("fit: every label needs at least two pieces to hold one out; lower holdout")
            trial = cls._fitted(x[~held], y[~held], names, l2, steps)
            accuracy = float(np.mean(trial._predict_indices(x[held]) == y[held]))
        final = cls._fitted(x, y, names, l2, steps)
        return cls(final.labels, final.mean, final.scale, final.fill, final.weights, accuracy, size)

    @classmethod
    def _fitted(cls, x: np.ndarray, y: np.ndarray, names: tuple[str, ...], l2: float, steps: int) -> StyleClassifier:
        """Softmax regression on ``x`` (NaNs allowed) by gradient descent with step ``1 / L``.

        Loss: mean cross-entropy + ``l2/2 * |W|^2``; ``L = λ_max(X^T X) / (2n) + l2`` bounds its curvature
        (the softmax Hessian is at most half the identity), so the step is safe without a line search.
        """
        finite = np.isfinite(x)
        counts = finite.sum(axis=0)
        fill = np.where(finite, x, 0.0).sum(axis=0) / np.maximum(counts, 1)  # column means; 0 for all-NaN ones
        x = np.where(finite, x, fill)
        mean, std = x.mean(axis=0), x.std(axis=0)
        scale = np.where(std > 1e-9, std, 1.0)
        design = np.c_[(x - mean) / scale, np.ones(len(x))]
        targets = np.eye(len(names))[y]
        n = len(design)
        curvature = np.linalg.eigvalsh(design.T @ design).max() / (2 * n) + l2
        rate = 1.0 / curvature
        penalty = np.ones((design.shape[1], 1))
        penalty[-1] = 0.0  # no penalty on the bias
        weights = np.zeros((design.shape[1], len(names)))
        for _ in range(steps):
            probabilities = _softmax(design @ weights)
            gradient = design.T @ (probabilities - targets) / n + l2 * penalty * weights
            weights -= rate * gradient
        return cls(names, mean, scale, fill, weights)

    # ------------------------------------------------------------------ using
    def _predict_indices(self, x: np.ndarray) -> np.ndarray:
        return self._probabilities(x).argmax(axis=1)

    def _probabilities(self, x: np.ndarray) -> np.ndarray:
        x = np.where(np.isfinite(x), x, self.fill)
        design = np.c_[(x - self.mean) / self.scale, np.ones(len(x))]
        return _softmax(design @ self.weights)

    def predict_proba(self, rolls: Sequence[Roll], features: Sequence[dict[str, Any]] | None = None) -> np.ndarray:
        """``(pieces, labels)`` class probabilities (columns in the order of :attr:`labels`)."""
        if not rolls and not features:
            return np.zeros((0, len(self.labels)))
        return self._probabilities(feature_matrix(features if features is not None else feature_table(rolls)))

    def predict(self, rolls: Sequence[Roll], features: Sequence[dict[str, Any]] | None = None) -> list[str]:
        """The most likely label of each piece."""
        return [self.labels[i] for i in self.predict_proba(rolls, features).argmax(axis=1)]

    def accuracy(
        self, rolls: Sequence[Roll], labels: Sequence[str], features: Sequence[dict[str, Any]] | None = None
    ) -> float:
        """The fraction of pieces predicted as their label (NaN for no pieces)."""
        if len(rolls) != len(labels):
            raise ValueError(f"accuracy: labels must give one label per Roll ({len(rolls)}), got {len(labels)}")
        if not len(labels):
            return float("nan")
        predicted = self.predict(rolls, features)
        return float(np.mean([p == t for p, t in zip(predicted, labels)]))

    def top_features(self, count: int = 5) -> dict[str, list[str]]:
        """Per label, the feature columns with the largest positive weights (what the classifier listens to)."""
        names = feature_names()
        return {
            label: [names[i] for i in np.argsort(-self.weights[:-1, k], kind="stable")[:count]]
            for k, label in enumerate(self.labels)
        }


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _stratified_holdout(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A seeded mask holding out ``round(fraction * n_c)`` pieces of each class ``c`` (at least one when the
    fraction is positive and the class has two or more pieces)."""
    held = np.zeros(len(y), dtype=bool)
    if fraction <= 0:
        return held
    rng = np.random.default_rng(seed)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        count = min(max(1, round(fraction * len(members))), len(members) - 1)
        if count > 0:
            held[rng.permutation(members)[:count]] = True
    return held


def style_adherence(
    classifier: StyleClassifier,
    generated: Sequence[Roll],
    asked_labels: Sequence[str],
    features: Sequence[dict[str, Any]] | None = None,
) -> float:
    """The fraction of generated pieces that ``classifier`` assigns to the label they were generated for.

    Read it against ``classifier.holdout_accuracy`` (the same number for held-out real pieces) and chance
    (``1 / len(classifier.labels)``). NaN for no pieces.

    Raises:
        ValueError: an asked label is not one the classifier knows, or the lengths differ.
    """
    unknown = sorted(set(asked_labels) - set(classifier.labels))
    if unknown:
        raise ValueError(f"style_adherence: labels {unknown} are unknown to the classifier ({list(classifier.labels)})")
    return classifier.accuracy(generated, asked_labels, features)
