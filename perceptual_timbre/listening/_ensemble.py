"""Bootstrap ensembles of metrics: the ``space`` of the "uncertainty" pair selection."""

import numbers

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from ..exceptions import ParameterError
from ..utils.validation import Ratings

__all__ = ["bootstrap_dissimilarities"]


def bootstrap_dissimilarities(estimator, X, y, ratings, *, study="study", n_members=5,
                              random_state=None):
    """Predicted dissimilarities of metrics fitted on bootstrap resamples of the rated pairs.

    Each member is a clone of ``estimator`` fitted on the pairs drawn, with replacement, from
    the rated ones (``counts > 0``; the others get count 0 and are ignored by the fit). The
    spread of the members' predictions over a pair says how much the rated pairs pin it
    down; :func:`design_experiment` with ``strategy="uncertainty"`` asks about the pairs
    with the largest spread. In ``benchmarks/bench_listening.py`` that strategy does not
    beat random selection, so use it knowingly.

    Parameters
    ----------
    estimator : estimator with ``fit(X, y, dissimilarity)`` and ``pairwise_dissimilarity``
        E.g. :class:`~perceptual_timbre.PerceptualMetric` with ``max_iter > 0`` (a metric
        that does not learn from the ratings gives identical members).
    X : list of ndarray
        The sounds, in the order of ``ratings.labels``.
    y : array-like of str
        Their ids as the estimator expects them (``"study/name"`` for a PerceptualMetric).
    ratings : Ratings
        Ratings with ``counts`` (e.g. from :func:`read_responses`), labelled like ``X``.
    study : str, default="study"
        Study name under which the ratings are passed to ``fit``.
    n_members : int, default=5
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    D : ndarray of shape (n_members, n_sounds, n_sounds)
    """
    if not isinstance(ratings, Ratings):
        raise ParameterError(f"ratings must be Ratings, got {type(ratings).__name__}.")
    if isinstance(n_members, bool) or not isinstance(n_members, numbers.Integral) \
            or n_members < 2:
        raise ParameterError(f"n_members must be an int >= 2, got {n_members!r}.")
    n = ratings.n_items
    if len(X) != n or len(y) != n:
        raise ParameterError(
            f"X and y must hold the {n} rated sounds in the order of ratings.labels; got "
            f"{len(X)} sounds and {len(y)} ids."
        )
    counts = np.ones((n, n)) if ratings.counts is None else np.asarray(ratings.counts)
    iu = np.triu_indices(n, 1)
    rated = np.flatnonzero(counts[iu] > 0)
    if rated.size < 3:
        raise ParameterError(f"only {rated.size} rated pairs; a bootstrap needs at least 3.")
    rng = check_random_state(random_state)
    labels = list(y)
    out = []
    for _ in range(n_members):
        draw = np.bincount(rng.choice(rated, size=rated.size, replace=True),
                           minlength=iu[0].size).astype(float)
        c = np.zeros((n, n))
        c[iu] = draw
        member = clone(estimator).fit(X, y, {study: Ratings(ratings.matrix, labels, c + c.T)})
        out.append(member.pairwise_dissimilarity(X))
    return np.asarray(out)
