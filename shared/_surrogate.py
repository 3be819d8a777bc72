"""The one interface every surrogate of the engine implements.

A surrogate is built once per target search space (from the aligned prior studies) and then, at
every model-phase suggestion, given the target's data as a :class:`TargetData`; it fits itself (or
adapts a pre-trained model) and returns a :class:`Fitted`: an acquisition over candidates, the
configurations to search around, and what to report.  The engine chooses which surrogate serves a
suggestion and hands the acquisition to :func:`metahpo._optim.optimize_acquisition`; it never
looks inside a surrogate.

Implementations: :class:`metahpo._mtgp.GPSurrogate` (multi-task GP over the most similar prior
studies, a single-task GP without priors) and :class:`metahpo._neural_surrogate.NeuralSurrogate` (deep-kernel
GP meta-trained on every prior trial).  A new one (an ensemble, ...) goes beside them; see
ARCHITECTURE.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

    from metahpo._acqf import Acquisition

__all__ = ["Fitted", "ModelPhase", "Surrogate", "SurrogateUnavailable", "TargetData"]

ModelPhase = Literal["gp", "mtgp", "neural"]


@dataclass(frozen=True)
class TargetData:
    """What one suggestion knows of the target, encoded.

    Attributes:
        X_obs: ``(n, F)`` finished configurations (``n >= 1``).
        z_obs: ``(n,)`` their scale-free scores (Gaussian copula; higher is better): what a model
            shared with prior studies uses, since only ranks are comparable across studies.
        y_obs: ``(n,)`` their values standardised (mean 0, standard deviation 1; higher is
            better): what a model of the target alone uses, keeping how much better a value is
            (as Optuna's GPSampler does).
        X_pend: ``(p, F)`` configurations being evaluated now.
        seed: the seed of this suggestion.
        device: where the tensors live.
        feasible: ``(n,)`` True where the trial broke no constraint; None when all are feasible.
        estimated: ``(n,)`` True where the score is an estimate, not a result (a pruned trial's,
            from its learning curve: :mod:`metahpo._pruned`); None when none is.  Such a row
            teaches the model but is never the incumbent.
    """

    X_obs: np.ndarray
    z_obs: np.ndarray
    y_obs: np.ndarray
    X_pend: np.ndarray
    seed: int
    device: torch.device
    feasible: np.ndarray | None = None
    estimated: np.ndarray | None = None

    @property
    def n_results(self) -> int:
        """The rows that are results (not estimates)."""
        n = self.X_obs.shape[0]
        return int(n if self.estimated is None else n - self.estimated.sum())

    def incumbent(self, scores: np.ndarray) -> float:
        """The best of ``(n,)`` scores among the feasible results (among all results when none is
        feasible); estimates never count."""
        real = np.ones(scores.shape[0], dtype=bool) if self.estimated is None else ~self.estimated
        ok = real if self.feasible is None else real & self.feasible
        return float(scores[ok].max() if ok.any() else scores[real].max())

    def top(self, k: int) -> np.ndarray:
        """``(min(k, n), F)``: the ``k`` best finished configurations, feasible results first,
        estimates last."""
        n = self.z_obs.shape[0]
        ok = self.feasible if self.feasible is not None else np.ones(n, dtype=bool)
        est = self.estimated if self.estimated is not None else np.zeros(n, dtype=bool)
        return self.X_obs[np.lexsort((-self.z_obs, ~ok, est))[:k]]


@dataclass
class Fitted:
    """A surrogate ready for one suggestion.

    Attributes:
        acquisition: scores ``(b, F)`` candidates (higher is better).
        incumbents: ``(m, F)`` configurations the optimiser searches around.
        phase: which model made it.
        info: JSON-serialisable diagnostics (prior tasks and points used, ...).
        warnings: messages for the user (each adapter logs a message once).
        n_threads: torch intra-op threads for optimising the acquisition.
        predict: the target's posterior, ``(b, F)`` configurations -> mean and standard deviation,
            each ``(b,)``, on the scale ``scale`` (for the record of what the model expected).
        scale: the target's scores the model was fit on: ``"copula"`` (ranks through the normal
            quantile) or ``"standardised"`` (mean 0, standard deviation 1); higher is better.
    """

    acquisition: Acquisition
    incumbents: np.ndarray
    phase: ModelPhase
    info: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    n_threads: int = 1
    predict: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None
    scale: Literal["copula", "standardised"] = "copula"


class Surrogate(Protocol):
    """Fit (or adapt) on the target's data and give an acquisition over candidates."""

    def fit(self, data: TargetData) -> Fitted:
        """The acquisition for this suggestion; raises :class:`SurrogateUnavailable` when the
        surrogate cannot serve now (the engine then uses the GP surrogate, which always serves)."""
        ...


class SurrogateUnavailable(Exception):
    """Raised by :meth:`Surrogate.fit` when it cannot serve this suggestion (e.g. another process
    is training it); the message says why and reaches the user once, and the engine asks the
    next surrogate."""
