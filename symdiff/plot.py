"""Pictures of a Roll: a matplotlib piano roll, its PNG bytes, and an HTML block (picture plus audio) for Jupyter.

Figures are made with ``matplotlib.figure.Figure`` directly, not pyplot: nothing is opened on screen, no global
figure list grows, and it works under any backend (Agg included) and in worker threads.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import matplotlib.axes
    import matplotlib.figure

    from .roll import Roll

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
#: the gid of the LineCollection holding the bar lines (for tests and for styling)
BAR_LINES_GID = "bar-lines"


def pitch_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI pitch: 60 -> ``C4``, 69 -> ``A4``, 21 -> ``A0``."""
    return f"{PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1}"


def track_colours(count: int) -> list[tuple[float, float, float, float]]:
    """One colour per layout track: matplotlib's ``tab10`` up to 10 tracks, ``tab20`` beyond (cycled past 20)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if count <= 10 else "tab20"]
    return [tuple(cmap(i % cmap.N)) for i in range(count)]


def bar_positions(roll: Roll, steps: np.ndarray) -> np.ndarray:
    """Steps as bar numbers (0-based, fractional): 2.5 is the middle of the third bar, whatever the meters."""
    starts = roll.bar_starts().astype(np.float64)
    if len(starts) == 0:
        starts = np.zeros(1)
    # the end of the last bar: one bar of the last meter after its start
    meter = roll.meters[-1]
    bar_quarters = 4.0 * int(meter["numerator"]) / int(meter["denominator"])
    last_q = float(roll.grid.quarters(starts[-1], roll.tempos))
    end = float(roll.grid.steps_at_quarters(last_q + bar_quarters, roll.tempos))
    edges = np.concatenate((starts, [max(end, starts[-1] + 1.0)]))
    steps = np.asarray(steps, dtype=np.float64)
    inside = np.interp(steps, edges, np.arange(len(edges), dtype=np.float64))
    # before the first or after the last edge: continue at the nearest bar's rate
    first_rate = 1.0 / max(edges[1] - edges[0], 1.0)
    last_rate = 1.0 / max(edges[-1] - edges[-2], 1.0)
    return np.where(
        steps < edges[0],
        (steps - edges[0]) * first_rate,
        np.where(steps > edges[-1], len(edges) - 1 + (steps - edges[-1]) * last_rate, inside),
    )


def plot_roll(
    roll: Roll,
    ax: matplotlib.axes.Axes | None = None,
    bars: bool = True,
    title: str | None = None,
    *,
    legend: bool = True,
) -> matplotlib.figure.Figure:
    """Draw the Roll as a piano roll and return the Figure.

    Each note is a rectangle from its onset to its end at its pitch, in its track's colour (see
    :func:`track_colours`), more opaque the louder it is (alpha from 0.25 at velocity 0 to 1 at 127). The y axis is
    labelled with pitch names (the Cs, or every pitch over a narrow range); the legend names the non-empty tracks.

    Args:
        roll: the music.
        ax: axes to draw into (default: a new Figure sized to the music).
        bars: x axis in bars (numbered from 1) with a line at each bar start (``roll.bar_starts()``); ``False``: x
            axis in seconds, no bar lines.
        title: the axes' title (default: none).
        legend: draw the legend of track names.
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    notes = roll.notes
    onset = np.clip(notes["onset"].astype(np.int64), 0, roll.length)
    end = np.clip(notes["onset"].astype(np.int64) + notes["duration"], 0, roll.length)
    keep = end > onset
    notes, onset, end = notes[keep], onset[keep], end[keep]

    def x_of(steps: np.ndarray) -> np.ndarray:
        if bars:
            return bar_positions(roll, steps)
        return np.asarray(roll.grid.seconds(np.asarray(steps, dtype=np.float64), roll.tempos), dtype=np.float64)

    x_start, x_end = x_of(onset), x_of(end)
    x_max = float(x_of(np.array([max(roll.length, 1)]))[0])
    if len(notes):
        low, high = int(notes["pitch"].min()), int(notes["pitch"].max())
    else:
        low, high = roll.layout.pitch_range
    low, high = max(low - 1, 0), min(high + 1, 127)

    if ax is None:
        span = x_max if bars else x_max / 2.0
        width = float(np.clip(3.0 + 0.6 * span, 6.0, 20.0))
        height = float(np.clip(2.0 + 0.08 * (high - low), 3.0, 8.0))
        figure = Figure(figsize=(width, height), layout="constrained")
        ax = figure.add_subplot()
    else:
        figure = ax.figure

    colours = track_colours(len(roll.layout))
    handles = []
    for track in roll.nonempty_tracks():
        mine = notes["track"] == track
        x0, x1, pitch = x_start[mine], x_end[mine], notes["pitch"][mine].astype(np.float64)
        verts = np.stack(
            (
                np.stack((x0, pitch - 0.4), -1),
                np.stack((x1, pitch - 0.4), -1),
                np.stack((x1, pitch + 0.4), -1),
                np.stack((x0, pitch + 0.4), -1),
            ),
            axis=1,
        )
        face = np.tile(np.asarray(colours[track]), (len(x0), 1))
        face[:, 3] = 0.25 + 0.75 * notes["velocity"][mine].astype(np.float64) / 127.0
        edge = face.copy()
        edge[:, 3] = np.minimum(face[:, 3] + 0.2, 1.0)
        name = roll.layout.tracks[track].name
        ax.add_collection(
            PolyCollection(verts, facecolors=face, edgecolors=edge, linewidths=0.3, label=name, zorder=2),
            autolim=False,
        )
        handles.append(Patch(facecolor=colours[track], label=name))

    ax.set_xlim(0.0, max(x_max, 1e-6))
    ax.set_ylim(low - 0.5, high + 0.5)
    if bars:
        positions = np.arange(len(roll.bar_starts()), dtype=np.float64)
        lines = ax.vlines(positions, low - 0.5, high + 0.5, colors="0.6", linewidths=0.6, zorder=1)
        lines.set_gid(BAR_LINES_GID)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=16, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{round(x) + 1}"))
        ax.set_xlabel("bar")
    else:
        ax.set_xlabel("seconds")
    ticks = list(range(low, high + 1)) if high - low <= 14 else [p for p in range(low, high + 1) if p % 12 == 0]
    ax.set_yticks(ticks, [pitch_name(p) for p in ticks])
    ax.set_ylabel("pitch")
    ax.grid(axis="y", color="0.92", linewidth=0.5, zorder=0)
    if title:
        ax.set_title(title)
    if legend and handles:
        ax.legend(handles=handles, loc="upper right", fontsize="small", framealpha=0.8)
    return figure


def roll_png(roll: Roll, dpi: int = 100, **kwargs: Any) -> bytes:
    """The piano roll of :func:`plot_roll` (``kwargs`` passed on) as PNG bytes."""
    figure = plot_roll(roll, **kwargs)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_png(roll: Roll, path: str | os.PathLike[str], dpi: int = 100, **kwargs: Any) -> Path:
    """Write :func:`roll_png`'s picture to ``path`` atomically; returns the path."""
    from .files import atomic_write_bytes

    return atomic_write_bytes(path, roll_png(roll, dpi=dpi, **kwargs))


def roll_html(
    roll: Roll,
    soundfont: str | None = None,
    sample_rate: int = 22050,
    max_audio_seconds: float = 600.0,
    **kwargs: Any,
) -> str:
    """An HTML block for Jupyter: a one-line summary, the piano roll as a base64 PNG ``<img>``, and an
    ``<audio controls>`` player with the rendered WAV embedded (mono, ``sample_rate``; 2.6 MB a minute at 22.05 kHz).

    When FluidSynth is not installed, or the piece is longer than ``max_audio_seconds``, a note says why there is
    no player instead. ``kwargs`` go to :func:`plot_roll`.
    """
    from .render import AudioUnavailableError, render, wav_bytes

    parts = [f"<div class='symdiff-roll'><p><code>{html.escape(repr(roll))}</code></p>"]
    png = base64.b64encode(roll_png(roll, **kwargs)).decode("ascii")
    parts.append(f"<img alt='piano roll' src='data:image/png;base64,{png}'/>")
    if roll.seconds > max_audio_seconds:
        parts.append(
            f"<p><em>no audio: the piece lasts {roll.seconds:.0f} s, over max_audio_seconds={max_audio_seconds:g}"
            "</em></p>"
        )
    else:
        try:
            audio = render(roll, soundfont=soundfont, sample_rate=sample_rate, stereo=False)
        except AudioUnavailableError as err:
            parts.append(f"<p><em>no audio: {html.escape(str(err))}</em></p>")
        else:
            wav = base64.b64encode(wav_bytes(audio, sample_rate)).decode("ascii")
            parts.append(f"<audio controls preload='none' src='data:audio/wav;base64,{wav}'></audio>")
    parts.append("</div>")
    return "\n".join(parts)
