"""Directions in z (SeFa, labelled boundaries, local J^T J) and sensitivity, on cases with known answers."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from dcgan.analysis.directions import Directions, directions_path, load_directions, move, save_directions, sefa, strip
from dcgan.analysis.labelled import NoClassifierError, binary_direction, classifier_label_fn, direction_effect, labelled_directions
from dcgan.sampling import generate
from dcgan.nets.models import Generator
from dcgan.analysis.sensitivity import heatmap, heatmap_image, jacobian, local_directions, sensitivity


# torch's first forward-mode AD call scripts its JVP decompositions with the deprecated torch.jit.script
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")

ROOT = Path(__file__).resolve().parents[2]
MNIST_RUN = ROOT / "checkpoints" / "mnist"
MNIST_CLASSIFIER = ROOT / "checkpoints" / "evaluators" / "mnist.safetensors"


def small_G(seed: int = 0, z_dim: int = 16) -> Generator:
    """A tiny seeded G in eval mode whose BatchNorm statistics come from a batch of its own
    activations, so eval-mode outputs look like trained-mode ones (not BatchNorm's 0 / 1 defaults)."""
    torch.manual_seed(seed)
    G = Generator(z_dim=z_dim, image_size=28, channels=1, width=8)
    for m in G.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average: one batch sets the running statistics
    with torch.no_grad():
        G.train()(torch.randn(256, z_dim, generator=torch.Generator().manual_seed(seed)))
    return G.eval()


class ZImage(nn.Module):
    """A 'generator' whose image is its z, squashed into [-1, 1] as a 1 x 4 x 4 picture: label
    functions can read z back from the image, so a class can be any function of z we choose."""

    def __init__(self, z_dim: int = 16):
        super().__init__()
        self.z_dim, self.image_size, self.channels = z_dim, 4, 1
        self.scale = nn.Parameter(torch.tensor(4.0), requires_grad=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z / self.scale).view(-1, 1, 4, 4)

    def decode(self, images: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.atanh(images.reshape(len(images), -1).clamp(-1 + 1e-6, 1 - 1e-6))


def threshold_labels(G: ZImage, score):
    """label_fn: class 1 where score(z) > 0 (a soft two-class softmax, sharpness 4)."""
    def label_fn(images):
        s = 4 * score(G.decode(images))
        return torch.stack([-s, s], 1).softmax(1)
    return label_fn


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))



def test_sefa_vectors_are_orthonormal_and_sorted():
    d = sefa(small_G())
    assert d.vectors.shape == (16, 16) and d.vectors.dtype == np.float32 and d.method == "sefa"
    assert np.allclose(d.vectors @ d.vectors.T, np.eye(16), atol=1e-5)
    assert d.scores == sorted(d.scores, reverse=True) and d.names[0] == "SeFa 1"
    top = sefa(small_G(), k=3)
    assert len(top) == 3 and np.allclose(top.vectors, d.vectors[:3])
    with pytest.raises(ValueError, match="k must be"):
        sefa(small_G(), k=17)


def test_first_sefa_direction_moves_the_first_feature_map_most():
    G = small_G(1)
    d = sefa(G)
    layer = G.main[0]

    def change(v) -> float:  # the first layer is linear: |A v|
        with torch.no_grad():
            return layer(torch.as_tensor(v, dtype=torch.float32).view(1, -1, 1, 1)).norm().item()

    g = torch.Generator().manual_seed(0)
    randoms = [torch.randn(16, generator=g) for _ in range(8)]
    random = [change(r / r.norm()) for r in randoms]
    # a random init's A^T A is nearly isotropic, so the margin is small, but the order is certain
    assert change(d.vectors[0]) > max(random) > np.mean(random) > min(random) > change(d.vectors[-1])
    assert change(d.vectors[0]) ** 2 == pytest.approx(d.scores[0], rel=1e-4)  # the eigenvalue is |A v|^2


def test_sefa_finds_the_only_component_with_weight():
    G = small_G(2)
    with torch.no_grad():
        w = G.main[0].weight
        keep = w[3].clone()
        w.zero_()
        w[3] = keep
    for normalize in (False, True):
        d = sefa(G, k=2, normalize=normalize)
        assert np.allclose(d.vectors[0], np.eye(16)[3], atol=1e-6)  # signs are fixed: +e_3, not -e_3
        assert d.scores[1] == pytest.approx(0.0, abs=1e-9)
    assert sefa(G).scores[0] == pytest.approx(float((keep.double() ** 2).sum()), rel=1e-6)



def test_labelled_direction_recovers_a_linear_class_boundary():
    G = ZImage()
    d = labelled_directions(G, threshold_labels(G, lambda z: z[:, 0]), ["low", "high"], samples=2000, seed=0)
    assert d.method == "labels" and d.names == ["toward low", "toward high"]
    assert cosine(d.vector("toward high"), np.eye(16)[0]) > 0.9
    assert cosine(d.vector("toward low"), -np.eye(16)[0]) > 0.9
    assert min(d.scores) > 0.9 and d.score_name == "held-out balanced accuracy"
    assert d.metadata["samples"] == 2000 and d.metadata["skipped"] == {}


def test_toward_a_class_raises_its_probability_on_held_out_z():
    G = ZImage()
    label_fn = threshold_labels(G, lambda z: z[:, 0] + z[:, 1])
    d = labelled_directions(G, label_fn, ["no", "yes"], samples=2000, seed=0)
    assert cosine(d.vector("toward yes"), (np.eye(16)[0] + np.eye(16)[1]) / np.sqrt(2)) > 0.9
    p = direction_effect(label_fn, G, d.vector("toward yes"), 1, [-2, -1, 0, 1, 2], samples=400, seed=99)
    assert np.all(np.diff(p) > 0) and p[0] < 0.2 and p[-1] > 0.8


def test_binary_direction_for_a_yes_no_attribute():
    G = ZImage()

    def smile(images):  # p(smile) from a linear score in z
        return torch.sigmoid(4 * (G.decode(images)[:, 3] - G.decode(images)[:, 4] - 0.3))

    d = binary_direction(G, smile, "smile", samples=2000)
    assert d.names == ["smile"] and len(d) == 1
    assert cosine(d.vectors[0], (np.eye(16)[3] - np.eye(16)[4]) / np.sqrt(2)) > 0.9 and d.scores[0] > 0.9


def test_degenerate_labels_give_a_clear_message():
    G = ZImage()
    one_class = lambda images: torch.tensor([[0.9, 0.1]]).repeat(len(images), 1)
    with pytest.raises(ValueError, match="all 500 samples in one class"):
        labelled_directions(G, one_class, ["a", "b"], samples=500)
    with pytest.raises(ValueError, match="says no to 'smile' for all"):
        binary_direction(G, lambda images: torch.zeros(len(images)), "smile", samples=500)

    # class "rare" (z_0 > 3: about 0.1 % of z) cannot be fitted; the other two still are
    def three(images):
        z = G.decode(images)
        p = torch.full((len(z), 3), 0.01)
        p[:, 0] += z[:, 1] <= 0
        p[:, 1] += z[:, 1] > 0
        p[:, 2] += 10 * (z[:, 0] > 3)
        return p
    d = labelled_directions(G, three, ["left", "right", "rare"], samples=1000)
    assert d.names == ["toward left", "toward right"]
    assert "rare" in d.metadata["skipped"] and "at least 10" in d.metadata["skipped"]["rare"]
    with pytest.raises(ValueError, match="no class could be fitted: rare: only"):
        labelled_directions(G, three, ["left", "right", "rare"], samples=1000, only=[2])
    with pytest.raises(ValueError, match="3 probabilities per image; 2 class names"):
        labelled_directions(G, three, ["left", "right"], samples=1000)


def test_labelled_directions_refuse_datasets_without_a_classifier():
    with pytest.raises(NoClassifierError, match="need a classifier for this dataset; SeFa and sensitivity still"):
        classifier_label_fn("synthetic")
    with pytest.raises(NoClassifierError, match="no evaluator knows this folder's labels \\(cats, dogs\\)"):
        classifier_label_fn("folder", ("cats", "dogs"))



def test_move_and_strip():
    G = small_G()
    z = torch.randn(16, generator=torch.Generator().manual_seed(5))
    d = 3 * np.eye(16)[2]  # not unit: move normalises it
    assert torch.allclose(move(z, d, 1.5) - z, torch.as_tensor(1.5 * np.eye(16)[2], dtype=torch.float32))
    path = move(z, d, [-1, 0, 1])
    assert path.shape == (3, 16) and torch.allclose(path[1], z)
    images = strip(G, z, d, low=-2, high=2, columns=5)
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.uint8
    assert np.array_equal(images[0], generate(G, move(z, d, -2.0).view(1, -1))[0])
    with pytest.raises(ValueError, match="non-zero"):
        move(z, np.zeros(16), 1.0)



def test_directions_file_round_trip_and_refusals(tmp_path):
    d = sefa(small_G(), k=4)
    path = save_directions(directions_path(tmp_path, "sefa"), d)
    assert path == tmp_path / "directions_sefa.json" and path.stat().st_size < 5000
    back = load_directions(path, 16)
    assert back.names == d.names and back.method == "sefa" and back.metadata == d.metadata
    assert np.allclose(back.vectors, d.vectors, atol=1e-6) and np.allclose(back.scores, d.scores, rtol=1e-5)

    def refused(text: str, z_dim: int = 16) -> str:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ValueError) as e:
            load_directions(bad, z_dim)
        assert "\n" not in str(e.value)
        return str(e.value)

    good = json.loads(path.read_text())
    assert "made for z_dim 16; this generator takes 100" in refused(path.read_text(), z_dim=100)
    assert "not JSON" in refused("{not json")
    assert "not a directions file" in refused("[1, 2]")
    nan_row = [float("nan")] + good["vectors"][0][1:]
    assert "NaN" in refused(json.dumps({**good, "vectors": [nan_row] + good["vectors"][1:]}))
    assert "NaN" in refused(json.dumps({**good, "scores": [float("inf")] + good["scores"][1:]}))
    assert "vectors must be" in refused(json.dumps({**good, "vectors": [row[:-1] for row in good["vectors"]]}))
    assert "4 vectors need as many names" in refused(json.dumps({**good, "names": ["a"]}))
    assert "cannot read" in str(pytest.raises(ValueError, load_directions, tmp_path / "missing.json", 16).value)
    with pytest.raises(ValueError, match="method must be"):
        directions_path(tmp_path, "../x")
    with pytest.raises(ValueError, match="finite JSON"):
        save_directions(tmp_path / "x.json", Directions(d.vectors, d.names, d.scores, "sefa", 16,
                                                        {"bad": float("nan")}))



def ignoring_G(component: int = 5) -> Generator:
    G = small_G(3)
    with torch.no_grad():
        G.main[0].weight[component] = 0  # z_component reaches nothing
    return G


def test_sensitivity_of_an_ignored_component_is_zero_and_methods_agree():
    G = ignoring_G(5)
    z = torch.randn(16, generator=torch.Generator().manual_seed(0))
    exact, fd = sensitivity(G, z, "autograd"), sensitivity(G, z, "fd")
    assert exact.shape == (16,) and exact[5] == 0.0
    assert fd[5] <= 1e-6 * fd.max()  # z + eps e_5 gives the same image (0 in practice)
    others = np.arange(16) != 5
    assert (exact[others] > 0).all()
    assert np.allclose(fd, exact, rtol=0.05, atol=1e-3 * exact.max())
    G.train()
    sensitivity(G, z)
    assert G.training  # computed in eval mode, the caller's mode put back


def test_heatmap_of_an_ignored_component_is_all_zero():
    G = ignoring_G(5)
    z = torch.randn(16, generator=torch.Generator().manual_seed(1))
    for eps in (None, 1e-2):
        h = heatmap(G, z, 5, eps=eps)
        assert h.shape == (28, 28) and np.isfinite(h).all() and not h.any()
    h = heatmap(G, z, 2)  # central differences
    assert h.max() == pytest.approx(1.0) and h.min() >= 0
    assert np.allclose(heatmap(G, z, 2, eps=None), h, atol=0.05)  # exact (forward-mode AD)
    assert np.allclose(heatmap(G, z, np.eye(16)[2] * 7), h, atol=1e-5)  # a direction, normalised
    rgb = heatmap_image(h)
    assert rgb.shape == (28, 28, 3) and rgb.dtype == np.uint8
    image = generate(G, z.view(1, -1))[0]
    over = heatmap_image(np.zeros((28, 28)), image)
    assert np.array_equal(over, np.repeat(image, 3, axis=2))  # no heat: the image itself


def test_local_directions_are_orthonormal_and_maximise_image_change():
    G = small_G(4)
    z = torch.randn(16, generator=torch.Generator().manual_seed(2))
    d = local_directions(G, z, k=5, method="autograd")
    assert d.method == "local" and d.vectors.shape == (5, 16) and len(d.metadata["z"]) == 16
    assert np.allclose(d.vectors @ d.vectors.T, np.eye(5), atol=1e-5)
    J = jacobian(G, z, "autograd").double()
    v = torch.as_tensor(d.vectors, dtype=torch.float64)
    assert (J @ v[0]).norm().item() ** 2 == pytest.approx(d.scores[0], rel=1e-3)
    # the default, finite differences: a top direction as good (a random G's top eigenvalues are
    # close together, so the vector itself may turn within their span)
    fd = torch.as_tensor(local_directions(G, z, k=5).vectors[0], dtype=torch.float64)
    assert (J @ fd).norm().item() ** 2 > 0.97 * d.scores[0]
    assert d.scores[0] >= sensitivity(G, z, "autograd").max() ** 2 * (1 - 1e-6)  # beats every single component



@pytest.mark.skipif(not ((MNIST_RUN / "generator.safetensors").is_file() and MNIST_CLASSIFIER.is_file()),
                    reason="needs the shipped checkpoints/mnist model and checkpoints/evaluators/mnist.safetensors")
def test_toward_7_on_the_shipped_mnist_model():
    from dcgan.runs.checkpoint import resolve_generator
    G = resolve_generator(MNIST_RUN)
    label_fn, classes = classifier_label_fn("mnist")
    d = labelled_directions(G, label_fn, classes, samples=2000, seed=0, only=[7])
    print(f"toward 7: held-out balanced accuracy {d.scores[0]:.3f}, accuracy {d.metadata['accuracy'][0]:.3f}")
    assert d.names == ["toward 7"] and d.scores[0] > 0.7
    assert d.metadata["classifier"] == "evaluators/mnist.safetensors"
    p = direction_effect(label_fn, G, d.vectors[0], 7, [0, 1.5, 3], samples=200, seed=12345)
    assert np.all(np.diff(p) > 0) and p[-1] > p[0] + 0.3
