"""Faults and bad input inside a running study: each case ends in a clear error for a bad
argument, or a logged warning and a safe fallback, never a crashed study or a lost trial."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import optuna
import pytest
from _optuna_helpers import make_prior, quadratic
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from metahpo import KnowledgeBase
from optuna_meta import MetaSampler


def _complete(study: optuna.Study, n: int) -> None:
    assert len(study.trials) == n
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_unreachable_and_corrupt_prior_storages_warn_and_the_study_goes_on(
    tmp_path: Path, metahpo_log: pytest.LogCaptureFixture
) -> None:
    good = f"sqlite:///{tmp_path / 'good.db'}"
    make_prior(good, "prior", 1.0, n=20)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    sampler = MetaSampler(
        source_studies=[
            "postgresql+psycopg://nobody@127.0.0.1:1/none::*",  # nothing listens on port 1
            f"sqlite:///{corrupt}::*",
            f"{good}::prior",
        ],
        seed=0,
    )
    study = optuna.create_study(sampler=sampler)
    study.optimize(quadratic(1.0), n_trials=6)
    _complete(study, 6)
    messages = [r.getMessage() for r in metahpo_log.records]
    assert sum("could not read prior studies from source_studies[0]" in m for m in messages) == 1
    assert sum("could not read prior studies from source_studies[1]" in m for m in messages) == 1
    # the readable prior is still used
    assert [p.name for p in sampler.prior_studies(study)] == ["prior"]
    assert study.trials[-1].system_attrs["metahpo:phase"] == "mtgp"


def test_a_prior_study_the_core_cannot_hold_is_left_out_alone(
    tmp_path: Path, metahpo_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optuna_meta import _priors

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    for name in ("good-1", "odd", "good-2"):
        make_prior(url, name, 1.0, n=10)
    convert = _priors.from_trials

    def from_trials(name: str, *args: Any) -> Any:
        if name == "odd":
            raise ValueError("CategoricalParam.choices must not contain duplicates")
        return convert(name, *args)

    monkeypatch.setattr(_priors, "from_trials", from_trials)
    sampler = MetaSampler(source_studies=[f"{url}::*"], seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(quadratic(1.0), n_trials=4)
    assert sorted(p.name for p in sampler.prior_studies(study)) == ["good-1", "good-2"]
    messages = [r.getMessage() for r in metahpo_log.records]
    assert sum("left out prior study 'odd'" in m for m in messages) == 1


def test_a_categorical_with_equal_choices_of_one_type_is_modelled_as_optuna_suggests_it(
    tmp_path: Path, metahpo_log: pytest.LogCaptureFixture
) -> None:
    # Optuna accepts (0.0, -0.0, 1.0) and finds a value's choice by equality: -0.0 is never suggested
    def objective(t: optuna.Trial) -> float:
        return t.suggest_float("x", 0, 1) + t.suggest_categorical("c", [0.0, -0.0, 1.0])

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    optuna.create_study(
        storage=url, study_name="odd", sampler=optuna.samplers.RandomSampler(seed=1)
    ).optimize(objective, n_trials=8)
    make_prior(url, "good", 1.0, n=10)
    target = optuna.create_study(storage=url, study_name="target", sampler=MetaSampler(seed=0))
    target.optimize(objective, n_trials=5)
    assert sorted(p.name for p in target.sampler.prior_studies(target)) == ["good", "odd"]  # type: ignore[attr-defined]
    assert [t.system_attrs["metahpo:phase"] for t in target.trials][-1] == "mtgp"
    alone = optuna.create_study(sampler=MetaSampler(source_studies=[], seed=0))
    alone.optimize(objective, n_trials=12)
    assert "fallback" not in {t.system_attrs.get("metahpo:phase") for t in alone.trials}
    assert not [r for r in metahpo_log.records if r.levelname == "WARNING"]


def test_a_misspelt_sqlite_path_or_a_pattern_that_matches_nothing_is_reported(
    tmp_path: Path, metahpo_log: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    make_prior(url, "xgb-1", 1.0, n=10)
    missing = tmp_path / "rnus.db"
    sampler = MetaSampler(source_studies=[f"sqlite:///{missing}::xgb-*", f"{url}::lgbm-*"], seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(quadratic(1.0), n_trials=2)
    _complete(study, 2)
    assert not missing.exists()  # opening it would have created an empty database
    messages = [r.getMessage() for r in metahpo_log.records]
    assert sum("no SQLite database at" in m and "source_studies[0]" in m for m in messages) == 1
    assert sum("no prior study matching 'lgbm-*'" in m for m in messages) == 1


def test_unreachable_knowledge_base_warns_and_the_sampler_runs_without_priors(
    metahpo_log: pytest.LogCaptureFixture,
) -> None:
    kb = KnowledgeBase("postgresql+psycopg://nobody@127.0.0.1:1/none")
    study = optuna.create_study(sampler=MetaSampler(source_studies=[], knowledge_base=kb, seed=0))
    study.optimize(quadratic(1.0), n_trials=3)
    _complete(study, 3)
    assert any(
        "could not read prior studies from knowledge_base" in r.getMessage() for r in metahpo_log.records
    )
    assert study.trials[-1].system_attrs["metahpo:phase"] == "startup"


def test_empty_knowledge_base_means_a_plain_gp_sampler(tmp_path: Path) -> None:
    kb = KnowledgeBase(f"sqlite:///{tmp_path / 'empty.db'}")
    sampler = MetaSampler(source_studies=[], knowledge_base=kb, seed=0, n_startup_trials=3)
    study = optuna.create_study(sampler=sampler)
    study.optimize(quadratic(1.0), n_trials=5)
    _complete(study, 5)
    # the first trial has no relative search space yet: Optuna asks the independent sampler
    phases = [t.system_attrs.get("metahpo:phase") for t in study.trials]
    assert phases == [None, "startup", "startup", "gp", "gp"]


def test_prior_storage_deleted_mid_run_does_not_matter_once_read(tmp_path: Path) -> None:
    path = tmp_path / "priors.db"
    make_prior(f"sqlite:///{path}", "prior", 1.0, n=20)
    study = optuna.create_study(sampler=MetaSampler(source_studies=[f"sqlite:///{path}::*"], seed=0))
    study.optimize(quadratic(1.0), n_trials=3)
    path.unlink()
    study.optimize(quadratic(1.0), n_trials=3)
    _complete(study, 6)
    assert study.trials[-1].system_attrs["metahpo:phase"] == "mtgp"


def test_nan_inf_none_failed_and_pruned_trials_in_target_and_priors() -> None:
    dists = {"x": FloatDistribution(-5, 5)}
    prior = optuna.create_study(study_name="prior")
    prior.add_trials(
        [
            create_trial(params={"x": x}, distributions=dists, value=(x - 1) ** 2)
            for x in (-4.0, -1.0, 0.5, 2.0, 4.0)
        ]
        + [create_trial(params={"x": 1.0}, distributions=dists, state=TrialState.FAIL)]
        + [
            create_trial(
                params={"x": 3.0}, distributions=dists, state=TrialState.PRUNED, intermediate_values={1: 9.0}
            )
        ]
    )
    outcomes = iter(["nan", "inf", "none", "raise", "prune", *["ok"] * 10])

    def objective(trial: optuna.Trial) -> float | None:
        x = trial.suggest_float("x", -5, 5)
        kind = next(outcomes)
        if kind == "raise":
            raise RuntimeError("objective failed")
        if kind == "prune":
            raise optuna.TrialPruned()
        return {"nan": math.nan, "inf": math.inf, "none": None}.get(kind, (x - 1.2) ** 2)

    sampler = MetaSampler(source_studies=[prior], seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=15, catch=(RuntimeError,))  # type: ignore[arg-type]
    states = [t.state for t in study.trials]
    assert len(states) == 15
    assert states[:5] == [
        TrialState.FAIL,
        TrialState.COMPLETE,
        TrialState.FAIL,
        TrialState.FAIL,
        TrialState.PRUNED,
    ]
    assert all(s == TrialState.COMPLETE for s in states[5:])
    assert len(sampler.prior_studies(study)[0].trials) == 5  # only the COMPLETE prior trials
    assert study.trials[-1].system_attrs["metahpo:phase"] == "mtgp"
    assert study.best_value < 0.05


def test_degenerate_and_conflicting_priors_are_skipped_and_counted() -> None:
    choices = [1, "1", None, 2.5]  # categorical values of mixed types
    space = {"x": FloatDistribution(-5, 5), "c": CategoricalDistribution(choices)}

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -5, 5)
        c = trial.suggest_categorical("c", choices)
        return (x - 1) ** 2 + (0.0 if c == "1" else 1.0)

    def study_of(name: str, rows: list[tuple[dict, float]], dists: dict | None = None) -> optuna.Study:
        s = optuna.create_study(study_name=name)
        s.add_trials([create_trial(params=p, distributions=dists or space, value=v) for p, v in rows])
        return s

    good = optuna.create_study(study_name="good", sampler=optuna.samplers.RandomSampler(seed=0))
    good.optimize(objective, n_trials=25)
    single = study_of("single", [({"x": 1.0, "c": "1"}, 0.0)])
    constant = study_of("constant", [({"x": float(i), "c": 1}, 3.0) for i in range(4)])
    conflict_space = {"x": CategoricalDistribution(["low", "high"]), "z": FloatDistribution(0, 1)}
    conflicting = study_of(
        "conflicting", [({"x": "low", "z": 0.1 * i}, float(i)) for i in range(5)], conflict_space
    )
    sampler = MetaSampler(source_studies=[good, single, constant, conflicting], seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=8)
    _complete(study, 8)
    info = json.loads(study.trials[-1].system_attrs["metahpo:info"])
    assert info["n_prior_studies_used"] == 1
    assert info["n_prior_studies_skipped"] == 3
    assert study.best_value < 1.0  # found the "1" string choice, not the int 1


def test_fifty_dimensional_space() -> None:
    def objective(trial: optuna.Trial) -> float:
        return sum((trial.suggest_float(f"x{i}", 0, 1) - 0.3) ** 2 for i in range(50))

    prior = optuna.create_study(study_name="prior", sampler=optuna.samplers.RandomSampler(seed=1))
    prior.optimize(objective, n_trials=30)
    study = optuna.create_study(sampler=MetaSampler(source_studies=[prior], seed=0))
    study.optimize(objective, n_trials=8)
    _complete(study, 8)
    assert {t.system_attrs["metahpo:phase"] for t in study.trials[3:]} == {"mtgp"}


def test_resuming_a_study_with_the_same_seed_gives_the_same_suggestions(tmp_path: Path) -> None:
    prior = make_prior(None, "prior", 1.0, n=20)
    first = tmp_path / "first.db"
    study = optuna.create_study(
        storage=f"sqlite:///{first}", study_name="s", sampler=MetaSampler(source_studies=[prior], seed=3)
    )
    study.optimize(quadratic(1.0), n_trials=6)
    resumed = []
    for copy in ("a.db", "b.db"):
        shutil.copy(first, tmp_path / copy)
        again = optuna.load_study(
            study_name="s",
            storage=f"sqlite:///{tmp_path / copy}",
            sampler=MetaSampler(source_studies=[prior], seed=3),
        )
        again.optimize(quadratic(1.0), n_trials=4)
        resumed.append([t.params for t in again.trials[6:]])
    assert resumed[0] == resumed[1]
