"""Data home resolution and audio file reading shared by the dataset loaders."""

import logging
import os
from pathlib import Path

import numpy as np

from ..exceptions import DataNotFoundError, ParameterError
from ..utils.validation import check_sr

__all__ = ["get_data_home"]

logger = logging.getLogger(__name__)

#: Environment variable naming the data home (the folder that holds ``timbremetrics/``).
DATA_HOME_ENV = "PERCEPTUAL_TIMBRE_DATA"

_GET_DATA_HINT = (
    "Download the timbre studies with perceptual_timbre.datasets.download_timbre_studies("
    "data_home=...), or point data_home (or the {env} environment variable) at a folder that "
    "holds timbremetrics/true_dissim and timbremetrics/sounds."
).format(env=DATA_HOME_ENV)


def get_data_home(data_home=None):
    """Folder where perceptual_timbre looks for (and downloads) research data.

    The folder is resolved in this order: the ``data_home`` argument, the
    ``PERCEPTUAL_TIMBRE_DATA`` environment variable, then ``~/perceptual_timbre_data``
    (as :func:`sklearn.datasets.get_data_home` does). Nothing is created.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit folder; ``~`` is expanded.

    Returns
    -------
    data_home : pathlib.Path

    Examples
    --------
    >>> from perceptual_timbre.datasets import get_data_home
    >>> get_data_home("/tmp/timbre").as_posix()
    '/tmp/timbre'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or None
    if data_home is None:
        return Path.home() / "perceptual_timbre_data"
    try:
        return Path(os.fspath(data_home)).expanduser()
    except TypeError:
        raise ParameterError(
            f"data_home must be a path (str or os.PathLike) or None, "
            f"got {type(data_home).__name__}."
        ) from None


def _describe_home(data_home):
    """How the data home was chosen, for error messages."""
    if data_home is not None:
        return "the data_home argument"
    if os.environ.get(DATA_HOME_ENV):
        return f"the {DATA_HOME_ENV} environment variable"
    return f"the default (no data_home argument and {DATA_HOME_ENV} unset)"


def _timbremetrics_dir(data_home):
    """``<home>/timbremetrics`` or a :class:`DataNotFoundError` that says where it looked."""
    home = get_data_home(data_home)
    root = home / "timbremetrics"
    if not (root / "true_dissim").is_dir():
        raise DataNotFoundError(
            f"no timbre studies found: {root / 'true_dissim'} does not exist (data home {home} "
            f"from {_describe_home(data_home)}). {_GET_DATA_HINT}"
        )
    return root


def _read_mono(path, sr):
    """Decode one audio file to mono float64 and resample it to ``sr`` with librosa.

    Decoding and resampling all 13 shared studies (197 AIFF files, 21 MB) takes about
    0.25 s on this project's 2-core machine, so results are not cached.
    """
    import librosa
    import soundfile as sf

    sr = check_sr(sr)
    try:
        y, native_sr = sf.read(os.fspath(path), dtype="float64", always_2d=True)
    except (RuntimeError, TypeError) as exc:  # soundfile errors are RuntimeErrors
        raise ParameterError(f"cannot decode audio file {path}: {exc}") from None
    if y.shape[0] == 0:
        raise ParameterError(f"audio file {path} holds no samples.")
    y = y.mean(axis=1)
    if native_sr != sr:
        y = librosa.resample(y, orig_sr=native_sr, target_sr=sr)
    return np.ascontiguousarray(y, dtype=np.float64)
