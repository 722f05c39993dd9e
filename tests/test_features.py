"""SoundFeatures on real study stimuli: shapes, pitch, standardization, cache, bad input, and
the timbre blocks (names, widths, selection, determinism, a property of each on real sounds)."""

import warnings

import numpy as np
import pytest
from _quality import check

from perceptual_timbre.datasets import load_timbre_study
from perceptual_timbre.descriptors import (
    BLOCK_PRESETS,
    DESCRIPTOR_NAMES,
    FEATURE_BLOCKS,
    SoundFeatures,
    _features,
)
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


# ----------------------------------------------------------------- timbre blocks (issue 15)
NEW_BLOCKS = [b for b in FEATURE_BLOCKS if b not in BLOCK_PRESETS["legacy"]]
WIDTHS = {"spectral": 12, "contrast": 14, "summary": 8, "envelope": 35, "harmonics": 16,
          "noisiness": 14, "modulation": 56, "mfcc": 40, "mfcc_delta": 40, "mfcc_delta2": 40,
          "logmel_flux": 32}


@pytest.fixture(scope="module")
def notes_features(rendered_notes):
    """All blocks of the 48 rendered notes, their names and instruments."""
    feats = SoundFeatures(blocks="all").fit(rendered_notes.audio)
    return (feats.transform(rendered_notes.audio), list(feats.get_feature_names_out()),
            np.asarray(rendered_notes.instrument), feats)


@pytest.fixture(scope="module")
def lakatos(load_study):
    """All blocks of the harmonic and the percussive Lakatos (2000) sets."""
    out = {}
    for name in ("Lakatos2000_Harm", "Lakatos2000_Perc"):
        sounds = load_study(name)[0]
        feats = SoundFeatures(blocks="all").fit(sounds)
        out[name] = feats.transform(sounds)
    return out, list(feats.get_feature_names_out())


def _col(F, names, name):
    return F[:, names.index(name)]


def _block_mean(F, names, prefix):
    return F[:, [i for i, n in enumerate(names) if n.startswith(prefix)]].mean(axis=1)


def test_block_names_and_widths(notes_features):
    F, names, _, feats = notes_features
    assert feats.blocks_ == FEATURE_BLOCKS
    assert F.shape == (48, len(names)) == (48, feats.n_features_out_)
    assert np.all(np.isfinite(F))
    assert len(set(names)) == len(names)
    for b in NEW_BLOCKS:
        sl = feats.feature_blocks_[b]
        assert sl.stop - sl.start == WIDTHS[b], b
        # every name of a newer block starts with its block's name
        assert all(n.startswith(b + "_") for n in names[sl]), b
    assert names[feats.feature_blocks_["descriptors"]] == list(DESCRIPTOR_NAMES)
    # contiguous, in FEATURE_BLOCKS order
    stops = [feats.feature_blocks_[b] for b in FEATURE_BLOCKS]
    assert stops[0].start == 0 and stops[-1].stop == F.shape[1]
    assert all(a.stop == b.start for a, b in zip(stops[:-1], stops[1:]))


def test_blocks_selection_matches_the_full_row(rendered_notes, notes_features):
    F, names, _, full = notes_features
    X = rendered_notes.audio[:4]
    pick = ["harmonics", "summary"]  # any order: output follows FEATURE_BLOCKS
    feats = SoundFeatures(blocks=pick).fit(X)
    assert feats.blocks_ == ("summary", "harmonics")
    G = feats.transform(X)
    cols = np.r_[np.arange(*full.feature_blocks_["summary"].indices(F.shape[1])),
                 np.arange(*full.feature_blocks_["harmonics"].indices(F.shape[1]))]
    np.testing.assert_allclose(G, F[:4, cols])
    assert list(feats.get_feature_names_out()) == [names[i] for i in cols]
    # a single block name and the presets
    assert SoundFeatures(blocks="envelope").fit(X).n_features_out_ == 35
    legacy = SoundFeatures().fit(X)
    assert legacy.blocks_ == BLOCK_PRESETS["legacy"]
    timbre = SoundFeatures(blocks="timbre").fit(X)
    assert "descriptors" not in timbre.blocks_
    assert timbre.n_features_out_ == 2 * 128 + sum(WIDTHS.values())


def test_blocks_are_deterministic(rendered_notes):
    X = rendered_notes.audio[::8]
    a = SoundFeatures(blocks="all", cache=False).fit(X).transform(X)
    b = SoundFeatures(blocks="all", cache=False, n_jobs=2).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)
    # level-free, like the original blocks (up to the small floors added before each log)
    X = X.astype(np.float64)
    c = SoundFeatures(blocks="timbre", cache=False).fit(X).transform(0.05 * X)
    np.testing.assert_allclose(
        c, SoundFeatures(blocks="timbre").fit(X).transform(X), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    "blocks, match",
    [
        ("nonsense", "neither a preset"),
        (["envelope", "attack"], "unknown feature block 'attack'"),
        (["envelope", "envelope"], "more than once"),
        ([], "blocks is empty"),
        ([3], "unknown feature block 3"),
    ],
)
def test_bad_blocks(blocks, match):
    with pytest.raises(ParameterError, match=match):
        SoundFeatures(blocks=blocks).fit([np.sin(np.arange(4000) * 0.1)])


def test_newer_blocks_need_a_real_window():
    x = [np.sin(np.arange(4000) * 0.1)]
    with pytest.raises(ParameterError, match=r"n_fft=64 is too short for the blocks \['mfcc'\]"):
        SoundFeatures(n_fft=64, blocks=["logmel_mean", "mfcc"]).fit(x)
    SoundFeatures(n_fft=64, blocks="legacy").fit(x)  # the original blocks take any window
    with pytest.raises(ValueError):
        SoundFeatures(blocks=None).fit(x)


# Properties of each block on real sounds, as quality checks (tests/_quality.py): the features
# are deterministic, so the margin is against other machines' float and library differences;
# each measured difference (in the comments) is at least 3 times its threshold.
@pytest.mark.quality
def test_summary_and_envelope_attack_piano_faster_than_flute(notes_features):
    F, names, inst, _ = notes_features
    for name in ("summary_log_attack_time", "envelope_log_time_to_90pct"):
        v = _col(F, names, name)
        # log10 seconds: piano -1.8..-2.1, flute -0.45..-0.96: a gap of 0.8
        check(v[inst == "Flute"].min() - v[inst == "Piano"].max(), ">", 0.25,
              f"{name}, slowest piano - fastest flute")
    # pitch: notes 60 and 67 (261.6 and 392 Hz)
    f0 = 2 ** _col(F, names, "summary_log2_f0")
    expected = np.where(np.arange(48) % 4 < 2, 261.63, 392.0)
    np.testing.assert_allclose(f0, expected, rtol=0.03)


@pytest.mark.quality
def test_harmonics_slope_bright_brass_above_dull_flute(notes_features):
    F, names, inst, _ = notes_features
    slope = _col(F, names, "harmonics_slope")
    # dB per octave of harmonic number: trumpet -3.0..-6.0, flute -11.5..-15.7: a gap of 5.5
    check(slope[inst == "Trumpet"].min() - slope[inst == "Flute"].max(), ">", 1.5,
          "harmonic slope, dullest trumpet - brightest flute (dB/octave)")
    db = F[:, names.index("harmonics_db_01"):names.index("harmonics_db_12") + 1]
    assert np.all(db <= 0) and np.all(db.max(axis=1) == 0)  # relative to the strongest


@pytest.mark.quality
def test_spectral_centroid_trumpet_above_flute(notes_features):
    F, names, inst, _ = notes_features
    c = _col(F, names, "spectral_centroid_wmean")  # log2 Hz: trumpet 10.85-11.08, flute 10.08-10.10
    check(c[inst == "Trumpet"].min() - c[inst == "Flute"].max(), ">", 0.2,
          "log2 spectral centroid, trumpet - flute")


@pytest.mark.quality
def test_modulation_sees_a_tremolo(rendered_notes):
    x = rendered_notes.audio[np.asarray(rendered_notes.instrument) == "Clarinet"][0]
    t = np.arange(x.size) / 22050
    trem = x * (1 + 0.8 * np.sin(2 * np.pi * 6.0 * t))  # 6 Hz tremolo: the 4-8 Hz octave
    feats = SoundFeatures(blocks="modulation").fit([x])
    M = feats.transform([x, trem]).reshape(2, 8, 7)
    gain = M[1, :, 2] - M[0, :, 2]  # log10 depth, octave 4-8 Hz, every mel sub-band
    # measured 0.73 (a depth 5 times larger) and 1.19
    check(np.median(gain), ">", 0.24, "log10 4-8 Hz modulation depth, tremolo - plain")
    check(np.median(M[1, :, 2]) - np.median(M[1, :, 5]), ">", 0.3,
          "log10 modulation depth of the tremolo, 4-8 Hz - 32-64 Hz")


@pytest.mark.quality
@pytest.mark.parametrize(
    "prefix, op, margin",
    [
        # means over each set (Harm / Perc): 0.007 / 0.31, 3.0 / 0.94, 17.5 / 13.8,
        # 0.99 / 0.81, -0.84 / -0.42, 0.53 / 1.25, 0.75 / 1.57
        ("noisiness_percussive_mean", "<", 0.1),
        ("summary_harmonic_percussive_ratio", ">", 1.0),
        ("contrast_", ">", 1.5),
        ("harmonics_salience", ">", 0.05),
        ("noisiness_flatness", "<", 0.15),
        ("logmel_flux", "<", 0.3),
        ("mfcc_delta_absmean", "<", 0.3),
    ],
)
def test_harmonic_set_versus_percussive_set(lakatos, prefix, op, margin):
    F, names = lakatos
    harm = _block_mean(F["Lakatos2000_Harm"], names, prefix).mean()
    perc = _block_mean(F["Lakatos2000_Perc"], names, prefix).mean()
    diff = harm - perc if op == ">" else perc - harm
    check(diff, ">", margin, f"{prefix} mean, harmonic set vs percussive set ({op})")


@pytest.mark.parametrize("sr", [8000, 44100])
def test_blocks_finite_on_odd_sounds(sr):
    """A click, 50 samples of noise, a 30 Hz burst, a late onset: every block stays finite
    (undefined quantities become 0) at low and high sample rates, without numpy warnings."""
    rng = np.random.default_rng(0)
    t = np.arange(sr) / sr
    X = [np.sin(2 * np.pi * 440 * t), rng.standard_normal(sr), np.r_[1.0, np.zeros(sr - 1)],
         rng.standard_normal(50), np.sin(2 * np.pi * 30 * t[:300]),
         np.r_[np.zeros(sr // 2), np.sin(2 * np.pi * 1000 * t[: sr // 2])]]
    feats = SoundFeatures(sr=sr, blocks="timbre", cache=False).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # librosa's advice on short windows
        warnings.simplefilter("error", RuntimeWarning)
        F = feats.transform(X)
    assert F.shape == (6, feats.n_features_out_) and np.all(np.isfinite(F))
