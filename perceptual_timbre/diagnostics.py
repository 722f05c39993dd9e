"""Training diagnostics of a fitted timbre space: loss history, KL per latent dimension and
active latent units (:func:`diagnostics` gathers them).

Built only on the estimators' public surface (``history_`` and ``transform``), so it works
with :class:`~perceptual_timbre.PerceptualVAE` and with any estimator that keeps a
per-epoch history as a list of dicts (scikit-learn / skorch style).

The loss terms of :class:`~perceptual_timbre.PerceptualVAE`, per training row (frame) and
averaged over each epoch, in nats (natural-log units):

``recon``
    Negative Gaussian log-likelihood of the (internally standardized) frame under the
    decoder, ``-log N(x | mean, scale**2)`` summed over features. It is a *density*, so it
    can be negative: each feature contributes ``log(scale) + 0.5 log(2 pi) + 0.5 z**2``,
    below zero as soon as the learned ``scale`` is under about 0.4 standardized units and
    the frame is well reconstructed. A negative value is a good fit, not a bug; lower is
    better, and only differences between epochs (or models on the same data) mean something.
``kl``
    KL divergence of the posterior ``q(z | x)`` from the prior ``N(0, I)``, summed over
    latent dimensions (>= 0).
``reg``
    The perceptual regularizer (>= 0; 0 without ratings or during pre-training).
``loss``
    ``recon + beta * kl + alpha * c * reg`` with that epoch's ``beta`` (warm-up) and
    ``alpha`` (0 during pre-training), ``c`` a fixed scale set by the regularizer.
``val_loss``
    The same on the validation rows (early stopping only), else None.
``agreement``
    Not a loss: the perceptual agreement at the end of the epoch, the Spearman correlation
    between the rated classes' latent distances (each class at the mean posterior mean of
    its rows) and the target distances (the ratings; for a
    :class:`~perceptual_timbre.TimbreSpace`, the teacher's distances merged with the
    ratings). None when the fit had no target (no ratings, ``alpha=0``, or the "prior"
    regularizer).
"""

import numpy as np

from .exceptions import NotFittedError, ParameterError
from .utils.validation import check_audio

__all__ = ["ACTIVE_UNIT_THRESHOLD", "KL_ACTIVE_THRESHOLD", "active_units", "diagnostics",
           "kl_per_dimension", "plot_training_history", "training_history"]

#: Variance of a latent unit's posterior mean across the data above which it counts as
#: active (Burda, Grosse & Salakhutdinov 2016, "Importance weighted autoencoders"). A unit
#: that the encoder ignores has a posterior equal to the prior for every input, so its mean
#: does not vary; a used unit's mean varies on the scale of the prior's unit variance.
ACTIVE_UNIT_THRESHOLD = 0.01

#: Mean KL divergence (nats per row) of a latent unit's posterior from the prior ``N(0, 1)``
#: above which :func:`diagnostics` counts the unit as active. A unit the encoder ignores has
#: a posterior equal to the prior for every input (KL 0); a unit that carries information
#: pays for it in KL, typically tenths of a nat to several nats per row. 0.01 nats is the
#: usual cut-off for "posterior collapse" (the same scale as
#: :data:`ACTIVE_UNIT_THRESHOLD`: a unit whose mean varies with variance ``v`` and whose
#: spread stays at the prior's costs about ``v / 2`` nats).
KL_ACTIVE_THRESHOLD = 0.01

_TERMS = ("loss", "recon", "kl", "reg", "val_loss", "agreement")


def _history(estimator_or_history):
    history = getattr(estimator_or_history, "history_", estimator_or_history)
    if history is estimator_or_history and hasattr(estimator_or_history, "get_params"):
        raise NotFittedError(
            f"{type(estimator_or_history).__name__} has no history_: fit it first."
        )
    if not isinstance(history, (list, tuple)) or not all(isinstance(h, dict) for h in history):
        raise ParameterError(
            "expected a fitted estimator with a history_ or a list of per-epoch dicts, got "
            f"{type(history).__name__}."
        )
    if not history:
        raise ParameterError("the training history is empty (no epoch was run).")
    return list(history)


def training_history(estimator):
    """The per-epoch training history as a DataFrame (one row per epoch).

    Parameters
    ----------
    estimator : fitted estimator with ``history_``, or list of dict

    Returns
    -------
    history : pandas.DataFrame
        Indexed by ``epoch`` (1-based), with the loss terms (see the module docstring for
        their signs and units) and the schedule (``beta``, ``alpha``, ``stage``, ``time``).

    Examples
    --------
    >>> from perceptual_timbre.diagnostics import training_history
    >>> h = training_history([{"epoch": 1, "loss": 3.0, "recon": -2.0, "kl": 5.0},
    ...                       {"epoch": 2, "loss": 1.0, "recon": -4.0, "kl": 5.0}])
    >>> h["recon"].tolist()
    [-2.0, -4.0]
    """
    import pandas as pd

    frame = pd.DataFrame(_history(estimator))
    if "epoch" not in frame:
        frame["epoch"] = np.arange(1, len(frame) + 1)
    return frame.set_index("epoch")


def active_units(estimator, X, *, threshold=ACTIVE_UNIT_THRESHOLD, **transform_params):
    """Latent dimensions that a fitted VAE actually uses.

    A unit is *active* when the variance, across the sounds or frames in ``X``, of its
    posterior mean (``estimator.transform(X)``) exceeds ``threshold`` (Burda et al. 2016).
    Inactive units have collapsed to the prior: the decoder ignores them and they carry no
    timbre; a space with few active units has a smaller effective dimension than its
    ``latent_dim``.

    Parameters
    ----------
    estimator : fitted transformer
        E.g. :class:`~perceptual_timbre.PerceptualVAE`, whose ``transform`` returns the
        posterior means.
    X : array-like
        Data to measure on (the training frames, or held-out ones).
    threshold : float, default=0.01
        See :data:`ACTIVE_UNIT_THRESHOLD`.
    **transform_params
        Passed to ``transform`` (e.g. ``side=`` for a space with a side input).

    Returns
    -------
    result : sklearn.utils.Bunch
        ``variance`` (per unit), ``active`` (bool per unit), ``n_active`` and
        ``threshold``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from perceptual_timbre.diagnostics import active_units
    >>> X = np.random.default_rng(0).normal(size=(200, 3)) * [1.0, 0.5, 0.01]
    >>> active_units(PCA(3).fit(X), X).active.tolist()
    [True, True, False]
    """
    from sklearn.utils import Bunch

    if not (isinstance(threshold, (int, float)) and threshold >= 0):
        raise ParameterError(f"threshold must be a number >= 0, got {threshold!r}.")
    Z = np.asarray(estimator.transform(X, **transform_params), dtype=float)
    if Z.ndim != 2 or Z.shape[0] < 2:
        raise ParameterError(
            f"active_units needs at least 2 rows of latents to measure a variance; "
            f"transform gave shape {Z.shape}."
        )
    var = Z.var(axis=0)
    active = var > threshold
    return Bunch(variance=var, active=active, n_active=int(active.sum()),
                 threshold=float(threshold))


def _vae_of(estimator):
    """The VAE inside a fitted space (itself, a Pipeline's last step, a TimbreSpace's vae_)."""
    if hasattr(estimator, "steps"):
        return estimator.steps[-1][1]
    if hasattr(estimator, "vae_"):
        return estimator.vae_
    return estimator


def _posterior(estimator, X, **transform_params):
    """Posterior means and standard deviations of the rows the VAE sees for ``X``."""
    vae = _vae_of(estimator)
    if hasattr(estimator, "steps"):  # a Pipeline: X goes through every step but the VAE
        rows = estimator[:-1].transform(X) if len(estimator) > 1 else X
        out = vae.transform(rows, return_std=True, **transform_params)
    elif hasattr(estimator, "_frames_and_side"):  # a TimbreSpace: the frames it encodes
        # (frames, owner, side[, pitch]): the rows, side input and pitch its transform uses
        parts = estimator._frames_and_side(check_audio(X, name="X"), **transform_params)
        extra = {"pitch": parts[3]} if len(parts) > 3 and parts[3] is not None else {}
        out = vae.transform(parts[0], side=parts[2], return_std=True, **extra)
    else:
        try:
            out = vae.transform(X, return_std=True, **transform_params)
        except TypeError:
            raise ParameterError(
                f"{type(vae).__name__}.transform has no return_std: a KL per dimension needs a "
                f"VAE (a PerceptualVAE, a Pipeline ending in one, or a TimbreSpace)."
            ) from None
    Z, S = (np.asarray(a, dtype=float) for a in out)
    if Z.ndim != 2 or Z.shape[0] < 1:
        raise ParameterError(f"the VAE gave latents of shape {Z.shape}; need rows.")
    return Z, S


def kl_per_dimension(estimator, X, **transform_params):
    """Mean KL divergence of each latent unit's posterior from the prior, in nats per row.

    For a diagonal Gaussian posterior ``N(mu, s**2)`` and the prior ``N(0, 1)``, unit ``k``
    of row ``x`` costs ``0.5 * (mu_k**2 + s_k**2 - 1 - log s_k**2)``; the result is its
    mean over the rows the VAE sees for ``X`` (the frames of the sounds for a Pipeline or a
    :class:`~perceptual_timbre.TimbreSpace`). Summed over the units it is the ``kl`` term
    of the training loss on those rows.

    Parameters
    ----------
    estimator : fitted PerceptualVAE, Pipeline ending in one, or TimbreSpace
    X : array-like
        What the estimator's ``transform`` takes: feature rows for a VAE, sounds for a
        Pipeline or a TimbreSpace.
    **transform_params
        Passed to the VAE's ``transform`` (e.g. ``side=``), or to the TimbreSpace's
        frame extraction (e.g. ``pitch=``).

    Returns
    -------
    kl : ndarray of shape (latent_dim,)
    """
    return _kl(*_posterior(estimator, X, **transform_params))


def _kl(Z, S):
    S = np.maximum(S, 1e-12)
    return np.mean(0.5 * (Z**2 + S**2 - 1.0 - 2.0 * np.log(S)), axis=0)


def diagnostics(estimator, X=None, *, threshold=KL_ACTIVE_THRESHOLD, **transform_params):
    """Training diagnostics of a fitted timbre space in one place.

    Parameters
    ----------
    estimator : fitted PerceptualVAE, Pipeline ending in one, or TimbreSpace
        Anything that keeps a ``history_`` (for a Pipeline, its last step; for a
        :class:`~perceptual_timbre.TimbreSpace`, its ``vae_``).
    X : array-like, default=None
        Data to measure the latent units on (the training data, or held-out data): feature
        rows for a VAE, sounds for a Pipeline or a TimbreSpace. Without it only the history
        is reported.
    threshold : float, default=0.01
        KL (nats per row) above which a unit is active: see :data:`KL_ACTIVE_THRESHOLD`.
    **transform_params
        Passed to the VAE's ``transform`` (e.g. ``side=``), or to the TimbreSpace's
        frame extraction (e.g. ``pitch=``).

    Returns
    -------
    result : sklearn.utils.Bunch
        Always:

        - ``history``: the per-epoch history (:func:`training_history`; the loss terms'
          signs and units are in this module's docstring: ``recon`` is a negative
          log-density and can be negative);
        - ``terms``: ``{term: ndarray over epochs}`` for each loss term present (``loss``,
          ``recon``, ``kl``, ``reg``, and ``val_loss`` and ``agreement`` when measured);
        - ``final``: ``{term: value}`` at the last epoch.

        With ``X`` also:

        - ``kl_per_dimension``: ndarray (latent_dim,), see :func:`kl_per_dimension`;
        - ``active``, ``n_active``, ``threshold``: the units whose KL exceeds
          ``threshold``, their number, the threshold;
        - ``variance``, ``active_by_variance``: the variance of each unit's posterior mean
          over the rows and the units above :data:`ACTIVE_UNIT_THRESHOLD` (Burda et al.'s
          criterion, :func:`active_units`), for comparison.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre import PerceptualVAE
    >>> from perceptual_timbre.diagnostics import diagnostics
    >>> X = np.random.default_rng(0).normal(size=(200, 6))
    >>> vae = PerceptualVAE(latent_dim=3, hidden_layer_sizes=(16,), max_epochs=3,
    ...                     random_state=0).fit(X)
    >>> d = diagnostics(vae, X)
    >>> sorted(d.terms)[:3], d.kl_per_dimension.shape, len(d.history)
    (['kl', 'loss', 'recon'], (3,), 3)
    """
    from sklearn.utils import Bunch

    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0:
        raise ParameterError(f"threshold must be a number >= 0, got {threshold!r}.")
    vae = _vae_of(estimator)
    history = training_history(vae)
    terms = {t: history[t].to_numpy(dtype=float) for t in _TERMS
             if t in history and history[t].notna().any()}
    result = Bunch(history=history, terms=terms,
                   final={t: float(v[-1]) for t, v in terms.items()})
    if X is None:
        return result
    Z, S = _posterior(estimator, X, **transform_params)
    kl = _kl(Z, S)
    var = Z.var(axis=0)
    active = kl > threshold
    result.update(kl_per_dimension=kl, active=active, n_active=int(active.sum()),
                  threshold=float(threshold), variance=var,
                  active_by_variance=var > ACTIVE_UNIT_THRESHOLD)
    return result


def plot_training_history(estimator_or_history, *, terms=None, axes=None):
    """One panel per loss term over the epochs (training and, if any, validation).

    Parameters
    ----------
    estimator_or_history : fitted estimator with ``history_``, or list of dict
    terms : list of str, default=None
        Terms to draw; default: those of ``loss``, ``recon``, ``kl``, ``reg`` present.
    axes : array of matplotlib Axes, default=None
        One per term; a new figure by default.

    Returns
    -------
    axes : ndarray of matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from perceptual_timbre.diagnostics import plot_training_history
    >>> history = [{"epoch": e, "loss": 10 / e, "recon": -e, "kl": 2.0, "reg": 0.0,
    ...             "val_loss": None} for e in range(1, 6)]
    >>> [ax.get_title() for ax in plot_training_history(history)]
    ['loss', 'recon', 'kl', 'reg']
    """
    from .plotting import _pyplot

    h = training_history(estimator_or_history)
    if terms is None:
        terms = [t for t in _TERMS[:4] if t in h]
        if "agreement" in h and h["agreement"].notna().any():
            terms.append("agreement")
    missing = [t for t in terms if t not in h]
    if missing:
        raise ParameterError(f"the history has no {missing}; it has {list(h.columns)}.")
    if axes is None:
        plt = _pyplot()
        _, axes = plt.subplots(1, len(terms), figsize=(3.2 * len(terms), 2.8), squeeze=False)
        axes = axes[0]
    axes = np.atleast_1d(axes)
    if len(axes) != len(terms):
        raise ParameterError(f"got {len(axes)} axes for {len(terms)} terms.")
    epochs = h.index.to_numpy()
    for ax, term in zip(axes, terms):
        ax.plot(epochs, h[term].to_numpy(dtype=float), label="train")
        if term == "loss" and "val_loss" in h and h["val_loss"].notna().any():
            ax.plot(epochs, h["val_loss"].to_numpy(dtype=float), label="validation")
            ax.legend(fontsize=7)
        if term == "recon" and (h[term] < 0).any():
            ax.axhline(0, color="gray", lw=0.6, ls=":")
        ax.set_title("agreement (Spearman)" if term == "agreement" else term)
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("nats per frame")
    axes[0].figure.tight_layout()
    return axes
