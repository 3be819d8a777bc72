"""Optuna's public sampler conformance suites, run on the sampler as OptunaHub loads it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.testing.pytest_samplers import BasicSamplerTestCase
from optuna.testing.pytest_samplers import MultiObjectiveSamplerTestCase
from optuna.testing.pytest_samplers import RelativeSamplerTestCase
import optunahub
import pytest


REGISTRY_ROOT = Path(__file__).resolve().parents[3]  # the folder that holds samplers/
module = optunahub.load_local_module("samplers/metahpo", registry_root=str(REGISTRY_ROOT))


def _prior() -> optuna.Study:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(
        lambda t: (t.suggest_float("x", 0, 10) - 3) ** 2 + t.suggest_float("y", -10, 10) ** 2,
        n_trials=20,
    )
    return study


PRIOR = _prior()


@pytest.fixture(params=["no priors", "priors"])
def make_sampler(request: pytest.FixtureRequest) -> Callable[[], Any]:
    sources = [] if request.param == "no priors" else [PRIOR]
    return lambda: module.MetaSampler(source_studies=sources, seed=0)


class TestBasic(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self, make_sampler: Callable[[], Any]) -> Callable[[], Any]:
        return make_sampler


class TestRelative(RelativeSamplerTestCase):
    @pytest.fixture
    def sampler(self, make_sampler: Callable[[], Any]) -> Callable[[], Any]:
        return make_sampler


class TestMultiObjective(MultiObjectiveSamplerTestCase):
    @pytest.fixture
    def sampler(self) -> Callable[[], Any]:
        return lambda: module.MetaSampler(source_studies=[PRIOR], seed=0)


def test_warm_started_study_uses_the_prior() -> None:
    study = optuna.create_study(sampler=module.MetaSampler(source_studies=[PRIOR], seed=0))
    study.optimize(
        lambda t: (t.suggest_float("x", 0, 10) - 3.5) ** 2 + t.suggest_float("y", -10, 10) ** 2,
        n_trials=8,
    )
    phases = [t.system_attrs.get("metahpo:phase") for t in study.trials]
    assert phases[0] == "portfolio"  # the first trial is one of the prior's best configurations
    assert "fallback" not in phases
    assert study.trials[0].params == pytest.approx(PRIOR.best_params)
