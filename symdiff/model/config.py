"""The hyper-parameters of a :class:`~symdiff.model.TransformerDenoiser`, saved beside its weights as JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..checks import check_instance, check_int, is_number, must_be

_INT_FIELDS = ("tracks", "channels", "pitches", "patch", "d_model", "n_layers", "n_heads", "num_labels", "head_hidden")
_POSITIVE_INT_FIELDS = ("tracks", "channels", "pitches", "patch", "d_model", "n_layers", "n_heads")
_BOOL_FIELDS = ("use_tempo", "use_meter", "absolute_positions")


@dataclass(frozen=True)
class DenoiserConfig:
    """Shape and size of a Transformer denoiser over piano rolls of shape ``(tracks, channels, pitches, steps)``.

    Every value is checked on construction (:class:`TypeError` / :class:`ValueError` naming the field).

    Attributes:
        tracks: number of tracks of the layout the model is trained on.
        pitches: number of pitch rows per track.
        channels: roll channels (onset, frame, velocity: 3).
        patch: time steps per token; a window's length must be a multiple of it.
        d_model: width of the residual stream.
        n_layers: number of Transformer blocks.
        n_heads: attention heads; ``d_model / n_heads`` must be an even integer (rotary positions rotate pairs).
        mlp_ratio: hidden width of each block's MLP, as a multiple of ``d_model``.
        dropout: dropout on attention weights and on each block's residual branches (0 = none).
        num_labels: style labels ``0 .. num_labels-1``; 0 makes an unconditional model. Label ``-1`` (or no label
            at all) selects a learned "no label" embedding, the unconditional branch of classifier-free guidance.
        label_names: the name of each label (empty, or exactly ``num_labels`` distinct names).
        max_steps: the longest window (in steps) :meth:`TransformerDenoiser.forward` accepts, or ``None`` for no
            limit. Positions are rotary, so any length runs; set this to the training window (or a multiple) to make
            a window the model has never seen the like of an error instead of a silent extrapolation.
        use_tempo: condition on the tempo (quarter notes per minute).
        use_meter: condition on the time signature.
        absolute_positions: add a learned embedding of each token's index in the window (needs ``max_steps``).
            Rotary attention alone is translation-equivariant: fed pure noise, every token looks alike and the
            network cannot put a downbeat or a cadence anywhere in particular (a tiny model could not even learn
            one piece by heart without it; tests/test_pipeline.py). Training windows start on bar lines, so an
            index is a metrical position.
        head_hidden: width of the per-lane MLP of the output head (:class:`~symdiff.model.denoiser.LaneHead`);
            0 gives the linear head, which cannot write arbitrary chords (see there).
    """

    tracks: int
    pitches: int
    channels: int = 3
    patch: int = 4
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    num_labels: int = 0
    label_names: tuple[str, ...] = ()
    max_steps: int | None = None
    use_tempo: bool = True
    use_meter: bool = True
    absolute_positions: bool = True
    head_hidden: int = 64

    def __post_init__(self) -> None:
        for name in _INT_FIELDS:  # numpy ints are ints (as everywhere in symdiff.checks), stored as int
            value = check_int(f"DenoiserConfig.{name}", getattr(self, name), allowed="an int", error=TypeError)
            object.__setattr__(self, name, value)
        for name in _POSITIVE_INT_FIELDS:
            check_int(f"DenoiserConfig.{name}", getattr(self, name), 1, allowed=">= 1")
        for name in _BOOL_FIELDS:
            check_instance(f"DenoiserConfig.{name}", getattr(self, name), bool, "a bool")
        for name in ("mlp_ratio", "dropout"):
            value = getattr(self, name)
            if not is_number(value):
                raise TypeError(must_be(f"DenoiserConfig.{name}", "a number", value))
            object.__setattr__(self, name, float(value))
        if not self.mlp_ratio > 0 or self.mlp_ratio == float("inf"):
            raise ValueError(f"DenoiserConfig.mlp_ratio must be a positive number, got {self.mlp_ratio}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"DenoiserConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(
                f"DenoiserConfig.d_model ({self.d_model}) must be n_heads ({self.n_heads}) times an even head width"
            )
        if self.head_hidden < 0:
            raise ValueError(f"DenoiserConfig.head_hidden must be >= 0, got {self.head_hidden}")
        if self.num_labels < 0:
            raise ValueError(f"DenoiserConfig.num_labels must be >= 0, got {self.num_labels}")
        if isinstance(self.label_names, list):
            object.__setattr__(self, "label_names", tuple(self.label_names))
        if not isinstance(self.label_names, tuple) or not all(isinstance(n, str) for n in self.label_names):
            raise TypeError(f"DenoiserConfig.label_names must be a tuple of str, got {self.label_names!r}")
        if self.label_names and len(self.label_names) != self.num_labels:
            raise ValueError(
                f"DenoiserConfig.label_names has {len(self.label_names)} names for num_labels={self.num_labels}"
            )
        if len(set(self.label_names)) != len(self.label_names):
            raise ValueError(f"DenoiserConfig.label_names must be distinct, got {self.label_names!r}")
        if self.max_steps is not None:
            max_steps = check_int("DenoiserConfig.max_steps", self.max_steps, allowed="an int or None", error=TypeError)
            object.__setattr__(self, "max_steps", max_steps)
            if self.max_steps < self.patch or self.max_steps % self.patch:
                raise ValueError(
                    f"DenoiserConfig.max_steps must be a positive multiple of patch ({self.patch}), "
                    f"got {self.max_steps}"
                )

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.d_model // self.n_heads

    @property
    def patch_features(self) -> int:
        """Values in one token's patch: ``tracks * channels * pitches * patch``."""
        return self.tracks * self.channels * self.pitches * self.patch

    def label_id(self, name: str) -> int:
        """The label id of a style name (see ``label_names``)."""
        try:
            return self.label_names.index(name)
        except ValueError:
            raise KeyError(f"unknown label {name!r}; this model knows {list(self.label_names)}") from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (``label_names`` as a list); :meth:`from_dict` inverts it."""
        d = dataclasses.asdict(self)
        d["label_names"] = list(self.label_names)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DenoiserConfig:
        """Build from :meth:`to_dict`'s output. Missing optional keys take their defaults; an unknown or missing
        required key, or a value of the wrong type, is an error naming the field."""
        if not isinstance(d, dict):
            raise TypeError(f"a DenoiserConfig dict must be a dict, got {type(d).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown DenoiserConfig keys {unknown}; allowed keys: {names}")
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        missing = [n for n in required if n not in d]
        if missing:
            raise ValueError(f"DenoiserConfig is missing the required keys {missing}")
        d = dict(d)
        if "label_names" in d:
            if not isinstance(d["label_names"], (list, tuple)):
                raise TypeError(f"DenoiserConfig.label_names must be a list of str, got {d['label_names']!r}")
            d["label_names"] = tuple(d["label_names"])
        return cls(**d)

    @classmethod
    def tiny(cls, tracks: int = 1, pitches: int = 16, **overrides: Any) -> DenoiserConfig:
        """A debug-size model for fast CPU tests: width 32, 2 layers, 2 heads, patch 4.

        About 70k parameters for one track of 16 pitches and under 200k up to 96 pitches (the patch embedding and
        the head grow with ``pitches``, hardly with ``tracks``). ``overrides`` replace any other field.
        """
        values: dict[str, Any] = {
            "d_model": 32,
            "n_layers": 2,
            "n_heads": 2,
            "patch": 4,
            "mlp_ratio": 2.0,
        }
        values.update(overrides)
        return cls(tracks=tracks, pitches=pitches, **values)
