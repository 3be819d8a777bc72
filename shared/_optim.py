"""Maximising an acquisition over the legal configurations of a mixed search space.

Notation as in :mod:`metahpo._acqf`: ``F`` encoded features, ``b`` candidates.

The optimiser knows the search space and an :class:`metahpo._acqf.Acquisition`, never the model:
(1) score Sobol candidates and perturbations of the incumbents, all snapped to legal
configurations; (2) run L-BFGS-B (bounded to the unit cube) on the numerical features of the best
``n_local`` distinct candidates, categorical one-hot blocks held fixed, all starts in one batched
call as Optuna's GPSampler does; (3) snap the results back to the grid and keep the best legal
candidate that is not already observed or pending.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from metahpo._lazy import LazyImport
from metahpo._space import CategoricalParam, SearchSpace

if TYPE_CHECKING:
    import scipy.optimize as optimize
    import torch

    from metahpo._acqf import Acquisition
else:
    torch = LazyImport("torch")
    optimize = LazyImport("scipy.optimize")

__all__ = ["is_row_of", "optimize_acquisition"]


def optimize_acquisition(
    acqf: Acquisition,
    space: SearchSpace,
    *,
    incumbents: np.ndarray,
    exclude: np.ndarray,
    seed: int,
    n_candidates: int = 1024,
    n_local: int = 10,
    local_steps: int = 50,
    fixed: Mapping[int, float] | None = None,
) -> tuple[np.ndarray, float]:
    """Maximise ``acqf`` over legal configurations of ``space``.

    Args:
        acqf: the acquisition (``(b, F)`` -> ``(b,)``).
        space: the target space (``F`` features).
        incumbents: ``(m, F)`` good configurations to search around.
        exclude: ``(e, F)`` configurations not to propose again (observed and pending); NaN where
            a configuration left a parameter unset (see :func:`is_row_of`).
        seed: seeds Sobol and the perturbations: same inputs, same answer.
        n_candidates: Sobol candidates scored.
        n_local, local_steps: starting points and L-BFGS-B iterations of the local refinement.
        fixed: encoded feature index -> value held fixed in every candidate.

    Returns:
        ``(F,)`` the chosen encoded configuration (on the grid) and its log-acquisition value.
    """
    # Numerical-jitter warnings of the posterior are not actionable for a sampler's user.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rng = np.random.default_rng(seed)
        kw: dict[str, Any] = {"dtype": torch.float64, "device": acqf.device}
        F = space.n_features
        fixed = dict(fixed or {})

        def score(X: np.ndarray) -> np.ndarray:
            out = []
            with torch.no_grad():
                for chunk in np.array_split(X, max(1, int(np.ceil(X.shape[0] / 4096)))):
                    out.append(acqf(torch.as_tensor(chunk, **kw)).detach().cpu().numpy())
            return np.concatenate(out)

        def legal(X: np.ndarray) -> np.ndarray:
            X = space.snap(X)
            # scored as it would run: inactive conditional parameters as a trial that leaves them unset
            if space.conditions:
                X = space.impute_inactive(X)
            for j, u in fixed.items():
                X[:, j] = u
            return X

        sobol = torch.quasirandom.SobolEngine(F, scramble=True, seed=seed)  # type: ignore[no-untyped-call]
        raw = sobol.draw(n_candidates, dtype=torch.float64).numpy()  # (n_candidates, F)
        cand = np.vstack(
            [raw, _perturb(space, incumbents, rng, 16, 0.08), _perturb(space, incumbents[:3], rng, 16, 0.02)]
        )
        cand = _unique_rows(legal(cand))
        vals = score(cand)

        free = np.array([j for j in space.numerical_features if j not in fixed], dtype=np.int64)
        order = np.argsort(-vals)[:n_local]
        if free.size > 0 and order.size > 0:
            ref = legal(_lbfgsb_refine(acqf, cand[order], free, local_steps, kw))
            cand = np.vstack([cand, ref])
            vals = np.concatenate([vals, score(ref)])

        order = np.argsort(-vals, kind="stable")
        for i in order:
            if not is_row_of(cand[i], exclude):
                return cand[i], float(vals[i])
        # Everything scored was already tried: look wider for a configuration that was not (a
        # discrete space that is nearly used up), the best-rated one if there is any.
        wide = _unique_rows(legal(rng.random((4096, F))))
        fresh = np.array([not is_row_of(row, exclude) for row in wide], dtype=bool)
        if fresh.any():
            wide = wide[fresh]
            wide_vals = score(wide)
            best = int(np.argmax(np.where(np.isfinite(wide_vals), wide_vals, -np.inf)))
            return wide[best], float(wide_vals[best])
        # The space is used up: a repeat cannot be avoided, so the acquisition picks which one (on
        # a noisy objective, the configuration the model rates best is the one worth measuring
        # again); random only when nothing scored.
        if order.size > 0 and np.isfinite(vals[order[0]]):
            return cand[order[0]], float(vals[order[0]])
        return legal(rng.random((1, F)))[0], float("-inf")


def _lbfgsb_refine(
    acqf: Acquisition, starts: np.ndarray, free: np.ndarray, maxiter: int, kw: dict[str, Any]
) -> np.ndarray:
    """``(k, F)`` starting points -> ``(k, F)`` after bounded L-BFGS-B on the ``free`` (numerical)
    features, the others held fixed.  The ``k`` searches run as one: the objective is the sum of
    the ``k`` acquisition values, whose gradient separates by start."""
    k = starts.shape[0]
    base = torch.as_tensor(starts, **kw)  # (k, F)
    cols = torch.as_tensor(free, dtype=torch.long, device=base.device)

    def negative_sum(x: np.ndarray) -> tuple[float, np.ndarray]:
        x_num = torch.as_tensor(x.reshape(k, free.size), **kw).requires_grad_(True)  # (k, F_num)
        X = base.clone()
        X[:, cols] = x_num
        vals = acqf(X)  # (k,)
        # a start whose acquisition underflowed contributes nothing rather than NaN gradients
        total = -torch.where(torch.isfinite(vals), vals, torch.zeros_like(vals)).sum()
        total.backward()  # type: ignore[no-untyped-call]
        grad = x_num.grad
        g = np.zeros(x.size) if grad is None else np.nan_to_num(grad.detach().cpu().numpy().ravel())
        return float(total.detach()), g

    x0 = starts[:, free].ravel()
    x, _, _ = optimize.fmin_l_bfgs_b(negative_sum, x0, bounds=[(0.0, 1.0)] * x0.size, maxiter=maxiter)
    out = starts.copy()
    out[:, free] = np.clip(x.reshape(k, free.size), 0.0, 1.0)
    return out


def _perturb(
    space: SearchSpace, X: np.ndarray, rng: np.random.Generator, n_per: int, scale: float
) -> np.ndarray:
    """``(m, F)`` incumbents -> ``(m * n_per, F)`` neighbours (Gaussian moves on numerical
    features, occasional re-draws of a categorical choice)."""
    if X.size == 0:
        return np.empty((0, space.n_features))
    out = np.repeat(X, n_per, axis=0)
    num = space.numerical_features
    if num.size:
        out[:, num] += rng.normal(0.0, scale, size=(out.shape[0], num.size))
    for name, p in space.params.items():
        if isinstance(p, CategoricalParam) and p.n_features > 1:
            sl = space.feature_slice(name)
            flip = np.asarray(rng.random(out.shape[0]) < 1.0 / max(len(space.params), 2))
            new = rng.integers(0, p.n_features, size=int(flip.sum()))
            block = np.zeros((int(flip.sum()), p.n_features))
            block[np.arange(new.size), new] = 1.0
            out[np.flatnonzero(flip), sl] = block
    return out


def _unique_rows(X: np.ndarray) -> np.ndarray:
    _, idx = np.unique(np.round(X, 12), axis=0, return_index=True)
    return X[np.sort(idx)]


def is_row_of(x: np.ndarray, X: np.ndarray) -> bool:
    """Whether ``(F,)`` ``x`` is the same configuration as a row of ``(e, F)`` ``X``: equal (to
    1e-9) on every feature the row knows; NaN features (parameters an earlier trial did not set,
    inactive conditional ones) match anything, so a configuration that differs from an earlier one
    only in parameters that trial left inactive counts as the same.  Rows that know nothing are
    ignored."""
    if X.shape[0] == 0:
        return False
    known = ~np.isnan(X)
    diff = np.where(known, np.abs(np.where(known, X, 0.0) - x), 0.0).max(axis=1)
    return bool(np.any((diff <= 1e-9) & known.any(axis=1)))
