"""What a run's curves say about its health, in words with the run's own numbers: the notes the app shows under
its charts (D winning or losing, the losses drifting apart, a balanced run, a non-finite loss, too few steps to
say; classes dropped or drawn unevenly, from the evaluator's coverage).

Pure functions: records in, a list of (level, sentence) out. Only the newest WINDOW records are read, so a note
costs the same at step 1,000,000 as at step 1,000 (pages read them with RunDir.recent_metrics(RECENT_BYTES)).
Not to be confused with dcgan/training/health.py, the trainer's own divergence flag written to status.json.
"""
from __future__ import annotations

import math
import statistics
from typing import Iterable, NamedTuple, Sequence

from ..config import TrainConfig
from ..evaluation.evaluate import COLLAPSE_DROP, coverage_key
from ..evaluation.metrics import COVERED
from ..runs.records import ACC_PINNED as PINNED, LOSS_G_EXPLODED  # the trainer's divergence flag uses the same

WINDOW = 2000  # newest metrics records read: about the last 2,000 steps (the trainer logs every step)
RECENT_BYTES = 560_000  # RunDir.recent_metrics(RECENT_BYTES) holds WINDOW records (230-280 bytes each)
MIN_STEPS = 50  # fewer records: too few to say anything
LOSING = 0.05  # D right about (nearly) none of them
STRETCH_SHARE = 0.9  # a stretch holds when this share of its steps do: one lucky batch does not end it
# the shipped MNIST model had D right about every pair for 359 steps early on and recovered by itself; a D that
# still wins after 1,000 steps is not coming back without help (training/health.py flags the run at 50-200 steps
# of accuracy 1 with loss_g above 15)
D_WINS_STEPS, D_WINS_LONG = 100, 1000
D_LOSES_STEPS = 200
DRIFT_MIN_RECORDS = 200  # the first and last fifth of the window each need 40 steps for their medians
FLAT = 0.1  # the medians of the window's first and last fifth this close: a flat curve
CLOSE_TO_WINNING = 0.95  # a median accuracy this high, without a stretch at PINNED, is worth a word
KL_UNEVEN, KL_FLOOR_TIMES = 0.1, 5.0  # class KL above both 0.1 and 5x the real data's: classes drawn unevenly
DOCS = "docs/training.md#reading-the-curves"
LOG2 = math.log(2)

LEVELS = ("problem", "warning", "healthy", "info")  # the order notes are listed in


class Note(NamedTuple):
    """One sentence about a chart: level is "problem", "warning", "healthy" or "info" (too early to say)."""

    level: str
    text: str


def balance_point(cfg: TrainConfig | None) -> tuple[float, float] | None:
    """(loss_d, loss_g) when D cannot tell real from fake (its logits all 0): where a balanced run's losses
    hover. None for an unknown loss."""
    name = getattr(cfg, "gan_loss", None)
    # BCE at p = 0.5 is log 2 whatever the label smoothing; relativistic softplus(0) = log 2; hinge 1 + 1 and 0
    return {"bce": (2 * LOG2, LOG2), "relativistic": (LOG2, LOG2), "hinge": (2.0, 0.0)}.get(name)


def _balance_words(cfg: TrainConfig | None) -> str:
    name = getattr(cfg, "gan_loss", None)
    return {"bce": "their balance point (D 2·log 2 ≈ 1.39, G log 2 ≈ 0.69)",
            "relativistic": "log 2 ≈ 0.69, the balance point of the relativistic loss",
            "hinge": "their balance point (D 2, G 0)"}.get(name, "their balance point")


def _finite(record: dict) -> bool:
    return all(isinstance(record.get(k), (int, float)) and math.isfinite(record[k]) for k in ("loss_d", "loss_g"))


def _trailing_stretch(flags: Sequence[bool]) -> int:
    """The length of the longest stretch ending at the newest record, beginning on a flagged one, in which at
    least STRETCH_SHARE of the records are flagged (0: none)."""
    best = count = 0
    for k, flag in enumerate(reversed(flags), 1):
        count += flag
        if flag and count >= STRETCH_SHARE * k:
            best = k
    return best


def _median(records: Sequence[dict], key: str) -> float:
    return statistics.median(r[key] for r in records)


def _steps(records: Sequence[dict]) -> int:
    """The steps a run of records spans (a record per step in metrics.jsonl, but a gap is counted too)."""
    return records[-1]["step"] - records[0]["step"] + 1


def training_notes(records: Iterable[dict], cfg: TrainConfig | None = None) -> list[Note]:
    """What the loss and D-accuracy curves of a run say, from its newest WINDOW metrics records (oldest first)
    and its config (the loss decides the balance point and what D's accuracy counts): problems first, then
    warnings, then what is healthy; one "info" note when there are too few steps to say."""
    window = list(records)[-WINDOW:]
    notes: list[Note] = []
    bad = next((r for r in window if not _finite(r)), None)
    if bad is not None:
        which = next((k for k in ("loss_d", "loss_g") if not (isinstance(bad.get(k), (int, float))
                                                             and math.isfinite(bad[k]))), "loss_d")
        notes.append(Note("problem", f"{which} became {bad.get(which)} at step {bad.get('step')}: the run diverged, "
                                     "and training stops on a non-finite loss (its last good checkpoint kept). "
                                     "Resume from it with lower learning rates or another recipe; see "
                                     f"{DOCS}."))
        window = [r for r in window[:window.index(bad)] if _finite(r)]  # what led up to it
    window = [r for r in window if all(isinstance(r.get(k), (int, float)) for k in ("acc_real", "acc_fake", "step"))]
    if len(window) < MIN_STEPS:
        if bad is None:
            notes.append(Note("info", f"Only {len(window)} step{'s' * (len(window) != 1)} so far: too few to say how "
                                      f"training goes (these notes start after {MIN_STEPS} steps)."))
        return notes
    paired = getattr(cfg, "gan_loss", None) == "relativistic"
    # under the relativistic loss D's accuracy is the share of (real, fake) pairs it ranks the right way round
    of = "the (real, fake) pairs" if paired else "the images"
    fakes = "the (real, fake) pairs" if paired else "G's images"
    newest = window[-1]["step"]

    wins = _trailing_stretch([r["acc_fake"] >= PINNED for r in window])
    if wins and _steps(window[-wins:]) >= D_WINS_STEPS:
        stretch = window[-wins:]
        span, loss_g = _steps(stretch), _median(stretch, "loss_g")
        what = (f"D's accuracy has been above {PINNED} for {span:,} steps (since step {stretch[0]['step']:,}; it "
                "ranks every real image above its fake)" if paired else
                f"D's accuracy on fakes has been above {PINNED} for {span:,} steps (since step {stretch[0]['step']:,})")
        if loss_g > LOSS_G_EXPLODED:
            notes.append(Note("problem", f"{what} and G's loss is {loss_g:.1f}: D wins outright and G gets no "
                                         "useful gradient any more; the run has diverged. Train again with lower "
                                         f"learning rates, R1 or DiffAugment; see {DOCS}."))
        elif span >= D_WINS_LONG:
            notes.append(Note("problem", f"{what}: D wins too easily, and G learns little from a D that is always "
                                         "right. This long it rarely recovers by itself: lower lr_d, or add R1 or "
                                         f"DiffAugment; see {DOCS}."))
        else:
            notes.append(Note("warning", f"{what}: D wins too easily for now. Early in a run this often passes "
                                         f"as G finds its feet; if it lasts past {D_WINS_LONG:,} steps, lower lr_d "
                                         f"or add R1; see {DOCS}."))
    loses = _trailing_stretch([r["acc_fake"] <= LOSING for r in window])
    if loses and _steps(window[-loses:]) >= D_LOSES_STEPS:
        stretch = window[-loses:]
        notes.append(Note("warning", f"D's accuracy on {fakes} has been below {LOSING} for {_steps(stretch):,} steps "
                                     f"(since step {stretch[0]['step']:,}): D takes G's images for real, so it no "
                                     "longer teaches G anything. D is too weak or too slow: raise lr_d or lower "
                                     f"lr_g; see {DOCS}."))

    balance = balance_point(cfg)
    fifth = len(window) // 5
    flat = False
    if len(window) >= DRIFT_MIN_RECORDS:
        first, last = window[:fifth], window[-fifth:]
        d0, d1 = _median(first, "loss_d"), _median(last, "loss_d")
        g0, g1 = _median(first, "loss_g"), _median(last, "loss_g")
        span = _steps(window)
        flat = abs(d1 - d0) <= FLAT and abs(g1 - g0) <= FLAT
        g_rose, d_fell = g1 - g0 >= max(0.2, 0.25 * abs(g0)), d0 - d1 >= max(0.05, 0.1 * abs(d0))
        d_rose, g_fell = d1 - d0 >= max(0.2, 0.25 * abs(d0)), g0 - g1 >= max(0.05, 0.1 * abs(g0))
        # moving towards the balance point is a run settling (D's early lead shrinking), not drifting apart
        if g_rose and d_fell and (balance is None or g1 > balance[1]):
            notes.append(Note("warning", f"G's loss has risen from {g0:.2f} to {g1:.2f} over the last {span:,} steps "
                                         f"while D's fell from {d0:.2f} to {d1:.2f}: D is pulling ahead, and the "
                                         "further it gets the less G learns. If it goes on, lower lr_d or add R1; "
                                         f"see {DOCS}."))
        elif d_rose and g_fell and (balance is None or d1 > balance[0]):
            notes.append(Note("warning", f"D's loss has risen from {d0:.2f} to {d1:.2f} over the last {span:,} steps "
                                         f"while G's fell from {g0:.2f} to {g1:.2f}: G fools D more and more, and a "
                                         "D that cannot tell stops teaching G. If it goes on, raise lr_d or lower "
                                         f"lr_g; see {DOCS}."))
    if notes:
        return notes

    accuracy = statistics.median((r["acc_real"] + r["acc_fake"]) / 2 for r in window)
    span = _steps(window)
    if accuracy >= CLOSE_TO_WINNING:
        return [Note("warning", f"Over the last {span:,} steps D has been right about {accuracy:.0%} of {of} in a "
                                "typical step (the median): close to winning outright. Watch that it does not stay "
                                f"there; see {DOCS}.")]
    recent = window[-max(fifth, MIN_STEPS):]
    d1, g1 = _median(recent, "loss_d"), _median(recent, "loss_g")
    tolerance = 0.2 * max(balance[0], 1.0) if balance else 0.0
    if flat and balance and abs(d1 - balance[0]) <= tolerance and abs(g1 - balance[1]) <= tolerance:
        return [Note("healthy", f"The losses are flat near {_balance_words(cfg)}: D {d1:.2f}, G {g1:.2f} over the "
                                f"last {span:,} steps to step {newest:,}, and D is right about {accuracy:.0%} of "
                                f"{of} (half would be a coin toss). Neither network wins and both keep learning: a "
                                "balanced, healthy run.")]
    return [Note("healthy", f"No sign of trouble over the last {span:,} steps: D is right about {accuracy:.0%} of "
                            f"{of}, short of all of them, and neither loss runs away (D {d1:.2f}, G {g1:.2f} at "
                            f"step {newest:,}; a run settles with both near {_balance_words(cfg)}).")]


def coverage_notes(evaluations: Sequence[dict], class_names: Sequence[str] | None = None) -> list[Note]:
    """Mode collapse or not, from the evaluator's records (eval.jsonl, oldest first): the newest one's class
    (or Stacked MNIST mode) coverage against the real data's and the best so far, and how evenly G draws them."""
    recent = [r for r in evaluations if isinstance(r.get("step"), int)][-WINDOW:]
    if not recent:
        return []
    last = recent[-1]
    key = coverage_key(last)
    covered, real = last.get(key), (last.get("floor") or {}).get(key)
    if not isinstance(covered, (int, float)):
        return []
    what = "modes" if key == "modes_covered" else "classes"
    step = last["step"]
    best = max((r for r in recent if isinstance(r.get(key), (int, float))), key=lambda r: r[key])
    real_words = f" of the {real:,}" if isinstance(real, (int, float)) else ""
    if best[key] > covered and covered < COLLAPSE_DROP * best[key]:
        # a warning, as the trainer's own "possible mode collapse": 500 images can miss a class by chance
        return [Note("warning", f"At step {step:,} G's images cover {covered:,}{real_words} {what}, down from "
                                f"{best[key]:,} at step {best['step']:,}: G has dropped {what} it could draw, the "
                                "mark of mode collapse (G draws a few things well and nothing else) unless the "
                                "next evaluation brings them back. Go back to an earlier snapshot, or train again "
                                "with DiffAugment or g_topk; see docs/evaluation.md.")]
    if isinstance(real, (int, float)) and covered < real:
        share = last.get("class_share") or []
        missing = [str(class_names[i]) if class_names and i < len(class_names) else str(i)
                   for i, s in enumerate(share) if s < COVERED]
        verb = "appears" if len(missing) == 1 else "appear"
        named = f" ({', '.join(missing[:6])}{' …' if len(missing) > 6 else ''} hardly ever {verb})" if missing else ""
        return [Note("warning", f"At step {step:,} G's images cover {covered:,} of the {real:,} {what} the real data "
                                f"shows{named}: G has not learnt them all, or has lost some (a class counts from "
                                f"{COVERED:.0%} of the images). See docs/evaluation.md.")]
    kl, real_kl = last.get("class_kl" if what == "classes" else "modes_kl"), \
        (last.get("floor") or {}).get("class_kl" if what == "classes" else "modes_kl")
    share = last.get("class_share") or []
    if isinstance(kl, (int, float)) and kl > KL_UNEVEN and (not isinstance(real_kl, (int, float))
                                                             or kl > KL_FLOOR_TIMES * real_kl):
        top = max(range(len(share)), key=share.__getitem__) if share else None
        name = (class_names[top] if class_names and top < len(class_names) else str(top)) if top is not None else None
        most = f"; the commonest, {name}, is {share[top]:.0%} of G's images" if name is not None else ""
        return [Note("warning", f"At step {step:,} every one of the {covered:,} {what} appears, but unevenly (KL to "
                                f"the real shares {kl:.3f}" + (f", real images {real_kl:.3f}" if isinstance(
                                    real_kl, (int, float)) else "") + f"{most}): G favours some {what}. Early in a run "
                                "this is usual; if it grows, it is the first sign of mode collapse. See "
                                "docs/evaluation.md.")]
    kl_words = f" (KL to the real shares {kl:.3f}" + (f"; real images {real_kl:.3f})" if isinstance(
        real_kl, (int, float)) else ")") if isinstance(kl, (int, float)) else ""
    return [Note("healthy", f"At step {step:,} G draws all {covered:,} {what} about as often as the real data "
                            f"does{kl_words}: no sign of mode collapse.")]


__all__ = ["LEVELS", "Note", "RECENT_BYTES", "WINDOW", "balance_point", "coverage_notes", "training_notes"]
