"""Reference embeddings that every perceptual benchmark compares against.

:class:`MFCCEmbedding` is the classic baseline of timbre-similarity benchmarks (e.g. the
"time-averaged MFCC" of timbremetrics): 40 mel-frequency cepstral coefficients averaged over
time, one row per sound, no training.
"""

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .exceptions import ParameterError
from .utils.validation import ParamValidationMixin, check_audio, check_sr

__all__ = ["MFCCEmbedding"]


class MFCCEmbedding(ParamValidationMixin, TransformerMixin, BaseEstimator):
    """Time-averaged MFCCs of raw sounds: the standard timbre-similarity baseline.

    Each sound is analysed with :func:`librosa.feature.mfcc` (``n_mels`` mel bands in dB,
    type-II DCT) and its coefficients are averaged over frames, so sounds of any length map
    to one row of ``n_mfcc`` numbers. The embedding is stateless: ``fit`` only validates.

    Parameters
    ----------
    sr : int, default=22050
        Sample rate of the sounds, in Hz.
    n_mfcc : int, default=40
        Number of coefficients (the first one tracks overall level).
    n_fft : int, default=2048
        FFT size of the mel spectrogram; shorter sounds are zero-padded to one window.
    hop_length : int, default=512
        Hop between frames, in samples.
    n_mels : int, default=128
        Number of mel bands.

    Attributes
    ----------
    n_features_out_ : int
        Equal to ``n_mfcc``.

    See Also
    --------
    perceptual_timbre.embedding.embed_sounds : one latent row per sound from a timbre space.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.baselines import MFCCEmbedding
    >>> t = np.arange(4410) / 22050
    >>> sounds = [np.sin(2 * np.pi * 440 * t), np.sign(np.sin(2 * np.pi * 220 * t[:3000]))]
    >>> MFCCEmbedding(n_mfcc=13).fit_transform(sounds).shape
    (2, 13)
    """

    _parameter_constraints = {
        "sr": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_mfcc": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_fft": [Interval(numbers.Integral, 16, None, closed="left")],
        "hop_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_mels": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, sr=22050, n_mfcc=40, *, n_fft=2048, hop_length=512, n_mels=128):
        self.sr = sr
        self.n_mfcc = n_mfcc
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters and the sounds; nothing is learned.

        Parameters
        ----------
        X : list of 1-D arrays or array of shape (n_sounds, n_audio_samples)
            Mono sounds at ``sr``.
        y : ignored

        Returns
        -------
        self : MFCCEmbedding
        """
        self._check_params()
        _check_sounds(X)
        self.n_features_out_ = int(self.n_mfcc)
        return self

    def _check_params(self):
        check_sr(self.sr)
        if self.n_mfcc > self.n_mels:
            raise ParameterError(
                f"n_mfcc={self.n_mfcc} exceeds n_mels={self.n_mels}: there are only as many "
                f"cepstral coefficients as mel bands."
            )

    def transform(self, X):
        """Time-averaged MFCCs of every sound.

        Parameters
        ----------
        X : list of 1-D arrays or array of shape (n_sounds, n_audio_samples)
            Mono sounds at ``sr``, of any lengths.

        Returns
        -------
        mfcc : ndarray of shape (n_sounds, n_mfcc)
        """
        check_is_fitted(self)
        import librosa

        sounds = _check_sounds(X)
        out = np.empty((len(sounds), self.n_mfcc))
        for i, s in enumerate(sounds):
            if s.size < self.n_fft:
                # pad short sounds to one window rather than letting librosa warn
                s = np.pad(s, (0, self.n_fft - s.size))
            mfcc = librosa.feature.mfcc(
                y=s, sr=self.sr, n_mfcc=self.n_mfcc, n_fft=self.n_fft,
                hop_length=self.hop_length, n_mels=self.n_mels,
            )
            out[i] = mfcc.mean(axis=1)
        return out

    def get_feature_names_out(self, input_features=None):
        """Names ``mfcc0 ... mfcc{n_mfcc-1}`` of the output columns."""
        check_is_fitted(self)
        return np.array([f"mfcc{i}" for i in range(self.n_features_out_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # rows are whole sounds: any length, no per-column meaning, no NaN allowed
        tags.input_tags.allow_nan = False
        tags.target_tags.required = False
        return tags


def _check_sounds(X):
    """check_audio, plus the array-likes and bad types sklearn's checks feed estimators."""
    if sp.issparse(X):
        raise TypeError("sparse input is not supported: pass dense mono audio.")
    if not isinstance(X, (list, tuple, np.ndarray)) and hasattr(X, "__array__"):
        X = np.asarray(X)
    if isinstance(X, np.ndarray) and np.iscomplexobj(X):
        raise ParameterError("Complex data not supported: pass real-valued audio.")
    return check_audio(X)
