"""MetaSampler behaviour beyond the conformance suites."""

from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from _optuna_helpers import make_prior, quadratic
from optuna.trial import TrialState

from metahpo import KnowledgeBase, PriorStudy, PriorTrial
from optuna_meta import MetaSampler, _compat, load_prior_studies
from optuna_meta._priors import resolve


def test_import_does_not_import_torch() -> None:
    code = "import optuna_meta, sys; print('torch' in sys.modules, 'botorch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_no_argument_learns_from_the_other_studies_of_the_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    for i, shift in enumerate((1.0, 1.2)):
        make_prior(url, f"prior-{i}", shift, n=25, seed=i)
    study = optuna.create_study(storage=url, study_name="target", sampler=MetaSampler(seed=0))
    study.optimize(quadratic(1.1), n_trials=5)
    sampler = study.sampler
    assert isinstance(sampler, MetaSampler)
    assert sorted(p.name for p in sampler.prior_studies(study)) == ["prior-0", "prior-1"]  # not itself
    attrs = [t.system_attrs for t in study.trials]
    assert [a["metahpo:phase"] for a in attrs] == ["portfolio"] * 3 + ["mtgp"] * 2
    assert '"n_prior_trials_used": 50' in attrs[-1]["metahpo:info"]
    # The zero-shot start beats random search's typical first trials on this easy transfer.
    assert min(t.value for t in study.trials[:3]) < 1.5


def test_explicit_sources_url_pattern_trials_and_knowledge_base(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'team.db'}"
    make_prior(url, "xgb-a", 1.0, n=10)
    make_prior(url, "lgbm-a", 1.0, n=10)
    study_obj = make_prior(None, "in-memory", 0.9, n=10)
    kb = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    kb.add_study(PriorStudy("kb-study", (PriorTrial({"x": 1.0}, (0.0,)), PriorTrial({"x": 2.0}, (1.0,)))))
    sampler = MetaSampler(
        source_studies=[study_obj, f"{url}::xgb-*", study_obj.trials[:5]], knowledge_base=kb.url, seed=0
    )
    target = optuna.create_study(sampler=sampler)
    names = [p.name for p in sampler.prior_studies(target)]
    assert names == ["in-memory", "xgb-a", "trials[2]", "kb-study"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"source_studies": "sqlite:///x.db"}, TypeError, "source_studies must be a list"),
        ({"source_studies": [42]}, TypeError, r"source_studies\[0\] must be"),
        ({"max_prior_points": -1}, ValueError, "max_prior_points"),
        ({"device": "gpu"}, ValueError, "device must be"),
        ({"knowledge_base": "kb.db"}, ValueError, "knowledge_base must be a SQLAlchemy URL"),
        ({"n_startup_trials": "5"}, ValueError, "n_startup_trials must be an integer >= 0"),
        ({"n_startup_trials": 2.5}, ValueError, "n_startup_trials must be an integer"),
        ({"max_source_studies": None}, ValueError, "max_source_studies must be an integer"),
        ({"max_source_studies": 2.5}, ValueError, "max_source_studies must be an integer"),
        ({"max_prior_points": 1.5}, ValueError, "max_prior_points must be an integer"),
        ({"min_overlap": "0.5"}, ValueError, r"min_overlap must be a number in \[0, 1\]"),
        ({"device": "cuda:abc"}, ValueError, "device must be"),
        ({"surrogate_cache": 42}, TypeError, "surrogate_cache must be a path"),
        ({"seed": -1}, ValueError, r"seed must be None or an integer in \[0, 2\*\*32 - 1\]"),
        ({"seed": 2**32}, ValueError, "seed must be None or an integer"),
        ({"seed": "abc"}, ValueError, "seed must be None or an integer"),
        ({"independent_sampler": 42}, TypeError, "independent_sampler must be an Optuna sampler"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        MetaSampler(**kwargs)


def test_bad_source_url_is_named_at_construction() -> None:
    with pytest.raises(ValueError, match=r"source_studies\[0\] must be 'URL'"):
        MetaSampler(source_studies=["not-a-url::x"])


def test_same_seed_same_sequence() -> None:
    prior = make_prior(None, "p", 1.0, n=20)

    def run() -> list[dict]:
        s = optuna.create_study(sampler=MetaSampler(source_studies=[prior], seed=3))
        s.optimize(quadratic(1.0), n_trials=6)
        return [t.params for t in s.trials]

    assert run() == run()


def test_unnamed_in_memory_priors_give_the_same_sequence_in_every_run() -> None:
    # An unnamed in-memory study gets a new random name each time it is made.  The random part of
    # each prior's subsample was seeded by that name, so the same priors and seed gave another
    # sequence in every process; it is now seeded by the study's data.
    def run() -> list[dict]:
        priors = []
        for i in range(2):  # 60 trials each: more than the quota of 16 points per study
            prior = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=i))
            prior.optimize(quadratic(1.0 + 0.1 * i), n_trials=60)
            priors.append(prior)
        s = optuna.create_study(sampler=MetaSampler(source_studies=priors, seed=3, max_prior_points=32))
        s.optimize(quadratic(1.0), n_trials=6)
        return [t.params for t in s.trials]

    assert run() == run()


def test_enqueued_trials_full_and_partial() -> None:
    prior = make_prior(None, "p", 1.0, n=20)
    study = optuna.create_study(sampler=MetaSampler(source_studies=[prior], seed=0, n_startup_trials=1))
    study.optimize(quadratic(1.0), n_trials=2)
    study.enqueue_trial({"x": 4.5, "y": 1.0, "c": "a", "k": 2})
    study.enqueue_trial({"k": 7, "c": "c"})
    study.optimize(quadratic(1.0), n_trials=2)
    full, partial = study.trials[2].params, study.trials[3].params
    assert full == {"x": 4.5, "y": 1.0, "c": "a", "k": 2}
    assert partial["k"] == 7
    assert partial["c"] == "c"
    assert study.trials[3].system_attrs["metahpo:phase"] == "mtgp"


def test_pickle_round_trip_keeps_priors_and_works(tmp_path: Path) -> None:
    prior = make_prior(None, "p", 1.0, n=15)
    sampler = MetaSampler(source_studies=[prior], seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(quadratic(1.0), n_trials=4)  # builds caches and a fitted model
    clone = pickle.loads(pickle.dumps(sampler))
    other = optuna.create_study(sampler=clone)
    other.optimize(quadratic(1.0), n_trials=4)
    assert [p.name for p in clone.prior_studies(other)] == ["p"]
    assert all(t.state == TrialState.COMPLETE for t in other.trials)


def test_a_failing_model_falls_back_once_and_the_study_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import metahpo._engine

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated surrogate failure")

    monkeypatch.setattr(metahpo._engine.MetaEngine, "_suggest", boom)
    study = optuna.create_study(sampler=MetaSampler(source_studies=[], seed=0))
    optuna.logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING):
            study.optimize(quadratic(1.0), n_trials=5)
    finally:
        optuna.logging.disable_propagation()
    assert len(study.trials) == 5
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    # One warning (for the first trial); later fallbacks are logged at debug level only.
    warned = {r.getMessage() for r in caplog.records if "simulated surrogate failure" in r.getMessage()}
    assert len(warned) == 1
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    assert study.trials[-1].system_attrs["metahpo:phase"] == "fallback"


def test_non_finite_values_and_failed_trials_do_not_break_the_model() -> None:
    values = iter([1.0, float("inf"), 2.0, None, 0.5, 3.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8])

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        v = next(values)
        if v is None:
            raise ValueError("objective failed")
        return v

    study = optuna.create_study(sampler=MetaSampler(source_studies=[], seed=0, n_startup_trials=2))
    study.optimize(objective, n_trials=13, catch=(ValueError,))
    assert len(study.trials) == 13
    assert study.trials[-1].system_attrs["metahpo:phase"] == "gp"


def test_multi_objective_studies_are_modelled(metahpo_log: pytest.LogCaptureFixture) -> None:
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x, y = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
        trial.set_constraint("sum", x + y - 1.5)
        return x**2 + y**2, (x - 1) ** 2 + (y - 1) ** 2

    prior = make_prior(None, "p", 1.0, n=10)
    study = optuna.create_study(
        directions=["minimize", "minimize"], sampler=MetaSampler(source_studies=[prior], seed=0)
    )
    study.optimize(objective, n_trials=14)
    phases = [t.system_attrs.get("metahpo:phase") for t in study.trials]
    assert phases[-4:] == ["gp"] * 4
    # the single-objective prior has another number of objectives: skipped, and recorded why;
    # with nothing to learn from, Optuna's GPSampler models the objectives and the constraint
    info = json.loads(study.trials[-1].system_attrs["metahpo:info"])
    assert info == {"sampler": "optuna.samplers.GPSampler"}
    from optuna_meta.visualization import alignment_records

    assert [a["skipped_study"] for a in alignment_records(study)] == ["objective_count"]
    assert not [r for r in metahpo_log.records if "could not use its model" in r.getMessage()]
    # model trials sit near the Pareto set x = y (both objectives pull along that line)
    late = study.trials[-6:]
    assert np.median([abs(t.params["x"] - t.params["y"]) for t in late]) < 0.2


def test_multi_objective_priors_warm_start_the_study() -> None:
    def objective_for(shift: float):  # type: ignore[no-untyped-def]
        def objective(trial: optuna.Trial) -> tuple[float, float]:
            x, y = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
            trial.set_constraint("y", y - 0.9)
            return (x - shift) ** 2 + y**2, (x - 1 + shift) ** 2 + (y - 0.2) ** 2

        return objective

    prior = optuna.create_study(
        directions=["minimize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=1)
    )
    prior.optimize(objective_for(0.1), n_trials=30)
    study = optuna.create_study(
        directions=["minimize", "minimize"], sampler=MetaSampler(source_studies=[prior], seed=0)
    )
    study.optimize(objective_for(0.15), n_trials=8)
    phases = [t.system_attrs["metahpo:phase"] for t in study.trials]
    assert phases[:3] == ["portfolio"] * 3
    assert set(phases[3:]) == {"gp"}  # then the study alone is modelled, by GPSampler here
    first = json.loads(study.trials[0].system_attrs["metahpo:info"])
    assert first["sources"] == [prior.study_name]
    infos = [json.loads(t.system_attrs["metahpo:info"]) for t in study.trials[3:]]
    assert infos == [{"sampler": "optuna.samplers.GPSampler"}] * 5  # it reads the constraint too
    # the portfolio serves configurations from the prior's Pareto front
    front = {tuple(sorted(t.params.items())) for t in prior.best_trials}
    assert tuple(sorted(study.trials[0].params.items())) in front


def test_parallel_threads_do_not_duplicate_suggestions() -> None:
    prior = make_prior(None, "p", 1.0, n=20)
    study = optuna.create_study(sampler=MetaSampler(source_studies=[prior], seed=0))
    study.optimize(quadratic(1.0), n_trials=12, n_jobs=3)
    params = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(study.trials) == 12
    assert len(set(params)) == 12


def test_conditional_parameters_are_modelled_where_active() -> None:
    def objective(trial: optuna.Trial) -> float:
        kind = trial.suggest_categorical("kind", ["a", "b"])
        if kind == "a":
            return trial.suggest_float("a_x", 0, 1)
        return 1 + trial.suggest_int("b_k", 0, 5)

    sampler = MetaSampler(source_studies=[], seed=0, n_startup_trials=3)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=8)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    # the conditional parameters are part of the modelled space once seen
    space = sampler.infer_relative_search_space(study, study.trials[-1])
    kinds = {t.params["kind"] for t in study.trials}
    assert set(space) == {"kind"} | ({"a_x"} if "a" in kinds else set()) | (
        {"b_k"} if "b" in kinds else set()
    )
    relative = json.loads(study.trials[-1].system_attrs["metahpo:relative_params"])
    assert set(relative) == set(space)


def test_storage_access_helper_reaches_the_rdb_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    study = optuna.create_study(storage=url, study_name="s")
    trial = study.ask()
    storage = _compat.study_storage(study)
    storage.set_trial_system_attr(_compat.trial_id(study, study.trials[0]), "k", "v")
    study.tell(trial, 1.0)
    assert optuna.load_study(study_name="s", storage=url).trials[0].system_attrs["k"] == "v"


def _nine_epochs(trial: optuna.Trial, final: float) -> float:
    """A run of nine epochs whose reported value falls to ``final``, pruned where the pruner says."""
    for step in range(1, 10):
        trial.report(final + 10.0 / step, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return final


def test_under_hyperband_every_hook_reads_every_bracket() -> None:
    spaces: list[int] = []

    class Spy(MetaSampler):
        def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
            space = super().infer_relative_search_space(study, trial)
            spaces.append(len(space))
            return space

    def study(name: str) -> optuna.Study:
        return optuna.create_study(
            study_name=name,
            sampler=Spy(source_studies=[make_prior(shift=1.0)], seed=0),
            pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=9),
        )

    def suggest(t: optuna.Trial) -> tuple[float, float]:
        return t.suggest_float("x", -5, 5), t.suggest_float("y", 1e-3, 10, log=True)

    # the pruner assigns brackets from its first call on (before it, every trial is in bracket 0)
    # before any trial finished: the portfolio's rows, parameter by parameter (sample_independent);
    # a running trial of another bracket holds its row too
    first = study("hb")
    t = first.ask()
    configs = [suggest(t)]
    t.report(1.0, 1)
    assert not t.should_prune()
    configs += [suggest(first.ask()) for _ in range(8)]
    assert len(set(configs)) == len(configs)
    # after one trial finished, every later trial, whatever its bracket, has a relative space
    later = study("hb-later")
    t = later.ask()
    suggest(t)
    _nine_epochs(t, 1.0)
    later.tell(t, 1.0)
    spaces.clear()
    for _ in range(8):
        suggest(later.ask())
    assert spaces == [2] * 8


@pytest.mark.parametrize("rdb", [False, True])
def test_whole_study_helper_sees_every_bracket_of_a_hyperband_study(tmp_path: Path, rdb: bool) -> None:
    seen: list[tuple[int, int]] = []  # (trials Optuna shows the sampler, trials of the whole study)

    class Recorder(optuna.samplers.RandomSampler):
        def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
            whole = _compat.whole_study(study)
            seen.append((len(study.get_trials(deepcopy=False)), len(whole.get_trials(deepcopy=False))))
            assert whole.study_name == study.study_name
            return {}

    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'h.db'}" if rdb else None,
        sampler=Recorder(seed=0),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=9),
    )
    study.optimize(lambda t: _nine_epochs(t, t.suggest_float("x", 0, 1)), n_trials=12)
    assert [w for _, w in seen] == list(range(1, 13))  # the trial itself and every earlier one
    assert any(shown < whole for shown, whole in seen)  # Optuna showed one bracket at a time
    plain = optuna.create_study()
    assert _compat.whole_study(plain) is plain


def test_no_prior_gp_is_not_worse_than_random_on_a_smooth_problem() -> None:
    def objective(trial: optuna.Trial) -> float:
        return sum((trial.suggest_float(f"x{i}", -3, 3) - 0.5) ** 2 for i in range(3))

    results = {"meta": [], "random": []}
    for seed in range(2):
        for name, sampler in (
            ("meta", MetaSampler(source_studies=[], seed=seed)),
            ("random", optuna.samplers.RandomSampler(seed=seed)),
        ):
            s = optuna.create_study(sampler=sampler)
            s.optimize(objective, n_trials=20)
            results[name].append(s.best_value)
    assert np.median(results["meta"]) < np.median(results["random"])


def test_alignment_summary_is_logged_once_per_space(caplog: pytest.LogCaptureFixture) -> None:
    prior = make_prior(None, "p", 1.0, n=10)
    study = optuna.create_study(sampler=MetaSampler(source_studies=[prior], seed=0))
    optuna.logging.set_verbosity(optuna.logging.INFO)
    optuna.logging.enable_propagation()
    try:
        with caplog.at_level(logging.INFO, logger="optuna.metahpo"):
            study.optimize(quadratic(1.0), n_trials=4)
    finally:
        optuna.logging.disable_propagation()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    summaries = {r.getMessage() for r in caplog.records if "prior alignment" in r.getMessage()}
    assert len(summaries) == 1
    assert "1 prior studies used (10 trials), 0 skipped" in summaries.pop()


def test_a_failed_configuration_is_never_proposed_again() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_int("x", 0, 20)
        if x <= 1:
            raise RuntimeError("out of memory")
        return float(x)

    study = optuna.create_study(sampler=MetaSampler(seed=0, n_startup_trials=4))
    study.optimize(objective, n_trials=20, catch=(RuntimeError,))
    failed = [t.params["x"] for t in study.trials if t.state == TrialState.FAIL]
    assert len(failed) == len(set(failed)) <= 2  # x = 0 and x = 1 at most once each
    assert study.best_value == 2


def test_conditional_branches_do_not_repeat_an_effective_configuration() -> None:
    def objective(trial: optuna.Trial) -> float:
        kind = trial.suggest_categorical("kind", ["a", "b"])
        k = trial.suggest_int(f"{kind}_k", 0, 49)
        return abs(k - 17) + (0.0 if kind == "a" else 5.0)

    study = optuna.create_study(sampler=MetaSampler(seed=0))
    study.optimize(objective, n_trials=30)
    seen = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(seen) - len(set(seen)) <= 1


@pytest.mark.parametrize("with_prior", [False, True])
def test_trials_in_flight_together_in_a_conditional_space_never_share_a_configuration(
    with_prior: bool,
) -> None:
    # 8 configurations in all: m="a" with k in 0-4, m="b" with j in u/v, m="c"; a running trial's
    # claim names k and j whatever its branch, and two claims that differ only in the parameters
    # of another branch are one configuration
    def objective(t: optuna.Trial) -> float:
        m = t.suggest_categorical("m", ["a", "b", "c"])
        if m == "a":
            return t.suggest_int("k", 0, 4) * 0.1
        if m == "b":
            return 1.0 + len(t.suggest_categorical("j", ["u", "vv"]))
        return 0.5

    prior = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    prior.optimize(objective, n_trials=12)
    for seed in range(3):
        sampler = MetaSampler(source_studies=[prior] if with_prior else [], seed=seed, n_startup_trials=3)
        study = optuna.create_study(sampler=sampler)
        for _ in range(4):
            trials = [study.ask(), study.ask()]
            values = [objective(t) for t in trials]
            for t, v in zip(trials, values, strict=True):
                study.tell(t, v)
        seen = [tuple(sorted(t.params.items())) for t in study.trials]
        assert len(set(seen)) == 8, seen


def test_one_sampler_passed_to_a_second_study_reads_that_studys_priors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    make_prior(url, "b", 1.0, n=10)
    sampler = MetaSampler(seed=0)  # the other studies of the storage
    a = optuna.create_study(storage=url, study_name="a", sampler=sampler)
    a.optimize(quadratic(1.0), n_trials=3)
    assert [p.name for p in sampler.prior_studies(a)] == ["b"]
    b = optuna.load_study(storage=url, study_name="b", sampler=sampler)
    assert [(p.name, len(p.trials)) for p in sampler.prior_studies(b)] == [("a", 3)]  # not itself
    alone = optuna.create_study(sampler=sampler)  # in memory: no other study
    assert sampler.prior_studies(alone) == []
    # back to the first study: its own engine, its alignment recorded for each study
    assert [p.name for p in sampler.prior_studies(a)] == ["b"]
    b.optimize(quadratic(1.0), n_trials=1)
    assert any("metahpo:alignment" in t.system_attrs for t in b.trials)


def test_two_workers_with_the_same_seed_and_no_priors_differ() -> None:
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(storage=storage, study_name="s")
    workers = [
        optuna.load_study(study_name="s", storage=storage, sampler=MetaSampler(seed=0)) for _ in range(2)
    ]
    for _ in range(5):
        trials = [w.ask() for w in workers]
        values = [(t.suggest_float("x", -3, 3), t.suggest_int("k", 0, 9)) for t in trials]
        assert values[0] != values[1]
        for w, t, (x, k) in zip(workers, trials, values, strict=True):
            w.tell(t, (x - 1) ** 2 + k)


def test_a_partially_enqueued_first_trial_records_what_it_evaluates() -> None:
    prior = make_prior(None, "p", 1.0, n=20)
    study = optuna.create_study(sampler=MetaSampler(source_studies=[prior], seed=0))
    study.enqueue_trial({"x": 4.5, "c": "a"})
    study.optimize(quadratic(1.0), n_trials=1)
    trial = study.trials[0]
    assert trial.params["x"] == 4.5
    assert trial.params["c"] == "a"
    claim = json.loads(trial.system_attrs["metahpo:relative_params"])
    assert claim == trial.params  # other workers see what was evaluated, not another portfolio row


def test_a_crashed_workers_running_trial_stops_counting_after_a_while() -> None:
    import datetime

    from optuna_meta import _claims

    prior = make_prior(None, "p", 1.0, n=20)
    study = optuna.create_study(sampler=MetaSampler(source_studies=[prior], seed=0))
    study.optimize(quadratic(1.0), n_trials=3)
    crashed = study.ask()  # a worker took this trial and died
    crashed.suggest_float("x", -5, 5)
    fresh = study.ask()
    frozen = study.trials[fresh.number]
    assert [t.number for t in _claims.running_trials(study)] == [crashed.number, fresh.number]
    pending, _ = _claims.pending(study, frozen, {})
    assert len(pending) == 1  # the crashed one is still within its time
    later = datetime.datetime.now() + datetime.timedelta(hours=25)
    assert _claims.running_trials(study, now=later) == []  # both are older than a day by then


def test_prior_studies_bring_their_failed_configurations(tmp_path: Path) -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 20.0)
        if x < 4.0:
            raise RuntimeError("diverged")
        return x

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    prior = optuna.create_study(study_name="prior", storage=url, sampler=optuna.samplers.RandomSampler(0))
    prior.optimize(objective, n_trials=25, catch=(RuntimeError,))
    n_failed = sum(t.state == TrialState.FAIL for t in prior.trials)
    assert n_failed > 0
    for loaded in (load_prior_studies(url)[0], resolve(prior, 0)[0]):
        assert len(loaded.failed) == n_failed
        assert all(f["x"] < 4.0 for f in loaded.failed)
        assert len(loaded.trials) == 25 - n_failed


def test_a_running_trial_without_a_claim_is_no_clash() -> None:
    from optuna_meta import _claims

    study = optuna.create_study()
    other = study.ask()
    other.suggest_int("k", 0, 9)  # another sampler's trial, half-way through its suggestions
    ours = study.ask()
    frozen = {t.number: t for t in study.get_trials(deepcopy=False)}
    k = other.params["k"]
    assert _claims.clash(study, frozen[ours.number], {"k": k, "x": 0.5}) is None
    _claims.set_attr(study, frozen[other.number], _claims.RELATIVE_KEY, json.dumps({"k": k, "x": 0.5}))
    assert _claims.clash(study, frozen[ours.number], {"k": k, "x": 0.5}) == other.number
    # a running trial without a claim that has set every parameter is compared
    third = study.ask()
    third.suggest_int("k", 0, 9)
    third.suggest_float("x", 0.0, 1.0)
    frozen = {t.number: t for t in study.get_trials(deepcopy=False)}
    assert _claims.clash(study, frozen[ours.number], dict(third.params)) == third.number


def test_pruned_trials_teach_the_model_through_their_learning_curves() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -5, 5)
        y = trial.suggest_float("y", 1e-3, 10, log=True)
        c = trial.suggest_categorical("c", ["a", "b", "c"])
        k = trial.suggest_int("k", 1, 8)
        final = (x - 1.1) ** 2 + 0.1 * abs(k - 4) + (0.0 if c == "b" else 1.0) + 0.01 * y
        for step in (1, 2, 3):
            trial.report(final + 1.0 / step, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return final

    study = optuna.create_study(
        sampler=MetaSampler(source_studies=[make_prior(shift=1.0)], seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3),
    )
    study.optimize(objective, n_trials=16)
    estimated = []
    for t in study.trials:
        info = json.loads(t.system_attrs["metahpo:info"])
        if t.system_attrs["metahpo:phase"] in ("mtgp", "gp", "neural") and "sampler" not in info:
            # every pruned trial before it is ranked against the completed ones (3 or more)
            before = study.trials[: t.number]
            n_complete = sum(s.state == TrialState.COMPLETE for s in before)
            n_pruned = sum(s.state == TrialState.PRUNED for s in before)
            expected = n_pruned if n_complete >= 3 else 0
            assert info.get("n_pruned_estimated", 0) == expected
            estimated.append(expected)
    assert max(estimated) >= 2  # the study did prune, and the model learnt from it


def test_a_pruned_trial_with_an_odd_learning_curve_costs_its_own_entries_only() -> None:
    # trials added with create_trial can hold steps and values that trial.report refuses
    dists = {"x": optuna.distributions.FloatDistribution(-5, 5)}
    study = optuna.create_study(sampler=MetaSampler(source_studies=[make_prior(shift=1.0)], seed=0))
    rng = np.random.default_rng(0)
    for x in rng.uniform(-5, 5, size=6).tolist():
        study.add_trial(
            optuna.trial.create_trial(
                params={"x": x},
                distributions=dists,
                value=(x - 1) ** 2,
                intermediate_values={1: (x - 1) ** 2 + 1},
            )
        )
    odd: dict[Any, Any] = {"a": 1.0, 1.5: 2.0, 2: None, 3: "x", 4: True, 1: 30.0}
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 4.5}, distributions=dists, state=TrialState.PRUNED, intermediate_values=odd
        )
    )
    study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1) ** 2, n_trials=2)
    for t in study.trials[-2:]:
        assert t.system_attrs["metahpo:phase"] != "fallback"
        assert json.loads(t.system_attrs["metahpo:info"]).get("n_pruned_estimated") == 1  # step 1 served


def test_under_hyperband_the_sampler_learns_from_every_bracket_and_repeats_no_configuration() -> None:
    # HyperbandPruner shows a sampler one bracket's trials at a time: read alone, each bracket
    # started the portfolio over (trials 0, 1 and 2 were one configuration) and saw a fraction of
    # the study's results
    def objective(trial: optuna.Trial) -> float:
        x, y = trial.suggest_float("x", -5, 5), trial.suggest_float("y", -5, 5)
        return _nine_epochs(trial, (x - 1.1) ** 2 + (y + 1) ** 2)

    study = optuna.create_study(
        sampler=MetaSampler(source_studies=[make_prior(shift=1.0)], seed=0),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=9),
    )
    study.optimize(objective, n_trials=18)
    configs = [(t.params["x"], t.params["y"]) for t in study.trials]
    assert len(set(configs)) == len(configs)
    checked = 0
    for t in study.trials:
        info = json.loads(t.system_attrs["metahpo:info"])
        before = study.trials[: t.number]
        n_complete = sum(s.state == TrialState.COMPLETE for s in before)
        if (
            t.system_attrs["metahpo:phase"] in ("mtgp", "gp", "neural")
            and "sampler" not in info
            and n_complete >= 3
        ):
            # every pruned trial of the study, whatever its bracket, is ranked against the completed ones
            assert info.get("n_pruned_estimated", 0) == sum(s.state == TrialState.PRUNED for s in before)
            checked += 1
    assert checked >= 3
    assert any(t.state == TrialState.PRUNED for t in study.trials)


def _constrained(trial: optuna.Trial) -> float:
    x, y = trial.suggest_float("x", -3, 3), trial.suggest_float("y", -3, 3)
    trial.set_constraint("latency", x + 0.5 * y - 1.0)
    return (x - 2) ** 2 + (y - 1) ** 2  # constrained optimum 1.8, unconstrained 0 (infeasible)


def _constrained_prior(n: int = 10) -> optuna.Study:
    """A prior study of ``_constrained`` shifted by 0.3 in x (its constraint recorded too)."""

    def shifted(trial: optuna.Trial) -> float:
        x, y = trial.suggest_float("x", -3, 3), trial.suggest_float("y", -3, 3)
        trial.set_constraint("latency", x - 0.3 + 0.5 * y - 1.0)
        return (x - 2.3) ** 2 + (y - 1) ** 2

    prior = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    prior.optimize(shifted, n_trials=n)
    return prior


@pytest.mark.parametrize("with_prior", [False, True])
def test_constraints_are_modelled_and_the_best_feasible_result_improves(with_prior: bool) -> None:
    sources = [_constrained_prior()] if with_prior else []
    study = optuna.create_study(sampler=MetaSampler(source_studies=sources, seed=0))
    study.optimize(_constrained, n_trials=20)
    feasible = [t for t in study.trials if all(v <= 0 for v in t.constraints.values())]
    assert len(feasible) >= 12  # ignoring the constraint, the model heads for (2, 1): infeasible
    assert min(t.value for t in feasible if t.value is not None) < 2.0
    info = json.loads(study.trials[-1].system_attrs["metahpo:info"])
    if with_prior:
        assert info["n_constraint_models"] == 1  # the engine's, multi-task with the prior's record
    else:
        assert info == {"sampler": "optuna.samplers.GPSampler"}  # GPSampler reads constraints too


def test_the_feasibility_floor_serves_single_objective_studies_after_a_feasible_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import metahpo._engine as engine

    seen: list[tuple[int, bool, float | None]] = []  # (objectives, acquisition given, floor)
    n_objectives = 1

    class Recording(engine.FeasibilityWeighted):
        def __init__(self, acquisition: Any, terms: Any, *, floor: float | None = None) -> None:
            seen.append((n_objectives, acquisition is not None, floor))
            super().__init__(acquisition, terms, floor=floor)

    monkeypatch.setattr(engine, "FeasibilityWeighted", Recording)

    # with priors, so that the engine models the study (without, Optuna's GPSampler does)
    prior = _constrained_prior()
    sampler = MetaSampler(source_studies=[prior], seed=0)
    optuna.create_study(sampler=sampler).optimize(_constrained, n_trials=14)
    n_objectives = 2
    mo_prior = optuna.create_study(
        directions=["minimize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=2)
    )
    mo_prior.optimize(lambda t: (_constrained(t), (t.params["x"] + 1.2) ** 2), n_trials=10)

    def mo_objective(t: optuna.Trial) -> tuple[float, float]:
        value = _constrained(t)
        if t.number == 4:  # a failed trial: the engine's GPs serve the rest (GPSampler would not)
            raise ValueError("failed")
        return value, (t.params["x"] + 1) ** 2

    optuna.create_study(
        directions=["minimize", "minimize"], sampler=MetaSampler(source_studies=[mo_prior], seed=0)
    ).optimize(mo_objective, n_trials=14, catch=(ValueError,))
    single = [floor for k, given, floor in seen if k == 1 and given]
    assert single
    assert set(single) == {engine._FEASIBILITY_FLOOR}
    assert {floor for k, _, floor in seen if k == 2} == {None}  # not measured there: no floor
    assert any(k == 2 for k, _, _ in seen)


def test_the_model_choice_and_its_rank_correlations_reach_the_trial_record() -> None:
    # from 15 results the study's own GP competes with the transfer model; once both predicted 15
    # results, their Kendall taus are stored with each trial (a dict: the adapter keeps it)
    prior = make_prior(None, "p", 1.0, n=20)
    study = optuna.create_study(sampler=MetaSampler(source_studies=[prior], seed=0, n_startup_trials=3))
    study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1.0) ** 2, n_trials=32)
    info = json.loads(study.trials[-1].system_attrs["metahpo:info"])
    assert info["served_by"] in ("mtgp", "target_gp")
    assert set(info["prequential_tau"]) == {"mtgp", "target_gp"}
    assert all(-1.0 <= v <= 1.0 for v in info["prequential_tau"].values())


@pytest.mark.parametrize("n_finished", [1, 3])
def test_a_first_trial_is_modelled_when_others_finish_while_it_loads_the_priors(n_finished: int) -> None:
    # A worker starts its first trial on an empty study (no relative search space) and loads the
    # priors; meanwhile other workers' trials finish.  Its trial is then served as any later trial
    # (a portfolio row not evaluated yet after one result, the model after three), not at random.
    prior = make_prior(None, "p", 1.0, n=20)
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(storage=storage, study_name="s")
    objective = quadratic(1.0)
    fast = optuna.load_study(study_name="s", storage=storage, sampler=MetaSampler(source_studies=[prior]))
    first = fast.ask()
    first_value = objective(first)

    sampler = MetaSampler(source_studies=[prior], seed=0)
    load = sampler._get_engine

    def get_engine(study: optuna.Study) -> object:
        if study.study_name not in sampler._engines:  # other workers' trials finish while this one loads
            fast.tell(first, first_value)
            fast.optimize(objective, n_trials=n_finished - 1)
        return load(study)

    sampler._get_engine = get_engine  # type: ignore[method-assign]
    slow = optuna.load_study(study_name="s", storage=storage, sampler=sampler)
    trial = slow.ask()
    slow.tell(trial, objective(trial))
    trials = fast.trials
    assert trial.number == 1
    assert len(trials) == n_finished + 1
    phase = trials[1].system_attrs.get("metahpo:phase")
    assert phase == "portfolio" if n_finished == 1 else phase in {"mtgp", "gp", "neural"}
    seen = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(seen)) == len(seen)


def _plain_history(n: int = 12) -> list[optuna.trial.FrozenTrial]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(quadratic(1.0), n_trials=n)
    return study.trials


def _next_params(
    sampler: optuna.samplers.BaseSampler, trials: list[optuna.trial.FrozenTrial], n_objectives: int = 1
) -> dict:
    study = optuna.create_study(sampler=sampler, directions=["minimize"] * n_objectives)
    study.add_trials(trials)
    trial = study.ask()
    quadratic(1.0)(trial)
    return {**trial.params, "_attrs": study.trials[-1].system_attrs}


def test_with_no_priors_the_model_trials_are_optunas_gpsampler() -> None:
    trials = _plain_history()
    ours = _next_params(MetaSampler(source_studies=[], seed=7), trials)
    theirs = _next_params(optuna.samplers.GPSampler(seed=7, n_startup_trials=0), trials)
    attrs = ours.pop("_attrs")
    theirs.pop("_attrs")
    assert attrs["metahpo:phase"] == "gp"
    assert json.loads(attrs["metahpo:info"]) == {"sampler": "optuna.samplers.GPSampler"}
    assert ours.keys() == theirs.keys()
    assert ours == theirs


def _revalued(trials: list[optuna.trial.FrozenTrial], values: list[float]) -> list[optuna.trial.FrozenTrial]:
    """The same configurations with other values (minimised)."""
    return [
        optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=v)
        for t, v in zip(trials, values, strict=True)
    ]


def test_with_priors_gpsampler_does_not_serve_while_the_study_improves() -> None:
    prior = make_prior(None, "p", 1.0, n=20)
    trials = _revalued(_plain_history(), [12.0 - i for i in range(12)])
    attrs = _next_params(MetaSampler(source_studies=[prior], seed=7), trials)["_attrs"]
    assert attrs["metahpo:phase"] in ("mtgp", "neural")


def test_with_priors_gpsampler_takes_every_other_trial_while_the_study_stalls() -> None:
    prior = make_prior(None, "p", 1.0, n=20)
    # the best result came first; the 11 after it are worse: stalled (4 parameters, patience 4)
    trials = _revalued(_plain_history(), [0.0, *(float(i) for i in range(1, 12))])
    ours = _next_params(MetaSampler(source_studies=[prior], seed=7), trials)  # trial 12: even
    theirs = _next_params(optuna.samplers.GPSampler(seed=7, n_startup_trials=0), trials)
    attrs = ours.pop("_attrs")
    theirs.pop("_attrs")
    assert attrs["metahpo:phase"] == "gp"
    assert json.loads(attrs["metahpo:info"]) == {"sampler": "optuna.samplers.GPSampler", "reason": "stall"}
    assert ours == theirs
    # trial 13 (odd) is the transfer model's
    odd = _next_params(MetaSampler(source_studies=[prior], seed=7), [*trials, trials[-1]])["_attrs"]
    assert odd["metahpo:phase"] in ("mtgp", "neural")


def test_while_every_prior_is_left_out_as_misleading_gpsampler_serves() -> None:
    # a prior that maximised the study's objective: its best configurations are the study's worst
    misleading = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    misleading.optimize(quadratic(1.0), n_trials=30)
    trials = _plain_history(20)
    ours = _next_params(MetaSampler(source_studies=[misleading], seed=7), trials)
    theirs = _next_params(optuna.samplers.GPSampler(seed=7, n_startup_trials=0), trials)
    attrs = ours.pop("_attrs")
    theirs.pop("_attrs")
    assert attrs["metahpo:phase"] == "gp"
    assert json.loads(attrs["metahpo:info"]) == {
        "sampler": "optuna.samplers.GPSampler",
        "reason": "misleading_priors",
        "misleading_sources": [misleading.study_name],
    }
    assert ours == theirs
    # with a constraint the engine keeps the study (its constraint models may learn from priors)
    constrained = [
        optuna.trial.create_trial(
            params=t.params, distributions=t.distributions, value=t.value, constraints={"c": -1.0}
        )
        for t in trials
    ]
    # (trial 21: odd, so the stall hedge does not take it either)
    attrs = _next_params(MetaSampler(source_studies=[misleading], seed=7), [*constrained, constrained[-1]])[
        "_attrs"
    ]
    info = json.loads(attrs["metahpo:info"])
    assert "sampler" not in info
    assert attrs["metahpo:phase"] == "gp"  # the engine's GP on the study alone
    assert info["misleading_sources"]
    # a prior of the same objective, minimised, keeps the engine's models on the same trials
    # (and one more: trial 21 is odd, so the stall hedge does not take it)
    related = make_prior(None, "p", 1.0, n=30)
    attrs = _next_params(MetaSampler(source_studies=[related], seed=7), [*trials, trials[-1]])["_attrs"]
    info = json.loads(attrs["metahpo:info"])
    assert "sampler" not in info
    assert "misleading_sources" not in info


def _mo_prior(latency: bool = False) -> optuna.Study:
    """Two objectives over ``quadratic``'s space (with ``latency``, a constraint recorded too)."""

    def objective(t: optuna.Trial) -> tuple[float, float]:
        values = quadratic(1.0)(t), quadratic(-1.0)(t)
        if latency:
            t.set_constraint("latency", t.params["x"] - 1.0)
        return values

    prior = optuna.create_study(
        directions=["minimize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0)
    )
    prior.optimize(objective, n_trials=20)
    return prior


def _mo_trials(values: list[float], latency: list[float] | None = None) -> list[optuna.trial.FrozenTrial]:
    """``_plain_history``'s configurations with both objectives at ``values`` (and a constraint)."""
    return [
        optuna.trial.create_trial(
            params=t.params,
            distributions=t.distributions,
            values=[v, v],
            constraints=None if latency is None else {"latency": latency[i]},
        )
        for i, (t, v) in enumerate(zip(_plain_history(), values, strict=True))
    ]


@pytest.mark.parametrize("latency", [None, [-1.0] * 12, [-1.0, 1.0] * 6], ids=["free", "feasible", "mixed"])
@pytest.mark.parametrize("values", [[12.0 - i for i in range(12)], [float(i) for i in range(12)]])
def test_a_multi_objective_study_is_gpsamplers_after_the_portfolio(
    values: list[float], latency: list[float] | None
) -> None:
    # the priors choose the start; the model after it learns from the study alone, so GPSampler
    # proposes exactly what it would on these trials, whether the study improves or stalls, with
    # or without a constraint (GPSampler models the constraint itself)
    trials = _mo_trials(values, latency)
    ours = _next_params(MetaSampler(source_studies=[_mo_prior()], seed=7), trials, n_objectives=2)
    theirs = _next_params(optuna.samplers.GPSampler(seed=7, n_startup_trials=0), trials, n_objectives=2)
    attrs = ours.pop("_attrs")
    theirs.pop("_attrs")
    assert attrs["metahpo:phase"] == "gp"
    assert json.loads(attrs["metahpo:info"]) == {"sampler": "optuna.samplers.GPSampler"}
    assert ours == theirs


def test_a_multi_objective_study_with_priors_starts_from_the_portfolio() -> None:
    prior = _mo_prior()
    study = optuna.create_study(
        directions=["minimize", "minimize"], sampler=MetaSampler(source_studies=[prior], seed=0)
    )
    study.optimize(lambda t: (quadratic(1.0)(t), quadratic(-1.0)(t)), n_trials=5)
    phases = [t.system_attrs["metahpo:phase"] for t in study.trials]
    assert phases == ["portfolio"] * 3 + ["gp"] * 2
    infos = [json.loads(t.system_attrs["metahpo:info"]) for t in study.trials[3:]]
    assert infos == [{"sampler": "optuna.samplers.GPSampler"}] * 2  # from the first trial after it
    front = {tuple(sorted(t.params.items())) for t in prior.best_trials}
    assert tuple(sorted(study.trials[0].params.items())) in front


def test_a_multi_objective_study_where_gpsampler_cannot_serve_keeps_the_engines_models() -> None:
    # a failed trial keeps GPSampler out (it learns nothing from failures): the engine's GPs, one
    # per objective, serve the constrained multi-objective study, with a constraint model that
    # learns from the prior that recorded the same key
    prior = _mo_prior(latency=True)
    trials = _mo_trials([12.0 - i for i in range(12)], [-1.0, 1.0] * 6)
    failed = optuna.trial.create_trial(
        params=trials[0].params, distributions=trials[0].distributions, state=optuna.trial.TrialState.FAIL
    )
    attrs = _next_params(MetaSampler(source_studies=[prior], seed=7), [*trials, failed], n_objectives=2)[
        "_attrs"
    ]
    info = json.loads(attrs["metahpo:info"])
    assert "sampler" not in info
    assert info["n_objectives"] == 2
    assert info["n_constraint_models"] == 1
    assert info["n_constraint_prior_tasks"] == 1


def _with_latency(trials: list[optuna.trial.FrozenTrial], values: list[float], latency: list[float]) -> list:
    return [
        optuna.trial.create_trial(
            params=t.params, distributions=t.distributions, value=v, constraints={"latency": c}
        )
        for t, v, c in zip(trials, values, latency, strict=True)
    ]


def test_a_constrained_study_that_improves_only_where_infeasible_is_stalled() -> None:
    # values fall trial after trial, but every result after the fourth breaks the constraint: the
    # best feasible result is trial 3's, so the study stalls and GPSampler (which models the
    # constraint itself) proposes the even trial 12, exactly as it would on these trials
    prior = make_prior(None, "p", 1.0, n=20)
    latency = [-1.0] * 4 + [1.0] * 8
    trials = _with_latency(_plain_history(), [12.0 - i for i in range(12)], latency)
    ours = _next_params(MetaSampler(source_studies=[prior], seed=7), trials)
    theirs = _next_params(optuna.samplers.GPSampler(seed=7, n_startup_trials=0), trials)
    attrs = ours.pop("_attrs")
    theirs.pop("_attrs")
    assert json.loads(attrs["metahpo:info"]) == {"sampler": "optuna.samplers.GPSampler", "reason": "stall"}
    assert ours == theirs
    # the same values, all feasible, improve: the transfer model serves
    improving = _with_latency(_plain_history(), [12.0 - i for i in range(12)], [-1.0] * 12)
    attrs = _next_params(MetaSampler(source_studies=[prior], seed=7), improving)["_attrs"]
    assert attrs["metahpo:phase"] in ("mtgp", "neural")


def test_where_gpsampler_fails_a_stalled_trial_the_transfer_model_serves_it(
    monkeypatch: pytest.MonkeyPatch, metahpo_log: pytest.LogCaptureFixture
) -> None:
    def boom(self: object, *args: object) -> None:
        raise RuntimeError("simulated GPSampler failure")

    monkeypatch.setattr(optuna.samplers.GPSampler, "sample_relative", boom)
    prior = make_prior(None, "p", 1.0, n=20)
    trials = _revalued(_plain_history(), [0.0, *(float(i) for i in range(1, 12))])
    attrs = _next_params(MetaSampler(source_studies=[prior], seed=7), trials)["_attrs"]
    assert attrs["metahpo:phase"] in ("mtgp", "neural")
    assert "failed on trial 12" in metahpo_log.text
    assert "the transfer model serves instead" in metahpo_log.text


def test_a_failed_trial_hands_a_study_without_priors_to_the_engines_gp() -> None:
    trials = _plain_history()
    failed = optuna.trial.create_trial(
        params=trials[0].params, distributions=trials[0].distributions, state=TrialState.FAIL
    )
    attrs = _next_params(MetaSampler(source_studies=[], seed=7), [*trials, failed])["_attrs"]
    assert attrs["metahpo:phase"] == "gp"
    assert "GPSampler" not in attrs["metahpo:info"]


def test_a_gpsampler_proposal_already_tried_is_replaced_by_the_engines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trials = _plain_history()
    seen = dict(trials[3].params)
    monkeypatch.setattr(optuna.samplers.GPSampler, "sample_relative", lambda self, s, t, space: dict(seen))
    params = _next_params(MetaSampler(source_studies=[], seed=7), trials)
    attrs = params.pop("_attrs")
    assert params != seen
    assert attrs["metahpo:phase"] == "gp"
    assert "GPSampler" not in attrs["metahpo:info"]


def test_a_gpsampler_proposal_off_a_tried_grid_point_by_round_off_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def objective(trial: optuna.Trial) -> float:
        return (trial.suggest_float("lr", 1e-4, 1e-1, log=True) - 0.01) ** 2 + trial.suggest_float(
            "frac", 0.0, 0.99, step=0.03
        )

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=12)
    seen = dict(study.trials[4].params)
    nudged = {k: v * (1 + 1e-13) for k, v in seen.items()}  # the same grid point, other last bits
    monkeypatch.setattr(optuna.samplers.GPSampler, "sample_relative", lambda self, s, t, space: dict(nudged))
    target = optuna.create_study(sampler=MetaSampler(source_studies=[], seed=7))
    target.add_trials(study.trials)
    target.optimize(objective, n_trials=1)
    last = target.trials[-1]
    assert "GPSampler" not in last.system_attrs["metahpo:info"]
    assert last.params != seen


def test_beside_a_pruned_configuration_means_continuous_parameters_only() -> None:
    from optuna.distributions import FloatDistribution, IntDistribution

    from optuna_meta._plain_gp import PRUNED_NEAR, is_taken
    from optuna_meta._space import to_search_space

    space = to_search_space(
        {
            "x": FloatDistribution(0, 1),
            "g": FloatDistribution(0, 1, step=1e-5),
            "k": IntDistribution(0, 99_999),
        }
    )
    gone = {"x": 0.5, "g": 0.5, "k": 5000}
    assert is_taken(space, {**gone, "x": 0.50001}, [gone], tol=PRUNED_NEAR)  # the optimiser's digits
    assert not is_taken(space, {**gone, "x": 0.51}, [gone], tol=PRUNED_NEAR)
    assert not is_taken(space, {**gone, "g": 0.50001}, [gone], tol=PRUNED_NEAR)  # the next grid point
    assert not is_taken(space, {**gone, "k": 5003}, [gone], tol=PRUNED_NEAR)  # another integer
    assert not is_taken(space, {**gone, "x": 0.50001}, [gone])  # tried configurations: exactly


@pytest.mark.parametrize(("dx", "gpsampler_serves"), [(1e-5, False), (0.5, True)])
def test_a_gpsampler_proposal_beside_a_pruned_configuration_is_replaced(
    monkeypatch: pytest.MonkeyPatch, dx: float, gpsampler_serves: bool
) -> None:
    # GPSampler learns nothing from pruned trials: under HyperbandPruner it proposed one pruned
    # configuration again and again, its last digits changed
    trials = _plain_history()
    gone = {"x": 2.5, "y": 0.5, "c": "b", "k": 4}
    pruned = optuna.trial.create_trial(
        params=gone, distributions=trials[0].distributions, state=TrialState.PRUNED
    )
    proposal = {**gone, "x": gone["x"] + dx}  # x spans 10: 1e-6 or 0.05 of its range
    monkeypatch.setattr(
        optuna.samplers.GPSampler, "sample_relative", lambda self, s, t, space: dict(proposal)
    )
    params = _next_params(MetaSampler(source_studies=[], seed=7), [*trials, pruned])
    attrs = params.pop("_attrs")
    assert attrs["metahpo:phase"] == "gp"
    assert ("GPSampler" in attrs["metahpo:info"]) == gpsampler_serves
    assert (params == proposal) == gpsampler_serves


@pytest.mark.parametrize("case", ["conditional", "fixed", "constraint keys"])
def test_gpsampler_does_not_serve_where_it_would_do_less(
    case: str, metahpo_log: pytest.LogCaptureFixture
) -> None:
    trials = _plain_history()
    if case == "conditional":  # a complete trial without `k`
        t = trials[0]
        trials[0] = optuna.trial.create_trial(
            params={n: v for n, v in t.params.items() if n != "k"},
            distributions={n: d for n, d in t.distributions.items() if n != "k"},
            value=t.value,
        )
    if case == "constraint keys":  # trials that recorded other constraints (GPSampler raises)

        def keyed(trial: optuna.Trial) -> float:
            trial.set_constraint("a" if trial.number % 2 else "b", -1.0)
            return quadratic(1.0)(trial)

        source = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
        source.optimize(keyed, n_trials=12)
        trials = source.trials
        assert {frozenset(t.constraints) for t in trials} == {frozenset("a"), frozenset("b")}
    study = optuna.create_study(sampler=MetaSampler(source_studies=[], seed=7))
    study.add_trials(trials)
    if case == "fixed":
        study.enqueue_trial({"x": 0.5}, skip_if_exists=False)
    study.optimize(quadratic(1.0), n_trials=1)
    last = study.trials[-1]
    assert last.system_attrs["metahpo:phase"] == "gp"
    assert "GPSampler" not in last.system_attrs["metahpo:info"]
    if case == "fixed":
        assert last.params["x"] == 0.5
    assert not metahpo_log.records  # not asked and failed: not asked at all


def test_gpsampler_runs_are_reproducible_and_survive_pickling() -> None:
    def run(sampler: MetaSampler, n: int, study: optuna.Study | None = None) -> optuna.Study:
        study = study or optuna.create_study(sampler=sampler)
        study.optimize(quadratic(1.0), n_trials=n)
        return study

    a, b = run(MetaSampler(source_studies=[], seed=3), 13), run(MetaSampler(source_studies=[], seed=3), 13)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert a.trials[-1].system_attrs["metahpo:phase"] == "gp"
    copy = pickle.loads(pickle.dumps(a.sampler))
    resumed = optuna.create_study(sampler=copy)
    resumed.add_trials(a.trials)
    run(copy, 1, resumed)
    assert json.loads(resumed.trials[-1].system_attrs["metahpo:info"]) == {
        "sampler": "optuna.samplers.GPSampler"
    }


def test_an_error_in_gpsampler_is_logged_once_and_the_engine_serves(
    monkeypatch: pytest.MonkeyPatch, metahpo_log: pytest.LogCaptureFixture
) -> None:
    def broken(self: object, study: object, trial: object, space: object) -> dict:
        raise RuntimeError("boom")

    monkeypatch.setattr(optuna.samplers.GPSampler, "sample_relative", broken)
    study = optuna.create_study(sampler=MetaSampler(source_studies=[], seed=0))
    study.add_trials(_plain_history())
    study.optimize(quadratic(1.0), n_trials=3)
    assert [t.system_attrs["metahpo:phase"] for t in study.trials[-3:]] == ["gp"] * 3
    messages = [r.getMessage() for r in metahpo_log.records if "GPSampler failed" in r.getMessage()]
    assert len(messages) == 1
    assert "RuntimeError: boom" in messages[0]


@pytest.mark.parametrize("other", [3, 20])
def test_a_model_proposal_an_earlier_trial_holds_moves_to_a_fresh_random_configuration(
    monkeypatch: pytest.MonkeyPatch, other: int
) -> None:
    # two workers fitting one model on the same results propose one configuration, and again after
    # seeing each other's claim: the later trial (here trial 12 against trial 3) takes a random
    # configuration no trial holds; the earlier one (against trial 20) suggests again by the model
    from optuna_meta import _claims

    calls: list[int] = []

    def clash_once(study: object, trial: optuna.trial.FrozenTrial, params: object) -> int | None:
        calls.append(trial.number)
        return other if len(calls) == 1 else None

    monkeypatch.setattr(_claims, "clash", clash_once)
    prior = make_prior(None, "p", 1.0, n=20)
    trials = _revalued(_plain_history(), [12.0 - i for i in range(12)])
    ours = _next_params(MetaSampler(source_studies=[prior], seed=7), trials)
    attrs = ours.pop("_attrs")
    assert calls == [12, 12]  # checked again after the second suggestion
    info = json.loads(attrs["metahpo:info"])
    if other < 12:
        assert attrs["metahpo:phase"] == "startup"
        assert info == {"reason": "clash", "clashed_with": 3}
    else:
        assert attrs["metahpo:phase"] in ("mtgp", "neural")
    assert json.loads(attrs[_claims.RELATIVE_KEY]) == ours
    held = [tuple(sorted(t.params.items())) for t in trials]
    assert tuple(sorted(ours.items())) not in held
