"""Invertible log scaling of spectra (magnitudes or signed coefficients)."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ..exceptions import ParameterError
from ..utils.validation import ParamValidationMixin

__all__ = ["LogMagnitude"]


class LogMagnitude(ParamValidationMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Sign-preserving log compression ``sign(x) * log1p(|x| / floor)``, exactly invertible.

    Elementwise, so it applies equally to one frame per sound, to stacked frames, and to
    signed DCT coefficients. Values much smaller than ``floor`` stay almost linear
    (``x / floor``); larger ones are compressed logarithmically. Put it after a spectral
    transformer in a :class:`~sklearn.pipeline.Pipeline`: the pipeline's ``inverse_transform``
    then goes from log spectra back to audio.

    Parameters
    ----------
    floor : float, default=1e-3
        Amplitude below which the scaling is nearly linear (sets the dynamic range).
    scale : float, default=1.0
        Output multiplier (e.g. to bring values near unit variance for a network).

    Attributes
    ----------
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.transforms import LogMagnitude
    >>> log = LogMagnitude(floor=0.01).fit([[0.0, 1.0, -1.0]])
    >>> Y = log.transform([[0.0, 1.0, -1.0]])
    >>> np.round(Y, 3)
    array([[ 0.   ,  4.615, -4.615]])
    >>> log.inverse_transform(Y)
    array([[ 0.,  1., -1.]])

    In a pipeline that returns audio:

    >>> from sklearn.pipeline import Pipeline
    >>> from perceptual_timbre.transforms import NSGTTransformer
    >>> x = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)[None]
    >>> pipe = Pipeline([("nsgt", NSGTTransformer(sr=8000, fmin=100, fmax=3000, bins=12,
    ...                                           n_iter=4)),
    ...                  ("log", LogMagnitude())]).fit(x)
    >>> pipe.inverse_transform(pipe.transform(x)).shape
    (1, 8000)
    """

    _parameter_constraints = {
        "floor": [Interval(numbers.Real, 0, None, closed="neither")],
        "scale": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(self, floor=1e-3, scale=1.0):
        self.floor = floor
        self.scale = scale

    def fit(self, X, y=None):
        """Check the parameters and record the number of features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._validate_params()
        validate_data(self, X, dtype=np.float64)
        return self

    def transform(self, X):
        """Scale ``X`` elementwise.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Y : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        # in place: one array of the input's size (frame matrices of a corpus are large)
        Y = np.abs(X)
        Y /= self.floor
        np.log1p(Y, out=Y)
        Y *= self.scale
        return np.copysign(Y, X, out=Y)

    def inverse_transform(self, X):
        """Undo :meth:`transform` exactly (up to rounding).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        Y = X / self.scale
        if np.any(np.abs(Y) > np.log(np.finfo(np.float64).max)):
            raise ParameterError(
                "values too large to invert: exp would overflow (max |X| / scale is about 709)."
            )
        return np.sign(Y) * self.floor * np.expm1(np.abs(Y))

    def transform_frames(self, frames):
        """Scale a list of frame sequences (e.g. ``NSGTTransformer.transform_frames`` output).

        Parameters
        ----------
        frames : list of array-like of shape (n_frames_i, n_features)

        Returns
        -------
        scaled : list of ndarray of shape (n_frames_i, n_features)
        """
        return [self.transform(f) for f in frames]

    def inverse_transform_frames(self, frames):
        """Undo the scaling of one frame sequence (e.g. frames decoded along a latent path).

        Chain it with the spectral step's ``inverse_transform_frames`` to get audio.

        Parameters
        ----------
        frames : array-like of shape (n_frames, n_features)

        Returns
        -------
        frames_original : ndarray of shape (n_frames, n_features)
        """
        return self.inverse_transform(frames)
