"""Regret curves of one run, for each kind of problem (:class:`~metahpo_cli.bench._problems.Problem`).

Every curve is ``(budget,)`` in [0, 1], non-increasing, 0 at the best known result:

- single objective: ``(best so far - best known) / (worst known - best known)``;
- constrained: the same over *feasible* results only (every constraint value <= 0), 1 before the
  first feasible result; best and worst known come from the scan's feasible configurations and
  every feasible result any method found;
- multi-objective: hypervolume regret ``(HV* - HV(results so far)) / HV*``, in the space where each
  objective is scaled to [0, 1] between its best and worst known value (heavy-tailed objectives,
  ``Problem.log_objectives``, on the log scale first), the reference point at 1 in every
  objective (the worst known values), HV* the hypervolume of everything known (the scan and every
  result of every method).  With constraints (runs that carry ``constraints``), the same over
  feasible results only: the scan holds the feasible configurations, an infeasible result adds
  nothing to a run's hypervolume and does not move the scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb
from typing import Any

import numpy as np

__all__ = ["PairedComparison", "hypervolume_2d", "paired_comparison", "regret_rows"]


@dataclass(frozen=True)
class PairedComparison:
    """A change's effect on paired regrets (one per (task, seed) pair, the same budget).

    Attributes:
        n: number of pairs.
        mean: mean of ``new - base`` (negative: the change lowered the regret).
        low, high: bootstrap 95% interval of that mean, resampling whole groups of pairs (the
            seeds of one task, say) when groups are given, single pairs otherwise.
        better, worse: pairs where ``new`` is below / above ``base`` by more than the threshold.
        p_sign: two-sided sign test on ``better`` against ``worse`` (ties and differences within
            the threshold left out; it takes the pairs as independent).
    """

    n: int
    mean: float
    low: float
    high: float
    better: int
    worse: int
    p_sign: float


def paired_comparison(
    base: np.ndarray,
    new: np.ndarray,
    groups: Sequence[object] | None = None,
    threshold: float = 0.005,
    n_boot: int = 4000,
    seed: int = 0,
) -> PairedComparison:
    """``(n,)`` regrets of the same pairs before and after a change -> :class:`PairedComparison`.

    One run of a sequential optimiser parts from another at the first differing proposal, so two
    versions of an engine differ pair by pair even where neither is better; the interval and the
    sign test say whether a mean difference stands out of that scatter.  ``groups`` (``(n,)``
    labels) marks pairs that are not independent, such as the seeds of one task: the bootstrap then
    draws whole groups, so one task that moves on every seed widens the interval instead of
    counting as several independent pairs."""
    base, new = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if base.ndim != 1 or base.shape != new.shape or base.size == 0:
        raise ValueError(
            f"base and new must be non-empty 1-d arrays of one shape (got {base.shape} and {new.shape})"
        )
    if not threshold >= 0.0:
        raise ValueError(f"threshold must be >= 0 (got {threshold})")
    d = new - base
    rng = np.random.default_rng(seed)
    if groups is None:
        boots = d[rng.integers(0, d.size, (n_boot, d.size))].mean(axis=1)
    else:
        if len(groups) != d.size:
            raise ValueError(f"groups must label every pair (got {len(groups)} labels for {d.size} pairs)")
        _, label = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
        sums, sizes = np.bincount(label, weights=d), np.bincount(label).astype(float)  # (g,), (g,)
        draw = rng.integers(0, sums.size, (n_boot, sums.size))
        boots = sums[draw].sum(axis=1) / sizes[draw].sum(axis=1)
    low, high = np.percentile(boots, [2.5, 97.5])
    better, worse = int((d < -threshold).sum()), int((d > threshold).sum())
    k, m = min(better, worse), better + worse
    p = 1.0 if m == 0 else min(1.0, 2 * sum(comb(m, i) for i in range(k + 1)) / 2**m)
    return PairedComparison(d.size, float(d.mean()), float(low), float(high), better, worse, p)


def hypervolume_2d(F: np.ndarray, ref: Sequence[float] = (1.0, 1.0)) -> float:
    """Hypervolume dominated by ``(n, 2)`` minimised points up to ``ref`` (points beyond ``ref`` in
    either objective add nothing): the rectangles between successive points of the front, sorted
    by the first objective."""
    F = np.asarray(F, dtype=float).reshape(-1, 2)
    F = F[np.all(np.asarray(ref) > F, axis=1)]
    if F.shape[0] == 0:
        return 0.0
    front = _front_2d(F[np.lexsort((F[:, 1], F[:, 0]))])
    xs = np.append(front[:, 0], ref[0])
    return float(sum((xs[k + 1] - xs[k]) * (ref[1] - front[k, 1]) for k in range(front.shape[0])))


def _front_2d(F: np.ndarray) -> np.ndarray:
    """``(n, 2)`` points sorted by the first objective -> their Pareto front (minimised), sorted."""
    out, best2 = [], np.inf
    for row in F:
        if row[1] < best2:
            out.append(row)
            best2 = row[1]
    return np.asarray(out).reshape(-1, 2)


def regret_rows(
    kind: str,
    task_runs: dict[str, list[dict[str, Any]]],
    scan: np.ndarray,
    log_objectives: Sequence[int] = (),
) -> dict[str, list[np.ndarray]]:
    """Regret curves of every method's runs on one task.

    Args:
        kind: ``"single"``, ``"constrained"`` or ``"multi"``.
        task_runs: method -> its runs on this task (each with ``values``: ``(budget,)`` or
            ``(budget, k)``; constrained runs also ``constraints``: ``(budget,)``).
        scan: the task's scan (``(s,)`` values; ``(s, k)`` for multi-objective; the feasible
            configurations' values for a constrained problem).
        log_objectives: objective columns measured on the log scale (multi-objective only).

    Returns:
        method -> one ``(budget,)`` curve per run.
    """
    runs = [r for rs in task_runs.values() for r in rs]
    if kind == "multi":
        return _hv_rows(task_runs, scan, runs, log_objectives)
    if kind == "constrained":
        found = [
            v
            for r in runs
            for v, c in zip(r["values"], r["constraints"], strict=True)
            if c <= 0 and np.isfinite(v)
        ]
    else:
        found = [v for r in runs for v in r["values"]]
    known = np.concatenate([np.asarray(scan, dtype=float).ravel(), np.asarray(found, dtype=float)])
    best, worst = float(known.min()), float(known.max())
    out: dict[str, list[np.ndarray]] = {}
    for m, rs in task_runs.items():
        rows = []
        for r in rs:
            v = np.asarray(r["values"], dtype=float)
            if kind == "constrained":
                v = np.where(np.asarray(r["constraints"], dtype=float) <= 0, v, np.inf)
            curve = np.minimum.accumulate(v)
            rows.append(np.clip((curve - best) / max(worst - best, 1e-12), 0.0, 1.0))
        out[m] = rows
    return out


def _hv_rows(
    task_runs: dict[str, list[dict[str, Any]]],
    scan: np.ndarray,
    runs: list[Any],
    log_objectives: Sequence[int],
) -> dict[str, list[np.ndarray]]:
    def transform(F: np.ndarray) -> np.ndarray:
        F = np.array(F, dtype=float)
        for j in log_objectives:
            F[:, j] = np.log(np.maximum(F[:, j], 1e-12))
        return F

    def feasible(r: dict[str, Any]) -> np.ndarray:
        """``(budget,)`` whether each result of run ``r`` is feasible (all, without constraints)."""
        n = len(r["values"])
        if "constraints" not in r:
            return np.ones(n, dtype=bool)
        return np.asarray(r["constraints"], dtype=float).reshape(n) <= 0

    found = [np.asarray(r["values"], dtype=float).reshape(-1, 2)[feasible(r)] for r in runs]
    allF = transform(np.vstack([np.asarray(scan, dtype=float).reshape(-1, 2), *found]))
    lo, hi = allF.min(axis=0), allF.max(axis=0)
    span = np.maximum(hi - lo, 1e-12)
    if allF.shape[1] != 2:
        raise ValueError(f"hypervolume regret is implemented for 2 objectives (got {allF.shape[1]})")
    hv_star = hypervolume_2d((allF - lo) / span)
    out: dict[str, list[np.ndarray]] = {}
    for m, rs in task_runs.items():
        rows = []
        for r in rs:
            F = (transform(np.asarray(r["values"])) - lo) / span
            F[~feasible(r)] = np.inf  # beyond the reference point: adds no hypervolume
            curve = np.array([hypervolume_2d(F[: n + 1]) for n in range(F.shape[0])])
            rows.append(np.clip((hv_star - curve) / max(hv_star, 1e-12), 0.0, 1.0))
        out[m] = rows
    return out
