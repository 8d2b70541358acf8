"""Every generation command of the CLI, end to end on the bundled model with few sampler steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from symdiff import Roll
from symdiff.cli import main
from symdiff.pipeline import bundled_model_dir

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.skipif(
        not (bundled_model_dir() / "config.json").is_file(), reason="the bundled model is not in this checkout"
    ),
]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_info_lists_styles_and_tracks(capsys):
    info = _run(["info"], capsys)
    assert info["tracks"] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert len(info["styles"]) >= 3 and info["parameters"] > 0


def test_generate_writes_midi_audio_picture_and_notation(tmp_path: Path, capsys):
    out = tmp_path / "piece.mid"
    args = ["generate", "--bars", "4", "--style", "bach", "--seed", "1", "--steps", "4", "-o", str(out)]
    args += ["--wav", str(tmp_path / "piece.wav"), "--png", str(tmp_path / "piece.png")]
    args += ["--musicxml", str(tmp_path / "piece.musicxml"), "--quiet"]
    written = _run(args, capsys)
    assert written["bars"] == 4
    for name in ("piece.mid", "piece.wav", "piece.png", "piece.musicxml"):
        assert (tmp_path / name).stat().st_size > 0, name
    again = tmp_path / "again.mid"
    _run(["generate", "--bars", "4", "--style", "bach", "--seed", "1", "--steps", "4", "-o", str(again)], capsys)
    assert again.read_bytes() == out.read_bytes()  # the same seed gives the same file


def test_generate_several_samples_in_three_four(tmp_path: Path, capsys):
    out = tmp_path / "waltz.mid"
    args = ["generate", "--bars", "3", "--time-signature", "3/4", "--num-samples", "2", "--steps", "3"]
    written = _run([*args, "--seed", "0", "-o", str(out), "--quiet"], capsys)
    assert [Path(w["midi"]).name for w in written] == ["waltz-1.mid", "waltz-2.mid"]
    roll = Roll.from_midi(tmp_path / "waltz-1.mid", layout="voices", steps_per_beat=4)
    assert (int(roll.meters["numerator"][0]), int(roll.meters["denominator"][0])) == (3, 4)


@pytest.fixture
def given(tmp_path: Path) -> Path:
    from symdiff.demo import corpus_midi

    path = tmp_path / "chorale.mid"
    roll = Roll.from_midi(corpus_midi("bach/bwv66.6"), layout="voices", steps_per_beat=4).bars(0, 4)
    roll.to_midi(path)
    return path


def test_continue_inpaint_accompany(given: Path, tmp_path: Path, capsys):
    original = Roll.from_midi(given, layout="voices", steps_per_beat=4)
    common = ["--seed", "0", "--steps", "3", "--quiet"]

    _run(["continue", str(given), "--bars", "2", "-o", str(tmp_path / "c.mid"), *common], capsys)
    cont = Roll.from_midi(tmp_path / "c.mid", layout="voices", steps_per_beat=4)
    assert np.array_equal(cont.to_tensor(0, original.length), original.to_tensor())

    _run(["inpaint", str(given), "--bars", "2", "3", "-o", str(tmp_path / "i.mid"), *common], capsys)
    filled = Roll.from_midi(tmp_path / "i.mid", layout="voices", steps_per_beat=4)
    first = int(original.bar_starts()[1])
    assert np.array_equal(filled.to_tensor(0, first), original.to_tensor(0, first))

    _run(["accompany", str(given), "--keep", "Soprano", "-o", str(tmp_path / "a.mid"), *common], capsys)
    acc = Roll.from_midi(tmp_path / "a.mid", layout="voices", steps_per_beat=4)
    assert np.array_equal(acc.to_tensor(tracks=["Soprano"]), original.to_tensor(tracks=["Soprano"]))


def test_bad_arguments_give_one_clear_line(given: Path, tmp_path: Path, capsys):
    assert main(["generate", "--style", "jazz", "-o", str(tmp_path / "x.mid")]) == 2
    assert "unknown style 'jazz'" in capsys.readouterr().err
    assert main(["accompany", str(given), "--keep", "Guitar", "-o", str(tmp_path / "x.mid")]) == 2
    assert "Guitar" in capsys.readouterr().err
    assert main(["generate", "--time-signature", "three", "-o", str(tmp_path / "x.mid")]) == 2
    assert "--time-signature" in capsys.readouterr().err
    assert not (tmp_path / "x.mid").exists()
