"""Non-stationary Gabor transform (nsgt): constant-Q, mel or ERB magnitude spectra.

The windows come from nsgt 0.19; the default ``backend="torch"`` runs the transform, its
inverse and Griffin-Lim batched in torch (:mod:`._torch_nsgt`), ``backend="nsgt"`` runs nsgt
itself, sound by sound (the reference).
"""

import numbers
import warnings
from collections import OrderedDict

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .._compat import nsgt as _nsgt_compat
from ..exceptions import ParameterError
from ._base import _GriffinLimTransformer
from ._torch_nsgt import TorchNSGT, chunks, cpu_context

_nsgt = _nsgt_compat.apply()  # nsgt 0.19 + numpy >= 1.25 fix, once at import
from nsgt.fscale import MelScale, OctScale, Scale  # noqa: E402

__all__ = ["NSGTTransformer"]

# NSGT set-ups (one per signal length, ~50 ms each to build) kept by a fitted estimator.
_CACHE_SIZE = 32


class _ERBScale(Scale):
    """Bands equally spaced on the ERB-rate scale (Glasberg & Moore 1990)."""

    def __init__(self, fmin, fmax, bnds):
        Scale.__init__(self, bnds)
        self.emin = self._erb(fmin)
        self.step = (self._erb(fmax) - self.emin) / (bnds - 1)

    @staticmethod
    def _erb(f):
        return 21.4 * np.log10(1.0 + 0.00437 * f)

    def F(self, bnd=None):
        if bnd is None:
            bnd = np.arange(self.bnds)
        return (10.0 ** ((self.emin + bnd * self.step) / 21.4) - 1.0) / 0.00437


class NSGTTransformer(_GriffinLimTransformer):
    """Magnitude of an invertible non-stationary Gabor transform (nsgt windows).

    Each sound is analysed as a whole with the windows of ``nsgt.NSGT`` in matrix form (every
    bin resampled to the same number of time frames, about 3 ms apart with the defaults),
    keeping only the bins between ``fmin`` and ``fmax``. The frequency axis is not linear: use
    ``frequencies_`` for descriptors.

    Parameters
    ----------
    scale : {"cqt", "mel", "erb"}, default="cqt"
        Spacing of the bins: geometric (constant-Q), mel or ERB-rate.
    fmin : float, default=30
        Lowest bin centre, in Hz.
    fmax : float, default=11000
        Highest bin centre, in Hz; must be below the Nyquist frequency ``sr / 2``.
    bins : int, default=48
        Bins per octave of the ``[fmin, fmax]`` range. For ``"cqt"`` they are exactly that;
        for ``"mel"``/``"erb"`` the same total, ``ceil(log2(fmax / fmin) * bins) + 1``, is
        spread evenly on the mel/ERB axis (410 bins with the defaults, as in the paper).
    sr : int, default=22050
        Sample rate of the audio, in Hz.
    frame : {"stable", "mean", "max-energy", "center"}, default="stable"
        How ``transform`` reduces a sound's frames to one row: ``"stable"`` is the median
        over the sustained part of the note (from the end of the attack, the frames within
        12 dB of the energy peak), ``"mean"`` the mean of all frames, ``"max-energy"`` the
        loudest frame, ``"center"`` the middle frame.
    duration : float, default=1.0
        Seconds of audio produced by ``inverse_transform``.
    n_iter : int, default=32
        Iterations of the fast Griffin-Lim phase reconstruction.
    momentum : float, default=0.99
        Momentum of fast Griffin-Lim (0 gives plain Griffin-Lim).
    init : {"zeros", "random"}, default="zeros"
        Initial phase. nsgt coefficients are demodulated to baseband, so ``"zeros"`` starts
        every bin as a steady sinusoid at its centre frequency; on real notes it reached
        lower spectral convergence than random phase (which can stall in poor local minima).
    random_state : int, RandomState instance or None, default=None
        Seeds the initial phase when ``init="random"``.
    device : str, default="auto"
        Where the torch backend computes: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``"auto"`` is
        CUDA when available, else the CPU. A device that does not exist raises
        ``ParameterError`` in ``fit``.
    backend : {"torch", "nsgt"}, default="torch"
        ``"torch"`` analyses all the sounds of a call of one length together and rebuilds the
        phase of all the frames together, in single precision (within about -120 dB of nsgt);
        ``"nsgt"`` runs ``nsgt.NSGT.forward``/``backward`` sound by sound in double precision
        (the reference; much slower).

    Attributes
    ----------
    sr_ : int
    device_ : str
        Resolved ``device``.
    n_features_out_ : int
        Number of bins.
    frequencies_ : ndarray of shape (n_features_out_,)
        Centre frequency of each bin in Hz, increasing, within ``[fmin, fmax]``.
    min_samples_ : int
        Shortest accepted sound: two periods of ``fmin``.

    Notes
    -----
    The NSGT set-up depends on the signal length; set-ups are cached in the fitted estimator
    (per signal length, not pickled, rebuilt on demand). For short signals the lowest bins are
    narrower than the signal allows (nsgt's "Q-factor too high" warning, silenced here): they
    are smeared over the whole sound, which is what a 48-bin/octave analysis of a short note
    can give. Audio input has no fixed width, so ``n_features_in_`` is not set.

    With ``backend="torch"``, sounds are analysed at their exact length, so a call batches the
    sounds of each length together: equal-length corpora (e.g. rendered notes) are the fast
    case. On the CPU the torch work runs on one thread
    (``perceptual_timbre.transforms._torch_nsgt.TORCH_CPU_THREADS``): on small shared
    machines more threads were slower; use joblib workers for parallelism. Speed against
    nsgt is measured by ``benchmarks/bench_transforms.py``.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.transforms import NSGTTransformer
    >>> sr = 8000
    >>> x = np.sin(2 * np.pi * 440 * np.arange(sr) / sr)[None]
    >>> nsgt = NSGTTransformer(sr=sr, fmin=110, fmax=3520, bins=12, random_state=0).fit(x)
    >>> S = nsgt.transform(x)
    >>> S.shape
    (1, 61)
    >>> round(float(nsgt.frequencies_[S[0].argmax()]))
    440
    >>> nsgt.inverse_transform(S).shape
    (1, 8000)
    """

    _parameter_constraints = {
        **_GriffinLimTransformer._parameter_constraints,
        "scale": [StrOptions({"cqt", "mel", "erb"})],
        "fmin": [Interval(numbers.Real, 0, None, closed="neither")],
        "fmax": [Interval(numbers.Real, 0, None, closed="neither")],
        "bins": [Interval(numbers.Integral, 1, None, closed="left")],
        "backend": [StrOptions({"torch", "nsgt"})],
    }

    def __init__(
        self,
        scale="cqt",
        *,
        fmin=30.0,
        fmax=11000.0,
        bins=48,
        sr=22050,
        frame="stable",
        duration=1.0,
        n_iter=32,
        momentum=0.99,
        init="zeros",
        random_state=None,
        device="auto",
        backend="torch",
    ):
        self.scale = scale
        self.fmin = fmin
        self.fmax = fmax
        self.bins = bins
        self.sr = sr
        self.frame = frame
        self.duration = duration
        self.n_iter = n_iter
        self.momentum = momentum
        self.init = init
        self.random_state = random_state
        self.device = device
        self.backend = backend

    def _setup(self):
        if self.fmin >= self.fmax:
            raise ParameterError(f"fmin={self.fmin} must be below fmax={self.fmax}.")
        if self.fmax >= self.sr_ / 2:
            raise ParameterError(
                f"fmax={self.fmax} Hz must be below the Nyquist frequency sr/2={self.sr_ / 2} Hz."
            )
        n_bins = int(np.ceil(np.log2(self.fmax / self.fmin) * self.bins)) + 1
        if self.scale == "cqt":
            self._scale = OctScale(self.fmin, self.fmax, self.bins)
        elif self.scale == "mel":
            self._scale = MelScale(self.fmin, self.fmax, n_bins)
        else:
            self._scale = _ERBScale(self.fmin, self.fmax, n_bins)
        self.frequencies_ = np.asarray(self._scale()[0], dtype=np.float64)
        self.n_features_out_ = self.frequencies_.size
        self.min_samples_ = int(np.ceil(2 * self.sr_ / self.fmin))
        self._cache = OrderedDict()
        self._torch_cache = OrderedDict()

    def _get_nsgt(self, length):
        cache = self.__dict__.setdefault("_cache", OrderedDict())
        if length not in cache:
            with warnings.catch_warnings():
                # Expected for short signals: see Notes.
                warnings.filterwarnings("ignore", message="Q-factor too high", category=UserWarning)
                cache[length] = _nsgt.NSGT(
                    self._scale, self.sr_, length, real=True, matrixform=True, reducedform=1
                )
            while len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)
        return cache[length]

    def _get_torch_nsgt(self, length):
        cache = self.__dict__.setdefault("_torch_cache", OrderedDict())
        if length not in cache:
            cache[length] = TorchNSGT(self._get_nsgt(length))
            while len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)
        return cache[length]

    def __getstate__(self):
        # nsgt objects hold lambdas (not picklable); they are rebuilt on demand. A copy: the
        # live estimator keeps its set-ups.
        state = dict(super().__getstate__())
        state.pop("_cache", None)
        state.pop("_torch_cache", None)
        return state

    def _analyse(self, x):
        # Analysed at its exact length: zero padding would leak into the long low-frequency
        # windows (the transform is circular) and colour every frame.
        if self.backend == "torch":
            return self._analyse_many([x])[0]
        return np.abs(np.asarray(self._get_nsgt(x.size).forward(x))).T

    def _analyse_many(self, sounds):
        if self.backend != "torch":
            return super()._analyse_many(sounds)
        # Sounds of one length are analysed together (each at its exact length, see above).
        device = self._torch_device()
        by_length = {}
        for i, x in enumerate(sounds):
            by_length.setdefault(x.size, []).append(i)
        out = [None] * len(sounds)
        with cpu_context(device):
            for length, index in by_length.items():
                tn = self._get_torch_nsgt(length)
                for part in chunks(len(index), tn.n_bins * tn.n_frames):
                    batch = torch.as_tensor(np.stack([sounds[i] for i in index[part]]))
                    C = tn.forward(batch.to(device), dtype=torch.float32)
                    frames = C.abs().transpose(1, 2).cpu().numpy().astype(np.float64)
                    for i, f in zip(index[part], frames, strict=True):
                        out[i] = f
        return out

    def _torch_pair(self, n_samples, device, dtype):
        tn = self._get_torch_nsgt(n_samples)
        return (lambda x: tn.forward(x, dtype=dtype)), tn.backward

    def _n_frames(self, n_samples):
        return self._get_nsgt(n_samples).M[1]

    def _synthesize(self, frames, n_samples, rng):
        nsgt = self._get_nsgt(n_samples)
        magnitude = frames.T
        if self.init == "zeros":
            angles = np.ones(magnitude.shape, dtype=complex)
        else:
            angles = np.exp(2j * np.pi * rng.random_sample(magnitude.shape))
        return _fast_griffin_lim(nsgt, magnitude, angles, self.n_iter, self.momentum)


def _fast_griffin_lim(nsgt, magnitude, angles, n_iter, momentum):
    """Fast Griffin-Lim (Perraudin et al. 2013) with nsgt analysis/synthesis.

    Same update as ``librosa.griffinlim``: the projection onto consistent coefficients is
    ``nsgt.forward(nsgt.backward(.))``.
    """
    previous = 0.0
    for _ in range(n_iter):
        rebuilt = np.asarray(nsgt.forward(nsgt.backward(magnitude * angles)))
        angles = rebuilt - (momentum / (1.0 + momentum)) * previous
        angles /= np.abs(angles) + 1e-16
        previous = rebuilt
    return np.real(nsgt.backward(magnitude * angles))
