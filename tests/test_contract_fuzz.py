"""A property-based harness over the sampler contract (hypothesis, a bounded number of examples).

Random search spaces (float / log / int / step / categorical with non-string choices / a
conditional branch), random failure patterns (a failing region, NaN, pruned), with and without a
prior study.  Invariants, every trial of every example:

* values are legal and on the grid;
* no duplicate effective configuration (active parameters) while the space has room;
* a failed configuration is never proposed again;
* the same seed gives the same sequence;
* the recorded relative parameters are the evaluated ones;
* a healthy model never falls back.
"""

from __future__ import annotations

import json
import math
from typing import Any

import optuna
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from optuna_meta import MetaSampler

N_TRIALS = 12


@st.composite
def spaces(draw: st.DrawFn) -> dict[str, Any]:
    dists: dict[str, Any] = {}
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["float", "log", "int", "step", "cat"]))
        if kind == "float":
            low = draw(st.floats(-10, 10))
            dists[f"p{i}"] = FloatDistribution(low, low + draw(st.floats(0.5, 20)))
        elif kind == "log":
            dists[f"p{i}"] = FloatDistribution(1e-4, draw(st.floats(0.01, 100)), log=True)
        elif kind == "int":
            low = draw(st.integers(-5, 5))
            dists[f"p{i}"] = IntDistribution(low, low + draw(st.integers(3, 40)))
        elif kind == "step":
            dists[f"p{i}"] = FloatDistribution(0.0, 1.0, step=draw(st.sampled_from([0.1, 0.25])))
        else:
            choices = draw(st.sampled_from([(1, 2, 3), (True, False), ("a", None, 2.5), (0.1, 0.2)]))
            dists[f"p{i}"] = CategoricalDistribution(choices)
    return {
        "dists": dists,
        "branch": draw(st.booleans()),  # a categorical switch with one parameter under each branch
        "fail": draw(st.sampled_from(["none", "region", "nan", "prune"])),
        "priors": draw(st.booleans()),
    }


def suggest(trial: optuna.Trial, name: str, d: Any) -> Any:
    if isinstance(d, FloatDistribution):
        return trial.suggest_float(name, d.low, d.high, log=d.log, step=d.step)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, log=d.log, step=d.step)
    return trial.suggest_categorical(name, d.choices)


def make_objective(case: dict[str, Any]):  # type: ignore[no-untyped-def]
    def objective(trial: optuna.Trial) -> float:
        total = 0.0
        for name, d in case["dists"].items():
            v = trial._suggest(name, d)
            total += float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else len(str(v))
        first = next(iter(case["dists"]))
        if case["branch"]:
            if trial.suggest_categorical("branch", ["left", "right"]) == "left":
                total += trial.suggest_int("left_k", 0, 30)
            else:
                total += trial.suggest_float("right_x", 0.0, 1.0)
        u = case["dists"][first].to_internal_repr(trial.params[first])
        low = getattr(case["dists"][first], "low", 0)
        if (
            case["fail"] == "region"
            and isinstance(u, float)
            and u <= low + 0.3 * (getattr(case["dists"][first], "high", 1) - low)
        ):
            raise RuntimeError("out of memory")  # the low end of the first parameter fails
        if case["fail"] == "nan" and trial.number % 4 == 2:
            return math.nan
        if case["fail"] == "prune" and trial.number % 4 == 3:
            raise optuna.TrialPruned()
        return total

    return objective


def run(case: dict[str, Any], seed: int) -> optuna.Study:
    sources: list[Any] = []
    if case["priors"]:
        prior = optuna.create_study(study_name="prior", sampler=optuna.samplers.RandomSampler(seed=7))
        prior.optimize(make_objective({**case, "fail": "none"}), n_trials=15)
        sources = [prior]
    study = optuna.create_study(sampler=MetaSampler(source_studies=sources, seed=seed, n_startup_trials=3))
    study.optimize(make_objective(case), n_trials=N_TRIALS, catch=(RuntimeError,))
    return study


def effective(t: optuna.trial.FrozenTrial) -> tuple[Any, ...]:
    return tuple(sorted((k, repr(v)) for k, v in t.params.items()))


def n_configurations(case: dict[str, Any]) -> float:
    """How many distinct configurations the space holds (inf with a continuous parameter)."""
    n = 1.0
    for d in case["dists"].values():
        if isinstance(d, CategoricalDistribution):
            n *= len(d.choices)
        elif isinstance(d, IntDistribution):
            n *= d.high - d.low + 1
        elif d.step is not None:
            n *= round((d.high - d.low) / d.step) + 1
        else:
            n = math.inf
    return n * (31 + math.inf) if case["branch"] else n


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(case=spaces())
def test_the_sampler_contract_holds_on_random_studies(case: dict[str, Any]) -> None:
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("optuna.metahpo")
    logger.addHandler(handler)
    try:
        study = run(case, seed=3)
    finally:
        logger.removeHandler(handler)
    assert not [r for r in records if "could not use its model" in r.getMessage()]
    trials = study.trials
    assert len(trials) == N_TRIALS
    for t in trials:
        for name, value in t.params.items():
            assert t.distributions[name]._contains(t.distributions[name].to_internal_repr(value))
    # no repeated effective configuration, failed ones included, while the space has room
    keys = [effective(t) for t in trials]
    if n_configurations(case) >= 2 * N_TRIALS:
        assert len(set(keys)) == len(keys)
    # what the sampler recorded is what was evaluated (on the parameters the trial set)
    for t in trials:
        raw = t.system_attrs.get("metahpo:relative_params")
        if raw and t.system_attrs.get("metahpo:phase") != "fallback":
            claim = json.loads(raw)
            for k in claim.keys() & t.params.keys():
                v = t.params[k]
                assert claim[k] == v or (isinstance(v, float) and math.isclose(claim[k], v, rel_tol=1e-12))
    # the same seed gives the same sequence
    assert [effective(t) for t in run(case, seed=3).trials] == keys
