"""Make the pictures of the documentation (docs/images/*.png) from real music.

    python docs/_scripts/make_images.py            # the corpus pictures; the model ones when the bundled model is here
    python docs/_scripts/make_images.py --model runs/tiny/model

Every picture is drawn from a piece of the music21 corpus (it ships with music21: nothing is downloaded), with
``symdiff.plot``; the pictures of generated music use the bundled model (or ``--model``) and are skipped when there is
none. Each PNG is kept small (well under 200 kB). Not part of the package; the site does not include this file.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import numpy as np

IMAGES = Path(__file__).resolve().parents[1] / "images"
CHORALE = "bach/bwv66.6"
FOLK_TUNE = "essenFolksong/altdeu10#1"


def _save(figure: Any, name: str, dpi: int = 80) -> Path:
    from symdiff.files import atomic_write_bytes

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    path = IMAGES / name
    atomic_write_bytes(path, buffer.getvalue())
    size = path.stat().st_size
    if size > 200_000:
        raise SystemExit(f"{path} is {size} bytes: keep pictures under 200 kB (lower the dpi)")
    print(f"{path.name}: {size / 1000:.0f} kB")
    return path


def chorale_roll(layout: str = "voices", steps_per_beat: int = 4):  # -> Roll
    from symdiff import Roll
    from symdiff.demo import corpus_midi

    return Roll.from_midi(corpus_midi(CHORALE), layout=layout, steps_per_beat=steps_per_beat)


def picture_chorale() -> None:
    """The chorale as a piano roll: the picture of the home page and the README."""
    from symdiff.plot import plot_roll

    roll = chorale_roll()
    figure = plot_roll(roll, title=f"J. S. Bach, chorale BWV 66.6 — layout 'voices', {roll.grid}")
    figure.set_size_inches(10, 4)
    _save(figure, "chorale.png")


def picture_layouts() -> None:
    """One chorale read with two layouts: ``piano`` merges the voices, ``voices`` keeps one track each."""
    from matplotlib.figure import Figure

    from symdiff.plot import plot_roll

    figure = Figure(figsize=(10, 5.5), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    for ax, layout in ((top, "piano"), (bottom, "voices")):
        roll = chorale_roll(layout).bars(0, 4)
        plot_roll(roll, ax=ax, title=f"layout={layout!r}: {len(roll.layout)} track(s): {', '.join(roll.layout.names)}")
    _save(figure, "layouts.png")


def picture_tensor() -> None:
    """The three channels of the tensor (onset, frame, velocity) for the first two bars of the Soprano and Alto."""
    from matplotlib.figure import Figure

    from symdiff.notes import CHANNELS
    from symdiff.plot import pitch_name

    roll = chorale_roll()
    bar = int(roll.bar_starts()[1] - roll.bar_starts()[0])
    start = int(roll.bar_starts()[0])
    tensor = roll.to_tensor(start, start + 2 * bar, tracks=["Soprano", "Alto"]).numpy()
    notes = roll.bars(0, 2).notes
    chosen = notes[np.isin(notes["track"], [0, 1])]
    low, high = int(chosen["pitch"].min()) - 1, int(chosen["pitch"].max()) + 1
    rows = slice(low - roll.layout.pitch_range[0], high - roll.layout.pitch_range[0] + 1)
    figure = Figure(figsize=(10, 4.2), layout="constrained")
    axes = figure.subplots(2, 3, sharex=True, sharey=True)
    for t, track in enumerate(("Soprano", "Alto")):
        for c, channel in enumerate(CHANNELS):
            ax = axes[t, c]
            ax.imshow(
                tensor[t, c, rows],
                origin="lower",
                aspect="auto",
                cmap="Greys",
                vmin=0,
                vmax=1,
                extent=(-0.5, tensor.shape[-1] - 0.5, low - 0.5, high + 0.5),
                interpolation="nearest",
            )
            ax.set_xticks(np.arange(-0.5, tensor.shape[-1], 1.0), minor=True)
            ax.set_yticks(np.arange(low - 0.5, high + 1, 1.0), minor=True)
            ax.grid(which="minor", color="0.85", linewidth=0.3)
            ax.tick_params(which="minor", length=0)
            for b in range(3):
                ax.axvline(b * bar - 0.5, color="tab:red", linewidth=0.8)
            ax.set_title(f"{track}: {channel}", fontsize="medium")
            ticks = [p for p in range(low, high + 1) if p % 12 in (0, 7)]
            ax.set_yticks(ticks, [pitch_name(p) for p in ticks])
        axes[t, 0].set_ylabel("pitch")
    for ax in axes[1]:
        ax.set_xlabel(f"step ({roll.grid.steps_per_beat} a beat; red: bar lines)")
    _save(figure, "tensor.png")


def picture_masks() -> None:
    """What each request gives the model: a (track x step) known mask, and the given notes."""
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    from symdiff.plot import pitch_name, plot_roll

    roll = chorale_roll().bars(0, 8)
    low, high = int(roll.notes["pitch"].min()) - 1, int(roll.notes["pitch"].max()) + 1
    ticks = [p for p in range(low, high + 1) if p % 12 == 0]
    starts = np.append(roll.bar_starts(), roll.length)
    tracks, steps = len(roll.layout), roll.length
    masks: dict[str, np.ndarray] = {}
    masks["generate(bars=8)"] = np.zeros((tracks, steps), bool)
    known = np.zeros((tracks, steps), bool)
    known[:, : starts[4]] = True
    masks["continue_(first 4 bars, bars=4)"] = known
    known = np.ones((tracks, steps), bool)
    known[:, starts[3] : starts[5]] = False
    masks["inpaint(bars=(4, 5))"] = known
    known = np.zeros((tracks, steps), bool)
    known[0] = True
    masks["accompany(keep_tracks=['Soprano'])"] = known

    figure = Figure(figsize=(10, 7.5), layout="constrained")
    grid = figure.add_gridspec(len(masks), 2, width_ratios=(1, 2.6))
    cmap = ListedColormap(["#f4f4f4", "#3f51b5"])
    for row, (title, known) in enumerate(masks.items()):
        ax = figure.add_subplot(grid[row, 0])
        ax.imshow(known, aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_yticks(range(tracks), roll.layout.names, fontsize="small")
        ax.set_xticks(starts[:-1] - 0.5, [str(i + 1) for i in range(len(starts) - 1)], fontsize="small")
        ax.set_xlabel("bar", fontsize="small")
        ax.set_title(title, fontsize="medium", loc="left")
        notes = roll.notes
        given = known[notes["track"], np.clip(notes["onset"], 0, steps - 1)]
        shown = roll.__class__(
            notes[given], roll.length, roll.layout, roll.grid, roll.tempos, roll.meters, roll.keys, roll.programs
        )
        ax = figure.add_subplot(grid[row, 1])
        plot_roll(shown, ax=ax, legend=row == 0)
        ax.set_ylim(low - 0.5, high + 0.5)
        ax.set_yticks(ticks, [pitch_name(p) for p in ticks])
        for track_mask in (known.all(axis=0),):
            unknown = ~track_mask
            edges = np.flatnonzero(np.diff(np.concatenate(([0], unknown.astype(int), [0]))))
            for a, b in zip(edges[::2], edges[1::2]):
                ax.axvspan(a / (starts[1] - starts[0]), b / (starts[1] - starts[0]), color="#ffcc80", alpha=0.35)
        ax.set_xlabel("")
    figure.suptitle("Blue: known (given to the model). Orange: the music the model writes.", fontsize="medium")
    _save(figure, "masks.png")


def picture_noise() -> None:
    """The forward process: the chorale's frame channel plus Gaussian noise of growing sigma (in model space)."""
    import torch
    from matplotlib.figure import Figure

    from symdiff.diffusion import NoiseSchedule

    roll = chorale_roll().bars(0, 4)
    schedule = NoiseSchedule()
    frame = roll.to_tensor()[:, 1].amax(dim=0)  # all voices' frames: (pitches, steps)
    notes = roll.notes
    low, high = int(notes["pitch"].min()) - 3, int(notes["pitch"].max()) + 3
    rows = slice(low - roll.layout.pitch_range[0], high - roll.layout.pitch_range[0] + 1)
    clean = schedule.to_model(frame[rows])
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(clean.shape, generator=generator)
    sigmas = (0.0, 0.2, 0.5, 1.0, 3.0)
    figure = Figure(figsize=(10, 2.6), layout="constrained")
    axes = figure.subplots(1, len(sigmas), sharey=True)
    for ax, sigma in zip(axes, sigmas):
        ax.imshow((clean + sigma * noise).numpy(), origin="lower", aspect="auto", cmap="magma", vmin=-2, vmax=2)
        ax.set_title(f"σ = {sigma:g}", fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_ylabel("pitch")
    figure.suptitle("x = x₀ + σ·ε: the sampler runs this backwards, from pure noise to music", fontsize="medium")
    _save(figure, "noise.png", dpi=60)


def pictures_of_the_model(model: str | None) -> None:
    """A generated piece per style, and the composer's requests on a folk tune, from a trained model."""
    from matplotlib.figure import Figure

    from symdiff import Roll
    from symdiff.demo import corpus_midi
    from symdiff.pipeline import Pipeline, bundled_model_dir
    from symdiff.plot import plot_roll

    if model is None and not (bundled_model_dir() / "config.json").is_file():
        print("no bundled model yet: the pictures of generated music are skipped (or pass --model)")
        return
    pipe = Pipeline.from_pretrained(model)
    styles = pipe.styles or [None]
    figure = Figure(figsize=(10, 2.6 * len(styles)), layout="constrained")
    for ax, style in zip(np.atleast_1d(figure.subplots(len(styles), 1)), styles):
        roll = pipe.generate(8, style=style, seed=0, steps=20)
        plot_roll(roll, ax=ax, title=f"pipe.generate(8, style={style!r}, seed=0)")
    _save(figure, "generated.png")

    tune = Roll.from_midi(corpus_midi(FOLK_TUNE), layout="voices", steps_per_beat=4).bars(0, 8)
    harmonised = pipe.accompany(tune, keep_tracks=["Soprano"], seed=0, steps=20)
    figure = Figure(figsize=(10, 5.5), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    plot_roll(tune, ax=top, title=f"a folk tune ({FOLK_TUNE}): the Soprano alone")
    plot_roll(harmonised, ax=bottom, title="pipe.accompany(tune, keep_tracks=['Soprano'], seed=0)")
    _save(figure, "accompany.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="a model folder for the generated pictures (default: bundled)")
    parser.add_argument("--only-model", action="store_true", help="only the pictures of generated music")
    args = parser.parse_args(argv)
    IMAGES.mkdir(parents=True, exist_ok=True)
    if not args.only_model:
        picture_chorale()
        picture_layouts()
        picture_tensor()
        picture_masks()
        picture_noise()
    pictures_of_the_model(args.model)


if __name__ == "__main__":
    main()
