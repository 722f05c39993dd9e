"""Discrete cosine transform of audio segments: signed coefficients, exactly invertible."""

import numbers

import librosa
import numpy as np
import scipy.fft
from sklearn.utils._param_validation import Interval

from ..exceptions import ParameterError
from ._base import _SpectralTransformer

__all__ = ["DCTTransformer"]


class DCTTransformer(_SpectralTransformer):
    """Orthonormal DCT-II of consecutive audio segments (``scipy.fft.dct``).

    A DCT *frame* is the DCT-II (``norm="ortho"``) of one segment of ``n_fft`` samples
    multiplied by ``window``; segments start every ``hop_length`` samples (no padding, so a
    sound gives ``1 + (len - n_fft) // hop_length`` frames). The coefficients are signed: bin
    ``k`` is a cosine at ``k * sr / (2 * n_fft)`` Hz. The inverse DCT gives the windowed segment
    back exactly; a sustained tone is that segment overlap-added every ``hop_length`` samples
    and divided by the summed windows. With the default boxcar window and
    ``hop_length=n_fft`` the segments are simply concatenated, so re-analysing the output
    gives the frame back to rounding error (there may be an audible seam at each segment
    boundary, as the segment need not be periodic).

    Parameters
    ----------
    sr : int, default=22050
        Sample rate of the audio, in Hz.
    n_fft : int, default=2048
        Segment length in samples (= number of coefficients).
    hop_length : int, default=None
        Samples between segment starts; ``None`` means ``n_fft``.
    window : str, default="boxcar"
        Window applied to each segment (``scipy.signal.get_window`` name).
    frame : {"stable", "mean", "max-energy", "center"}, default="stable"
        How ``transform`` reduces a sound's frames to one row. ``"stable"`` takes, among the
        frames of the sustained part of the note (from the end of the attack, those within
        12 dB of the energy peak), the real frame whose absolute coefficients are closest to
        their median (the median of signed coefficients would mix phases). ``"mean"`` averages
        the signed coefficients; ``"max-energy"`` and ``"center"`` pick one frame.
    duration : float, default=1.0
        Seconds of audio produced by ``inverse_transform``.

    Attributes
    ----------
    sr_ : int
    n_features_out_ : int
        ``n_fft``.
    frequencies_ : ndarray of shape (n_fft,)
        Frequency of each cosine basis function, in Hz.
    min_samples_ : int
        Shortest accepted sound (one segment).

    Notes
    -----
    Audio input has no fixed width, so ``n_features_in_`` is not set.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.transforms import DCTTransformer
    >>> x = np.random.RandomState(0).randn(2, 4000)
    >>> dct = DCTTransformer(sr=8000, n_fft=1000, frame="center").fit(x)
    >>> C = dct.transform(x)
    >>> C.shape
    (2, 1000)
    >>> segment = dct.inverse_transform(C)[:, :1000]
    >>> bool(np.allclose(segment, x[:, 2000:3000]))
    True
    """

    _signed = True

    _parameter_constraints = {
        **_SpectralTransformer._parameter_constraints,
        "n_fft": [Interval(numbers.Integral, 2, None, closed="left")],
        "hop_length": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "window": [str],
    }

    def __init__(
        self,
        *,
        sr=22050,
        n_fft=2048,
        hop_length=None,
        window="boxcar",
        frame="stable",
        duration=1.0,
    ):
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.window = window
        self.frame = frame
        self.duration = duration

    def _setup(self):
        self._hop = self.n_fft if self.hop_length is None else self.hop_length
        if self._hop > self.n_fft:
            raise ParameterError(
                f"hop_length={self._hop} is larger than n_fft={self.n_fft}; segments would "
                f"skip samples."
            )
        try:
            self._window = librosa.filters.get_window(self.window, self.n_fft, fftbins=True)
        except ValueError as exc:
            raise ParameterError(f"unknown window {self.window!r}: {exc}") from None
        if np.any(self._window <= 0) and self._hop == self.n_fft:
            raise ParameterError(
                f"window {self.window!r} has zeros; with hop_length=n_fft the segment could "
                f"not be recovered there. Use overlapping segments (e.g. hop_length=n_fft // 2)."
            )
        self.frequencies_ = np.arange(self.n_fft) * self.sr_ / (2.0 * self.n_fft)
        self.n_features_out_ = self.n_fft
        self.min_samples_ = self.n_fft

    def _analyse(self, x):
        segments = librosa.util.frame(x, frame_length=self.n_fft, hop_length=self._hop, axis=0)
        return scipy.fft.dct(segments * self._window, type=2, norm="ortho", axis=1)

    def _n_frames(self, n_samples):
        return max(1, -(-(n_samples - self.n_fft) // self._hop) + 1)

    def _synthesize(self, frames, n_samples, rng):
        segments = scipy.fft.idct(frames, type=2, norm="ortho", axis=1)
        n_total = (segments.shape[0] - 1) * self._hop + self.n_fft
        audio = np.zeros(n_total)
        weight = np.zeros(n_total)
        for i, seg in enumerate(segments):
            start = i * self._hop
            audio[start : start + self.n_fft] += seg
            weight[start : start + self.n_fft] += self._window
        audio /= np.maximum(weight, 1e-3 * self._window.max())
        return audio[:n_samples]
