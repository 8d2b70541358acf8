"""The symdiff command, run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symdiff import Roll
from symdiff.cli import main


def test_convert_writes_quantised_midi(shared_midi: Path, tmp_path: Path, capsys) -> None:
    source = shared_midi / "lakh" / "17_-_Her_Majesty.mid1"
    out = tmp_path / "out.mid"
    assert main(["convert", str(source), str(out), "--layout", "lpd5", "--steps-per-beat", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["notes"] == 310 and report["layout"] == "lpd5"
    roll = Roll.from_midi(out, layout="lpd5", steps_per_beat=4)
    assert len(roll.notes) == 310


def test_convert_reports_bad_input_in_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi at all")
    assert main(["convert", str(bad), str(tmp_path / "x.mid")]) == 2
    err = capsys.readouterr().err
    assert "bad.mid" in err and "not a MIDI file" in err
    assert not (tmp_path / "x.mid").exists()


def test_demo_generates_every_style_and_round_trips_a_corpus_piece(tmp_path: Path, capsys) -> None:
    from symdiff.pipeline import Pipeline

    assert main(["demo", "--out", str(tmp_path), "--bars", "4", "--steps", "4"]) == 0
    out = capsys.readouterr().out
    assert "round trip of bach/bwv66.6: exact" in out
    assert (tmp_path / "bach_bwv66.6.roundtrip.mid").is_file()
    for style in Pipeline.from_pretrained().styles:
        for suffix in (".mid", ".png", ".wav"):
            assert (tmp_path / f"{style}-0{suffix}").stat().st_size > 0, (style, suffix)


def test_help_lists_examples(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "examples:" in capsys.readouterr().out


def test_public_names_match_the_lazy_exports() -> None:
    import symdiff

    assert sorted(symdiff._EXPORTS) == sorted(n for n in symdiff.__all__ if n != "__version__")
    for name in symdiff._EXPORTS:
        assert getattr(symdiff, name).__name__ == name
