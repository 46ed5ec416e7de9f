"""A drawing re-framed as MNIST's digits (LeCun: the ink's box fitted to 20 x 20, aspect kept, its centre of
mass at the centre of 28 x 28) or Fashion-MNIST's garments (the box fitted to 28, centred) were made: the pure
imaging.reframe, prepare_upload / prepare_target with a framing (the app's canvas, `invert --reframe`), and
which framing a model gets."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dcgan.analysis.inversion import prepare_target, target_framing
from dcgan.imaging import FASHION_FRAMING, MNIST_FRAMING, prepare_upload, reframe

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "checkpoints"
DATASETS = ROOT.parent / "shared" / "datasets"


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    a = image[..., 0].astype(float) if image.ndim == 3 else image.astype(float)
    ys, xs = np.mgrid[0:a.shape[0], 0:a.shape[1]]
    return (a * ys).sum() / a.sum(), (a * xs).sum() / a.sum()


def ink_box(image: np.ndarray, level: int = 0) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), bottom and right exclusive, of the pixels over level."""
    a = image[..., 0] if image.ndim == 3 else image
    rows, cols = np.nonzero(a > level)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def canvas_seven(corner: tuple[int, int] = (20, 20), height: int = 80, side: int = 280) -> bytes:
    """A 7 drawn white on black with a 22 px pen, small, its box's top-left at corner: as a user draws."""
    im = Image.new("RGB", (side, side), "black")
    x, y = corner
    ImageDraw.Draw(im).line([(x, y), (x + height * 0.6, y), (x + height * 0.35, y + height)], fill="white", width=22)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def test_a_small_off_centre_blob_fills_mnist_s_box_with_its_mass_at_the_centre():
    drawing = np.zeros((200, 200), np.uint8)
    drawing[10:40, 150:165] = 255  # 30 high, 15 wide, in the top-right corner
    framed, how = reframe(drawing, MNIST_FRAMING)
    assert framed.shape == (28, 28, 1) and framed.dtype == np.uint8
    top, bottom, left, right = ink_box(framed, 20)
    assert bottom - top == 20 and right - left == 10  # the longer side 20, the aspect 2:1 kept
    cy, cx = centre_of_mass(framed)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5  # MNIST's centre of mass: pixel 14.0 (measured)
    assert "MNIST" in how and "centre of mass" in how


def test_mnist_framing_centres_the_mass_not_the_box():
    drawing = np.zeros((100, 100), np.uint8)
    drawing[10:14, 10:90] = 255  # a T's top bar
    drawing[10:90, 45:55] = 255  # and its thick stem: the mass lies above the box's centre
    framed, _ = reframe(drawing, MNIST_FRAMING)
    top, bottom, left, right = ink_box(framed, 20)
    cy, cx = centre_of_mass(framed)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    assert (top + bottom) / 2 >= 16  # so the box sits low in the frame


def test_a_lopsided_drawing_is_kept_inside_the_frame():
    drawing = np.zeros((100, 100), np.uint8)
    drawing[10:90, 84:90] = 255  # a long thin stem
    drawing[10:30, 10:90] = 255  # under a heavy bar: the mass too high to centre with the box inside the frame
    framed, _ = reframe(drawing, MNIST_FRAMING)
    top, bottom, left, right = ink_box(framed, 20)
    assert (top, bottom) == (8, 28) and right - left == 20  # as low as it goes, none of its ink cut off
    assert centre_of_mass(framed)[0] < 13  # its mass stays above the centre


def test_fashion_framing_fits_the_longer_side_to_28_and_centres_the_box():
    drawing = np.zeros((300, 300), np.uint8)
    drawing[200:260, 20:140] = 255  # a wide shoe, low on the left: 60 x 120
    framed, how = reframe(drawing, FASHION_FRAMING)
    top, bottom, left, right = ink_box(framed, 20)
    assert (left, right) == (0, 28) and bottom - top == 14  # 120 -> 28 wide, 60 -> 14 high
    assert (top + bottom) / 2 == 14  # centred
    assert "Fashion-MNIST" in how


def test_a_grey_background_is_made_black_and_the_ink_white():
    paper = np.full((120, 120), 70, np.uint8)  # a photo's dim background, light ink
    paper[30:90, 55:65] = 160
    framed, _ = reframe(paper, MNIST_FRAMING)
    assert framed[0, 0, 0] == 0 and framed.max() == 255


def test_nothing_to_frame_is_refused():
    with pytest.raises(ValueError, match="nothing drawn"):
        reframe(np.full((50, 50), 3, np.uint8))


def test_a_framed_drawing_framed_again_stays_as_it_is():
    once, _ = reframe(np.asarray(Image.open(io.BytesIO(canvas_seven())).convert("L")))
    twice, _ = reframe(once)
    assert np.abs(twice.astype(int) - once.astype(int)).mean() < 2  # of 255: a fixed point, to rounding


@pytest.mark.skipif(not (DATASETS / "MNIST" / "raw").is_dir(), reason="real MNIST is not on this machine")
def test_real_mnist_digits_are_framed_already_so_re_framing_leaves_them_as_they_are():
    from dcgan.data import load_dataset
    images = load_dataset("mnist", 28, 1, str(DATASETS), split="test").images[:50, 0].numpy()
    changed = [np.abs(reframe(image)[0][..., 0].astype(int) - image).mean() / 255 for image in images]
    # measured: 0 for the median digit, 0.0002 on average; moving a digit by one pixel changes 0.06
    assert np.median(changed) == 0 and np.mean(changed) < 0.005


@pytest.mark.skipif(not (DATASETS / "FashionMNIST" / "raw").is_dir(), reason="real Fashion-MNIST is not here")
def test_real_garments_mostly_keep_their_frame():
    from dcgan.data import load_dataset
    images = load_dataset("fashion-mnist", 28, 1, str(DATASETS), split="test").images[:50, 0].numpy()
    changed = [np.abs(reframe(image, FASHION_FRAMING)[0][..., 0].astype(int) - image).mean() / 255 for image in images]
    # measured: 0 for the median garment, 0.02 on average (a dim garment's levels stretched, a faint edge trimmed)
    assert np.median(changed) < 0.005 and np.mean(changed) < 0.05


def test_a_drawing_small_in_a_corner_is_framed_when_prepared_for_the_model():
    data = canvas_seven()
    plain = prepare_upload(data, 28, 1, background="dark")
    framed = prepare_upload(data, 28, 1, background="dark", framing=MNIST_FRAMING)
    assert ink_box(plain.image, 20)[1] < 14  # as drawn: in the top-left quarter
    top, bottom, left, right = ink_box(framed.image, 20)
    assert max(bottom - top, right - left) == 20
    cy, cx = centre_of_mass(framed.image)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    assert any("re-framed as MNIST" in n for n in framed.notes) and not plain.notes


def test_a_pencil_drawing_on_paper_is_inverted_then_framed():
    im = Image.new("L", (300, 200), 255)  # black on white, not square: the centre square is kept
    ImageDraw.Draw(im).line([(140, 60), (160, 60), (150, 140)], fill=0, width=10)
    buf = io.BytesIO()
    im.save(buf, "JPEG")
    prepared = prepare_upload(buf.getvalue(), 28, 1, background="dark", framing=MNIST_FRAMING)
    assert prepared.image[0, 0, 0] < 10 and prepared.image.max() == 255
    assert [n.split(":")[0] for n in prepared.notes] == ["inverted", "re-framed as MNIST's images were made"]


def test_an_empty_canvas_is_still_the_blank_message():
    black = Image.new("RGB", (280, 280), "black")
    buf = io.BytesIO()
    black.save(buf, "PNG")
    with pytest.raises(ValueError, match="the image is blank"):
        prepare_upload(buf.getvalue(), 28, 1, background="dark", framing=MNIST_FRAMING)


@pytest.mark.parametrize("size, channels, background", [(64, 1, "dark"), (28, 3, "dark"), (28, 1, None)])
def test_framing_is_refused_for_models_it_is_not_for(size, channels, background):
    with pytest.raises(ValueError, match="re-framing as MNIST is for 28 px grey models"):
        prepare_upload(canvas_seven(), size, channels, background=background, framing=MNIST_FRAMING)


@pytest.mark.skipif(not (SHIPPED / "fashion-mnist" / "generator.safetensors").is_file(), reason="no shipped models")
def test_each_shipped_model_gets_its_data_set_s_framing():
    from dcgan.runs.checkpoint import resolve_generator
    from dcgan.runs.rundir import RunDir
    mnist, fashion, faces = (RunDir(SHIPPED / n) for n in ("mnist", "fashion-mnist", "faces"))
    G = resolve_generator(mnist.path)
    assert target_framing(G, mnist) is MNIST_FRAMING
    assert target_framing(G, None) is MNIST_FRAMING  # a bare 28 px generator that draws on black: digits
    assert target_framing(resolve_generator(fashion.path), fashion) is FASHION_FRAMING
    assert target_framing(resolve_generator(faces.path), faces) is None
    top, bottom, left, right = ink_box(prepare_target(G, canvas_seven(), MNIST_FRAMING).image, 20)
    assert max(bottom - top, right - left) == 20
