"""The default independent sampler: uniform random draws seeded per trial."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import FrozenTrial

if TYPE_CHECKING:
    from optuna.study import Study

__all__ = ["TrialSeededRandomSampler"]


class TrialSeededRandomSampler(BaseSampler):
    """Optuna's ``RandomSampler``, with each draw seeded by ``(seed, trial number, parameter)``.

    ``RandomSampler(seed)`` draws from one stream per process, so two workers started with the
    same seed give the same values to their first trials; here the trial number (unique across the
    workers of a storage) enters every seed, so they differ, and a seeded run is still
    reproducible.  Without a seed every draw is fresh.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._fresh = np.random.default_rng()

    def reseed_rng(self) -> None:
        self._fresh = np.random.default_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        if self._seed is None:
            seed = int(self._fresh.integers(2**31 - 1))
        else:
            key = f"{self._seed}:{trial.number}:{param_name}".encode()
            seed = int.from_bytes(hashlib.sha256(key).digest()[:4], "little") & 0x7FFFFFFF
        return RandomSampler(seed=seed).sample_independent(study, trial, param_name, param_distribution)
