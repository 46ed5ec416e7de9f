"""The rooms of dcgan/ import only rooms below them, and the app only the core: the order is declared once, here.

Run directly to see every arrow: `python -m pytest tests/test_rooms.py -q`. The checker reads imports from the
source (ast), so a function-level import counts like a top-level one.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# lowest floor first; a room may import rooms on lower floors only (never one on its own floor or above)
FLOORS = [
    ("nets", "imaging", "faults"),   # networks and losses; images and GIFs; fault-injection hooks
    ("sampling", "config", "media"), # seeds to z and G(z); the one config schema; animations in every format
    ("presets",),                    # named configs
    ("runs",),                       # the run directory, checkpoints, import of foreign generators
    ("data",),                       # datasets
    ("evaluation",),                 # the evaluator, metrics, reports, model card
    ("analysis",),                   # directions, sensitivity, D's view, views
    ("training",),                   # step, loop, launcher
    ("cli",),                        # the command line
    ("__main__",),                   # python -m dcgan
]
FLOOR = {room: i for i, rooms in enumerate(FLOORS) for room in rooms}


def room_of(module: str) -> str | None:
    """dcgan.runs.files -> 'runs'; dcgan.config -> 'config'; dcgan -> None (the package's lazy API)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "dcgan" and len(parts) > 1 else None


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(absolute module, line) of every dcgan import in a source file, relative ones resolved."""
    rel = path.relative_to(ROOT).with_suffix("").parts
    package = rel[:-1] if path.name != "__init__.py" else rel[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - node.level + 1])
                mod = ".".join(base + ([node.module] if node.module else []))
                names = [f"{mod}.{a.name}" for a in node.names] if not node.module else [mod]
            else:
                names = [node.module or ""]
            found += [(n, node.lineno) for n in names]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
    return [(m, line) for m, line in found if m.split(".")[0] in ("dcgan", "explorer", "streamlit")]


def allowed(here: str, there: str) -> bool:
    return there == here or FLOOR[there] < FLOOR[here]


def upward_arrows() -> list[str]:
    bad = []
    for path in sorted((ROOT / "dcgan").rglob("*.py")):
        rel = path.relative_to(ROOT / "dcgan").with_suffix("").parts
        here = rel[0] if rel[0] != "__init__" else None
        if here is None:
            continue  # dcgan/__init__.py: the lazy public API names every room
        assert here in FLOOR, f"dcgan/{rel[0]} is in no floor of FLOORS: declare it"
        for module, line in imports_of(path):
            if module.split(".")[0] != "dcgan":
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module} (the core never imports the app)")
                continue
            there = room_of(module)
            if there is None or there not in FLOOR:
                continue
            if not allowed(here, there):
                bad.append(f"{path.relative_to(ROOT)}:{line} ({here}) imports {module} ({there}, not below it)")
    return bad


def test_rooms_import_only_rooms_below():
    assert upward_arrows() == []


def test_every_room_is_declared():
    rooms = {p.stem if p.is_file() else p.name for p in (ROOT / "dcgan").iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())) and p.stem != "__init__"}
    assert rooms == set(FLOOR)


# the upward arrows the tree had before the rooms were ordered (data -> training, runs -> training, runs -> explore's
# imaging, runs -> evaluation) must be refused; the fifth, explore(labelled) -> evaluation, became legal when analysis was
# put above evaluation, so its reverse, evaluation -> analysis (evaluate used explore's sampling), is what is refused
@pytest.mark.parametrize("here, there", [("data", "training"), ("runs", "training"), ("runs", "analysis"),
                                         ("runs", "evaluation"), ("analysis", "evaluation")[::-1]])
def test_old_upward_arrows_are_refused(here, there):
    assert not allowed(here, there)


def test_app_imports_only_the_core():
    """explorer/ never reaches into the tests or the benchmarks, and the core never into explorer/."""
    for path in sorted((ROOT / "explorer").rglob("*.py")):
        text = path.read_text()
        assert "from tests" not in text and "import tests" not in text, path
    assert not [u for u in upward_arrows() if "never imports the app" in u]
