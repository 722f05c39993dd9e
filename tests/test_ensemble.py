"""SpaceEnsemble: several fits of a timbre space, pooled by predicted_dissimilarity."""

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from perceptual_timbre import SpaceEnsemble, make_timbre_space
from perceptual_timbre.embedding import embed_sounds, predicted_dissimilarity
from perceptual_timbre.exceptions import NotFittedError, ParameterError

pytest.importorskip("torch")
SR = 22050


def _space(**vae):
    from perceptual_timbre import PerceptualVAE
    from perceptual_timbre.transforms import LogMagnitude, STFTTransformer

    return Pipeline([("stft", STFTTransformer(sr=SR, n_fft=512, hop_length=256)),
                     ("log", LogMagnitude()),
                     ("vae", PerceptualVAE(**{"latent_dim": 2, "hidden_layer_sizes": (32,),
                                              "max_epochs": 200, **vae}))])


@pytest.fixture(scope="module")
def notes(rendered_notes):
    """12 notes (one per instrument, pitch 60, velocity 100), shortened to 0.3 s."""
    keep = (rendered_notes.pitch == 60) & (rendered_notes.velocity == 100)
    return rendered_notes.audio[keep][:, : int(0.3 * SR)]


@pytest.fixture(scope="module")
def ensemble(notes):
    return SpaceEnsemble(_space(), n_members=3, bootstrap=False, random_state=0).fit(notes)


def test_members_are_seeded_clones_and_reproducible(notes, ensemble):
    template = _space()
    assert len(ensemble.estimators_) == 3 and ensemble.bootstrap_indices_ is None
    seeds = [m.get_params()["vae__random_state"] for m in ensemble.estimators_]
    assert len(set(seeds)) == 3 and all(isinstance(s, int) for s in seeds)
    assert template.get_params()["vae__random_state"] is None  # the template is not touched
    again = SpaceEnsemble(_space(), n_members=3, bootstrap=False, random_state=0).fit(notes)
    np.testing.assert_array_equal(again.seeds_, ensemble.seeds_)
    for a, b in zip(ensemble.estimators_, again.estimators_):
        np.testing.assert_array_equal(embed_sounds(a, notes), embed_sounds(b, notes))
    # members differ from one another, and so do their distances
    D = [predicted_dissimilarity(m, notes) for m in ensemble.estimators_]
    assert not np.allclose(D[0], D[1]) and not np.allclose(D[1], D[2])
    other = SpaceEnsemble(_space(), n_members=3, bootstrap=False, random_state=1).fit(notes)
    assert not np.allclose(predicted_dissimilarity(other, notes),
                           predicted_dissimilarity(ensemble, notes))


def test_pooled_distances_and_intervals(notes, ensemble):
    D, lo, hi = predicted_dissimilarity(ensemble, notes, return_interval=True,
                                        n_samples=100, random_state=0)
    members = [predicted_dissimilarity(m, notes) for m in ensemble.estimators_]
    np.testing.assert_allclose(D, np.mean(members, axis=0))
    np.testing.assert_allclose(predicted_dissimilarity(ensemble, notes), D)
    for M in (D, lo, hi):
        assert np.allclose(M, M.T) and np.all(np.diag(M) == 0)
    iu = np.triu_indices(len(D), 1)
    assert np.all(lo[iu] <= hi[iu])
    assert np.mean((lo[iu] <= D[iu]) & (D[iu] <= hi[iu])) > 0.9
    # the members' disagreement widens the interval beyond each member's posterior alone
    width = (hi - lo)[iu].mean()
    for m in ensemble.estimators_:
        _, mlo, mhi = predicted_dissimilarity(m, notes, return_interval=True, n_samples=100,
                                              random_state=0)
        assert width > (mhi - mlo)[iu].mean()
    # same seed, same interval
    _, lo2, hi2 = predicted_dissimilarity(ensemble, notes, return_interval=True,
                                          n_samples=100, random_state=0)
    np.testing.assert_array_equal(lo, lo2)
    np.testing.assert_array_equal(hi, hi2)


def test_members_without_posterior_pool_their_point_distances(notes):
    from perceptual_timbre.baselines import MFCCEmbedding

    ens = SpaceEnsemble(Pipeline([("mfcc", MFCCEmbedding(sr=SR)),
                                  ("pca", PCA(2, svd_solver="randomized"))]),
                        n_members=3, bootstrap=True, random_state=0).fit(notes)
    D, lo, hi = predicted_dissimilarity(ens, notes, return_interval=True, confidence=1 - 1e-9)
    point = np.array([predicted_dissimilarity(m, notes) for m in ens.estimators_])
    np.testing.assert_allclose(D, point.mean(axis=0))
    np.testing.assert_allclose(lo, point.min(axis=0))
    np.testing.assert_allclose(hi, point.max(axis=0))


class _Recorder(BaseEstimator):
    """Records what fit received."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None, pitch=None, dissimilarity=None):
        self.X_, self.y_, self.pitch_, self.dissimilarity_ = X, y, pitch, dissimilarity
        return self


def test_bootstrap_resamples_sounds_and_per_sample_fit_params(notes):
    from perceptual_timbre.utils.validation import Ratings

    sounds = list(notes)
    y, pitch = np.arange(12) * 10, np.linspace(40, 80, 12)
    ratings = Ratings(np.ones((12, 12)) - np.eye(12), list(range(0, 120, 10)))
    ens = SpaceEnsemble(_Recorder(), n_members=4, random_state=0)  # bootstrap by default
    ens.fit(sounds, y, pitch=pitch, dissimilarity=ratings)
    for member, idx in zip(ens.estimators_, ens.bootstrap_indices_):
        assert len(idx) == 12 and len(np.unique(idx)) < 12
        assert all(a is sounds[i] for a, i in zip(member.X_, idx))
        np.testing.assert_array_equal(member.y_, y[idx])
        np.testing.assert_array_equal(member.pitch_, pitch[idx])
        assert member.dissimilarity_ is ratings  # not per-sample: passed unchanged
    assert len({tuple(i) for i in ens.bootstrap_indices_}) == 4
    # without bootstrap every member sees everything, unchanged
    ens = SpaceEnsemble(_Recorder(), n_members=2, bootstrap=False).fit(sounds, y, pitch=pitch)
    assert all(m.X_ is sounds and m.pitch_ is pitch for m in ens.estimators_)


def test_timbre_space_members_with_ratings(notes, rendered_notes):
    from perceptual_timbre.datasets import load_instrument_ratings

    keep = (rendered_notes.pitch == 60) & (rendered_notes.velocity == 100)
    space = make_timbre_space("stft", side_features="none", max_frames=2, latent_dim=2,
                              hidden_layer_sizes=(8,), max_epochs=2)
    ens = SpaceEnsemble(space, n_members=2, bootstrap=True, random_state=0)
    ens.fit(list(notes), rendered_notes.instrument[keep],
            dissimilarity=load_instrument_ratings().ratings)
    seeds = {m.vae_.random_state for m in ens.estimators_}
    assert len(seeds) == 2
    D, lo, hi = predicted_dissimilarity(ens, notes, return_interval=True, n_samples=20,
                                        random_state=0)
    assert D.shape == (12, 12) and np.all(lo <= hi)


def test_joblib_round_trip(tmp_path, notes, ensemble):
    joblib.dump(ensemble, tmp_path / "ensemble.joblib")
    loaded = joblib.load(tmp_path / "ensemble.joblib")
    for a in (False, True):
        expected = predicted_dissimilarity(ensemble, notes, return_interval=a, n_samples=20,
                                           random_state=0)
        got = predicted_dissimilarity(loaded, notes, return_interval=a, n_samples=20,
                                      random_state=0)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_bad_input(notes, ensemble):
    with pytest.raises(ParameterError, match="'n_members' parameter.*at least 2 members"):
        SpaceEnsemble(_space(), n_members=1).fit(notes)
    with pytest.raises(ParameterError, match="'estimator' parameter.*unfitted space"):
        SpaceEnsemble(object()).fit(notes)
    unfitted = SpaceEnsemble(_space())
    with pytest.raises(ParameterError, match=r"not fitted yet; call ensemble.fit\(sounds\)"):
        predicted_dissimilarity(unfitted, notes)
    with pytest.raises(NotFittedError):  # also sklearn's error class
        predicted_dissimilarity(unfitted, notes, return_interval=True)
    for kwargs in ({}, {"return_std": True}):
        with pytest.raises(ParameterError, match=r"not aligned.*estimators_\[k\]"):
            embed_sounds(ensemble, notes, **kwargs)
    with pytest.raises(ParameterError, match="n_samples must be"):
        predicted_dissimilarity(ensemble, notes, return_interval=True, n_samples=1)
    with pytest.raises(ParameterError, match="resample"):
        predicted_dissimilarity(ensemble, notes, sr=16000)


# A cheap member for scikit-learn's checks: the ensemble's contract (clone, seed, fit,
# get/set_params, pickling) does not depend on what the member is.
@parametrize_with_checks([SpaceEnsemble(PCA(n_components=1, svd_solver="randomized"),
                                        n_members=2)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_n_jobs_gives_the_same_members():
    X = np.random.default_rng(0).normal(size=(40, 5))
    members = [SpaceEnsemble(PCA(2, svd_solver="randomized"), n_members=3, random_state=0,
                             n_jobs=n_jobs).fit(X).estimators_ for n_jobs in (None, 2)]
    for a, b in zip(*members):
        np.testing.assert_array_equal(a.components_, b.components_)
    assert not np.array_equal(members[0][0].components_, members[0][1].components_)
