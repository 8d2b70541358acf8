"""One call (or one command) that evaluates a folder of generated MIDI against real MIDI, and writes a report.

:func:`evaluate` reads the two sets, runs :func:`~symdiff.metrics.compare.compare_sets` on them, the same
comparison between two halves of the reference set (the *real-vs-real ceiling*: what a perfect generator of this
many pieces would score), and, given a training set, the memorisation check; it writes ``report.json``,
``report.md`` and PNG plots. ``symdiff evaluate GENERATED REFERENCE -o OUT`` runs it from the command line
(:func:`add_evaluate_command` registers it).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..files import atomic_write_bytes, atomic_write_text
from ..progress import progress_bar
from .compare import compare_sets
from .features import FEATURES, HISTOGRAM_FEATURES, SCALAR_FEATURES, feature_table
from .memorisation import TrainingIndex

if TYPE_CHECKING:
    from typing import TypeAlias

    from ..data.dataset import RollDataset
    from ..roll import Roll

    #: a folder (or file) of MIDI, or Rolls
    RollSource: TypeAlias = str | os.PathLike[str] | Sequence[Roll]

log = logging.getLogger(__name__)

MIDI_SUFFIXES: tuple[str, ...] = (".mid", ".midi", ".kar", ".smf")


# ====================================================================== reading
def midi_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The MIDI files under ``folder`` (recursively; ``.mid``, ``.midi``, ``.kar``, ``.smf`` and numbered variants
    such as ``.mid3``, any case), sorted; a single file is returned as itself."""
    path = Path(folder)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is neither a MIDI file nor a folder")
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower().rstrip("0123456789") in MIDI_SUFFIXES)


def load_rolls(
    source: RollSource,
    *,
    layout: str = "gm",
    steps_per_beat: int | None = 12,
    frames_per_second: float | None = None,
    progress: bool = False,
    description: str = "reading MIDI",
) -> tuple[list[Roll], list[str], list[dict[str, str]]]:
    """Rolls from a folder of MIDI files (or a list of Rolls, passed through): ``(rolls, names, skipped)``.

    Files that cannot be read are logged and skipped; ``skipped`` lists ``{"file", "error"}`` for each. Names are
    paths relative to the folder (for Rolls: ``metadata["piece_id"]``, ``metadata["file"]`` or ``piece<i>``).
    """
    from ..roll import Roll

    if not isinstance(source, (str, os.PathLike)):
        rolls = list(source)
        names = [str(r.metadata.get("piece_id") or r.metadata.get("file") or f"piece{i}") for i, r in enumerate(rolls)]
        return rolls, names, []
    root = Path(source)
    files = midi_files(root)
    rolls, names, skipped = [], [], []
    bar = progress_bar(len(files), progress, description, "file")
    for path in files:
        name = path.name if root.is_file() else path.relative_to(root).as_posix()
        try:
            roll = Roll.from_midi(
                path, layout=layout, steps_per_beat=steps_per_beat, frames_per_second=frames_per_second
            )
        except Exception as error:  # any unreadable file is reported and skipped, whatever broke
            log.warning("skipping %s: %s: %s", path, type(error).__name__, error)
            skipped.append({"file": name, "error": f"{type(error).__name__}: {error}"})
        else:
            rolls.append(roll)
            names.append(name)
        bar.update()
    bar.close()
    return rolls, names, skipped


def _training(
    train: RollSource | RollDataset | TrainingIndex,
    *,
    split: str,
    bars: int,
    layout: str,
    steps_per_beat: int | None,
    frames_per_second: float | None,
    progress: bool,
) -> tuple[TrainingIndex, dict[str, Any]]:
    """A TrainingIndex from whatever ``train`` is, and a description of it."""
    from ..data.dataset import RollDataset

    if isinstance(train, TrainingIndex):
        return train, {"source": "TrainingIndex", "pieces": len(train.pieces)}
    if isinstance(train, (str, os.PathLike)) and (Path(train) / "manifest.json").is_file():
        train = RollDataset(train, split=split)
    if isinstance(train, RollDataset):
        index = TrainingIndex.build(train, bars, progress=progress)
        return index, {"source": f"{train.root} ({split} split)", "pieces": len(train.pieces)}
    rolls, names, skipped = load_rolls(
        train,
        layout=layout,
        steps_per_beat=steps_per_beat,
        frames_per_second=frames_per_second,
        progress=progress,
        description="reading training MIDI",
    )
    if not rolls:
        raise ValueError(f"train: no readable training pieces in {train}")
    source = str(train) if isinstance(train, (str, os.PathLike)) else "Rolls"
    index = TrainingIndex.build(rolls, bars, ids=names, progress=progress)
    return index, {"source": source, "pieces": len(rolls), "skipped": skipped}


# ====================================================================== evaluating
def evaluate(
    generated: RollSource,
    reference: RollSource,
    train: RollSource | RollDataset | TrainingIndex | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    layout: str = "gm",
    steps_per_beat: int | None = 12,
    frames_per_second: float | None = None,
    train_split: str = "train",
    bars: int = 4,
    seed: int = 0,
    plots: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate generated music against reference music, and write a report.

    Args:
        generated, reference: folders of MIDI files (read with ``Roll.from_midi(path, layout=layout,
            steps_per_beat=steps_per_beat)``; unreadable files are logged and skipped) or lists of Rolls.
        train: the training set, for the memorisation check: a folder of MIDI files, a prepared cache folder
            (its ``train_split`` split), a RollDataset, a list of Rolls, or a built :class:`TrainingIndex`. It
            must be on the generated pieces' grid.
        out: the folder to write ``report.json``, ``report.md`` and the plots into (None: write nothing).
        layout, steps_per_beat, frames_per_second: how MIDI files are read.
        bars: memorisation window in bars.
        seed: seeds the split of the reference set into halves for the real-vs-real ceiling.
        plots: write PNG plots (needs matplotlib).
        progress: show progress bars.

    Returns:
        ``{"generated": ..., "reference": ..., "settings": ..., "comparison": compare_sets(generated,
        reference), "ceiling": compare_sets(reference half A, half B) or None (under 4 reference pieces),
        "memorisation": MemorisationReport.to_dict() or None, "files": [written files]}``.

    Raises:
        ValueError: a set has no readable piece.
    """
    options = {"layout": layout, "steps_per_beat": steps_per_beat, "frames_per_second": frames_per_second}
    if steps_per_beat is not None and frames_per_second is not None:
        options["steps_per_beat"] = None
    gen_rolls, gen_names, gen_skipped = load_rolls(
        generated, progress=progress, description="reading generated", **options
    )
    ref_rolls, ref_names, ref_skipped = load_rolls(
        reference, progress=progress, description="reading reference", **options
    )
    for label, rolls, source in (("generated", gen_rolls, generated), ("reference", ref_rolls, reference)):
        if not rolls:
            where = source if isinstance(source, (str, os.PathLike)) else "the list"
            raise ValueError(f"{label}: no readable pieces in {where}")
    gen_features = feature_table(gen_rolls, progress)
    ref_features = feature_table(ref_rolls, progress)
    comparison = compare_sets(gen_rolls, ref_rolls, generated_features=gen_features, reference_features=ref_features)
    ceiling = None
    if len(ref_rolls) >= 4:
        order = np.random.default_rng(seed).permutation(len(ref_rolls))
        half_a, half_b = order[: len(order) // 2], order[len(order) // 2 :]
        ceiling = compare_sets(
            [ref_rolls[i] for i in half_a],
            [ref_rolls[i] for i in half_b],
            generated_features=[ref_features[i] for i in half_a],
            reference_features=[ref_features[i] for i in half_b],
        )
    memorisation, train_info = None, None
    if train is not None:
        index, train_info = _training(train, split=train_split, bars=bars, progress=progress, **options)
        memorisation = index.check(gen_rolls, ids=gen_names, progress=progress).to_dict()
    result: dict[str, Any] = {
        "generated": {
            "source": _describe(generated),
            "pieces": len(gen_rolls),
            "names": gen_names,
            "skipped": gen_skipped,
        },
        "reference": {
            "source": _describe(reference),
            "pieces": len(ref_rolls),
            "names": ref_names,
            "skipped": ref_skipped,
        },
        "train": train_info,
        "settings": {**options, "bars": bars, "seed": seed},
        "comparison": comparison,
        "ceiling": ceiling,
        "memorisation": memorisation,
        "files": [],
    }
    if out is not None:
        result["files"] = write_report(
            result, out, generated_features=gen_features, reference_features=ref_features, plots=plots
        )
    return result


def _describe(source: Any) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else f"{len(source)} Rolls"


# ====================================================================== writing
def _json_ready(value: Any) -> Any:
    """NaN and infinities to None, numpy scalars and arrays to Python, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def write_report(
    result: dict[str, Any],
    out: str | os.PathLike[str],
    *,
    generated_features: Sequence[dict[str, Any]] | None = None,
    reference_features: Sequence[dict[str, Any]] | None = None,
    plots: bool = True,
) -> list[str]:
    """Write ``report.json``, ``report.md`` and (with ``plots`` and features given) ``features.png``,
    ``histograms.png`` and ``oa.png`` into ``out``, each atomically; returns the file names written."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    images: list[str] = []
    if plots and generated_features is not None and reference_features is not None:
        images = _plots(result, generated_features, reference_features, folder)
    result["files"] = ["report.json", "report.md", *images]
    atomic_write_text(folder / "report.json", json.dumps(_json_ready(result), indent=2, allow_nan=False) + "\n")
    atomic_write_text(folder / "report.md", markdown_report(result, images))
    return list(result["files"])


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.{digits}f}"


def markdown_report(result: dict[str, Any], images: Sequence[str] = ()) -> str:
    """The Markdown text of ``report.md`` for a result of :func:`evaluate`."""
    comparison, ceiling, memo = result["comparison"], result.get("ceiling"), result.get("memorisation")
    lines = ["# symdiff evaluation report", ""]
    for label in ("generated", "reference"):
        info = result[label]
        skipped = f" ({len(info['skipped'])} unreadable files skipped)" if info["skipped"] else ""
        lines.append(f"- **{label.capitalize()}**: {info['pieces']} pieces from `{info['source']}`{skipped}")
    if result.get("train"):
        lines.append(f"- **Training set**: {result['train']['pieces']} pieces from `{result['train']['source']}`")
    settings = result["settings"]
    grid = (
        f"{settings['steps_per_beat']} steps per beat"
        if settings.get("steps_per_beat")
        else f"{settings.get('frames_per_second')} frames per second"
    )
    lines += [f"- Read with layout `{settings['layout']}`, {grid}.", ""]
    lines += [
        "## Summary",
        "",
        "The ceiling column compares two halves of the reference set (seeded): what real music scores against real",
        "music. Higher is better for OA, consistency and variance; lower for KL and the Fréchet distance. The",
        "Fréchet distance depends on the number of pieces, so compare it only between evaluations of equal size.",
        "",
        "| metric | generated vs reference | real vs real (ceiling) |",
        "| --- | --- | --- |",
    ]
    rows = [
        ("mean OA (intra-set vs inter-set, Yang & Lerch)", "mean_oa"),
        ("mean KL (intra-set vs inter-set, Yang & Lerch)", "mean_kl"),
        ("mean OA of the feature values", "mean_oa_values"),
        ("Fréchet distance of symbolic features", "frechet_distance"),
    ]
    for label, key in rows:
        lines.append(f"| {label} | {_number(comparison[key])} | {_number(ceiling[key] if ceiling else None)} |")
    for key in ("pitch_consistency", "pitch_variance", "duration_consistency", "duration_variance"):
        label = key.replace("_", " ") + " (Mittal et al.)"
        value = ceiling["framewise"][key] if ceiling else None
        lines.append(f"| {label} | {_number(comparison['framewise'][key])} | {_number(value)} |")
    if memo:
        lines.append(f"| windows copied exactly (memorisation) | {_number(memo['fraction_exact'])} | |")
        lines.append(f"| windows copied nearly (memorisation) | {_number(memo['fraction_near'])} | |")
    lines += [
        "",
        "## Per feature",
        "",
        "OA and KL compare the reference set's intra-set distances with the inter-set distances; 'OA gen' uses the",
        "generated set's intra-set distances; 'OA values' compares the feature values themselves.",
        "",
        "| feature | OA | KL | OA gen | OA values | OA ceiling | generated mean ± std | reference mean ± std |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in comparison["features"].items():
        ceiling_oa = ceiling["features"][name]["oa"] if ceiling else None
        gen = (
            f"{_number(row.get('generated_mean'))} ± {_number(row.get('generated_std'))}" if "oa_values" in row else ""
        )
        ref = (
            f"{_number(row.get('reference_mean'))} ± {_number(row.get('reference_std'))}" if "oa_values" in row else ""
        )
        lines.append(
            f"| {name} | {_number(row['oa'])} | {_number(row['kl'])} | {_number(row['oa_generated'])} | "
            f"{_number(row.get('oa_values'))} | {_number(ceiling_oa)} | {gen} | {ref} |"
        )
    if memo:
        lines += [
            "",
            "## Memorisation",
            "",
            f"{memo['windows']} windows of {memo['settings']['bars']} bars checked against "
            f"{memo['settings']['training_windows']} training windows: {memo['exact']} copied exactly (any "
            f"transposition), {memo['near']} nearly (Jaccard ≥ {memo['settings']['min_jaccard']}); "
            f"{memo['skipped']} windows with under {memo['settings']['min_notes']} onsets skipped.",
            "",
            "| generated piece | windows | exact | near | nearest training piece | Jaccard |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for piece in memo["pieces"]:
            lines.append(
                f"| {piece['generated_id']} | {piece['windows']} | {piece['exact']} | {piece['near']} | "
                f"{piece['nearest_training_id'] or '–'} | {_number(piece['nearest_jaccard'])} |"
            )
        if memo["matches"]:
            lines += ["", "| generated piece | bar | training piece | bar | transposition | Jaccard | exact |"]
            lines.append("| --- | --- | --- | --- | --- | --- | --- |")
            for m in memo["matches"][:50]:
                lines.append(
                    f"| {m['generated_id']} | {m['bar']} | {m['training_id']} | {m['training_bar']} | "
                    f"{m['transposition']:+d} | {_number(m['jaccard'])} | {'yes' if m['exact'] else 'no'} |"
                )
            if len(memo["matches"]) > 50:
                lines.append(f"\n({len(memo['matches']) - 50} more in report.json)")
    skipped = [(label, s) for label in ("generated", "reference") for s in result[label]["skipped"]]
    if skipped:
        lines += ["", "## Unreadable files (skipped)", ""]
        lines += [f"- {label}: `{s['file']}`: {s['error']}" for label, s in skipped]
    if images:
        lines += ["", "## Plots", ""] + [f"![{Path(name).stem}]({name})" for name in images]
    return "\n".join(lines) + "\n"


def _plots(
    result: dict[str, Any],
    generated: Sequence[dict[str, Any]],
    reference: Sequence[dict[str, Any]],
    folder: Path,
) -> list[str]:
    """Write the PNG plots (matplotlib's Agg canvas; pyplot and the global backend are left alone)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def save(figure: Figure, name: str) -> str:
        FigureCanvasAgg(figure)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80)
        atomic_write_bytes(folder / name, buffer.getvalue())
        return name

    names = []
    # scalar feature distributions
    columns = 4
    rows = math.ceil(len(SCALAR_FEATURES) / columns)
    figure = Figure(figsize=(4 * columns, 2.8 * rows))
    for i, name in enumerate(SCALAR_FEATURES):
        axis = figure.add_subplot(rows, columns, i + 1)
        gen = np.array([f[name] for f in generated], dtype=np.float64)
        ref = np.array([f[name] for f in reference], dtype=np.float64)
        gen, ref = gen[np.isfinite(gen)], ref[np.isfinite(ref)]
        if len(gen) or len(ref):
            pooled = np.concatenate([gen, ref])
            lo, hi = float(pooled.min()), float(pooled.max())
            bins = np.linspace(lo, hi if hi > lo else lo + 1, 21)
            axis.hist(ref, bins=bins, density=True, alpha=0.5, label="reference")
            axis.hist(gen, bins=bins, density=True, alpha=0.5, label="generated")
        else:
            axis.text(0.5, 0.5, "undefined (NaN)", ha="center", va="center", transform=axis.transAxes)
        axis.set_title(name, fontsize=9)
        axis.tick_params(labelsize=7)
        if i == 0:
            axis.legend(fontsize=7)
    figure.tight_layout()
    names.append(save(figure, "features.png"))

    # mean histograms
    columns = 3
    rows = math.ceil(len(HISTOGRAM_FEATURES) / columns)
    figure = Figure(figsize=(5.5 * columns, 3.4 * rows))
    for i, name in enumerate(HISTOGRAM_FEATURES):
        axis = figure.add_subplot(rows, columns, i + 1)
        bins = FEATURES[name].bins
        width = 0.4
        for offset, (label, features) in zip(
            (-width / 2, width / 2), (("reference", reference), ("generated", generated))
        ):
            rows_ = np.array([f[name] for f in features], dtype=np.float64)
            rows_ = rows_[np.isfinite(rows_).all(axis=1)] if rows_.ndim == 2 else rows_[:0]
            mean = rows_.mean(axis=0) if len(rows_) else np.zeros(len(bins))
            axis.bar(np.arange(len(bins)) + offset, mean, width=width, label=label, alpha=0.8)
        axis.set_xticks(np.arange(len(bins)))
        axis.set_xticklabels(bins, rotation=90, fontsize=6)
        axis.set_title(name, fontsize=9)
        axis.tick_params(axis="y", labelsize=7)
        if i == 0:
            axis.legend(fontsize=7)
    figure.tight_layout()
    names.append(save(figure, "histograms.png"))

    # OA per feature, against the ceiling
    comparison, ceiling = result["comparison"], result.get("ceiling")
    features = list(comparison["features"])
    figure = Figure(figsize=(7, 0.35 * len(features) + 1.2))
    axis = figure.add_subplot(1, 1, 1)
    y = np.arange(len(features))
    values = [comparison["features"][n]["oa"] for n in features]
    axis.barh(y - 0.2, np.nan_to_num(values), height=0.4, label="generated vs reference")
    if ceiling:
        axis.barh(
            y + 0.2,
            np.nan_to_num([ceiling["features"][n]["oa"] for n in features]),
            height=0.4,
            label="real vs real (ceiling)",
        )
    axis.set_yticks(y)
    axis.set_yticklabels(features, fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.set_xlabel("overlapping area (intra-set vs inter-set distances)")
    axis.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    figure.tight_layout()
    names.append(save(figure, "oa.png"))
    return names


# ====================================================================== command line
EVALUATE_EPILOG = """examples:
  symdiff evaluate samples/ data/real_midi/ -o eval/ --layout voices --steps-per-beat 4
  symdiff evaluate samples/ data/test_midi/ --train data/corpus -o eval/ --layout voices --steps-per-beat 4
"""


def add_evaluate_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``symdiff evaluate GENERATED REFERENCE [--train TRAIN] -o OUT [--layout ...] [--steps-per-beat ...]``
    on an ``argparse`` sub-parsers object; its ``func`` default runs :func:`evaluate` and returns 0."""
    from ..layout import PRESETS

    parser = subparsers.add_parser(
        "evaluate",
        help="compare generated MIDI with real MIDI (features, OA/KL, Fréchet distance, memorisation)",
        description="Evaluate generated MIDI files against reference MIDI files; write report.json, report.md "
        "and plots to OUT.",
        epilog=EVALUATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("generated", type=Path, help="a folder of generated MIDI files")
    parser.add_argument("reference", type=Path, help="a folder of real MIDI files to compare with")
    parser.add_argument(
        "--train", type=Path, help="the training set for the memorisation check: a MIDI folder or a prepared cache"
    )
    parser.add_argument("--train-split", default="train", help="the split of a cache given as --train (default: train)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the folder to write the report into")
    parser.add_argument("--layout", default="gm", help=f"track layout preset: {', '.join(PRESETS)} (default: gm)")
    grid = parser.add_mutually_exclusive_group()
    grid.add_argument("--steps-per-beat", type=int, help="beat grid: steps per quarter note (default: 12)")
    grid.add_argument("--frames-per-second", type=float, help="seconds grid, for performances")
    parser.add_argument("--bars", type=int, default=4, help="memorisation window in bars (default: 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the reference halves (default: 0)")
    parser.add_argument("--no-plots", action="store_true", help="write no PNG plots")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=cmd_evaluate)
    return parser


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run :func:`evaluate` for ``symdiff evaluate`` and print the headline numbers."""
    steps_per_beat = None if args.frames_per_second is not None else (args.steps_per_beat or 12)
    result = evaluate(
        args.generated,
        args.reference,
        train=args.train,
        out=args.out,
        layout=args.layout,
        steps_per_beat=steps_per_beat,
        frames_per_second=args.frames_per_second,
        train_split=args.train_split,
        bars=args.bars,
        seed=args.seed,
        plots=not args.no_plots,
        progress=not args.quiet,
    )
    comparison, memo = result["comparison"], result["memorisation"]
    summary = {
        "out": str(args.out),
        "generated": result["generated"]["pieces"],
        "reference": result["reference"]["pieces"],
        "mean_oa": comparison["mean_oa"],
        "mean_kl": comparison["mean_kl"],
        "frechet_distance": comparison["frechet_distance"],
        "ceiling_mean_oa": result["ceiling"]["mean_oa"] if result["ceiling"] else None,
        "fraction_copied": memo["fraction_copied"] if memo else None,
    }
    print(json.dumps(_json_ready(summary), indent=2))
    return 0
