"""Exceptions and warnings raised by perceptual_timbre."""

from sklearn.exceptions import NotFittedError

__all__ = [
    "PerceptualTimbreError",
    "ParameterError",
    "DataNotFoundError",
    "TrainingError",
    "DeviceWarning",
    "NotFittedError",
]


class PerceptualTimbreError(Exception):
    """Base class of every error raised by perceptual_timbre."""


class ParameterError(PerceptualTimbreError, ValueError):
    """Bad input: audio, dissimilarities, labels or parameter values."""


class DataNotFoundError(PerceptualTimbreError, OSError):
    """A data home, study, SoundFont or audio folder is missing."""


class TrainingError(PerceptualTimbreError, RuntimeError):
    """Training diverged (the loss became NaN or infinite)."""


class DeviceWarning(UserWarning):
    """A model saved on one device was loaded on another (e.g. CUDA -> CPU)."""
