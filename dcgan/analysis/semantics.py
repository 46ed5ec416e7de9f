"""A run's directions as the Directions page and `python -m dcgan directions` ask for them: found by
method (SeFa, labelled by the evaluator's classifier, local at one z), saved beside the run, read back."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..evaluation.classifier import run_folder_classes
from ..runs.rundir import RunDir
from .directions import METHODS, Directions, Progress, directions_path, load_directions, move, save_directions, sefa
from .labelled import NoClassifierError, classifier_label_fn, labelled_directions
from .sensitivity import local_directions

DEFAULT_K = 10
MAX_REACH = 20.0  # units of z along a unit direction: twice a typical |z| of 10 (z_dim 100)
METHOD_LABELS = {"sefa": "SeFa (closed form)", "labels": "labelled (classifier)", "local": "local (at this z)"}


def run_classes(run: RunDir) -> tuple[str, ...]:
    """The class sub-folders of a folder run's images (() for other datasets): they name the
    evaluator that judges it. NoClassifierError when the folder is not on this machine."""
    cfg = run.config_values()
    classes = run_folder_classes(cfg)
    if classes is None:
        raise NoClassifierError(f"labelled directions need this run's image folder ({cfg.get('image_folder')}) to "
                                "know its classes; it is not on this machine. SeFa and sensitivity still work")
    return classes


def find_directions(G: torch.nn.Module, run_path: str | Path, method: str, k: int = DEFAULT_K, z=None,
                    samples: int = 5000, seed: int = 0, progress: Progress | None = None,
                    model_step: int | None = None) -> Directions:
    """Directions of one method for a run's G: "sefa" (the top k, milliseconds), "labels" ("toward <class>"
    for each class its evaluator's classifier knows; a two-class folder gets one, toward its second class,
    such as the faces' smiling), "local" (the top k at z). model_step, the training step G is from, is kept
    in the metadata. ValueError (NoClassifierError for labels on a run without a classifier) says why in
    one line."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "sefa":
        d = sefa(G, min(k, G.z_dim))
    elif method == "local":
        if z is None:
            raise ValueError("local directions need a z")
        d = local_directions(G, z, min(k, G.z_dim))
    else:
        run = RunDir.at(run_path)
        label_fn, names = classifier_label_fn(run_dataset(run), run_classes(run))
        only = [1] if len(names) == 2 else None
        d = labelled_directions(G, label_fn, names, samples=samples, seed=seed, progress=progress, only=only)
    d.metadata["model_step"] = model_step
    return d


def weights_step(run_path: str | Path, step: int | None) -> int | None:
    """The training step of a run's weights: a snapshot's own, or for the latest export (step None)
    the one generator.json records (None when it does not say)."""
    if step is not None:
        return step
    return RunDir.at(run_path).export_step()


def run_dataset(run: RunDir) -> str:
    return run.config_values().get("dataset", "")


def direction_endpoints(z, direction, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """z - reach * d and z + reach * d: the ends of a straight path through z along a direction (the
    Interpolate page's and `interpolate --direction`'s frames)."""
    if not (np.isfinite(reach) and 0 < reach <= MAX_REACH):
        raise ValueError(f"reach must be above 0 and at most {MAX_REACH:g} (units of z), not {reach}")
    return move(z, direction, -reach).numpy(), move(z, direction, reach).numpy()


def save_run_directions(run_path: str | Path, d: Directions) -> Path:
    """Keep d with the run as directions_<method>.json (atomically written)."""
    return save_directions(directions_path(run_path, d.method), d)


def saved_directions(run_path: str | Path, z_dim: int) -> tuple[dict[str, Directions], dict[str, str]]:
    """The directions a run keeps, by method, and for each file that cannot be used why (one line)."""
    found, problems = {}, {}
    for method in METHODS:
        path = directions_path(run_path, method)
        if path.is_file():
            try:
                found[method] = load_directions(path, z_dim)
            except ValueError as e:
                problems[method] = str(e)
    return found, problems


def saved_direction(run_path: str | Path, z_dim: int, name: str) -> np.ndarray:
    """The unit vector of the direction called name ("toward 7", "SeFa 1") among those a run keeps;
    ValueError naming the ones there are."""
    found, problems = saved_directions(run_path, z_dim)
    for d in found.values():
        if name in d.names:
            return d.vector(name)
    there = [n for d in found.values() for n in d.names]
    raise ValueError(f"no saved direction named {name!r} in {Path(run_path).name}: "
                     + (f"there are {', '.join(there)}" if there else "it keeps none; save some with "
                        "`python -m dcgan directions` or on the Directions page")
                     + "".join(f"; {why}" for why in problems.values()))


def classifier_note(run_path: str | Path) -> str | None:
    """Why a run cannot get labelled directions, or None when it can."""
    run = RunDir.at(run_path)
    try:
        classifier_label_fn(run_dataset(run), run_classes(run))
    except NoClassifierError as e:
        return str(e)
    return None


def labelled_summary(d: Directions, step: int | None) -> tuple[str, str | None, list[str]]:
    """What to say about labelled directions read back from a file (whose metadata may hold anything: only
    values of the right type are used): where they come from, a warning when they were fitted on other
    weights than the step shown (None otherwise), and one line per class left out."""
    meta = d.metadata
    fitted_on = meta.get("model_step") if isinstance(meta.get("model_step"), int) else None
    samples = meta.get("samples")
    origin = ((f"From {samples:,} images" if isinstance(samples, int) else "From images")
              + f" of G labelled by `{meta.get('classifier', '?')}`, "
              + ("of an unrecorded step" if fitted_on is None else f"step {fitted_on}")
              + "; score: held-out balanced accuracy of each boundary (0.5 is chance).")
    stale = None if fitted_on is None or step is None or fitted_on == step else (
        f"These directions were found on step {fitted_on} of this run; the weights shown are step {step}'s. "
        "Find them again for these weights.")
    skipped = meta.get("skipped") if isinstance(meta.get("skipped"), dict) else {}
    return origin, stale, [f"left out: {name}: {why}" for name, why in skipped.items()]
