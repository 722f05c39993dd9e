"""A generative timbre space of whole sounds, organized by a perceptual teacher.

:class:`TimbreSpace` is a VAE over spectral frames whose encoder also receives the sound's
standardized sound-level features (:class:`~perceptual_timbre.descriptors.SoundFeatures`) next
to each frame. Its perceptual regularizer acts on each SOUND's mean latent: batches hold
``sounds_per_batch`` sounds x ``frames_per_sound`` frames, and the latent distances between
the sounds' mean latents are matched (l2, each set divided by its batch mean) to target
distances. The targets come from a fitted teacher metric (e.g.
:meth:`PerceptualMetric.pretrained`) for EVERY training sound, so an unrated corpus is
organized perceptually; ratings, when given, still regularize the rated sounds as in the
paper. The decoder outputs spectral frames, so decoding, latent paths and synthesis are
those of any frame VAE.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .exceptions import ParameterError, TrainingError
from .utils._torch import ModuleStateMixin
from .utils.validation import (
    ParamValidationMixin,
    Ratings,
    check_audio,
    check_dissimilarity,
    check_sr,
)

__all__ = ["TimbreSpace", "make_timbre_space"]

# Defaults chosen by leave-one-family-out over the 6 families of shared studies
# (benchmarks/bench_generalization.py --sweep; pooled per-anchor Spearman on held-out
# families, the fold's metric as teacher): the teacher's embedding as side input, l2 on
# batch-mean-normalized per-sound distances, alpha=10, latent 32, one hidden layer of 128,
# 40 epochs, 4 of 16 frames per sound: 0.459, vs 0.474 for the teacher metrics themselves
# and 0.394 for MFCC. Latent 16 scores ~0.02 lower (it cannot hold the teacher's 64-D
# distances); features as side input, alpha 100, more epochs or frames and the KL
# regularizer add nothing.

_TRANSFORMS = {"nsgt", "stft", "dct"}


def _make_transformer(transform, sr):
    from . import transforms

    if not isinstance(transform, str):
        if not hasattr(transform, "transform_frames"):
            raise ParameterError(
                f"transform must be 'nsgt', 'stft', 'dct' or a spectral transformer with "
                f"transform_frames, got {transform!r}."
            )
        return clone(transform)
    if transform == "nsgt":
        # mel-spaced NSGT with 24 bins/octave-equivalent: 205 bins, invertible
        return transforms.NSGTTransformer("mel", bins=24, sr=sr)
    if transform == "stft":
        return transforms.STFTTransformer(sr=sr)
    if transform == "dct":
        return transforms.DCTTransformer(sr=sr)
    raise ParameterError(f"transform must be one of {sorted(_TRANSFORMS)}, got {transform!r}.")


def _resolve_teacher(teacher):
    if teacher is None:
        return None
    if isinstance(teacher, str):
        if teacher != "pretrained":
            raise ParameterError(f"teacher must be None, 'pretrained' or a fitted metric, got "
                                 f"{teacher!r}.")
        from .perceptual_metric import PerceptualMetric

        return PerceptualMetric.pretrained()
    if not hasattr(teacher, "transform"):
        raise ParameterError(
            f"teacher must have transform(sounds) -> embedding, got {type(teacher).__name__}."
        )
    return teacher


def _even_frames(frames, k):
    """At most ``k`` evenly spaced frames of one sound (NSGT frames are ~3 ms apart)."""
    if frames.shape[0] <= k:
        return frames
    return frames[np.linspace(0, frames.shape[0] - 1, k).round().astype(int)]


class TimbreSpace(ModuleStateMixin, ParamValidationMixin, TransformerMixin, BaseEstimator):
    """Sound-level generative timbre space: spectral-frame VAE with a perceptual teacher.

    Parameters
    ----------
    spectral : {"nsgt", "stft", "dct"} or spectral transformer, default="nsgt"
        Invertible spectral analysis of the sounds (frames are log-compressed with
        :class:`~perceptual_timbre.transforms.LogMagnitude`).
    teacher : fitted estimator, "pretrained" or None, default=None
        Metric whose ``transform(sounds)`` distances are the regularizer's targets for every
        training sound (e.g. ``PerceptualMetric.pretrained()``). Not refitted.
    latent_dim : int, default=32
    hidden_layer_sizes : tuple of int, default=(128,)
        Encoder widths; the decoder mirrors them.
    side_features : {"auto", "teacher", "features", "none"}, default="auto"
        What the encoder receives next to each frame: ``"teacher"`` the teacher's embedding
        of the sound (a learned projection of its sound-level features), ``"features"`` the
        sound's standardized ``SoundFeatures``, ``"none"`` nothing. ``"auto"``: the teacher's
        embedding when there is a teacher, else the features. Each input is standardized
        (one scale for all its columns, so the teacher's distances are kept).
    alpha : float, default=10.0
        Weight of the perceptual regularizer (scaled by the number of spectral bins, as in
        :class:`~perceptual_timbre.PerceptualVAE`).
    beta : float, default=1.0
        Weight of the KL term of the ELBO.
    regularization : {"l2", "kl"}, default="l2"
        ``"l2"``: distances between the sounds' mean latents against the targets, each
        divided by its batch mean. ``"kl"``: the paper's t-SNE-like term, on every frame.
    sounds_per_batch : int, default=16
    frames_per_sound : int, default=4
        Frames drawn per sound in a batch.
    max_frames : int, default=16
        Evenly spaced frames kept per sound for training.
    max_epochs : int, default=40
        Passes over the sounds.
    learning_rate : float, default=1e-3
    sr : int, default=22050
    device : str, default="cpu"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    transformer_ : spectral transformer (fitted)
    log_ : LogMagnitude
    features_ : SoundFeatures or None
        Standardized side features (``side_ == "features"``).
    side_ : str
        The side input used: ``"teacher"``, ``"features"`` or ``"none"``.
    teacher_ : estimator or None
    module_ : VAEModule
    history_ : list of dict
        Per epoch: ``loss``, ``recon``, ``kl``, ``reg``.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptual_timbre import make_timbre_space
    >>> t = np.arange(22050) / 22050
    >>> sounds = [np.sin(2 * np.pi * f * t) * np.exp(-2 * t) for f in (220, 330, 440, 550)]
    >>> space = make_timbre_space("stft", latent_dim=2, hidden_layer_sizes=(16,),
    ...                           max_epochs=3, random_state=0).fit(sounds)
    >>> space.transform(sounds).shape
    (4, 2)
    >>> space.inverse_transform(space.transform(sounds[:1])).shape
    (1, 22050)
    """

    _parameter_constraints = {
        "spectral": [StrOptions(_TRANSFORMS), HasMethods(["transform_frames"])],
        "teacher": [None, StrOptions({"pretrained"}), HasMethods(["transform"])],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "side_features": [StrOptions({"auto", "teacher", "features", "none"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "regularization": [StrOptions({"l2", "kl"})],
        "sounds_per_batch": [Interval(Integral, 2, None, closed="left")],
        "frames_per_sound": [Interval(Integral, 1, None, closed="left")],
        "max_frames": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "sr": [Interval(Real, 0, None, closed="neither")],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        spectral="nsgt",
        teacher=None,
        *,
        latent_dim=32,
        hidden_layer_sizes=(128,),
        side_features="auto",
        alpha=10.0,
        beta=1.0,
        regularization="l2",
        sounds_per_batch=16,
        frames_per_sound=4,
        max_frames=16,
        max_epochs=40,
        learning_rate=1e-3,
        sr=22050,
        device="cpu",
        random_state=None,
        verbose=0,
    ):
        self.spectral = spectral
        self.teacher = teacher
        self.latent_dim = latent_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.side_features = side_features
        self.alpha = alpha
        self.beta = beta
        self.regularization = regularization
        self.sounds_per_batch = sounds_per_batch
        self.frames_per_sound = frames_per_sound
        self.max_frames = max_frames
        self.max_epochs = max_epochs
        self.learning_rate = learning_rate
        self.sr = sr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    def _frames(self, sounds):
        """Per sound: standardized log frames (at most max_frames) as float32 arrays."""
        frames = self.transformer_.transform_frames(sounds)
        out = []
        for f in frames:
            f = _even_frames(np.asarray(f, dtype=np.float64), int(self.max_frames))
            out.append(((self.log_.transform(f) - self.frame_mean_) / self.frame_scale_))
        return out

    def _side(self, sounds):
        if self.side_ == "none":
            return None
        if self.side_ == "teacher":
            F = np.asarray(self.teacher_.transform(sounds), dtype=np.float64)
        else:
            F = self.features_.transform(sounds)
        return (F - self.side_mean_) / self.side_scale_

    def _targets(self, sounds, y, dissimilarity):
        """(n, n) target distances between training sounds and a mask of usable pairs."""
        from scipy.spatial.distance import pdist, squareform

        n = len(sounds)
        T = np.zeros((n, n))
        mask = np.zeros((n, n), dtype=bool)
        if self.teacher_ is not None:
            T = squareform(pdist(np.asarray(self.teacher_.transform(sounds), dtype=float)))
            mask[:] = True
        if dissimilarity is not None:
            if y is None:
                raise ParameterError("dissimilarity was given without y (one class per sound).")
            y = np.asarray(y, dtype=object).ravel()
            if y.size != n:
                raise ParameterError(f"y has {y.size} labels but there are {n} sounds.")
            if not isinstance(dissimilarity, (Ratings, tuple)) and hasattr(dissimilarity, "shape"):
                shape = np.shape(dissimilarity)
                if len(shape) == 2 and shape[0] != shape[1]:
                    raise ParameterError(
                        f"dissimilarity has shape {shape}; cross-validation slices arrays of "
                        f"length n_samples. Pass Ratings(matrix, labels), which arrives whole."
                    )
            ratings = check_dissimilarity(dissimilarity, classes=np.unique(y))
            idx = ratings.index_of(y, missing="ignore")
            rated = np.flatnonzero(idx >= 0)
            if rated.size < 2:
                raise ParameterError("fewer than 2 sounds of y are in the dissimilarity labels.")
            R = ratings.matrix[np.ix_(idx[rated], idx[rated])]
            block = np.ix_(rated, rated)
            if self.teacher_ is not None:
                # rated pairs: the ratings, brought to the teacher's scale over those pairs
                off = ~np.eye(rated.size, dtype=bool)
                R = R * (T[block][off].mean() / max(R[off].mean(), 1e-12))
            T[block] = R
            mask[block] = True
        np.fill_diagonal(mask, False)
        return (T, mask) if mask.any() else (None, None)

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, dissimilarity=None):
        """Fit the space on sounds (no ratings needed with a teacher).

        Parameters
        ----------
        X : list of ndarray of shape (n_audio_samples_i,)
            Mono sounds at ``sr``.
        y : array-like of shape (n_sounds,), default=None
            Class (stimulus id or instrument) of each sound; needed with ``dissimilarity``.
        dissimilarity : Ratings, DataFrame or (matrix, labels), default=None
            Ratings between classes of ``y`` (never sliced by cross-validation).

        Returns
        -------
        self : TimbreSpace
        """
        import torch

        from .descriptors import SoundFeatures
        from .model._losses import (
            gaussian_log_likelihood,
            kl_normal,
            l2_regularizer,
            tsne_regularizer,
        )
        from .model._modules import VAEModule
        from .transforms import LogMagnitude
        from .utils._torch import cpu_threads, make_generator, resolve_device, to_tensor

        sr = check_sr(self.sr)
        sounds = check_audio(X)
        if len(sounds) < 2:
            raise ParameterError(f"a timbre space needs at least 2 sounds, got {len(sounds)}.")
        hidden = tuple(int(h) for h in np.ravel(self.hidden_layer_sizes))
        if not hidden or min(hidden) < 1:
            raise ParameterError(f"hidden_layer_sizes must be positive ints, got "
                                 f"{self.hidden_layer_sizes!r}.")
        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))

        self.transformer_ = _make_transformer(self.spectral, sr).fit(sounds)
        raw = [np.asarray(f, dtype=np.float64) for f in self.transformer_.transform_frames(sounds)]
        raw = [_even_frames(f, int(self.max_frames)) for f in raw]
        self.log_ = LogMagnitude().fit(raw[0])
        logs = [self.log_.transform(f) for f in raw]
        stacked = np.vstack(logs)
        self.frame_mean_ = stacked.mean(axis=0)
        sd = stacked.std(axis=0)
        self.frame_scale_ = np.where(sd > 1e-8, sd, 1.0)
        frames = [(f - self.frame_mean_) / self.frame_scale_ for f in logs]

        self.teacher_ = _resolve_teacher(self.teacher)
        side_kind = self.side_features
        if side_kind == "auto":
            side_kind = "teacher" if self.teacher_ is not None else "features"
        if side_kind == "teacher" and self.teacher_ is None:
            raise ParameterError('side_features="teacher" needs a teacher.')
        self.side_ = side_kind
        self.features_ = (
            SoundFeatures(sr=sr, standardize=True).fit(sounds) if side_kind == "features"
            else None
        )
        if side_kind != "none":
            self.side_mean_, self.side_scale_ = 0.0, 1.0
            F = self._side(sounds)
            # one scale for all columns: the teacher's relative distances are preserved
            self.side_mean_ = F.mean(axis=0)
            self.side_scale_ = max(float(np.sqrt(((F - self.side_mean_) ** 2).sum(1).mean())
                                         / np.sqrt(F.shape[1])), 1e-12)
        side = self._side(sounds)
        T, mask = self._targets(sounds, y, dissimilarity)

        n_bins = stacked.shape[1]
        side_dim = 0 if side is None else side.shape[1]
        self._module_kwargs = {"n_features": n_bins, "latent_dim": int(self.latent_dim),
                               "hidden_layer_sizes": hidden, "side_dim": side_dim}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = VAEModule(**self._module_kwargs).to(device)
        opt = torch.optim.Adam(module.parameters(), lr=self.learning_rate)
        noise = make_generator(seed + 2, device)
        order_rng = np.random.RandomState(seed + 1)
        frames_t = [to_tensor(f, device) for f in frames]
        side_t = None if side is None else to_tensor(side, device)
        T_t = None if T is None else to_tensor(T, device)
        mask_t = None if mask is None else torch.as_tensor(mask, device=device)
        n, k, b = len(sounds), int(self.frames_per_sound), int(self.sounds_per_batch)
        reg_on = T_t is not None and self.alpha > 0
        self.history_ = []
        # small nets: one CPU thread is fastest, and far faster on shared cores
        small = device.type == "cpu" and max(hidden) <= 512
        with cpu_threads(1 if small else None):
            module.train()
            for epoch in range(int(self.max_epochs)):
                sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "reg": 0.0}
                order = order_rng.permutation(n)
                n_batches = 0
                for start in range(0, n, b):
                    ids = order[start : start + b]
                    xs, owner = [], []
                    for j, i in enumerate(ids):
                        pick = order_rng.randint(frames_t[i].shape[0], size=k)
                        xs.append(frames_t[i][pick])
                        owner += [j] * k
                    x = torch.cat(xs)
                    owner = torch.as_tensor(owner, device=device)
                    s = None if side_t is None else side_t[ids][owner]
                    out = module(x, s, generator=noise)
                    nll = -gaussian_log_likelihood(x, out["x_mean"], out["log_scale"]).mean()
                    kl = kl_normal(out["mu"], out["logvar"]).mean()
                    reg = x.new_zeros(())
                    if reg_on and len(ids) > 1:
                        ids_t = torch.as_tensor(ids, device=device)
                        if self.regularization == "l2":
                            centre = torch.zeros(len(ids), out["mu"].shape[1], device=device)
                            centre = centre.index_add(0, owner, out["mu"]) / k
                            reg = l2_regularizer(centre, T_t[ids_t][:, ids_t],
                                                 mask=mask_t[ids_t][:, ids_t])
                        else:
                            sid = ids_t[owner]
                            reg = tsne_regularizer(out["mu"], T_t[sid][:, sid] / T_t.max(),
                                                   mask=mask_t[sid][:, sid]
                                                   | (sid[:, None] == sid[None]))
                    loss = nll + self.beta * kl + self.alpha * n_bins * reg
                    if not torch.isfinite(loss):
                        raise TrainingError(
                            f"the training loss became {float(loss)} at epoch {epoch + 1}; lower "
                            f"learning_rate (now {self.learning_rate}) or alpha."
                        )
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    for key, v in (("loss", loss), ("recon", nll), ("kl", kl), ("reg", reg)):
                        sums[key] += float(v.detach())
                    n_batches += 1
                self.history_.append({key: v / n_batches for key, v in sums.items()})
                if self.verbose >= 2:
                    h = self.history_[-1]
                    print(f"[TimbreSpace] epoch {epoch + 1}: loss={h['loss']:.4g} "
                          f"recon={h['recon']:.4g} kl={h['kl']:.4g} reg={h['reg']:.4g}")
        module.eval()
        self.module_ = module
        self.device_ = str(device)
        self.sr_ = sr
        self.n_epochs_ = len(self.history_)
        return self

    def __sklearn_is_fitted__(self):
        return hasattr(self, "module_")

    # ------------------------------------------------------------------ inference
    def _encode_sounds(self, X):
        import torch

        from .utils._torch import to_numpy, to_tensor

        check_is_fitted(self)
        sounds = check_audio(X)
        frames = self._frames(sounds)
        side = self._side(sounds)
        rows = []
        with torch.no_grad():
            for i, f in enumerate(frames):
                s = None if side is None else to_tensor(np.repeat(side[i : i + 1], len(f), 0),
                                                        self.device_)
                mu = self.module_.encode(to_tensor(f, self.device_), s)[0]
                rows.append(to_numpy(mu.mean(dim=0)))
        return np.vstack(rows), frames, side

    def transform(self, X):
        """One latent row per sound: the mean of its frames' posterior means.

        Parameters
        ----------
        X : list of ndarray of shape (n_audio_samples_i,)
            Mono sounds at ``sr``.

        Returns
        -------
        Z : ndarray of shape (n_sounds, latent_dim)
        """
        return self._encode_sounds(X)[0]

    def embed(self, sounds):
        """Same as :meth:`transform` (the hook :func:`~perceptual_timbre.embed_sounds` uses)."""
        return self._encode_sounds(sounds)[0]

    def inverse_transform(self, Z):
        """Audio from latent points: each decoded frame held as a tone (``transformer_``).

        Parameters
        ----------
        Z : array-like of shape (n_points, latent_dim)

        Returns
        -------
        audio : ndarray of shape (n_points, n_audio_samples)
        """
        return self.transformer_.inverse_transform(self.decode_frames(Z))

    def decode_frames(self, Z):
        """Spectral magnitude frames (units of ``transformer_``) decoded from latent points."""
        import torch

        from .utils._torch import to_numpy, to_tensor

        check_is_fitted(self)
        Z = np.asarray(Z, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[1] != self.module_.latent_dim or not np.all(np.isfinite(Z)):
            raise ParameterError(
                f"Z must be a finite array of shape (n, {self.module_.latent_dim}), got "
                f"shape {Z.shape}."
            )
        with torch.no_grad():
            out = to_numpy(self.module_.decode(to_tensor(Z, self.device_)))
        return self.log_.inverse_transform(out * self.frame_scale_ + self.frame_mean_)

    def reconstruction_error(self, X):
        """Mean squared error of the standardized log frames of ``X`` through the latent means."""
        import torch

        from .utils._torch import to_numpy, to_tensor

        _, frames, side = self._encode_sounds(X)
        errs = []
        with torch.no_grad():
            for i, f in enumerate(frames):
                s = None if side is None else to_tensor(np.repeat(side[i : i + 1], len(f), 0),
                                                        self.device_)
                mu = self.module_.encode(to_tensor(f, self.device_), s)[0]
                errs.append(np.mean((to_numpy(self.module_.decode(mu)) - f) ** 2))
        return float(np.mean(errs))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


def make_timbre_space(transform="nsgt", teacher=None, **vae_params):
    """An unfitted :class:`TimbreSpace` (a sound-level meta-estimator).

    Parameters
    ----------
    transform : {"nsgt", "stft", "dct"} or spectral transformer, default="nsgt"
        The spectral transform (the ``spectral`` parameter of :class:`TimbreSpace`).
    teacher : fitted metric, "pretrained" or None, default=None
        E.g. ``PerceptualMetric.pretrained()``: then no ratings are needed.
    **vae_params
        Other :class:`TimbreSpace` parameters (``latent_dim``, ``alpha``, ``max_epochs``...).

    Returns
    -------
    space : TimbreSpace
    """
    return TimbreSpace(spectral=transform, teacher=teacher, **vae_params)
