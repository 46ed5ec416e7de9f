"""The speed benchmark (bench/run.py) runs and fills its table: throughput and latency in --quick
mode on synthetic data. No speed is asserted here, ever: figures depend on the machine and its load;
the table's verdicts are for a person reading a run on a quiet machine."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.report import Row, Target
from bench.throughput import REFERENCE_SAVE_EVERY, Plan, Reference, auto_is_bf16, plan, reference_images_per_s


ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "checkpoints"
BATCH_SIZES = (64, 128)
REFERENCE_ROW = "reference: pytorch/examples main.py"
# on synthetic data the reference is not run, so no row is held against it; precision auto has rows
# of its own only where it is not fp32 (a CPU with AMX)
THROUGHPUT_ROWS = [REFERENCE_ROW, "bare train_step, fp32", "ours fp32 vs bare"] + (
    ["bare train_step, auto=bf16", "ours auto=bf16 vs bare"] if auto_is_bf16() else ["ours auto=fp32"])
LATENCY_ROWS = ["generator load (first view, then cached)", "one z -> one image, p95", "12x12 sweep grid, p95",
                "64-frame interpolation GIF, p95"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--parts", "throughput", "latency",
         "--dataset", "synthetic", "--sizes", "28", "--batch-sizes", *map(str, BATCH_SIZES), "--json", str(out),
         # one call per latency row, no warm-up: the 64 px sweep and GIF are the slow part of this test
         "--latency-calls", "1", "--latency-min-calls", "1", "--latency-warmup-calls", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


@pytest.mark.slow
def test_quick_run_has_every_row_with_finite_positive_figures(quick_run):
    report, _ = quick_run
    names = [(r["part"], r["name"]) for r in report["rows"]]
    expected = [(f"throughput 28 px, batch {b}", name) for b in BATCH_SIZES for name in THROUGHPUT_ROWS]
    for size, run in ((28, "mnist"), (64, "faces")):
        if (SHIPPED / run / "generator.safetensors").is_file():
            expected += [(f"latency {size} px ({run})", name) for name in LATENCY_ROWS]
    assert names == expected
    for row in report["rows"]:
        if row["name"] == REFERENCE_ROW:  # not measured, with the reason
            assert row["value"] is None and row["detail"].startswith("not measured: skipped: "), row
            continue
        assert math.isfinite(row["value"]) and row["value"] > 0, row
        if row["baseline"] is not None:
            assert math.isfinite(row["ratio"]) and row["ratio"] > 0, row
            assert row["passed"] in (True, False)
    ours = next(r for r in report["rows"] if r["name"] == "ours fp32 vs bare")
    assert len(ours["extra"]["rounds"]) == 1  # --quick: one round
    assert report["machine"]["cores"] >= 1 and report["machine"]["torch"]


@pytest.mark.slow
def test_quick_run_prints_the_machine_and_one_table(quick_run):
    report, stdout = quick_run
    assert stdout.startswith("machine: ")
    assert stdout.count("part ") == 1 and "verdict" in stdout
    assert "synthetic" in stdout  # the data the throughput was measured on is named
    assert f"of {sum(r['passed'] is not None for r in report['rows'])} targets met" in stdout


def test_no_window_holds_the_references_grid_save():
    for seconds_per_step in (0.0001, 0.001, 0.05, 2.0, 30.0):
        p = plan(seconds_per_step, window_s=10, warmup_s=2, min_steps=5, max_total=REFERENCE_SAVE_EVERY)
        assert 1 <= p.warmup and 5 <= p.steps and p.total <= REFERENCE_SAVE_EVERY
        # main.py saves after printing iterations 0, 100, ...; the window spans what follows the lines of
        # iterations warmup .. total-1
        assert not any(i % REFERENCE_SAVE_EVERY == 0 for i in range(p.warmup, p.total))
    assert plan(0.0001, window_s=10, warmup_s=2, min_steps=5).total > REFERENCE_SAVE_EVERY  # uncapped without


FAKE_MAIN = """import subprocess, sys, time
size = int(sys.argv[sys.argv.index("--imageSize") + 1])
if size == 28:  # as main.py's D does on a 28 px batch
    raise RuntimeError("Calculated padded input size per channel: (1 x 1). Kernel size: (4 x 4).")
# a child in the same process group, as its DataLoader workers are
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open("../worker.pid", "w") as f:  # beside main.py's --outf, its working folder
    f.write(f"{worker.pid}")
print("Random Seed:  1")
for i in range(938):
    print("[0/1][%d/938] Loss_D: 1.0000 Loss_G: 2.0000 D(x): 0.5000 D(G(z)): 0.5000 / 0.5000" % i)
    time.sleep(0.01)
time.sleep(600)
"""


def test_the_reference_is_timed_by_its_step_lines_and_stopped_with_its_workers(tmp_path):
    """A stand-in for main.py (same arguments, same line per iteration): timed over the window, then
    ended with the child it started; one that fails before its first step is reported with its error."""
    script = tmp_path / "main.py"
    script.write_text(FAKE_MAIN)
    run = reference_images_per_s(Reference(script, str(tmp_path)), 64, 64, 1, Plan(2, 5), tmp_path)
    assert run.why == "" and run.steps_seen == 8  # iterations 0 .. warmup + steps
    assert math.isfinite(run.images_per_s) and run.images_per_s > 0
    worker = int((tmp_path / "worker.pid").read_text())
    for _ in range(100):  # killed with its group (a zombie until something reaps it)
        if not Path(f"/proc/{worker}").exists() or Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"main.py's child {worker} outlived it")

    failed = reference_images_per_s(Reference(script, str(tmp_path)), 28, 64, 1, Plan(2, 5), tmp_path)
    assert failed.images_per_s is None and failed.steps_seen == 0
    assert failed.why.startswith("main.py exited with status 1 after 0 step(s): RuntimeError: Calculated padded")


def test_verdicts_use_the_ratio_when_there_is_a_baseline():
    assert Row("t", "x", 96.0, "img/s", 100.0, "bare", Target(">=", 0.95)).passed is True
    assert Row("t", "x", 94.0, "img/s", 100.0, "bare", Target(">=", 0.95)).passed is False
    assert Row("l", "x", 31.0, "ms", target=Target("<=", 30.0)).passed is False
    assert Row("l", "x", 31.0, "ms").passed is None


def ablation_row(variant: str, threads: int, parallel: int, fid: float) -> dict:
    generated = {"fid": fid, "precision": 0.5, "recall": 0.6, "confident_fraction": 0.336, "modes_covered": 999,
                 "modes_kl": 0.0442}
    return {"variant": variant, "description": f"{variant} text", "threads": threads, "parallel": parallel,
            "steps": 12345, "minutes": 60.0, "generated": generated,
            "floor": {"fid": 1.64, "precision": 0.92, "recall": 0.94, "confident_fraction": 0.938,
                      "modes_covered": 1000, "modes_kl": 0.0228}}


def test_ablation_table_says_how_rows_ran_when_they_differ_and_shows_stacked_figures():
    from bench.ablation import markdown_table

    same = markdown_table([ablation_row("plain", 1, 2, 30.0), ablation_row("ema", 1, 2, 29.0)], "stacked-mnist")
    assert "| ran |" not in same  # one share of the machine for every row: nothing to say
    mixed = markdown_table([ablation_row("plain", 1, 2, 30.0), ablation_row("recipe", 2, 1, 15.96)], "stacked-mnist")
    header, _, plain, recipe, floor = mixed.splitlines()
    assert header.split(" | ")[2:3] == ["ran"] and "all three confident" in header
    assert "| 1 thread, 2 at once | 12,345 | 30.00 |" in plain
    assert "| 2 threads, alone | 12,345 | 15.96 | 0.50 | 0.60 | 999 | 0.044 | 33.6 % |" in recipe
    assert floor.endswith("| 1.64 | 0.92 | 0.94 | 1000 | 0.023 | 93.8 % |")
    digits = markdown_table([ablation_row("plain", 1, 2, 17.5)], "mnist")
    assert "| classes | confident |" in digits and "modes" not in digits and "KL" not in digits


def test_ablation_table_gives_each_probed_row_its_day_and_machine_speed():
    from bench.ablation import markdown_table

    probed = dict(ablation_row("hinge-sn", 1, 2, 20.0), started="2026-12-03 08:41 UTC",
                  cpu="Intel(R) Xeon(R) Processor", probe={"before": 5.0, "after": 5.4})
    dated = dict(ablation_row("ema", 1, 2, 29.0), started="2026-12-02 17:29 UTC", cpu="AMD EPYC")
    table = markdown_table([ablation_row("plain", 1, 2, 30.0), dated, probed], "stacked-mnist")
    header, _, plain, ema, hinge, floor = table.splitlines()
    assert "| day, CPU: speed probe (plain steps/s) | steps |" in header and "| ran |" not in header
    assert "| plain text |  | 12,345 |" in plain  # trained before rows were dated: left blank
    assert "| ema text | 2026-12-02, AMD EPYC | 12,345 |" in ema  # dated, never probed
    assert "| hinge-sn text | 2026-12-03, Intel Xeon: 5.2 | 12,345 | 20.00 |" in hinge
    assert floor.count("|") == header.count("|")


def test_ablation_follow_ups_are_the_recipe_with_one_change():
    from bench.ablation import variant_config
    from dcgan.presets import RECIPES, preset_values

    recipe = variant_config("recipe", "mnist", "data", "r", 500)
    assert recipe["gan_loss"] == preset_values(RECIPES["mnist"])["gan_loss"] == "relativistic"
    assert recipe["depth"] == 2  # since 2026-12-03 MNIST's recipe is its own depth-2 follow-up
    stacked = variant_config("recipe", "stacked-mnist", "data", "r", 500)
    deeper = variant_config("recipe-depth2", "stacked-mnist", "data", "d", 500)
    assert deeper["depth"] == 2 and stacked["depth"] == 1
    assert {k for k in stacked if stacked[k] != deeper[k]} == {"depth", "run_name"}
    assert variant_config("recipe-g48", "mnist", "data", "g", 500)["d_width"] == recipe["d_width"]
    topk = variant_config("recipe-topk", "mnist", "data", "r", 500)
    assert {k: v for k, v in topk.items() if recipe[k] != v} == {"g_topk": 0.5}
    deepest = variant_config("recipe-depth3", "mnist", "data", "r", 500)
    assert {k: v for k, v in deepest.items() if recipe[k] != v} == {"depth": 3}


def test_an_ablation_seed_changes_only_the_seed():
    from bench.ablation import variant_config

    default, other = (variant_config("mbstd", "stacked-mnist", "data", "m", 500, seed) for seed in (None, 3))
    assert "seed" not in default and {k: v for k, v in other.items() if default.get(k) != v} == {"seed": 3}


def test_ablation_plot_title_names_the_budgets_the_rows_ran_with():
    from bench.ablation import plot_title

    rows = [ablation_row("plain", 1, 2, 30.0), ablation_row("ema", 1, 2, 29.0)]  # 60 min each
    assert plot_title(rows, "stacked-mnist") == "stacked-mnist: FID over wall time, 60 min per variant"
    rows.append(dict(ablation_row("recipe", 1, 2, 9.0), minutes=10))
    assert plot_title(rows, "mnist").endswith(", 10 / 60 min per variant")


@pytest.mark.slow
@pytest.mark.skipif(not (SHIPPED / "mnist" / "discriminator.safetensors").is_file(), reason="no shipped mnist D")
def test_critic_view_scores_what_it_can_and_says_what_it_left_out(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "critic.py"), "--models", "mnist", "no-such-run",
                           "--samples", "16", "--data-root", str(tmp_path / "no-data")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines()[1:]]
    assert [r[0] for r in rows] == ["mnist"] * 2 and all(r[1].isdigit() for r in rows)  # D's step, from its file
    assert [" ".join(r[2:-1]) for r in rows] == ["G's images", "uniform noise"]
    assert all(0 < float(r[-1]) < 1 for r in rows)
    # without the data the real rows are left out with a reason, and a run with no D is named
    assert proc.stderr.count("NOTICE: mnist: no") == 2 and "no-such-run" in proc.stderr
