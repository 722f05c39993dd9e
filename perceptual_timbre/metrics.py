"""Agreement between a latent (timbre) space and human dissimilarity ratings.

Three families of measures, each a plain function; :func:`make_perceptual_scorer` turns any
of them into a scikit-learn scorer for model selection:

- **Class level** (as in Esling et al., 2018): :func:`latent_kl_divergence` (the paper's
  regularizer used as a measure, Eq. 8-10) and :func:`centroid_correlation` (Spearman or
  Pearson between class-centroid latent distances and the ratings).
- **Matrix level**: :func:`mantel_test`, a permutation test of the correlation between two
  dissimilarity matrices.
- **Per anchor** (the metrics of the "timbremetrics" benchmark, Tian et al., over the studies
  curated by Thoret et al., 2021): :func:`anchor_spearman`, :func:`triplet_agreement` and
  :func:`retrieval_ndcg`. Each treats every item in turn as the anchor (query), scores how
  well the predicted distances from it order the other items, and averages over anchors.

Ratings are :class:`~perceptual_timbre.utils.Ratings` (a labelled matrix); rows of latent
points are matched to its rows by label, never by position.
"""

import numbers

import numpy as np
from scipy import stats
from scipy.spatial.distance import cdist
from sklearn.metrics import ndcg_score
from sklearn.utils import check_array, check_random_state

from .exceptions import ParameterError
from .utils.validation import Ratings, check_dissimilarity

__all__ = [
    "PerceptualScorer",
    "anchor_spearman",
    "centroid_correlation",
    "class_centroids",
    "latent_kl_divergence",
    "make_perceptual_scorer",
    "mantel_test",
    "retrieval_ndcg",
    "triplet_agreement",
]

_CORRELATIONS = ("spearman", "pearson")


# --------------------------------------------------------------------------- validation
def _check_latent(Z, y):
    Z = check_array(Z, dtype=np.float64, ensure_min_samples=2, input_name="Z")
    if y is None:
        raise ParameterError("y (the class label of every row of Z) is required.")
    y = np.asarray(y, dtype=object)
    if y.ndim != 1:
        y = y.ravel() if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1 or y.shape[0] != Z.shape[0]:
        raise ParameterError(
            f"y must hold one label per row of Z: Z has {Z.shape[0]} rows, y has shape "
            f"{np.shape(y)}."
        )
    return Z, y


def _check_ratings(ratings):
    if not isinstance(ratings, Ratings):
        ratings = check_dissimilarity(ratings)
    return ratings


def _check_missing(missing):
    if missing not in ("ignore", "raise"):
        raise ParameterError(f"missing must be 'ignore' or 'raise', got {missing!r}.")


def _rated_mask(ratings):
    """Boolean matrix of rated pairs (counts == 0 marks an unrated pair)."""
    if ratings.counts is None:
        return np.ones(ratings.matrix.shape, dtype=bool)
    return ratings.counts > 0


def _check_pair(pred_D, true_D, rated=None):
    """Validate two same-shape square matrices and the optional mask of rated pairs."""
    mats = []
    for name, D in (("pred_D", pred_D), ("true_D", true_D)):
        try:
            D = np.array(D, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{name} must be a numeric matrix: {exc}") from None
        if D.ndim != 2 or D.shape[0] != D.shape[1]:
            raise ParameterError(f"{name} must be a square matrix, got shape {D.shape}.")
        if not np.all(np.isfinite(D)):
            raise ParameterError(f"{name} contains NaN or infinite values.")
        mats.append(D)
    pred_D, true_D = mats
    if pred_D.shape != true_D.shape:
        raise ParameterError(
            f"pred_D has shape {pred_D.shape} but true_D has shape {true_D.shape}; both must "
            f"compare the same items in the same order."
        )
    if pred_D.shape[0] < 3:
        raise ParameterError(f"per-anchor metrics need at least 3 items, got {pred_D.shape[0]}.")
    for name, D in (("pred_D", pred_D), ("true_D", true_D)):
        scale = max(float(np.max(np.abs(D))), 1e-12)
        if not np.allclose(D, D.T, atol=1e-8 * scale, rtol=1e-6):
            raise ParameterError(
                f"{name} is not symmetric; symmetrize it first (an upper-triangular matrix "
                f"such as a timbremetrics file: D + D.T)."
            )
    if np.any(true_D < 0):
        raise ParameterError("true_D has negative values; dissimilarities must be >= 0.")
    if rated is None:
        rated = np.ones(true_D.shape, dtype=bool)
    else:
        rated = np.asarray(rated, dtype=bool)
        if rated.shape != true_D.shape:
            raise ParameterError(
                f"rated has shape {rated.shape}, expected {true_D.shape} like true_D."
            )
    rated = rated & rated.T
    np.fill_diagonal(rated, False)
    return pred_D, true_D, rated


def _normalize_true(true_D, rated):
    """Scale rated dissimilarities to 0..1 by their maximum (as timbremetrics does)."""
    top = float(np.max(true_D[rated])) if np.any(rated) else 0.0
    if top <= 0:
        raise ParameterError("true_D has no positive rated dissimilarity to normalize by.")
    return true_D / top


# --------------------------------------------------------------------------- class level
def class_centroids(Z, y, ratings, *, missing="ignore"):
    """Mean latent point of every rated class, with the matching block of the ratings.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_components)
        Latent points (e.g. ``transform`` output), one row per frame or sound.
    y : array-like of shape (n_samples,)
        Class label of each row, as used in ``ratings.labels``.
    ratings : Ratings, pandas.DataFrame or (matrix, labels)
        Labelled dissimilarities.
    missing : {"ignore", "raise"}, default="ignore"
        What to do with classes of ``y`` that ``ratings`` does not rate: drop their rows
        (as the paper held out the piccolo) or raise :class:`ParameterError`.

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        Rated classes present in ``y``, in ``np.unique`` order.
    centroids : ndarray of shape (n_classes, n_components)
    sub : Ratings
        ``ratings`` restricted to ``classes``, in that order (counts kept).

    Examples
    --------
    >>> from perceptual_timbre.metrics import class_centroids
    >>> from perceptual_timbre.utils import Ratings
    >>> r = Ratings([[0, 1, 2], [1, 0, 3], [2, 3, 0]], ["a", "b", "c"])
    >>> classes, C, sub = class_centroids([[0.0], [2.0], [5.0], [9.0]], ["b", "b", "a", "x"], r)
    >>> classes.tolist(), C.ravel().tolist(), sub.matrix.tolist()
    (['a', 'b'], [5.0, 1.0], [[0.0, 1.0], [1.0, 0.0]])
    """
    _check_missing(missing)
    Z, y = _check_latent(Z, y)
    ratings = _check_ratings(ratings)
    idx = ratings.index_of(y, missing=missing)
    keep = idx >= 0
    try:
        classes = np.unique(y[keep])
    except TypeError:  # mixed label types cannot be sorted together
        classes = np.array(sorted(set(y[keep].tolist()), key=str), dtype=object)
    if classes.size < 2:
        raise ParameterError(
            f"y holds {classes.size} rated class(es); comparing with ratings needs at least 2. "
            f"Rated labels: {[str(v) for v in ratings.labels]}."
        )
    centroids = np.vstack([Z[y == c].mean(axis=0) for c in classes])
    return classes, centroids, ratings.subset(classes)


def latent_kl_divergence(
    Z, y, ratings, *, sigma=1.0, reduction="mean", max_samples=2000, missing="ignore",
    random_state=None,
):
    r"""KL divergence between latent and perceptual neighbour distributions (lower is better).

    The perceptual regularizer of Esling et al. (2018), Eq. 8-10, used as a measure. For every
    row :math:`i` whose class is rated, a Gaussian kernel over latent distances defines

    .. math:: p_{j|i} = \frac{\exp(-\lVert z_i - z_j\rVert^2 / 2\sigma^2)}
                              {\sum_{k \neq i} \exp(-\lVert z_i - z_k\rVert^2 / 2\sigma^2)}

    and a Student-t kernel over the rated dissimilarities :math:`D` of the rows' classes

    .. math:: q_{j|i} = \frac{(1 + D_{c_i c_j}^2)^{-1}}{\sum_{k \neq i} (1 + D_{c_i c_k}^2)^{-1}},

    and the divergence is :math:`\mathrm{KL}_i = \sum_{j \neq i} p_{j|i}\log(p_{j|i}/q_{j|i})`.
    Pairs whose classes were never rated (``counts == 0``) are left out of both distributions.
    It is 0 exactly when latent neighbourhoods reproduce the rated ones (e.g. all points and
    all ratings equal); its scale depends on ``sigma`` and on the scale of the ratings, so
    compare models on the same ratings only.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_components)
        Latent points, one row per frame or sound.
    y : array-like of shape (n_samples,)
        Class label of each row.
    ratings : Ratings, pandas.DataFrame or (matrix, labels)
        Labelled dissimilarities between classes.
    sigma : float, default=1.0
        Bandwidth of the latent Gaussian kernel.
    reduction : {"mean", "sum"}, default="mean"
        Average of :math:`\mathrm{KL}_i` over rows (comparable across sample sizes), or their
        sum, the paper's per-batch value.
    max_samples : int or None, default=2000
        Score a random subset of at most this many rated rows (the cost is quadratic).
    missing : {"ignore", "raise"}, default="ignore"
        Rows whose class is not rated are dropped, or raise :class:`ParameterError`.
    random_state : int, RandomState instance or None, default=None
        Draws the subset when there are more than ``max_samples`` rows.

    Returns
    -------
    kl : float

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.metrics import latent_kl_divergence
    >>> from perceptual_timbre.utils import Ratings
    >>> r = Ratings([[0, 1, 3], [1, 0, 2], [3, 2, 0]], ["a", "b", "c"])
    >>> y = ["a", "a", "b", "b", "c", "c"]
    >>> good = np.array([[0.0], [0.1], [1.0], [1.1], [3.0], [3.1]])
    >>> bad = good[[4, 5, 2, 3, 0, 1]]
    >>> latent_kl_divergence(good, y, r) < latent_kl_divergence(bad, y, r)
    True
    """
    _check_missing(missing)
    if reduction not in ("mean", "sum"):
        raise ParameterError(f"reduction must be 'mean' or 'sum', got {reduction!r}.")
    if not isinstance(sigma, numbers.Real) or isinstance(sigma, bool) or not sigma > 0:
        raise ParameterError(f"sigma must be a positive number, got {sigma!r}.")
    if max_samples is not None and (
        not isinstance(max_samples, numbers.Integral) or max_samples < 3
    ):
        raise ParameterError(f"max_samples must be an int >= 3 or None, got {max_samples!r}.")
    Z, y = _check_latent(Z, y)
    ratings = _check_ratings(ratings)
    idx = ratings.index_of(y, missing=missing)
    keep = np.flatnonzero(idx >= 0)
    if keep.size < 3:
        raise ParameterError(
            f"only {keep.size} rows of Z belong to rated classes; the KL needs at least 3."
        )
    if max_samples is not None and keep.size > max_samples:
        rng = check_random_state(random_state)
        keep = np.sort(rng.choice(keep, size=max_samples, replace=False))
    Z, idx = Z[keep], idx[keep]

    D = ratings.matrix[np.ix_(idx, idx)]
    valid = _rated_mask(ratings)[np.ix_(idx, idx)]
    np.fill_diagonal(valid, False)

    sq = cdist(Z, Z, "sqeuclidean")
    # log-softmax over valid neighbours: stable even for far-apart points
    logits = np.where(valid, -sq / (2.0 * sigma**2), -np.inf)
    log_p = logits - _logsumexp_rows(logits)
    log_q_un = np.where(valid, -np.log1p(D**2), -np.inf)
    log_q = log_q_un - _logsumexp_rows(log_q_un)
    has = valid.any(axis=1)
    # invalid pairs have p = 0 and contribute nothing; zero their logs to avoid inf - inf
    log_p, log_q = np.where(valid, log_p, 0.0), np.where(valid, log_q, 0.0)
    terms = np.where(valid, np.exp(log_p) * (log_p - log_q), 0.0)
    kl_rows = terms.sum(axis=1)[has]
    if kl_rows.size == 0:
        raise ParameterError("no pair of rows has rated classes; the KL is undefined.")
    kl_rows = np.maximum(kl_rows, 0.0)  # rounding can give -1e-17
    return float(kl_rows.mean() if reduction == "mean" else kl_rows.sum())


def _logsumexp_rows(a):
    from scipy.special import logsumexp

    with np.errstate(invalid="ignore"):
        out = logsumexp(a, axis=1, keepdims=True)
    return np.where(np.isfinite(out), out, 0.0)


def _correlate(a, b, method):
    if method not in _CORRELATIONS:
        raise ParameterError(f"method must be 'spearman' or 'pearson', got {method!r}.")
    if a.size < 3:
        raise ParameterError(f"a correlation needs at least 3 rated pairs, got {a.size}.")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")  # undefined for constant input
    fn = stats.spearmanr if method == "spearman" else stats.pearsonr
    return float(fn(a, b)[0])


def centroid_correlation(Z, y, ratings, *, method="spearman", metric="euclidean",
                         missing="ignore"):
    """Correlation between class-centroid latent distances and rated dissimilarities.

    The class centroids (mean latent point of each rated class present in ``y``) give a
    predicted distance for every pair of classes; this is correlated with the ratings over
    the upper triangle, using only pairs that were actually rated (``counts > 0`` when the
    ratings carry counts). Higher is better; 1 is a perfect (rank) agreement.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_components)
        Latent points, one row per frame or sound.
    y : array-like of shape (n_samples,)
        Class label of each row.
    ratings : Ratings, pandas.DataFrame or (matrix, labels)
        Labelled dissimilarities between classes.
    method : {"spearman", "pearson"}, default="spearman"
    metric : str, default="euclidean"
        Latent distance, any :func:`scipy.spatial.distance.cdist` metric.
    missing : {"ignore", "raise"}, default="ignore"
        Rows of unrated classes are dropped, or raise :class:`ParameterError`.

    Returns
    -------
    r : float
        NaN when either set of distances is constant.

    Examples
    --------
    >>> from perceptual_timbre.metrics import centroid_correlation
    >>> from perceptual_timbre.utils import Ratings
    >>> r = Ratings([[0, 1, 3], [1, 0, 2], [3, 2, 0]], ["a", "b", "c"])
    >>> Z = [[0.0], [0.2], [1.0], [1.2], [3.0], [3.2]]
    >>> centroid_correlation(Z, ["a", "a", "b", "b", "c", "c"], r)
    1.0
    """
    _, centroids, sub = class_centroids(Z, y, ratings, missing=missing)
    pred = cdist(centroids, centroids, metric)
    iu = np.triu_indices(pred.shape[0], 1)
    rated = _rated_mask(sub)[iu]
    return _correlate(pred[iu][rated], sub.matrix[iu][rated], method)


# --------------------------------------------------------------------------- matrix level
def mantel_test(D1, D2, n_permutations=999, method="spearman", random_state=None, *,
                alternative="greater"):
    """Mantel permutation test of the correlation between two dissimilarity matrices.

    The statistic is the Spearman or Pearson correlation between the upper triangles. Its
    null distribution is obtained by permuting rows and columns of ``D2`` together (which
    keeps its structure but breaks the pairing of items).

    Parameters
    ----------
    D1, D2 : array-like of shape (n_items, n_items)
        Symmetric dissimilarity matrices over the same items in the same order.
    n_permutations : int, default=999
        Number of random permutations; the smallest attainable p-value is
        ``1 / (n_permutations + 1)``.
    method : {"spearman", "pearson"}, default="spearman"
    random_state : int, RandomState instance or None, default=None
    alternative : {"greater", "less", "two-sided"}, default="greater"
        "greater" asks whether the matrices agree more than chance.

    Returns
    -------
    statistic : float
    p_value : float
        ``(1 + #{permuted statistics at least as extreme}) / (1 + n_permutations)``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.spatial.distance import pdist, squareform
    >>> from perceptual_timbre.metrics import mantel_test
    >>> X = np.random.default_rng(0).normal(size=(10, 2))
    >>> D = squareform(pdist(X))
    >>> stat, p = mantel_test(D, D ** 2, random_state=0)
    >>> round(stat, 3), p < 0.01
    (1.0, True)
    """
    if method not in _CORRELATIONS:
        raise ParameterError(f"method must be 'spearman' or 'pearson', got {method!r}.")
    if alternative not in ("greater", "less", "two-sided"):
        raise ParameterError(
            f"alternative must be 'greater', 'less' or 'two-sided', got {alternative!r}."
        )
    if not isinstance(n_permutations, numbers.Integral) or n_permutations < 1:
        raise ParameterError(f"n_permutations must be a positive int, got {n_permutations!r}.")
    D1, D2, _ = _check_pair(D1, D2)
    n = D1.shape[0]
    iu = np.triu_indices(n, 1)
    v1, v2 = D1[iu], D2[iu]
    if method == "spearman":
        # ranks of permuted entries are the permuted ranks: rank once, then Pearson
        v1, v2 = stats.rankdata(v1), stats.rankdata(v2)
    if np.ptp(v1) == 0 or np.ptp(v2) == 0:
        raise ParameterError("a Mantel test needs matrices whose off-diagonal values vary.")
    M2 = np.zeros((n, n))
    M2[iu] = v2
    M2 = M2 + M2.T
    a = (v1 - v1.mean()) / np.linalg.norm(v1 - v1.mean())
    mu2, norm2 = v2.mean(), np.linalg.norm(v2 - v2.mean())  # permutation-invariant
    statistic = float(a @ (v2 - mu2) / norm2)

    rng = check_random_state(random_state)
    perm_stats = np.empty(n_permutations)
    chunk = max(1, 2_000_000 // max(iu[0].size, 1))
    for start in range(0, n_permutations, chunk):
        stop = min(start + chunk, n_permutations)
        perms = np.array([rng.permutation(n) for _ in range(stop - start)])
        permuted = M2[perms[:, iu[0]], perms[:, iu[1]]]
        perm_stats[start:stop] = (permuted - mu2) @ a / norm2
    tol = 1e-12
    if alternative == "greater":
        hits = np.sum(perm_stats >= statistic - tol)
    elif alternative == "less":
        hits = np.sum(perm_stats <= statistic + tol)
    else:
        hits = np.sum(np.abs(perm_stats) >= abs(statistic) - tol)
    return statistic, float((hits + 1) / (n_permutations + 1))


# --------------------------------------------------------------------------- per anchor
def _anchors(pred_D, true_D, rated):
    """Yield (predicted, true) distances from each anchor to its rated other items."""
    for i in range(pred_D.shape[0]):
        cols = rated[i]
        yield pred_D[i, cols], true_D[i, cols]


def _mean_over_anchors(scores, name):
    scores = np.asarray(scores, dtype=float)
    if scores.size == 0 or np.all(np.isnan(scores)):
        return float("nan")
    return float(np.nanmean(scores))


def anchor_spearman(pred_D, true_D, *, rated=None):
    """Mean over anchors of the Spearman correlation of their rows (higher is better).

    For each item ``i`` (the anchor), the predicted distances ``pred_D[i, j]`` and the true
    dissimilarities ``true_D[i, j]`` to every other item ``j != i`` are rank-correlated; the
    result is the mean over anchors. It asks "does the model order each sound's neighbours
    as listeners do?", which is what the timbremetrics benchmark reports as Spearman.
    Anchors whose row is constant (correlation undefined) are skipped.

    Parameters
    ----------
    pred_D : array-like of shape (n_items, n_items)
        Predicted dissimilarities (e.g. latent distances), symmetric.
    true_D : array-like of shape (n_items, n_items)
        Rated dissimilarities over the same items in the same order, symmetric.
    rated : array-like of bool of shape (n_items, n_items), default=None
        Pairs that were rated; others are left out of their anchors' rows.

    Returns
    -------
    score : float
        In [-1, 1]; NaN if no anchor has at least 2 non-constant rated neighbours.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.metrics import anchor_spearman
    >>> T = np.array([[0, 1, 2, 3], [1, 0, 1, 2], [2, 1, 0, 1], [3, 2, 1, 0]], float)
    >>> anchor_spearman(T, T), anchor_spearman(T ** 2, T)
    (1.0, 1.0)
    """
    pred_D, true_D, rated = _check_pair(pred_D, true_D, rated)
    scores = []
    for p, t in _anchors(pred_D, true_D, rated):
        if p.size < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
            scores.append(np.nan)
        else:
            scores.append(stats.spearmanr(p, t)[0])
    return _mean_over_anchors(scores, "anchor_spearman")


def triplet_agreement(pred_D, true_D, *, margin=0.1, rated=None):
    """Fraction of clearly-ordered triplets whose order the prediction keeps (higher is better).

    ``true_D`` is first divided by its largest rated value (0..1, as in timbremetrics).
    For each anchor ``a`` and each pair ``j < k`` of other items whose true dissimilarities
    differ by more than ``margin`` (``|true[a, j] - true[a, k]| > margin``), the triplet is
    in agreement when the predicted distances order ``j`` and ``k`` the same way (strictly;
    a predicted tie counts as a disagreement). The score is the fraction of agreeing
    triplets per anchor, averaged over anchors that have at least one such triplet (chance
    level is 0.5).

    Parameters
    ----------
    pred_D : array-like of shape (n_items, n_items)
        Predicted dissimilarities, symmetric.
    true_D : array-like of shape (n_items, n_items)
        Rated dissimilarities, symmetric, non-negative.
    margin : float, default=0.1
        Minimum difference of normalized true dissimilarities for a triplet to count.
    rated : array-like of bool of shape (n_items, n_items), default=None
        Pairs that were rated; triplets need both pairs rated.

    Returns
    -------
    score : float
        In [0, 1]; NaN when no triplet passes the margin.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.metrics import triplet_agreement
    >>> T = np.array([[0, 1, 2, 3], [1, 0, 1, 2], [2, 1, 0, 1], [3, 2, 1, 0]], float)
    >>> triplet_agreement(T, T), triplet_agreement(T.max() - T - np.diag([3.0] * 4), T)
    (1.0, 0.0)
    """
    if not isinstance(margin, numbers.Real) or not 0 <= margin < 1:
        raise ParameterError(f"margin must be a number in [0, 1), got {margin!r}.")
    pred_D, true_D, rated = _check_pair(pred_D, true_D, rated)
    true_D = _normalize_true(true_D, rated)
    scores = []
    for p, t in _anchors(pred_D, true_D, rated):
        dt = t[:, None] - t[None, :]
        dp = p[:, None] - p[None, :]
        valid = np.triu(np.abs(dt) > margin, 1)
        n_valid = int(valid.sum())
        scores.append(np.sum((dt * dp > 0) & valid) / n_valid if n_valid else np.nan)
    return _mean_over_anchors(scores, "triplet_agreement")


def retrieval_ndcg(pred_D, true_D, *, k=None, rated=None):
    """NDCG of similar-sound retrieval, averaged over anchors (higher is better).

    Each anchor queries the other items ranked by increasing predicted distance. The
    relevance of item ``j`` to anchor ``i`` is its true similarity ``1 - true[i, j]``, with
    ``true_D`` divided by its largest rated value (so the most dissimilar pair has relevance
    0). The ranking's discounted cumulative gain is divided by that of the ideal ranking
    (:func:`sklearn.metrics.ndcg_score`, ties in the prediction averaged); 1 means every
    anchor retrieves its neighbours in the listeners' order.

    Parameters
    ----------
    pred_D : array-like of shape (n_items, n_items)
        Predicted dissimilarities, symmetric.
    true_D : array-like of shape (n_items, n_items)
        Rated dissimilarities, symmetric, non-negative.
    k : int, default=None
        Only the top ``k`` retrieved items count (NDCG@k); None uses all.
    rated : array-like of bool of shape (n_items, n_items), default=None
        Pairs that were rated; only rated items are retrieved for an anchor.

    Returns
    -------
    score : float
        In [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.metrics import retrieval_ndcg
    >>> T = np.array([[0, 1, 2, 3], [1, 0, 1, 2], [2, 1, 0, 1], [3, 2, 1, 0]], float)
    >>> retrieval_ndcg(T, T)
    1.0
    >>> retrieval_ndcg(T.max() - T, T) < 1
    True
    """
    if k is not None and (not isinstance(k, numbers.Integral) or k < 1):
        raise ParameterError(f"k must be a positive int or None, got {k!r}.")
    pred_D, true_D, rated = _check_pair(pred_D, true_D, rated)
    true_D = _normalize_true(true_D, rated)
    scores = []
    for p, t in _anchors(pred_D, true_D, rated):
        relevance = 1.0 - t
        if p.size < 2 or not np.any(relevance > 0):
            scores.append(np.nan)
        else:
            scores.append(ndcg_score(relevance[None], -p[None], k=k))
    return _mean_over_anchors(scores, "retrieval_ndcg")


# --------------------------------------------------------------------------- scorers
_ANCHOR_METRICS = {
    "anchor_spearman": anchor_spearman,
    "triplet_agreement": triplet_agreement,
    "retrieval_ndcg": retrieval_ndcg,
}
_SCORER_METRICS = ("spearman", "pearson", "kl", "mantel", *_ANCHOR_METRICS)


class PerceptualScorer:
    """Scorer ``(estimator, X, y) -> float`` comparing an embedding with ratings.

    Built by :func:`make_perceptual_scorer`; see there. ``y`` holds the class (or stimulus)
    label of each row of ``X``; the ratings are closed over, so cross-validation never
    slices them.
    """

    def __init__(self, ratings, metric, *, distance="euclidean", missing="ignore",
                 metric_params=None):
        self.ratings = ratings
        self.metric = metric
        self.distance = distance
        self.missing = missing
        self.metric_params = metric_params

    def __repr__(self):
        return f"make_perceptual_scorer({self.ratings!r}, metric={self.metric!r})"

    def __call__(self, estimator, X, y=None, sample_weight=None):
        """Embed ``X`` with ``estimator.transform`` and score it against the ratings."""
        if y is None:
            raise ParameterError(
                "a perceptual scorer needs y (the class/stimulus label of each row) to match "
                "rows with the ratings; pass y to fit/score or to the search's fit."
            )
        if sample_weight is not None:
            raise ParameterError("perceptual scorers do not support sample_weight.")
        Z = estimator.transform(X)
        return self.score_embedding(Z, y)

    def score_embedding(self, Z, y):
        """Score already-embedded rows ``Z`` with labels ``y`` (greater is better)."""
        params = dict(self.metric_params or {})
        if self.metric == "kl":
            return -latent_kl_divergence(Z, y, self.ratings, missing=self.missing, **params)
        if self.metric in _CORRELATIONS:
            return centroid_correlation(Z, y, self.ratings, method=self.metric,
                                        metric=self.distance, missing=self.missing)
        _, centroids, sub = class_centroids(Z, y, self.ratings, missing=self.missing)
        pred = cdist(centroids, centroids, self.distance)
        if self.metric == "mantel":
            return mantel_test(pred, sub.matrix, **params)[0]
        return _ANCHOR_METRICS[self.metric](pred, sub.matrix, rated=_rated_mask(sub), **params)


def make_perceptual_scorer(ratings, metric="spearman", *, distance="euclidean",
                           missing="ignore", **metric_params):
    """Make a scikit-learn scorer of perceptual agreement for model selection.

    The scorer embeds ``X`` with ``estimator.transform`` (a :class:`PerceptualVAE`, a
    Pipeline ending in one, or any transformer), groups the rows by ``y`` and compares the
    embedding with ``ratings``. Greater is always better (the KL is negated), so it can be
    given directly as ``scoring=`` to :class:`~sklearn.model_selection.GridSearchCV`.

    Parameters
    ----------
    ratings : Ratings, pandas.DataFrame or (matrix, labels)
        Labelled dissimilarities. They are closed over by the scorer, so cross-validation
        never slices them; rows are matched to them through the labels in ``y``.
    metric : str, default="spearman"
        - ``"spearman"``, ``"pearson"``: :func:`centroid_correlation`;
        - ``"kl"``: minus :func:`latent_kl_divergence` over the rows;
        - ``"mantel"``: the Mantel statistic of centroid distances vs ratings;
        - ``"anchor_spearman"``, ``"triplet_agreement"``, ``"retrieval_ndcg"``: the
          per-anchor metric on class-centroid distances.
    distance : str, default="euclidean"
        Latent distance between centroids (:func:`scipy.spatial.distance.cdist` metric).
    missing : {"ignore", "raise"}, default="ignore"
        Rows of classes absent from ``ratings`` are ignored, or raise.
    **metric_params
        Passed to the metric function (e.g. ``margin=0.2``, ``sigma=0.5``, ``k=5``).

    Returns
    -------
    scorer : PerceptualScorer
        Callable ``scorer(estimator, X, y)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from perceptual_timbre.metrics import make_perceptual_scorer
    >>> from perceptual_timbre.utils import Ratings
    >>> r = Ratings([[0, 1, 3], [1, 0, 2], [3, 2, 0]], ["a", "b", "c"])
    >>> X = np.array([[0, 0.0], [0.1, 0], [1, 0], [1.1, 0], [3, 0], [3.1, 0]])
    >>> y = ["a", "a", "b", "b", "c", "c"]
    >>> scorer = make_perceptual_scorer(r, metric="spearman")
    >>> round(scorer(PCA(n_components=1).fit(X), X, y), 3)
    1.0
    """
    if metric not in _SCORER_METRICS:
        raise ParameterError(f"metric must be one of {list(_SCORER_METRICS)}, got {metric!r}.")
    _check_missing(missing)
    if isinstance(ratings, np.ndarray) or isinstance(ratings, list):
        raise ParameterError(
            "make_perceptual_scorer needs labelled ratings (Ratings(matrix, labels), a "
            "labelled DataFrame or a (matrix, labels) tuple): a plain array cannot be matched "
            "to the labels of a cross-validation fold."
        )
    ratings = _check_ratings(ratings)
    return PerceptualScorer(ratings, metric, distance=distance, missing=missing,
                            metric_params=metric_params or None)
