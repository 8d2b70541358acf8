"""NoiseSchedule, EDM preconditioning and KarrasDenoiser."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest
import torch
from diffusers import DPMSolverMultistepScheduler, EulerDiscreteScheduler
from torch import Tensor, nn

from symdiff.diffusion import (
    BETA_SCHEDULES,
    Cond,
    KarrasDenoiser,
    NoiseSchedule,
    precondition,
    sample,
)

# diffusers 0.42 calls np.array(tensor) internally, which numpy 2 flags; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.mark.parametrize("beta_schedule", BETA_SCHEDULES)
def test_sigmas_equal_diffusers(beta_schedule: str) -> None:
    schedule = NoiseSchedule(beta_schedule=beta_schedule)
    sigmas = schedule.sigmas()
    assert sigmas.dtype == torch.float32 and sigmas.shape == (1000,)
    assert bool((sigmas[1:] > sigmas[:-1]).all())

    euler = EulerDiscreteScheduler(**schedule.diffusers_config())
    assert torch.equal(euler.sigmas[:-1].flip(0), sigmas)  # before set_timesteps: the training sigmas
    euler = EulerDiscreteScheduler(**schedule.diffusers_config(), timestep_spacing="trailing")
    euler.set_timesteps(1000)
    assert torch.equal(euler.sigmas[:-1].flip(0), sigmas)

    dpm = DPMSolverMultistepScheduler(**schedule.diffusers_config(), timestep_spacing="trailing")
    dpm.set_timesteps(20)
    assert torch.equal(dpm.sigmas[:-1], sigmas[dpm.timesteps])

    ac = schedule.alphas_cumprod()
    assert torch.equal(ac, euler.alphas_cumprod)
    assert schedule.sigma_min == float(sigmas[0]) and schedule.sigma_max == float(sigmas[-1])


def test_cosine_schedule_range() -> None:
    schedule = NoiseSchedule()
    assert schedule.beta_schedule == "squaredcos_cap_v2"
    assert 0.006 < schedule.sigma_min < 0.007
    assert 2.0e4 < schedule.sigma_max < 2.1e4  # beta capped at 0.999 at t = N-1: alpha_bar ~ 2.4e-9


def test_to_dict_round_trip() -> None:
    for schedule in (
        NoiseSchedule(),
        NoiseSchedule(
            num_train_timesteps=500,
            beta_schedule="scaled_linear",
            beta_start=0.00085,
            beta_end=0.012,
            sigma_data=1.0,
            train_sigmas="lognormal",
            p_mean=-1.0,
            p_std=1.5,
        ),
    ):
        d = json.loads(json.dumps(schedule.to_dict()))
        assert NoiseSchedule.from_dict(d) == schedule
    assert NoiseSchedule.from_dict({}) == NoiseSchedule()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta_schedule": "cosine"}, "unknown beta_schedule 'cosine'; choose one of squaredcos_cap_v2"),
        ({"train_sigmas": "uniform"}, "unknown train_sigmas 'uniform'; choose one of timesteps, lognormal"),
        ({"num_train_timesteps": 1}, "num_train_timesteps must be >= 2"),
        ({"sigma_data": 0.0}, "sigma_data must be a positive number"),
        ({"beta_start": 0.1, "beta_end": 0.01}, "beta_start < beta_end"),
        ({"p_std": -1.0}, "p_std > 0"),
    ],
)
def test_bad_schedule_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        NoiseSchedule(**kwargs)


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match=r"unknown NoiseSchedule keys \['sigma_dat'\]"):
        NoiseSchedule.from_dict({"sigma_dat": 0.5})


def test_sample_sigmas_timesteps() -> None:
    schedule = NoiseSchedule()
    s = schedule.sample_sigmas(20000, generator=torch.Generator().manual_seed(0))
    table = schedule.sigmas()
    assert s.shape == (20000,) and s.dtype == torch.float32
    assert bool(torch.isin(s, table).all())  # only the discrete sigmas
    assert float(s.min()) == schedule.sigma_min and float(s.max()) == schedule.sigma_max  # both ends covered
    again = schedule.sample_sigmas(20000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(s, again)


def test_sample_sigmas_lognormal() -> None:
    schedule = NoiseSchedule(train_sigmas="lognormal", p_mean=-1.2, p_std=1.2)
    log_s = schedule.sample_sigmas(50000, generator=torch.Generator().manual_seed(0)).log()
    assert abs(float(log_s.mean()) + 1.2) < 0.03
    assert abs(float(log_s.std()) - 1.2) < 0.03


def test_precondition_formulas() -> None:
    sigma = torch.tensor([0.01, 0.5, 3.0, 2.0e4], dtype=torch.float64)
    sd = 0.5
    c_skip, c_out, c_in, c_noise = precondition(sigma, sd)
    torch.testing.assert_close(c_skip, sd**2 / (sigma**2 + sd**2))
    torch.testing.assert_close(c_out, sigma * sd / (sigma**2 + sd**2).sqrt())
    torch.testing.assert_close(c_in, 1 / (sigma**2 + sd**2).sqrt())
    torch.testing.assert_close(c_noise, sigma.log() / 4)
    # lambda(sigma) = (sigma^2 + sd^2) / (sigma sd)^2 = 1 / c_out^2: plain MSE on F is the EDM-weighted loss on D
    torch.testing.assert_close(1 / c_out**2, (sigma**2 + sd**2) / (sigma * sd) ** 2)

    # D = c_skip x + c_out F reproduces x0 when F hits its target (x0 - c_skip x) / c_out
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 7, generator=g, dtype=torch.float64)
    n = torch.randn(4, 7, generator=g, dtype=torch.float64)
    x = x0 + sigma[:, None] * n
    target = (x0 - c_skip[:, None] * x) / c_out[:, None]
    torch.testing.assert_close(c_skip[:, None] * x + c_out[:, None] * target, x0)


def test_edm_is_v_prediction_when_sigma_data_is_one() -> None:
    sigma = torch.tensor([0.05, 0.7, 4.0], dtype=torch.float64)
    c_skip, c_out, c_in, _ = precondition(sigma, 1.0)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(3, 5, generator=g, dtype=torch.float64)
    eps = torch.randn(3, 5, generator=g, dtype=torch.float64)
    alpha = (1 / (1 + sigma**2)).sqrt()[:, None]
    s = sigma[:, None] * alpha
    x = x0 + sigma[:, None] * eps
    torch.testing.assert_close(c_in[:, None] * x, alpha * x0 + s * eps)  # the VP sample
    v = alpha * eps - s * x0
    torch.testing.assert_close((x0 - c_skip[:, None] * x) / c_out[:, None], -v)


class _IdealGaussianNet(nn.Module):
    """The F that makes KarrasDenoiser exactly the posterior mean of N(mu, s^2) data."""

    def __init__(self, mu: float, s: float, sigma_data: float) -> None:
        super().__init__()
        self.mu, self.s, self.sd = mu, s, sigma_data

    def forward(self, x_in: Tensor, c_noise: Tensor, cond: Cond | None) -> Tensor:
        sigma = (4 * c_noise).exp().reshape(-1, *([1] * (x_in.ndim - 1)))
        c_skip, c_out, c_in, _ = precondition(sigma, self.sd)
        x = x_in / c_in
        d = self.mu + self.s**2 / (self.s**2 + sigma**2) * (x - self.mu)
        return (d - c_skip * x) / c_out


def test_karras_denoiser_wiring() -> None:
    mu, s = 0.3, 0.8
    schedule = NoiseSchedule(sigma_data=0.5)
    model = KarrasDenoiser(_IdealGaussianNet(mu, s, 0.5), schedule)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 4, 5, generator=g, dtype=torch.float64) * 3
    sigma = torch.tensor([0.01, 1.0, 50.0], dtype=torch.float64)
    expected = mu + s**2 / (s**2 + sigma.reshape(3, 1, 1, 1) ** 2) * (x - mu)
    torch.testing.assert_close(model(x, sigma), expected)
    # and it samples: the ideal model reproduces the data distribution
    out = sample(model, (2048, 8), steps=20, seed=0, schedule=schedule)
    assert abs(float(out.mean()) - mu) < 0.03 and abs(float(out.std()) / s - 1) < 0.03


class _MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Linear(3, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2))

    def forward(self, x_in: Tensor, c_noise: Tensor, cond: Cond | None) -> Tensor:
        return self.f(torch.cat([x_in, c_noise[:, None]], dim=1))


_CORNERS = torch.tensor([[0.5, 0.5], [-0.5, 0.5], [0.5, -0.5], [-0.5, -0.5]])


def _fit(model: KarrasDenoiser, data: Callable[[int, torch.Generator], Tensor], steps: int) -> None:
    """``steps`` Adam steps (lr 3e-3) of ``model.loss`` on batches of 256 drawn by ``data``, seeded."""
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = model.loss(data(256, g), generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _corners(n: int, g: torch.Generator) -> Tensor:
    return _CORNERS[torch.randint(0, 4, (n,), generator=g)] + 0.05 * torch.randn(n, 2, generator=g)


def test_training_reduces_loss() -> None:
    torch.manual_seed(0)
    model = KarrasDenoiser(_MLP(), NoiseSchedule(train_sigmas="lognormal"))
    held_out = _corners(4096, torch.Generator().manual_seed(1))

    def eval_loss() -> float:
        with torch.no_grad():
            return float(model.loss(held_out, generator=torch.Generator().manual_seed(2)))

    before = eval_loss()
    _fit(model, _corners, 300)
    after = eval_loss()
    assert math.isfinite(before) and after < 0.9 * before, (before, after)
    with torch.no_grad():
        out = sample(model, (1024, 2), steps=20, seed=0)
    near = torch.cdist(out, _CORNERS).min(dim=1).values < 0.2
    assert float(near.float().mean()) > 0.5  # chance level for a 0.2-disc around 4 corners is ~0.1


class _Recorder(nn.Module):
    """A net returning a fixed tensor, to check the loss bookkeeping."""

    def __init__(self, out: Tensor) -> None:
        super().__init__()
        self.out = out

    def forward(self, x_in: Tensor, c_noise: Tensor, cond: Cond | None) -> Tensor:
        return self.out.expand_as(x_in)


def test_loss_excludes_known_and_applies_weight() -> None:
    x0 = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
    model = KarrasDenoiser(_Recorder(torch.zeros(())))
    mask = torch.zeros(1, 1, 4, dtype=torch.bool)
    mask[..., :2] = True  # broadcast mask: the first two columns known in every example
    cond = Cond(known=x0, mask=mask)

    full = model.loss(x0, generator=torch.Generator().manual_seed(3), reduction="none")
    assert bool((full > 0).all())
    masked = model.loss(x0, cond, generator=torch.Generator().manual_seed(3), reduction="none")
    assert bool((masked[..., :2] == 0).all()) and torch.equal(masked[..., 2:], full[..., 2:])
    mean = model.loss(x0, cond, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(mean, full[..., 2:].mean())

    kept = model.loss(x0, cond, generator=torch.Generator().manual_seed(3), exclude_known=False)
    torch.testing.assert_close(kept, full.mean())
    per_example = model.loss(
        x0,
        cond,
        generator=torch.Generator().manual_seed(3),
        exclude_known=torch.tensor([True, False]),
        reduction="none",
    )
    assert bool((per_example[0, :, :2] == 0).all()) and torch.equal(per_example[1], full[1])

    weight = torch.tensor([0.0, 1.0, 2.0, 3.0])
    weighted = model.loss(x0, generator=torch.Generator().manual_seed(3), weight=weight)
    torch.testing.assert_close(weighted, (full * weight).sum() / (weight.sum() * 6))

    all_known = Cond(known=x0, mask=torch.ones_like(x0, dtype=torch.bool))
    assert float(model.loss(x0, all_known)) == 0.0
    with pytest.raises(ValueError, match="reduction must be"):
        model.loss(x0, reduction="sum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"exclude_known must be a bool or a \(2,\) tensor"):
        model.loss(x0, cond, exclude_known=torch.tensor([True]))


def test_bce_objective_reads_the_network_as_logits() -> None:
    schedule = NoiseSchedule(data_low=0.0, objective="bce", logit_bias=-1.0)
    model = KarrasDenoiser(_Recorder(torch.tensor(3.0)), schedule)
    x = 50 * torch.randn(4, 6, generator=torch.Generator().manual_seed(0))  # wild input, bounded estimate
    out = model(x, torch.full((4,), 7.0))
    torch.testing.assert_close(out, torch.full_like(x, 1 / (1 + math.exp(-2.0))))
    x0 = torch.tensor([[0.0, 1.0, 0.5]])
    loss = KarrasDenoiser(_Recorder(torch.tensor(1.0)), schedule).loss(x0, reduction="none")
    p = 1 / (1 + math.exp(0.0))  # logit 1 + bias -1 = 0
    expected = torch.tensor([[-math.log(1 - p), -math.log(p), -(0.5 * math.log(p) + 0.5 * math.log(1 - p))]])
    torch.testing.assert_close(loss, expected)
    with pytest.raises(ValueError, match="unknown objective 'ce'; choose one of mse, bce"):
        NoiseSchedule(objective="ce")  # type: ignore[arg-type]
    assert NoiseSchedule.from_dict(schedule.to_dict()) == schedule


def test_bce_training_learns_sparse_binary_data() -> None:
    """Sparse 0/1 pairs (one of the two cells on, or neither): samples come out binary with the data's rates."""
    torch.manual_seed(0)
    schedule = NoiseSchedule(train_sigmas="lognormal", p_mean=-0.6, p_std=1.4, data_low=0.0, objective="bce")
    model = KarrasDenoiser(_MLP(), schedule)
    patterns = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])

    def data(n: int, g: torch.Generator) -> Tensor:
        return patterns[torch.randint(0, 4, (n,), generator=g)]

    _fit(model, data, 400)
    with torch.no_grad():
        out = sample(model, (2048, 2), steps=20, seed=0, schedule=schedule)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    on = out > 0.5
    assert float(((out < 0.1) | (out > 0.9)).float().mean()) > 0.95  # decided, not blurred
    assert abs(float(on.float().mean()) - 0.25) < 0.05  # each cell is on a quarter of the time
    assert float((on[:, 0] & on[:, 1]).float().mean()) < 0.03  # and never both
