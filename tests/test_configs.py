"""Every bundled training config loads, and builds a model of the size its comment promises."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from symdiff.diffusion import NoiseSchedule
from symdiff.model import DenoiserConfig, TransformerDenoiser
from symdiff.train import TrainConfig

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))
#: tracks and pitches of the data each config is meant for
DATA = {"tiny": (1, 88), "bundled": (4, 64), "lakh-gpu": (5, 128), "maestro-gpu": (1, 88)}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads_and_builds(path: Path) -> None:
    config = TrainConfig.load(path, data="somewhere", out="elsewhere")
    NoiseSchedule.from_dict(dict(config.schedule))
    tracks, pitches = DATA[path.stem]
    model = DenoiserConfig.from_dict(
        {"max_steps": config.window, **dict(config.model), "tracks": tracks, "pitches": pitches}
    )
    assert config.window % model.patch == 0
    promised = re.search(r"(\d+)M parameters", path.read_text())
    if promised:
        millions = TransformerDenoiser(model).num_parameters() / 1e6
        assert abs(millions - int(promised.group(1))) <= 1, (path.name, millions)
