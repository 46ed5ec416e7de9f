"""The faces' classes named once, by their evaluator, on every page; the evaluation rule in one place;
datasets asked of their registry entry; sweep labels that stay readable when a wide grid is scaled down."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from apptestkit import open_app

from dcgan.analysis.labelled import classifier_label_fn
from dcgan.analysis.views import LABEL_PX, sweep_grid
from dcgan.config import DATASETS
from dcgan.config import DATASET_SPECS, ConfigError, dataset_spec
from dcgan.data import DataError, load_dataset
from dcgan.evaluation.classifier import class_names_for, evaluation_problem, run_class_names
from dcgan.nets.models import Generator
from dcgan.runs.rundir import RunDir
from explorer.quality_charts import report_rows

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "checkpoints"
TWO_CLASS_REPORT = {"generated": {"classes_covered": 2, "classifier_score": 1.6, "class_share": [0.7, 0.3]},
                    "real": {"classes_covered": 2, "classifier_score": 1.8}}


def test_the_full_evaluation_table_counts_the_evaluator_s_classes():
    figures = [r["figure"] for r in report_rows(TWO_CLASS_REPORT)]
    assert "classes covered (of 2)" in figures and "classifier score (max 2)" in figures
    assert not any("10" in f for f in figures), figures
    figures = [r["figure"] for r in report_rows(TWO_CLASS_REPORT, classes=2)]
    assert "classes covered (of 2)" in figures


@pytest.mark.skipif(not (SHIPPED / "faces" / "eval.json").is_file(), reason="the shipped faces run is not here")
def test_the_faces_classes_have_one_name_everywhere():
    # from the folder when it is on this machine, else from the labels eval.json recorded: the same names
    faces = run_class_names(RunDir.at(SHIPPED / "faces"))
    assert faces is not None and faces.names == ("not smiling", "smiling") and len(faces) == 2
    assert class_names_for("folder", ("negatives", "positives")).names == faces.names
    # the Directions page's labelled directions use the same names
    assert classifier_label_fn("folder", ("negatives", "positives"))[1] == list(faces.names)
    assert run_class_names(RunDir.at(SHIPPED / "mnist")).names == tuple(str(i) for i in range(10))
    assert class_names_for("stacked-mnist") is None and class_names_for("synthetic") is None


def test_whether_a_run_can_be_evaluated_is_one_rule():
    assert evaluation_problem("mnist") is None and evaluation_problem("stacked-mnist") is None
    assert "not for 'synthetic'" in evaluation_problem("synthetic")
    assert "not on this machine" in evaluation_problem("folder", None)
    assert "no evaluator knows this folder's labels (a, b)" in evaluation_problem("folder", ("a", "b"))
    assert "no labels" in evaluation_problem("folder", ())


def test_datasets_are_registry_entries_not_strings():
    assert set(DATASET_SPECS) == set(DATASETS)
    assert dataset_spec("stacked-mnist").modes == 1000 and dataset_spec("stacked-mnist").files == "mnist"
    assert dataset_spec("folder").folder and not dataset_spec("synthetic").can_be_evaluated
    with pytest.raises(ConfigError, match="unknown dataset 'nope'"):
        dataset_spec("nope")
    with pytest.raises(DataError, match="unknown dataset 'nope'"):
        load_dataset("nope", 28, 1)
    owned = ["explorer/quality.py", "explorer/directions.py", "explorer/latent.py", "explorer/progress.py",
             "explorer/config_form.py", "explorer/critic_view.py", "explorer/sweep_view.py",
             "dcgan/analysis/critic.py", "dcgan/analysis/semantics.py", "dcgan/analysis/labelled.py",
             "dcgan/evaluation/classifier.py"]
    compared = re.compile(r"""(==|!=|\bin)\s*\(?["'](stacked-mnist|folder)["']""")
    found = [f"{name}: {line.strip()}" for name in owned for line in (ROOT / name).read_text().splitlines()
             if compared.search(line)]
    assert not found, found


def test_sweep_labels_grow_with_a_grid_that_is_shown_smaller():
    G = Generator(z_dim=8, image_size=64, channels=1, width=4).eval()
    z = np.zeros(8, np.float32)
    natural = sweep_grid(G, z, [0, 1], columns=9, scale=1)
    shrunk = sweep_grid(G, z, [0, 1], columns=9, scale=1, shown_px=300)
    grid_w = 9 * 66 + 2
    # the top margin is the label's height plus 10 px; shown 300 px wide the grid is scaled by 300 / grid_w
    assert natural.shape[0] - (2 * 66 + 2) == LABEL_PX + 10
    label_px = shrunk.shape[0] - (2 * 66 + 2) - 10
    assert label_px * 300 / grid_w >= LABEL_PX - 1, label_px


@pytest.mark.skipif(not (SHIPPED / "faces" / "eval.json").is_file(), reason="the shipped faces run is not here")
def test_quality_page_names_the_faces_two_classes(app_env):
    app_env(SHIPPED)  # the page only reads the run
    at = open_app("quality", run="faces")
    table = at.dataframe[0].value
    figures = list(table["figure"])
    assert "classes covered (of 2)" in figures and "classifier score (max 2)" in figures
    assert not any("of 10" in f or "max 10" in f for f in figures)
    assert any("memorisation" in f for f in figures)  # the rows below the classes are there too


def test_the_directions_save_button_label_fits(app_checkpoints):
    at = open_app("directions")
    label = at.button(key="dir_save").label
    assert label == "Save with the run" and len(label) <= 20  # "Save these directions with th…" was cut off
