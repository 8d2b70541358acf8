"""Every public function and CLI option refuses a bad value with an error that names the argument, shows the value
and says what is allowed: one test per rule. The shared checks are in ``symdiff/checks.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import symusic
import torch

from symdiff import Grid, Limits, Roll, RollDataset, TrackLayout, TrackSpec, prepare
from symdiff.cli import main
from symdiff.data.sources import FolderSource
from symdiff.diffusion.sample import sample
from symdiff.model import DenoiserConfig
from symdiff.pipeline import Pipeline
from symdiff.train import TrainConfig


def case(call: Callable[..., Any], error: type[Exception], pattern: str, id: str) -> Any:
    return pytest.param(call, error, pattern, id=id)


def refuses(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        call()


@pytest.fixture(scope="module")
def data() -> bytes:
    """A small MIDI file: two bars of quarter notes on a piano track, 4/4 at 120 qpm."""
    score = symusic.Score(480)
    track = symusic.Track("Piano", 0, False)
    for i in range(8):
        track.notes.append(symusic.Note(i * 480, 480, 60 + i, 80))
    score.tracks.append(track)
    return bytes(score.dumps_midi())


@pytest.fixture(scope="module")
def roll(data: bytes) -> Roll:
    return Roll.from_midi(data, layout="piano", steps_per_beat=4)


# ------------------------------------------------------------------------------------------------ Roll.from_midi
FROM_MIDI = [
    case(lambda d: Roll.from_midi(d, layout="orchestra"), ValueError,
         r"unknown layout preset 'orchestra'; choose one of piano, lpd5, gm, voices", "layout-unknown"),
    case(lambda d: Roll.from_midi(d, layout=5), TypeError,
         r"layout must be a TrackLayout, a preset name \(piano, lpd5, gm, voices\) or a dict, got 5", "layout-type"),
    case(lambda d: Roll.from_midi(d, steps_per_beat=0), ValueError,
         r"steps_per_beat must be an integer in 1\.\.960, got 0", "steps_per_beat-zero"),
    case(lambda d: Roll.from_midi(d, steps_per_beat=2.5), ValueError,
         r"steps_per_beat must be an integer in 1\.\.960, got 2\.5", "steps_per_beat-fraction"),
    case(lambda d: Roll.from_midi(d, steps_per_beat=True), ValueError,
         r"steps_per_beat must be an integer in 1\.\.960, got True", "steps_per_beat-bool"),
    case(lambda d: Roll.from_midi(d, frames_per_second=0), ValueError,
         r"frames_per_second must be .*1\.\.2000, got 0", "frames_per_second-zero"),
    case(lambda d: Roll.from_midi(d, frames_per_second=float("nan")), ValueError,
         r"frames_per_second must be .*1\.\.2000, got nan", "frames_per_second-nan"),
    case(lambda d: Roll.from_midi(d, frames_per_second="100"), ValueError,
         r"frames_per_second must be .*1\.\.2000, got '100'", "frames_per_second-str"),
    case(lambda d: Roll.from_midi(d, steps_per_beat=4, frames_per_second=100), ValueError,
         r"give exactly one of steps_per_beat \(beat grid\) or frames_per_second \(seconds grid\)", "grid-both"),
    case(lambda d: Roll.from_midi(d, sustain_pedal="yes"), TypeError,
         r"sustain_pedal must be True, False or None \(the grid's default\), got 'yes'", "sustain_pedal"),
    case(lambda d: Roll.from_midi(d, limits={"max_notes": 5}), TypeError,
         r"limits must be a symdiff\.Limits, got dict", "limits-type"),
    case(lambda d: Roll.from_midi(None), TypeError,
         r"a MIDI source is a path, bytes, a symusic\.Score or a pretty_midi\.PrettyMIDI, got NoneType", "source"),
    case(lambda d: Limits(max_notes=0), ValueError, r"Limits\.max_notes must be a positive int, got 0", "Limits"),
    case(lambda d: Limits(max_bars=2.5), ValueError,
         r"Limits\.max_bars must be a positive int, got 2\.5", "Limits-int"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), FROM_MIDI)
def test_from_midi(data: bytes, call: Callable[[bytes], Any], error: type[Exception], pattern: str) -> None:
    refuses(lambda: call(data), error, pattern)


# ------------------------------------------------------------------------------------------------ Roll methods
ROLL = [
    case(lambda r: r.slice(-1, 4), ValueError,
         r"slice: need 0 <= start <= stop, got start=-1, stop=4", "slice-negative"),
    case(lambda r: r.slice(5, 2), ValueError, r"slice: need 0 <= start <= stop, got start=5, stop=2", "slice-reversed"),
    case(lambda r: r.slice(1.5, 4), TypeError, r"slice: start must be an int \(a step\), got 1\.5", "slice-float"),
    case(lambda r: r[::2], TypeError, r"index a Roll with a step slice such as roll\[0:96\]", "getitem-step"),
    case(lambda r: r[3], TypeError, r"index a Roll with a step slice such as roll\[0:96\]", "getitem-int"),
    case(lambda r: r.bars(0, 99), ValueError, r"bars: need 0 <= start <= stop <= 2 \(the piece has 2 bars\), got 0, 99",
         "bars-past-end"),
    case(lambda r: r.bars(-1), ValueError, r"bars: need 0 <= start <= stop <= 2 .*got -1, 2", "bars-negative"),
    case(lambda r: r.bars(1.5), TypeError, r"bars: start must be an int \(a bar index from 0\), got 1\.5",
         "bars-float"),
    case(lambda r: r.transpose(1.5), ValueError,
         r"transpose: semitones must be an integer, got 1\.5", "transpose-float"),
    case(lambda r: r.transpose("2"), ValueError, r"transpose: semitones must be an integer, got '2'", "transpose-str"),
    case(lambda r: r.transpose(1000), ValueError, r"transpose: semitones must be an integer from -127 to 127, got 1000",
         "transpose-range"),
    case(lambda r: r.to_tensor(5, 2), ValueError, r"to_tensor: stop \(2\) is before start \(5\)", "to_tensor-reversed"),
    case(lambda r: r.to_tensor(tracks=["Lead"]), ValueError,
         r"no track named 'Lead' in layout 'piano'; tracks: \['Piano'\]", "to_tensor-track-name"),
    case(lambda r: r.to_tensor(tracks=[3]), ValueError,
         r"track 3 is neither a name in \['Piano'\] nor an index 0\.\.0", "to_tensor-track-index"),
    case(lambda r: r.to_tensor(1.5, 4), TypeError, r"to_tensor: start must be an int \(a step\), got 1\.5",
         "to_tensor-float"),
    case(lambda r: r.to_tensor(dtype=torch.int64), ValueError,
         r"to_tensor: dtype must be a floating dtype \(the tensor holds 0\.\.1\), got torch\.int64", "to_tensor-dtype"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), ROLL)
def test_roll_methods(roll: Roll, call: Callable[[Roll], Any], error: type[Exception], pattern: str) -> None:
    refuses(lambda: call(roll), error, pattern)


# ------------------------------------------------------------------------------------------------ layouts
LAYOUT = [
    case(lambda: TrackSpec(""), ValueError, r"TrackSpec\.name must be a non-empty string", "spec-name-empty"),
    case(lambda: TrackSpec(5), TypeError, r"TrackSpec\.name must be a non-empty string, got 5", "spec-name-type"),
    case(lambda: TrackSpec("a", 200), ValueError, r"TrackSpec 'a': program must be in 0\.\.127, got 200", "program"),
    case(lambda: TrackSpec("a", "0"), ValueError, r"TrackSpec 'a': program must be an int in 0\.\.127, got '0'",
         "program-type"),
    case(lambda: TrackSpec("a", programs=(300,)), ValueError,
         r"TrackSpec 'a': programs must be in 0\.\.127, got \[300\]",
         "programs"),
    case(lambda: TrackSpec("a", pitch_range=(60, 50)), ValueError,
         r"TrackSpec 'a': pitch_range must satisfy 0 <= low <= high <= 127, got \(60, 50\)", "pitch_range"),
    case(lambda: TrackSpec("a", pitch_range=(0,)), ValueError,
         r"TrackSpec 'a': pitch_range must be \(low, high\) with 0 <= low <= high <= 127, got \(0,\)",
         "pitch_range-length"),
    case(lambda: TrackSpec("a", name_pattern="("), ValueError,
         r"TrackSpec 'a': name_pattern '\(' is not a regular expression", "name_pattern"),
    case(lambda: TrackSpec("a", is_drum="no"), TypeError, r"TrackSpec 'a': is_drum must be True or False, got 'no'",
         "is_drum"),
    case(lambda: TrackLayout(()), ValueError, r"a TrackLayout needs at least one track", "layout-empty"),
    case(lambda: TrackLayout((TrackSpec("a"), TrackSpec("a"))), ValueError,
         r"track names must be unique, got \['a', 'a'\]", "layout-duplicates"),
    case(lambda: TrackLayout((TrackSpec("a"),), fallback=3), ValueError,
         r"fallback must index a pitched track \(0\.\.0\), got 3", "layout-fallback"),
    case(lambda: TrackLayout((TrackSpec("d", is_drum=True),), fallback=0), ValueError,
         r"fallback must index a pitched track \(0\.\.0\), got 0", "layout-fallback-drum"),
    case(lambda: TrackLayout(("a",)), TypeError, r"a TrackLayout's tracks must be TrackSpec objects, got 'a'",
         "layout-track-type"),
    case(lambda: TrackLayout.preset("orchestra"), ValueError,
         r"unknown layout preset 'orchestra'; choose one of piano, lpd5, gm, voices", "preset"),
    case(lambda: TrackLayout.from_dict({}), ValueError,
         r"not a TrackLayout dict \(KeyError\('tracks'\)\)", "from_dict"),
    case(lambda: TrackLayout.preset("piano").index("Lead"), ValueError,
         r"no track named 'Lead' in layout 'piano'; tracks: \['Piano'\]", "index"),
    case(lambda: Grid(steps_per_beat=1000), ValueError, r"steps_per_beat must be an integer in 1\.\.960, got 1000",
         "grid"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), LAYOUT)
def test_layouts_and_grids(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    refuses(call, error, pattern)


# ------------------------------------------------------------------------------------------------ prepare
PREPARE = [
    case(lambda s, o: prepare(s, o, workers=0), ValueError, r"workers must be an int >= 1, got 0", "workers-zero"),
    case(lambda s, o: prepare(s, o, workers=1.5), ValueError,
         r"workers must be an int >= 1, got 1\.5", "workers-float"),
    case(lambda s, o: prepare(s, o, workers="2"), ValueError, r"workers must be an int >= 1, got '2'", "workers-str"),
    case(lambda s, o: prepare(s, o, num_shards=0), ValueError, r"num_shards must be an int >= 1, got 0", "num_shards"),
    case(lambda s, o: prepare(s, o, shard_index=-1), ValueError, r"shard_index must be an int >= 0, got -1",
         "shard_index-negative"),
    case(lambda s, o: prepare(s, o, num_shards=2, shard_index=2), ValueError,
         r"shard_index must be from 0 to num_shards - 1 = 1 \(shards count from 0\), got 2", "shard_index-past"),
    case(lambda s, o: prepare(s, o, unit_size=0), ValueError, r"unit_size must be an int >= 1, got 0", "unit_size"),
    case(lambda s, o: prepare(s, o, timeout=-1), ValueError,
         r"timeout must be a positive number of seconds, or None for no limit; got -1", "timeout-negative"),
    case(lambda s, o: prepare(s, o, timeout="60"), ValueError,
         r"timeout must be a positive number of seconds, or None for no limit; got '60'", "timeout-str"),
    case(lambda s, o: prepare(s, o, sustain_pedal="x"), TypeError,
         r"sustain_pedal must be True, False or None \(the grid's default\), got 'x'", "sustain_pedal"),
    case(lambda s, o: prepare(s, o, limits=5), TypeError, r"limits must be a symdiff\.Limits, got int", "limits"),
    case(lambda s, o: prepare(s, o, layout="orchestra"), ValueError, r"unknown layout preset 'orchestra'", "layout"),
    case(lambda s, o: prepare(s, o, steps_per_beat=0), ValueError, r"steps_per_beat must be an integer in 1\.\.960",
         "steps_per_beat"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), PREPARE)
def test_prepare(tmp_path: Path, data: bytes, call: Callable[..., Any], error: type[Exception], pattern: str) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "piece.mid").write_bytes(data)
    refuses(lambda: call(FolderSource(tmp_path / "src"), tmp_path / "out"), error, pattern)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_prepare_settings_of_an_existing_cache(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "piece.mid").write_bytes(data)
    prepare(FolderSource(tmp_path / "src"), tmp_path / "out", steps_per_beat=4, progress=False)
    refuses(
        lambda: prepare(FolderSource(tmp_path / "src"), tmp_path / "out", steps_per_beat=8, progress=False),
        ValueError,
        r"holds a cache made with other settings \(grid differ\); use another output folder, or delete this one",
    )


# ------------------------------------------------------------------------------------------------ RollDataset
DATASET = [
    case(lambda c: RollDataset(c, split="dev"), ValueError, r"split must be one of train, validation, test, got 'dev'",
         "split"),
    case(lambda c: RollDataset(c, window=0), ValueError, r"window must be .*>= 1.*got 0", "window-zero"),
    case(lambda c: RollDataset(c, window=2.5), ValueError, r"window must be an int >= 1 \(steps\), got 2\.5",
         "window-float"),
    case(lambda c: RollDataset(c, window="32"), ValueError, r"window must be an int >= 1 \(steps\), got '32'",
         "window-str"),
    case(lambda c: RollDataset(c, stride=-3), ValueError, r"stride must be .*>= 1.*got -3", "stride-negative"),
    case(lambda c: RollDataset(c, stride=0), ValueError, r"stride must be an int >= 1 \(steps\) or None .*got 0",
         "stride-zero"),
    case(lambda c: RollDataset(c, label=5), TypeError, r"label must be a label name \(str\) or None, got 5", "label"),
    case(lambda c: RollDataset(c, select=["bach"]), TypeError,
         r"select must map label names to lists of values, e\.g\. \{'style': \['bach'\]\}, got \['bach'\]", "select"),
    case(lambda c: RollDataset(c, augment="transpose"), TypeError,
         r"augment must be an Augment or None, got 'transpose'",
         "augment"),
    case(lambda c: RollDataset(c.parent / "nowhere"), FileNotFoundError,
         r"is not a finished symdiff cache \(no manifest\.json\); run symdiff prepare", "root"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), DATASET)
def test_roll_dataset(chorale_cache: Path, call: Callable[[Path], Any], error: type[Exception], pattern: str) -> None:
    refuses(lambda: call(chorale_cache), error, pattern)


# ------------------------------------------------------------------------------------------------ TrainConfig
def field(name: str, value: Any, allowed: str) -> Any:
    """``TrainConfig(name=value)`` is refused with ``TrainConfig.<name> must be <allowed>..., got <value!r>``."""
    return case(
        lambda: TrainConfig(**{name: value}),
        ValueError,
        rf"TrainConfig\.{name} must be {allowed}.*, got {re.escape(repr(value))}$",
        f"{name}={value!r}",
    )


TRAIN = [
    field("data", 5, r"a folder path \(str\)"),
    field("out", 5, r"a folder path \(str\)"),
    field("window", 0, r"(an int )?>= 1"),
    field("window", 30, r"a multiple of model\.patch \(4\)"),
    field("batch_size", 0, r"(an int )?>= 1"),
    field("batch_size", 2.5, r"an int >= 1"),
    field("grad_accum", 0, r"(an int )?>= 1"),
    field("max_steps", 0, r"(an int )?>= 1"),
    field("max_steps", "100", r"an int >= 1"),
    field("log_every", 0, r"(an int )?>= 1"),
    field("eval_every", 0, r"(an int )?>= 1"),
    field("eval_batches", 0, r"an int >= 1"),
    field("checkpoint_every", 0, r"(an int )?>= 1"),
    field("keep_checkpoints", 0, r"(an int )?>= 1"),
    field("warmup_steps", -1, r"an int >= 0"),
    field("velocity_jitter", -1, r"an int >= 0"),
    field("num_workers", -1, r"an int >= 0"),
    field("seed", -1, r"an int >= 0"),
    field("seed", 1.5, r"an int >= 0"),
    field("lr", 0, r"a number > 0"),
    field("lr", "fast", r"a number > 0"),
    field("min_lr_ratio", 2, r"a number in \[0, 1\]"),
    field("label_dropout", 2, r"a number in \[0, 1\]"),
    field("ema_decay", 1, r"a number in \[0, 1\)"),
    field("weight_decay", -1, r"a number >= 0"),
    field("grad_clip", 0, r"a number > 0"),
    field("betas", (0.9,), r"two numbers in \[0, 1\), e\.g\. \(0\.9, 0\.99\)"),
    field("betas", (1.5, 0.9), r"two numbers in \[0, 1\), e\.g\. \(0\.9, 0\.99\)"),
    field("transpose", (3, -3), r"two ints \(low, high\) with low <= high, e\.g\. \(-3, 3\)"),
    field("compile", "yes", r"True or False"),
    field("balance_labels", "x", r"True or False"),
    field("align_bars", "x", r"True or False"),
    field("label", 5, r"a label name \(str\) or None"),
    field("precision", "fp8", r"one of auto, fp32, bf16"),
    field("nan_policy", "ignore", r"one of stop, skip"),
    field("model", 5, r"a table of DenoiserConfig fields"),
    field("model", {"dmodel": 64}, r"a table of DenoiserConfig fields \(.*d_model"),
    field("schedule", {"sigma": 1}, r"a table of NoiseSchedule fields"),
    field("tasks", {"fly": 1.0}, r"a table of mask tasks \(.*\) to weights >= 0"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), TRAIN)
def test_train_config_fields(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    refuses(call, error, pattern)


def test_train_config_every_field_has_a_rule() -> None:
    import dataclasses

    ruled = {p.id.split("=")[0] for p in TRAIN}
    assert {f.name for f in dataclasses.fields(TrainConfig)} - ruled == set()


def test_train_config_files_and_overrides(tmp_path: Path) -> None:
    refuses(lambda: TrainConfig.load(tmp_path / "nope.toml"), ValueError, r"cannot read training config .*nope\.toml")
    (tmp_path / "bad.toml").write_text("window = [")
    refuses(lambda: TrainConfig.load(tmp_path / "bad.toml"), ValueError, r"cannot read training config .*bad\.toml")
    refuses(lambda: TrainConfig.load(None, ["max_steps"]), ValueError, r"override 'max_steps' is not key=value")
    refuses(lambda: TrainConfig.load(None, ["learning_rate=1"]), ValueError,
            r"unknown training config keys \['learning_rate'\]; known keys: \[.*'lr'")  # fmt: skip


# ------------------------------------------------------------------------------------------------ DenoiserConfig
DENOISER = [
    case(lambda: DenoiserConfig(tracks=0, pitches=16), ValueError, r"DenoiserConfig\.tracks must be >= 1, got 0",
         "tracks"),
    case(lambda: DenoiserConfig(tracks="1", pitches=16), TypeError, r"DenoiserConfig\.tracks must be an int, got '1'",
         "tracks-type"),
    case(lambda: DenoiserConfig(tracks=1, pitches=16, n_heads=3), ValueError,
         r"DenoiserConfig\.d_model \(256\) must be n_heads \(3\) times an even head width", "heads"),
    case(lambda: DenoiserConfig(tracks=1, pitches=16, patch=0), ValueError, r"DenoiserConfig\.patch must be >= 1",
         "patch"),
    case(lambda: DenoiserConfig(tracks=1, pitches=16, dropout=1), ValueError,
         r"DenoiserConfig\.dropout must be in \[0, 1\), got 1\.0", "dropout"),
    case(lambda: DenoiserConfig(tracks=1, pitches=16, mlp_ratio=0), ValueError,
         r"DenoiserConfig\.mlp_ratio must be a positive number, got 0", "mlp_ratio"),
    case(lambda: DenoiserConfig(tracks=1, pitches=16, num_labels=-1), ValueError,
         r"DenoiserConfig\.num_labels must be >= 0, got -1", "num_labels"),
    case(lambda: DenoiserConfig(tracks=1, pitches=16, label_names=("a",)), ValueError,
         r"DenoiserConfig\.label_names has 1 names for num_labels=0", "label_names"),
    case(lambda: DenoiserConfig(tracks=1, pitches=16, num_labels=2, label_names=("a", "a")), ValueError,
         r"DenoiserConfig\.label_names must be distinct", "label_names-distinct"),
    case(lambda: DenoiserConfig(tracks=1, pitches=16, max_steps=6), ValueError,
         r"DenoiserConfig\.max_steps must be a positive multiple of patch \(4\), got 6", "max_steps"),
    case(lambda: DenoiserConfig(tracks=1, pitches=16, use_tempo=1), TypeError,
         r"DenoiserConfig\.use_tempo must be a bool, got 1", "use_tempo"),
    case(lambda: DenoiserConfig.from_dict({"tracks": 1, "pitches": 16, "width": 3}), ValueError,
         r"unknown DenoiserConfig keys \['width'\]; allowed keys: \[", "from_dict-unknown"),
    case(lambda: DenoiserConfig.from_dict({"tracks": 1}), ValueError,
         r"DenoiserConfig is missing the required keys \['pitches'\]", "from_dict-missing"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), DENOISER)
def test_denoiser_config(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    refuses(call, error, pattern)


# ------------------------------------------------------------------------------------------------ sample()
def _zero(x: torch.Tensor, sigma: torch.Tensor, cond: Any) -> torch.Tensor:
    return torch.zeros_like(x)


SAMPLE = [
    case(lambda: sample(_zero, (1, 4), sampler="heun"), ValueError,
         r"unknown sampler 'heun'; choose one of: ddpm, ddim, dpmsolver\+\+", "sampler"),
    case(lambda: sample(_zero, (1, 4), steps=0), ValueError, r"steps must be an int in \[1, 1000\], got 0", "steps"),
    case(lambda: sample(_zero, (1, 4), steps=2.5), ValueError, r"steps must be an int in \[1, 1000\], got 2\.5",
         "steps-float"),
    case(lambda: sample(_zero, (1, 4), steps=5000), ValueError, r"steps must be an int in \[1, 1000\], got 5000",
         "steps-past"),
    case(lambda: sample(_zero, ()), ValueError, r"shape must be a non-empty sequence of positive ints, got \(\)",
         "shape-empty"),
    case(lambda: sample(_zero, (0, 4)), ValueError,
         r"shape must be a non-empty sequence of positive ints, got \(0, 4\)",
         "shape-zero"),
    case(lambda: sample(_zero, 5), ValueError, r"shape must be a non-empty sequence of positive ints, got 5",
         "shape-int"),
    case(lambda: sample(_zero, (1, 4), guidance_scale=float("inf")), ValueError, r"guidance_scale must be finite",
         "guidance"),
    case(lambda: sample(_zero, (1, 4), guidance_scale="x"), ValueError,
         r"guidance_scale must be a finite number, got 'x'",
         "guidance-type"),
    case(lambda: sample(_zero, (1, 4), seed=1, generator=torch.Generator()), ValueError,
         r"pass either seed or generator, not both", "seed-and-generator"),
    case(lambda: sample(_zero, (1, 4), seed="x"), ValueError, r"seed must be an int, got 'x'", "seed-type"),
    case(lambda: sample(_zero, (1, 4), dtype=torch.int64), ValueError,
         r"dtype must be a floating dtype, got torch\.int64", "dtype"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), SAMPLE)
def test_sample(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    refuses(call, error, pattern)


# ------------------------------------------------------------------------------------------------ Pipeline
@pytest.fixture(scope="module")
def pipe(tiny_run: Path) -> Pipeline:
    return Pipeline.from_pretrained(tiny_run)


@pytest.fixture(scope="module")
def chorale(pipe: Pipeline, chorale_cache: Path) -> Roll:
    return RollDataset(chorale_cache, "train", 32).piece_roll(0)


PIPELINE = [
    case(lambda p, r: p.generate(0), ValueError, r"bars must be an int from 1 to 4096, got 0", "generate-bars"),
    case(lambda p, r: p.generate(2.5), ValueError,
         r"bars must be an int from 1 to 4096, got 2\.5", "generate-bars-float"),
    case(lambda p, r: p.generate(1, style="jazz"), ValueError,
         r"unknown style 'jazz'; this model knows: bach \(or None\)",
         "style"),
    case(lambda p, r: p.generate(1, tempo=0), ValueError, r"tempo must be a number from 10 to 400, got 0", "tempo"),
    case(lambda p, r: p.generate(1, tempo="fast"), ValueError, r"tempo must be a number from 10 to 400, got 'fast'",
         "tempo-type"),
    case(lambda p, r: p.generate(1, time_signature=(3, 5)), ValueError,
         r"time_signature must be \(numerator 1\.\.32, denominator in \(1, 2, 4, 8, 16, 32\)\), .*got \(3, 5\)",
         "time_signature"),
    case(lambda p, r: p.generate(1, time_signature="3/4"), ValueError, r"time_signature must be .*got '3/4'",
         "time_signature-str"),
    case(lambda p, r: p.generate(1, num_samples=0), ValueError, r"num_samples must be an int from 1 to 256, got 0",
         "num_samples"),
    case(lambda p, r: p.generate(1, steps=0), ValueError, r"steps must be an int from 1 to 1000, got 0", "steps"),
    case(lambda p, r: p.generate(1, sampler="heun"), ValueError, r"unknown sampler 'heun'; choose one of: ddpm",
         "sampler"),
    case(lambda p, r: p.generate(1, guidance_scale=-1), ValueError,
         r"guidance_scale must be a number from 0 to 100, got -1",
         "guidance"),
    case(lambda p, r: p.generate(1, seed=-1), ValueError, r"seed must be an int from 0 to 9223372036854775807, got -1",
         "seed"),
    case(lambda p, r: p.generate(1, seed=1, generator=torch.Generator()), ValueError,
         r"pass either seed or generator, not both", "seed-and-generator"),
    case(lambda p, r: p.continue_(r, 0), ValueError, r"bars must be an int from 1 to 4096, got 0", "continue-bars"),
    case(lambda p, r: p.continue_(5, 1), TypeError,
         r"a MIDI source is a path, bytes, a symusic\.Score", "continue-midi"),
    case(lambda p, r: p.inpaint(r, 3), ValueError,
         r"bars must be \(first, last\), counted from 1, both included; got 3",
         "inpaint-bars-type"),
    case(lambda p, r: p.inpaint(r, (0, 1)), ValueError, r"bars\[0\] must be an int from 1 to \d+, got 0",
         "inpaint-bars-first"),
    case(lambda p, r: p.inpaint(r, (2, 1)), ValueError, r"bars\[1\] must be an int from 2 to \d+, got 1",
         "inpaint-bars-order"),
    case(lambda p, r: p.inpaint(r, (1, 1), tracks=["Lead"]), ValueError,
         r"tracks: no track named 'Lead' in layout 'voices'; tracks: \['Soprano', 'Alto', 'Tenor', 'Bass'\]",
         "inpaint-tracks"),
    case(lambda p, r: p.inpaint(r, (1, 1), tracks=[]), ValueError,
         r"tracks is empty; name at least one of \['Soprano', 'Alto', 'Tenor', 'Bass'\] \(or None for all\)",
         "inpaint-tracks-empty"),
    case(lambda p, r: p.accompany(r, []), ValueError,
         r"keep_tracks is empty; name at least one of \['Soprano', 'Alto', 'Tenor', 'Bass'\]", "accompany-empty"),
    case(lambda p, r: p.accompany(r, [9]), ValueError,
         r"keep_tracks: track 9 is neither a name in .* nor an index 0\.\.3",
         "accompany-tracks"),
    case(lambda p, r: p.accompany(r, ["Soprano", "Alto", "Tenor", "Bass"]), ValueError,
         r"keep_tracks names every track; leave at least one of .* to write", "accompany-all"),
    case(lambda p, r: Pipeline.from_pretrained(Path("no-such-model")), FileNotFoundError,
         r"no-such-model: no such model directory", "from_pretrained"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), PIPELINE)
def test_pipeline(
    pipe: Pipeline, chorale: Roll, call: Callable[[Pipeline, Roll], Any], error: type[Exception], pattern: str
) -> None:
    refuses(lambda: call(pipe, chorale), error, pattern)


# ------------------------------------------------------------------------------------------------ the CLI
def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``main(argv)`` returns 2 and prints one line on stderr; that line."""
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own handling: several lines of usage, and no return value
        code = f"SystemExit({exit.code})"
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert (code, len(err)) == (2, 1), f"exit {code} with {len(err)} lines: {err}"
    return err[0]


CLI = [
    case(["convert", "in.mid", "out.mid", "--steps-per-beat", "0"], ValueError,
         r"symdiff convert: error: steps_per_beat must be an integer in 1\.\.960, got 0", "convert-grid"),
    case(["convert", "in.mid", "out.mid", "--layout", "orchestra"], ValueError,
         r"symdiff convert: error: unknown layout preset 'orchestra'; choose one of", "convert-layout"),
    case(["convert"], ValueError, r"symdiff convert: error: the following arguments are required: input, output",
         "convert-missing"),
    case(["convert", "in.mid", "out.mid", "--steps-per-beat", "four"], ValueError,
         r"symdiff convert: error: argument --steps-per-beat: invalid int value: 'four'", "convert-type"),
    case(["prepare", "folder", "{src}", "{out}", "--workers", "0"], ValueError,
         r"symdiff prepare: error: workers must be an int >= 1, got 0", "prepare-workers"),
    case(["prepare", "folder", "{src}", "{out}", "--num-shards", "2", "--shard-index", "2"], ValueError,
         r"symdiff prepare: error: shard_index must be from 0 to num_shards - 1 = 1", "prepare-shards"),
    case(["prepare", "folder", "{src}", "{out}", "--timeout", "-1"], ValueError,
         r"symdiff prepare: error: timeout must be a positive number of seconds", "prepare-timeout"),
    case(["prepare", "folder", "{out}/missing", "{out}"], ValueError,
         r"symdiff prepare: error: MIDI folder .*missing does not exist", "prepare-source"),
    case(["prepare", "midi", "{src}", "{out}"], ValueError,
         r"symdiff prepare: error: argument kind: invalid choice: 'midi' \(choose from", "prepare-kind"),
    case(["train", "--data", "{cache}", "--config", "{tiny}", "--out", "{out}", "max_steps=0"], ValueError,
         r"symdiff train: error: TrainConfig\.max_steps must be (>= 1|an int >= 1), got 0", "train-override"),
    case(["train", "--data", "{cache}", "--config", "{tiny}", "--out", "{out}", "learning_rate=1"], ValueError,
         r"symdiff train: error: unknown training config keys \['learning_rate'\]", "train-key"),
    case(["train", "--config", "{tiny}"], ValueError,
         r"symdiff train: error: TrainConfig needs data \(a cache made by symdiff prepare\) and out", "train-missing"),
    case(["generate", "--model", "{model}", "--bars", "0"], ValueError,
         r"symdiff generate: error: bars must be an int from 1 to 4096, got 0", "generate-bars"),
    case(["generate", "--model", "{model}", "--time-signature", "3-4"], ValueError,
         r"symdiff generate: error: --time-signature must look like 3/4, got '3-4'", "generate-meter"),
    case(["generate", "--model", "{model}", "--style", "jazz"], ValueError,
         r"symdiff generate: error: unknown style 'jazz'; this model knows: bach", "generate-style"),
    case(["generate", "--model", "{model}", "--steps", "0"], ValueError,
         r"symdiff generate: error: steps must be an int from 1 to 1000, got 0", "generate-steps"),
    case(["generate", "--model", "{model}", "--sampler", "heun"], ValueError,
         r"symdiff generate: error: argument --sampler: invalid choice: 'heun'", "generate-sampler"),
    case(["generate", "--model", "{model}", "--device", "tpu"], ValueError,
         r"symdiff generate: error: .*device.*'tpu'", "generate-device"),
    case(["generate", "--model", "{out}/nothing"], ValueError,
         r"symdiff generate: error: .*nothing: no such model directory", "generate-model"),
    case(["inpaint", "{midi}", "--model", "{model}", "--bars", "3", "1"], ValueError,
         r"symdiff inpaint: error: bars\[1\] must be an int from 3 to \d+, got 1", "inpaint-bars"),
    case(["accompany", "{midi}", "--model", "{model}", "--keep", "Lead"], ValueError,
         r"symdiff accompany: error: keep_tracks: no track named 'Lead'", "accompany-keep"),
    case(["frobnicate"], ValueError, r"symdiff: error: argument COMMAND: invalid choice: 'frobnicate'", "command"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "error", "pattern"), CLI)
def test_cli(
    argv: list[str],
    error: type[Exception],
    pattern: str,
    tiny_run: Path,
    chorale_cache: Path,
    data: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    del error  # every CLI error is the same: status 2 and one line
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "piece.mid").write_bytes(data)
    midi = tmp_path / "chorale.mid"
    RollDataset(chorale_cache, "train", 32).piece_roll(0).to_midi(midi)
    names = {"src": tmp_path / "src", "out": tmp_path / "out", "cache": chorale_cache, "model": tiny_run,
             "tiny": Path(__file__).resolve().parents[2] / "configs" / "tiny.toml", "midi": midi}  # fmt: skip
    line = one_line_error([a.format(**names) for a in argv], capsys)
    assert re.search(pattern, line), line


def test_cli_help_still_exits_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["prepare", "--help"])
    assert info.value.code == 0 and "--workers" in capsys.readouterr().out


def test_numpy_ints_are_ints(roll: Roll, tmp_path: Path, data: bytes) -> None:
    """Validation must not refuse numpy integers where ints are asked for."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "piece.mid").write_bytes(data)
    assert prepare(FolderSource(tmp_path / "src"), tmp_path / "out", workers=np.int64(1), progress=False)
    assert Limits(max_notes=np.int64(10)).max_notes == 10
    assert len(roll.slice(np.int64(0), np.int64(4)).notes) >= 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_a_device_this_machine_lacks(pipe: Pipeline, tiny_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """cuda without a GPU is refused up front, naming the argument, not deep inside torch."""
    no_gpu = r"'cuda' asked for, but torch finds no CUDA GPU here; use cpu"
    refuses(lambda: pipe.to("cuda"), ValueError, rf"device: {no_gpu}")
    refuses(lambda: Pipeline.from_pretrained(tiny_run, device="cuda"), ValueError, rf"device: {no_gpu}")
    line = one_line_error(["generate", "--model", str(tiny_run), "--device", "cuda"], capsys)
    assert re.search(rf"symdiff generate: error: --device: {no_gpu}", line), line
    assert pipe.device.type == "cpu"
