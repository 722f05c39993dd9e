"""Human timbre-dissimilarity studies in the ``timbremetrics`` layout.

Layout under the data home::

    timbremetrics/true_dissim/<Study>_dissimilarity_matrix.txt   # N x N, upper triangle
    timbremetrics/sounds/<Study>/*.aiff                           # N stimuli, sorted order
"""

import numpy as np
from sklearn.utils import Bunch

from ..exceptions import DataNotFoundError, ParameterError
from ..utils.validation import Ratings, check_sr
from ._base import _read_mono, _timbremetrics_dir
from ._instruments import instrument_from_filename

__all__ = ["list_timbre_studies", "load_timbre_study"]

_SUFFIX = "_dissimilarity_matrix.txt"
AUDIO_EXTENSIONS = (".aiff", ".aif", ".wav", ".flac")

_DESCR = """\
Timbre dissimilarity study {study!r} (timbremetrics collection, Tian et al.; sets curated by
Thoret et al. 2021, Nature Human Behaviour).

- {n} stimuli, resampled to {sr} Hz mono; row i of ``dissimilarity`` is ``names[i]``.
- ``dissimilarity``: mean rated dissimilarity of each pair, symmetrized from the study's
  upper-triangular matrix, in the study's own scale ({lo:.3g} to {hi:.3g}); normalize per
  study before pooling studies.
- ``instrument``: normalized instrument name per stimulus (the per-sound label), ``None``
  where the file name does not tell it (hybrids, synthetic sounds).
"""


def list_timbre_studies(data_home=None):
    """Names of the timbre studies present in the data home.

    Parameters
    ----------
    data_home : str or path-like, default=None
        See :func:`get_data_home`.

    Returns
    -------
    names : list of str
        Sorted study names (e.g. ``"Grey1977"``).

    Raises
    ------
    DataNotFoundError
        If the data home has no ``timbremetrics/true_dissim`` folder.

    Examples
    --------
    >>> from perceptual_timbre.datasets import list_timbre_studies
    >>> list_timbre_studies()  # doctest: +SKIP
    ['Barthet2010', 'Grey1977', ..., 'Patil2012_GD4']
    """
    root = _timbremetrics_dir(data_home)
    return sorted(p.name[: -len(_SUFFIX)] for p in (root / "true_dissim").glob("*" + _SUFFIX))


def _study_files(name, data_home):
    """Matrix path and sorted stimulus paths of one study, with clear errors."""
    if not isinstance(name, str):
        raise ParameterError(f"study name must be a str, got {type(name).__name__}.")
    root = _timbremetrics_dir(data_home)
    matrix_path = root / "true_dissim" / (name + _SUFFIX)
    available = list_timbre_studies(data_home)
    if name not in available:  # membership, not path existence: no "../" escapes
        raise ParameterError(
            f"unknown timbre study {name!r}; available studies in {root}: {available}."
        )
    sound_dir = root / "sounds" / name
    if not sound_dir.is_dir():
        raise DataNotFoundError(
            f"study {name!r} has a dissimilarity matrix but no stimuli folder {sound_dir}."
        )
    sounds = sorted(
        p for p in sound_dir.iterdir()
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")
    )
    return matrix_path, sounds


def _read_matrix(path):
    """Parse a whitespace-separated square matrix file into a full symmetric matrix.

    An upper- (or lower-) triangular file is mirrored; a full file must be symmetric.
    Text is parsed as numbers only (never unpickled).
    """
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                rows.append([float(v) for v in fields])
            except ValueError:
                raise ParameterError(
                    f"{path}: line {lineno} has a non-numeric value: {line.strip()[:80]!r}."
                ) from None
    n = len(rows)
    if n < 2:
        raise ParameterError(f"{path}: expected a square matrix, found {n} row(s).")
    widths = {len(r) for r in rows}
    if widths != {n}:
        bad = next(i for i, r in enumerate(rows) if len(r) != n)
        raise ParameterError(
            f"{path}: matrix is not square: {n} rows but row {bad + 1} has {len(rows[bad])} "
            f"values."
        )
    D = np.array(rows, dtype=float)
    if not np.all(np.isfinite(D)):
        i, j = np.argwhere(~np.isfinite(D))[0]
        raise ParameterError(
            f"{path}: matrix contains NaN or infinite values (first at [{i}, {j}])."
        )
    if np.any(np.diag(D) != 0):
        raise ParameterError(f"{path}: the diagonal must be zero (a stimulus vs itself).")
    if np.any(D < 0):
        i, j = np.argwhere(D < 0)[0]
        raise ParameterError(f"{path}: negative dissimilarity {D[i, j]:.4g} at [{i}, {j}].")
    upper, lower = np.triu(D, 1), np.tril(D, -1)
    if not lower.any():
        return upper + upper.T
    if not upper.any():
        return lower + lower.T
    scale = max(float(np.abs(D).max()), 1e-12)
    if not np.allclose(D, D.T, atol=1e-8 * scale, rtol=1e-6):
        i, j = np.unravel_index(np.argmax(np.abs(D - D.T)), D.shape)
        raise ParameterError(
            f"{path}: full matrix is not symmetric ([{i}, {j}] = {D[i, j]:.4g} but "
            f"[{j}, {i}] = {D[j, i]:.4g}); give an upper-triangular or symmetric matrix."
        )
    return (D + D.T) / 2


def _load_study_ratings(name, data_home=None):
    """Stimulus names and the validated N x N matrix of a study, without audio."""
    matrix_path, sounds = _study_files(name, data_home)
    D = _read_matrix(matrix_path)
    if len(sounds) != D.shape[0]:
        raise ParameterError(
            f"study {name!r}: the dissimilarity matrix is {D.shape[0]}x{D.shape[0]} but "
            f"{matrix_path.parent.parent / 'sounds' / name} holds {len(sounds)} stimuli."
        )
    names = [p.name for p in sounds]
    return names, sounds, D


def load_timbre_study(name, data_home=None, sr=22050):
    """Load one timbre-dissimilarity study: its stimuli and mean ratings.

    Parameters
    ----------
    name : str
        Study name, one of :func:`list_timbre_studies` (e.g. ``"Grey1977"``).
    data_home : str or path-like, default=None
        See :func:`get_data_home`.
    sr : int, default=22050
        Sample rate the stimuli are resampled to (with :func:`librosa.resample`).

    Returns
    -------
    data : sklearn.utils.Bunch
        - ``audio``: list of 1-D float64 arrays, the mono stimuli (lengths differ).
        - ``sr``: int.
        - ``names``: list of str, stimulus file names in sorted order (row order): the
          identifier of each stimulus and the labels of ``ratings``, so pass ``names`` as
          ``y`` to fit on this study's per-stimulus ratings.
        - ``filenames``: list of str, full paths.
        - ``dissimilarity``: ndarray (N, N), symmetric with a zero diagonal.
        - ``ratings``: :class:`~perceptual_timbre.utils.Ratings` labelled by ``names``.
        - ``instrument``: ndarray of object (n_stimuli,), the per-sound label: a normalized
          instrument name (see :func:`instrument_from_filename`) or None.
        - ``study``: str.
        - ``DESCR``: str.

    Raises
    ------
    DataNotFoundError
        If the data home or the study's stimuli folder is missing.
    ParameterError
        For an unknown study (the message lists the available ones), a non-square,
        asymmetric or non-finite matrix, or a matrix size that differs from the number of
        stimuli.

    Examples
    --------
    >>> from perceptual_timbre.datasets import load_timbre_study
    >>> grey = load_timbre_study("Grey1977")  # doctest: +SKIP
    >>> grey.dissimilarity.shape, grey.instrument[:3].tolist()  # doctest: +SKIP
    ((16, 16), ['Bassoon', 'Clarinet', 'Clarinet'])
    """
    sr = check_sr(sr)
    names, sounds, D = _load_study_ratings(name, data_home)
    audio = [_read_mono(p, sr) for p in sounds]
    off = D[~np.eye(len(D), dtype=bool)]
    return Bunch(
        audio=audio,
        sr=sr,
        names=names,
        filenames=[str(p) for p in sounds],
        dissimilarity=D,
        ratings=Ratings(D, names),
        instrument=np.array([instrument_from_filename(n, study=name) for n in names],
                            dtype=object),
        study=name,
        DESCR=_DESCR.format(study=name, n=len(names), sr=sr, lo=off.min(), hi=off.max()),
    )
