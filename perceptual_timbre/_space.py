"""The one adapter around a fitted timbre space: encode sounds, decode latents to magnitude
frames (NumPy and differentiable torch), and render frame sequences to audio.

Every tool that works in a latent space (:func:`~perceptual_timbre.embed_sounds`, descriptor
maps, latent paths, ``render_path``, ``interpolate_sounds``,
:class:`~perceptual_timbre.DescriptorPathSynthesizer`) goes through :func:`as_space`, so each
accepts every kind of fitted space:

- a sound-level :class:`~perceptual_timbre.TimbreSpace` (``transformer_``, ``log_``, ``vae_``);
- a :class:`~sklearn.pipeline.Pipeline` whose first step is a spectral transformer
  (``frequencies_``, ``transform_frames``, ``inverse_transform_frames``), whose middle steps
  are invertible elementwise transformers (e.g. ``LogMagnitude``) and whose last step is a
  fitted VAE (``transform`` -> latent means, ``inverse_transform`` -> decoded features, torch
  ``module_``) -- the paper's recipe;
- a ``(front, vae)`` pair where ``front`` is that spectral transformer or a pipeline of it
  and the elementwise steps;
- any of these wrapped in :class:`sklearn.frozen.FrozenEstimator` or loaded with joblib.

**Encoding a sound** (one definition everywhere): the mean of the posterior means of its
analysis frames -- all of them for a frame pipeline, the ``max_frames`` evenly spaced ones
(with the sound's side input) for a ``TimbreSpace``.

**Pitch mode** (a :class:`~perceptual_timbre.PerceptualVAE` with ``pitch_mode="shift"``):
latent points have a last column, the MIDI pitch, so ``latent_dim`` counts it and
``pitch_index`` names it (None otherwise); decoding renders the timbre at that pitch. A
sound's pitch is estimated once per sound with pYIN (falling back to the VAE's own
estimate for unpitched sounds) and given to all its frames. Tools that move through the
space keep ``pitch_index`` at its value to change timbre only.
"""

import numbers

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .exceptions import ParameterError
from .utils.validation import check_audio

__all__ = ["as_space"]

_AGGREGATES = {"mean": np.mean, "median": np.median}


def _unfreeze(obj):
    """The estimator inside a :class:`sklearn.frozen.FrozenEstimator` (which ``clone`` keeps
    fitted, unlike a bare Pipeline)."""
    try:
        from sklearn.frozen import FrozenEstimator
    except ImportError:  # pragma: no cover - sklearn < 1.6
        return obj
    return obj.estimator if isinstance(obj, FrozenEstimator) else obj


def _steps_of(obj):
    obj = _unfreeze(obj)
    if hasattr(obj, "steps"):
        out = []
        for _, step in obj.steps:
            if step is None or step == "passthrough":
                continue
            out.extend(_steps_of(step))
        return out
    return [obj]


def _check_fitted(est, role):
    try:
        check_is_fitted(est)
    except NotFittedError:
        raise NotFittedError(
            f"the timbre space's {role} ({type(est).__name__}) is not fitted; fit the space "
            f"(e.g. the Pipeline) before using it here."
        ) from None
    except TypeError:
        raise ParameterError(
            f"the timbre space's {role} is not an estimator: {est!r}."
        ) from None


class _Space:
    """Resolved, validated view of a fitted space (see module docstring)."""

    def __init__(self, space):
        space = _unfreeze(space)
        self.sound_space = None
        if all(hasattr(space, a) for a in ("vae", "side_features", "max_frames")):
            _check_fitted(space, "sound-level space")
            self.sound_space = space
            steps = [space.transformer_, space.log_, space.vae_]
        elif isinstance(space, (tuple, list)) and len(space) == 2:
            space = tuple(_unfreeze(s) for s in space)
            steps = _steps_of(space[0]) + _steps_of(space[1])
        elif hasattr(space, "steps"):
            steps = _steps_of(space)
        else:
            raise ParameterError(
                "space must be a fitted TimbreSpace, a fitted Pipeline (spectral transformer, "
                f"elementwise steps, VAE) or a (transformer, vae) pair, got "
                f"{type(space).__name__}: a sound-level embedding (MFCC, PerceptualMetric) has "
                f"no decoder to synthesize from."
            )
        if len(steps) < 2:
            raise ParameterError(
                "the timbre space needs a spectral transformer and a VAE; got "
                f"{[type(s).__name__ for s in steps]}."
            )
        self.spectral, self.middle, self.vae = steps[0], steps[1:-1], steps[-1]
        _check_fitted(self.spectral, "spectral transformer")
        for step in self.middle:
            _check_fitted(step, "intermediate step")
        _check_fitted(self.vae, "VAE")
        for attr in ("frequencies_", "inverse_transform_frames"):
            if not hasattr(self.spectral, attr):
                raise ParameterError(
                    f"the first step of the space ({type(self.spectral).__name__}) must be a "
                    f"spectral transformer with {attr}."
                )
        for step in self.middle + [self.vae]:
            if not hasattr(step, "inverse_transform"):
                raise ParameterError(f"{type(step).__name__} has no inverse_transform.")
        self.frequencies = np.asarray(self.spectral.frequencies_, dtype=float)
        self.sr = int(getattr(self.spectral, "sr_", self.spectral.sr))
        self.signed = bool(getattr(self.spectral, "_signed", False))
        self._torch = None
        self.pitch_range = getattr(self.vae, "pitch_range_", None)
        self.pitch_index = None
        if self.pitch_range is not None:
            from .model._pitch import check_front

            check_front(self.vae.bins_per_octave_, self.frequencies,
                        type(self.spectral).__name__, fitted=True)
            self.pitch_index = self.latent_dim - 1

    # -- numpy ---------------------------------------------------------------------------
    @property
    def latent_dim(self):
        """Width of a latent point (with the pitch column in pitch mode)."""
        if not hasattr(self.vae, "module_"):
            return None
        module = self.vae.module_
        return int(getattr(module, "code_dim", module.latent_dim))

    @property
    def perceptual_dims(self):
        """How many leading coordinates of a latent point are perceptual (None: all)."""
        return getattr(self.vae, "perceptual_dims_", None)

    def _sound_pitch(self, sounds, frames):
        """One MIDI pitch per sound (pYIN; the VAE's estimate where pYIN finds none)."""
        from .model._pitch import sound_pitch

        return sound_pitch(sounds, self.sr,
                           lambda i: np.median(self.vae.transform(frames[i])[:, -1]))

    def encode(self, X, aggregate="mean", return_std=False):
        """Sounds -> one latent point each (n_sounds, latent_dim): see the module docstring.

        ``aggregate`` pools a frame pipeline's frame latents (``"mean"`` or ``"median"``).
        With ``return_std``, also each sound's posterior spread: the root mean square of its
        frames' posterior standard deviations.
        """
        if aggregate not in _AGGREGATES:
            raise ParameterError(
                f"aggregate must be one of {sorted(_AGGREGATES)}, got {aggregate!r}.")
        if self.sound_space is not None:
            return self.sound_space.transform(X, return_std=return_std)
        sounds = check_audio(X, name="sounds")
        frames = self.spectral.transform_frames(sounds)
        counts = [len(f) for f in frames]
        if 0 in counts:
            raise ParameterError(f"sounds[{counts.index(0)}] produced no frames; it is too "
                                 f"short.")
        F = np.vstack(frames)
        for step in self.middle:
            F = step.transform(F)
        # every later step is row-wise (frame -> latent): all frames go through at once
        bounds = np.cumsum(counts)[:-1]
        pool = _AGGREGATES[aggregate]
        extra = {}
        if self.pitch_index is not None:
            pitch = self._sound_pitch(sounds, np.split(F, bounds))
            extra["pitch"] = np.repeat(pitch, counts)
        if not return_std:
            Z = np.asarray(self.vae.transform(F, **extra), dtype=float)
            return np.vstack([pool(b, axis=0) for b in np.split(Z, bounds)])
        try:
            Z, S = self.vae.transform(F, return_std=True, **extra)
        except TypeError:
            raise ParameterError(f"{type(self.vae).__name__}.transform has no return_std: "
                                 f"the space gives no posterior spread.") from None
        return (np.vstack([pool(b, axis=0) for b in np.split(Z, bounds)]),
                np.vstack([np.sqrt(np.mean(b**2, axis=0)) for b in np.split(S, bounds)]))

    def decode(self, Z):
        """Latents -> spectral frames (magnitudes, >= 0; signed coefficients for DCT)."""
        F = np.asarray(self.vae.inverse_transform(np.atleast_2d(Z)), dtype=float)
        for step in reversed(self.middle):
            F = step.inverse_transform(F)
        F = np.asarray(F, dtype=float)
        return F if self.signed else np.maximum(F, 0.0)

    def magnitudes(self, frames):
        return np.abs(frames) if self.signed else frames

    def render(self, frames, duration=None, *, pad=0.1):
        """Frame sequence -> one audio signal (one phase reconstruction over all frames).

        The sequence is extended by holding its first and last frames for about ``pad``
        seconds (at least 5 % of the duration) on each side and the padding is cut off
        after the phase reconstruction: Griffin-Lim is least consistent at the edges of a
        signal (the re-analysed centroid rises by 20-30 % in the outer 50 ms), and the
        padding moves that artefact out of the result.
        """
        frames = np.asarray(frames, dtype=float)
        if frames.ndim == 2 and frames.shape[0] == 1:
            frames = np.repeat(frames, 2, axis=0)
        if duration is None:
            duration = float(self.spectral.duration)
        if not isinstance(duration, numbers.Real) or not duration > 0:
            raise ParameterError(
                f"duration must be a positive number of seconds, got {duration!r}."
            )
        n = frames.shape[0]
        step = duration / (n - 1)
        n_pad = int(np.ceil(max(pad, 0.05 * duration) / step))
        padded = np.concatenate([np.repeat(frames[:1], n_pad, 0), frames,
                                 np.repeat(frames[-1:], n_pad, 0)])
        total = step * (padded.shape[0] - 1)
        audio = np.asarray(
            self.spectral.inverse_transform_frames(padded, duration=total), dtype=float
        )
        n_out = max(1, int(round(duration * self.sr)))
        start = int(round(n_pad * step * self.sr))
        audio = audio[start:start + n_out].copy()
        # cutting a sustained tone mid-waveform clicks: 10 ms raised-cosine fades at both ends
        n_fade = min(int(0.01 * self.sr), audio.shape[0] // 4)
        if n_fade > 1:
            ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n_fade))
            audio[:n_fade] *= ramp
            audio[-n_fade:] *= ramp[::-1]
        return audio

    # -- torch ---------------------------------------------------------------------------
    def torch_decoder(self):
        """A differentiable ``z (T, latent_dim) tensor -> magnitudes (T, n_bins)`` that
        matches :meth:`decode` (checked on random latents)."""
        if self._torch is None:
            self._torch = _TorchDecoder(self)
        return self._torch


class _TorchDecoder:
    """Torch twin of ``_Space.decode``.

    The VAE's own ``inverse_transform`` may post-process the decoder output (e.g. undo an
    input standardization); that map is identified as a per-feature affine map from the raw
    decoder output on random latents. Elementwise middle steps (``LogMagnitude``...) are
    inverted through per-feature lookup tables with linear interpolation, which are
    differentiable and exact up to the table resolution. Both are verified at construction.
    """

    _TABLE_SIZE = 8192

    def __init__(self, space):
        import torch

        vae = space.vae
        if not hasattr(vae, "module_"):
            raise ParameterError(
                f"the gradient method needs a torch VAE with module_; {type(vae).__name__} "
                f"has none."
            )
        self.module = vae.module_
        self.module.eval()
        param = next(self.module.parameters())
        self.device, self.dtype = param.device, param.dtype
        rng = np.random.default_rng(0)
        d = space.latent_dim
        Z = rng.normal(size=(64, d)) * 2.0
        if space.pitch_index is not None:  # pitches the decoder was trained on
            Z[:, space.pitch_index] = rng.uniform(*space.pitch_range, size=64)
        with torch.no_grad():
            raw = self._raw(torch.as_tensor(Z, dtype=self.dtype, device=self.device))
        raw = raw.cpu().double().numpy()
        ref = np.asarray(vae.inverse_transform(Z), dtype=float)
        # per-feature affine map raw -> ref (identity when inverse_transform is the decoder)
        A = np.stack([raw, np.ones_like(raw)], axis=-1)  # (n, f, 2)
        scale = np.empty(raw.shape[1])
        shift = np.empty(raw.shape[1])
        for j in range(raw.shape[1]):
            sol, *_ = np.linalg.lstsq(A[:, j], ref[:, j], rcond=None)
            scale[j], shift[j] = sol
        err = np.max(np.abs(raw * scale + shift - ref)) / (np.ptp(ref) + 1e-12)
        if err > 1e-3:
            raise ParameterError(
                f"cannot reproduce {type(vae).__name__}.inverse_transform from its torch "
                f"module_ (relative error {err:.2g}); the gradient method needs a decoder "
                f"followed by at most a per-feature affine map."
            )
        # after the decoder everything is float64: exp-like inverses (LogMagnitude) of
        # float32 table positions lose percents of accuracy on large log values
        f64 = torch.float64
        self.scale = torch.as_tensor(scale, dtype=f64, device=self.device)
        self.shift = torch.as_tensor(shift, dtype=f64, device=self.device)
        # lookup tables for the elementwise inverse steps, over a range wide enough for
        # decoded values
        self.tables = []
        lo, hi = ref.min(axis=0), ref.max(axis=0)
        F = ref
        for step in reversed(space.middle):
            span = hi - lo + 1e-6
            grid = np.linspace(lo - 0.5 * span, hi + 0.5 * span, self._TABLE_SIZE)  # (m, f)
            out = np.asarray(step.inverse_transform(grid), dtype=float)
            check = np.asarray(step.inverse_transform(F), dtype=float)
            self.tables.append(
                (
                    torch.as_tensor(grid.T.copy(), dtype=f64, device=self.device),
                    torch.as_tensor(out.T.copy(), dtype=f64, device=self.device),
                )
            )
            approx = self._lookup(torch.as_tensor(F, dtype=f64, device=self.device),
                                  *self.tables[-1]).double().cpu().numpy()
            rel = np.max(np.abs(approx - check)) / (np.max(np.abs(check)) + 1e-12)
            if rel > 1e-2:
                raise ParameterError(
                    f"{type(step).__name__}.inverse_transform is not elementwise (lookup-table "
                    f"error {rel:.2g}); the gradient method cannot differentiate through it."
                )
            F = check
            lo, hi = out.min(axis=0), out.max(axis=0)
        self.signed = space.signed

    def _raw(self, z):
        return self.module.decode(z)

    @staticmethod
    def _lookup(x, grid, values):
        """Per-feature linear interpolation on a uniform grid (linear extrapolation outside).

        x (T, f); grid, values (f, m) with each grid row an increasing ``linspace``.
        """
        import torch

        m = grid.shape[1]
        start, step = grid[:, 0], grid[:, 1] - grid[:, 0]
        pos = (x - start) / step  # (T, f), fractional table index
        idx = torch.clamp(torch.floor(pos.detach()), 0, m - 2).long()
        w = pos - idx
        vt = values.T  # (m, f)
        v0 = torch.gather(vt, 0, idx)
        v1 = torch.gather(vt, 0, idx + 1)
        return v0 + w * (v1 - v0)

    def __call__(self, z):
        import torch

        x = self._raw(z).to(torch.float64) * self.scale + self.shift
        for grid, values in self.tables:
            x = self._lookup(x, grid, values)
        return torch.abs(x) if self.signed else torch.clamp(x, min=0.0)


def as_space(space):
    """Validate a fitted timbre space and return its adapter (raises NotFittedError)."""
    if isinstance(space, _Space):
        return space
    return _Space(space)


def check_latent(z, latent_dim, name="z"):
    """A latent point as a float vector of ``latent_dim`` values."""
    try:
        z = np.asarray(z, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be a numeric latent point: {exc}") from None
    if z.ndim != 1 or z.shape[0] != latent_dim:
        raise ParameterError(
            f"{name} must be a latent point of shape ({latent_dim},), got shape {z.shape}."
        )
    if not np.all(np.isfinite(z)):
        raise ParameterError(f"{name} contains NaN or infinite values.")
    return z


def check_n_steps(n_steps, name="n_steps"):
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 2:
        raise ParameterError(f"{name} must be an integer >= 2, got {n_steps!r}.")
    return int(n_steps)
