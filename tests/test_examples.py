"""The examples run: each notebook top to bottom (nbclient), each script, and every command of the proposed README.

Model: the bundled model (``symdiff/assets/default``). What needs it skips cleanly while it is not there, unless
``SYMDIFF_EXAMPLES_MODEL`` names another model folder (one written by ``symdiff train``), which is then used instead:
in a notebook through its first-cell line ``MODEL = None``, in the scripts and shell commands through ``--model``,
and in Python code blocks through ``Pipeline.from_pretrained(...)``.

``make demo`` and ``make test``, the README's two set-up commands, are not run from here: ``make test`` runs this
suite (it would recurse) and both re-create the virtual environment; CI runs ``make test`` itself.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
README = REPO / "README.md"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
#: wall-clock limit for one notebook, kernel start included (each takes well under a minute on 2 idle cores)
NOTEBOOK_LIMIT = 300.0
#: the first-cell line a notebook that loads a model starts with
MODEL_LINE = re.compile(r"^MODEL = None\b", re.MULTILINE)
#: sub-commands that load a model
MODEL_COMMANDS = ("generate", "continue", "inpaint", "accompany", "info", "demo")


def bundled_model_here() -> bool:
    from symdiff.pipeline import bundled_model_dir

    return (bundled_model_dir() / "config.json").is_file()


def example_model() -> str | None:
    """The model folder to use instead of the bundled one (None: the bundled one); skips when there is neither."""
    override = os.environ.get("SYMDIFF_EXAMPLES_MODEL")
    if override:
        return str(Path(override).resolve())
    if not bundled_model_here():
        pytest.skip(
            "the bundled model (symdiff/assets/default/config.json) is not there yet; "
            "set SYMDIFF_EXAMPLES_MODEL to a model folder to run this on another model"
        )
    return None


def audio_available() -> bool:
    from symdiff.render import AudioUnavailableError, _fluidsynth

    try:
        _fluidsynth()
    except AudioUnavailableError:
        return False
    return True


@pytest.fixture
def quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """One thread for torch in child processes and kernels (the machine has two cores), and no GPU."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the checkout's symdiff, even if another is installed


# ---------------------------------------------------------------------------------------------- notebooks
def _read(path: Path):  # -> nbformat.NotebookNode
    nbformat = pytest.importorskip("nbformat")
    return nbformat.read(path, as_version=4)


def _first_code(nb) -> str:
    return next(cell.source for cell in nb.cells if cell.cell_type == "code")


def test_there_are_three_notebooks_and_the_scripts():
    assert [p.name for p in NOTEBOOKS] == [
        "01_first_piece.ipynb",
        "02_composers_session.ipynb",
        "03_train_your_own.ipynb",
    ]
    assert {"generate.py", "roll_basics.py", "cli_tour.py"} <= {p.name for p in SCRIPTS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path):
    nb = _read(path)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: clear them before committing"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_that_loads_a_model_names_it_once_in_its_first_cell(path: Path):
    nb = _read(path)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    if "from_pretrained(MODEL)" not in code:
        assert not MODEL_LINE.search(code)
        return
    assert len(MODEL_LINE.findall(_first_code(nb))) == 1
    assert len(MODEL_LINE.findall(code)) == 1


def run_notebook(path: Path, cwd: Path, model: str | None):  # -> the executed NotebookNode
    """Execute ``path`` in a fresh kernel with ``cwd`` as its working folder, ``MODEL`` set to ``model``."""
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = _read(path)
    if model is not None:
        first = next(cell for cell in nb.cells if cell.cell_type == "code")
        first.source = MODEL_LINE.sub(f"MODEL = {model!r}", first.source)
    client = nbclient.NotebookClient(
        nb, timeout=NOTEBOOK_LIMIT, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    began = time.perf_counter()
    client.execute()
    took = time.perf_counter() - began
    assert took < NOTEBOOK_LIMIT, f"{path.name} took {took:.0f} s (limit {NOTEBOOK_LIMIT:.0f} s)"
    return nb


def _outputs(nb, mime: str) -> list[str]:
    return [
        output["data"][mime]
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "data" in output and mime in output["data"]
    ]


def _stdout(nb) -> str:
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("name") == "stdout"
    )


def test_notebook_first_piece(tmp_path: Path, quiet_env: None):
    nb = run_notebook(EXAMPLES / "01_first_piece.ipynb", tmp_path, example_model())
    out = tmp_path / "first-piece"
    for name in ("piece.mid", "piece.musicxml", "piece.png"):
        assert (out / name).stat().st_size > 100, name
    assert (out / "piece.wav").exists() == audio_available()
    html = _outputs(nb, "text/html")
    assert any("<img alt='piano roll'" in block for block in html)  # the Roll showed itself
    assert _outputs(nb, "image/png")  # the matplotlib figure
    assert "MIDI round trip: exact" in _stdout(nb)


def test_notebook_composers_session(tmp_path: Path, quiet_env: None):
    nb = run_notebook(EXAMPLES / "02_composers_session.ipynb", tmp_path, example_model())
    out = tmp_path / "composer-session"
    for name in ("continued", "filled", "harmonised"):
        assert (out / f"{name}.mid").stat().st_size > 100
        assert b"<score-partwise" in (out / f"{name}.musicxml").read_bytes()
    assert "['Soprano', 'Alto', 'Tenor', 'Bass']" in _stdout(nb)


def test_notebook_train_your_own(tmp_path: Path, quiet_env: None):
    nb = run_notebook(EXAMPLES / "03_train_your_own.ipynb", tmp_path, None)
    work = tmp_path / "train-your-own"
    assert (work / "run" / "model" / "config.json").is_file()
    labels = (work / "midi" / "labels.csv").read_text().splitlines()
    assert labels[0] == "path,split,mode" and len(labels) == 25
    report = json.loads((work / "eval" / "report.json").read_text())
    assert report["generated"]["pieces"] == 4 and report["reference"]["pieces"] >= 3
    assert report["memorisation"] is not None
    assert _outputs(nb, "text/markdown")


# ---------------------------------------------------------------------------------------------- scripts
def run_script(args: list[str], cwd: Path, timeout: float = 240.0) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{shlex.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_script_roll_basics(tmp_path: Path, quiet_env: None):
    out = run_script([str(EXAMPLES / "roll_basics.py"), "--out", "rb"], tmp_path)
    assert "MIDI round trip exact: True" in out and "tensor -> notes exact: True" in out
    assert (tmp_path / "rb" / "piece.mid").is_file() and (tmp_path / "rb" / "piece.png").is_file()


def test_script_generate(tmp_path: Path, quiet_env: None):
    model = example_model()
    args = [str(EXAMPLES / "generate.py"), "--out", "gen", "--bars", "4", "--steps", "4", "--no-audio"]
    out = run_script(args + ([] if model is None else ["--model", model]), tmp_path)
    for stem in ("sketch", "continued", "inpainted", "accompanied"):
        assert stem in out
        assert (tmp_path / "gen" / f"{stem}.mid").is_file() and (tmp_path / "gen" / f"{stem}.musicxml").is_file()


def _cli_tour(tmp_path: Path, train: bool) -> tuple[Path, str]:
    model = example_model()
    args = [str(EXAMPLES / "cli_tour.py"), "--out", "tour", "--steps", "4"] + (["--train"] if train else [])
    out = run_script(args + ([] if model is None else ["--model", model]), tmp_path)
    tour = tmp_path / "tour"
    for name in ("quantised.mid", "generated.mid", "gen.musicxml", "continued.mid", "accompanied.musicxml"):
        assert (tour / name).is_file(), name
    return tour, out


def test_script_cli_tour(tmp_path: Path, quiet_env: None):
    _, out = _cli_tour(tmp_path, train=False)
    assert "$ symdiff inpaint song.mid --bars 3 4 --tracks Alto Tenor" in out


@pytest.mark.slow
def test_script_cli_tour_with_training(tmp_path: Path, quiet_env: None):
    """The tour's training part (prepare, train, generate, evaluate); the README commands test covers the same
    commands in the default run."""
    tour, out = _cli_tour(tmp_path, train=True)
    assert (tour / "run" / "model" / "config.json").is_file()
    assert (tour / "evaluation" / "report.md").is_file()
    assert "$ symdiff evaluate samples midi" in out


# ---------------------------------------------------------------------------------------------- the README
def readme_blocks(language: tuple[str, ...]) -> list[str]:
    """The fenced code blocks of the proposed README in one of ``language``."""
    text = README.read_text(encoding="utf-8")
    return [body for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M) if lang in language]


def readme_commands() -> list[str]:
    """Every shell line of the README that starts with ``symdiff`` or ``python`` (comments removed)."""
    commands = []
    for block in readme_blocks(("bash", "sh", "shell")):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] in ("symdiff", "python"):
                commands.append(shlex.join(words))
    return commands


def test_readme_has_the_two_commands_and_a_quick_start():
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
    assert re.search(r"!\[[^\]]*\]\(docs/images/\w+\.png\)", text), "the README shows a picture"
    (quick_start,) = readme_blocks(("python",))
    assert len(quick_start.strip().splitlines()) <= 10
    assert len(readme_commands()) >= 5


def _small(words: list[str], model: str | None, audio: bool) -> list[str]:
    """A README command made small and pointed at the test model: a few sampler steps, no progress bars."""
    if words[0] == "symdiff" and words[1] in MODEL_COMMANDS and words[1] != "demo":
        if model is not None and "--model" not in words:
            words = [*words, "--model", model]
        if words[1] != "info":
            words = [*words, "--quiet"] + ([] if "--steps" in words else ["--steps", "4"])
    if not audio and "--wav" in words:
        i = words.index("--wav")
        words = words[:i] + words[i + 2 :]
    if words[0] == "symdiff":
        return [sys.executable, "-m", "symdiff.cli", *words[1:]]
    return [sys.executable, *words[1:]]


def _readme_folder(cwd: Path) -> None:
    """The files the README's commands take as "yours": song.mid, melody.mid, my_midi/; and the repo's
    configs/ and examples/ (the commands are written to run from the repository's root)."""
    from symdiff import Roll
    from symdiff.demo import corpus_midi

    (cwd / "song.mid").write_bytes(corpus_midi("bach/bwv66.6"))
    chorale = Roll.from_midi(cwd / "song.mid", layout="voices", steps_per_beat=4)
    soprano = chorale.notes[chorale.notes["track"] == 0]
    Roll(soprano, chorale.length, chorale.layout, chorale.grid, chorale.tempos, chorale.meters).to_midi(
        cwd / "melody.mid"
    )
    (cwd / "my_midi").mkdir()
    for number in ("bwv66.6", "bwv269", "bwv347", "bwv153.1", "bwv86.6", "bwv267"):
        (cwd / "my_midi" / f"{number}.mid").write_bytes(corpus_midi(f"bach/{number}"))
    for folder in ("configs", "examples"):
        (cwd / folder).symlink_to(REPO / folder, target_is_directory=True)


def test_readme_commands_run(tmp_path: Path, quiet_env: None):
    """Every ``symdiff ...`` / ``python ...`` line of the proposed README, in order, in one folder; those that need
    the bundled model are skipped while it is not there (unless SYMDIFF_EXAMPLES_MODEL is set)."""
    override = os.environ.get("SYMDIFF_EXAMPLES_MODEL")
    model = str(Path(override).resolve()) if override else None
    have_model = model is not None or bundled_model_here()
    audio = audio_available()
    _readme_folder(tmp_path)
    ran, skipped, missing = [], [], set()  # missing: what the skipped commands would have written
    for command in readme_commands():
        words = shlex.split(command)
        script = tmp_path / words[1] if words[0] == "python" else None
        model_command = words[0] == "symdiff" and words[1] in MODEL_COMMANDS and "--model" not in words
        needs_model = model_command or (script is not None and "Pipeline" in script.read_text(encoding="utf-8"))
        needs_audio = words[:2] == ["symdiff", "render"]
        if (needs_model and not have_model) or (needs_audio and not audio) or missing & set(words):
            skipped.append(command)
            missing |= {w for flag, w in itertools.pairwise(words) if flag in ("-o", "--output", "--wav", "--musicxml")}
            continue
        args = _small(words, model, audio)
        if script is not None and needs_model and model is not None:
            args += ["--model", model]
        result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, f"README command failed: {command}\n{result.stdout}\n{result.stderr}"
        ran.append(command)
    assert ran, "no README command ran"
    assert (tmp_path / "eval" / "report.md").is_file()  # the training commands need no bundled model
    if skipped:
        pytest.skip(f"ran {len(ran)} README commands; skipped {len(skipped)} without the bundled model: {skipped}")


def test_readme_python_quick_start_runs(tmp_path: Path, quiet_env: None):
    model = example_model()
    (code,) = readme_blocks(("python",))
    if model is not None:
        code = code.replace("Pipeline.from_pretrained()", f"Pipeline.from_pretrained({model!r})")
    if not audio_available():
        code = "\n".join(line for line in code.splitlines() if "save_audio" not in line)
    (tmp_path / "quick_start.py").write_text(code, encoding="utf-8")
    _readme_folder(tmp_path)
    run_script([str(tmp_path / "quick_start.py")], tmp_path)
    assert any(p.suffix == ".mid" for p in tmp_path.iterdir() if p.name not in ("song.mid", "melody.mid"))
