"""Validation of audio input and of labelled dissimilarity matrices.

Everything that takes sounds or ratings goes through :func:`check_audio` or
:func:`check_dissimilarity`, so that bad input fails early with one clear message.
"""

import numbers

import numpy as np
from sklearn.utils._param_validation import InvalidParameterError as _SklearnInvalidParameter

from ..exceptions import InvalidParameterError, ParameterError

__all__ = ["ParamValidationMixin", "Ratings", "check_audio", "check_dissimilarity", "check_sr"]


class ParamValidationMixin:
    """Re-raise scikit-learn's parameter-constraint errors as our :class:`InvalidParameterError`.

    Put it left of ``BaseEstimator``: ``@_fit_context`` calls ``_validate_params``, and
    users then get one documented error class (a ``ParameterError``) from every estimator.
    """

    def _validate_params(self):
        try:
            super()._validate_params()
        except _SklearnInvalidParameter as exc:
            if isinstance(exc, ParameterError):
                raise
            raise InvalidParameterError(str(exc)) from None


def check_sr(sr, *, name="sr"):
    """Return ``sr`` as a positive int, or raise :class:`ParameterError`."""
    if isinstance(sr, bool) or not isinstance(sr, numbers.Real) or not np.isfinite(sr) or sr <= 0:
        raise ParameterError(f"{name} must be a positive sample rate in Hz, got {sr!r}.")
    if float(sr) != int(sr):
        raise ParameterError(f"{name} must be a whole number of Hz, got {sr!r}.")
    return int(sr)


def check_audio(X, *, min_samples=1, name="X", silence_threshold=1e-8):
    """Validate mono audio and return it as a list of 1-D float64 arrays.

    Parameters
    ----------
    X : array-like of shape (n_sounds, n_audio_samples) or list of 1-D arrays
        Mono sounds; a list may hold sounds of different lengths.
    min_samples : int, default=1
        Shortest accepted sound, in samples (e.g. one analysis window).
    name : str, default="X"
        Name used in error messages.
    silence_threshold : float, default=1e-8
        A sound whose peak absolute amplitude is at or below this is rejected as silent.

    Returns
    -------
    sounds : list of ndarray of shape (n_audio_samples_i,)

    Raises
    ------
    ParameterError
        For a single 1-D signal, stereo/multichannel or 3-D input, empty, silent or too short
        sounds, and NaN or infinite samples. The message names the offending sound.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.utils import check_audio
    >>> sounds = check_audio([np.sin(np.arange(1000) * 0.1), np.ones(10)])
    >>> [s.shape for s in sounds]
    [(1000,), (10,)]
    """
    if isinstance(X, np.ndarray):
        if X.dtype == object:
            sounds = list(X)
        elif X.ndim == 2:
            sounds = list(X)
        elif X.ndim == 1:
            raise ParameterError(
                f"{name} is a single 1-D signal of {X.shape[0]} samples; pass a list of sounds "
                f"([x]) or a 2-D array (n_sounds, n_audio_samples), e.g. x[np.newaxis]."
            )
        else:
            raise ParameterError(
                f"{name} must be mono audio of shape (n_sounds, n_audio_samples) or a list of "
                f"1-D arrays; got an array of shape {X.shape}. Mix multichannel audio down first "
                f"(librosa.to_mono)."
            )
    elif isinstance(X, (list, tuple)):
        sounds = list(X)
    else:
        raise ParameterError(
            f"{name} must be a 2-D array (n_sounds, n_audio_samples) or a list of 1-D arrays, "
            f"got {type(X).__name__}."
        )
    if len(sounds) == 0:
        raise ParameterError(f"{name} holds no sounds.")
    out = []
    for i, s in enumerate(sounds):
        if np.iscomplexobj(s):
            raise ParameterError(f"{name}[{i}] is complex; audio must be real-valued samples.")
        try:
            s = np.asarray(s, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{name}[{i}] is not numeric audio: {exc}") from None
        if s.ndim != 1:
            hint = " (stereo/multichannel: mix down with librosa.to_mono)" if s.ndim == 2 else ""
            raise ParameterError(
                f"{name}[{i}] must be a 1-D mono signal, got shape {s.shape}{hint}."
            )
        if s.size == 0:
            raise ParameterError(f"{name}[{i}] is empty (0 samples).")
        if not np.all(np.isfinite(s)):
            bad = int(np.flatnonzero(~np.isfinite(s))[0])
            raise ParameterError(
                f"{name}[{i}] contains NaN or infinite samples (first at index {bad})."
            )
        if s.size < min_samples:
            raise ParameterError(
                f"{name}[{i}] has {s.size} samples, fewer than the {min_samples} this transform "
                f"needs; pad it or choose a shorter window."
            )
        if np.max(np.abs(s)) <= silence_threshold:
            raise ParameterError(f"{name}[{i}] is silent (peak amplitude {np.max(np.abs(s)):.3g}).")
        out.append(s)
    return out


class Ratings:
    """A labelled, symmetric dissimilarity matrix (e.g. mean timbre ratings).

    It deliberately has no ``__len__``, ``shape`` or ``__array__``: scikit-learn's
    cross-validation slices any fit parameter whose length equals ``n_samples``, and a
    ``Ratings`` object must always arrive whole. Estimators look rows up by label (``y``).

    Parameters
    ----------
    matrix : array-like of shape (n_items, n_items)
        Symmetric, non-negative, finite, with a zero diagonal.
    labels : array-like of shape (n_items,)
        Unique label of each row/column.
    counts : array-like of shape (n_items, n_items), default=None
        Number of individual ratings behind each pair (0 = pair not rated).

    Examples
    --------
    >>> from perceptual_timbre.utils import Ratings
    >>> r = Ratings([[0, 1, 2], [1, 0, 3], [2, 3, 0]], ["a", "b", "c"])
    >>> r.subset(["c", "a"]).matrix
    array([[0., 2.],
           [2., 0.]])
    >>> r.index_of(["b", "b", "a"])
    array([1, 1, 0])
    """

    def __init__(self, matrix, labels, counts=None):
        matrix = _check_square(matrix, "dissimilarity")
        labels = np.asarray(labels, dtype=object)
        if labels.ndim != 1 or labels.shape[0] != matrix.shape[0]:
            raise ParameterError(
                f"dissimilarity is {matrix.shape[0]}x{matrix.shape[0]} but {labels.size} labels "
                f"were given; give one label per row."
            )
        if len(set(labels.tolist())) != labels.size:
            raise ParameterError("dissimilarity labels must be unique.")
        if counts is not None:
            counts = np.asarray(counts, dtype=float)
            if counts.shape != matrix.shape:
                raise ParameterError(
                    f"counts has shape {counts.shape}, expected {matrix.shape} like the matrix."
                )
        self.matrix = matrix
        self.labels = labels
        self.counts = counts

    @property
    def n_items(self):
        """Number of rated items."""
        return self.matrix.shape[0]

    def __repr__(self):
        shown = ", ".join(map(str, self.labels[:4])) + (", ..." if self.n_items > 4 else "")
        return f"Ratings(n_items={self.n_items}, labels=[{shown}])"

    def __eq__(self, other):
        return (
            isinstance(other, Ratings)
            and np.array_equal(self.labels, other.labels)
            and np.array_equal(self.matrix, other.matrix)
        )

    __hash__ = None

    def __contains__(self, label):
        return label in set(self.labels.tolist())

    def index_of(self, y, *, missing="raise"):
        """Row index of every label in ``y``.

        Parameters
        ----------
        y : array-like of labels
        missing : {"raise", "ignore"}, default="raise"
            With ``"ignore"``, unrated labels get index -1.
        """
        if missing not in ("raise", "ignore"):
            raise ParameterError(f"missing must be 'raise' or 'ignore', got {missing!r}.")
        pos = {label: i for i, label in enumerate(self.labels.tolist())}
        y = np.asarray(y, dtype=object).ravel()
        idx = np.array([pos.get(v, -1) for v in y.tolist()], dtype=int)
        if missing == "raise" and np.any(idx < 0):
            absent = sorted({str(v) for v, i in zip(y.tolist(), idx) if i < 0})
            raise ParameterError(
                f"labels {absent} are missing from the dissimilarity matrix, whose labels are "
                f"{[str(v) for v in self.labels]}."
            )
        return idx

    def subset(self, labels):
        """Ratings restricted to ``labels``, in that order."""
        idx = self.index_of(labels)
        counts = None if self.counts is None else self.counts[np.ix_(idx, idx)]
        return Ratings(self.matrix[np.ix_(idx, idx)], self.labels[idx], counts)

    def to_frame(self):
        """The matrix as a labelled :class:`pandas.DataFrame`."""
        import pandas as pd

        names = [str(v) for v in self.labels]
        return pd.DataFrame(self.matrix, index=names, columns=names)


def _check_square(matrix, name):
    try:
        matrix = np.array(matrix, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be a numeric matrix: {exc}") from None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ParameterError(f"{name} must be a square matrix, got shape {matrix.shape}.")
    if matrix.shape[0] < 2:
        raise ParameterError(f"{name} must compare at least 2 items, got {matrix.shape}.")
    if not np.all(np.isfinite(matrix)):
        raise ParameterError(f"{name} contains NaN or infinite values.")
    if np.any(matrix < 0):
        i, j = np.argwhere(matrix < 0)[0]
        raise ParameterError(
            f"{name} has negative values (e.g. {matrix[i, j]:.3g} at [{i}, {j}]); "
            f"dissimilarities must be >= 0."
        )
    scale = max(float(np.max(np.abs(matrix))), 1e-12)
    if not np.allclose(matrix, matrix.T, atol=1e-8 * scale, rtol=1e-6):
        i, j = np.unravel_index(np.argmax(np.abs(matrix - matrix.T)), matrix.shape)
        raise ParameterError(
            f"{name} is not symmetric ([{i}, {j}] = {matrix[i, j]:.4g} but [{j}, {i}] = "
            f"{matrix[j, i]:.4g}); symmetrize it, e.g. (D + D.T) / 2 for a full matrix or "
            f"D + D.T for an upper-triangular one."
        )
    if np.any(np.diag(matrix) != 0):
        raise ParameterError(f"{name} must have a zero diagonal.")
    return (matrix + matrix.T) / 2


def check_dissimilarity(dissimilarity, classes=None):
    """Turn any accepted dissimilarity input into :class:`Ratings`.

    Parameters
    ----------
    dissimilarity : Ratings, pandas.DataFrame, (matrix, labels) tuple or array-like
        A plain square array is labelled by ``classes`` (ordered like ``np.unique(y)``).
    classes : array-like, default=None
        Labels for a plain array.

    Returns
    -------
    ratings : Ratings

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.utils import check_dissimilarity
    >>> check_dissimilarity(np.array([[0, 1.0], [1.0, 0]]), classes=["flute", "oboe"])
    Ratings(n_items=2, labels=[flute, oboe])
    """
    if isinstance(dissimilarity, Ratings):
        return dissimilarity
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(dissimilarity, pd.DataFrame):
        index = list(dissimilarity.index)
        if set(map(str, index)) != set(map(str, dissimilarity.columns)):
            raise ParameterError("a dissimilarity DataFrame must have the same index and columns.")
        frame = dissimilarity.loc[index, index] if list(dissimilarity.columns) != index else (
            dissimilarity
        )
        return Ratings(frame.to_numpy(dtype=float), index)
    if isinstance(dissimilarity, tuple) and len(dissimilarity) == 2:
        return Ratings(*dissimilarity)
    matrix = _check_square(dissimilarity, "dissimilarity")
    if classes is None:
        raise ParameterError(
            "a plain dissimilarity array needs labels: pass Ratings(matrix, labels), a labelled "
            "DataFrame or a (matrix, labels) tuple, or y with one class per row of the matrix."
        )
    classes = np.asarray(classes, dtype=object)
    if classes.size != matrix.shape[0]:
        raise ParameterError(
            f"dissimilarity is {matrix.shape[0]}x{matrix.shape[0]} but y has {classes.size} "
            f"classes; a plain array must be ordered like np.unique(y). Pass "
            f"Ratings(matrix, labels) or a labelled DataFrame to rate only some classes."
        )
    return Ratings(matrix, classes)
