"""The evaluator end to end: known answers on real data (skipped without it), folder runs without a
classifier, and evaluation during training. Metric functions alone are in test_metrics.py."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.runs.checkpoint import export_generator
from dcgan.config import ModelConfig, TrainConfig
from dcgan.data import torchvision_files_present, load_dataset
from dcgan.evaluation.classifier import EVALUATOR_DIR, classifier_path, load_classifier
from dcgan.evaluation.evaluate import compare, evaluate_model
from dcgan.evaluation.embedding import embed
from dcgan.evaluation.report import format_report, load_report
from dcgan.evaluation.nearest import nearest_neighbour_strip
from dcgan.evaluation.metrics import class_shares, memorisation
from dcgan.nets.models import Generator
from dcgan.runs.files import atomic_write_json
from dcgan.runs.rundir import RunDir
from dcgan.training.loop import train


ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "datasets"

needs_mnist = pytest.mark.skipif(
    not torchvision_files_present("mnist", SHARED) or not (EVALUATOR_DIR / "mnist.safetensors").is_file(),
    reason="needs real MNIST (../shared/datasets) and the shipped evaluator")


def _write_generator_run(run_dir: Path, cfg: dict, seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    G = Generator(cfg["z_dim"], cfg["image_size"], cfg["channels"], cfg["g_width"])
    export_generator(run_dir / "generator.safetensors", run_dir / "generator.json", G,
                     ModelConfig(cfg["image_size"], cfg["channels"], cfg["z_dim"], cfg["g_width"], 4),
                     extra={"step": 0})
    atomic_write_json(run_dir / "config.json", cfg)
    return G


def test_folder_run_gets_pixel_memorisation_without_a_classifier(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    protos = rng.integers(0, 256, size=(4, 16, 16))
    for i in range(80):  # noisy variants of four pictures: neighbours exist, copies do not
        image = np.clip(protos[i % 4] + rng.normal(0, 30, size=(16, 16)), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    cfg = TrainConfig(run_name="f", dataset="folder", image_folder=str(folder), image_size=32, channels=1,
                      z_dim=8, g_width=8, holdout=0.3).to_dict()
    run = tmp_path / "run"
    run.mkdir()
    _write_generator_run(run, cfg)
    report = evaluate_model(run, samples=100)
    assert "generated" not in report and set(report["memorisation"]) == {"pixels"}
    pixels = report["memorisation"]["pixels"]
    assert not pixels["memorised"] and pixels["test_samples"] >= 4
    assert "memorisation (pixels)" in format_report(report)
    # the held-out share is what training never sees: the train split alone is the copy target
    train_split = load_dataset("folder", 32, 1, image_folder=str(folder), split="train", holdout=0.3).images
    test_split = load_dataset("folder", 32, 1, image_folder=str(folder), split="test", holdout=0.3).images
    assert memorisation(train_split[:10], train_split, test_split).memorised
    strip = nearest_neighbour_strip(Generator(8, 32, 1, 8), train_split, count=4)
    assert strip.image.shape[1] > strip.image.shape[0] and len(strip.distances) == 4


@pytest.fixture(scope="module")
def mnist():
    classifier = load_classifier(classifier_path("mnist"))
    train = load_dataset("mnist", 28, 1, str(SHARED), split="train")
    test = load_dataset("mnist", 28, 1, str(SHARED), split="test")
    return classifier, train, test


@needs_mnist
def test_real_vs_real_is_the_floor_and_one_digit_is_collapse(mnist):
    classifier, train, test = mnist
    shares = class_shares(test.labels, 10)
    ref = embed(classifier, test.images[:2000], "mnist")
    floor = compare(embed(classifier, train.images[:500], "mnist"), ref, "mnist", shares)
    other = compare(embed(classifier, train.images[500:1000], "mnist"), ref, "mnist", shares)
    assert floor["classes_covered"] == other["classes_covered"] == 10
    assert other["fid"] < 2 * floor["fid"] + 0.5 and other["precision"] > 0.8 and other["recall"] > 0.8
    # a generator that only ever draws one (real) 7
    seven = train.images[(train.labels == 7).nonzero()[0, 0]]
    collapsed = compare(embed(classifier, seven.expand(500, -1, -1, -1), "mnist"), ref, "mnist", shares)
    assert collapsed["classes_covered"] == 1 and collapsed["class_share"][7] == 1.0
    assert collapsed["fid"] > 20 * floor["fid"] and collapsed["recall"] < 0.05


@pytest.mark.slow
@needs_mnist
def test_copies_of_the_training_set_are_flagged_memorised(mnist):
    classifier, train, test = mnist
    copies, unseen = train.images[:300], test.images[:300]
    assert memorisation(copies, train.images, test.images[300:700]).memorised
    assert not memorisation(unseen, train.images, test.images[300:700]).memorised
    train_feats = embed(classifier, train.images[:5000], "mnist").features
    assert memorisation(train_feats[:300], train_feats, embed(classifier, test.images[:400], "mnist").features).memorised


@pytest.mark.slow
@needs_mnist
def test_stacked_mnist_modes_from_constructed_images(mnist):
    classifier, train, test = mnist
    stacked = load_dataset("stacked-mnist", 28, 3, str(SHARED), seed=0, split="test")
    emb = embed(classifier, stacked.images[:2000], "stacked-mnist")
    assert (emb.labels == stacked.labels[:2000].numpy()).mean() > 0.95  # three digits right, per image
    ref = embed(classifier, stacked.images[2000:4000], "stacked-mnist")
    real = compare(emb, ref, "stacked-mnist", np.full(1000, 1e-3))
    assert real["modes_covered"] > 800  # 2000 draws from 1000 modes cover ~865
    one_mode = compare(embed(classifier, stacked.images[:1].expand(500, -1, -1, -1), "stacked-mnist"), ref,
                       "stacked-mnist", np.full(1000, 1e-3))
    assert one_mode["modes_covered"] == 1 and one_mode["modes_kl"] > 6


@pytest.mark.slow
@needs_mnist
def test_untrained_generator_scores_badly(tmp_path):
    cfg = TrainConfig(run_name="u", dataset="mnist", data_root=str(SHARED), channels=1).to_dict()
    _write_generator_run(tmp_path, cfg)
    # memorisation's end-to-end path is the folder test's; here it would embed all 60,000 train images
    report = evaluate_model(tmp_path, samples=300, check_memorisation=False)
    gen, real = report["generated"], report["real"]
    assert real["classes_covered"] == 10 and real["confident_fraction"] > 0.9
    assert gen["fid"] > 10 * real["fid"] and gen["precision"] < 0.2
    assert report["step"] == 0 and "memorisation" not in report


@needs_mnist
def test_training_with_evaluation_appends_eval_jsonl(tmp_path):
    cfg = TrainConfig(run_name="e", dataset="mnist", data_root=str(SHARED), steps=4, batch_size=16,
                      g_width=8, d_width=8, snapshot_every=2, checkpoint_every=2, eval_every=2, eval_samples=100)
    assert train(cfg, tmp_path, progress=False, log=lambda s: None) == "finished"
    records = RunDir(tmp_path / "e").evaluations()
    assert [r["step"] for r in records] == [0, 2, 4]
    assert all(r["floor"]["classes_covered"] == 10 and r["fid"] > r["floor"]["fid"] for r in records)
    json.dumps(records)


@needs_mnist
@pytest.mark.skipif(not (ROOT / "checkpoints" / "mnist" / "generator.safetensors").is_file(),
                    reason="shipped MNIST model not present")
@pytest.mark.slow
def test_shipped_mnist_model_covers_every_digit_and_its_report_is_shipped():
    report = evaluate_model(ROOT / "checkpoints" / "mnist", samples=1000, data_root=str(SHARED),
                            check_memorisation=False)
    gen, real = report["generated"], report["real"]
    assert gen["classes_covered"] == 10 and min(gen["class_share"]) > 0.03
    assert real["fid"] < gen["fid"] < 20 * real["fid"] + 5
    assert gen["precision"] > 0.5 and gen["recall"] > 0.3
    shipped = load_report(ROOT / "checkpoints" / "mnist")
    assert shipped["generated"]["classes_covered"] == 10 and "real" in shipped and "memorisation" in shipped
