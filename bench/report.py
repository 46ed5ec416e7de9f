"""The benchmark's one table: rows with a figure, what it is held against, the ratio and pass / miss."""
from __future__ import annotations

import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field

import torch

from dcgan.training.step import fast_bf16


def images_per_s(records: list[dict], batch_size: int) -> float:
    """Training images/s from the first to the last of these consecutive metrics.jsonl records, by
    their wall-clock times (so snapshots and status writes between them count, unlike the per-step
    images_per_s field)."""
    first, last = records[0], records[-1]
    return (last["step"] - first["step"]) * batch_size / (last["time"] - first["time"])


UNIT_FORMATS = {"img/s": "{:,.0f}", "ms": "{:,.1f}", "s": "{:,.2f}"}


@dataclass(frozen=True)
class Target:
    """A bound on a row's ratio (when it has a baseline) or else on its figure itself."""

    op: str  # ">=" or "<="
    bound: float

    def met(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def text(self, unit: str = "") -> str:
        spaced = f" {unit}" if unit and unit != "×" else unit
        return f"{'≥' if self.op == '>=' else '≤'} {self.bound:g}{spaced}"


@dataclass
class Row:
    part: str  # throughput, latency, app, coldstart
    name: str
    value: float | None  # None: not measured, and detail says why
    unit: str
    baseline: float | None = None  # the figure value is divided by, in the same unit
    baseline_name: str = ""
    target: Target | None = None
    detail: str = ""
    extra: dict = field(default_factory=dict)  # raw figures behind the row, for --json

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline and self.value is not None else None

    @property
    def passed(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        checked = self.ratio if self.baseline is not None else self.value
        return checked is not None and math.isfinite(checked) and self.target.met(checked)

    def cells(self) -> list[str]:
        against = ""
        if self.baseline is not None:
            against = f"{fmt(self.baseline, self.unit)} {self.unit} {self.baseline_name}".rstrip()
        if self.target is not None:
            bound = self.target.text("×" if self.baseline is not None else self.unit)
            against = f"{against}, target {bound}" if against else f"target {bound}"
        ratio = f"{self.ratio:.2f}×" if self.ratio is not None else ""
        verdict = {True: "pass", False: "MISS", None: ""}[self.passed]
        figure = "—" if self.value is None else f"{fmt(self.value, self.unit)} {self.unit}"
        return [self.part, self.name, figure, against, ratio, verdict, self.detail]

    def to_json(self) -> dict:
        data = asdict(self)
        data["target"] = None if self.target is None else {"op": self.target.op, "bound": self.target.bound}
        return {**data, "ratio": self.ratio, "passed": self.passed}


def fmt(value: float, unit: str) -> str:
    return UNIT_FORMATS.get(unit, "{:.2f}").format(value)


HEADER = ["part", "measurement", "figure", "against", "ratio", "verdict", "detail"]


def table(rows: list[Row]) -> str:
    lines = [HEADER] + [r.cells() for r in rows]
    # the detail column is last and free-running: padding it would only add trailing blanks
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER) - 1)]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[-1])
        if n == 0:
            out.append("  ".join("-" * w for w in widths) + "  " + "-" * len(HEADER[-1]))
    return "\n".join(s.rstrip() for s in out)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """What the figures depend on; the load average shows whether the machine was quiet."""
    import torchvision
    return {
        "cpu": cpu_model(),
        # what the recipes' precision "auto" asks of a CPU before it picks bf16
        "amx": fast_bf16("cpu"),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "python": platform.python_version(),
        "loadavg_at_start": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def machine_text(info: dict) -> str:
    return (f"machine: {info['cpu']}, {info['cores']} cores ({info['cores_usable']} usable), "
            f"{'AMX: precision auto = bf16' if info['amx'] else 'no AMX: precision auto = fp32'}; "
            f"torch {info['torch']}, torchvision {info['torchvision']}, {info['torch_threads']} intra-op / "
            f"{info['torch_interop_threads']} inter-op threads; Python {info['python']}; load average at start "
            f"{' '.join(f'{x:.2f}' for x in info['loadavg_at_start'])}; {info['date']}")


def progress(message: str) -> None:
    """Running commentary on stderr; the table alone goes to stdout."""
    print(message, file=sys.stderr, flush=True)
