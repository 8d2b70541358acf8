"""Loading weights never executes code: model folders holding crafted pickles are refused unopened (by
``symdiff.model.from_pretrained`` and ``Pipeline.from_pretrained``), a checkpoint's pickled optimiser state is read
with ``weights_only=True`` (a crafted or corrupt one is a TrainingError naming it), and a config.json that does not
describe its weights is a clear error."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from symdiff.cli import main
from symdiff.model import DenoiserConfig, TransformerDenoiser, from_pretrained, save_pretrained
from symdiff.pipeline import Pipeline
from symdiff.train import TrainConfig, TrainingError, train

from .conftest import TINY


class Payload:
    """Unpickling this creates ``marker`` (``open(marker, "w")``): proof that a loader ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


def crafted(marker: Path) -> bytes:
    """A pickle whose loading creates ``marker``, wrapped as PyTorch's zip format (what ``torch.save`` writes)."""
    import io

    buffer = io.BytesIO()
    torch.save({"state_dict": Payload(marker)}, buffer)
    return buffer.getvalue()


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "the-payload-ran"


def test_the_payload_is_live(marker: Path) -> None:
    """The crafted files below really run code when unpickled the unsafe way (so refusing them means something)."""
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()
    marker.unlink()
    import io

    torch.load(io.BytesIO(crafted(marker)), weights_only=False)
    assert marker.exists()


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, DenoiserConfig]:
    """A small model saved with save_pretrained (as symdiff train writes it, minus the data settings)."""
    config = DenoiserConfig.tiny(tracks=2, pitches=8, max_steps=32)
    torch.manual_seed(0)
    folder = save_pretrained(tmp_path / "model", TransformerDenoiser(config), config, extra={"note": "test"})
    return folder, config


@pytest.mark.parametrize("name", ["model.bin", "pytorch_model.bin", "model.pt", "weights.ckpt", "model.pkl"])
def test_a_folder_of_pickled_weights_is_refused_unopened(saved, marker: Path, name: str) -> None:
    folder, _ = saved
    (folder / "model.safetensors").unlink()
    (folder / name).write_bytes(crafted(marker))
    with pytest.raises(ValueError, match=rf"pickle files \({name}\).*only safetensors.*never unpickles") as info:
        from_pretrained(folder)
    assert str(folder) in str(info.value)
    with pytest.raises(ValueError, match="never unpickles"):
        Pipeline.from_pretrained(folder)
    with pytest.raises(ValueError, match="never unpickles"):  # a training run's folder: its model/ is used
        Pipeline.from_pretrained(folder.parent)
    assert not marker.exists()


def test_a_pickle_beside_the_safetensors_is_never_opened(saved, marker: Path) -> None:
    folder, config = saved
    (folder / "pytorch_model.bin").write_bytes(crafted(marker))
    _, loaded, extra = from_pretrained(folder)
    assert loaded == config and extra == {"note": "test"}
    assert not marker.exists()


def test_a_pickle_renamed_to_safetensors_is_not_unpickled(saved, marker: Path) -> None:
    folder, _ = saved
    data = crafted(marker)
    (folder / "model.safetensors").write_bytes(data)
    document = json.loads((folder / "config.json").read_text())
    document["weights_sha256"] = hashlib.sha256(data).hexdigest()  # as if the attacker rewrote both files
    (folder / "config.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        from_pretrained(folder)
    assert not marker.exists()


def test_a_checkpoint_with_a_crafted_optimiser_state_is_refused_on_resume(
    chorale_cache: Path, tmp_path: Path, marker: Path, one_thread: None
) -> None:
    from symdiff.train import TrainConfig, TrainingError, train

    config = TrainConfig.load(
        TINY, ["max_steps=5", "checkpoint_every=5", "eval_every=5"], data=str(chorale_cache), out=str(tmp_path / "run")
    )
    train(config, progress=False)
    checkpoint = tmp_path / "run" / "checkpoints" / "step-00000005"
    (checkpoint / "train_state.pt").write_bytes(crafted(marker))
    with pytest.raises((pickle.UnpicklingError, TrainingError), match=r"(?i)weights.only|unpickl") as info:
        train(config, resume=True, progress=False)
    assert not marker.exists()
    assert "GLOBAL" in str(info.value) or "train_state.pt" in str(info.value)  # it says what was refused


SHORT_RUN = ["max_steps=5", "checkpoint_every=5", "eval_every=5"]


@pytest.fixture(scope="module")
def short_run(chorale_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainConfig, Path]:
    """A 5-step run of configs/tiny.toml (:data:`SHORT_RUN`) on one thread, and its checkpoint's train_state.pt."""
    out = tmp_path_factory.mktemp("short-run") / "run"
    config = TrainConfig.load(TINY, SHORT_RUN, data=str(chorale_cache), out=str(out))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(config, progress=False)
    finally:
        torch.set_num_threads(threads)
    return config, out / "checkpoints" / "step-00000005" / "train_state.pt"


def _saved(value: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


BAD_STATES = {
    "crafted-pickle": lambda good, marker: crafted(marker),
    "truncated": lambda good, marker: good[: len(good) // 2],
    "empty": lambda good, marker: b"",
    "not-torch": lambda good, marker: b"this is not a checkpoint\n",
    "not-a-state": lambda good, marker: _saved([1, 2, 3]),
}


@pytest.mark.parametrize("kind", list(BAD_STATES))
def test_a_bad_train_state_is_refused_on_resume_with_an_error_naming_it(
    short_run: tuple[TrainConfig, Path], marker: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Resuming from a checkpoint whose train_state.pt is a crafted pickle, cut short or not one at all is a
    TrainingError naming the file (one line from the command line), and nothing in it is ever run."""
    config, state = short_run
    good = state.read_bytes()
    state.write_bytes(BAD_STATES[kind](good, marker))
    try:
        with pytest.raises(TrainingError, match=r"is not a valid checkpoint train state") as info:
            train(config, resume=True, progress=False)
        assert str(state) in str(info.value)
        argv = ["train", "--data", config.data, "--out", config.out, "--config", str(TINY), "--quiet", "--resume"]
        assert main([*argv, *SHORT_RUN]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(state) in err[0] and "not a valid checkpoint" in err[0], err
    finally:
        state.write_bytes(good)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["step-00000099", "../../elsewhere", "config.json", ""])
def test_latest_naming_no_checkpoint_is_refused_on_resume(short_run: tuple[TrainConfig, Path], name: str) -> None:
    """checkpoints/latest that names a missing folder (or anything but a checkpoint beside it) is a TrainingError
    naming the pointer file, not a bare FileNotFoundError from deep inside resuming."""
    config, state = short_run
    pointer = state.parent.parent / "latest"
    good = pointer.read_text()
    pointer.write_text(name + "\n")
    try:
        with pytest.raises(TrainingError, match=rf"{re.escape(str(pointer))} names .*not a checkpoint folder"):
            train(config, resume=True, progress=False)
    finally:
        pointer.write_text(good)


# ------------------------------------------------------------------------------------------------ config.json
def rewrite(folder: Path, **changes: object) -> None:
    document = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    (folder / "config.json").write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"hidden_size": 64}, r"unknown DenoiserConfig keys \['hidden_size'\]; allowed keys: \[.*'d_model'"),
        ({"hidden_size": 64}, r"besides the config fields, config\.json may hold \[.*'schedule'"),
        ({"d_model": "32"}, r"DenoiserConfig\.d_model must be an int, got '32'"),
        ({"n_layers": 2.5}, r"DenoiserConfig\.n_layers must be an int, got 2\.5"),
        ({"use_tempo": "yes"}, r"DenoiserConfig\.use_tempo must be a bool, got 'yes'"),
        ({"dropout": 1.5}, r"DenoiserConfig\.dropout must be in \[0, 1\), got 1\.5"),
        ({"label_names": "bach"}, r"DenoiserConfig\.label_names must be a list of str, got 'bach'"),
        ({"tracks": None}, r"DenoiserConfig is missing the required keys \['tracks'\]"),
        ({"schedule": None}, r"no 'schedule'"),
        ({"schedule": [1, 2]}, r"'schedule' must be a JSON object, got list"),
        ({"format_version": 99}, r"'format_version' 99 is not supported \(this symdiff reads 1\.\.1\)"),
        ({"format": "diffusers.UNet2DModel"}, r"'format' is 'diffusers\.UNet2DModel', expected"),
        ({"extra": "x"}, r"'extra' must be a JSON object, got str"),
        ({"weights_sha256": 5}, r"'weights_sha256' must be a string"),
    ],
)
def test_config_json_is_validated_against_the_dataclass(saved, changes: dict, pattern: str) -> None:
    folder, _ = saved
    rewrite(folder, **changes)
    with pytest.raises(ValueError, match=pattern) as info:
        from_pretrained(folder)
    assert str(folder / "config.json") in str(info.value)  # the message names the file


def test_config_json_that_is_not_json(saved) -> None:
    folder, _ = saved
    (folder / "config.json").write_text('{"tracks": 2,')
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON"):
        from_pretrained(folder)
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        from_pretrained(folder)


def test_a_config_that_does_not_fit_the_tensors(saved) -> None:
    folder, _ = saved
    rewrite(folder, d_model=64, n_heads=2)  # the weights are 32 wide
    with pytest.raises(
        ValueError, match=r"does not fit the model of config\.json: tensor '.*' has shape \(\d+.*expects"
    ):
        from_pretrained(folder)
    rewrite(folder, d_model=32, n_layers=3)  # one block more than saved
    with pytest.raises(ValueError, match=r"missing tensors \['blocks\.2\."):
        from_pretrained(folder)


def test_weights_and_config_from_different_saves(saved, tmp_path: Path) -> None:
    folder, config = saved
    torch.manual_seed(1)
    other = save_pretrained(tmp_path / "other", TransformerDenoiser(config), config)
    shutil.copy(other / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(ValueError, match=r"sha256 differs.*different saves"):
        from_pretrained(folder)


def test_extra_unexpected_tensors_and_integer_tensors(saved) -> None:
    folder, config = saved
    net = TransformerDenoiser(config)
    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    tensors["evil.extra"] = torch.zeros(3)
    first = sorted(tensors)[0]
    tensors[first] = tensors[first].to(torch.int64)
    save_file(tensors, str(folder / "model.safetensors"))
    rewrite(folder, weights_sha256=None)
    with pytest.raises(
        ValueError, match=r"unexpected tensors \['evil\.extra'\].*dtype torch\.int64, expected a floating"
    ):
        from_pretrained(folder)


def test_saving_the_same_weights_gives_the_same_bytes(saved, tmp_path: Path) -> None:
    """Resumed and uninterrupted runs are compared byte for byte: a save must not depend on the process (the
    safetensors metadata is a hash map; with several keys their order changed from save to save)."""
    folder, config = saved
    denoiser, _, extra = from_pretrained(folder)
    digests = {
        hashlib.sha256(
            (save_pretrained(tmp_path / f"copy{i}", denoiser, config, extra=extra) / "model.safetensors").read_bytes()
        ).hexdigest()
        for i in range(8)
    }
    assert digests == {hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()}
