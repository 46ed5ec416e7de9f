"""Which z components matter, where in the image they act, and the directions G is most sensitive to
at one z: the Jacobian J = dG(z)/dz of the flattened image.

After Wang & Ponce, "A Geometric Analysis of Deep Generative Image Models and Its Applications"
(ICLR 2021; Animadversio/GAN-Geometry, README "How It Works?" and core/GAN_hvp_operator.py,
core/GAN_hessian_compute.py). Facts taken: the local metric tensor of the image manifold is the
Hessian of the squared image distance, H(z0) = d^2/dz^2 d^2(G(z0), G(z)); for the squared L2 pixel
distance this is (twice) J^T J, and its top eigenvectors are the axes along which the image changes
fastest at z0 (anisotropic: a few directions dominate); it can be computed exactly by automatic
differentiation or by finite differences of G at perturbed codes, several perturbations in one
batch. Differences: GAN-Geometry pulls back LPIPS and finds the top eigenpairs by Lanczos iteration
over Hessian-vector products; here the image is at most 128 px and z_dim ~100, so the whole
Jacobian fits in one batched pass (z_dim forward-mode tangents, or z_dim + 1 perturbed copies) and
J^T J is factorised directly with torch.linalg.eigh.

All functions run G in eval mode (BatchNorm's running statistics, so the perturbed copies in a
batch do not normalise each other) and put back the mode it was in.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from .directions import Directions, top_eigenvectors
from ..sampling import check_z

METHODS = ("autograd", "fd")
# fd is the default: as fast or faster than forward-mode AD on 2 CPU cores (28 px ~40 ms, 64 px ~0.5 s
# for z_dim 100), and torch's first forward-mode call in a process loads its JVP decompositions
# (~3.4 s) - a stall the app's first click would feel. "autograd" is exact, for checks.
DEFAULT_METHOD = "fd"
# Jacobian-column errors of forward differences against exact AD on the shipped MNIST G (largest
# column): eps 1e-2 3 %, 3e-3 1.3 %, 1e-4 1.5 % (float32 rounding takes over); 64 px faces: 0.2 %.
FD_EPS = 3e-3


@contextlib.contextmanager
def eval_mode(G: torch.nn.Module):
    was_training = G.training
    G.eval()
    try:
        yield G
    finally:
        G.train(was_training)


def _z(G: torch.nn.Module, z) -> torch.Tensor:
    device = next(G.parameters()).device
    return check_z(z, G.z_dim).to(device)


def jacobian(G: torch.nn.Module, z, method: str = DEFAULT_METHOD, eps: float = FD_EPS) -> torch.Tensor:
    """J = dG(z)/dz as (C*H*W, z_dim) float32 on the CPU, in one batched pass: "autograd" is exact
    forward-mode AD (torch.func.jacfwd: z_dim tangents through one vmapped forward), "fd" is forward
    differences of a batch of z_dim + 1 copies of z (z itself and z + eps * e_i)."""
    z = _z(G, z)
    with eval_mode(G), torch.no_grad():
        if method == "autograd":
            J = torch.func.jacfwd(lambda v: G(v.view(1, -1)).flatten())(z)
        elif method == "fd":
            if not (np.isfinite(eps) and eps > 0):
                raise ValueError(f"eps must be a positive number, not {eps}")
            batch = torch.cat([z.view(1, -1), z.view(1, -1) + eps * torch.eye(G.z_dim, device=z.device)])
            out = G(batch).flatten(1)
            J = ((out[1:] - out[:1]) / eps).T
        else:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    return J.float().cpu()


def sensitivity(G: torch.nn.Module, z, method: str = DEFAULT_METHOD, eps: float = FD_EPS) -> np.ndarray:
    """|dG(z)/dz_i| for each component i: the L2 norm of Jacobian column i, in [-1, 1] pixel units per
    unit of z_i (summed over every pixel and channel). (z_dim,) float64; exactly 0 for an ignored z_i."""
    return jacobian(G, z, method, eps).double().norm(dim=0).numpy()


def sensitivity_order(values: np.ndarray) -> list[int]:
    """Components from the most sensitive to the least; ties (such as ignored components) by index."""
    return [int(i) for i in np.argsort(-np.asarray(values), kind="stable")]


def heatmap(G: torch.nn.Module, z, component, eps: float | None = FD_EPS) -> np.ndarray:
    """Where in the image component i (an int) or a direction (a z_dim vector) acts at z:
    |dG/dz_i| per pixel, summed over channels, scaled so the maximum is 1; (H, W) float32 in [0, 1]
    (all zeros where it does not act at all). A central difference with step eps (two images in one
    batch), or eps=None: exact, one forward-mode AD pass."""
    z = _z(G, z)
    if isinstance(component, (int, np.integer)):
        if not 0 <= component < G.z_dim:
            raise ValueError(f"component {component} is outside 0..{G.z_dim - 1}")
        t = torch.zeros_like(z)
        t[int(component)] = 1.0
    else:
        t = check_z(component, G.z_dim).to(z.device)
        if t.norm() < 1e-8:
            raise ValueError("a direction must be a non-zero vector")
        t = t / t.norm()
    with eval_mode(G), torch.no_grad():
        if eps is None:
            _, d = torch.func.jvp(lambda v: G(v.view(1, -1)), (z,), (t,))
        else:
            if not (np.isfinite(eps) and eps > 0):
                raise ValueError(f"eps must be a positive number, not {eps}")
            out = G(torch.stack([z + eps * t, z - eps * t]))
            d = (out[:1] - out[1:]) / (2 * eps)
    heat = d[0].abs().sum(0).float().cpu().numpy()  # (H, W)
    top = float(heat.max()) if heat.size else 0.0
    if not np.isfinite(top) or top <= 0:
        return np.zeros_like(heat, dtype=np.float32)
    return (heat / top).astype(np.float32)


def heatmap_image(heat: np.ndarray, image: np.ndarray | None = None, cmap: str = "inferno",
                  opacity: float = 0.7) -> np.ndarray:
    """A heat map (H, W) in [0, 1] as an RGB uint8 (H, W, 3) colour-map image; given the image itself
    (H, W, 1 or 3 uint8), the colour is laid over it in proportion to the heat, so the image shows
    through where the component does nothing."""
    from matplotlib import colormaps  # no pyplot: no backend, no global figure state

    heat = np.nan_to_num(np.asarray(heat, dtype=np.float64), nan=0.0).clip(0, 1)
    colour = colormaps[cmap](heat)[..., :3]  # (H, W, 3) in [0, 1]
    if image is None:
        return (colour * 255).round().astype(np.uint8)
    base = np.asarray(image, dtype=np.float64) / 255
    if base.shape[:2] != heat.shape:
        raise ValueError(f"image is {base.shape[:2]} pixels, the heat map {heat.shape}")
    if base.ndim == 2:
        base = base[..., None]
    base = np.repeat(base, 3, axis=2) if base.shape[2] == 1 else base[..., :3]
    a = (opacity * heat)[..., None]
    return ((base * (1 - a) + colour * a) * 255).round().clip(0, 255).astype(np.uint8)


def local_directions(G: torch.nn.Module, z, k: int = 5, method: str = DEFAULT_METHOD) -> Directions:
    """The k directions the image changes fastest along at z: top eigenvectors of J^T J (the pulled-back
    L2 metric), with their eigenvalues (squared pixel change per unit step); method "local"."""
    if not 1 <= k <= G.z_dim:
        raise ValueError(f"k must be 1 to z_dim ({G.z_dim}), not {k}")
    J = jacobian(G, z, method).double()
    values, vectors = top_eigenvectors(J.T @ J, k)
    z_list = [round(float(v), 6) for v in check_z(z, G.z_dim)]
    return Directions(vectors.numpy(), [f"local {i + 1}" for i in range(k)], values.tolist(), "local", G.z_dim,
                      {"z": z_list, "jacobian": method})
