"""keep_snapshot_weights: a run keeps only its newest N snapshot weight files (every grid stays); the
rule holds across a resume, a resume may tighten it, and a reader that loses a file it listed says so."""
from __future__ import annotations

import pytest

from dcgan.runs.rundir import RunDir
from dcgan.training.loop import TrainingFailed, train
from dcgan.training.resume import resume_config
from dcgan.training.step import train_step
from trainkit import TINY as tiny, stop_at


def test_a_run_keeps_only_its_newest_weights_and_every_grid(tmp_path):
    lines = []
    assert train(tiny("p", snapshot_every=2, keep_snapshot_weights=2), tmp_path, progress=False,
                 log=lines.append) == "finished"
    run = RunDir(tmp_path / "p")
    assert run.snapshot_steps() == [0, 2, 4, 6, 8, 10, 12]
    assert run.weight_steps() == [10, 12]
    assert sorted(p.name for p in run.snapshots_dir.glob("G_*")) == ["G_000010.safetensors", "G_000012.safetensors"]
    assert run.generator_path.is_file()  # the final generator is no snapshot: it stays
    assert any("snapshot weights of step(s) 0 deleted" in line for line in lines), lines


def test_without_the_option_every_weight_file_stays(tmp_path):
    assert train(tiny("all", snapshot_every=2), tmp_path, progress=False, log=lambda _: None) == "finished"
    assert RunDir(tmp_path / "all").weight_steps() == [0, 2, 4, 6, 8, 10, 12]


def test_the_rule_holds_across_a_stop_and_resume(tmp_path):
    run = RunDir(tmp_path / "r")
    cfg = tiny("r", snapshot_every=2, keep_snapshot_weights=3)
    assert train(cfg, tmp_path, progress=False, step_fn=stop_at(5, run), log=lambda _: None) == "stopped"
    assert run.weight_steps() == [2, 4, 5]  # the stop's own snapshot is the newest
    assert train(resume_config(tmp_path, "r", steps=20), tmp_path, resume=True, progress=False,
                 log=lambda _: None) == "finished"
    assert run.weight_steps() == [16, 18, 20]
    assert len(run.snapshot_steps()) == 12  # 0, 2, ..., 20 and the stop's 5


def test_a_resume_may_keep_fewer_and_prunes_at_once(tmp_path):
    run = RunDir(tmp_path / "t")
    assert train(tiny("t", snapshot_every=2, keep_snapshot_weights=4), tmp_path, progress=False,
                 log=lambda _: None) == "finished"
    assert run.weight_steps() == [6, 8, 10, 12]

    def crash(*args):  # the resumed trainer fails at its first step: what its restore did is all it did
        raise RuntimeError("boom")

    cfg = resume_config(tmp_path, "t", steps=20, keep_snapshot_weights=1)
    with pytest.raises(TrainingFailed):
        train(cfg, tmp_path, resume=True, progress=False, step_fn=crash, log=lambda _: None)
    assert run.weight_steps() == [12] and run.train_config().keep_snapshot_weights == 1
    assert len(run.snapshot_steps()) == 7
    assert train(resume_config(tmp_path, "t", steps=20), tmp_path, resume=True, progress=False,
                 step_fn=train_step, log=lambda _: None) == "finished"
    assert run.weight_steps() == [20]


def test_prune_keeps_the_newest_and_never_the_one_just_written(tmp_path):
    run = RunDir(tmp_path / "u")
    run.snapshots_dir.mkdir(parents=True)
    for step in (0, 5, 10, 15):
        run.grid_path(step).write_bytes(b"png")
        run.snapshot_weights_path(step).write_bytes(b"w")
    run.snapshot_weights_path(20).write_bytes(b"w")  # weights whose grid is gone still count
    assert run.prune_snapshot_weights(0, 20) == [] and len(list(run.snapshots_dir.glob("G_*"))) == 5
    assert run.prune_snapshot_weights(10, 20) == []
    assert run.prune_snapshot_weights(2, 10) == [0, 5, 15]  # 10 is the one just written: it stays
    assert sorted(p.name for p in run.snapshots_dir.glob("G_*")) == ["G_000010.safetensors", "G_000020.safetensors"]
    assert run.prune_snapshot_weights(1, 20) == [10]
    assert run.weight_steps() == [] and len(run.snapshot_steps()) == 4  # grids all stay
    assert RunDir(tmp_path / "none").prune_snapshot_weights(1, 0) == []


@pytest.mark.slow  # the page's modules in AppTest
def test_a_reader_whose_listed_weights_were_pruned_says_so(tmp_path, app_env):
    """The sidebar listed a step, the trainer pruned its weights, then the page loads it (or names it in
    a session file): a message on the page, no exception."""
    from streamlit.testing.v1 import AppTest
    assert train(tiny("gone", snapshot_every=4), tmp_path, progress=False, log=lambda _: None) == "finished"
    app_env(tmp_path)

    def page(run_path: str):
        import streamlit as st
        from dcgan.runs.rundir import RunDir
        from explorer.export_options import model_of
        from explorer.models import load_generator
        from explorer.sidebar import Selection
        sel = Selection(RunDir(run_path).path.parent, RunDir(run_path), "4")
        RunDir(run_path).snapshot_weights_path(4).unlink()  # pruned between the listing and the load
        G = load_generator(sel)
        st.write(f"G is {G}")
        model_of(sel)
        st.write("not reached")

    at = AppTest.from_function(page, args=(str(tmp_path / "gone"),), default_timeout=60).run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any("G_000004.safetensors has disappeared" in e and "pick another step" in e for e in errors), errors
    assert any("weights of step 4 have been deleted" in e for e in errors), errors
    assert [m.value for m in at.markdown] == ["G is None"]
