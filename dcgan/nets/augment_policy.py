"""DiffAugment's policy names and their parser, without torch: what a config is checked against (every CLI
call checks one, and `python -m dcgan runs` should not load torch to list runs)."""
from __future__ import annotations

POLICIES = ("color", "translation", "cutout")


def parse_policy(text: str) -> tuple[str, ...]:
    """'color,translation' -> ('color', 'translation'); '' -> (); an unknown or repeated name -> ValueError."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for i, name in enumerate(names):
        if name not in POLICIES:
            raise ValueError(f"unknown DiffAugment policy {name!r}; valid policies: {', '.join(POLICIES)}")
        if name in names[:i]:
            raise ValueError(f"DiffAugment policy {name!r} given twice in {text!r}")
    return names
