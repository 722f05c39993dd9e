"""Which pairs of sounds to rate, and in which order (:func:`design_experiment`)."""

import math
import numbers

import numpy as np
from sklearn.utils import check_random_state

from ..exceptions import ParameterError
from ..utils.validation import Ratings

__all__ = ["ExperimentDesign", "design_experiment", "STRATEGIES"]

#: Pair-selection strategies of :func:`design_experiment`.
STRATEGIES = ("all", "random", "coverage", "stratified", "uncertainty")

_FORMAT = "perceptual_timbre.ExperimentDesign/1"


class ExperimentDesign:
    """The pairs a listening test asks about and the order of its trials.

    Made by :func:`design_experiment`; written by
    :func:`~perceptual_timbre.listening.write_experiment` and stored in its manifest
    (:meth:`to_dict` / :meth:`from_dict`). Every participant gets the same trial order.

    Attributes
    ----------
    sound_ids : list of str
        Ids of the sounds of the experiment (rated or not).
    pairs : ndarray of shape (n_pairs, 2)
        Index pairs ``i < j`` into ``sound_ids``, each rated once per participant (plus
        repeats), in the order they were selected.
    trials : ndarray of shape (n_trials, 2)
        Presentation order: row ``t`` plays ``sound_ids[trials[t, 0]]`` first, then
        ``sound_ids[trials[t, 1]]``.
    repeat : ndarray of bool of shape (n_trials,)
        True for the second presentation of a repeated pair (played in reversed order).
    strategy : str
    seed : int
        Seed that reproduces the design (from ``random_state``).
    n_rated_before : int
        Pairs already rated before this design (``rated``), never proposed again.
    """

    def __init__(self, sound_ids, pairs, trials, repeat, *, strategy, seed, n_rated_before=0):
        self.sound_ids = [str(s) for s in sound_ids]
        self.pairs = np.asarray(pairs, dtype=int).reshape(-1, 2)
        self.trials = np.asarray(trials, dtype=int).reshape(-1, 2)
        self.repeat = np.asarray(repeat, dtype=bool).ravel()
        self.strategy = str(strategy)
        self.seed = int(seed)
        self.n_rated_before = int(n_rated_before)
        if self.repeat.size != len(self.trials):
            raise ParameterError(
                f"repeat has {self.repeat.size} flags for {len(self.trials)} trials."
            )
        n = len(self.sound_ids)
        for name, a in (("pairs", self.pairs), ("trials", self.trials)):
            if a.size and (a.min() < 0 or a.max() >= n or np.any(a[:, 0] == a[:, 1])):
                raise ParameterError(
                    f"{name} must hold pairs of two different sound indices in [0, {n})."
                )

    @property
    def n_sounds(self):
        """Number of sounds."""
        return len(self.sound_ids)

    @property
    def n_pairs(self):
        """Number of distinct pairs to rate."""
        return len(self.pairs)

    @property
    def n_trials(self):
        """Number of trials per participant (pairs plus repeats)."""
        return len(self.trials)

    def pairs_per_sound(self):
        """How many of the design's pairs each sound is part of (its anchor count)."""
        return np.bincount(self.pairs.ravel(), minlength=self.n_sounds)

    def to_frame(self):
        """The trial list as a :class:`pandas.DataFrame` (1-based ``trial`` numbers)."""
        import pandas as pd

        ids = np.asarray(self.sound_ids, dtype=object)
        return pd.DataFrame({
            "trial": np.arange(1, self.n_trials + 1),
            "sound_a": ids[self.trials[:, 0]],
            "sound_b": ids[self.trials[:, 1]],
            "repeat": self.repeat.astype(int),
        })

    def to_dict(self):
        """JSON-ready description (see :meth:`from_dict`)."""
        return {
            "format": _FORMAT,
            "sound_ids": list(self.sound_ids),
            "pairs": self.pairs.tolist(),
            "trials": self.trials.tolist(),
            "repeat": self.repeat.astype(int).tolist(),
            "strategy": self.strategy,
            "seed": self.seed,
            "n_rated_before": self.n_rated_before,
        }

    @classmethod
    def from_dict(cls, d):
        """Rebuild a design from :meth:`to_dict` output (e.g. a manifest's ``design``)."""
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise ParameterError(f"not an experiment design (expected format {_FORMAT!r}).")
        return cls(d["sound_ids"], d["pairs"], d["trials"], d["repeat"], strategy=d["strategy"],
                   seed=d["seed"], n_rated_before=d.get("n_rated_before", 0))

    def __eq__(self, other):
        return isinstance(other, ExperimentDesign) and self.to_dict() == other.to_dict()

    __hash__ = None

    def __repr__(self):
        return (f"ExperimentDesign(n_sounds={self.n_sounds}, n_pairs={self.n_pairs}, "
                f"n_trials={self.n_trials}, strategy={self.strategy!r}, seed={self.seed})")


def _check_ids(sounds):
    if isinstance(sounds, numbers.Integral) and not isinstance(sounds, bool):
        ids = [f"s{i:03d}" for i in range(int(sounds))]
    else:
        if isinstance(sounds, (str, bytes)) or not hasattr(sounds, "__iter__"):
            raise ParameterError(
                f"sounds must be a list of sound ids (or a number of sounds), got "
                f"{type(sounds).__name__}."
            )
        ids = [str(s) for s in sounds]
    if len(ids) < 2:
        raise ParameterError(f"a dissimilarity experiment needs at least 2 sounds, got {len(ids)}.")
    seen = {}
    for i, s in enumerate(ids):
        if not s.strip():
            raise ParameterError(f"sound id {i} is empty.")
        if any(c in s for c in "\r\n\t"):
            raise ParameterError(f"sound id {s!r} contains a tab or line break.")
        if s in seen:
            raise ParameterError(f"sound id {s!r} appears twice (positions {seen[s]} and {i}).")
        seen[s] = i
    return ids


def _check_rated(rated, ids):
    """Boolean (n, n) matrix of pairs already rated, from Ratings or an array."""
    n = len(ids)
    if rated is None:
        return np.zeros((n, n), dtype=bool)
    if isinstance(rated, Ratings):
        labels = [str(v) for v in rated.labels]
        unknown = sorted(set(labels) - set(ids))
        if unknown:
            raise ParameterError(
                f"rated has labels that are not among the sounds: {unknown[:5]}."
            )
        counts = rated.counts if rated.counts is not None else np.ones((len(labels),) * 2)
        pos = np.array([ids.index(v) for v in labels])
        mask = np.zeros((n, n), dtype=bool)
        mask[np.ix_(pos, pos)] = np.asarray(counts) > 0
    else:
        try:
            mask = np.asarray(rated, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"rated must be Ratings or an (n, n) count matrix: {exc}"
            ) from None
        if mask.shape != (n, n):
            raise ParameterError(
                f"rated has shape {mask.shape}; expected ({n}, {n}), one row per sound."
            )
        mask = mask > 0
    mask = mask | mask.T
    np.fill_diagonal(mask, False)
    return mask


def _check_count(value, name, total, *, allow_zero):
    """An int count, or a fraction of ``total`` (rounded up)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be an int or a fraction in (0, 1], got {value!r}.")
    if isinstance(value, numbers.Integral):
        k = int(value)
    elif 0 <= value <= 1:
        k = int(math.ceil(float(value) * total - 1e-9))
    else:
        raise ParameterError(f"{name} must be an int or a fraction in (0, 1], got {value!r}.")
    if k < (0 if allow_zero else 1):
        raise ParameterError(f"{name} must be {'>= 0' if allow_zero else '>= 1'}, got {value!r}.")
    return k


#: Distance strata per anchor of the stratified coverage (near, middle, far partners).
N_STRATA = 3
#: Prior dimensions (classical MDS, largest first) that the leverage of coverage looks at;
#: a cap that keeps large designs fast (it is above every shared study's rank).
MAX_PRIOR_DIMS = 20
#: Ridge of the leverage, relative to a pair's unit direction term.
_RIDGE = 1e-2


def _check_prior(space, n, strategy):
    """A prior dissimilarity matrix (n, n) for coverage or stratified coverage."""
    try:
        D = np.asarray(space, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"space must be a dissimilarity matrix for {strategy}: {exc}") from None
    if D.shape != (n, n):
        raise ParameterError(
            f'strategy="{strategy}" takes space = a prior dissimilarity matrix of shape '
            f"({n}, {n}) (e.g. a fitted metric's predictions); got shape {D.shape}."
        )
    if not np.all(np.isfinite(D)):
        raise ParameterError("space contains NaN or infinite values.")
    return (D + D.T) / 2


def _anchor_strata(D, n_strata=N_STRATA):
    """``strata[i, j]``: the distance tercile (for 3 strata) of ``j`` among ``i``'s partners,
    ranked by the prior dissimilarity of row ``i`` (ties by index)."""
    n = len(D)
    strata = np.zeros((n, n), dtype=int)
    for i in range(n):
        others = np.delete(np.arange(n), i)
        order = others[np.argsort(D[i, others], kind="stable")]
        strata[i, order] = np.arange(n - 1) * n_strata // (n - 1)
    return strata


def _prior_coordinates(D, max_dims=MAX_PRIOR_DIMS):
    """Classical MDS of a dissimilarity matrix: its positive-eigenvalue coordinates."""
    n = len(D)
    J = np.eye(n) - 1.0 / n
    w, V = np.linalg.eigh(-0.5 * J @ (D**2) @ J)
    keep = np.flatnonzero(w > 1e-9 * max(w.max(), 1e-300))[::-1][:max_dims]
    return V[:, keep] * np.sqrt(w[keep])


def _pair_terms(Y, pairs):
    """``vec(u u^T)`` of each pair's unit direction ``u`` in the prior's coordinates.

    A metric fine-tuned from the prior changes, to first order, a Mahalanobis metric
    ``d_ij^2 = |y_i - y_j|^2 u^T A u`` on these coordinates, so a rated pair tells about
    ``A`` along ``vec(u u^T)``; the off-diagonal terms are scaled so that two pairs'
    terms have the inner product ``(u_p . u_q)^2``. Pairs of identical sounds give 0.
    """
    U = Y[pairs[:, 0]] - Y[pairs[:, 1]]
    U = U / np.maximum(np.linalg.norm(U, axis=1, keepdims=True), 1e-300)
    r, c = np.triu_indices(Y.shape[1])
    return U[:, r] * U[:, c] * np.where(r == c, 1.0, np.sqrt(2.0))


class _StrataTies:
    """Tie-break of stratified coverage: the emptiest distance strata of the two sounds."""

    def __init__(self, D, candidates, rated):
        self.strata = _anchor_strata(D)
        self.fill = np.zeros((len(D), self.strata.max() + 1))
        for i, j in zip(*np.nonzero(np.triu(rated, 1))):
            self._count(i, j)
        a, b = candidates[:, 0], candidates[:, 1]
        self.a, self.b, self.sa, self.sb = a, b, self.strata[a, b], self.strata[b, a]

    def _count(self, i, j):
        self.fill[i, self.strata[i, j]] += 1
        self.fill[j, self.strata[j, i]] += 1

    def key(self, idx):
        return self.fill[self.a[idx], self.sa[idx]] + self.fill[self.b[idx], self.sb[idx]]

    def add(self, c):
        self._count(self.a[c], self.b[c])


class _LeverageTies:
    """Tie-break of coverage with a prior: the pair with the largest leverage.

    The leverage of a candidate's term ``x`` (:func:`_pair_terms`) is
    ``x^T (ridge I + sum of x x^T over the pairs rated or chosen)^-1 x``: large for a pair
    whose direction in the prior's space the rated pairs do not span yet (greedy
    D-optimal design of the fine-tuned metric). It is rounded so that float-level ties
    still go to chance.
    """

    def __init__(self, D, candidates, rated):
        Y = _prior_coordinates(D)
        self.X = _pair_terms(Y, candidates)
        iu = np.nonzero(np.triu(rated, 1))
        X0 = _pair_terms(Y, np.column_stack(iu))
        self.Minv = np.linalg.inv(_RIDGE * np.eye(self.X.shape[1]) + X0.T @ X0)
        self.lev = np.einsum("ij,jk,ik->i", self.X, self.Minv, self.X)

    def key(self, idx):
        return -np.round(self.lev[idx], 6)

    def add(self, c):
        # Sherman-Morrison: the chosen pair's direction now counts as spanned
        u = self.Minv @ self.X[c]
        denom = 1.0 + self.X[c] @ u
        self.lev -= (self.X @ u) ** 2 / denom
        self.Minv -= np.outer(u, u) / denom


def _select_coverage(candidates, base_counts, k, rng, *, ties=None):
    """Greedy: the pair whose two sounds have the fewest pairs so far.

    Ties on the counts go to ``ties.key`` (lower first; :class:`_LeverageTies` or
    :class:`_StrataTies`), then to chance; the balance is then repaired
    (:func:`_repair_coverage`).
    """
    counts = base_counts.astype(float).copy()
    chosen = []
    free = np.ones(len(candidates), dtype=bool)
    for _ in range(k):
        idx = np.flatnonzero(free)
        ci, cj = counts[candidates[idx, 0]], counts[candidates[idx, 1]]
        keys = [rng.random(idx.size)]
        if ties is not None:
            keys.append(ties.key(idx))
        order = np.lexsort((*keys, np.maximum(ci, cj), ci + cj))
        best = idx[order[0]]
        chosen.append(best)
        free[best] = False
        counts[candidates[best]] += 1
        if ties is not None:
            ties.add(best)
    pairs = candidates[np.asarray(chosen, dtype=int)]
    return _repair_coverage(pairs, candidates, counts)


def _repair_coverage(pairs, candidates, counts):
    """Move pairs from the most- to the least-covered sounds until they differ by <= 1.

    The greedy pass can end with a sound two pairs behind another when the pairs that would
    catch it up are taken; swapping a chosen pair (u, w) for a free pair (v, w) moves one
    pair from u to v without changing anyone else's count.
    """
    chosen = {tuple(p) for p in pairs.tolist()}
    free = {tuple(p) for p in candidates.tolist()} - chosen
    order = [tuple(p) for p in pairs.tolist()]
    for _ in range(len(pairs) * len(counts)):
        moved = False
        for u in np.argsort(-counts, kind="stable"):
            for v in np.argsort(counts, kind="stable"):
                if counts[u] - counts[v] < 2:
                    break
                for w in range(len(counts)):
                    old, new = tuple(sorted((u, w))), tuple(sorted((v, w)))
                    if w not in (u, v) and old in chosen and new in free:
                        chosen.remove(old)
                        free.add(old)
                        free.remove(new)
                        chosen.add(new)
                        order[order.index(old)] = new
                        counts[u] -= 1
                        counts[v] += 1
                        moved = True
                        break
                if moved:
                    break
            if moved:
                break
        if not moved:
            break
    return np.asarray(order, dtype=int).reshape(-1, 2)


def _select_uncertainty(candidates, space, n, k, rng):
    try:
        E = np.asarray(space, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"space must be an array of dissimilarity matrices: {exc}") from None
    if E.ndim != 3 or E.shape[1:] != (n, n) or E.shape[0] < 2:
        raise ParameterError(
            f'strategy="uncertainty" needs space = predicted dissimilarities of an ensemble, '
            f"shape (n_members >= 2, {n}, {n}); got shape {E.shape}."
        )
    if not np.all(np.isfinite(E)):
        raise ParameterError("space contains NaN or infinite values.")
    off = ~np.eye(n, dtype=bool)
    E = E / np.maximum(E[:, off].mean(axis=1), 1e-12)[:, None, None]  # each member's scale
    spread = E.std(axis=0)[candidates[:, 0], candidates[:, 1]]
    order = np.lexsort((rng.random(len(candidates)), -spread))
    return candidates[order[:k]]


def _n_adjacent(order, pairs):
    return sum(bool(set(pairs[p]) & set(pairs[q])) for p, q in zip(order, order[1:]))


def _order_trials(pairs, n_sounds, rng, *, n_tries=20):
    """Shuffle, avoid a sound in two consecutive trials, and balance first/second position.

    The order is built greedily (the next trial shares no sound with the previous one
    when any remaining trial allows it) from ``n_tries`` random starts; the start with
    the fewest adjacent repeats of a sound wins. Each pair then plays first the sound
    that has so far been played first less often than second.
    """
    best = None
    for _ in range(n_tries):
        remaining = list(rng.permutation(len(pairs)))
        order, prev = [], set()
        while remaining:
            pick = next((i for i, p in enumerate(remaining) if not prev & set(pairs[p])), 0)
            p = remaining.pop(pick)
            order.append(p)
            prev = set(pairs[p])
        score = _n_adjacent(order, pairs)
        if best is None or score < best[0]:
            best = (score, order)
        if score == 0:
            break
    balance = np.zeros(n_sounds, dtype=int)  # times played first minus times played second
    trials = []
    for p in best[1]:
        i, j = pairs[p]
        if balance[i] > balance[j] or (balance[i] == balance[j] and rng.random() < 0.5):
            i, j = j, i
        balance[i] += 1
        balance[j] -= 1
        trials.append((i, j))
    changed = True
    while changed:  # flip any pair whose first sound leads its second by more than 2
        changed = False
        for t, (i, j) in enumerate(trials):
            if balance[i] - balance[j] > 2:
                trials[t] = (j, i)
                balance[i] -= 2
                balance[j] += 2
                changed = True
    return np.asarray(trials, dtype=int).reshape(-1, 2)


def _add_repeats(trials, n_repeats, rng):
    """Insert reversed repeats, each at least a third of the session after its original."""
    n = len(trials)
    if n_repeats == 0:
        return trials, np.zeros(n, dtype=bool)
    gap = max(1, n // 3)
    early = np.flatnonzero(np.arange(n) < n - gap)
    pool = early if early.size >= n_repeats else np.arange(n)
    chosen = np.sort(rng.choice(pool, size=n_repeats, replace=False))
    keys = list(np.arange(n, dtype=float))
    rows = list(trials)
    for p in chosen:
        lo = min(p + gap, n - 1)
        keys.append(rng.uniform(lo + 0.01, n + 0.99))  # strictly after position lo
        rows.append(trials[p][::-1])
    order = np.argsort(keys, kind="stable")
    flags = np.r_[np.zeros(n, dtype=bool), np.ones(n_repeats, dtype=bool)]
    return np.asarray(rows)[order], flags[order]


def design_experiment(sounds, n_pairs=None, *, strategy=None, space=None, rated=None,
                      repeats=0.1, random_state=None):
    """Choose the pairs of a dissimilarity listening test and their trial order.

    Parameters
    ----------
    sounds : list of str or int
        Ids of the sounds (unique; e.g. file names), or a number ``n`` for ids
        ``"s000"``, ``"s001"``, ...
    n_pairs : int or float, default=None
        Distinct pairs to rate: all pairs not yet rated when None, an int, or a fraction
        of all ``n (n - 1) / 2`` pairs (rounded up).
    strategy : {"all", "random", "coverage", "stratified", "uncertainty"}, default=None
        ``"all"`` when ``n_pairs`` is None, else ``"coverage"``:

        - ``"random"``: pairs drawn uniformly among the unrated ones;
        - ``"coverage"``: greedily the pair whose two sounds are in the fewest pairs so far
          (rated before or chosen), then swaps until every sound anchors as many pairs as
          every other to within one. With ``space`` (a prior dissimilarity matrix), ties
          on those counts go to the pair with the largest *leverage*: the pair whose
          direction in the prior's space (classical MDS, at most ``MAX_PRIOR_DIMS``
          dimensions) the pairs rated or chosen so far span least, i.e. the pair that
          tells a metric fine-tuned from the prior most that it does not know yet
          (greedy D-optimal design of a Mahalanobis metric on the prior's coordinates).
          Without ``space``, ties go to chance.
          Measured in ``benchmarks/bench_listening.py`` (9 studies x 3 seeds, rounds of
          5 % of the pairs from 20 %, each chosen given the pairs rated so far, per-anchor
          Spearman on the full matrix, shrinkage toward the prior): coverage with the
          prior reaches random's 80 %-budget score (0.862) with 72.4 % of the pairs
          (the issue's mark: <= 75 %), is ahead of random from 35 % on (+0.015 +/- 0.010
          at 60 %, +0.009 +/- 0.004 at 75 %, both ahead in 7 of 9 studies) but behind at
          20-30 % (-0.005 +/- 0.011 at 20 %, -0.018 +/- 0.013 at 25 %); mean gain +0.008
          over all budgets. On fresh seeds (3, 4, 5) it reaches random's 80 % score
          (0.861) with 74.5 % of the pairs (ahead at 60-70 %, behind at 20-40 %: -0.010
          +/- 0.008 at 20 %). Without a prior, coverage is ahead of random at small
          budgets (+0.013 at 20 %, 6 of 9 studies) and ties it from 45 % on (it needs
          84 % of the pairs for random's 80 % score), so for a first session of 20-30 %
          of the pairs leave ``space`` out. Both guarantee
          balance: random designs differ by about 5 pairs between the most and least
          rated sound, coverage by at most 1;
        - ``"stratified"``: coverage whose ties go to the pair that fills the emptiest
          near / middle / far third of each of its sounds' partners under the prior
          (``space`` required). It needs 80 % of the pairs for random's 80 % score and is
          behind at 40 % (-0.012): an option, not a default;
        - ``"uncertainty"``: the pairs on which an ensemble of metrics (``space``, e.g.
          from :func:`~perceptual_timbre.listening.bootstrap_dissimilarities`) disagrees
          most. In the same simulation it is *worse* than random (-0.022 at 55 %, ahead in
          1 of 9 studies; mean -0.007), so it is never a default.
    space : array-like, default=None
        For ``"uncertainty"`` (required): the predicted dissimilarity matrices of an
        ensemble, shape (n_members, n_sounds, n_sounds), e.g. metrics fitted on bootstrap
        resamples of the rated pairs; each member is divided by its mean and the spread is
        the standard deviation across members. For ``"coverage"`` (optional, recommended)
        and ``"stratified"`` (required): one prior dissimilarity matrix, shape
        (n_sounds, n_sounds), e.g. a fitted metric's predictions for the sounds.
    rated : Ratings or array-like of shape (n_sounds, n_sounds), default=None
        Pairs rated before (``counts > 0``, or every pair of a Ratings without counts, or
        non-zero entries of an array). They are not proposed again, and they count for
        ``"coverage"`` and ``"stratified"`` (anchor counts, spanned directions, strata).
    repeats : int or float, default=0.1
        Pairs presented a second time, in reversed order, for consistency checks: a count
        or a fraction of ``n_pairs`` (rounded up). Each repeat comes at least a third of
        the session after the first presentation.
    random_state : int, RandomState instance or None, default=None
        Seeds the selection and the order. The seed (``random_state`` itself when it is an
        int, else one drawn from it) is stored as ``design.seed``, and
        ``random_state=design.seed`` gives the same design again.

    Returns
    -------
    design : ExperimentDesign
        Trials in a randomized order in which no sound is in two consecutive first
        presentations where that can be avoided, and in which each sound is played first
        and second equally often to within 2.

    Raises
    ------
    ParameterError
        For duplicate ids, an unknown strategy, more pairs than remain unrated, ``"all"``
        with a smaller ``n_pairs``, or a missing or misshaped ``space``.

    Examples
    --------
    >>> from perceptual_timbre.listening import design_experiment
    >>> design = design_experiment(["oboe", "flute", "horn", "cello"], random_state=0)
    >>> design.n_pairs, design.n_trials, design.strategy
    (6, 7, 'all')
    >>> part = design_experiment(12, n_pairs=0.5, random_state=0)   # 33 of 66 pairs
    >>> part.strategy, part.n_pairs, sorted(set(part.pairs_per_sound().tolist()))
    ('coverage', 33, [5, 6])

    Coverage given a prior dissimilarity matrix (here: sounds on a circle), and the
    stratified variant:

    >>> import numpy as np
    >>> xy = np.column_stack([np.cos(np.arange(12.0)), np.sin(np.arange(12.0))])
    >>> prior = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    >>> lev = design_experiment(12, n_pairs=0.5, space=prior, random_state=0)
    >>> lev.strategy, sorted(set(lev.pairs_per_sound().tolist()))
    ('coverage', [5, 6])
    >>> strat = design_experiment(12, n_pairs=0.5, strategy="stratified", space=prior,
    ...                           random_state=0)
    >>> strat.strategy, sorted(set(strat.pairs_per_sound().tolist()))
    ('stratified', [5, 6])
    """
    ids = _check_ids(sounds)
    n = len(ids)
    already = _check_rated(rated, ids)
    iu = np.triu_indices(n, 1)
    candidates = np.column_stack(iu)[~already[iu]]
    total = n * (n - 1) // 2
    if strategy is None:
        strategy = "all" if n_pairs is None else "coverage"
    if strategy not in STRATEGIES:
        raise ParameterError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}.")
    if len(candidates) == 0:
        raise ParameterError(f"all {total} pairs of the {n} sounds are already rated.")
    k = len(candidates) if n_pairs is None else _check_count(n_pairs, "n_pairs", total,
                                                             allow_zero=False)
    if k > len(candidates):
        raise ParameterError(
            f"n_pairs={n_pairs!r} asks for {k} pairs but only {len(candidates)} of the {total} "
            f"pairs are not rated yet."
        )
    if strategy == "all" and k != len(candidates):
        raise ParameterError(
            f'strategy="all" rates all {len(candidates)} unrated pairs; n_pairs={n_pairs!r} asks '
            f'for {k}. Use strategy="coverage" (or "random") for a partial design.'
        )
    if strategy in ("all", "random") and space is not None:
        raise ParameterError(
            f'space is only used by strategy="coverage", "stratified" or "uncertainty", not '
            f"{strategy!r}.")
    if strategy == "stratified" and space is None:
        raise ParameterError(
            'strategy="stratified" needs space: a prior dissimilarity matrix of shape '
            f"({n}, {n}) (e.g. a fitted metric's predictions).")
    n_repeats = _check_count(repeats, "repeats", k, allow_zero=True)
    if n_repeats > k:
        raise ParameterError(f"repeats={repeats!r} asks for {n_repeats} repeats of {k} pairs.")
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        seed = int(random_state)  # design_experiment(..., random_state=design.seed) repeats it
    else:
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    rng = np.random.default_rng(seed)
    if strategy == "all":
        pairs = candidates
    elif strategy == "random":
        pairs = candidates[np.sort(rng.choice(len(candidates), size=k, replace=False))]
    elif strategy in ("coverage", "stratified"):
        ties = None
        if space is not None:
            kind = _LeverageTies if strategy == "coverage" else _StrataTies
            ties = kind(_check_prior(space, n, strategy), candidates, already)
        pairs = _select_coverage(candidates, already.sum(axis=1), k, rng, ties=ties)
    else:
        if space is None:
            raise ParameterError(
                'strategy="uncertainty" needs space: the predicted dissimilarity matrices of an '
                "ensemble of metrics, shape (n_members, n_sounds, n_sounds)."
            )
        pairs = _select_uncertainty(candidates, space, n, k, rng)
    trials, repeat = _add_repeats(_order_trials(pairs, n, rng), n_repeats, rng)
    return ExperimentDesign(ids, pairs, trials, repeat, strategy=strategy, seed=seed,
                            n_rated_before=int(already[iu].sum()))
