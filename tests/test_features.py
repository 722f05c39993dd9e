"""SoundFeatures on real study stimuli: shapes, pitch, standardization, cache, bad input."""

import numpy as np
import pytest

from perceptual_timbre.datasets import load_timbre_study
from perceptual_timbre.descriptors import DESCRIPTOR_NAMES, SoundFeatures, _features
from perceptual_timbre.exceptions import ParameterError


@pytest.fixture(scope="module")
def patil(data_home):
    return load_timbre_study("Patil2012_A3", data_home=data_home)


def test_shape_names_and_pitch(patil):
    feats = SoundFeatures().fit(patil.audio)
    F = feats.transform(patil.audio)
    names = list(feats.get_feature_names_out())
    assert F.shape == (len(patil.audio), 2 * 128 + len(DESCRIPTOR_NAMES)) == (11, len(names))
    assert np.all(np.isfinite(F))
    # every Patil2012_A3 stimulus is the note A3 (220 Hz): YIN finds it (or an octave of it)
    f0 = 2 ** F[:, names.index("log_f0")]
    octaves = np.log2(f0 / 220.0)
    assert np.median(np.abs(octaves - np.round(octaves))) < 0.05
    assert np.sum(np.abs(octaves) < 0.05) >= 6
    # a piano (01) attacks faster than a cello (02)
    lat = F[:, names.index("log_attack_time")]
    assert lat[0] < lat[1]


def test_standardize(patil):
    F = SoundFeatures(standardize=True).fit_transform(patil.audio)
    varying = F.std(axis=0) > 0
    np.testing.assert_allclose(F.mean(axis=0), 0, atol=1e-8)
    np.testing.assert_allclose(F.std(axis=0)[varying], 1, atol=1e-6)


def test_cache_and_jobs_give_the_same_rows(patil):
    _features._CACHE.clear()
    a = SoundFeatures(cache=False).fit(patil.audio).transform(patil.audio)
    assert len(_features._CACHE) == 0
    b = SoundFeatures(n_jobs=2).fit(patil.audio).transform(patil.audio)
    assert len(_features._CACHE) == len(patil.audio)
    c = SoundFeatures().fit(patil.audio).transform(patil.audio)  # served from the cache
    np.testing.assert_allclose(a, b)
    np.testing.assert_array_equal(b, c)
    # other parameters are other cache entries
    d = SoundFeatures(n_mels=64).fit(patil.audio).transform(patil.audio)
    assert d.shape[1] == 2 * 64 + len(DESCRIPTOR_NAMES)


def test_level_invariant(patil):
    feats = SoundFeatures(n_mels=32).fit(patil.audio[:2])
    np.testing.assert_allclose(feats.transform(patil.audio[:2]),
                               feats.transform([0.1 * x for x in patil.audio[:2]]), atol=1e-6)


@pytest.mark.parametrize(
    "X, match",
    [
        (np.zeros(1000), "single 1-D signal"),
        ([np.ones((100, 2))], "mono"),
        ([np.r_[np.ones(100), np.nan]], "NaN"),
        ([np.zeros(100)], "silent"),
        ([], "no sounds"),
    ],
)
def test_bad_audio(X, match):
    with pytest.raises(ParameterError, match=match):
        SoundFeatures().fit(X)


def test_bad_params():
    x = [np.sin(np.arange(4000) * 0.1)]
    with pytest.raises(ParameterError, match="Nyquist"):
        SoundFeatures(sr=8000, fmin=5000).fit(x)
    with pytest.raises(ValueError):
        SoundFeatures(n_mels=0).fit(x)
    with pytest.raises(Exception, match="not fitted"):
        SoundFeatures().transform(x)
