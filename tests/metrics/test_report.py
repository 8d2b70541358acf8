"""evaluate() and ``symdiff evaluate`` on real MIDI files: report.json, report.md and plots are written, unreadable
files are skipped and named, a copied file is caught by the memorisation check."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from symdiff import Roll, prepare
from symdiff.data.sources import FolderSource
from symdiff.metrics import add_evaluate_command, evaluate

from ..conftest import real_midi_files

PNG = b"\x89PNG\r\n\x1a\n"


def copy(files: list[Path], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copyfile(path, folder / path.name)
    return folder


def strict_json(path: Path) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"{path} holds {name}, which is not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def test_evaluate_real_files_writes_a_report(shared_midi: Path, tmp_path: Path) -> None:
    lakh = real_midi_files("lakh")
    generated = copy(
        [*lakh[:3], shared_midi / "corrupt" / "type2.mid", shared_midi / "corrupt" / "empty.mid"], tmp_path / "gen"
    )
    reference = copy(lakh[3:9], tmp_path / "ref")
    train = copy([lakh[1], *lakh[20:22]], tmp_path / "train")  # the second generated file is a training piece
    out = tmp_path / "report"
    result = evaluate(generated, reference, train=train, out=out, steps_per_beat=4, progress=False)

    assert result["generated"]["pieces"] == 4  # type2.mid is a format-2 file symdiff refuses
    assert [s["file"] for s in result["generated"]["skipped"]] == ["type2.mid"]
    assert result["reference"]["pieces"] == 6 and result["ceiling"]["counts"] == {"generated": 3, "reference": 3}
    comparison = result["comparison"]
    assert set(comparison["features"]) >= {"pitch_class_entropy", "groove_consistency", "pitch_class_histogram"}
    assert 0 < comparison["mean_oa"] <= 1 and comparison["frechet_distance"] > 0

    memo = result["memorisation"]
    copied = next(p for p in memo["pieces"] if p["generated_id"] == lakh[1].name)
    assert copied["exact"] == copied["windows"] > 0 and copied["nearest_training_id"] == lakh[1].name
    others = [p for p in memo["pieces"] if p["generated_id"] != lakh[1].name]
    assert all(p["exact"] == 0 for p in others)
    assert {m["training_id"] for m in memo["matches"]} == {lakh[1].name}

    assert sorted(p.name for p in out.iterdir()) == sorted(result["files"])
    report = strict_json(out / "report.json")  # NaN (no drums in a set, ...) is written as null
    assert report["memorisation"]["exact"] == memo["exact"]
    assert report["generated"]["skipped"][0]["file"] == "type2.mid"
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "| metric | generated vs reference | real vs real (ceiling) |" in text
    assert "| pitch_class_entropy |" in text and "type2.mid" in text and lakh[1].name in text
    for image in ("features.png", "histograms.png", "oa.png"):
        assert (out / image).read_bytes().startswith(PNG) and f"]({image})" in text


def test_evaluate_takes_rolls_and_writes_nothing_without_out(corpus: dict[str, list[Roll]]) -> None:
    result = evaluate(corpus["essen"][:5], corpus["bach"][:3], progress=False)
    assert result["files"] == [] and result["ceiling"] is None and result["memorisation"] is None
    assert result["comparison"]["features"]["polyphony"]["oa"] < 0.1
    with pytest.raises(ValueError, match="generated: no readable pieces"):
        evaluate([], corpus["bach"][:3], progress=False)


def test_the_evaluate_command(corpus: dict[str, list[Roll]], tmp_path: Path) -> None:
    for i, roll in enumerate(corpus["bach"][:6]):
        roll.to_midi(tmp_path / "real" / f"chorale{i}.mid")
    for i, roll in enumerate(corpus["bach"][6:9]):
        roll.transpose(2).to_midi(tmp_path / "generated" / f"sample{i}.mid")
    parser = argparse.ArgumentParser(prog="symdiff")
    add_evaluate_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "evaluate",
            str(tmp_path / "generated"),
            str(tmp_path / "real"),
            "--train",
            str(tmp_path / "real"),
            "-o",
            str(tmp_path / "out"),
            "--layout",
            "voices",
            "--steps-per-beat",
            "4",
            "--no-plots",
            "--quiet",
        ]
    )
    assert args.func(args) == 0
    report = strict_json(tmp_path / "out" / "report.json")
    assert report["settings"]["layout"] == "voices" and report["settings"]["steps_per_beat"] == 4
    assert report["generated"]["pieces"] == 3 and report["reference"]["pieces"] == 6
    assert report["memorisation"]["exact"] == 0  # transposed chorales that are not in the training folder
    assert report["files"] == ["report.json", "report.md"]


def test_importing_the_metrics_does_not_import_matplotlib() -> None:
    code = (
        "import sys, symdiff.metrics, symdiff.metrics.report, symdiff.metrics.compare; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_evaluate_against_a_prepared_cache(corpus: dict[str, list[Roll]], tmp_path: Path) -> None:
    folder = tmp_path / "midi"
    rows = ["path,style,split"]
    for i, roll in enumerate(corpus["essen"][:4]):
        roll.to_midi(folder / f"tune{i}.mid")
        rows.append(f"tune{i}.mid,essen,{'test' if i == 3 else 'train'}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    cache = tmp_path / "cache"
    source = FolderSource(folder, labels=folder / "labels.csv")
    prepare(source, cache, layout="voices", steps_per_beat=4, progress=False)
    generated = [corpus["essen"][1], corpus["essen"][3]]  # a training tune, and the test-split one
    result = evaluate(generated, corpus["essen"][4:10], train=cache, progress=False)
    memo = result["memorisation"]
    assert result["train"]["pieces"] == 3 and "train split" in result["train"]["source"]
    assert [p["exact"] == p["windows"] > 0 for p in memo["pieces"]] == [True, False]
    assert {m["training_id"] for m in memo["matches"]} == {"tune1.mid"}
    wrong_grid = [Roll.from_midi(corpus["essen"][1].to_midi_bytes(), layout="voices", steps_per_beat=12)]
    with pytest.raises(ValueError, match="grid"):
        evaluate(wrong_grid, corpus["essen"][4:10], train=cache, progress=False)
