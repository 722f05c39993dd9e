"""A generative timbre space of whole sounds, organized by a perceptual teacher.

:class:`TimbreSpace` holds three fitted parts: a spectral transformer, a
:class:`~perceptual_timbre.transforms.LogMagnitude` step and ONE
:class:`~perceptual_timbre.PerceptualVAE` over the sounds' log frames, trained by the VAE's own
loop (warm-up, early stopping, input noise, tqdm, history, persistence). Each sound is a class
of that VAE: batches hold ``classes_per_batch`` sounds x ``rows_per_class`` frames, and the
perceptual regularizer matches the distances between the sounds' mean latents to targets. The
targets come from a fitted teacher metric (e.g. :meth:`PerceptualMetric.pretrained`) for EVERY
training sound, so an unrated corpus is organized perceptually; ratings, when given, set the
targets of the rated sounds. The encoder also receives a side input per sound (the teacher's
embedding, or sound-level features); the decoder outputs spectral frames, so every synthesis
tool (latent paths, descriptor maps, :class:`~perceptual_timbre.DescriptorPathSynthesizer`)
works on this space as on the paper's frame pipeline.

With a pitch-mode VAE (``vae=PerceptualVAE(pitch_mode="shift")`` and a constant-Q
``spectral``), the space routes each sound's pitch to its frames: given with ``pitch=``, or
estimated from the audio with pYIN (:func:`~perceptual_timbre.model.estimate_pitch`).
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .exceptions import ParameterError
from .utils.validation import (
    ParamValidationMixin,
    check_audio,
    check_sr,
)

__all__ = ["SPACE_VAE_PARAMS", "TimbreSpace", "make_timbre_space"]

#: The VAE of a TimbreSpace unless ``vae=`` says otherwise. Chosen by leave-one-family-out
#: over the 6 families of shared studies (benchmarks/bench_generalization.py --sweep; pooled
#: per-anchor Spearman on held-out families, the fold's metric as teacher): the teacher's
#: embedding as side input, l2 on batch-mean-normalized per-sound distances, alpha=10, one
#: hidden layer of 128, 40 epochs, 4 of 16 frames per sound, latent 56 of which the first 32
#: are perceptual (regularized; 32 hold the teacher's 64-D distances, 16 scores ~0.02 lower)
#: and 24 free for reconstruction. Over seeds 0-2 the free coordinates bring the
#: reconstruction error from 1.16 to 1.07 times that of the same space without teacher (at
#: most 1.10 at every seed; 1.09 with latent 48, 1.08 with 64), and distances on the
#: perceptual coordinates agree as well as before (pooled 0.514 vs 0.507). Features as side
#: input, alpha 100, more epochs or frames, the KL regularizer add nothing.
SPACE_VAE_PARAMS = dict(latent_dim=56, perceptual_dims=4 / 7, hidden_layer_sizes=(128,),
                        alpha=10.0, regularization="l2", warmup=0, input_noise=0.0,
                        max_epochs=40, classes_per_batch=16, rows_per_class=4)

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


class TimbreSpace(ParamValidationMixin, TransformerMixin, BaseEstimator):
    """Sound-level generative timbre space: a spectral-frame VAE with a perceptual teacher.

    Encoding a sound (:meth:`transform`, and every synthesis tool): the mean of the posterior
    means of its ``max_frames`` evenly spaced log frames, each encoded with the sound's side
    input. The regularizer shapes the first ``vae_.perceptual_dims_`` coordinates (32 of the
    default 56): :meth:`embed` returns them, and distances between sounds are read there;
    the rest are free for the decoder.

    Parameters
    ----------
    spectral : {"nsgt", "stft", "dct"} or spectral transformer, default="nsgt"
        Invertible spectral analysis of the sounds (frames are log-compressed with
        :class:`~perceptual_timbre.transforms.LogMagnitude`).
    teacher : fitted estimator, "pretrained" or None, default=None
        Metric whose ``transform(sounds)`` distances are the regularizer's targets for every
        training sound (e.g. ``PerceptualMetric.pretrained()``). Not refitted.
    vae : PerceptualVAE or None, default=None
        The (unfitted) VAE, cloned in ``fit``; None: ``PerceptualVAE(**SPACE_VAE_PARAMS)``.
        Its parameters are reachable as ``vae__alpha`` etc. in grid searches; use
        :func:`make_timbre_space` to set them by name.
    side_features : {"auto", "teacher", "features", "none"}, default="auto"
        What the encoder receives next to each frame: ``"teacher"`` the teacher's embedding
        of the sound, ``"features"`` the sound's standardized ``SoundFeatures``, ``"none"``
        nothing. ``"auto"``: the teacher's embedding when there is a teacher, else the
        features. Each input is standardized with one scale for all its columns, so the
        teacher's distances are kept.
    max_frames : int, default=16
        Evenly spaced frames kept per sound (for training and for encoding).
    sr : int, default=22050

    Notes
    -----
    Pitch mode: when ``vae`` has ``pitch_mode="shift"``, ``spectral`` must have a
    log-frequency axis with a fixed number of bins per octave (``NSGTTransformer("cqt")``;
    the default mel NSGT, STFT and DCT raise ``ParameterError``); the VAE's
    ``bins_per_octave`` is read from it when None. :meth:`fit` and :meth:`transform` take
    ``pitch=`` (MIDI per sound) or estimate it with pYIN; :meth:`transform` then returns
    the timbre coordinates and a last pitch column, and :meth:`inverse_transform` plays each
    timbre at the pitch in that column. ``y``, when given, also groups the sounds for the
    VAE's pull term (``vae.pull``).

    Attributes
    ----------
    transformer_ : spectral transformer (fitted)
    log_ : LogMagnitude
    vae_ : PerceptualVAE
        The fitted VAE over log frames; its classes are the training sounds (0..n-1).
    teacher_ : estimator or None
    features_ : SoundFeatures or None
        Side features (``side_ == "features"``).
    side_ : str
        The side input used: ``"teacher"``, ``"features"`` or ``"none"``.
    history_ : list of dict
        The VAE's per-epoch history (``loss``, ``recon``, ``kl``, ``reg``...).

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
        "vae": [None, HasMethods(["fit", "transform", "inverse_transform"])],
        "side_features": [StrOptions({"auto", "teacher", "features", "none"})],
        "max_frames": [Interval(Integral, 1, None, closed="left")],
        "sr": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, spectral="nsgt", teacher=None, *, vae=None, side_features="auto",
                 max_frames=16, sr=22050):
        self.spectral = spectral
        self.teacher = teacher
        self.vae = vae
        self.side_features = side_features
        self.max_frames = max_frames
        self.sr = sr

    # ------------------------------------------------------------------ helpers
    def _log_frames(self, sounds, chunk=256):
        """Per sound: at most max_frames evenly spaced log frames.

        Analysed ``chunk`` sounds at a time: all the frames of a large corpus would take
        gigabytes (about 0.3 MB per second of sound), the kept ones a few percent of that.
        """
        out = []
        for start in range(0, len(sounds), chunk):
            frames = self.transformer_.transform_frames(sounds[start:start + chunk])
            out += [self.log_.transform(_even_frames(np.asarray(f, dtype=np.float64),
                                                     int(self.max_frames))) for f in frames]
        return out

    def _side(self, sounds):
        if self.side_ == "none":
            return None
        if self.side_ == "teacher":
            F = np.asarray(self.teacher_.transform(sounds), dtype=np.float64)
        else:
            F = self.features_.transform(sounds)
        return (F - self.side_mean_) / self.side_scale_

    def _targets(self, n, embedding, y, dissimilarity):
        """Targets between the n training sounds (PairTargets, or None without any): the
        teacher's ``embedding`` distances (None: no teacher), ratings where given."""
        from .model import PerceptualVAE
        from .model._targets import teacher_targets

        if dissimilarity is None:
            return None if embedding is None else teacher_targets(embedding)
        if y is None:
            raise ParameterError("dissimilarity was given without y (one class per sound).")
        y = np.asarray(y, dtype=object).ravel()
        if y.size != n:
            raise ParameterError(f"y has {y.size} labels but there are {n} sounds.")
        ratings = PerceptualVAE._check_ratings(dissimilarity, np.unique(y), n)
        label = ratings.index_of(y, missing="ignore")
        if np.count_nonzero(label >= 0) < 2:
            raise ParameterError(
                f"fewer than 2 sounds of y are in the dissimilarity labels (y has "
                f"{sorted(map(str, set(y)))[:5]}..., the ratings "
                f"{[str(v) for v in ratings.labels[:5]]}...): label the sounds like the "
                f"ratings.")
        # pairs nobody rated (counts 0, e.g. a partial listening test) keep the teacher's
        rated = None if ratings.counts is None else ratings.counts > 0
        return teacher_targets(embedding, label, ratings.matrix, rated)

    # ------------------------------------------------------------------ fit
    # the VAE inside is the user's: its parameters are validated too
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, dissimilarity=None, pitch=None):
        """Fit the space on sounds (no ratings needed with a teacher).

        Parameters
        ----------
        X : list of ndarray of shape (n_audio_samples_i,)
            Mono sounds at ``sr``.
        y : array-like of shape (n_sounds,), default=None
            Class (stimulus id or instrument) of each sound; needed with ``dissimilarity``.
        dissimilarity : Ratings, DataFrame or (matrix, labels), default=None
            Ratings between classes of ``y`` (never sliced by cross-validation).
        pitch : array-like of shape (n_sounds,), default=None
            MIDI pitch of each sound, for a pitch-mode VAE (None: estimated with pYIN).

        Returns
        -------
        self : TimbreSpace
        """
        from .descriptors import SoundFeatures
        from .model import PerceptualVAE
        from .transforms import LogMagnitude

        sr = check_sr(self.sr)
        sounds = check_audio(X)
        if len(sounds) < 2:
            raise ParameterError(f"a timbre space needs at least 2 sounds, got {len(sounds)}.")
        self.transformer_ = _make_transformer(self.spectral, sr).fit(sounds)
        self.log_ = LogMagnitude().fit(self.transformer_.transform_frames(sounds[:1])[0])
        frames = self._log_frames(sounds)

        self.teacher_ = _resolve_teacher(self.teacher)
        side_kind = self.side_features
        if side_kind == "auto":
            side_kind = "teacher" if self.teacher_ is not None else "features"
        if side_kind == "teacher" and self.teacher_ is None:
            raise ParameterError('side_features="teacher" needs a teacher.')
        self.side_ = side_kind
        # the teacher's embedding of the training sounds, computed once: targets and side input
        embedding = (None if self.teacher_ is None
                     else np.asarray(self.teacher_.transform(sounds), dtype=np.float64))
        self.features_, side = None, None
        if side_kind == "features":
            self.features_ = SoundFeatures(sr=sr, standardize=True)
            side = self.features_.fit_transform(sounds)
        elif side_kind == "teacher":
            side = embedding
        if side is not None:
            # one scale for all columns: the teacher's relative distances are preserved
            self.side_mean_ = side.mean(axis=0)
            self.side_scale_ = max(float(np.sqrt(((side - self.side_mean_) ** 2).sum(1).mean())
                                         / np.sqrt(side.shape[1])), 1e-12)
            side = (side - self.side_mean_) / self.side_scale_
        targets = self._targets(len(sounds), embedding, y, dissimilarity)
        owner = np.repeat(np.arange(len(sounds)), [len(f) for f in frames])
        self.vae_ = clone(self.vae) if self.vae is not None else PerceptualVAE(
            **SPACE_VAE_PARAMS)
        self.sr_ = sr
        extra = {}
        if getattr(self.vae_, "pitch_mode", None) is not None:
            from .model._pitch import check_front

            what = (f"spectral={self.spectral!r}" if isinstance(self.spectral, str)
                    else type(self.transformer_).__name__)
            self.vae_.set_params(bins_per_octave=check_front(
                self.vae_.bins_per_octave, self.transformer_.frequencies_,
                f"the space's transformer ({what})"))
            extra["pitch"] = self._sound_pitch(sounds, pitch)[owner]
            if y is not None:
                extra["groups"] = np.asarray(y, dtype=object).ravel()[owner]
        elif pitch is not None:
            raise ParameterError("pitch= was given but the VAE has pitch_mode=None; use "
                                 "vae=PerceptualVAE(pitch_mode='shift').")
        self.vae_.fit(np.vstack(frames), owner, dissimilarity=targets,
                      side=None if side is None else side[owner], **extra)
        return self

    def _sound_pitch(self, sounds, pitch, frames=None, side=None):
        """MIDI pitch per sound: checked when given, else :func:`model._pitch.sound_pitch`
        (once fitted, an unpitched sound gets the decoder's most likely pitch)."""
        from .model._pitch import sound_pitch
        from .model._vae import _check_pitch_values

        if pitch is not None:
            return _check_pitch_values(pitch, len(sounds))
        if frames is None:
            return sound_pitch(sounds, self.sr_)

        def decoder_pitch(i):
            rows = None if side is None else np.repeat(side[i:i + 1], len(frames[i]), axis=0)
            return np.median(self.vae_.transform(frames[i], side=rows)[:, -1])

        return sound_pitch(sounds, self.sr_, decoder_pitch)

    def _pitched(self):
        return getattr(self.vae_, "pitch_range_", None) is not None

    def __sklearn_is_fitted__(self):
        return hasattr(self, "vae_")

    @property
    def history_(self):
        check_is_fitted(self)
        return self.vae_.history_

    # ------------------------------------------------------------------ inference
    def _frames_and_side(self, X, pitch=None):
        """Log frames, their sound, side input and pitch (None without pitch mode)."""
        check_is_fitted(self)
        sounds = check_audio(X)
        frames = self._log_frames(sounds)
        side = self._side(sounds)
        owner = np.repeat(np.arange(len(frames)), [len(f) for f in frames])
        if self._pitched():
            pitch = self._sound_pitch(sounds, pitch, frames, side)[owner]
        elif pitch is not None:
            raise ParameterError("pitch= was given but this space has no pitch mode.")
        return np.vstack(frames), owner, None if side is None else side[owner], pitch

    def transform(self, X, return_std=False, pitch=None):
        """One latent row per sound: the mean of its frames' posterior means.

        Parameters
        ----------
        X : list of ndarray of shape (n_audio_samples_i,)
            Mono sounds at ``sr``.
        return_std : bool, default=False
            Also return each sound's posterior spread: the root mean square of its frames'
            posterior standard deviations, per latent coordinate.
        pitch : array-like of shape (n_sounds,), default=None
            Pitch mode: MIDI pitch of each sound (None: estimated with pYIN).

        Returns
        -------
        Z : ndarray of shape (n_sounds, latent_dim) or (n_sounds, latent_dim + 1)
            Every coordinate (what :meth:`inverse_transform` decodes; :meth:`embed` gives the
            perceptual ones). In pitch mode the last column is the pitch.
        Z_std : ndarray of the shape of ``Z``
            Only with ``return_std=True``.
        """
        F, owner, side, P = self._frames_and_side(X, pitch)
        Zf, Sf = self.vae_.transform(F, side=side, return_std=True,
                                     **({} if P is None else {"pitch": P}))
        starts = np.flatnonzero(np.r_[True, np.diff(owner) != 0])
        n = np.bincount(owner)[:, None]
        Z = np.add.reduceat(Zf, starts, axis=0) / n
        if not return_std:
            return Z
        return Z, np.sqrt(np.add.reduceat(Sf**2, starts, axis=0) / n)

    def embed(self, sounds):
        """The sounds' perceptual coordinates (the hook :func:`~perceptual_timbre.embed_sounds`
        uses): the first ``vae_.perceptual_dims_`` columns of :meth:`transform` (all of them
        when None), where distances follow the teacher and the ratings."""
        return self.transform(sounds)[:, :self.vae_.perceptual_dims_]

    def decode_frames(self, Z):
        """Spectral magnitude frames (units of ``transformer_``) decoded from latent points."""
        check_is_fitted(self)
        return self.log_.inverse_transform(self.vae_.inverse_transform(Z))

    def inverse_transform(self, Z):
        """Audio from latent points: each decoded frame held as a tone (``transformer_``).

        Parameters
        ----------
        Z : array-like of shape (n_points, latent_dim)
            In pitch mode, timbre coordinates and a last pitch column (MIDI).

        Returns
        -------
        audio : ndarray of shape (n_points, n_audio_samples)
        """
        return self.transformer_.inverse_transform(self.decode_frames(Z))

    def reconstruction_error(self, X, pitch=None):
        """Mean squared error of the log frames of ``X`` through their latent means."""
        F, _, side, P = self._frames_and_side(X, pitch)
        return self.vae_.reconstruction_error(F, side=side,
                                              **({} if P is None else {"pitch": P}))

    def score(self, X, y=None, sample_weight=None, pitch=None):
        """Mean ELBO per frame of the sounds ``X`` (higher is better)."""
        F, _, side, P = self._frames_and_side(X, pitch)
        return self.vae_.score(F, side=side, **({} if P is None else {"pitch": P}))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


def make_timbre_space(transform="nsgt", teacher=None, *, side_features="auto", max_frames=16,
                      sr=22050, **vae_params):
    """An unfitted :class:`TimbreSpace`, with its VAE's parameters set by name.

    Parameters
    ----------
    transform : {"nsgt", "stft", "dct"} or spectral transformer, default="nsgt"
        The spectral transform (the ``spectral`` parameter of :class:`TimbreSpace`).
    teacher : fitted metric, "pretrained" or None, default=None
        E.g. ``PerceptualMetric.pretrained()``: then no ratings are needed.
    side_features, max_frames, sr
        See :class:`TimbreSpace`.
    **vae_params
        :class:`~perceptual_timbre.PerceptualVAE` parameters that replace those of
        :data:`SPACE_VAE_PARAMS` (``latent_dim``, ``alpha``, ``max_epochs``, ``random_state``,
        ``early_stopping``, ``verbose``...).

    Returns
    -------
    space : TimbreSpace
    """
    from .model import PerceptualVAE

    try:
        vae = PerceptualVAE(**{**SPACE_VAE_PARAMS, **vae_params})
    except TypeError:
        unknown = sorted(set(vae_params) - set(PerceptualVAE().get_params()))
        raise ParameterError(
            f"unknown parameter(s) {unknown}: make_timbre_space takes TimbreSpace's "
            f"side_features, max_frames, sr and PerceptualVAE's parameters.") from None
    return TimbreSpace(spectral=transform, teacher=teacher, vae=vae,
                       side_features=side_features, max_frames=max_frames, sr=sr)
