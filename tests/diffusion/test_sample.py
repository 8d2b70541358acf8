"""Samplers against exact toy denoisers, the scheduler bridge, seeding, inpainting and guidance."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from symdiff.diffusion import SAMPLERS, Cond, NoiseSchedule, guided, inpainting, make_scheduler, sample

STOCHASTIC = ("ddpm", "sde-dpmsolver++", "euler_ancestral")

# diffusers 0.42 calls np.array(tensor) internally, which numpy 2 flags; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def _per_example(sigma: Tensor, x: Tensor) -> Tensor:
    return sigma.reshape(-1, *([1] * (x.ndim - 1)))


def gaussian(mu: float, s: float):
    """Exact denoiser for x0 ~ N(mu, s^2 I): E[x0 | x] = mu + s^2 / (s^2 + sigma^2) (x - mu)."""

    def denoise(x: Tensor, sigma: Tensor, cond: Cond | None) -> Tensor:
        return mu + s**2 / (s**2 + _per_example(sigma, x) ** 2) * (x - mu)

    return denoise


POINTS = torch.tensor([[1.0, 1.0], [-1.0, 0.5], [0.0, -1.0]])
WEIGHTS = torch.tensor([0.5, 0.3, 0.2])


def point_mixture(x: Tensor, sigma: Tensor, cond: Cond | None) -> Tensor:
    """Exact denoiser for x0 = POINTS[k] with probability WEIGHTS[k]: softmax(-|x - p_k|^2 / 2 sigma^2 + log w_k)."""
    logits = (x @ POINTS.T - 0.5 * (POINTS**2).sum(1)) / sigma[:, None] ** 2 + WEIGHTS.log()
    return torch.softmax(logits, dim=-1) @ POINTS


# (steps, relative std tolerance): first-order samplers need more steps for the same accuracy
ACCURACY = {
    "ddpm": (50, 0.07),
    "ddim": (50, 0.04),
    "dpmsolver++": (20, 0.02),
    "sde-dpmsolver++": (50, 0.025),
    "unipc": (20, 0.02),
    "euler": (50, 0.04),
    "euler_ancestral": (50, 0.07),
}


def test_accuracy_table_covers_all_samplers() -> None:
    assert set(ACCURACY) == set(SAMPLERS)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_gaussian_moments(sampler: str) -> None:
    mu, s = 0.5, 1.0
    steps, tol = ACCURACY[sampler]
    out = sample(gaussian(mu, s), (4096, 8), sampler=sampler, steps=steps, seed=0)
    assert out.shape == (4096, 8) and out.dtype == torch.float32
    assert abs(float(out.mean()) - mu) < 0.025
    assert abs(float(out.std()) / s - 1) < tol


def test_ddpm_1000_steps_is_exact() -> None:
    mu, s = -0.3, 0.5
    out = sample(gaussian(mu, s), (4096, 4), sampler="ddpm", steps=1000, seed=1)
    assert abs(float(out.mean()) - mu) < 0.015
    assert abs(float(out.std()) / s - 1) < 0.015


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_point_mixture(sampler: str) -> None:
    out = sample(point_mixture, (4096, 2), sampler=sampler, steps=20, seed=1)
    dist = torch.cdist(out, POINTS)
    assert float(dist.min(dim=1).values.max()) < 1e-2  # every sample lands on a point
    freq = torch.bincount(dist.argmin(dim=1), minlength=3) / 4096
    assert float((freq - WEIGHTS).abs().max()) < 0.04, freq


@pytest.mark.parametrize("beta_schedule", ["scaled_linear", "linear"])
@pytest.mark.parametrize("sampler", ["dpmsolver++", "euler_ancestral"])
def test_other_beta_schedules(sampler: str, beta_schedule: str) -> None:
    schedule = NoiseSchedule(beta_schedule=beta_schedule)
    steps, tol = ACCURACY[sampler]
    steps *= 2  # sigma_min is larger than with the cosine schedule: the last step is a bigger jump
    out = sample(gaussian(0.5, 1.0), (4096, 8), sampler=sampler, steps=steps, seed=0, schedule=schedule)
    assert abs(float(out.mean()) - 0.5) < 0.03 and abs(float(out.std()) - 1) < tol


@pytest.mark.parametrize("steps", [1, 3, 7, 20])
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_bridge(sampler: str, steps: int) -> None:
    """With a constant denoiser D = c the exact trajectory is x_ve = c + sigma * eps: check the bridge gives the
    denoiser the scheduler's noise level and a sample at that level, and that the result is exactly c."""
    c = torch.linspace(-1, 1, 16)
    calls: list[tuple[Tensor, Tensor]] = []

    def const(x: Tensor, sigma: Tensor, cond: Cond | None) -> Tensor:
        calls.append((x.clone(), sigma.clone()))
        return c.expand_as(x).clone()

    schedule = NoiseSchedule()
    out = sample(const, (256, 16), sampler=sampler, steps=steps, seed=0)
    assert torch.equal(out, c.expand(256, 16))

    scheduler = make_scheduler(sampler, schedule)
    scheduler.set_timesteps(steps)
    assert len(calls) == len(scheduler.timesteps) == steps
    sigmas = torch.stack([s for _, s in calls])
    assert sigmas.dtype == torch.float32 and bool((sigmas == sigmas[:, :1]).all())
    assert torch.equal(sigmas[:, 0], schedule.sigmas()[scheduler.timesteps.long()])
    assert float(sigmas[0, 0]) == schedule.sigma_max
    if hasattr(scheduler, "sigmas") and sampler not in ("ddpm", "ddim"):
        assert torch.equal(sigmas[:, 0], scheduler.sigmas[:-1].float())  # the scheduler's own noise levels

    eps0 = torch.randn(256, 16, generator=torch.Generator().manual_seed(0))
    for x, sigma in calls:
        eps = (x - c) / sigma[:, None]
        err = (eps - eps0).abs()
        if sampler in STOCHASTIC:
            assert abs(float(eps.std()) - 1) < 0.05  # fresh noise, but at the right level
        elif sampler == "ddim" and 1000 % steps:
            # DDIMScheduler steps to t - 1000 // steps, up to one timestep off the next t it is called with
            assert float(err.max()) < 0.1
        else:
            # the initial noise, carried exactly (up to float32 rounding of x ~ 2e4 at sigma_max, seen at sigma_1)
            assert float(err.max()) < 1e-2 and float(err.mean()) < 1e-3, (float(err.max()), float(err.mean()))


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_seeding(sampler: str) -> None:
    d = gaussian(0.0, 1.0)
    a = sample(d, (8, 5), sampler=sampler, steps=5, seed=123)
    torch.manual_seed(999)  # the global RNG must not matter
    b = sample(d, (8, 5), sampler=sampler, steps=5, seed=123)
    c = sample(d, (8, 5), sampler=sampler, steps=5, generator=torch.Generator().manual_seed(123))
    other = sample(d, (8, 5), sampler=sampler, steps=5, seed=124)
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.allclose(a, other)


def test_stochastic_samplers_use_the_generator_beyond_the_initial_noise() -> None:
    d = gaussian(0.0, 1.0)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = sample(d, (8, 5), sampler="ddpm", steps=5, generator=g1)
    b = sample(d, (8, 5), sampler="ddpm", steps=5, generator=g2)
    assert torch.equal(a, b)
    # the generator advanced past the initial noise draw (8 * 5 numbers): the step noise came from it
    fresh = torch.Generator().manual_seed(5)
    torch.randn(8, 5, generator=fresh)
    assert not torch.equal(torch.randn(3, generator=g1), torch.randn(3, generator=fresh))


def test_dtype_and_progress(capsys: pytest.CaptureFixture[str]) -> None:
    out = sample(gaussian(0.0, 1.0), (4, 3, 2), steps=4, seed=0, dtype=torch.float64, progress=True)
    assert out.dtype == torch.float64 and out.shape == (4, 3, 2)
    assert "4/4" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sampler": "plms"}, ValueError, "unknown sampler 'plms'; choose one of: ddpm, ddim, dpmsolver"),
        ({"steps": 0}, ValueError, r"steps must be an int in \[1, 1000\], got 0"),
        ({"steps": 1001}, ValueError, r"steps must be an int in \[1, 1000\], got 1001"),
        ({"steps": 2.5}, ValueError, "steps must be an int"),
        ({"steps": True}, ValueError, "steps must be an int"),
        ({"seed": 1, "generator": torch.Generator()}, ValueError, "either seed or generator"),
        ({"shape": (4, 0)}, ValueError, "shape must be a non-empty sequence of positive ints"),
        ({"guidance_scale": float("nan")}, ValueError, "guidance_scale must be finite"),
        ({"dtype": torch.float16}, ValueError, "float16 cannot hold the VE samples"),
        ({"cond": Cond(label=torch.zeros(3, dtype=torch.long))}, ValueError, "cond has batch size 3"),
        (
            {"cond": Cond(known=torch.zeros(4, 2), mask=torch.ones(4, 2, dtype=torch.bool))},
            ValueError,
            r"cond.known has shape \(4, 2\), expected \(4, 3\)",
        ),
    ],
)
def test_bad_arguments(kwargs: dict, error: type[Exception], match: str) -> None:
    kwargs = {"shape": (4, 3), **kwargs}
    shape = kwargs.pop("shape")
    with pytest.raises(error, match=match):
        sample(gaussian(0.0, 1.0), shape, **kwargs)
    with pytest.raises(ValueError, match="unknown sampler 'x'; choose one of: ddpm"):
        make_scheduler("x")


# ---------------------------------------------------------------------------------------------- inpainting


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_inpainting_keeps_known_part_bit_identical(sampler: str) -> None:
    g = torch.Generator().manual_seed(0)
    known = torch.randn(3, 2, 8, 32, generator=g) * 1.7 + 0.1
    mask = torch.zeros(1, 1, 1, 32, dtype=torch.bool)
    mask[..., :10] = True
    out = sample(gaussian(0.0, 1.0), known.shape, sampler=sampler, steps=7, seed=0, cond=Cond(known=known, mask=mask))
    assert torch.equal(out[..., :10], known[..., :10])
    assert not torch.equal(out[..., 10:], known[..., 10:])


def correlated_inpainter(mu: float, s: float, rho: float):
    """Ideal inpainting denoiser for x0 = (a, b) jointly Gaussian (means mu, stds s, correlation rho) with a known:
    b | a ~ N(m, v), m = mu + rho (a - mu), v = s^2 (1 - rho^2), so E[b | x_b, a] = m + v / (v + sigma^2) (x_b - m).
    The known coordinate's estimate is left as the noisy input: the inpainting wrapper must replace it."""

    def denoise(x: Tensor, sigma: Tensor, cond: Cond | None) -> Tensor:
        assert cond is not None and cond.known is not None
        m = mu + rho * (cond.known[:, 0] - mu)
        v = s**2 * (1 - rho**2)
        b = m + v / (v + sigma**2) * (x[:, 1] - m)
        return torch.stack([x[:, 0], b], dim=1)

    return denoise


@pytest.mark.parametrize("sampler", ["dpmsolver++", "ddpm", "unipc"])
def test_inpainting_follows_the_known_part(sampler: str) -> None:
    mu, s, rho = 0.2, 1.0, 0.8
    n = 4096
    a = mu + s * torch.randn(n, generator=torch.Generator().manual_seed(7))
    known = torch.stack([a, torch.full_like(a, 123.0)], dim=1)  # the unknown slot's value must not leak
    cond = Cond(known=known, mask=torch.tensor([True, False]))
    steps = ACCURACY[sampler][0]
    out = sample(correlated_inpainter(mu, s, rho), (n, 2), sampler=sampler, steps=steps, seed=0, cond=cond)
    assert torch.equal(out[:, 0], a)
    resid = out[:, 1] - (mu + rho * (a - mu))  # b - E[b | a]
    assert abs(float(resid.mean())) < 0.02
    assert abs(float(resid.std()) / (s * (1 - rho**2) ** 0.5) - 1) < 0.07


def test_replacement_alone_pulls_an_unconditional_model_toward_the_known_part() -> None:
    """Data x[1] == x[0] ~ N(mu, s^2) and a denoiser that ignores cond (the exact unconditional posterior mean):
    only the replacement of the known part drives x[1] toward the known x[0]."""
    mu, s = 0.3, 1.0

    def duplicated(x: Tensor, sigma: Tensor, cond: Cond | None) -> Tensor:
        prec = 1 / s**2 + 2 / sigma[:, None] ** 2
        a = (mu / s**2 + x.sum(dim=1, keepdim=True) / sigma[:, None] ** 2) / prec
        return a.expand_as(x)

    n = 4096
    a = mu + s * torch.randn(n, generator=torch.Generator().manual_seed(9))
    cond = Cond(known=torch.stack([a, a], dim=1), mask=torch.tensor([True, False]))
    out = sample(duplicated, (n, 2), steps=50, seed=0, cond=cond)
    free = sample(duplicated, (n, 2), steps=50, seed=0)
    corr = torch.corrcoef(torch.stack([out[:, 0], out[:, 1]]))[0, 1]
    assert torch.equal(out[:, 0], a) and float(corr) > 0.95
    assert abs(float(torch.corrcoef(torch.stack([a, free[:, 1]]))[0, 1])) < 0.1


def test_inpainting_wrapper() -> None:
    x = torch.randn(2, 4)
    known = torch.full((2, 4), 7.0)
    mask = torch.tensor([True, False, True, False])
    d = inpainting(lambda x, sigma, cond: x * 0)
    out = d(x, torch.ones(2), Cond(known=known, mask=mask))
    assert torch.equal(out, torch.tensor([[7.0, 0, 7, 0]] * 2))
    assert torch.equal(d(x, torch.ones(2), None), x * 0)
    assert torch.equal(d(x, torch.ones(2), Cond(label=torch.zeros(2, dtype=torch.long))), x * 0)


# ---------------------------------------------------------------------------------------------- guidance

MEANS = torch.tensor([-2.0, 3.0])  # label k -> N(MEANS[k], S^2); label -1 -> N(0, S^2)
S = 0.5


def label_gaussian(calls: list[int] | None = None):
    def denoise(x: Tensor, sigma: Tensor, cond: Cond | None) -> Tensor:
        if calls is not None:
            calls.append(x.shape[0])
        assert cond is not None and cond.label is not None
        mu = torch.where(cond.label >= 0, MEANS[cond.label.clamp(min=0)], torch.zeros(()))[:, None]
        return mu + S**2 / (S**2 + sigma[:, None] ** 2) * (x - mu)

    return denoise


def test_guided_formula_and_single_batched_call() -> None:
    calls: list[int] = []
    d = label_gaussian(calls)
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0)) * 5
    sigma = torch.tensor([0.3, 2.0, 10.0])
    cond = Cond(label=torch.tensor([1, 0, -1]), tempo=torch.tensor([120.0, 90.0, 60.0]))
    out = guided(d, 2.5)(x, sigma, cond)
    assert calls == [6]  # one forward on the doubled batch
    x0_c, x0_u = d(x, sigma, cond), d(x, sigma, cond.without_label())
    torch.testing.assert_close(out, x0_u + 2.5 * (x0_c - x0_u))
    torch.testing.assert_close(out[2], x0_c[2])  # label -1: conditional == unconditional, nothing to amplify
    assert guided(d, 1.0) is d
    passthrough = guided(lambda x, sigma, cond: x + 1, 3.0)
    assert torch.equal(passthrough(x, sigma, None), x + 1)
    assert torch.equal(passthrough(x, sigma, Cond(tempo=torch.ones(3))), x + 1)


def test_guidance_in_sampling() -> None:
    n = 2048
    label = torch.tensor([0, 1]).repeat_interleave(n // 2)
    cond = Cond(label=label)
    d = label_gaussian()
    plain = sample(d, (n, 4), steps=20, seed=0, cond=cond)
    scale1 = sample(d, (n, 4), steps=20, seed=0, cond=cond, guidance_scale=1.0)
    assert torch.equal(plain, scale1)
    strong = sample(d, (n, 4), steps=20, seed=0, cond=cond, guidance_scale=3.0)
    for k in (0, 1):
        sel = label == k
        direction = torch.sign(MEANS[k])  # away from the unconditional mean 0
        m1, m3 = float(plain[sel].mean()), float(strong[sel].mean())
        assert abs(m1 - float(MEANS[k])) < 0.05  # scale 1 = the conditional model
        assert float(direction) * (m3 - m1) > 0.5  # scale 3 pushes further from the unconditional
    # the same via a hand-written guided denoiser
    manual = sample(lambda x, s, c: guided(d, 3.0)(x, s, c), (n, 4), steps=20, seed=0, cond=cond)
    torch.testing.assert_close(manual, strong)


# ---------------------------------------------------------------------------------------------- Cond


def test_cond_helpers() -> None:
    known = torch.arange(24.0).reshape(2, 3, 4)
    mask = torch.tensor([True, False, False, True])
    cond = Cond(
        known=known,
        mask=mask,
        label=torch.tensor([3, -1]),
        tempo=torch.tensor([120.0, 96.0]),
        meter=torch.tensor([[4, 4], [3, 4]]),
    )
    assert cond.batch_size == 2 and Cond().batch_size is None
    assert torch.equal(cond.without_label().label, torch.tensor([-1, -1]))
    assert cond.without_label().tempo is cond.tempo
    assert Cond(tempo=torch.ones(2)).without_label().label is None

    both = Cond.cat(cond, cond.without_label())
    assert both.batch_size == 4 and both.mask is not None and both.mask.shape == (4, 3, 4)
    assert torch.equal(both.label, torch.tensor([3, -1, -1, -1]))
    assert torch.equal(both.mask[3, 2], mask)

    first = cond.index(0)
    assert first.batch_size == 1 and torch.equal(first.known, known[:1]) and torch.equal(first.meter, cond.meter[:1])
    assert torch.equal(cond.index(-1).label, torch.tensor([-1]))
    rep = cond.repeat(2)
    assert torch.equal(rep.label, torch.tensor([3, 3, -1, -1])) and rep.known.shape == (4, 3, 4)
    moved = cond.to("cpu")
    assert torch.equal(moved.known, known)

    with pytest.raises(ValueError, match="field 'label' is set in one Cond but not in the other"):
        Cond.cat(cond, Cond(known=known, mask=mask, tempo=cond.tempo, meter=cond.meter))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"known": torch.zeros(2, 3)}, ValueError, "known and Cond.mask must be given together"),
        ({"known": torch.zeros(2, 3), "mask": torch.zeros(2, 3)}, TypeError, "mask must be a bool tensor"),
        ({"known": torch.zeros(2, 3), "mask": torch.zeros(2, 4, dtype=torch.bool)}, ValueError, "does not broadcast"),
        (
            {"known": torch.zeros(2, 3), "mask": torch.zeros(2, 2, 3, dtype=torch.bool)},
            ValueError,
            "does not broadcast",
        ),
        ({"label": torch.zeros(2)}, ValueError, r"label must be a \(B,\) integer tensor"),
        ({"tempo": torch.zeros(2, dtype=torch.long)}, ValueError, r"tempo must be a \(B,\) float tensor"),
        ({"meter": torch.zeros(2, 3, dtype=torch.long)}, ValueError, r"meter must be a \(B, 2\) integer tensor"),
        ({"label": torch.zeros(2, dtype=torch.long), "tempo": torch.zeros(3)}, ValueError, r"batch size: \[2, 3\]"),
    ],
)
def test_cond_validation(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Cond(**kwargs)
