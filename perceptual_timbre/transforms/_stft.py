"""Short-time Fourier transform magnitudes, inverted by fast Griffin-Lim (torch or librosa)."""

import numbers

import librosa
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..exceptions import ParameterError
from ._base import _GriffinLimTransformer

__all__ = ["STFTTransformer"]


class STFTTransformer(_GriffinLimTransformer):
    """STFT magnitude spectrum of each sound (``librosa.stft``), invertible to audio.

    Parameters
    ----------
    sr : int, default=22050
        Sample rate of the audio, in Hz.
    n_fft : int, default=2048
        FFT size (window length); the output has ``n_fft // 2 + 1`` bins.
    hop_length : int, default=512
        Samples between frames.
    window : str, default="hann"
        Window name understood by ``scipy.signal.get_window``.
    frame : {"stable", "mean", "max-energy", "center"}, default="stable"
        How ``transform`` reduces a sound's frames to one row: ``"stable"`` is the median
        over the sustained part of the note (from the end of the attack, the frames within
        12 dB of the energy peak), ``"mean"`` the mean of all frames, ``"max-energy"`` the
        loudest frame, ``"center"`` the middle frame.
    duration : float, default=1.0
        Seconds of audio produced by ``inverse_transform``.
    n_iter : int, default=32
        Griffin-Lim iterations.
    momentum : float, default=0.99
        Momentum of the fast Griffin-Lim algorithm (0 gives plain Griffin-Lim).
    init : {"random", "zeros"}, default="random"
        Initial phase of Griffin-Lim (``"zeros"`` is librosa's ``init=None``); random phase
        gave lower spectral convergence on real notes.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial random phase of Griffin-Lim.
    device : str, default="auto"
        Where the torch backend runs Griffin-Lim: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...;
        ``"auto"`` is CUDA when available, else the CPU. A device that does not exist raises
        ``ParameterError`` in ``fit``.
    backend : {"torch", "librosa"}, default="torch"
        ``"torch"`` rebuilds the phase of all the frames of a call together, in single
        precision (the STFT of ``librosa.stft``/``librosa.istft``, centred, zero padded);
        ``"librosa"`` runs ``librosa.griffinlim`` sound by sound (the reference).

    Attributes
    ----------
    sr_ : int
        Checked sample rate.
    device_ : str
        Resolved ``device``.
    n_features_out_ : int
        Number of frequency bins.
    frequencies_ : ndarray of shape (n_features_out_,)
        Centre frequency of every bin, in Hz.
    min_samples_ : int
        Shortest accepted sound (one window, ``n_fft`` samples).

    See Also
    --------
    NSGTTransformer : constant-Q / mel / ERB spectra.
    DCTTransformer : signed, exactly invertible coefficients.

    Notes
    -----
    Audio input has no fixed width, so ``n_features_in_`` is not set.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.transforms import STFTTransformer
    >>> sr = 8000
    >>> x = np.sin(2 * np.pi * 440 * np.arange(sr) / sr)[None]
    >>> stft = STFTTransformer(sr=sr, n_fft=256, hop_length=64, random_state=0).fit(x)
    >>> S = stft.transform(x)
    >>> S.shape
    (1, 129)
    >>> float(stft.frequencies_[S[0].argmax()])
    437.5
    >>> stft.inverse_transform(S).shape
    (1, 8000)
    """

    _parameter_constraints = {
        **_GriffinLimTransformer._parameter_constraints,
        "n_fft": [Interval(numbers.Integral, 2, None, closed="left")],
        "hop_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "window": [str],
        "backend": [StrOptions({"torch", "librosa"})],
    }

    def __init__(
        self,
        *,
        sr=22050,
        n_fft=2048,
        hop_length=512,
        window="hann",
        frame="stable",
        duration=1.0,
        n_iter=32,
        momentum=0.99,
        init="random",
        random_state=None,
        device="auto",
        backend="torch",
    ):
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.window = window
        self.frame = frame
        self.duration = duration
        self.n_iter = n_iter
        self.momentum = momentum
        self.init = init
        self.random_state = random_state
        self.device = device
        self.backend = backend

    def _setup(self):
        if self.hop_length > self.n_fft:
            raise ParameterError(
                f"hop_length={self.hop_length} is larger than n_fft={self.n_fft}; frames would "
                f"skip samples and the STFT could not be inverted."
            )
        try:
            librosa.filters.get_window(self.window, self.n_fft)
        except ValueError as exc:
            raise ParameterError(f"unknown window {self.window!r}: {exc}") from None
        self.frequencies_ = librosa.fft_frequencies(sr=self.sr_, n_fft=self.n_fft)
        self.n_features_out_ = self.frequencies_.size
        self.min_samples_ = self.n_fft

    def _analyse(self, x):
        S = librosa.stft(x, n_fft=self.n_fft, hop_length=self.hop_length, window=self.window)
        return np.abs(S).T

    def _n_frames(self, n_samples):
        return 1 + n_samples // self.hop_length

    def _torch_pair(self, n_samples, device, dtype):
        from ._torch_nsgt import stft_pair

        window = librosa.filters.get_window(self.window, self.n_fft)
        return stft_pair(self.n_fft, self.hop_length, window, n_samples, device, dtype)

    def _synthesize(self, frames, n_samples, rng):
        return librosa.griffinlim(
            frames.T,
            n_iter=self.n_iter,
            hop_length=self.hop_length,
            n_fft=self.n_fft,
            window=self.window,
            length=n_samples,
            momentum=self.momentum,
            init="random" if self.init == "random" else None,
            random_state=rng,
        )
