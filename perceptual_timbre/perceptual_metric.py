"""A perceptual timbre metric learned from several dissimilarity-rating studies at once.

:class:`PerceptualMetric` maps a sound to a point whose Euclidean distances to other sounds'
points follow listeners' dissimilarity ratings. It is deliberately light: sound-level
features (:class:`~perceptual_timbre.descriptors.SoundFeatures`, blocks ``"timbre"``), each
z-scored on the training sounds and each block divided by the square root of its width (equal
total variance per block), projected onto the span of the training sounds (their principal
axes), optionally followed by a linear map pulled back toward that projection while a
per-anchor rank loss fits each study's normalized ratings. With about 200 rated sounds in six
independent families, anything more flexible overfits the families it was trained on.

Regenerate the shipped pretrained metric (fitted on every shared study) with::

    python -m perceptual_timbre.perceptual_metric --regenerate [--data-home DIR]
"""

import json
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .exceptions import ParameterError
from .utils.validation import (
    ParamValidationMixin,
    Ratings,
    check_audio,
    check_dissimilarity,
    check_sr,
)

__all__ = ["PerceptualMetric", "fit_perceptual_metric", "PRETRAINED_PATH"]

#: The shipped metric fitted on all 13 shared studies (JSON text).
PRETRAINED_PATH = Path(__file__).parent / "data" / "pretrained_metric.json"

#: Precision of the shipped map: the whole span of 201 sounds in float16 keeps the file
#: under 500 KB (float32 would take about 600 KB).
PRETRAINED_COMPONENTS_DTYPE = "float16"


def _split_id(stimulus_id):
    s = str(stimulus_id)
    return tuple(s.split("/", 1)) if "/" in s else ("", s)


def _check_studies(dissimilarity):
    """``{study: Ratings labelled by full "Study/name" ids}`` from the accepted inputs."""
    if isinstance(dissimilarity, dict):
        if not dissimilarity:
            raise ParameterError("dissimilarity is an empty dict; give at least one study.")
        out = {}
        for study, r in dissimilarity.items():
            if not isinstance(study, str) or not study or "/" in study:
                raise ParameterError(
                    f"dissimilarity keys must be study names without '/', got {study!r}."
                )
            r = _check_one(r, study)
            labels = [str(v) if str(v).startswith(study + "/") else f"{study}/{v}"
                      for v in r.labels]
            out[study] = Ratings(r.matrix, labels, r.counts)
        return out
    r = _check_one(dissimilarity, "dissimilarity")
    studies = {_split_id(v)[0] for v in r.labels}
    if len(studies) > 1:
        raise ParameterError(
            f"one Ratings object spans several studies ({sorted(studies)[:4]}); ratings of "
            f"different studies are not comparable. Pass a dict study -> Ratings instead."
        )
    return {studies.pop(): r}


def _check_one(r, name):
    if isinstance(r, (Ratings, tuple)) or hasattr(r, "index"):
        try:
            return check_dissimilarity(r)
        except ParameterError as exc:
            raise ParameterError(f"study {name!r}: {exc}") from None
    shape = np.shape(r)
    raise ParameterError(
        f"study {name!r}: ratings must be Ratings(matrix, labels) (or a labelled DataFrame) "
        f"so that cross-validation never slices them; got {type(r).__name__} of shape "
        f"{shape}. A plain array cannot say which sounds it compares."
    )


def _blocks(y, studies):
    """Per study: row indices into ``y``, the normalized sub-matrix and its rated pairs.

    Pairs with ``counts == 0`` (never rated, e.g. a partial listening-test design) are
    marked False in the mask and left out of the normalization, the loss and the score.
    """
    y = np.asarray([str(v) for v in y], dtype=object)
    out = []
    for study, r in studies.items():
        idx = r.index_of(y, missing="ignore")
        rows = np.flatnonzero(idx >= 0)
        if rows.size < 3:
            continue  # an anchor needs two neighbours to rank
        sub = np.ix_(idx[rows], idx[rows])
        M = r.matrix[sub]
        rated = ~np.eye(len(M), dtype=bool)
        if r.counts is not None:
            rated &= r.counts[sub] > 0
        if rated.sum(axis=1).max() < 2:
            continue  # no anchor has two rated neighbours to rank
        out.append((study, rows, M / max(float(M[rated].mean()), 1e-12), rated))
    return out


def _train_map(F, blocks, W0, *, alpha, temperature, max_iter, learning_rate):
    """Fit the linear map ``W`` with a per-anchor pairwise rank loss (RankNet form).

    For anchor ``i`` and neighbours ``j, k`` rated ``r_ij > r_ik``, the loss is
    ``softplus(-(d_ij - d_ik) / temperature)`` weighted by ``r_ij - r_ik``, with ``d``
    divided by its mean within the study (only each study's ORDER of distances counts);
    ``alpha * ||W - W0||^2 / ||W0||^2`` pulls the map back toward its PCA start. Only
    triples whose two pairs ``(i, j)`` and ``(i, k)`` were both rated take part.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        dtype = torch.float64
        W0t = torch.as_tensor(W0, dtype=dtype)
        W = torch.nn.Parameter(W0t.clone())
        data = []
        for _, rows, M, rated in blocks:
            Mt = torch.as_tensor(M, dtype=dtype)
            diff = (Mt[:, :, None] - Mt[:, None, :]).clamp(min=0)
            # the anchor is nobody's neighbour (diagonal unrated), and unrated pairs
            # (counts == 0) order nothing
            rt = torch.as_tensor(rated)
            diff = diff * (rt[:, :, None] & rt[:, None, :])
            if float(diff.sum()) <= 0:
                continue  # every rated neighbour of every anchor is tied
            data.append((torch.as_tensor(F[rows], dtype=dtype), diff / diff.sum()))
        opt = torch.optim.Adam([W], lr=learning_rate)
        norm0 = (W0t**2).sum()
        for _ in range(max_iter):
            opt.zero_grad()
            loss = W.sum() * 0.0
            for x, wgt in data:
                z = x @ W
                d = torch.sqrt(((z[:, None] - z[None]) ** 2).sum(-1) + 1e-12)
                n = d.shape[0]
                d = d / (d.sum() / (n * n - n))
                dd = d[:, :, None] - d[:, None, :]
                loss = loss + (torch.nn.functional.softplus(-dd / temperature) * wgt).sum()
            loss = loss / max(len(data), 1) + alpha * ((W - W0t) ** 2).sum() / norm0
            loss.backward()
            opt.step()
        return W.detach().numpy().copy(), float(loss.detach())


class PerceptualMetric(ParamValidationMixin, TransformerMixin, BaseEstimator):
    """A perceptual timbre metric on raw sounds, learned from dissimilarity-rating studies.

    Sounds become sound-level features
    (:class:`~perceptual_timbre.descriptors.SoundFeatures` with the given ``blocks``). Each
    feature is z-scored on the training sounds and each block divided by the square root of
    its width, so that every block carries the same total variance whatever its number of
    features (times ``block_weights``). A linear map ``W`` then gives the perceptual
    embedding. ``W`` starts at the top ``n_components`` principal axes of the training
    sounds' scaled features (all of them by default: the projection onto the span of the
    training sounds, which drops the directions in which the rated sounds never vary) and,
    when ``max_iter > 0``, is trained with a per-anchor rank loss over each study's ratings
    (each study normalized by its mean rating; a study only compares its own sounds) while
    ``alpha`` pulls it back toward that start.

    Parameters
    ----------
    n_components : int or None, default=None
        Dimension of the perceptual embedding: the top principal axes of the training
        sounds kept. None keeps them all (the whole span of the training sounds); an int
        is capped by that rank.
    alpha : float, default=5.0
        Pull of the map toward its PCA initialization (``alpha * ||W - W0||^2 / ||W0||^2``).
    temperature : float, default=0.3
        Softness of the rank loss, in units of the study's mean predicted distance.
    max_iter : int, default=0
        Full-batch Adam steps of the rank loss (0: no learned map, the projection onto the
        training sounds' principal axes only; see Notes for why that is the default).
    learning_rate : float, default=0.01
        Adam step size.
    blocks : str or sequence of str, default="timbre"
        Feature blocks of ``SoundFeatures`` (a preset or block names).
    block_weights : dict of str -> float, default=None
        Extra weight of some blocks (a multiplier of their scaled features; blocks not
        named keep 1). With the default every block has the same total variance.
    sr : int, default=22050
        Sample rate of the sounds.
    n_jobs : int, default=None
        Workers for the feature extraction (see ``SoundFeatures``).

    Attributes
    ----------
    features_ : SoundFeatures
        The (unstandardized) feature extractor.
    mean_, scale_ : ndarray of shape (n_features,)
        Standardization of the features (the block scaling folded into ``scale_``).
    components_ : ndarray of shape (n_features, n_components_)
        The learned map.
    init_components_ : ndarray of shape (n_features, n_components_)
        Its PCA initialization.
    studies_ : dict of str -> Ratings
        The ratings given to ``fit``, labelled by ``"Study/name"`` ids (used by ``score``).
    n_components_ : int
    loss_ : float
        Final training loss (NaN when ``max_iter=0``).

    Notes
    -----
    The defaults come from leave-one-family-out over the six families of the 13 shared
    studies (``benchmarks/bench_generalization.py``; results in
    ``benchmarks/results/generalization.md``): the learned rank-loss map (``max_iter=300``,
    ``n_components=64``, ``alpha=5``) does not beat the plain projection of the block-scaled
    features onto the training sounds' span on held-out families. Per-anchor Spearman, all
    anchors / the 9 clean studies / mean over the 6 families: 0.444 / 0.631 / 0.525 with the
    map, 0.447 / 0.630 / 0.527 without (differences under 0.02 do not carry to new studies),
    against 0.395 / 0.554 / 0.472 for the former default (original features + map) and
    0.328 / 0.474 / 0.394 for MFCCs. So the default uses no ratings beyond choosing the
    features; the ratings still decide ``score`` and are kept in ``studies_``.


    ``y`` holds one stimulus id per sound, ``"Study/filename"`` (e.g.
    ``"Grey1977/BN.aiff"``), and ``dissimilarity`` is a dict ``study -> Ratings`` (or one
    ``Ratings`` for a single study), passed WHOLE. Cross-validation slices ``X`` and ``y``
    but never a dict or a ``Ratings``; ``fit`` then uses each study's sub-block of the
    training sounds, and ``score`` the sub-block of the test sounds. Never pass an
    ``n_samples``-long array: it would be sliced and no longer say which sounds it compares.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre import PerceptualMetric
    >>> from perceptual_timbre.utils import Ratings
    >>> t = np.arange(4410) / 22050
    >>> sounds = [np.sin(2 * np.pi * f * t) * np.exp(-d * t)
    ...           for f, d in [(220, 2), (230, 2), (880, 40), (900, 40)]]
    >>> ids = ["Toy/a", "Toy/b", "Toy/c", "Toy/d"]
    >>> D = Ratings([[0, 1, 4, 4], [1, 0, 4, 4], [4, 4, 0, 1], [4, 4, 1, 0]], ids)
    >>> metric = PerceptualMetric(n_components=2, max_iter=20).fit(sounds, ids, D)
    >>> metric.transform(sounds).shape
    (4, 2)
    >>> P = metric.pairwise_dissimilarity(sounds)
    >>> bool(P[0, 1] < P[0, 2])
    True
    """

    _parameter_constraints = {
        "n_components": [None, Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "blocks": [str, list, tuple],
        "block_weights": [None, dict],
        "sr": [Interval(Real, 0, None, closed="neither")],
        "n_jobs": [None, Integral],
    }

    def __init__(
        self,
        n_components=None,
        *,
        alpha=5.0,
        temperature=0.3,
        max_iter=0,
        learning_rate=0.01,
        blocks="timbre",
        block_weights=None,
        sr=22050,
        n_jobs=None,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.temperature = temperature
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.blocks = blocks
        self.block_weights = block_weights
        self.sr = sr
        self.n_jobs = n_jobs

    def _extractor(self):
        from .descriptors import SoundFeatures

        return SoundFeatures(sr=check_sr(self.sr), blocks=self.blocks, n_jobs=self.n_jobs)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, dissimilarity):
        """Learn the metric from the rated sounds in ``X``.

        Parameters
        ----------
        X : list of ndarray of shape (n_audio_samples_i,)
            Mono sounds at ``sr`` (unrated sounds still shape the standardization and PCA).
        y : array-like of str of shape (n_sounds,)
            Stimulus id of each sound, ``"Study/filename"``.
        dissimilarity : dict of str -> Ratings, or Ratings
            Ratings per study, labelled by file names (or by full ids); passed whole.
            Pairs whose ``Ratings.counts`` is 0 (not rated, e.g. a partial listening test
            read by :func:`perceptual_timbre.listening.read_responses`) are ignored: they
            neither enter the loss nor the per-study normalization.

        Returns
        -------
        self : PerceptualMetric
        """
        sounds = check_audio(X)
        y = self._check_y(y, len(sounds))
        studies = _check_studies(dissimilarity)
        blocks = _blocks(y, studies)
        if not blocks:
            raise ParameterError(
                f"no study has 3 or more of the given sounds rated; the ids in y (e.g. "
                f"{list(y[:3])}) must match the ratings' labels (e.g. "
                f"{[str(v) for v in next(iter(studies.values())).labels[:3]]})."
            )
        extractor = self._extractor()
        try:
            extractor._check_blocks()
        except ParameterError as exc:
            raise ParameterError(f"PerceptualMetric: {exc}") from None
        weights = self._check_block_weights(extractor)
        self.features_ = extractor.fit(sounds)
        F = self.features_.transform(sounds)
        self.mean_ = F.mean(axis=0)
        std = F.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        self.scale_ = std / self._block_scaling(weights)
        Fs = (F - self.mean_) / self.scale_
        _, sv, Vt = np.linalg.svd(Fs, full_matrices=False)  # Fs is centred: mean_ is F's
        rank = max(int(np.sum(sv > 1e-9 * max(sv[0], 1e-300))), 1)
        k = rank if self.n_components is None else int(min(self.n_components, rank))
        W0 = Vt[:k].T * np.sign(Vt[:k].sum(axis=1))  # sign-fixed: a deterministic start
        self.init_components_ = W0
        if self.max_iter > 0:
            self.components_, self.loss_ = _train_map(
                Fs,
                blocks,
                W0,
                alpha=float(self.alpha),
                temperature=float(self.temperature),
                max_iter=int(self.max_iter),
                learning_rate=float(self.learning_rate),
            )
        else:
            self.components_, self.loss_ = W0.copy(), float("nan")
        self.studies_ = studies
        self.n_components_ = k
        self.n_features_in_ = F.shape[1]
        return self

    def _check_block_weights(self, extractor):
        weights = {} if self.block_weights is None else dict(self.block_weights)
        blocks = extractor._check_blocks()
        for b, v in weights.items():
            if b not in blocks:
                raise ParameterError(
                    f"block_weights names {b!r}, which is not one of the blocks {list(blocks)}."
                )
            if isinstance(v, bool) or not isinstance(v, Real) or not np.isfinite(v) or v <= 0:
                raise ParameterError(
                    f"block_weights[{b!r}] must be a positive number, got {v!r}."
                )
        return weights

    def _block_scaling(self, weights):
        """Per-feature divisor: sqrt(block width) / block weight (equal variance per block)."""
        w = np.empty(self.features_.n_features_out_)
        for b, sl in self.features_.feature_blocks_.items():
            w[sl] = float(weights.get(b, 1.0)) / np.sqrt(sl.stop - sl.start)
        return w

    @staticmethod
    def _check_y(y, n):
        if y is None:
            raise ParameterError(
                'y is required: the stimulus id ("Study/filename") of every sound, matching '
                "the labels of the ratings."
            )
        y = np.asarray(y, dtype=object).ravel()
        if y.size != n:
            raise ParameterError(f"y has {y.size} ids but X has {n} sounds.")
        return np.asarray([str(v) for v in y], dtype=object)

    def transform(self, X):
        """Perceptual embedding of the sounds.

        Parameters
        ----------
        X : list of ndarray of shape (n_audio_samples_i,)
            Mono sounds at ``sr``.

        Returns
        -------
        Z : ndarray of shape (n_sounds, n_components_)
        """
        check_is_fitted(self, "components_")
        F = self.features_.transform(X)
        return ((F - self.mean_) / self.scale_) @ self.components_

    def pairwise_dissimilarity(self, X):
        """Predicted dissimilarity matrix of the sounds (Euclidean, in embedding units).

        Returns
        -------
        D : ndarray of shape (n_sounds, n_sounds)
        """
        from scipy.spatial.distance import pdist, squareform

        return squareform(pdist(self.transform(X)))

    def score(self, X, y, dissimilarity=None, sample_weight=None):
        """Per-anchor Spearman correlation with the ratings, averaged over studies.

        Parameters
        ----------
        X : list of ndarray
            Sounds at ``sr``.
        y : array-like of str of shape (n_sounds,)
            Their stimulus ids.
        dissimilarity : dict of str -> Ratings, or Ratings, default=None
            Ratings to score against; by default those given to ``fit`` (``studies_``),
            which is what cross-validation uses.
        sample_weight : ignored
            Present for model-selection tools that pass it.

        Returns
        -------
        score : float
            Mean over the studies of :func:`perceptual_timbre.metrics.anchor_spearman`.
        """
        from .metrics import anchor_spearman

        check_is_fitted(self, "components_")
        sounds = check_audio(X)
        y = self._check_y(y, len(sounds))
        studies = self.studies_ if dissimilarity is None else _check_studies(dissimilarity)
        blocks = _blocks(y, studies)
        if not blocks:
            raise ParameterError(
                "none of the sounds in y has a rated study with 3 or more of them."
            )
        Z = self.transform(sounds)
        from scipy.spatial.distance import pdist, squareform

        return float(np.mean([anchor_spearman(squareform(pdist(Z[r])), M, rated=m)
                              for _, r, M, m in blocks]))

    # ------------------------------------------------------------------ persistence
    def to_json(self, path=None, *, components_dtype="float32"):
        """The fitted metric as JSON text (no pickle); written to ``path`` if given.

        Arrays are stored as base64 text of little-endian floats (with their shape), which
        keeps the shipped metric small.

        Parameters
        ----------
        path : str or path-like, default=None
            Where to write the text.
        components_dtype : {"float32", "float16"}, default="float32"
            Precision of the stored map. ``"float16"`` halves the file (the shipped metric
            keeps the whole span of its 201 training sounds this way) and moves embedding
            distances by about 1e-3 relative.

        Returns
        -------
        text : str
        """
        check_is_fitted(self, "components_")
        if components_dtype not in ("float32", "float16"):
            raise ParameterError(
                f"components_dtype must be 'float32' or 'float16', got {components_dtype!r}."
            )
        r = _encode_array

        state = {
            "format": "perceptual_timbre.PerceptualMetric/1",
            "params": self.get_params(),
            "features": self.features_.get_params(),
            "mean": r(self.mean_),
            "scale": r(self.scale_),
            "components": r(self.components_, components_dtype),
            "studies": sorted(self.studies_),
            "loss": self.loss_,
        }
        text = json.dumps(state, separators=(",", ":"))
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, source):
        """Load a metric saved by :meth:`to_json` (a path or the JSON text)."""
        from .descriptors import SoundFeatures

        text = source if isinstance(source, str) and source.lstrip().startswith("{") else (
            Path(source).read_text()
        )
        state = json.loads(text)
        if state.get("format") != "perceptual_timbre.PerceptualMetric/1":
            raise ParameterError(f"{source!r} is not a saved PerceptualMetric.")
        known = cls().get_params()
        metric = cls(**{k: v for k, v in state["params"].items() if k in known})
        metric.features_ = SoundFeatures(**state["features"]).fit([np.ones(8)])
        metric.mean_ = _decode_array(state["mean"])
        metric.scale_ = _decode_array(state["scale"])
        metric.components_ = _decode_array(state["components"])
        metric.init_components_ = metric.components_
        metric.studies_ = {}
        metric.n_components_ = metric.components_.shape[1]
        metric.n_features_in_ = metric.mean_.size
        metric.loss_ = state.get("loss")
        metric.trained_on_ = list(state.get("studies", []))
        return metric

    @classmethod
    def pretrained(cls):
        """The metric shipped with the package, fitted on all 13 shared rating studies.

        Needs no data home. Sounds must be mono at 22050 Hz.

        Examples
        --------
        >>> from perceptual_timbre import PerceptualMetric
        >>> metric = PerceptualMetric.pretrained()
        >>> len(metric.trained_on_)
        13
        """
        return cls.from_json(PRETRAINED_PATH)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.requires_fit = True
        return tags


_DTYPES = {"float32": "<f4", "float16": "<f2"}


def _encode_array(a, dtype="float32"):
    import base64

    a = np.ascontiguousarray(a, dtype=_DTYPES[dtype])
    return {"shape": list(a.shape), f"{dtype}_base64": base64.b64encode(a.tobytes()).decode()}


def _decode_array(d):
    import base64

    for dtype, code in _DTYPES.items():
        if f"{dtype}_base64" in d:
            raw = np.frombuffer(base64.b64decode(d[f"{dtype}_base64"]), dtype=code)
            return raw.astype(np.float64).reshape(d["shape"])
    raise ParameterError(f"unknown array encoding {sorted(d)} in a saved PerceptualMetric.")


def _study_data(studies, data_home, sr):
    from .datasets import load_timbre_study

    X, y, ratings = [], [], {}
    for name in studies:
        b = load_timbre_study(name, data_home=data_home, sr=sr)
        X += list(b.audio)
        y += [f"{name}/{n}" for n in b.names]
        ratings[name] = b.ratings
    return X, np.asarray(y, dtype=object), ratings


def fit_perceptual_metric(studies=None, data_home=None, **params):
    """Fit a :class:`PerceptualMetric` on named timbre studies of the data home.

    Parameters
    ----------
    studies : list of str, default=None
        Study names (see :func:`perceptual_timbre.datasets.list_timbre_studies`); all by
        default.
    data_home : str or path-like, default=None
        See :func:`perceptual_timbre.datasets.get_data_home`.
    **params
        Parameters of :class:`PerceptualMetric`.

    Returns
    -------
    metric : PerceptualMetric

    Examples
    --------
    >>> from perceptual_timbre import fit_perceptual_metric
    >>> metric = fit_perceptual_metric(["Patil2012_A3"])  # doctest: +SKIP
    """
    from .datasets import list_timbre_studies

    if studies is None:
        studies = list_timbre_studies(data_home=data_home)
    if isinstance(studies, str):
        studies = [studies]
    metric = PerceptualMetric(**params)
    X, y, ratings = _study_data(list(studies), data_home, check_sr(metric.sr))
    return metric.fit(X, y, ratings)


def _main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m perceptual_timbre.perceptual_metric")
    parser.add_argument("--regenerate", action="store_true",
                        help=f"refit on every shared study and write {PRETRAINED_PATH}")
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--output", default=str(PRETRAINED_PATH))
    args = parser.parse_args(argv)
    if not args.regenerate:
        parser.print_help()
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        metric = fit_perceptual_metric(None, data_home=args.data_home)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    metric.to_json(args.output, components_dtype=PRETRAINED_COMPONENTS_DTYPE)
    size = Path(args.output).stat().st_size
    print(f"wrote {args.output} ({size / 1024:.0f} KB, {len(metric.studies_)} studies)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
