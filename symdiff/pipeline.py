"""The Pipeline: a trained denoiser, its layout and grid, and one way to ask for music.

``Pipeline.from_pretrained()`` loads the model bundled in the package (no download); ``from_pretrained(dir)`` any
folder written by ``symdiff train`` or :meth:`Pipeline.save_pretrained`. Every request is the same operation,
filling in the unknown part of a piece:

- :meth:`~Pipeline.generate`: nothing is known; an empty piece of ``bars`` bars in a meter and tempo;
- :meth:`~Pipeline.continue_`: the given piece is known, ``bars`` more bars are not;
- :meth:`~Pipeline.inpaint`: everything but some bars (of some tracks) is known;
- :meth:`~Pipeline.accompany`: some tracks are known for the whole piece, the others are written around them.

A piece longer than the model's window is made window by window, each half overlapping the one before, whose
music it takes as known (so 64 bars and more run on without seams). Each window is sampled with the model's
known-content conditioning and the inpainting wrapper (:mod:`symdiff.diffusion.sample`), then decoded to notes
(:mod:`symdiff.diffusion.decode`) before it becomes the known music of the next window. The given music comes out
exactly as it went in, with its tempo map, meters, keys and programs.
"""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checks import check_device, check_int, check_meter, check_number
from .diffusion.cond import Cond
from .diffusion.decode import Decoder
from .diffusion.sample import SAMPLERS, sample
from .diffusion.schedule import KarrasDenoiser
from .grid import TEMPO_DTYPE, Grid
from .layout import TrackLayout
from .midi import METER_DTYPE, MidiSource
from .model import DenoiserConfig, from_pretrained, save_pretrained
from .notes import NOTE_DTYPE, notes_to_tensor, tensor_to_notes
from .progress import progress_bar
from .roll import Roll, _single

log = logging.getLogger(__name__)

#: the bundled model's folder inside the package
BUNDLED = "assets/default"


def bundled_model_dir() -> Path:
    """The folder of the model that ships inside the package."""
    return Path(str(resources.files("symdiff").joinpath(BUNDLED)))


class Pipeline:
    """Generation, continuation, infilling and accompaniment with one trained denoiser.

    Args:
        denoiser: the preconditioned model (:class:`~symdiff.diffusion.KarrasDenoiser`).
        config: its :class:`~symdiff.model.DenoiserConfig`.
        layout, grid: the track layout and time grid the model was trained on.
        window: the training window in steps (the longest span sampled at once).
        decoder: how continuous estimates become notes (thresholds chosen on data at the end of training).
        extra: everything else saved with the model (data and training settings).
    """

    def __init__(
        self,
        denoiser: KarrasDenoiser,
        config: DenoiserConfig,
        layout: TrackLayout,
        grid: Grid,
        window: int,
        decoder: Decoder | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if window < config.patch or window % config.patch:
            raise ValueError(f"window ({window}) must be a positive multiple of the model's patch ({config.patch})")
        if (len(layout), layout.num_pitches) != (config.tracks, config.pitches):
            raise ValueError(
                f"layout {layout.name!r} has {len(layout)} tracks x {layout.num_pitches} pitches; "
                f"the model takes {config.tracks} x {config.pitches}"
            )
        if any(p.dtype != torch.float32 for p in denoiser.parameters()):
            denoiser = denoiser.float()  # weights stored in half precision (the bundled model) compute in float32
        self.denoiser, self.config, self.layout, self.grid = denoiser.eval(), config, layout, grid
        self.window, self.decoder, self.extra = int(window), decoder or Decoder(), dict(extra or {})

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike[str] | None = None, device: torch.device | str = "cpu"
    ) -> Pipeline:
        """Load a model folder (``config.json`` + ``model.safetensors``); by default the bundled model.

        The folder may also be a training run (``symdiff train --out``): its ``model/`` is used.
        """
        device = check_device("device", device)
        path = bundled_model_dir() if directory is None else Path(directory)
        if (path / "model" / "config.json").is_file() and not (path / "config.json").is_file():
            path = path / "model"
        denoiser, config, extra = from_pretrained(path, device=device)
        data = extra.get("data") or {}
        if "layout" not in data or "grid" not in data:
            raise ValueError(f"{path}: config.json has no data layout and grid (extra.data); not a symdiff model?")
        window = int(data.get("window") or config.max_steps or 256)
        return cls(
            denoiser,
            config,
            TrackLayout.from_dict(data["layout"]),
            Grid.from_dict(data["grid"]),
            window,
            Decoder.from_dict(extra.get("decoder")),
            extra,
        )

    def save_pretrained(self, directory: str | os.PathLike[str], dtype: torch.dtype = torch.float32) -> Path:
        """Write the model folder (loadable by :meth:`from_pretrained`); returns it. ``dtype=torch.float16``
        halves the file (the bundled model ships so); loading computes in float32 again."""
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise ValueError(f"dtype must be torch.float32, torch.float16 or torch.bfloat16, got {dtype}")
        extra = {**self.extra, "decoder": self.decoder.to_dict()}
        extra.setdefault("data", {})
        extra["data"] = {**extra["data"], "layout": self.layout.to_dict(), "grid": self.grid.to_dict()}
        extra["data"]["window"] = self.window
        denoiser = self.denoiser if dtype == torch.float32 else copy.deepcopy(self.denoiser).to(dtype)
        save_pretrained(directory, denoiser, self.config, extra=extra)
        return Path(directory)

    def to(self, device: torch.device | str) -> Pipeline:
        """Move the model to ``device`` (``"cuda"``, ``"cpu"``, ...); returns self. Noise is still drawn on the CPU,
        so a seed gives the same music on every device."""
        self.denoiser.to(check_device("device", device))
        return self

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    @property
    def styles(self) -> list[str]:
        """The style labels the model knows (pass one as ``style=``)."""
        return list(self.config.label_names)

    @property
    def tracks(self) -> list[str]:
        """The track names of the model's layout (for ``tracks=`` and ``keep_tracks=``)."""
        return list(self.layout.names)

    def info(self) -> dict[str, Any]:
        """What the model is: size, layout, grid, window, styles, decoder, training data and settings."""
        train = self.extra.get("train") or {}
        return {
            "parameters": sum(p.numel() for p in self.denoiser.parameters()),
            "tracks": self.tracks,
            "pitch_range": list(self.layout.pitch_range),
            "grid": self.grid.to_dict(),
            "window_steps": self.window,
            "styles": self.styles,
            "decoder": self.decoder.to_dict(),
            "data": (self.extra.get("data") or {}).get("source"),
            "training": {k: train[k] for k in ("max_steps", "batch_size", "lr") if k in train},
            "model": self.config.to_dict(),
        }

    def __repr__(self) -> str:
        return (
            f"Pipeline(tracks={self.tracks}, styles={self.styles}, window={self.window} steps, "
            f"grid={self.grid.to_dict()}, device={self.device})"
        )

    # ------------------------------------------------------------------ the four requests
    def generate(
        self,
        bars: int = 16,
        *,
        style: str | None = None,
        tempo: float = 100.0,
        time_signature: tuple[int, int] = (4, 4),
        num_samples: int = 1,
        steps: int = 20,
        sampler: str = "dpmsolver++",
        guidance_scale: float = 1.5,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        progress: bool = False,
    ) -> Roll | list[Roll]:
        """New music: ``bars`` bars of ``time_signature`` at ``tempo`` quarter notes a minute, in ``style``.

        Returns one Roll, or a list of ``num_samples`` Rolls when ``num_samples > 1``.
        """
        check_int("bars", bars, 1, 4096)
        check_number("tempo", tempo, 10.0, 400.0)
        numerator, denominator = check_meter(time_signature)
        tempos = _single(TEMPO_DTYPE, qpm=float(tempo))
        meters = _single(METER_DTYPE, numerator=numerator, denominator=denominator)
        length = self._bars_to_steps(bars, tempos, meters, 0)
        template = Roll(np.zeros(0, NOTE_DTYPE), length, self.layout, self.grid, tempos, meters)
        known = np.zeros((len(self.layout), length), dtype=bool)
        return self._fill(
            template, known, "generate", style, num_samples, steps, sampler, guidance_scale, seed, generator, progress
        )

    def continue_(
        self,
        midi: MidiSource | Roll,
        bars: int = 8,
        *,
        style: str | None = None,
        num_samples: int = 1,
        steps: int = 20,
        sampler: str = "dpmsolver++",
        guidance_scale: float = 1.5,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        progress: bool = False,
    ) -> Roll | list[Roll]:
        """The given piece followed by ``bars`` new bars (in its last meter and tempo)."""
        check_int("bars", bars, 1, 4096)
        roll = self._as_roll(midi)
        extra_steps = self._bars_to_steps(bars, roll.tempos, roll.meters, roll.length)
        template = replace(roll, length=roll.length + extra_steps, metadata=dict(roll.metadata))
        known = np.zeros((len(self.layout), template.length), dtype=bool)
        known[:, : roll.length] = True
        return self._fill(
            template, known, "continue", style, num_samples, steps, sampler, guidance_scale, seed, generator, progress
        )

    def inpaint(
        self,
        midi: MidiSource | Roll,
        bars: tuple[int, int],
        *,
        tracks: Sequence[int | str] | None = None,
        style: str | None = None,
        num_samples: int = 1,
        steps: int = 20,
        sampler: str = "dpmsolver++",
        guidance_scale: float = 1.5,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        progress: bool = False,
    ) -> Roll | list[Roll]:
        """The given piece with bars ``bars = (first, last)`` (counted from 1, both included) written anew, in
        ``tracks`` (names or indices; default all)."""
        roll = self._as_roll(midi)
        if not (isinstance(bars, (tuple, list)) and len(bars) == 2):
            raise ValueError(f"bars must be (first, last), counted from 1, both included; got {bars!r}")
        first, last = bars
        count = roll.num_bars
        check_int("bars[0]", first, 1, count)
        check_int("bars[1]", last, first, count)
        starts = np.append(roll.bar_starts(), roll.length)
        chosen = list(range(len(self.layout))) if tracks is None else self._track_indices(tracks, "tracks")
        if not chosen:
            raise ValueError(f"tracks is empty; name at least one of {self.tracks} (or None for all)")
        known = np.ones((len(self.layout), roll.length), dtype=bool)
        known[np.ix_(chosen, np.arange(int(starts[first - 1]), int(starts[last])))] = False
        return self._fill(
            roll, known, "inpaint", style, num_samples, steps, sampler, guidance_scale, seed, generator, progress
        )

    def accompany(
        self,
        midi: MidiSource | Roll,
        keep_tracks: Sequence[int | str],
        *,
        style: str | None = None,
        num_samples: int = 1,
        steps: int = 20,
        sampler: str = "dpmsolver++",
        guidance_scale: float = 1.5,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        progress: bool = False,
    ) -> Roll | list[Roll]:
        """Keep ``keep_tracks`` (names or indices of the model's layout, e.g. ``["Soprano"]``) of the given piece and
        write every other track around them."""
        roll = self._as_roll(midi)
        keep = self._track_indices(keep_tracks, "keep_tracks")
        if not keep:
            raise ValueError(f"keep_tracks is empty; name at least one of {self.tracks}")
        if len(keep) == len(self.layout):
            raise ValueError(f"keep_tracks names every track; leave at least one of {self.tracks} to write")
        known = np.zeros((len(self.layout), roll.length), dtype=bool)
        known[keep] = True
        return self._fill(
            roll, known, "accompany", style, num_samples, steps, sampler, guidance_scale, seed, generator, progress
        )

    # ------------------------------------------------------------------ the one operation
    @torch.no_grad()
    def _fill(
        self,
        template: Roll,
        known: np.ndarray,
        task: str,
        style: str | None,
        num_samples: int,
        steps: int,
        sampler: str,
        guidance_scale: float,
        seed: int | None,
        generator: torch.Generator | None,
        progress: bool,
    ) -> Roll | list[Roll]:
        """Sample the unknown (``known`` False, ``(tracks, steps)``) part of ``template``, window by window."""
        check_int("num_samples", num_samples, 1, 256)
        check_int("steps", steps, 1, self.denoiser.schedule.num_train_timesteps)
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}")
        check_number("guidance_scale", guidance_scale, 0.0, 100.0)
        label = self._label(style)
        if seed is not None:
            if generator is not None:
                raise ValueError("pass either seed or generator, not both")
            check_int("seed", seed, 0, 2**63 - 1)
            generator = torch.Generator().manual_seed(seed)
        length, patch = template.length, self.config.patch
        padded = max(patch, math.ceil(length / patch) * patch)
        windows = _windows(padded, self.window, patch, self._bar_steps(template))
        padded = windows[-1][1]
        pitch_low = self.layout.pitch_range[0]
        given = template.to_tensor(0, padded).numpy()  # (T, 3, P, padded) on 0..1
        mask = np.ones((len(self.layout), padded), dtype=bool)  # past the end: known silence
        mask[:, :length] = known
        result = np.repeat(given[None], num_samples, axis=0)
        fixed = mask.copy()
        schedule = self.denoiser.schedule
        bar = progress_bar(len(windows) * steps, progress, task, "step")
        try:
            for start, stop in windows:
                todo = ~fixed[:, start:stop]
                if not todo.any():
                    continue
                window_mask = torch.from_numpy(fixed[:, start:stop])[None, :, None, None, :]
                cond = Cond(
                    known=schedule.to_model(torch.from_numpy(result[..., start:stop])).to(self.device),
                    mask=window_mask.expand(num_samples, -1, -1, -1, -1).to(self.device),
                    label=None if label is None else torch.full((num_samples,), label, dtype=torch.long),
                    tempo=torch.full((num_samples,), _qpm_at(template.tempos, start), dtype=torch.float32),
                    meter=torch.tensor([_meter_at(template.meters, start)] * num_samples, dtype=torch.long),
                )
                x0 = sample(
                    self.denoiser,
                    (num_samples, self.config.tracks, 3, self.config.pitches, stop - start),
                    sampler=sampler,
                    steps=steps,
                    cond=cond.to(self.device),
                    guidance_scale=guidance_scale if label is not None and label >= 0 else 1.0,
                    schedule=self.denoiser.schedule,
                    generator=generator,
                    device=self.device,
                )
                estimate = schedule.to_unit(x0.float()).cpu().numpy()
                for b in range(num_samples):
                    notes = self.decoder(estimate[b], pitch_low)
                    clean = notes_to_tensor(
                        notes, len(self.layout), pitch_low, self.layout.num_pitches, 0, stop - start
                    )
                    region = np.broadcast_to(todo[:, None, None, :], clean.shape)
                    result[b, ..., start:stop] = np.where(region, clean, result[b, ..., start:stop])
                fixed[:, start:stop] = True
                bar.update(steps)
        finally:
            bar.close()

        rolls = []
        for b in range(num_samples):
            notes = tensor_to_notes(result[b, ..., :length], pitch_low)
            metadata = {
                **template.metadata,
                "symdiff": {
                    "task": task,
                    "style": style,
                    "sampler": sampler,
                    "steps": steps,
                    "guidance_scale": guidance_scale,
                    "seed": seed,
                    "sample": b,
                },
            }
            rolls.append(replace(template, notes=notes, metadata=metadata))
        return rolls[0] if num_samples == 1 else rolls

    # ------------------------------------------------------------------ helpers
    def _label(self, style: str | None) -> int | None:
        if not self.config.num_labels:
            if style is not None:
                raise ValueError(f"style={style!r}: this model was trained without style labels")
            return None
        if style is None:
            return -1
        if style not in self.config.label_names:
            raise ValueError(f"unknown style {style!r}; this model knows: {', '.join(self.styles)} (or None)")
        return self.config.label_names.index(style)

    def _track_indices(self, tracks: Sequence[int | str], name: str) -> list[int]:
        if isinstance(tracks, (str, int)):
            tracks = [tracks]
        try:
            return sorted(set(self.layout.track_indices(tracks)))
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None

    def _as_roll(self, midi: MidiSource | Roll) -> Roll:
        """The given music on the model's layout and grid. Parts the layout does not name go to its first pitched
        track rather than being dropped (a warning says which)."""
        if isinstance(midi, Roll):
            if midi.layout == self.layout and midi.grid == self.grid:
                return midi
            midi = midi.to_score()
        layout = self.layout
        if layout.fallback is None:
            first = next((i for i, t in enumerate(layout.tracks) if not t.is_drum), None)
            if first is not None:
                layout = TrackLayout(layout.tracks, fallback=first, name=layout.name)
        grid = self.grid.to_dict()
        roll = Roll.from_midi(midi, layout=layout, **grid)
        if not len(roll.notes):
            raise ValueError(
                f"{_name(midi)}: no notes fit the model's tracks {self.tracks} and pitch range "
                f"{self.layout.pitch_range}"
            )
        return replace(roll, layout=self.layout)

    def _bar_steps(self, roll: Roll) -> int | None:
        """Steps per bar when the piece keeps one meter on a beat grid (windows then start on bar lines)."""
        if len(roll.meters) != 1 or not self.grid.is_beat:
            return None
        numerator, denominator = _meter_at(roll.meters, 0)
        steps = self.grid.steps_per_beat * 4 * numerator / denominator
        return int(steps) if steps == int(steps) else None

    def _bars_to_steps(self, bars: int, tempos: np.ndarray, meters: np.ndarray, start: int) -> int:
        numerator, denominator = _meter_at(meters, start)
        q0 = float(self.grid.quarters(start, tempos))
        q1 = q0 + bars * 4.0 * numerator / denominator
        return int(np.floor(self.grid.steps_at_quarters(q1, tempos) + 0.5)) - start


def _windows(length: int, window: int, patch: int, bar: int | None = None) -> list[tuple[int, int]]:
    """Windows covering ``[0, length)``: one of ``length`` steps when it fits in ``window``, else windows of
    ``window`` steps, each starting a hop after the one before (the last may run past ``length``). The hop is the
    longest multiple of ``patch`` and of ``bar`` (when given: the model was trained on windows starting on bar lines)
    up to half a window, so every window starts on a bar line too."""
    if length <= window:
        return [(0, length)]
    unit = math.lcm(patch, bar) if bar else patch
    if unit > window // 2:
        unit = patch
    hop = max(unit, (window // 2) // unit * unit)
    out, start = [], 0
    while True:
        out.append((start, start + window))
        if start + window >= length:
            return out
        start += hop


def _qpm_at(tempos: np.ndarray, step: int) -> float:
    return float(tempos["qpm"][max(np.searchsorted(tempos["step"], step, side="right") - 1, 0)])


def _meter_at(meters: np.ndarray, step: int) -> tuple[int, int]:
    m = meters[max(np.searchsorted(meters["step"], step, side="right") - 1, 0)]
    return int(m["numerator"]), int(m["denominator"])


def _name(midi: Any) -> str:
    return str(midi) if isinstance(midi, (str, os.PathLike)) else type(midi).__name__


__all__ = ["BUNDLED", "Pipeline", "bundled_model_dir"]
