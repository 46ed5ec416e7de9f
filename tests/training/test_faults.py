"""Faults: the trainer killed with SIGKILL at every kind of point, a full disk and read-only folders,
two trainers at once, and the app restarted while a run trains.

The kill tests arm a named fault point in a trainer process (dcgan/faults.py: it stops itself
there, half-way through a file write, say), look at the run directory, kill -9 it and check that
every file is complete and either the old or the new version. "New" is exact: training is
deterministic, so every snapshot, metrics line and the final weights of a run killed and resumed
over and over must equal those of the same run trained without interruption."""
from __future__ import annotations

import contextlib
import json
import random
import signal
import time
from pathlib import Path

import pytest
import streamlit as st
import torch
from safetensors.torch import load as st_load
from streamlit.testing.v1 import AppTest

import faultkit
from apptestkit import open_app
from faultkit import cli_out
from dcgan import faults
from dcgan.runs.checkpoint import load_run_generator, load_training_state
from dcgan.config import ConfigError, TrainConfig
from dcgan.training.launch import start_training, stop_training, wait_for_state
from dcgan.runs.files import TEMP_SUFFIX, WriteError, read_json
from dcgan.runs.rundir import ACTIVE_STATES, RunDir, list_runs
from dcgan.training.resume import resume_config
from dcgan.training.loop import train

pytestmark = pytest.mark.slow  # trainer processes, killed and resumed


INTERVAL = 5  # checkpoint_every: a kill may cost at most this many steps
TOTAL = 240  # room for 22 named and 4 random kills, each up to two intervals on, before the end
CFG = dict(dataset="synthetic", image_size=28, batch_size=16, z_dim=16, g_width=8, d_width=8, grid_size=16,
           steps=TOTAL, snapshot_every=3, snapshot_weights_every=1, checkpoint_every=INTERVAL, log_every=1000,
           seed=5)
VOLATILE = ("time", "images_per_s")  # the metrics fields two runs of the same steps may differ in

# One trainer process each, in this order, every one resumed from what the last one left: where
# it stops itself to be killed with SIGKILL (dcgan/faults.py; counts are per process).
KILL_POINTS = [
    "step@7",                             # a fresh run, after step 7's update, before it is logged
    "append:metrics.jsonl@4",             # half a metrics line on disk
    "write:grid_*@2",                     # half a snapshot grid in its temporary file
    "replaced:grid_*@2",                  # a grid written, its weights not yet
    "write:G_*@1",                        # half the snapshot weights
    "replaced:G_*@3",
    "write:checkpoint.pt@1",              # half a checkpoint: the old one must survive
    "replaced:checkpoint.pt@1",           # new checkpoint, generator.safetensors still the old one
    "write:generator.safetensors@1",
    "replaced:generator.safetensors@1",   # generator.json still the old one
    "write:generator.json@1",
    "replaced:generator.json@1",
    "write:status.json@2",
    "replaced:status.json@1",             # the first 'running' of a resumed trainer
    "write:metrics.jsonl@1",              # a resume rewriting metrics.jsonl without the lost steps
    "replaced:metrics.jsonl@1",
    "write:config.json@1",                # a resume rewriting config.json
    "step@1",
    "write:checkpoint.pt@2",
    "append:metrics.jsonl@12",
    "write:G_*@4",
    "step@9=kill",                        # SIGKILL from inside, no pause
]
RANDOM_KILLS = 4  # and kill -9 from outside at random steps


def strip(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in VOLATILE}


def trainer_argv(config: Path, root: Path) -> list[str]:
    return ["train", "--config", str(config), "--checkpoints", str(root), "--quiet"]


def resume_argv(name: str, root: Path, steps: int = TOTAL) -> list[str]:
    return ["resume", name, "--steps", str(steps), "--checkpoints", str(root), "--quiet"]


def write_config(path: Path, name: str, **changes) -> Path:
    path.write_text(json.dumps({**CFG, "run_name": name, **changes}))
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> RunDir:
    """The same run as the kill tests', trained to TOTAL steps without interruption."""
    tmp = tmp_path_factory.mktemp("reference")
    t = faultkit.Trainer(trainer_argv(write_config(tmp / "ref.json", "ref"), tmp), tmp / "ref.log")
    assert t.join() == 0, t.log()
    return RunDir(tmp / "ref")


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)



def check_after_kill(run: RunDir, ref: RunDir, point: str | None) -> int:
    """Every file complete and old-or-new; returns the checkpoint step a resume starts from."""
    temps = list(run.path.rglob("*" + TEMP_SUFFIX))
    assert len(temps) <= 1, temps  # the last kill's at most: a resume removes earlier ones
    if point and point.startswith("write:"):
        assert len(temps) == 1, "the kill did not land mid-write"
    assert TrainConfig.load(run.config_path).run_name == run.name
    st = run.status()
    assert st["state"] == "interrupted" and "resume" in st["error"], st
    code, out, _ = cli_out("runs", "--checkpoints", str(run.path.parent))
    assert code == 0 and any(line.split()[:2] == [run.name, "interrupted"] for line in out.splitlines()), out

    # metrics.jsonl: complete lines only, but for at most a torn last one that readers skip
    lines = run.metrics_path.read_bytes().split(b"\n")
    records = [json.loads(line) for line in lines[:-1]]
    if point and point.startswith("append:"):
        assert lines[-1], "no torn line: the kill did not land mid-append"
    assert run.metrics() == records
    steps = [r["step"] for r in records]
    assert steps == list(range(1, len(steps) + 1))
    ref_metrics = ref.metrics()
    assert [strip(r) for r in records] == [strip(r) for r in ref_metrics[:len(records)]]

    # checkpoint: complete, at most one interval behind the last logged step
    ckpt = load_training_state(run.checkpoint_path)
    done = ckpt["step"]
    assert done % INTERVAL == 0 and 0 <= steps[-1] - done <= INTERVAL, (done, steps[-1])
    ref_weights = ref.snapshot_weights_path(done)
    if ref_weights.is_file():  # old or new: the exact G of the reference run at that step
        expected = st_load(ref_weights.read_bytes())
        assert all(torch.equal(ckpt["G"][k].half() if v.dtype == torch.float16 else ckpt["G"][k], v)
                   for k, v in expected.items())
    gen = read_json(run.generator_config_path)
    assert gen["step"] <= done and gen["step"] % INTERVAL == 0  # written after checkpoint.pt, so maybe older
    G = load_run_generator(run)  # complete enough to load, and the run's own finite G
    assert G.z_dim == CFG["z_dim"] and all(torch.isfinite(p).all() for p in G.parameters())

    # snapshots and fixed z: byte for byte the reference run's files
    assert run.fixed_z_path.read_bytes() == ref.fixed_z_path.read_bytes()
    for path in run.snapshots_dir.iterdir():
        if not path.name.endswith(TEMP_SUFFIX):
            assert path.read_bytes() == (ref.snapshots_dir / path.name).read_bytes(), path.name
    assert max(run.snapshot_steps()) <= steps[-1]
    return done


def assert_same_as_reference(run: RunDir, ref: RunDir) -> None:
    assert [strip(r) for r in run.metrics()] == [strip(r) for r in ref.metrics()]
    assert sorted(p.name for p in run.snapshots_dir.iterdir()) == sorted(p.name for p in ref.snapshots_dir.iterdir())
    for path in ref.snapshots_dir.iterdir():
        assert (run.snapshots_dir / path.name).read_bytes() == path.read_bytes(), path.name
    assert run.generator_path.read_bytes() == ref.generator_path.read_bytes()
    a, b = load_training_state(run.checkpoint_path), load_training_state(ref.checkpoint_path)
    assert a["step"] == b["step"] == TOTAL
    for key in ("G", "D"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in b[key])
    assert not list(run.path.rglob("*" + TEMP_SUFFIX))



def test_kill9_at_26_points_loses_at_most_one_interval_and_resumes_exactly(tmp_path, reference, app_env,
                                                                             monkeypatch):
    root = tmp_path / "checkpoints"
    run = RunDir(root / "crash")
    config = write_config(tmp_path / "crash.json", "crash")
    rng = random.Random(6)
    done, survived = 0, []
    for i, point in enumerate(KILL_POINTS + [None] * RANDOM_KILLS):
        argv = trainer_argv(config, root) if i == 0 else resume_argv("crash", root)
        t = faultkit.Trainer(argv, tmp_path / f"trainer-{i}.log", point)
        try:
            if point is None:  # from outside, at a random step after the resume
                target = done + rng.randint(1, 2 * INTERVAL)
                deadline = time.monotonic() + 120
                while (run.metrics() or [{"step": 0}])[-1]["step"] < target and time.monotonic() < deadline:
                    assert t.proc.exitcode is None, t.log()
                    time.sleep(0.005)
                assert t.kill9() == -signal.SIGKILL
            elif point.endswith("=kill"):
                assert t.join() == -signal.SIGKILL, t.log()
            else:
                assert t.wait_stopped_or_exit() == "stopped", f"{point} never reached: {t.log()}"
                # paused at the point: once it has said so the run is running, and nobody else may train it
                if read_json(run.status_path)["pid"] == t.pid:
                    assert run.status()["state"] == "running"
                with pytest.raises(ConfigError, match="being trained by another process"):
                    train(resume_config(root, "crash", steps=TOTAL), root, resume=True, progress=False)
                assert t.kill9() == -signal.SIGKILL
        finally:
            t.ensure_gone()
        done = check_after_kill(run, reference, point)
        survived.append(point or "random")
        print(f"killed at {point or 'random'}, resumes from step {done}")
    assert len(survived) == len(KILL_POINTS) + RANDOM_KILLS >= 20

    # the app: interrupted, not running, with a Resume button that finishes the run as if never killed
    app_env(root)
    at = open_app("train")
    assert any("state: **interrupted**" in c.value for c in at.sidebar.caption)
    assert any("was interrupted" in w.value and "Resume continues" in w.value for w in at.warning)
    assert not any("refreshes every" in i.value for i in at.info)
    assert button(at, "Stop").disabled and not button(at, "Resume").disabled
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as the fork-server trainers: the same results to the bit
    assert at.number_input(key="train_resume_to_crash").value == TOTAL  # Resume's default: the configured end
    button(at, "Resume").click().run()
    assert not at.exception and not at.error
    st_ = wait_for_state(run, timeout_s=240)
    assert st_["state"] == "finished" and st_["step"] == TOTAL, (st_, run.log_path.read_text()[-2000:])
    assert_same_as_reference(run, reference)


def test_kill9_before_the_first_checkpoint_says_so(tmp_path, app_env):
    root = tmp_path / "checkpoints"
    run = RunDir(root / "early")
    t = faultkit.Trainer(trainer_argv(write_config(tmp_path / "early.json", "early"), root),
                         tmp_path / "early.log", "write:checkpoint.pt@1")
    try:
        assert t.wait_stopped_or_exit() == "stopped", t.log()
        assert t.kill9() == -signal.SIGKILL
    finally:
        t.ensure_gone()
    assert run.status()["state"] == "interrupted"
    assert not run.checkpoint_path.exists()
    code, _, err = cli_out(*resume_argv("early", root))
    assert code == 2 and "has no checkpoint to resume from" in err and len(err.splitlines()) == 1
    app_env(root)
    at = open_app("train")
    assert any("saved no checkpoint" in w.value for w in at.warning)
    assert button(at, "Resume").disabled



@pytest.fixture
def armed():
    yield faults.arm
    faults.arm(None)


def small(name: str, **changes) -> TrainConfig:
    return TrainConfig(**{**CFG, "run_name": name, "steps": 20, **changes})


@pytest.mark.parametrize("point, file", [
    ("write:checkpoint.pt@3", "checkpoint.pt"),
    ("write:generator.safetensors@3", "generator.safetensors"),
    ("write:G_*@4", "G_000009.safetensors"),
    ("append:metrics.jsonl@8", "metrics.jsonl"),
    ("write:status.json@2", "status.json"),
])
def test_disk_full_fails_the_run_clearly_and_keeps_the_good_checkpoint(tmp_path, armed, point, file):
    armed(f"{point}=ENOSPC")
    with pytest.raises(WriteError, match=f"{file}: the disk is full"):
        train(small("full"), tmp_path, progress=False, log=lambda _: None)
    run = RunDir(tmp_path / "full")
    st_ = run.status()
    assert st_["state"] == "failed" and f"{file}: the disk is full" in st_["error"], st_
    good = load_training_state(run.checkpoint_path)["step"]
    assert f"the last checkpoint (step {good}) is kept" in st_["error"]
    assert "\n" not in st_["error"] and "Traceback" not in st_["error"]
    assert not list(run.path.rglob("*" + TEMP_SUFFIX))
    armed(None)  # space freed: the run resumes (status.json@2 failed only its final 'finished')
    assert train(resume_config(tmp_path, "full", steps=25), tmp_path, resume=True, progress=False,
                 log=lambda _: None) == "finished"


def chmod_blocks_writes(folder: Path) -> bool:
    """Whether a read-only mode stops this user writing (not for root, whom chmod does not stop)."""
    probe = folder / "probe"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        (probe / "x").write_bytes(b"")
        return False
    except PermissionError:
        return True
    finally:
        probe.chmod(0o755)
        (probe / "x").unlink(missing_ok=True)
        probe.rmdir()


@contextlib.contextmanager
def read_only(tmp_path: Path, folders: list[Path], names: str):
    """Make folders read-only: chmod where that stops us, else (root) every write of a file whose
    name matches names fails as on a read-only file system."""
    if chmod_blocks_writes(tmp_path):
        for f in folders:
            f.chmod(0o555)
        try:
            yield "permission"
        finally:
            for f in folders:
                f.chmod(0o755)
    else:
        faults.arm(f"write:{names}@1+=EROFS")
        try:
            yield "read-only"
        finally:
            faults.arm(None)


def test_read_only_snapshots_folder_fails_clearly_in_status_cli_and_page(tmp_path, app_env):
    root = tmp_path / "checkpoints"
    assert train(small("ro", steps=10), root, progress=False, log=lambda _: None) == "finished"
    run = RunDir(root / "ro")
    good = run.checkpoint_path.read_bytes()
    with read_only(tmp_path, [run.snapshots_dir], "*_0000*") as why:
        code, _, err = cli_out(*resume_argv("ro", root, steps=20))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "snapshots/grid_000012.png" in err and why in err
    st_ = run.status()
    assert st_["state"] == "failed" and "grid_000012.png" in st_["error"] and why in st_["error"]
    assert "the last checkpoint (step 10) is kept" in st_["error"]
    assert run.checkpoint_path.read_bytes() == good
    app_env(root)
    at = open_app("train")
    assert any("grid_000012.png" in e.value and why in e.value for e in at.error)


def test_read_only_run_folder_mid_run_shows_interrupted_with_the_error(tmp_path, app_env):
    """Nothing can be written, status.json included: the trainer ends with the error in train.log,
    readers see it interrupted, and the page shows why; a Resume is refused with the reason."""
    root = tmp_path / "checkpoints"
    run = RunDir(root / "rw")
    config = write_config(tmp_path / "rw.json", "rw", steps=10_000)
    run.path.mkdir(parents=True)  # for train.log, the trainer's output as when the app launches it
    chmod_works = chmod_blocks_writes(tmp_path)
    point = "step@12" if chmod_works else "write:*@16+=EROFS"
    t = faultkit.Trainer(trainer_argv(config, root), run.log_path, point)
    try:
        if chmod_works:
            assert t.wait_stopped_or_exit() == "stopped", t.log()
            run.snapshots_dir.chmod(0o555)
            run.path.chmod(0o555)
            t.cont()
        assert t.join() == 1, t.log()
    finally:
        t.ensure_gone()
    log = run.log_path.read_text()
    assert "error: cannot write" in log and "Traceback" not in log
    assert run.status()["state"] == "interrupted"
    assert load_training_state(run.checkpoint_path)["step"] % INTERVAL == 0
    app_env(root)
    try:
        at = open_app("train")
        assert any("was interrupted" in w.value for w in at.warning)
        assert "error: cannot write" in at.code[0].value
        if not chmod_works:
            faults.arm("write:*@1+=EROFS")
        button(at, "Resume").click().run()
        assert not at.exception
        assert any("Cannot resume: cannot write" in e.value for e in at.error), [e.value for e in at.error]
    finally:
        faults.arm(None)
        if chmod_works:
            run.path.chmod(0o755)
            run.snapshots_dir.chmod(0o755)



def test_two_runs_train_at_once_without_crossing(tmp_path):
    a = start_training(small("a", steps=100_000, seed=1), tmp_path)
    b = start_training(small("b", steps=40, seed=2, checkpoint_every=10), tmp_path)
    try:
        assert wait_for_state(b, timeout_s=240)["state"] == "finished", b.log_path.read_text()
        assert a.status()["state"] == "running"
    finally:
        if a.status()["state"] in ACTIVE_STATES:  # else a refused stop would hide the failure above
            stop_training(tmp_path, "a")
    assert wait_for_state(a, timeout_s=120)["state"] == "stopped", a.log_path.read_text()
    sa, sb = a.status(), b.status()
    assert sa["pid"] != sb["pid"]
    assert [r["step"] for r in b.metrics()] == list(range(1, 41))
    assert [r["step"] for r in a.metrics()] == list(range(1, sa["step"] + 1))
    assert load_training_state(a.checkpoint_path)["step"] == sa["step"]
    assert load_training_state(b.checkpoint_path)["step"] == 40
    assert (TrainConfig.load(a.config_path).seed, TrainConfig.load(b.config_path).seed) == (1, 2)
    assert a.fixed_z_path.read_bytes() != b.fixed_z_path.read_bytes()
    assert {r.name: r.status()["state"] for r in list_runs(tmp_path)} == {"a": "stopped", "b": "finished"}


def test_a_second_trainer_for_the_same_run_is_refused(tmp_path):
    root = tmp_path / "checkpoints"
    config = write_config(tmp_path / "same.json", "same", steps=12)
    first = faultkit.Trainer(trainer_argv(config, root), tmp_path / "first.log", "step@2")
    try:
        assert first.wait_stopped_or_exit() == "stopped", first.log()
        for i, argv in enumerate([trainer_argv(config, root), resume_argv("same", root, 30)]):
            other = faultkit.Trainer(argv, tmp_path / f"other{i}.log")
            assert other.join() == 2
            assert "error: run 'same' is being trained by another process" in other.log()
        with pytest.raises(ConfigError, match="already exists"):
            start_training(TrainConfig.load(config), root)
        first.cont()
        assert first.join() == 0, first.log()
    finally:
        first.ensure_gone()
    run = RunDir(root / "same")
    assert run.status()["state"] == "finished"
    assert [r["step"] for r in run.metrics()] == list(range(1, 13))



def test_app_restarted_while_a_run_trains_picks_it_up(tmp_path, app_env):
    root = tmp_path / "checkpoints"
    run = RunDir(root / "live")
    t = faultkit.Trainer(trainer_argv(write_config(tmp_path / "live.json", "live", steps=100_000), root),
                         tmp_path / "live.log")
    try:
        deadline = time.monotonic() + 120
        while run.status().get("step", 0) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        app_env(root)
        at = open_app("train")
        assert any("**live** is running" in i.value for i in at.info)
        first = int(at.get("progress")[0].proto.text.split("/")[0].split()[-1])
        assert first >= 6

        # "restart": a new session of a new app object, only the files in common
        while run.status().get("step", 0) < first + 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        st.cache_resource.clear()
        at = open_app("train")
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert any("refreshes every" in i.value for i in at.info)
        later = int(at.get("progress")[0].proto.text.split("/")[0].split()[-1])
        assert later >= first + 30
        newest = int(at.get("image")[0].captions[0].rsplit(" ", 1)[1])
        assert newest > first
        at.switch_page("explorer/progress.py").run()
        assert not at.exception
        assert len(at.select_slider(key="progress_step").options) >= newest // 3
    finally:
        if RunDir(root / "live").status()["state"] in ACTIVE_STATES:
            stop_training(root, "live")
        try:
            assert t.join(120) == 0, t.log()
        finally:
            t.ensure_gone()
    assert run.status()["state"] == "stopped"
