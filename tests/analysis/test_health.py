"""What the notes under the charts say (dcgan.analysis.health), with known answers on synthetic metrics: a D that
wins, a D that loses, losses drifting apart, a balanced run, a diverged run with NaN, too few steps to say; and
mode collapse from the evaluator's coverage."""
from __future__ import annotations

import math
import random

import pytest

from dcgan.analysis.health import (LEVELS, RECENT_BYTES, WINDOW, balance_point, coverage_notes, training_notes)
from dcgan.config import TrainConfig
from dcgan.runs.rundir import RunDir

BCE = TrainConfig(gan_loss="bce")
RPGAN = TrainConfig(gan_loss="relativistic")
LOG2 = math.log(2)


def steps(first: int, count: int, loss_d: float, loss_g: float, acc_real: float, acc_fake: float,
          noise: float = 0.02, seed: int = 0) -> list[dict]:
    """count metrics records from step first on, each figure its value plus a little noise."""
    rng = random.Random(seed + first)
    jitter = lambda v: v + rng.uniform(-noise, noise)  # noqa: E731
    return [{"step": s, "loss_d": jitter(loss_d), "loss_g": jitter(loss_g),
             "acc_real": min(1.0, max(0.0, jitter(acc_real))), "acc_fake": min(1.0, max(0.0, jitter(acc_fake)))}
            for s in range(first, first + count)]


def balanced_bce(first: int, count: int) -> list[dict]:
    return steps(first, count, 2 * LOG2, LOG2, 0.7, 0.7)


def test_a_balanced_run_is_healthy_in_its_own_numbers():
    records = steps(1, 3000, LOG2, LOG2 + 0.05, 0.6, 0.6)
    notes = training_notes(records, RPGAN)
    assert [n.level for n in notes] == ["healthy"]
    text = notes[0].text
    assert "flat near log 2" in text and "D 0.69, G 0.74" in text and "60%" in text
    assert f"last {WINDOW:,} steps to step 3,000" in text  # only the newest WINDOW records are read


def test_d_that_wins_too_easily_is_a_warning_with_its_stretch():
    # D right about every fake (1.0) for the newest 300 steps, one lucky G batch (0.97) among them
    records = balanced_bce(1, 1400) + steps(1401, 300, 0.05, 4.0, 1.0, 1.0, noise=0.0)
    records[1500]["acc_fake"] = 0.97
    notes = training_notes(records, BCE)
    assert notes[0].level == "warning"
    assert notes[0].text.startswith("D's accuracy on fakes has been above 0.99 for 300 steps (since step 1,401)")
    assert "D wins too easily" in notes[0].text and "docs/training.md#reading-the-curves" in notes[0].text
    assert not any(n.level == "healthy" for n in notes)


def test_d_that_wins_for_long_or_with_an_exploded_g_loss_is_a_problem():
    long = balanced_bce(1, 500) + steps(501, 1200, 0.05, 4.0, 1.0, 1.0, noise=0.0)
    assert training_notes(long, BCE)[0].level == "problem"
    assert "for 1,200 steps" in training_notes(long, BCE)[0].text
    exploded = balanced_bce(1, 500) + steps(501, 150, 0.0, 30.0, 1.0, 1.0, noise=0.0)
    note = training_notes(exploded, BCE)[0]
    assert note.level == "problem" and "G's loss is 30.0" in note.text and "diverged" in note.text


def test_under_the_relativistic_loss_the_accuracy_is_of_pairs():
    records = steps(1, 200, 0.05, 3.0, 1.0, 1.0, noise=0.0)
    assert "ranks every real image above its fake" in training_notes(records, RPGAN)[0].text


def test_a_d_right_about_nearly_everything_is_close_to_winning():
    records = steps(1, 600, 0.3, 2.0, 0.97, 0.97, noise=0.01)  # never above 0.99: no stretch of D winning
    assert training_notes(records, BCE) == [("warning", "Over the last 600 steps D has been right about 97% of the "
                                                        "images in a typical step (the median): close to winning "
                                                        "outright. Watch that it does not stay there; see "
                                                        "docs/training.md#reading-the-curves.")]


def test_a_d_that_loses_is_a_warning():
    records = balanced_bce(1, 500) + steps(501, 400, 2.5, 0.2, 0.5, 0.0, noise=0.0)
    texts = [n.text for n in training_notes(records, BCE) if n.level == "warning"]
    assert any(t.startswith("D's accuracy on G's images has been below 0.05 for 400 steps (since step 501)")
               for t in texts), texts


def test_g_loss_rising_while_d_loss_falls_is_said_with_the_numbers():
    n = 2000
    records = [{"step": s + 1, "loss_d": 1.2 - 0.6 * s / n, "loss_g": 1.0 + 2.0 * s / n, "acc_real": 0.8,
                "acc_fake": 0.8} for s in range(n)]
    notes = training_notes(records, BCE)
    assert [n.level for n in notes] == ["warning"]
    assert notes[0].text.startswith("G's loss has risen from 1.20 to 2.80 over the last 2,000 steps while D's fell "
                                    "from 1.14 to 0.66: D is pulling ahead")  # medians of the first and last 400
    # the same curves the other way round are D falling behind; settling towards the balance point is not
    back = [{**r, "loss_d": r["loss_g"], "loss_g": r["loss_d"]} for r in records]
    assert training_notes(back, BCE)[0].text.startswith("D's loss has risen from 1.20 to 2.80")
    settling = [{**r, "loss_d": 0.1 + 1.2 * i / n, "loss_g": 3.0 - 2.2 * i / n} for i, r in enumerate(records)]
    assert [n.level for n in training_notes(settling, BCE)] == ["healthy"]


def test_a_diverged_run_with_nan_says_where_it_broke():
    records = balanced_bce(1, 400)
    records.append({"step": 401, "loss_d": float("nan"), "loss_g": 3.0, "acc_real": 1.0, "acc_fake": 1.0})
    records += [{"step": s, "loss_d": float("inf"), "loss_g": float("nan"), "acc_real": 0.0, "acc_fake": 0.0}
                for s in range(402, 420)]
    notes = training_notes(records, BCE)
    assert notes[0].level == "problem" and notes[0].text.startswith("loss_d became nan at step 401: the run diverged")
    assert all(n.level != "info" for n in notes)
    # NaN at the very start: the problem alone, not "too few steps"
    assert [n.level for n in training_notes(records[-5:], BCE)] == ["problem"]


def test_too_few_steps_to_say():
    notes = training_notes(balanced_bce(1, 12), BCE)
    assert notes == [("info", "Only 12 steps so far: too few to say how training goes (these notes start after 50 "
                              "steps).")]
    assert training_notes([], None)[0].text.startswith("Only 0 steps so far")
    # records without D's accuracies (an old log) say nothing either way
    assert training_notes([{"step": s, "loss_d": 1.0, "loss_g": 1.0} for s in range(100)], BCE)[0].level == "info"


def test_only_the_newest_window_counts():
    # D won for the first 5,000 steps; the newest WINDOW are balanced: the run is healthy now
    records = steps(1, 5000, 0.05, 4.0, 1.0, 1.0, noise=0.0) + balanced_bce(5001, WINDOW)
    assert [n.level for n in training_notes(records, BCE)] == ["healthy"]


def test_notes_come_problems_first():
    records = steps(1, 1500, 0.05, 4.0, 1.0, 1.0, noise=0.0)
    levels = [n.level for n in training_notes(records, BCE)]
    assert levels == sorted(levels, key=LEVELS.index)


def test_balance_points():
    assert balance_point(BCE) == pytest.approx((2 * LOG2, LOG2))
    assert balance_point(RPGAN) == pytest.approx((LOG2, LOG2))
    assert balance_point(TrainConfig(gan_loss="hinge")) == (2.0, 0.0)
    assert balance_point(None) is None


def test_recent_bytes_hold_a_window_of_the_trainers_records(tmp_path):
    # the trainer's records are 230-280 bytes: RECENT_BYTES read off the end of metrics.jsonl hold WINDOW of them
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    record = ('{"step":%d,"epoch":12.7995,"time":1796398768.432,"loss_d":0.67181,"loss_g":0.75413,"d_x":0.596459,'
              '"d_g_z":0.585159,"d_g_z_after":0.577371,"acc_real":0.59375,"acc_fake":0.59375,"r1":0.796924,'
              '"lr_d":0.0002,"lr_g":0.0002,"images_per_s":468.9}\n')
    run.metrics_path.write_text("".join(record % s for s in range(1_000_000, 1_004_000)))
    assert len(run.recent_metrics(RECENT_BYTES)) >= WINDOW


EVAL = {"images": 500, "floor": {"classes_covered": 10, "class_kl": 0.007}}
NAMES = [str(i) for i in range(10)]


def evaluation(step: int, covered: int, kl: float, share: list[float]) -> dict:
    return {**EVAL, "step": step, "classes_covered": covered, "class_kl": kl, "class_share": share}


def test_coverage_healthy_uneven_incomplete_and_collapsed():
    even = [0.1] * 10
    healthy = coverage_notes([evaluation(1000, 10, 0.02, even)], NAMES)
    assert healthy == [("healthy", "At step 1,000 G draws all 10 classes about as often as the real data does (KL "
                                   "to the real shares 0.020; real images 0.007): no sign of mode collapse.")]
    uneven = coverage_notes([evaluation(1000, 10, 0.4, [0.46] + [0.06] * 9)], NAMES)
    assert uneven[0].level == "warning" and "the commonest, 0, is 46% of G's images" in uneven[0].text
    missing = coverage_notes([evaluation(1000, 8, 0.3, [0.125] * 8 + [0.0, 0.01])], NAMES)
    assert missing[0].level == "warning"
    assert "cover 8 of the 10 classes the real data shows (8, 9 hardly ever appear)" in missing[0].text
    collapsed = coverage_notes([evaluation(1000, 10, 0.02, even), evaluation(2000, 4, 1.1, [0.25] * 4 + [0.0] * 6)],
                               NAMES)
    assert collapsed[0].level == "warning"
    assert collapsed[0].text.startswith("At step 2,000 G's images cover 4 of the 10 classes, down from 10 at step "
                                        "1,000: G has dropped classes")
    assert coverage_notes([]) == [] and coverage_notes([{"step": 5}]) == []


def test_stacked_mnist_counts_modes():
    records = [{"step": 100, "modes_covered": 990, "modes_kl": 0.05, "floor": {"modes_covered": 1000}},
               {"step": 200, "modes_covered": 400, "modes_kl": 1.5, "floor": {"modes_covered": 1000}}]
    assert coverage_notes(records)[0].text.startswith("At step 200 G's images cover 400 of the 1,000 modes, down "
                                                      "from 990")
