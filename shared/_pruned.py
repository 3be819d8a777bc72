"""What a pruned trial teaches: an estimate of its final value from its learning curve.

A pruner stops a trial because its intermediate value at some step ranked poorly against the
other trials' values at that step.  The same evidence says how its final value would have ranked:
learning curves keep their order (the rank persistence that median pruning, successive halving
and Hyperband rely on).  So a pruned trial is ranked among the completed trials that reported
the same step, by their values there, and its estimate is the completed trials' final value at
the same rank (the empirical quantile).  The estimate lies within the completed trials' final
values, and a trial pruned for ranking in the worse half is estimated in the worse half: it
teaches the model where not to go, as TPE's ranking of pruned trials below the completed ones
does, but by how much they were behind.

Notation:
    c: completed trials with a learning curve; p: pruned trials.
    A curve maps a step (an int) to an intermediate value in the objective's own direction.
    r: a pruned trial's mid-rank fraction at its step, the share of references better than it
        (ties count half): 0 is ahead of all, 1 behind all.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from metahpo._prior import Direction
from metahpo._validation import require

# A step is a reference for a pruned trial only where this many completed trials reported it.
MIN_REFERENCES = 3


def estimate_pruned_values(
    curves: Sequence[Mapping[int, float]],
    values: Sequence[float] | np.ndarray,
    pruned_curves: Sequence[Mapping[int, float]],
    direction: Direction,
    *,
    min_references: int = MIN_REFERENCES,
) -> np.ndarray:
    """Estimate the final value of each pruned trial.

    Args:
        curves: ``(c,)`` the completed trials' learning curves (an empty one where a trial
            reported none).
        values: ``(c,)`` their final values (finite).
        pruned_curves: ``(p,)`` the pruned trials' learning curves.
        direction: the objective's direction (intermediate values follow it too).
        min_references: completed trials that must have reported a step for it to serve, and
            that must exist for a diverged run to be estimated.

    Returns:
        ``(p,)`` estimates; NaN where the pruned trial is not comparable (see below).

    A pruned trial is ranked at the latest step of its curve that ``min_references`` completed
    trials reported (NaN values left out; an infinite one ranks last or first as its sign says);
    its ``r`` gives the ``r``-quantile of those trials' final values, from the best (``r = 0``)
    to the worst (``r = 1``).  A pruned trial whose last reported value is NaN or infinite in the
    wrong direction (a diverged run, which pruners stop) is estimated at the worst final value
    of all completed trials (NaN while fewer than ``min_references`` exist).  No step with
    enough references, or no curve: NaN.
    """
    require(len(curves) == len(values), "curves", "must have one entry per value", (len(curves), len(values)))
    final = np.asarray(values, dtype=float).reshape(-1)
    require(bool(np.all(np.isfinite(final))), "values", "must be finite", final)
    counts: Counter[int] = Counter()
    for curve in curves:
        counts.update(curve.keys())
    for curve in [*pruned_curves, counts]:
        bad = next((s for s in curve if not isinstance(s, (int, np.integer)) or isinstance(s, bool)), None)
        require(bad is None, "curves", "steps must be integers", bad)
    sign = 1.0 if direction == "minimize" else -1.0  # lower signed values are better
    signed_final = sign * final
    worst = float(signed_final.max()) if final.size >= min_references else math.nan
    at_step: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # step -> signed values there, signed finals

    def references(step: int) -> tuple[np.ndarray, np.ndarray]:
        if step not in at_step:
            xs = np.array([sign * float(c.get(step, math.nan)) for c in curves])
            ok = ~np.isnan(xs)
            at_step[step] = (xs[ok], signed_final[ok])
        return at_step[step]

    out = np.full(len(pruned_curves), math.nan)
    for i, curve in enumerate(pruned_curves):
        if not curve:
            continue
        last = sign * float(curve[max(curve)])
        if math.isnan(last) or last == math.inf:
            out[i] = sign * worst  # diverged: as bad as the worst completed trial
            continue
        for step in sorted((s for s in curve if counts[s] >= min_references), reverse=True):
            x = sign * float(curve[step])
            if math.isnan(x):
                continue
            at, fin = references(step)
            if at.size < min_references:
                continue
            r = (float(np.sum(at < x)) + 0.5 * float(np.sum(at == x))) / at.size
            out[i] = sign * float(np.quantile(fin, r))
            break
    return out
