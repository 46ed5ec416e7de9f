"""The soak: an hour of training with the Train page open in headless Chromium, reloaded every few
minutes and once suspended, watching the Streamlit server's memory, the page's errors and what the
page costs the trainer.

    python bench/soak.py                                   # the hour: about 72 minutes in all
    python bench/soak.py --minutes 6 --reload-every 2 --freeze-at 3 --headless-minutes 1   # a short check

What it does, in order:

1. A temporary checkpoints folder, a `streamlit run` server on a free port serving it (as the browser
   tests start it: bench/browserkit.py), and a `python -m dcgan train` run in it as the app's Start
   launches one: the mnist default preset (mnist28-rpgan, 28 px, batch 32) on MNIST from --data-root
   (../shared/datasets), or on the synthetic set with the same nets, with a notice, when it is absent.
2. Headless before: --headless-minutes with no browser at all (the server up and idle): the trainer's
   img/s alone.
3. The soak, --minutes long: the Train page of that run open in one headless Chromium page, reloaded
   every --reload-every minutes, and at --freeze-at minutes suspended for --freeze-minutes with CDP
   Page.setWebLifecycleState frozen, then active (Emulation.setCPUThrottlingRate 50x where the
   browser refuses to freeze). Every --check-every seconds the page is read: its progress line's step
   and the newest snapshot's step must have moved on (a fragment that stopped refreshing, streamlit
   #11660 / #15084, shows as a stall), and it must hold no Streamlit exception element. After each
   reload and the thaw the time until the progress line moves again is recorded.
4. Headless after: --headless-minutes with the browser closed again.

Throughout, every --rss-every seconds the server's RSS (psutil: the streamlit process and its
children) and the trainer's; every --status-every seconds the trainer's status.json (step and
heartbeat), from which its img/s per window comes. The browser's console errors and uncaught page
errors are kept, and the server's log is read for tracebacks and fragments it could not find.

The trainer's speed with the page open is the whole soak's (the frozen minute included) over the
mean of the two headless windows, which bracket it on the same trainer process, so drift in what
else the machine does is split between them. Goals (issue 34): server RSS growth <= 100 MB over the
soak, zero console / page / Streamlit exception errors (stalls and fragments not found counted with
them), trainer >= 0.95x headless.

Prints the figures against the goals; writes soak.json (every sample, event and error) and
soak_rss.png (RSS and img/s over time) into --out (a new temporary folder by default). Needs Debian's
/usr/bin/chromium and Playwright (requirements-dev.txt); never downloads a browser.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import browserkit
from bench.longrun import (DATA_ROOT, SNAPSHOT_TEXT, STEP_TEXT, FRAGMENT_WARNING, Goal, PageErrors, Sampler,
                           choose_dataset, end, images_per_s, begin, plot_timeline, rss_summary,
                           server_log_problems, speed_series, start_trainer, status_sample, stop_trainers,
                           training_config, tree_rss, write_json)
from bench.report import Target, progress

RUN = "soak"
RSS_GROWTH_MB = Target("<=", 100.0)
ERRORS = Target("<=", 0)
TRAINER_RATIO = Target(">=", 0.95)
VIEWPORT = {"width": 1400, "height": 1500}
RECOVER_S = 60.0  # after a reload or the thaw, the progress line must move within this
THROTTLE_RATE = 50  # the fallback's CPU slow-down where Page.setWebLifecycleState is refused


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python bench/soak.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0, help="how long the Train page stays open [60]")
    ap.add_argument("--reload-every", type=float, default=5.0, help="reload the page every this many minutes [5]")
    ap.add_argument("--freeze-at", type=float,
                    help="suspend the tab this many minutes into the soak [half of --minutes]")
    ap.add_argument("--freeze-minutes", type=float, default=1.0, help="for this long [1]")
    ap.add_argument("--headless-minutes", type=float, default=5.0,
                    help="the trainer with no browser, before and after the soak, each [5]")
    ap.add_argument("--settle-s", type=float, default=30.0,
                    help="the trainer runs this long before the first window (its warm-up) [30]")
    ap.add_argument("--rss-every", type=float, default=60.0, help="sample the server's RSS every this many s [60]")
    ap.add_argument("--status-every", type=float, default=5.0, help="read the trainer's status every this many s [5]")
    ap.add_argument("--check-every", type=float, default=60.0, help="read the page every this many s [60]")
    ap.add_argument("--dataset", choices=("auto", "mnist", "synthetic"), default="auto",
                    help="auto: MNIST when --data-root has it, else synthetic [auto]")
    ap.add_argument("--data-root", default=str(DATA_ROOT), help="folder holding MNIST/raw/ [../shared/datasets]")
    ap.add_argument("--out", type=Path, help="folder for soak.json and soak_rss.png [a new temporary folder]")
    args = ap.parse_args(argv)
    if args.freeze_at is None:
        args.freeze_at = args.minutes / 2
    if args.minutes <= 0 or args.reload_every <= 0 or args.headless_minutes < 0 or args.freeze_minutes < 0:
        ap.error("--minutes and --reload-every must be positive, --headless-minutes and --freeze-minutes >= 0")
    if not 0 <= args.freeze_at <= args.minutes - args.freeze_minutes:
        ap.error("--freeze-at must leave the frozen stretch inside the soak")
    return args


# --- the page -------------------------------------------------------------------------------------

def page_state(page) -> dict:
    """The Train page's live figures: its progress line's step, the newest snapshot's step, and how
    many Streamlit exception elements it holds."""
    text = page.locator("body").inner_text(timeout=30_000)
    step = STEP_TEXT.search(text)
    snap = SNAPSHOT_TEXT.search(text)
    return {"step": int(step.group(1)) if step else None, "snapshot": int(snap.group(1)) if snap else None,
            "exceptions": page.get_by_test_id("stException").count(),
            "exception_text": [e[:300] for e in page.get_by_test_id("stException").all_inner_texts()][:3]}


def open_train_page(page, url: str) -> None:
    page.goto(f"{url}/train?run={RUN}")
    page.get_by_role("heading", name=f"Run {RUN}").wait_for()
    page.get_by_text("this view refreshes every").wait_for()
    page.get_by_text(STEP_TEXT).first.wait_for()


def trainer_state(run) -> dict:
    """Where the trainer itself is: its step and its newest snapshot."""
    snapshots = run.snapshot_steps()
    return {"run_step": run.status().get("step"), "run_snapshot": snapshots[-1] if snapshots else None}


def stalled(last: dict | None, now: dict) -> list[dict]:
    """A live view that did not move between two looks although the trainer had already gone past
    what it showed at the first: its fragment stopped refreshing. (Judged against the trainer at the
    earlier look, so a slow trainer or a chart refreshing every 15 s is no stall.)"""
    if last is None:
        return []
    found = []
    for shown, actual, what in (("step", "run_step", "progress line"), ("snapshot", "run_snapshot", "newest grid")):
        behind = last[actual] is not None and (last[shown] is None or last[actual] > last[shown])
        moved = now[shown] is not None and (last[shown] is None or now[shown] > last[shown])
        if behind and not moved:
            found.append({"t": now["t"], "what": f"{what} stayed at {now[shown]} while the trainer was already "
                                                 f"at {last[actual]}"})
    return found


def wait_progress_moves(page, since_step: int | None, limit_s: float = RECOVER_S) -> float | None:
    """Seconds until the progress line shows a step beyond since_step (the trainer's step when the page
    was reloaded or thawed: the page is live again once it shows newer); None if not within limit_s."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        try:
            step = page_state(page)["step"]
        except Exception:  # mid-rerun: the next look will do
            step = None
        if step is not None and (since_step is None or step > since_step):
            return time.monotonic() - start
        page.wait_for_timeout(500)
    return None


def suspend(page, seconds: float, events: list) -> str:
    """Freeze the tab (CDP) for seconds, then thaw it; returns how it was suspended."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("Page.setWebLifecycleState", {"state": "frozen"})
        how, undo = "Page.setWebLifecycleState frozen", ("Page.setWebLifecycleState", {"state": "active"})
    except Exception as e:
        progress(f"the browser refused to freeze the tab ({e}); throttling its CPU {THROTTLE_RATE}x instead")
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": THROTTLE_RATE})
        how, undo = f"Emulation.setCPUThrottlingRate {THROTTLE_RATE}", ("Emulation.setCPUThrottlingRate", {"rate": 1})
    events.append((time.time(), "freeze", how))
    time.sleep(seconds)  # nothing may touch a frozen page: a call into it would wait for the thaw
    cdp.send(*undo)
    events.append((time.time(), "thaw", ""))
    cdp.detach()
    return how


def soak(page, url: str, run, args, events: list, checks: list, stalls: list, on_open=lambda: None) -> dict:
    """The page open for args.minutes: reloads, one freeze, a look every check_every seconds."""
    open_train_page(page, url)
    t_open = time.time()
    events.append((t_open, "open", ""))
    on_open()  # the server's RSS once the page has loaded: the soak's start
    recover = {"reload": [], "thaw": []}
    end = t_open + args.minutes * 60
    next_reload = t_open + args.reload_every * 60
    freeze_at = t_open + args.freeze_at * 60
    frozen = args.freeze_minutes <= 0
    next_check = t_open
    last = None
    while time.time() < end:
        now = time.time()
        if not frozen and now >= freeze_at:
            how = suspend(page, args.freeze_minutes * 60, events)
            took = wait_progress_moves(page, run.status().get("step"))
            recover["thaw"].append(took)
            progress(f"[{(time.time() - t_open) / 60:5.1f} min] thawed after {args.freeze_minutes:g} min ({how}); "
                     f"progress moved again {'after %.1f s' % took if took is not None else 'NOT within %g s' % RECOVER_S}")
            if took is None:
                stalls.append({"t": time.time(), "what": "progress line after the thaw"})
            frozen = True
            last = None  # the frozen minute is no stall
            next_check = time.time() + args.check_every
            continue
        if now >= next_reload and end - now > 30:
            page.reload()
            page.get_by_text("this view refreshes every").wait_for()
            events.append((time.time(), "reload", ""))
            took = wait_progress_moves(page, run.status().get("step"))
            recover["reload"].append(took)
            if took is None:
                stalls.append({"t": time.time(), "what": "progress line after a reload"})
            next_reload += args.reload_every * 60
            last = None
            next_check = time.time() + args.check_every
            continue
        if now >= next_check:
            state = {**page_state(page), "t": now, **trainer_state(run)}
            checks.append(state)
            stalls += stalled(last, state)
            last = state
            progress(f"[{(now - t_open) / 60:5.1f} min] page at step {state['step']}, snapshot {state['snapshot']}, "
                     f"{state['exceptions']} exception element(s)")
            next_check = max(next_check + args.check_every, time.time())
        page.wait_for_timeout(min(1000, max(1, (min(next_check, next_reload, end) - time.time()) * 1000)))
    checks.append({**page_state(page), "t": time.time()})
    return {"t_open": t_open, "t_close": time.time(), "recover_s": recover}


# --- the run ---------------------------------------------------------------------------------------

def run_soak(args) -> dict:
    from playwright.sync_api import sync_playwright
    dataset = choose_dataset(args.dataset, args.data_root)
    cfg = training_config(RUN, dataset, args.data_root)
    errors = PageErrors()
    events: list = []
    checks: list = []
    stalls: list = []
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        checkpoints = Path(tmp) / "checkpoints"
        with browserkit.streamlit_process(checkpoints, "soak") as server:
            run = start_trainer(cfg, checkpoints)
            t_start = time.time()
            trainer_pid = run.status().get("pid")
            progress(f"trainer {RUN} ({cfg.preset} on {dataset}, batch {cfg.batch_size}) running, pid {trainer_pid}; "
                     f"server {server.url}, pid {server.pid}")
            probes_rss = {"server": lambda: tree_rss(server.pid),
                          "trainer": lambda: tree_rss(trainer_pid) if trainer_pid else None}
            try:
                with Sampler(probes_rss, args.rss_every) as rss, \
                        Sampler({"status": lambda: status_sample(run)}, args.status_every) as status:
                    time.sleep(args.settle_s)
                    windows = {"headless before": (time.time(), time.time() + args.headless_minutes * 60)}
                    time.sleep(args.headless_minutes * 60)
                    rss.sample_now()
                    with sync_playwright() as p:
                        browser = p.chromium.launch(executable_path=browserkit.CHROMIUM,
                                                    args=browserkit.CHROMIUM_ARGS)
                        try:
                            page = browser.new_context(viewport=VIEWPORT).new_page()
                            page.set_default_timeout(browserkit.UI_TIMEOUT_MS)
                            errors.attach(page, "train page")
                            soaked = soak(page, server.url, run, args, events, checks, stalls, rss.sample_now)
                        finally:
                            browser.close()
                    rss.sample_now()
                    events.append((time.time(), "browser closed", ""))
                    windows["page open"] = (soaked["t_open"], soaked["t_close"])
                    t = time.time()
                    windows["headless after"] = (t, t + args.headless_minutes * 60)
                    time.sleep(args.headless_minutes * 60)
            finally:
                stop_trainers(checkpoints, [run])
            log = server_log_problems(server.log)
    status_samples = [v for _, v in status.samples["status"]]
    return {"dataset": dataset, "config": cfg.to_dict(), "t_start": t_start, "windows": windows,
            "events": events, "checks": checks, "stalls": stalls, "recover_s": soaked["recover_s"],
            "rss": rss.samples, "status": status_samples, "errors": errors, "server_log": log}


def summarise(result: dict, batch_size: int) -> tuple[dict, list[Goal]]:
    """The soak's figures and its goals, from what run_soak recorded."""
    w = result["windows"]
    t_open, t_close = w["page open"]
    server = rss_summary(result["rss"]["server"], t_open - 1, t_close + 1)
    trainer_rss = rss_summary(result["rss"]["trainer"])
    speeds = {name: images_per_s(result["status"], batch_size, *span) for name, span in w.items()}
    headless = [v for k, v in speeds.items() if k.startswith("headless") and v]
    headless_mean = sum(headless) / len(headless) if headless else None
    ratio = speeds["page open"] / headless_mean if speeds["page open"] and headless_mean else None
    errors: PageErrors = result["errors"]
    exceptions = max((c["exceptions"] for c in result["checks"]), default=0)
    log = result["server_log"]
    problems = len(errors.console) + len(errors.page) + exceptions + len(result["stalls"]) + \
        log["Traceback"] + log[FRAGMENT_WARNING]
    figures = {"server_rss": server, "trainer_rss": trainer_rss, "img_per_s": speeds,
               "headless_mean_img_per_s": headless_mean, "ratio": ratio,
               "console_errors": len(errors.console), "page_errors": len(errors.page),
               "known_streamlit_7074_404s": len(errors.known),
               "console_warnings": errors.warnings, "exception_elements_max": exceptions,
               "stalls": len(result["stalls"]), "server_log_tracebacks": log["Traceback"],
               "server_log_fragments_not_found": log[FRAGMENT_WARNING], "recover_s": result["recover_s"]}
    minutes = server.get("minutes", 0)
    goals = [
        Goal("server RSS growth over the soak", server.get("growth_mb"), RSS_GROWTH_MB, "MB",
             f"{server.get('start_mb', 0):,.0f} -> {server.get('end_mb', 0):,.0f} MB over {minutes:.0f} min, max "
             f"{server.get('max_mb', 0):,.0f}, trend {server.get('slope_mb_per_h', 0):+,.0f} MB/h"),
        Goal("errors (console + page + exception elements + stalls + server-log tracebacks and fragments "
             "not found)", problems, ERRORS, "",
             f"console {len(errors.console)}, page {len(errors.page)}, exception elements {exceptions}, "
             f"stalls {len(result['stalls'])}, tracebacks {log['Traceback']}, fragments not found "
             f"{log[FRAGMENT_WARNING]}"),
        Goal("trainer img/s, page open vs headless", ratio, TRAINER_RATIO, "×",
             "page open {} img/s; headless {}".format(
                 f"{speeds['page open']:,.0f}" if speeds["page open"] else "-",
                 " / ".join(f"{k.split()[1]} {v:,.0f}" for k, v in speeds.items() if k.startswith("headless") and v))),
    ]
    return figures, goals


def plot(result: dict, batch_size: int, path: Path, headless_mean: float | None) -> None:
    t0 = result["t_start"]
    spans = [(*span, name) for name, span in result["windows"].items() if name.startswith("headless")]
    events = [(t, kind) for t, kind, _ in result["events"] if kind in ("reload", "open")]
    freeze = [t for t, kind, _ in result["events"] if kind == "freeze"]
    thaw = [t for t, kind, _ in result["events"] if kind == "thaw"]
    spans += [(a, b, "frozen tab") for a, b in zip(freeze, thaw)]
    plot_timeline(path, f"soak: Train page open {result['windows']['page open'][1] / 60 - result['windows']['page open'][0] / 60:.0f} min "
                        f"({result['config']['preset']} on {result['dataset']}); dotted: page opened / reloaded",
                  t0, {"streamlit server (+children)": result["rss"]["server"],
                       "trainer": result["rss"]["trainer"]},
                  {"trainer": speed_series(result["status"], batch_size, t0)}, events, spans,
                  {"headless mean": headless_mean} if headless_mean else None)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    begun = begin(args.out, "soak-", "soak")
    if begun is None:
        return 2
    out, info = begun
    started = time.monotonic()
    result = run_soak(args)
    batch = result["config"]["batch_size"]
    figures, goals = summarise(result, batch)
    plot(result, batch, out / "soak_rss.png", figures["headless_mean_img_per_s"])
    errors: PageErrors = result["errors"]
    write_json(out / "soak.json", {
        "machine": info, "args": vars(args), "seconds": time.monotonic() - started,
        "loadavg_at_end": os.getloadavg(), "figures": figures, "goals": [g.to_json() for g in goals],
        "windows": result["windows"], "events": result["events"], "checks": result["checks"],
        "stalls": result["stalls"], "console_errors": errors.console, "page_errors": errors.page,
        "known_streamlit_7074_404s": errors.known,
        "server_log_problems": result["server_log"]["lines"],
        "rss": {k: [[t, v] for t, v in s] for k, s in result["rss"].items()},
        "status": [vars(s) for s in result["status"]], "dataset": result["dataset"], "config": result["config"]})
    s = figures["server_rss"]
    print(f"\nsoak: Train page open {s.get('minutes', 0):.1f} min, {len([e for e in result['events'] if e[1] == 'reload'])} "
          f"reloads, 1 freeze of {args.freeze_minutes:g} min; trainer {result['config']['preset']} on {result['dataset']}")
    print(f"server RSS: start {s.get('start_mb', 0):,.0f} MB, end {s.get('end_mb', 0):,.0f} MB, growth "
          f"{s.get('growth_mb', 0):+,.0f} MB, max {s.get('max_mb', 0):,.0f} MB, trend {s.get('slope_mb_per_h', 0):+,.0f} MB/h")
    rec = figures["recover_s"]
    fmt = lambda xs: ", ".join("never" if x is None else f"{x:.1f}" for x in xs) or "-"
    print(f"progress line moving again after reloads: {fmt(rec['reload'])} s; after the thaw: {fmt(rec['thaw'])} s")
    for e in (errors.console + errors.page)[:10]:
        print(f"  browser error: {e['text'][:200]} {e.get('url', '')}")
    if errors.known:
        print(f"  not counted: {len(errors.known)} console 404s of Streamlit's base-path probe at a page's own URL "
              f"(streamlit/streamlit #7074: {', '.join(sorted({e['url'].rsplit('/', 1)[-1] for e in errors.known}))})")
    for st in result["stalls"][:10]:
        print(f"  stall: {st['what']}")
    return end(result["server_log"]["lines"], goals, started, out)


if __name__ == "__main__":
    sys.exit(main())
