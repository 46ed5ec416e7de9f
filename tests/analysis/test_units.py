"""Inside G (dcgan/analysis/units.py): known answers for switching units off, the ranking, regions, the class
effect, bad input, and that the caller's G is never changed."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from dcgan.analysis.units import (MAX_FIGURE_UNITS, check_units, class_units, generate_with_units_off, inside_view,
                                  layer_of, layers, parse_units, region_units, unit_grid, units_figure)
from dcgan.nets.models import Generator
from dcgan.sampling import generate, z_from_seed


@pytest.fixture(scope="module")
def G() -> Generator:
    torch.manual_seed(0)
    G = Generator(z_dim=16, image_size=28, channels=1, width=8, depth=1)
    # a few training-like BatchNorm statistics, so eval mode is not the identity
    G.train()
    with torch.no_grad():
        G(torch.randn(64, 16))
    return G.eval()


def test_layers_are_the_block_outputs_with_their_shapes(G):
    found = layers(G)
    # 28 px, depth 1: 7x7 block, its extra block, 14x14 block, its extra block
    assert [(l.channels, l.size) for l in found] == [(16, 7), (16, 7), (8, 14), (8, 14)]
    assert all(isinstance(G.main[l.module_index], torch.nn.ReLU) for l in found)
    assert [l.index for l in found] == [1, 2, 3, 4]


@pytest.mark.parametrize("layer", [1, 2, 3, 4])
def test_every_unit_off_makes_the_image_independent_of_z(G, layer):
    """The known answer: G's convolutions have no bias, so zeros into the next one give zeros out, which eval-mode
    BatchNorm maps to one constant whatever z was."""
    units = range(layer_of(G, layer).channels)
    a = generate_with_units_off(G, z_from_seed(1, 16)[0], layer, units)
    b = generate_with_units_off(G, z_from_seed(2, 16)[0], layer, units)
    assert torch.equal(a, b)
    # and with the most effective unit left on, z matters again
    some = [u for u in units if u != inside_view(G, z_from_seed(1, 16)[0], layer).order[0]]
    assert not torch.equal(generate_with_units_off(G, z_from_seed(1, 16)[0], layer, some),
                           generate_with_units_off(G, z_from_seed(2, 16)[0], layer, some))


def test_no_units_off_is_g_itself(G):
    z = z_from_seed(5, 16)
    view = inside_view(G, z[0], 2)
    assert np.array_equal(view.image, generate(G, z)[0])
    assert np.array_equal(view.ablated, view.image) and view.off == ()


def test_each_units_effect_is_the_change_it_makes_alone(G):
    z = z_from_seed(3, 16)[0]
    view = inside_view(G, z, 3)
    plain = generate_with_units_off(G, z, 3, [])
    for u in range(view.layer.channels):
        alone = generate_with_units_off(G, z, 3, [u])
        assert view.effect[u] == pytest.approx(float((alone - plain).norm()), rel=1e-5, abs=1e-6)
    assert view.order == sorted(range(8), key=lambda u: -view.effect[u])
    assert view.maps.shape == (8, 14, 14) and (view.maps >= 0).all()  # after the ReLU


def test_units_switched_off_together_are_the_ablated_image(G):
    z = z_from_seed(4, 16)[0]
    view = inside_view(G, z, 1, off=[3, 0, 3])
    assert view.off == (0, 3)
    together = generate_with_units_off(G, z, 1, [0, 3])
    assert np.array_equal(view.ablated, ((together[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255)
                          .to(torch.uint8).numpy())
    assert not np.array_equal(view.ablated, view.image)


def test_region_units_rank_by_the_change_inside_the_region(G):
    view = inside_view(G, z_from_seed(6, 16)[0], 2)
    box = (0, 0, 10, 12)  # top, left, bottom, right
    inside = view.change[:, 0:10, 0:12].reshape(16, -1).sum(1)
    assert region_units(view, box, 3) == list(np.argsort(-inside, kind="stable")[:3])
    # a region covering the whole image ranks as the whole-image effect does
    assert region_units(view, (0, 0, 28, 28), 16) == view.order
    for empty in [(5, 5, 5, 9), (10, 3, 4, 9), (30, 0, 40, 28)]:
        with pytest.raises(ValueError, match="region is empty"):
            region_units(view, empty, 3)
    with pytest.raises(ValueError, match="k must be"):
        region_units(view, box, 0)


def test_class_units_track_the_images_class(G):
    """A stand-in classifier: class 1 is 'bright' (mean pixel), so the units whose removal darkens the image most
    lower P(bright) most."""
    def label_fn(images):
        bright = torch.sigmoid(images.mean(dim=(1, 2, 3)) * 20).numpy()
        return np.stack([1 - bright, bright], axis=1)

    z = z_from_seed(7, 16)[0]
    effect = class_units(G, z, 2, label_fn, ["dark", "bright"], top=16)
    assert effect.target == "bright"  # two classes: always the second (the faces' smile)
    plain = generate_with_units_off(G, z, 2, [])
    assert effect.score == pytest.approx(float(label_fn(plain)[0, 1]))
    for row in effect.units:
        alone = label_fn(generate_with_units_off(G, z, 2, [row.unit]))[0, 1]
        assert row.score == pytest.approx(float(alone), rel=1e-5)
        assert row.drop == pytest.approx(effect.score - row.score, abs=1e-9)
    assert [r.drop for r in effect.units] == sorted((r.drop for r in effect.units), reverse=True)
    # ten classes: the tracked one is the image's own
    ten = class_units(G, z, 2, lambda x: np.tile(np.eye(10)[4], (x.shape[0], 1)), [str(i) for i in range(10)])
    assert ten.target == "4" and ten.label == "4" and len(ten.units) == 10


def test_bad_input_is_one_line(G):
    with pytest.raises(ValueError, match=r"layer 5 is outside 1..4"):
        layer_of(G, 5)
    with pytest.raises(ValueError, match=r"layer 0 is outside"):
        inside_view(G, z_from_seed(0, 16)[0], 0)
    with pytest.raises(ValueError, match=r"unit 16 is outside 0..15"):
        check_units(layer_of(G, 1), [1, 16])
    with pytest.raises(ValueError, match=r"unit -1 is outside"):
        inside_view(G, z_from_seed(0, 16)[0], 1, off=[-1])
    with pytest.raises(ValueError, match="whole numbers"):
        parse_units("3, seven")
    assert parse_units(" 3,7  12 ") == [3, 7, 12] and parse_units("") == []
    with pytest.raises(ValueError, match="this generator takes 16"):
        inside_view(G, np.zeros(10), 1)


def test_the_callers_g_is_never_changed(G):
    before = copy.deepcopy(G.state_dict())
    trained = copy.deepcopy(G).train()
    inside_view(G, z_from_seed(0, 16)[0], 2, off=[1])
    inside_view(trained, z_from_seed(0, 16)[0], 2)
    assert trained.training and not G.training
    assert not G.main[layer_of(G, 2).module_index]._forward_hooks
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())


def test_the_figure_frames_the_units_off(G):
    view = inside_view(G, z_from_seed(0, 16)[0], 1, off=[view_unit := 2])
    grid = unit_grid(view, units=[view_unit, 5], columns=2, cell_px=28)
    red = (grid[..., 0] > 200) & (grid[..., 1] < 40) & (grid[..., 2] < 40)
    half = grid.shape[1] // 2
    assert red[:, :half].any() and not red[:, half:].any()  # the frame is round unit 2's cell only
    figure = units_figure(view)
    assert figure.ndim == 3 and figure.shape[2] == 3 and figure.shape[1] >= grid.shape[1]
    yellow = lambda im: (im[..., 0] > 200) & (im[..., 1] > 150) & (im[..., 2] < 60)  # noqa: E731
    assert not yellow(figure).any()
    boxed = units_figure(view, box=(2, 3, 10, 20))
    ys, xs = np.nonzero(yellow(boxed))
    scale = 168 // 28
    # outlined on G(z) (the left image, from x = 10, y = 22), round rows 2..9 and columns 3..19
    assert (xs.min(), xs.max()) == (10 + 3 * scale, 10 + 20 * scale - 1)
    assert (ys.min(), ys.max()) == (22 + 2 * scale, 22 + 10 * scale - 1)
    assert len(view.order[:MAX_FIGURE_UNITS]) == 16
