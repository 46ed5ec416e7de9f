"""The evaluator: its figures behave on known inputs, and it tells a trained generator from noise."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dcgan.config import ModelConfig
from dcgan.checkpoint import export_generator
from dcgan.evaluate import EVALUATOR_DIR, evaluate_model, frechet_distance, score
from dcgan.models import Generator

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
NAMES = [str(i) for i in range(10)]


def test_frechet_distance_known_values():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 8))
    b = rng.normal(size=(4000, 8))
    assert frechet_distance(a, b) < 0.1
    # shifting every feature by 2 adds 8 * 2^2 = 32; doubling the spread adds 8 * (2-1)^2 = 8
    assert abs(frechet_distance(a, b + 2) - 32) < 1.0
    assert abs(frechet_distance(a, 2 * b) - 8) < 1.0


def test_score_separates_coverage_from_collapse():
    feats = torch.randn(1000, 16)
    even = torch.eye(10).repeat(100, 1) * 0.99 + 0.001
    s = score(even, feats, feats, NAMES)
    assert s["classes_covered"] == 10 and s["confident_fraction"] == 1.0
    assert s["classifier_score"] > 9 and abs(s["class_entropy_bits"] - np.log2(10)) < 1e-3
    collapsed = torch.zeros(1000, 10)
    collapsed[:, 3] = 1
    s = score(collapsed, feats, feats, NAMES)
    assert s["classes_covered"] == 1 and s["classifier_score"] < 1.01 and s["class_share"]["3"] == 1.0
    unsure = torch.full((1000, 10), 0.1)
    assert score(unsure, feats, feats, NAMES)["confident_fraction"] == 0.0


needs_data = pytest.mark.skipif(
    not (SHARED / "MNIST" / "raw").is_dir() or not (EVALUATOR_DIR / "mnist.safetensors").is_file(),
    reason="needs real MNIST (../shared/datasets) and the shipped evaluator")


@needs_data
def test_untrained_generator_scores_badly(tmp_path):
    torch.manual_seed(0)
    G = Generator(100, 28, 1, 64)
    export_generator(tmp_path / "g.safetensors", tmp_path / "g.json", G, ModelConfig(28, 1, 100, 64, 4))
    report = evaluate_model(tmp_path / "g.safetensors", samples=500, dataset="mnist", data_root=str(SHARED))
    gen, real = report["generated"], report["real_reference"]
    assert real["confident_fraction"] > 0.9 and real["classes_covered"] == 10
    assert gen["frechet_distance"] > 10 * real["frechet_distance"]


@needs_data
@pytest.mark.skipif(not (ROOT / "checkpoints" / "mnist" / "generator.safetensors").is_file(),
                    reason="shipped MNIST model not present")
def test_shipped_mnist_model_makes_digits_of_every_class():
    report = evaluate_model(ROOT / "checkpoints" / "mnist", samples=2000, data_root=str(SHARED))
    gen, real = report["generated"], report["real_reference"]
    # every digit appears, none starved; measured at 16,000 steps: score 5.7 (real 9.1, untrained 1.0),
    # Frechet distance 1.6 (real 0.12, untrained 221), 51 % confidently one digit (real 95 %)
    assert gen["classes_covered"] == 10
    assert min(gen["class_share"].values()) > 0.03
    assert gen["classifier_score"] > 4.5
    assert gen["frechet_distance"] < 5 and gen["frechet_distance"] > real["frechet_distance"]
    assert gen["confident_fraction"] > 0.35
