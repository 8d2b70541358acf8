"""Per-piece features on hand-built pieces whose answers are worked out by hand, on empty pieces, and on real files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from symdiff import Grid, Roll
from symdiff.metrics import FEATURES, feature_names, feature_vector, piece_features
from symdiff.metrics import features as F

from ..conftest import real_midi_files
from .conftest import make_roll

C_MAJOR = [60, 62, 64, 65, 67, 69, 71]


def c_major_scale(transpose: int = 0) -> Roll:
    """C D E F G A B as quarter notes (4 steps each) in two 4/4 bars; the eighth beat is silent."""
    return make_roll([(4 * i, 4, p + transpose) for i, p in enumerate(C_MAJOR)], 32)


def test_c_major_scale() -> None:
    f = piece_features(c_major_scale())
    assert f["scale_consistency"] == 1.0
    assert f["pitch_class_entropy"] == pytest.approx(math.log2(7))
    assert f["pitch_range"] == 11
    assert f["pitches_used"] == 7
    assert f["polyphony"] == 1.0 and f["polyphony_rate"] == 0.0
    assert f["note_density"] == 3.5  # 7 notes in 2 bars
    assert f["empty_beat_rate"] == pytest.approx(1 / 8)
    assert f["groove_consistency"] == pytest.approx(1 - 1 / 16)  # bar 2 lacks the onset on its last beat
    assert f["mean_ioi"] == 1.0 and f["mean_note_length"] == 1.0
    assert math.isnan(f["drum_pattern_consistency"])  # no drums
    np.testing.assert_allclose(f["pitch_class_histogram"][[0, 2, 4, 5, 7, 9, 11]], 1 / 7)
    assert f["pitch_class_histogram"][[1, 3, 6, 8, 10]].sum() == 0
    quarter = F.NOTE_LENGTH_NAMES.index("quarter")
    assert f["note_length_histogram"][quarter] == 1.0 and f["ioi_histogram"][quarter] == 1.0
    intervals = f["pitch_interval_histogram"]  # +2 +2 +1 +2 +2 +2
    assert intervals[F.MAX_INTERVAL + 2] == pytest.approx(5 / 6) and intervals[F.MAX_INTERVAL + 1] == pytest.approx(
        1 / 6
    )
    assert f["velocity_histogram"][6] == 1.0  # velocity 100 is in 97-112


def test_scale_and_entropy_are_transposition_invariant_and_chromatic_music_is_not_diatonic() -> None:
    assert piece_features(c_major_scale(3))["scale_consistency"] == 1.0  # E-flat major
    chromatic = make_roll([(2 * i, 2, 60 + i) for i in range(12)], 32)
    f = piece_features(chromatic)
    assert f["scale_consistency"] == pytest.approx(7 / 12)
    assert f["pitch_class_entropy"] == pytest.approx(math.log2(12))
    assert f["pitch_interval_histogram"][F.MAX_INTERVAL + 1] == 1.0
    one_pitch = make_roll([(0, 4, 60), (8, 4, 72)], 16)
    assert piece_features(one_pitch)["pitch_class_entropy"] == 0.0


def test_groove_consistency() -> None:
    # four bars, the same rhythm (different pitches) in each: 1.0
    rhythm = [0, 2, 4, 8, 12]
    steady = make_roll([(16 * bar + s, 2, 60 + bar + i) for bar in range(4) for i, s in enumerate(rhythm)], 64)
    assert F.groove_consistency(steady) == 1.0
    # bars alternating on-beat and off-beat quarters: each pair differs in 8 of 16 positions
    alternating = make_roll([(16 * bar + 4 * k + 2 * (bar % 2), 1, 60) for bar in range(4) for k in range(4)], 64)
    assert F.groove_consistency(alternating) == pytest.approx(0.5)
    # 3/4 bars of 12 steps: the bar length follows the meter
    waltz = make_roll([(12 * bar + s, 2, 55) for bar in range(4) for s in (0, 4, 8)], 48, meter=(3, 4))
    assert F.groove_consistency(waltz) == 1.0
    assert math.isnan(F.groove_consistency(make_roll([(0, 4, 60)], 16)))  # one bar


def test_polyphony_counts_pitches_once_and_ignores_drums() -> None:
    # a C major triad for one bar, then a silent bar
    triad = make_roll([(0, 16, 60), (0, 16, 64), (0, 16, 67)], 32)
    assert F.polyphony(triad) == 3.0
    assert F.polyphony_rate(triad) == 0.5
    assert F.empty_beat_rate(triad) == 0.5
    # lpd5: Drums 0, Piano 1, Guitar 2; piano and guitar on one pitch count once; drums never count
    doubled = make_roll([(0, 8, 60, 1), (0, 8, 60, 2), (0, 8, 36, 0), (8, 8, 38, 0)], 16, layout="lpd5")
    f = piece_features(doubled)
    assert f["polyphony"] == 1.0 and f["polyphony_rate"] == 0.0
    assert f["pitch_range"] == 0 and f["pitches_used"] == 1  # drum notes are not pitches
    assert f["empty_beat_rate"] == 0.0  # the drum hit fills the second half
    assert f["note_density"] == 4.0  # notes of every track, drums included, in one bar


def test_drum_pattern_consistency_on_a_12_step_grid() -> None:
    def drums(positions: list[int]) -> Roll:
        onsets = [12 * beat + p for beat in range(4) for p in positions]
        return make_roll([(o, 1, 36, 0) for o in onsets], 48, layout="lpd5", steps_per_beat=12)

    assert F.drum_pattern_consistency(drums([0, 6])) == 1.0  # eighths: duple
    assert F.drum_pattern_consistency(drums([0, 3, 6, 9])) == 1.0  # sixteenths: duple
    assert F.drum_pattern_consistency(drums([0, 4, 8])) == 1.0  # triplets: triple
    assert F.drum_pattern_consistency(drums([0, 4, 6])) == pytest.approx(2 / 3)  # max(duple 2/3, triple 2/3)
    assert F.drum_pattern_consistency(drums([0, 1, 5, 7])) == pytest.approx(1 / 4)
    assert math.isnan(F.drum_pattern_consistency(c_major_scale()))


def test_empty_rolls_give_nan_not_errors() -> None:
    for roll in (make_roll([], 0), make_roll([], 64)):
        f = piece_features(roll)
        assert set(f) == set(FEATURES)
        assert f["pitches_used"] == 0
        for name in ("pitch_class_entropy", "pitch_range", "polyphony", "scale_consistency", "mean_ioi"):
            assert math.isnan(f[name]), name
        for name in F.HISTOGRAM_FEATURES:
            assert np.isnan(f[name]).all() and len(f[name]) == len(FEATURES[name].bins)
    silent = piece_features(make_roll([], 64))
    assert silent["empty_beat_rate"] == 1.0 and silent["polyphony_rate"] == 0.0 and silent["note_density"] == 0
    assert silent["groove_consistency"] == 1.0  # four identical (empty) bars
    assert math.isnan(piece_features(make_roll([], 0))["empty_beat_rate"])


def test_window_notes_that_began_before_the_window_are_left_out() -> None:
    piece = make_roll([(0, 8, 60), (8, 8, 62), (16, 8, 64)], 32)
    window = piece.slice(4, 32)  # the first note now starts at -4
    assert F.pitches_used(window) == 2
    assert F.mean_note_length(window) == 2.0


def test_a_seconds_grid_measures_beats_through_the_tempo_map() -> None:
    # 100 frames per second at 120 qpm: a beat is 50 frames
    roll = make_roll([(50 * i, 50, p) for i, p in enumerate(C_MAJOR)], 400, grid=Grid(frames_per_second=100))
    f = piece_features(roll)
    assert f["mean_note_length"] == pytest.approx(1.0) and f["mean_ioi"] == pytest.approx(1.0)
    assert f["empty_beat_rate"] == pytest.approx(1 / 8)
    assert f["note_density"] == 3.5


def test_registry_and_vectors_are_consistent(corpus: dict[str, list[Roll]]) -> None:
    assert all(f.kind in ("scalar", "histogram") and f.description for f in FEATURES.values())
    f = piece_features(corpus["bach"][0])
    vector = feature_vector(f)
    assert len(vector) == len(feature_names())
    for name in F.HISTOGRAM_FEATURES:
        assert f[name].sum() == pytest.approx(1.0)
    # a chorale: four voices, diatonic
    assert 3.5 < f["polyphony"] <= 4.0 and f["scale_consistency"] > 0.9
    tune = piece_features(corpus["essen"][0])
    assert tune["polyphony"] == 1.0 and tune["polyphony_rate"] == 0.0


def test_real_files_give_values_in_range() -> None:
    files = real_midi_files("lakh")[:6] + real_midi_files("other")[:6]
    if not files:
        pytest.skip("the real MIDI corpus (../shared/midi) is not here")
    for path in files:
        f = piece_features(Roll.from_midi(path, layout="gm", steps_per_beat=12))
        for name in ("polyphony_rate", "empty_beat_rate", "scale_consistency", "groove_consistency"):
            assert math.isnan(f[name]) or 0.0 <= f[name] <= 1.0, (path.name, name, f[name])
        assert math.isnan(f["pitch_class_entropy"]) or 0.0 <= f["pitch_class_entropy"] <= math.log2(12) + 1e-9
        for name in F.HISTOGRAM_FEATURES:
            assert np.isnan(f[name]).all() or f[name].sum() == pytest.approx(1.0), (path.name, name)
