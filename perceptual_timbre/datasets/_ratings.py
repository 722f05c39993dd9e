"""Instrument-level dissimilarity ratings: the bundled 12-instrument target and the
matrix pooled from several timbre studies."""

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..exceptions import DataNotFoundError, ParameterError
from ..utils.validation import Ratings
from ._base import get_data_home
from ._instruments import INSTRUMENT_PROGRAMS, instrument_from_filename
from ._studies import _load_study_ratings, list_timbre_studies

__all__ = ["combine_studies", "load_instrument_ratings"]

_MEAN_CSV = "dissimilarity_mean.csv"
_COUNT_CSV = "ratings_count.csv"

_ESLING_DESCR = """\
Combined 12-instrument timbre dissimilarity ratings (Esling, Chemla-Romeu-Santos & Bitton,
DAFx 2018): normalized mean dissimilarities (0..1) pooled from five studies (Grey 1977,
Krumhansl 1989, Iverson & Krumhansl 1993, McAdams et al. 1995, Lakatos 2000), with the
number of individual ratings behind each pair (7,516 in all). Instrument-level targets:
every note of an instrument takes its instrument's row. ``programs`` gives the 0-based
General MIDI program that sounds each instrument. Source: {source}.
"""

_COMBINED_DESCR = """\
Instrument-level dissimilarities pooled from the timbre studies {studies}. Each study's
matrix is min-max normalized to 0..1 over its off-diagonal pairs; within a study, the pairs
of stimuli of two different instruments are averaged; across studies, the per-study means
are averaged (each study counts once). ``counts`` holds the number of stimulus pairs and
``n_studies`` the number of studies behind each instrument pair; unrated pairs have value 0
and count 0. Stimuli without a known instrument are ignored.
"""


def _read_csv(source, filename):
    if not isinstance(source, Path):  # bundled package resource
        with resources.as_file(source / filename) as path:
            return pd.read_csv(path, index_col=0)
    path = source / filename
    if not path.is_file():
        raise DataNotFoundError(f"{path} is missing; the esling2018 folder needs {filename}.")
    return pd.read_csv(path, index_col=0)


def load_instrument_ratings(data_home=None):
    """The combined 12-instrument dissimilarity ratings of Esling et al. (2018).

    The two small CSV files ship inside the package, so this works without a data home;
    when ``<data_home>/esling2018/`` exists, that copy is read instead.

    Parameters
    ----------
    data_home : str or path-like, default=None
        See :func:`get_data_home`.

    Returns
    -------
    data : sklearn.utils.Bunch
        - ``ratings``: :class:`~perceptual_timbre.utils.Ratings` with ``counts``.
        - ``dissimilarity``: pandas.DataFrame (12, 12), 0..1, labelled by instrument.
        - ``counts``: pandas.DataFrame (12, 12), individual ratings per pair.
        - ``instruments``: list of the 12 instrument names (row order).
        - ``programs``: dict, instrument -> 0-based General MIDI program.
        - ``DESCR``: str.

    Examples
    --------
    >>> from perceptual_timbre.datasets import load_instrument_ratings
    >>> data = load_instrument_ratings()
    >>> data.instruments[:3], data.programs["Violin"]
    (['Clarinet', 'Saxophone', 'Trumpet'], 40)
    >>> round(float(data.dissimilarity.loc["Cello", "Violin"]), 3)
    0.123
    >>> int(data.counts.to_numpy().sum()) // 2
    7516
    """
    folder = get_data_home(data_home) / "esling2018"
    if folder.is_dir():
        source, where = folder, str(folder)
    else:
        source, where = resources.files(__package__) / "data", "bundled with perceptual_timbre"
    mean = _read_csv(source, _MEAN_CSV)
    counts = _read_csv(source, _COUNT_CSV)
    labels = [str(v) for v in mean.index]
    if list(map(str, mean.columns)) != labels:
        raise ParameterError(f"{_MEAN_CSV} ({where}): row and column labels differ.")
    if list(map(str, counts.index)) != labels or list(map(str, counts.columns)) != labels:
        raise ParameterError(
            f"{_COUNT_CSV} ({where}) is not labelled like {_MEAN_CSV}: {labels}."
        )
    ratings = Ratings(mean.to_numpy(dtype=float), labels, counts=counts.to_numpy(dtype=float))
    unknown = sorted(set(labels) - set(INSTRUMENT_PROGRAMS))
    if unknown:
        raise ParameterError(f"{_MEAN_CSV} ({where}) has unknown instruments {unknown}.")
    return Bunch(
        ratings=ratings,
        dissimilarity=ratings.to_frame(),
        counts=pd.DataFrame(ratings.counts.astype(int), index=labels, columns=labels),
        instruments=labels,
        programs={name: INSTRUMENT_PROGRAMS[name] for name in labels},
        DESCR=_ESLING_DESCR.format(source=where),
    )


def combine_studies(study_names=None, data_home=None):
    """Pool several timbre studies into one instrument-level dissimilarity matrix.

    Parameters
    ----------
    study_names : list of str, default=None
        Studies to pool; all of :func:`list_timbre_studies` by default.
    data_home : str or path-like, default=None
        See :func:`get_data_home`.

    Returns
    -------
    data : sklearn.utils.Bunch
        - ``ratings``: :class:`~perceptual_timbre.utils.Ratings` over every instrument
          named by a stimulus (``counts`` = stimulus pairs; 0 where a pair is unrated).
        - ``dissimilarity``: pandas.DataFrame, 0..1.
        - ``counts``: pandas.DataFrame of int, stimulus pairs behind each instrument pair.
        - ``n_studies``: pandas.DataFrame of int, studies behind each instrument pair.
        - ``instruments``: list of str (sorted).
        - ``studies``: list of str.
        - ``DESCR``: str.

    Raises
    ------
    ParameterError
        For an unknown study, or when the studies rate no pair of distinct instruments.

    Examples
    --------
    >>> from perceptual_timbre.datasets import combine_studies
    >>> pooled = combine_studies(["Iverson1993_Whole", "Grey1977"])  # doctest: +SKIP
    >>> pooled.n_studies.loc["Flute", "Oboe"]  # doctest: +SKIP
    2
    """
    if study_names is None:
        study_names = list_timbre_studies(data_home)
    elif isinstance(study_names, str):
        study_names = [study_names]
    study_names = list(study_names)
    if not study_names:
        raise ParameterError("study_names is empty; give at least one study.")
    per_study = []
    for name in study_names:
        names, _, D = _load_study_ratings(name, data_home)
        inst = np.array([instrument_from_filename(n, study=name) for n in names], dtype=object)
        off = ~np.eye(len(D), dtype=bool)
        lo, hi = D[off].min(), D[off].max()
        if hi <= lo:
            raise ParameterError(f"study {name!r} rates every pair the same; cannot normalize it.")
        per_study.append((inst, (D - lo) / (hi - lo)))
    instruments = sorted({i for inst, _ in per_study for i in inst if i is not None})
    pos = {name: k for k, name in enumerate(instruments)}
    n = len(instruments)
    total = np.zeros((n, n))
    counts = np.zeros((n, n), dtype=int)
    n_studies = np.zeros((n, n), dtype=int)
    for inst, Dn in per_study:
        sums = np.zeros((n, n))
        pairs = np.zeros((n, n), dtype=int)
        known = [k for k, v in enumerate(inst) if v is not None]
        for a in known:
            for b in known:
                ia, ib = pos[inst[a]], pos[inst[b]]
                if ia != ib:  # ordered pairs, so both triangles fill symmetrically
                    sums[ia, ib] += Dn[a, b]
                    pairs[ia, ib] += 1
        rated = pairs > 0
        total[rated] += sums[rated] / pairs[rated]
        n_studies += rated
        counts += pairs
    if not n_studies.any():
        raise ParameterError(
            f"studies {study_names} rate no pair of stimuli of two different known instruments."
        )
    matrix = np.divide(total, n_studies, out=np.zeros_like(total), where=n_studies > 0)
    ratings = Ratings(matrix, instruments, counts=counts)
    return Bunch(
        ratings=ratings,
        dissimilarity=ratings.to_frame(),
        counts=pd.DataFrame(counts, index=instruments, columns=instruments),
        n_studies=pd.DataFrame(n_studies, index=instruments, columns=instruments),
        instruments=instruments,
        studies=study_names,
        DESCR=_COMBINED_DESCR.format(studies=", ".join(study_names)),
    )
