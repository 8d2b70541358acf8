"""Set comparisons: the KDE, OA and KL against closed forms, Yang & Lerch's intra/inter-set comparison, Mittal et
al.'s consistency and variance, the Fréchet distance, and compare_sets on real corpus pieces."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from symdiff import Roll
from symdiff.metrics import compare as C
from symdiff.metrics import compare_sets, frechet_distance, intra_inter, kl_divergence, overlap_area

from .conftest import make_roll


def test_kde_is_scotts_gaussian_kde() -> None:
    rng = np.random.default_rng(0)
    samples = rng.normal(2.0, 0.5, 40)
    h = C.scott_bandwidth(samples)
    assert h == pytest.approx(np.std(samples, ddof=1) * 40 ** (-0.2))
    grid = np.linspace(-1, 5, 301)
    expected = np.mean([np.exp(-0.5 * ((grid - s) / h) ** 2) / (h * math.sqrt(2 * math.pi)) for s in samples], axis=0)
    np.testing.assert_allclose(C.kde_on_grid(samples, grid, h), expected, rtol=1e-12)
    assert C.kde_on_grid(samples, grid, h).sum() * (grid[1] - grid[0]) == pytest.approx(1.0, abs=1e-3)
    # many samples take the binned path: close to exact
    many = rng.normal(0.0, 1.0, 20_000)
    fine = np.linspace(-6, 6, 2048)
    exact = np.zeros_like(fine)
    for chunk in np.array_split(many, 20):
        exact += np.exp(-0.5 * ((fine[:, None] - chunk[None, :]) / 0.3) ** 2).sum(axis=1)
    exact /= len(many) * 0.3 * math.sqrt(2 * math.pi)
    np.testing.assert_allclose(C.kde_on_grid(many, fine, 0.3), exact, atol=2e-4)


def test_overlap_area_and_kl() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 300)
    assert overlap_area(a, a) == pytest.approx(1.0, abs=1e-6)
    assert kl_divergence(a, a) == pytest.approx(0.0, abs=1e-9)
    b = rng.normal(0, 1, 300)
    assert overlap_area(a, b) > 0.85  # two samples of one distribution
    far = rng.normal(10, 1, 300)
    assert overlap_area(a, far) < 0.01
    assert kl_divergence(a, far) > 5
    # OA of two normals one standard deviation apart is 2 Φ(-1/2) = 0.617; the KDEs come close
    shifted = rng.normal(1, 1, 2000)
    wide = rng.normal(0, 1, 2000)
    assert overlap_area(wide, shifted) == pytest.approx(2 * NormalDist().cdf(-0.5), abs=0.05)
    # constants: the same constant overlaps fully, different ones not at all; NaNs are dropped
    assert overlap_area(np.full(5, 3.0), np.full(7, 3.0)) == 1.0
    assert overlap_area(np.full(5, 0.0), np.full(7, 1.0)) < 1e-6
    assert overlap_area(np.array([np.nan, 1.0, 2.0]), np.array([1.0, 2.0])) == pytest.approx(1.0, abs=1e-6)
    assert math.isnan(overlap_area(np.array([np.nan]), a))


def test_intra_and_inter_set_distances() -> None:
    np.testing.assert_allclose(C.intra_set_distances(np.array([0.0, 1.0, 3.0])), [1, 3, 2])
    histograms = np.array([[1.0, 0.0], [0.0, 1.0], [np.nan, np.nan]])  # the NaN piece is left out
    np.testing.assert_allclose(C.intra_set_distances(histograms), [math.sqrt(2)])
    np.testing.assert_allclose(C.inter_set_distances(np.array([0.0, 1.0]), np.array([3.0])), [3, 2])


def test_intra_inter_overlap_is_high_for_one_distribution_and_low_for_different_ones() -> None:
    rng = np.random.default_rng(2)
    real = rng.normal(5, 1, 60)
    same = intra_inter(real, real)
    assert same["oa"] > 0.9 and same["oa_generated"] > 0.9 and same["kl"] < 0.05
    alike = intra_inter(rng.normal(5, 1, 60), real)
    assert alike["oa"] > 0.8
    different = intra_inter(rng.normal(50, 1, 60), real)
    assert different["oa"] < 0.05 and different["kl"] > 3
    collapsed = intra_inter(np.full(60, 5.0), real)  # mode collapse: no spread among generated pieces
    assert collapsed["oa_generated"] < 0.2
    assert math.isnan(intra_inter(real[:1], real[:1])["oa"])  # one piece: no intra-set distance


def test_gaussian_overlap_and_framewise_consistency() -> None:
    assert C._gaussian_overlap((0, 1), (0, 1)) == pytest.approx(1.0)
    assert C._gaussian_overlap((0, 1), (1, 1)) == pytest.approx(2 * NormalDist().cdf(-0.5))
    # eight bars repeating one bar: every frame has the same statistics
    bar = [(0, 4, 60), (4, 4, 64), (8, 2, 67), (10, 2, 65), (12, 4, 62)]
    loop = make_roll([(16 * b + o, d, p) for b in range(8) for o, d, p in bar], 128)
    pitch, duration = C.framewise_overlaps(loop)
    assert len(pitch) == 2 and len(duration) == 2  # frames at bars 0, 2, 4
    np.testing.assert_allclose(pitch, 1.0, atol=1e-6)
    np.testing.assert_allclose(duration, 1.0, atol=1e-6)
    # a melody that leaps up an octave half way: the middle frame pair overlaps less
    leap = make_roll([(16 * b + o, d, p + (12 if b >= 4 else 0)) for b in range(8) for o, d, p in bar], 128)
    assert C.framewise_overlaps(leap)[0].min() < 0.5
    assert len(C.framewise_overlaps(make_roll([(0, 4, 60)], 64))[0]) == 0  # 4 bars: one frame, no pair


def test_consistency_variance_on_real_pieces(corpus: dict[str, list[Roll]]) -> None:
    bach, essen = corpus["bach"], corpus["essen"]
    same = C.consistency_variance(bach, bach)
    for key in ("pitch_consistency", "pitch_variance", "duration_consistency", "duration_variance"):
        assert same[key] == pytest.approx(1.0)
    other = C.consistency_variance(essen, bach)
    assert all(0.0 <= other[k] <= 1.0 for k in ("pitch_consistency", "pitch_variance"))
    assert other["pitch_variance"] < 0.9 or other["duration_variance"] < 0.9


def test_frechet_distance() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    assert frechet_distance(x, x + shift) == pytest.approx(shift @ shift, rel=1e-6)  # same covariance
    centred = x - x.mean(axis=0)
    # Σ_y = 4 Σ_x: tr(Σ + 4Σ - 2 (2Σ)) = tr(Σ)
    assert frechet_distance(centred, 2 * centred) == pytest.approx(np.trace(np.cov(centred, rowvar=False)), rel=1e-4)
    few = rng.normal(size=(3, 40))  # fewer samples than dimensions: singular covariances, the ridge copes
    assert math.isfinite(frechet_distance(few, few + 1.0)) and frechet_distance(few, few) < 1e-3
    with pytest.raises(ValueError, match="equal dims"):
        frechet_distance(x, x[:, :3])


def test_compare_sets_on_real_pieces(corpus: dict[str, list[Roll]]) -> None:
    bach, essen = corpus["bach"], corpus["essen"]
    same = compare_sets(bach, bach)
    assert same["frechet_distance"] == pytest.approx(0.0, abs=1e-6)
    assert same["mean_oa"] > 0.9 and same["mean_oa_values"] > 0.99
    assert same["counts"] == {"generated": len(bach), "reference": len(bach)}
    halves = compare_sets(bach[::2], bach[1::2])
    different = compare_sets(essen, bach)
    assert different["frechet_distance"] > 0
    assert different["mean_oa"] < halves["mean_oa"] < same["mean_oa"]
    polyphony = different["features"]["polyphony"]
    assert polyphony["oa"] < 0.05 and polyphony["oa_values"] < 0.05  # one voice against four
    assert polyphony["generated_mean"] == 1.0 and polyphony["reference_mean"] > 3.5
    assert math.isnan(different["features"]["drum_pattern_consistency"]["oa"])  # no drums anywhere
    # an empty piece in a set is tolerated
    with_empty = compare_sets([*essen, make_roll([], 0, layout="voices")], bach)
    assert math.isfinite(with_empty["frechet_distance"]) and math.isfinite(with_empty["mean_oa"])
