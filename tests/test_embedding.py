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
