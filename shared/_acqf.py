"""Acquisition functions: objects that score candidate configurations, handed to the optimiser.

Notation
--------
``F``: encoded features (:mod:`metahpo._space`); ``b``: candidates; ``p``: pending (running)
configurations.  Scores are on the surrogate's scale-free outcome (higher is better).

An :class:`Acquisition` maps ``(b, F)`` candidates to ``(b,)`` log-acquisition values and is
differentiable in its input; :func:`metahpo._optim.optimize_acquisition` knows nothing else of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from metahpo._lazy import LazyImport

if TYPE_CHECKING:
    import botorch.acquisition.logei as logei
    import botorch.sampling as sampling
    import torch
else:
    torch = LazyImport("torch")
    logei = LazyImport("botorch.acquisition.logei")
    sampling = LazyImport("botorch.sampling")

__all__ = ["Acquisition", "LogEI", "Posterior", "QLogEI", "log_expected_improvement"]


class Posterior(Protocol):
    """The target task's posterior: ``(b, F)`` -> mean and standard deviation, each ``(b,)``,
    differentiable in ``X`` (pending points, if any, already conditioned on)."""

    device: torch.device

    def __call__(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


class Acquisition(Protocol):
    """``(b, F)`` candidates -> ``(b,)`` log-acquisition values, differentiable in ``X``."""

    device: torch.device

    def __call__(self, X: torch.Tensor) -> torch.Tensor: ...


_LOG_SQRT_2PI = 0.5 * float(np.log(2.0 * np.pi))
_HALF_LOG_PI_OVER_2 = 0.5 * float(np.log(np.pi / 2.0))


def log_expected_improvement(mean: torch.Tensor, std: torch.Tensor, best_f: float) -> torch.Tensor:
    """``log E[max(f - best_f, 0)]`` for ``f ~ N(mean, std^2)``, elementwise, accurate far into the
    tail where plain EI underflows to 0 (the formulation of Ament et al., "Unexpected Improvements to
    Expected Improvement", NeurIPS 2023): ``log EI = log(std) + log h(u)``, ``u = (mean - best_f) / std``,
    ``h(u) = phi(u) + u Phi(u)``, with ``h`` rewritten through the scaled complementary error
    function for ``u < -1``.
    """
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


class LogEI:
    """Analytic LogEI over a :class:`Posterior` (used when no trial is pending, or when the
    posterior already conditions on the pending ones)."""

    def __init__(self, posterior: Posterior, best_f: float) -> None:
        self.device = posterior.device
        self._posterior = posterior
        self._best_f = best_f

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        mean, std = self._posterior(X)
        return log_expected_improvement(mean, std, self._best_f)


class QLogEI:
    """BoTorch's ``qLogExpectedImprovement`` of one candidate jointly with the pending
    configurations (fantasised by 128 quasi-MC samples), so parallel workers spread out."""

    def __init__(self, model: Any, best_f: float, pending: np.ndarray, *, seed: int) -> None:
        self.device: torch.device = next(model.parameters()).device
        self._acqf = logei.qLogExpectedImprovement(
            model,
            best_f=best_f,
            X_pending=torch.as_tensor(pending, dtype=torch.float64, device=self.device),  # (p, F)
            sampler=sampling.SobolQMCNormalSampler(sample_shape=torch.Size([128]), seed=seed),
        )

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return self._acqf(X.unsqueeze(-2))  # type: ignore[no-any-return]  # (b, 1, F) -> (b,)
