"""symdiff prepare and RollDataset on real files: counts, error log, duplicates, resume after SIGKILL, workers,
windows equal to the original piece, DataLoader workers under fork and spawn."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from symdiff import Roll, RollDataset, prepare
from symdiff.data.dataset import Augment
from symdiff.data.sources import FolderSource

from ..conftest import REPO, real_midi_files

LAKH = real_midi_files("lakh")[:12]
CORRUPT = real_midi_files("corrupt")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder of 12 real Lakh files, 3 corrupt ones, and one Lakh file twice under another name."""
    if not LAKH:
        pytest.skip("the real MIDI corpus is not here")
    root = tmp_path_factory.mktemp("midi")
    for p in LAKH:
        shutil.copy(p, root / p.name)
    (root / "broken").mkdir()
    for p in CORRUPT[:3]:
        shutil.copy(p, root / "broken" / p.name)
    shutil.copy(LAKH[0], root / "broken" / "copy of first.mid")
    return root


def cache_files(out: Path) -> dict[str, bytes]:
    """Every file of a cache except the listing's source repr, by relative path."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cache(folder: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cache")
    manifest = prepare(FolderSource(folder), out, layout="gm", steps_per_beat=4, unit_size=4, progress=False)
    assert manifest is not None
    return out


def test_manifest_counts_errors_and_duplicates(cache: Path) -> None:
    manifest = json.loads((cache / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["listed"] == 16
    assert counts["failed"] == 3  # the first three corrupt files cannot be read
    assert counts["converted"] == 13 and counts["duplicates"] == 1 and counts["kept"] == 12
    assert sum(counts["splits"].values()) == 12
    errors = (cache / "errors.tsv").read_text().splitlines()
    assert len(errors) == 4 and all("not a readable MIDI file" in line for line in errors[1:])
    assert manifest["duplicates"] == {"broken/copy of first.mid": LAKH[0].name}


def test_workers_give_the_same_cache(folder: Path, cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "two"
    prepare(FolderSource(folder), out, layout="gm", steps_per_beat=4, unit_size=4, workers=2, progress=False)
    assert cache_files(out) == cache_files(cache)


def test_shards_split_the_work_and_the_last_one_writes_the_manifest(folder: Path, cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "sharded"
    kwargs = dict(layout="gm", steps_per_beat=4, unit_size=4, num_shards=2, progress=False)
    assert prepare(FolderSource(folder), out, shard_index=1, **kwargs) is None
    assert not (out / "manifest.json").exists()
    assert prepare(FolderSource(folder), out, shard_index=0, **kwargs) is not None
    assert cache_files(out) == cache_files(cache)


def test_other_settings_are_refused(folder: Path, cache: Path) -> None:
    with pytest.raises(ValueError, match="other settings"):
        prepare(FolderSource(folder), cache, layout="lpd5", steps_per_beat=4, unit_size=4, progress=False)


def test_resume_after_sigkill_gives_the_same_cache(folder: Path, cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    code = (
        "import sys, time\n"
        "from symdiff.data import prepare as P\n"
        "from symdiff.data.sources import FolderSource\n"
        "slow = P.convert_piece\n"
        "def convert(*a, **k):\n"
        "    time.sleep(0.15)\n"
        "    return slow(*a, **k)\n"
        "P.convert_piece = convert\n"
        f"P.prepare(FolderSource({str(folder)!r}), {str(out)!r}, layout='gm', steps_per_beat=4, unit_size=4,"
        " progress=False)\n"
    )
    for delay in (0.9, 1.6):  # kill it twice, at different moments
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
        deadline = time.time() + 60
        while time.time() < deadline and not (out / "settings.json").exists():
            time.sleep(0.05)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not (out / "manifest.json").exists()
        for unit in (out / "units").glob("unit-*"):  # every unit visible under its final name is whole
            assert {p.name for p in unit.iterdir()} >= {"notes.npy", "index.npy", "pieces.jsonl"}
    prepare(FolderSource(folder), out, layout="gm", steps_per_beat=4, unit_size=4, progress=False)
    leftovers = [p.name for p in (out / "units").iterdir() if p.name.startswith(".tmp")]
    for name in leftovers:  # a killed run may leave its temporary folder; it is never read
        shutil.rmtree(out / "units" / name)
    assert cache_files(out) == cache_files(cache)


def test_windows_equal_the_original_piece(cache: Path) -> None:
    data = RollDataset(cache, split="train", window=64)
    assert len(data) > 100
    for i in [0, 7, len(data) // 2, len(data) - 1]:
        item = data[i]
        p = data.pieces[int(item["piece"])]
        original = Roll.from_midi(p["path"], layout="gm", steps_per_beat=4)
        start = int(item["start"])
        torch.testing.assert_close(item["roll"], original.to_tensor(start, start + 64))
        np.testing.assert_array_equal(data.window_roll(i).notes, original[start : start + 64].notes)
        assert item["tempo"] == pytest.approx(
            original.tempos["qpm"][np.searchsorted(original.tempos["step"], start, "right") - 1]
        )


def test_labels_selection_and_augmentation(cache: Path) -> None:
    plain = RollDataset(cache, split="train", window=64)
    aug = RollDataset(
        cache,
        split="train",
        window=64,
        random_offset=True,
        augment=Augment(transpose=(2, 2), velocity_jitter=0),
        seed=3,
    )
    x, y = plain[5]["roll"], aug[5]["roll"]
    if int(aug[5]["start"]) == int(plain[5]["start"]):
        drums = plain.layout.index("Drums")
        pitched = [t for t in range(len(plain.layout)) if t != drums]
        torch.testing.assert_close(y[pitched, :, 2:], x[pitched, :, :-2])
    again = RollDataset(
        cache,
        split="train",
        window=64,
        random_offset=True,
        augment=Augment(transpose=(-3, 3), velocity_jitter=5),
        seed=3,
    )
    again.set_epoch(1)
    first = [again[i]["roll"] for i in range(8)]
    torch.testing.assert_close(again[4]["roll"], first[4])  # the same item and epoch: the same draw
    again.set_epoch(2)
    assert any(not torch.equal(first[i], again[i]["roll"]) for i in range(8))  # another epoch: other draws
    labelled = RollDataset(cache, split="train", window=64, label="nonexistent")
    assert labelled.label_names == [] and int(labelled[0]["label"]) == -1
    with pytest.raises(ValueError, match="split must be one of"):
        RollDataset(cache, split="dev")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_dataloader_workers(cache: Path, method: str) -> None:
    data = RollDataset(cache, split="train", window=32)
    data[0]  # open the memory maps in this process first: they must not travel
    assert len(pickle.dumps(data)) < 200_000
    loader = torch.utils.data.DataLoader(
        data, batch_size=8, num_workers=2, multiprocessing_context=method, shuffle=False
    )
    batch = next(iter(loader))
    assert batch["roll"].shape == (8, 17, 3, 128, 32)
    torch.testing.assert_close(batch["roll"][3], data[3]["roll"])


def test_an_unfinished_cache_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"manifest\.json"):
        RollDataset(tmp_path)


class CrashingSource(FolderSource):
    """A folder whose piece named ``crash.mid`` kills the process reading it (as a native-code crash would)."""

    def read_midi(self, ref):  # type: ignore[no-untyped-def]
        if ref.piece_id.endswith("crash.mid"):
            os.kill(os.getpid(), signal.SIGSEGV)
        return super().read_midi(ref)


def test_a_crashing_worker_takes_down_only_its_piece(tmp_path: Path) -> None:
    if not LAKH:
        pytest.skip("the real MIDI corpus is not here")
    src = tmp_path / "src"
    src.mkdir()
    for p in LAKH[:6]:
        shutil.copy(p, src / p.name)
    shutil.copy(LAKH[0], src / "crash.mid")
    manifest = prepare(CrashingSource(src), tmp_path / "out", steps_per_beat=4, workers=2, progress=False)
    assert manifest["counts"]["failed"] == 1 and manifest["counts"]["kept"] == 6
    assert "crashed" in (tmp_path / "out" / "errors.tsv").read_text()


class SlowSource(FolderSource):
    """A folder whose piece named ``slow.mid`` never finishes reading."""

    def read_midi(self, ref):  # type: ignore[no-untyped-def]
        if ref.piece_id.endswith("slow.mid"):
            time.sleep(3600)
        return super().read_midi(ref)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_piece_that_takes_too_long_is_logged_and_skipped(tmp_path: Path, workers: int) -> None:
    if not LAKH:
        pytest.skip("the real MIDI corpus is not here")
    src = tmp_path / "src"
    src.mkdir()
    for p in LAKH[:3]:
        shutil.copy(p, src / p.name)
    shutil.copy(LAKH[0], src / "slow.mid")
    started = time.monotonic()
    manifest = prepare(
        SlowSource(src), tmp_path / "out", steps_per_beat=4, workers=workers, timeout=1.0, progress=False
    )
    assert time.monotonic() - started < 30
    assert manifest["counts"]["failed"] == 1 and manifest["counts"]["kept"] == 3
    assert "took longer than 1 s" in (tmp_path / "out" / "errors.tsv").read_text()
