"""The evaluation report: text for the CLI, eval.json written and read back."""
from __future__ import annotations

import json
from pathlib import Path

from ..runs.files import NON_FINITE_KEY, atomic_write_json, json_text, read_json_object
from ..runs.records import is_number, is_step
from ..runs.rundir import RunDir
from .embedding import CONFIDENT
from .evaluate import KNN_K
from .metrics import COVERED, MEMORISED_SHARE


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def format_report(report: dict) -> str:
    """The report as a table: each figure beside its real-data floor."""
    step = "latest" if report.get("step") is None else report["step"]
    lines = [f"evaluation of {report['model']} (step {step}, {report['dataset']}, {report['samples']} generated "
             f"images, seed {report['seed']})"]
    if "evaluator" in report:
        acc = report["evaluator"].get("test_accuracy")
        balanced = report["evaluator"].get("balanced_accuracy")
        lines.append(f"classifier {report['evaluator']['file']}"
                     + (f", test accuracy {100 * acc:.2f} %" if acc is not None else "")
                     + (f" (balanced {100 * balanced:.2f} %)" if balanced is not None else ""))
    lines.append(f"{'':54s}{'generated':>12s}{'real (floor)':>14s}")
    row = lambda name, a, b: lines.append(f"{name:54s}{a:>12s}{b:>14s}")  # noqa: E731
    gen, real = report.get("generated"), report.get("real")
    if gen:
        row("FID (domain classifier)", f"{gen['fid']:.3f}", f"{real['fid']:.3f}")
        row(f"precision (k={KNN_K})", f"{gen['precision']:.3f}", f"{real['precision']:.3f}")
        row(f"recall (k={KNN_K})", f"{gen['recall']:.3f}", f"{real['recall']:.3f}")
        if "modes_covered" in gen:
            row("modes covered (of 1000)", str(gen["modes_covered"]), str(real["modes_covered"]))
            row("KL(modes || uniform)", f"{gen['modes_kl']:.3f}", f"{real['modes_kl']:.3f}")
        else:
            row(f"classes covered (>= {COVERED:.0%} of samples, of {len(gen['class_share'])})",
                str(gen["classes_covered"]),
                str(real["classes_covered"]))
            row("KL(classes || real test classes)", f"{gen['class_kl']:.4f}", f"{real['class_kl']:.4f}")
            row(f"classifier score (IS-like, at most {len(gen['class_share'])})", f"{gen['classifier_score']:.2f}",
                f"{real['classifier_score']:.2f}")
        row(f"confidently classified (p >= {CONFIDENT})", _pct(gen["confident_fraction"]),
            _pct(real["confident_fraction"]))
    for space, m in (report.get("memorisation") or {}).items():
        row(f"memorisation ({space}): nearest-train distance ratio", f"{m['median_ratio']:.3f}",
            f"{m['floor_median_ratio']:.3f}")
        row("  near-copies (relative distance < 1 % of test)", _pct(m["near_copy_share"]),
            _pct(m["floor_near_copy_share"]))
        row("  memorised", "YES" if m["memorised"] else "no",
            "YES" if m["floor_near_copy_share"] > MEMORISED_SHARE else "no")
    if gen and "class_share" in gen:
        names = report.get("class_names") or [str(i) for i in range(len(gen["class_share"]))]
        lines.append("class share (generated): " + ", ".join(f"{n} {s:.3f}" for n, s in zip(names, gen["class_share"])))
    lines.append(f"floor = real training images in place of generated ones (memorisation: unseen test images); "
                 f"memorised = more than {MEMORISED_SHARE:.0%} near-copies")
    return "\n".join(lines)


# what changes from one evaluation of the same model to the next without its figures changing: the
# time it took (printed instead) and the spelling of the model's path
VOLATILE_KEYS = ("seconds", "model")


def save_report(run_dir: str | Path, report: dict, force: bool = False) -> Path | None:
    """Write eval.json into the run; None, the file left as it was, when it already holds these figures
    and only the volatile keys differ (so evaluating a shipped model leaves a clone's tracked files as
    they were); force rewrites it anyway. NaN or infinite figures are stored as null with a note."""
    path = RunDir.at(run_dir).eval_report_path
    old, _ = read_json_object(path)
    if not force and old is not None and _figures(old) == _figures(json.loads(json_text(report))):
        return None
    atomic_write_json(path, report)
    return path


def _figures(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in VOLATILE_KEYS}


def load_report(run_dir: str | Path) -> dict | None:
    """eval.json of a run, or the evaluation.json older versions wrote; None when there is neither,
    or when it is not a report this module wrote (a string where a figure belongs, say), so no
    reader trips over it: report_problem says why."""
    return read_report(run_dir)[0]


def report_problem(run_dir: str | Path) -> str | None:
    """Why a run's eval.json (or evaluation.json) is there but cannot be shown, one line; None when
    it can be, or when there is none."""
    return read_report(run_dir)[1]


def read_report(run_dir: str | Path) -> tuple[dict | None, str | None]:
    """The run's report and None, or None and why the file there cannot be used (None, None: no file)."""
    run = RunDir.at(run_dir)
    path = next((p for p in (run.eval_report_path, run.legacy_eval_report_path) if p.exists()), None)
    if path is None:
        return None, None
    report, problem = read_json_object(path)
    if problem is None:
        fault = report_fault(report)
        problem = f"{path.name} {fault}" if fault else None
    if problem is None:
        return report, None
    return None, f"{problem}; `python -m dcgan evaluate {run.path}` writes it anew"


def report_fault(report: dict) -> str | None:
    """What makes a report unusable, as the rest of a sentence ('has generated.fid null, not a
    number'); None when its parts are dicts, its figures numbers and its shares lists of numbers."""
    if report.get(NON_FINITE_KEY):
        return (f"has {', '.join(map(str, report[NON_FINITE_KEY]))[:200]} null: the evaluation gave NaN or "
                "an infinite value there")
    memorisation = report.get("memorisation") or {}
    parts = {"generated": report.get("generated", {}), "real": report.get("real", {})}
    if not isinstance(memorisation, dict):
        return "has memorisation that is not an object"
    parts.update((f"memorisation.{space}", part) for space, part in memorisation.items())
    for name, part in parts.items():
        if not isinstance(part, dict):
            return f"has {name} that is not an object"
        # flags (memorised) and shares aside, every value of a part is a figure
        for key, value in part.items():
            if not isinstance(value, (bool, list)) and not is_number(value):
                return f"has {name}.{key} {json.dumps(value)[:40]}, not a number"
    shares = {"real_class_share": report.get("real_class_share", []),
              **{f"{name}.class_share": part.get("class_share", []) for name, part in parts.items()}}
    for name, share in shares.items():
        if not (isinstance(share, list) and all(map(is_number, share))):
            return f"has {name} that is not a list of numbers"
    if not (report.get("step") is None or is_step(report["step"])):
        return f"has step {json.dumps(report['step'])[:40]}, not a training step"
    if not is_number(report.get("samples", 0)):
        return "has samples that is not a number"
    if not isinstance(report.get("class_names", []), list):
        return "has class_names that is not a list"
    return None
