"""The evaluator for labelled image folders (issue 15: the faces get numbers and a floor like the digits):
a classifier trained on a folder's own labels, found for a run by its classes and size, and a folder
run's report with FID, precision / recall and class shares beside their real-data floor."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dcgan.cli import main as cli_main
from dcgan.config import ConfigError, TrainConfig
from dcgan.evaluation import classifier as classifier_module
from dcgan.evaluation.classifier import folder_evaluator, load_classifier, train_classifier
from dcgan.evaluation.evaluate import evaluate_model
from dcgan.evaluation.report import format_report
from dcgan.runs.checkpoint import CheckpointError
from dcgan.runs.rundir import RunDir
from dcgan.training.launch import check_launch
from dcgan.training.loop import train


ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT.parent / "shared" / "datasets" / "faces" / "SMILEs"
CLASSES = ("circles", "squares")


def make_shapes(root: Path, per_class: int = 160, size: int = 32) -> None:
    """Two labelled sub-folders a classifier can tell apart (a filled circle or square, anywhere, any size)."""
    rng = np.random.default_rng(0)
    for label in CLASSES:
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            im = Image.new("L", (size, size), 0)
            r = int(rng.integers(5, 10))
            x, y = (int(v) for v in rng.integers(r, size - r, 2))
            box = (x - r, y - r, x + r, y + r)
            draw = ImageDraw.Draw(im)
            (draw.ellipse if label == "circles" else draw.rectangle)(box, fill=int(rng.integers(150, 256)))
            im.save(root / label / f"{i:03d}.png")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    make_shapes(root / "images")
    info = train_classifier("folder", "", epochs=4, batch_size=16, image_folder=str(root / "images"), name="shapes",
                            image_size=32, out_dir=root / "evaluators", log=lambda _: None)
    return root, info


def test_a_folder_classifier_learns_the_folder_labels(shapes):
    root, info = shapes
    assert info["classes"] == list(CLASSES) and info["image_size"] == 32 and info["dataset"] == "folder"
    assert info["test_accuracy"] > 0.9 and info["balanced_accuracy"] > 0.9, info
    assert info["train_images"] + info["test_images"] == 320 and info["test_images"] > 0
    model = load_classifier(root / "evaluators" / "shapes.safetensors")
    assert (model.image_size, model.num_classes) == (32, 2)


def test_a_run_finds_the_classifier_of_its_folder_by_its_classes(shapes, monkeypatch):
    root, _ = shapes
    monkeypatch.setattr(classifier_module, "EVALUATOR_DIR", root / "evaluators")
    assert folder_evaluator(CLASSES) == root / "evaluators" / "shapes.safetensors"
    assert folder_evaluator(("cats", "dogs")) is None and folder_evaluator(()) is None


def test_a_folder_run_gets_fid_and_precision_beside_their_floor(shapes, monkeypatch, tmp_path):
    root, _ = shapes
    monkeypatch.setattr(classifier_module, "EVALUATOR_DIR", root / "evaluators")
    # a 64 px run judged by a 32 px classifier: its images are resized to the classifier's size
    cfg = TrainConfig(run_name="f", dataset="folder", image_folder=str(root / "images"), image_size=64, steps=2,
                      batch_size=8, z_dim=8, g_width=8, d_width=8, grid_size=4, snapshot_every=2, checkpoint_every=2)
    assert train(cfg, tmp_path, progress=False, log=lambda _: None) == "finished"
    report = evaluate_model(tmp_path / "f", samples=200)
    gen, real = report["generated"], report["real"]
    assert report["evaluator"]["file"] == "shapes.safetensors" and report["class_names"] == list(CLASSES)
    assert len(gen["class_share"]) == 2 and real["classes_covered"] == 2
    assert real["fid"] < gen["fid"] and real["confident_fraction"] > 0.8  # 2 steps of training: far from real
    assert "features" in report["memorisation"] and "pixels" in report["memorisation"]
    text = format_report(report)
    assert "of 2)" in text and "at most 2)" in text and "balanced" in text
    # an unlabelled folder of the same size keeps the memorisation check alone, and says why
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in sorted((root / "images" / "circles").iterdir())[:40]:
        (flat / p.name).write_bytes(p.read_bytes())
    cfg = TrainConfig(**{**cfg.to_dict(), "run_name": "u", "image_folder": str(flat)})
    assert train(cfg, tmp_path, progress=False, log=lambda _: None) == "finished"
    lines = []
    report = evaluate_model(tmp_path / "u", samples=100, log=lines.append)
    assert "generated" not in report and "memorisation" in report
    assert any("this image folder has no labels" in line and "memorisation only" in line for line in lines)


def test_a_folder_run_is_evaluated_while_it_trains(shapes, monkeypatch, tmp_path):
    """eval_every on a labelled folder: eval.jsonl gets FID, precision and both classes' shares, as MNIST's does;
    a folder whose labels no evaluator knows is refused before a run folder exists."""
    root, _ = shapes
    monkeypatch.setattr(classifier_module, "EVALUATOR_DIR", root / "evaluators")
    cfg = TrainConfig(run_name="live", dataset="folder", image_folder=str(root / "images"), image_size=32, steps=4,
                      batch_size=8, z_dim=8, g_width=8, d_width=8, grid_size=4, snapshot_every=2,
                      checkpoint_every=2, eval_every=2, eval_samples=100)
    check_launch(cfg)
    assert train(cfg, tmp_path, progress=False, log=lambda _: None) == "finished"
    records = RunDir(tmp_path / "live").evaluations()
    assert [r["step"] for r in records] == [0, 2, 4]  # step 0: the untrained G, where the curve starts
    assert all(len(r["class_share"]) == 2 and r["fid"] > r["floor"]["fid"] for r in records), records
    other = tmp_path / "other"
    for label in ("cats", "dogs"):
        (other / label).mkdir(parents=True)
        for p in sorted((root / "images" / "circles").iterdir())[:8]:
            (other / label / p.name).write_bytes(p.read_bytes())
    with pytest.raises(ConfigError, match="no evaluator knows this folder's labels \\(cats, dogs\\)"):
        check_launch(TrainConfig(**{**cfg.to_dict(), "image_folder": str(other)}))
    # nothing held out, nothing to compare with: refused before the trainer starts
    with pytest.raises(ConfigError, match="holdout=0.0: evaluating a folder run needs held-out images"):
        TrainConfig(**{**cfg.to_dict(), "holdout": 0.0}).validate()


def test_a_hostile_evaluator_description_is_refused(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"dataset": "folder", "image_size": 64, "classes": list(range(10**6))}))
    (tmp_path / "x.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="2 to 1000 classes"):
        load_classifier(tmp_path / "x.safetensors")


def test_the_cli_asks_for_a_folder_and_a_safe_name(tmp_path, capsys):
    assert cli_main(["train-evaluator", "--dataset", "folder"]) == 2
    assert "--image-folder" in capsys.readouterr().err
    assert cli_main(["train-evaluator", "--dataset", "folder", "--image-folder", str(tmp_path), "--name",
                     "mnist"]) == 2
    assert "--name" in capsys.readouterr().err


@pytest.mark.skipif(not FACES.is_dir(), reason="needs ../shared/datasets/faces (not in the repository)")
@pytest.mark.skipif(not (ROOT / "checkpoints" / "evaluators" / "faces.safetensors").is_file(),
                    reason="the faces evaluator is not shipped")
@pytest.mark.slow
def test_the_shipped_faces_evaluator_judges_the_faces_model():
    info = json.loads((ROOT / "checkpoints" / "evaluators" / "faces.json").read_text())
    assert info["classes"] == ["negatives", "positives"] and info["balanced_accuracy"] > 0.8
    report = evaluate_model(ROOT / "checkpoints" / "faces", samples=500, check_memorisation=False)
    gen, real = report["generated"], report["real"]
    assert report["evaluator"]["file"] == "faces.safetensors" and report["class_names"] == ["negatives", "positives"]
    assert real["fid"] < gen["fid"] and gen["classes_covered"] == 2
