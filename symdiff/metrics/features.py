"""Per-piece features of a :class:`~symdiff.Roll`: the numbers generated music is compared to real music by.

Each feature is a small pure function of a Roll returning a float (a *scalar*) or a fixed-length probability
vector (a *histogram*); :data:`FEATURES` lists them all and :func:`piece_features` computes every one.

Conventions (they follow MusPy, Dong et al. 2020, unless a docstring says otherwise):

- Only notes that start inside the Roll (``0 <= onset < length``) count; notes that began before a window starts
  (negative onsets) are left out, and notes running past the end are cut there.
- *Pitch* features ignore drum tracks (``layout.tracks[i].is_drum``); *rhythm* features (groove, empty beats,
  inter-onset intervals, note density, velocity) use every track; drum-pattern consistency uses only drums.
- Times are measured in beats (quarter notes), through the Roll's grid and tempo map, so pieces on different
  grids (12 or 4 steps per beat, or a seconds grid) compare; bars follow the time signatures
  (:meth:`Roll.bar_starts`).
- A feature that is undefined for a piece (an empty Roll, no pitched notes, a single bar, no drums) is ``NaN``
  (a histogram: a vector of ``NaN``); set comparisons drop such pieces for that feature.

References:
    Dong, Chen, Dong, Yang. "MusPy: A Toolkit for Symbolic Music Generation", ISMIR 2020.
    Yang, Lerch. "On the evaluation of generative models in music", Neural Computing and Applications 32, 2020.
    Wu, Yang. "The Jazz Transformer on the Front Line: Exploring the Shortcomings of AI-composed Music through
    Quantitative Measures", ISMIR 2020.
    Dong, Hsiao, Yang, Yang. "MuseGAN: Multi-track Sequential Generative Adversarial Networks for Symbolic Music
    Generation and Accompaniment", AAAI 2018.
    Mogren. "C-RNN-GAN: Continuous recurrent neural networks with adversarial training", NeurIPS Workshop on
    Constructive Machine Learning, 2016.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..progress import progress_bar

if TYPE_CHECKING:
    from ..roll import Roll

#: the 12 note-length classes of Yang & Lerch (2020), in beats (quarter notes), shortest first, and their names
NOTE_LENGTH_CLASSES: tuple[float, ...] = (1 / 4, 1 / 3, 3 / 8, 1 / 2, 2 / 3, 3 / 4, 1.0, 4 / 3, 3 / 2, 2.0, 3.0, 4.0)
NOTE_LENGTH_NAMES: tuple[str, ...] = (
    "16th",
    "8th triplet",
    "dotted 16th",
    "8th",
    "quarter triplet",
    "dotted 8th",
    "quarter",
    "half triplet",
    "dotted quarter",
    "half",
    "dotted half",
    "whole",
)
#: melodic intervals counted by :func:`pitch_interval_histogram`: -MAX_INTERVAL..MAX_INTERVAL semitones
MAX_INTERVAL = 12
#: edges of the 8 velocity bins: [1, 17), [17, 33), ..., [113, 128)
VELOCITY_EDGES: tuple[int, ...] = (1, 17, 33, 49, 65, 81, 97, 113, 128)

_MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=bool)  # C major
_MINOR = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], dtype=bool)  # C natural minor
#: the 24 major and natural-minor scales as a (24, 12) mask: rows 0-11 major on C..B, rows 12-23 minor on C..B
SCALES: np.ndarray = np.stack([np.roll(_MAJOR, k) for k in range(12)] + [np.roll(_MINOR, k) for k in range(12)])


# ====================================================================== note selections
def _drum_mask(roll: Roll) -> np.ndarray:
    """Per note: whether it is on a drum track."""
    is_drum = np.array([t.is_drum for t in roll.layout.tracks], dtype=bool)
    return is_drum[roll.notes["track"]]


def _inside(roll: Roll) -> np.ndarray:
    """Per note: whether it starts inside the Roll (``0 <= onset < length``)."""
    onset = roll.notes["onset"]
    return (onset >= 0) & (onset < roll.length)


def pitched_notes(roll: Roll) -> np.ndarray:
    """The notes of pitched (non-drum) tracks that start inside the Roll."""
    return roll.notes[_inside(roll) & ~_drum_mask(roll)]


def drum_notes(roll: Roll) -> np.ndarray:
    """The notes of drum tracks that start inside the Roll."""
    return roll.notes[_inside(roll) & _drum_mask(roll)]


def all_notes(roll: Roll) -> np.ndarray:
    """Every note that starts inside the Roll."""
    return roll.notes[_inside(roll)]


def _quarters(roll: Roll, steps: np.ndarray) -> np.ndarray:
    """Beats (quarter notes) from the start at each step."""
    return np.asarray(roll.grid.quarters(np.asarray(steps, dtype=np.float64), roll.tempos), dtype=np.float64)


def _ends(roll: Roll, notes: np.ndarray) -> np.ndarray:
    """Each note's end step, cut at the end of the Roll."""
    return np.minimum(notes["onset"].astype(np.int64) + notes["duration"], roll.length)


def _normalised(counts: np.ndarray) -> np.ndarray:
    """``counts / counts.sum()``, or NaNs when there is nothing to count."""
    total = counts.sum()
    if total <= 0:
        return np.full(len(counts), np.nan)
    return counts.astype(np.float64) / total


def _entropy_bits(probabilities: np.ndarray) -> float:
    """Shannon entropy in bits, ``-sum p log2 p`` (terms with p = 0 are 0)."""
    p = probabilities[probabilities > 0]
    return float(-(p * np.log2(p)).sum()) if len(p) else float("nan")


def length_classes(beats: np.ndarray) -> np.ndarray:
    """The index in :data:`NOTE_LENGTH_CLASSES` nearest to each length (nearest on a log scale, so a note longer
    than a whole note counts as a whole note and one shorter than a 16th as a 16th)."""
    beats = np.asarray(beats, dtype=np.float64)
    classes = np.log2(np.array(NOTE_LENGTH_CLASSES))
    return np.abs(np.log2(np.maximum(beats, 1e-9))[:, None] - classes[None, :]).argmin(axis=1)


# ====================================================================== pitch
def pitch_class_histogram(roll: Roll) -> np.ndarray:
    r"""Pitch-class histogram: the fraction of pitched notes on each pitch class C, C#, ..., B.

    .. math:: PCH_i = \#\{notes: pitch \bmod 12 = i\} / \#notes

    Reference: Yang & Lerch 2020 (PCH). Drums ignored; NaNs without pitched notes.
    """
    pitches = pitched_notes(roll)["pitch"].astype(np.int64)
    return _normalised(np.bincount(pitches % 12, minlength=12))


def pitch_class_entropy(roll: Roll) -> float:
    r"""Pitch-class entropy in bits: the Shannon entropy of the pitch-class histogram.

    .. math:: H = -\sum_{i=0}^{11} PCH_i \log_2 PCH_i

    0 for a piece on one pitch class, log2(7) = 2.81 for equal use of a diatonic scale, log2(12) = 3.58 at most.
    Reference: Wu & Yang 2020; MusPy ``pitch_class_entropy``. NaN without pitched notes.
    """
    return _entropy_bits(pitch_class_histogram(roll))


def pitch_range(roll: Roll) -> float:
    """Pitch range in semitones: highest minus lowest pitched note.

    Reference: MusPy ``pitch_range``; Yang & Lerch 2020 (PR). NaN without pitched notes (MusPy returns 0).
    """
    pitches = pitched_notes(roll)["pitch"]
    return float(int(pitches.max()) - int(pitches.min())) if len(pitches) else float("nan")


def pitches_used(roll: Roll) -> float:
    """Number of distinct pitches used by pitched notes (0 for none).

    Reference: MusPy ``n_pitches_used``; Yang & Lerch 2020 (PC, pitch count).
    """
    return float(len(np.unique(pitched_notes(roll)["pitch"])))


def _sounding_counts(roll: Roll) -> np.ndarray:
    """Per step, the number of distinct pitches sounding on pitched tracks (a pitch held on two tracks counts once,
    as in MusPy's piano roll)."""
    notes = pitched_notes(roll)
    length = roll.length
    if length == 0:
        return np.zeros(0, dtype=np.int64)
    # the union of each pitch's intervals (tracks may overlap on a pitch): offset each pitch onto its own stretch
    # of one long time line, sort, and merge intervals that touch a running maximum of ends
    offset = notes["pitch"].astype(np.int64) * (length + 1)
    start = offset + notes["onset"].astype(np.int64)
    stop = offset + _ends(roll, notes)
    order = np.argsort(start, kind="stable")
    start, stop = start[order], stop[order]
    reach = np.maximum.accumulate(stop) if len(stop) else stop
    new = np.r_[True, start[1:] > reach[:-1]] if len(start) else np.zeros(0, dtype=bool)
    first = np.flatnonzero(new)
    merged_start = start[first]
    merged_stop = reach[np.r_[first[1:] - 1, len(start) - 1]] if len(first) else reach[:0]
    base = (merged_start // (length + 1)) * (length + 1)
    delta = np.zeros(length + 1, dtype=np.int64)
    np.add.at(delta, merged_start - base, 1)
    np.add.at(delta, merged_stop - base, -1)
    return np.cumsum(delta[:-1])


def polyphony(roll: Roll) -> float:
    r"""Polyphony: the mean number of pitches sounding at once, over the steps where at least one sounds.

    .. math:: polyphony = \frac{\sum_t n_t}{\#\{t: n_t > 0\}}, \quad n_t = \#\text{pitches sounding at step } t

    Reference: MusPy ``polyphony``. Drums ignored; NaN when nothing sounds.
    """
    counts = _sounding_counts(roll)
    active = np.count_nonzero(counts)
    return float(counts.sum() / active) if active else float("nan")


def polyphony_rate(roll: Roll, threshold: int = 2) -> float:
    r"""Polyphony rate: the fraction of all steps where at least ``threshold`` pitches sound.

    .. math:: polyphony\_rate = \#\{t: n_t \ge threshold\} / \#steps

    Reference: MuseGAN (Dong et al. 2018, "polyphonicity"); MusPy ``polyphony_rate`` (whose code counts
    ``n_t > threshold``; here ``>=``, so the default 2 means "more than one pitch"). Drums ignored; NaN for an
    empty (zero-length) Roll.
    """
    if threshold < 1:
        raise ValueError(f"polyphony_rate: threshold must be >= 1 pitch, got {threshold}")
    counts = _sounding_counts(roll)
    return float(np.count_nonzero(counts >= threshold) / len(counts)) if len(counts) else float("nan")


def scale_consistency(roll: Roll) -> float:
    r"""Scale consistency: the largest fraction of pitched notes inside one of the 24 major and natural-minor scales.

    .. math:: scale\_consistency = \max_{root, mode} \#\{notes \in scale(root, mode)\} / \#notes

    1.0 for a diatonic piece. Reference: Mogren 2016 (C-RNN-GAN); MusPy ``scale_consistency``. NaN without
    pitched notes.
    """
    pitches = pitched_notes(roll)["pitch"].astype(np.int64)
    if len(pitches) == 0:
        return float("nan")
    counts = np.bincount(pitches % 12, minlength=12)
    return float((SCALES.astype(np.int64) @ counts).max() / len(pitches))


def pitch_interval_histogram(roll: Roll) -> np.ndarray:
    """Melodic-interval histogram: the fraction of intervals of -12..+12 semitones between consecutive notes of
    each pitched track (25 bins, larger leaps clipped to ±12).

    In a polyphonic track the melody is its top line: the highest pitch at each onset. Intervals are taken within
    a track, never across tracks. Reference: Yang & Lerch 2020 (pitch interval, PI). NaNs when no track has two
    onsets.
    """
    notes = pitched_notes(roll)  # sorted by (track, onset, pitch)
    if len(notes) < 2:
        return np.full(2 * MAX_INTERVAL + 1, np.nan)
    key = notes["track"].astype(np.int64) << 32 | (notes["onset"].astype(np.int64) & 0xFFFFFFFF)
    last_of_onset = np.r_[key[1:] != key[:-1], True]  # the highest pitch of each (track, onset)
    top = notes[last_of_onset]
    same_track = top["track"][1:] == top["track"][:-1]
    intervals = np.diff(top["pitch"].astype(np.int64))[same_track]
    intervals = np.clip(intervals, -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
    return _normalised(np.bincount(intervals, minlength=2 * MAX_INTERVAL + 1))


# ====================================================================== rhythm
def note_density(roll: Roll) -> float:
    """Note density: notes (every track) per bar, bars following the time signatures (an incomplete last bar counts
    as a bar).

    Reference: a standard texture statistic (e.g. the note density of Wu & Yang 2020's analysis). NaN for an
    empty (zero-length) Roll.
    """
    if roll.length == 0:
        return float("nan")
    return float(len(all_notes(roll)) / roll.num_bars)


def empty_beat_rate(roll: Roll) -> float:
    r"""Empty-beat rate: the fraction of beats in which no note (of any track) sounds.

    .. math:: empty\_beat\_rate = \#\{empty\ beats\} / \#beats

    A note sounding in ``[onset, end)`` fills every beat it overlaps; the beats are those of the Roll's length
    (rounded up). Reference: Pypianoroll / MusPy ``empty_beat_rate`` (which also counts a beat a note ends on
    exactly). NaN for an empty (zero-length) Roll.
    """
    if roll.length == 0:
        return float("nan")
    beats = int(np.ceil(_quarters(roll, np.array([roll.length]))[0] - 1e-9))
    if beats <= 0:
        return float("nan")
    notes = all_notes(roll)
    first = np.floor(_quarters(roll, notes["onset"]) + 1e-9).astype(np.int64)
    last = np.ceil(_quarters(roll, _ends(roll, notes)) - 1e-9).astype(np.int64)  # exclusive
    delta = np.zeros(beats + 1, dtype=np.int64)
    np.add.at(delta, np.clip(first, 0, beats), 1)
    np.add.at(delta, np.clip(last, 0, beats), -1)
    filled = np.cumsum(delta[:-1]) > 0
    return float(1.0 - filled.sum() / beats)


def groove_consistency(roll: Roll) -> float:
    r"""Groove consistency: one minus the mean Hamming distance between the onset patterns of consecutive bars.

    .. math:: groove = 1 - \frac{1}{T-1} \sum_{i=1}^{T-1} \frac{d(G_i, G_{i+1})}{L_i}

    ``G_i`` is the binary vector of the grid positions of bar ``i`` where some note (any track) starts, ``d`` the
    Hamming distance, ``L_i`` the longer of the two bars in steps (bars of different lengths, at a meter change or
    an incomplete last bar, are compared with the shorter padded with silence). 1.0 when every bar has the same
    rhythm. On a seconds grid positions are frames, so the measure only means something for steady tempi.
    Reference: Wu & Yang 2020; MusPy ``groove_consistency`` (which assumes one fixed bar length). NaN for fewer
    than two bars.
    """
    if roll.length == 0:
        return float("nan")
    starts = roll.bar_starts().astype(np.int64)
    if len(starts) < 2:
        return float("nan")
    edges = np.r_[starts, roll.length]
    bar_length = np.diff(edges)
    onsets = np.unique(all_notes(roll)["onset"].astype(np.int64))
    bar = np.searchsorted(starts, onsets, side="right") - 1
    position = onsets - starts[bar]
    per_bar = np.bincount(bar, minlength=len(starts))
    code = bar * (1 << 32) + position
    # positions of bar i that bar i + 1 shares
    shared = np.isin(code + (1 << 32), code)
    common = np.bincount(bar[shared], minlength=len(starts))[:-1]
    hamming = per_bar[:-1] + per_bar[1:] - 2 * common
    longer = np.maximum(bar_length[:-1], bar_length[1:])
    return float(1.0 - np.mean(hamming / longer))


def _drum_pattern(resolution: int, meter: str) -> np.ndarray:
    """MusPy's drum pattern: which positions of a beat of ``resolution`` steps a drum hit belongs on."""
    pattern = np.zeros(resolution, dtype=bool)
    pattern[0] = True
    if meter == "duple":
        if resolution % 4 == 0:
            pattern[:: resolution // 4] = True
        if resolution % 2 == 0:
            pattern[:: resolution // 2] = True
    elif resolution % 3 == 0:  # triple
        pattern[:: resolution // 3] = True
    return pattern


def drum_pattern_consistency(roll: Roll) -> float:
    r"""Drum-pattern consistency: the larger of the duple and triple drum-in-pattern rates.

    .. math:: drum\_pattern\_consistency = \max_{m} \#\{hits\ on\ pattern(m)\} / \#hits, \quad m \in \{duple, triple\}

    The duple pattern is the beat's 8th and 16th positions, the triple one its 8th-triplet positions (MusPy's
    ``_get_drum_pattern`` with the beat's resolution: ``steps_per_beat`` on a beat grid; on a seconds grid the
    position in the beat is rounded to 1/12 beat). At 4 steps per beat every position is on the duple pattern, so
    the value is 1 there by construction. Reference: MuseGAN (Dong et al. 2018); MusPy
    ``drum_pattern_consistency``. NaN without drum notes.
    """
    notes = drum_notes(roll)
    if len(notes) == 0:
        return float("nan")
    if roll.grid.steps_per_beat is not None:
        resolution = roll.grid.steps_per_beat
        position = notes["onset"].astype(np.int64) % resolution
    else:
        resolution = 12
        position = np.floor(np.mod(_quarters(roll, notes["onset"]), 1.0) * resolution + 0.5).astype(np.int64)
        position %= resolution
    rates = [float(_drum_pattern(resolution, meter)[position].mean()) for meter in ("duple", "triple")]
    return max(rates)


def _onset_beats(roll: Roll) -> np.ndarray:
    """The distinct onset times (every track) in beats, in order."""
    return _quarters(roll, np.unique(all_notes(roll)["onset"]))


def mean_ioi(roll: Roll) -> float:
    """Mean inter-onset interval in beats: the mean time between consecutive distinct onset times (every track;
    notes starting together count once).

    Reference: Yang & Lerch 2020 (average inter-onset interval, IOI). NaN with fewer than two onset times.
    """
    onsets = _onset_beats(roll)
    return float(np.diff(onsets).mean()) if len(onsets) >= 2 else float("nan")


def ioi_histogram(roll: Roll) -> np.ndarray:
    """Inter-onset-interval histogram over the 12 note-length classes of :data:`NOTE_LENGTH_CLASSES` (each
    interval goes to the nearest class on a log scale).

    Reference: Yang & Lerch 2020 (IOI, binned as their note-length histogram). NaNs with fewer than two onsets.
    """
    onsets = _onset_beats(roll)
    if len(onsets) < 2:
        return np.full(len(NOTE_LENGTH_CLASSES), np.nan)
    return _normalised(np.bincount(length_classes(np.diff(onsets)), minlength=len(NOTE_LENGTH_CLASSES)))


def note_lengths_in_beats(roll: Roll) -> np.ndarray:
    """The length of each pitched note in beats (cut at the end of the Roll)."""
    notes = pitched_notes(roll)
    return _quarters(roll, _ends(roll, notes)) - _quarters(roll, notes["onset"])


def mean_note_length(roll: Roll) -> float:
    """Mean length of the pitched notes in beats (drum hits have no meaningful length and are left out).

    Reference: Yang & Lerch 2020 (note length). NaN without pitched notes.
    """
    lengths = note_lengths_in_beats(roll)
    return float(lengths.mean()) if len(lengths) else float("nan")


def note_length_histogram(roll: Roll) -> np.ndarray:
    """Note-length histogram: the fraction of pitched notes in each of the 12 classes of
    :data:`NOTE_LENGTH_CLASSES` (16th ... whole, with dotted and triplet values), nearest class on a log scale.

    Reference: Yang & Lerch 2020 (note length histogram, NLH; they assign by the nearest class too). NaNs without
    pitched notes.
    """
    lengths = note_lengths_in_beats(roll)
    if len(lengths) == 0:
        return np.full(len(NOTE_LENGTH_CLASSES), np.nan)
    return _normalised(np.bincount(length_classes(lengths), minlength=len(NOTE_LENGTH_CLASSES)))


def velocity_histogram(roll: Roll) -> np.ndarray:
    """Velocity histogram: the fraction of notes (every track) in each of 8 velocity bins over 1..127
    (:data:`VELOCITY_EDGES`: 1-16, 17-32, ..., 113-127).

    Reference: a dynamics statistic in the style of Yang & Lerch 2020's histograms. NaNs without notes.
    """
    velocity = all_notes(roll)["velocity"].astype(np.int64)
    if len(velocity) == 0:
        return np.full(len(VELOCITY_EDGES) - 1, np.nan)
    counts, _ = np.histogram(velocity, bins=np.array(VELOCITY_EDGES))
    return _normalised(counts)


# ====================================================================== registry
@dataclass(frozen=True)
class Feature:
    """One feature of :data:`FEATURES`.

    Attributes:
        name: its key in :func:`piece_features`.
        kind: ``"scalar"`` (a float) or ``"histogram"`` (a probability vector of ``len(bins)``).
        description: one line: what it measures, its unit and when it is NaN.
        function: ``Roll -> float | np.ndarray``.
        bins: names of a histogram's bins (empty for scalars).
    """

    name: str
    kind: str
    description: str
    function: Callable[[Roll], float | np.ndarray]
    bins: tuple[str, ...] = ()


_PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_VELOCITY_BINS = tuple(f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(VELOCITY_EDGES))

#: every feature :func:`piece_features` computes, by name
FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature(
            "pitch_class_entropy",
            "scalar",
            "entropy of the pitch-class histogram, bits (0..3.58); NaN without pitched notes",
            pitch_class_entropy,
        ),
        Feature(
            "pitch_range", "scalar", "highest minus lowest pitch, semitones; NaN without pitched notes", pitch_range
        ),
        Feature("pitches_used", "scalar", "number of distinct pitches (drums ignored)", pitches_used),
        Feature(
            "polyphony",
            "scalar",
            "mean number of pitches sounding together, over steps where one sounds; NaN when none sounds",
            polyphony,
        ),
        Feature(
            "polyphony_rate",
            "scalar",
            "fraction of steps where two or more pitches sound; NaN for an empty Roll",
            polyphony_rate,
        ),
        Feature("note_density", "scalar", "notes per bar (every track); NaN for an empty Roll", note_density),
        Feature(
            "empty_beat_rate",
            "scalar",
            "fraction of beats where nothing sounds; NaN for an empty Roll",
            empty_beat_rate,
        ),
        Feature(
            "scale_consistency",
            "scalar",
            "largest fraction of notes in one major/minor scale; NaN without pitched notes",
            scale_consistency,
        ),
        Feature(
            "groove_consistency",
            "scalar",
            "1 - mean Hamming distance of consecutive bars' onset patterns; NaN under two bars",
            groove_consistency,
        ),
        Feature(
            "drum_pattern_consistency",
            "scalar",
            "largest fraction of drum hits on the duple or triple pattern; NaN without drums",
            drum_pattern_consistency,
        ),
        Feature(
            "mean_ioi",
            "scalar",
            "mean time between consecutive onset times, beats; NaN under two onsets",
            mean_ioi,
        ),
        Feature(
            "mean_note_length",
            "scalar",
            "mean pitched note length, beats; NaN without pitched notes",
            mean_note_length,
        ),
        Feature(
            "pitch_class_histogram",
            "histogram",
            "fraction of pitched notes per pitch class",
            pitch_class_histogram,
            _PITCH_CLASSES,
        ),
        Feature(
            "note_length_histogram",
            "histogram",
            "fraction of pitched notes per note-length class (16th..whole)",
            note_length_histogram,
            NOTE_LENGTH_NAMES,
        ),
        Feature(
            "ioi_histogram",
            "histogram",
            "fraction of inter-onset intervals per note-length class",
            ioi_histogram,
            NOTE_LENGTH_NAMES,
        ),
        Feature(
            "pitch_interval_histogram",
            "histogram",
            "fraction of melodic intervals per size, -12..+12 semitones (top line of each track)",
            pitch_interval_histogram,
            tuple(f"{i:+d}" for i in range(-MAX_INTERVAL, MAX_INTERVAL + 1)),
        ),
        Feature(
            "velocity_histogram",
            "histogram",
            "fraction of notes per velocity bin (8 bins over 1..127)",
            velocity_histogram,
            _VELOCITY_BINS,
        ),
    )
}

SCALAR_FEATURES: tuple[str, ...] = tuple(name for name, f in FEATURES.items() if f.kind == "scalar")
HISTOGRAM_FEATURES: tuple[str, ...] = tuple(name for name, f in FEATURES.items() if f.kind == "histogram")


def piece_features(roll: Roll) -> dict[str, float | np.ndarray]:
    """Every feature of :data:`FEATURES` for one piece: floats for scalars, float64 vectors for histograms.

    Never raises on an empty Roll: undefined features are NaN (see each feature's description).
    """
    return {name: feature.function(roll) for name, feature in FEATURES.items()}


def feature_table(rolls: Sequence[Roll], progress: bool = False) -> list[dict[str, float | np.ndarray]]:
    """:func:`piece_features` of each Roll, in order."""
    bar = progress_bar(len(rolls), progress, "features", "piece")
    out = []
    for roll in rolls:
        out.append(piece_features(roll))
        bar.update()
    bar.close()
    return out


def feature_names() -> list[str]:
    """The column names of :func:`feature_vector`: each scalar, then each histogram bin as ``name[bin]``."""
    names = list(SCALAR_FEATURES)
    for name in HISTOGRAM_FEATURES:
        names += [f"{name}[{b}]" for b in FEATURES[name].bins]
    return names


def feature_vector(features: dict[str, float | np.ndarray]) -> np.ndarray:
    """One piece's features as a flat float64 vector (the scalars, then the histograms; see
    :func:`feature_names`); NaNs stay NaN."""
    scalars = np.array([float(features[name]) for name in SCALAR_FEATURES], dtype=np.float64)
    histograms = [np.asarray(features[name], dtype=np.float64) for name in HISTOGRAM_FEATURES]
    return np.concatenate([scalars, *histograms])


def feature_matrix(features: Sequence[dict[str, float | np.ndarray]]) -> np.ndarray:
    """``(pieces, columns)`` matrix of :func:`feature_vector` rows (columns: :func:`feature_names`)."""
    if not features:
        return np.zeros((0, len(feature_names())))
    return np.stack([feature_vector(f) for f in features])
