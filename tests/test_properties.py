"""Property-based tests (hypothesis): transform round trips, frame shapes, metric invariants
and the consistency of labelled ratings.

Latent points and distances are drawn on integer grids (and scaled by powers of two where a
scaling must be exact) so that ties stay ties: rank metrics are only invariant up to ties,
and a 1-ulp difference would turn a tie into an order.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import pdist, squareform

from perceptual_timbre.metrics import (
    anchor_spearman,
    centroid_correlation,
    latent_kl_divergence,
    mantel_test,
    retrieval_ndcg,
    triplet_agreement,
)
from perceptual_timbre.transforms import (
    DCTTransformer,
    LogMagnitude,
    NSGTTransformer,
    STFTTransformer,
)
from perceptual_timbre.utils import Ratings, check_dissimilarity

FAST = settings(max_examples=25, deadline=None)
SLOW = settings(max_examples=10, deadline=None)  # examples that build an NSGT or run GLA


def _same(a, b):
    """Equal up to rounding, with NaN == NaN (undefined scores must stay undefined)."""
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return a == pytest.approx(b, rel=1e-9, abs=1e-12)


# ----------------------------------------------------------------------------- strategies
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def audio(draw, min_size, max_size):
    """A non-silent mono signal: arbitrary samples in [-1, 1] (subnormals, runs of zeros)."""
    n = draw(st.integers(min_size, max_size))
    x = draw(hnp.arrays(np.float64, n, elements=st.floats(-1, 1, allow_subnormal=True)))
    assume(np.max(np.abs(x)) > 1e-6)
    return x


@st.composite
def rated_space(draw):
    """(Z, y, ratings): integer latent points of 3-6 classes and integer ratings of them."""
    k = draw(st.integers(3, 6))
    dim = draw(st.integers(1, 3))
    counts = draw(st.lists(st.integers(1, 3), min_size=k, max_size=k))
    labels = np.array([f"inst{i}" for i in range(k)], dtype=object)
    y = np.repeat(labels, counts)
    Z = draw(hnp.arrays(np.float64, (y.size, dim), elements=st.integers(-8, 8).map(float)))
    upper = draw(hnp.arrays(np.float64, k * (k - 1) // 2, elements=st.integers(1, 9).map(float)))
    return Z, y, Ratings(squareform(upper), labels)


@st.composite
def distance_pair(draw):
    """(pred_D, true_D) over 3-8 items: Euclidean distances of integer points, integer ratings."""
    n = draw(st.integers(3, 8))
    points = draw(hnp.arrays(np.float64, (n, 2), elements=st.integers(-6, 6).map(float)))
    upper = draw(hnp.arrays(np.float64, n * (n - 1) // 2, elements=st.integers(0, 9).map(float)))
    assume(upper.max() > 0)  # normalized metrics need one positive rated value
    return squareform(pdist(points)), squareform(upper)


def _permuted(D, perm):
    return D[np.ix_(perm, perm)]


# ----------------------------------------------------------------------------- transforms
@FAST
@given(
    X=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=8),
                 elements=finite),
    floor=st.floats(1e-6, 1.0),
    scale=st.floats(0.1, 10.0),
)
def test_log_magnitude_inverse_is_exact(X, floor, scale):
    log = LogMagnitude(floor=floor, scale=scale).fit(X)
    Y = log.transform(X)
    np.testing.assert_allclose(log.inverse_transform(Y), X, rtol=1e-12, atol=1e-300)
    # sign-preserving and monotone, so orderings of magnitudes survive the compression
    assert np.array_equal(np.sign(Y), np.sign(X))
    order = np.argsort(X.ravel(), kind="stable")
    assert np.all(np.diff(Y.ravel()[order]) >= 0)


@FAST
@given(data=st.data(), n_fft=st.sampled_from([16, 32, 64]))
def test_dct_frames_round_trip_exactly(data, n_fft):
    hop = data.draw(st.integers(1, n_fft), label="hop_length")
    x = data.draw(audio(n_fft, 6 * n_fft), label="x")
    dct = DCTTransformer(sr=8000, n_fft=n_fft, hop_length=hop).fit([x])
    frames = dct.transform_frames([x])[0]
    assert frames.shape == (1 + (x.size - n_fft) // hop, n_fft)
    covered = (frames.shape[0] - 1) * hop + n_fft  # samples the frames see
    rebuilt = dct.inverse_transform_frames(frames, duration=covered / 8000)
    assert rebuilt.shape == (covered,)
    np.testing.assert_allclose(rebuilt, x[:covered], rtol=0, atol=1e-9 * np.max(np.abs(x)))


@SLOW
@given(
    length=st.integers(256, 4000),
    n_fft=st.sampled_from([64, 128, 256]),
    overlap=st.sampled_from([1, 2, 4]),
    seed=st.integers(0, 2**16),
)
def test_stft_frame_shapes_for_any_length(length, n_fft, overlap, seed):
    hop = n_fft // overlap
    x = np.random.default_rng(seed).uniform(-1, 1, length)
    stft = STFTTransformer(sr=8000, n_fft=n_fft, hop_length=hop, n_iter=1, random_state=0)
    frames = stft.fit([x]).transform_frames([x])[0]
    assert frames.shape == (1 + length // hop, n_fft // 2 + 1)  # librosa centred frames
    assert stft.transform([x]).shape == (1, stft.n_features_out_)
    assert stft.inverse_transform_frames(frames, duration=length / 8000).shape == (length,)


@SLOW
@given(extra=st.integers(0, 3000), seed=st.integers(0, 2**16))
def test_nsgt_frame_shapes_for_any_length(extra, seed):
    nsgt = NSGTTransformer(sr=8000, fmin=100, fmax=3000, bins=6, n_iter=1)
    nsgt.fit([np.ones(200)])  # min_samples_ is 2 periods of fmin = 160 samples
    length = nsgt.min_samples_ + extra
    x = np.random.default_rng(seed).uniform(-1, 1, length)
    frames = nsgt.transform_frames([x])[0]
    assert frames.ndim == 2 and frames.shape[0] >= 1
    assert frames.shape[1] == nsgt.n_features_out_ == nsgt.frequencies_.size
    assert np.all(np.isfinite(frames)) and np.all(frames >= 0)
    assert nsgt.transform([x]).shape == (1, nsgt.n_features_out_)
    assert nsgt.inverse_transform_frames(frames, duration=length / 8000).shape == (length,)


# ----------------------------------------------------------------------------- metrics
@FAST
@given(space=rated_space(), data=st.data())
def test_class_metrics_ignore_class_and_row_order(space, data):
    Z, y, ratings = space
    k = ratings.n_items
    class_perm = np.array(data.draw(st.permutations(range(k)), label="class_perm"))
    row_perm = np.array(data.draw(st.permutations(range(y.size)), label="row_perm"))
    shuffled = Ratings(_permuted(ratings.matrix, class_perm), ratings.labels[class_perm])
    for method in ("spearman", "pearson"):
        assert _same(centroid_correlation(Z, y, ratings, method=method),
                     centroid_correlation(Z[row_perm], y[row_perm], shuffled, method=method))
    assume(y.size >= 3)
    assert _same(latent_kl_divergence(Z, y, ratings, max_samples=None),
                 latent_kl_divergence(Z[row_perm], y[row_perm], shuffled, max_samples=None))


@FAST
@given(space=rated_space(), power=st.integers(-6, 6))
def test_centroid_spearman_ignores_latent_scale(space, power):
    Z, y, ratings = space
    # a power of two scales every distance exactly, so ties are kept
    assert _same(centroid_correlation(Z, y, ratings), centroid_correlation(Z * 2.0**power, y,
                                                                           ratings))


@FAST
@given(space=rated_space())
def test_renaming_classes_consistently_changes_nothing(space):
    Z, y, ratings = space
    rename = {label: f"z_{i:02d}_{label[::-1]}" for i, label in enumerate(ratings.labels[::-1])}
    renamed = Ratings(ratings.matrix, [rename[v] for v in ratings.labels])
    y2 = np.array([rename[v] for v in y], dtype=object)
    assert _same(centroid_correlation(Z, y, ratings), centroid_correlation(Z, y2, renamed))


@FAST
@given(pair=distance_pair(), data=st.data())
def test_anchor_metrics_ignore_item_order(pair, data):
    pred, true = pair
    perm = np.array(data.draw(st.permutations(range(pred.shape[0])), label="perm"))
    for metric in (anchor_spearman, triplet_agreement, retrieval_ndcg):
        assert _same(metric(pred, true), metric(_permuted(pred, perm), _permuted(true, perm)))


@FAST
@given(pair=distance_pair(), c=st.floats(1e-3, 1e3))
def test_rank_metrics_ignore_prediction_scale(pair, c):
    pred, true = pair
    for metric in (anchor_spearman, triplet_agreement, retrieval_ndcg):
        assert _same(metric(pred, true), metric(c * pred, true))
    if np.ptp(pdist(pred)) > 0 and np.ptp(squareform(true)) > 0:
        a, _ = mantel_test(pred, true, n_permutations=9, random_state=0)
        b, _ = mantel_test(c * pred, true, n_permutations=9, random_state=0)
        assert _same(a, b)


@FAST
@given(pair=distance_pair())
def test_perfect_prediction_scores_best(pair):
    _, true = pair
    score = anchor_spearman(true, true)
    assert np.isnan(score) or score == pytest.approx(1.0)
    agreement = triplet_agreement(true, true)
    assert np.isnan(agreement) or agreement == 1.0
    ndcg = retrieval_ndcg(true, true)
    off = squareform(true)
    # undefined only when every item is equally (maximally) far: no relevant item to find
    assert ndcg == pytest.approx(1.0) if np.any(off < off.max()) else np.isnan(ndcg)


# ----------------------------------------------------------------------------- ratings
@st.composite
def ratings_and_labels(draw):
    k = draw(st.integers(2, 8))
    labels = draw(st.lists(st.text(min_size=1, max_size=6), min_size=k, max_size=k,
                           unique=True))
    upper = draw(hnp.arrays(np.float64, k * (k - 1) // 2, elements=st.floats(0, 10)))
    counts = squareform(draw(hnp.arrays(np.float64, k * (k - 1) // 2,
                                        elements=st.integers(0, 5).map(float))))
    ratings = Ratings(squareform(upper), labels, counts=counts)
    chosen = draw(st.lists(st.sampled_from(labels), min_size=2, max_size=k, unique=True))
    return ratings, chosen


@FAST
@given(case=ratings_and_labels())
def test_subset_matches_index_of(case):
    ratings, chosen = case
    sub = ratings.subset(chosen)
    idx = ratings.index_of(chosen)
    assert list(sub.labels) == chosen
    np.testing.assert_array_equal(sub.matrix, ratings.matrix[np.ix_(idx, idx)])
    np.testing.assert_array_equal(sub.counts, ratings.counts[np.ix_(idx, idx)])
    np.testing.assert_array_equal(sub.index_of(chosen), np.arange(len(chosen)))
    np.testing.assert_array_equal(ratings.index_of(ratings.labels), np.arange(ratings.n_items))
    assert ratings.subset(list(ratings.labels)) == ratings
    # restricting twice is restricting once; repeated labels map to the same row
    assert sub.subset(chosen[::-1]) == ratings.subset(chosen[::-1])
    np.testing.assert_array_equal(ratings.index_of(chosen + chosen), np.r_[idx, idx])


@FAST
@given(case=ratings_and_labels(), stranger=st.text(min_size=7, max_size=9))
def test_index_of_unknown_labels(case, stranger):
    ratings, chosen = case
    got = ratings.index_of([stranger] + chosen, missing="ignore")
    assert got[0] == -1 and stranger not in ratings
    np.testing.assert_array_equal(got[1:], ratings.index_of(chosen))


@FAST
@given(case=ratings_and_labels(), data=st.data())
def test_labelled_dataframe_order_does_not_matter(case, data):
    ratings, _ = case
    frame = pd.DataFrame(ratings.matrix, index=list(ratings.labels),
                         columns=list(ratings.labels))
    perm = data.draw(st.permutations(range(ratings.n_items)), label="perm")
    shuffled = frame.iloc[:, perm]  # columns shuffled, rows in the original order
    assert check_dissimilarity(shuffled) == Ratings(ratings.matrix, ratings.labels)
