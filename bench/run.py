"""The project's speed benchmark: one run, one table, each figure against its baseline or target.

    python bench/run.py                    # everything, about 10-15 minutes on a quiet 2-core machine
    python bench/run.py --quick            # a smoke run of every part with tiny windows (figures are rough)
    python bench/run.py --parts throughput latency --json bench.json

Parts (`--parts`, all by default):

- throughput: training images/s end to end on MNIST (from --data-root, ../shared/datasets by
  default; synthetic shapes, with a notice, when it is absent) for the 28 px MNIST model and the
  64 px DCGAN (z 100, widths 64, grey) at batch 64 and 128. Three ways each, interleaved round by
  round (`--rounds`, the best round reported): the real pytorch/examples dcgan/main.py, unmodified,
  run from --reference as a subprocess and timed by its per-step lines (reference; fp32; skipped with
  the reason when it or MNIST is absent, and at 28 px it stops with its own error: its nets are
  64x64 only), the project's trainer dcgan.training.loop.train with its metrics, status, snapshots and
  checkpoints (ours), and dcgan.training.step.train_step alone on an in-memory batch (bare); ours and
  bare at fp32 and at the recipes' precision auto (the same as fp32 on a CPU without AMX: then it is
  not run twice). Ours is held to >= 0.95x bare and >= 1.5x the reference. No window holds a
  periodic grid save (main.py saves after iterations 0, 100, ...; see bench/throughput.py).
- latency: median and p95 of render_z (one image), a 12x12 sweep_grid and a 64-frame
  interpolation GIF at about 256 px, on checkpoints/mnist (28 px) and checkpoints/faces (64 px),
  loaded as the app loads them. 200 calls each, fewer for slow calls (the row says how many).
  Targets: one image <= 30 ms p95, the GIF <= 1 s p95.
- app: a `python -m dcgan train` process (28 px, batch 128) with the app's Train page open in
  headless Chromium, live-monitoring it, against the same trainer with no browser (the streamlit
  server stays up, idle), in alternating windows. Target >= 0.95x.
- coldstart: spawning `streamlit run streamlit_app.py` to the default page fully drawn in headless
  Chromium (G's image loaded and the page's last widget there), median of 3. Target <= 6 s.

The browser parts need Debian's /usr/bin/chromium and Playwright (requirements-dev.txt; they use
the browser tests' helpers, tests/appkit.py); without them they are skipped with a notice.
Speeds depend on everything else the machine does: run it on a quiet machine (the load average
at the start is printed with the machine). Progress goes to stderr, the table to stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from bench import browser, latency, throughput
from bench.report import Row, machine, machine_text, progress, table

ROOT = Path(__file__).resolve().parent.parent
# BSD-3, kept outside the project and run from there: never copied into it
REFERENCE = ROOT.parent / "shared" / "reference" / "pytorch_examples_dcgan" / "main.py"

PARTS = ("throughput", "latency", "app", "coldstart")
# the full run and --quick; any flag given on the command line wins over both
PROFILES = {
    "full": dict(rounds=2, window_s=10.0, warmup_s=2.0, min_steps=5, latency_calls=200, latency_budget_s=6.0,
                 latency_min_calls=10, latency_warmup_calls=3, app_window_s=15.0, app_pairs=3, app_settle_s=2.0, coldstarts=3),
    "quick": dict(rounds=1, window_s=0.3, warmup_s=0.1, min_steps=2, latency_calls=10, latency_budget_s=0.5,
                  latency_min_calls=3, latency_warmup_calls=1, app_window_s=4.0, app_pairs=1, app_settle_s=1.0, coldstarts=1),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny windows and few calls: a smoke run")
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    ap.add_argument("--json", type=Path, help="also write the rows and the machine as JSON here")
    g = ap.add_argument_group("throughput")
    g.add_argument("--dataset", choices=("auto", "mnist", "synthetic"), default="auto",
                   help="auto: MNIST when --data-root has it, else synthetic [auto]")
    g.add_argument("--data-root", default=str(ROOT.parent / "shared" / "datasets"),
                   help="folder holding MNIST/raw/ [../shared/datasets]")
    g.add_argument("--reference", type=Path, default=REFERENCE,
                   help="pytorch/examples dcgan/main.py, run unmodified "
                        "[../shared/reference/pytorch_examples_dcgan/main.py]")
    g.add_argument("--sizes", type=int, nargs="+", choices=(28, 64), default=[28, 64])
    g.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128])
    g.add_argument("--rounds", type=int, help="reference, ours, bare this many times [2; quick 1]")
    g.add_argument("--window-s", type=float, help="about this long a timed window [10; quick 0.3]")
    g.add_argument("--warmup-s", type=float, help="about this long the untimed warm-up, at least one step [2]")
    g.add_argument("--min-steps", type=int, help="at least this many timed steps [5; quick 2]")
    g = ap.add_argument_group("latency")
    g.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints",
                   help="where the shipped mnist and faces runs are (also the cold start's app) [checkpoints]")
    g.add_argument("--latency-calls", type=int, help="calls per measurement [200; quick 10]")
    g.add_argument("--latency-budget-s", type=float, help="stop a slow measurement after this long [6]")
    g.add_argument("--latency-min-calls", type=int, help="but not before this many calls [10; quick 3]")
    g.add_argument("--latency-warmup-calls", type=int, help="untimed calls first [3; quick 1]")
    g = ap.add_argument_group("app and cold start")
    g.add_argument("--app-window-s", type=float, help="each window, page open or not [15; quick 4]")
    g.add_argument("--app-pairs", type=int, help="headless + page-open window pairs [3; quick 1]")
    g.add_argument("--app-settle-s", type=float, help="pause before each window [2; quick 1]")
    g.add_argument("--coldstarts", type=int, help="app starts timed, median reported [3; quick 1]")
    args = ap.parse_args(argv)
    for key, value in PROFILES["quick" if args.quick else "full"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def run_parts(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    data = None
    if {"throughput", "app"} & set(args.parts):
        data = throughput.choose_data(args.dataset, args.data_root)
    if "throughput" in args.parts:
        rows += throughput.measure(data, args.sizes, args.batch_sizes, args.rounds, args.window_s, args.warmup_s,
                                   args.min_steps, args.reference)
    if "latency" in args.parts:
        rows += latency.measure(args.checkpoints, latency.Calls(args.latency_calls, args.latency_budget_s,
                                                              args.latency_min_calls, args.latency_warmup_calls))
    browser_parts = [p for p in ("app", "coldstart") if p in args.parts]
    why_not = browser.unavailable() if browser_parts else None
    if why_not:
        progress(f"NOTICE: skipping {' and '.join(browser_parts)}: {why_not}")
    elif browser_parts:
        if "app" in args.parts:
            rows += browser.app_while_training(data, args.app_window_s, args.app_pairs, args.app_settle_s)
        if "coldstart" in args.parts:
            rows += browser.cold_start(args.checkpoints, args.coldstarts)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    print(machine_text(info), flush=True)
    if info["loadavg_at_start"][0] > 0.5:
        print("WARNING: the machine is busy (1-minute load average above 0.5): the figures will be low and noisy",
              flush=True)
    started = time.monotonic()
    rows = run_parts(args)
    elapsed = time.monotonic() - started
    print()
    print(table(rows))
    misses = sum(r.passed is False for r in rows)
    checked = sum(r.passed is not None for r in rows)
    print(f"\n{checked - misses} of {checked} targets met{' (--quick: rough figures)' if args.quick else ''}; "
          f"{elapsed / 60:.1f} min; load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "quick": args.quick, "parts": args.parts,
                                         "seconds": elapsed, "rows": [r.to_json() for r in rows]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
