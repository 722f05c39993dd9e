"""embed_sounds / predicted_dissimilarity on real study stimuli."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline

from perceptual_timbre.baselines import MFCCEmbedding
from perceptual_timbre.embedding import embed_sounds, predicted_dissimilarity
from perceptual_timbre.exceptions import ParameterError
from perceptual_timbre.metrics import anchor_spearman

SR = 22050
transforms = pytest.importorskip("perceptual_timbre.transforms")


@pytest.fixture(scope="module")
def study(load_study):
    """Lakatos2000_Harm: 17 sustained harmonic tones of 1.5 s (varied lengths after trim)."""
    sounds, names, D = load_study("Lakatos2000_Harm")
    # vary the lengths: sounds of any length must embed
    sounds = [s[: len(s) - 1000 * i] for i, s in enumerate(sounds)]
    return sounds, names, D


@pytest.fixture(scope="module")
def stft_space(study):
    """A fitted frame-level space: STFT -> log magnitude -> PCA."""
    sounds, _, _ = study
    space = Pipeline([
        ("stft", transforms.STFTTransformer(sr=SR, n_fft=1024, hop_length=512)),
        ("log", transforms.LogMagnitude()),
        ("pca", PCA(n_components=6, random_state=0)),
    ])
    return space.fit(sounds)


def test_frame_pipeline_embeds_mean_of_frame_latents(study, stft_space):
    sounds, _, _ = study
    Z = embed_sounds(stft_space, sounds, sr=SR)
    assert Z.shape == (len(sounds), 6)
    # PCA is affine, so the mean of latent frames is the PCA of the mean log frame
    frames = stft_space["stft"].transform_frames(sounds)
    for i in (0, 7, 16):
        logf = stft_space["log"].transform(frames[i])
        expected = stft_space["pca"].transform(logf.mean(0, keepdims=True))[0]
        np.testing.assert_allclose(Z[i], expected, atol=1e-8)
    # one row per sound, not one per frame; median pooling differs from mean
    Zm = embed_sounds(stft_space, sounds, sr=SR, aggregate="median")
    assert Zm.shape == Z.shape and not np.allclose(Zm, Z)


def test_order_and_subsets_are_respected(study, stft_space):
    sounds, _, _ = study
    Z = embed_sounds(stft_space, sounds, sr=SR)
    np.testing.assert_allclose(embed_sounds(stft_space, sounds[::-1], sr=SR), Z[::-1])
    np.testing.assert_allclose(embed_sounds(stft_space, [sounds[3]], sr=SR), Z[3:4])


def test_predicted_dissimilarity_is_a_distance_matrix(study, stft_space):
    sounds, _, D = study
    P = predicted_dissimilarity(stft_space, sounds, sr=SR)
    Z = embed_sounds(stft_space, sounds, sr=SR)
    np.testing.assert_allclose(P, squareform(pdist(Z)))
    assert np.allclose(P, P.T) and np.all(np.diag(P) == 0)
    Pc = predicted_dissimilarity(stft_space, sounds, sr=SR, metric="cosine")
    assert not np.allclose(Pc, P)
    print(f"Lakatos2000_Harm, STFT+PCA mean-frame space: anchor Spearman "
          f"{anchor_spearman(P, D):.3f}")


def test_sound_level_transformer_and_sr_check(study):
    sounds, _, D = study
    mfcc = MFCCEmbedding(sr=SR).fit(sounds)
    np.testing.assert_allclose(embed_sounds(mfcc, sounds, sr=SR), mfcc.transform(sounds))
    with pytest.raises(ParameterError, match="sr=44100"):
        embed_sounds(mfcc, sounds, sr=44100)
    P = predicted_dissimilarity(mfcc, sounds, sr=SR)
    assert anchor_spearman(P, D) > 0.3  # MFCC agrees with the Lakatos ratings


def test_sr_check_on_pipeline(study, stft_space):
    sounds, _, _ = study
    with pytest.raises(ParameterError, match="resample"):
        embed_sounds(stft_space, sounds, sr=16000)


class _FirstCoefficients(MFCCEmbedding):
    """A sound-level space with its own ``embed`` (as the TimbreSpace meta-estimator)."""

    def embed(self, sounds):
        return self.transform(sounds)[:, :3]


def test_space_with_embed_method_is_used(study):
    sounds, _, _ = study
    space = _FirstCoefficients(sr=SR).fit(sounds)
    Z = embed_sounds(space, sounds, sr=SR)
    np.testing.assert_allclose(Z, MFCCEmbedding(sr=SR).fit_transform(sounds)[:, :3])


def test_bad_input(study, stft_space):
    sounds, _, _ = study
    with pytest.raises(ParameterError, match="aggregate"):
        embed_sounds(stft_space, sounds, sr=SR, aggregate="max")
    with pytest.raises(ParameterError, match="coordinates must be"):
        embed_sounds(stft_space, sounds, sr=SR, coordinates="timbre")
    # a paper pipeline: every coordinate is perceptual
    np.testing.assert_array_equal(embed_sounds(stft_space, sounds[:2], sr=SR),
                                  embed_sounds(stft_space, sounds[:2], sr=SR, coordinates="all"))
    with pytest.raises(ParameterError, match="silent"):
        embed_sounds(stft_space, [sounds[0], np.zeros(4096)], sr=SR)
    with pytest.raises(ParameterError, match="single 1-D signal"):
        embed_sounds(stft_space, sounds[0], sr=SR)
    with pytest.raises(ParameterError, match="one row per sound"):
        embed_sounds(_Frames(stft_space["stft"]), sounds[:3], sr=SR)


class _Frames:
    """A space whose transform returns every frame (not one row per sound): rejected."""

    def __init__(self, stft):
        self.stft = stft
        self.sr = stft.sr

    def transform(self, sounds):
        return np.vstack(self.stft.transform_frames(sounds))


def test_vae_space(study):
    """The product's own space: spectral frames -> log -> PerceptualVAE."""
    model = pytest.importorskip("perceptual_timbre.model")
    sounds, _, _ = study
    space = Pipeline([
        ("stft", transforms.STFTTransformer(sr=SR, n_fft=1024, hop_length=512)),
        ("log", transforms.LogMagnitude()),
        ("vae", model.PerceptualVAE(latent_dim=3, hidden_layer_sizes=(32,), max_epochs=2,
                                    random_state=0)),
    ]).fit(sounds)
    Z = embed_sounds(space, sounds, sr=SR)
    assert Z.shape == (len(sounds), 3) and np.all(np.isfinite(Z))
    frames = space["stft"].transform_frames(sounds[:1])[0]
    latent = space["vae"].transform(space["log"].transform(frames))
    np.testing.assert_allclose(Z[0], latent.mean(0), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ intervals (posterior)
def test_predicted_dissimilarity_intervals_from_posterior_samples(fitted_space, rendered_notes):
    """Intervals of the committed VAE space: reproducible, around the mean distances, and
    as wide as the posterior spreads say (delta method: for pairs far apart relative to
    their spreads, a 95 % interval is 2 * 1.96 standard deviations of the distance; measured
    ratio 0.96-1.03 over the pairs, 5-95 %, with 2000 draws)."""
    audio = rendered_notes.audio
    D, lo, hi = predicted_dissimilarity(fitted_space, audio, return_interval=True,
                                        n_samples=2000, random_state=0)
    np.testing.assert_allclose(D, predicted_dissimilarity(fitted_space, audio))
    for M in (lo, hi):
        assert np.allclose(M, M.T) and np.all(np.diag(M) == 0)
    iu = np.triu_indices(len(D), 1)
    assert np.all(lo[iu] < hi[iu])
    # the point estimate lies inside the interval for these well-separated notes
    assert np.mean((lo[iu] <= D[iu]) & (D[iu] <= hi[iu])) > 0.95
    Z, S = embed_sounds(fitted_space, audio, return_std=True)
    i, j = iu
    var = S[i] ** 2 + S[j] ** 2
    u = (Z[i] - Z[j]) / D[iu][:, None]
    sd = np.sqrt((u**2 * var).sum(axis=1))
    far = D[iu] > 5 * np.sqrt(var.sum(axis=1))
    assert far.sum() > 100
    ratio = (hi - lo)[iu][far] / (2 * 1.96 * sd[far])
    assert 0.9 < np.median(ratio) < 1.1
    # same seed, same intervals; a narrower confidence gives a narrower interval
    _, lo2, hi2 = predicted_dissimilarity(fitted_space, audio[:6], return_interval=True,
                                          n_samples=50, random_state=3)
    _, lo3, hi3 = predicted_dissimilarity(fitted_space, audio[:6], return_interval=True,
                                          n_samples=50, random_state=3)
    np.testing.assert_array_equal(lo2, lo3)
    np.testing.assert_array_equal(hi2, hi3)
    _, lo4, hi4 = predicted_dissimilarity(fitted_space, audio[:6], return_interval=True,
                                          n_samples=50, random_state=3, confidence=0.5)
    iu6 = np.triu_indices(6, 1)
    assert np.all((hi4 - lo4)[iu6] < (hi2 - lo2)[iu6])


def test_intervals_are_wider_for_sounds_unlike_the_training_notes(fitted_space, rendered_notes,
                                                                  load_study):
    """McAdams1995's synthetic tones are far from the SoundFont notes the space was fitted
    on: their median interval is wider (measured 0.236 vs 0.130, 1.8x)."""
    def median_width(sounds):
        _, lo, hi = predicted_dissimilarity(fitted_space, sounds, return_interval=True,
                                            n_samples=200, random_state=0)
        return np.median((hi - lo)[np.triu_indices(len(lo), 1)])

    near = median_width(rendered_notes.audio)
    far = median_width(list(load_study("McAdams1995")[0]))
    assert far > 1.4 * near


def test_interval_errors(fitted_space, rendered_notes, study):
    audio = rendered_notes.audio[:3]
    for kwargs, match in [(dict(n_samples=1), "n_samples must be an int >= 2"),
                          (dict(n_samples=10.0), "n_samples must be an int >= 2"),
                          (dict(confidence=1.0), r"confidence must be a number in \(0, 1\)"),
                          (dict(confidence="95%"), "confidence must be")]:
        with pytest.raises(ParameterError, match=match):
            predicted_dissimilarity(fitted_space, audio, return_interval=True, **kwargs)
    sounds, _, _ = study
    mfcc = MFCCEmbedding(sr=SR).fit(sounds)
    with pytest.raises(ParameterError, match="return_std needs a VAE space"):
        predicted_dissimilarity(mfcc, sounds, sr=SR, return_interval=True)


def _ellipse_half_extents(patch):
    """Half-width and half-height of an Ellipse patch's bounding box, and its centre."""
    t = np.linspace(0, 2 * np.pi, 4001)
    xy = patch.get_patch_transform().transform(np.column_stack([np.cos(t), np.sin(t)]))
    return np.ptp(xy, axis=0) / 2, (xy.max(axis=0) + xy.min(axis=0)) / 2


def test_plot_timbre_space_draws_uncertainty_ellipses(fitted_space, rendered_notes, pyplot):
    from perceptual_timbre.plotting import plot_timbre_space

    audio, labels = rendered_notes.audio, rendered_notes.instrument
    Z, S = embed_sounds(fitted_space, audio, return_std=True)
    # two latent dimensions plotted as they are: axis-aligned, half-axes n_std * std
    ax = plot_timbre_space(Z[:, :2], labels, std=S[:, :2], n_std=2.0)
    assert len(ax.patches) == len(Z)
    order = np.concatenate([np.flatnonzero(labels == c) for c in np.unique(labels)])
    for patch, k in zip(ax.patches, order):
        half, centre = _ellipse_half_extents(patch)
        np.testing.assert_allclose(half, 2.0 * S[k, :2], rtol=1e-3)
        np.testing.assert_allclose(centre, Z[k, :2], atol=1e-3 * np.ptp(Z))
    # four dimensions projected on 2 principal axes: the projected covariance's ellipse
    from sklearn.decomposition import PCA

    A = PCA(2).fit(Z).components_
    ax = plot_timbre_space(Z, labels, std=S, ax=pyplot.figure().add_subplot())
    assert len(ax.patches) == len(Z)
    for patch, k in zip(ax.patches, order):
        half, _ = _ellipse_half_extents(patch)
        # the bounding box of an ellipse of covariance C has half-widths sqrt(diag(C))
        np.testing.assert_allclose(half, np.sqrt(np.diag((A * S[k] ** 2) @ A.T)), rtol=1e-3)
    with pytest.raises(ParameterError, match="2-D plots only"):
        plot_timbre_space(Z, std=S, n_components=3)
    with pytest.raises(ParameterError, match="shape of the latents"):
        plot_timbre_space(Z, std=S[:, :2])
    with pytest.raises(ParameterError, match="n_std must be"):
        plot_timbre_space(Z, std=S, n_std=0)
