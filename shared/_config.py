"""The engine's settings, validated where they are made."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, get_args

from metahpo._validation import (
    require,
    require_device,
    require_int,
    require_path,
    require_real,
)

__all__ = ["EngineConfig", "SurrogateName"]

SurrogateName = Literal["auto", "mtgp", "neural"]


@dataclass(frozen=True)
class EngineConfig:
    """Settings of :class:`metahpo.MetaEngine` (the adapters take the same keyword arguments).

    Attributes:
        n_startup_trials: trials before the model takes over; None: 3 with usable priors
            (portfolio), 10 without (random).
        max_source_studies: prior studies in the multi-task GP (the most similar ones).
        max_points_per_study: prior points one study may contribute to the multi-task GP.
        max_prior_points: cap on all prior points in the multi-task GP.
        min_overlap: fraction of the target's parameters a prior study must share.
        n_candidates: Sobol candidates per acquisition optimisation.
        fit_maxiter_cold, fit_maxiter_warm: L-BFGS iterations of a cold / warm-started GP fit.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        surrogate: ``"mtgp"``, ``"neural"`` or ``"auto"`` (neural from ``neural_min_prior_trials``
            aligned prior trials on).
        surrogate_cache: folder or ``.pt`` file for the neural surrogate.
        neural_min_prior_trials: see ``surrogate``.
    """

    n_startup_trials: int | None = None
    max_source_studies: int = 8
    max_points_per_study: int = 48
    max_prior_points: int = 256
    min_overlap: float = 0.5
    n_candidates: int = 1024
    fit_maxiter_cold: int = 60
    fit_maxiter_warm: int = 12
    device: str = "auto"
    surrogate: SurrogateName = "auto"
    surrogate_cache: str | os.PathLike[str] | None = None
    neural_min_prior_trials: int = 2000

    def __post_init__(self) -> None:
        if self.n_startup_trials is not None:
            require_int(self.n_startup_trials, "n_startup_trials", 0)
        require_int(self.max_source_studies, "max_source_studies", 0)
        require_int(self.max_points_per_study, "max_points_per_study", 2)
        require_int(self.max_prior_points, "max_prior_points", 0)
        require_real(self.min_overlap, "min_overlap", 0.0, 1.0)
        require_int(self.n_candidates, "n_candidates", 16)
        require_int(self.fit_maxiter_cold, "fit_maxiter_cold", 1)
        require_int(self.fit_maxiter_warm, "fit_maxiter_warm", 1)
        require_device(self.device)
        require_path(self.surrogate_cache, "surrogate_cache")
        choices = get_args(SurrogateName)
        require(
            self.surrogate in choices, "surrogate", f"must be one of {', '.join(choices)}", self.surrogate
        )
        require_int(self.neural_min_prior_trials, "neural_min_prior_trials", 0)

    def use_neural(self, n_prior_trials: int) -> bool:
        """``surrogate="auto"`` picks the neural surrogate once the aligned prior trials are at
        least ``neural_min_prior_trials`` (default 2,000: from there the multi-task GP keeps at most
        ``max_prior_points`` of them, an eighth or less)."""
        if self.surrogate == "auto":
            return n_prior_trials >= self.neural_min_prior_trials
        return self.surrogate == "neural"

    def startup_trials(self, has_priors: bool) -> int:
        """Trials before the model takes over."""
        if self.n_startup_trials is not None:
            return self.n_startup_trials
        return 3 if has_priors else 10
