"""The long browser benchmarks' own logic, without a browser or a trainer: bench/soak.py's and
bench/class_of_20.py's arguments, the RSS sampler, a trainer's img/s from status samples, stall
detection, the known Streamlit 404s told apart, and the figures held against their goals. The
scripts themselves run for minutes with Chromium and are not run here."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from bench import class_of_20, soak
from bench.longrun import (MB, Goal, PageErrors, Sampler, StatusSample, goals_text, images_per_s, is_known_streamlit_404,
                           percentile, plot_timeline, rss_summary, server_log_problems, speed_series, tree_rss)
from bench.report import Target


# --- arguments -------------------------------------------------------------------------------------

def test_soak_defaults_are_the_hour_of_issue_34():
    args = soak.parse_args([])
    assert (args.minutes, args.reload_every, args.freeze_minutes, args.rss_every) == (60, 5, 1, 60)
    assert args.freeze_at == 30  # half the soak unless given


def test_soak_short_development_run():
    args = soak.parse_args(["--minutes", "6", "--reload-every", "2", "--freeze-at", "3"])
    assert (args.minutes, args.reload_every, args.freeze_at) == (6, 2, 3)


@pytest.mark.parametrize("argv", [["--minutes", "6", "--freeze-at", "5.5"], ["--minutes", "0"],
                                  ["--reload-every", "0"], ["--headless-minutes", "-1"]])
def test_soak_refuses_a_plan_that_cannot_run(argv, capsys):
    with pytest.raises(SystemExit):
        soak.parse_args(argv)
    assert "error" in capsys.readouterr().err


def test_class_defaults_and_short_run():
    assert class_of_20.parse_args([]).sessions == 20
    args = class_of_20.parse_args(["--sessions", "5", "--minutes", "3", "--think-s", "0.5", "1"])
    assert (args.sessions, args.minutes, tuple(args.think_s)) == (5, 3, (0.5, 1))


@pytest.mark.parametrize("argv", [["--sessions", "0"], ["--think-s", "3", "1"], ["--moves-per-round", "0"]])
def test_class_refuses_bad_arguments(argv):
    with pytest.raises(SystemExit):
        class_of_20.parse_args(argv)


def test_both_scripts_answer_help_without_a_browser():
    for script in ("soak.py", "class_of_20.py"):
        proc = subprocess.run([sys.executable, f"bench/{script}", "--help"], capture_output=True, text=True,
                              timeout=120, cwd=soak.browserkit.ROOT)
        assert proc.returncode == 0 and "--minutes" in proc.stdout, proc.stderr


# --- memory ----------------------------------------------------------------------------------------

def test_tree_rss_counts_the_children():
    child = subprocess.Popen([sys.executable, "-c", "import time; b = b\"x\" * (64 * 1024 * 1024); time.sleep(60)"])
    try:
        deadline = time.monotonic() + 30
        while psutil.Process(child.pid).memory_info().rss < 60 * MB and time.monotonic() < deadline:
            time.sleep(0.1)
        own = psutil.Process(os.getpid()).memory_info().rss
        assert tree_rss(os.getpid()) >= own + 60 * MB
    finally:
        child.kill()
        child.wait()
    assert tree_rss(child.pid) == 0  # gone: nothing, not an error


def test_sampler_keeps_values_and_skips_a_failing_probe():
    calls = iter(range(1000))

    def broken():
        raise OSError("gone")

    with Sampler({"n": lambda: next(calls), "none": lambda: None, "broken": broken}, every_s=0.01) as s:
        time.sleep(0.1)
    values = [v for _, v in s.samples["n"]]
    assert len(values) >= 3 and values == sorted(values)  # one at the start, some in between, one at the end
    assert s.samples["none"] == [] and s.samples["broken"] == []


def test_rss_summary_growth_and_trend():
    samples = [(60.0 * m, int((500 + 2 * m) * MB)) for m in range(61)]  # 2 MB a minute for an hour
    s = rss_summary(samples)
    assert s["start_mb"] == pytest.approx(500) and s["end_mb"] == pytest.approx(620)
    assert s["growth_mb"] == pytest.approx(120) and s["slope_mb_per_h"] == pytest.approx(120)
    assert s["max_mb"] == pytest.approx(620) and s["minutes"] == pytest.approx(60)
    window = rss_summary(samples, 600, 1200)  # minutes 10 to 20
    assert window["samples"] == 11 and window["growth_mb"] == pytest.approx(20)
    assert rss_summary([]) == {"samples": 0}


# --- trainer speed ---------------------------------------------------------------------------------

def samples_at(steps_per_s: float, seconds: int, t0: float = 1000.0, state: str = "running") -> list[StatusSample]:
    return [StatusSample(t0 + t + 0.3, int(steps_per_s * t), t0 + t, state) for t in range(0, seconds, 5)]


def test_images_per_s_from_status_heartbeats():
    samples = samples_at(10, 121)
    assert images_per_s(samples, 32) == pytest.approx(320)
    assert images_per_s(samples, 32, 1000, 1030) == pytest.approx(320)
    assert images_per_s(samples, 32, 5000, 6000) is None  # nothing in the window
    assert images_per_s(samples_at(10, 121, state="stopped"), 32) is None  # not running: no speed


def test_speed_series_bins_by_minute():
    samples = samples_at(10, 121) + [StatusSample(1125.3 + t, 1200 + 20 * t, 1125 + t, "running")
                                     for t in range(0, 121, 5)]
    series = speed_series(samples, 32, t_origin=1000.0)
    assert [round(m, 1) for m, _ in series] == [0.5, 1.5, 2.5, 3.5, 4.5]
    assert series[0][1] == pytest.approx(320) and series[-1][1] == pytest.approx(640)


# --- errors and stalls -----------------------------------------------------------------------------

class FakeMessage:
    def __init__(self, kind: str, text: str, url: str = ""):
        self.type, self.text, self.location = kind, text, {"url": url}


class FakePage:
    def __init__(self):
        self.handlers = {}

    def on(self, event, handler):
        self.handlers[event] = handler


def test_page_errors_tell_streamlit_7074_from_the_apps_own():
    page, errors = FakePage(), PageErrors()
    errors.attach(page, "s0")
    not_found = "Failed to load resource: the server responded with a status of 404 (Not Found)"
    page.handlers["console"](FakeMessage("error", not_found, "http://127.0.0.1:8501/train/_stcore/health"))
    page.handlers["console"](FakeMessage("error", not_found, "http://127.0.0.1:8501/train/_stcore/host-config"))
    page.handlers["console"](FakeMessage("error", not_found, "http://127.0.0.1:8501/media/abc.png"))
    page.handlers["console"](FakeMessage("warning", "deprecated"))
    page.handlers["pageerror"](RuntimeError("boom"))
    assert len(errors.known) == 2 and [e["url"] for e in errors.console] == ["http://127.0.0.1:8501/media/abc.png"]
    assert errors.page[0]["text"] == "boom" and errors.warnings == 1
    assert not is_known_streamlit_404({"text": not_found, "url": "http://h/_stcore/health"})  # the real health check


def test_server_log_problems(tmp_path):
    log = tmp_path / "streamlit.log"
    log.write_text("You can now view your Streamlit app\n"
                   "2026-12-06 WARNING Couldn't find fragment with id abc. This can happen...\n"
                   "Traceback (most recent call last):\n  File x\nValueError: bad\n")
    found = server_log_problems(log)
    assert found["Traceback"] == 1 and found["Couldn't find fragment"] == 1 and len(found["lines"]) == 2
    assert server_log_problems(log, start_offset=log.stat().st_size)["Traceback"] == 0
    assert server_log_problems(tmp_path / "missing.log")["lines"] == []


def look(t, step, snapshot, run_step, run_snapshot):
    return {"t": t, "step": step, "snapshot": snapshot, "run_step": run_step, "run_snapshot": run_snapshot}


def test_a_live_view_that_stopped_is_a_stall():
    first = look(0, 100, 0, 120, 200)
    assert soak.stalled(None, first) == []
    assert soak.stalled(first, look(60, 300, 200, 320, 200)) == []  # both moved on
    stalls = soak.stalled(first, look(60, 100, 200, 320, 400))
    assert len(stalls) == 1 and "progress line stayed at 100" in stalls[0]["what"]
    assert len(soak.stalled(first, look(60, 300, 0, 320, 400))) == 1  # the grid stopped


def test_a_slow_trainer_is_no_stall():
    # the page showed all there was at the first look: nothing newer existed to show
    first = look(0, 120, 200, 120, 200)
    assert soak.stalled(first, look(60, 120, 200, 121, 200)) == []


# --- goals -----------------------------------------------------------------------------------------

def test_goals_pass_miss_and_not_measured():
    goals = [Goal("RSS growth", 42.0, Target("<=", 100), "MB"), Goal("errors", 3, Target("<=", 0)),
             Goal("ratio", None, Target(">=", 0.95), "×", "no headless window")]
    assert [g.passed for g in goals] == [True, False, None]
    text = goals_text(goals)
    assert "RSS growth: 42 MB [goal ≤ 100 MB] pass" in text
    assert "errors: 3 [goal ≤ 0] MISS" in text
    assert "ratio: - [goal ≥ 0.95×] not measured" in text and text.endswith("1 of 2 goals met")
    assert goals[1].to_json()["passed"] is False


def soak_result(server_mb: list[float], page_img_s: float, headless_img_s: float, console: int = 0) -> dict:
    t_open, t_close = 1000.0, 1000.0 + 60 * (len(server_mb) - 1)
    errors = PageErrors()
    errors.console = [{"text": "x"}] * console
    rate = lambda img_s, t0, t1: [StatusSample(t, int((t - t0) * img_s / 32), t, "running")
                                  for t in range(int(t0), int(t1) + 1, 5)]
    status = rate(headless_img_s, 0, 300) + rate(page_img_s, t_open, t_close) + rate(headless_img_s, t_close + 10,
                                                                                      t_close + 310)
    return {"windows": {"headless before": (0, 300), "page open": (t_open, t_close),
                        "headless after": (t_close + 10, t_close + 310)},
            "rss": {"server": [(t_open + 60 * i, int(v * MB)) for i, v in enumerate(server_mb)], "trainer": []},
            "status": status, "errors": errors, "checks": [{"exceptions": 0}], "stalls": [],
            "server_log": {"Traceback": 0, "Couldn't find fragment": 0, "lines": []},
            "recover_s": {"reload": [2.0], "thaw": [3.0]}}


def test_soak_summary_against_its_goals():
    figures, goals = soak.summarise(soak_result([600, 610, 620], page_img_s=700, headless_img_s=720), 32)
    assert figures["server_rss"]["growth_mb"] == pytest.approx(20)
    assert figures["ratio"] == pytest.approx(700 / 720, rel=0.01)
    assert [g.passed for g in goals] == [True, True, True]
    _, goals = soak.summarise(soak_result([600, 700, 800], page_img_s=600, headless_img_s=720, console=2), 32)
    assert [g.passed for g in goals] == [False, False, False]


def test_class_summary_against_its_goals():
    rec = class_of_20.ClassRecord()
    rec.moves = [{"session": i % 4, "server_ms": float(ms), "input_ms": ms + 30.0} for i, ms in enumerate(range(10, 310, 10))]
    rec.checks = [{"ok": True}, {"ok": False, "problems": ["seed box 3, not 1002"]}]
    rate = lambda img_s, t0, t1: [StatusSample(t, int((t - t0) * img_s / 32), t, "running")
                                  for t in range(t0, t1 + 1, 5)]
    result = {"rec": rec, "errors": PageErrors(), "server_log": {"Traceback": 0, "lines": []},
              "windows": {"alone": (0, 60), "two trainings": (100, 160), "class": (200, 800),
                          "class loading": (170, 200)},
              "status": {"train-a": rate(700, 0, 60) + rate(350, 100, 160) + rate(300, 200, 800),
                         "train-b": rate(350, 100, 160) + rate(280, 200, 800)},
              "rss": {"server": [(0, 500 * MB), (800, 900 * MB)]}}
    figures, goals = class_of_20.summarise(result, 32)
    assert figures["server_ms"]["p50"] == pytest.approx(155) and figures["server_ms"]["p95"] == pytest.approx(285.5)
    assert figures["ratio_two_vs_alone"] == pytest.approx(0.5, rel=0.02)
    assert figures["ratio_vs_alone"]["train-b"] == pytest.approx(0.4, rel=0.02)
    assert [g.passed for g in goals] == [False, False, False, False]  # p95 285 ms; one failed check; 0.43x, 0.4x
    assert figures["sessions"] == 4 and figures["state_checks_failed"] == 1


def test_class_with_no_training_beside_it(tmp_path):
    # --trainings 0: the latency the browsers and the server alone allow; no training goals, a plot still
    assert class_of_20.parse_args([]).trainings == 2 and class_of_20.parse_args(["--trainings", "0"]).trainings == 0
    with pytest.raises(SystemExit):
        class_of_20.parse_args(["--trainings", "3"])
    rec = class_of_20.ClassRecord()
    rec.moves = [{"session": 0, "server_ms": 120.0, "input_ms": 150.0}, {"session": 1, "server_ms": 180.0,
                                                                        "input_ms": 200.0}]
    result = {"rec": rec, "errors": PageErrors(), "server_log": {"Traceback": 0, "lines": []},
              "windows": {"class": (30, 90), "class loading": (0, 30)}, "status": {},
              "rss": {"server": [(0, 500 * MB), (90, 510 * MB)]}, "t_start": 0, "sessions": 2,
              "config": {"preset": "mnist28-rpgan"}, "dataset": "synthetic"}
    figures, goals = class_of_20.summarise(result, 32)
    assert [g.name for g in goals] == ["slider move, server-side p95",
                                       "errors (console + page + failed actions + failed state checks + "
                                       "server-log tracebacks)"]
    assert [g.passed for g in goals] == [True, True] and figures["ratio_two_vs_alone"] is None
    class_of_20.plot(result, 32, tmp_path / "class.png")
    assert (tmp_path / "class.png").read_bytes()[:4] == b"\x89PNG"


def test_percentile():
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile(list(range(1, 101)), 50) == pytest.approx(50.5)
    assert percentile([1, 2, 3, 4], 100) == 4


def test_plot_timeline_writes_a_png(tmp_path):
    path = tmp_path / "rss.png"
    plot_timeline(path, "t", 0.0, {"server": [(0, 100 * MB), (60, 120 * MB)]}, {"trainer": [(0.5, 700.0)]},
                  [(30.0, "reload")], [(0.0, 20.0, "headless before"), (40.0, 50.0, "frozen tab")], {"headless": 700.0})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_class_expects_what_the_latent_page_shows_for_a_seed():
    # the page's slider range, mirrored in the benchmark: the Latent page itself cannot be imported
    # outside Streamlit, so its constant is read from the source
    import re
    source = (class_of_20.ROOT / "explorer" / "latent.py").read_text()
    assert float(re.search(r"^Z_LIMIT = ([\d.]+)", source, re.M).group(1)) == class_of_20.Z_LIMIT
    from dcgan.sampling import z_from_seed
    z = z_from_seed(1003, 100)[0].tolist()
    shown = class_of_20.seed_sliders(1003, 100)
    assert len(shown) == class_of_20.SLIDERS
    assert all(abs(s - min(3.5, max(-3.5, v))) <= 0.005 + 1e-9 for s, v in zip(shown, z))
    assert max(abs(v) for v in shown) <= class_of_20.Z_LIMIT
