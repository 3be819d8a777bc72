"""Acquisition functions: objects that score candidate configurations, handed to the optimiser.

Notation
--------
``F``: encoded features (:mod:`metahpo._space`); ``b``: candidates; ``p``: pending (running)
configurations.  Scores are on the surrogate's scale-free outcome (higher is better).

An :class:`Acquisition` maps ``(b, F)`` candidates to ``(b,)`` log-acquisition values and is
differentiable in its input; :func:`metahpo._optim.optimize_acquisition` knows nothing else of it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from metahpo._lazy import LazyImport

if TYPE_CHECKING:
    import botorch.acquisition.analytic as analytic
    import botorch.acquisition.logei as logei
    import botorch.models as botorch_models
    import botorch.sampling as sampling
    import botorch.utils.multi_objective.box_decompositions as box_decompositions
    import botorch.utils.sampling as botorch_sampling
    import torch
else:
    torch = LazyImport("torch")
    analytic = LazyImport("botorch.acquisition.analytic")
    logei = LazyImport("botorch.acquisition.logei")
    botorch_models = LazyImport("botorch.models")
    box_decompositions = LazyImport("botorch.utils.multi_objective.box_decompositions")
    sampling = LazyImport("botorch.sampling")
    botorch_sampling = LazyImport("botorch.utils.sampling")

__all__ = [
    "Acquisition",
    "FeasibilityWeighted",
    "LogEHVI",
    "LogEI",
    "Posterior",
    "QLogEHVI",
    "QLogEI",
    "log_expected_improvement",
    "pareto_front",
]


class Posterior(Protocol):
    """The target task's posterior: ``(b, F)`` -> mean and standard deviation, each ``(b,)``,
    differentiable in ``X`` (pending points, if any, already conditioned on)."""

    device: torch.device

    def __call__(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


class Acquisition(Protocol):
    """``(b, F)`` candidates -> ``(b,)`` log-acquisition values, differentiable in ``X``."""

    device: torch.device

    def __call__(self, X: torch.Tensor) -> torch.Tensor: ...


def log_expected_improvement(mean: torch.Tensor, std: torch.Tensor, best_f: float) -> torch.Tensor:
    """``log E[max(f - best_f, 0)]`` for ``f ~ N(mean, std^2)``, elementwise, accurate far into the
    tail where plain EI underflows to 0 (Ament et al., "Unexpected Improvements to Expected
    Improvement", NeurIPS 2023).

    BoTorch's own helper (``botorch.acquisition.analytic._log_ei_helper``, BoTorch pinned to
    0.18.x) does the numerics: measured against the copy this package used to carry, it agreed to
    1.3e-11 and cost the same (120 vs 126 us for 1,100 candidates, 239 vs 255 us for 4,096, one
    thread), so there is no reason to keep a copy.
    """
    return analytic._log_ei_helper((mean - best_f) / std) + torch.log(std)  # type: ignore[no-any-return]


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


def pareto_front(Y: np.ndarray) -> np.ndarray:
    """``(n, m)`` scores (higher is better) -> ``(n,)`` True where no other row dominates."""
    if Y.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    ge = np.all(Y[:, None, :] <= Y[None, :, :], axis=-1)  # (n, n): row j at least as good as row i
    gt = np.any(Y[:, None, :] < Y[None, :, :], axis=-1)
    dominated: np.ndarray = np.any(ge & gt, axis=1)
    return ~dominated


def _reference_point(Y: np.ndarray) -> np.ndarray:
    """``(n, m)`` scores (higher is better) -> ``(m,)`` the point 0.1 of each objective's range
    below its worst value (the hypervolume's reference)."""
    span = np.maximum(Y.max(0) - Y.min(0), 1e-6)
    return np.asarray(Y.min(0) - 0.1 * span)


class LogEHVI:
    """Log expected hypervolume improvement of one candidate over the Pareto front of the scores
    ``Y``, under independent posteriors, one per objective (Daulton et al., NeurIPS 2020, eq. 1).

    The region above the reference point (:func:`_reference_point`) that the front does not
    dominate is split into ``K`` boxes (BoTorch's ``FastNondominatedPartitioning``); a sample
    ``y`` improves the hypervolume by ``sum_k prod_j (min(y_j, u_kj) - l_kj)^+``.  The expectation
    is a mean over ``S`` fixed quasi-MC normal samples, the same for every candidate, so the
    estimate is deterministic and smooth enough for L-BFGS-B; each box side is clamped below at
    1e-12, so the log and its gradient stay finite where a candidate improves nothing (Optuna's
    GPSampler computes its LogEHVI the same way).  For a candidate on its own: with running trials
    to fantasise, :class:`QLogEHVI` serves instead.  Measured once (lcbench, 2 objectives, 7
    parameters, 47 trials, a loaded 2-core CPU): one suggestion 2.0 s with BoTorch's qLogEHVI (32
    samples, pure PyTorch path), 0.62 s with this object.

    Shapes: ``b`` candidates, ``S`` samples, ``K`` boxes, ``m`` objectives.
    """

    def __init__(
        self, posteriors: Sequence[Posterior], Y: np.ndarray, *, seed: int, n_samples: int = 128
    ) -> None:
        self._posteriors = list(posteriors)
        self.device: torch.device = self._posteriors[0].device
        kw: dict[str, Any] = {"dtype": torch.float64, "device": self.device}
        ref = torch.as_tensor(_reference_point(Y), **kw)  # (m,)
        front = torch.as_tensor(Y[pareto_front(Y)], **kw)  # (k, m)
        cells = box_decompositions.FastNondominatedPartitioning(ref_point=ref, Y=front).get_hypercell_bounds()
        self._lower = cells[0]  # (K, m)
        self._interval = (cells[1] - cells[0]).clamp_min(1e-12)  # (K, m), +inf above the front
        m = Y.shape[1]
        self._samples = botorch_sampling.draw_sobol_normal_samples(m, n_samples, seed=seed).to(**kw)  # (S, m)
        # candidates per chunk: keeps the (b, S, K, m) intermediate near 32 MB
        self._chunk = max(1, 2**22 // (n_samples * self._lower.shape[0] * m))

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        out = []
        for Xc in torch.split(X, self._chunk):
            stats = [p(Xc) for p in self._posteriors]
            mean = torch.stack([s[0] for s in stats], dim=-1)  # (b, m)
            std = torch.stack([s[1] for s in stats], dim=-1)  # (b, m)
            Ys = mean.unsqueeze(-2) + std.unsqueeze(-2) * self._samples  # (b, S, m)
            side = (Ys.unsqueeze(-2) - self._lower).clamp_min(1e-12)  # (b, S, K, m)
            side = torch.minimum(side, self._interval)
            log_hvi = side.log().sum(dim=-1)  # (b, S, K)
            out.append(torch.logsumexp(log_hvi, dim=(-2, -1)) - float(np.log(self._samples.shape[0])))
        return torch.cat(out)


class QLogEHVI:
    """BoTorch's ``qLogExpectedHypervolumeImprovement`` of one candidate over independent GPs,
    one per objective (Daulton et al., "Differentiable Expected Hypervolume Improvement for
    Parallel Multi-Objective Bayesian Optimization", NeurIPS 2020; Ament et al. 2023 for the log
    form), over the Pareto front of the observed scores ``Y`` (as Optuna's GPSampler), with the
    pending configurations fantasised jointly (32 quasi-MC samples) and the reference point 0.1
    of each objective's range below its worst value in ``Y``.  Measured on this CPU (2 objectives,
    2 parameters, 20 trials): the noisy variant (qLogNEHVI, every candidate conditioned on the
    whole baseline) cost 2 s per suggestion, this one 0.72 s with 128 samples, 0.40 s with 64 and
    0.25 s with 32 (GPSampler about 0.1 s); 32 samples kept a hypervolume on par with GPSampler's
    over 25 trials (median of 3 seeds 3.215 vs 3.113)."""

    def __init__(self, models: Sequence[Any], Y: np.ndarray, pending: np.ndarray, *, seed: int) -> None:
        model = botorch_models.ModelListGP(*models)
        self.device: torch.device = next(model.parameters()).device
        kw: dict[str, Any] = {"dtype": torch.float64, "device": self.device}
        ref = torch.as_tensor(_reference_point(Y), **kw)  # (m,)
        front = torch.as_tensor(Y[pareto_front(Y)], **kw)  # (k, m)
        # BoTorch 0.18 JIT-compiles a fused C++ kernel for this acquisition the first time one is
        # built in a process (27 s here, -march=native, a lock file under ~/.cache/torch_extensions
        # that a process killed mid-build leaves behind, blocking every later build).  The flag
        # that says "already tried" is set around our construction, so our instance takes the
        # pure-PyTorch path (0.30 s per suggestion at 40 trials instead of 0.14 s after the
        # compile); the user's own qLogEHVI objects are left to BoTorch's default.
        module = importlib.import_module("botorch.acquisition.multi_objective.logei")  # not the stand-in
        tried = getattr(module, "_load_attempted", None)
        if tried is False:
            setattr(module, "_load_attempted", True)  # noqa: B010 (private in BoTorch 0.18)
        try:
            self._acqf = module.qLogExpectedHypervolumeImprovement(
                model=model,
                ref_point=ref.tolist(),
                partitioning=box_decompositions.FastNondominatedPartitioning(ref_point=ref, Y=front),
                X_pending=torch.as_tensor(pending, **kw) if pending.shape[0] else None,  # (p, F)
                sampler=sampling.SobolQMCNormalSampler(sample_shape=torch.Size([32]), seed=seed),
            )
        finally:
            if tried is False:
                setattr(module, "_load_attempted", False)  # noqa: B010

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return self._acqf(X.unsqueeze(-2))  # type: ignore[no-any-return]  # (b, 1, F) -> (b,)


# Log-acquisition lost per nat by which a candidate's probability of meeting the constraints falls
# below FeasibilityWeighted's floor (on top of the log probability itself).
_FLOOR_SLOPE = 20.0


class FeasibilityWeighted:
    """An acquisition times the probability that a trial there succeeds and is feasible, in log
    space: ``log a(x) + sum_k log P_k(x)`` (Gardner et al., "Bayesian Optimization with Inequality
    Constraints", ICML 2014; Gelbart et al., UAI 2014), the models taken as independent.

    Each term is ``(posterior, threshold, above)``: ``P = Phi((mean - threshold) / std)`` when
    ``above`` (the failure model: a GP on +1 finished / -1 failed labels, least-squares
    classification, threshold 0), else ``Phi((threshold - mean) / std)`` (a constraint model on
    standardised values, the threshold being where the raw value is 0).  A region where trials
    failed or broke a constraint is avoided, while failures scattered at random leave the ranking
    of candidates nearly as it was.  ``acquisition`` None scores every candidate 1: the search for
    a first feasible configuration maximises the probability alone.

    ``floor`` (constraints only, the terms with ``above`` False): a candidate whose probability
    ``P_c`` of meeting every constraint is below it loses a further ``_FLOOR_SLOPE`` nats per nat
    below, ``_FLOOR_SLOPE * max(0, log floor - log P_c)`` (after Gelbart et al.'s probabilistic
    constraint ``P(c(x) <= 0) >= 1 - delta``, made soft so that the local search keeps a gradient).
    Below the floor a candidate's score thus falls by 21 nats per nat of ``P_c``: with a floor of
    0.2, one under about 0.085 loses more than LogEI spans in a study (about -16 to 2, 18 nats) and
    ranks below any candidate that reaches the floor, and where none does the ranking leans hard
    towards the more probably feasible ones.  The failure terms are not floored."""

    def __init__(
        self,
        acquisition: Acquisition | None,
        terms: Sequence[tuple[Posterior, float, bool]],
        *,
        floor: float | None = None,
    ) -> None:
        if floor is not None and not 0.0 < floor < 1.0:
            raise ValueError(f"floor must lie in (0, 1), got {floor!r}")
        self.device = terms[0][0].device
        self._acquisition = acquisition
        self._terms = list(terms)
        self._log_floor = None if floor is None else float(np.log(floor))

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        if self._acquisition is None:
            return self.log_feasibility(X)
        log_failure, log_constraints = self._log_probabilities(X)
        out = self._acquisition(X) + log_failure + log_constraints
        if self._log_floor is not None:
            out = out - _FLOOR_SLOPE * torch.clamp(self._log_floor - log_constraints, min=0.0)
        return out

    def log_feasibility(self, X: torch.Tensor) -> torch.Tensor:
        """``(b, F)`` -> ``(b,)`` the log probability that a trial there succeeds and is feasible."""
        log_failure, log_constraints = self._log_probabilities(X)
        return log_failure + log_constraints

    def _log_probabilities(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(b, F)`` -> the log probabilities ``(b,)`` of succeeding (the ``above`` terms) and of
        meeting every constraint (the others)."""
        log_failure = torch.zeros_like(X[..., 0])
        log_constraints = torch.zeros_like(X[..., 0])
        for posterior, threshold, above in self._terms:
            mean, std = posterior(X)
            if above:
                log_failure = log_failure + torch.special.log_ndtr((mean - threshold) / std)
            else:
                log_constraints = log_constraints + torch.special.log_ndtr((threshold - mean) / std)
        return log_failure, log_constraints
