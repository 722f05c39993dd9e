"""Target distances of the perceptual regularizer, for the classes of one batch at a time.

Rated dissimilarities between a few classes fit in a matrix. A teacher's targets for every
pair of 10,000 training sounds would not (0.8 GB), so they are kept as the teacher's
embedding of each class and computed per batch; ratings, when given, replace the targets of
the pairs they cover.
"""

import numpy as np
import torch

__all__ = ["PairTargets", "teacher_targets"]


class PairTargets:
    """Target distances and usable pairs between any classes of a batch.

    Parameters
    ----------
    matrix : Tensor of shape (m, m), default=None
        Rated distances between m rated items.
    label : long Tensor of shape (n_classes,), default=None
        Row of ``matrix`` of each class (-1: not rated); None: class ``i`` is row ``i``.
    rated : bool Tensor of shape (m, m), default=None
        Pairs of ``matrix`` that were rated (None: all of them).
    embedding : Tensor of shape (n_classes, d), default=None
        A teacher's embedding of each class: the target of every pair the ratings do not
        set is the Euclidean distance between the two rows, times ``scale``.
    scale : float, default=1.0

    Calling it with the classes ``idx`` of a batch gives their (k, k) targets and a bool
    mask of the pairs to use (None: all pairs).
    """

    def __init__(self, matrix=None, label=None, rated=None, embedding=None, scale=1.0):
        self.matrix = matrix
        self.label = label
        self.rated = rated
        self.embedding = embedding
        self.scale = scale

    @property
    def n_classes(self):
        for v in (self.embedding, self.label, self.matrix):
            if v is not None:
                return int(v.shape[0])

    def to(self, device):
        """A copy on ``device``."""
        move = {k: None if v is None else v.to(device) for k, v in vars(self).items()
                if k != "scale"}
        return PairTargets(**move, scale=self.scale)

    def __call__(self, idx):
        if self.matrix is not None:
            g = idx if self.label is None else self.label[idx]
            known = g >= 0
            g = g.clamp_min(0)
            R = self.matrix[g][:, g]
            set_ = known[:, None] & known[None, :]
            if self.rated is not None:
                set_ = set_ & self.rated[g][:, g]
        if self.embedding is None:
            return R, (None if self.label is None and self.rated is None else set_)
        e = self.embedding[idx]
        # exact differences for a batch's few classes (bit-identical to a precomputed
        # matrix), a matrix product past 25 classes (the per-epoch agreement's thousands)
        T = (torch.cdist(e, e) * self.scale).to(torch.float32)
        return (T if self.matrix is None else torch.where(set_, R, T)), None


def _pair_blocks(E, label, rated, chunk):
    """Per block of rows: teacher distances (rows x all) and the rated-pair mask (or None)."""
    from scipy.spatial.distance import cdist

    for start in range(0, E.shape[0], chunk):
        rows = slice(start, start + chunk)
        D = cdist(E[rows], E)
        if label is None:
            yield rows, D, None
            continue
        g_r, g = label[rows], label
        both = (g_r >= 0)[:, None] & (g >= 0)[None, :]
        if rated is not None:
            both &= rated[np.ix_(np.maximum(g_r, 0), np.maximum(g, 0))]
        yield rows, D, both


def teacher_targets(embedding=None, label=None, matrix=None, rated=None, chunk=1024):
    """Targets from a teacher's embedding of every class, merged with ratings.

    Every pair of classes gets the distance between their embeddings; pairs of rated
    classes get their rating instead, brought to the teacher's scale over those pairs (the
    ratio of the two means). All targets are then divided by their maximum, as rated
    targets are. Memory stays linear in the number of classes: distances are computed
    ``chunk`` rows at a time here and per batch in training. Without an embedding, only
    the rated pairs have targets.

    Parameters
    ----------
    embedding : ndarray of shape (n_classes, d), default=None
    label : ndarray of int of shape (n_classes,), default=None
        Row of ``matrix`` of each class, -1 when not rated (needed with ``matrix``).
    matrix : ndarray of shape (m, m), default=None
        Rated dissimilarities.
    rated : bool ndarray of shape (m, m), default=None
        Pairs of ``matrix`` that were rated (None: all).

    Returns
    -------
    PairTargets
    """
    as_t = torch.as_tensor
    if matrix is not None:
        label = np.asarray(label, dtype=np.int64)
        rated_t = None if rated is None else as_t(np.asarray(rated, bool))
    if embedding is None:
        # the largest rating between two classes present (the others never count)
        present = np.unique(label[label >= 0])
        sub = matrix[np.ix_(present, present)]
        if rated is not None:
            sub = np.where(rated[np.ix_(present, present)], sub, 0.0)
        top = max(float(sub.max()), 1e-12)
        return PairTargets(as_t(matrix / top, dtype=torch.float32), label=as_t(label),
                           rated=rated_t)
    E = np.asarray(embedding, dtype=np.float64)
    # one pass: the teacher's and the ratings' sums over the distinct rated pairs (i != j),
    # the teacher's maximum over the other pairs and the ratings' over the rated ones
    sums, top_teacher, top_rated = np.zeros(2), 0.0, 0.0
    for rows, D, both in _pair_blocks(E, label if matrix is not None else None, rated, chunk):
        if both is None:
            top_teacher = max(top_teacher, float(D.max()))
            continue
        R = matrix[np.ix_(np.maximum(label[rows], 0), np.maximum(label, 0))]
        top_teacher = max(top_teacher, float(D[~both].max(initial=0.0)))
        top_rated = max(top_rated, float(R[both].max(initial=0.0)))
        both[np.arange(D.shape[0]), np.arange(rows.start, rows.start + D.shape[0])] = False
        sums += D[both].sum(), R[both].sum()
    if matrix is not None:
        scale = sums[0] / max(sums[1], 1e-12)
        matrix = matrix * scale
        top_rated *= scale
    top = max(top_teacher, top_rated, 1e-12)
    return PairTargets(
        matrix=None if matrix is None else as_t(matrix / top, dtype=torch.float32),
        label=None if matrix is None else as_t(label),
        rated=None if matrix is None else rated_t,
        embedding=as_t(E), scale=1.0 / top)
