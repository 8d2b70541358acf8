"""Time grids: where the steps of a Roll fall, and how steps map to quarter notes and seconds.

Two kinds of grid:

- a **beat grid** (``steps_per_beat``, e.g. 4, 12 or 24) follows the file's tempo map: a step is a fixed fraction
  of a quarter note, whatever the tempo. For scores and songs (Lakh MIDI, the music21 corpus).
- a **seconds grid** (``frames_per_second``, e.g. 100) follows the clock: a step is a fixed fraction of a second.
  For expressive performances (MAESTRO), whose timing does not follow a beat.

Either way the tempo map (``(step, qpm)`` pairs, first at step 0) ties the two clocks together: on a beat grid it
gives the seconds of each step; on a seconds grid it gives the quarter notes (hence the bars) of each step.
Rounding is half-up everywhere, so a time exactly between two steps goes to the later one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .checks import check_int, check_number

#: structured dtype of a tempo map: the step where a tempo starts and its quarter notes per minute
TEMPO_DTYPE = np.dtype([("step", "<i8"), ("qpm", "<f8")])


@dataclass(frozen=True)
class Grid:
    """A beat grid (``steps_per_beat``) or a seconds grid (``frames_per_second``): exactly one is set."""

    steps_per_beat: int | None = None
    frames_per_second: float | None = None

    def __post_init__(self) -> None:
        if (self.steps_per_beat is None) == (self.frames_per_second is None):
            raise ValueError("give exactly one of steps_per_beat (beat grid) or frames_per_second (seconds grid)")
        if self.steps_per_beat is not None:
            spb = check_int("steps_per_beat", self.steps_per_beat, 1, 960, allowed="an integer in 1..960")
            object.__setattr__(self, "steps_per_beat", spb)
        if self.frames_per_second is not None:
            check_number("frames_per_second", self.frames_per_second, 1, 2000, allowed="a number in 1..2000")

    @classmethod
    def resolve(
        cls, steps_per_beat: int | None = None, frames_per_second: float | None = None, *, default: Grid | None = None
    ) -> Grid:
        """The grid the arguments ask for, or ``default`` (a 12-steps-per-beat grid) when neither is given."""
        if steps_per_beat is None and frames_per_second is None:
            return default or cls(steps_per_beat=12)
        return cls(steps_per_beat=steps_per_beat, frames_per_second=frames_per_second)

    @property
    def is_beat(self) -> bool:
        return self.steps_per_beat is not None

    def __str__(self) -> str:
        if self.is_beat:
            return f"{self.steps_per_beat} steps per beat"
        return f"{self.frames_per_second:g} frames per second"

    # ------------------------------------------------------------------ reading
    def ticks_to_steps(self, ticks: np.ndarray, tpq: int) -> np.ndarray:
        """Steps of MIDI tick times on a beat grid: ``round_half_up(ticks * steps_per_beat / tpq)``, exact."""
        assert self.steps_per_beat is not None
        ticks = np.asarray(ticks, dtype=np.int64)
        return (2 * ticks * self.steps_per_beat + tpq) // (2 * tpq)

    def seconds_to_steps(self, seconds: np.ndarray) -> np.ndarray:
        """Steps of times in seconds on a seconds grid: ``floor(seconds * fps + 1/2)``."""
        assert self.frames_per_second is not None
        return np.floor(np.asarray(seconds, dtype=np.float64) * self.frames_per_second + 0.5).astype(np.int64)

    # ------------------------------------------------------------------ clocks
    def quarters(self, steps: np.ndarray | float, tempos: np.ndarray) -> np.ndarray:
        """Quarter notes from the start at each step."""
        steps = np.asarray(steps, dtype=np.float64)
        if self.steps_per_beat is not None:
            return steps / self.steps_per_beat
        assert self.frames_per_second is not None
        return _piecewise(steps, tempos["step"], tempos["qpm"] / (60.0 * self.frames_per_second))

    def steps_at_quarters(self, quarters: np.ndarray | float, tempos: np.ndarray) -> np.ndarray:
        """The (fractional) step at each quarter-note position: the inverse of :meth:`quarters`."""
        quarters = np.asarray(quarters, dtype=np.float64)
        if self.steps_per_beat is not None:
            return quarters * self.steps_per_beat
        assert self.frames_per_second is not None
        return _piecewise_inverse(quarters, tempos["step"], tempos["qpm"] / (60.0 * self.frames_per_second))

    def seconds(self, steps: np.ndarray | float, tempos: np.ndarray) -> np.ndarray:
        """Seconds from the start at each step."""
        steps = np.asarray(steps, dtype=np.float64)
        if self.frames_per_second is not None:
            return steps / self.frames_per_second
        assert self.steps_per_beat is not None
        return _piecewise(steps, tempos["step"], 60.0 / (tempos["qpm"] * self.steps_per_beat))

    def steps_at_seconds(self, seconds: np.ndarray | float, tempos: np.ndarray) -> np.ndarray:
        """The (fractional) step at each time in seconds: the inverse of :meth:`seconds`."""
        seconds = np.asarray(seconds, dtype=np.float64)
        if self.frames_per_second is not None:
            return seconds * self.frames_per_second
        assert self.steps_per_beat is not None
        return _piecewise_inverse(seconds, tempos["step"], 60.0 / (tempos["qpm"] * self.steps_per_beat))

    # ------------------------------------------------------------------ writing
    def ticks_per_quarter(self) -> int:
        """The MIDI resolution written: 480 when the grid divides it, else the nearest multiple of the grid."""
        if self.steps_per_beat is None:
            return 960
        spb = self.steps_per_beat
        return spb * max(1, round(480 / spb))

    def steps_to_ticks(self, steps: np.ndarray, tempos: np.ndarray, tpq: int) -> np.ndarray:
        """MIDI ticks (at ``tpq``) of steps; exact on a beat grid, rounded half-up on a seconds grid."""
        steps = np.asarray(steps, dtype=np.int64)
        if self.steps_per_beat is not None:
            return steps * (tpq // self.steps_per_beat)
        return np.floor(self.quarters(steps, tempos) * tpq + 0.5).astype(np.int64)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        if self.steps_per_beat is not None:
            return {"steps_per_beat": self.steps_per_beat}
        return {"frames_per_second": self.frames_per_second}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Grid:
        return cls(steps_per_beat=data.get("steps_per_beat"), frames_per_second=data.get("frames_per_second"))


def tempo_map(steps: np.ndarray | list[int], qpm: np.ndarray | list[float]) -> np.ndarray:
    """A tempo map array (dtype :data:`TEMPO_DTYPE`) from steps and tempi; the first entry must be at step 0."""
    out = np.empty(len(steps), dtype=TEMPO_DTYPE)
    out["step"] = steps
    out["qpm"] = qpm
    if len(out) == 0 or out["step"][0] != 0:
        raise ValueError("a tempo map starts with a tempo at step 0")
    if np.any(np.diff(out["step"]) <= 0):
        raise ValueError("tempo map steps must be strictly increasing")
    if np.any(~np.isfinite(out["qpm"])) or np.any(out["qpm"] <= 0):
        raise ValueError(f"tempi must be positive quarter notes per minute, got {out['qpm'].tolist()}")
    return out


def _piecewise(x: np.ndarray, starts: np.ndarray, slopes: np.ndarray) -> np.ndarray:
    """y(x) for a continuous piecewise-linear map with y(0) = 0 and slope ``slopes[i]`` from ``starts[i]`` on."""
    y_starts = np.concatenate(([0.0], np.cumsum(np.diff(starts) * slopes[:-1])))
    i = np.clip(np.searchsorted(starts, x, side="right") - 1, 0, None)
    return y_starts[i] + (x - starts[i]) * slopes[i]


def _piecewise_inverse(y: np.ndarray, starts: np.ndarray, slopes: np.ndarray) -> np.ndarray:
    """x(y): the inverse of :func:`_piecewise` (slopes are positive)."""
    y_starts = np.concatenate(([0.0], np.cumsum(np.diff(starts) * slopes[:-1])))
    i = np.clip(np.searchsorted(y_starts, y, side="right") - 1, 0, None)
    return starts[i] + (y - y_starts[i]) / slopes[i]
