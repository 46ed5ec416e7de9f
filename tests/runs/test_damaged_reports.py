"""A report or log holding NaN or Infinity (Python's json writes them; JSON has no such numbers): the
readers say what is wrong and count what they skip, the writers store null with a note instead."""
from __future__ import annotations

import json

import pytest

from apptestkit import open_app
from dcgan.config import TrainConfig
from dcgan.evaluation.report import load_report, report_problem, save_report
from dcgan.runs.files import NON_FINITE_KEY, atomic_write_json, jsonl_line, read_json_object, read_jsonl
from dcgan.runs.rundir import RunDir
from dcgan.training.loop import train

REPORT = {"model": "x", "step": 4, "dataset": "mnist", "samples": 2000, "seed": 0,
          "generated": {"fid": 9.0, "precision": 0.7, "recall": 0.2, "classes_covered": 7, "class_kl": 0.4,
                        "class_share": [0.1] * 10, "confident_fraction": 0.5, "classifier_score": 5.0},
          "real": {"fid": 0.2, "precision": 0.75, "recall": 0.76, "classes_covered": 10, "class_kl": 0.001,
                   "confident_fraction": 0.95, "classifier_score": 9.1},
          "real_class_share": [0.1] * 10}
RECORD = {"step": 2, "images": 100, "fid": 5.0, "precision": 0.6, "recall": 0.5, "classes_covered": 10,
          "class_kl": 0.02, "class_share": [0.1] * 10, "floor": {"fid": 0.2, "classes_covered": 10}}


def strict(text: str):
    """What any JSON reader other than Python's makes of text: NaN and Infinity refused."""
    def refuse(name):
        raise ValueError(f"{name} in the file")
    return json.loads(text, parse_constant=refuse)


def nan_report() -> dict:
    return {**REPORT, "generated": {**REPORT["generated"], "fid": float("nan")}}


@pytest.fixture
def run(tmp_path) -> RunDir:
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    return run


def test_an_eval_json_with_nan_is_not_taken_for_no_report(run):
    assert report_problem(run.path) is None and load_report(run.path) is None  # no file: nothing wrong
    run.eval_report_path.write_text(json.dumps(nan_report()))  # what json.dumps writes: NaN
    assert load_report(run.path) is None
    problem = report_problem(run.path)
    assert "eval.json" in problem and "NaN" in problem and "python -m dcgan evaluate" in problem
    run.eval_report_path.write_text(json.dumps({**REPORT, "real": {**REPORT["real"], "recall": "high"}}))
    assert "real.recall" in report_problem(run.path)
    run.eval_report_path.write_text(json.dumps(REPORT))
    assert load_report(run.path) == REPORT and report_problem(run.path) is None


def test_writers_store_a_nan_figure_as_null_with_a_note(run):
    assert save_report(run.path, nan_report()) == run.eval_report_path
    written = strict(run.eval_report_path.read_text())
    assert written["generated"]["fid"] is None and written[NON_FINITE_KEY] == ["generated.fid"]
    assert load_report(run.path) is None and "generated.fid" in report_problem(run.path)
    line = jsonl_line({**RECORD, "fid": float("inf"), "floor": {"fid": float("-inf")}})
    assert strict(line) == {**RECORD, "fid": None, "floor": {"fid": None}, NON_FINITE_KEY: ["fid", "floor.fid"]}
    atomic_write_json(run.status_path, {"state": "finished", "x": float("nan")})
    assert strict(run.status_path.read_text())["x"] is None


def test_a_nan_anywhere_in_a_log_line_is_skipped_and_counted(run):
    lines = [jsonl_line(RECORD), '{"step": 3, "fid": 4.0, "classifier_score": NaN}\n',
             '{"step": 4, "fid": 3.0, "floor": {"seconds": Infinity}}\n', jsonl_line({**RECORD, "step": 5})]
    run.eval_log_path.write_text("".join(lines))
    records = run.evaluations()
    assert [r["step"] for r in records] == [2, 5] and records.skipped == 2
    assert read_jsonl(run.eval_log_path).skipped == 2
    run.status_path.write_text('{"state": "finished", "step": NaN}')
    data, problem = read_json_object(run.status_path)
    assert data is None and "status.json" in problem and "NaN" in problem


def test_the_quality_page_says_what_is_wrong_with_the_report(tmp_path, app_env):
    root = tmp_path / "checkpoints"
    train(TrainConfig(run_name="tiny", dataset="synthetic", steps=2, batch_size=16, z_dim=16, g_width=8,
                      d_width=8, grid_size=16, snapshot_every=2), root, progress=False, log=lambda _: None)
    run = RunDir(root / "tiny")
    run.eval_report_path.write_text(json.dumps(nan_report()))
    run.eval_log_path.write_text(jsonl_line(RECORD) + '{"step": 3, "fid": NaN}\n')
    app_env(root)
    at = open_app("quality")
    assert not at.exception and not at.error
    warnings = " ".join(w.value for w in at.warning)
    assert "eval.json" in warnings and "NaN" in warnings
    assert not any("No eval.json yet" in i.value for i in at.info)
    assert any("1 malformed line(s)" in c.value for c in at.caption)
