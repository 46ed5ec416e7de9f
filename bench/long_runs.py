"""Long runs: what the app's live views and `runs` cost as a run (or the number of runs) grows.

    python bench/long_runs.py            # 10k, 200k and 1M steps; 2,000 snapshots; 200 runs (~3 min)
    python bench/long_runs.py --quick    # a smoke run: 2k and 10k steps, 50 snapshots, 10 runs
    python bench/long_runs.py --json long_runs.json

Rows (one table on stdout, progress on stderr; synthetic files in a temporary folder, removed after):

- chart refresh at N steps: the Train page's charts as explorer.live.run_curves draws them: read what
  metrics.jsonl gained (runs.follow), add it to the buckets (analysis.downsample), build the loss and D
  figures and serialise them as st.plotly_chart does. "first load": a viewer's first look at the run
  (the whole file, once per server); "refresh": after 100 more steps were appended (median of 10),
  the cost every refresh pays (rounds interleaved over the run lengths, so the machine's load hits
  each alike). Goal: refresh within 2x across the run lengths. "whole re-read" is what every refresh
  cost before (RunDir.metrics() and figures from every record, with today's faster parser: a lower
  bound), not run at 1M steps unless --reread-1m (a million records in memory are several GB).
- snapshot scrub at 2,000 snapshots: one move of the Progress page's slider on the server: list the
  snapshots, read the grid PNG, redraw both charts with the step marker (median of 30); and the whole
  Progress page under Streamlit's AppTest, first run and one slider move (the widget sends every option).
- cost of one metrics line: its bytes, and the microseconds to parse it, check it and add it to the
  buckets (what a first load pays per step; docs/run-directory.md's choice of one line per step).
- runs: list_runs + RunDir.summary for every run (the app's All-runs table), and `python -m dcgan runs`
  end to end (Python start and imports included), on 200 synthetic finished runs.

No figure is asserted: they depend on the machine and its load (printed first).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/long_runs.py` from anywhere
    sys.path.insert(0, str(ROOT))

from dcgan.analysis.downsample import RunCurves  # noqa: E402
from dcgan.config import TrainConfig  # noqa: E402
from dcgan.runs.files import atomic_write_json  # noqa: E402
from dcgan.runs.rundir import RunDir, list_runs  # noqa: E402
from explorer.charts import CHART_KEYS, auto_window, discriminator_figure, loss_figure  # noqa: E402

REFRESH_LINES = 100  # steps appended between two refreshes (15 s of a fast 28 px run)
REFRESH_GOAL = 2.0  # the slowest refresh within this factor of the fastest


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def metrics_lines(start: int, n: int, seed: int) -> bytes:
    """n metrics.jsonl lines as the trainer writes them (its keys, compact, ~230 bytes), from step start."""
    rnd = random.Random(seed)
    t0 = 1_796_000_000.0
    out = []
    for s in range(start, start + n):
        u = rnd.random()
        loss_d = 0.6 + 0.4 * u + (5.0 if s % 99_991 == 0 else 0.0)  # now and then a one-step spike
        out.append(f'{{"step":{s},"epoch":{s / 1875:.4f},"time":{t0 + s * 0.06:.3f},"loss_d":{loss_d:.6g},'
                   f'"loss_g":{0.8 + 0.5 * (1 - u):.6g},"d_x":{0.55 + 0.1 * u:.6g},"d_g_z":{0.45 - 0.1 * u:.6g},'
                   f'"d_g_z_after":{0.44 - 0.1 * u:.6g},"acc_real":{0.5 + 0.3 * u:.6g},"acc_fake":{0.6 + 0.2 * u:.6g},'
                   f'"lr_d":0.0002,"lr_g":0.0002,"images_per_s":{450 + 40 * u:.1f}}}\n')
    return "".join(out).encode()


def make_run(root: Path, name: str, steps: int = 0, snapshots: int = 0, grid_png: bytes = b"",
             weights_every: int = 10, seed: int = 0) -> RunDir:
    """A finished run as the trainer leaves it: config, status, metrics.jsonl, snapshot grids (and an
    empty weights file with every weights_every-th, which only the listing sees)."""
    run = RunDir(root / name)
    run.snapshots_dir.mkdir(parents=True)
    cfg = TrainConfig(run_name=name, dataset="mnist", image_size=28, channels=1, steps=max(steps, 1))
    atomic_write_json(run.config_path, cfg.to_dict())
    atomic_write_json(run.status_path, {"state": "finished", "pid": None, "pid_start": None, "host": platform.node(),
                                        "step": steps, "total_steps": steps, "heartbeat": time.time(), "error": None})
    piece = 50_000
    with open(run.metrics_path, "wb") as f:
        for start in range(1, steps + 1, piece):
            f.write(metrics_lines(start, min(piece, steps + 1 - start), seed + start))
    for i in range(snapshots):
        step = i * 200
        run.grid_path(step).write_bytes(grid_png)
        if i % weights_every == 0:
            run.snapshot_weights_path(step).write_bytes(b"")
    return run


def grid_png() -> bytes:
    """An 8x8 grid of 28 px noise tiles as a PNG the size of an MNIST run's (242 px, grey)."""
    import numpy as np
    from dcgan.imaging import png_bytes
    rnd = np.random.default_rng(0)
    return png_bytes(rnd.integers(0, 256, (242, 242), dtype=np.uint8))


def ms(seconds: float) -> float:
    return seconds * 1000.0


def draw(buckets) -> int:
    """Both charts as the Train page draws them, serialised as st.plotly_chart sends them (bytes)."""
    smooth = auto_window(len(buckets))
    figs = (loss_figure(buckets, smooth=smooth), discriminator_figure(buckets, smooth=smooth))
    return sum(len(f.to_json()) for f in figs)


def timed(call, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


# --- chart refresh ----------------------------------------------------------------------------------
def chart_rows(root: Path, sizes: list[int], refreshes: int, reread_max: int) -> list[dict]:
    draw(RunCurves(make_run(root, "warmup", steps=50), CHART_KEYS).update())  # plotly's first figure builds its caches
    runs, curves, rows = {}, {}, {}
    for n in sizes:
        note(f"chart refresh: writing a {n:,}-step metrics.jsonl")
        runs[n] = make_run(root, f"long{n}", steps=n)
        curves[n] = RunCurves(runs[n], CHART_KEYS)
        note(f"chart refresh: first load of {n:,} steps")
        start = time.perf_counter()
        sent = draw(curves[n].update().copy())
        rows[n] = {"steps": n, "file_mb": runs[n].metrics_path.stat().st_size / 1e6,
                   "first_load_ms": ms(time.perf_counter() - start), "figure_json_bytes": sent, "refresh_all_ms": [],
                   "whole_reread_ms": None}
    # refreshes round-robin over the run lengths, so a change in the machine's load hits each alike
    note(f"chart refresh: {refreshes} rounds of +{REFRESH_LINES} steps")
    for i in range(refreshes):
        for n in sizes:
            step = n + 1 + i * REFRESH_LINES
            with open(runs[n].metrics_path, "ab") as f:
                f.write(metrics_lines(step, REFRESH_LINES, step))
            rows[n]["refresh_all_ms"] += [ms(t) for t in timed(lambda: draw(curves[n].update().copy()), 1)]
    for n in sizes:
        if n <= reread_max:
            note(f"chart refresh: whole re-read at {n:,} steps")
            rows[n]["whole_reread_ms"] = ms(min(timed(lambda: draw(runs[n].metrics()), 1 if n > 50_000 else 3)))
        buckets = curves[n].buckets
        rows[n].update(refresh_ms=statistics.median(rows[n]["refresh_all_ms"]),
                       refresh_min_ms=min(rows[n]["refresh_all_ms"]), buckets=int(len(buckets.fill)),
                       bucket_width=int(buckets.width))
        shutil.rmtree(runs[n].path)
    return [rows[n] for n in sizes]


# --- cost per line ----------------------------------------------------------------------------------
def line_costs(lines: int) -> dict:
    """What one metrics.jsonl line costs: its bytes, and microseconds to parse it (json's scanner over the
    text, and line by line as before), to check its types, and to add it to the buckets."""
    from dcgan.analysis.downsample import CurveBuckets
    from dcgan.runs.files import Records, _add_line, parse_jsonl
    from dcgan.runs.records import valid_metrics_record
    note(f"cost per line: {lines:,} lines")
    data = metrics_lines(1, lines, 0)
    careful = Records()

    def line_by_line():
        for piece in data.split(b"\n")[:-1]:
            _add_line(careful, piece + b"\n")

    records = parse_jsonl(data)
    per_line = {"bytes": len(data) / lines,
                "parse_us": min(timed(lambda: parse_jsonl(data), 3)),
                "line_by_line_us": min(timed(line_by_line, 1)),
                "check_us": min(timed(lambda: [valid_metrics_record(r) for r in records], 3)),
                "buckets_us": min(timed(lambda: CurveBuckets(CHART_KEYS).add(records), 3))}
    return {k: v if k == "bytes" else v / lines * 1e6 for k, v in per_line.items()}


# --- snapshot scrub ---------------------------------------------------------------------------------
def scrub_row(root: Path, snapshots: int, steps: int, moves: int, apptest: bool) -> dict:
    note(f"snapshot scrub: a run with {snapshots:,} snapshots and {steps:,} steps")
    png = grid_png()
    run = make_run(root / "scrub", "scrub", steps=steps, snapshots=snapshots, grid_png=png)
    curves = RunCurves(run, CHART_KEYS)
    buckets = curves.update().copy()
    smooth = auto_window(len(buckets))
    rnd = random.Random(0)

    def move():
        # what the Progress page's viewer fragment does for one slider move (the widget aside)
        shown = run.snapshot_steps()
        step = rnd.choice(shown)
        run.grid_path(step).read_bytes()
        cfg = run.train_config()
        return sum(len(f.to_json()) for f in (loss_figure(buckets, marker_step=step, smooth=smooth, cfg=cfg),
                                              discriminator_figure(buckets, marker_step=step, smooth=smooth)))

    move()
    times = timed(move, moves)
    list_times = timed(run.snapshot_steps, moves)
    row = {"snapshots": snapshots, "steps": steps, "grid_png_bytes": len(png), "move_ms": ms(statistics.median(times)),
           "move_p95_ms": ms(sorted(times)[int(0.95 * (len(times) - 1))]),
           "list_snapshots_ms": ms(statistics.median(list_times)), "page_first_s": None, "page_move_s": None}
    if apptest:
        row.update(progress_page(root / "scrub"))
    return row


def progress_page(checkpoints: Path) -> dict:
    """The Progress page under AppTest (this process, no browser): its first run, then one slider move."""
    note("snapshot scrub: the Progress page under AppTest (imports torch)")
    os.environ["DCGAN_CHECKPOINTS"] = str(checkpoints)
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.run()
    start = time.perf_counter()
    at.switch_page("explorer/progress.py").run()
    first = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"the Progress page failed: {at.exception}")
    slider = at.select_slider(key="progress_step")
    options = list(slider.options)
    moves = []
    for target in (options[len(options) // 2], options[len(options) // 3], options[1]):
        start = time.perf_counter()
        slider.set_value(int(target)).run()
        moves.append(time.perf_counter() - start)
        slider = at.select_slider(key="progress_step")
    if at.exception:
        raise RuntimeError(f"the Progress page failed: {at.exception}")
    return {"page_first_s": first, "page_move_s": statistics.median(moves), "slider_options": len(options)}


# --- runs -------------------------------------------------------------------------------------------
def runs_row(root: Path, count: int, repeats: int) -> dict:
    note(f"runs: {count} synthetic runs")
    png = grid_png()
    folder = root / "many"
    for i in range(count):
        make_run(folder, f"run{i:03d}", steps=2_000, snapshots=10, grid_png=png, seed=i)
    summaries = timed(lambda: [r.summary() for r in list_runs(folder)], repeats)
    listing = timed(lambda: list_runs(folder), repeats)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dcgan", "runs", "--checkpoints", str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    cli = time.perf_counter() - start
    if proc.returncode != 0 or proc.stdout.count("\n") < count:
        raise RuntimeError(f"`python -m dcgan runs` failed: {proc.stderr[-2000:]}")
    return {"runs": count, "list_runs_ms": ms(statistics.median(listing)),
            "list_and_summaries_ms": ms(statistics.median(summaries)), "cli_s": cli}


# --- the table --------------------------------------------------------------------------------------
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; load average {load}"


def table(report: dict) -> str:
    lines = [f"machine: {report['machine']}", f"date: {report['date']}", "",
             f"{'part':<34} | {'figure':>11} | detail"]
    lines.append("-" * len(lines[-1]))

    def row(part: str, figure: str, detail: str = "") -> None:
        lines.append(f"{part:<34} | {figure:>11} | {detail}")

    c = report.get("line")
    if c:
        total = c["parse_us"] + c["check_us"] + c["buckets_us"]
        row("cost of one metrics line", f"{total:.1f} us",
            f"{c['bytes']:.0f} bytes; parse {c['parse_us']:.1f} (line by line {c['line_by_line_us']:.1f}), "
            f"check {c['check_us']:.1f}, buckets {c['buckets_us']:.1f} us")
    charts = report["charts"]
    for c in charts:
        reread = f"; whole re-read {c['whole_reread_ms']:,.0f} ms" if c["whole_reread_ms"] is not None else ""
        row(f"chart first load, {c['steps']:,} steps", f"{c['first_load_ms']:,.0f} ms",
            f"metrics.jsonl {c['file_mb']:,.1f} MB; {c['buckets']} buckets of {c['bucket_width']} steps{reread}")
        row(f"chart refresh, {c['steps']:,} steps", f"{c['refresh_ms']:,.1f} ms",
            f"+{REFRESH_LINES} steps, median of {len(c['refresh_all_ms'])} (fastest {c['refresh_min_ms']:,.1f} ms); "
            f"figures {c['figure_json_bytes'] / 1e3:,.0f} kB")
    if charts:
        spread = max(c["refresh_ms"] for c in charts) / min(c["refresh_ms"] for c in charts)
        verdict = "met" if spread <= REFRESH_GOAL else "MISSED"
        row("chart refresh, slowest/fastest", f"{spread:.2f}x", f"goal <= {REFRESH_GOAL:g}x: {verdict}")
    s = report.get("scrub")
    if s:
        row(f"snapshot scrub, {s['snapshots']:,} snapshots", f"{s['move_ms']:,.1f} ms",
            f"p95 {s['move_p95_ms']:,.1f} ms: list {s['list_snapshots_ms']:,.1f} ms + grid PNG + 2 charts "
            f"({s['steps']:,} steps)")
        if s.get("page_move_s") is not None:
            row("Progress page (AppTest)", f"{s['page_move_s'] * 1000:,.0f} ms",
                f"a slider move over {s['slider_options']:,} options, whole page; first run {s['page_first_s']:.2f} s")
    r = report.get("runs")
    if r:
        row(f"runs table, {r['runs']} runs", f"{r['list_and_summaries_ms']:,.0f} ms",
            f"list_runs + summary each (list_runs alone {r['list_runs_ms']:,.1f} ms)")
        row(f"python -m dcgan runs, {r['runs']} runs", f"{r['cli_s']:.2f} s", "end to end, Python start included")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: small files, few repeats")
    ap.add_argument("--sizes", type=int, nargs="+", help="run lengths in steps (default 10k 200k 1M)")
    ap.add_argument("--snapshots", type=int, help="snapshots of the scrub run (default 2,000)")
    ap.add_argument("--runs", type=int, help="runs for the runs table (default 200)")
    ap.add_argument("--no-apptest", action="store_true", help="leave out the Progress page under AppTest")
    ap.add_argument("--reread-1m", action="store_true", help="also time the whole re-read at 1M steps")
    ap.add_argument("--json", type=Path, help="write every figure here as well")
    args = ap.parse_args(argv)
    sizes = args.sizes or ([2_000, 10_000] if args.quick else [10_000, 200_000, 1_000_000])
    snapshots = args.snapshots or (50 if args.quick else 2_000)
    runs = args.runs or (10 if args.quick else 200)
    report = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M %Z"), "quick": args.quick}
    with tempfile.TemporaryDirectory(prefix="long_runs_") as tmp:
        root = Path(tmp)
        report["line"] = line_costs(20_000 if args.quick else 200_000)
        report["charts"] = chart_rows(root, sizes, 3 if args.quick else 10,
                                      reread_max=10 ** 7 if args.reread_1m else 200_000)
        report["scrub"] = scrub_row(root, snapshots, steps=snapshots * 200 if not args.quick else 2_000,
                                    moves=5 if args.quick else 30, apptest=not args.no_apptest)
        report["runs"] = runs_row(root, runs, 2 if args.quick else 5)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
