"""Comparing a set of generated pieces with a set of real ones, feature by feature and as a whole.

- :func:`intra_inter` — Yang & Lerch (2020): for each feature, the distribution of pairwise distances *within* a
  set (intra-set) is compared with the distribution of distances *between* the sets (inter-set) by their
  overlapping area (OA) and Kullback-Leibler divergence (KL), each distribution estimated with a Gaussian KDE.
- :func:`overlap_area` of the feature values themselves — the simpler "OA" that Polyffusion (Min et al. 2023) and
  other papers report: KDE of set A's values against KDE of set B's.
- :func:`consistency_variance` — Mittal et al. (2021): framewise pitch and duration statistics.
- :func:`frechet_distance` — a Fréchet distance between Gaussians fitted to vectors of symbolic features.
- :func:`compare_sets` — all of them at once.

scipy is not needed: the KDE and the Gaussian overlap are written here with numpy and the standard library.

References:
    Yang, Lerch. "On the evaluation of generative models in music", Neural Computing and Applications 32, 2020
    (and its toolbox, github.com/RichardYang40148/mgeval).
    Mittal, Engel, Hawthorne, Simon. "Symbolic Music Generation with Diffusion Models", ISMIR 2021.
    Min, Jiang, Xia, Zhao. "Polyffusion: A Diffusion Model for Polyphonic Score Generation with Internal and
    External Controls", ISMIR 2023.
    Heusel et al. "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017
    (the Fréchet distance between fitted Gaussians).
    Scott. "Multivariate Density Estimation", Wiley 1992 (the bandwidth rule).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from .features import FEATURES, SCALAR_FEATURES, feature_matrix, feature_table, note_lengths_in_beats, pitched_notes

if TYPE_CHECKING:
    from ..roll import Roll

#: points of the grid the KDEs are evaluated on
GRID_POINTS = 2048
#: the smallest KDE bandwidth, as a fraction of the range of the pooled samples (see :func:`kde_pair`)
MIN_BANDWIDTH = 0.01
#: added to both densities before KL divergence, so an empty tail of the second gives a large finite value
KL_EPSILON = 1e-10
#: above this many sample-grid pairs the KDE is computed by linear binning and convolution (see :func:`kde_on_grid`)
EXACT_KDE_PAIRS = 150_000
#: ridge added to both covariances in :func:`frechet_distance`
FRECHET_RIDGE = 1e-6


# ====================================================================== kernel density estimation
def scott_bandwidth(samples: np.ndarray) -> float:
    """Scott's rule for a 1-D Gaussian KDE: ``h = std(samples, ddof=1) * n ** (-1/5)`` (0 for one sample).

    This is ``scipy.stats.gaussian_kde``'s default, which Yang & Lerch's toolbox uses. Reference: Scott 1992.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if len(samples) < 2:
        return 0.0
    return float(np.std(samples, ddof=1) * len(samples) ** (-1 / 5))


def kde_on_grid(samples: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    r"""The Gaussian KDE of ``samples`` with ``bandwidth`` at the points of a uniform ``grid``.

    .. math:: \hat p(x) = \frac{1}{n h \sqrt{2\pi}} \sum_i \exp\left(-\frac{(x - x_i)^2}{2h^2}\right)

    Exact for up to ``EXACT_KDE_PAIRS`` sample-point pairs (or a bandwidth under two grid spacings); beyond that
    the samples are first linearly binned onto the grid and the bins convolved with the kernel (relative error of
    order ``(spacing / h)^2``).
    """
    samples = np.asarray(samples, dtype=np.float64)
    grid = np.asarray(grid, dtype=np.float64)
    if bandwidth <= 0:
        raise ValueError(f"kde_on_grid: bandwidth must be > 0, got {bandwidth}")
    norm = 1.0 / (len(samples) * bandwidth * math.sqrt(2 * math.pi))
    spacing = grid[1] - grid[0] if len(grid) > 1 else math.inf
    if len(samples) * len(grid) <= EXACT_KDE_PAIRS or bandwidth < 2 * spacing:
        out = np.zeros(len(grid))
        for chunk in np.array_split(samples, max(1, len(samples) * len(grid) // 1_000_000)):
            z = (grid[:, None] - chunk[None, :]) / bandwidth
            out += np.exp(-0.5 * z * z).sum(axis=1)
        return out * norm
    position = (samples - grid[0]) / spacing
    low = np.clip(np.floor(position).astype(np.int64), 0, len(grid) - 2)
    weight = np.clip(position - low, 0.0, 1.0)
    counts = np.bincount(low, 1 - weight, minlength=len(grid)) + np.bincount(low + 1, weight, minlength=len(grid))
    reach = int(np.ceil(5 * bandwidth / spacing))
    offsets = np.arange(-reach, reach + 1) * spacing / bandwidth
    kernel = np.exp(-0.5 * offsets * offsets)
    return np.convolve(counts, kernel, mode="full")[reach : reach + len(grid)] * norm


def kde_pair(
    a: np.ndarray, b: np.ndarray, points: int = GRID_POINTS
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Gaussian KDEs of two samples on one shared grid: ``(grid, pdf_a, pdf_b)``, or None when both samples are
    one and the same constant (the two densities are then the same point mass).

    Each bandwidth is Scott's (:func:`scott_bandwidth`), but at least ``MIN_BANDWIDTH`` (1%) of the range of the
    pooled samples: a set whose values are all equal has zero spread, where Scott's rule (and scipy) fail; the
    floor makes it a narrow bump instead. The grid spans the pooled samples plus six of the larger bandwidth on
    each side, so (unlike Yang & Lerch's toolbox, which integrates between the samples' extremes) the whole of
    both densities is covered.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"kde_pair: both samples need values, got {len(a)} and {len(b)}")
    pooled = np.concatenate([a, b])
    lo, hi = float(pooled.min()), float(pooled.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return None
    floor = MIN_BANDWIDTH * (hi - lo)
    ha, hb = max(scott_bandwidth(a), floor), max(scott_bandwidth(b), floor)
    pad = 6 * max(ha, hb)
    grid = np.linspace(lo - pad, hi + pad, points)
    return grid, kde_on_grid(a, grid, ha), kde_on_grid(b, grid, hb)


def overlap_area(a: np.ndarray, b: np.ndarray) -> float:
    """Overlapping area of the KDEs of two samples: ``∫ min(p_a(x), p_b(x)) dx`` (1 for the same distribution,
    0 for disjoint ones).

    NaN values are dropped; NaN when either sample is then empty. Reference: Yang & Lerch 2020 (OA).
    """
    a, b = _finite(a), _finite(b)
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    pair = kde_pair(a, b)
    if pair is None:
        return 1.0
    grid, pa, pb = pair
    return float(min(1.0, np.minimum(pa, pb).sum() * (grid[1] - grid[0])))


def kl_divergence(a: np.ndarray, b: np.ndarray) -> float:
    """Kullback-Leibler divergence ``KL(p_a || p_b) = ∫ p_a log(p_a / p_b) dx`` (nats) of the KDEs of two samples.

    Both densities are evaluated on one shared grid (Yang & Lerch's toolbox evaluates each on its own sample
    range, which compares densities at different points), :data:`KL_EPSILON` is added to each and they are
    normalised on the grid. NaN values are dropped; NaN when either sample is then empty. Reference: Yang & Lerch
    2020 (KLD).
    """
    a, b = _finite(a), _finite(b)
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    pair = kde_pair(a, b)
    if pair is None:
        return 0.0
    _, pa, pb = pair
    pa, pb = pa + KL_EPSILON, pb + KL_EPSILON
    pa, pb = pa / pa.sum(), pb / pb.sum()
    return float(max(0.0, np.sum(pa * np.log(pa / pb))))


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


# ====================================================================== Yang & Lerch: intra- and inter-set distances
def _rows(values: np.ndarray) -> np.ndarray:
    """Values as ``(pieces, dims)`` with the pieces that have a NaN removed."""
    values = np.asarray(values, dtype=np.float64)
    values = values[:, None] if values.ndim == 1 else values
    return values[np.isfinite(values).all(axis=1)]


def intra_set_distances(values: np.ndarray) -> np.ndarray:
    """The distances between every two pieces of one set: ``|x_i - x_j|`` for scalars, the Euclidean norm for
    histograms (rows), for ``i < j``. Pieces whose feature is NaN are left out.

    Reference: Yang & Lerch 2020 (intra-set distances; their toolbox measures histograms by Euclidean distance).
    """
    rows = _rows(values)
    i, j = np.triu_indices(len(rows), k=1)
    return np.linalg.norm(rows[i] - rows[j], axis=1)


def inter_set_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The distances between every piece of one set and every piece of the other (see
    :func:`intra_set_distances`). Reference: Yang & Lerch 2020 (inter-set distances)."""
    ra, rb = _rows(a), _rows(b)
    return np.linalg.norm(ra[:, None, :] - rb[None, :, :], axis=2).ravel()


def intra_inter(generated: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Yang & Lerch's comparison of one feature between two sets.

    With :math:`D_{intra}(S)` the pairwise distances within set S and :math:`D_{inter}` those between the sets,
    each estimated as a density with a Gaussian KDE:

    - ``oa`` = OA(D_intra(reference), D_inter), ``kl`` = KL(D_intra(reference) || D_inter): how well the distances
      to generated pieces look like the distances among real pieces (the reference set as the target);
    - ``oa_generated``, ``kl_generated``: the same with the generated set's intra-set distances.

    Higher OA and lower KL are better. A set needs two pieces with the feature defined for intra-set distances;
    otherwise the values are NaN. Reference: Yang & Lerch 2020, section 4 (absolute and relative measurements).
    """
    inter = inter_set_distances(generated, reference)
    intra_ref, intra_gen = intra_set_distances(reference), intra_set_distances(generated)
    out = {"oa": float("nan"), "kl": float("nan"), "oa_generated": float("nan"), "kl_generated": float("nan")}
    if len(inter) == 0:
        return out
    if len(intra_ref):
        out["oa"], out["kl"] = overlap_area(intra_ref, inter), kl_divergence(intra_ref, inter)
    if len(intra_gen):
        out["oa_generated"], out["kl_generated"] = overlap_area(intra_gen, inter), kl_divergence(intra_gen, inter)
    return out


# ====================================================================== Mittal et al.: framewise statistics
def _gaussian_overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Overlapping area of two normal densities given as (mean, standard deviation)."""
    return NormalDist(a[0], a[1]).overlap(NormalDist(b[0], b[1]))


def framewise_overlaps(roll: Roll, width: int = 4, hop: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The overlapping areas of the pitch and the duration Gaussians of adjacent frames of one piece.

    Frames are ``width`` bars long and start every ``hop`` bars (only whole frames: frame ``k`` covers bars
    ``[k * hop, k * hop + width)``); a note belongs to the bar it starts in. Each frame's pitches (MIDI numbers)
    and durations (beats) of pitched notes are summarised as a normal distribution ``N(mean, std + 1e-6)``, and
    adjacent frames compared by the overlapping area of their normals. Pairs with an empty frame are skipped.
    Returns ``(pitch_oas, duration_oas)``. Reference: Mittal et al. 2021, section 5.1.
    """
    if width < 1 or hop < 1:
        raise ValueError(f"framewise_overlaps: width and hop must be >= 1 bar, got width={width}, hop={hop}")
    starts = roll.bar_starts().astype(np.int64)
    count = (len(starts) - width) // hop + 1 if len(starts) >= width else 0
    if count < 2:
        return np.zeros(0), np.zeros(0)
    notes = pitched_notes(roll)
    bar = np.searchsorted(starts, notes["onset"].astype(np.int64), side="right") - 1
    pitches, lengths = notes["pitch"].astype(np.float64), note_lengths_in_beats(roll)
    frames: list[tuple[tuple[float, float], tuple[float, float]] | None] = []
    for k in range(count):
        inside = (bar >= k * hop) & (bar < k * hop + width)
        if not inside.any():
            frames.append(None)
            continue
        p, d = pitches[inside], lengths[inside]
        frames.append(((p.mean(), p.std() + 1e-6), (d.mean(), d.std() + 1e-6)))
    pitch_oas, duration_oas = [], []
    for first, second in itertools.pairwise(frames):
        if first is None or second is None:
            continue
        pitch_oas.append(_gaussian_overlap(first[0], second[0]))
        duration_oas.append(_gaussian_overlap(first[1], second[1]))
    return np.array(pitch_oas), np.array(duration_oas)


def consistency_variance(
    generated: Sequence[Roll], reference: Sequence[Roll], width: int = 4, hop: int = 2
) -> dict[str, float]:
    r"""Mittal et al.'s framewise consistency and variance of pitch and duration.

    The adjacent-frame overlapping areas (:func:`framewise_overlaps`) of all pieces of a set are pooled; with
    :math:`\mu, \sigma^2` their mean and variance over the generated set and :math:`\mu_{GT}, \sigma^2_{GT}`
    over the reference set:

    .. math::

        consistency = \max\left(0, 1 - \frac{|\mu - \mu_{GT}|}{\mu_{GT}}\right), \quad
        variance = \max\left(0, 1 - \frac{|\sigma^2 - \sigma^2_{GT}|}{\sigma^2_{GT}}\right)

    1 is best (the generated music changes from frame to frame as much, and as variably, as the real music).
    Returns ``pitch_consistency``, ``pitch_variance``, ``duration_consistency``, ``duration_variance`` and the
    pooled means and variances of each set; NaN when a set has no frame pair. Reference: Mittal et al. 2021,
    section 5.1 (the paper's frames are 4 bars with a 2-bar hop, the defaults here).
    """
    pooled: dict[str, dict[str, np.ndarray]] = {}
    for name, rolls in (("generated", generated), ("reference", reference)):
        pairs = [framewise_overlaps(r, width, hop) for r in rolls]
        pooled[name] = {
            "pitch": np.concatenate([p for p, _ in pairs]) if pairs else np.zeros(0),
            "duration": np.concatenate([d for _, d in pairs]) if pairs else np.zeros(0),
        }
    out: dict[str, float] = {}
    for quantity in ("pitch", "duration"):
        gen, ref = pooled["generated"][quantity], pooled["reference"][quantity]
        mean_g, var_g = (float(gen.mean()), float(gen.var())) if len(gen) else (math.nan, math.nan)
        mean_r, var_r = (float(ref.mean()), float(ref.var())) if len(ref) else (math.nan, math.nan)
        out[f"{quantity}_consistency"] = _relative_agreement(mean_g, mean_r)
        out[f"{quantity}_variance"] = _relative_agreement(var_g, var_r)
        out[f"{quantity}_oa_mean_generated"], out[f"{quantity}_oa_mean_reference"] = mean_g, mean_r
        out[f"{quantity}_oa_variance_generated"], out[f"{quantity}_oa_variance_reference"] = var_g, var_r
    return out


def _relative_agreement(value: float, target: float) -> float:
    """``max(0, 1 - |value - target| / target)``; NaN when either is NaN or the target is 0."""
    if not (math.isfinite(value) and math.isfinite(target)) or target == 0:
        return math.nan
    return max(0.0, 1.0 - abs(value - target) / target)


# ====================================================================== Fréchet distance
def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (negative eigenvalues, from rounding,
    are set to 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(x: np.ndarray, y: np.ndarray, ridge: float = FRECHET_RIDGE) -> float:
    r"""Fréchet distance between Gaussians fitted to the rows of ``x`` and of ``y``.

    .. math:: FD = \|\mu_x - \mu_y\|^2 + \mathrm{tr}\left(\Sigma_x + \Sigma_y
        - 2 \left(\Sigma_x^{1/2} \Sigma_y \Sigma_x^{1/2}\right)^{1/2}\right)

    The matrix square roots come from ``eigh`` of symmetric matrices (:math:`\Sigma_x^{1/2}`, then of the symmetric
    product), so no complex parts arise. ``ridge`` times the identity is added to both covariances, so few
    samples (fewer than dimensions: a singular covariance) still give a finite, stable value; it adds
    ``O(ridge * dims)`` at most. 0 for identical sets (up to rounding). Reference: Heusel et al. 2017.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"frechet_distance: need two (samples, dims) arrays of equal dims, got {x.shape}, {y.shape}")
    if len(x) == 0 or len(y) == 0:
        raise ValueError("frechet_distance: both sets need at least one sample")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("frechet_distance: the samples hold NaN or infinite values")
    dims = x.shape[1]
    cov_x = (np.cov(x, rowvar=False) if len(x) > 1 else np.zeros((dims, dims))).reshape(dims, dims)
    cov_y = (np.cov(y, rowvar=False) if len(y) > 1 else np.zeros((dims, dims))).reshape(dims, dims)
    cov_x = cov_x + ridge * np.eye(dims)
    cov_y = cov_y + ridge * np.eye(dims)
    root_x = _sqrt_psd(cov_x)
    middle = root_x @ cov_y @ root_x
    trace_root = float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum())
    diff = x.mean(axis=0) - y.mean(axis=0)
    value = float(diff @ diff + np.trace(cov_x) + np.trace(cov_y) - 2 * trace_root)
    return max(0.0, value)


def standardised_features(
    generated: np.ndarray, reference: np.ndarray, scale_from: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Feature matrices made ready for :func:`frechet_distance`: ``(generated, reference, kept_columns)``.

    Columns NaN in every piece of both sets are dropped; other NaNs (a feature undefined for a piece) become the
    column's mean over both sets. Then each column is centred and divided by its standard deviation over
    ``scale_from`` (by default both sets pooled; a column constant there is only centred), so no feature weighs
    more for its unit. Pooling keeps the scale stable for small sets: scaling by one small set's spread alone
    lets a histogram bin that set hardly uses dominate the distance. Pass a fixed ``scale_from`` (e.g. the whole
    reference set's matrix) to put evaluations of several models on one scale.
    """
    pooled = np.concatenate([generated, reference])
    kept = [i for i in range(pooled.shape[1]) if np.isfinite(pooled[:, i]).any()]
    gen, ref = generated[:, kept].copy(), reference[:, kept].copy()
    fill = _column_means(np.concatenate([gen, ref]))
    for matrix in (gen, ref):
        rows, cols = np.nonzero(~np.isfinite(matrix))
        matrix[rows, cols] = fill[cols]
    basis = np.concatenate([gen, ref]) if scale_from is None else np.asarray(scale_from, dtype=np.float64)[:, kept]
    if scale_from is not None:
        basis = np.where(np.isfinite(basis), basis, fill)
    mean = basis.mean(axis=0)
    std = basis.std(axis=0)
    scale = np.where(std > 1e-9, std, 1.0)
    return (gen - mean) / scale, (ref - mean) / scale, kept


def _column_means(matrix: np.ndarray) -> np.ndarray:
    """Each column's mean over its finite values (0 for a column with none)."""
    finite = np.isfinite(matrix)
    return np.where(finite, matrix, 0.0).sum(axis=0) / np.maximum(finite.sum(axis=0), 1)


def feature_frechet_distance(
    generated: Sequence[dict[str, Any]],
    reference: Sequence[dict[str, Any]],
    ridge: float = FRECHET_RIDGE,
    scale_from: Sequence[dict[str, Any]] | None = None,
) -> float:
    """Fréchet distance between two sets of pieces over their vectors of symbolic features (every scalar and every
    histogram bin of :data:`FEATURES`, standardised by :func:`standardised_features`, over both sets pooled or
    over the pieces ``scale_from``). Computed from the notes alone, it needs no trained embedding model (unlike
    FID-style metrics). It grows as sets get smaller (covariance estimates are noisy), so compare values only
    between sets of equal size. NaN when a set is empty."""
    if not generated or not reference:
        return float("nan")
    basis = feature_matrix(scale_from) if scale_from else None
    gen, ref, kept = standardised_features(feature_matrix(generated), feature_matrix(reference), basis)
    if not kept:
        return float("nan")
    return frechet_distance(gen, ref, ridge)


# ====================================================================== everything
def compare_features(
    generated: Sequence[dict[str, Any]], reference: Sequence[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per feature of :data:`FEATURES`: :func:`intra_inter` (``oa``, ``kl``, ``oa_generated``, ``kl_generated``),
    for scalars also ``oa_values`` (:func:`overlap_area` of the two sets' feature values, the OA Polyffusion
    reports) and each set's mean and standard deviation (NaN pieces left out)."""
    out: dict[str, dict[str, Any]] = {}
    for name in FEATURES:
        gen = np.array([np.asarray(f[name], dtype=np.float64) for f in generated])
        ref = np.array([np.asarray(f[name], dtype=np.float64) for f in reference])
        row: dict[str, Any] = {"kind": FEATURES[name].kind}
        row.update(intra_inter(gen, ref) if len(gen) and len(ref) else intra_inter(np.zeros(0), np.zeros(0)))
        if name in SCALAR_FEATURES:
            row["oa_values"] = overlap_area(gen, ref)
            for label, values in (("generated", gen), ("reference", ref)):
                finite = _finite(values)
                row[f"{label}_mean"] = float(finite.mean()) if len(finite) else math.nan
                row[f"{label}_std"] = float(finite.std()) if len(finite) else math.nan
        out[name] = row
    return out


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def compare_sets(
    generated: Sequence[Roll],
    reference: Sequence[Roll],
    *,
    generated_features: Sequence[dict[str, Any]] | None = None,
    reference_features: Sequence[dict[str, Any]] | None = None,
    width: int = 4,
    hop: int = 2,
    frechet_scale_from: Sequence[dict[str, Any]] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Every set-level comparison of generated pieces with reference pieces.

    Args:
        generated, reference: the two sets of Rolls (any grids and layouts: features are in beats).
        generated_features, reference_features: their :func:`~symdiff.metrics.features.piece_features`, when
            already computed (they are computed otherwise).
        width, hop: Mittal et al.'s frame and hop in bars.
        frechet_scale_from: piece features whose spread standardises the Fréchet distance's columns (default:
            both sets pooled; see :func:`standardised_features`).
        progress: show progress bars while computing features.

    Returns:
        a JSON-able dict: ``counts``; ``features`` (per feature, see :func:`compare_features`); ``mean_oa``,
        ``mean_kl`` (over every feature, of the reference-intra vs inter comparison), ``mean_oa_generated``,
        ``mean_kl_generated``, ``mean_oa_values`` (scalars only); ``framewise``
        (:func:`consistency_variance`); ``frechet_distance`` (:func:`feature_frechet_distance`).
    """
    if generated_features is None:
        generated_features = feature_table(generated, progress)
    if reference_features is None:
        reference_features = feature_table(reference, progress)
    if len(generated_features) != len(generated) or len(reference_features) != len(reference):
        raise ValueError("compare_sets: the precomputed features must have one entry per Roll of their set")
    features = compare_features(generated_features, reference_features)
    return {
        "counts": {"generated": len(generated), "reference": len(reference)},
        "features": features,
        "mean_oa": _nanmean([row["oa"] for row in features.values()]),
        "mean_kl": _nanmean([row["kl"] for row in features.values()]),
        "mean_oa_generated": _nanmean([row["oa_generated"] for row in features.values()]),
        "mean_kl_generated": _nanmean([row["kl_generated"] for row in features.values()]),
        "mean_oa_values": _nanmean([features[name]["oa_values"] for name in SCALAR_FEATURES]),
        "framewise": consistency_variance(generated, reference, width, hop),
        "frechet_distance": feature_frechet_distance(
            generated_features, reference_features, scale_from=frechet_scale_from
        ),
    }


__all__ = [
    "compare_features",
    "compare_sets",
    "consistency_variance",
    "feature_frechet_distance",
    "framewise_overlaps",
    "frechet_distance",
    "inter_set_distances",
    "intra_inter",
    "intra_set_distances",
    "kde_on_grid",
    "kde_pair",
    "kl_divergence",
    "overlap_area",
    "scott_bandwidth",
    "standardised_features",
]
