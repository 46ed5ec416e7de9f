"""Directions in z that mean something: the `Directions` record (unit vectors in z with names and
scores), its file, moving along one, and SeFa, the closed-form way to find them.

Three ways find them, each returning a `Directions`:

- SeFa (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021;
  genforce/sefa, utils.py `factorize_weight`): the first layer maps z linearly, h = A z, so the unit
  v that changes h most, max |A v|^2 = v^T A^T A v, is the top eigenvector of A^T A; the next ones
  are the best directions orthogonal to those before. No sampling, no labels: milliseconds.
  Facts taken: the eigenvectors of A^T A of the first (z-facing) layer's weight, sorted by
  eigenvalue; for a layer whose weight is (in=z_dim, out, k, k) the factored matrix is the weight
  flattened to (z_dim, out*k*k); SeFa normalises each output unit's weights to unit length before
  factorising (offered here as normalize=True; the default keeps raw magnitudes, so the eigenvalue
  is the squared change of the first feature map per unit step).
- labelled (InterFaceGAN): dcgan/analysis/labelled.py, method "labels".
- local directions (Wang & Ponce 2021): dcgan/sensitivity.py, method "local".

A run's directions live in <run>/directions_<method>.json (`directions_path`), written atomically.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..sampling import check_z, generate
from ..runs.files import NonFiniteJSON, atomic_write_json, strict_loads
from ..runs.rundir import RunDir

Progress = Callable[[int, int], None]

METHODS = ("sefa", "labels", "local")
SCORE_NAMES = {"sefa": "eigenvalue", "labels": "held-out balanced accuracy", "local": "eigenvalue"}
FILE_KIND = "dcgan-directions"
FILE_VERSION = 1
MAX_FILE_BYTES = 5_000_000  # 100 directions x z_dim 512 as JSON is about 0.6 MB


# --- the Directions record and its file ----------------------------------------------------------

@dataclass
class Directions:
    """k unit directions in z, best first, each with a name and a score (see SCORE_NAMES)."""

    vectors: np.ndarray  # (k, z_dim) float32, unit rows
    names: list[str]
    scores: list[float]
    method: str  # "sefa" | "labels" | "local"
    z_dim: int
    metadata: dict = field(default_factory=dict)  # e.g. samples, seed, classifier, skipped classes

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        v = np.asarray(self.vectors, dtype=np.float64)
        if v.ndim != 2 or v.shape[0] < 1 or v.shape[1] != self.z_dim:
            raise ValueError(f"vectors must be (k >= 1, z_dim={self.z_dim}), not {tuple(v.shape)}")
        if not np.isfinite(v).all():
            raise ValueError("direction vectors have NaN or infinite values")
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        if (norms < 1e-8).any():
            raise ValueError("a direction vector is zero: it points nowhere")
        self.vectors = (v / norms).astype(np.float32)
        self.names = [str(n) for n in self.names]
        self.scores = [float(s) for s in self.scores]
        if len(self.names) != len(v) or len(self.scores) != len(v):
            raise ValueError(f"{len(v)} vectors need as many names and scores, "
                             f"not {len(self.names)} and {len(self.scores)}")
        if not all(math.isfinite(s) for s in self.scores):
            raise ValueError("direction scores have NaN or infinite values")
        self.z_dim = int(self.z_dim)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def score_name(self) -> str:
        return SCORE_NAMES[self.method]

    def vector(self, key: int | str) -> np.ndarray:
        """One direction by index or by name."""
        if isinstance(key, str):
            if key not in self.names:
                raise KeyError(f"no direction named {key!r}; there are {', '.join(self.names)}")
            key = self.names.index(key)
        return self.vectors[key]


def directions_path(run_dir: str | Path, method: str) -> Path:
    """Where a run keeps its directions of one method: <run>/directions_<method>.json."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    return RunDir.at(run_dir).directions_path(method)


def _json_safe(obj, where: str = "metadata"):
    try:
        text = json.dumps(obj, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where} must be plain finite JSON values: {str(e).splitlines()[0]}") from None
    return json.loads(text)


def save_directions(path: str | Path, d: Directions) -> Path:
    """Write d as a small JSON file, atomically (a reader never sees half a file)."""
    path = Path(path)
    record = {
        "kind": FILE_KIND, "version": FILE_VERSION, "method": d.method, "z_dim": d.z_dim,
        "score_name": d.score_name, "names": d.names, "scores": [round(s, 6) for s in d.scores],
        "vectors": [[round(float(x), 7) for x in row] for row in d.vectors],
        "metadata": _json_safe(d.metadata),
    }
    atomic_write_json(path, record)
    return path


def load_directions(path: str | Path, z_dim: int) -> Directions:
    """Read a directions file for a generator taking z_dim values; ValueError (one line) for a file
    that is missing, too big, not JSON, not a directions file, made for another z_dim, or has the
    wrong shapes or non-finite values."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ValueError(f"{path.name} has {size:,} bytes; a directions file is at most {MAX_FILE_BYTES:,}")
        data = strict_loads(path.read_bytes())  # the run files' one JSON reader: NaN and Infinity refused
    except OSError as e:
        raise ValueError(f"cannot read {path.name}: {e.strerror or e}") from None
    except NonFiniteJSON as e:
        raise ValueError(f"{path.name} has NaN or infinite values ({e}, which JSON has no number for)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path.name} is not a directions file (not JSON: {str(e).splitlines()[0]})") from None
    except RecursionError:
        raise ValueError(f"{path.name} is not a directions file (nested too deeply)") from None
    if not isinstance(data, dict) or data.get("kind") != FILE_KIND:
        raise ValueError(f"{path.name} is not a directions file (no \"kind\": \"{FILE_KIND}\")")
    if data.get("version") != FILE_VERSION:
        raise ValueError(f"{path.name} has directions format version {data.get('version')!r}; "
                         f"this version reads {FILE_VERSION}")
    if data.get("z_dim") != z_dim:
        raise ValueError(f"{path.name} was made for z_dim {data.get('z_dim')!r}; this generator takes {z_dim}")
    names, scores, metadata = data.get("names"), data.get("scores"), data.get("metadata", {})
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{path.name}: names must be a list of strings")
    if not isinstance(scores, list) or not all(isinstance(s, (int, float)) and not isinstance(s, bool)
                                               for s in scores):
        raise ValueError(f"{path.name}: scores must be a list of numbers")
    if not isinstance(metadata, dict):
        raise ValueError(f"{path.name}: metadata must be an object")
    try:
        vectors = np.asarray(data.get("vectors"), dtype=np.float64)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise ValueError(f"{path.name}: vectors must be a list of {z_dim}-number lists") from None
    try:
        return Directions(vectors, names, scores, data.get("method"), z_dim, metadata)
    except (ValueError, OverflowError) as e:  # OverflowError: a 400-digit score
        raise ValueError(f"{path.name}: {str(e).splitlines()[0]}") from None


# --- moving along a direction ---------------------------------------------------------------------

def _unit(direction) -> torch.Tensor:
    d = torch.as_tensor(np.asarray(direction, dtype=np.float32)).flatten()
    n = d.norm()
    if not torch.isfinite(d).all() or n < 1e-8:
        raise ValueError("a direction must be a finite, non-zero vector")
    return d / n


def move(z, direction, alpha) -> torch.Tensor:
    """z + alpha * unit(direction). z is (z_dim,) or (N, z_dim); alpha a number, or one per row of z,
    or, for a single z, a list of values giving one moved z per value (a path)."""
    z = torch.as_tensor(np.asarray(z, dtype=np.float32))
    d = _unit(direction)
    if z.shape[-1] != d.numel():
        raise ValueError(f"z has {z.shape[-1]} values; the direction has {d.numel()}")
    a = torch.as_tensor(np.asarray(alpha, dtype=np.float32))
    if not torch.isfinite(a).all():
        raise ValueError("alpha must be finite")
    if a.ndim == 0:
        return z + a * d
    if z.ndim == 1:
        return z.view(1, -1) + a.view(-1, 1) * d
    if a.numel() != z.shape[0]:
        raise ValueError(f"{a.numel()} alphas for {z.shape[0]} z vectors")
    return z + a.view(-1, 1) * d


def strip(G: torch.nn.Module, z, direction, low: float = -3.0, high: float = 3.0,
          columns: int = 9) -> np.ndarray:
    """G along a direction: uint8 images (columns, H, W, C) of z + alpha * d, alpha from low to high."""
    z = check_z(z, G.z_dim)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"a strip needs finite low < high, not {low} and {high}")
    if not 2 <= columns <= 256:
        raise ValueError(f"a strip has 2 to 256 columns, not {columns}")
    return generate(G, move(z, direction, np.linspace(low, high, columns)))


# --- SeFa: closed-form directions from the first layer's weight ------------------------------------

def first_layer_matrix(G: torch.nn.Module) -> torch.Tensor:
    """A (out_features, z_dim) with first feature map = A z (before BatchNorm), float64.
    ConvTranspose2d weight (z_dim, C, s, s) on z as a 1x1 map: A = weight.reshape(z_dim, -1).T."""
    layer = G.main[0]
    w = layer.weight.detach().to("cpu", torch.float64)
    if isinstance(layer, torch.nn.ConvTranspose2d):
        a = w.reshape(w.shape[0], -1).T  # in_channels (= z_dim) first
    elif isinstance(layer, torch.nn.Linear):
        a = w  # (out, in)
    else:
        raise ValueError(f"SeFa needs a ConvTranspose2d or Linear first layer, not {type(layer).__name__}")
    if a.shape[1] != G.z_dim:
        raise ValueError(f"the first layer takes {a.shape[1]} inputs; G.z_dim is {G.z_dim}")
    return a


def _fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Eigenvectors have no sign; make each row's largest-magnitude entry positive (reproducible)."""
    idx = vectors.abs().argmax(dim=1, keepdim=True)
    return vectors * torch.sign(vectors.gather(1, idx))


def top_eigenvectors(m: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest eigenvalues of a symmetric matrix and their unit eigenvectors as rows, sorted."""
    values, vectors = torch.linalg.eigh(m.double())  # ascending
    order = torch.argsort(values, descending=True)[:k]
    return values[order].clamp_min(0.0), _fix_signs(vectors[:, order].T)


def sefa(G: torch.nn.Module, k: int | None = None, normalize: bool = False) -> Directions:
    """SeFa: the top-k unit eigenvectors of A^T A (A = G's first-layer weight as (out, z_dim)),
    by eigenvalue; normalize=True scales each output unit's weights to unit length first (as SeFa)."""
    k = G.z_dim if k is None else int(k)
    if not 1 <= k <= G.z_dim:
        raise ValueError(f"k must be 1 to z_dim ({G.z_dim}), not {k}")
    a = first_layer_matrix(G)
    if normalize:
        a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    values, vectors = top_eigenvectors(a.T @ a, k)
    return Directions(vectors.numpy(), [f"SeFa {i + 1}" for i in range(k)], values.tolist(), "sefa", G.z_dim,
                      {"layer": "main.0", "normalize": bool(normalize)})
