"""Memorisation: copied windows (transposed, altered) are found in a training set of real pieces and named; fresh
music is not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from symdiff import Roll, RollDataset, prepare
from symdiff.data.sources import FolderSource
from symdiff.metrics import TrainingIndex

from .conftest import make_roll

TRAIN = 8  # pieces of each style in the training set; the rest of the corpus fixture is fresh material


@pytest.fixture(scope="module")
def training(corpus: dict[str, list[Roll]]) -> tuple[list[Roll], list[str]]:
    rolls = corpus["bach"][:TRAIN] + corpus["essen"][:TRAIN]
    return rolls, [r.metadata["piece_id"] for r in rolls]


@pytest.fixture(scope="module")
def index(training: tuple[list[Roll], list[str]]) -> TrainingIndex:
    rolls, ids = training
    return TrainingIndex.build(rolls, bars=4, ids=ids)


def named(roll: Roll, name: str) -> Roll:
    return replace(roll, metadata={**roll.metadata, "piece_id": name})


def test_a_transposed_copy_inside_fresh_music_is_found_and_named(
    corpus: dict[str, list[Roll]], training: tuple[list[Roll], list[str]], index: TrainingIndex
) -> None:
    rolls, ids = training
    fresh = corpus["essen"][TRAIN + 1]
    source = rolls[3]
    copied = source.bars(2, 6).transpose(3)
    generated = Roll.concatenate([fresh.bars(0, 4), copied, fresh.bars(4, 8)])
    report = index.check([named(generated, "with a copy"), *corpus["bach"][TRAIN:], *corpus["essen"][TRAIN:]])
    assert report.exact >= 1
    exact = [m for m in report.matches if m.exact]
    assert {m.generated_id for m in exact} == {"with a copy"}  # nothing in the fresh pieces
    match = next(m for m in exact if m.bar == 4)
    assert (match.training_id, match.training_bar, match.transposition) == (ids[3], 2, 3)
    assert match.jaccard == 1.0 and match.differing == 0
    assert report.pieces[0].nearest_training_id == ids[3]
    assert all(p.exact == 0 and p.near == 0 for p in report.pieces[1:])
    assert 0 < report.fraction_exact < 0.5 and report.windows > 20


def test_transpositions_by_an_octave_are_exact_copies_too(
    training: tuple[list[Roll], list[str]], index: TrainingIndex
) -> None:
    rolls, ids = training
    tune = rolls[TRAIN + 2]  # an Essen tune: one voice, room to move
    report = index.check([tune.transpose(12), tune.transpose(-5)], ids=["octave up", "fourth down"])
    assert report.fraction_exact == 1.0 and report.near == 0
    shifts = {(m.generated_id, m.transposition) for m in report.matches}
    assert shifts == {("octave up", 12), ("fourth down", -5)}
    assert {m.training_id for m in report.matches} == {ids[TRAIN + 2]}


def test_an_altered_copy_is_a_near_copy(training: tuple[list[Roll], list[str]], index: TrainingIndex) -> None:
    rolls, ids = training
    chorale = rolls[5].transpose(-2)
    bar_starts = chorale.bar_starts()
    removed = int(np.flatnonzero(chorale.notes["onset"] >= bar_starts[6])[0])  # one note of bar 6
    altered = replace(chorale, notes=np.delete(chorale.notes, removed))
    report = index.check([altered], ids=["altered"])
    near = [m for m in report.matches if not m.exact]
    assert near and all(m.training_id == ids[5] and m.transposition == -2 for m in near)
    assert all(m.differing == 1 and 0.8 <= m.jaccard < 1.0 for m in near)
    assert {m.bar for m in near} >= {3, 4, 5, 6}  # every window holding bar 6
    assert report.fraction_copied == 1.0
    strict = index.check([altered], ids=["altered"], max_differing=0)
    assert strict.near == 0 and strict.exact == report.exact
    assert index.check([altered], min_jaccard=1.0).near == 0


def test_fresh_music_is_not_copied(corpus: dict[str, list[Roll]], index: TrainingIndex) -> None:
    report = index.check(corpus["bach"][TRAIN:] + corpus["essen"][TRAIN:])
    assert report.exact == 0 and report.near == 0 and report.windows > 50
    assert report.fraction_copied == 0.0
    assert all(p.nearest_jaccard < 0.8 for p in report.pieces)
    as_dict = report.to_dict()
    assert as_dict["fraction_copied"] == 0.0 and as_dict["settings"]["bars"] == 4


def test_sparse_windows_are_skipped_and_mismatches_are_refused(index: TrainingIndex) -> None:
    sparse = make_roll([(0, 16, 60), (64, 16, 62)], 128, layout="voices")  # 2 onsets in 8 bars
    report = index.check([sparse])
    assert report.windows == 0 and report.skipped == 5 and np.isnan(report.fraction_exact)
    with pytest.raises(ValueError, match="grid"):
        index.check([make_roll([(0, 4, 60)], 64, layout="voices", steps_per_beat=12)])
    with pytest.raises(ValueError, match="merge_tracks"):
        index.check([make_roll([(0, 4, 60)], 64, layout="piano")])
    with pytest.raises(ValueError, match="min_jaccard"):
        index.check([sparse], min_jaccard=0)


def test_merged_tracks_compare_across_layouts(training: tuple[list[Roll], list[str]]) -> None:
    rolls, ids = training
    merged = TrainingIndex.build(rolls, bars=4, ids=ids, merge_tracks=True)
    tune = rolls[TRAIN]  # an Essen tune in the voices layout ...
    as_piano = Roll.from_midi(tune.to_midi_bytes(), layout="piano", steps_per_beat=4)  # ... read as piano
    report = merged.check([as_piano], ids=["piano"])
    assert report.fraction_exact == 1.0 and {m.training_id for m in report.matches} == {ids[TRAIN]}


def test_build_from_a_prepared_cache(corpus: dict[str, list[Roll]], tmp_path: Path) -> None:
    folder = tmp_path / "midi"
    rows = ["path,style,split"]
    for i, roll in enumerate(corpus["essen"][:5]):
        roll.to_midi(folder / f"tune{i}.mid")
        rows.append(f"tune{i}.mid,essen,train")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    prepare(
        FolderSource(folder, labels=folder / "labels.csv"),
        tmp_path / "cache",
        layout="voices",
        steps_per_beat=4,
        progress=False,
    )
    dataset = RollDataset(tmp_path / "cache", split="train")
    index = TrainingIndex.build(dataset, bars=4)
    assert {p.piece_id for p in index.pieces} == {f"tune{i}.mid" for i in range(5)}
    report = index.check([corpus["essen"][2].transpose(1)], ids=["copy of tune2"])
    assert report.fraction_exact == 1.0
    assert {m.training_id for m in report.matches} == {"tune2.mid"}
