"""Exceptions and warnings raised by perceptual_timbre."""

from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError as _SklearnInvalidParameter

__all__ = [
    "PerceptualTimbreError",
    "ParameterError",
    "InvalidParameterError",
    "DataNotFoundError",
    "TrainingError",
    "DeviceWarning",
    "NotFittedError",
]


class PerceptualTimbreError(Exception):
    """Base class of every error raised by perceptual_timbre."""


class ParameterError(PerceptualTimbreError, ValueError):
    """Bad input: audio, dissimilarities, labels or parameter values."""


class InvalidParameterError(ParameterError, _SklearnInvalidParameter):
    """An estimator parameter outside its constraints.

    Both our :class:`ParameterError` and scikit-learn's ``InvalidParameterError``, so code
    written for either catches it.
    """


class DataNotFoundError(PerceptualTimbreError, OSError):
    """A data home, study, SoundFont or audio folder is missing."""


class TrainingError(PerceptualTimbreError, RuntimeError):
    """Training diverged (the loss became NaN or infinite)."""


class DeviceWarning(UserWarning):
    """A model saved on one device was loaded on another (e.g. CUDA -> CPU)."""
