"""Slow-motion training (dcgan/training/slow_motion.py) against the trainer itself: a slow-motion step is
train_step bit for bit, views and all; its views have known answers; it never writes the run."""
from __future__ import annotations

import copy
import hashlib

import numpy as np
import pytest
import torch

from dcgan.config import TrainConfig
from dcgan.data import make_synthetic
from dcgan.nets.models import Discriminator, Generator
from dcgan.runs.checkpoint import load_training_state
from dcgan.runs.rundir import RunDir
from dcgan.training.batches import BatchSource
from dcgan.training.loop import train
from dcgan.training.slow_motion import (
    MAX_STEPS_AT_ONCE, SUB_STEPS, SlowMotion, SlowMotionBusy, SlowMotionError, StartState, TrainingImages,
    gradient_images, needs_d_message, start_state,
)
from dcgan.training.step import train_step

from trainkit import TINY, quiet, states_equal

BASE = dict(dataset="synthetic", image_size=28, batch_size=8, g_width=8, d_width=8, z_dim=16, seed=4)
# every path through the step: BCE with BatchNorm, dropout (the global stream), DiffAugment (its own
# stream), two G updates and top-k; relativistic with lazy R1 on every other step; hinge with spectral
# norm (its power-iteration buffers) and minibatch std-dev; the loop's learning-rate rules
VARIANTS = {
    "bce-dropout-augment-g2-topk": dict(d_dropout=0.3, diffaugment="color,translation,cutout", g_steps=2, g_topk=0.5),
    "relativistic-r1": dict(gan_loss="relativistic", r1_gamma=1.0, r1_every=2, d_batchnorm=False, depth=1),
    "hinge-sn-mbstd": dict(gan_loss="hinge", d_batchnorm=False, d_spectral_norm=True, d_mbstd=True),
    "adaptive-lr": dict(adaptive_lr=True),
    "lr-decay": dict(lr_decay_from=0.25, steps=8),
}
STEPS = 4


def fresh_state(cfg: TrainConfig, step: int = 0) -> StartState:
    """Nets and optimisers after a couple of real steps (so Adam's moments and BatchNorm's statistics are not
    trivial), as a StartState."""
    torch.manual_seed(cfg.seed)
    G, D = Generator.from_config(cfg), Discriminator.from_config(cfg)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    z_gen, aug_gen = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    for k in range(2):
        train_step(G, D, opt_g, opt_d, torch.rand(cfg.batch_size, 1, 28, 28) * 2 - 1, z_gen, cfg, aug_gen=aug_gen,
                   step=k)
    return StartState(cfg, step, copy.deepcopy(G.state_dict()), copy.deepcopy(D.state_dict()),
                      copy.deepcopy(opt_g.state_dict()), copy.deepcopy(opt_d.state_dict()), z_gen.get_state(),
                      torch.get_rng_state(), aug_gen.get_state(), "checkpoint")


def trainer_steps(start: StartState, images: torch.Tensor, n: int):
    """n steps as the Trainer takes them (its layout, its batches, its learning-rate rules), from start."""
    from dcgan.training.balance import balance_lrs, decayed_lr, set_lr
    cfg = start.cfg
    G = Generator.from_config(cfg, init_weights=False).to(memory_format=torch.channels_last)
    D = Discriminator.from_config(cfg).to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    G.load_state_dict(start.G), D.load_state_dict(start.D)
    opt_g.load_state_dict(copy.deepcopy(start.opt_g)), opt_d.load_state_dict(copy.deepcopy(start.opt_d))
    z_gen, aug_gen = torch.Generator(), torch.Generator()
    z_gen.set_state(start.z_rng), aug_gen.set_state(start.aug_rng)
    torch.set_rng_state(start.torch_rng)
    data = BatchSource(images, cfg.batch_size, cfg.seed, torch.device("cpu"))
    all_stats = []
    for step in range(start.step, start.step + n):
        if cfg.lr_decay_from < 1:
            for opt, base in ((opt_d, cfg.lr_d), (opt_g, cfg.lr_g)):
                set_lr(opt, decayed_lr(base, step, cfg.steps, cfg.lr_decay_from))
        real = data.batch(step).contiguous(memory_format=torch.channels_last)
        stats = train_step(G, D, opt_g, opt_d, real, z_gen, cfg, aug_gen=aug_gen, step=step)
        if cfg.adaptive_lr:
            new_d, new_g = balance_lrs(opt_d.param_groups[0]["lr"], opt_g.param_groups[0]["lr"], stats["acc_real"],
                                       stats["acc_fake"], cfg)
            set_lr(opt_d, new_d), set_lr(opt_g, new_g)
        all_stats.append(stats)
    return G, D, opt_g, opt_d, z_gen, aug_gen, all_stats


def optimiser_states_equal(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    if sa["param_groups"] != sb["param_groups"] or sa["state"].keys() != sb["state"].keys():
        return False
    return all(states_equal(sa["state"][k], sb["state"][k]) for k in sa["state"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_slow_motion_steps_equal_the_trainers_bit_for_bit(variant):
    cfg = TrainConfig(**{**BASE, **VARIANTS[variant]})
    start = fresh_state(cfg, step=1)  # step 1: lazy R1 runs on steps 2 and 4, not on the first
    images = make_synthetic(28, 1, count=64, seed=0).images
    app_rng = torch.get_rng_state()
    copy_ = SlowMotion(start, TrainingImages(images, "synthetic", None))
    slow_stats = []
    for _ in range(STEPS):  # one sub-step at a time, every view taken
        for phase in SUB_STEPS:
            view = copy_.sub_step()
            assert view.phase == phase
        slow_stats.append(view.stats)
    assert torch.equal(torch.get_rng_state(), app_rng)  # the app's own stream is left alone
    G, D, opt_g, opt_d, z_gen, aug_gen, stats = trainer_steps(start, images, STEPS)
    assert slow_stats == stats  # losses, D's outputs and accuracies, R1: the exact floats
    assert states_equal(copy_.G.state_dict(), G.state_dict())  # parameters and buffers (BatchNorm, spectral norm)
    assert states_equal(copy_.D.state_dict(), D.state_dict())
    assert optimiser_states_equal(copy_.opt_g, opt_g) and optimiser_states_equal(copy_.opt_d, opt_d)
    assert torch.equal(copy_.z_gen.get_state(), z_gen.get_state())
    assert torch.equal(copy_.aug_gen.get_state(), aug_gen.get_state())
    assert copy_.steps_done == STEPS and copy_.step == 1 + STEPS


def test_whole_steps_at_once_are_the_same_steps_as_sub_steps():
    cfg = TrainConfig(**{**BASE, **VARIANTS["bce-dropout-augment-g2-topk"]})
    start = fresh_state(cfg)
    images = TrainingImages(make_synthetic(28, 1, count=64, seed=0).images, "synthetic", None)
    one_by_one, at_once = SlowMotion(start, images), SlowMotion(start, images)
    for _ in range(3 * len(SUB_STEPS) + 1):  # three steps and one sub-step into the fourth
        one_by_one.sub_step()
    seen = []
    view = one_by_one.run_steps(2, progress=lambda done, n: seen.append(done))  # finishes the fourth, takes a fifth
    assert seen == [1] and view.step == 5 and view.stats is not None and view.gradient is not None
    at_once.run_steps(5, views=False)
    assert states_equal(one_by_one.G.state_dict(), at_once.G.state_dict())
    assert states_equal(one_by_one.D.state_dict(), at_once.D.state_dict())
    assert optimiser_states_equal(one_by_one.opt_g, at_once.opt_g)


def test_a_slow_motion_step_is_the_trainers_own_from_a_runs_checkpoint(tmp_path):
    """From a run's checkpoint at step 3, three slow-motion steps land on the checkpoint a 6-step run of the
    same config wrote: data, random streams and layout are the trainer's."""
    train(TINY("part", steps=3, checkpoint_every=3, d_dropout=0.2), tmp_path, progress=False, log=quiet)
    train(TINY("whole", steps=6, checkpoint_every=3, d_dropout=0.2), tmp_path, progress=False, log=quiet)
    copy_ = SlowMotion.from_run(RunDir(tmp_path / "part"))
    assert copy_.start.source == "checkpoint" and copy_.step == 3 and copy_.images_info.note is None
    for _ in range(3 * len(SUB_STEPS)):
        copy_.sub_step()
    whole = load_training_state(RunDir(tmp_path / "whole").checkpoint_path)
    assert whole["step"] == copy_.step == 6
    assert states_equal(copy_.G.state_dict(), whole["G"]) and states_equal(copy_.D.state_dict(), whole["D"])
    assert torch.equal(copy_.z_gen.get_state(), whole["z_rng"])
    assert torch.equal(copy_.torch_rng, whole["torch_rng"])


def _tree_digest(path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def test_slow_motion_reads_the_run_and_never_writes_it(tmp_path):
    train(TINY("r", steps=4, checkpoint_every=2), tmp_path, progress=False, log=quiet)
    run = RunDir(tmp_path / "r")
    before = _tree_digest(run.path)
    copy_ = SlowMotion.from_run(run)
    copy_.run_steps(3)
    copy_.fresh().sub_step()
    assert _tree_digest(run.path) == before


def test_views_change_nothing_the_next_phase_reads():
    """Taking every view or none gives the same weights: the views' forwards leave buffers and streams alone."""
    cfg = TrainConfig(**{**BASE, **VARIANTS["bce-dropout-augment-g2-topk"]})
    start = fresh_state(cfg)
    images = TrainingImages(make_synthetic(28, 1, count=64, seed=0).images, "synthetic", None)
    seen, blind = SlowMotion(start, images), SlowMotion(start, images)
    for _ in range(2 * len(SUB_STEPS)):
        seen.sub_step(views=True)
        blind.sub_step(views=False)
    assert states_equal(seen.G.state_dict(), blind.G.state_dict())
    assert states_equal(seen.D.state_dict(), blind.D.state_dict())


def test_the_views_of_a_step():
    cfg = TrainConfig(**BASE, d_batchnorm=False)  # without BatchNorm a batch's mean score is free to move
    copy_ = SlowMotion(fresh_state(cfg), TrainingImages(make_synthetic(28, 1, count=64, seed=0).images, "s", None))
    view = copy_.sub_step()
    n = cfg.batch_size
    assert view.phase == "draw" and view.step == 1 and view.score_kind == "probability"
    assert view.real.shape == view.fake.shape == (n, 28, 28, 1) and view.real.dtype == np.uint8
    assert view.real_before.shape == view.fake_before.shape == (n,)
    assert ((0 <= view.real_before) & (view.real_before <= 1)).all()
    assert view.real_after is None and view.gradient is None
    view = copy_.sub_step()
    assert view.phase == "d_update" and view.fake_after.shape == (n,)
    # D's update widens the gap between its scores of these very reals and fakes (its loss's first-order promise)
    assert view.real_after.mean() - view.fake_after.mean() > view.real_before.mean() - view.fake_before.mean()
    view = copy_.sub_step()
    assert view.phase == "g_update" and view.gradient.shape == (n, 28, 28)
    assert view.fake_images_after.shape == view.fake.shape
    assert not np.array_equal(view.fake_images_after, view.fake)  # G moved
    assert set(view.stats) >= {"loss_d", "loss_g", "d_x", "d_g_z"}
    assert np.abs(view.gradient).max() > 0


def test_a_constant_d_sends_g_a_zero_gradient_map():
    """A D whose output does not depend on its input (every weight zero, a bias left) tells G nothing:
    the gradient map is exactly zero, and drawn all white."""
    cfg = TrainConfig(**{**BASE, "gan_loss": "hinge", "d_batchnorm": False})  # biases: a constant logit
    start = fresh_state(cfg)
    start.D = {k: (torch.zeros_like(v) if k.endswith("weight") else torch.full_like(v, 0.3))
               for k, v in start.D.items()}
    # Adam from zero moments: a zero gradient then moves no weight, and the first layer stays zero through
    # D's update (moments left from earlier steps would move it a little)
    start.opt_d = start.opt_g = None
    copy_ = SlowMotion(start, TrainingImages(make_synthetic(28, 1, count=64, seed=0).images, "s", None))
    view = copy_.run_steps(1)
    assert not copy_.D.main[0].weight.any()
    assert np.all(view.gradient == 0)
    assert (gradient_images(view.gradient) == 255).all()
    assert np.unique(view.fake_before).size == 1  # the same logit for every image


def test_gradient_images_share_one_scale_and_sign():
    g = np.zeros((2, 3, 3), np.float32)
    g[0, 0, 0], g[1, 1, 1] = 2.0, -1.0
    images = gradient_images(g)
    assert images.shape == (2, 3, 3, 3)
    assert tuple(images[0, 0, 0]) == (255, 0, 0)  # the strongest push to lighter: full red
    red, green, blue = images[1, 1, 1]
    assert blue == 255 and red == green and 100 < red < 160  # half as strong to darker: half blue
    assert (images[0, 2, 2] == 255).all()  # nothing asked: white


def test_a_run_without_d_gets_a_sentence(tmp_path):
    from dcgan.runs.importer import import_generator_file
    G = Generator(z_dim=100, image_size=64, channels=3)
    weights = tmp_path / "netG.pth"
    torch.save(G.state_dict(), weights)
    run = import_generator_file(weights, tmp_path / "checkpoints", "imported").run
    assert "needs the run's discriminator" in needs_d_message(run)
    with pytest.raises(SlowMotionError, match="needs the run's discriminator"):
        start_state(run)


def test_busy_broken_and_bad_counts_are_messages():
    cfg = TrainConfig(**BASE)
    copy_ = SlowMotion(fresh_state(cfg), TrainingImages(make_synthetic(28, 1, count=64, seed=0).images, "s", None))
    for n in (0, -1, MAX_STEPS_AT_ONCE + 1, 2.5, True):
        with pytest.raises(SlowMotionError, match="whole number"):
            copy_.run_steps(n)
    # a second caller while a step runs (the page's script re-run in the middle of 100 steps)
    with pytest.raises(SlowMotionBusy, match="still running"):
        copy_.run_steps(3, progress=lambda done, n: copy_.sub_step())
    # the interrupted call stopped between whole steps, after its first
    assert not copy_.busy and copy_.steps_done == 1 and copy_.phase == SUB_STEPS[-1]
    # an error inside a phase: the copy says so rather than take steps that are not the trainer's
    copy_._real = None
    copy_.phase = "draw"
    with pytest.raises(TypeError):
        copy_.sub_step()
    with pytest.raises(SlowMotionError, match="reset it"):
        copy_.sub_step()
    assert copy_.fresh().sub_step().phase == "draw"


def test_shipped_mnist_starts_from_its_export():
    run = RunDir(__import__("pathlib").Path(__file__).resolve().parents[2] / "checkpoints" / "mnist")
    if not run.discriminator_path.is_file():
        pytest.skip("the shipped MNIST model is not in this checkout")
    images = TrainingImages(make_synthetic(28, 1, count=64, seed=0).images, "synthetic", "no data")
    copy_ = SlowMotion.from_run(run, images)
    assert copy_.start.source == "export" and copy_.start.opt_g is None and copy_.step == 24000
    assert any("zero moments" in n for n in copy_.notes) and any("no data" in n for n in copy_.notes)
    view = copy_.run_steps(1)
    assert view.score_kind == "logit" and view.step == 24001
