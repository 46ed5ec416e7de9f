"""Issue 16's core: a run's discriminator and what it sees, a run's directions found, saved and read back,
hostile directions files."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.data import torchvision_files_present, load_dataset
from dcgan.analysis.critic import generated_realness, image_from_upload, realness, uint8_to_input
from dcgan.analysis.directions import directions_path, load_directions
from dcgan.analysis.labelled import NoClassifierError
from dcgan.analysis.semantics import classifier_note, find_directions, save_run_directions, saved_directions
from dcgan.runs.checkpoint import CheckpointError, export_discriminator, load_run_discriminator, load_run_generator
from dcgan.runs.rundir import RunDir


ROOT = Path(__file__).resolve().parents[2]
MNIST_DATA = ROOT.parent / "shared" / "datasets"


@pytest.fixture
def tiny_root(app_tiny_checkpoints) -> Path:
    return app_tiny_checkpoints


def test_a_run_s_discriminator_comes_from_its_checkpoint_or_its_exported_file(tiny_root, tmp_path):
    run = RunDir(tiny_root / "tiny")
    D, step = load_run_discriminator(run)
    assert step == 12 and not D.training
    images = torch.rand(4, 1, 28, 28) * 2 - 1
    from_checkpoint = realness(D, images)
    assert from_checkpoint.logits.shape == (4,) and ((0 <= from_checkpoint.probabilities)
                                                      & (from_checkpoint.probabilities <= 1)).all()
    # a shipped run: no checkpoint.pt, D in fp16 beside G
    shipped = tmp_path / "shipped"
    shutil.copytree(run.path, shipped)
    export_discriminator(RunDir(shipped))
    (shipped / "checkpoint.pt").unlink()
    D16, step16 = load_run_discriminator(RunDir(shipped))
    assert step16 == 12
    assert np.allclose(realness(D16, images).logits, from_checkpoint.logits, atol=0.05)
    (shipped / "discriminator.safetensors").unlink()
    with pytest.raises(CheckpointError, match="keeps no discriminator"):
        load_run_discriminator(RunDir(shipped))
    (shipped / "discriminator.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="not a readable discriminator file"):
        load_run_discriminator(RunDir(shipped))


def test_an_uploaded_picture_becomes_what_d_sees(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 50, 50)).save(buf, "JPEG")
    grey = image_from_upload(buf.getvalue(), 28, 1)
    assert grey.shape == (1, 28, 28, 1) and grey.dtype == np.uint8
    assert image_from_upload(buf.getvalue(), 64, 3).shape == (1, 64, 64, 3)
    x = uint8_to_input(grey)
    assert x.shape == (1, 1, 28, 28) and -1 <= x.min() <= x.max() <= 1
    with pytest.raises(ValueError, match="not an image"):
        image_from_upload(b"GIF89a but not really", 28, 1)


@pytest.mark.skipif(not (ROOT / "checkpoints" / "mnist" / "discriminator.safetensors").is_file(),
                    reason="the shipped MNIST model and its D are not in checkpoints/")
@pytest.mark.skipif(not torchvision_files_present("mnist", MNIST_DATA), reason="needs ../shared/datasets/MNIST (not in the repository)")
def test_the_shipped_mnist_d_finds_real_digits_more_real_than_noise():
    run = RunDir(ROOT / "checkpoints" / "mnist")
    D, _ = load_run_discriminator(run)
    real = load_dataset("mnist", 28, 1, str(MNIST_DATA), split="test").images[:500].float() / 127.5 - 1
    noise = torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    real_p, noise_p = realness(D, real).probabilities, realness(D, noise).probabilities
    assert real_p.mean() > noise_p.mean() + 0.1, (real_p.mean(), noise_p.mean())
    _, fake = generated_realness(D, load_run_generator(run), torch.randn(500, 100))
    # a trained D sits near its equilibrium: G's digits score close to real ones, far above noise
    assert fake.probabilities.mean() > noise_p.mean()



def test_run_directions_are_found_saved_and_read_back(tiny_root, tmp_path):
    run_path = tmp_path / "tiny"
    shutil.copytree(tiny_root / "tiny", run_path)
    G = load_run_generator(RunDir(run_path))
    d = find_directions(G, run_path, "sefa", k=5)
    assert d.names[0] == "SeFa 1" and len(d) == 5
    save_run_directions(run_path, d)
    local = find_directions(G, run_path, "local", k=3, z=np.zeros(16))
    save_run_directions(run_path, local)
    found, problems = saved_directions(run_path, 16)
    assert set(found) == {"sefa", "local"} and not problems
    assert np.allclose(found["sefa"].vectors, d.vectors, atol=1e-6)
    # a file made for another z_dim is one line, not a crash
    directions_path(run_path, "labels").write_text(json.dumps({**json.loads(directions_path(run_path, "sefa")
                                                                             .read_text()), "method": "labels"}))
    found, problems = saved_directions(run_path, 32)
    assert not found and "made for z_dim 16; this generator takes 32" in problems["sefa"]
    with pytest.raises(ValueError, match="local directions need a z"):
        find_directions(G, run_path, "local")
    with pytest.raises(NoClassifierError, match="need a classifier for this dataset"):
        find_directions(G, run_path, "labels")
    assert "need a classifier" in classifier_note(run_path)


def test_hostile_directions_files_are_one_line_refusals(tmp_path):
    path = tmp_path / "directions_sefa.json"
    good = {"kind": "dcgan-directions", "version": 1, "method": "sefa", "z_dim": 2, "names": ["a"], "scores": [1.0],
            "vectors": [[1.0, 0.0]], "metadata": {}}
    for bad, why in [("[" * 100_000 + "]" * 100_000, "nested too deeply"),
                     (json.dumps({**good, "vectors": [[10 ** 400, 0]]}), "vectors must be"),
                     (json.dumps({**good, "scores": [10 ** 400]}), "directions_sefa.json:")]:
        path.write_text(bad)
        with pytest.raises(ValueError, match=why) as e:
            load_directions(path, 2)
        assert "\n" not in str(e.value)


def test_a_lone_image_is_judged_in_a_batch_by_a_minibatch_stddev_d():
    from dcgan.nets.models import Discriminator
    torch.manual_seed(0)
    D = Discriminator(image_size=28, channels=1, width=8, batchnorm=False, mbstd=True).eval()
    context = torch.rand(63, 1, 28, 28) * 2 - 1
    image = torch.rand(1, 1, 28, 28) * 2 - 1
    in_batch = D(torch.cat([image, context]))[0].item()
    assert realness(D, image, context=context).logits[0] == pytest.approx(in_batch, abs=1e-5)
    assert realness(D, image).logits[0] != pytest.approx(in_batch, abs=1e-3)  # alone, the batch looks collapsed


def test_a_16_bit_upload_is_scaled_as_the_folder_loader_scales_it():
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, "PNG")
    assert 120 < image_from_upload(buf.getvalue(), 28, 1).mean() < 135  # not clipped to white


def test_a_checkpoint_whose_d_is_not_weights_is_refused(tiny_root, tmp_path):
    from dcgan.runs.checkpoint import load_training_state, save_training_state
    run_path = tmp_path / "odd"
    shutil.copytree(tiny_root / "tiny", run_path)
    state = load_training_state(run_path / "checkpoint.pt")
    save_training_state(run_path / "checkpoint.pt", {**state, "D": [1, 2, 3]})
    with pytest.raises(CheckpointError, match="does not hold a discriminator's weights"):
        load_run_discriminator(RunDir(run_path))
