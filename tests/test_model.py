"""Tests of perceptual_timbre.model.PerceptualVAE on real timbre-study spectra."""

import pickle

import joblib
import numpy as np
import pytest
import sklearn
import torch
from _quality import check, seed
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from perceptual_timbre.exceptions import DeviceWarning, ParameterError, TrainingError
from perceptual_timbre.metrics import centroid_correlation, latent_kl_divergence
from perceptual_timbre.model import PerceptualVAE
from perceptual_timbre.model._losses import l2_regularizer, tsne_regularizer
from perceptual_timbre.model._targets import PairTargets
from perceptual_timbre.model._training import Objective
from perceptual_timbre.utils import Ratings

# small nets for speed; the regularized / plain comparisons use the same seed and epochs;
# quality thresholds: see tests/_quality.py and benchmarks/results/quality_margins.md
FAST = dict(latent_dim=8, hidden_layer_sizes=(128,), max_epochs=60, warmup=10,
            random_state=seed())
TINY = dict(latent_dim=3, hidden_layer_sizes=(16,), max_epochs=3, random_state=0)


@pytest.fixture(scope="module")
def grey(data_home):
    """Log-magnitude STFT frames (librosa) of the 16 Grey (1977) stimuli with their ratings."""
    import librosa

    from perceptual_timbre.datasets import load_timbre_study

    study = load_timbre_study("Grey1977", data_home=data_home, sr=22050)
    X, y, one = [], [], []
    for name, audio in zip(study.names, study.audio, strict=True):
        S = np.abs(librosa.stft(audio, n_fft=1024, hop_length=256)).T
        S_db = librosa.amplitude_to_db(S, ref=np.max, top_db=80.0)
        S_db = S_db[S_db.max(axis=1) > -60.0]  # drop silent frames
        X.append(S_db)
        y += [name] * len(S_db)
        one.append(S_db[len(S_db) // 2])
    return {
        "X": np.vstack(X),
        "y": np.array(y),
        "ratings": study.ratings,
        "names": np.array(study.names),
        "X_one": np.vstack(one),  # one frame per stimulus
    }


# ----------------------------------------------------------------------------- sklearn API
@parametrize_with_checks(
    [PerceptualVAE(**TINY)],
    expected_failed_checks=lambda est: {
        "check_methods_subset_invariance": (
            "score_samples decodes in float32: torch's batched matmul differs by ~1e-7 "
            "relative between batch sizes, just above the check's tolerance (transform passes)."
        ),
    },
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ----------------------------------------------------------------------------- quality
def _agreement(model, grey):
    Z = model.transform(grey["X"])
    kl = latent_kl_divergence(Z, grey["y"], grey["ratings"], random_state=0)
    rho = centroid_correlation(Z, grey["y"], grey["ratings"])
    return kl, rho


@pytest.fixture(scope="module")
def plain_and_regularized(grey):
    fit = dict(y=grey["y"], dissimilarity=grey["ratings"])
    plain = PerceptualVAE(alpha=0.0, **FAST).fit(grey["X"], **fit)
    reg = PerceptualVAE(alpha=0.2, **FAST).fit(grey["X"], **fit)
    return plain, reg


@pytest.mark.quality
def test_regularized_beats_plain_on_paper_kl_and_centroid_spearman(grey, plain_and_regularized):
    plain, reg = plain_and_regularized
    kl_plain, rho_plain = _agreement(plain, grey)
    kl_reg, rho_reg = _agreement(reg, grey)
    check(kl_plain / kl_reg, ">", 2, "paper KL, plain / regularized")
    # over seeds 0-4: gain 0.06-0.11, reconstruction ratio 1.4-1.8 (quality_margins.md)
    check(rho_reg - rho_plain, ">", 0, "centroid Spearman gain")
    # the regularized space still reconstructs the spectra (error in dB^2, not collapsed)
    err_reg = reg.reconstruction_error(grey["X"])
    check(err_reg / plain.reconstruction_error(grey["X"]), "<", 2.5,
          "reconstruction, reg / plain")
    check(err_reg / np.var(grey["X"], axis=0).mean(), "<", 0.5, "reconstruction / variance")


@pytest.mark.quality
@pytest.mark.parametrize("regularization, alpha", [("l2", 0.2), ("prior", 0.02)])
def test_other_regularizers_raise_centroid_spearman(grey, plain_and_regularized,
                                                    regularization, alpha):
    plain, _ = plain_and_regularized
    model = PerceptualVAE(alpha=alpha, regularization=regularization, **FAST)
    model.fit(grey["X"], grey["y"], dissimilarity=grey["ratings"])
    check(_agreement(model, grey)[1] - _agreement(plain, grey)[1], ">", 0.05,
          "centroid Spearman gain")


def test_no_dissimilarity_or_alpha_zero_is_plain_vae(grey, plain_and_regularized):
    plain, _ = plain_and_regularized
    kw = dict(FAST, max_epochs=5)
    a = PerceptualVAE(**kw).fit(grey["X"])
    b = PerceptualVAE(alpha=0.0, **kw).fit(grey["X"], grey["y"], dissimilarity=grey["ratings"])
    c = PerceptualVAE(**kw).fit(grey["X"], grey["y"])  # y without ratings is allowed
    np.testing.assert_array_equal(a.transform(grey["X"]), b.transform(grey["X"]))
    np.testing.assert_array_equal(a.transform(grey["X"]), c.transform(grey["X"]))
    assert all(h["reg"] == 0 for h in plain.history_)
    assert a.dissimilarity_ is None and a.classes_ is None
    assert c.classes_.tolist() == sorted(set(grey["y"]))


# ----------------------------------------------------------------------------- class matching
def test_loss_invariant_to_joint_permutation_and_sensitive_to_mismatch(grey):
    """Rows are matched to their own class: permuting labels and matrix together is a no-op."""
    D, names = grey["ratings"].matrix, grey["names"]
    rng = np.random.default_rng(0)
    z = torch.randn(40, 4, generator=torch.Generator().manual_seed(0))
    y = names[rng.integers(0, len(names), 40)]

    def loss(matrix, labels, regularization="kl"):
        r = Ratings(matrix, labels)
        obj = Objective(regularization, target=PairTargets(
            torch.as_tensor(r.matrix, dtype=torch.float32)))
        target, mask = obj.target(torch.as_tensor(r.index_of(y)))
        assert mask is None
        fn = tsne_regularizer if regularization == "kl" else l2_regularizer
        return float(fn(z, target))

    perm = rng.permutation(len(names))
    for reg in ("kl", "l2"):
        same = loss(D, names, reg)
        assert loss(D[np.ix_(perm, perm)], names[perm], reg) == pytest.approx(same, rel=1e-6)
        # the reference code's bug: a matrix in another order than its labels
        assert abs(loss(D[np.ix_(perm, perm)], names, reg) - same) > 1e-3 * abs(same)


def test_fit_invariant_to_ratings_order_and_input_form(grey):
    X, y, r = grey["X"], grey["y"], grey["ratings"]
    kw = dict(FAST, max_epochs=4, alpha=0.2)
    ref = PerceptualVAE(**kw).fit(X, y, dissimilarity=r).transform(X)
    perm = np.random.default_rng(1).permutation(r.n_items)
    shuffled = Ratings(r.matrix[np.ix_(perm, perm)], r.labels[perm])
    frame = r.to_frame().iloc[perm, perm]
    order = np.argsort(r.labels.astype(str))  # a plain array is ordered like np.unique(y)
    plain = r.matrix[np.ix_(order, order)]
    for form in (shuffled, frame, (r.matrix, r.labels), plain):
        Z = PerceptualVAE(**kw).fit(X, y, dissimilarity=form).transform(X)
        np.testing.assert_array_equal(Z, ref)
    wrong = Ratings(r.matrix[np.ix_(perm, perm)], r.labels)
    assert not np.allclose(PerceptualVAE(**kw).fit(X, y, dissimilarity=wrong).transform(X), ref)


def test_unrated_classes_get_only_the_vae_loss(grey):
    X, y, r = grey["X"], grey["y"], grey["ratings"]
    held_out = r.labels[0]
    sub = r.subset([v for v in r.labels if v != held_out])
    model = PerceptualVAE(**dict(FAST, max_epochs=3, alpha=0.2)).fit(X, y, dissimilarity=sub)
    assert held_out not in model.rated_classes_.tolist()
    assert len(model.rated_classes_) == r.n_items - 1
    assert model.dissimilarity_ is sub
    assert model.history_[-1]["reg"] > 0


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.ones((3, 3)) - np.eye(3), "16 classes"),
        (np.ones((16, 15)), "square"),
        (np.triu(np.ones((16, 16)), 1), "symmetric"),
        (-(np.ones((16, 16)) - np.eye(16)), "negative"),
        (np.full((16, 16), np.nan), "NaN"),
    ],
)
def test_bad_dissimilarity_raises(grey, bad, match):
    with pytest.raises(ParameterError, match=match):
        PerceptualVAE(**TINY).fit(grey["X_one"], grey["names"], dissimilarity=bad)


def test_dissimilarity_needs_y_and_matching_labels(grey):
    with pytest.raises(ParameterError, match="without y"):
        PerceptualVAE(**TINY).fit(grey["X_one"], dissimilarity=grey["ratings"])
    with pytest.raises(ParameterError, match="none of the classes"):
        PerceptualVAE(**TINY).fit(grey["X_one"], np.arange(16), dissimilarity=grey["ratings"])


def test_sliced_plain_matrix_explains_the_cv_trap(grey):
    D = grey["ratings"].matrix
    with pytest.raises(ParameterError, match="Cross-validation slices"):
        # what CV hands a fold of 12 training rows when a 16x16 plain array was passed
        PerceptualVAE(**TINY).fit(grey["X_one"][:12], grey["names"][:12], dissimilarity=D[:12])


# ----------------------------------------------------------------------------- randomness
def test_same_random_state_gives_identical_fits_and_global_rng_untouched(grey):
    X, y, r = grey["X"], grey["y"], grey["ratings"]
    kw = dict(FAST, max_epochs=3, alpha=0.2, early_stopping=True)
    state = torch.get_rng_state()
    # the legacy global numpy state is exactly what must stay untouched
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002
    a = PerceptualVAE(**kw).fit(X, y, dissimilarity=r)
    assert torch.equal(torch.get_rng_state(), state)
    assert np.array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    b = PerceptualVAE(**kw).fit(X, y, dissimilarity=r)
    c = PerceptualVAE(**dict(kw, random_state=kw["random_state"] + 1)).fit(X, y, dissimilarity=r)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert [h["loss"] for h in a.history_] == [h["loss"] for h in b.history_]
    assert not np.allclose(a.transform(X), c.transform(X))
    np.testing.assert_array_equal(a.sample(4, random_state=3), b.sample(4, random_state=3))


# ----------------------------------------------------------------------------- methods
@pytest.mark.quality
def test_transform_inverse_sample_score(grey, plain_and_regularized):
    X = grey["X"]
    model, _ = plain_and_regularized
    Z = model.transform(X)
    assert Z.shape == (len(X), 8) and Z.dtype == np.float64
    X_hat = model.inverse_transform(Z)
    assert X_hat.shape == X.shape
    # reconstruction beats predicting the mean spectrum, in the units of X (dB)
    check(np.mean((X_hat - X) ** 2) / np.mean((X - X.mean(axis=0)) ** 2), "<", 0.5,
          "reconstruction / variance")
    assert model.reconstruction_error(X) == pytest.approx(np.mean((X_hat - X) ** 2))
    S = model.sample(5, random_state=0)
    assert S.shape == (5, X.shape[1]) and np.all(np.isfinite(S))
    # higher is better: the trained model has a higher ELBO than a barely trained one
    barely = PerceptualVAE(**dict(FAST, max_epochs=1)).fit(X)
    check(model.score(X) - barely.score(X), ">", 0, "ELBO gain of training (nats per frame)")
    w = np.r_[np.ones(10), np.zeros(len(X) - 10)]
    assert model.score(X, sample_weight=w) == pytest.approx(model.score_samples(X[:10]).mean())
    with pytest.raises(ParameterError, match="dimensions"):
        model.inverse_transform(np.zeros((2, 3)))
    with pytest.raises(ParameterError, match="NaN"):
        model.transform(np.full((1, X.shape[1]), np.inf))


def test_history_schedule_and_verbose(grey, capsys):
    X, y, r = grey["X_one"], grey["names"], grey["ratings"]
    model = PerceptualVAE(
        **dict(TINY, max_epochs=6, warmup=4, beta=2.0, pretrain_epochs=2, alpha=5.0, verbose=2)
    ).fit(X, y, dissimilarity=r)
    out = capsys.readouterr().out
    assert out.count("[PerceptualVAE] epoch") == 6
    h = model.history_
    assert {"loss", "recon", "kl", "reg", "val_loss"} <= set(h[0])
    assert [e["alpha"] for e in h] == [0, 0, 5, 5, 5, 5]
    assert [e["beta"] for e in h] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert h[0]["reg"] == 0 and h[-1]["reg"] > 0
    PerceptualVAE(**dict(TINY, verbose=1)).fit(X)
    captured = capsys.readouterr()
    assert "PerceptualVAE" in captured.err and captured.out == ""
    PerceptualVAE(**TINY).fit(X)
    assert capsys.readouterr() == ("", "")


@pytest.mark.quality
@pytest.mark.slow
def test_early_stopping_restores_and_stops(grey):
    X = grey["X"]
    model = PerceptualVAE(
        **dict(FAST, max_epochs=500, early_stopping=True, n_iter_no_change=2)
    ).fit(X)
    check(model.n_epochs_, "<", 500, "epochs run")  # 85-244 over seeds 0-4
    assert all(h["val_loss"] is not None for h in model.history_)
    with pytest.raises(ParameterError, match="validation_fraction"):
        PerceptualVAE(early_stopping=True, validation_fraction=0.0).fit(X)


def test_divergence_raises_training_error_and_bad_input_parameter_error(grey):
    X = grey["X"]
    with pytest.raises(TrainingError, match="learning_rate"):
        PerceptualVAE(**dict(FAST, learning_rate=1e12, max_epochs=20)).fit(X)
    bad = X.copy()
    bad[3, 5] = np.inf
    with pytest.raises(ParameterError, match="NaN or infinite"):
        PerceptualVAE(**TINY).fit(bad)
    with pytest.raises(ParameterError, match="hidden_layer_sizes"):
        PerceptualVAE(hidden_layer_sizes=(0, 4)).fit(X)
    with pytest.raises(ParameterError, match="CUDA"):
        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
        PerceptualVAE(**dict(TINY, device="cuda")).fit(X)


# ----------------------------------------------------------------------------- persistence
def test_joblib_round_trip_is_exact(grey, tmp_path, plain_and_regularized):
    _, model = plain_and_regularized
    path = tmp_path / "vae.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.transform(grey["X"]), model.transform(grey["X"]))
    Z = model.transform(grey["X"][:5])
    np.testing.assert_array_equal(loaded.inverse_transform(Z), model.inverse_transform(Z))
    assert loaded.history_ == model.history_ and not loaded.module_.training
    assert "module_" in vars(model)  # pickling does not strip the live estimator
    assert loaded.dissimilarity_ == model.dissimilarity_


def test_cuda_model_loads_on_cpu_with_warning(grey, monkeypatch):
    model = PerceptualVAE(**TINY).fit(grey["X_one"])
    expected = model.transform(grey["X_one"])
    model.device_ = "cuda"  # as if trained on a GPU (tensors are saved on the CPU)
    blob = pickle.dumps(model)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="CUDA is not available"):
        loaded = pickle.loads(blob)
    assert loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.transform(grey["X_one"]), expected)


@pytest.mark.gpu
def test_fit_on_cuda_then_load_on_cpu(grey, monkeypatch):
    model = PerceptualVAE(**dict(TINY, device="cuda")).fit(grey["X_one"])
    assert model.device_ == "cuda" and next(model.module_.parameters()).is_cuda
    Z = model.transform(grey["X_one"])
    assert Z.shape == (16, 3) and np.all(np.isfinite(Z))
    blob = pickle.dumps(model)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="CUDA is not available"):
        loaded = pickle.loads(blob)
    np.testing.assert_allclose(loaded.transform(grey["X_one"]), Z, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- model selection
def _one_per_class(grey):
    return grey["X_one"], grey["names"]


def test_grid_search_routing_off_ratings_arrive_whole(grey):
    """16 rows, one per class: a 16x16 Ratings object is never sliced by CV."""
    X, y = _one_per_class(grey)
    pipe = Pipeline([("scale", StandardScaler()), ("vae", PerceptualVAE(**TINY))])
    search = GridSearchCV(pipe, {"vae__alpha": [0.0, 1.0]}, cv=KFold(4), error_score="raise")
    search.fit(X, y, vae__dissimilarity=grey["ratings"])
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    best = search.best_estimator_.named_steps["vae"]
    assert best.dissimilarity_.n_items == 16 and len(best.rated_classes_) == 16
    # the same matrix as a plain array is cut to (12 train rows, 16): a clear error
    with pytest.raises(ParameterError, match="Ratings"):
        search.fit(X, y, vae__dissimilarity=grey["ratings"].matrix)


def test_grid_search_with_metadata_routing_and_custom_scorer(grey):
    X, y = _one_per_class(grey)
    ratings = grey["ratings"]

    def centroid_spearman(estimator, X, y):
        return centroid_correlation(estimator.transform(X), y, ratings)

    with sklearn.config_context(enable_metadata_routing=True):
        vae = PerceptualVAE(**TINY).set_fit_request(dissimilarity=True)
        pipe = Pipeline([("vae", vae)])
        for scoring in (None, centroid_spearman):
            search = GridSearchCV(
                pipe, {"vae__latent_dim": [2, 3]}, cv=KFold(4), scoring=scoring,
                error_score="raise",
            )
            search.fit(X, y, dissimilarity=ratings)
            assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
            assert search.best_estimator_.named_steps["vae"].dissimilarity_.n_items == 16
        # a DataFrame with n_samples rows IS sliced, like a plain array: a clear error
        with pytest.raises(ParameterError, match="Cross-validation slices"):
            search.fit(X, y, dissimilarity=ratings.to_frame())


# ----------------------------------------------------------------------------- 12 instruments
@pytest.fixture(scope="module")
def instruments():
    """NSGT log-magnitude stable frames of SoundFont notes of the 12 rated instruments."""
    pytest.importorskip("tinysoundfont")
    from perceptual_timbre.datasets import load_instrument_ratings, render_instrument_notes
    from perceptual_timbre.transforms import LogMagnitude, NSGTTransformer

    notes = render_instrument_notes(pitches=(60, 65, 69, 72), velocities=(64, 100))
    S = NSGTTransformer().fit(notes.audio).transform(notes.audio)
    X = LogMagnitude().fit_transform(S)
    return X, notes.instrument, load_instrument_ratings().ratings, notes.pitch


@pytest.mark.quality
@pytest.mark.slow
def test_twelve_instruments_regularized_beats_plain(instruments):
    X, y, ratings, _ = instruments
    kw = dict(latent_dim=16, hidden_layer_sizes=(128,), max_epochs=150, random_state=seed())
    scores = {}
    for alpha in (0.0, 1.0):
        Z = PerceptualVAE(alpha=alpha, **kw).fit(X, y, dissimilarity=ratings).transform(X)
        scores[alpha] = (latent_kl_divergence(Z, y, ratings), centroid_correlation(Z, y, ratings))
    (kl_plain, rho_plain), (kl_reg, rho_reg) = scores[0.0], scores[1.0]
    check(kl_plain / kl_reg, ">", 5, "paper KL, plain / regularized")  # paper: 517 -> 2.8
    check(rho_reg - rho_plain, ">", 0.1, "centroid Spearman gain")  # 0.29-0.50 over seeds


def _row_spearman(Z, y, train, test, ratings):
    """Mean over held-out rows of Spearman(distances to training class centroids, ratings)."""
    from scipy.stats import spearmanr

    labels = list(ratings.labels)
    C = np.vstack([Z[train & (y == c)].mean(axis=0) for c in labels])
    rhos = []
    for z, c in zip(Z[test], y[test], strict=True):
        k = labels.index(c)
        others = np.arange(len(labels)) != k
        rhos.append(spearmanr(np.linalg.norm(C[others] - z, axis=1), ratings.matrix[k, others])[0])
    return float(np.mean(rhos))


@pytest.mark.quality
@pytest.mark.slow
def test_unseen_pitch_notes_are_placed_by_the_ratings(instruments):
    """Paper RQ3 on notes: fitted without pitch 69, its notes still land where the ratings say."""
    X, y, ratings, pitch = instruments
    test = pitch == 69
    train = ~test
    scores = {}
    for alpha in (0.0, 1.0):  # default network and input noise, fewer epochs for speed
        model = PerceptualVAE(alpha=alpha, max_epochs=300, random_state=seed())
        model.fit(X[train], y[train], dissimilarity=ratings)
        Z = model.transform(X)
        scores[alpha] = (
            latent_kl_divergence(Z[test], y[test], ratings),
            _row_spearman(Z, y, train, test, ratings),
            model.reconstruction_error(X[test]),
        )
    (kl_plain, row_plain, err_plain), (kl_reg, row_reg, err_reg) = scores[0.0], scores[1.0]
    check(kl_plain / kl_reg, ">", 5, "paper KL of unseen notes, plain / regularized")
    # over seeds 0-4: gain 0.13-0.28, reconstruction ratio 0.98-1.12 (quality_margins.md)
    check(row_reg - row_plain, ">", 0, "held-out row Spearman gain")
    # the unseen notes are reconstructed about as well
    check(err_reg / err_plain, "<", 1.3, "held-out reconstruction, reg / plain")


# ----------------------------------------------------------------------- generalization levers
@pytest.mark.quality
def test_dropout_is_training_only_and_weight_decay_shrinks_weights(grey):
    kw = dict(TINY, max_epochs=20, input_noise=0.0, random_state=seed())
    model = PerceptualVAE(dropout=0.5, **kw).fit(grey["X_one"])
    assert any(isinstance(m, torch.nn.Dropout) for m in model.module_.encoder.modules())
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.module_.decoder.modules())
    np.testing.assert_array_equal(model.transform(grey["X_one"]), model.transform(grey["X_one"]))

    def norm(m):
        return sum(float(p.detach().pow(2).sum()) for p in m.module_.parameters())

    plain = PerceptualVAE(**kw).fit(grey["X_one"])
    decayed = PerceptualVAE(weight_decay=5.0, **kw).fit(grey["X_one"])
    check(norm(decayed) / norm(plain), "<", 0.9, "weight norm, decayed / plain")


@pytest.mark.quality
def test_input_noise_denoises_and_is_reproducible(grey):
    kw = dict(FAST, max_epochs=30)
    clean = PerceptualVAE(input_noise=0.0, **kw).fit(grey["X"])
    noisy = PerceptualVAE(input_noise=1.0, **kw).fit(grey["X"])
    again = PerceptualVAE(input_noise=1.0, **kw).fit(grey["X"])
    np.testing.assert_array_equal(noisy.transform(grey["X"]), again.transform(grey["X"]))
    assert not np.allclose(noisy.transform(grey["X"]), clean.transform(grey["X"]))
    # the target stays clean: the noisy model still reconstructs the frames
    check(noisy.reconstruction_error(grey["X"]) / np.var(grey["X"], axis=0).mean(), "<", 0.5,
          "reconstruction / variance")


@pytest.mark.parametrize("params", [{"dropout": 1.0}, {"dropout": -0.1},
                                    {"input_noise": -1.0}, {"weight_decay": -1e-3}])
def test_bad_generalization_params_raise(grey, params):
    with pytest.raises(ParameterError, match=next(iter(params))):
        PerceptualVAE(**TINY, **params).fit(grey["X_one"])


# ----------------------------------------------------------------------- perceptual dims
def test_perceptual_dims_regularize_the_leading_coordinates_only(grey):
    """The ratings shape the first ``perceptual_dims`` coordinates; the rest are free."""
    X, y, r = grey["X"], grey["y"], grey["ratings"]
    kw = dict(FAST, latent_dim=6, alpha=1.0, regularization="l2", max_epochs=20)
    vae = PerceptualVAE(perceptual_dims=0.5, **kw).fit(X, y, dissimilarity=r)
    assert vae.perceptual_dims_ == 3 and vae.transform(X[:2]).shape == (2, 6)
    # the objective reads the perceptual coordinates only: moving the free ones changes
    # nothing, moving a perceptual one does
    batch = {"x": torch.as_tensor((grey["X_one"] - vae.feature_mean_) / vae.feature_scale_,
                                  dtype=torch.float32),
             "cls": torch.arange(16)}
    objective = Objective("l2", target=PairTargets(torch.as_tensor(
        r.subset(grey["names"]).matrix, dtype=torch.float32)), dims=vae.perceptual_dims_)

    def reg(column, shift):
        def module(x, side=None, **kwargs):
            out = dict(vae.module_(x, side, **kwargs))
            out["mu"] = out["mu"].clone()
            out["mu"][:, column] += shift
            return out
        with torch.no_grad():
            return float(objective(module, batch, beta=1.0, alpha=1.0, sample=False)["reg"])

    ramp = torch.linspace(0.0, 3.0, 16)
    assert reg(5, ramp) == reg(5, 0.0) > 0
    assert reg(0, ramp) != reg(0, 0.0)
    # same seed, all coordinates perceptual: another fit (the regularizer sees more)
    full = PerceptualVAE(**kw).fit(X, y, dissimilarity=r)
    assert full.perceptual_dims_ is None
    assert not np.allclose(full.transform(X[:50]), vae.transform(X[:50]))
    with pytest.raises(ParameterError, match="more than latent_dim"):
        PerceptualVAE(perceptual_dims=7, **TINY).fit(grey["X_one"])
    with pytest.raises(ParameterError, match="perceptual_dims"):
        PerceptualVAE(perceptual_dims=1.5, **TINY).fit(grey["X_one"])
