"""The autoregressive baseline on real chorales: tokens, a short CPU training run, generation, saving, resuming."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("miditok")

from symdiff import Grid, Roll, RollDataset
from symdiff.baselines import (
    ARConfig,
    AutoregressiveBaseline,
    DecoderTransformer,
    RollTokenizer,
    TrainResult,
    count_parameters,
    train_autoregressive,
)

from ..conftest import real_midi_files

LAKH = real_midi_files("lakh")

TINY = ARConfig(d_model=64, n_layers=2, n_heads=2, seq_len=128, lr=3e-3, warmup_steps=10)


@pytest.fixture(scope="module")
def trained(chorales: RollDataset, chorale_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    validation = RollDataset(chorale_cache, split="validation", label="style")
    out = tmp_path_factory.mktemp("ar")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures are set up before the per-test one-thread fixture
    try:
        return train_autoregressive(
            chorales, TINY, out, steps=100, batch_size=8, seed=0, validation=validation, eval_every=50, log_every=10
        )
    finally:
        torch.set_num_threads(threads)


def note_set(roll: Roll) -> set[tuple[int, int, int, int]]:
    n = roll.notes
    return set(zip(*(n[k].tolist() for k in ("track", "onset", "duration", "pitch")), strict=True))


def test_tokens_round_trip_real_rolls(chorales: RollDataset) -> None:
    tokenizer = RollTokenizer(chorales.layout, chorales.grid)
    assert 150 < len(tokenizer) < 400
    longest = tokenizer.settings.max_duration_beats * 4
    for i in range(0, len(chorales.pieces), 3):
        roll = chorales.piece_roll(i)
        ids = tokenizer.encode(roll)
        assert ids[0] == tokenizer.bos_id and ids[-1] == tokenizer.eos_id
        last_bar = np.searchsorted(roll.bar_starts(), int(roll.notes["onset"].max()), side="right")
        assert (ids == tokenizer.bar_id).sum() == last_bar  # a Bar token for every bar up to the last note
        back = tokenizer.decode(ids, length=roll.length)
        assert back.length == roll.length and back.layout == roll.layout and back.grid == roll.grid
        short = roll.notes[roll.notes["duration"] <= longest]
        assert note_set(back) >= note_set(replace(roll, notes=short))
        assert len(back.notes) == len(roll.notes)
        # velocities come back within one bin of the tokenizer's 8 bins
        step = 128 / tokenizer.settings.num_velocities
        difference = np.abs(back.notes["velocity"].astype(int) - roll.notes["velocity"].astype(int))
        assert difference.max() <= step


@pytest.mark.skipif(not LAKH, reason="the real MIDI corpus (../shared/midi) is not here")
def test_tokens_round_trip_multitrack_songs_with_drums() -> None:
    tokenizer = RollTokenizer("gm", Grid(steps_per_beat=4))
    for path in LAKH[:3]:
        roll = Roll.from_midi(path, layout="gm", steps_per_beat=4)
        back = tokenizer.decode(tokenizer.encode(roll), length=roll.length)
        assert roll.layout.tracks[16].is_drum and 16 in roll.nonempty_tracks()  # the drum track is there
        short = roll.notes[roll.notes["duration"] <= tokenizer.settings.max_duration_beats * 4]
        assert note_set(back) >= note_set(replace(roll, notes=short))
        assert len(back.notes) == len(roll.notes)


def test_training_lowers_the_loss(trained: TrainResult) -> None:
    losses = [loss for _, loss in trained.losses]
    assert len(losses) == 100
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    assert trained.val_losses and trained.val_losses[-1][1] < 0.5 * losses[0]
    assert trained.parameters == count_parameters(TINY, trained.model.model.vocab_size)
    with open(trained.directory / "log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == list(range(10, 101, 10))
    config = json.loads((trained.directory / "config.json").read_text())
    assert config["label_names"] == ["bach"] and config["extra"]["training"]["steps"] == 100


def test_generate_a_roll(trained: TrainResult, chorales: RollDataset) -> None:
    model = trained.model
    roll = model.generate(bars=8, seed=1, max_tokens=2000)
    assert roll.length == 8 * 16 and roll.num_bars == 8
    assert roll.layout == chorales.layout and roll.grid == chorales.grid
    assert len(roll.notes) > 10
    lo, hi = chorales.layout.pitch_range
    assert lo <= int(roll.notes["pitch"].min()) and int(roll.notes["pitch"].max()) <= hi
    assert int((roll.notes["onset"] + roll.notes["duration"]).max()) <= roll.length
    assert roll.metadata["tokens"] > TINY.seq_len  # the context was restarted on the way
    assert model.generate(bars=8, seed=1, max_tokens=2000).notes.tobytes() == roll.notes.tobytes()
    assert model.generate(bars=8, seed=2, max_tokens=2000).notes.tobytes() != roll.notes.tobytes()
    labelled = model.generate(bars=2, label="bach", meter=(3, 4), seed=1, temperature=0.8, top_p=0.9)
    assert labelled.length == 2 * 12 and (labelled.meters["numerator"][0], labelled.meters["denominator"][0]) == (3, 4)
    with pytest.raises(ValueError, match="label 'jazz' was not seen"):
        model.generate(label="jazz")
    with pytest.raises(ValueError, match="top_p"):
        model.generate(top_p=0)


def test_save_and_load(trained: TrainResult, tmp_path: Path) -> None:
    loaded = AutoregressiveBaseline.from_pretrained(trained.directory)
    assert loaded.label_names == ("bach",) and loaded.num_parameters == trained.parameters
    again = AutoregressiveBaseline.from_pretrained(loaded.save_pretrained(tmp_path / "copy"))
    for model in (loaded, again):
        assert model.generate(bars=4, seed=5).notes.tobytes() == trained.model.generate(bars=4, seed=5).notes.tobytes()
    # weights from another save are refused
    other = DecoderTransformer(TINY, loaded.model.vocab_size)
    from safetensors.torch import save_file

    save_file(other.state_dict(), str(tmp_path / "copy" / "model.safetensors"))
    with pytest.raises(ValueError, match="sha256 differs"):
        AutoregressiveBaseline.from_pretrained(tmp_path / "copy")


def test_resume_continues_exactly(chorales: RollDataset, tmp_path: Path) -> None:
    config = ARConfig(d_model=32, n_layers=1, n_heads=2, seq_len=64, warmup_steps=2)
    whole = train_autoregressive(chorales, config, tmp_path / "whole", steps=12, batch_size=4, seed=3)
    # a run whose checkpoint at step 6 is resumed: steps 7..12 again, from the checkpoint
    broken = train_autoregressive(
        chorales, config, tmp_path / "broken", steps=12, batch_size=4, seed=3, checkpoint_every=6
    )
    assert (tmp_path / "broken" / "checkpoint" / "state.json").is_file()
    resumed = train_autoregressive(chorales, config, tmp_path / "broken", steps=12, batch_size=4, seed=3)
    assert [s for s, _ in resumed.losses] == list(range(7, 13))
    assert resumed.losses == whole.losses[6:] == broken.losses[6:]
    for a, b in zip(whole.model.model.parameters(), resumed.model.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="another config"):
        train_autoregressive(chorales, ARConfig(d_model=32, n_layers=2, n_heads=2, seq_len=64), tmp_path / "broken")


def test_sizes() -> None:
    for target in (20_000_000, 6_000_000, 1_000_000):
        config = ARConfig.for_parameters(target, vocab_size=300, seq_len=512)
        count = count_parameters(config, 300)
        assert abs(count - target) / target < 0.1, (target, config)
    assert sum(p.numel() for p in DecoderTransformer(config, 300).parameters()) == count_parameters(config, 300)
    with pytest.raises(ValueError, match="must divide d_model"):
        ARConfig(d_model=100, n_heads=3)
