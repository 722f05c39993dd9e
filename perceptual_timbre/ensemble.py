"""Ensembles of timbre spaces: how much the model itself is unsure about a distance.

A VAE's posterior (``embed_sounds(..., return_std=True)``) is the encoder's precision for
one input, set by the trade-off between reconstruction and the KL prior; it does not shrink
as the model sees more sounds (``benchmarks/bench_uncertainty.py``). Training the same space
several times, with different seeds (deep ensembles, Lakshminarayanan et al. 2017) and, by
default, each on a bootstrap resample of the sounds, and looking at how far the members
disagree estimates the *epistemic* part: the uncertainty about the model given the data it
saw. Measured on SoundFont notes, only the bootstrap ensemble's intervals shrink (also
relative to the distances) as the training set grows; see the user guide (:ref:`uncertainty`).

:class:`SpaceEnsemble` fits the members;
:func:`~perceptual_timbre.embedding.predicted_dissimilarity` pools them (mean distance
matrix, interval from every member's posterior draws).
"""

from numbers import Integral

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.ensemble._base import _set_random_states
from sklearn.exceptions import NotFittedError
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import _check_method_params, _num_samples, check_is_fitted

from .exceptions import InvalidParameterError, ParameterError
from .utils.validation import ParamValidationMixin

__all__ = ["SpaceEnsemble"]

# appended to scikit-learn's constraint messages: what to pass instead
_HINTS = {
    "estimator": "Pass an unfitted space with a fit method, e.g. make_timbre_space(...) or "
                 "a Pipeline of a spectral transformer, LogMagnitude and a PerceptualVAE.",
    "n_members": "An ensemble needs at least 2 members to disagree; 5 is the usual choice "
                 "(Lakshminarayanan et al. 2017).",
}


class _EnsembleNotFitted(ParameterError, NotFittedError):
    """An unfitted ensemble was used: both our ParameterError and sklearn's NotFittedError."""


def _check_fitted_ensemble(ensemble):
    """Raise a clear error if ``ensemble`` is not fitted; return its members."""
    try:
        check_is_fitted(ensemble, "estimators_")
    except NotFittedError:
        raise _EnsembleNotFitted(
            f"this {type(ensemble).__name__} is not fitted yet; call "
            f"ensemble.fit(sounds) before predicting dissimilarities with it.") from None
    return ensemble.estimators_


def _fit_member(estimator, X, y, fit_params, seed, bootstrap):
    """Seed every ``random_state`` of a clone, resample the sounds if asked, and fit it."""
    rng = np.random.RandomState(seed)
    _set_random_states(estimator, rng)
    indices = None
    if bootstrap:
        indices = rng.randint(0, _num_samples(X), _num_samples(X))
        # per-sample fit params (len == n_samples) follow the resample; the rest (a Ratings
        # object, options) are passed unchanged
        fit_params = _check_method_params(X, fit_params, indices)
        if sparse.issparse(X):  # some formats (dia, coo) cannot be row-indexed
            X = X.tocsr()
        X = _safe_indexing(X, indices)
        y = None if y is None else _safe_indexing(y, indices)
    return estimator.fit(X, y, **fit_params), indices


class SpaceEnsemble(ParamValidationMixin, BaseEstimator):
    """Several fits of one timbre space, for distances with epistemic uncertainty.

    Each member is a :func:`~sklearn.base.clone` of ``estimator`` whose every
    ``random_state`` parameter (all those of ``get_params(deep=True)``: the VAE's, a
    transformer's...) is set to its own seed, so the members start from different weights
    and see the data in a different order; with ``bootstrap=True`` each also sees its own
    bootstrap resample of the sounds.
    :func:`~perceptual_timbre.embedding.predicted_dissimilarity` then pools them: the mean
    of the members' distance matrices, and an interval that holds both each member's
    posterior spread and the members' disagreement. Members' latent coordinates are not
    aligned (a rotation or a flip of the space is as good a fit), so only distances are
    pooled:
    :func:`~perceptual_timbre.embed_sounds` refuses an ensemble.

    Parameters
    ----------
    estimator : estimator
        The unfitted space: a :class:`~perceptual_timbre.TimbreSpace` (e.g. from
        :func:`~perceptual_timbre.make_timbre_space`), a
        :class:`~sklearn.pipeline.Pipeline` of a spectral transformer, ``LogMagnitude`` and
        a :class:`~perceptual_timbre.PerceptualVAE`, or any estimator with ``fit``.
        Its own ``random_state`` values are replaced by the members' seeds.
    n_members : int, default=5
        Number of fits (at least 2).
    bootstrap : bool, default=True
        Fit each member on a bootstrap resample of the sounds (drawn with replacement, as
        many as given); False: every member sees every sound and only the seeds differ.
        The default because only resampling makes the members' disagreement follow how
        many sounds the space saw: on SoundFont notes (``benchmarks/bench_uncertainty.py``)
        the pooled interval, relative to the distance, shrinks from 12 to 120 training
        notes with ``bootstrap=True`` and not with seeds alone. Per-sample arguments
        follow the resample: ``y`` and every fit parameter that is array-like with one
        entry per sound (e.g. ``pitch``) are sliced
        with the same indices (``sklearn.utils._safe_indexing``); the others, such as a
        :class:`~perceptual_timbre.utils.validation.Ratings` ``dissimilarity``, are passed
        unchanged. A raw square matrix with as many rows as there are sounds would be
        sliced too: pass ratings as a ``Ratings`` object.
    random_state : int, RandomState instance or None, default=None
        Draws one seed per member (and its bootstrap sample): the same value gives the same
        members.
    n_jobs : int or None, default=None
        Members fitted in parallel with joblib (None: 1 unless in a
        :func:`joblib.parallel_backend` context; -1: all processors). Each member's torch
        fit uses its own threads: on a small machine, keep 1.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members.
    seeds_ : ndarray of shape (n_members,)
        The seed each member was built from.
    bootstrap_indices_ : list of ndarray or None
        With ``bootstrap=True``, the training sounds (indices into ``X``) of each member.

    See Also
    --------
    perceptual_timbre.embedding.predicted_dissimilarity : pooled distances and intervals.

    Notes
    -----
    What the pooled interval measures, on SoundFont notes
    (``benchmarks/bench_uncertainty.py``): see the user guide section "Uncertainty".

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import Pipeline
    >>> from perceptual_timbre import PerceptualVAE, SpaceEnsemble
    >>> from perceptual_timbre.embedding import predicted_dissimilarity
    >>> from perceptual_timbre.transforms import LogMagnitude, STFTTransformer
    >>> t = np.arange(8000) / 22050
    >>> sounds = [np.sin(2 * np.pi * f * t) * np.exp(-3 * t) for f in (220, 330, 440, 880)]
    >>> space = Pipeline([("stft", STFTTransformer(n_fft=512, hop_length=256)),
    ...                   ("log", LogMagnitude()),
    ...                   ("vae", PerceptualVAE(latent_dim=2, hidden_layer_sizes=(8,),
    ...                                         max_epochs=3))])
    >>> ensemble = SpaceEnsemble(space, n_members=3, random_state=0).fit(sounds)
    >>> len(ensemble.estimators_)
    3
    >>> D, lo, hi = predicted_dissimilarity(ensemble, sounds, return_interval=True,
    ...                                     n_samples=50, random_state=0)
    >>> D.shape, bool(np.all(lo <= hi))
    ((4, 4), True)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"])],
        "n_members": [Interval(Integral, 2, None, closed="left")],
        "bootstrap": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, estimator, *, n_members=5, bootstrap=True, random_state=None,
                 n_jobs=None):
        self.estimator = estimator
        self.n_members = n_members
        self.bootstrap = bootstrap
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _validate_params(self):
        try:
            super()._validate_params()
        except ParameterError as exc:
            hint = next((h for p, h in _HINTS.items() if f"'{p}' parameter" in str(exc)), None)
            if hint is None:
                raise
            raise InvalidParameterError(f"{exc} {hint}") from None

    # the members' own parameters are validated by their fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **fit_params):
        """Fit ``n_members`` clones of ``estimator``, each with its own seed.

        Parameters
        ----------
        X : list of 1-D arrays or array-like of shape (n_sounds, ...)
            The training data of ``estimator`` (sounds for a timbre space).
        y : array-like of shape (n_sounds,), default=None
            Passed to every member's ``fit`` (resampled with ``bootstrap=True``).
        **fit_params : dict
            Passed to every member's ``fit`` (e.g. ``dissimilarity=Ratings(...)`` for a
            ``TimbreSpace``, ``vae__dissimilarity=...`` for a Pipeline). With
            ``bootstrap=True``, those with one entry per sound are resampled with the
            sounds; see ``bootstrap``.

        Returns
        -------
        self : SpaceEnsemble
        """
        seeds = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=self.n_members)
        fitted = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_member)(clone(self.estimator), X, y, fit_params, seed,
                                 self.bootstrap)
            for seed in seeds)
        self.estimators_ = [est for est, _ in fitted]
        self.bootstrap_indices_ = [idx for _, idx in fitted] if self.bootstrap else None
        self.seeds_ = seeds
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(self.estimators_[0], attr):
                setattr(self, attr, getattr(self.estimators_[0], attr))
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags
