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
  result of every method).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["hypervolume_2d", "regret_rows"]


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

    allF = transform(np.vstack([np.asarray(scan, dtype=float)] + [np.asarray(r["values"]) for r in runs]))
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
            curve = np.array([hypervolume_2d(F[: n + 1]) for n in range(F.shape[0])])
            rows.append(np.clip((hv_star - curve) / max(hv_star, 1e-12), 0.0, 1.0))
        out[m] = rows
    return out
