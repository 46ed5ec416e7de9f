"""GAN quality metrics on inputs with known answers: tiny arrays, no data sets, no timing."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dcgan.config import ConfigError, TrainConfig
from dcgan.evaluation.embedding import Embedding
from dcgan.evaluation.evaluate import collapse_warnings, compare
from dcgan.evaluation.report import format_report, load_report, save_report
from dcgan.evaluation.metrics import class_coverage, frechet_distance, kl_divergence, knn_radii, memorisation, nearest, precision_recall, stacked_mnist_modes
from dcgan.runs.rundir import RunDir


UNIFORM10 = np.full(10, 0.1)


def test_kl_divergence_known_values():
    assert kl_divergence(UNIFORM10, UNIFORM10) == pytest.approx(0.0)
    one_class = np.eye(10)[3]
    assert kl_divergence(one_class, UNIFORM10) == pytest.approx(np.log(10))
    # classes never generated add nothing; a class the reference lacks is heavily penalised, not infinite
    assert kl_divergence([0.5, 0.5, 0], [0.25, 0.25, 0.5]) == pytest.approx(np.log(2))
    assert 10 < kl_divergence([1, 0], [0, 1]) < 100


def test_class_coverage_of_even_and_collapsed_labels():
    even = class_coverage(np.arange(1000) % 10, 10, UNIFORM10)
    assert even["classes_covered"] == 10 and even["class_kl"] == pytest.approx(0.0)
    collapsed = class_coverage(np.full(1000, 7), 10, UNIFORM10)
    assert collapsed["classes_covered"] == 1 and collapsed["class_share"][7] == 1.0
    assert collapsed["class_kl"] == pytest.approx(np.log(10), abs=1e-3)
    # 1 % of samples in a class is a stray, not coverage (threshold 2 %)
    labels = np.r_[np.full(990, 0), np.full(10, 1)]
    assert class_coverage(labels, 10, UNIFORM10)["classes_covered"] == 1


def test_stacked_mnist_mode_counting():
    every = np.array([[m // 100, m // 10 % 10, m % 10] for m in range(1000)])
    full = stacked_mnist_modes(np.tile(every, (3, 1)))
    assert full["modes_covered"] == 1000 and full["modes_kl"] == pytest.approx(0.0, abs=1e-9)
    one = stacked_mnist_modes(np.tile([[1, 2, 3]], (500, 1)))
    assert one["modes_covered"] == 1 and one["modes_kl"] == pytest.approx(np.log(1000), abs=1e-3)
    # ten modes evenly: KL = log(1000 / 10); channel order matters (123 and 321 are different modes)
    ten = np.array([[d, d, d] for d in range(10)] * 7)
    assert stacked_mnist_modes(ten) == {"modes_covered": 10, "modes_kl": pytest.approx(np.log(100), abs=1e-3),
                                        "samples": 70}
    assert stacked_mnist_modes([[1, 2, 3], [3, 2, 1]])["modes_covered"] == 2


def test_frechet_distance_known_values():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4000, 8)), rng.normal(size=(4000, 8))
    assert frechet_distance(a, b) < 0.1
    # shifting every feature by 2 adds 8 * 2^2 = 32; doubling the spread adds 8 * (2-1)^2 = 8
    assert frechet_distance(a, b + 2) == pytest.approx(32, abs=1.0)
    assert frechet_distance(a, 2 * b) == pytest.approx(8, abs=1.0)


def test_nearest_finds_exact_copies_and_distances():
    rng = np.random.default_rng(1)
    train = rng.integers(0, 256, size=(50, 1, 6, 6), dtype=np.uint8)
    idx, dist = nearest(train[[4, 9, 4]], train)
    assert idx.tolist() == [4, 9, 4] and np.allclose(dist, 0)
    # one pixel off by 255 is distance 1 in [0, 1] units
    moved = train[[2]].copy()
    moved[0, 0, 0, 0] = 255 - moved[0, 0, 0, 0] if moved[0, 0, 0, 0] < 128 else 0
    idx, dist = nearest(moved, train)
    assert idx[0] == 2 and dist[0] == pytest.approx(abs(int(moved[0, 0, 0, 0]) - int(train[2, 0, 0, 0])) / 255,
                                                    rel=1e-5)


def test_knn_radii_on_a_line():
    x = np.arange(10, dtype=np.float32)[:, None]  # points 0..9 on a line
    r = knn_radii(x, k=3)
    assert r[0] == 3 and r[9] == 3 and r[5] == 2  # the 3rd neighbour of 5 is 3 or 7
    with pytest.raises(ValueError):
        knn_radii(x[:3], k=3)


def test_precision_recall_on_known_overlap():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(400, 2))
    same = precision_recall(real, rng.normal(size=(400, 2)))
    assert same["precision"] > 0.85 and same["recall"] > 0.85
    far = precision_recall(real, rng.normal(size=(400, 2)) + 50)
    assert far == {"precision": 0.0, "recall": 0.0}
    # a collapsed generator: every sample near the real mean is realistic (precision ~1) but covers
    # only the middle of the data (recall small)
    collapsed = precision_recall(real, rng.normal(size=(400, 2)) * 0.05)
    assert collapsed["precision"] > 0.9 and collapsed["recall"] < 0.2
    # half the fakes on the data, half far away: precision ~0.5, recall stays high
    half = precision_recall(real, np.r_[rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 50])
    assert 0.4 < half["precision"] < 0.6 and half["recall"] > 0.7


def _toy_images(n: int, seed: int) -> np.ndarray:
    """Noisy variations of 5 prototypes: distinct images that still have near neighbours."""
    rng = np.random.default_rng(seed)
    protos = np.random.default_rng(99).integers(0, 256, size=(5, 1, 8, 8))
    noise = rng.normal(0, 30, size=(n, 1, 8, 8))
    return np.clip(protos[rng.integers(0, 5, n)] + noise, 0, 255).astype(np.uint8)


def test_memorisation_flags_copies_of_the_training_set():
    train, test = _toy_images(300, 0), _toy_images(400, 1)
    copies = memorisation(train[:100], train, test)
    assert copies.memorised and copies.near_copy_share == 1.0 and copies.median_ratio == pytest.approx(0)
    assert copies.nearest_index.tolist() == list(range(100))
    fresh = memorisation(_toy_images(100, 2), train, test)  # new draws, like unseen real images
    assert not fresh.memorised and 0.8 < fresh.median_ratio < 1.25 and fresh.near_copy_share < 0.05
    summary = fresh.summary()
    # the floor: unseen real images, measured the same way (1 % near-copies by construction, noisy here)
    assert 0.8 < summary["floor_median_ratio"] < 1.25 and summary["floor_near_copy_share"] < 0.05
    json.dumps(summary)  # plain types only: it goes into eval.json


def test_memorisation_works_on_features_and_needs_held_out_images():
    rng = np.random.default_rng(3)
    train, test = rng.normal(size=(200, 16)).astype(np.float32), rng.normal(size=(50, 16)).astype(np.float32)
    assert memorisation(train[:20] + 1e-4, train, test).memorised
    with pytest.raises(ValueError, match="held-out"):
        memorisation(train[:5], train, test[:3])


def _embedding(labels: np.ndarray, centre: float, seed: int) -> Embedding:
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(len(labels), 4)) + np.eye(10, 4)[labels] * 4 + centre
    return Embedding(labels, feats, np.eye(10)[labels] * 0.95 + 0.005)


def test_compare_real_vs_real_is_the_floor_and_a_collapsed_generator_is_not():
    labels = np.arange(600) % 10
    ref, real = _embedding(labels, 0, 0), _embedding(labels, 0, 1)
    floor = compare(real, ref, "mnist", UNIFORM10)
    same = compare(_embedding(labels, 0, 2), ref, "mnist", UNIFORM10)
    assert same["fid"] < 0.5 and abs(same["fid"] - floor["fid"]) < 0.3
    assert same["classes_covered"] == floor["classes_covered"] == 10
    collapsed = compare(_embedding(np.full(600, 3), 0, 3), ref, "mnist", UNIFORM10)
    assert collapsed["classes_covered"] == 1 and collapsed["fid"] > 20 * max(floor["fid"], 0.1)
    assert collapsed["recall"] < floor["recall"] / 2 and collapsed["class_kl"] > 2


def test_report_table_puts_the_floor_beside_every_figure(tmp_path):
    labels = np.arange(200) % 10
    ref = _embedding(labels, 0, 0)
    train, test = _toy_images(100, 0), _toy_images(60, 1)
    report = {"model": "m", "step": 10, "dataset": "mnist", "samples": 200, "seed": 0,
              "generated": compare(_embedding(labels, 0.5, 1), ref, "mnist", UNIFORM10),
              "real": compare(_embedding(labels, 0, 2), ref, "mnist", UNIFORM10),
              "memorisation": {"pixels": memorisation(train[:30], train, test).summary()}}
    text = format_report(report)
    for name in ("FID (domain classifier)", "precision", "recall", "classes covered", "KL", "memorised"):
        line = next(l for l in text.splitlines() if name in l)
        assert len(line.split()) >= 3, line
    assert "YES" in text
    # eval.json is written atomically and read back; older runs' evaluation.json is still found
    save_report(tmp_path, report)
    assert load_report(tmp_path)["step"] == 10
    legacy = tmp_path / "old"
    legacy.mkdir()
    (legacy / "evaluation.json").write_text(json.dumps({"step": 5}))
    assert load_report(legacy) == {"step": 5} and load_report(tmp_path / "none") is None


def test_eval_config_fields_are_validated():
    assert TrainConfig(dataset="mnist", channels=1, eval_every=100).validate().eval_samples == 500
    with pytest.raises(ConfigError, match="eval_every"):
        TrainConfig(dataset="synthetic", eval_every=100).validate()
    with pytest.raises(ConfigError, match="eval_samples"):
        TrainConfig(dataset="mnist", eval_every=100, eval_samples=5).validate()
    with pytest.raises(ConfigError, match="channels"):
        TrainConfig(dataset="stacked-mnist", channels=1).validate()
    TrainConfig(dataset="stacked-mnist", channels=3, eval_every=50).validate()


def test_eval_log_readers_tolerate_a_torn_line_and_find_warnings(tmp_path):
    run = RunDir(tmp_path)
    run.eval_log_path.write_text('{"step":0,"classes_covered":3}\n'
                                 '{"step":100,"classes_covered":6,"collapse_warning":"fell"}\n{"step":2')
    records = run.evaluations()
    assert [r["step"] for r in records] == [0, 100]
    assert [r["step"] for r in collapse_warnings(records)] == [100]


def test_resume_may_turn_evaluation_on(tmp_path):
    from dcgan.runs.files import atomic_write_json
    from dcgan.training.resume import resume_config
    run = RunDir(tmp_path / "r")
    atomic_write_json(run.config_path, TrainConfig(run_name="r", dataset="mnist", steps=10).to_dict())
    atomic_write_json(run.generator_config_path, {"step": 10})
    cfg = resume_config(tmp_path, "r", more=5, eval_every=100, eval_samples=200)
    assert (cfg.steps, cfg.eval_every, cfg.eval_samples, cfg.lr_d) == (15, 100, 200, 2e-4)
    atomic_write_json(run.config_path, TrainConfig(run_name="r", dataset="synthetic", steps=10).to_dict())
    with pytest.raises(ConfigError, match="eval_every"):
        resume_config(tmp_path, "r", more=5, eval_every=100)
