"""Latent paths between sounds, instruments or latent points, rendered to continuous audio."""

import numbers

import numpy as np
from sklearn.utils import Bunch

from .._space import as_space, check_latent, check_n_steps
from ..exceptions import ParameterError

__all__ = ["sound_centroids", "interpolate_sounds", "latent_path", "render_path"]

PATH_METHODS = ("linear", "slerp")


def latent_path(start, end, n_steps=32, method="linear"):
    """Latent points from ``start`` to ``end`` (both included).

    Parameters
    ----------
    start, end : array-like of shape (latent_dim,)
    n_steps : int, default=32
        Number of points (>= 2).
    method : {"linear", "slerp"}, default="linear"
        ``"slerp"`` is spherical interpolation about the prior mean (the origin): it keeps the
        norm of the points close to that of the end points, so the path stays in the
        high-density shell of a Gaussian prior instead of cutting through its centre. For
        (anti)parallel end points it falls back to linear interpolation.

    Returns
    -------
    path : ndarray of shape (n_steps, latent_dim)

    Examples
    --------
    >>> from perceptual_timbre.synthesis import latent_path
    >>> latent_path([0.0, 0.0], [1.0, 2.0], n_steps=3)
    array([[0. , 0. ],
           [0.5, 1. ],
           [1. , 2. ]])
    >>> p = latent_path([1.0, 0.0], [0.0, 1.0], n_steps=3, method="slerp")
    >>> np.round(np.linalg.norm(p, axis=1), 6)
    array([1., 1., 1.])
    """
    start = np.asarray(start, dtype=float)
    if start.ndim != 1:
        raise ParameterError(f"start must be a 1-D latent point, got shape {start.shape}.")
    start = check_latent(start, start.shape[0], "start")
    end = check_latent(end, start.shape[0], "end")
    n_steps = check_n_steps(n_steps)
    if method not in PATH_METHODS:
        raise ParameterError(f"method must be one of {PATH_METHODS}, got {method!r}.")
    t = np.linspace(0.0, 1.0, n_steps)[:, None]
    if method == "slerp":
        na, nb = np.linalg.norm(start), np.linalg.norm(end)
        if na > 0 and nb > 0:
            cos = np.clip(start @ end / (na * nb), -1.0, 1.0)
            omega = np.arccos(cos)
            if 1e-6 < omega < np.pi - 1e-6:
                so = np.sin(omega)
                return np.sin((1 - t) * omega) / so * start + np.sin(t * omega) / so * end
    return (1 - t) * start + t * end


def sound_centroids(space, X, y):
    """Mean latent point of each class (e.g. instrument) of sounds ``X``.

    Parameters
    ----------
    space : TimbreSpace, Pipeline or (transformer, vae) pair
        A fitted timbre space.
    X : array-like of shape (n_sounds, n_audio_samples) or list of 1-D arrays
    y : array-like of shape (n_sounds,)

    Returns
    -------
    centroids : dict of label -> ndarray of shape (latent_dim,)
    """
    Z = as_space(space).encode(X)
    y = np.asarray(y)
    if y.shape != (Z.shape[0],):
        raise ParameterError(f"y must have one label per sound ({Z.shape[0]}), got {y.shape}.")
    return {label: Z[y == label].mean(axis=0) for label in np.unique(y).tolist()}


def _resolve_point(sp, point, centroids, name):
    """A latent point from a latent vector, a sound (1-D audio) or a class label."""
    if isinstance(point, (str, np.str_)) or (
        centroids is not None and not isinstance(point, np.ndarray)
        and np.ndim(point) == 0
    ):
        if centroids is None:
            raise ParameterError(
                f"{name}={point!r} is a label; pass centroids (e.g. sound_centroids(space, X, y))."
            )
        if point not in centroids:
            raise ParameterError(f"{name}={point!r} is not one of {sorted(map(str, centroids))}.")
        return np.asarray(centroids[point], dtype=float)
    arr = np.asarray(point, dtype=float) if not isinstance(point, np.ndarray) else point
    if arr.ndim != 1:
        raise ParameterError(
            f"{name} must be a latent point, a mono sound (1-D) or a label; got shape "
            f"{np.shape(point)}."
        )
    if sp.latent_dim is not None and arr.shape[0] == sp.latent_dim:
        return check_latent(arr, sp.latent_dim, name)
    return sp.encode([arr])[0]


def render_path(space, Z_path, duration=None):
    """Decode a latent path and render it as one continuous sound.

    Each latent point is decoded to a spectral frame (through the VAE decoder and the inverse
    of the intermediate steps, e.g. ``LogMagnitude``); the frame sequence is spread over
    ``duration`` and the phase is rebuilt by one Griffin-Lim run over the whole spectrogram
    (the spectral transformer's ``inverse_transform_frames``), so there are no seams.

    Parameters
    ----------
    space : TimbreSpace, Pipeline or (transformer, vae) pair
        A fitted timbre space.
    Z_path : array-like of shape (n_steps, latent_dim)
    duration : float, default=None
        Seconds of audio; default the spectral transformer's ``duration``.

    Returns
    -------
    audio : ndarray of shape (round(duration * sr),)
    """
    sp = as_space(space)
    Z_path = np.asarray(Z_path, dtype=float)
    if Z_path.ndim != 2 or Z_path.shape[0] < 1 or (
        sp.latent_dim is not None and Z_path.shape[1] != sp.latent_dim
    ):
        hint = ("; embed_sounds gives the perceptual coordinates only, decode "
                "embed_sounds(..., coordinates='all')"
                if Z_path.ndim == 2 and Z_path.shape[1] == sp.perceptual_dims else "")
        raise ParameterError(
            f"Z_path must have shape (n_steps, {sp.latent_dim}), got {Z_path.shape}{hint}."
        )
    if not np.all(np.isfinite(Z_path)):
        raise ParameterError("Z_path contains NaN or infinite values.")
    if duration is not None and (not isinstance(duration, numbers.Real) or duration <= 0):
        raise ParameterError(f"duration must be a positive number of seconds, got {duration!r}.")
    return sp.render(sp.decode(Z_path), duration=duration)


def interpolate_sounds(space, a, b, *, n_steps=32, method="linear", duration=None,
                       centroids=None):
    """A sound that morphs from ``a`` to ``b`` along a latent path.

    Parameters
    ----------
    space : TimbreSpace, Pipeline or (transformer, vae) pair
        A fitted timbre space.
    a, b : latent point (latent_dim,), mono sound (n_audio_samples,) or class label
        End points: a latent vector, a sound (encoded through the space) or a label looked up
        in ``centroids`` (e.g. an instrument name).
    n_steps : int, default=32
    method : {"linear", "slerp"}, default="linear"
    duration : float, default=None
        Seconds of audio; default the spectral transformer's ``duration``.
    centroids : dict of label -> latent point, default=None
        For labels, e.g. :func:`sound_centroids` or a fitted synthesizer's ``centroids_``.

    Returns
    -------
    result : sklearn.utils.Bunch
        ``audio`` (n_audio_samples,), ``sr``, ``latent_path`` (n_steps, latent_dim) and
        ``frames`` (n_steps, n_bins), the decoded spectral frames.
    """
    sp = as_space(space)
    za = _resolve_point(sp, a, centroids, "a")
    zb = _resolve_point(sp, b, centroids, "b")
    Z = latent_path(za, zb, n_steps=n_steps, method=method)
    frames = sp.decode(Z)
    audio = render_path(sp, Z, duration=duration)
    return Bunch(audio=audio, sr=sp.sr, latent_path=Z, frames=frames)
