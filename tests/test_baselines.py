"""The MFCC baseline: sklearn conformance and agreement with real ratings."""

import pickle

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from sklearn.utils.estimator_checks import parametrize_with_checks

from perceptual_timbre.baselines import MFCCEmbedding
from perceptual_timbre.exceptions import ParameterError
from perceptual_timbre.metrics import anchor_spearman, triplet_agreement

SR = 22050

# Rows are whole sounds of any length, not feature vectors: the checks that assume a fixed
# feature width, sklearn's exact error wording or silently-accepted degenerate rows cannot apply.
_AUDIO_ROWS = (
    "input rows are sounds of any length: there is no fixed number of input features to "
    "record or check, so n_features_in_ is not set"
)
EXPECTED_FAILED = {
    "check_n_features_in": _AUDIO_ROWS,
    "check_n_features_in_after_fitting": _AUDIO_ROWS,
    "check_transformer_general": _AUDIO_ROWS + " (a longer sound in transform is valid)",
    "check_estimators_dtypes": "an all-zero row is a silent sound, rejected with a "
    "ParameterError by design",
    "check_dtype_object": "non-numeric audio raises ParameterError (a ValueError), not the "
    "TypeError this check expects",
    "check_estimators_empty_data_messages": "an empty sound gets an audio-specific message "
    "('X[0] is empty (0 samples)') instead of sklearn's feature wording",
    "check_fit2d_predict1d": "a 1-D array is one signal; the message explains how to pass it "
    "as a list of sounds instead of sklearn's 'Reshape your data'",
}


@parametrize_with_checks(
    [MFCCEmbedding(n_mfcc=4, n_fft=256, hop_length=64, n_mels=8)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def patil(load_study):
    return load_study("Patil2012_A3")


@pytest.mark.parametrize("study", ["Grey1977", "Patil2012_A3", "Iverson1993_Whole"])
def test_mfcc_agrees_with_ratings(load_study, study):
    sounds, _, D = load_study(study)
    Z = MFCCEmbedding(sr=SR).fit_transform(sounds)
    assert Z.shape == (len(sounds), 40) and np.all(np.isfinite(Z))
    P = squareform(pdist(Z))
    rho, triplets = anchor_spearman(P, D), triplet_agreement(P, D)
    print(f"{study} MFCC: anchor Spearman {rho:.3f}, triplet agreement {triplets:.3f}")
    assert rho > 0.3 and triplets > 0.6


def test_matches_librosa_time_mean(patil):
    import librosa

    sounds = patil[0][:3]
    Z = MFCCEmbedding(sr=SR, n_mfcc=20).fit_transform(sounds)
    for z, s in zip(Z, sounds, strict=True):
        np.testing.assert_allclose(z, librosa.feature.mfcc(y=s, sr=SR, n_mfcc=20).mean(axis=1))


def test_any_length_and_stateless(patil):
    sounds = patil[0]
    short = sounds[0][:500]  # shorter than one 2048-sample window: zero-padded
    mixed = [short, sounds[1], np.concatenate([sounds[2], sounds[2]])]
    emb = MFCCEmbedding(sr=SR).fit(sounds[5:8])
    Z = emb.transform(mixed)
    assert Z.shape == (3, 40) and np.all(np.isfinite(Z))
    np.testing.assert_allclose(Z, MFCCEmbedding(sr=SR).fit(mixed).transform(mixed))
    np.testing.assert_allclose(pickle.loads(pickle.dumps(emb)).transform(mixed), Z)
    assert list(emb.get_feature_names_out()[:2]) == ["mfcc0", "mfcc1"]


def test_sr_changes_the_embedding(patil):
    sounds = patil[0][:2]
    assert not np.allclose(MFCCEmbedding(sr=SR).fit_transform(sounds),
                           MFCCEmbedding(sr=2 * SR).fit_transform(sounds))


def test_bad_parameters_and_input(patil):
    sounds = patil[0][:2]
    with pytest.raises(ParameterError, match="n_mels"):
        MFCCEmbedding(n_mfcc=40, n_mels=20).fit(sounds)
    with pytest.raises(ValueError, match="sr"):
        MFCCEmbedding(sr=-1).fit(sounds)
    with pytest.raises(ParameterError, match="stereo"):
        MFCCEmbedding().fit([np.stack([sounds[0], sounds[0]])])
    with pytest.raises(ParameterError, match="NaN"):
        MFCCEmbedding().fit([np.full(3000, np.nan)])
