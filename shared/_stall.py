"""When a study with priors has stalled: the rule behind both adapters' hedge.

A transfer model that has brought a study close to a good region can keep proposing beside its
incumbent long after that stops paying: a model whose noise and lengthscales were learned on the
prior studies, and which the study's own (often tied) results do not move.  Each adapter then
lets a GP of the study's own results propose every other trial (Optuna's ``GPSampler``; in the
Hyperopt adapter, which has none, the engine's GP without priors) until either brings a new
best.  The rule is TuRBO's failure tolerance (Eriksson et al. 2019): no new best in the last
``max(4, d)`` results, ``d`` the number of parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["stalled"]


def stalled(
    values: Sequence[float] | Sequence[Sequence[float]],
    maximize: bool | Sequence[bool],
    n_params: int,
    feasible: Sequence[bool] | None = None,
) -> bool:
    """Whether a study's last ``max(4, n_params)`` results brought no new best.

    A new best is a result that no result before them weakly dominates: in a single-objective
    study one better than the best before (a tie is no better), in a multi-objective one a new
    point of the Pareto front.  With ``feasible`` only feasible results count, on both sides: an
    infeasible result is no new best, and a study whose earlier results were all infeasible
    improves with its first feasible one.  With no more than ``max(4, n_params)`` results a study
    has not stalled.

    Args:
        values: ``(n,)`` one value per result, or ``(n, m)`` one per objective, in trial order.
        maximize: whether the objective is maximised; one flag for all, or ``(m,)`` one per
            objective.
        n_params: the number of the study's parameters ``d``.
        feasible: ``(n,)`` whether each result met every constraint; ``None``: all did.

    Raises:
        ValueError: if ``feasible`` or ``maximize`` has the wrong number of flags.
    """
    if feasible is not None and len(feasible) != len(values):
        raise ValueError(f"feasible has {len(feasible)} flags for {len(values)} values; one per value.")
    Y = np.asarray(values, dtype=float)
    Y = Y[:, None] if Y.ndim == 1 else Y  # (n, m)
    flags = np.full(Y.shape[1], maximize) if isinstance(maximize, bool) else np.asarray(maximize, dtype=bool)
    if flags.shape != (Y.shape[1],):
        raise ValueError(f"maximize has {flags.size} flags for {Y.shape[1]} objectives; one per objective.")
    patience = max(4, n_params)
    if len(Y) <= patience:
        return False
    Y = np.where(flags, -Y, Y)  # minimised
    ok = np.ones(len(Y), dtype=bool) if feasible is None else np.asarray(feasible, dtype=bool)
    before, window = Y[:-patience][ok[:-patience]], Y[-patience:][ok[-patience:]]
    if len(window) == 0:
        return True
    if len(before) == 0:
        return False
    # (window, before): whether a result before the window weakly dominates each window result
    dominated = np.all(before[None, :, :] <= window[:, None, :], axis=2).any(axis=1)
    return bool(dominated.all())
