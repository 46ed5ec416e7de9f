"""Damaged and foreign files in a run (issue 13): junk metrics lines, broken status and config, files that are
not generators or checkpoints, hostile numbers."""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from dcgan import cli
from dcgan.training import launch
from dcgan.runs.checkpoint import CheckpointError, load_training_state
from dcgan.config import ConfigError
from dcgan.runs.importer import ImportFitError, read_tensors
from dcgan.runs.files import atomic_write_json, jsonl_line, read_jsonl
from dcgan.runs.processes import process_started_at
from dcgan.runs.rundir import RunDir, state_label
from dcgan.training.loop import train
from dcgan.training.resume import resume_config

from faultkit import cli_out, one_line_error
from trainkit import NEWCOMER_TINY as tiny, quiet


ROOT = Path(__file__).resolve().parents[2]


def test_cli_resume_at_the_end_is_one_line(tmp_path):
    train(tiny("done", steps=5), tmp_path, progress=False, log=quiet)
    one_line_error(cli_out("resume", "done", "--checkpoints", tmp_path), "at step 5, its configured end")


def test_process_started_at_is_the_process_start():
    code = "import time; from dcgan.runs.processes import process_started_at; print(time.time() - process_started_at())"
    out = subprocess.run([sys.executable, "-c", f"import time; time.sleep(0.5); {code}"], capture_output=True,
                         text=True, check=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout
    assert 0.5 <= float(out) < 30
    assert process_started_at() < time.time()


def test_state_label_tolerates_junk():
    assert state_label({}) == "unknown"
    assert state_label({"state": "running", "diverged": "yes"}) == "running"
    assert state_label({"state": "stopped", "diverged": {"step": 7}}) == "stopped · diverged at step 7"



GOOD = {"step": 1, "epoch": 0.01, "time": 1.0, "loss_d": 1.0, "loss_g": 2.0, "d_x": 0.5, "d_g_z": 0.5,
        "d_g_z_after": 0.5, "acc_real": 0.5, "acc_fake": 0.5, "lr_d": 2e-4, "lr_g": 2e-4, "images_per_s": 100.0}
DAMAGED = [b"\xff\xfe\x00binary junk\x9c\n", b'{"step": 2, "loss_g": "12.5"}\n', b'{"step": -1}\n',
           b'{"step": "3"}\n', b'{"step": true}\n', b'{"step": 4, "acc_real": NaN}\n', b"[1, 2]\n", b"17\n",
           b'{"step": 5, "time": 1e999}\n', b"[" * 5000 + b"\n"]


def test_read_jsonl_skips_what_is_not_a_json_object_and_counts_it(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_bytes(b'{"step": 1}\n\xff\xfe\n[1]\n\n{"step": 2}\n{"ste')  # the torn last line is not counted
    got = read_jsonl(p)
    assert got == [{"step": 1}, {"step": 2}] and got.skipped == 2
    assert read_jsonl(tmp_path / "none.jsonl") == [] and read_jsonl(tmp_path / "none.jsonl").skipped == 0


def test_metrics_readers_skip_damaged_records(tmp_path):
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    run.metrics_path.write_bytes(jsonl_line(GOOD).encode() + b"".join(DAMAGED)
                                 + jsonl_line({**GOOD, "step": 6}).encode() + b'{"step": 7, "lo')
    for metrics in (run.metrics(), run.recent_metrics()):
        assert [r["step"] for r in metrics] == [1, 6] and metrics.skipped == len(DAMAGED)
    run.eval_log_path.write_text('{"step": 0, "fid": 3.0, "floor": {"fid": 1.0}, "class_share": [0.5, 0.5]}\n'
                                 '{"step": 1, "fid": "low"}\n{"step": 2, "floor": [1]}\n'
                                 '{"step": 3, "class_share": "x"}\n'
                                 '{"step": 4, "collapse_warning": 5}\n{"step": 5, "floor": {"fid": "x"}}\n')
    evaluations = run.evaluations()
    assert [r["step"] for r in evaluations] == [0] and evaluations.skipped == 5


def test_nul_bytes_of_a_power_cut_hide_no_later_line(tmp_path):
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    lines = [jsonl_line({**GOOD, "step": s}).encode() for s in range(1, 5)]
    # a cut mid-line (step 2's end lost to NULs), a whole lost line, then appends after the restart
    run.metrics_path.write_bytes(lines[0] + lines[1][:20] + b"\0" * 300 + lines[2] + b"\0" * 64 + b"\n" + lines[3]
                                 + b"\0" * 500)
    metrics = run.metrics()
    assert [r["step"] for r in metrics] == [1, 3, 4] and metrics.skipped == 2
    assert [r["step"] for r in run.recent_metrics(max_bytes=800)] == [4]


def test_cli_stats_and_resume_survive_damaged_metrics(stopped, tmp_path):
    root = stopped.path.parent
    with open(stopped.metrics_path, "ab") as f:
        f.write(b"".join(DAMAGED))
    code, out, err = cli_out("stats", stopped.path, "--out", tmp_path / "stats.png")
    assert code == 0 and f"skipped {len(DAMAGED)} malformed line(s) in metrics.jsonl" in err, err
    assert (tmp_path / "stats.png").read_bytes()[:4] == b"\x89PNG"
    lines = []
    assert train(resume_config(root, "s"), root, resume=True, progress=False, log=lines.append) == "finished"
    assert f"dropped {len(DAMAGED)} malformed line(s) from metrics.jsonl (not JSON records the trainer wrote)" in lines
    assert stopped.status()["error"] is None
    assert [r["step"] for r in stopped.metrics()] == list(range(1, 13)) and stopped.metrics().skipped == 0


def test_the_cli_reports_an_unexpected_error_in_one_line(tmp_path):
    from dcgan import faults
    config = tmp_path / "c.json"
    config.write_text(json.dumps(tiny("eio").to_dict()))
    faults.arm("step@2=EIO")  # an I/O error no hint covers: unexpected, as a bug would be
    try:
        code, out, err = cli_out("train", "--config", config, "--checkpoints", tmp_path / "ck", "--quiet")
    finally:
        faults.arm(None)
    assert code == 1 and err.strip().splitlines() == [f"error: {RunDir(tmp_path / 'ck' / 'eio').status()['error']}"]
    assert "OSError" in err and "Traceback" in out  # the traceback goes to the log (stdout: train.log)



@pytest.mark.parametrize("content, why", [
    (None, "status.json is missing"), (b"\x00\xff\xfe junk", "status.json is not valid JSON"),
    (b"{not json", "status.json is not valid JSON"), (b"[1, 2]", "status.json is not a JSON object"),
    (b'{"state": 5}', "status.json has no valid state"), (b'{"state": "exploded"}', "status.json has no valid state"),
])
def test_a_broken_status_is_unknown_with_the_reason(tmp_path, content, why, capsys):
    run = RunDir(tmp_path / "r")
    atomic_write_json(run.config_path, tiny("r").to_dict())
    if content is not None:
        run.status_path.write_bytes(content)
    st = run.status()
    assert st["state"] == "unknown" and why in st["error"]
    assert cli.main(["runs", "--checkpoints", str(tmp_path)]) == 0
    assert "unknown" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="is not running"):
        launch.stop_training(tmp_path, "r")


def test_status_fields_of_the_wrong_type_are_left_out(tmp_path):
    run = RunDir(tmp_path / "r")
    atomic_write_json(run.status_path, {"state": "finished", "step": "x", "total_steps": -3, "error": {"a": 1},
                                        "warnings": "not a list", "diverged": {"step": "x"}})
    st = run.status()
    assert st["state"] == "finished" and "step" not in st and "total_steps" not in st
    assert isinstance(st["error"], str) and "warnings" not in st and "diverged" not in st
    assert RunDir(tmp_path / "nothing").status() == {"state": "unknown"}
    # what older trainers wrote: the message, then a traceback
    atomic_write_json(run.status_path, {"state": "failed", "error": "TypeError: bad\nTraceback (most recent...)\n"})
    assert run.status()["error"] == "TypeError: bad"


@pytest.mark.parametrize("content, fragment", [
    (b"\xff\xfe\x00", "config.json is not valid JSON"), (b"{not json", "config.json is not valid JSON"),
    (b"[" * 10000, "config.json is not valid JSON"), (b'"text"', "config.json is not a JSON object"),
    (b'{"learning_rate": 1}', "unknown config key(s): learning_rate"), (b'{"lr_d": 5}', "lr_d=5"),
    (b'{"steps": "many"}', "steps"),
])
def test_config_problem_says_what_is_wrong(tmp_path, content, fragment):
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    run.config_path.write_bytes(content)
    problem = run.config_problem()
    assert problem and fragment in problem and "\n" not in problem


def test_config_problem_reads_the_request_until_the_trainer_writes_config(tmp_path):
    run = RunDir(tmp_path / "r")
    atomic_write_json(run.request_path, {"run_name": "r", "lr_g": -1})
    assert "lr_g=-1" in run.config_problem()
    atomic_write_json(run.config_path, tiny("r").to_dict())
    assert run.config_problem() is None
    assert RunDir(tmp_path / "empty").config_problem() == "config.json is missing"


class Payload:
    def __reduce__(self):
        return os.system, ("echo pwned",)


def torch_bytes(obj, **kw) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def junk_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", b"junk")
    return buf.getvalue()


GOOD_PTH = torch_bytes({"main.0.weight": torch.zeros(16, 8, 4, 4)})
LEGACY_PTH = torch_bytes({"main.0.weight": torch.zeros(16, 8, 4, 4)}, _use_new_zipfile_serialization=False)
NOT_GENERATORS = {
    "random bytes": np.random.default_rng(0).bytes(4096),
    "truncated .pth": GOOD_PTH[:len(GOOD_PTH) // 2],
    "truncated old-format .pth": LEGACY_PTH[:-20],
    "zip with junk": junk_zip(),
    "empty": b"",
    "text": b"hello, this is a text file\n",
    "pop from empty list": b"\x80\x02t.",
    "nul bytes": b"\0" * 256,
}
PICKLES = {
    "pickle protocol 2 with __reduce__": pickle.dumps(Payload(), protocol=2),
    "pickle protocol 5 with __reduce__": pickle.dumps(Payload(), protocol=5),
    "torch.save of an object": torch_bytes({"G": Payload()}),
}
LEAKS = ("weights_only", "will likely succeed", "Unsupported operand", "pop from empty list", "WeightsUnpickler",
         "miniz", "hasRecord", "Errno", "EOFError", "magic number", "trust", "add_safe_globals", "Error(s) in loading")


def no_leak(message: str) -> None:
    assert "\n" not in message and not any(leak in message for leak in LEAKS), message


@pytest.mark.parametrize("kind", NOT_GENERATORS)
def test_import_of_a_damaged_or_foreign_file_is_one_line_about_the_file(kind):
    with pytest.raises(ImportFitError) as e:
        read_tensors(NOT_GENERATORS[kind], "netG.pth")
    no_leak(str(e.value))
    assert str(e.value).startswith("netG.pth is ")
    assert "empty" in str(e.value) if kind == "empty" else "or it is damaged or truncated" in str(e.value)


@pytest.mark.parametrize("kind", PICKLES)
def test_import_of_pickled_objects_is_refused_without_advice_to_unpickle(kind, tmp_path, capsys):
    with pytest.raises(ImportFitError) as e:
        read_tensors(PICKLES[kind], "netG.pth")
    no_leak(str(e.value))
    assert "not unpickled" in str(e.value) and "could run code" in str(e.value)
    (tmp_path / "netG.pth").write_bytes(PICKLES[kind])
    assert cli.main(["import", str(tmp_path / "netG.pth"), "--checkpoints", str(tmp_path / "c")]) == 2
    assert "pwned" not in capsys.readouterr().out


@pytest.mark.parametrize("kind", [*NOT_GENERATORS, *PICKLES])
def test_a_checkpoint_that_is_not_one_is_one_line_without_internals(stopped, kind):
    stopped.checkpoint_path.write_bytes({**NOT_GENERATORS, **PICKLES}[kind])
    with pytest.raises(CheckpointError) as e:
        load_training_state(stopped.checkpoint_path)
    no_leak(str(e.value))
    assert str(stopped.checkpoint_path) in str(e.value)
    if kind in PICKLES:
        assert "refused checkpoint" in str(e.value) and "holds Python objects" in str(e.value)
    else:  # junk is junk, not a booby trap
        assert ("empty" if kind == "empty" else "damaged or truncated") in str(e.value)


@pytest.mark.parametrize("kind", ["int keys", "sparse", "meta", "complex"])
def test_odd_tensors_in_a_state_dict_are_named(tmp_path, kind):
    from dcgan.runs.importer import import_generator
    from dcgan.nets.models import Generator
    sd = Generator(16, 28, 1, 8, 4).state_dict()
    change = {"int keys": lambda: {i: v for i, v in enumerate(sd.values())},
              "sparse": lambda: {k: v.to_sparse() if v.dim() == 4 else v for k, v in sd.items()},
              "meta": lambda: {k: v.to("meta") for k, v in sd.items()},
              "complex": lambda: {k: v.to(torch.complex64) if v.is_floating_point() else v for k, v in sd.items()}}
    with pytest.raises(ImportFitError) as e:
        import_generator(torch_bytes(change[kind]()), "odd.pth", tmp_path)
    no_leak(str(e.value))
    assert not list(tmp_path.iterdir())


def test_a_checkpoint_with_the_right_keys_but_wrong_values_is_a_checkpoint_error(stopped):
    state = load_training_state(stopped.checkpoint_path)
    state["torch_rng"] = "not a tensor"
    stopped.checkpoint_path.write_bytes(torch_bytes(state))
    one_line_error(cli_out("resume", "s", "--checkpoints", stopped.path.parent), "is not a training checkpoint")
    st = stopped.status()
    assert st["state"] == "failed" and "\n" not in st["error"]



def test_recent_metrics_of_a_short_file_is_all_of_it(tmp_path):
    # the tail reader sought to the end to measure the file and, for one shorter than the tail, read
    # nothing from there: the Train page had no speed or ETA for a run's first ~150 steps
    train(tiny("short", steps=6), tmp_path, progress=False, log=quiet)
    run = RunDir(tmp_path / "short")
    assert [r["step"] for r in run.recent_metrics()] == list(range(1, 7))


def test_hostile_numbers_in_generator_json_and_config_json_are_one_line_errors(stopped):
    from dcgan.runs.checkpoint import load_run_generator
    cfg = json.loads(stopped.generator_config_path.read_text())
    stopped.generator_config_path.write_text(json.dumps({**cfg, "z_dim": 1e999}))  # int(inf): OverflowError
    with pytest.raises(CheckpointError, match="generator.json"):
        load_run_generator(stopped)
    stopped.generator_config_path.write_text(json.dumps({**cfg, "step": "five"}))
    stopped.checkpoint_path.rename(stopped.path / "aside.pt")  # no checkpoint: generator.json's step is asked
    assert resume_config(stopped.path.parent, "s", more=3).steps == 8  # not "five": the status's step 5
    (stopped.path / "aside.pt").rename(stopped.checkpoint_path)
    stopped.config_path.write_bytes(b"[" * 100_000)
    one_line_error(cli_out("resume", "s", "--checkpoints", stopped.path.parent), "config.json is not valid JSON")


def test_a_damaged_eval_json_is_no_report(tmp_path):
    from dcgan.evaluation.report import load_report
    from dcgan.evaluation.model_card import model_card
    train(tiny("ev", steps=2), tmp_path, progress=False, log=quiet)
    run = RunDir(tmp_path / "ev")
    good = json.loads((ROOT / "checkpoints" / "mnist" / "eval.json").read_text())
    run.eval_report_path.write_text(json.dumps(good))
    assert load_report(run.path) == good
    for damage in ({"generated": ["fid"]}, {"real": {"fid": "low"}}, {"real_class_share": "x"},
                   {"memorisation": {"pixels": 3}}, {"step": -1}):
        run.eval_report_path.write_text(json.dumps({**good, **damage}))
        assert load_report(run.path) is None, damage
        assert "## Evaluator" not in model_card(run.path)


def test_a_damaged_evaluator_file_is_one_line(tmp_path):
    from dcgan.evaluation.classifier import load_classifier
    (tmp_path / "c.safetensors").write_bytes(b"\x10" + b"\0" * 7 + b"{junk")
    with pytest.raises(CheckpointError, match="is not a readable safetensors file") as e:
        load_classifier(tmp_path / "c.safetensors")
    no_leak(str(e.value))


def test_log_tail_keeps_a_short_log_whole_and_drops_a_fragment(tmp_path):
    from dcgan.runs.rundir import RunDir
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    assert run.log_tail() == ""
    run.log_path.write_text("DataError: mnist is not in /nowhere\n")
    assert run.log_tail() == "DataError: mnist is not in /nowhere\n"  # one line, read from the start: kept
    run.log_path.write_text("x" * 50 + "\nsecond\nthird\n")
    assert run.log_tail(10) == "third\n"  # begun inside "second": that fragment is dropped


def test_a_start_time_a_clock_step_apart_is_the_same_process():
    import os
    from dcgan.runs.processes import START_TOLERANCE, pid_alive, process_start
    me, start = os.getpid(), process_start(os.getpid())
    assert pid_alive(me, start) and pid_alive(me, start + START_TOLERANCE // 2)
    assert not pid_alive(me, start - 10 * START_TOLERANCE)  # started well before: another process had the pid
