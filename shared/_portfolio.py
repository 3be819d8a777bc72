"""Zero-shot portfolio and task similarity from aligned prior studies (NumPy only).

Each prior study is used as a nearest-neighbour predictor of its own copula scores: the score a
configuration would get on study ``s`` is the score of ``s``'s closest evaluated configuration in
the encoded space.  That is crude but needs no model fit, so it is cheap enough to run over every
prior study at every suggestion.

* Portfolio (Wistuba et al. 2015, "Sequential model-free hyperparameter tuning"; Feurer et al.
  2015, "Initializing Bayesian hyperparameter optimization via meta-learning"): candidates are the
  best configurations of every prior study; the greedy portfolio adds, one at a time, the
  candidate that most lowers the mean over studies of the best normalised regret the portfolio
  reaches on that study.
* Similarity: Kendall's tau between the target's observed scores and a study's predictions at
  the same configurations; used to choose which prior studies enter the multi-task GP.  On a few
  results that tau is mostly noise, so it is shrunk towards what the prior studies say of one
  another (:func:`similarity_prior`: each study's mean tau on the others), by how much it can be
  trusted on that many results (:meth:`SimilarityPrior.shrink`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from metahpo._prior import AlignedStudy

__all__ = [
    "SimilarityPrior",
    "greedy_portfolio",
    "greedy_portfolio_with_origin",
    "kendall_tau",
    "kendall_tau_noise",
    "knn_index",
    "knn_predict",
    "similarity_prior",
]


# Elements of the (rows, n) distance array one chunk of knn_predict may hold (32 MiB).
_KNN_CHUNK_ELEMENTS = 1 << 22
# Studies whose mean regret the greedy portfolio minimises (a seeded subsample beyond this many).
_MAX_JUDGES = 256
_MAX_CANDIDATES = 2048
# Least variance of the true similarity between studies (a standard deviation of 0.1 in tau);
# spreads measured on the benchmark's priors (3,000 trials, two splits): 0.011-0.012
# (rbv2_xgboost), 0.023-0.030 (lcbench), 0.033-0.040 (tabrepo_lightgbm).
_MIN_SPREAD = 0.01


def knn_predict(study: AlignedStudy, X: np.ndarray) -> np.ndarray:
    """``(m, F)`` configurations -> ``(m,)`` predicted scores on ``study``: the score of the nearest
    evaluated configuration (:func:`knn_index`)."""
    return np.asarray(study.z[knn_index(study, X)])


def knn_index(study: AlignedStudy, X: np.ndarray) -> np.ndarray:
    """``(m, F)`` configurations -> ``(m,)`` the index of each one's nearest configuration in
    ``study`` (the first of equally near ones, as ``argmin`` of the exact squared distances).

    Distances come from one matrix product (``|y|^2 - 2 x.y``, BLAS) instead of an ``(m, n, F)``
    difference array; the few neighbours within round-off of the nearest are then compared
    exactly, so the choice is the exact one.  Rows of ``X`` are processed in chunks, so memory stays
    bounded (about 32 MiB) whatever the sizes: 1,000 target trials against a 100,000-trial study
    would need 16 GB at once."""
    Y = study.X
    n = Y.shape[0]
    rows = max(1, _KNN_CHUNK_ELEMENTS // max(1, n))
    sq = (Y * Y).sum(axis=1)  # (n,)
    nearest = np.empty(X.shape[0], dtype=np.int64)
    for a in range(0, X.shape[0], rows):
        Xc = X[a : a + rows]
        g = sq[None, :] - 2.0 * (Xc @ Y.T)  # (rows, n): squared distance less |x|^2
        j0 = np.argmin(g, axis=1)
        nearest[a : a + Xc.shape[0]] = j0
        scale = 1e-9 * (1.0 + sq.max() + (Xc * Xc).sum(axis=1))
        near = g <= (g[np.arange(Xc.shape[0]), j0] + scale)[:, None]  # within round-off of the nearest
        amb = np.flatnonzero(near.sum(axis=1) > 1)
        if amb.size:  # rows with near-ties: decide on the exact distances
            i, j = np.nonzero(near[amb])
            exact = ((Xc[amb[i]] - Y[j]) ** 2).sum(axis=-1)
            order = np.lexsort((j, exact, i))  # per row: smallest exact distance, then first index
            first = np.r_[True, i[order][1:] != i[order][:-1]]
            nearest[a + amb[i[order][first]]] = j[order][first]
    return nearest


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-a of two ``(n,)`` arrays (0.0 for fewer than 2 points)."""
    n = a.size
    if n < 2:
        return 0.0
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    return float((da * db).sum() / (n * (n - 1)))


def kendall_tau_noise(n: int) -> float:
    """Variance of Kendall's tau on ``n`` pairs of independent, untied scores, ``2 (2n + 5) / (9 n
    (n - 1))`` (``inf`` below 2 pairs): the scatter of a tau measured on ``n`` results when the true
    tau is 0.  Related scores and tied predictions scatter less, so taken as the noise this errs
    towards the prior."""
    if n < 2:
        return float("inf")
    return 2.0 * (2 * n + 5) / (9.0 * n * (n - 1))


@dataclass(frozen=True)
class SimilarityPrior:
    """What the prior studies say about one another, before any target result.

    Attributes:
        mean: ``(S,)`` each study's mean similarity to the other studies (Kendall's tau of its
            nearest-neighbour prediction at their configurations): the similarity to expect with a
            new study of the same kind.
        spread: variance of the true similarity between two studies around ``mean`` (the observed
            variance less that of tau on ``n_points`` results), at least ``_MIN_SPREAD``: where
            the prior studies are all alike, or all unrelated, a study that is the target's twin
            must still win on the target's evidence after a few dozen results.
    """

    mean: np.ndarray
    spread: float

    def shrink(self, tau: np.ndarray, n: int) -> np.ndarray:
        """``(S,)`` taus measured on ``n`` target results -> ``(S,)`` posterior mean similarities.

        Normal-normal shrinkage: ``mean + w (tau - mean)`` with ``w = spread / (spread +
        kendall_tau_noise(n))``, so on a few results the choice goes by what the studies say of
        one another, and moves to the target's own evidence as it grows."""
        w = self.spread / (self.spread + kendall_tau_noise(n))
        out: np.ndarray = self.mean + w * (np.asarray(tau, dtype=float) - self.mean)
        return out


def similarity_prior(
    studies: Sequence[AlignedStudy], n_points: int = 32, max_judges: int = 32
) -> SimilarityPrior:
    """Each study's similarity to the others (:class:`SimilarityPrior`).

    Study ``i`` is scored on each of at most ``max_judges`` other studies ``j`` (a fixed, seeded
    subsample beyond that many) by Kendall's tau between ``j``'s scores at ``n_points`` of its
    configurations (a fixed random sample seeded by ``j``'s data) and ``i``'s nearest-neighbour
    predictions there.  Only studies of 3 or more trials judge.  Cost: ``n_studies``
    nearest-neighbour searches of at most ``n_points x max_judges`` rows.  With fewer than 3
    studies, or fewer than 2 that can judge, every mean is 0 and the spread 1 (no information: the
    target's tau decides alone)."""
    n_studies = len(studies)
    none = SimilarityPrior(mean=np.zeros(n_studies), spread=1.0)
    eligible = np.flatnonzero([s.z.size >= 3 for s in studies])  # a tau needs 3 points to say much
    if n_studies < 3 or eligible.size < 2:
        return none
    judges = eligible
    if eligible.size > max_judges:
        judges = np.sort(np.random.default_rng(0).choice(eligible, size=max_judges, replace=False))
    points = []  # per judge: (its points' rows in X_all, its scores there)
    for j in judges.tolist():
        sj = studies[j]
        n_j = sj.z.size
        if n_j > n_points:
            idx = np.random.default_rng(sj.content_seed).choice(n_j, n_points, replace=False)
        else:
            idx = np.arange(n_j)
        points.append((sj.X[idx], sj.z[idx]))
    X_all = np.vstack([X for X, _ in points])  # (sum of the judges' points, F)
    bounds = np.cumsum([0] + [X.shape[0] for X, _ in points])
    T = np.full((n_studies, judges.size), np.nan)  # (n_studies, J): study i scored on judge j
    for i in range(n_studies):
        pred = knn_predict(studies[i], X_all)  # one nearest-neighbour search per study
        for c, j in enumerate(judges.tolist()):
            if i != j:
                T[i, c] = kendall_tau(points[c][1], pred[bounds[c] : bounds[c + 1]])
    counts = np.isfinite(T).sum(axis=1)  # >= 1 for every study, as there are 2+ judges
    mean = np.nanmean(T, axis=1)
    pooled = counts >= 2
    if not pooled.any():
        return none
    resid = T[pooled] - mean[pooled, None]
    observed = float(np.nansum(resid**2) / int((counts[pooled] - 1).sum()))
    size = int(np.median([z.size for _, z in points]))
    return SimilarityPrior(mean=mean, spread=max(_MIN_SPREAD, observed - kendall_tau_noise(size)))


def greedy_portfolio(studies: Sequence[AlignedStudy], size: int, per_study: int = 8) -> np.ndarray:
    """Greedy portfolio of encoded configurations that were best across the prior studies.

    Only configurations that met their study's constraints are candidates, and a candidate whose
    nearest configuration in a study broke that study's constraints counts as the worst there
    (no improvement), so the portfolio prefers configurations that were feasible across the
    priors, not only in the one they came from.

    Args:
        studies: aligned prior studies (``S`` of them).
        size: portfolio length.
        per_study: best configurations of each study that become candidates (fewer when
            ``S * per_study`` would pass 2,048; at least one per study).  With more than 256
            studies the mean regret is taken over a fixed, seeded subsample of 256 of them (every
            study still contributes candidates), so the cost stays linear in ``S``.

    Returns:
        ``(k, F)`` with ``k <= size``, best first.
    """
    return greedy_portfolio_with_origin(studies, size, per_study)[0]


def greedy_portfolio_with_origin(
    studies: Sequence[AlignedStudy], size: int, per_study: int = 8
) -> tuple[np.ndarray, list[int]]:
    """:func:`greedy_portfolio` and, per row, the index in ``studies`` of the study it was among the
    best configurations of."""
    if not studies or size <= 0:
        return np.empty((0, studies[0].X.shape[1] if studies else 0)), []
    # at most _MAX_CANDIDATES candidates: with many studies, fewer of each study's best
    per_study = max(1, min(per_study, _MAX_CANDIDATES // len(studies)))
    tops = [_top(s, per_study) for s in studies]  # feasible configurations only
    cands = np.vstack([s.X[top] for s, top in zip(studies, tops, strict=True)])  # (c, F)
    origin = [j for j, top in enumerate(tops) for _ in top]  # (c,)
    # Every study contributes candidates, but with more than _MAX_JUDGES studies the mean regret
    # is taken over a fixed, seeded subsample of them: the work grows with candidates x judges,
    # which would otherwise be quadratic in the number of studies (1,000 studies of 100 trials:
    # 8,000 candidates x 1,000 nearest-neighbour searches; now 2,000 x 256).
    judges = list(studies)
    if len(judges) > _MAX_JUDGES:
        keep = np.sort(np.random.default_rng(0).choice(len(judges), _MAX_JUDGES, replace=False))
        judges = [judges[i] for i in keep]
    chosen = _greedy_regret(judges, cands, size)
    return cands[chosen], [origin[c] for c in chosen]


def _greedy_regret(judges: Sequence[AlignedStudy], cands: np.ndarray, size: int) -> list[int]:
    """Indices of ``size`` candidates chosen one at a time for the lowest mean, over the
    ``judges``, of the best normalised regret the chosen ones reach on that study."""
    # regret[c, s] in [0, 1]: 0 = as good as the best configuration study s evaluated.
    regret = np.empty((cands.shape[0], len(judges)))
    for j, s in enumerate(judges):
        idx = knn_index(s, cands)
        lo, hi = s.z.min(), s.z.max()
        # a study whose scores are all equal (every trial on its Pareto front, say) ranks nothing
        regret[:, j] = (hi - s.z[idx]) / (hi - lo) if hi > lo else 0.0
        regret[~s.feasible[idx], j] = 1.0  # nearest to a configuration that broke a constraint
    chosen: list[int] = []
    current = np.ones(len(judges))
    for _ in range(min(size, cands.shape[0])):
        totals = np.minimum(regret, current[None, :]).mean(axis=1)
        totals[chosen] = np.inf
        best = int(np.argmin(totals))
        if not np.isfinite(totals[best]):
            break
        chosen.append(best)
        current = np.minimum(current, regret[best])
    return chosen


def _top(study: AlignedStudy, k: int) -> np.ndarray:
    """The indices of ``study``'s ``k`` best feasible configurations (for a multi-objective study,
    its Pareto front first: ``z`` ranks by domination)."""
    ok = np.flatnonzero(study.feasible)
    return ok[np.argsort(-study.z[ok])[:k]]
