"""Shared machinery of the spectral transformers: audio checks, frame selection, inversion API.

A spectral transformer analyses each sound into a sequence of frames (n_frames, n_bins).
``transform`` reduces that sequence to one frame per sound (see :data:`FRAME_OPTIONS`), so
its output is a fixed-width matrix the VAE can take; ``inverse_transform`` holds a frame as a
sustained tone. Subclasses implement ``_setup`` (fitted attributes), ``_analyse`` (one sound ->
frames), ``_n_frames`` (frames for a given length) and ``_synthesize`` (frames -> audio).

Transformers whose phase is rebuilt by Griffin-Lim (STFT, NSGT) derive from
:class:`_GriffinLimTransformer`, which declares the Griffin-Lim parameters once and runs fast
Griffin-Lim in torch over a whole batch of frames (``_torch_pair`` hook: the batched analysis
and synthesis of the subclass), or the subclass's per-signal reference path (``_synthesize``).
"""

import numbers
import warnings

import numpy as np
import scipy.sparse
from scipy.interpolate import interp1d
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..exceptions import DeviceWarning, ParameterError
from ..utils.validation import ParamValidationMixin, check_audio, check_sr

__all__ = ["FRAME_OPTIONS", "spectral_convergence"]

#: Ways to reduce a sound's frames to the one row ``transform`` returns.
FRAME_OPTIONS = ("stable", "mean", "max-energy", "center")

# The sustained part of a note: from the end of the attack (first frame within
# _ATTACK_DB of the energy peak) on, the frames within _SUSTAIN_DB of the peak.
_ATTACK_DB = 3.0
_SUSTAIN_DB = 12.0


def _prepare_audio(X, min_samples):
    """Normalise array-likes for ``check_audio`` and give array-specific errors early."""
    if scipy.sparse.issparse(X):
        raise ParameterError("sparse input is not supported: audio must be a dense array or list.")
    if not isinstance(X, (list, tuple, np.ndarray)) and hasattr(X, "__array__"):
        X = np.asarray(X)  # e.g. a DataFrame of equal-length sounds
    if isinstance(X, np.ndarray) and X.dtype != object:
        if np.iscomplexobj(X):
            raise ParameterError("Complex data not supported: audio must be real-valued.")
        if X.ndim == 1:
            raise ParameterError(
                f"X is a single 1-D signal of {X.shape[0]} samples. Reshape your data: pass a "
                f"list of sounds ([x]) or a 2-D array (n_sounds, n_audio_samples), e.g. "
                f"x[np.newaxis]."
            )
        if X.ndim == 2 and X.shape[1] == 0:
            raise ParameterError(
                f"X has 0 feature(s) (shape={X.shape}) while a minimum of {min_samples} is "
                f"required: the sounds are empty (0 samples)."
            )
        if X.ndim == 2 and X.shape[1] < min_samples:
            raise ParameterError(
                f"X has {X.shape[1]} audio samples per sound (n_features = {X.shape[1]}), fewer "
                f"than the {min_samples} this transform needs; pad the sounds or choose a "
                f"shorter window."
            )
    return check_audio(X, min_samples=min_samples)


def _sustained_region(energy):
    """Boolean mask of the sustained frames, found from the frame energy envelope."""
    peak = float(np.max(energy))
    if peak <= 0:
        return np.ones(energy.shape, dtype=bool)
    start = int(np.argmax(energy >= peak * 10 ** (-_ATTACK_DB / 10)))
    mask = energy >= peak * 10 ** (-_SUSTAIN_DB / 10)
    mask[:start] = False
    return mask


def _select_frame(frames, how, *, signed=False):
    """Reduce frames (n_frames, n_bins) to one row (see ``FRAME_OPTIONS``)."""
    energy = np.sum(frames**2, axis=1)
    if how == "mean":
        return frames.mean(axis=0)
    if how == "max-energy":
        return frames[int(np.argmax(energy))]
    if how == "center":
        return frames[frames.shape[0] // 2]
    region = frames[_sustained_region(energy)]
    median = np.median(np.abs(region), axis=0)
    if not signed:
        return median
    # Signed coefficients (DCT) of a tone change sign from frame to frame, so their
    # median is meaningless: take the real frame whose magnitudes are closest to it.
    return region[int(np.argmin(np.sum((np.abs(region) - median) ** 2, axis=1)))]


def _resample_frames(frames, n_frames):
    """Linearly interpolate a frame sequence along time to ``n_frames`` frames."""
    if frames.shape[0] == n_frames:
        return frames
    if frames.shape[0] == 1:
        return np.repeat(frames, n_frames, axis=0)
    old = np.linspace(0.0, 1.0, frames.shape[0])
    return interp1d(old, frames, axis=0)(np.linspace(0.0, 1.0, n_frames))


class _SpectralTransformer(
    ParamValidationMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Base class: fit/transform/inverse_transform around the subclass hooks."""

    # True when frames hold signed coefficients rather than magnitudes.
    _signed = False

    _parameter_constraints = {
        "sr": [Interval(numbers.Real, 0, None, closed="neither")],
        "frame": [StrOptions(set(FRAME_OPTIONS))],
        "duration": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    # -- hooks -------------------------------------------------------------------------
    def _setup(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _analyse(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def _n_frames(self, n_samples):  # pragma: no cover - abstract
        raise NotImplementedError

    def _synthesize(self, frames, n_samples, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- sklearn API ---------------------------------------------------------------------
    def fit(self, X, y=None):
        """Check the parameters and the audio, and set up the analysis.

        Audio has no fixed width, so ``n_features_in_`` is not set; ``n_features_out_``,
        ``frequencies_`` (centre frequency in Hz of every output bin) and ``min_samples_``
        (shortest accepted sound) are.

        Parameters
        ----------
        X : array-like of shape (n_sounds, n_audio_samples) or list of 1-D arrays
            Mono sounds at ``sr``.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._validate_params()
        return self._fit(X)

    def _fit(self, X):
        self.sr_ = check_sr(self.sr)
        self._setup()
        _prepare_audio(X, self.min_samples_)
        return self

    @property
    def _n_features_out(self):
        return self.n_features_out_

    def _check_audio(self, X):
        check_is_fitted(self)
        return _prepare_audio(X, self.min_samples_)

    def transform(self, X):
        """One frame per sound: the stable part of the note by default (see ``frame``).

        Parameters
        ----------
        X : array-like of shape (n_sounds, n_audio_samples) or list of 1-D arrays
            Mono sounds at ``sr``; sounds in a list may differ in length.

        Returns
        -------
        S : ndarray of shape (n_sounds, n_features_out_)
        """
        return self._transform(X, self.frame)

    def _analyse_many(self, sounds):
        """Frames of every sound (subclasses may batch); one (n_frames, n_bins) array each."""
        return [self._analyse(x) for x in sounds]

    def _transform(self, X, frame):
        sounds = self._check_audio(X)
        rows = [_select_frame(f, frame, signed=self._signed) for f in self._analyse_many(sounds)]
        return np.asarray(rows, dtype=np.float64)

    def transform_frames(self, X):
        """All frames of every sound.

        Parameters
        ----------
        X : array-like of shape (n_sounds, n_audio_samples) or list of 1-D arrays

        Returns
        -------
        frames : list of ndarray of shape (n_frames_i, n_features_out_)
        """
        return self._analyse_many(self._check_audio(X))

    def _check_frames(self, S, name):
        check_is_fitted(self)
        try:
            S = np.asarray(S, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{name} must be a numeric array: {exc}") from None
        if S.ndim != 2 or S.shape[1] != self.n_features_out_ or S.shape[0] == 0:
            raise ParameterError(
                f"{name} must have shape (n, {self.n_features_out_}) (one spectral frame per "
                f"row), got {S.shape}."
            )
        if not np.all(np.isfinite(S)):
            raise ParameterError(f"{name} contains NaN or infinite values.")
        if not self._signed:
            # Magnitudes decoded by a model can dip below zero: they mean silence.
            S = np.maximum(S, 0.0)
        return S

    def _n_samples(self, duration):
        if duration is None:
            duration = self.duration
        if not isinstance(duration, numbers.Real) or not duration > 0:
            raise ParameterError(
                f"duration must be a positive number of seconds, got {duration!r}."
            )
        return max(1, int(round(duration * self.sr_)))

    def inverse_transform(self, S):
        """Audio of ``duration`` seconds from each frame, held as a sustained tone.

        Parameters
        ----------
        S : array-like of shape (n_rows, n_features_out_)

        Returns
        -------
        audio : ndarray of shape (n_rows, round(duration * sr))
        """
        S = self._check_frames(S, "S")
        n_samples = self._n_samples(None)
        n_frames = self._n_frames(n_samples)
        rng = check_random_state(getattr(self, "random_state", None))
        frames = np.broadcast_to(S[:, None, :], (S.shape[0], n_frames, S.shape[1]))
        return self._synthesize_many(frames, n_samples, rng)

    def _synthesize_many(self, frames, n_samples, rng):
        """Audio (n, n_samples) from frame sequences (n, n_frames, n_bins); subclasses batch."""
        out = np.empty((frames.shape[0], n_samples))
        for i, seq in enumerate(frames):
            out[i] = self._synthesize(np.array(seq), n_samples, rng)
        return out

    def inverse_transform_frames(self, frames, duration=None):
        """One continuous sound from a time-varying frame sequence (e.g. a latent path).

        The frames are interpolated along time to fill ``duration`` and the phase is rebuilt
        over the whole sequence at once, so the result has no seams between frames.

        Parameters
        ----------
        frames : array-like of shape (n_frames, n_features_out_)
        duration : float, default=None
            Seconds of audio; ``None`` uses the ``duration`` parameter.

        Returns
        -------
        audio : ndarray of shape (round(duration * sr),)
        """
        frames = self._check_frames(frames, "frames")
        n_samples = self._n_samples(duration)
        frames = _resample_frames(frames, self._n_frames(n_samples))
        rng = check_random_state(getattr(self, "random_state", None))
        return self._synthesize_many(frames[None], n_samples, rng)[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


class _GriffinLimTransformer(_SpectralTransformer):
    """Base of the magnitude transformers inverted by fast Griffin-Lim (STFT, NSGT).

    Declares the Griffin-Lim parameters (``n_iter``, ``momentum``, ``init``, ``random_state``,
    ``device``, ``backend``) once. With ``backend="torch"`` all the frames of a call are
    inverted together in torch (chunked to bound memory) on ``device``; other backends run the
    subclass's per-signal reference ``_synthesize``.

    Subclasses provide ``_torch_pair(n_samples, device, dtype)``: the batched analysis (audio
    tensor (n, n_samples) -> complex (n, n_bins, n_frames)) and synthesis (the inverse).
    """

    _parameter_constraints = {
        **_SpectralTransformer._parameter_constraints,
        "n_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
        "init": [StrOptions({"zeros", "random"})],
        "random_state": ["random_state"],
        "device": [str],
    }

    def _fit(self, X):
        from ..utils._torch import resolve_device

        self.device_ = str(resolve_device(self.device))
        return super()._fit(X)

    def __setstate__(self, state):
        # Estimators pickled before the torch backend: same parameters, torch on the CPU.
        state = dict(state)
        state.setdefault("device", "auto")
        state.setdefault("backend", "torch")
        if "sr_" in state:
            state.setdefault("device_", "cpu")
        super().__setstate__(state)

    def _torch_device(self):
        """The fitted device, or the CPU (with a DeviceWarning) where it is unavailable."""
        import torch

        device = torch.device(getattr(self, "device_", "cpu"))
        if device.type == "cuda" and not torch.cuda.is_available():
            warnings.warn(
                f"{type(self).__name__} was fitted for {self.device_!r} but CUDA is not "
                f"available; its torch backend runs on the CPU.",
                DeviceWarning,
                stacklevel=4,
            )
            return torch.device("cpu")
        return device

    def _torch_pair(self, n_samples, device, dtype):  # pragma: no cover - abstract
        raise NotImplementedError

    def _synthesize_many(self, frames, n_samples, rng):
        if self.backend != "torch":
            return super()._synthesize_many(frames, n_samples, rng)
        import torch

        from ._torch_nsgt import chunks, cpu_context

        device, dtype = self._torch_device(), torch.float32
        analysis, synthesis = self._torch_pair(n_samples, device, dtype)
        n, n_frames, n_bins = frames.shape
        out = np.empty((n, n_samples))
        with cpu_context(device):
            for part in chunks(n, n_frames * n_bins):
                out[part] = self._griffin_lim(frames[part], analysis, synthesis, device, dtype,
                                              rng)
        return out

    def _griffin_lim(self, frames, analysis, synthesis, device, dtype, rng):
        """Torch fast Griffin-Lim of frame sequences (n, n_frames, n_bins) -> audio array."""
        import torch

        from ._torch_nsgt import _COMPLEX, fast_griffin_lim

        magnitude = torch.as_tensor(
            np.ascontiguousarray(np.swapaxes(frames, 1, 2)), dtype=dtype
        ).to(device)
        angles = None
        if self.init == "random":
            # numpy draws, row after row (as the reference paths): the same on every device
            phase = torch.as_tensor(2 * np.pi * rng.random_sample(magnitude.shape))
            angles = torch.polar(torch.ones_like(phase), phase)
            angles = angles.to(device=device, dtype=_COMPLEX[dtype])
        audio = fast_griffin_lim(magnitude, analysis, synthesis, n_iter=self.n_iter,
                                 momentum=self.momentum, angles=angles)
        return audio.detach().cpu().numpy()


def spectral_convergence(transformer, S, *, frames=False, duration=None, audio=None):
    """Reconstruction quality of a fitted transformer's inversion, in dB (lower is better).

    The frames are resynthesized (:meth:`inverse_transform`, or
    :meth:`inverse_transform_frames` for a sequence), the audio is analysed again with the same
    transformer, and the spectral convergence ``20 log10(||S_hat - S|| / ||S||)`` of the
    re-analysis ``S_hat`` against the target ``S`` is returned. A single frame is re-analysed
    with ``frame="stable"``; a sequence is compared frame by frame with the target
    interpolated to the frames that were synthesized. -20 dB means a 10 % relative error.

    Parameters
    ----------
    transformer : fitted STFTTransformer, DCTTransformer or NSGTTransformer
    S : array-like of shape (n_rows, n_features_out_)
        Target frames (e.g. the output of ``transform``), or one frame sequence when
        ``frames=True``.
    frames : bool, default=False
        Treat ``S`` as one time-varying sequence rendered by ``inverse_transform_frames``.
    duration : float, default=None
        Duration of the sequence rendering (``frames=True`` only).
    audio : ndarray, default=None
        The resynthesis of ``S`` when you already have it (what ``inverse_transform`` or
        ``inverse_transform_frames`` returned): it is re-analysed instead of synthesized again.

    Returns
    -------
    sc : ndarray of shape (n_rows,), or float when ``frames=True``

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.transforms import DCTTransformer, spectral_convergence
    >>> x = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)[None]
    >>> dct = DCTTransformer(sr=8000, n_fft=256).fit(x)
    >>> float(spectral_convergence(dct, dct.transform(x))[0]) < -150
    True
    """
    if frames:
        target = transformer._check_frames(S, "S")
        if audio is None:
            audio = transformer.inverse_transform_frames(target, duration=duration)
        elif np.ndim(audio) != 1:
            raise ParameterError(f"audio must be the 1-D rendering of the sequence S, got shape "
                                 f"{np.shape(audio)}.")
        audio = np.asarray(audio)
        got = transformer.transform_frames(audio[None])[0]
        # The frames actually synthesized; the re-analysis sees them at the same positions.
        target = _resample_frames(target, transformer._n_frames(audio.size))
        n = min(got.shape[0], target.shape[0])
        got, target = got[:n], target[:n]
        return float(_sc_db(got, target))
    target = transformer._check_frames(S, "S")
    if audio is None:
        audio = transformer.inverse_transform(target)
    elif len(audio) != len(target):
        raise ParameterError(f"audio has {len(audio)} sounds for {len(target)} rows of S; pass "
                             f"the resynthesis of S itself.")
    got = transformer._transform(audio, "stable")
    return np.array([_sc_db(g, t) for g, t in zip(got, target, strict=True)])


def _sc_db(estimate, target):
    num = np.linalg.norm(estimate - target)
    den = max(np.linalg.norm(target), np.finfo(float).tiny)
    return 20 * np.log10(max(num / den, 1e-300))
