"""TimbreSpace with a teacher metric: held-out agreement, reconstruction, API, persistence."""

import joblib
import numpy as np
import pytest
import torch
from _quality import check, seed
from scipy.spatial.distance import pdist, squareform

from perceptual_timbre import PerceptualMetric, TimbreSpace, embed_sounds, make_timbre_space
from perceptual_timbre.baselines import MFCCEmbedding
from perceptual_timbre.datasets import list_timbre_studies, load_timbre_study
from perceptual_timbre.exceptions import ParameterError
from perceptual_timbre.metrics import anchor_spearman

# a whole family of 18 sounds; on Barthet2010 (15 sounds) the space's lead over MFCC spread
# from -0.001 to 0.09 over seeds 0-4: too noisy a fold to test on
HELD_OUT = "McAdams1995"
# the LOGO-chosen defaults (see timbre_space.py): a few seconds per fit
FAST = dict(random_state=seed())


@pytest.fixture(scope="module")
def fold(data_home):
    X, y, R = [], [], {}
    for s in list_timbre_studies(data_home):
        if s == HELD_OUT:
            continue
        b = load_timbre_study(s, data_home=data_home)
        X += list(b.audio)
        y += [f"{s}/{n}" for n in b.names]
        R[s] = b.ratings
    metric = PerceptualMetric().fit(X, y, R)  # deterministic: no seed
    space = make_timbre_space(teacher=metric, **FAST).fit(X)  # no ratings needed
    # the same space without its regularizer (same side input): what the teacher's targets cost
    plain = make_timbre_space(teacher=metric, alpha=0.0, **FAST).fit(X)
    return X, metric, space, plain, load_timbre_study(HELD_OUT, data_home=data_home)


def _spearman(Z, D):
    return anchor_spearman(squareform(pdist(Z)), D)


@pytest.mark.quality
def test_teacher_space_generalizes(fold):
    X, metric, space, _, test = fold
    s_mfcc = _spearman(MFCCEmbedding(n_mfcc=40).fit(X).transform(test.audio), test.dissimilarity)
    s_metric = _spearman(metric.transform(test.audio), test.dissimilarity)
    s_space = _spearman(space.embed(test.audio), test.dissimilarity)
    check(s_space - s_mfcc, ">", 0, "held-out anchor Spearman, space - MFCC")
    # one held-out family of 18 sounds: the gap to the teacher spreads over seeds
    # (quality_margins.md); the pooled 6-family gap is bench_generalization's business
    check(s_space - s_metric, ">", -0.12, "held-out anchor Spearman, space - its teacher")


@pytest.mark.quality
def test_reconstruction_cost_of_the_teacher_is_moderate(fold):
    _, _, space, plain, test = fold
    # the regularizer's cost on new sounds: 1.11 +- 0.03 over seeds 0-4 (the 10 % target is
    # bench_generalization's, pooled over 6 families); margin from quality_margins.md
    check(space.reconstruction_error(test.audio) / plain.reconstruction_error(test.audio), "<",
          1.3, "held-out reconstruction, teacher space / same space with alpha=0")


def test_api_round_trip(fold, tmp_path):
    _, _, space, _, test = fold
    Z = space.transform(test.audio[:3])
    assert Z.shape == (3, 56)
    assert space.side_ == "teacher"
    # distances are read on the 32 perceptual coordinates; decoding takes all 56
    assert space.vae_.perceptual_dims_ == 32
    np.testing.assert_allclose(embed_sounds(space, test.audio[:3]), Z[:, :32])
    audio = space.inverse_transform(Z[:2])
    assert audio.shape[0] == 2 and np.all(np.isfinite(audio)) and np.abs(audio).max() > 0
    joblib.dump(space, tmp_path / "space.joblib")
    again = joblib.load(tmp_path / "space.joblib")
    np.testing.assert_allclose(again.transform(test.audio[:3]), Z, rtol=1e-5, atol=1e-6)
    assert isinstance(make_timbre_space(), TimbreSpace)
    assert make_timbre_space("stft").get_params()["spectral"] == "stft"


def test_ratings_mode(data_home):
    b = load_timbre_study("Patil2012_A3", data_home=data_home)
    kw = dict(transform="stft", hidden_layer_sizes=(32,), max_epochs=30, max_frames=8,
              random_state=0)
    rated = make_timbre_space(alpha=10, **kw).fit(b.audio, b.names, dissimilarity=b.ratings)
    assert rated.history_[-1]["reg"] > 0
    assert rated.history_[-1]["reg"] < rated.history_[0]["reg"]
    # same seed, same fit
    np.testing.assert_allclose(
        make_timbre_space(alpha=10, **kw).fit(b.audio, b.names, dissimilarity=b.ratings)
        .transform(b.audio), rated.transform(b.audio))


def test_bad_inputs(data_home):
    b = load_timbre_study("Patil2012_A3", data_home=data_home)
    kw = dict(transform="stft", hidden_layer_sizes=(8,), max_epochs=1)
    with pytest.raises(ParameterError, match="without y"):
        make_timbre_space(**kw).fit(b.audio, dissimilarity=b.ratings)
    with pytest.raises(ParameterError, match="Ratings"):
        make_timbre_space(**kw).fit(b.audio, b.names, dissimilarity=b.dissimilarity[:5])
    with pytest.raises(ParameterError, match="label the sounds like the ratings"):
        make_timbre_space(**kw).fit(b.audio, [f"x{i}" for i in range(len(b.audio))],
                                    dissimilarity=b.ratings)
    with pytest.raises(ParameterError, match="at least 2 sounds"):
        make_timbre_space(**kw).fit(b.audio[:1])
    with pytest.raises(ValueError):
        make_timbre_space(**{**kw, "transform": "wavelet"}).fit(b.audio)
    with pytest.raises(ParameterError, match="mono"):
        make_timbre_space(**kw).fit([np.ones((100, 2))] * 2)
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['n_layers'\]"):
        make_timbre_space(n_layers=3)
    with pytest.raises(ParameterError, match="latent_dim"):  # the inner VAE is validated
        make_timbre_space(**{**kw, "latent_dim": 0}).fit(b.audio)
    with pytest.raises(ParameterError, match="teacher"):
        make_timbre_space(teacher=object(), **kw).fit(b.audio)
    space = make_timbre_space(**kw).fit(b.audio[:3])
    with pytest.raises(ParameterError, match="dimensions"):
        space.inverse_transform(np.zeros((1, 3)))
    # the VAE inside needs its side input, of the width it was fitted with
    F = space._frames_and_side(b.audio[:1])[0]
    with pytest.raises(ParameterError, match="fitted with side inputs of width"):
        space.vae_.transform(F)
    with pytest.raises(ParameterError, match="side must have shape"):
        space.vae_.transform(F, side=np.zeros((len(F), 2)))


@pytest.mark.quality
def test_latent_is_driven_by_the_side_input(fold):
    """Two sounds' latents differ mostly through their side input, not their frames."""
    _, metric, space, _, test = fold
    Z = space.embed(test.audio)
    Zt = metric.transform(test.audio)
    from scipy.stats import spearmanr

    # the teacher's geometry on new sounds: 0.91-0.95 over seeds 0-4 on McAdams1995
    check(spearmanr(pdist(Z), pdist(Zt))[0], ">", 0.8, "Spearman(space, teacher distances)")


def test_pretrained_teacher_needs_no_ratings(data_home):
    b = load_timbre_study("Patil2012_A3", data_home=data_home)
    space = make_timbre_space("stft", teacher=PerceptualMetric.pretrained(), latent_dim=4,
                              hidden_layer_sizes=(16,), max_epochs=15, random_state=0)
    assert space.get_params()["vae__latent_dim"] == 4  # grid-searchable
    space.fit(b.audio)
    assert space.history_[-1]["reg"] < space.history_[0]["reg"]
    assert space.transform(b.audio).shape == (len(b.audio), 4)


def test_teacher_and_ratings_and_kl(data_home):
    b = load_timbre_study("Patil2012_A3", data_home=data_home)
    kw = dict(transform="stft", teacher="pretrained", hidden_layer_sizes=(16,), latent_dim=4,
              perceptual_dims=None, max_epochs=15, random_state=0)  # 4-D: all perceptual
    both = make_timbre_space(**kw).fit(b.audio, b.names, dissimilarity=b.ratings)
    assert both.history_[-1]["reg"] < both.history_[0]["reg"]
    kl = make_timbre_space(regularization="kl", **kw).fit(b.audio)
    assert kl.history_[-1]["reg"] > 0 and np.isfinite(kl.history_[-1]["loss"])
    assert not np.allclose(kl.transform(b.audio), both.transform(b.audio))
    with pytest.raises(ParameterError, match="needs a teacher"):
        make_timbre_space("stft", side_features="teacher", max_epochs=1).fit(b.audio)


def test_unrated_pairs_keep_the_teachers_targets(data_home):
    """A partial listening test (counts 0 for unrated pairs) only sets the rated targets."""
    from perceptual_timbre.utils import Ratings

    b = load_timbre_study("Patil2012_A3", data_home=data_home)
    counts = np.ones_like(b.dissimilarity)
    counts[0, 1] = counts[1, 0] = 0
    partial = Ratings(b.dissimilarity, b.names, counts=counts)
    space = make_timbre_space("stft", teacher="pretrained", hidden_layer_sizes=(8,),
                              max_epochs=1).fit(b.audio[:3])
    n, embedding = len(b.audio), space.teacher_.transform(b.audio)
    every = torch.arange(n)
    merged, teacher = (space._targets(n, embedding, b.names, partial),
                       space._targets(n, embedding, None, None))
    T, mask = merged(every)
    T_teacher, _ = teacher(every)
    # both are divided by their maximum: the unrated pair keeps the teacher's distance
    assert mask is None and float(T[0, 1]) == pytest.approx(
        float(T_teacher[0, 1]) * merged.scale / teacher.scale, rel=1e-6)
    assert float(T[0, 2]) != pytest.approx(float(T_teacher[0, 2]) * merged.scale / teacher.scale)
    bare = make_timbre_space("stft", hidden_layer_sizes=(8,), max_epochs=1).fit(b.audio[:3])
    T_bare, mask = bare._targets(n, None, b.names, partial)(every)
    assert not mask[0, 1] and mask[0, 2]  # no teacher: the unrated pair is left out
