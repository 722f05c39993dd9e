"""Place whole sounds in a fitted timbre space and read off predicted dissimilarities.

A timbre space is usually fitted on spectral frames, but listeners compare whole sounds.
:func:`embed_sounds` maps each sound, whatever its length, to one latent point (the mean of
its frames' latent points, as every tool of the package encodes a sound: see
``perceptual_timbre._space``), so new sounds can be placed in the space and
:func:`predicted_dissimilarity` gives the matrix to compare with ratings (see
:mod:`perceptual_timbre.metrics`). For a VAE space both also say how sure they are:
``embed_sounds(..., return_std=True)`` gives each sound's posterior spread and
``predicted_dissimilarity(..., return_interval=True)`` an interval for every distance from
posterior samples.

That posterior is the encoder's precision for one input (aleatoric, set by the trade-off
between reconstruction and the KL prior), not uncertainty about the model: its intervals do
not shrink as the space is fitted on more sounds. For that (epistemic) part, fit a
:class:`~perceptual_timbre.SpaceEnsemble` (several seeds, optionally bootstrap resamples of
the sounds) and pass it to :func:`predicted_dissimilarity`, which pools the members'
distances and posterior draws; what each interval measures, with numbers from
``benchmarks/bench_uncertainty.py``, is in the user guide (:ref:`uncertainty`).
"""

import numbers

import numpy as np
from scipy.spatial.distance import pdist, squareform
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state

from ._space import _AGGREGATES, as_space
from .exceptions import ParameterError
from .utils.validation import check_audio, check_sr

__all__ = ["embed_sounds", "predicted_dissimilarity"]


def _space_sr(space):
    """The sample rate a space expects, or None if it does not say."""
    for obj in (space, space[0] if isinstance(space, Pipeline) and len(space) else None):
        if obj is None:
            continue
        for attr in ("sr_", "sr"):
            value = getattr(obj, attr, None)
            if value is not None:
                return value
    return None


def _frame_pipeline(space):
    """True for a Pipeline whose first step turns sounds into per-sound frame arrays."""
    return (
        isinstance(space, Pipeline)
        and len(space) > 0
        and hasattr(space[0], "transform_frames")
    )


def _has_posterior(space):
    """True for a VAE space: a TimbreSpace or a frame Pipeline ending in a VAE."""
    return (_frame_pipeline(space) and len(space) > 1) or hasattr(space, "vae")


def _refuse_ensemble(space):
    """Members of an ensemble have unaligned coordinates: there is no one embedding."""
    from .ensemble import SpaceEnsemble

    if isinstance(space, SpaceEnsemble):
        raise ParameterError(
            "embed_sounds does not take a SpaceEnsemble: its members' latent coordinates are "
            "not aligned (each fit may rotate or flip the space), so neither their mean nor "
            "one member's coordinates is the ensemble's embedding. Use "
            "predicted_dissimilarity(ensemble, sounds, return_interval=True) for pooled "
            "distances, or embed_sounds(ensemble.estimators_[k], sounds) for one member.")


def embed_sounds(space, sounds, sr=22050, *, aggregate="mean", return_std=False,
                 coordinates="perceptual"):
    """One latent point per sound from a fitted timbre space.

    How the space is used, in order:

    1. a VAE space -- a :class:`~perceptual_timbre.TimbreSpace`, or a
       :class:`~sklearn.pipeline.Pipeline` whose first step is a spectral transformer (it
       has ``transform_frames``) and whose last is a VAE -- encodes each sound as every
       synthesis tool does: the mean of its frames' posterior means (the package's one
       definition of encoding a sound; ``perceptual_timbre._space``);
    2. a spectral transformer alone (a one-step Pipeline) gives each sound's mean spectrum;
    3. otherwise the space's ``embed(sounds)`` is used if it has one, else
       ``space.transform(sounds)``, which must return one row per sound (e.g.
       :class:`~perceptual_timbre.baselines.MFCCEmbedding`).

    A VAE with ``perceptual_dims`` (the default :class:`~perceptual_timbre.TimbreSpace`'s)
    gives its perceptual coordinates only, the ones the ratings shaped: the others hold
    what the decoder needs and would blur the distances. Points to decode (latent paths,
    ``render_path``) need all of them: ``coordinates="all"``.

    Parameters
    ----------
    space : fitted estimator or Pipeline
        The timbre space.
    sounds : list of 1-D arrays or array of shape (n_sounds, n_audio_samples)
        Mono sounds at ``sr``, of any lengths (each at least one analysis window).
    sr : int, default=22050
        Sample rate of ``sounds``; must equal the space's ``sr`` when it has one.
    aggregate : {"mean", "median"}, default="mean"
        How the latent points of a sound's frames are pooled (frame pipelines only).
    return_std : bool, default=False
        Also return each sound's posterior spread (VAE spaces only): the root mean square of
        its frames' posterior standard deviations, per latent coordinate. Sounds unlike the
        training data get wider spreads.
    coordinates : {"perceptual", "all"}, default="perceptual"
        ``"perceptual"``: where distances are read (all coordinates unless the VAE has
        ``perceptual_dims``); ``"all"``: the whole latent point, which the space decodes
        (VAE spaces; any other space gives its one embedding either way).

    Returns
    -------
    Z : ndarray of shape (n_sounds, n_components)
    Z_std : ndarray of shape (n_sounds, n_components)
        Only with ``return_std=True``.

    Raises
    ------
    ParameterError
        For a sample rate that differs from the space's, bad audio, an unknown
        ``aggregate``, a space whose ``transform`` does not give one row per sound, or a
        :class:`~perceptual_timbre.SpaceEnsemble` (its members' coordinates are not
        aligned: use :func:`predicted_dissimilarity`, or embed with one member,
        ``ensemble.estimators_[k]``).

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.baselines import MFCCEmbedding
    >>> from perceptual_timbre.embedding import embed_sounds
    >>> t = np.arange(8000) / 22050
    >>> sounds = [np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 220 * t[:5000]) ** 3]
    >>> space = MFCCEmbedding(n_mfcc=8).fit(sounds)
    >>> embed_sounds(space, sounds, sr=22050).shape
    (2, 8)
    """
    _refuse_ensemble(space)
    if coordinates not in ("perceptual", "all"):
        raise ParameterError(
            f"coordinates must be 'perceptual' or 'all', got {coordinates!r}.")
    if aggregate not in _AGGREGATES:
        raise ParameterError(
            f"aggregate must be one of {sorted(_AGGREGATES)}, got {aggregate!r}."
        )
    sr = check_sr(sr)
    space_sr = _space_sr(space)
    if space_sr is not None and check_sr(space_sr, name="the space's sr") != sr:
        raise ParameterError(
            f"sounds are at sr={sr} Hz but the space was built for sr={space_sr} Hz; "
            f"resample them first (librosa.resample(x, orig_sr={sr}, target_sr={space_sr}))."
        )
    sounds = check_audio(sounds, name="sounds")
    n = len(sounds)

    if _has_posterior(space):  # a VAE space: through the one adapter
        adapter = as_space(space)
        k = adapter.perceptual_dims if coordinates == "perceptual" else None
        if return_std:
            Z, Z_std = adapter.encode(sounds, aggregate=aggregate, return_std=True)
            return (np.asarray(Z, dtype=np.float64)[:, :k],
                    np.asarray(Z_std, dtype=np.float64)[:, :k])
        Z = adapter.encode(sounds, aggregate=aggregate)[:, :k]
    elif return_std:
        raise ParameterError(
            f"return_std needs a VAE space (a TimbreSpace or a frame Pipeline ending in a "
            f"VAE); {type(space).__name__} has no posterior.")
    elif _frame_pipeline(space):  # a spectral transformer alone: mean spectra
        Z = np.vstack([_AGGREGATES[aggregate](f, axis=0)
                       for f in space[0].transform_frames(sounds)])
    elif hasattr(space, "embed"):
        Z = space.embed(sounds)
    elif hasattr(space, "transform"):
        Z = space.transform(sounds)
    else:
        raise ParameterError(
            f"space must have embed() or transform(), or be a Pipeline starting with a "
            f"spectral transformer; got {type(space).__name__}."
        )

    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or Z.shape[0] != n:
        raise ParameterError(
            f"the space gave an output of shape {Z.shape} for {n} sounds; it must give one "
            f"row per sound (a frame-level estimator belongs after a spectral transformer "
            f"with transform_frames in a Pipeline)."
        )
    return Z


def _check_n_samples(n_samples):
    if (isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral)
            or n_samples < 2):
        raise ParameterError(f"n_samples must be an int >= 2, got {n_samples!r}.")
    return int(n_samples)


def _check_confidence(confidence):
    if (isinstance(confidence, bool) or not isinstance(confidence, numbers.Real)
            or not 0 < confidence < 1):
        raise ParameterError(f"confidence must be a number in (0, 1), got {confidence!r}.")
    return float(confidence)


def predicted_dissimilarity(space, sounds, sr=22050, *, metric="euclidean", aggregate="mean",
                            return_interval=False, n_samples=200, confidence=0.95,
                            random_state=None):
    """Predicted dissimilarity matrix between sounds: distances between their embeddings.

    Parameters
    ----------
    space : fitted estimator, Pipeline or SpaceEnsemble
        See :func:`embed_sounds`. A fitted :class:`~perceptual_timbre.SpaceEnsemble` pools
        its members: ``D`` is the mean of their distance matrices and the interval is the
        central ``confidence`` range of the draws of all members together (each member
        contributes ``n_samples`` posterior draws as described under ``return_interval``,
        or, without a posterior, its one distance matrix), so it holds both each member's
        posterior spread and the members' disagreement (epistemic uncertainty). Members'
        distances are pooled as they are: the members of a VAE ensemble share one scale,
        set by the KL prior (their mean distances differ by a few percent,
        ``benchmarks/bench_uncertainty.py``).
    sounds : list of 1-D arrays or array of shape (n_sounds, n_audio_samples)
        Mono sounds at ``sr``.
    sr : int, default=22050
        Sample rate of ``sounds``.
    metric : str, default="euclidean"
        Any :func:`scipy.spatial.distance.pdist` metric.
    aggregate : {"mean", "median"}, default="mean"
        See :func:`embed_sounds`.
    return_interval : bool, default=False
        Also return an interval for every distance, from posterior samples (VAE spaces
        only). What is sampled: each sound's latent point is drawn independently from
        ``N(Z[i], diag(Z_std[i] ** 2))``, where ``Z[i]`` is its embedding and ``Z_std[i]``
        its posterior spread from ``embed_sounds(..., return_std=True)`` (the root mean
        square of its frames' posterior standard deviations). That is the encoder's
        uncertainty about *one frame* of the sound, placed at the sound's mean; it is not
        divided by the number of frames (the frames of one sound are not independent
        observations, and a sound's spread must not shrink because it is longer). Each of
        the ``n_samples`` draws gives a distance matrix; the interval is the central
        ``confidence`` range of those distances (e.g. the 2.5 and 97.5 percentiles for
        0.95). Distances between noisy points are biased upward, so for sounds that lie
        close together (relative to their spreads) the interval can lie above ``D``.
    n_samples : int, default=200
        Posterior draws (``return_interval=True`` only).
    confidence : float, default=0.95
        Probability mass of the interval, in (0, 1).
    random_state : int, RandomState instance or None, default=None
        Seeds the draws: the same seed gives the same intervals.

    Returns
    -------
    D : ndarray of shape (n_sounds, n_sounds)
        Symmetric, zero diagonal, in the order of ``sounds``: the distances between the
        embeddings (the posterior means), also with ``return_interval=True``.
    D_lower, D_upper : ndarray of shape (n_sounds, n_sounds)
        Only with ``return_interval=True``: the lower and upper ends of the interval
        (symmetric, zero diagonal).

    Raises
    ------
    ParameterError
        As :func:`embed_sounds`; for ``return_interval`` with a space that has no
        posterior, ``n_samples`` < 2, a ``confidence`` outside (0, 1), or an unfitted
        ``SpaceEnsemble`` (also a :class:`~sklearn.exceptions.NotFittedError`).

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre.baselines import MFCCEmbedding
    >>> from perceptual_timbre.embedding import predicted_dissimilarity
    >>> t = np.arange(8000) / 22050
    >>> sounds = [np.sin(2 * np.pi * f * t) for f in (220, 230, 2000)]
    >>> D = predicted_dissimilarity(MFCCEmbedding().fit(sounds), sounds)
    >>> D.shape, bool(D[0, 1] < D[0, 2])
    ((3, 3), True)

    Intervals from a VAE space (a frame pipeline ending in a
    :class:`~perceptual_timbre.PerceptualVAE`):

    >>> from sklearn.pipeline import Pipeline
    >>> from perceptual_timbre import PerceptualVAE
    >>> from perceptual_timbre.transforms import LogMagnitude, STFTTransformer
    >>> space = Pipeline([("stft", STFTTransformer(n_fft=512, hop_length=256)),
    ...                   ("log", LogMagnitude()),
    ...                   ("vae", PerceptualVAE(latent_dim=2, hidden_layer_sizes=(16,),
    ...                                         max_epochs=5, random_state=0))]).fit(sounds)
    >>> D, lo, hi = predicted_dissimilarity(space, sounds, return_interval=True,
    ...                                     n_samples=100, random_state=0)
    >>> bool(np.all(lo <= hi)), bool(np.all(np.diag(hi) == 0))
    (True, True)
    """
    from .ensemble import SpaceEnsemble, _check_fitted_ensemble

    ensemble = isinstance(space, SpaceEnsemble)
    members = _check_fitted_ensemble(space) if ensemble else [space]
    if return_interval:
        n_samples = _check_n_samples(n_samples)
        confidence = _check_confidence(confidence)
        rng = check_random_state(random_state)
    point, draws = [], []
    for member in members:
        # a lone space needs a posterior for an interval; an ensemble member without one
        # adds its point distances as its one draw
        if return_interval and (not ensemble or _has_posterior(member)):
            d, member_draws = _distance_draws(member, sounds, sr, metric, aggregate,
                                              n_samples, rng)
        else:
            d = pdist(embed_sounds(member, sounds, sr, aggregate=aggregate), metric)
            member_draws = d[None]
        point.append(d)
        draws.append(member_draws)
    D = squareform(np.mean(point, axis=0))
    if not return_interval:
        return D
    return (D,) + _interval(np.concatenate(draws), confidence)


def _distance_draws(space, sounds, sr, metric, aggregate, n_samples, rng):
    """Condensed distances between the embeddings, and between ``n_samples`` posterior
    draws of them: (n_pairs,), (n_samples, n_pairs)."""
    Z, S = embed_sounds(space, sounds, sr, aggregate=aggregate, return_std=True)
    noise = rng.standard_normal((n_samples,) + Z.shape)
    return pdist(Z, metric), np.stack([pdist(Z + S * e, metric) for e in noise])


def _interval(draws, confidence):
    """Central ``confidence`` range of condensed distance draws, as square matrices."""
    tail = 100 * (1 - confidence) / 2
    lower, upper = np.percentile(draws, [tail, 100 - tail], axis=0)
    return squareform(lower), squareform(upper)
