"""Which metrics.jsonl and eval.jsonl records a reader can use: numbers where numbers belong."""
from __future__ import annotations

from .files import Records

# the numbers the trainer writes into metrics.jsonl and eval.jsonl (dcgan/training/, dcgan/evaluation/);
# a record where one of them is not a number is damaged, and RunDir's readers leave it out
METRIC_NUMBERS = ("epoch", "time", "loss_d", "loss_g", "d_x", "d_g_z", "d_g_z_after", "acc_real", "acc_fake",
                  "lr_d", "lr_g", "images_per_s")
EVAL_NUMBERS = ("images", "fid", "precision", "recall", "classes_covered", "class_kl", "modes_covered", "modes_kl",
                "confident_fraction", "seconds")
MAX_NUMBER = 2.0 ** 63  # JSON allows integers too big for a float, which every chart would choke on

# What the step statistics mean at their extremes, for the trainer's divergence flag (training/health.py) and the
# notes under the app's charts (analysis/health.py), which must agree on when D has won.
ACC_PINNED = 0.99  # D right about (nearly) every image of the batch: 32 of 32 at the recipes' batch size
# -log D(G(z)) > 15 means D gives G's images p < 3e-7 of being real. The shipped models never got
# there even for one step (MNIST's highest loss_g in 16,000 steps: 13.0; the faces64 preset on the faces: 14.7 in 1,200)
LOSS_G_EXPLODED = 15.0


def is_number(value) -> bool:
    """A finite int or float that converts to a float (bool is no number here)."""
    return type(value) in (int, float) and value - value == 0 and -MAX_NUMBER < value < MAX_NUMBER


def is_step(value) -> bool:
    return type(value) is int and 0 <= value < MAX_NUMBER


def valid_metrics_record(record: dict) -> bool:
    """A metrics.jsonl record every reader can use: a step, and numbers where numbers belong."""
    if not is_step(record.get("step")):
        return False
    for key in METRIC_NUMBERS:  # is_number spelt out: this runs once per line of a log of a million lines
        value = record.get(key, 0.0)
        if type(value) not in (int, float) or value - value != 0 or not -MAX_NUMBER < value < MAX_NUMBER:
            return False
    return True


def valid_eval_record(record: dict) -> bool:
    """An eval.jsonl record every reader can use: a step, numbers, its floor a dict of numbers,
    class shares a list of numbers, a warning a string."""
    if not (is_step(record.get("step")) and all(is_number(record[k]) for k in EVAL_NUMBERS if k in record)):
        return False
    floor, share = record.get("floor", {}), record.get("class_share", [])
    return (isinstance(floor, dict) and all(is_number(floor[k]) for k in EVAL_NUMBERS if k in floor)
            and isinstance(share, list) and all(map(is_number, share))
            and isinstance(record.get("collapse_warning", ""), str))


def valid_records(records: Records, valid) -> Records:
    kept = Records([r for r in records if valid(r)], records.skipped)
    kept.skipped += len(records) - len(kept)
    return kept
