"""Descriptor maps: how a descriptor varies over a plane (or 3-D slab) of a latent space.

:func:`descriptor_map` decodes a regular grid of latent points through a fitted timbre space
and measures descriptors on the decoded frames (with the transformer's true frequencies).
:func:`local_smoothness` and :func:`global_nonlinearity` quantify the paper's finding that
descriptor maps are "non-linear globally, smooth locally" (Esling et al., DAFx 2018, Fig. 5).
"""

import numbers
from dataclasses import dataclass, field

import numpy as np

from .._space import as_space
from ..exceptions import ParameterError
from ._spectral import check_descriptor_names, compute_descriptors

__all__ = ["DescriptorMap", "descriptor_map", "global_nonlinearity", "local_smoothness"]


@dataclass
class DescriptorMap:
    """Descriptor values on a grid of a latent plane (result of :func:`descriptor_map`).

    Attributes
    ----------
    values : ndarray of shape (resolution,) * n_components + (n_descriptors,)
        ``values[i, j, k]`` is descriptor ``names[k]`` at coordinates
        ``(coords[0][i], coords[1][j])``.
    coords : list of ndarray of shape (resolution,)
        Grid coordinates along each axis (in latent units along the unit-norm ``axes``).
    axes : ndarray of shape (n_components, latent_dim)
        Orthonormal directions spanning the plane.
    center : ndarray of shape (latent_dim,)
        Latent point at coordinates 0.
    names : list of str
    projected : ndarray of shape (n_latents, n_components) or None
        Coordinates of the latents the plane was built from (to overlay them).
    labels : ndarray or None
        Labels of those latents.
    """

    values: np.ndarray
    coords: list
    axes: np.ndarray
    center: np.ndarray
    names: list
    projected: np.ndarray = None
    labels: np.ndarray = field(default=None)

    def latent(self, coordinates):
        """Latent point(s) at plane coordinates ``(..., n_components)``."""
        return self.center + np.asarray(coordinates, dtype=float) @ self.axes

    def __getitem__(self, name):
        """The grid of one descriptor, by name."""
        if name not in self.names:
            raise KeyError(f"{name!r} is not in this map ({self.names}).")
        return self.values[..., self.names.index(name)]


def _plane_axes(Z, axes, n_components):
    latent_dim = Z.shape[1]
    if axes is None:
        from sklearn.decomposition import PCA

        if Z.shape[0] <= n_components:
            raise ParameterError(
                f"PCA of the latents needs more than {n_components} points, got {Z.shape[0]}."
            )
        return PCA(n_components=n_components).fit(Z).components_
    axes = np.asarray(axes)
    if axes.ndim == 1 and np.issubdtype(axes.dtype, np.integer):
        if axes.size not in (2, 3) or np.any(axes < 0) or np.any(axes >= latent_dim):
            raise ParameterError(
                f"axes as latent dimensions must be 2 or 3 indices in [0, {latent_dim}), "
                f"got {axes.tolist()}."
            )
        if len(set(axes.tolist())) != axes.size:
            raise ParameterError(f"axes repeats a latent dimension: {axes.tolist()}.")
        return np.eye(latent_dim)[axes]
    axes = axes.astype(float)
    if axes.ndim != 2 or axes.shape[0] not in (2, 3) or axes.shape[1] != latent_dim:
        raise ParameterError(
            f"axes must be 2 or 3 latent dimensions or an array (2 or 3, {latent_dim}) of "
            f"directions, got shape {axes.shape}."
        )
    q, r = np.linalg.qr(axes.T)
    if np.min(np.abs(np.diag(r))) < 1e-9:
        raise ParameterError("axes must be linearly independent directions.")
    return (q * np.sign(np.diag(r))).T


def descriptor_map(space, Z, names="spectral_centroid", *, axes=None, n_components=2,
                   resolution=25, margin=0.1, labels=None):
    """Evaluate descriptors on a grid over a plane of a fitted timbre space.

    Parameters
    ----------
    space : TimbreSpace, Pipeline or (transformer, vae) pair
        A fitted timbre space (see :class:`perceptual_timbre.DescriptorPathSynthesizer`).
    Z : array-like of shape (n_latents, latent_dim)
        Latents that define the plane and its extent (e.g. ``space.transform(X_train)``).
    names : str or list of str, default="spectral_centroid"
        Descriptors to evaluate (see :data:`perceptual_timbre.descriptors.DESCRIPTORS`).
    axes : None, sequence of 2-3 ints, or array of shape (2 or 3, latent_dim), default=None
        ``None``: the first ``n_components`` principal axes of ``Z``. Ints: those latent
        dimensions. Array: directions (orthonormalized). In a pitch-mode space the plane
        holds the pitch column at the median pitch of ``Z`` and the axes must leave it out.
    n_components : {2, 3}, default=2
        Dimension of the PCA plane when ``axes`` is None.
    resolution : int, default=25
        Grid points per axis (``resolution ** n_components`` latents are decoded).
    margin : float, default=0.1
        Extension of the grid beyond the range of ``Z`` on each side, as a fraction of it.
    labels : array-like of shape (n_latents,), default=None
        Kept with the map for plotting.

    Returns
    -------
    dmap : DescriptorMap

    Examples
    --------
    See ``tests/test_descriptors.py``; it needs a fitted space (a trained VAE).
    """
    sp = as_space(space)
    names = check_descriptor_names(names)
    Z = np.asarray(Z, dtype=float)
    if Z.ndim != 2 or not np.all(np.isfinite(Z)):
        raise ParameterError(f"Z must be a finite 2-D array of latents, got shape {Z.shape}.")
    if sp.latent_dim is not None and Z.shape[1] != sp.latent_dim:
        raise ParameterError(
            f"Z has {Z.shape[1]} latent dimensions but the space has {sp.latent_dim}."
        )
    if n_components not in (2, 3):
        raise ParameterError(f"n_components must be 2 or 3, got {n_components!r}.")
    if (isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral)
            or resolution < 3):
        raise ParameterError(f"resolution must be an integer >= 3, got {resolution!r}.")
    if not isinstance(margin, numbers.Real) or margin < 0:
        raise ParameterError(f"margin must be a non-negative number, got {margin!r}.")
    center = Z.mean(axis=0)
    if sp.pitch_index is not None:
        # pitch mode: the plane moves timbre only, at the median pitch of Z (a PCA of Z
        # with a constant pitch column has no pitch in its axes)
        center[sp.pitch_index] = np.median(Z[:, sp.pitch_index])
        Z = Z.copy()
        Z[:, sp.pitch_index] = center[sp.pitch_index]
    A = _plane_axes(Z, axes, n_components)
    if sp.pitch_index is not None and np.any(np.abs(A[:, sp.pitch_index]) > 1e-9):
        raise ParameterError(
            f"axes move the pitch column ({sp.pitch_index}) of a pitch-mode space; a "
            f"descriptor map varies timbre at a fixed pitch: choose timbre dimensions.")
    P = (Z - center) @ A.T
    lo, hi = P.min(axis=0), P.max(axis=0)
    span = np.maximum(hi - lo, 1e-6)
    coords = [np.linspace(a - margin * s, b + margin * s, resolution)
              for a, b, s in zip(lo, hi, span)]
    mesh = np.stack(np.meshgrid(*coords, indexing="ij"), axis=-1)
    latents = center + mesh.reshape(-1, A.shape[0]) @ A
    frames = sp.magnitudes(sp.decode(latents))
    values = compute_descriptors(frames, sp.frequencies, names)
    values = values.reshape(mesh.shape[:-1] + (len(names),))
    return DescriptorMap(values, coords, A, center, names, P,
                         None if labels is None else np.asarray(labels))


def _grid_and_names(dmap):
    if isinstance(dmap, DescriptorMap):
        return [dmap.values[..., k] for k in range(len(dmap.names))], list(dmap.names)
    grid = np.asarray(dmap, dtype=float)
    if grid.ndim not in (2, 3) or min(grid.shape) < 2:
        raise ParameterError(
            f"a descriptor grid must be 2-D or 3-D with >= 2 points per axis, got {grid.shape}."
        )
    return [grid], None


def _pack(values, names):
    return values[0] if names is None else dict(zip(names, values))


def local_smoothness(dmap):
    """Mean relative change between grid neighbours.

    For every pair of adjacent grid points (along each axis), ``|v_i - v_j|`` divided by the
    global range of the descriptor over the map (max - min), averaged. A linear ramp over
    an ``n``-point axis gives ``1 / (n - 1)``; spatially independent values spread uniformly
    give about 1/3. Small values mean the map is locally smooth.

    Parameters
    ----------
    dmap : DescriptorMap or ndarray of shape (n, n) or (n, n, n)

    Returns
    -------
    smoothness : dict of name -> float, or float for an array

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.descriptors import local_smoothness
    >>> x, y = np.meshgrid(np.linspace(0, 1, 11), np.linspace(0, 1, 11))
    >>> round(local_smoothness(x), 3)
    0.05
    """
    grids, names = _grid_and_names(dmap)
    out = []
    for g in grids:
        rng = float(np.ptp(g))
        if rng == 0:
            out.append(0.0)
            continue
        diffs = np.concatenate([np.abs(np.diff(g, axis=a)).ravel() for a in range(g.ndim)])
        out.append(float(diffs.mean() / rng))
    return _pack(out, names)


def global_nonlinearity(dmap):
    """How far a descriptor map is from a linear function of the grid coordinates.

    ``1 - R^2`` of a least-squares affine fit of the values on the grid coordinates: 0 for a
    plane (linear map), towards 1 when a linear trend explains little of the variation.

    Parameters
    ----------
    dmap : DescriptorMap or ndarray of shape (n, n) or (n, n, n)

    Returns
    -------
    nonlinearity : dict of name -> float, or float for an array

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.descriptors import global_nonlinearity
    >>> x, y = np.meshgrid(np.linspace(-1, 1, 21), np.linspace(-1, 1, 21))
    >>> round(global_nonlinearity(2 * x - y), 6), round(global_nonlinearity(x ** 2 + y ** 2), 2)
    (0.0, 1.0)
    """
    grids, names = _grid_and_names(dmap)
    out = []
    for g in grids:
        idx = np.stack(np.meshgrid(*[np.arange(n) for n in g.shape], indexing="ij"), -1)
        A = np.column_stack([idx.reshape(-1, g.ndim), np.ones(g.size)])
        v = g.ravel()
        coef, *_ = np.linalg.lstsq(A, v, rcond=None)
        ss = np.sum((v - v.mean()) ** 2)
        out.append(0.0 if ss == 0 else float(np.sum((v - A @ coef) ** 2) / ss))
    return _pack(out, names)
