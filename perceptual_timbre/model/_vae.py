"""The :class:`PerceptualVAE` estimator: a VAE whose latent space follows timbre ratings."""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ..exceptions import ParameterError
from ..utils._torch import (
    ModuleStateMixin,
    cpu_threads,
    make_generator,
    resolve_device,
    to_numpy,
    to_tensor,
)
from ..utils.validation import ParamValidationMixin, Ratings, check_dissimilarity
from ._losses import gaussian_log_likelihood, kl_normal
from ._modules import VAEModule
from ._targets import PairTargets
from ._training import Objective, train_module

__all__ = ["PerceptualVAE"]

# mean pairwise distance between the class centres of the "prior" regularizer, in latent
# units: about two prior standard deviations, so classes separate without leaving the prior
_PRIOR_SPREAD = 2.0
# posterior draws per row in score_samples (shared by all rows: order-independent scores)
_SCORE_DRAWS = 8
# below this many multiply-adds per training batch, CPU training uses one thread (measured
# faster for small networks, and much faster on shared cores; see benchmarks/bench_vae.py)
_SMALL_BATCH_MACS = 1e8


def _check_finite(X, name):
    if not np.all(np.isfinite(X)):
        row = int(np.flatnonzero(~np.all(np.isfinite(X), axis=1))[0])
        raise ParameterError(
            f"{name} contains NaN or infinite values (first in row {row}); log-magnitude "
            f"spectra need a floor, e.g. log(S + 1e-6) or librosa.amplitude_to_db."
        )


def _check_pitch_values(pitch, n, name="pitch"):
    """MIDI pitches, one per row: float array of shape (n,), finite, within 0-127."""
    try:
        P = np.asarray(pitch, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must hold numeric MIDI pitches: {exc}") from None
    if P.ndim == 2 and P.shape[1] == 1:
        P = P[:, 0]
    if P.ndim == 0 and n == 1:
        P = P.reshape(1)
    if P.shape != (n,):
        raise ParameterError(
            f"{name} must hold one MIDI pitch per row of X ({n}), got shape {np.shape(pitch)}.")
    if not np.all(np.isfinite(P)):
        raise ParameterError(
            f"{name} contains NaN or infinite values (first at row "
            f"{int(np.flatnonzero(~np.isfinite(P))[0])}).")
    bad = (P < 0) | (P > 127)
    if bad.any():
        raise ParameterError(
            f"{name} must be MIDI pitches within 0-127; row {int(np.flatnonzero(bad)[0])} is "
            f"{P[bad][0]:g} (Hz? convert with librosa.hz_to_midi).")
    return P


def _mds(matrix, n_components, seed):
    from sklearn.manifold import MDS

    mds = MDS(
        n_components=n_components,
        metric="precomputed",
        init="random",  # classical init gives NaN when n_components > positive eigenvalues
        n_init=4,
        normalized_stress="auto",
        random_state=seed,
    )
    return mds.fit_transform(matrix)


class PerceptualVAE(
    ModuleStateMixin,
    ParamValidationMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Variational auto-encoder of spectral frames, regularized by timbre dissimilarity ratings.

    The generative timbre space of Esling, Chemla-Romeu-Santos & Bitton (DAFx 2018): an MLP
    VAE learns a continuous, invertible latent space of spectral frames, and the rated
    dissimilarities between the classes of the frames (instruments, stimuli) organize it.
    The minimized objective, per batch, is::

        -E_q[log N(x | dec(z), sigma^2)] + beta_t * KL(q(z|x) || N(0, I)) + alpha * F * R

    with ``beta_t`` rising linearly to ``beta`` over ``warmup`` epochs, ``F`` the number of
    features (the log-likelihood sums over features, so this keeps the meaning of ``alpha``
    the same for any spectral transform) and ``R`` the perceptual regularizer, computed on
    the posterior means of the batch's rated rows:

    - ``"kl"`` (the paper's Eq. 8-10): KL divergence between a Student-t distribution over
      the target distances of the rows' classes and a Gaussian-kernel distribution over
      their latent distances;
    - ``"l2"``: squared difference of latent and target distances, each divided by its
      batch mean;
    - ``"prior"``: a class-conditional prior, a unit Gaussian at each class's MDS position
      of the ratings (spread to a mean pairwise distance of 2).

    Every row is matched to its OWN class's row and column of the ratings (by label), and
    rows whose class is not rated get only the VAE loss. Without ``dissimilarity`` or with
    ``alpha=0`` this is a plain VAE (the paper's unregularized baseline). Features are
    standardized internally; outputs are in the units of ``X``.

    **Pitch mode** (``pitch_mode="shift"``, for frames on a log-frequency axis with a fixed
    number of bins per octave, e.g. ``NSGTTransformer("cqt")``): pitch becomes an explicit
    coordinate instead of something the latent space must hold. Each frame is moved by
    ``bins_per_octave / 12`` bins per semitone into a wider, pitch-normalized frame (linear
    interpolation, clamped edges), where encoder and decoder work with the scaled pitch as
    an extra input; the decoded frame is shifted back and the loss counts the real bins
    only. :meth:`transform` returns the ``latent_dim`` timbre coordinates plus a last
    column, the MIDI pitch, and :meth:`inverse_transform` renders a timbre at the pitch in
    that column: edit the column to play the timbre at another pitch. The perceptual
    regularizer and the pull term act on the timbre coordinates only.

    Parameters
    ----------
    latent_dim : int, default=16
        Size of the latent space (the paper used 64).
    hidden_layer_sizes : tuple of int, default=(256, 256)
        Encoder widths; the decoder mirrors them. The paper's network is ``(2000,) * 3``.
    beta : float, default=1.0
        Weight of the KL term after warm-up.
    warmup : int, default=20
        Epochs of linear warm-up of ``beta`` (0: none).
    alpha : float, default=1.0
        Weight of the perceptual regularizer.
    regularization : {"kl", "l2", "prior"}, default="kl"
        The perceptual regularizer (see above).
    target : {"ratings", "mds"}, default="ratings"
        Target distances of ``"kl"``/``"l2"``: the ratings themselves, or Euclidean
        distances between MDS positions of the ratings. Both are divided by their maximum.
    perceptual_dims : int, float or None, default=None
        How many leading latent coordinates the regularizer (and the pull term) shape: the
        *perceptual coordinates*, between which distances follow the ratings (an int: that
        many; a float in (0, 1]: that fraction of ``latent_dim``, rounded, at least one).
        The other coordinates are free to hold what the decoder needs and the ratings do
        not describe, so the regularizer costs less reconstruction.
        Distances between sounds are then read on the perceptual coordinates only
        (:func:`~perceptual_timbre.embed_sounds` does); decoding uses all of them. None: all
        ``latent_dim`` coordinates are perceptual.
    pretrain_epochs : int, default=0
        Two-stage schedule of the paper: train the plain VAE for this many epochs, then
        add the regularizer (counted within ``max_epochs``).
    max_epochs : int, default=1000
        Number of passes over the data (with 128-row batches, a 12-instrument fit of a few
        hundred frames is a few thousand small steps: seconds on one CPU thread).
    batch_size : int, default=128
        Rows per batch; the regularizer compares the rated rows of each batch.
    classes_per_batch : int or None, default=None
        None: batches of ``batch_size`` rows. An int: stratified batches of that many classes
        of ``y`` x ``rows_per_class`` rows each (drawn with replacement), and the ``"kl"`` /
        ``"l2"`` regularizer compares each class's mean latent in the batch (one point per
        class). With one class per sound, this regularizes sounds rather than frames (see
        :class:`~perceptual_timbre.TimbreSpace`). An epoch is then one pass over the classes.
    rows_per_class : int, default=4
        Rows drawn per class in a stratified batch.
    learning_rate : float, default=1e-3
        Adam step size (the paper used 1e-4).
    lr_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"`` decays the step size from ``learning_rate`` towards 0 over
        ``max_epochs`` (half a cosine).
    weight_decay : float, default=0.0
        Decoupled weight decay (AdamW) when > 0; plain Adam when 0.
    dropout : float in [0, 1), default=0.0
        Dropout rate after each hidden layer of the encoder, during training only.
    input_noise : float, default=1.0
        Standard deviation, in standardized feature units, of Gaussian noise added to the
        encoder's input during training (a denoising VAE; the reconstruction target stays
        clean). It makes the encoder smooth around the training frames, so new sounds
        (e.g. unseen pitches) land nearer to their class; 0 turns it off.
    validation_fraction : float, default=0.1
        Rows held out to monitor the loss when ``early_stopping`` is on.
    early_stopping : bool, default=False
        Stop a stage after ``n_iter_no_change`` epochs without improvement of the
        validation loss, restoring its best weights.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    pitch_mode : {None, "shift"}, default=None
        None: frames are encoded as they are. ``"shift"``: the pitch-equivariant space
        described above; ``fit`` then needs ``pitch`` (MIDI per row, see
        :func:`~perceptual_timbre.model.estimate_pitch` for audio).
    bins_per_octave : float or None, default=None
        Bins per octave of the frames' log-frequency axis, needed by pitch mode:
        :func:`~perceptual_timbre.model.log_bins_per_octave` of the transformer's
        ``frequencies_`` (48.014 for the default ``NSGTTransformer("cqt")``, whose 48 bins
        per octave are spread evenly between ``fmin`` and ``fmax``). None: read from the
        transformer by :class:`~perceptual_timbre.TimbreSpace`; a bare Pipeline must set it
        (the synthesis tools check that it matches the pipeline's transformer within 0.1 %).
    pull : float, default=0.0
        Weight of the pull term (times the number of features, like ``alpha``): per batch,
        the mean squared distance between the timbre coordinates of rows of the same group
        (``groups`` of ``fit``, default ``y``; e.g. one instrument at one dynamic, at all
        its pitches) over the mean over all pairs. It makes the timbre coordinates
        invariant to pitch; ``benchmarks/bench_pitch.py`` measures it.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to train; ``"auto"`` picks CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds weights, the validation split, shuffling and the reparameterization noise.
        Fits with the same int are identical on the CPU.
    verbose : int, default=0
        0: silent, 1: a progress bar with the live loss terms, 2: one line per epoch
        prefixed ``[PerceptualVAE]``.

    Attributes
    ----------
    module_ : VAEModule
        The trained torch module (in eval mode, on ``device_``).
    device_ : str
        Device the module lives on.
    classes_ : ndarray or None
        ``np.unique(y)``, or None when fitted without ``y``.
    dissimilarity_ : Ratings, PairTargets or None
        The ratings used, as given (all their labels); in a
        :class:`~perceptual_timbre.TimbreSpace`, its targets for every training sound.
    rated_classes_ : ndarray
        Classes of ``y`` that the ratings cover (their rows are regularized).
    history_ : list of dict
        Per epoch: ``loss``, ``recon`` (negative log-likelihood per row, standardized
        units), ``kl``, ``reg``, ``val_loss`` (None without early stopping) and the
        schedule (``beta``, ``alpha``, ``stage``, ``time``).
    feature_mean_, feature_scale_ : ndarray of shape (n_features_in_,)
        Internal standardization of ``X``.
    n_side_features_ : int
        Width of the encoder's side input (0: none).
    pitch_range_ : tuple of float or None
        Lowest and highest training pitch (pitch mode; decoding outside it warns).
    bins_per_octave_ : float or None
        Bins per octave used by pitch mode.
    perceptual_dims_ : int or None
        Number of perceptual coordinates (``perceptual_dims`` resolved; None: all).
    n_features_in_ : int
    n_epochs_ : int
        Epochs actually run.

    See Also
    --------
    perceptual_timbre.utils.Ratings : labelled ratings that cross-validation never slices.

    Notes
    -----
    The defaults were chosen by ``benchmarks/bench_vae.py --sweep``: on SoundFont notes of
    the 12 rated instruments, fitted on 5 pitches and evaluated on 2 unseen ones, input
    noise and 1000 epochs kept the reconstruction of the plain VAE (training and unseen
    notes) while the regularizer still lowered the paper's KL and raised the centroid
    Spearman on training AND unseen notes; weight decay, dropout, early stopping, smaller
    or larger networks and a smaller ``alpha`` did not do better.

    Pitch mode: :meth:`transform`, :meth:`score_samples` and
    :meth:`reconstruction_error` take ``pitch=`` (MIDI per row); without it they estimate
    each frame's pitch by analysis-by-synthesis (the candidate pitch, on a semitone grid
    over the training range +- 6 semitones refined to one bin, whose reconstruction is most
    likely under the decoder). :class:`~perceptual_timbre.TimbreSpace` estimates the pitch of
    sounds with pYIN instead (:func:`~perceptual_timbre.model.estimate_pitch`). In a
    Pipeline, route the pitch with ``pipe.fit(X, vae__pitch=p)``; cross-validation slices
    ``pitch`` (and ``groups``) with the rows, as it should.

    On the CPU, networks whose training batch costs fewer than 1e8 multiply-adds (the
    defaults on 12-instrument data) train on one torch thread, restored afterwards: tiny
    matrix products gain nothing from splitting, and lose a lot on shared cores.

    Cross-validation (``GridSearchCV``, ``cross_val_score``) slices every fit parameter
    whose length equals ``n_samples``, with metadata routing on or off. With one row per
    class, a plain ``N x N`` array or DataFrame would arrive as ``(n_train, N)`` (``fit``
    then raises a :class:`ParameterError` that says so). Pass
    :class:`~perceptual_timbre.utils.Ratings`: it has no length, always arrives whole, and
    its rows are looked up by the labels in ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre import PerceptualVAE
    >>> from perceptual_timbre.utils import Ratings
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 20)) + np.repeat(np.eye(3, 20) * 3, 20, axis=0)
    >>> y = np.repeat(["a", "b", "c"], 20)
    >>> D = Ratings([[0, 1, 2], [1, 0, 1], [2, 1, 0]], ["a", "b", "c"])
    >>> vae = PerceptualVAE(latent_dim=2, hidden_layer_sizes=(16,), max_epochs=5,
    ...                     random_state=0).fit(X, y, dissimilarity=D)
    >>> vae.transform(X).shape
    (60, 2)
    >>> vae.inverse_transform(vae.transform(X[:2])).shape
    (2, 20)
    >>> vae.sample(3, random_state=0).shape
    (3, 20)
    >>> len(vae.history_)
    5

    Pitch mode: frames on a log-frequency axis (here one partial, 4 bins per semitone) with
    the MIDI pitch of each row; the pitch comes back as the last latent column, and editing
    it decodes the same timbre at another pitch:

    >>> pitch = np.tile(np.arange(40.0, 60.0), 3)
    >>> level = np.repeat([1.0, 2.0, 3.0], 20)
    >>> Xp = level[:, None] * np.exp(-0.5 * ((np.arange(120) - 4 * (pitch[:, None] - 30)) / 3) ** 2)
    >>> vae = PerceptualVAE(latent_dim=2, hidden_layer_sizes=(16,), max_epochs=5,
    ...                     pitch_mode="shift", bins_per_octave=48, random_state=0)
    >>> Z = vae.fit(Xp, pitch=pitch).transform(Xp, pitch=pitch)
    >>> Z.shape, float(Z[0, -1])
    ((60, 3), 40.0)
    >>> Z[:, -1] = 52.5
    >>> vae.inverse_transform(Z).shape
    (60, 120)
    """

    _module_class = VAEModule  # rebuilt from its state dict on unpickling

    _parameter_constraints = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "perceptual_dims": [Interval(Integral, 1, None, closed="left"),
                            Interval(Real, 0, 1, closed="right"), None],
        "hidden_layer_sizes": ["array-like"],
        "beta": [Interval(Real, 0, None, closed="left")],
        "warmup": [Interval(Integral, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "regularization": [StrOptions({"kl", "l2", "prior"})],
        "target": [StrOptions({"ratings", "mds"})],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "classes_per_batch": [None, Interval(Integral, 2, None, closed="left")],
        "rows_per_class": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "input_noise": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "pitch_mode": [None, StrOptions({"shift"})],
        "bins_per_octave": [None, Interval(Real, 0, None, closed="neither")],
        "pull": [Interval(Real, 0, None, closed="left")],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        latent_dim=16,
        hidden_layer_sizes=(256, 256),
        *,
        beta=1.0,
        warmup=20,
        alpha=1.0,
        regularization="kl",
        target="ratings",
        perceptual_dims=None,
        pretrain_epochs=0,
        max_epochs=1000,
        batch_size=128,
        classes_per_batch=None,
        rows_per_class=4,
        learning_rate=1e-3,
        lr_schedule="constant",
        weight_decay=0.0,
        dropout=0.0,
        input_noise=1.0,
        validation_fraction=0.1,
        early_stopping=False,
        n_iter_no_change=10,
        pitch_mode=None,
        bins_per_octave=None,
        pull=0.0,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.latent_dim = latent_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.beta = beta
        self.warmup = warmup
        self.alpha = alpha
        self.regularization = regularization
        self.target = target
        self.perceptual_dims = perceptual_dims
        self.pretrain_epochs = pretrain_epochs
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.classes_per_batch = classes_per_batch
        self.rows_per_class = rows_per_class
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.input_noise = input_noise
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.pitch_mode = pitch_mode
        self.bins_per_octave = bins_per_octave
        self.pull = pull
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ validation
    def _check_hidden(self):
        try:
            hidden = tuple(int(h) for h in np.ravel(np.asarray(self.hidden_layer_sizes)))
        except (TypeError, ValueError):
            hidden = None
        if hidden is None or any(h < 1 for h in hidden) or not np.allclose(
            np.ravel(np.asarray(self.hidden_layer_sizes, dtype=float)), hidden
        ):
            raise ParameterError(
                f"hidden_layer_sizes must be a sequence of positive ints, got "
                f"{self.hidden_layer_sizes!r}."
            )
        return hidden

    @staticmethod
    def _check_ratings(dissimilarity, classes, n_samples):
        if not isinstance(dissimilarity, (Ratings, tuple)):
            # arrays and DataFrames with n_samples rows are row-sliced by cross-validation
            shape = np.shape(dissimilarity)
            if len(shape) == 2 and shape[0] != shape[1]:
                if shape[0] == n_samples:
                    raise ParameterError(
                        f"dissimilarity has shape {shape}: one row per row of X but "
                        f"{shape[1]} columns. Cross-validation slices every fit parameter of "
                        f"length n_samples, so a square matrix (plain array or DataFrame) was "
                        f"cut to the training rows. Pass Ratings(matrix, labels) instead: it "
                        f"always arrives whole."
                    )
                raise ParameterError(
                    f"dissimilarity must be a square matrix ordered like np.unique(y), got "
                    f"shape {shape}; or pass Ratings(matrix, labels), which names its rows."
                )
        return check_dissimilarity(dissimilarity, classes=classes)

    def _perceptual_width(self):
        """``perceptual_dims`` as a number of coordinates (None: all of them)."""
        k = self.perceptual_dims
        if k is None:
            return None
        if isinstance(k, Integral):
            if k > self.latent_dim:
                raise ParameterError(
                    f"perceptual_dims={k} is more than latent_dim={self.latent_dim}; the "
                    f"perceptual coordinates are some of the latent ones (or give a fraction).")
            return int(k)
        return max(1, round(k * self.latent_dim))

    def _targets(self, ratings, rated, seed):
        """Target distances (or class centres) of the rated classes, in ``rated`` order."""
        sub = ratings.subset(rated).matrix
        k = sub.shape[0]
        width = self.perceptual_dims_ or self.latent_dim
        n_comp = max(1, min(width, k - 1))
        if self.regularization == "prior":
            pos = _mds(sub, n_comp, seed)
            centres = np.zeros((k, width))
            centres[:, :n_comp] = pos
            iu = np.triu_indices(k, 1)
            mean_d = np.mean(np.linalg.norm(pos[iu[0]] - pos[iu[1]], axis=1))
            return None, centres * (_PRIOR_SPREAD / max(mean_d, 1e-12))
        if self.target == "mds":
            from scipy.spatial.distance import pdist, squareform

            sub = squareform(pdist(_mds(sub, n_comp, seed)))
        return sub / max(float(sub.max()), 1e-12), None

    def _check_fit_pitch(self, pitch, n):
        """The training pitches (pitch mode) or None; clear errors for every misuse."""
        if self.pitch_mode is None:
            if pitch is not None:
                raise ParameterError(
                    "pitch= was given but pitch_mode=None; set pitch_mode='shift' for a "
                    "pitch-equivariant space.")
            return None
        if self.bins_per_octave is None:
            raise ParameterError(
                "pitch_mode='shift' needs bins_per_octave: log_bins_per_octave(front."
                "frequencies_) of the fitted spectral transformer (48.014 for the default "
                "NSGTTransformer('cqt')); TimbreSpace sets it from its transformer.")
        if pitch is None:
            raise ParameterError(
                "pitch_mode='shift' needs pitch= (the MIDI pitch of every row of X); for "
                "audio, perceptual_timbre.model.estimate_pitch(sounds, sr) estimates it. In a "
                "Pipeline pass it as pipe.fit(X, vae__pitch=pitch).")
        return _check_pitch_values(pitch, n)

    def _pull_groups(self, groups, y, n):
        """Integer group of every row for the pull term (None when the pull is off)."""
        if self.pull == 0:
            return None
        labels = groups if groups is not None else y
        if labels is None:
            raise ParameterError("pull > 0 needs groups= or y (rows that share a timbre).")
        labels = column_or_1d(np.asarray(labels, dtype=object))
        if labels.shape[0] != n:
            raise ParameterError(f"groups has {labels.shape[0]} labels but X has {n} rows.")
        return np.unique(labels.astype(str), return_inverse=True)[1].astype(np.int64)

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, dissimilarity=None, side=None, pitch=None, groups=None):
        """Fit the VAE on spectral frames, regularized by the classes' rated dissimilarities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Spectral frames, typically log-magnitude spectra.
        y : array-like of shape (n_samples,), default=None
            Class of each row (instrument or stimulus id). Needed with ``dissimilarity``.
        dissimilarity : Ratings, DataFrame, (matrix, labels) tuple or array-like, default=None
            Rated dissimilarities between classes. A plain square array is ordered like
            ``np.unique(y)``; labelled forms may cover only some classes (the others get
            only the VAE loss). Use ``Ratings`` under cross-validation (see Notes).
        side : array-like of shape (n_samples, n_side), default=None
            Side input of the encoder next to each row (e.g. the sound-level embedding of the
            row's sound); :meth:`transform` then needs the same kind of input.
        pitch : array-like of shape (n_samples,), default=None
            MIDI pitch of each row (fractional allowed), needed with ``pitch_mode``.
        groups : array-like of shape (n_samples,), default=None
            Groups of the pull term (rows that share a timbre, e.g. instrument and
            dynamic); default ``y``. Only used when ``pull > 0``.

        Returns
        -------
        self : PerceptualVAE

        Raises
        ------
        ParameterError
            Bad parameters, NaN/inf in ``X``, or ratings that do not match the classes, are
            not square/symmetric, or hold negatives or NaNs; ``pitch`` missing in pitch mode,
            given without it, of the wrong length, non-finite or outside MIDI 0-127.
        TrainingError
            If the loss becomes NaN or infinite.
        """
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite=False)
        _check_finite(X, "X")
        n, n_features = X.shape
        hidden = self._check_hidden()
        device = resolve_device(self.device)
        if self.early_stopping and self.validation_fraction == 0:
            raise ParameterError("early_stopping=True needs validation_fraction > 0.")
        self.perceptual_dims_ = self._perceptual_width()
        S = None
        if side is not None:
            S = check_array(side, dtype=np.float64, ensure_all_finite=False)
            if S.shape[0] != n:
                raise ParameterError(f"side has {S.shape[0]} rows but X has {n}; give one side "
                                     f"row per row of X.")
            _check_finite(S, "side")
        self.n_side_features_ = 0 if S is None else S.shape[1]
        if self.classes_per_batch is not None and y is None:
            raise ParameterError("classes_per_batch needs y (the class of every row).")
        P = self._check_fit_pitch(pitch, n)

        classes = None
        if y is not None:
            y = column_or_1d(y, warn=True)
            if y.shape[0] != n:
                raise ParameterError(
                    f"y has {y.shape[0]} labels but X has {n} rows; give one label per row."
                )
            classes = np.unique(y)
        ratings, rated = None, np.array([], dtype=object)
        if dissimilarity is not None:
            if y is None:
                raise ParameterError(
                    "dissimilarity was given without y; pass the class (instrument or stimulus "
                    "id) of every row of X as y."
                )
        if isinstance(dissimilarity, PairTargets):
            # a TimbreSpace's targets for every class (sound) of y, teacher and ratings merged
            if dissimilarity.n_classes != classes.size or self.regularization == "prior" or (
                    self.target == "mds"):
                raise ParameterError(
                    f"PairTargets need one row per class of y ({classes.size}, got "
                    f"{dissimilarity.n_classes}) and regularization 'kl' or 'l2' with "
                    f"target='ratings'.")
            ratings, rated = dissimilarity, classes
        elif dissimilarity is not None:
            ratings = self._check_ratings(dissimilarity, classes, n)
            rated = np.array([c for c in classes.tolist() if c in ratings], dtype=object)
            if rated.size == 0:
                raise ParameterError(
                    f"none of the classes in y ({[str(c) for c in classes[:5]]}...) appear in "
                    f"the dissimilarity labels ({[str(v) for v in ratings.labels[:5]]}...)."
                )

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))

        if P is None:
            self.feature_mean_ = X.mean(axis=0)
            scale = X.std(axis=0)
        else:
            # one location and scale for all bins: a shifted note moves across bins, so
            # per-bin standardization would distort it differently at every pitch
            self.feature_mean_ = np.full(n_features, X.mean())
            scale = np.full(n_features, X.std())
        self.feature_scale_ = np.where(scale > 1e-12 * max(1.0, np.abs(X).max()), scale, 1.0)
        Xs = (X - self.feature_mean_) / self.feature_scale_

        # the reconstruction term sums over features: scaling R alike keeps alpha's meaning
        # the same for any transform size
        objective = Objective(self.regularization, reg_scale=float(n_features),
                              class_means=self.classes_per_batch is not None,
                              pull=float(self.pull), dims=self.perceptual_dims_)
        group = self._pull_groups(groups, y, n)
        cls = np.full(n, -1, dtype=np.int64)
        if ratings is not None and self.alpha > 0:
            if rated.size < 2 and self.regularization != "prior":
                warnings.warn(
                    f"only {rated.size} class of y is rated; the '{self.regularization}' "
                    f"regularizer needs two, so this is a plain VAE.",
                    UserWarning,
                    stacklevel=2,
                )
            else:
                where = {c: i for i, c in enumerate(rated.tolist())}
                cls = np.array([where.get(v, -1) for v in y.tolist()], dtype=np.int64)
                if isinstance(ratings, PairTargets):
                    objective.target = ratings.to(device)
                else:
                    target, centres = self._targets(ratings, rated, seed)
                    if target is not None:
                        counts = ratings.subset(rated).counts
                        objective.target = PairTargets(
                            to_tensor(target, device),  # never-rated pairs (counts 0) left out
                            rated=None if counts is None else torch.as_tensor(
                                counts > 0, device=device))
                    if centres is not None:
                        objective.centres = to_tensor(centres, device)

        train_idx, val_idx = np.arange(n), None
        if self.early_stopping:
            n_val = min(max(1, int(round(self.validation_fraction * n))), n - 1)
            if n_val >= 1:
                perm = rng.permutation(n)
                val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])

        def tensors(idx):
            data = {
                "x": to_tensor(Xs[idx], device),
                "cls": torch.as_tensor(cls[idx], dtype=torch.long, device=device),
            }
            if S is not None:
                data["side"] = to_tensor(S[idx], device)
            if P is not None:
                data["pitch"] = to_tensor(P[idx], device)
            if group is not None:
                data["group"] = torch.as_tensor(group[idx], dtype=torch.long, device=device)
            return data

        groups = None
        if self.classes_per_batch is not None:
            owner = np.unique(y[train_idx], return_inverse=True)[1]
            order = np.argsort(owner, kind="stable")  # the rows of each class, in order
            groups = [torch.as_tensor(g) for g in
                      np.split(order, np.cumsum(np.bincount(owner))[:-1])]

        self._module_kwargs = {
            "n_features": n_features,
            "latent_dim": int(self.latent_dim),
            "hidden_layer_sizes": hidden,
            "side_dim": int(self.n_side_features_),
            "dropout": float(self.dropout),
        }
        self.pitch_range_, self.bins_per_octave_ = None, None
        if P is not None:
            lo, hi = float(P.min()), float(P.max())
            per_semitone = float(self.bins_per_octave) / 12.0
            self.pitch_range_ = (lo, hi)
            self.bins_per_octave_ = float(self.bins_per_octave)
            self._module_kwargs.update(
                pitch_bins=per_semitone,
                # every training note fits in the normalized frame, whatever its shift
                frame_width=n_features + int(np.ceil(per_semitone * (hi - lo) - 1e-9)),
                pitch_ref=hi,
                pitch_center=0.5 * (lo + hi),
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = VAEModule(**self._module_kwargs)
        module.to(device)
        n_weights = sum(p.numel() for p in module.parameters())
        rows = (self.batch_size if groups is None
                else self.classes_per_batch * self.rows_per_class)
        small = device.type == "cpu" and n_weights * min(rows, n) < _SMALL_BATCH_MACS
        with cpu_threads(1 if small else None):
            self.history_ = self._train(module, objective, tensors, train_idx, val_idx, seed,
                                        device, groups)
        self.module_ = module
        self.device_ = str(device)
        self.classes_ = classes
        self.dissimilarity_ = ratings
        self.rated_classes_ = rated
        self.n_epochs_ = len(self.history_)
        self._n_features_out = int(module.code_dim)
        return self

    def _train(self, module, objective, tensors, train_idx, val_idx, seed, device, groups):
        return train_module(
            module,
            tensors(train_idx),
            objective,
            val_data=None if val_idx is None else tensors(val_idx),
            max_epochs=self.max_epochs,
            batch_size=self.batch_size if groups is None else self.classes_per_batch,
            groups=groups,
            rows_per_group=self.rows_per_class,
            learning_rate=self.learning_rate,
            lr_schedule=self.lr_schedule,
            weight_decay=self.weight_decay,
            input_noise=self.input_noise,
            beta=self.beta,
            warmup=self.warmup,
            alpha=self.alpha,
            pretrain_epochs=self.pretrain_epochs,
            early_stopping=self.early_stopping,
            n_iter_no_change=self.n_iter_no_change,
            shuffle_generator=make_generator(seed + 1, "cpu"),
            noise_generator=make_generator(seed + 2, device),
            verbose=self.verbose,
            name=type(self).__name__,
        )

    def __setstate__(self, state):
        # models saved before these parameters existed load with their defaults
        state = dict(state)
        for name, default in (("lr_schedule", "constant"), ("pitch_mode", None),
                              ("bins_per_octave", None), ("pull", 0.0),
                              ("perceptual_dims", None)):
            state.setdefault(name, default)
        if "module_" in state:
            state.setdefault("perceptual_dims_", None)
        super().__setstate__(state)

    # ------------------------------------------------------------------ inference
    def __sklearn_is_fitted__(self):
        return hasattr(self, "module_")

    def _check_side(self, side, n):
        """Side input as a finite float array of shape (n, n_side_features_), or None."""
        width = getattr(self, "n_side_features_", 0)
        if side is None:
            if width:
                raise ParameterError(
                    f"this model was fitted with side inputs of width {width}: pass side= "
                    f"(one row per row of X)."
                )
            return None
        S = check_array(side, dtype=np.float64, ensure_all_finite=False)
        if S.shape != (n, width):
            raise ParameterError(
                f"side must have shape ({n}, {width}) (one row per row of X, the width it was "
                f"fitted with), got {S.shape}."
            )
        _check_finite(S, "side")
        return S

    def _standardized(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite=False)
        _check_finite(X, "X")
        return (X - self.feature_mean_) / self.feature_scale_

    @property
    def _pitched(self):
        return getattr(self, "pitch_range_", None) is not None

    def _infer_pitch(self, pitch, Xs, S):
        """Per-row pitch for inference: checked when given, estimated when None (pitch mode);
        None for a model without pitch mode."""
        if not self._pitched:
            if pitch is not None:
                raise ParameterError("pitch= was given but this model was fitted without "
                                     "pitch_mode.")
            return None
        if pitch is None:
            return self._estimate_frame_pitch(Xs, S)
        return _check_pitch_values(pitch, Xs.shape[0])

    @torch.no_grad()
    def _pitch_nll(self, Xs, S, cand, batch_size=16384):
        """Negative log-likelihood of each row reconstructed at each candidate pitch.

        ``cand`` (n, k) -> (n, k), at the posterior mean of the row encoded at that pitch.
        """
        self.module_.eval()
        n, k = cand.shape
        out = np.empty(n * k)
        rows = np.repeat(np.arange(n), k)
        flat = cand.ravel()
        for start in range(0, n * k, batch_size):
            sl = slice(start, start + batch_size)
            x = to_tensor(Xs[rows[sl]], self.device_)
            s = None if S is None else to_tensor(S[rows[sl]], self.device_)
            p = to_tensor(flat[sl], self.device_)
            mu, _ = self.module_.encode(x, s, p)
            ll = gaussian_log_likelihood(x, self.module_.decode(mu, p),
                                         self.module_.log_scale(p))
            out[sl] = -to_numpy(ll)
        return out.reshape(n, k)

    def _estimate_frame_pitch(self, Xs, S):
        """Analysis by synthesis: the pitch whose reconstruction is most likely (a semitone
        grid over the training range +- 6 semitones, then refined to one bin)."""
        lo, hi = self.pitch_range_
        grid = np.arange(max(0.0, np.floor(lo) - 6), min(127.0, np.ceil(hi) + 6) + 1)
        coarse = grid[np.argmin(self._pitch_nll(Xs, S, np.tile(grid, (Xs.shape[0], 1))), 1)]
        step = 12.0 / self.bins_per_octave_
        offsets = np.arange(-1.0, 1.0 + step / 2, step)
        cand = np.clip(coarse[:, None] + offsets, 0.0, 127.0)
        return cand[np.arange(cand.shape[0]), np.argmin(self._pitch_nll(Xs, S, cand), 1)]

    @torch.no_grad()
    def _encode(self, Xs, S=None, P=None, batch_size=8192):
        """Posterior means and standard deviations of standardized rows (timbre only)."""
        self.module_.eval()
        empty = np.zeros((0, self.module_.latent_dim))
        mus, sds = [empty], [empty]
        for start in range(0, Xs.shape[0], batch_size):
            sl = slice(start, start + batch_size)
            x = to_tensor(Xs[sl], self.device_)
            s = None if S is None else to_tensor(S[sl], self.device_)
            p = None if P is None else to_tensor(P[sl], self.device_)
            mu, logvar = self.module_.encode(x, s, p)
            mus.append(to_numpy(mu))
            sds.append(to_numpy(torch.exp(0.5 * logvar)))
        return np.concatenate(mus), np.concatenate(sds)

    def transform(self, X, side=None, return_std=False, pitch=None):
        """Latent means (posterior means) of the frames in ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        side : array-like of shape (n_samples, n_side), default=None
            The encoder's side input, when the model was fitted with one.
        return_std : bool, default=False
            Also return the posterior standard deviation of each latent coordinate: how
            unsure the encoder is of each point (larger for rows unlike the training data).
        pitch : array-like of shape (n_samples,), default=None
            Pitch mode: the MIDI pitch of each row; None estimates it (see Notes).

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim) or (n_samples, latent_dim + 1)
            In pitch mode, the timbre coordinates then the pitch (MIDI) as the last column.
        Z_std : ndarray of the shape of ``Z``
            Only with ``return_std=True`` (0 for the pitch column).
        """
        Xs = self._standardized(X)
        S = self._check_side(side, Xs.shape[0])
        P = self._infer_pitch(pitch, Xs, S)
        Z, Z_std = self._encode(Xs, S, P)
        if P is not None:
            Z = np.column_stack([Z, P])
            Z_std = np.column_stack([Z_std, np.zeros(P.shape[0])])
        return (Z, Z_std) if return_std else Z

    def _warn_pitch_range(self, P):
        lo, hi = self.pitch_range_
        out = (P < lo - 1e-6) | (P > hi + 1e-6)
        if out.any():
            warnings.warn(
                f"{int(out.sum())} requested pitch(es) (e.g. {P[out][0]:g}) lie outside the "
                f"trained pitch range MIDI {lo:g}-{hi:g}; the decoder extrapolates there "
                f"(the frame's edges are clamped).",
                UserWarning,
                stacklevel=3,
            )

    @torch.no_grad()
    def inverse_transform(self, X):
        """Decode latent points to spectral frames (the decoder mean, in the units of X).

        Parameters
        ----------
        X : array-like of shape (n_samples, latent_dim) or (n_samples, latent_dim + 1)
            Latent points, e.g. from :meth:`transform` or :meth:`sample`. In pitch mode the
            last column is the MIDI pitch to render the timbre at.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=np.float64)
        _check_finite(Z, "Z")
        width = self.module_.code_dim
        if Z.shape[1] != width:
            what = " (timbre + a pitch column)" if self._pitched else ""
            if Z.shape[1] == self.perceptual_dims_:
                what += ("; these are its perceptual coordinates only: decode the points of "
                         "transform, or embed_sounds(..., coordinates='all')")
            raise ParameterError(
                f"latent points have {Z.shape[1]} dimensions, this model has {width}{what}."
            )
        if self._pitched:
            self._warn_pitch_range(Z[:, -1])
        self.module_.eval()
        out = to_numpy(self.module_.decode(to_tensor(Z, self.device_)))
        return out * self.feature_scale_ + self.feature_mean_

    def sample(self, n_samples=1, random_state=None):
        """Decode ``n_samples`` latent points drawn from the prior ``N(0, I)``.

        In pitch mode each point is played at a pitch drawn uniformly from the trained range.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
            Decoded spectral frames (decoder means).
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ParameterError(f"n_samples must be a positive int, got {n_samples!r}.")
        rng = check_random_state(random_state)
        Z = rng.standard_normal((n_samples, self.module_.latent_dim))
        if self._pitched:
            Z = np.column_stack([Z, rng.uniform(*self.pitch_range_, size=n_samples)])
        return self.inverse_transform(Z)

    @torch.no_grad()
    def score_samples(self, X, side=None, pitch=None):
        """ELBO of each row: a lower bound of ``log p(x)`` in nats, in the units of ``X``.

        The expectation over the posterior uses the same 8 fixed standard-normal draws for
        every row, so the value of a row is repeatable and does not depend on the other rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        side : array-like of shape (n_samples, n_side), default=None
        pitch : array-like of shape (n_samples,), default=None
            Pitch mode: MIDI pitch per row (None: estimated).

        Returns
        -------
        elbo : ndarray of shape (n_samples,)
        """
        Xs = self._standardized(X)
        S = self._check_side(side, Xs.shape[0])
        P = self._infer_pitch(pitch, Xs, S)
        self.module_.eval()
        eps = torch.randn(
            (_SCORE_DRAWS, 1, self.module_.latent_dim), generator=make_generator(0, "cpu")
        ).to(self.device_)
        out = []
        for start in range(0, Xs.shape[0], 4096):
            sl = slice(start, start + 4096)
            x = to_tensor(Xs[sl], self.device_)
            s = None if S is None else to_tensor(S[sl], self.device_)
            p = None if P is None else to_tensor(P[sl], self.device_)
            mu, logvar = self.module_.encode(x, s, p)
            z = mu + eps * torch.exp(0.5 * logvar)  # (draws, n, latent_dim)
            x_mean = self.module_.decode(z) if p is None else self.module_.decode(z, p)
            ll = gaussian_log_likelihood(x, x_mean, self.module_.log_scale(p))
            out.append(to_numpy(ll.mean(dim=0) - kl_normal(mu, logvar)))
        # change of variables back from the internal standardization
        return np.concatenate(out) - np.sum(np.log(self.feature_scale_))

    def score(self, X, y=None, sample_weight=None, side=None, pitch=None):
        """Mean ELBO per row (higher is better); the default score of model selection.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
        side : array-like of shape (n_samples, n_side), default=None
        pitch : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
            Weighted mean of :meth:`score_samples`.
        """
        return float(np.average(self.score_samples(X, side, pitch), weights=sample_weight))

    def reconstruction_error(self, X, side=None, pitch=None):
        """Mean squared error between ``X`` and its reconstruction through the latent means."""
        X = check_array(X, dtype=np.float64, ensure_all_finite=False)
        return float(np.mean((self.inverse_transform(self.transform(X, side, pitch=pitch))
                              - X) ** 2))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float64"]
        tags.target_tags.required = False
        return tags
