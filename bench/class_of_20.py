"""A class at once: 20 browser sessions on one `streamlit run` server moving sliders, sweeping and
exporting GIFs while two trainings run; no errors, each session keeps its own state, the latency of a
slider move, and what the class costs the trainings.

    python bench/class_of_20.py                            # 20 sessions for 10 minutes: about 15 minutes in all
    python bench/class_of_20.py --sessions 5 --minutes 3 --window-s 30   # a short check

What it does, in order:

1. A temporary checkpoints folder holding a copy of the shipped checkpoints/mnist (the model the class
   explores) and a `streamlit run` server serving it (bench/browserkit.py, as the browser tests start it).
2. Training A (`python -m dcgan train`, launched as the app's Start does: the mnist default preset
   mnist28-rpgan on MNIST from --data-root, synthetic with a notice when absent) alone for --window-s:
   "alone". Then training B (the same config, another seed) beside it for --window-s: "two trainings",
   no browser yet. B alone is not measured: the same config on the same machine runs as fast as A.
   (--trainings 1 runs A only; --trainings 0 none: the latency the browsers and the server alone allow.)
3. One headless Chromium, --sessions contexts (separate cookies, so separate Streamlit sessions),
   opened at once on the Latent page of mnist. Each sets its own seed (1000 + its number) and, once
   every session has loaded, loops until --minutes are up: --moves-per-round moves of its own slider
   (z[i mod 20], End and Home alternately: one change each), a random think time between moves
   (--think-s), then a sweep (Sweep, until the Sweep PNG button is there), then to the Interpolate page
   by the sidebar, Interpolate and Download GIF (the GIF must hold the Frames box's frame count), and
   back to Latent by the sidebar.
4. State: before each sweep and after each return from Interpolate, a session's Seed box must still
   hold its seed, its slider its last value, every other slider of the first 20 its starting value, its
   image the one its own last move drew, and its sidebar the shipped model ('finished'; a seed gives the
   same z on any run, so only the sidebar tells runs apart): another session's moves must change none of it.
5. Errors: console errors and uncaught page errors of every page, Streamlit exception elements, and
   any action that failed or timed out (its screenshot saved as FAILED_session_N.png in --out; a GIF
   with the wrong frame count is kept there with a full-page screenshot, and every GIF's form
   settings are in class.json).

The latency of a slider move is measured in the page, on the page's own clock (performance.now()),
by a script installed before Streamlit's (wrapping WebSocket.send and listening for keydown and image
load events): "server-side" is from the moment the browser sends the rerun request (the first
WebSocket send after the key press) to the new G(z) image loaded: Streamlit's rerun of the Latent page
on the server, G(z), the image's way back and its decoding. "Input to image" adds what comes before
the send (the slider's own handling of the key). Neither includes Playwright's round trips. Reported:
p50 and p95 over every move after all sessions have loaded. Goal: p95 <= 200 ms.

Trainings: each one's img/s during the class (from all sessions loaded to the end) over A alone. Goal
>= 0.8x; on 2 cores two trainings alone already take half each (the "two trainings" window says what
the machine allows), so the ratio against that window is printed too.

Prints the figures against the goals; writes class.json (every move, check and error) and
class_rss.png (server RSS and both trainings' img/s over time) into --out (a new temporary folder by
default). Needs Debian's /usr/bin/chromium and Playwright; never downloads a browser.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import browserkit
from bench.longrun import (DATA_ROOT, ROOT, Goal, PageErrors, Sampler, choose_dataset, end, images_per_s,
                           begin, percentile, plot_timeline, rss_summary, server_log_problems, speed_series,
                           start_trainer, status_sample, stop_trainers, training_config, tree_rss, write_json)
from bench.report import Target, progress
from dcgan.runs.rundir import RunDir
from dcgan.sampling import z_from_seed

MODEL_RUN = "mnist"  # the shipped run the class explores, copied
SHIPPED = ROOT / "checkpoints" / MODEL_RUN
SEED0 = 1000
SLIDERS = 20  # the Latent page's first group of z sliders, open by default
Z_LIMIT = 3.5  # the Latent page's slider range (explorer/latent.py Z_LIMIT): a seed's z is clipped to it
SAME = 0.006  # a slider shows 2 decimals: values this close are the same
VIEWPORT = {"width": 1300, "height": 1400}
LATENCY_P95_MS = Target("<=", 200.0)
TRAINING_RATIO = Target(">=", 0.8)
ERRORS = Target("<=", 0)
MOVE_TIMEOUT_MS = 120_000  # twenty sessions and two trainings on two cores: a slow move is measured, not failed
ACTION_TIMEOUT_MS = 120_000  # any other action once loaded (the cold first load gets longer)
LOAD_TIMEOUT_MS = 3 * browserkit.UI_TIMEOUT_MS  # twenty cold sessions on two busy cores
GRACE_S = 150  # after the deadline, an action under way may finish this long; then the session is cut
# installed before any of Streamlit's scripts: the page's own clock at each key press, WebSocket send
# and image load (an image is known by its src's length and tail: a data: URL can be 100 kB)
PROBE_JS = """
(() => {
  const b = window.__bench = {keys: [], sends: [], loads: []};
  window.__srcKey = s => s ? s.length + ':' + s.slice(-80) : '';
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function () { b.sends.push(performance.now()); return send.apply(this, arguments); };
  document.addEventListener('keydown', () => b.keys.push(performance.now()), true);
  document.addEventListener('load', e => {
    const t = e.target;
    if (t && t.tagName === 'IMG') b.loads.push([performance.now(), window.__srcKey(t.getAttribute('src'))]);
  }, true);
})();
"""
IMAGE_KEY_JS = "() => { const i = document.querySelector('[data-testid=stImage] img'); " \
               "return i ? window.__srcKey(i.getAttribute('src')) : ''; }"
NEW_IMAGE_JS = "before => { const i = document.querySelector('[data-testid=stImage] img');" \
               " return i && window.__srcKey(i.getAttribute('src')) !== before && i.complete && i.naturalWidth > 0; }"
RESET_JS = "() => { const b = window.__bench; b.keys.length = 0; b.sends.length = 0; b.loads.length = 0; }"
MEASURE_JS = """() => {
  const b = window.__bench, i = document.querySelector('[data-testid=stImage] img');
  const img = window.__srcKey(i.getAttribute('src')), key = b.keys[0];
  const send = b.sends.find(t => t >= key), load = b.loads.find(([t, s]) => s === img && t >= key);
  return {key, send: send ?? null, load: load ? load[0] : null, image: img};
}"""
# a rerun in flight leaves stale elements where its own will be: a click on one is lost
RUN_ENDED_JS = ("() => !document.querySelector('[data-stale=\"true\"]') && !document.querySelector("
                "'[data-testid=stStatusWidgetRunningIcon], [data-testid=stStatusWidgetRunningManIcon]')")
# the value z[0]..z[SLIDERS-1]'s sliders show, by component (a slider is an <input type=range> labelled
# z[i], its shown value in aria-valuetext; the page lays them out in columns, so DOM order is not i)
# what the Interpolate page's form was set to when it made a GIF (kept with each GIF, to explain one that
# is not what the session asked for): number boxes by label, checked radios and boxes, the sidebar's run
FORM_STATE_JS = """() => {
  const label = e => e.getAttribute('aria-label') || (e.labels && e.labels[0] && e.labels[0].innerText) || '';
  const out = {numbers: [...document.querySelectorAll('input[type=number]')].map(e => label(e) + '=' + e.value)};
  out.checked = [...document.querySelectorAll('input[type=radio]:checked, input[type=checkbox]:checked')]
    .map(e => label(e) || e.value);
  const bar = document.querySelector('[data-testid=stSidebar]');
  out.sidebar = bar ? bar.innerText.replace(/\\s+/g, ' ').slice(-300) : '';
  out.url = location.href;
  return out;
}"""
SLIDER_VALUES_JS = f"""() => {{
  const out = [];
  for (const s of document.querySelectorAll('[data-testid=stSlider] input[type=range]')) {{
    const m = /^z\\[(\\d+)\\]$/.exec(s.getAttribute('aria-label') || '');
    if (m && +m[1] < {SLIDERS}) out[+m[1]] = s.getAttribute('aria-valuetext');
  }}
  return out;
}}"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python bench/class_of_20.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=20, help="browser sessions at once [20]")
    ap.add_argument("--minutes", type=float, default=10.0, help="how long the class works, once loaded [10]")
    ap.add_argument("--trainings", type=int, choices=(0, 1, 2), default=2,
                    help="trainings running beside the class [2]; 0 measures what the browsers and the server "
                         "alone allow")
    ap.add_argument("--window-s", type=float, default=60.0, help="each training-speed window before the class [60]")
    ap.add_argument("--settle-s", type=float, default=20.0, help="a new trainer runs this long before its window [20]")
    ap.add_argument("--moves-per-round", type=int, default=5, help="slider moves between a sweep and a GIF [5]")
    ap.add_argument("--think-s", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN", "MAX"),
                    help="a session waits a random time in this range before each move [1 3]")
    ap.add_argument("--dataset", choices=("auto", "mnist", "synthetic"), default="auto",
                    help="the trainings' data: auto = MNIST when --data-root has it, else synthetic [auto]")
    ap.add_argument("--data-root", default=str(DATA_ROOT), help="folder holding MNIST/raw/ [../shared/datasets]")
    ap.add_argument("--rss-every", type=float, default=10.0, help="sample the server's RSS every this many s [10]")
    ap.add_argument("--seed", type=int, default=0, help="of the think times [0]")
    ap.add_argument("--out", type=Path, help="folder for class.json and class_rss.png [a new temporary folder]")
    args = ap.parse_args(argv)
    if not 1 <= args.sessions <= 100:
        ap.error("--sessions: 1 to 100")
    if args.minutes <= 0 or args.window_s <= 0 or args.moves_per_round < 1:
        ap.error("--minutes and --window-s must be positive, --moves-per-round at least 1")
    if not 0 <= args.think_s[0] <= args.think_s[1]:
        ap.error("--think-s: MIN <= MAX, both >= 0")
    return args


@dataclass
class ClassRecord:
    """Everything the sessions saw, shared by their coroutines (one thread: no locks)."""

    moves: list = field(default_factory=list)  # {session, t, server_ms, input_ms, steady}
    checks: list = field(default_factory=list)  # {session, t, where, ok, problems}
    failures: list = field(default_factory=list)  # {session, t, action, error}
    sweeps: int = 0
    gifs: list = field(default_factory=list)  # {session, frames, expected, bytes}
    exceptions: int = 0  # Streamlit exception elements seen
    loaded: int = 0
    t_all_loaded: float | None = None


def seed_sliders(seed: int, z_dim: int) -> list[float]:
    """The first SLIDERS slider values the Latent page shows for a seed: its z rounded to the sliders'
    2 decimals and clipped to their range, as the page sets them."""
    z = z_from_seed(seed, z_dim)[0].tolist()
    return [min(Z_LIMIT, max(-Z_LIMIT, round(v, 2))) for v in z[:SLIDERS]]


# --- one session ------------------------------------------------------------------------------------

class Session:
    def __init__(self, number: int, page, rec: ClassRecord, out: Path, rng: random.Random, z_dim: int):
        self.number, self.page, self.rec, self.out, self.rng = number, page, rec, out, rng
        self.seed = SEED0 + number
        self.slider = number % SLIDERS
        self.z_dim = z_dim
        self.start_values: list[float] = []  # what its seed's z puts on the sliders
        self.value: float | None = None  # its slider's value after its last move
        self.image = ""  # the image its last move drew

    async def run_ended(self) -> None:
        await self.page.wait_for_function(RUN_ENDED_JS)

    async def image_key(self) -> str:
        return await self.page.evaluate(IMAGE_KEY_JS)

    async def wait_new_image(self, before: str) -> None:
        await self.page.wait_for_function(NEW_IMAGE_JS, arg=before, timeout=MOVE_TIMEOUT_MS)

    async def wait_sliders(self, expected: list[float]) -> None:
        """Until the first SLIDERS sliders show these values (the image can be drawn before they are)."""
        await self.page.wait_for_function(
            f"([want, tol]) => {{ const got = ({SLIDER_VALUES_JS})(); return got.length === want.length && "
            "want.every((w, i) => got[i] !== undefined && Math.abs(parseFloat(got[i]) - w) < tol); }",
            arg=[expected, SAME])

    async def open(self, url: str) -> None:
        page = self.page
        await page.goto(f"{url}/?run={MODEL_RUN}")
        await page.get_by_role("heading", name="Latent space").wait_for()
        await page.wait_for_function(f"document.querySelectorAll('[data-testid=stSlider]').length >= {SLIDERS}")
        await self.run_ended()
        before = await self.image_key()
        box = page.get_by_label("Seed", exact=True)
        await box.fill(str(self.seed))
        await box.press("Enter")
        await self.wait_new_image(before)
        self.start_values = seed_sliders(self.seed, self.z_dim)
        await self.wait_sliders(self.start_values)
        await self.run_ended()
        self.image = await self.image_key()
        self.value = self.start_values[self.slider]
        page.set_default_timeout(ACTION_TIMEOUT_MS)

    async def move(self, steady: bool) -> None:
        """One move of its own slider to the far end (End or Home), timed in the page."""
        page = self.page
        await self.run_ended()
        before = await self.image_key()
        key = "End" if self.value < 0 else "Home"
        await page.evaluate(RESET_JS)
        # by its aria-label: its accessible name also holds the group's label, "z[i] z[i]"
        await page.locator(f'[data-testid=stSlider] input[type=range][aria-label="z[{self.slider}]"]').focus()
        await page.keyboard.press(key)
        await self.wait_new_image(before)
        m = await page.evaluate(MEASURE_JS)
        self.image = m["image"]
        self.value = Z_LIMIT if key == "End" else -Z_LIMIT
        shown = float((await page.evaluate(SLIDER_VALUES_JS))[self.slider])
        if abs(shown - self.value) > SAME:
            raise RuntimeError(f"z[{self.slider}] shows {shown} after {key}, not {self.value}")
        self.rec.moves.append({
            "session": self.number, "t": time.time(), "steady": steady, "key": key,
            "server_ms": m["load"] - m["send"] if m["load"] is not None and m["send"] is not None else None,
            "input_ms": m["load"] - m["key"] if m["load"] is not None and m["key"] is not None else None})

    async def check_state(self, where: str) -> None:
        """Its seed, its slider, the sliders it never moved and its image are still its own."""
        page = self.page
        await self.run_ended()
        problems = []
        seed = await page.get_by_label("Seed", exact=True).input_value()
        if seed != str(self.seed):
            problems.append(f"seed box {seed}, not {self.seed}")
        values = [float(v) if v is not None else float("nan") for v in await page.evaluate(SLIDER_VALUES_JS)]
        if len(values) != SLIDERS:
            problems.append(f"{len(values)} sliders, not {SLIDERS}")
        elif abs(values[self.slider] - self.value) > SAME:
            problems.append(f"z[{self.slider}] at {values[self.slider]}, not {self.value}")
        others = [i for i in range(min(SLIDERS, len(values)))
                  if i != self.slider and abs(values[i] - self.start_values[i]) > SAME]
        if others:
            problems.append(f"sliders it never moved are not its seed's z: {others}")
        image = await self.image_key()
        if image != self.image:
            problems.append("its image is not the one its last move drew")
        # the model it explores: the shipped run, finished (a training run here says 'running'); its image and
        # sliders alone cannot tell, since seed and moves give the same z whatever run the sidebar shows
        bar = await page.get_by_test_id("stSidebar").inner_text()
        if "state: finished" not in bar:
            problems.append(f"the sidebar shows another run: {' '.join(bar.split())[-120:]!r}")
        exceptions = await page.get_by_test_id("stException").count()
        if exceptions:
            self.rec.exceptions += exceptions
            problems.append(f"{exceptions} Streamlit exception element(s)")
        self.rec.checks.append({"session": self.number, "t": time.time(), "where": where, "ok": not problems,
                                "problems": problems})

    async def sweep(self) -> None:
        await self.run_ended()
        await self.page.get_by_role("button", name="Sweep", exact=True).click()
        await self.page.get_by_role("button", name="Sweep PNG").wait_for()
        self.rec.sweeps += 1

    async def go(self, title: str, heading: str) -> None:
        await self.run_ended()
        await self.page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
        await self.page.get_by_role("heading", name=heading).wait_for()

    async def gif(self) -> None:
        from PIL import Image
        page = self.page
        await self.go("Interpolate", "Interpolate")
        await self.run_ended()
        expected = int(await page.get_by_role("spinbutton", name="Frames", exact=True).input_value())
        form = await page.evaluate(FORM_STATE_JS)
        await page.get_by_role("button", name="Interpolate", exact=True).click()
        button = page.get_by_role("button", name="Download GIF")
        await button.wait_for()
        async with page.expect_download() as info:
            await button.click()
        download = await info.value
        path = self.out / f"session_{self.number}_{len(self.rec.gifs)}.gif"
        await download.save_as(path)
        with Image.open(path) as im:
            frames = im.n_frames if im.format == "GIF" else 0
        self.rec.gifs.append({"session": self.number, "frames": frames, "expected": expected,
                              "bytes": path.stat().st_size, "form": form})
        if frames != expected:
            # kept, with the page, to see why
            self.rec.failures.append({"session": self.number, "t": time.time(), "action": "GIF",
                                      "error": f"{frames} frames, not {expected} (kept: {path.name})"})
            await page.screenshot(path=str(path.with_suffix(".png")), full_page=True)
        else:
            path.unlink()
        exceptions = await page.get_by_test_id("stException").count()
        if exceptions:
            self.rec.exceptions += exceptions
            self.rec.failures.append({"session": self.number, "t": time.time(), "action": "Interpolate page",
                                      "error": f"{exceptions} Streamlit exception element(s)"})
        await self.go("Latent", "Latent space")
        await page.wait_for_function(f"document.querySelectorAll('[data-testid=stSlider]').length >= {SLIDERS}")

    async def attempt(self, action: str, coro) -> bool:
        """Run one action; a failure is recorded with a screenshot, and the session goes back to the
        Latent page and on."""
        try:
            await coro
            return True
        except Exception as e:
            lines = str(e).splitlines() or [""]
            self.rec.failures.append({"session": self.number, "t": time.time(), "action": action,
                                      "error": f"{type(e).__name__}: {' | '.join(lines[:4])[:600]}"})
            progress(f"session {self.number}: {action} failed: {lines[0][:200]}")
            try:
                await self.page.screenshot(path=str(self.out / f"FAILED_session_{self.number}.png"))
                if not await self.page.get_by_role("heading", name="Latent space").is_visible():
                    await self.go("Latent", "Latent space")
            except Exception:
                pass
            return False

    async def work(self, deadline: float, moves_per_round: int, think_s: tuple[float, float]) -> None:
        await asyncio.sleep(self.rng.uniform(0, think_s[1]))  # a class does not start in step
        while time.time() < deadline:
            for _ in range(moves_per_round):
                await asyncio.sleep(self.rng.uniform(*think_s))
                if time.time() >= deadline:
                    return
                await self.attempt("slider move", self.move(steady=True))
            await self.attempt("state check", self.check_state("before the sweep"))
            if time.time() >= deadline:
                return
            await self.attempt("sweep", self.sweep())
            if time.time() >= deadline:
                return
            if await self.attempt("GIF on Interpolate", self.gif()):
                await self.attempt("state check", self.check_state("back from Interpolate"))


async def run_class(url: str, args, rec: ClassRecord, errors: PageErrors, out: Path) -> dict:
    from playwright.async_api import async_playwright
    rng = random.Random(args.seed)
    all_loaded = asyncio.Event()
    z_dim = RunDir.at(SHIPPED).train_config().z_dim
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=browserkit.CHROMIUM, args=browserkit.CHROMIUM_ARGS)
        try:
            sessions = []
            for i in range(args.sessions):
                context = await browser.new_context(viewport=VIEWPORT, accept_downloads=True)
                await context.add_init_script(PROBE_JS)
                page = await context.new_page()
                page.set_default_timeout(LOAD_TIMEOUT_MS)
                errors.attach(page, f"session {i}")
                sessions.append(Session(i, page, rec, out, random.Random(rng.random()), z_dim))
            t_first_open = time.time()

            async def one(s: Session) -> None:
                ok = await s.attempt("open Latent and set the seed", s.open(url))
                rec.loaded += 1
                progress(f"session {s.number} {'loaded' if ok else 'FAILED to load'} after "
                         f"{time.time() - t_first_open:.0f} s ({rec.loaded}/{args.sessions})")
                if rec.loaded == args.sessions:
                    rec.t_all_loaded = time.time()
                    all_loaded.set()
                await all_loaded.wait()
                if ok:
                    deadline = rec.t_all_loaded + args.minutes * 60
                    try:
                        await asyncio.wait_for(s.work(deadline, args.moves_per_round, tuple(args.think_s)),
                                               deadline + GRACE_S - time.time())
                    except asyncio.TimeoutError:
                        progress(f"session {s.number}: cut {GRACE_S} s after the end, mid-action")

            async def report() -> None:
                await all_loaded.wait()
                while time.time() < rec.t_all_loaded + args.minutes * 60:
                    await asyncio.sleep(30)
                    done = [m["server_ms"] for m in rec.moves if m["server_ms"] is not None]
                    progress(f"[{(time.time() - rec.t_all_loaded) / 60:4.1f} min] {len(rec.moves)} moves "
                             f"(server-side p50 {percentile(done, 50) or 0:,.0f} ms, p95 {percentile(done, 95) or 0:,.0f} ms), "
                             f"{rec.sweeps} sweeps, {len(rec.gifs)} GIFs, {len(rec.failures)} failures, "
                             f"{len(errors.console) + len(errors.page)} browser errors")

            await asyncio.gather(*(one(s) for s in sessions), report())
            t_end = time.time()
        finally:
            await browser.close()
    return {"t_first_open": t_first_open, "t_all_loaded": rec.t_all_loaded, "t_end": t_end}


# --- the run ---------------------------------------------------------------------------------------

def run_all(args, out: Path) -> dict:
    if not (SHIPPED / "generator.safetensors").is_file():
        raise SystemExit(f"no shipped model at {SHIPPED}: the class explores it")
    dataset = choose_dataset(args.dataset, args.data_root)
    configs = [training_config("train-a", dataset, args.data_root, seed=1),
               training_config("train-b", dataset, args.data_root, seed=2)]
    cfgs = configs[:args.trainings]
    rec, errors = ClassRecord(), PageErrors()
    windows: dict[str, tuple[float, float]] = {}
    runs = []
    with tempfile.TemporaryDirectory(prefix="class-") as tmp:
        checkpoints = Path(tmp) / "checkpoints"
        checkpoints.mkdir()
        shutil.copytree(SHIPPED, checkpoints / MODEL_RUN)
        with browserkit.streamlit_process(checkpoints, "class") as server:
            probes = {"server": lambda: tree_rss(server.pid)}
            started: dict = {}  # run name -> RunDir, once launched
            statuses = {cfg.run_name: (lambda name=cfg.run_name: status_sample(started[name]) if name in started
                                       else None) for cfg in cfgs}
            try:
                with Sampler(probes, args.rss_every) as rss, Sampler(statuses, 5.0) as status:
                    for n, cfg in enumerate(cfgs):
                        run = start_trainer(cfg, checkpoints)
                        runs.append(run)
                        started[cfg.run_name] = run
                        progress(f"training {cfg.run_name} ({cfg.preset} on {dataset}, batch {cfg.batch_size}) running")
                        time.sleep(args.settle_s)
                        name = "alone" if n == 0 else "two trainings"
                        windows[name] = (time.time(), time.time() + args.window_s)
                        time.sleep(args.window_s)
                        a = images_per_s([v for _, v in status.samples["train-a"]], cfg.batch_size, *windows[name])
                        progress(f"{name}: train-a {a or 0:,.0f} img/s")
                    times = asyncio.run(run_class(server.url, args, rec, errors, out))
                    windows["class"] = (times["t_all_loaded"] or times["t_end"], times["t_end"])
                    windows["class loading"] = (times["t_first_open"], times["t_all_loaded"] or times["t_end"])
            finally:
                stop_trainers(checkpoints, runs)
            log = server_log_problems(server.log)
    return {"dataset": dataset, "config": configs[0].to_dict(), "windows": windows, "rec": rec, "errors": errors,
            "rss": rss.samples, "status": {k: [v for _, v in s] for k, s in status.samples.items()},
            "server_log": log,
            "t_start": windows["alone"][0] - args.settle_s if "alone" in windows else windows["class loading"][0]}


def summarise(result: dict, batch_size: int) -> tuple[dict, list[Goal]]:
    rec: ClassRecord = result["rec"]
    errors: PageErrors = result["errors"]
    w = result["windows"]
    server_ms = [m["server_ms"] for m in rec.moves if m["server_ms"] is not None]
    input_ms = [m["input_ms"] for m in rec.moves if m["input_ms"] is not None]
    speeds = {run: {name: images_per_s(samples, batch_size, *span) for name, span in w.items()}
              for run, samples in result["status"].items()}
    alone = speeds.get("train-a", {}).get("alone")
    two = speeds.get("train-a", {}).get("two trainings")
    ratios = {run: (s["class"] / alone if s.get("class") and alone else None) for run, s in speeds.items()}
    bad_checks = [c for c in rec.checks if not c["ok"]]
    log = result["server_log"]
    problems = len(errors.console) + len(errors.page) + len(rec.failures) + len(bad_checks) + log["Traceback"]
    figures = {
        "sessions": len({m["session"] for m in rec.moves}), "moves": len(rec.moves),
        "moves_timed": len(server_ms), "sweeps": rec.sweeps, "gifs": len(rec.gifs),
        "server_ms": {"p50": percentile(server_ms, 50), "p95": percentile(server_ms, 95), "max": max(server_ms, default=None)},
        "input_ms": {"p50": percentile(input_ms, 50), "p95": percentile(input_ms, 95)},
        "img_per_s": speeds, "ratio_vs_alone": ratios,
        "ratio_two_vs_alone": two / alone if two and alone else None,
        "state_checks": len(rec.checks), "state_checks_failed": len(bad_checks),
        "failures": len(rec.failures), "console_errors": len(errors.console), "page_errors": len(errors.page),
        "known_streamlit_7074_404s": len(errors.known), "exception_elements": rec.exceptions,
        "server_log_tracebacks": log["Traceback"], "server_rss": rss_summary(result["rss"]["server"]),
        "load_s": (w["class loading"][1] - w["class loading"][0]),
    }
    p95 = figures["server_ms"]["p95"]
    fmt = lambda v: "-" if v is None else f"{v:,.0f}"
    goals = [
        Goal("slider move, server-side p95", p95, LATENCY_P95_MS, "ms",
             f"p50 {fmt(figures['server_ms']['p50'])} ms over {len(server_ms)} moves of {figures['sessions']} sessions; "
             f"input to image p50 {fmt(figures['input_ms']['p50'])} / p95 {fmt(figures['input_ms']['p95'])} ms"),
        Goal("errors (console + page + failed actions + failed state checks + server-log tracebacks)", problems,
             ERRORS, "", f"console {len(errors.console)}, page {len(errors.page)}, failed actions {len(rec.failures)}, "
                         f"state checks failed {len(bad_checks)} of {len(rec.checks)}, tracebacks {log['Traceback']}"),
    ]
    for run, ratio in ratios.items():
        goals.append(Goal(f"training {run} during the class vs alone", ratio, TRAINING_RATIO, "×",
                          f"class {fmt(speeds[run].get('class'))} img/s, alone (train-a) {fmt(alone)}; both trainings "
                          f"without the class {fmt(speeds[run].get('two trainings'))} img/s "
                          f"= {figures['ratio_two_vs_alone'] or 0:.2f}x alone: what 2 trainings on this machine allow"
                          if figures["ratio_two_vs_alone"] else f"class {fmt(speeds[run].get('class'))} img/s, "
                          f"alone {fmt(alone)}"))
    return figures, goals


def plot(result: dict, batch_size: int, path: Path) -> None:
    t0 = result["t_start"]
    w = result["windows"]
    spans = [(*w[name], name) for name in ("alone", "two trainings", "class") if name in w]
    events = [(w["class loading"][0], "browsers open")]
    runs = len(result["status"])
    trained = f"the {runs} trainings' img/s ({result['config']['preset']} on {result['dataset']})" if runs else \
        "no training beside it"
    plot_timeline(path, f"class of {result['sessions']}: server RSS and {trained}", t0,
                  {"streamlit server (+children)": result["rss"]["server"]},
                  {run: speed_series(samples, batch_size, t0, 30.0) for run, samples in result["status"].items()},
                  events, spans, speed_bin="per 30 s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    begun = begin(args.out, "class-", "run the class")
    if begun is None:
        return 2
    out, info = begun
    started = time.monotonic()
    result = run_all(args, out)
    result["sessions"] = args.sessions
    batch = result["config"]["batch_size"]
    figures, goals = summarise(result, batch)
    plot(result, batch, out / "class_rss.png")
    rec: ClassRecord = result["rec"]
    errors: PageErrors = result["errors"]
    write_json(out / "class.json", {
        "machine": info, "args": vars(args), "seconds": time.monotonic() - started, "loadavg_at_end": os.getloadavg(),
        "figures": figures, "goals": [g.to_json() for g in goals], "windows": result["windows"],
        "moves": rec.moves, "checks": rec.checks, "failures": rec.failures, "gifs": rec.gifs,
        "console_errors": errors.console, "page_errors": errors.page, "known_streamlit_7074_404s": errors.known,
        "server_log_problems": result["server_log"]["lines"],
        "rss": {k: [[t, v] for t, v in s] for k, s in result["rss"].items()},
        "status": {k: [vars(s) for s in v] for k, v in result["status"].items()},
        "dataset": result["dataset"], "config": result["config"]})
    f = figures
    print(f"\nclass: {args.sessions} sessions for {args.minutes:g} min after all loaded ({f['load_s']:.0f} s to load "
          f"them all); {f['moves']} slider moves, {f['sweeps']} sweeps, {f['gifs']} GIFs; "
          f"{f['state_checks']} state checks, {f['state_checks_failed']} failed")
    s = f["server_rss"]
    print(f"server RSS: {s.get('start_mb', 0):,.0f} MB at the start, max {s.get('max_mb', 0):,.0f} MB, "
          f"{s.get('end_mb', 0):,.0f} MB at the end")
    for e in (errors.console + errors.page)[:10]:
        print(f"  browser error ({e['session']}): {e['text'][:200]} {e.get('url', '')}")
    for e in rec.failures[:10]:
        print(f"  failed ({e['session']}): {e['action']}: {e['error'][:200]}")
    for c in [c for c in rec.checks if not c["ok"]][:10]:
        print(f"  state check ({c['session']}, {c['where']}): {'; '.join(c['problems'])}")
    return end(result["server_log"]["lines"], goals, started, out)


if __name__ == "__main__":
    sys.exit(main())
