"""The evaluation report: text for the CLI, eval.json written and read back."""
from __future__ import annotations

from pathlib import Path

from ..runs.files import atomic_write_json, read_json
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


def save_report(run_dir: str | Path, report: dict) -> Path:
    path = RunDir.at(run_dir).eval_report_path
    atomic_write_json(path, report)
    return path


def load_report(run_dir: str | Path) -> dict | None:
    """eval.json of a run, or the evaluation.json older versions wrote; None when there is neither,
    or when it is not a report this module wrote (a string where a figure belongs, say), so no
    reader trips over it."""
    run = RunDir.at(run_dir)
    report = read_json(run.eval_report_path) or read_json(run.legacy_eval_report_path)
    return report if report is not None and valid_report(report) else None


def valid_report(report: dict) -> bool:
    """Whether a report's parts are dicts, its figures numbers and its shares lists of numbers."""
    memorisation = report.get("memorisation") or {}
    parts = [report.get("generated", {}), report.get("real", {})]
    parts += list(memorisation.values()) if isinstance(memorisation, dict) else [None]
    if not all(isinstance(part, dict) for part in parts):
        return False
    # flags (memorised) and shares aside, every value of a part is a figure
    figures = [v for part in parts for v in part.values() if not isinstance(v, (bool, list))]
    shares = [report.get("real_class_share", []), *(part.get("class_share", []) for part in parts)]
    return (all(map(is_number, figures)) and all(isinstance(s, list) and all(map(is_number, s)) for s in shares)
            and (report.get("step") is None or is_step(report["step"])) and is_number(report.get("samples", 0))
            and isinstance(report.get("class_names", []), list))
