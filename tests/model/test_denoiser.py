"""TransformerDenoiser, DenoiserConfig and save / load: shapes, conditioning, initialisation, precision, files."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from symdiff.diffusion import Cond, KarrasDenoiser, NoiseSchedule
from symdiff.model import DenoiserConfig, TransformerDenoiser, from_pretrained, save_pretrained
from symdiff.model.denoiser import PatchEmbed, PatchHead, apply_rotary, rotary

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: intra-op threads only add overhead


# ====================================================================== helpers
def perturb(model: TransformerDenoiser, seed: int = 0, std: float = 0.1) -> TransformerDenoiser:
    """Give the zero-initialised tensors (adaLN modulations, output head) random values, as training would."""
    gen = torch.Generator().manual_seed(seed)
    zero_init = [b.ada.weight for b in model.blocks] + [b.ada.bias for b in model.blocks]
    zero_init += [model.final_ada.weight, model.final_ada.bias]
    head = model.head
    zero_init += [head.out.weight, head.out.bias] if hasattr(head, "out") else [head.proj.weight, head.bias]
    zero_init += [model.gain.proj.weight, model.gain.bias]
    with torch.no_grad():
        for p in zero_init:
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model


def make(config: DenoiserConfig, seed: int = 0, perturbed: bool = True) -> TransformerDenoiser:
    torch.manual_seed(seed)
    model = TransformerDenoiser(config)
    return perturb(model, seed) if perturbed else model


def roll_batch(config: DenoiserConfig, batch: int = 2, steps: int = 16, seed: int = 0) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, config.tracks, config.channels, config.pitches, steps, generator=gen)


def full_cond(config: DenoiserConfig, x: Tensor) -> Cond:
    """Every field set, with the "absent" value in some examples: label -1, tempo NaN, meter 0/0."""
    batch = x.shape[0]
    gen = torch.Generator().manual_seed(1)
    mask = torch.zeros(x.shape, dtype=torch.bool)
    mask[..., : x.shape[-1] // 2] = True
    return Cond(
        known=(torch.rand(x.shape, generator=gen) > 0.8).float(),
        mask=mask,
        label=torch.tensor([i % (config.num_labels + 1) - 1 for i in range(batch)]),
        tempo=torch.tensor([float("nan") if i % 2 else 90.0 + 20 * i for i in range(batch)]),
        meter=torch.tensor([[0, 0] if i % 2 else [3 + i, 4] for i in range(batch)]),
    )


TINY = DenoiserConfig.tiny()
LABELLED = DenoiserConfig.tiny(tracks=2, pitches=8, num_labels=3, label_names=("bach", "jazz", "folk"))


# ====================================================================== config
def test_config_round_trip_and_tiny_size() -> None:
    for config in (TINY, LABELLED, DenoiserConfig(tracks=4, pitches=64, max_steps=512, use_meter=False)):
        d = config.to_dict()
        assert DenoiserConfig.from_dict(json.loads(json.dumps(d))) == config
    assert LABELLED.label_id("jazz") == 1
    with pytest.raises(KeyError, match="unknown label 'rock'"):
        LABELLED.label_id("rock")
    for config in (TINY, DenoiserConfig.tiny(tracks=2, pitches=32), DenoiserConfig.tiny(tracks=4, pitches=16)):
        assert TransformerDenoiser(config).num_parameters() < 200_000


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"d_model": "32"}, TypeError, "d_model must be an int"),
        ({"use_tempo": 1}, TypeError, "use_tempo must be a bool"),
        ({"tracks": 0}, ValueError, "tracks must be >= 1"),
        ({"n_heads": 3}, ValueError, "d_model"),
        ({"dropout": 1.5}, ValueError, "dropout must be in"),
        ({"max_steps": 10}, ValueError, "max_steps must be a positive multiple of patch"),
        ({"num_labels": 2, "label_names": ["a"]}, ValueError, "label_names has 1 names"),
        ({"num_labels": 2, "label_names": ["a", "a"]}, ValueError, "distinct"),
        ({"label_names": "abc"}, TypeError, "label_names must be a list"),
        ({"n_layer": 2}, ValueError, r"unknown DenoiserConfig keys \['n_layer'\]; allowed keys: \[.*'n_layers'"),
    ],
)
def test_config_errors_name_the_field(changes: dict, error: type[Exception], match: str) -> None:
    d = {**TINY.to_dict(), **changes}
    with pytest.raises(error, match=match):
        DenoiserConfig.from_dict(d)


def test_config_missing_required_key() -> None:
    d = TINY.to_dict()
    del d["pitches"]
    with pytest.raises(ValueError, match=r"missing the required keys \['pitches'\]"):
        DenoiserConfig.from_dict(d)


# ====================================================================== shapes
@pytest.mark.parametrize(
    ("config", "steps"),
    [
        (TINY, 16),
        (TINY, 4),
        (LABELLED, 24),
        (DenoiserConfig.tiny(tracks=3, pitches=5, patch=2, use_tempo=False, use_meter=False), 6),
        (DenoiserConfig.tiny(tracks=1, pitches=4, channels=2, patch=1, n_layers=1), 3),
    ],
)
def test_output_shape_and_dtype(config: DenoiserConfig, steps: int) -> None:
    model = make(config)
    x = roll_batch(config, batch=3, steps=steps)
    for cond in (None, Cond(), full_cond(config, x)):
        out = model(x, torch.randn(3), cond)
        assert out.shape == x.shape and out.dtype == x.dtype
        assert bool(torch.isfinite(out).all())
    assert model(x.double(), torch.randn(3), None).dtype == torch.float64  # computed in the weights' dtype
    assert model(x, torch.tensor(0.5), None).shape == x.shape  # a scalar c_noise is broadcast


def test_shape_errors_are_clear() -> None:
    model = make(TINY)
    x = roll_batch(TINY, batch=2, steps=16)
    c = torch.zeros(2)
    with pytest.raises(ValueError, match=r"x_in must have shape \(B, tracks=1, channels=3, pitches=16, steps\)"):
        model(x[:, 0], c, None)
    with pytest.raises(ValueError, match=r"x_in must have shape .* got \(2, 1, 3, 15, 16\)"):
        model(x[:, :, :, :15], c, None)
    with pytest.raises(ValueError, match=r"number of steps \(14\) must be a positive multiple of the patch \(4\)"):
        model(x[..., :14], c, None)
    with pytest.raises(ValueError, match=r"c_noise must have shape \(2,\)"):
        model(x, torch.zeros(3), None)
    with pytest.raises(ValueError, match=r"cond.known has shape"):
        model(x, c, Cond(known=x[..., :8], mask=torch.ones(1, dtype=torch.bool)))
    with pytest.raises(ValueError, match=r"cond has batch size 3, x_in 2"):
        model(x, c, Cond(tempo=torch.ones(3)))
    with pytest.raises(ValueError, match=r"label 3 is out of range: .* -1 \(none\) \.\. 2"):
        make(LABELLED)(roll_batch(LABELLED), c, Cond(label=torch.tensor([0, 3])))
    with pytest.raises(ValueError, match=r"unconditional: num_labels=0"):
        model(x, c, Cond(label=torch.tensor([0, -1])))
    capped = make(DenoiserConfig.tiny(max_steps=8))
    with pytest.raises(ValueError, match=r"16 steps is longer than this model's max_steps \(8\)"):
        capped(x, c, None)


# ====================================================================== initialisation and gradients
def test_adaln_zero_init_outputs_exactly_zero() -> None:
    model = make(LABELLED, perturbed=False)
    x = roll_batch(LABELLED, batch=4)
    out = model(x, torch.randn(4), full_cond(LABELLED, x))
    assert torch.equal(out, torch.zeros_like(x))
    sigma = torch.full((4,), 0.7)
    denoiser = KarrasDenoiser(model)
    sd = denoiser.schedule.sigma_data
    assert torch.allclose(denoiser(x, sigma, None), sd**2 / (0.7**2 + sd**2) * x)  # D(x) = c_skip x


def test_gradients_reach_every_parameter() -> None:
    """adaLN-Zero: step 1 moves only the head, step 2 also the gates, from step 3 every parameter has a gradient."""
    model = make(LABELLED, perturbed=False)
    x = roll_batch(LABELLED, batch=4)
    cond = full_cond(LABELLED, x)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    head = {"head.out.weight", "head.out.bias", "gain.proj.weight", "gain.bias"}  # the last, zero-initialised layers
    for step in range(3):
        opt.zero_grad()
        loss = ((model(x, torch.randn(4), cond) - x) ** 2).mean()
        loss.backward()
        moved = {n for n, p in model.named_parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)}
        if step == 0:
            assert moved == head
        opt.step()
    missing = [n for n, _ in model.named_parameters() if n not in moved]
    assert not missing, f"no gradient reaches {missing}"


# ====================================================================== conditioning
def test_label_minus_one_is_the_null_label() -> None:
    fresh = make(LABELLED, perturbed=False)
    x = roll_batch(LABELLED, batch=2)
    c = torch.zeros(2)
    labels = [torch.tensor([i, i]) for i in (-1, 0, 1)]
    assert all(torch.equal(fresh(x, c, Cond(label=lab)), fresh(x, c, None)) for lab in labels)  # zero init

    model = perturb(fresh)
    none = model(x, c, None)
    assert torch.equal(model(x, c, Cond(label=labels[0])), none)  # -1 == no label: the null embedding
    out0, out1 = (model(x, c, Cond(label=lab)) for lab in labels[1:])
    assert not torch.allclose(out0, none, atol=1e-4) and not torch.allclose(out0, out1, atol=1e-4)
    with torch.no_grad():  # the null embedding is the last row of the label table, and only that row
        model.label_embed.weight[LABELLED.num_labels].add_(1.0)
    assert not torch.allclose(model(x, c, None), none, atol=1e-4)
    assert torch.equal(model(x, c, Cond(label=labels[1])), out0)
    mixed = model(x, c, Cond(label=torch.tensor([0, -1])))  # per example
    assert torch.equal(mixed[:1], out0[:1])
    assert torch.equal(mixed[1:], model(x, c, None)[1:])


def test_mask_and_known_change_the_output() -> None:
    model = make(TINY)
    x = roll_batch(TINY, batch=2)
    c = torch.full((2,), 0.3)
    cond = full_cond(TINY, x)
    plain = model(x, c, None)
    assert torch.equal(model(x, c, Cond()), plain)
    inpaint = model(x, c, Cond(known=cond.known, mask=cond.mask))
    assert not torch.allclose(inpaint, plain, atol=1e-4)
    other_known = cond.known.clone()
    other_known[..., :2] = 1 - other_known[..., :2]  # inside the mask
    assert not torch.allclose(model(x, c, Cond(known=other_known, mask=cond.mask)), inpaint, atol=1e-4)
    outside = cond.known.clone()
    outside[..., -2:] = 5.0  # outside the mask: ignored
    assert torch.equal(model(x, c, Cond(known=outside, mask=cond.mask)), inpaint)
    broadcast_mask = cond.mask[:1, :1, :1, :1]  # (1, 1, 1, 1, S) broadcasts like the full one
    assert torch.equal(model(x, c, Cond(known=cond.known, mask=broadcast_mask)), inpaint)
    assert not torch.allclose(model(x, c, Cond(known=cond.known, mask=~cond.mask)), inpaint, atol=1e-4)


def test_noise_tempo_and_meter_condition_the_output() -> None:
    model = make(TINY)
    x = roll_batch(TINY, batch=2)
    c = torch.zeros(2)
    base = model(x, c, None)
    assert not torch.allclose(model(x, c + 0.5, None), base, atol=1e-4)
    tempo = model(x, c, Cond(tempo=torch.tensor([120.0, 90.0])))
    assert not torch.allclose(tempo, base, atol=1e-4)
    assert not torch.allclose(model(x, c, Cond(tempo=torch.tensor([121.0, 90.0])))[0], tempo[0], atol=1e-5)
    assert torch.equal(model(x, c, Cond(tempo=torch.tensor([float("nan"), 0.0]))), base)  # invalid = absent
    meter = model(x, c, Cond(meter=torch.tensor([[3, 4], [6, 8]])))
    assert not torch.allclose(meter, base, atol=1e-4)
    assert not torch.allclose(meter[0], meter[1], atol=1e-4)
    assert torch.equal(model(x, c, Cond(meter=torch.tensor([[0, 0], [4, 0]]))), base)
    off = make(DenoiserConfig.tiny(use_tempo=False, use_meter=False))
    plain = off(x, c, None)  # a model without them ignores them
    assert torch.equal(off(x, c, Cond(tempo=torch.tensor([120.0, 90.0]), meter=torch.tensor([[3, 4], [6, 8]]))), plain)


def test_batch_examples_are_independent() -> None:
    model = make(LABELLED)
    x = roll_batch(LABELLED, batch=3)
    cond = full_cond(LABELLED, x)
    c = torch.tensor([0.1, -0.5, 1.0])
    out = model(x, c, cond)
    for i in range(3):
        torch.testing.assert_close(model(x[i : i + 1], c[i : i + 1], cond.index(i)), out[i : i + 1])


def test_rotary_attention_depends_on_relative_position_only() -> None:
    cos, sin = rotary(32, 8, torch.device("cpu"))
    q, k = torch.randn(8), torch.randn(8)
    rq, rk = apply_rotary(q.expand(32, 8), cos, sin), apply_rotary(k.expand(32, 8), cos, sin)
    scores = rq @ rk.T  # (32, 32): position of the query x position of the key
    for offset in (-5, 0, 3):
        diag = torch.diagonal(scores, offset)
        torch.testing.assert_close(diag, diag[:1].expand_as(diag))
    assert not torch.allclose(scores[0, 0], scores[0, 3])


def test_head_gain_passes_the_noisy_input_through() -> None:
    """F = offset + gain · x_in (a gain per track and pitch): the network can hand on x_in at full resolution
    (F = x_in here), which a Linear head from d = 32 to the 192 values of a patch could not."""
    model = make(TINY, perturbed=False)
    with torch.no_grad():  # offsets 0, gains 1
        model.gain.bias.fill_(1.0)
    x = roll_batch(TINY, batch=2)
    assert torch.equal(model(x, torch.randn(2), full_cond(TINY, x)), x)


def test_factorised_patch_layers_equal_their_definition() -> None:
    embed, head = PatchEmbed(3, 5, 4), PatchHead(3, 4, 5)
    for p in (embed.track_gain, head.track_gain, head.bias):
        nn.init.normal_(p)
    x, h = torch.randn(2, 6, 3, 5), torch.randn(2, 6, 4)
    torch.testing.assert_close(embed(x), (embed.proj(x) * embed.track_gain).sum(dim=2))
    torch.testing.assert_close(head(h), head.proj(h[:, :, None, :] * head.track_gain) + head.bias)


# ====================================================================== precision and compilation
def test_bf16_autocast_is_close_to_fp32() -> None:
    model = make(LABELLED)
    x = roll_batch(LABELLED, batch=2, steps=32)
    cond = full_cond(LABELLED, x)
    c = torch.tensor([0.2, -0.3])
    ref = model(x, c, cond)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, c, cond)
    assert out.dtype == torch.float32
    err = (out - ref).abs().max() / ref.abs().max()
    assert 0 < err < 0.05, err
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model(x.bfloat16(), c, cond).dtype == torch.bfloat16


def test_compiles_without_graph_breaks() -> None:
    pytest.importorskip("torch._dynamo")
    model = make(LABELLED)
    x = roll_batch(LABELLED, batch=2)
    cond = full_cond(LABELLED, x)
    c = torch.tensor([0.2, -0.3])
    compiled = torch.compile(model, backend="eager", fullgraph=True, dynamic=False)
    torch.testing.assert_close(compiled(x, c, cond), model(x, c, cond))


# ====================================================================== save / load
def test_save_load_round_trip_is_bit_exact(tmp_path: Path) -> None:
    model = make(LABELLED)
    schedule = NoiseSchedule(train_sigmas="lognormal", sigma_data=0.4)
    extra = {"data": {"layout": "lpd5", "steps_per_beat": 4}, "step": 1200}
    save_pretrained(tmp_path / "m", KarrasDenoiser(model, schedule), LABELLED, extra)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    document = json.loads((tmp_path / "m" / "config.json").read_text())
    assert document["d_model"] == LABELLED.d_model and document["schedule"] == schedule.to_dict()

    loaded, config, extra_back = from_pretrained(tmp_path / "m")
    assert isinstance(loaded, KarrasDenoiser) and isinstance(loaded.net, TransformerDenoiser)
    assert config == LABELLED and extra_back == extra and loaded.schedule == schedule
    assert not loaded.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.net.state_dict()[name], tensor), name
    x = roll_batch(LABELLED, batch=2)
    cond = full_cond(LABELLED, x)
    sigma = torch.tensor([0.3, 2.0])
    assert torch.equal(loaded(x, sigma, cond), KarrasDenoiser(model, schedule).eval()(x, sigma, cond))

    half = make(TINY).to(torch.bfloat16)  # dtypes are kept
    save_pretrained(tmp_path / "h", half, TINY)
    back, _, extra_back = from_pretrained(tmp_path / "h")
    assert extra_back == {} and back.schedule == NoiseSchedule()
    assert all(p.dtype == torch.bfloat16 for p in back.net.parameters())
    xh = roll_batch(TINY).bfloat16()
    assert torch.equal(back.net(xh, torch.zeros(2), None), half(xh, torch.zeros(2), None))


def test_save_looks_through_compile_wrappers(tmp_path: Path) -> None:
    model = make(TINY)
    save_pretrained(tmp_path, torch.compile(model, backend="eager"), TINY, schedule=NoiseSchedule(sigma_data=0.3))
    assert set(load_file(str(tmp_path / "model.safetensors"))) == set(model.state_dict())  # no "_orig_mod." prefix
    loaded, _, _ = from_pretrained(tmp_path)
    assert loaded.schedule == NoiseSchedule(sigma_data=0.3)
    with pytest.raises(ValueError, match="schedule differs from the KarrasDenoiser's own schedule"):
        save_pretrained(tmp_path, KarrasDenoiser(model), TINY, schedule=NoiseSchedule(sigma_data=0.3))


def test_save_refuses_bad_arguments(tmp_path: Path) -> None:
    model = make(TINY)
    with pytest.raises(ValueError, match="config does not match"):
        save_pretrained(tmp_path, model, DenoiserConfig.tiny(pitches=8))
    with pytest.raises(TypeError, match="extra must be JSON-serialisable"):
        save_pretrained(tmp_path, model, TINY, {"t": torch.zeros(1)})
    with pytest.raises(TypeError, match="must be a TransformerDenoiser"):
        save_pretrained(tmp_path, nn.Linear(2, 2), TINY)
    assert not list(tmp_path.iterdir())  # nothing half-written


def _saved(tmp_path: Path) -> Path:
    save_pretrained(tmp_path / "m", make(TINY), TINY, {"k": 1})
    return tmp_path / "m"


def _rewrite_weights(directory: Path, tensors: dict[str, Tensor]) -> None:
    """Replace the weights and drop the hash from config.json, so that the tensor checks are reached."""
    save_file(tensors, str(directory / "model.safetensors"))
    document = json.loads((directory / "config.json").read_text())
    document.pop("weights_sha256", None)
    (directory / "config.json").write_text(json.dumps(document))


def test_load_refuses_pickles(tmp_path: Path) -> None:
    directory = _saved(tmp_path)
    weights = load_file(str(directory / "model.safetensors"))
    (directory / "model.safetensors").unlink()
    torch.save(weights, directory / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"pickle files \(pytorch_model.bin\); symdiff loads only safetensors"):
        from_pretrained(directory)
    (directory / "pytorch_model.bin").rename(directory / "model.pt")
    with pytest.raises(ValueError, match=r"pickle files \(model.pt\)"):
        from_pretrained(directory)
    (directory / "model.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"no model\.safetensors"):
        from_pretrained(directory)
    with pytest.raises(FileNotFoundError, match="no such model directory"):
        from_pretrained(tmp_path / "nowhere")


def test_load_names_bad_tensors(tmp_path: Path) -> None:
    directory = _saved(tmp_path)
    good = load_file(str(directory / "model.safetensors"))

    missing = {k: v for k, v in good.items() if k != "blocks.1.qkv.weight"}
    _rewrite_weights(directory, missing)
    with pytest.raises(ValueError, match=r"missing tensors \['blocks.1.qkv.weight'\]"):
        from_pretrained(directory)

    _rewrite_weights(directory, {**good, "blocks.9.qkv.weight": torch.zeros(3)})
    with pytest.raises(ValueError, match=r"unexpected tensors \['blocks.9.qkv.weight'\]"):
        from_pretrained(directory)

    _rewrite_weights(directory, {**good, "head.out.bias": torch.zeros(1, 3)})
    with pytest.raises(ValueError, match=r"tensor 'head.out.bias' has shape \(1, 3\), the config's model expects"):
        from_pretrained(directory)

    _rewrite_weights(directory, good)
    assert from_pretrained(directory)[2] == {"k": 1}  # without the hash, the right tensors load


def test_load_detects_weights_from_another_save(tmp_path: Path) -> None:
    directory = _saved(tmp_path)
    save_file(load_file(str(_saved(tmp_path / "other") / "model.safetensors")), str(directory / "model.safetensors"))
    torch.manual_seed(5)  # a differently initialised model of the same config
    save_pretrained(tmp_path / "other2", perturb(TransformerDenoiser(TINY), 5), TINY)
    (tmp_path / "other2" / "model.safetensors").replace(directory / "model.safetensors")
    with pytest.raises(ValueError, match="sha256 differs"):
        from_pretrained(directory)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ({"d_model": "wide"}, r"config.json: DenoiserConfig.d_model must be an int, got 'wide'"),
        ({"n_layer": 2}, r"config.json: unknown DenoiserConfig keys \['n_layer'\]"),
        ({"schedule": {"beta_schedule": "cubic"}}, r"config.json: bad 'schedule': unknown beta_schedule 'cubic'"),
        ({"format_version": 99}, r"'format_version' 99 is not supported"),
        ({"extra": [1, 2]}, r"'extra' must be a JSON object"),
    ],
)
def test_load_names_bad_config_fields(tmp_path: Path, edit: dict, match: str) -> None:
    directory = _saved(tmp_path)
    document = json.loads((directory / "config.json").read_text())
    document.update(edit)
    (directory / "config.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=match):
        from_pretrained(directory)


def test_load_refuses_broken_json(tmp_path: Path) -> None:
    directory = _saved(tmp_path)
    (directory / "config.json").write_text('{"tracks": 1,')
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON"):
        from_pretrained(directory)


# ====================================================================== the pieces fit together
def test_tiny_model_overfits_a_fixed_batch() -> None:
    """KarrasDenoiser(TransformerDenoiser) learns to denoise four fixed random binary rolls: the EDM loss on fixed
    draws of noise levels and noise falls from 0.88 to about 0.12 in 400 steps (with a plain Linear head, whose
    output cannot follow the noisy input, even a width-64 model only gets to 0.63)."""
    config = DenoiserConfig.tiny(tracks=1, pitches=16, head_hidden=0)  # the gated linear head (see its docs)
    torch.manual_seed(0)
    denoiser = KarrasDenoiser(TransformerDenoiser(config), NoiseSchedule(train_sigmas="lognormal"))
    gen = torch.Generator().manual_seed(0)
    x0 = (torch.rand(4, 1, 3, 16, 16, generator=gen) > 0.85).float()

    def fixed_loss() -> float:
        with torch.no_grad():
            return float(denoiser.loss(x0.repeat(16, 1, 1, 1, 1), generator=torch.Generator().manual_seed(1)))

    before = fixed_loss()
    opt = torch.optim.AdamW(denoiser.parameters(), lr=3e-3)
    t0 = time.perf_counter()
    for _ in range(400):
        loss = denoiser.loss(x0.repeat(2, 1, 1, 1, 1), generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = fixed_loss()
    assert after < before / 5, (before, after, time.perf_counter() - t0)
