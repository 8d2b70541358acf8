"""An autoregressive Transformer over REMI tokens: the language-model baseline.

The model is a decoder-only Transformer (GPT-2 style: pre-LayerNorm blocks, causal scaled-dot-product attention,
GELU MLP, learned positions, output weights tied to the token embedding; Radford et al. 2019) over the tokens of a
:class:`~symdiff.baselines.tokens.RollTokenizer`, as in the Music Transformer / Pop Music Transformer line of work
(Huang et al. 2019; Huang & Yang 2020). Its vocabulary is the tokenizer's plus one **label token** per label value
and one for "no label"; every training sequence starts with one, so ``generate(label=...)`` picks a style.

Training sequences are ``seq_len + 1`` tokens: the label token, then the piece's tokens from its start (``BOS``) or
from a ``Bar`` token, chosen uniformly among all such starts of all pieces (so long pieces count more), padded with
``PAD`` (not scored). The label token is replaced by the no-label token with probability ``label_dropout``.
Optionally each sequence is transposed by a random number of semitones (``transpose``; layouts without drums only).
Batch ``b`` of a run is drawn from ``numpy.random.default_rng([seed, b])`` and the weights are initialised from
``torch.manual_seed(seed)``, so a run is reproducible and a resumed run continues exactly.

A trained model is a folder: ``model.safetensors`` (weights), ``tokenizer.json`` (miditok parameters) and
``config.json`` (architecture, tokenizer settings, layout, grid, labels, and the sha256 of the weights), each
written atomically, ``config.json`` last. Nothing is ever unpickled.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..files import atomic_path, atomic_write_text
from ..grid import Grid
from ..layout import TrackLayout
from ..midi import METER_DTYPE
from ..progress import progress_bar
from ..roll import Roll
from ._pieces import Pieces, as_pieces, steps_per_bar
from .tokens import RollTokenizer, TokenizerSettings

if TYPE_CHECKING:
    from ..data.dataset import RollDataset

FORMAT = "symdiff.AutoregressiveBaseline"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CHECKPOINT_DIR = "checkpoint"
LOG_NAME = "log.csv"


# ====================================================================== configuration
@dataclass(frozen=True)
class ARConfig:
    """Architecture, tokenizer and optimisation settings of the autoregressive baseline.

    Attributes:
        d_model: width of the residual stream.
        n_layers: Transformer blocks.
        n_heads: attention heads (must divide ``d_model``).
        d_ff: MLP hidden width (default ``4 * d_model``).
        seq_len: tokens the model sees at once (the label token included).
        dropout: dropout on attention outputs and MLPs.
        lr: peak AdamW learning rate (linear warm-up, then cosine decay to a tenth).
        warmup_steps: steps of linear warm-up.
        weight_decay: AdamW weight decay of the matrices.
        grad_clip: the largest gradient norm.
        label_dropout: the chance a training sequence gets the no-label token instead of its label's.
        transpose: transpose each training sequence by a random shift in ``-transpose..transpose`` semitones.
        tokenizer: what the tokens keep of the music.
    """

    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int | None = None
    seq_len: int = 512
    dropout: float = 0.0
    lr: float = 3e-4
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    label_dropout: float = 0.1
    transpose: int = 0
    tokenizer: TokenizerSettings = field(default_factory=TokenizerSettings)

    def __post_init__(self) -> None:
        for name in ("d_model", "n_layers", "n_heads", "seq_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"ARConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"ARConfig.n_heads ({self.n_heads}) must divide d_model ({self.d_model})")
        if self.d_ff is not None and self.d_ff < 1:
            raise ValueError(f"ARConfig.d_ff must be >= 1 or None, got {self.d_ff}")
        if not 0 <= self.dropout < 1 or not 0 <= self.label_dropout <= 1:
            raise ValueError(f"dropout must be in [0, 1) and label_dropout in [0, 1], got {self}")
        if self.transpose < 0:
            raise ValueError(f"ARConfig.transpose must be >= 0 semitones, got {self.transpose}")

    @property
    def ff_width(self) -> int:
        return self.d_ff or 4 * self.d_model

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tokenizer"] = self.tokenizer.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ARConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"ARConfig: unknown fields {sorted(unknown)}; known: {sorted(known)}")
        values = dict(data)
        if "tokenizer" in values:
            values["tokenizer"] = TokenizerSettings.from_dict(values["tokenizer"])
        return cls(**values)

    @classmethod
    def for_parameters(cls, target: int, vocab_size: int, **overrides: Any) -> ARConfig:
        """A config of about ``target`` parameters for a vocabulary of ``vocab_size`` (tokenizer + labels).

        GPT-2's proportions: a width ``d`` (a multiple of 64, heads of 64 channels) and ``d / 64`` layers; the MLP
        width (a multiple of 8, between 1.5 and 8 times ``d``) then makes up the count, and the shape whose MLP is
        nearest the usual ``4 d`` wins. Targets too small for that (under about 0.1 M) get the nearest count over
        widths 32..256 (heads of 32) and depths 1..8 with a ``4 d`` MLP. ``overrides`` set the other fields
        (``seq_len``, ``lr``, ...).
        """
        if target < 1:
            raise ValueError(f"target must be >= 1 parameter, got {target}")
        base = cls(**overrides)
        balanced = []
        for d_model in range(64, 4097, 64):
            config = replace(base, d_model=d_model, n_heads=d_model // 64, n_layers=max(1, round(d_model / 64)), d_ff=8)
            slope = (count_parameters(replace(config, d_ff=16), vocab_size) - count_parameters(config, vocab_size)) / 8
            without = count_parameters(config, vocab_size) - 8 * slope
            d_ff = 8 * round((target - without) / slope / 8)
            if 1.5 * d_model <= d_ff <= 8 * d_model:
                balanced.append((abs(math.log(d_ff / (4 * d_model))), replace(config, d_ff=d_ff)))
        if balanced:
            return min(balanced, key=lambda c: c[0])[1]
        shapes = [
            replace(base, d_model=d, n_heads=max(1, d // 32), n_layers=layers, d_ff=None)
            for d in range(32, 257, 32)
            for layers in range(1, 9)
        ]
        return min(shapes, key=lambda c: abs(count_parameters(c, vocab_size) - target))


# ====================================================================== the network
class _Block(nn.Module):
    def __init__(self, config: ARConfig) -> None:
        super().__init__()
        d = config.d_model
        self.heads = config.n_heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, config.ff_width), nn.GELU(), nn.Linear(config.ff_width, d))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, past: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, length, 3, self.heads, width // self.heads).unbind(2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if past is not None:
            k, v = torch.cat((past[0], k), 2), torch.cat((past[1], v), 2)
        # a prompt attends causally; one new token (with a cache) attends to everything before it
        attention = F.scaled_dot_product_attention(q, k, v, is_causal=past is None and length > 1)
        x = x + self.dropout(self.proj(attention.transpose(1, 2).reshape(batch, length, width)))
        x = x + self.dropout(self.mlp(self.norm2(x)))
        return x, (k, v)


class DecoderTransformer(nn.Module):
    """A decoder-only Transformer language model (see the module docstring) of ``vocab_size`` tokens."""

    def __init__(self, config: ARConfig, vocab_size: int) -> None:
        super().__init__()
        self.config, self.vocab_size = config, vocab_size
        self.embed = nn.Embedding(vocab_size, config.d_model)
        self.position = nn.Embedding(config.seq_len, config.d_model)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.apply(self._init)
        for block in self.blocks:  # GPT-2: residual projections scaled by depth
            nn.init.normal_(block.proj.weight, std=0.02 / math.sqrt(2 * config.n_layers))
            nn.init.normal_(block.mlp[2].weight, std=0.02 / math.sqrt(2 * config.n_layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def forward(
        self, ids: Tensor, cache: list[tuple[Tensor, Tensor]] | None = None
    ) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """Logits ``(batch, length, vocab)`` of the next token after each of ``ids`` ``(batch, length)``, and the
        keys and values of every layer. With ``cache`` (from a previous call), ``ids`` must be one new token."""
        start = 0 if cache is None else cache[0][0].shape[2]
        if start + ids.shape[1] > self.config.seq_len:
            raise ValueError(f"ids: {start + ids.shape[1]} tokens is more than seq_len ({self.config.seq_len})")
        if cache is not None and ids.shape[1] != 1:
            raise ValueError("ids: with a cache, give one token at a time")
        positions = torch.arange(start, start + ids.shape[1], device=ids.device)
        x = self.embed(ids) + self.position(positions)
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[i])
            new_cache.append(kv)
        return F.linear(self.norm(x), self.embed.weight), new_cache


def count_parameters(config: ARConfig, vocab_size: int) -> int:
    """The number of parameters of a :class:`DecoderTransformer`: token and position embeddings (the output layer
    is tied to the token embedding), per block two LayerNorms, the attention's qkv and output projections and the
    MLP, and the final LayerNorm."""
    d, f = config.d_model, config.ff_width
    block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
    return vocab_size * d + config.seq_len * d + config.n_layers * block + 2 * d


# ====================================================================== the baseline
class AutoregressiveBaseline:
    """A trained autoregressive baseline: the network, its tokenizer, and what generation needs.

    Make one with :func:`train_autoregressive` (which saves it) and :meth:`from_pretrained`.

    Attributes:
        model: the network (in eval mode).
        tokenizer: the tokenizer.
        config: the configuration.
        label_names: the label values, in label-token order.
        label_key: the label key they are values of, or None.
        programs: the most common General MIDI program of each track in training (written into generated Rolls).
        tempo: the median starting tempo of the training pieces (qpm).
    """

    def __init__(
        self,
        model: DecoderTransformer,
        tokenizer: RollTokenizer,
        config: ARConfig,
        *,
        label_names: Sequence[str] = (),
        label_key: str | None = None,
        programs: tuple[int, ...] | None = None,
        tempo: float = 120.0,
        extra: dict[str, Any] | None = None,
    ) -> None:
        expected = len(tokenizer) + 1 + len(label_names)
        if model.vocab_size != expected:
            raise ValueError(
                f"model: vocabulary of {model.vocab_size} tokens, expected {expected} "
                f"({len(tokenizer)} tokenizer tokens, 1 no-label token, {len(label_names)} labels)"
            )
        self.model = model.eval()
        self.tokenizer, self.config = tokenizer, config
        self.label_names, self.label_key = tuple(label_names), label_key
        self.programs = programs or tuple(t.program for t in tokenizer.layout.tracks)
        self.tempo = float(tempo)
        self.extra = dict(extra or {})

    @property
    def layout(self) -> TrackLayout:
        return self.tokenizer.layout

    @property
    def grid(self) -> Grid:
        return self.tokenizer.grid

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def label_token(self, label: str | None) -> int:
        """The id of the token that starts a sequence of ``label`` (None: the no-label token)."""
        if label is None:
            return len(self.tokenizer)
        if label not in self.label_names:
            raise ValueError(f"label {label!r} was not seen in training; known labels: {list(self.label_names)}")
        return len(self.tokenizer) + 1 + self.label_names.index(label)

    # ------------------------------------------------------------------ generating
    @torch.no_grad()
    def generate(
        self,
        bars: int = 16,
        label: str | None = None,
        temperature: float = 1.0,
        top_p: float = 0.95,
        seed: int = 0,
        max_tokens: int | None = None,
        *,
        meter: tuple[int, int] = (4, 4),
        tempo: float | None = 120.0,
    ) -> Roll:
        """Sample a piece of ``bars`` bars.

        Tokens are drawn one at a time (nucleus sampling, Holtzman et al. 2020) after ``label``'s token and
        ``BOS``, until the token that would start bar ``bars + 1``, ``EOS``, or ``max_tokens`` tokens. The
        ``TimeSig`` token after each ``Bar`` is forced to ``meter``. When the context is full, it restarts from a
        ``Bar`` token in its second half (label token kept in front). The Roll is cut or padded to exactly
        ``bars`` bars of ``meter``.

        Args:
            bars: the number of bars.
            label: the label value to generate (None: unconditional).
            temperature: divides the logits (> 0).
            top_p: keep the smallest set of tokens whose probability reaches this (in (0, 1]).
            seed: seeds every random draw (the same seed gives the same Roll on the same machine).
            max_tokens: stop after this many tokens (default ``512 * bars``).
            meter: the time signature.
            tempo: the tempo in qpm (None: the median training tempo).
        """
        if int(bars) != bars or bars < 1:
            raise ValueError(f"bars must be an integer >= 1, got {bars!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
        length = int(bars) * steps_per_bar(self.grid, meter)
        meter_token = None
        if self.config.tokenizer.time_signatures:
            meter_token = self.tokenizer.time_signature_id(meter)
            if meter_token is None:
                raise ValueError(f"meter {meter[0]}/{meter[1]} has no TimeSig token in this tokenizer")
        budget = 512 * int(bars) if max_tokens is None else int(max_tokens)
        generator = torch.Generator().manual_seed(int(seed))
        tok = self.tokenizer
        banned = torch.zeros(self.model.vocab_size, dtype=torch.bool)
        banned[[tok.pad_id, tok.bos_id]] = True
        banned[len(tok) :] = True  # label tokens
        head = self.label_token(label)
        tokens = [tok.bos_id]
        bars_started = 0
        context_start = 0  # tokens[context_start:] are in the cache
        logits, cache = self._prompt(head, tokens, context_start)
        while len(tokens) < budget:
            if meter_token is not None and tokens[-1] == tok.bar_id:
                token = meter_token
            else:
                token = _sample(logits, banned, temperature, top_p, generator)
            if token == tok.eos_id:
                break
            if token == tok.bar_id:
                bars_started += 1
                if bars_started > bars:
                    break
            tokens.append(token)
            if len(tokens) - context_start + 1 >= self.config.seq_len:  # full: restart the context at a bar
                context_start = _restart(tokens, context_start, self.config.seq_len, tok.bar_id)
                logits, cache = self._prompt(head, tokens, context_start)
            else:
                out, cache = self.model(torch.tensor([[token]]), cache)
                logits = out[0, -1]
        qpm = self.tempo if tempo is None else float(tempo)
        roll = tok.decode(
            tokens,
            length=length,
            tempo=qpm,
            programs=self.programs,
            metadata={"generator": "autoregressive", "seed": seed, "label": label, "tokens": len(tokens)},
        )
        return replace(roll, meters=np.array([(0, meter[0], meter[1])], dtype=METER_DTYPE))

    def _prompt(self, head: int, tokens: list[int], start: int) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        out, cache = self.model(torch.tensor([[head, *tokens[start:]]]))
        return out[0, -1], cache

    # ------------------------------------------------------------------ saving and loading
    def save_pretrained(self, directory: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
        """Write ``model.safetensors``, ``tokenizer.json`` and ``config.json`` (last) to ``directory``."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / WEIGHTS_NAME) as tmp:
            state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
            save_file(state, str(tmp), metadata={"format": FORMAT})
        self.tokenizer.save(directory)
        document = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "vocab_size": self.model.vocab_size,
            "label_key": self.label_key,
            "label_names": list(self.label_names),
            "layout": self.layout.to_dict(),
            "grid": self.grid.to_dict(),
            "programs": list(self.programs),
            "tempo": self.tempo,
            "extra": {**self.extra, **(extra or {})},
            "weights_sha256": _sha256(directory / WEIGHTS_NAME),
        }
        atomic_write_text(directory / CONFIG_NAME, json.dumps(document, indent=1))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike[str]) -> AutoregressiveBaseline:
        """Load a model :meth:`save_pretrained` (or :func:`train_autoregressive`) wrote. Never unpickles.

        Raises:
            FileNotFoundError: a file is missing.
            ValueError: the folder is not a saved AutoregressiveBaseline, or its weights are not the ones its
                config was saved with.
        """
        from safetensors.torch import load_file

        directory = Path(directory)
        document = json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
        if document.get("format") != FORMAT or document.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{directory / CONFIG_NAME} is not a {FORMAT} of format version {FORMAT_VERSION} "
                f"(format={document.get('format')!r}, format_version={document.get('format_version')!r})"
            )
        weights = directory / WEIGHTS_NAME
        if _sha256(weights) != document["weights_sha256"]:
            raise ValueError(f"{weights} is not the file {directory / CONFIG_NAME} was saved with (sha256 differs)")
        config = ARConfig.from_dict(document["config"])
        grid = Grid.from_dict(document["grid"])
        tokenizer = RollTokenizer.load(directory, TrackLayout.from_dict(document["layout"]), grid, config.tokenizer)
        model = DecoderTransformer(config, int(document["vocab_size"]))
        model.load_state_dict(load_file(str(weights)))
        return cls(
            model,
            tokenizer,
            config,
            label_names=document["label_names"],
            label_key=document["label_key"],
            programs=tuple(document["programs"]),
            tempo=float(document["tempo"]),
            extra=document.get("extra"),
        )

    def __repr__(self) -> str:
        c = self.config
        return (
            f"AutoregressiveBaseline({self.num_parameters / 1e6:.2f} M parameters, d_model={c.d_model}, "
            f"n_layers={c.n_layers}, seq_len={c.seq_len}, vocab={self.model.vocab_size}, "
            f"layout={self.layout.name!r}, {self.grid}, labels={list(self.label_names)})"
        )


def _sample(logits: Tensor, banned: Tensor, temperature: float, top_p: float, generator: torch.Generator) -> int:
    """One token drawn from ``softmax(logits / temperature)`` restricted to its top-``p`` nucleus."""
    logits = logits.float().masked_fill(banned, float("-inf")) / temperature
    probs = torch.softmax(logits, -1)
    if top_p < 1:
        sorted_probs, order = torch.sort(probs, descending=True)
        outside = torch.cumsum(sorted_probs, -1) - sorted_probs >= top_p
        sorted_probs[outside] = 0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


def _restart(tokens: list[int], start: int, seq_len: int, bar_id: int) -> int:
    """Where the context restarts when full: the first ``Bar`` in the second half of the window, else its middle."""
    middle = len(tokens) - seq_len // 2
    for i in range(max(middle, start + 1), len(tokens)):
        if tokens[i] == bar_id:
            return i
    return max(middle, start + 1)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ====================================================================== training
@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_autoregressive` did.

    Attributes:
        directory: the saved model folder.
        steps: optimiser steps in total (resumed ones included).
        losses: ``(step, training loss)`` of every step run in this call.
        val_losses: ``(step, validation loss)`` of every evaluation.
        seconds: wall time of this call's training loop.
        parameters: the model's parameter count.
        model: the trained baseline (as saved).
    """

    directory: Path
    steps: int
    losses: list[tuple[int, float]]
    val_losses: list[tuple[int, float]]
    seconds: float
    parameters: int
    model: AutoregressiveBaseline


class _Sequences:
    """Token sequences of pieces and the batches cut from them (see the module docstring)."""

    def __init__(self, pieces: Pieces, tokenizer: RollTokenizer, label_names: Sequence[str], progress: bool, what: str):
        if pieces.layout != tokenizer.layout or pieces.grid != tokenizer.grid:
            raise ValueError(f"{what}: its layout and grid must be the training data's")
        self.tokenizer = tokenizer
        self.sequences: list[np.ndarray] = []
        self.labels: list[int] = []
        starts: list[tuple[int, int]] = []
        program_counts: list[dict[int, int]] = [{} for _ in pieces.layout.tracks]
        tempos = []
        bar = progress_bar(len(pieces), progress, f"tokenize {what}", "piece")
        for i, (roll, label) in enumerate(pieces):
            ids = tokenizer.encode(roll)
            self.sequences.append(ids)
            self.labels.append(label_names.index(label) if label in label_names else -1)
            starts += [(i, int(s)) for s in np.flatnonzero((ids == tokenizer.bar_id) | (np.arange(len(ids)) == 0))]
            tempos.append(float(roll.tempos["qpm"][0]))
            for track in roll.nonempty_tracks():
                program = int(roll.programs[track])
                program_counts[track][program] = program_counts[track].get(program, 0) + 1
            bar.update()
        bar.close()
        self.starts = np.array(starts, dtype=np.int64).reshape(-1, 2)
        self.tokens = int(sum(len(s) for s in self.sequences))
        self.has_drums = any(t.is_drum for t in tokenizer.layout.tracks)
        self.transposers: dict[int, np.ndarray] = {}
        #: the most common program of each track among the pieces where it has notes (else the layout's)
        self.programs = tuple(
            max(c, key=lambda p: (c[p], -p)) if c else spec.program
            for c, spec in zip(program_counts, pieces.layout.tracks, strict=True)
        )
        #: the median starting tempo
        self.tempo = float(np.median(tempos))

    def batch(self, rng: np.random.Generator, batch_size: int, config: ARConfig) -> tuple[Tensor, Tensor]:
        """Inputs and targets ``(batch_size, seq_len)``; padded targets are -100 (not scored)."""
        tok = self.tokenizer
        rows = np.full((batch_size, config.seq_len + 1), tok.pad_id, dtype=np.int64)
        for b, choice in enumerate(rng.integers(0, len(self.starts), batch_size)):
            piece, start = self.starts[choice]
            chunk = self.sequences[piece][start : start + config.seq_len]
            label = self.labels[piece]
            dropped = rng.random() < config.label_dropout
            rows[b, 0] = len(tok) if label < 0 or dropped else len(tok) + 1 + label
            shift = int(rng.integers(-config.transpose, config.transpose + 1)) if config.transpose else 0
            if shift and not self.has_drums:
                table = self.transposers.get(shift)
                if table is None:
                    table = self.transposers[shift] = tok.transposer(shift)
                moved = table[chunk]
                chunk = chunk if (moved < 0).any() else moved
            rows[b, 1 : 1 + len(chunk)] = chunk
        batch = torch.from_numpy(rows)
        targets = batch[:, 1:].clone()
        targets[targets == tok.pad_id] = -100
        return batch[:, :-1], targets


def train_autoregressive(
    data: RollDataset | Sequence[Roll],
    config: ARConfig,
    out_dir: str | os.PathLike[str],
    *,
    steps: int = 1000,
    batch_size: int = 16,
    seed: int = 0,
    label_key: str | None = None,
    validation: RollDataset | Sequence[Roll] | None = None,
    eval_every: int = 0,
    eval_batches: int = 4,
    log_every: int = 10,
    checkpoint_every: int = 0,
    resume: bool = True,
    progress: bool = False,
) -> TrainResult:
    """Train the autoregressive baseline on whole pieces and save it to ``out_dir``.

    Args:
        data: a :class:`~symdiff.RollDataset` (its whole pieces; its ``label`` is the default label key) or Rolls.
        config: the model and optimisation settings (:meth:`ARConfig.for_parameters` sizes one).
        out_dir: the model folder (see the module docstring); ``log.csv`` (step, loss, lr, val_loss, seconds) and
            ``checkpoint/`` go there too.
        steps: optimiser steps in all.
        batch_size: sequences per step.
        seed: seeds the weights and every batch.
        label_key: the label whose values get label tokens (e.g. ``"style"``); None for none.
        validation: held-out pieces for a validation loss every ``eval_every`` steps (on ``eval_batches`` batches
            drawn with a fixed seed).
        log_every: steps between rows of ``log.csv``.
        checkpoint_every: steps between checkpoints (weights and optimiser state, as safetensors; 0: none).
        resume: continue from ``out_dir/checkpoint`` when there is one (the config must be the same).
        progress: show progress bars.

    The global torch random state is seeded (``torch.manual_seed``) for the initial weights and, with dropout,
    at every step. Returns a :class:`TrainResult`.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got steps={steps}, batch_size={batch_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pieces = as_pieces(data, label_key)
    tokenizer = RollTokenizer(pieces.layout, pieces.grid, config.tokenizer)
    label_names = pieces.label_names
    train_set = _Sequences(pieces, tokenizer, label_names, progress, "training pieces")
    val_set = None
    if validation is not None:
        val_pieces = as_pieces(validation, pieces.label_key)
        val_set = _Sequences(val_pieces, tokenizer, label_names, progress, "validation pieces")
    vocab_size = len(tokenizer) + 1 + len(label_names)
    torch.manual_seed(seed)
    model = DecoderTransformer(config, vocab_size)
    optimizer = _optimizer(model, config)
    first = 0
    checkpoint = out / CHECKPOINT_DIR
    if resume and (checkpoint / "state.json").is_file():
        first = _load_checkpoint(checkpoint, model, optimizer, config, vocab_size)
    _trim_log(out / LOG_NAME, first)
    losses: list[tuple[int, float]] = []
    val_losses: list[tuple[int, float]] = []
    bar = progress_bar(steps, progress, "train AR", "step", initial=first)
    started = time.perf_counter()
    model.train()
    for step in range(first, steps):
        lr = _learning_rate(step, steps, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if config.dropout:
            torch.manual_seed(seed * 1_000_003 + step + 1)
        inputs, targets = train_set.batch(np.random.default_rng([seed, step]), batch_size, config)
        logits, _ = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1), ignore_index=-100)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"step {step}: the loss is {loss.item()}; lower lr (now {config.lr})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        done = step + 1
        losses.append((done, loss.item()))
        val_loss = None
        if val_set is not None and eval_every and (done % eval_every == 0 or done == steps):
            val_loss = _evaluate(model, val_set, batch_size, eval_batches, config, vocab_size)
            val_losses.append((done, val_loss))
        if done % log_every == 0 or done == steps or val_loss is not None:
            _log(out / LOG_NAME, done, losses[-1][1], lr, val_loss, time.perf_counter() - started)
        if checkpoint_every and done % checkpoint_every == 0 and done < steps:
            _save_checkpoint(checkpoint, model, optimizer, config, vocab_size, done)
        bar.set_postfix(loss=f"{losses[-1][1]:.3f}")
        bar.update()
    bar.close()
    seconds = time.perf_counter() - started
    baseline = AutoregressiveBaseline(
        model,
        tokenizer,
        config,
        label_names=label_names,
        label_key=pieces.label_key,
        programs=train_set.programs,
        tempo=train_set.tempo,
    )
    extra = {
        "training": {
            "steps": steps,
            "batch_size": batch_size,
            "seed": seed,
            "pieces": len(train_set.sequences),
            "tokens": train_set.tokens,
            "final_loss": losses[-1][1] if losses else None,
            "final_val_loss": val_losses[-1][1] if val_losses else None,
            "parameters": baseline.num_parameters,
        }
    }
    baseline.save_pretrained(out, extra=extra)
    return TrainResult(out, steps, losses, val_losses, seconds, baseline.num_parameters, baseline)


def _optimizer(model: nn.Module, config: ARConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases, norms or embeddings' positions alike)."""
    decay = [p for n, p in model.named_parameters() if p.ndim == 2 and not n.startswith("position")]
    rest = [p for n, p in model.named_parameters() if not (p.ndim == 2 and not n.startswith("position"))]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95))


def _learning_rate(step: int, steps: int, config: ARConfig) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``lr / 10`` at ``steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(steps - config.warmup_steps, 1)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


@torch.no_grad()
def _evaluate(
    model: DecoderTransformer, data: _Sequences, batch_size: int, batches: int, config: ARConfig, vocab_size: int
) -> float:
    """Mean token cross-entropy on ``batches`` batches drawn with a fixed seed (no transposition)."""
    model.eval()
    plain = replace(config, transpose=0, label_dropout=0.0)
    total, count = 0.0, 0
    for b in range(batches):
        inputs, targets = data.batch(np.random.default_rng([12345, b]), batch_size, plain)
        logits, _ = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1), ignore_index=-100, reduction="sum")
        total += float(loss)
        count += int((targets != -100).sum())
    model.train()
    return total / max(count, 1)


# ---------------------------------------------------------------------- log and checkpoints
_LOG_FIELDS = ("step", "loss", "lr", "val_loss", "seconds")


def _log(path: Path, step: int, loss: float, lr: float, val_loss: float | None, seconds: float) -> None:
    new = not path.is_file()
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(_LOG_FIELDS)
        writer.writerow(
            [step, f"{loss:.6f}", f"{lr:.3e}", "" if val_loss is None else f"{val_loss:.6f}", f"{seconds:.2f}"]
        )


def _trim_log(path: Path, step: int) -> None:
    """Drop rows after ``step`` (left by a run that was killed after its last checkpoint); no log at step 0."""
    if not path.is_file():
        return
    if step == 0:
        path.unlink()
        return
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= step]
    lines = [",".join(_LOG_FIELDS)] + [",".join(r[k] for k in _LOG_FIELDS) for r in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")


def _save_checkpoint(
    folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, config: ARConfig, vocab_size: int, step: int
) -> None:
    """Weights, optimiser tensors (safetensors) and ``state.json`` (written last: the checkpoint counts from then)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / WEIGHTS_NAME) as tmp:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    state = optimizer.state_dict()
    tensors = {f"{i}.{name}": value for i, s in state["state"].items() for name, value in s.items()}
    with atomic_path(folder / "optimizer.safetensors") as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    document = {
        "step": step,
        "config": config.to_dict(),
        "vocab_size": vocab_size,
        "param_groups": state["param_groups"],
        "weights_sha256": _sha256(folder / WEIGHTS_NAME),
        "optimizer_sha256": _sha256(folder / "optimizer.safetensors"),
    }
    atomic_write_text(folder / "state.json", json.dumps(document))


def _load_checkpoint(
    folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, config: ARConfig, vocab_size: int
) -> int:
    """Restore a checkpoint; returns its step.

    Raises:
        ValueError: the checkpoint is of another config or vocabulary, or its files do not match each other.
    """
    from safetensors.torch import load_file

    document = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    if document["config"] != config.to_dict() or document["vocab_size"] != vocab_size:
        raise ValueError(
            f"{folder}: the checkpoint was made with another config or data; delete it or pass resume=False"
        )
    for name, key in ((WEIGHTS_NAME, "weights_sha256"), ("optimizer.safetensors", "optimizer_sha256")):
        if _sha256(folder / name) != document[key]:
            raise ValueError(f"{folder / name} is not the file its state.json was saved with")
    model.load_state_dict(load_file(str(folder / WEIGHTS_NAME)))
    tensors = load_file(str(folder / "optimizer.safetensors"))
    state: dict[int, dict[str, Tensor]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": document["param_groups"]})
    return int(document["step"])
