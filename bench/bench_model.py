"""Training throughput and inference latency of TransformerDenoiser against a plain nn.TransformerEncoder, in one run.

    python bench/bench_model.py [--batch 16] [--steps 256] [--repeat 5] [--threads 2]

Both networks see the same tokens: ``steps / patch`` tokens of ``tracks · channels · pitches · patch`` values, width
``d``, ``n_layers`` pre-norm blocks of ``n_heads`` heads and a 4× GELU MLP. The plain encoder is a Linear in,
``torch.nn.TransformerEncoder`` (no positions, no conditioning) and a Linear out. TransformerDenoiser adds the
noise-level embedding, adaLN-Zero modulation of every block, rotary positions and its gated head (one more output
per track and pitch: a gain on the noisy input); ``cond=None``, so no inpainting input. A training step is forward
+ MSE loss + backward + AdamW step; throughput is in frames (time steps) per second, ``batch · steps / seconds``,
best of ``--repeat`` timed rounds of a few steps each, the two models interleaved so that load on the machine hits
both alike. Then fp32 and bf16 autocast (on a CPU without native bf16 matmuls, bf16 is several times slower than
fp32 for both). Last, the latency of one forward at batch 1 for 16 bars of 4/4 at 4 steps per beat (256 steps),
in inference mode.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from symdiff.model import DenoiserConfig, TransformerDenoiser


class PlainEncoder(nn.Module):
    """The baseline: patch Linear in, ``nn.TransformerEncoder`` (pre-norm, GELU), Linear out."""

    def __init__(self, config: DenoiserConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.embed = nn.Linear(config.patch_features, d)
        layer = nn.TransformerEncoderLayer(
            d,
            config.n_heads,
            dim_feedforward=round(d * config.mlp_ratio),
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, config.patch_features)

    def forward(self, x: Tensor, c_noise: Tensor, cond: None = None) -> Tensor:
        B, T, C, P, S = x.shape
        p = self.config.patch
        tokens = x.reshape(B, T, C, P, S // p, p).permute(0, 4, 1, 2, 3, 5).reshape(B, S // p, -1)
        out = self.head(self.encoder(self.embed(tokens)))
        return out.reshape(B, S // p, T, C, P, p).permute(0, 2, 3, 4, 1, 5).reshape(B, T, C, P, S)


def autocast(bf16: bool) -> contextlib.AbstractContextManager[None]:
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def train_step_fn(model: nn.Module, x: Tensor, target: Tensor, bf16: bool) -> Callable[[], None]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    c_noise = torch.zeros(x.shape[0])

    def step() -> None:
        with autocast(bf16):
            loss = ((model(x, c_noise, None) - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def timed(fn: Callable[[], None], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def interleaved(fns: dict[str, Callable[[], None]], n: int, repeat: int) -> dict[str, float]:
    """Best seconds per call of each function over ``repeat`` rounds of ``n`` calls, alternating between them."""
    for fn in fns.values():  # warm-up
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            best[name] = min(best[name], timed(fn, n))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds (fp32)")
    parser.add_argument("--rounds", type=int, default=3, help="training steps per timed round (fp32)")
    parser.add_argument(
        "--bf16-repeat", type=int, default=2, help="timed rounds of one step (bf16: slow on CPUs without native bf16)"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    config = DenoiserConfig(tracks=4, pitches=64, patch=4, d_model=256, n_layers=6, n_heads=4)
    models: dict[str, nn.Module] = {"TransformerDenoiser": TransformerDenoiser(config), "plain": PlainEncoder(config)}
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {args.threads} threads")
    print(
        f"tracks={config.tracks} pitches={config.pitches} patch={config.patch} d={config.d_model} "
        f"layers={config.n_layers} heads={config.n_heads}; batch {args.batch} x {args.steps} steps "
        f"({args.steps // config.patch} tokens)"
    )
    params = {k: sum(p.numel() for p in m.parameters()) / 1e6 for k, m in models.items()}
    print(f"parameters: TransformerDenoiser {params['TransformerDenoiser']:.2f}M, plain encoder {params['plain']:.2f}M")

    x = torch.randn(args.batch, config.tracks, config.channels, config.pitches, args.steps)
    target = torch.randn_like(x)
    frames = args.batch * args.steps
    header = f"{'TransformerDenoiser':>22}{'nn.TransformerEncoder':>24}{'speed ratio':>14}"
    print(f"\ntraining (forward + backward + AdamW), frames/s:\n{'':14}{header}")
    for bf16 in (False, True):
        fns = {k: train_step_fn(m, x, target, bf16) for k, m in models.items()}
        sec = interleaved(fns, 1, args.bf16_repeat) if bf16 else interleaved(fns, args.rounds, args.repeat)
        print(f"{'bf16 autocast' if bf16 else 'fp32':14}" + row({k: frames / v for k, v in sec.items()}, ",.0f"))

    print("\ninference, one forward at batch 1, 256 steps (16 bars of 4/4 at 4 steps/beat), ms:")
    print(f"{'':14}{header}")
    x1 = torch.randn(1, config.tracks, config.channels, config.pitches, 256)
    c1 = torch.zeros(1)
    for m in models.values():
        m.eval()
    for bf16 in (False, True):
        with torch.inference_mode():
            fns = {}
            for key, model in models.items():

                def fwd(model: nn.Module = model, bf16: bool = bf16) -> None:
                    with autocast(bf16):
                        model(x1, c1, None)

                fns[key] = fwd
            sec = interleaved(fns, 10, args.repeat)
        ms = {k: v * 1e3 for k, v in sec.items()}
        print(f"{'bf16 autocast' if bf16 else 'fp32':14}" + row(ms, ".2f", inverse=True))


def row(values: dict[str, float], fmt: str, inverse: bool = False) -> str:
    """The two values, then the speed of TransformerDenoiser relative to the plain encoder."""
    ours, plain = values["TransformerDenoiser"], values["plain"]
    ratio = plain / ours if inverse else ours / plain
    return f"{ours:>22{fmt}}{plain:>24{fmt}}{ratio:>13.2f}x"


if __name__ == "__main__":
    main()
