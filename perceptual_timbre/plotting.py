"""Plotting helpers (matplotlib, imported lazily): timbre spaces, descriptor maps, paths.

Every function takes an optional ``ax`` and returns the axes it drew on, like
``umap.plot.points``.
"""

import numpy as np

from .exceptions import ParameterError

__all__ = ["plot_descriptor_curves", "plot_descriptor_map", "plot_spectrogram",
           "plot_timbre_space"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a dependency
        raise ImportError(
            "plotting needs matplotlib: pip install 'perceptual_timbre[plot]'"
        ) from exc
    return plt


def _axes(ax, projection=None):
    if ax is not None:
        return ax
    plt = _pyplot()
    fig = plt.figure(figsize=(6, 5))
    return fig.add_subplot(111, projection=projection)


def _latents_and_labels(Z_or_estimator, labels):
    obj = Z_or_estimator
    for attr in ("latents_", "embedding_"):
        if hasattr(obj, attr):
            if labels is None:
                labels = getattr(obj, "labels_", None)
            obj = getattr(obj, attr)
            break
    else:
        if hasattr(obj, "fit") and not hasattr(obj, "__array__"):
            raise ParameterError(
                f"{type(obj).__name__} keeps no latents (latents_ or embedding_); pass "
                f"Z = estimator.transform(X) instead."
            )
    Z = np.asarray(obj, dtype=float)
    if Z.ndim != 2 or Z.shape[0] < 1 or not np.all(np.isfinite(Z)):
        raise ParameterError(f"Z must be a finite 2-D array of latents, got shape {Z.shape}.")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (Z.shape[0],):
            raise ParameterError(
                f"labels must have one entry per latent ({Z.shape[0]}), got {labels.shape}."
            )
    return Z, labels


def plot_timbre_space(Z_or_estimator, labels=None, *, ax=None, n_components=2,
                      show_centroids=True, s=20, std=None, n_std=1.0):
    """Scatter plot of a timbre space, coloured by label.

    Parameters
    ----------
    Z_or_estimator : array-like of shape (n_sounds, latent_dim) or fitted estimator
        Latents, or an estimator that keeps them (``latents_``, e.g. a fitted
        :class:`~perceptual_timbre.DescriptorPathSynthesizer`, whose ``labels_`` are then
        used by default).
    labels : array-like of shape (n_sounds,), default=None
        Class of every point (e.g. instrument).
    ax : matplotlib Axes, default=None
        Axes to draw on (3-D axes for ``n_components=3``); a new figure by default.
    n_components : {2, 3}, default=2
        Latents with more dimensions are projected on their first principal axes.
    show_centroids : bool, default=True
        Annotate every class at its centroid.
    s : float, default=20
        Marker size.
    std : array-like of shape (n_sounds, latent_dim), default=None
        Posterior standard deviation of every latent coordinate (e.g. from
        ``embed_sounds(space, sounds, return_std=True)``): an uncertainty ellipse is drawn
        around every point (2-D plots only). The posterior is a Gaussian with a diagonal
        covariance ``diag(std ** 2)``, so in latent coordinates the ellipses are
        axis-aligned with half-axes ``n_std * std`` in the two plotted dimensions. When the
        latents are projected on principal axes, the covariance is projected with them,
        ``P diag(std ** 2) P.T`` (``P`` the 2 x latent_dim projection), and its ellipse is
        drawn: tilted when the principal axes mix coordinates with unequal spreads.
    n_std : float, default=1.0
        Half-axes of the ellipses in standard deviations (2.45 holds 95 % of a 2-D
        Gaussian's mass).

    Returns
    -------
    ax : matplotlib Axes
        With one :class:`matplotlib.patches.Ellipse` per point in ``ax.patches`` when
        ``std`` is given.

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from perceptual_timbre.plotting import plot_timbre_space
    >>> Z = np.random.default_rng(0).normal(size=(20, 4))
    >>> ax = plot_timbre_space(Z, labels=["a", "b"] * 10)
    >>> len(ax.collections)
    2
    >>> ax = plot_timbre_space(Z, labels=["a", "b"] * 10, std=np.full((20, 4), 0.1))
    >>> len(ax.patches)
    20
    """
    Z, labels = _latents_and_labels(Z_or_estimator, labels)
    if n_components not in (2, 3):
        raise ParameterError(f"n_components must be 2 or 3, got {n_components!r}.")
    if std is not None:
        std = _check_std(std, Z.shape, n_components, n_std)
    if Z.shape[1] > n_components:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=n_components).fit(Z)
        P = pca.transform(Z)
        projection = pca.components_  # (n_components, latent_dim)
        axis_name = "PC"
    else:
        P = np.pad(Z, ((0, 0), (0, n_components - Z.shape[1])))
        projection = np.eye(n_components, Z.shape[1])
        axis_name = "z"
    ax = _axes(ax, "3d" if n_components == 3 else None)
    groups = [(None, np.ones(len(P), bool))] if labels is None else [
        (c, labels == c) for c in np.unique(labels)
    ]
    cmap = _pyplot().get_cmap("tab20" if len(groups) > 10 else "tab10")
    for i, (label, mask) in enumerate(groups):
        ax.scatter(*P[mask].T, s=s, color=cmap(i % cmap.N), label=None if label is None
                   else str(label), alpha=0.8)
        if show_centroids and label is not None:
            ax.text(*P[mask].mean(axis=0), str(label), fontsize=8, ha="center", va="bottom")
        if std is not None:
            _ellipses(ax, P[mask], std[mask], projection, n_std, cmap(i % cmap.N))
    ax.set_xlabel(f"{axis_name}1")
    ax.set_ylabel(f"{axis_name}2")
    if n_components == 3:
        ax.set_zlabel(f"{axis_name}3")
    if labels is not None and len(groups) <= 20:
        ax.legend(fontsize=7, markerscale=0.8, loc="best")
    if std is not None:
        ax.autoscale_view()
    return ax


def _check_std(std, shape, n_components, n_std):
    try:
        std = np.asarray(std, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"std must be an array of standard deviations: {exc}") from None
    if std.shape != shape:
        raise ParameterError(
            f"std must have the shape of the latents {shape} (one standard deviation per "
            f"latent coordinate), got {std.shape}."
        )
    if not np.all(np.isfinite(std)) or np.any(std < 0):
        raise ParameterError("std must be finite and >= 0.")
    if n_components != 2:
        raise ParameterError("uncertainty ellipses (std=...) are drawn in 2-D plots only; "
                             f"got n_components={n_components!r}.")
    if isinstance(n_std, bool) or not isinstance(n_std, (int, float)) or not n_std > 0:
        raise ParameterError(f"n_std must be a number > 0, got {n_std!r}.")
    return std


def _ellipses(ax, P, std, projection, n_std, color):
    """One ellipse per point: the projected posterior covariance ``A diag(s**2) A.T``."""
    from matplotlib.patches import Ellipse

    for p, sd in zip(P, std):
        cov = (projection * sd**2) @ projection.T
        vals, vecs = np.linalg.eigh(cov)  # ascending
        vals = np.clip(vals, 0, None)
        angle = np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1]))
        ax.add_patch(Ellipse(p, width=2 * n_std * np.sqrt(vals[1]),
                             height=2 * n_std * np.sqrt(vals[0]), angle=angle,
                             facecolor=color, edgecolor=color, alpha=0.15, lw=0.6))


def plot_descriptor_map(dmap, name=None, *, ax=None, show_points=True, cmap="viridis",
                        colorbar=True):
    """Image of a descriptor over a latent plane (a :class:`DescriptorMap`).

    Parameters
    ----------
    dmap : perceptual_timbre.descriptors.DescriptorMap
        From :func:`perceptual_timbre.descriptors.descriptor_map`; for a 3-D map the middle
        slice along the third axis is shown.
    name : str, default=None
        Descriptor to show; the first of the map by default.
    ax : matplotlib Axes, default=None
    show_points : bool, default=True
        Overlay the latents the plane was built from (coloured by label when known).
    cmap : str, default="viridis"
    colorbar : bool, default=True

    Returns
    -------
    ax : matplotlib Axes
    """
    from .descriptors import DescriptorMap

    if not isinstance(dmap, DescriptorMap):
        raise ParameterError(
            f"dmap must be a DescriptorMap (from descriptor_map), got {type(dmap).__name__}."
        )
    name = dmap.names[0] if name is None else name
    if name not in dmap.names:
        raise ParameterError(f"{name!r} is not in this map; it has {dmap.names}.")
    grid = dmap[name]
    if grid.ndim == 3:
        grid = grid[:, :, grid.shape[2] // 2]
    ax = _axes(ax)
    x, y = dmap.coords[0], dmap.coords[1]
    im = ax.imshow(grid.T, origin="lower", aspect="auto", cmap=cmap,
                   extent=(x[0], x[-1], y[0], y[-1]))
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label=name)
    if show_points and dmap.projected is not None:
        P = dmap.projected
        if dmap.labels is None:
            ax.scatter(P[:, 0], P[:, 1], s=8, c="w", edgecolors="k", linewidths=0.3)
        else:
            for label in np.unique(dmap.labels):
                m = dmap.labels == label
                ax.scatter(P[m, 0], P[m, 1], s=10, edgecolors="k", linewidths=0.3)
                ax.text(P[m, 0].mean(), P[m, 1].mean(), str(label), fontsize=7, color="w")
    ax.set_xlabel("axis 1")
    ax.set_ylabel("axis 2")
    ax.set_title(name)
    return ax


def plot_descriptor_curves(result, *, measured=None, ax=None):
    """Target vs achieved descriptor curves of a descriptor-guided synthesis.

    Parameters
    ----------
    result : Bunch
        From :meth:`DescriptorPathSynthesizer.synthesize` (``target``, ``achieved``,
        ``descriptors``).
    measured : ndarray of shape (n_steps, n_descriptors), default=None
        The descriptors re-analysed on the audio (e.g. with
        :func:`perceptual_timbre.descriptors.audio_descriptors`), drawn too.
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax)
    T, A = np.asarray(result.target), np.asarray(result.achieved)
    steps = np.arange(T.shape[0])
    for k, name in enumerate(result.descriptors):
        line, = ax.plot(steps, T[:, k], "--", label=f"{name} target")
        ax.plot(steps, A[:, k], "-", color=line.get_color(), label=f"{name} decoded frames")
        if measured is not None:
            ax.plot(steps, np.asarray(measured)[:, k], ":", color=line.get_color(),
                    label=f"{name} re-analysed audio")
    ax.set_xlabel("path step")
    ax.set_ylabel("descriptor value")
    ax.legend(fontsize=7)
    return ax


def plot_spectrogram(audio, sr, *, ax=None, n_fft=2048, hop_length=512):
    """Log-frequency dB spectrogram of a sound (e.g. a rendered latent path).

    Parameters
    ----------
    audio : ndarray of shape (n_audio_samples,)
    sr : int
    ax : matplotlib Axes, default=None
    n_fft, hop_length : int

    Returns
    -------
    ax : matplotlib Axes
    """
    import librosa
    import librosa.display

    from .utils.validation import check_audio, check_sr

    sr = check_sr(sr)
    (audio,) = check_audio([audio], name="audio")
    ax = _axes(ax)
    S = librosa.amplitude_to_db(
        np.abs(librosa.stft(audio, n_fft=n_fft,
                            hop_length=hop_length)), ref=np.max)
    librosa.display.specshow(S, sr=sr, hop_length=hop_length, x_axis="time", y_axis="log",
                             ax=ax)
    return ax
