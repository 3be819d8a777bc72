"""Optuna's public sampler conformance suites, run against MetaSampler with and without priors."""

from __future__ import annotations

from collections.abc import Callable

import optuna
import pytest
from optuna.testing.pytest_samplers import (
    BasicSamplerTestCase,
    MultiObjectiveSamplerTestCase,
    RelativeSamplerTestCase,
)

from optuna_meta import MetaSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _prior_trials() -> list[optuna.trial.FrozenTrial]:
    # Parameters named like the suites' ("x", "y", "z") so that alignment, the zero-shot
    # portfolio and the multi-task GP are all exercised by the suites.
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(
        lambda t: (
            (t.suggest_float("x", 0, 10) - 3) ** 2
            + t.suggest_float("y", -10, 10) ** 2
            + t.suggest_int("z", -1, 1)
        ),
        n_trials=25,
    )
    return study.trials


_PRIOR = _prior_trials()


class TestBasicWithoutPriors(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], MetaSampler]:
        return lambda: MetaSampler(source_studies=[], seed=0)


class TestBasicWithPriors(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], MetaSampler]:
        return lambda: MetaSampler(source_studies=[_PRIOR], seed=0)


class TestRelativeWithoutPriors(RelativeSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], MetaSampler]:
        return lambda: MetaSampler(source_studies=[], seed=0)


class TestRelativeWithPriors(RelativeSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], MetaSampler]:
        return lambda: MetaSampler(source_studies=[_PRIOR], seed=0)


class TestMultiObjective(MultiObjectiveSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], MetaSampler]:
        return lambda: MetaSampler(source_studies=[_PRIOR], seed=0)
