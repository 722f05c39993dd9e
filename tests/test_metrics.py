"""Perceptual agreement metrics, checked on the shared timbre studies."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import pdist, squareform
from sklearn.decomposition import PCA
from sklearn.manifold import MDS
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from perceptual_timbre.baselines import MFCCEmbedding
from perceptual_timbre.exceptions import ParameterError
from perceptual_timbre.metrics import (
    anchor_spearman,
    centroid_correlation,
    class_centroids,
    latent_kl_divergence,
    make_perceptual_scorer,
    mantel_test,
    retrieval_ndcg,
    triplet_agreement,
)
from perceptual_timbre.utils import Ratings

SR = 22050
PER_ANCHOR = (anchor_spearman, triplet_agreement, retrieval_ndcg)


@pytest.fixture(scope="module")
def grey(load_study):
    """Grey1977: 16 stimuli, their names, ratings, and time-averaged MFCCs."""
    sounds, names, D = load_study("Grey1977")
    Z = MFCCEmbedding(sr=SR).fit_transform(sounds)
    return {"sounds": sounds, "names": np.array(names, dtype=object), "D": D, "Z": Z,
            "P": squareform(pdist(Z))}


@pytest.fixture(scope="module")
def lakatos_segments(load_study):
    """MFCCs of Lakatos2000_Harm cut into 0.25 s segments: several rows per stimulus."""
    sounds, names, D = load_study("Lakatos2000_Harm")
    seg = SR // 4
    X, y = [], []
    for s, name in zip(sounds, names, strict=True):
        for start in range(0, len(s) - seg + 1, seg):
            piece = s[start:start + seg]
            if np.max(np.abs(piece)) > 1e-3:
                X.append(piece)
                y.append(name)
    # MFCCs computed once: the searches below select PCA sizes on top of them
    return MFCCEmbedding(sr=SR).fit_transform(X), np.array(y, dtype=object), Ratings(D, names)


# --------------------------------------------------------------------------- per anchor
def test_mfcc_agrees_with_grey1977_ratings(grey):
    P, D = grey["P"], grey["D"]
    scores = {f.__name__: f(P, D) for f in PER_ANCHOR}
    stat, p = mantel_test(P, D, random_state=0)
    print(f"Grey1977 MFCC: {scores}, Mantel r={stat:.3f} p={p:.4f}")
    assert scores["anchor_spearman"] > 0.3
    assert scores["triplet_agreement"] > 0.6  # chance is 0.5
    assert p < 0.01
    # random embeddings do not agree (on average over draws)
    rng = np.random.default_rng(0)
    chance = np.mean([anchor_spearman(squareform(pdist(rng.normal(size=(16, 40)))), D)
                      for _ in range(20)])
    assert abs(chance) < 0.15 < scores["anchor_spearman"]


@pytest.mark.parametrize("metric", PER_ANCHOR)
def test_truth_against_itself_is_perfect(grey, metric):
    assert metric(grey["D"], grey["D"]) == pytest.approx(1.0)
    # rank-based: any increasing transform of the prediction scores the same
    assert metric(np.sqrt(grey["D"]), grey["D"]) == pytest.approx(1.0)


def test_anchor_spearman_matches_rowwise_scipy(grey):
    P, D = grey["P"], grey["D"]
    n = len(D)
    rows = [stats.spearmanr(np.delete(P[i], i), np.delete(D[i], i))[0] for i in range(n)]
    assert anchor_spearman(P, D) == pytest.approx(np.mean(rows))


def test_triplet_agreement_matches_brute_force(grey):
    P, D = grey["P"], grey["D"] / grey["D"].max()
    n, margin = len(D), 0.1
    per_anchor = []
    for a in range(n):
        agree = valid = 0
        for j, k in itertools.combinations([i for i in range(n) if i != a], 2):
            if abs(D[a, j] - D[a, k]) > margin:
                valid += 1
                agree += (P[a, j] - P[a, k]) * (D[a, j] - D[a, k]) > 0
        if valid:
            per_anchor.append(agree / valid)
    assert triplet_agreement(P, grey["D"], margin=margin) == pytest.approx(np.mean(per_anchor))
    # a larger margin keeps only clearer triplets, which MFCC orders better
    assert triplet_agreement(P, grey["D"], margin=0.3) > triplet_agreement(P, grey["D"], margin=0)


def test_retrieval_ndcg_matches_dcg_formula(grey):
    P, D = grey["P"], grey["D"] / grey["D"].max()
    n = len(D)
    scores = []
    for i in range(n):
        others = np.delete(np.arange(n), i)
        rel = 1 - D[i, others]
        order = others[np.argsort(P[i, others])]
        disc = 1 / np.log2(np.arange(2, n + 1))
        scores.append(np.sum((1 - D[i, order]) * disc) / np.sum(np.sort(rel)[::-1] * disc))
    assert retrieval_ndcg(P, grey["D"]) == pytest.approx(np.mean(scores))
    assert retrieval_ndcg(P, grey["D"], k=3) < 1


@settings(max_examples=25, deadline=None)
@given(perm=st.permutations(list(range(16))))
def test_per_anchor_metrics_invariant_to_item_order(grey, perm):
    P, D = grey["P"], grey["D"]
    perm = np.asarray(perm)
    for metric in PER_ANCHOR:
        assert metric(P[np.ix_(perm, perm)], D[np.ix_(perm, perm)]) == pytest.approx(metric(P, D))
    assert centroid_correlation(grey["Z"][perm], grey["names"][perm],
                                Ratings(D[np.ix_(perm, perm)], grey["names"][perm])) == (
        pytest.approx(centroid_correlation(grey["Z"], grey["names"], Ratings(D, grey["names"]))))


def test_wrong_item_order_changes_scores(grey):
    P, D = grey["P"], grey["D"]
    perm = np.random.default_rng(1).permutation(16)
    for metric in PER_ANCHOR:
        assert metric(P, D[np.ix_(perm, perm)]) != pytest.approx(metric(P, D))
    wrong = Ratings(D, grey["names"][perm])  # right matrix, shuffled labels
    assert centroid_correlation(grey["Z"], grey["names"], wrong) < centroid_correlation(
        grey["Z"], grey["names"], Ratings(D, grey["names"])) - 0.2


def test_unrated_pairs_are_left_out(grey):
    D, names = grey["D"], grey["names"]
    counts = np.ones_like(D)
    corrupted = D.copy()
    corrupted[0, 1] = corrupted[1, 0] = 10.0  # a wild value on a pair nobody rated
    counts[0, 1] = counts[1, 0] = 0
    ok = Ratings(D, names)
    masked = Ratings(corrupted, names, counts=counts)
    Z, y = grey["Z"], names
    full_iu = np.triu_indices(16, 1)
    keep = ~((full_iu[0] == 0) & (full_iu[1] == 1))
    expected = stats.spearmanr(grey["P"][full_iu][keep], D[full_iu][keep])[0]
    assert centroid_correlation(Z, y, masked) == pytest.approx(expected)
    assert centroid_correlation(Z, y, masked) != pytest.approx(centroid_correlation(Z, y, ok))
    rated = counts > 0
    for metric in PER_ANCHOR:
        assert np.isfinite(metric(grey["P"], corrupted, rated=rated))
    assert anchor_spearman(grey["P"], corrupted, rated=rated) == pytest.approx(
        np.mean([stats.spearmanr(grey["P"][i, rated[i] & (np.arange(16) != i)],
                                 D[i, rated[i] & (np.arange(16) != i)])[0] for i in range(16)]))


@pytest.mark.parametrize("metric", PER_ANCHOR)
def test_per_anchor_input_validation(grey, metric):
    P, D = grey["P"], grey["D"]
    with pytest.raises(ParameterError, match="shape"):
        metric(P[:5, :5], D)
    with pytest.raises(ParameterError, match="NaN"):
        metric(np.where(np.eye(16, dtype=bool), np.nan, P), D)
    with pytest.raises(ParameterError, match="symmetric"):
        metric(P, np.triu(D))
    with pytest.raises(ParameterError, match="square"):
        metric(P[:, :4], D[:, :4])


# --------------------------------------------------------------------------- Mantel
def test_mantel_truth_vs_noisy_truth_and_shuffled(grey):
    D = grey["D"]
    rng = np.random.default_rng(0)
    noise = rng.normal(scale=0.1, size=D.shape)
    noisy = np.abs(D + (noise + noise.T) / 2)
    np.fill_diagonal(noisy, 0)
    stat, p = mantel_test(D, noisy, n_permutations=499, random_state=0)
    assert stat > 0.6 and p < 0.01
    # under the null (items shuffled) p-values spread over (0, 1]
    ps = []
    for seed in range(15):
        perm = np.random.default_rng(100 + seed).permutation(16)
        ps.append(mantel_test(D, D[np.ix_(perm, perm)], n_permutations=199, random_state=seed)[1])
    print(f"Mantel p under shuffling: median {np.median(ps):.3f}")
    assert np.median(ps) > 0.2
    assert min(ps) >= 1 / 200


def test_mantel_statistic_and_determinism(grey):
    P, D = grey["P"], grey["D"]
    iu = np.triu_indices(16, 1)
    assert mantel_test(P, D, method="pearson", n_permutations=9)[0] == pytest.approx(
        stats.pearsonr(P[iu], D[iu])[0])
    assert mantel_test(P, D, n_permutations=9)[0] == pytest.approx(
        stats.spearmanr(P[iu], D[iu])[0])
    assert mantel_test(P, D, random_state=3) == mantel_test(P, D, random_state=3)
    s, p_less = mantel_test(P, D, alternative="less", random_state=0)
    assert p_less > 0.9
    with pytest.raises(ParameterError, match="alternative"):
        mantel_test(P, D, alternative="bigger")


# --------------------------------------------------------------------------- KL (paper)
def test_kl_zero_when_neighbourhoods_match():
    r = Ratings(np.ones((4, 4)) - np.eye(4), list("abcd"))
    # a regular simplex (all latent distances equal) and equal ratings: both uniform
    assert latent_kl_divergence(np.eye(4), list("abcd"), r) == pytest.approx(0.0, abs=1e-12)
    # one point off the simplex breaks the match
    assert latent_kl_divergence(np.eye(4) * [1, 1, 1, 3], list("abcd"), r) > 1e-3


def test_kl_prefers_the_rating_layout(grey):
    D, names = grey["D"], grey["names"]
    r = Ratings(D, names)
    pos = MDS(n_components=2, metric="precomputed", init="classical_mds",
              random_state=0).fit_transform(D)
    rng = np.random.default_rng(0)
    y = np.repeat(names, 5)
    Z = np.repeat(pos, 5, axis=0) + rng.normal(scale=0.02, size=(80, 2))
    kl_good = latent_kl_divergence(Z, y, r)
    kl_bad = latent_kl_divergence(Z, rng.permutation(y), r)
    print(f"Grey1977 KL: MDS layout {kl_good:.4f}, shuffled labels {kl_bad:.4f}")
    assert 0 <= kl_good < kl_bad
    assert latent_kl_divergence(Z, y, r, reduction="sum") == pytest.approx(80 * kl_good)
    # subsampling is reproducible
    a = latent_kl_divergence(Z, y, r, max_samples=40, random_state=0)
    assert a == latent_kl_divergence(Z, y, r, max_samples=40, random_state=0)


@settings(max_examples=15, deadline=None)
@given(perm=st.permutations(list(range(16))))
def test_kl_invariant_to_class_order(grey, perm):
    D, names = grey["D"], grey["names"]
    perm = np.asarray(perm)
    y = np.repeat(names, 2)
    Z = np.repeat(grey["Z"][:, :3] / 50, 2, axis=0)
    base = latent_kl_divergence(Z, y, Ratings(D, names))
    permuted = Ratings(D[np.ix_(perm, perm)], names[perm])
    order = np.random.default_rng(0).permutation(len(y))  # rows in another order too
    assert latent_kl_divergence(Z[order], y[order], permuted) == pytest.approx(base)


def test_unrated_classes_ignored_or_raise(grey):
    Z, names, D = grey["Z"], grey["names"].copy(), grey["D"]
    r = Ratings(D[:12, :12], names[:12])  # the last 4 stimuli have no ratings
    assert centroid_correlation(Z, names, r) == pytest.approx(
        centroid_correlation(Z[:12], names[:12], r))
    assert latent_kl_divergence(Z / 50, names, r) == pytest.approx(
        latent_kl_divergence(Z[:12] / 50, names[:12], r))
    with pytest.raises(ParameterError, match="missing"):
        centroid_correlation(Z, names, r, missing="raise")
    with pytest.raises(ParameterError, match="at least 2"):
        class_centroids(Z, ["zz"] * 16, r)
    with pytest.raises(ParameterError, match="one label per row"):
        centroid_correlation(Z, names[:5], r)
    with pytest.raises(ValueError):
        centroid_correlation(np.where(Z > 0, np.nan, Z), names, r)


# --------------------------------------------------------------------------- scorers
@pytest.mark.parametrize(
    "metric", ["spearman", "pearson", "kl", "mantel", "anchor_spearman", "triplet_agreement",
               "retrieval_ndcg"])
def test_scorer_matches_functions(grey, metric):
    r = Ratings(grey["D"], grey["names"])
    pca = PCA(n_components=5).fit(grey["Z"])
    scorer = make_perceptual_scorer(r, metric=metric)
    value = scorer(pca, grey["Z"], grey["names"])
    Zp = pca.transform(grey["Z"])
    P = squareform(pdist(Zp))
    expected = {
        "spearman": lambda: centroid_correlation(Zp, grey["names"], r),
        "pearson": lambda: centroid_correlation(Zp, grey["names"], r, method="pearson"),
        "kl": lambda: -latent_kl_divergence(Zp, grey["names"], r),
        "mantel": lambda: mantel_test(P, grey["D"], n_permutations=1)[0],
        "anchor_spearman": lambda: anchor_spearman(P, grey["D"]),
        "triplet_agreement": lambda: triplet_agreement(P, grey["D"]),
        "retrieval_ndcg": lambda: retrieval_ndcg(P, grey["D"]),
    }[metric]()
    assert value == pytest.approx(expected)
    # rows in another order, ratings in another order: same score
    perm = np.random.default_rng(0).permutation(16)
    r2 = Ratings(grey["D"][np.ix_(perm, perm)], grey["names"][perm])
    scorer2 = make_perceptual_scorer(r2, metric=metric)
    assert scorer2(pca, grey["Z"][perm[::-1]], grey["names"][perm[::-1]]) == pytest.approx(value)


def test_scorer_validation(grey):
    r = Ratings(grey["D"], grey["names"])
    with pytest.raises(ParameterError, match="metric"):
        make_perceptual_scorer(r, metric="accuracy")
    with pytest.raises(ParameterError, match="labelled"):
        make_perceptual_scorer(grey["D"])
    scorer = make_perceptual_scorer(r)
    with pytest.raises(ParameterError, match="needs y"):
        scorer(PCA(2).fit(grey["Z"]), grey["Z"])
    assert "spearman" in repr(scorer)


def _search(X, y, ratings):
    pipe = Pipeline([("scale", StandardScaler()), ("pca", PCA())])
    return GridSearchCV(
        pipe, {"pca__n_components": [2, 10]},
        scoring=make_perceptual_scorer(ratings, metric="anchor_spearman"),
        cv=KFold(3, shuffle=True, random_state=0), error_score="raise",
    ).fit(X, y)


def test_scorer_in_grid_search(lakatos_segments):
    X, y, ratings = lakatos_segments
    search = _search(X, y, ratings)
    scores = search.cv_results_["mean_test_score"]
    print(f"Lakatos2000_Harm segments, anchor Spearman by PCA size: {scores}")
    assert np.all(np.isfinite(scores))
    assert search.best_score_ == np.max(scores) > 0.1  # chance is about 0
    # GridSearchCV.score uses the same scorer on the refitted model
    direct = make_perceptual_scorer(ratings, metric="anchor_spearman")(
        search.best_estimator_, X, y)
    assert search.score(X, y) == pytest.approx(direct)


def test_scorer_in_grid_search_with_routing(lakatos_segments):
    from sklearn import config_context

    X, y, ratings = lakatos_segments
    with config_context(enable_metadata_routing=True):
        routed = _search(X, y, ratings)
    plain = _search(X, y, ratings)
    np.testing.assert_allclose(routed.cv_results_["mean_test_score"],
                               plain.cv_results_["mean_test_score"])


def test_kl_matches_the_vae_training_regularizer(grey):
    """The metric reports exactly what PerceptualVAE's paper regularizer minimizes."""
    torch = pytest.importorskip("torch")
    losses = pytest.importorskip("perceptual_timbre.model._losses")
    D, names = grey["D"], grey["names"]
    y = np.repeat(names, 3)
    Z = np.random.default_rng(0).normal(size=(48, 4))
    idx = Ratings(D, names).index_of(y)
    target = torch.as_tensor(D[np.ix_(idx, idx)])
    expected = float(losses.tsne_regularizer(torch.as_tensor(Z), target, sigma=0.7))
    assert latent_kl_divergence(Z, y, Ratings(D, names), sigma=0.7) == pytest.approx(expected)
