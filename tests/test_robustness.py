"""Robustness table: bad inputs across the public API, each with its documented error.

Every case is one row of ``CASES``: a readable id, a call that takes the shared context
(real SoundFont notes, the bundled 12-instrument ratings, a small fitted timbre space), the
exception class the API documents, and a fragment of the message that names the problem.
"""

import pickle
import sys
from functools import cached_property

import joblib
import numpy as np
import pytest
import scipy.sparse
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from perceptual_timbre.datasets import (
    get_data_home,
    list_timbre_studies,
    load_audio_folder,
    load_instrument_ratings,
    load_timbre_study,
    render_instrument_notes,
)
from perceptual_timbre.embedding import embed_sounds
from perceptual_timbre.exceptions import DataNotFoundError, ParameterError, TrainingError
from perceptual_timbre.metrics import (
    anchor_spearman,
    centroid_correlation,
    latent_kl_divergence,
    make_perceptual_scorer,
    mantel_test,
    retrieval_ndcg,
    triplet_agreement,
)
from perceptual_timbre.model import PerceptualVAE
from perceptual_timbre.synthesis import DescriptorPathSynthesizer, latent_path, render_path
from perceptual_timbre.transforms import (
    DCTTransformer,
    LogMagnitude,
    NSGTTransformer,
    STFTTransformer,
)
from perceptual_timbre.utils import Ratings, check_dissimilarity

SR = 22050
N_FFT = 512
TINY_VAE = dict(latent_dim=2, hidden_layer_sizes=(16,), max_epochs=2, random_state=0)


class _Context:
    """Shared, lazily built inputs: only the cases that need an object pay for it."""

    def __init__(self, notes, tmp):
        self.notes = notes
        self.tmp = tmp

    @cached_property
    def audio(self):
        """One note (pitch 60, velocity 100) of each of the 12 instruments, float64."""
        keep = (self.notes.pitch == 60) & (self.notes.velocity == 100)
        return self.notes.audio[keep].astype(np.float64)

    @cached_property
    def labels(self):
        keep = (self.notes.pitch == 60) & (self.notes.velocity == 100)
        return np.asarray(self.notes.instrument)[keep]

    @cached_property
    def x(self):
        return self.audio[0]

    @cached_property
    def stft(self):
        return STFTTransformer(sr=SR, n_fft=N_FFT, hop_length=256, n_iter=2, random_state=0).fit(
            self.audio
        )

    @cached_property
    def X(self):
        """Log-magnitude STFT frames of every note (all 48), labelled by instrument."""
        frames = LogMagnitude().fit_transform(self.stft.transform(self.notes.audio))
        return frames

    @cached_property
    def y(self):
        return np.asarray(self.notes.instrument)

    @cached_property
    def ratings(self):
        """The bundled combined ratings of the 12 instruments (Esling et al. 2018)."""
        return load_instrument_ratings().ratings

    @cached_property
    def D(self):
        """The ratings as a plain matrix ordered like np.unique(y)."""
        return self.ratings.subset(np.unique(self.y)).matrix.copy()

    @cached_property
    def space(self):
        pipe = Pipeline(
            [("stft", self.stft), ("log", LogMagnitude()), ("vae", PerceptualVAE(**TINY_VAE))]
        )
        return pipe.fit(self.audio)

    @cached_property
    def vae(self):
        return self.space["vae"]

    @cached_property
    def Z(self):
        return self.vae.transform(self.X)

    @cached_property
    def synth(self):
        return DescriptorPathSynthesizer(
            space=self.space, method="greedy", n_steps=8, n_grid=20, random_state=0
        ).fit(self.audio, self.labels)

    @cached_property
    def model_file(self):
        path = self.tmp / "space.joblib"
        joblib.dump(self.vae, path)
        return path

    def file(self, name, content):
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
        return path


@pytest.fixture(scope="module")
def ctx(rendered_notes, tmp_path_factory):
    return _Context(rendered_notes, tmp_path_factory.mktemp("robustness"))


# ----------------------------------------------------------------------------- helpers
def _with(arr, index, value):
    out = np.array(arr, dtype=float, copy=True)
    out[index] = value
    return out


def _sym_set(D, i, j, value):
    return _with(_with(D, (i, j), value), (j, i), value)


def _vae_fit(c, dissimilarity, y="default", **params):
    y = c.y if isinstance(y, str) else y
    return PerceptualVAE(**{**TINY_VAE, **params}).fit(c.X, y, dissimilarity=dissimilarity)


def _truncated_model(c):
    data = c.model_file.read_bytes()
    return joblib.load(c.file("truncated.joblib", data[: len(data) // 2]))


def _incompatible_model(c):
    # a model file written by another version: the stored weights no longer fit the network
    state = c.vae.__getstate__()
    state["_module_kwargs"] = {**state["_module_kwargs"], "latent_dim": 5}
    path = c.file("incompatible.pkl", pickle.dumps(state))
    restored = PerceptualVAE.__new__(PerceptualVAE)
    restored.__setstate__(pickle.loads(path.read_bytes()))
    return restored


def _foreign_pickle(c):
    joblib.dump({"weights": [1, 2, 3]}, c.tmp / "foreign.joblib")
    return joblib.load(c.tmp / "foreign.joblib")


def _wav_as_model(c):
    import soundfile as sf

    sf.write(c.tmp / "note.wav", c.x, SR)
    return joblib.load(c.tmp / "note.wav")


def _study_home(c, name, matrix_text, with_sounds=True):
    root = c.tmp / name / "timbremetrics"
    (root / "true_dissim").mkdir(parents=True, exist_ok=True)
    (root / "true_dissim" / "Toy_dissimilarity_matrix.txt").write_text(matrix_text)
    if with_sounds:
        (root / "sounds" / "Toy").mkdir(parents=True, exist_ok=True)
    return c.tmp / name


def _unfitted_space():
    return Pipeline(
        [("stft", STFTTransformer(sr=SR, n_fft=N_FFT)), ("log", LogMagnitude()),
         ("vae", PerceptualVAE(**TINY_VAE))]
    )


def _plotting():
    import matplotlib

    matplotlib.use("Agg")
    from perceptual_timbre import plotting

    return plotting


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")




def case(id, call, exc, match, marks=()):
    return pytest.param(call, exc, match, id=id, marks=marks)


# ----------------------------------------------------------------------------- the table
CASES = [
    # -- audio --------------------------------------------------------------------------
    case("audio-nan-sample", lambda c: c.stft.transform([c.x, _with(c.x, 100, np.nan)]),
         ParameterError, r"X\[1\] contains NaN or infinite samples \(first at index 100\)"),
    case("audio-inf-sample", lambda c: c.stft.transform([_with(c.x, 5, np.inf)]),
         ParameterError, r"X\[0\] contains NaN or infinite samples \(first at index 5\)"),
    case("audio-no-sounds", lambda c: c.stft.transform([]), ParameterError, "holds no sounds"),
    case("audio-empty-sound", lambda c: c.stft.transform([c.x, np.array([])]),
         ParameterError, r"X\[1\] is empty \(0 samples\)"),
    case("audio-silent-sound", lambda c: c.stft.fit([c.x, np.zeros(SR)]),
         ParameterError, r"X\[1\] is silent"),
    case("audio-stereo-list-entry", lambda c: c.stft.transform([np.stack([c.x, c.x])]),
         ParameterError, r"must be a 1-D mono signal.*stereo"),
    case("audio-3d-array", lambda c: c.stft.transform(c.audio[None]),
         ParameterError, r"got an array of shape \(1, 12, \d+\)"),
    case("audio-single-1d-signal", lambda c: c.stft.transform(c.x),
         ParameterError, "single 1-D signal"),
    case("audio-shorter-than-window", lambda c: c.stft.transform([c.x, c.x[:100]]),
         ParameterError, r"X\[1\] has 100 samples, fewer than the 512"),
    case("audio-2d-shorter-than-window", lambda c: c.stft.transform(c.audio[:, :100]),
         ParameterError, "fewer than the 512 this transform needs"),
    case("audio-shorter-than-nsgt-fmin",
         lambda c: NSGTTransformer(sr=SR, fmin=30, fmax=8000, bins=12).fit([c.x[:1000]]),
         ParameterError, "fewer than the 1470"),
    case("audio-non-numeric", lambda c: c.stft.transform([["a"] * 600]),
         ParameterError, r"X\[0\] is not numeric audio"),
    case("audio-complex", lambda c: c.stft.transform(c.audio.astype(complex)),
         ParameterError, "Complex data not supported"),
    case("audio-string", lambda c: c.stft.transform("flute.wav"),
         ParameterError, "got str"),
    case("audio-sparse", lambda c: c.stft.transform(scipy.sparse.csr_matrix(c.audio)),
         ParameterError, "sparse input is not supported"),
    case("embed-single-1d-signal", lambda c: embed_sounds(c.space, c.x, sr=SR),
         ParameterError, "sounds is a single 1-D signal"),
    case("embed-complex-audio",
         lambda c: embed_sounds(c.space, c.audio.astype(complex), sr=SR),
         ParameterError, "[Cc]omplex"),
    case("embed-nan-sound", lambda c: embed_sounds(c.space, [_with(c.x, 0, np.nan)], sr=SR),
         ParameterError, r"sounds\[0\] contains NaN"),
    # -- sample rates --------------------------------------------------------------------
    case("sr-differs-from-space", lambda c: embed_sounds(c.space, c.audio, sr=44100),
         ParameterError, "sr=44100 Hz but the space was built for sr=22050 Hz"),
    case("sr-negative", lambda c: embed_sounds(c.space, c.audio, sr=-22050),
         ParameterError, "sr must be a positive sample rate in Hz, got -22050"),
    case("sr-non-integer", lambda c: embed_sounds(c.space, c.audio, sr=22050.5),
         ParameterError, "sr must be a whole number of Hz, got 22050.5"),
    case("sr-bool", lambda c: embed_sounds(c.space, c.audio, sr=True),
         ParameterError, "positive sample rate in Hz, got True"),
    case("sr-negative-transformer", lambda c: STFTTransformer(sr=-1).fit(c.audio),
         ParameterError, "'sr' parameter of STFTTransformer"),
    case("sr-non-integer-transformer", lambda c: DCTTransformer(sr=8000.5).fit(c.audio),
         ParameterError, "whole number of Hz"),
    case("sr-zero-study", lambda c: load_timbre_study("Grey1977", data_home=c.tmp, sr=0),
         ParameterError, "positive sample rate"),
    # -- transform parameters ------------------------------------------------------------
    case("nsgt-fmin-not-below-fmax",
         lambda c: NSGTTransformer(sr=SR, fmin=2000, fmax=1000).fit(c.audio),
         ParameterError, "fmin=2000 must be below fmax=1000"),
    case("nsgt-fmax-above-nyquist",
         lambda c: NSGTTransformer(sr=SR, fmin=30, fmax=12000).fit(c.audio),
         ParameterError, "below the Nyquist frequency"),
    case("nsgt-unknown-scale", lambda c: NSGTTransformer("bark", sr=SR).fit(c.audio),
         ParameterError, "'scale' parameter of NSGTTransformer"),
    case("stft-unknown-frame-option", lambda c: STFTTransformer(frame="median").fit(c.audio),
         ParameterError, "'frame' parameter of STFTTransformer"),
    case("stft-hop-longer-than-window",
         lambda c: STFTTransformer(n_fft=256, hop_length=512).fit(c.audio),
         ParameterError, "hop_length=512 is larger than n_fft=256"),
    case("stft-unknown-window",
         lambda c: STFTTransformer(n_fft=256, hop_length=64, window="nope").fit(c.audio),
         ParameterError, "unknown window 'nope'"),
    case("dct-window-zeros-without-overlap",
         lambda c: DCTTransformer(n_fft=256, window="hann").fit(c.audio),
         ParameterError, "has zeros"),
    case("logmagnitude-negative-floor", lambda c: LogMagnitude(floor=-1).fit(c.X),
         ParameterError, "'floor' parameter of LogMagnitude"),
    case("inverse-wrong-number-of-bins", lambda c: c.stft.inverse_transform(np.ones((1, 10))),
         ParameterError, r"must have shape \(n, 257\)"),
    case("inverse-nan-frame",
         lambda c: c.stft.inverse_transform(np.full((1, 257), np.nan)),
         ParameterError, "S contains NaN or infinite values"),
    case("inverse-frames-negative-duration",
         lambda c: c.stft.inverse_transform_frames(c.stft.transform(c.audio), duration=-1),
         ParameterError, "duration must be a positive number of seconds"),
    case("logmagnitude-inverse-overflow",
         lambda c: LogMagnitude().fit([[1.0]]).inverse_transform([[1000.0]]),
         ParameterError, "exp would overflow"),
    # -- dissimilarity matrices (real 12-instrument ratings) -----------------------------
    case("diss-non-square", lambda c: _vae_fit(c, c.D[:11]),
         ParameterError, r"must be a square matrix ordered like np.unique\(y\), got shape"),
    case("diss-sliced-by-cross-validation", lambda c: _vae_fit(c, np.ones((48, 12))),
         ParameterError, "Cross-validation slices every fit parameter"),
    case("diss-asymmetric", lambda c: _vae_fit(c, _with(c.D, (0, 1), 5.0)),
         ParameterError, r"not symmetric \(\[0, 1\] = 5"),
    case("diss-negative", lambda c: _vae_fit(c, _sym_set(c.D, 2, 3, -0.5)),
         ParameterError, "negative values"),
    case("diss-nan", lambda c: _vae_fit(c, _sym_set(c.D, 2, 3, np.nan)),
         ParameterError, "dissimilarity contains NaN or infinite values"),
    case("diss-nonzero-diagonal", lambda c: _vae_fit(c, c.D + np.eye(12)),
         ParameterError, "must have a zero diagonal"),
    case("diss-size-differs-from-classes", lambda c: _vae_fit(c, c.D[:11, :11]),
         ParameterError, "dissimilarity is 11x11 but y has 12 classes"),
    case("diss-labels-missing-from-matrix",
         lambda c: _vae_fit(c, Ratings(c.D, [f"synth{i}" for i in range(12)])),
         ParameterError, "none of the classes in y"),
    case("diss-duplicate-labels",
         lambda c: _vae_fit(c, (c.D, ["Flute"] * 2 + list(np.unique(c.y)[2:]))),
         ParameterError, "labels must be unique"),
    case("diss-without-y", lambda c: _vae_fit(c, c.ratings, y=None),
         ParameterError, "dissimilarity was given without y"),
    case("diss-plain-array-without-labels", lambda c: check_dissimilarity(c.D),
         ParameterError, "a plain dissimilarity array needs labels"),
    case("diss-counts-shape", lambda c: Ratings(c.D, np.unique(c.y), counts=np.ones((3, 3))),
         ParameterError, r"counts has shape \(3, 3\), expected \(12, 12\)"),
    case("ratings-subset-unknown-label", lambda c: c.ratings.subset(["Flute", "Kazoo"]),
         ParameterError, r"labels \['Kazoo'\] are missing from the dissimilarity matrix"),
    case("ratings-index-of-unknown-missing-option",
         lambda c: c.ratings.index_of(["Kazoo"], missing="warn"),
         ParameterError, "missing must be"),
    case("scorer-plain-array", lambda c: make_perceptual_scorer(c.D),
         ParameterError, "needs labelled ratings"),
    # -- labels ------------------------------------------------------------------------
    case("vae-y-wrong-length", lambda c: _vae_fit(c, None, y=c.y[:5]),
         ParameterError, "y"),
    case("metric-y-wrong-length", lambda c: centroid_correlation(c.Z, c.y[:-1], c.ratings),
         ParameterError, "y must hold one label per row of Z: Z has 48 rows"),
    case("synth-y-wrong-length",
         lambda c: DescriptorPathSynthesizer(space=c.space, n_grid=20).fit(c.audio, c.labels[:2]),
         ParameterError, r"y must have one label per sound \(12\)"),
    case("metric-unrated-label-with-missing-raise",
         lambda c: latent_kl_divergence(c.Z, np.where(np.arange(48) == 0, "Kazoo", c.y),
                                        c.ratings, missing="raise"),
         ParameterError, r"labels \['Kazoo'\] are missing from the dissimilarity matrix"),
    case("metric-single-rated-class",
         lambda c: centroid_correlation(c.Z, np.full(48, "Flute"), c.ratings),
         ParameterError, r"y holds 1 rated class\(es\)"),
    # -- VAE parameters ------------------------------------------------------------------
    case("vae-set-params-unknown", lambda c: PerceptualVAE().set_params(n_layers=3),
         ValueError, "Invalid parameter 'n_layers' for estimator PerceptualVAE"),
    case("vae-negative-latent-dim", lambda c: PerceptualVAE(latent_dim=-2).fit(c.X),
         ParameterError, "latent_dim"),
    case("vae-unknown-regularization", lambda c: PerceptualVAE(regularization="tsne").fit(c.X),
         ParameterError, "regularization"),
    case("vae-unknown-device", lambda c: PerceptualVAE(**TINY_VAE, device="tpu").fit(c.X),
         ParameterError, "unknown device 'tpu'"),
    case("vae-zero-width-layer",
         lambda c: PerceptualVAE(hidden_layer_sizes=(16, 0), max_epochs=1).fit(c.X),
         ParameterError, r"hidden_layer_sizes must be a sequence of positive ints, got \(16, 0\)"),
    case("vae-early-stopping-without-validation",
         lambda c: PerceptualVAE(**TINY_VAE, early_stopping=True,
                                 validation_fraction=0.0).fit(c.X),
         ParameterError, r"early_stopping=True needs validation_fraction > 0"),
    case("vae-nan-spectra", lambda c: PerceptualVAE(**TINY_VAE).fit(_with(c.X, (3, 7), np.nan)),
         ParameterError, r"X contains NaN or infinite values \(first in row 3\)"),
    case("vae-diverging-training",
         lambda c: PerceptualVAE(**{**TINY_VAE, "max_epochs": 5},
                                 learning_rate=1e12).fit(c.X),
         TrainingError, "training diverged"),
    case("vae-decode-wrong-latent-dim", lambda c: c.vae.inverse_transform(np.zeros((2, 5))),
         ParameterError, "latent points have 5 dimensions, this model has 2"),
    case("vae-sample-zero", lambda c: c.vae.sample(0),
         ParameterError, "n_samples must be a positive int, got 0"),
    # -- unfitted use ----------------------------------------------------------------------
    case("unfitted-stft-transform", lambda c: STFTTransformer().transform(c.audio),
         NotFittedError, "STFTTransformer instance is not fitted yet"),
    case("unfitted-nsgt-inverse",
         lambda c: NSGTTransformer().inverse_transform(np.ones((1, 10))),
         NotFittedError, "NSGTTransformer instance is not fitted yet"),
    case("unfitted-logmagnitude-inverse", lambda c: LogMagnitude().inverse_transform(c.X),
         NotFittedError, "LogMagnitude instance is not fitted yet"),
    case("unfitted-vae-transform", lambda c: PerceptualVAE().transform(c.X),
         NotFittedError, "PerceptualVAE instance is not fitted yet"),
    case("unfitted-vae-inverse", lambda c: PerceptualVAE().inverse_transform(np.zeros((1, 16))),
         NotFittedError, "PerceptualVAE instance is not fitted yet"),
    case("unfitted-space-embed", lambda c: embed_sounds(_unfitted_space(), c.audio, sr=SR),
         NotFittedError, r"spectral transformer \(STFTTransformer\) is not fitted; fit the"),
    case("unfitted-synthesizer", lambda c: DescriptorPathSynthesizer(space=c.space).synthesize(
        "Flute", "increase"), NotFittedError, "DescriptorPathSynthesizer instance is not fitted"),
    case("synth-unfitted-space",
         lambda c: DescriptorPathSynthesizer(space=_unfitted_space()).fit(c.audio),
         NotFittedError, r"the timbre space's spectral transformer \(STFTTransformer\) is not "),
    # -- corrupt or foreign model files (no documented loader: joblib.load) ----------------
    case("model-file-truncated", _truncated_model,
         pickle.UnpicklingError, "pickle exhausted before end of frame"),
    case("model-file-is-audio", _wav_as_model, IndexError, "pop from empty list"),
    case("model-file-missing", lambda c: joblib.load(c.tmp / "never_saved.joblib"),
         FileNotFoundError, "never_saved.joblib"),
    case("model-file-incompatible-weights", _incompatible_model,
         RuntimeError, "size mismatch"),
    case("model-file-foreign-object-embed",
         lambda c: embed_sounds(_foreign_pickle(c), c.audio, sr=SR),
         ParameterError, "space must have embed\\(\\) or transform\\(\\).*got dict"),
    case("model-file-foreign-object-synth",
         lambda c: DescriptorPathSynthesizer(space=_foreign_pickle(c)).fit(c.audio),
         ParameterError, "space must be a fitted TimbreSpace, a fitted Pipeline"),
    # -- data home, studies, folders, SoundFonts -------------------------------------------
    case("data-home-missing", lambda c: list_timbre_studies(data_home=c.tmp / "nowhere"),
         DataNotFoundError, "no timbre studies found"),
    case("data-home-not-a-path", lambda c: get_data_home(123),
         ParameterError, "data_home must be a path"),
    case("study-missing-data-home",
         lambda c: load_timbre_study("Grey1977", data_home=c.tmp / "nowhere"),
         DataNotFoundError, "from the data_home argument"),
    case("study-without-stimuli",
         lambda c: load_timbre_study(
             "Toy", data_home=_study_home(c, "nostim", "0 1\n0 0\n", with_sounds=False)),
         DataNotFoundError, "has a dissimilarity matrix but no stimuli folder"),
    case("study-corrupt-matrix-file",
         lambda c: load_timbre_study("Toy", data_home=_study_home(c, "corrupt", "0 1\n0 x\n")),
         ParameterError, "line 2 has a non-numeric value"),
    case("audio-folder-missing", lambda c: load_audio_folder(c.tmp / "no_such_folder"),
         DataNotFoundError, "does not exist"),
    case("audio-folder-corrupt-file",
         lambda c: load_audio_folder(c.file("folder/flute/broken.wav", "not audio").parent),
         ParameterError, "cannot decode audio file"),
    case("soundfont-missing",
         lambda c: render_instrument_notes(soundfont=c.tmp / "missing.sf2"),
         DataNotFoundError, "missing.sf2 does not exist"),
    case("soundfont-unknown-instrument", lambda c: render_instrument_notes(instruments=["Kazoo"]),
         ParameterError, r"unknown instruments \['Kazoo'\]"),
    # -- synthesis targets -----------------------------------------------------------------
    case("synth-target-wrong-length",
         lambda c: c.synth.synthesize("Flute", np.linspace(500.0, 1000.0, 5)),
         ParameterError, r"target array must have shape \(8,\)"),
    case("synth-target-nan", lambda c: c.synth.synthesize("Flute", np.full(8, np.nan)),
         ParameterError, "target contains NaN or infinite values"),
    case("synth-unknown-target-shape", lambda c: c.synth.synthesize("Flute", "zigzag"),
         ParameterError, "unknown target shape 'zigzag'"),
    case("synth-unknown-origin", lambda c: c.synth.synthesize("Banjo", "increase"),
         ParameterError, "origin='Banjo' is not one of"),
    case("synth-unknown-descriptor",
         lambda c: DescriptorPathSynthesizer(space=c.space, descriptors="brightness").fit(
             c.audio), ParameterError, "unknown descriptor 'brightness'"),
    case("synth-no-space", lambda c: DescriptorPathSynthesizer().fit(c.audio),
         ParameterError, "space is None"),
    case("render-path-nan", lambda c: render_path(c.space, np.full((4, 2), np.nan)),
         ParameterError, "Z_path contains NaN or infinite values"),
    case("latent-path-mismatched-ends", lambda c: latent_path([0.0, 0.0], [1.0, 1.0, 1.0]),
         ParameterError, r"end must be a latent point of shape \(2,\)"),
    # -- plotting ----------------------------------------------------------------------
    case("plot-labels-wrong-length",
         lambda c: _plotting().plot_timbre_space(c.Z, labels=c.y[:-1]),
         ParameterError, r"labels must have one entry per latent \(48\)"),
    case("plot-nan-latents", lambda c: _plotting().plot_timbre_space(_with(c.Z, (0, 0), np.nan)),
         ParameterError, "Z must be a finite 2-D array of latents"),
    case("plot-estimator-without-latents", lambda c: _plotting().plot_timbre_space(c.vae),
         ParameterError, "PerceptualVAE keeps no latents"),
    case("plot-four-components", lambda c: _plotting().plot_timbre_space(c.Z, n_components=4),
         ParameterError, "n_components must be 2 or 3, got 4"),
    case("plot-spectrogram-negative-sr", lambda c: _plotting().plot_spectrogram(c.x, -SR),
         ParameterError, "sr"),
    case("plot-spectrogram-stereo",
         lambda c: _plotting().plot_spectrogram(np.stack([c.x, c.x]), SR),
         ParameterError, "mono"),
    # -- metric inputs -----------------------------------------------------------------
    case("metric-mismatched-shapes", lambda c: anchor_spearman(c.D[:5, :5], c.D),
         ParameterError, r"pred_D has shape \(5, 5\) but true_D has shape \(12, 12\)"),
    case("metric-asymmetric-prediction", lambda c: triplet_agreement(np.triu(c.D), c.D),
         ParameterError, "pred_D is not symmetric"),
    case("metric-nan-prediction", lambda c: retrieval_ndcg(_sym_set(c.D, 0, 1, np.nan), c.D),
         ParameterError, "pred_D contains NaN or infinite values"),
    case("metric-too-few-items", lambda c: anchor_spearman(c.D[:2, :2], c.D[:2, :2]),
         ParameterError, "need at least 3 items, got 2"),
    case("metric-rated-mask-shape",
         lambda c: anchor_spearman(c.D, c.D, rated=np.ones((3, 3), bool)),
         ParameterError, r"rated has shape \(3, 3\), expected \(12, 12\)"),
    case("metric-triplet-margin", lambda c: triplet_agreement(c.D, c.D, margin=1.5),
         ParameterError, r"margin must be a number in \[0, 1\)"),
    case("metric-mantel-no-permutations", lambda c: mantel_test(c.D, c.D, n_permutations=0),
         ParameterError, "n_permutations must be a positive int"),
    case("metric-kl-zero-sigma", lambda c: latent_kl_divergence(c.Z, c.y, c.ratings, sigma=0),
         ParameterError, "sigma must be a positive number"),
    case("metric-unknown-correlation",
         lambda c: centroid_correlation(c.Z, c.y, c.ratings, method="kendall"),
         ParameterError, "method must be 'spearman' or 'pearson', got 'kendall'"),
    case("scorer-unknown-metric", lambda c: make_perceptual_scorer(c.ratings, metric="auc"),
         ParameterError, "metric must be one of"),
    case("scorer-without-y", lambda c: make_perceptual_scorer(c.ratings)(c.vae, c.X),
         ParameterError, "a perceptual scorer needs y"),
]


@pytest.mark.parametrize(("call", "exc", "match"), CASES)
def test_bad_input_raises_documented_error(ctx, call, exc, match):
    with pytest.raises(exc, match=match):
        call(ctx)


def test_errors_are_catchable_by_their_documented_bases(ctx):
    # ParameterError is a ValueError and DataNotFoundError an OSError, so generic handlers
    # written against the standard library keep working.
    with pytest.raises(ValueError):
        ctx.stft.transform([np.zeros(SR)])
    with pytest.raises(OSError):
        list_timbre_studies(data_home=ctx.tmp / "nowhere")


def test_unknown_study_lists_the_available_ones(data_home):
    with pytest.raises(ParameterError, match=r"unknown timbre study 'Nope1999'.*'Grey1977'"):
        load_timbre_study("Nope1999", data_home=data_home)
    # a path that escapes the study folder is just an unknown name
    with pytest.raises(ParameterError, match="unknown timbre study"):
        load_timbre_study("../Grey1977", data_home=data_home)


def test_bad_input_leaves_fitted_estimators_usable(ctx):
    """A rejected call must not corrupt the fitted state it was made on."""
    before = ctx.vae.transform(ctx.X[:4])
    with pytest.raises(ParameterError):
        ctx.vae.inverse_transform(np.zeros((1, 7)))
    with pytest.raises(ParameterError):
        ctx.stft.transform([np.zeros(SR)])
    np.testing.assert_array_equal(ctx.vae.transform(ctx.X[:4]), before)
    assert ctx.stft.transform(ctx.audio[:2]).shape == (2, N_FFT // 2 + 1)
