"""Issue 33's inversion: z found for a target image (G's own, a real digit), its references cached with the run,
found z's saved with the run, analogies, and every upload a target can be made from or is refused as."""
from __future__ import annotations

import io
import json
import math
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.analysis import inversion
from dcgan.analysis.inversion import (frozen_copy, held_out_image, invert, invert_batch, latent_record,
                                      model_background, prepare_target, project, references, save_latent,
                                      saved_latents)
from dcgan.analysis.views import z_from_upload
from dcgan.imaging import prepare_upload
from dcgan.nets.models import Generator
from dcgan.runs.rundir import RunDir
from dcgan.sampling import analogy, generate, generate_tensor, z_from_seed

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "checkpoints"
DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="module")
def small_G() -> Generator:
    """A small random 28 px generator (z_dim 16) whose images differ from z to z as a trained one's do:
    BatchNorm's running statistics set from a few batches (so folding them is tested), the last layer
    scaled up (DCGAN's N(0, 0.02) weights alone draw a flat grey)."""
    torch.manual_seed(0)
    G = Generator(z_dim=16, image_size=28, channels=1, width=8)
    G.train()
    for m in G.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # a plain average of the batches
    with torch.no_grad():
        for _ in range(5):
            G(torch.randn(64, 16))
        G.main[-2].weight *= 10
    return G.eval()


def png(array: np.ndarray, mode: str | None = None, fmt: str = "PNG", **save) -> bytes:
    buf = io.BytesIO()
    im = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    im.save(buf, fmt, **save)
    return buf.getvalue()


def digit_on(background: int, size: int = 200) -> np.ndarray:
    """A thick bar (a '1') in the contrasting colour on a plain background, uint8 (size, size)."""
    a = np.full((size, size), background, np.uint8)
    a[size // 5:-size // 5, size * 2 // 5:size * 3 // 5] = 255 - background
    return a


# --- the search --------------------------------------------------------------------------------------------

def test_project_puts_every_z_on_the_typical_shell():
    z = torch.randn(5, 100) * torch.tensor([[0.1], [1], [3], [10], [100]])
    assert torch.allclose(project(z).norm(dim=1), torch.full((5,), 10.0), atol=1e-4)


def test_the_folded_copy_draws_what_g_draws_and_leaves_g_as_it_was(small_G):
    z = z_from_seed(1, 16, 4)
    frozen = frozen_copy(small_G)
    assert torch.allclose(frozen(z), small_G(z), atol=1e-5)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in frozen.modules())  # folded into the convs
    assert all(p.requires_grad for p in small_G.parameters())  # G itself untouched
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in small_G.modules())


def test_g_s_own_image_is_recovered_within_a_small_pixel_error(small_G):
    z_star = z_from_seed(7, 16)
    target = torch.cat(generate_tensor(small_G, z_star))
    start_error = (torch.cat(generate_tensor(small_G, z_from_seed(8, 16))) - target).pow(2).mean().item()
    found = invert(small_G, target, starts=4, steps=100, seed=0)
    assert found.error < start_error / 20 and found.error < 0.02  # a random other z is far off; the found one is not
    assert found.steps == 100 and not found.stopped
    assert found.image.shape == (28, 28, 1) and found.image.dtype == np.uint8
    assert math.isclose(float(np.linalg.norm(found.z)), 4.0, rel_tol=1e-4)  # sqrt(16): on the shell
    regenerated = generate(small_G, torch.from_numpy(found.z)[None])[0]
    assert np.abs(regenerated.astype(int) - found.image.astype(int)).max() <= 1


def test_the_same_seed_finds_the_same_z_and_another_seed_starts_elsewhere(small_G):
    target = generate(small_G, z_from_seed(3, 16))[0]
    a, b = (invert(small_G, target, starts=2, steps=10, seed=5) for _ in range(2))
    c = invert(small_G, target, starts=2, steps=10, seed=6)
    assert np.array_equal(a.z, b.z) and a.error == b.error
    assert not np.allclose(a.z, c.z)


def test_progress_is_reported_and_a_stop_keeps_the_best_so_far(small_G):
    target = generate(small_G, z_from_seed(3, 16))[0]
    seen = []
    full = invert(small_G, target, starts=2, steps=40, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (40, 40) and all(t == 40 for _, t in seen) and len(seen) >= 10
    asks = iter(range(100))
    stopped = invert(small_G, target, starts=2, steps=40, should_stop=lambda: next(asks) >= 5)
    assert stopped.stopped and stopped.steps == 5
    assert full.error <= stopped.error  # more steps never lose the best
    first = invert(small_G, target, starts=2, steps=40, should_stop=lambda: True)
    assert first.stopped and first.steps == 0 and np.isfinite(first.error)  # the best of the starts


def test_a_target_error_ends_the_search_once_reached(small_G):
    target = generate(small_G, z_from_seed(3, 16))[0]
    loose = invert(small_G, target, starts=4, steps=300, target_error=0.05)
    assert loose.error <= 0.05 and loose.steps < 300


def test_several_targets_are_searched_in_one_batch_each_for_its_own(small_G):
    z = z_from_seed(11, 16, 3)
    targets = torch.cat(generate_tensor(small_G, z))
    found = invert_batch(small_G, targets, starts=4, steps=120)
    assert len(found) == 3
    for f, t in zip(found, targets):  # each result belongs to its own target, not the batch's best
        assert ((torch.from_numpy(f.image).permute(2, 0, 1).float() / 127.5 - 1) - t).pow(2).mean() < 0.01


@pytest.mark.parametrize("options, message", [({"starts": 0}, "starts must be"), ({"steps": 0}, "steps must be"),
                                              ({"starts": 65}, "starts must be")])
def test_bad_search_settings_are_refused(small_G, options, message):
    with pytest.raises(ValueError, match=message):
        invert(small_G, np.zeros((28, 28, 1), np.uint8), **options)


def test_a_target_of_another_size_or_channels_is_refused(small_G):
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        invert(small_G, np.zeros((64, 64, 1), np.uint8))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        invert(small_G, np.zeros((28, 28, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        invert(small_G, np.zeros((28, 28), np.uint8))


def test_the_classifier_feature_term_runs_and_keeps_the_classifier_as_it_was(small_G):
    from dcgan.evaluation.classifier import Classifier
    C = Classifier(28, 10).train()
    target = generate(small_G, z_from_seed(3, 16))[0]
    found = invert(small_G, target, starts=2, steps=10, classifier=C, feature_weight=0.1)
    assert np.isfinite(found.error) and C.training and all(p.requires_grad for p in C.parameters())


@pytest.mark.slow
@pytest.mark.skipif(not (SHIPPED / "mnist" / "generator.safetensors").is_file(), reason="no shipped MNIST model")
def test_the_shipped_mnist_model_recovers_its_own_digit():
    from dcgan.runs.checkpoint import resolve_generator
    G = resolve_generator(SHIPPED / "mnist")
    z_star = z_from_seed(1234, G.z_dim)
    target = torch.cat(generate_tensor(G, z_star))
    other = torch.cat(generate_tensor(G, z_from_seed(99, G.z_dim)))
    found = invert(G, target, seed=0)
    # measured: about 0.005 (200 steps, 8 starts); two different digits differ by about 0.3
    assert found.error < 0.02 < (other - target).pow(2).mean().item()


def _class_share(name: str) -> float:
    """The share of 20 real test images (seeded choice) whose inversion the evaluator's classifier puts in
    the image's own class."""
    from dcgan.data import load_dataset
    from dcgan.evaluation.classifier import classifier_path, load_classifier
    from dcgan.evaluation.embedding import embed
    from dcgan.runs.checkpoint import resolve_generator
    G = resolve_generator(SHIPPED / name)
    data = load_dataset(name, 28, 1, str(DATASETS), split="test")
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:20]
    found = invert_batch(G, data.images[pick], seed=0)
    images = torch.from_numpy(np.stack([f.image for f in found])).permute(0, 3, 1, 2)
    predicted = embed(load_classifier(classifier_path(name)), images, name).labels
    return float((predicted == data.labels[pick].numpy()).mean())


@pytest.mark.slow
@pytest.mark.skipif(not (DATASETS / "MNIST" / "raw").is_dir(), reason="real MNIST is not on this machine")
def test_real_mnist_digits_come_back_as_the_same_digit_in_most_of_20():
    assert _class_share("mnist") >= 0.8  # measured: see docs/inversion.md


@pytest.mark.slow
@pytest.mark.skipif(not (DATASETS / "FashionMNIST" / "raw").is_dir(), reason="real Fashion-MNIST is not here")
def test_real_garments_come_back_as_the_same_garment_in_most_of_20():
    assert _class_share("fashion-mnist") >= 0.6  # measured: see docs/inversion.md


# --- references, cached with the run --------------------------------------------------------------------

@pytest.fixture
def tiny_run(app_tiny_checkpoints, tmp_path) -> RunDir:
    root = tmp_path / "checkpoints"
    shutil.copytree(app_tiny_checkpoints, root)
    return RunDir(root / "tiny")


def test_references_are_computed_once_per_step_and_read_back(tiny_run, monkeypatch):
    from dcgan.runs.checkpoint import load_run_generator
    G = load_run_generator(tiny_run)
    refs = references(G, tiny_run, None, starts=2, steps=20)
    assert 0 <= refs.own < 1 and refs.real is not None and refs.real_note is None  # synthetic data is always here
    stored = json.loads(tiny_run.inversion_references_path.read_text())
    assert stored["12"]["own"] == pytest.approx(refs.own, abs=1e-6)  # keyed by the export's step
    monkeypatch.setattr(inversion, "invert_batch", lambda *a, **k: pytest.fail("computed again"))
    again = references(G, tiny_run, None, starts=2, steps=20)
    assert (again.own, again.real) == (round(refs.own, 6), round(refs.real, 6))
    assert "G's own images" in again.text(0.5) and "real held-out images" in again.text(0.5)


def test_references_are_computed_again_for_other_settings_or_a_damaged_file(tiny_run):
    from dcgan.runs.checkpoint import load_run_generator
    G = load_run_generator(tiny_run)
    references(G, tiny_run, None, starts=2, steps=20)
    references(G, tiny_run, None, starts=2, steps=21)
    assert json.loads(tiny_run.inversion_references_path.read_text())["12"]["settings"]["steps"] == 21
    tiny_run.inversion_references_path.write_text('{"12": {"own": NaN')  # torn
    assert references(G, tiny_run, None, starts=2, steps=20).own >= 0
    assert json.loads(tiny_run.inversion_references_path.read_text())["12"]["settings"]["steps"] == 20


def test_references_without_a_run_or_its_data_say_why(small_G, tiny_run):
    refs = references(small_G, None, None, starts=1, steps=5)
    assert refs.real is None and "no run" in refs.real_note and "no real reference" in refs.text(0.1)


# --- found z's kept with the run ---------------------------------------------------------------------------

def test_found_zs_are_saved_with_the_run_and_read_by_the_latent_page(tiny_run, small_G):
    found = invert(small_G, generate(small_G, z_from_seed(2, 16))[0], starts=1, steps=3)
    record = latent_record(found, "test image 0", 12)
    save_latent(tiny_run, "my-three", record)
    assert not list(tiny_run.latents_dir.glob("*.tmp"))  # written whole
    kept, skipped = saved_latents(tiny_run, 16)
    assert skipped == 0 and np.allclose(kept["my-three"], found.z, atol=1e-6)
    data = tiny_run.latent_path("my-three").read_bytes()
    assert np.allclose(z_from_upload(data, 16), found.z, atol=1e-6)  # the Latent page's JSON upload reads it
    assert json.loads(data)["source"] == "test image 0" and json.loads(data)["step"] == 12


def test_damaged_or_foreign_saved_zs_are_left_out_and_counted(tiny_run):
    tiny_run.latents_dir.mkdir()
    (tiny_run.latents_dir / "torn.json").write_text('{"z": [0.1, ')
    (tiny_run.latents_dir / "short.json").write_text('{"z": [0.1, 0.2]}')  # another generator's
    (tiny_run.latents_dir / "nan.json").write_text('{"z": [NaN]}')
    (tiny_run.latents_dir / "list.json").write_text("[1, 2]")
    (tiny_run.latents_dir / "good.json").write_text(json.dumps({"z": [0.5] * 16}))
    kept, skipped = saved_latents(tiny_run, 16)
    assert list(kept) == ["good"] and skipped == 4


@pytest.mark.parametrize("name", ["../escape", "", "a/b", ".hidden", "x" * 65, None])
def test_a_bad_name_for_a_saved_z_is_refused(tiny_run, name):
    with pytest.raises(ValueError, match="bad name"):
        save_latent(tiny_run, name, {"z": [0.0] * 16})
    assert not tiny_run.latents_dir.exists()


# --- analogies ------------------------------------------------------------------------------------------------

def test_an_analogy_moves_c_the_way_a_moves_to_b():
    a, b, c = (z_from_seed(s, 8)[0] for s in (1, 2, 3))
    assert torch.allclose(analogy(a, b, c), c + b - a)
    assert torch.allclose(analogy(a, a, c), c)  # A : A :: C : C
    assert torch.allclose(analogy(a, b, a), b)  # A : B :: A : B
    assert torch.allclose(analogy(a.numpy(), b.tolist(), c), c + b - a)  # any form of z


@pytest.mark.parametrize("z_b, message", [([0.0] * 7, "has 7 values"), ([float("nan")] * 8, "NaN"),
                                          ([1e4] * 8, "beyond")])
def test_an_analogy_of_zs_that_do_not_fit_is_refused(z_b, message):
    with pytest.raises(ValueError, match=message):
        analogy([0.0] * 8, z_b, [0.0] * 8)


# --- targets from uploads -------------------------------------------------------------------------------------

def test_an_upload_is_cropped_resized_and_made_grey_or_rgb():
    wide = np.zeros((100, 300, 3), np.uint8)
    wide[:, 100:200] = (200, 40, 40)  # the centre square: red
    wide[:, :100] = 255
    wide[:10, 100:110] = 0  # a black corner: something drawn
    grey = prepare_upload(png(wide), 28, 1).image
    assert grey.shape == (28, 28, 1) and grey.dtype == np.uint8
    assert abs(int(grey[14, 14, 0]) - round(0.299 * 200 + 0.587 * 40 + 0.114 * 40)) <= 2  # the crop, not the white
    assert grey[0, 0, 0] < 20
    rgb = prepare_upload(png(wide), 64, 3).image
    assert rgb.shape == (64, 64, 3) and tuple(rgb[32, 32]) == (200, 40, 40)


@pytest.mark.parametrize("mode, fmt", [("CMYK", "JPEG"), ("P", "PNG"), ("L", "WEBP"), ("RGB", "JPEG"),
                                       ("LA", "PNG"), ("1", "PNG"), ("RGB", "GIF"), ("RGB", "BMP")])
def test_every_mode_and_format_becomes_a_target(mode, fmt):
    prepared = prepare_upload(png(np.stack([digit_on(0)] * 3, -1), mode, fmt), 28, 1)
    assert prepared.image.shape == (28, 28, 1)
    assert prepared.image[14, 14, 0] > 200 and prepared.image[2, 2, 0] < 50  # the bar, the background


def test_a_16_bit_upload_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    assert 120 < prepare_upload(png(ramp), 28, 1).image.mean() < 135


def test_black_on_white_is_inverted_for_a_model_that_draws_white_on_black():
    on_paper = png(digit_on(255))
    kept = prepare_upload(on_paper, 28, 1)
    assert kept.image[2, 2, 0] > 200 and not kept.notes  # no background asked: as it is
    flipped = prepare_upload(on_paper, 28, 1, background="dark")
    assert flipped.image[2, 2, 0] < 50 and flipped.image[14, 14, 0] > 200
    assert "inverted" in flipped.notes[0]
    assert not prepare_upload(png(digit_on(0)), 28, 1, background="dark").notes  # already white on black
    assert prepare_upload(png(digit_on(0)), 28, 1, background="light").image[2, 2, 0] > 200


@pytest.mark.parametrize("stroke", [0, 255])
def test_a_transparent_canvas_keeps_its_strokes_whatever_their_colour(stroke):
    rgba = np.zeros((100, 100, 4), np.uint8)  # fully transparent, its hidden colour black
    rgba[20:80, 45:55] = (stroke, stroke, stroke, 255)
    image = prepare_upload(png(rgba), 28, 1, background="dark").image
    assert image[14, 14, 0] > 200 and image[2, 2, 0] < 50  # a stroke on the model's black, either way


def test_a_sideways_phone_photo_is_turned_upright():
    tall = np.zeros((60, 120), np.uint8)
    tall[:, :60] = 255  # left half white: stored sideways, EXIF says rotate 90
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(tall).save(buf, "JPEG", exif=exif)
    upright = Image.open(io.BytesIO(buf.getvalue()))
    from PIL import ImageOps
    expected = np.asarray(ImageOps.exif_transpose(upright))
    assert expected.shape == (120, 60)  # upright it is tall, and its centre square is what is kept
    image = prepare_upload(buf.getvalue(), 28, 1).image[..., 0]
    assert abs(int(image[2, 14]) - int(expected[32, 30])) < 40 and abs(int(image[25, 14]) - int(expected[88, 30])) < 40


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG signature, an IHDR claiming width x height, and the first bytes of its pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    pixels = zlib.compress(bytes(1000))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", pixels)[:40]


def test_a_100_megapixel_image_is_refused_from_its_header_before_decoding():
    with pytest.raises(ValueError, match=r"too large to decode: 10000 x 10000 pixels \(100 megapixels\)"):
        prepare_upload(_png_header_only(10_000, 10_000), 28, 1)  # no pixel data: a decode would say truncated
    with pytest.raises(ValueError, match="too large"):
        prepare_upload(_png_header_only(20_000, 20_000), 28, 1)  # past PIL's own bomb limit too


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"hello, not a picture", "not an image this app can read"),
    (png(np.random.default_rng(0).integers(0, 256, (100, 100), dtype=np.uint8))[:3000], "truncated or damaged"),
    (png(digit_on(0))[:60], "truncated or damaged"),  # cut inside its header
    (_png_header_only(40, 40), "truncated or damaged"),
    (png(np.full((50, 50), 255, np.uint8)), "blank: every pixel is 255"),
    (png(np.full((50, 50, 3), 17, np.uint8), fmt="JPEG"), "blank"),
])
def test_what_cannot_be_a_target_is_refused_in_one_line(data, message):
    with pytest.raises(ValueError, match=message) as e:
        prepare_upload(data, 28, 1)
    assert "\n" not in str(e.value)


def test_a_format_no_browser_sends_is_not_opened():
    buf = io.BytesIO()
    Image.fromarray(digit_on(0)).save(buf, "TIFF")
    with pytest.raises(ValueError, match="not an image this app can read"):
        prepare_upload(buf.getvalue(), 28, 1)


@pytest.mark.skipif(not (SHIPPED / "mnist" / "generator.safetensors").is_file(), reason="no shipped MNIST model")
def test_the_mnist_model_draws_on_dark_so_a_pencil_digit_is_inverted():
    from dcgan.runs.checkpoint import resolve_generator
    G = resolve_generator(SHIPPED / "mnist")
    assert model_background(G) == "dark"
    prepared = prepare_target(G, png(digit_on(255)))
    assert prepared.image[2, 2, 0] < 50 and prepared.notes


def test_a_held_out_image_is_picked_by_number_and_out_of_range_refused(tiny_run):
    first = held_out_image(tiny_run, 0, 28, 1)
    assert first.shape == (28, 28, 1) and first.max() > 0
    assert not np.array_equal(first, held_out_image(tiny_run, 1, 28, 1))
    with pytest.raises(ValueError, match="outside 0.."):
        held_out_image(tiny_run, 10 ** 6, 28, 1)
    with pytest.raises(ValueError, match="outside 0.."):
        held_out_image(tiny_run, -1, 28, 1)
