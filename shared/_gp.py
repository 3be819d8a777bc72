"""Multi-task GP surrogate (BoTorch) and acquisition optimisation over mixed encoded spaces.

Notation
--------
``F``: encoded features (see :mod:`metahpo._space`); ``T``: tasks, the target is task 0 and the
selected prior studies are tasks ``1 .. T-1``; ``n``: training points of all tasks together;
``b``: candidate batch; ``p``: pending (running) configurations.

Model
-----
``MultiTaskGP`` (intrinsic coregionalisation: ``k((x, s), (x', t)) = k_x(x, x') * B[s, t]``) over
``[x, task]`` rows, with the target as task 0 and ``output_tasks=[0]`` so the posterior, the
acquisition and its optimiser work on ``F`` columns.  Outcomes arrive already scale-free (Gaussian
copula per task), so the model is built with ``outcome_transform=None``.  Without any prior task a
``SingleTaskGP`` is used.  Hyper-parameters are warm-started from the previous fit of the same
task set, so a refit costs a few dozen marginal-likelihood evaluations, not a cold start.

Acquisition
-----------
``LogExpectedImprovement`` on the target task; with pending configurations
``qLogExpectedImprovement`` whose ``X_pending`` fantasises them, so parallel workers spread out.
It is maximised by (1) scoring Sobol candidates and perturbations of the incumbents, all snapped to
legal configurations, (2) projected Adam on the numerical features of the best few with the
categorical one-hot blocks held fixed, (3) snapping the results back to the grid and keeping the
best legal candidate that is not already observed or pending.

torch, botorch and gpytorch are imported inside the functions (importing this module is cheap).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from metahpo._space import CategoricalParam, SearchSpace

if TYPE_CHECKING:
    import torch

__all__ = [
    "FitResult",
    "Predictor",
    "TargetPosterior",
    "fit_surrogate",
    "limit_threads",
    "log_expected_improvement",
    "optimize_acquisition",
    "resolve_device",
]


@contextmanager
def limit_threads(n_threads: int = 1) -> Iterator[None]:
    """Run torch (and OpenBLAS) with ``n_threads`` intra-op threads, restoring the caller's
    setting afterwards.  Small GP operations on 2 cores ran 10-25x slower with 2 threads."""
    import torch

    old = torch.get_num_threads()
    old_env = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = str(n_threads)
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)
        if old_env is None:
            os.environ.pop("OPENBLAS_NUM_THREADS", None)
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = old_env


def resolve_device(device: str) -> tuple[torch.device, str | None]:
    """Map ``"auto" | "cpu" | "cuda" | "cuda:N"`` to a torch device.

    Returns:
        The device, and a warning message when ``cuda`` was asked for but is not available.
    """
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu"), None
    if device.startswith("cuda") and not torch.cuda.is_available():
        return torch.device("cpu"), f"device={device!r} requested but CUDA is not available; using CPU"
    return torch.device(device), None


@dataclass
class FitResult:
    """A fitted surrogate and the hyper-parameters to warm-start the next fit from."""

    model: Any
    state: dict[str, Any]
    n_tasks: int


def fit_surrogate(
    X_tasks: list[np.ndarray],
    z_tasks: list[np.ndarray],
    *,
    device: torch.device,
    warm_state: Mapping[str, Any] | None,
    maxiter: int,
) -> FitResult:
    """Fit the multi-task (or single-task) GP.

    Args:
        X_tasks: per task an ``(n_t, F)`` array; index 0 is the target and must be non-empty.
        z_tasks: per task an ``(n_t,)`` array of scale-free scores (higher is better).
        device: torch device for all tensors (float64).
        warm_state: a previous ``FitResult.state`` for the same task set, or None.
        maxiter: L-BFGS iterations of the marginal-likelihood fit; 0 keeps ``warm_state``'s
            hyper-parameters and only conditions the model on the data (a few milliseconds).
    """
    # BoTorch/GPyTorch warn about inputs outside the unit cube (aligned prior points may lie there
    # on purpose), about already scale-free outcomes and about optimiser stops: none is actionable
    # for the user of a sampler, so they are silenced here and only here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import gpytorch
        import torch
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import MultiTaskGP, SingleTaskGP
        from gpytorch.mlls import ExactMarginalLogLikelihood

        n_tasks = len(X_tasks)
        kw: dict[str, Any] = {"dtype": torch.float64, "device": device}
        if n_tasks == 1:
            train_X = torch.as_tensor(X_tasks[0], **kw)  # (n, F)
            train_Y = torch.as_tensor(z_tasks[0], **kw).unsqueeze(-1)  # (n, 1)
            model = SingleTaskGP(train_X, train_Y, outcome_transform=None)
        else:
            rows = [np.hstack([X, np.full((X.shape[0], 1), float(t))]) for t, X in enumerate(X_tasks)]
            train_X = torch.as_tensor(np.vstack(rows), **kw)  # (n, F + 1)
            train_Y = torch.as_tensor(np.concatenate(z_tasks), **kw).unsqueeze(-1)  # (n, 1)
            model = MultiTaskGP(train_X, train_Y, task_feature=-1, output_tasks=[0], outcome_transform=None)
        model = model.to(device)
        loaded = False
        if warm_state is not None:
            # A stale state of another shape is ignored: the fit then starts from the defaults.
            with contextlib.suppress(RuntimeError, KeyError):
                model.load_state_dict({k: v.to(device) for k, v in warm_state.items()})
                loaded = True
        if maxiter > 0 or not loaded:
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            with gpytorch.settings.max_cholesky_size(4096):
                fit_gpytorch_mll(
                    mll, optimizer_kwargs={"options": {"maxiter": max(maxiter, 1)}}, max_attempts=2
                )
        model.eval()
        state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
        return FitResult(model=model, state=state, n_tasks=n_tasks)


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


class TargetPosterior:
    """Exact posterior of the target task's latent function, with the training-side algebra
    (Cholesky factor ``L`` of the ``(n, n)`` noisy training covariance and ``alpha = K^-1 (y - m)``)
    done once per fit.  Scoring ``b`` candidates then costs one ``(b, n)`` cross-covariance and one
    triangular solve, where BoTorch's per-call posterior re-assembles the joint train/test
    covariance every time (~20-35 ms fixed per call at n = 300 on this CPU).  Agrees with
    ``fit.model.posterior`` to round-off (tested).
    """

    def __init__(self, fit: FitResult) -> None:
        import torch

        model = fit.model
        self._model = model
        self._multitask = fit.n_tasks > 1
        with torch.no_grad():
            X_train = model.train_inputs[0]  # (n, F) or (n, F + 1) with the task column last
            prior = model.forward(X_train)
            noisy = model.likelihood(prior, [X_train]).covariance_matrix  # (n, n)
            resid = (model.train_targets - prior.mean).unsqueeze(-1)  # (n, 1)
            L, info = torch.linalg.cholesky_ex(noisy)
            jitter = 1e-8 * float(noisy.diagonal().mean())
            while int(info) != 0 and jitter < 1.0:
                eye = torch.eye(noisy.shape[-1], dtype=noisy.dtype, device=noisy.device)
                L, info = torch.linalg.cholesky_ex(noisy + jitter * eye)
                jitter *= 10.0
        self._X_train = X_train
        self._L = L  # (n, n) lower
        self._alpha = torch.cholesky_solve(resid, L)  # (n, 1)

    def __call__(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(b, F)`` target configurations -> posterior mean and standard deviation, each ``(b,)``
        (differentiable in ``X``)."""
        import torch

        if self._multitask:
            X = torch.cat([X, torch.zeros_like(X[..., :1])], dim=-1)  # task 0 = the target
        kernel = self._model.covar_module
        cross = kernel(X, self._X_train).to_dense()  # (b, n)
        mean = self._model.forward(X).mean + (cross @ self._alpha).squeeze(-1)  # (b,)
        v = torch.linalg.solve_triangular(self._L, cross.transpose(-1, -2), upper=False)  # (n, b)
        var = kernel(X, diag=True) - (v * v).sum(dim=-2)  # (b,)
        return mean, var.clamp_min(1e-12).sqrt()


_LOG_SQRT_2PI = 0.5 * float(np.log(2.0 * np.pi))
_HALF_LOG_PI_OVER_2 = 0.5 * float(np.log(np.pi / 2.0))


def log_expected_improvement(mean: torch.Tensor, std: torch.Tensor, best_f: float) -> torch.Tensor:
    """``log E[max(f - best_f, 0)]`` for ``f ~ N(mean, std^2)``, elementwise, accurate far into the
    tail where plain EI underflows to 0 (the formulation of Ament et al., "Unexpected Improvements to
    Expected Improvement", NeurIPS 2023): ``log EI = log(std) + log h(u)``, ``u = (mean - best_f) / std``,
    ``h(u) = phi(u) + u Phi(u)``, with ``h`` rewritten through the scaled complementary error
    function for ``u < -1``.
    """
    import torch

    u = (mean - best_f) / std
    upper = u > -1.0
    # Double-where: each branch sees only inputs where it is finite, so gradients stay finite.
    u_hi = torch.where(upper, u, torch.zeros_like(u))
    u_lo = torch.where(upper, -torch.full_like(u, 2.0), u)
    log_h_hi = torch.log(torch.exp(-0.5 * u_hi * u_hi - _LOG_SQRT_2PI) + u_hi * torch.special.ndtr(u_hi))
    # h(u) = phi(u) * (1 - |u| R(u)) with Mills ratio R(u) = erfcx(-u / sqrt 2) sqrt(pi / 2).
    t = torch.log(torch.special.erfcx(-u_lo / np.sqrt(2.0)) * u_lo.abs()) + _HALF_LOG_PI_OVER_2  # < 0
    t = t.clamp_max(-1e-15)
    log1mexp = torch.where(t > -np.log(2.0), torch.log(-torch.expm1(t)), torch.log1p(-torch.exp(t)))
    # Beyond |u| ~ 1e6 the subtraction above has no digits left; use the asymptote h ~ phi(u) / u^2.
    log1mexp = torch.where(u_lo < -1e6, -2.0 * torch.log(u_lo.abs()), log1mexp)
    log_h_lo = -0.5 * u_lo * u_lo - _LOG_SQRT_2PI + log1mexp
    return torch.where(upper, log_h_hi, log_h_lo) + torch.log(std)


@runtime_checkable
class Predictor(Protocol):
    """A surrogate that gives the target's posterior directly (e.g. the neural surrogate of
    :mod:`metahpo._neural`, already conditioned on pending points)."""

    device: torch.device

    def __call__(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(b, F)`` -> mean and standard deviation, each ``(b,)``, differentiable in ``X``."""
        ...


def optimize_acquisition(
    fit: FitResult | Predictor,
    space: SearchSpace,
    *,
    best_f: float,
    incumbents: np.ndarray,
    pending: np.ndarray,
    exclude: np.ndarray,
    seed: int,
    n_candidates: int = 1024,
    n_local: int = 3,
    local_steps: int = 10,
    fixed: Mapping[int, float] | None = None,
) -> tuple[np.ndarray, float]:
    """Maximise LogEI (qLogEI with pending points) over legal configurations of ``space``.

    Args:
        fit: the fitted GP (pending points enter through qLogEI), or a :class:`Predictor`
            (pending points already conditioned on; LogEI).
        space: the target space (``F`` features).
        best_f: best target score seen so far (scale of the surrogate's outcomes).
        incumbents: ``(m, F)`` good configurations to search around.
        pending: ``(p, F)`` configurations being evaluated right now.
        exclude: ``(e, F)`` configurations not to propose again (observed and pending).
        seed: seeds Sobol, perturbations and MC samples: same inputs, same answer.
        fixed: encoded feature index -> value held fixed in every candidate.

    Returns:
        ``(F,)`` the chosen encoded configuration (on the grid) and its log-acquisition value.
    """
    # Numerical-jitter warnings of the posterior are not actionable for a sampler's user.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch
        from botorch.acquisition import qLogExpectedImprovement
        from botorch.sampling import SobolQMCNormalSampler

        rng = np.random.default_rng(seed)
        device = fit.device if isinstance(fit, Predictor) else next(fit.model.parameters()).device
        kw: dict[str, Any] = {"dtype": torch.float64, "device": device}
        F = space.n_features
        acqf: Callable[[torch.Tensor], torch.Tensor]
        if isinstance(fit, FitResult) and pending.shape[0] > 0:
            q_acqf = qLogExpectedImprovement(
                fit.model,
                best_f=best_f,
                X_pending=torch.as_tensor(pending, **kw),
                sampler=SobolQMCNormalSampler(sample_shape=torch.Size([128]), seed=seed),
            )

            def acqf(X: torch.Tensor) -> torch.Tensor:  # (b, F) -> (b,)
                return q_acqf(X.unsqueeze(-2))  # type: ignore[no-any-return]

        else:
            predictor = fit if isinstance(fit, Predictor) else TargetPosterior(fit)

            def acqf(X: torch.Tensor) -> torch.Tensor:  # (b, F) -> (b,)
                mean, std = predictor(X)
                return log_expected_improvement(mean, std, best_f)

        def score(X: np.ndarray) -> np.ndarray:
            out = []
            with torch.no_grad():
                for chunk in np.array_split(X, max(1, int(np.ceil(X.shape[0] / 4096)))):
                    out.append(acqf(torch.as_tensor(chunk, **kw)).detach().cpu().numpy())
            return np.concatenate(out)

        sobol = torch.quasirandom.SobolEngine(F, scramble=True, seed=seed)  # type: ignore[no-untyped-call]
        raw = sobol.draw(n_candidates, dtype=torch.float64).numpy()
        cand = np.vstack(
            [raw, _perturb(space, incumbents, rng, 16, 0.08), _perturb(space, incumbents[:3], rng, 16, 0.02)]
        )
        fixed = dict(fixed or {})

        def legal(X: np.ndarray) -> np.ndarray:
            X = space.snap(X)
            for j, u in fixed.items():
                X[:, j] = u
            return X

        cand = _unique_rows(legal(cand))
        vals = score(cand)

        # Local refinement of the best few on the numerical features (categoricals held fixed).
        order = np.argsort(-vals)[:n_local]
        free = np.array([j for j in space.numerical_features if j not in fixed], dtype=np.int64)
        num = torch.as_tensor(free, dtype=torch.long, device=device)
        if num.numel() > 0 and order.size > 0:
            start = torch.as_tensor(cand[order], **kw)  # (k, F)
            x_num = start[:, num].clone().requires_grad_(True)  # (k, F_num)
            opt = torch.optim.Adam([x_num], lr=0.05)
            for _ in range(local_steps):
                opt.zero_grad()
                X = start.clone()
                X[:, num] = x_num
                loss = -acqf(X).sum()
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
                with torch.no_grad():
                    x_num.clamp_(0.0, 1.0)
            with torch.no_grad():
                refined = start.clone()
                refined[:, num] = x_num
            ref = legal(refined.cpu().numpy())
            cand = np.vstack([cand, ref])
            vals = np.concatenate([vals, score(ref)])

        for i in np.argsort(-vals):
            if exclude.shape[0] == 0 or np.min(np.abs(exclude - cand[i]).max(axis=1)) > 1e-9:
                return cand[i], float(vals[i])
        # Everything scored was already tried (tiny discrete spaces): hand back a random legal point.
        return legal(rng.random((1, F)))[0], float("-inf")


def _unique_rows(X: np.ndarray) -> np.ndarray:
    _, idx = np.unique(np.round(X, 12), axis=0, return_index=True)
    return X[np.sort(idx)]
