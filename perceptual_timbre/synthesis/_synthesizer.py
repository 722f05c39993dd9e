"""Descriptor-guided synthesis: latent paths whose decoded descriptors follow a target curve."""

import numbers
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._space import as_space, check_n_steps
from ..descriptors._spectral import check_descriptor_names, compute_descriptors
from ..exceptions import ParameterError
from ..utils.validation import ParamValidationMixin
from ._paths import _resolve_point

__all__ = ["DescriptorPathSynthesizer", "TARGET_SHAPES", "target_shape"]

_CURVE = 4.0  # curvature of the exponential / logarithmic shapes


def _unit_shape(kind, t):
    if kind == "linear":
        return t
    if kind == "exp":
        return np.expm1(_CURVE * t) / np.expm1(_CURVE)
    if kind == "log":
        return np.log1p(np.expm1(_CURVE) * t) / _CURVE
    raise AssertionError(kind)


#: Named target shapes: name -> (direction, curve). Every shape goes monotonically from 0 to
#: +1 ("increase") or -1 ("decrease") over the path; the synthesizer scales it (see
#: :class:`DescriptorPathSynthesizer`). "up_down"/"down_up" go to the bound and back.
TARGET_SHAPES = {
    "increase": (1, "linear"),
    "decrease": (-1, "linear"),
    "exp_increase": (1, "exp"),
    "exp_decrease": (-1, "exp"),
    "log_increase": (1, "log"),
    "log_decrease": (-1, "log"),
    "up_down": (1, "tent"),
    "down_up": (-1, "tent"),
    "constant": (0, "linear"),
}


def target_shape(name, n_steps):
    """The unit curve of a named target shape, from 0 to +-1.

    Parameters
    ----------
    name : str
        One of :data:`TARGET_SHAPES`.
    n_steps : int

    Returns
    -------
    curve : ndarray of shape (n_steps,)

    Examples
    --------
    >>> from perceptual_timbre.synthesis import target_shape
    >>> target_shape("decrease", 3)
    array([ 0. , -0.5, -1. ])
    >>> bool(target_shape("exp_increase", 5)[2] < 0.5 < target_shape("log_increase", 5)[2])
    True
    """
    if name not in TARGET_SHAPES:
        raise ParameterError(f"unknown target shape {name!r}; choose from {sorted(TARGET_SHAPES)}.")
    n_steps = check_n_steps(n_steps)
    sign, kind = TARGET_SHAPES[name]
    t = np.linspace(0.0, 1.0, n_steps)
    if kind == "tent":
        return sign * (1.0 - np.abs(2.0 * t - 1.0))
    return sign * _unit_shape(kind, t) + 0.0  # + 0.0: no negative zero


class DescriptorPathSynthesizer(ParamValidationMixin, BaseEstimator):
    """Synthesize a sound whose descriptors follow a target trajectory, from a timbre space.

    Given an origin (a sound, a latent point or an instrument) and a target curve for one or
    several descriptors, it finds a latent path of ``n_steps`` points whose decoded spectra
    follow the curve while staying close to the origin's timbre, and renders the path as one
    continuous sound (:func:`~perceptual_timbre.synthesis.render_path`).

    Parameters
    ----------
    space : TimbreSpace, Pipeline, (transformer, vae) pair, or FrozenEstimator of one
        A fitted timbre space, e.g. ``Pipeline([("nsgt", NSGTTransformer()), ("log",
        LogMagnitude()), ("vae", PerceptualVAE())])`` after ``fit``. It is used, not refitted.
        :func:`sklearn.base.clone` (and so ``GridSearchCV``) clones parameters, which unfits
        a Pipeline: wrap it as ``sklearn.frozen.FrozenEstimator(pipe)`` to keep it fitted
        through clones.
    descriptors : str or list of str, default="spectral_centroid"
        Descriptor names from :data:`perceptual_timbre.descriptors.DESCRIPTORS`.
    method : {"gradient", "greedy"}, default="gradient"
        ``"greedy"``: the paper's Algorithm 1 -- from the origin, step by step move to the
        neighbour on a precomputed grid of latent points (``fit``) whose descriptors are
        closest to the next target value, with a penalty on the distance to the origin.
        ``"gradient"``: start from the greedy path and optimize all path points at once
        through the differentiable (torch) decoder with Adam: squared error to the target
        curve (scaled by the reachable range) + ``smoothness`` x squared second differences
        of the path + ``timbre_weight`` x squared distance to the origin (distances in units
        of the training latents' standard deviation).
    n_steps : int, default=32
        Points on the latent path (= length of a target array).
    extent : float in (0, 1], default=0.8
        How far a named shape goes: the fraction of the way from the origin's value to the
        bound of the reachable range in the shape's direction.
    smoothness : float, default=0.01
        Weight of the path smoothness term (gradient method): mean squared second
        difference of the standardized path, times ``(n_steps - 1) ** 2``.
    timbre_weight : float, default=0.01
        Weight of the distance-to-origin term (both methods).
    max_iter : int, default=500
        Optimizer iterations (gradient method). 200 stopped some paths before they
        converged (Pearson of the audio's centroid with the target 0.84 at one seed of five
        on the default timbre space; 0.97 or more with 500, for about 0.5 s more).
    learning_rate : float, default=0.05
        Adam step size, in standardized latent units (gradient method).
    n_grid : int, default=3000
        Latent grid size for the greedy method (training latents + samples from a Gaussian
        fitted to them, widened by 20 %).
    n_neighbors : int, default=10
        Neighbours considered at each greedy step.
    random_state : int, RandomState instance or None, default=None
        Seeds the grid and the initial jitter of the gradient path.

    Attributes
    ----------
    latents_ : ndarray of shape (n_sounds, latent_dim)
        Latent means of the training sounds.
    labels_ : ndarray of shape (n_sounds,) or None
    centroids_ : dict of label -> ndarray of shape (latent_dim,)
        Mean latent point of each class of ``y`` (empty without ``y``); usable as origins.
    latent_mean_, latent_scale_ : ndarray of shape (latent_dim,)
        Location and per-dimension standard deviation of the training latents.
    grid_ : ndarray of shape (n_grid, latent_dim)
        Latent points whose descriptors were evaluated.
    grid_descriptors_ : ndarray of shape (n_grid, n_descriptors)
        Descriptor field on ``grid_`` (decoded spectra, true frequency axis).
    range_ : ndarray of shape (2, n_descriptors)
        Reachable range of every descriptor: 1st and 99th percentiles of
        ``grid_descriptors_``.
    descriptor_names_ : list of str

    Notes
    -----
    **Target scaling.** A named shape (:data:`TARGET_SHAPES`) is relative: with ``d0`` the
    descriptor of the decoded origin and ``[lo, hi]`` = ``range_``, "increase"-type shapes go
    from ``d0`` to ``d0 + extent * (hi - d0)`` and "decrease"-type shapes to
    ``d0 - extent * (d0 - lo)``, with the shape's curvature in between. An array target is
    absolute, in the descriptor's units (Hz for the centroid). **Out of range:** target
    values outside ``range_`` cannot be reached from the space; they are clipped to it with a
    ``UserWarning``.

    **Pitch mode** (a space whose latent points end with a pitch column): the path keeps the
    origin's pitch and moves the timbre coordinates only. ``grid_`` holds the median
    training pitch, where ``grid_descriptors_`` and ``range_`` are measured; a synthesis
    from an origin at another pitch measures the field and the range at that pitch.

    Examples
    --------
    >>> from perceptual_timbre.synthesis import DescriptorPathSynthesizer
    >>> DescriptorPathSynthesizer(space=None, method="greedy", n_steps=16)
    DescriptorPathSynthesizer(method='greedy', n_steps=16)

    With a fitted pipeline ``pipe`` and training notes::

        synth = DescriptorPathSynthesizer(space=pipe, random_state=0).fit(notes.audio,
                                                                          notes.instrument)
        out = synth.synthesize("Flute", "exp_increase", duration=2.0)
        out.audio, out.target, out.achieved
    """

    _parameter_constraints = {
        "space": "no_validation",
        "descriptors": [str, list, tuple],
        "method": [StrOptions({"gradient", "greedy"})],
        "n_steps": [Interval(numbers.Integral, 2, None, closed="left")],
        "extent": [Interval(numbers.Real, 0, 1, closed="right")],
        "smoothness": [Interval(numbers.Real, 0, None, closed="left")],
        "timbre_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_grid": [Interval(numbers.Integral, 10, None, closed="left")],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        space=None,
        descriptors="spectral_centroid",
        *,
        method="gradient",
        n_steps=32,
        extent=0.8,
        smoothness=0.01,
        timbre_weight=0.01,
        max_iter=500,
        learning_rate=0.05,
        n_grid=3000,
        n_neighbors=10,
        random_state=None,
    ):
        self.space = space
        self.descriptors = descriptors
        self.method = method
        self.n_steps = n_steps
        self.extent = extent
        self.smoothness = smoothness
        self.timbre_weight = timbre_weight
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.n_grid = n_grid
        self.n_neighbors = n_neighbors
        self.random_state = random_state

    # ------------------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the latent region and the descriptor field of the space from sounds.

        Parameters
        ----------
        X : array-like of shape (n_sounds, n_audio_samples) or list of 1-D arrays
            Sounds of the region to synthesize in (e.g. the space's training notes).
        y : array-like of shape (n_sounds,), default=None
            Class of each sound (e.g. instrument): its centroids become valid origins.

        Returns
        -------
        self : DescriptorPathSynthesizer
        """
        if self.space is None:
            raise ParameterError("space is None; pass a fitted timbre space (e.g. a Pipeline).")
        sp = as_space(self.space)
        self.descriptor_names_ = check_descriptor_names(self.descriptors)
        Z = sp.encode(X)
        if Z.shape[0] < 2:
            raise ParameterError(f"fit needs at least 2 sounds, got {Z.shape[0]}.")
        self.latents_ = Z
        self.labels_ = None
        self.centroids_ = {}
        if y is not None:
            y = np.asarray(y)
            if y.shape != (Z.shape[0],):
                raise ParameterError(
                    f"y must have one label per sound ({Z.shape[0]}), got shape {y.shape}."
                )
            self.labels_ = y
            self.centroids_ = {c: Z[y == c].mean(axis=0) for c in np.unique(y).tolist()}
        self.latent_mean_ = Z.mean(axis=0)
        scale = Z.std(axis=0)
        self.latent_scale_ = np.where(scale > 1e-9, scale, 1.0)
        rng = check_random_state(self.random_state)
        n_extra = max(self.n_grid - Z.shape[0], 0)
        cov = np.cov(Z, rowvar=False) + 1e-9 * np.eye(Z.shape[1])
        extra = rng.multivariate_normal(self.latent_mean_, 1.44 * cov, size=n_extra)
        self.grid_ = np.vstack([Z, extra])[: max(self.n_grid, Z.shape[0])]
        if sp.pitch_index is not None:  # one pitch: the field then varies with timbre only
            self.grid_[:, sp.pitch_index] = np.median(Z[:, sp.pitch_index])
        self.grid_descriptors_ = self._descriptors_of(sp, self.grid_)
        self.range_ = np.percentile(self.grid_descriptors_, [1, 99], axis=0)
        self._seed = int(rng.randint(np.iinfo(np.int32).max))
        return self

    def _descriptors_of(self, sp, Z):
        return compute_descriptors(sp.magnitudes(sp.decode(Z)), sp.frequencies,
                                   self.descriptor_names_)

    def _field_at(self, sp, z0):
        """Grid, descriptor field and reachable range at the pitch of ``z0`` (pitch mode;
        otherwise the fitted ones)."""
        k = sp.pitch_index
        if k is None or z0[k] == self.grid_[0, k]:
            return self.grid_, self.grid_descriptors_, self.range_
        grid = self.grid_.copy()
        grid[:, k] = z0[k]
        field = self._descriptors_of(sp, grid)
        return grid, field, np.percentile(field, [1, 99], axis=0)

    # ------------------------------------------------------------------------- targets
    def _targets(self, target, d0, range_):
        n_desc = len(self.descriptor_names_)
        lo, hi = range_
        if isinstance(target, str) or (
            isinstance(target, (list, tuple)) and target and all(isinstance(t, str) for t in target)
        ):
            names = [target] * n_desc if isinstance(target, str) else list(target)
            if len(names) != n_desc:
                raise ParameterError(
                    f"give one target shape per descriptor ({n_desc}), got {len(names)}."
                )
            cols = []
            for k, name in enumerate(names):
                unit = target_shape(name, self.n_steps)
                bound = hi[k] if TARGET_SHAPES[name][0] > 0 else lo[k]
                if TARGET_SHAPES[name][0] != 0 and abs(bound - d0[k]) < 0.05 * (hi[k] - lo[k]):
                    warnings.warn(
                        f"the origin's {self.descriptor_names_[k]} ({d0[k]:.4g}) is already at "
                        f"the edge of the reachable range [{lo[k]:.4g}, {hi[k]:.4g}]; the "
                        f"{name!r} target barely moves.",
                        UserWarning,
                        stacklevel=3,
                    )
                cols.append(d0[k] + np.abs(unit) * self.extent * (bound - d0[k]))
            return np.column_stack(cols)
        try:
            T = np.array(target, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"target must be a shape name ({sorted(TARGET_SHAPES)}) or a numeric array: "
                f"{exc}"
            ) from None
        if T.ndim == 1 and n_desc == 1:
            T = T[:, None]
        if T.ndim != 2 or T.shape != (self.n_steps, n_desc):
            raise ParameterError(
                f"target array must have shape ({self.n_steps},) for one descriptor or "
                f"({self.n_steps}, {n_desc}) (n_steps, n_descriptors), got {np.shape(target)}."
            )
        if not np.all(np.isfinite(T)):
            raise ParameterError("target contains NaN or infinite values.")
        out = (T < lo) | (T > hi)
        if np.any(out):
            bad = [self.descriptor_names_[k] for k in np.flatnonzero(out.any(axis=0))]
            warnings.warn(
                f"{int(out.sum())} target values of {bad} lie outside the reachable range "
                f"{range_.T.tolist()}; they are clipped to it.",
                UserWarning,
                stacklevel=3,
            )
            T = np.clip(T, lo, hi)
        return T

    # ---------------------------------------------------------------------- synthesis
    def synthesize(self, origin, target, *, duration=None):
        """A sound from ``origin`` whose descriptors follow ``target``.

        Parameters
        ----------
        origin : ndarray of shape (latent_dim,) or (n_audio_samples,), or a class label
            A latent point, a mono sound (encoded through the space) or a key of
            ``centroids_`` (e.g. an instrument name).
        target : str, list of str, or array-like of shape (n_steps,) or (n_steps, n_descriptors)
            A named shape (:data:`TARGET_SHAPES`, relative to the origin, see Notes of the
            class), one name per descriptor, or absolute target values.
        duration : float, default=None
            Seconds of audio; default the spectral transformer's ``duration``.

        Returns
        -------
        result : sklearn.utils.Bunch
            - ``audio``: ndarray (n_audio_samples,); ``sr``: int.
            - ``latent_path``: ndarray (n_steps, latent_dim).
            - ``frames``: decoded magnitude frames (n_steps, n_bins).
            - ``target``, ``achieved``: ndarray (n_steps, n_descriptors), the target values
              and the descriptors of the decoded frames.
            - ``correlation``: Pearson correlation of achieved vs target per descriptor
              (NaN for a constant curve).
            - ``descriptors``: the names; ``origin``: the origin latent point;
              ``time``: seconds spent on the path search.
        """
        check_is_fitted(self, "grid_")
        sp = as_space(self.space)
        z0 = _resolve_point(sp, origin, self.centroids_, "origin")
        field = self._field_at(sp, z0)
        d0 = self._descriptors_of(sp, z0[None])[0]
        T = self._targets(target, d0, field[2])
        start = time.perf_counter()
        if self.method == "greedy":
            Z = self._greedy(z0, T, *field)
        else:
            Z = self._gradient(sp, z0, T, *field)
        elapsed = time.perf_counter() - start
        frames = sp.decode(Z)
        achieved = compute_descriptors(sp.magnitudes(frames), sp.frequencies,
                                       self.descriptor_names_)
        audio = sp.render(frames, duration=duration)
        return Bunch(
            audio=audio,
            sr=sp.sr,
            latent_path=Z,
            frames=frames,
            target=T,
            achieved=achieved,
            correlation=np.array([_pearson(T[:, k], achieved[:, k]) for k in range(T.shape[1])]),
            descriptors=list(self.descriptor_names_),
            origin=z0,
            time=elapsed,
        )

    @staticmethod
    def _scaled_error(values, T, range_):
        span = np.maximum(range_[1] - range_[0], 1e-12)
        return np.sum(((values - T) / span) ** 2, axis=-1)

    def _greedy(self, z0, T, grid, field, range_):
        """Algorithm 1 of Esling et al. (2018): neighbour search on the descriptor grid.

        From the origin, each step moves to the grid point among the ``n_neighbors`` nearest
        to the current point (or stays) whose descriptors are closest to the next target
        value, penalized by its distance to the origin.
        """
        from sklearn.neighbors import NearestNeighbors

        Gs = grid / self.latent_scale_
        nn = NearestNeighbors(n_neighbors=min(self.n_neighbors, len(Gs))).fit(Gs)
        z0s = z0 / self.latent_scale_
        path, current, current_idx = [z0], z0s, None
        for t in range(1, self.n_steps):
            idx = nn.kneighbors(current[None], return_distance=False)[0]
            if current_idx is not None:
                # staying put is a candidate, so the path never jumps for nothing
                idx = np.concatenate([[current_idx], idx])
            cost = self._scaled_error(field[idx], T[t], range_)
            cost = cost + self.timbre_weight * np.sum((Gs[idx] - z0s) ** 2, axis=1)
            current_idx = int(idx[np.argmin(cost)])
            current = Gs[current_idx]
            path.append(grid[current_idx])
        return np.asarray(path)

    def _gradient(self, sp, z0, T, grid, field, range_):
        """Optimize the whole path through the differentiable decoder.

        The path starts from the greedy solution (a good basin: descriptor fields are
        non-linear globally) and is refined by Adam on standardized latents.
        """
        import torch

        decoder = sp.torch_decoder()
        dtype, device = decoder.dtype, decoder.device
        scale = torch.as_tensor(self.latent_scale_, dtype=dtype, device=device)
        span = torch.as_tensor(
            np.maximum(range_[1] - range_[0], 1e-12), dtype=dtype, device=device
        )
        target = torch.as_tensor(T, dtype=dtype, device=device)
        origin = torch.as_tensor(z0 / self.latent_scale_, dtype=dtype, device=device)
        init = self._greedy(z0, T, grid, field, range_) / self.latent_scale_
        zs = torch.as_tensor(init, dtype=dtype, device=device).clone().requires_grad_(True)
        opt = torch.optim.Adam([zs], lr=self.learning_rate)
        # the second-difference penalty is scaled by n_steps^2 so that the same path shape
        # costs the same whatever the number of steps
        n2 = float((self.n_steps - 1) ** 2)
        # the tensors are tiny: one thread is several times faster than a thread pool
        # (and does not fight other processes for cores); restored afterwards
        n_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            self._optimize(zs, opt, decoder, sp, scale, span, target, origin, n2)
        finally:
            torch.set_num_threads(n_threads)
        Z = zs.detach().cpu().double().numpy() * self.latent_scale_
        if sp.pitch_index is not None:  # exactly the origin's pitch (no float32 round trip)
            Z[:, sp.pitch_index] = z0[sp.pitch_index]
        return Z

    def _optimize(self, zs, opt, decoder, sp, scale, span, target, origin, n2):
        import torch

        for _ in range(self.max_iter):
            opt.zero_grad()
            frames = decoder(zs * scale)
            values = compute_descriptors(frames, sp.frequencies, self.descriptor_names_,
                                         differentiable=True)
            fit = torch.mean(torch.sum(((values - target) / span) ** 2, dim=-1))
            loss = fit + self.timbre_weight * torch.mean(torch.sum((zs - origin) ** 2, dim=-1))
            if self.n_steps > 2:
                curvature = zs[2:] - 2 * zs[1:-1] + zs[:-2]
                loss = loss + self.smoothness * n2 * torch.mean(torch.sum(curvature**2, dim=-1))
            loss.backward()
            if sp.pitch_index is not None:  # timbre moves, pitch stays (Adam: no step)
                zs.grad[:, sp.pitch_index] = 0.0
            opt.step()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def _pearson(a, b):
    if np.std(a) < 1e-12 or np.std(b) < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])
