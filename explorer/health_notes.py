"""The notes under a run's charts: what its newest training steps and its evaluator's coverage say about its health
(dcgan.analysis.health), each as one line, problems and warnings in a box, what is healthy as a caption."""
from __future__ import annotations

import streamlit as st

from dcgan.analysis.health import RECENT_BYTES, Note, coverage_notes, training_notes
from dcgan.runs.rundir import RunDir

ICONS = {"problem": ":material/error:", "warning": ":material/warning:", "healthy": ":material/check_circle:",
         "info": ":material/info:"}


@st.cache_data(max_entries=64, show_spinner=False)
def _training_notes(path: str, size: int, mtime_ns: int, gan_loss: str | None, _run: RunDir, _cfg) -> list[Note]:
    # keyed by metrics.jsonl's size and time: a finished run's notes are made once, a live run's once per refresh
    return training_notes(_run.recent_metrics(RECENT_BYTES), _cfg)


def run_notes(run: RunDir) -> list[Note]:
    """The notes on a run's newest WINDOW training steps (none when it has no metrics.jsonl)."""
    try:
        info = run.metrics_path.stat()
    except OSError:
        return []
    cfg = run.train_config()
    return _training_notes(str(run.path), info.st_size, info.st_mtime_ns, getattr(cfg, "gan_loss", None), run, cfg)


def show_notes(notes: list[Note]) -> None:
    """Each note on a line: a problem as an error box, a warning as a warning box, the rest as captions."""
    for note in notes:
        if note.level == "problem":
            st.error(note.text, icon=ICONS["problem"])
        elif note.level == "warning":
            st.warning(note.text, icon=ICONS["warning"])
        else:
            color = "green" if note.level == "healthy" else "gray"
            st.caption(f":{color}[{ICONS[note.level]}] {note.text}")


def chart_notes(run: RunDir, evaluations: list[dict] | None = None, class_names=None) -> None:
    """The notes under a page's charts: the training curves' and, given eval.jsonl's records, the coverage's."""
    show_notes(run_notes(run) + (coverage_notes(evaluations, class_names) if evaluations else []))
