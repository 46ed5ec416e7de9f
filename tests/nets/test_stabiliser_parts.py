"""Tests of dcgan.nets' stabilisers: losses and R1, DiffAugment, the generator EMA, minibatch std-dev,
spectral norm, and a few steps of a tiny GAN using all of them. CPU, a fraction of a second each."""
from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn as nn

from dcgan.nets.models import Generator
from dcgan.nets.augment import POLICIES, diff_augment, parse_policy
from dcgan.nets.ema import EMA
from dcgan.nets.layers import MinibatchStdDev, apply_spectral_norm
from dcgan.nets.losses import d_hinge_loss, d_relativistic_loss, g_hinge_loss, g_relativistic_loss, r1_penalty


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def images(n: int = 8, channels: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=g) * 2 - 1



def test_hinge_known_values():
    assert d_hinge_loss(t(2.0), t(-2.0)).item() == 0.0  # both past the margin
    assert d_hinge_loss(t(0.0), t(0.0)).item() == 2.0
    assert d_hinge_loss(t(0.5, 3.0), t(0.5, -1.0)).item() == pytest.approx(0.25 + 0.75)
    assert g_hinge_loss(t(3.0, -1.0)).item() == -1.0


def test_relativistic_known_values_and_symmetry():
    assert d_relativistic_loss(t(1.0), t(1.0)).item() == pytest.approx(math.log(2))
    assert d_relativistic_loss(t(2.0), t(0.0)).item() == pytest.approx(math.log1p(math.exp(-2)))
    assert g_relativistic_loss(t(2.0), t(0.0)).item() == pytest.approx(math.log1p(math.exp(2)))
    r, f = torch.randn(6), torch.randn(6)
    # G's loss is D's with real and fake swapped; shifting every logit by a constant changes nothing
    assert torch.allclose(g_relativistic_loss(r, f), d_relativistic_loss(f, r))
    assert torch.allclose(d_relativistic_loss(r + 5, f + 5), d_relativistic_loss(r, f))


def test_relativistic_pairs_elementwise():
    # pairs (real_i, fake_i), not all real-fake combinations
    assert d_relativistic_loss(t(3.0, -3.0), t(-3.0, 3.0)).item() == pytest.approx(
        (math.log1p(math.exp(-6)) + math.log1p(math.exp(6))) / 2)


def test_loss_gradients_flow():
    real = t(0.5, -0.5, 2.0).requires_grad_()
    fake = t(-0.5, 0.5, -2.0).requires_grad_()
    for loss in (d_hinge_loss(real, fake), g_hinge_loss(fake), d_relativistic_loss(real, fake),
                 g_relativistic_loss(real, fake)):
        real.grad = fake.grad = None
        loss.backward()
        grads = [g for g in (real.grad, fake.grad) if g is not None]
        assert grads and all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)
    real.grad = fake.grad = None
    d_hinge_loss(real, fake).backward()
    # inside the margin: -1/N for reals, +1/N for fakes; past it (the third pair): nothing
    assert torch.allclose(real.grad, t(-1 / 3, -1 / 3, 0.0))
    assert torch.allclose(fake.grad, t(1 / 3, 1 / 3, 0.0))


def test_r1_linear_discriminator_is_squared_weight_norm():
    w = torch.randn(1, 3, 8, 8, requires_grad=True)
    x = images(5, 3, 8).requires_grad_()
    penalty = r1_penalty((w * x).sum(dim=(1, 2, 3)), x)  # D(x) = w . x: the gradient is w for every image
    assert penalty.item() == pytest.approx(w.detach().square().sum().item(), rel=1e-5)
    penalty.backward()  # create_graph: the penalty trains D's weights, d|w|^2/dw = 2w
    assert torch.allclose(w.grad, 2 * w.detach(), atol=1e-5)


def test_r1_is_the_batch_mean_of_per_image_squared_norms():
    x = images(4, 1, 8).requires_grad_()
    logits = 0.5 * x.square().sum(dim=(1, 2, 3))  # gradient x_i
    expected = x.detach().square().sum(dim=(1, 2, 3)).mean()
    assert r1_penalty(logits, x).item() == pytest.approx(expected.item(), rel=1e-5)


def test_r1_is_zero_for_a_constant_discriminator():
    x = images(4).requires_grad_()
    bias = torch.tensor(0.3, requires_grad=True)
    assert r1_penalty(bias.expand(4), x).item() == 0.0  # logits do not involve the images at all
    assert r1_penalty(0 * x.sum(dim=(1, 2, 3)) + bias, x).item() == 0.0  # involve them with slope 0


def test_r1_needs_images_that_require_grad():
    # forgetting requires_grad_ on the real images must fail loudly, not give a silent 0
    x = images(2)
    w = torch.randn(1, 3, 16, 16, requires_grad=True)
    with pytest.raises(RuntimeError):
        r1_penalty((w * x).sum(dim=(1, 2, 3)), x)



def test_parse_policy():
    assert parse_policy("color,translation,cutout") == POLICIES
    assert parse_policy(" cutout , color ") == ("cutout", "color")
    assert parse_policy("") == ()
    with pytest.raises(ValueError) as err:
        parse_policy("color,colour")
    message = str(err.value)
    assert "\n" not in message and "'colour'" in message and all(p in message for p in POLICIES)
    with pytest.raises(ValueError, match="twice"):
        parse_policy("color,color")
    with pytest.raises(ValueError, match="flip"):
        diff_augment(images(), "flip")


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_diff_augment_keeps_shape_and_changes_images(channels, policy):
    x = images(6, channels, 28)
    out = diff_augment(x, policy, torch.Generator().manual_seed(1))
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    assert not torch.equal(out, x)


def test_diff_augment_empty_policy_is_identity():
    x = images()
    assert diff_augment(x, "") is x
    assert diff_augment(x, ()) is x


def test_diff_augment_is_reproducible_from_the_generator():
    x = images()
    policy = "color,translation,cutout"
    a = diff_augment(x, policy, torch.Generator().manual_seed(7))
    b = diff_augment(x, policy, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    gen = torch.Generator().manual_seed(7)
    state = gen.get_state()
    first, second = diff_augment(x, policy, gen), diff_augment(x, policy, gen)
    assert torch.equal(first, a) and not torch.equal(first, second)  # later draws differ
    gen.set_state(state)  # what a resumed trainer does with its generator's saved state
    assert torch.equal(diff_augment(x, policy, gen), a)
    torch.manual_seed(3)  # without a generator: the global RNG
    c = diff_augment(x, policy)
    torch.manual_seed(3)
    assert torch.equal(diff_augment(x, policy), c)


def test_diff_augment_is_random_per_image():
    x = images(1).expand(8, -1, -1, -1)  # one image, eight times
    out = diff_augment(x, "color,translation,cutout", torch.Generator().manual_seed(0))
    assert len({tuple(o.flatten().tolist()) for o in out}) == 8


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_diff_augment_gradients_reach_the_input(policy):
    x = images(4).requires_grad_()
    diff_augment(x, policy, torch.Generator().manual_seed(2)).square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_translation_of_a_constant_image_is_constant_inside():
    size, shift = 16, 16 // 8
    x = torch.full((16, 3, size, size), 0.7)
    out = diff_augment(x, "translation", torch.Generator().manual_seed(0))
    inside = out[:, :, shift:size - shift, shift:size - shift]
    assert torch.equal(inside, torch.full_like(inside, 0.7))  # no pixel comes from outside there
    assert ((out == 0.7) | (out == 0)).all()  # the rest is the image or the zero fill
    assert (out == 0).any()  # some image was shifted


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x (C, H, W) with out[i, j] = x[i + dy, j + dx], zero outside."""
    _, h, w = x.shape
    out = torch.zeros_like(x)
    out[:, max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)] = \
        x[:, max(dy, 0):h - max(-dy, 0), max(dx, 0):w - max(-dx, 0)]
    return out


def test_translation_is_an_integer_shift_of_at_most_an_eighth():
    x = images(12, 3, 16)
    out = diff_augment(x, "translation", torch.Generator().manual_seed(5))
    shifts = range(-2, 3)
    for xi, oi in zip(x, out):
        assert any(torch.equal(oi, shifted(xi, dy, dx)) for dy in shifts for dx in shifts)


def test_cutout_zeroes_one_clipped_square_of_half_the_size():
    x = torch.ones(32, 1, 16, 16)
    out = diff_augment(x, "cutout", torch.Generator().manual_seed(0))
    for o in out[:, 0]:
        rows, cols = (o == 0).any(dim=1).nonzero().flatten(), (o == 0).any(dim=0).nonzero().flatten()
        assert len(rows) and len(cols) and len(rows) <= 8 and len(cols) <= 8
        # the zeros are exactly a contiguous rectangle, and every corner clip keeps a quarter at least
        assert (o == 0).sum() == len(rows) * len(cols) >= 4 * 4
        assert rows.max() - rows.min() + 1 == len(rows) and cols.max() - cols.min() + 1 == len(cols)


def test_color_on_grey_images_is_affine_per_image():
    # saturation is a no-op with one channel; brightness and contrast make a * x + b per image
    x = images(4, 1, 8)
    out = diff_augment(x, "color", torch.Generator().manual_seed(0))
    for xi, oi in zip(x.flatten(1), out.flatten(1)):
        a = ((oi - oi.mean()) * (xi - xi.mean())).sum() / (xi - xi.mean()).square().sum()
        assert torch.allclose(oi, a * (xi - xi.mean()) + oi.mean(), atol=1e-5)
        assert 0.5 <= a <= 1.5


def test_diff_augment_channels_last_and_bf16():
    x = images(6, 3, 16)
    policy = "color,translation,cutout"
    expected = diff_augment(x, policy, torch.Generator().manual_seed(4))
    out = diff_augment(x.to(memory_format=torch.channels_last), policy, torch.Generator().manual_seed(4))
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out, expected, atol=1e-6)
    assert diff_augment(x, policy, torch.Generator().manual_seed(4)).is_contiguous()
    low = diff_augment(x.bfloat16(), policy, torch.Generator().manual_seed(4))  # same draws in bf16
    assert low.dtype == torch.bfloat16 and torch.allclose(low.float(), expected, atol=0.1)



def small_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(z_dim=8, image_size=28, channels=1, width=4)


def nudge(model: nn.Module, seed: int) -> None:
    """A stand-in for an optimizer step: move every parameter, and run BatchNorm in training mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
        model.train()(torch.randn(4, 8, generator=g))


def test_ema_starts_as_a_frozen_copy():
    G = small_generator()
    ema = EMA(G)
    assert not ema.module.training and G.training
    for (name, a), (_, p) in zip(ema.module.named_parameters(), G.named_parameters()):
        assert torch.equal(a, p) and a.data_ptr() != p.data_ptr() and not a.requires_grad, name
    nudge(G, 0)
    assert not torch.equal(next(ema.module.parameters()), next(G.parameters()))  # a copy, not a view


def test_ema_lies_between_old_and_new_weights():
    G = small_generator()
    old = {k: v.clone() for k, v in G.named_parameters()}
    ema = EMA(G, decay=0.9, warmup=False)
    nudge(G, 1)
    ema.update(G, step=1)
    for name, avg in ema.module.named_parameters():
        new = dict(G.named_parameters())[name].detach()
        assert torch.allclose(avg, 0.9 * old[name] + 0.1 * new, atol=1e-6), name
        assert not torch.equal(avg, new)
        lo, hi = torch.minimum(old[name], new), torch.maximum(old[name], new)
        assert ((avg >= lo - 1e-6) & (avg <= hi + 1e-6)).all(), name


def test_ema_copies_batchnorm_buffers_exactly():
    G = small_generator()
    ema = EMA(G, decay=0.99)
    for step in range(3):
        nudge(G, step)
        ema.update(G, step=100 + step)
    buffers = dict(G.named_buffers())
    assert any(name.endswith("num_batches_tracked") for name in buffers)
    for name, b in ema.module.named_buffers():
        assert torch.equal(b, buffers[name]), name  # running_mean / var / num_batches_tracked: copied
    assert not torch.equal(next(ema.module.parameters()), next(G.parameters()))  # weights: averaged


def test_ema_copies_before_start_step_then_warms_up():
    G = small_generator()
    ema = EMA(G, decay=0.999, start_step=3)
    for step in range(3):
        nudge(G, step)
        ema.update(G, step)
        assert all(torch.equal(a, p) for a, p in zip(ema.module.parameters(), G.parameters()))
    nudge(G, 3)
    ema.update(G, 3)
    assert not torch.equal(next(ema.module.parameters()), next(G.parameters()))
    assert [ema.decay_at(s) for s in (0, 2)] == [0.0, 0.0]
    assert ema.decay_at(3) == pytest.approx(0.1) and ema.decay_at(13) == pytest.approx(11 / 20)
    assert ema.decay_at(10 ** 6) == 0.999
    assert EMA(G, decay=0.999, start_step=3, warmup=False).decay_at(3) == 0.999


def test_ema_state_dict_round_trip_continues_bit_identically():
    G = small_generator()
    history = []  # the model's weights after each step, replayed into both averages
    for step in range(8):
        nudge(G, step)
        history.append({k: v.clone() for k, v in G.state_dict().items()})
    replay = small_generator(seed=1)

    def feed(ema: EMA, steps: range) -> None:
        for step in steps:
            replay.load_state_dict(history[step])
            ema.update(replay, step)

    straight = EMA(small_generator(), decay=0.9, start_step=1)
    feed(straight, range(8))

    first = EMA(small_generator(), decay=0.9, start_step=1)
    feed(first, range(4))
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = EMA(small_generator(seed=2), decay=0.9, start_step=1)  # a fresh process's EMA
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    feed(resumed, range(4, 8))

    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the average is a plain Generator state_dict: exportable as the model to sample from
    small_generator().load_state_dict(a)


def test_ema_unwraps_data_parallel_and_rejects_other_models():
    G = small_generator()
    ema = EMA(nn.DataParallel(G))
    assert ema.state_dict().keys() == G.state_dict().keys()
    ema.update(nn.DataParallel(G), 0)
    with pytest.raises(ValueError):
        ema.update(nn.Sequential(nn.Linear(2, 2)), 0)
    with pytest.raises(ValueError):
        EMA(G, decay=1.5)



def stylegan_mbstd(x: torch.Tensor, group_size: int, num_channels: int = 1) -> torch.Tensor:
    """The StyleGAN2/3 formula, for batch sizes it supports (group_size divides N)."""
    n, c, h, w = x.shape
    y = x.reshape(group_size, -1, num_channels, c // num_channels, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, num_channels, 1, 1)
    return torch.cat([x, y.repeat(group_size, 1, h, w)], dim=1)


@pytest.mark.parametrize("num_channels", [1, 2])
def test_mbstd_adds_channels_and_matches_stylegan(num_channels):
    x = images(8, 4, 4)
    out = MinibatchStdDev(group_size=4, num_channels=num_channels)(x)
    assert out.shape == (8, 4 + num_channels, 4, 4)
    assert torch.equal(out[:, :4], x)
    assert torch.allclose(out, stylegan_mbstd(x, 4, num_channels), atol=1e-6)


@pytest.mark.parametrize("n, stylegan_group", [(3, 3), (6, 6), (10, 5), (4, 4)])
def test_mbstd_batch_not_divisible_by_the_group(n, stylegan_group):
    # image i -> group i % (n // 4): n < 4 is StyleGAN's min(G, N); 10 images are two strided groups of 5
    x = images(n, 3, 4)
    assert torch.allclose(MinibatchStdDev(4)(x), stylegan_mbstd(x, stylegan_group), atol=1e-6)


def test_mbstd_uneven_groups():
    # 9 images, group size 4: two groups, {0, 2, 4, 6, 8} and {1, 3, 5, 7}
    x = images(9, 3, 4)
    out = MinibatchStdDev(4)(x)[:, 3, 0, 0]
    for j in range(2):
        members = x[j::2]
        std = (members.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        assert torch.allclose(out[j::2], std.expand(len(members)), atol=1e-6)


def test_mbstd_known_value_and_identical_images():
    x = torch.cat([torch.zeros(1, 2, 3, 3), torch.full((1, 2, 3, 3), 2.0)])
    assert torch.allclose(MinibatchStdDev(4)(x)[:, 2], torch.ones(2, 3, 3))  # population std of {0, 2}
    same = images(1, 3, 4).expand(8, -1, -1, -1).contiguous().requires_grad_()
    out = MinibatchStdDev(4)(same)
    assert torch.allclose(out[:, 3], torch.zeros(8, 4, 4), atol=2e-4)  # sqrt(eps) = 1e-4
    out.sum().backward()
    assert torch.isfinite(same.grad).all()


def test_mbstd_batch_of_one():
    x = images(1, 3, 4).requires_grad_()
    out = MinibatchStdDev(4)(x)
    assert out.shape == (1, 4, 4, 4) and torch.isfinite(out).all()
    assert out[0, 3].max().item() == pytest.approx(1e-4, rel=1e-3)
    (out * torch.randn_like(out)).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_mbstd_channels_last_bf16_and_bad_channels():
    x = images(8, 4, 4)
    out = MinibatchStdDev(4)(x.to(memory_format=torch.channels_last))
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out, MinibatchStdDev(4)(x))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert MinibatchStdDev(4)(x.bfloat16()).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="num_channels"):
        MinibatchStdDev(4, num_channels=3)(x)



def test_apply_spectral_norm_bounds_every_weight():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 4, 1, 0), nn.Flatten(),
                      nn.Linear(25, 1))
    apply_spectral_norm(apply_spectral_norm(D))  # twice: still one parametrization per layer
    layers = [m for m in D if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert all(len(m.parametrizations.weight) == 1 for m in layers)
    x = images(4, 3, 16)  # 16 -> 8 -> 5 px: 25 features
    for _ in range(30):  # one power iteration per training-mode forward
        D(x)
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().reshape(m.weight.shape[0], -1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.02)
    # the power-iteration vectors are in the state_dict: a reloaded D computes the same logits
    twin = apply_spectral_norm(nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1), nn.LeakyReLU(0.2),
                                             nn.Conv2d(8, 1, 4, 1, 0), nn.Flatten(), nn.Linear(25, 1)))
    twin.load_state_dict(D.state_dict())
    assert torch.equal(twin(x), D(x))



def tiny_pair(channels: int):
    # D: 16 -> 8 -> 4 px, the std-dev feature before the last conv, as in StyleGAN's epilogue
    D = apply_spectral_norm(nn.Sequential(
        nn.Conv2d(channels, 8, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(8, 16, 4, 2, 1), nn.LeakyReLU(0.2),
        MinibatchStdDev(group_size=4),
        nn.Conv2d(17, 1, 4, 1, 0), nn.Flatten(0),
    ))
    # G: z as a 1x1 map -> 4 px -> 16 px, with BatchNorm so the EMA has buffers to copy
    G = nn.Sequential(
        nn.Unflatten(1, (8, 1, 1)),
        nn.ConvTranspose2d(8, 16, 4, 1, 0), nn.BatchNorm2d(16), nn.ReLU(),
        nn.ConvTranspose2d(16, channels, 4, 4, 0), nn.Tanh(),
    )
    return G, D


@pytest.mark.parametrize("loss", ["hinge", "relativistic"])
@pytest.mark.parametrize("channels, channels_last", [(1, False), (3, True)])
def test_tiny_gan_trains_with_every_stabiliser(loss, channels, channels_last):
    torch.manual_seed(0)
    G, D = tiny_pair(channels)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    G.to(memory_format=fmt)
    D.to(memory_format=fmt)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.0, 0.99))
    ema = EMA(G, decay=0.99)
    gen = torch.Generator().manual_seed(1)
    policy = parse_policy("color,translation,cutout")
    r1_gamma, r1_every = 1.0, 2
    for step in range(5):
        real = (torch.rand(8, channels, 16, 16, generator=gen) * 2 - 1).contiguous(memory_format=fmt)
        z = torch.randn(8, 8, generator=gen)

        # (1) D: the adversarial loss, plus lazy R1 on the un-augmented reals every r1_every steps
        regularise = step % r1_every == 0
        real.requires_grad_(regularise)
        fake = G(z)
        real_logits = D(diff_augment(real, policy, gen))
        fake_logits = D(diff_augment(fake.detach(), policy, gen))
        if loss == "hinge":
            loss_d = d_hinge_loss(real_logits, fake_logits)
        else:
            loss_d = d_relativistic_loss(real_logits, fake_logits)
        r1 = r1_penalty(real_logits, real) if regularise else torch.zeros(())
        opt_d.zero_grad(set_to_none=True)
        (loss_d + r1_gamma / 2 * r1 * r1_every).backward()
        opt_d.step()

        # (2) G, through D's augmentations
        D.requires_grad_(False)
        g_logits = D(diff_augment(fake, policy, gen))
        if loss == "hinge":
            loss_g = g_hinge_loss(g_logits)
        else:
            loss_g = g_relativistic_loss(D(diff_augment(real.detach(), policy, gen)), g_logits)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
        ema.update(G, step)

        values = torch.stack([loss_d.detach(), loss_g.detach(), r1.detach()])
        assert torch.isfinite(values).all(), (step, values)
    for net in (G, D, ema.module):
        assert all(torch.isfinite(p).all() for p in net.parameters())
    assert regularise is True and r1.item() > 0
    samples = ema.module(torch.randn(4, 8))
    assert samples.shape == (4, channels, 16, 16) and torch.isfinite(samples).all()
