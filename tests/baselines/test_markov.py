"""The Markov-chain baseline on real chorales: what it generates, determinism, saving, copying a single piece."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symdiff import Roll, RollDataset
from symdiff.baselines import MarkovBaseline, step_states, white_key_shift
from symdiff.notes import make_notes


@pytest.fixture(scope="module")
def markov(chorales: RollDataset) -> MarkovBaseline:
    return MarkovBaseline.fit(chorales, order=2)


def pitch_class_share(notes: np.ndarray) -> np.ndarray:
    counts = np.bincount(notes["pitch"].astype(np.int64) % 12, minlength=12).astype(np.float64)
    return counts / counts.sum()


def same_notes(a: Roll, b: Roll) -> bool:
    return a.length == b.length and np.array_equal(a.notes, b.notes)


def test_step_states() -> None:
    # a C held for 3 steps, an E struck twice (steps 1 and 2), a G from step 2 to 5 (past the end)
    notes = make_notes(onset=[0, 1, 2, 2], duration=[3, 2, 1, 4], pitch=[60, 64, 64, 67])
    assert step_states(notes, 4) == [((60,), ()), ((64,), (60,)), ((64, 67), (60,)), ((), (67,))]


def test_fit_and_generate(markov: MarkovBaseline, chorales: RollDataset) -> None:
    assert markov.layout == chorales.layout and markov.grid == chorales.grid
    assert markov.label_names == ("bach",)  # the dataset's label key is used
    roll = markov.generate(bars=8, seed=3)
    assert roll.length == 8 * 16 and roll.num_bars == 8
    assert roll.layout == chorales.layout and roll.grid == chorales.grid
    assert len(roll.nonempty_tracks()) == 4  # every voice sings in every chorale
    lo, hi = chorales.layout.pitch_range
    assert lo <= int(roll.notes["pitch"].min()) and int(roll.notes["pitch"].max()) <= hi
    assert int(roll.notes["duration"].min()) >= 1 and int((roll.notes["onset"] + roll.notes["duration"]).max()) <= 128
    # chorales move mostly in quarter and eighth notes: onsets fall on eighth-note steps
    assert np.mean(roll.notes["onset"] % 2 == 0) > 0.9
    # the training music, moved to C major / A minor, and the generated music share their pitch classes
    rolls = [chorales.piece_roll(i) for i in range(len(chorales.pieces))]
    training = np.concatenate([r.transpose(white_key_shift(r)).notes for r in rolls])
    common = np.argsort(pitch_class_share(training))[::-1][:7]
    assert sorted(common.tolist()) == [0, 2, 4, 5, 7, 9, 11]
    assert np.isin(roll.notes["pitch"] % 12, common).mean() > 0.85
    assert markov.generate(bars=8, label="bach", seed=3).length == 128
    assert markov.generate(bars=4, meter=(3, 4), tempo=90.0, seed=3).length == 4 * 12


def test_same_seed_same_music(markov: MarkovBaseline) -> None:
    first, again, other = (markov.generate(bars=8, seed=s) for s in (7, 7, 8))
    assert same_notes(first, again)
    assert not same_notes(first, other)


def test_save_and_load(markov: MarkovBaseline, tmp_path: Path) -> None:
    path = markov.save(tmp_path / "markov.json")
    loaded = MarkovBaseline.load(path)
    assert loaded.to_dict() == markov.to_dict()
    for seed in (0, 1):
        assert same_notes(loaded.generate(bars=8, seed=seed), markov.generate(bars=8, seed=seed))


def test_a_high_order_chain_copies_its_only_piece(chorales: RollDataset) -> None:
    piece = chorales.piece_roll(0)
    model = MarkovBaseline.fit([piece, piece, piece], order=16, normalize_key=False)
    roll = model.generate(bars=8, seed=0)

    def melodies(r: Roll, length: int = 5) -> set[tuple[int, ...]]:
        soprano = r.notes[r.notes["track"] == 0]
        pitches = soprano["pitch"][np.argsort(soprano["onset"], kind="stable")].tolist()
        return {tuple(pitches[i : i + length]) for i in range(len(pitches) - length + 1)}

    generated, source = melodies(roll), melodies(piece)
    assert len(generated) >= 5
    assert len(generated & source) / len(generated) > 0.8
    # order 1 mostly does not
    loose = MarkovBaseline.fit([piece], order=1, metric=False, normalize_key=False).generate(bars=8, seed=0)
    assert len(melodies(loose) & source) / max(len(melodies(loose)), 1) < 0.5


def test_errors(markov: MarkovBaseline, chorales: RollDataset, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="order must be an integer >= 0"):
        MarkovBaseline.fit(chorales, order=-1)
    with pytest.raises(ValueError, match="got no Rolls"):
        MarkovBaseline.fit([], order=2)
    with pytest.raises(ValueError, match="label 'jazz' was not seen"):
        markov.generate(label="jazz")
    with pytest.raises(ValueError, match="meter must be"):
        markov.generate(meter=(4, 3))
    with pytest.raises(ValueError, match="bars must be"):
        markov.generate(bars=0)
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match=r"not a saved symdiff\.MarkovBaseline"):
        MarkovBaseline.load(tmp_path / "other.json")
