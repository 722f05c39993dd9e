"""Training diagnostics of a fitted timbre space: loss history and active latent units.

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
"""

import numpy as np

from .exceptions import NotFittedError, ParameterError

__all__ = ["ACTIVE_UNIT_THRESHOLD", "active_units", "plot_training_history",
           "training_history"]

#: Variance of a latent unit's posterior mean across the data above which it counts as
#: active (Burda, Grosse & Salakhutdinov 2016, "Importance weighted autoencoders"). A unit
#: that the encoder ignores has a posterior equal to the prior for every input, so its mean
#: does not vary; a used unit's mean varies on the scale of the prior's unit variance.
ACTIVE_UNIT_THRESHOLD = 0.01

_TERMS = ("loss", "recon", "kl", "reg", "val_loss")


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
        ax.set_title(term)
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("nats per frame")
    axes[0].figure.tight_layout()
    return axes
