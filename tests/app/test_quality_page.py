"""The Quality page and its chart builders: evaluation records in, figures and a page without errors
out. No real data: records and reports are written by hand into a tiny synthetic run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcgan.config import TrainConfig
from dcgan.runs.files import atomic_write_json, jsonl_line
from dcgan.runs.rundir import RunDir
from dcgan.training.loop import train
from explorer import charts, quality_charts

from apptestkit import open_app


FLOOR = {"fid": 0.2, "precision": 0.75, "recall": 0.75, "classes_covered": 10, "class_kl": 0.001}
RECORDS = [
    {"step": 0, "fid": 200.0, "precision": 0.0, "recall": 0.0, "classes_covered": 2, "class_kl": 1.5,
     "class_share": [0.5, 0.5] + [0.0] * 8, "floor": FLOOR},
    {"step": 100, "fid": 5.0, "precision": 0.6, "recall": 0.5, "classes_covered": 10, "class_kl": 0.02,
     "class_share": [0.1] * 10, "floor": FLOOR},
    {"step": 200, "fid": 9.0, "precision": 0.7, "recall": 0.2, "classes_covered": 7, "class_kl": 0.4,
     "class_share": [0.2] * 4 + [0.05] * 3 + [0.0] * 3, "floor": FLOOR,
     "collapse_warning": "possible mode collapse: classes covered fell to 7 (best so far 10, real data 10)"},
]
REPORT = {"model": "x", "step": 200, "dataset": "mnist", "samples": 2000, "seed": 0,
          "generated": {"fid": 9.0, "precision": 0.7, "recall": 0.2, "classes_covered": 7, "class_kl": 0.4,
                        "class_share": [0.1] * 10, "confident_fraction": 0.5, "classifier_score": 5.0},
          "real": {"fid": 0.2, "precision": 0.75, "recall": 0.76, "classes_covered": 10, "class_kl": 0.001,
                   "confident_fraction": 0.95, "classifier_score": 9.1},
          "real_class_share": [0.1] * 10,
          "memorisation": {"pixels": {"median_ratio": 1.1, "floor_median_ratio": 1.0, "near_copy_share": 0.004,
                                      "floor_near_copy_share": 0.01, "memorised": False}}}


def test_eval_figure_draws_each_figure_with_its_floor_and_marks_collapse():
    fig = quality_charts.fid_figure(RECORDS, marker_step=100)
    names = [t.name for t in fig.data]
    assert names == ["FID (domain classifier)", "FID (domain classifier): real data", "mode-collapse warning"]
    assert list(fig.data[0].x) == [0, 100, 200] and list(fig.data[1].y) == [0.2, 0.2]
    cov = quality_charts.coverage_figure(RECORDS)
    warned = [t for t in cov.data if t.name == "mode-collapse warning"]
    assert len(warned) == 1 and list(warned[0].x) == [200] and list(warned[0].y) == [7]
    pr = quality_charts.precision_recall_figure(RECORDS)
    assert [t.name for t in pr.data][:4] == ["precision", "precision: real data", "recall", "recall: real data"]
    # Stacked MNIST records count modes, not classes
    stacked = [{"step": 5, "modes_covered": 300, "fid": 1.0, "floor": {"modes_covered": 390}}]
    assert quality_charts.coverage_figure(stacked).data[0].name == "modes covered (of 1000)"
    assert quality_charts.fid_figure([]).data[0].x == ()
    # the log axis is labelled with whole numbers at 1-2-5 steps, not plotly's bare "2" and "5" digits
    assert list(fig.layout.yaxis.tickvals) == [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0]
    assert list(fig.layout.yaxis.ticktext)[-3:] == ["50", "100", "200"] and fig.layout.yaxis.type == "log"
    assert charts.log_ticks([]) == [] and charts.log_ticks([0.0, float("nan"), -1.0]) == []
    assert charts.log_ticks([2e-4]) == [0.0001, 0.0002]


def test_class_histogram_and_report_rows():
    fig = quality_charts.class_histogram_figure([0.5, 0.5], ["a", "b"], [0.4, 0.6])
    assert [t.name for t in fig.data] == ["generated", "real test set"]
    rows = quality_charts.report_rows(REPORT)
    by_name = {r["figure"]: r for r in rows}
    assert by_name["FID (domain classifier)"] == {"figure": "FID (domain classifier)", "generated": "9",
                                                  "real (floor)": "0.2"}
    assert by_name["memorisation (pixels): memorised"]["generated"] == "no"
    assert all(isinstance(v, str) for r in rows for v in r.values())  # one type per column for Arrow


@pytest.fixture
def quality_checkpoints(tmp_path, app_env) -> Path:
    root = tmp_path / "checkpoints"
    train(TrainConfig(run_name="tiny", dataset="synthetic", steps=4, batch_size=16, z_dim=16, g_width=16,
                      d_width=16, grid_size=16, snapshot_every=2), root, progress=False, log=lambda _: None)
    run = RunDir(root / "tiny")
    run.eval_log_path.write_text("".join(jsonl_line(r) for r in RECORDS) + '{"step": 3')  # torn last line
    atomic_write_json(run.eval_report_path, REPORT)
    app_env(root)
    return root


def test_quality_page_shows_records_warnings_report_and_nearest_images(quality_checkpoints):
    at = open_app("quality")
    assert any("mode collapse" in w.value for w in at.warning)
    assert at.select_slider(key="quality_step").value == 200
    assert len(at.dataframe) == 1
    assert not at.get("image")
    at.button(key="quality_nn").click().run()
    assert not at.exception, at.exception
    assert not at.error
    assert len(at.get("image")) == 1  # the strip: generated images above their nearest training images


def test_quality_page_without_evaluations_explains_how_to_get_them(quality_checkpoints):
    run = RunDir(quality_checkpoints / "tiny")
    run.eval_log_path.unlink()
    run.eval_report_path.unlink()
    at = open_app("quality")
    infos = " ".join(i.value for i in at.info)
    # a synthetic run cannot be evaluated while training: no advice the config would refuse
    assert "--eval-every" not in infos and "classifiers for mnist" in infos and "python -m dcgan evaluate" in infos
    cfg = json.loads(run.config_path.read_text())
    run.config_path.write_text(json.dumps({**cfg, "dataset": "mnist"}))
    at.run()
    infos = " ".join(i.value for i in at.info)
    assert "--eval-every" in infos and "python -m dcgan evaluate" in infos


def test_a_report_missing_memorisation_figures_shows_dashes_not_a_traceback():
    rows = quality_charts.report_rows({"dataset": "stacked-mnist", "generated": {"modes_covered": 990},
                                       "memorisation": {"pixels": {}}})
    by = {r["figure"]: r for r in rows}
    assert by["modes covered (of 1000)"]["generated"] == "990"
    assert by["memorisation (pixels): median NN distance ratio"]["generated"] == "–"
    assert by["memorisation (pixels): memorised"]["generated"] == "–"
