"""A found z is kept with the target image it was found for (latents/NAME.png beside latents/NAME.json, through
RunDir, the PNG named in the record by its sha256): read back, shown beside G(z), overwritten and deleted
sanely; saves from before targets were kept still load; the run's saved z's are listed newest first."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dcgan.analysis.inversion import (Inversion, free_latent_name, latent_record, save_latent, saved_latents,
                                      saved_target, saved_view)
from dcgan.config import ModelConfig
from dcgan.imaging import png_bytes
from dcgan.nets.models import Generator
from dcgan.runs.rundir import RunDir
from dcgan.sampling import generate, z_from_seed


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return Generator.from_config(ModelConfig(image_size=28, channels=1, z_dim=8, g_width=8, kernel_size=4)).eval()


def found(G, seed: int) -> Inversion:
    z = z_from_seed(seed, G.z_dim)[0].numpy()
    return Inversion(z, generate(G, torch.from_numpy(z)[None])[0], 0.0123, 200)


@pytest.fixture
def run(tmp_path) -> RunDir:
    (tmp_path / "run").mkdir()
    return RunDir(tmp_path / "run")


def target(value: int) -> np.ndarray:
    image = np.zeros((28, 28, 1), np.uint8)
    image[4:24, 12:16] = value
    return image


def test_the_target_is_kept_beside_its_z_and_read_back(run, G):
    save_latent(run, "drawn-1", latent_record(found(G, 1), "your drawing", 12), target(255))
    assert run.latent_target_path("drawn-1").name == "drawn-1.png"
    assert run.latent_target_path("drawn-1").read_bytes() == png_bytes(target(255))
    assert np.array_equal(saved_target(run, "drawn-1"), target(255))
    assert not list(run.latents_dir.glob("*.tmp"))  # both written whole
    kept, skipped = saved_latents(run, G.z_dim)
    assert list(kept) == ["drawn-1"] and skipped == 0  # the PNG is no saved z of its own


def test_the_saved_view_shows_the_target_beside_g_of_z(run, G):
    f = found(G, 2)
    save_latent(run, "drawn-1", latent_record(f, "your drawing", 12), target(200))
    view = saved_view(G, run, "drawn-1", f.z, scale=3)
    assert view.has_target and view.image.shape == ((28 + 4) * 3, (2 * 28 + 6) * 3, 1)  # two, padded, 3x
    assert np.array_equal(view.image[2 * 3:30 * 3:3, 2 * 3:30 * 3:3], target(200))  # left: the target
    assert np.array_equal(view.image[2 * 3:30 * 3:3, 32 * 3:60 * 3:3], f.image)  # right: G(z)
    assert "target it was found for" in view.caption and "your drawing" in view.caption and "0.0123" in view.caption


def test_a_save_from_before_targets_were_kept_still_loads_alone(run, G):
    f = found(G, 3)
    run.latents_dir.mkdir()
    old = {"z": [float(v) for v in f.z], "source": "test image 4", "error": 0.02, "step": 12, "steps": 200,
           "saved": 1.0}  # what the app wrote before targets were kept: no PNG, no sha256
    (run.latents_dir / "test-1.json").write_text(json.dumps(old))
    kept, _ = saved_latents(run, G.z_dim)
    assert np.allclose(kept["test-1"], f.z, atol=1e-6)
    assert saved_target(run, "test-1") is None
    view = saved_view(G, run, "test-1", kept["test-1"], scale=2)
    assert not view.has_target and view.image.shape == (56, 56, 1) and "no target image" in view.caption


def test_an_overwrite_replaces_both_and_one_without_a_target_leaves_no_stale_png(run, G):
    save_latent(run, "mine", latent_record(found(G, 1), "first", 12), target(255))
    save_latent(run, "mine", latent_record(found(G, 2), "second", 12), target(100))
    assert np.array_equal(saved_target(run, "mine"), target(100))
    save_latent(run, "mine", latent_record(found(G, 3), "third", 12))  # e.g. a z saved from elsewhere
    assert saved_target(run, "mine") is None and not run.latent_target_path("mine").exists()
    assert "target_sha256" not in json.loads(run.latent_path("mine").read_text())


def test_a_png_that_is_not_the_one_its_record_names_is_never_shown(run, G):
    save_latent(run, "mine", latent_record(found(G, 1), "first", 12), target(255))
    # a kill between an overwrite's two writes: the new PNG is there, the record is still the old one's
    run.latent_target_path("mine").write_bytes(png_bytes(target(90)))
    assert saved_target(run, "mine") is None
    run.latent_target_path("mine").write_bytes(b"\x89PNG\r\n\x1a\n damaged")
    assert saved_target(run, "mine") is None
    run.latent_target_path("mine").unlink()  # or removed by hand
    assert saved_target(run, "mine") is None and not saved_view(G, run, "mine", found(G, 1).z, 1).has_target


def test_deleting_a_saved_z_removes_its_target_too(run, G):
    save_latent(run, "a", latent_record(found(G, 1), "first", 12), target(255))
    save_latent(run, "b", latent_record(found(G, 2), "second", 12), target(128))
    run.delete_latent("a")
    assert not run.latent_path("a").exists() and not run.latent_target_path("a").exists()
    assert list(saved_latents(run, G.z_dim)[0]) == ["b"] and saved_target(run, "b") is not None
    run.delete_latent("a")  # gone already: nothing to do, no error
    with pytest.raises(ValueError, match="bad name"):
        run.delete_latent("../b")


def test_a_new_save_takes_a_free_name_even_beside_an_orphan_png(run, G):
    save_latent(run, "drawn-1", latent_record(found(G, 1), "first", 12), target(255))
    run.latent_path("drawn-1").unlink()  # its record gone, the PNG left: listed nowhere
    assert saved_latents(run, G.z_dim)[0] == {}
    name = free_latent_name(run, "drawn")
    save_latent(run, name, latent_record(found(G, 2), "second", 12), target(60))
    assert np.array_equal(saved_target(run, name), target(60))


def test_saved_zs_are_listed_newest_first(run, G):
    for name, when in (("drawn-1", 30.0), ("drawn-10", 10.0), ("drawn-2", 20.0)):
        save_latent(run, name, {**latent_record(found(G, 1), name, 12), "saved": when})
    run.write_latent("no-time", {"z": [0.1] * G.z_dim})  # a hand-made file without a time: listed last
    assert list(saved_latents(run, G.z_dim)[0]) == ["drawn-1", "drawn-2", "drawn-10", "no-time"]
