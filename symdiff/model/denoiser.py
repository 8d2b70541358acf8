"""The Transformer denoiser network: ``F(x_in, c_noise, cond)`` over piano-roll windows, DiT style.

Shapes (``B`` batch, ``T`` tracks, ``C`` channels, ``P`` pitches, ``S`` steps, ``p`` the patch, ``N = S / p`` tokens,
``d`` the width)::

    x_in (B, T, C, P, S) ──patchify──▶ patches (B, N, T, C, P, p) ──PatchEmbed──▶ tokens (B, N, d)
    cond.known·mask, mask ──patchify──▶ (B, N, T, 2C, P, p) ──PatchEmbed──▶ + tokens   (only when cond.mask is given)
    c_noise, label, tempo, meter ──embeddings, summed──▶ c (B, d)
    tokens ──n_layers × Block(adaLN-Zero from c, rotary self-attention, GELU MLP)──▶ (B, N, d) ──adaLN──▶
           ├─head (zero-init)──▶ offset (B, N, T, C, P, p)
           └─gain (zero-init)──▶ gain (B, N, T, 1, P, 1)    F = offset + gain · patches ──unpatchify──▶ (B, T, C, P, S)

A token is ``p`` time steps of every track, channel and pitch, so attention runs along time only (``N = 64`` tokens
for 256 steps at ``p = 4``) and the model sees all tracks of a moment together.

Design choices:

* **A gated input skip in the head.** A token carries far more values than its width (``T·C·P·p = 3072`` for 4
  tracks × 64 pitches at ``p = 4``, against ``d = 256``), so a Linear head can only output a ``d``-dimensional
  subspace of each patch. Under EDM preconditioning ``F`` must, at mid noise levels, hand back part of its noisy
  input value by value (the share of ``x`` that ``c_skip`` does not cover), and that cannot pass a ``d``-wide
  bottleneck. So the head also predicts one gain per track and pitch and adds ``gain · x_in`` to its output:
  a full-resolution path, steered by the token, for 256 more outputs (8 %); head and gain take 114 ms forward and
  backward against 80 ms for a Linear head (batch 16 × 256 steps, one thread). Measured on overfitting 4 random
  binary rolls (1 track × 16 pitches × 16 steps, width 64, 400 AdamW steps; EDM loss on fixed draws, 0.88 at the
  start): a Linear head reaches 0.63, the gated head 0.10 (0.12 at width 32). A per-lane MLP head (over the token's
  context for the lane and the lane's own values) reached 0.16 at 4× the gated head's cost; gains per value or per
  (lane, channel) did no better than one per lane.
* **Patch embedding and head: factorised.** One projection of a track's ``C·P·p`` values shared by all tracks, and
  a learned gain vector per track, summed over tracks (:class:`PatchEmbed`; :class:`PatchHead` likewise, with a
  bias per track): the flat ``Linear(T·C·P·p, d)`` restricted to blocks ``diag(g_t) W``, the same multiply-adds
  with ``T`` times fewer weights. Measured (d=256, 6 layers): the model has 8.27M parameters against 10.67M with flat
  Linears at 4 tracks × 64 pitches, 9.08M against 15.5M for ``lpd5`` (5 × 128) and 9.11M against 34.8M for ``gm``
  (17 × 128). Embedding + head forward and backward (batch 16 × 256 steps, one thread, best of 12) take 132 ms
  against 119 ms (4 × 64) and 1.39 s against 1.23 s (17 × 128); a whole training step at 4 × 64 runs at the same
  speed as with flat Linears within the ±10 % noise of the (shared) machine. Assembling the flat weight from the
  factors on each call instead was as fast in training but 2 ms slower per forward at batch 1.
* The known part and the mask have their own embedding (no bias), skipped when ``cond.mask`` is None: the same
  function as feeding zeros, at none of the cost.
* **Positions: rotary** (RoPE, on queries and keys, per token) so any window length runs and attention sees
  relative time; ``config.max_steps`` can cap the length.
* **Conditioning: adaLN-Zero** (Peebles & Xie 2023): ``c`` = noise embedding + label + tempo + meter embeddings;
  each block's LayerNorms get a shift and scale and each residual branch a gate, all from ``Linear(SiLU(c))``
  initialised to zero, and the head and gain are zero too, so a fresh network outputs exactly 0 (``D(x) =
  c_skip x``) and every block starts as the identity. Because of that, the first optimizer step only moves the
  head and gain, the second the gates, and from the third every parameter learns.
* **Precision**: the residual stream is kept in the weights' dtype, so under autocast with float32 weights it is
  float32 (branch outputs added to it) and the LayerNorms run in float32, while matmuls and attention take
  autocast's dtype (bf16). A model cast to bf16 also runs without autocast, all in bf16. Any float ``x_in`` is
  accepted; the output is cast back to ``x_in``'s dtype.
* **Compile-friendly**: no data-dependent Python control flow in ``forward`` beyond None checks (the value check
  on labels runs only on CPU tensors and not under ``torch.compile``); the test suite traces it with
  ``fullgraph=True``.

Missing conditioning: ``cond`` None, or a None field, uses learned "null" embeddings; so does a label of ``-1``, a
tempo that is not a positive finite number (e.g. NaN) and a meter with a non-positive entry, per example, so a
batch can mix examples with and without each (as classifier-free guidance training needs).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..diffusion.cond import Cond
from .config import DenoiserConfig

MAX_NUMERATOR = 32
"""Meter numerators above this share its embedding."""
MAX_LOG2_DENOMINATOR = 6
"""Meter denominators are embedded by ``round(log2(denominator))``, clamped to ``0 .. 6`` (1 .. 64)."""


# ====================================================================== small pieces
def sinusoidal(v: Tensor, dim: int, max_period: float) -> Tensor:
    """Sinusoidal features of a ``(B,)`` float tensor: ``(B, dim)`` = ``[cos(v f_i), sin(v f_i)]`` with
    ``f_i = max_period^(-i / (dim/2))``, ``i = 0 .. dim/2 - 1`` (the DDPM / DiT timestep embedding). float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=v.device, dtype=torch.float32) / half)
    angles = v.float()[:, None] * freqs[None]  # (B, dim/2)
    return torch.cat([angles.cos(), angles.sin()], dim=-1)  # (B, dim)


class FeatureMLP(nn.Module):
    """Sinusoidal features of a scalar per example, then ``Linear, SiLU, Linear``: ``(B,) -> (B, d)``."""

    def __init__(self, d: int, features: int, scale: float, max_period: float) -> None:
        super().__init__()
        self.features, self.scale, self.max_period = features, scale, max_period
        self.mlp = nn.Sequential(nn.Linear(features, d), nn.SiLU(), nn.Linear(d, d))

    def forward(self, v: Tensor) -> Tensor:
        features = sinusoidal(v * self.scale, self.features, self.max_period)  # (B, features) float32
        return self.mlp(features.to(self.mlp[0].weight.dtype))  # (B, d)


def rotary(n: int, dim: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Rotary position tables for ``n`` tokens and head width ``dim``: ``cos, sin`` of shape ``(n, dim)``, laid out
    for :func:`apply_rotary` (``[cos θ, cos θ]`` and ``[-sin θ, sin θ]`` over the two halves of a head)."""
    inv_freq = 10000.0 ** (-torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim)  # (dim/2,)
    angles = torch.arange(n, device=device, dtype=torch.float32)[:, None] * inv_freq[None]  # (n, dim/2)
    cos, sin = angles.cos(), angles.sin()
    return torch.cat([cos, cos], dim=-1), torch.cat([-sin, sin], dim=-1)  # (n, dim) each


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate the pairs ``(x[..., i], x[..., i + dim/2])`` of ``x (..., N, dim)`` by each token's angles:
    ``(x1 cos - x2 sin, x2 cos + x1 sin)``, written as ``x · cos + roll(x, dim/2) · sin`` (3 kernels)."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)  # (N, dim)
    return torch.addcmul(x * cos, x.roll(x.shape[-1] // 2, dims=-1), sin)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: ``x (B, N, d)`` scaled by ``1 + scale`` and shifted by ``shift`` (each ``(B, 1, d)``)."""
    return torch.addcmul(shift, x, 1 + scale)


def patchify(x: Tensor, patch: int) -> Tensor:
    """``(B, T, C, P, S) -> (B, N, T, C, P, patch)``: token ``n`` holds steps ``n·patch .. (n+1)·patch - 1``."""
    B, T, C, P, S = x.shape
    x = x.reshape(B, T, C, P, S // patch, patch)  # (B, T, C, P, N, p)
    return x.permute(0, 4, 1, 2, 3, 5).contiguous()  # (B, N, T, C, P, p)


def unpatchify(x: Tensor) -> Tensor:
    """Inverse of :func:`patchify`: ``(B, N, T, C, P, patch) -> (B, T, C, P, N·patch)``."""
    B, N, T, C, P, patch = x.shape
    return x.permute(0, 2, 3, 4, 1, 5).reshape(B, T, C, P, N * patch)


class PatchEmbed(nn.Module):
    """Factorised patch embedding ``(B, N, T, ...) -> (B, N, d)``: ``sum_t g_t ⊙ (W x_t + b)``.

    One projection ``W (d, f)`` of a track's ``f`` values (the trailing dimensions, flattened), shared by every track,
    and a learned gain vector ``g_t (d,)`` per track telling the tracks apart: the flat ``Linear(T·f, d)`` restricted
    to the blocks ``diag(g_t) W``, with the same multiply-adds and ``T`` times fewer weights.
    """

    def __init__(self, tracks: int, features: int, d: int, bias: bool = True) -> None:
        super().__init__()
        self.proj = nn.Linear(features, d, bias=bias)
        self.track_gain = nn.Parameter(torch.ones(tracks, d))

    def forward(self, x: Tensor) -> Tensor:
        return (self.proj(x.flatten(3)) * self.track_gain).sum(dim=2)  # (B, N, T, f) -> (B, N, T, d) -> (B, N, d)


class PatchHead(nn.Module):
    """Factorised output head ``(B, N, d) -> (B, N, T, f)``: ``W (g_t ⊙ h) + b_t``, ``W (f, d)`` shared by the
    tracks, a gain vector ``g_t`` and a bias ``b_t`` per track."""

    def __init__(self, tracks: int, d: int, features: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d, features, bias=False)
        self.track_gain = nn.Parameter(torch.ones(tracks, d))
        self.bias = nn.Parameter(torch.zeros(tracks, features))

    def forward(self, h: Tensor) -> Tensor:
        return self.proj(h[:, :, None, :] * self.track_gain) + self.bias  # (B, N, T, d) -> (B, N, T, f)


class LaneHead(nn.Module):
    """Nonlinear output head ``(B, N, d), patches -> (B, N, T, C, P, p)``: one small MLP per lane (track, pitch).

    ``out[n, t, :, q, :] = W_2 GELU(W_1 h_n + e_{t,q} + W_x x_{n,t,q})``: the token's state is projected once to
    ``hidden`` features, each lane adds its own learned embedding ``e_{t,q}`` and a projection of its own noisy
    input values ``x_{n,t,q}`` (its ``C·p`` channels and steps), and a shared ``Linear(hidden, C·p)`` reads the
    lane out. Two things a Linear head over the token cannot do: write an arbitrary chord at an arbitrary step
    (its outputs all lie in one ``d``-dimensional subspace of the ``T·C·P·p`` values of a patch), and denoise each
    cell from its own value (a note stands out of the noise in its own cell long before a ``d``-wide summary of
    the 6,144 values of a token can say which cells hold one). Cost: ``2·T·P·hidden·C·p`` multiply-adds per token
    (4 tracks × 64 pitches, hidden 64, 3 × 8: 6.3M), about two Transformer blocks' at ``d = 256``.
    """

    def __init__(self, tracks: int, channels: int, pitches: int, patch: int, d: int, hidden: int) -> None:
        super().__init__()
        self.shape = (tracks, channels, pitches, patch)
        self.proj = nn.Linear(d, hidden)
        self.lane = nn.Parameter(torch.zeros(tracks, pitches, hidden))
        self.inp = nn.Linear(channels * patch, hidden, bias=False)
        self.out = nn.Linear(hidden, channels * patch)

    def forward(self, h: Tensor, patches: Tensor) -> Tensor:
        B, N, _ = h.shape
        T, C, P, p = self.shape
        lanes = patches.permute(0, 1, 2, 4, 3, 5).reshape(B, N, T, P, C * p)  # (B, N, T, P, C·p)
        z = F.gelu(self.proj(h)[:, :, None, None, :] + self.lane + self.inp(lanes))  # (B, N, T, P, hidden)
        y = self.out(z).reshape(B, N, T, P, C, p)  # (B, N, T, P, C, p)
        return y.permute(0, 1, 2, 4, 3, 5)  # (B, N, T, C, P, p)


# ====================================================================== the block
class Block(nn.Module):
    """Pre-norm Transformer block with adaLN-Zero conditioning and rotary bidirectional self-attention."""

    def __init__(self, config: DenoiserConfig) -> None:
        super().__init__()
        d, hidden = config.d_model, round(config.d_model * config.mlp_ratio)
        self.n_heads, self.dropout = config.n_heads, config.dropout
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))
        self.drop = nn.Dropout(config.dropout)
        self.ada = nn.Linear(d, 6 * d)  # SiLU(c) -> shift, scale, gate of attention and of MLP; zero-initialised

    def attention(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        B, N, d = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)  # (3,B,H,N,hd)
        qk, v = qkv.split([2, 1])  # (2, B, H, N, hd), (1, B, H, N, hd)
        q, k = apply_rotary(qk, cos, sin)  # (B, H, N, hd) each
        v = v[0]
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)  # (B,H,N,hd)
        return self.proj(y.transpose(1, 2).reshape(B, N, d))  # (B, N, d)

    def forward(self, h: Tensor, c: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """``h (B, N, d)`` the residual stream, ``c (B, d)`` = SiLU of the conditioning vector."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c)[:, None].chunk(6, dim=-1)  # (B, 1, d) each
        h = torch.addcmul(h, gate1, self.drop(self.attention(modulate(self.norm1(h), shift1, scale1), cos, sin)))
        h = torch.addcmul(h, gate2, self.drop(self.mlp(modulate(self.norm2(h), shift2, scale2))))
        return h  # (B, N, d)


# ====================================================================== the network
class TransformerDenoiser(nn.Module):
    """The raw network ``F(x_in, c_noise, cond)`` that :class:`~symdiff.diffusion.KarrasDenoiser` preconditions.

    ``forward(x_in (B, T, C, P, S), c_noise (B,), cond) -> (B, T, C, P, S)`` with ``S`` a multiple of
    ``config.patch``. See the module docstring for the architecture and the choices behind it.
    """

    def __init__(self, config: DenoiserConfig) -> None:
        super().__init__()
        if not isinstance(config, DenoiserConfig):
            raise TypeError(f"config must be a DenoiserConfig, got {type(config).__name__}")
        self.config = config
        d, T, P = config.d_model, config.tracks, config.pitches
        f = config.channels * P * config.patch  # values of one track in one token
        # tokens
        self.embed = PatchEmbed(T, f, d)  # noisy patch -> token
        self.embed_known = PatchEmbed(T, 2 * f, d, bias=False)  # (known · mask, mask) patch -> token
        tokens = config.max_steps // config.patch if config.max_steps else 0
        self.pos_embed = nn.Parameter(torch.zeros(tokens, d)) if config.absolute_positions and tokens else None
        # conditioning vector
        self.noise_embed = FeatureMLP(d, features=256, scale=1000.0, max_period=10000.0)  # c_noise = ln(sigma)/4
        self.label_embed = nn.Embedding(config.num_labels + 1, d) if config.num_labels else None  # last row = null
        if config.use_tempo:  # log2(qpm / 120), about -1.6 .. 1.1 for 40 .. 260 qpm
            self.tempo_embed = FeatureMLP(d, features=64, scale=100.0, max_period=1000.0)
            self.tempo_null = nn.Parameter(torch.zeros(d))
        if config.use_meter:
            self.numerator_embed = nn.Embedding(MAX_NUMERATOR + 1, d)
            self.denominator_embed = nn.Embedding(MAX_LOG2_DENOMINATOR + 1, d)
            self.meter_null = nn.Parameter(torch.zeros(d))
        # trunk and head
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Linear(d, 2 * d)  # SiLU(c) -> shift, scale; zero-initialised
        if config.head_hidden:  # token -> patch through an MLP per lane; its last layer zero-initialised
            self.head: nn.Module = LaneHead(T, config.channels, P, config.patch, d, config.head_hidden)
        else:  # token -> patch, linear; zero-initialised
            self.head = PatchHead(T, d, f)
        self.gain = PatchHead(T, d, P)  # token -> a gain on the noisy input per track and pitch; zero-initialised
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """DiT initialisation: Xavier Linears, N(0, 0.02) embeddings, zero adaLN modulations, head and gain."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
        for mlp in [self.noise_embed.mlp] + ([self.tempo_embed.mlp] if self.config.use_tempo else []):
            for layer in (mlp[0], mlp[2]):
                nn.init.normal_(layer.weight, std=0.02)
        for p in (getattr(self, "tempo_null", None), getattr(self, "meter_null", None)):
            if p is not None:
                nn.init.normal_(p, std=0.02)
        if self.pos_embed is not None:  # as strong as an embedded patch of noise, which it must stand out from
            nn.init.normal_(self.pos_embed, std=1.0)
        for m in self.modules():
            if isinstance(m, (PatchEmbed, PatchHead)):
                nn.init.normal_(m.track_gain, mean=1.0, std=0.1)  # the tracks differ from the first step on
        for layer in [block.ada for block in self.blocks] + [self.final_ada]:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        for head in (self.head, self.gain):
            if isinstance(head, LaneHead):
                nn.init.normal_(head.lane, std=1.0)  # lanes differ from the first step on
                nn.init.zeros_(head.out.weight)
                nn.init.zeros_(head.out.bias)
            else:
                nn.init.zeros_(head.proj.weight)
                nn.init.zeros_(head.bias)

    def num_parameters(self) -> int:
        """Number of parameters."""
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ forward
    def forward(self, x_in: Tensor, c_noise: Tensor, cond: Cond | None = None) -> Tensor:
        """``F`` of shape ``x_in.shape`` for ``x_in (B, T, C, P, S)``, ``c_noise`` ``(B,)`` (or a scalar)."""
        cfg = self.config
        self._check_shapes(x_in, c_noise, cond)
        B = x_in.shape[0]
        c_noise = c_noise.expand(B) if c_noise.ndim == 0 else c_noise

        # tokens (B, N, d): the residual stream, in the weights' dtype (float32 under autocast)
        dtype = self.embed.proj.weight.dtype
        patches = patchify(x_in.to(dtype), cfg.patch)  # (B, N, T, C, P, p)
        h = self.embed(patches)  # (B, N, d)
        if cond is not None and cond.known is not None and cond.mask is not None:
            mask = cond.mask.to(x_in.device).expand(x_in.shape).to(dtype)  # (B, T, C, P, S)
            known = torch.cat([cond.known.to(x_in.device, dtype) * mask, mask], dim=2)  # (B, T, 2C, P, S)
            h = h + self.embed_known(patchify(known, cfg.patch))  # (B, N, T, 2C, P, p) -> (B, N, d)
        if self.pos_embed is not None:
            h = h + self.pos_embed[: h.shape[1]]  # (N, d): the token's index in the window
        h = h.to(dtype)

        # conditioning vector (B, d)
        c = self.noise_embed(c_noise.to(x_in.device))
        c = c + self._label_embedding(cond, B, x_in.device)
        if cfg.use_tempo:
            c = c + self._tempo_embedding(cond, B, x_in.device)
        if cfg.use_meter:
            c = c + self._meter_embedding(cond, B, x_in.device)
        c = F.silu(c)

        # trunk
        cos, sin = rotary(h.shape[1], cfg.head_dim, h.device)  # (N, hd) each
        for block in self.blocks:
            h = block(h, c, cos, sin)  # (B, N, d)

        # head
        shift, scale = self.final_ada(c)[:, None].chunk(2, dim=-1)  # (B, 1, d) each
        h = modulate(self.final_norm(h), shift, scale)  # (B, N, d)
        offset = (self.head(h, patches) if isinstance(self.head, LaneHead) else self.head(h)).reshape(patches.shape)
        gain = self.gain(h)[:, :, :, None, :, None]  # (B, N, T, 1, P, 1)
        out = offset + gain * patches  # F = offset + gain · x_in (a cheaper backward than addcmul's)
        return unpatchify(out).to(x_in.dtype)  # (B, T, C, P, S)

    # ------------------------------------------------------------------ conditioning embeddings
    def _label_embedding(self, cond: Cond | None, batch: int, device: torch.device) -> Tensor:
        """``(B, d)``: the label's row, the null row for ``-1`` or a missing label; 0 for an unconditional model."""
        if self.label_embed is None:
            return torch.zeros((), device=device)
        null = self.config.num_labels
        if cond is None or cond.label is None:
            return self.label_embed.weight[null].expand(batch, -1)
        label = cond.label.to(device)
        return self.label_embed(torch.where(label < 0, null, label))

    def _tempo_embedding(self, cond: Cond | None, batch: int, device: torch.device) -> Tensor:
        """``(B, d)``: log-tempo features through an MLP; the null vector where the tempo is missing or invalid."""
        if cond is None or cond.tempo is None:
            return self.tempo_null.expand(batch, -1)
        qpm = cond.tempo.to(device, torch.float32)
        valid = torch.isfinite(qpm) & (qpm > 0)  # (B,)
        emb = self.tempo_embed(torch.log2(torch.where(valid, qpm, 120.0) / 120.0))  # (B, d)
        return torch.where(valid[:, None], emb, self.tempo_null)

    def _meter_embedding(self, cond: Cond | None, batch: int, device: torch.device) -> Tensor:
        """``(B, d)``: numerator + log2(denominator) embeddings; the null vector where the meter is missing."""
        if cond is None or cond.meter is None:
            return self.meter_null.expand(batch, -1)
        meter = cond.meter.to(device)
        num, den = meter[:, 0], meter[:, 1]  # (B,) each
        valid = (num > 0) & (den > 0)
        log2_den = torch.log2(den.clamp_min(1).float()).round().long().clamp(0, MAX_LOG2_DENOMINATOR)
        emb = self.numerator_embed(num.clamp(1, MAX_NUMERATOR)) + self.denominator_embed(log2_den)  # (B, d)
        return torch.where(valid[:, None], emb, self.meter_null)

    # ------------------------------------------------------------------ checks
    def _check_shapes(self, x_in: Tensor, c_noise: Tensor, cond: Cond | None) -> None:
        cfg = self.config
        expected = f"(B, tracks={cfg.tracks}, channels={cfg.channels}, pitches={cfg.pitches}, steps)"
        if x_in.ndim != 5 or tuple(x_in.shape[1:4]) != (cfg.tracks, cfg.channels, cfg.pitches):
            raise ValueError(f"x_in must have shape {expected}, got {tuple(x_in.shape)}")
        B, steps = x_in.shape[0], x_in.shape[4]
        if steps == 0 or steps % cfg.patch:
            raise ValueError(f"the number of steps ({steps}) must be a positive multiple of the patch ({cfg.patch})")
        if cfg.max_steps is not None and steps > cfg.max_steps:
            raise ValueError(f"{steps} steps is longer than this model's max_steps ({cfg.max_steps})")
        if not x_in.dtype.is_floating_point:
            raise TypeError(f"x_in must be a float tensor, got {x_in.dtype}")
        if c_noise.shape not in ((), (B,)):
            raise ValueError(f"c_noise must have shape ({B},) or (), got {tuple(c_noise.shape)}")
        if cond is None:
            return
        if cond.known is not None and cond.known.shape != x_in.shape:
            raise ValueError(f"cond.known has shape {tuple(cond.known.shape)}, x_in {tuple(x_in.shape)}")
        if cond.batch_size is not None and cond.batch_size != B:
            raise ValueError(f"cond has batch size {cond.batch_size}, x_in {B}")
        # label values are checked where that is free: on CPU tensors, outside torch.compile (on a GPU the check would
        # stall the host on every call; an id past the table then fails in the embedding's own device-side check)
        if cond.label is not None and cond.label.device.type == "cpu" and not torch.compiler.is_compiling():
            bad = (cond.label < -1) | (cond.label >= cfg.num_labels)
            if bool(bad.any()):
                raise ValueError(
                    f"label {int(cond.label[bad][0])} is out of range: this model knows labels -1 (none) .. "
                    f"{cfg.num_labels - 1}" + ("" if cfg.num_labels else " (it is unconditional: num_labels=0)")
                )
