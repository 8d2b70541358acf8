"""The style classifier separates Bach chorales from Essen folk songs, on pieces it never saw."""

from __future__ import annotations

import numpy as np
import pytest

from symdiff import Roll
from symdiff.metrics import StyleClassifier, style_adherence

FIT = 11  # pieces of each style to fit on; the rest of the corpus fixture is unseen


@pytest.fixture(scope="module")
def classifier(corpus: dict[str, list[Roll]]) -> StyleClassifier:
    rolls = corpus["bach"][:FIT] + corpus["essen"][:FIT]
    return StyleClassifier.fit(rolls, ["bach"] * FIT + ["essen"] * FIT, seed=0)


def test_held_out_accuracy_is_well_above_chance(classifier: StyleClassifier, corpus: dict[str, list[Roll]]) -> None:
    assert classifier.labels == ("bach", "essen")
    assert classifier.holdout_size == 6  # a quarter of each style, rounded
    assert classifier.holdout_accuracy >= 0.8  # chance is 0.5
    unseen_bach, unseen_essen = corpus["bach"][FIT:], corpus["essen"][FIT:]
    labels = ["bach"] * len(unseen_bach) + ["essen"] * len(unseen_essen)
    assert classifier.accuracy(unseen_bach + unseen_essen, labels) >= 0.8
    probabilities = classifier.predict_proba(unseen_bach)
    assert probabilities.shape == (len(unseen_bach), 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_style_adherence(classifier: StyleClassifier, corpus: dict[str, list[Roll]]) -> None:
    unseen_bach = corpus["bach"][FIT:]
    assert style_adherence(classifier, unseen_bach, ["bach"] * len(unseen_bach)) >= 0.8
    assert style_adherence(classifier, unseen_bach, ["essen"] * len(unseen_bach)) <= 0.2
    with pytest.raises(ValueError, match="unknown to the classifier"):
        style_adherence(classifier, unseen_bach, ["jazz"] * len(unseen_bach))


def test_fitting_is_seeded_and_checked(corpus: dict[str, list[Roll]]) -> None:
    rolls = corpus["bach"][:6] + corpus["essen"][:6]
    labels = ["bach"] * 6 + ["essen"] * 6
    a = StyleClassifier.fit(rolls, labels, seed=3)
    b = StyleClassifier.fit(rolls, labels, seed=3)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.holdout_accuracy == b.holdout_accuracy
    assert "polyphony" in a.top_features(5)["bach"] or "polyphony_rate" in a.top_features(5)["bach"]
    with pytest.raises(ValueError, match="at least two labels"):
        StyleClassifier.fit(rolls, ["bach"] * 12)
    with pytest.raises(ValueError, match="one label per Roll"):
        StyleClassifier.fit(rolls, labels[:-1])
    assert np.isnan(StyleClassifier.fit(rolls, labels, holdout=0).holdout_accuracy)
