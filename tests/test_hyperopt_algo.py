"""The Hyperopt adapter: the algo contract, space conversion, conditional spaces, priors."""

from __future__ import annotations

import functools
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, fmin, hp, space_eval, tpe
from hyperopt.tests.unit import test_domains as td

from hyperopt_meta import MetaAlgo, record_trials
from hyperopt_meta._space import labels_of, model_space
from metahpo import CategoricalParam, FloatParam, IntParam, KnowledgeBase, MetaEngine, Suggestion

SPACE = {
    "x": hp.uniform("x", -5, 5),
    "lr": hp.loguniform("lr", np.log(1e-4), np.log(1)),
    "model": hp.choice(
        "model",
        [
            {"kind": "svm", "C": hp.lognormal("C", 0, 1)},
            {"kind": "tree", "depth": hp.quniform("depth", 1, 10, 1)},
        ],
    ),
    "act": hp.choice("act", ["relu", "tanh"]),
    "n": hp.randint("n", 3, 9),
}


def loss(cfg: dict, shift: float = 1.0) -> float:
    pen = 0.0 if cfg["model"]["kind"] == "tree" else 0.5
    return (
        (cfg["x"] - shift) ** 2
        + (np.log10(cfg["lr"]) + 2) ** 2
        + pen
        + (0.0 if cfg["act"] == "tanh" else 0.3)
    )


@pytest.fixture(autouse=True)
def _no_fallback(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test here fails if the model fell back (``_one`` catches every error to keep fmin
    going, so a broken model would otherwise pass as random search), unless it expects one."""
    with caplog.at_level("WARNING", logger="hyperopt.metahpo"):
        yield
    if "expects_fallback" not in request.keywords:
        fell = [r.getMessage() for r in caplog.records if "could not use its model" in r.getMessage()]
        assert not fell


def _run(algo, n: int = 8, seed: int = 0, fn=loss) -> Trials:  # type: ignore[no-untyped-def]
    trials = Trials()
    fmin(
        fn,
        SPACE,
        algo=algo,
        max_evals=n,
        trials=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    return trials


def test_space_conversion() -> None:
    labels = labels_of(SPACE)
    assert labels["x"].param == FloatParam(-5, 5)
    assert labels["lr"].param.log
    assert labels["lr"].param.low == pytest.approx(1e-4)
    assert labels["act"].param == CategoricalParam(("relu", "tanh"))  # literal options by value
    assert labels["model"].param == CategoricalParam((0, 1))  # expression options by index
    assert labels["n"].param == IntParam(3, 8)
    assert labels["depth"].param == FloatParam(1, 10, step=1)
    assert not labels["C"].unconditional
    assert not labels["depth"].unconditional
    assert sorted(model_space(labels).params) == ["C", "act", "depth", "lr", "model", "n", "x"]
    assert model_space(labels).conditions == {"C": ((("model", 0),),), "depth": ((("model", 1),),)}
    nested = hp.choice(
        "m",
        [
            {"k": 0, "sub": hp.choice("s", [{"a": hp.uniform("a", 0, 1)}, {"b": hp.uniform("b", 0, 1)}])},
            {"k": 1, "c": hp.uniform("c", 0, 1)},
        ],
    )
    assert model_space(labels_of(nested)).conditions == {
        "s": ((("m", 0),),),
        "a": ((("m", 0), ("s", 0)),),
        "b": ((("m", 0), ("s", 1)),),
        "c": ((("m", 1),),),
    }


@pytest.mark.parametrize(
    "label",
    [hp.qloguniform("a", 0.0, np.log(12.0), 1), hp.qlognormal("a", 1.0, 0.5, 1)],
    ids=["qloguniform", "qlognormal"],
)
def test_quantised_log_labels_are_modelled_on_their_grid_and_never_repeat(label: Any) -> None:
    (param,) = model_space(labels_of({"a": label})).params.values()
    assert isinstance(param, FloatParam)
    assert (param.low, param.high, param.log, param.step) == (1.0, 12.0, True, 1.0)
    # 12 values; the model proposes grid values, never one that rounds onto a tried one
    trials = Trials()
    fmin(
        lambda p: (p["a"] - 3.0) ** 2,
        {"a": label},
        algo=MetaAlgo(n_startup_trials=3).suggest,
        max_evals=12,
        trials=trials,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
    )
    values = [float(d["misc"]["vals"]["a"][0]) for d in trials.trials]
    assert sorted(values) == [float(v) for v in range(1, 13)]


def test_fmin_runs_and_conditional_labels_follow_their_branch() -> None:
    trials = _run(MetaAlgo().suggest, n=14)
    assert len(trials.trials) == 14
    for doc in trials.trials:
        vals = doc["misc"]["vals"]
        branch = vals["model"][0]
        assert (len(vals["C"]), len(vals["depth"])) == ((1, 0) if branch == 0 else (0, 1))
        cfg = space_eval(SPACE, {k: v[0] for k, v in vals.items() if v})
        assert -5 <= cfg["x"] <= 5
        assert 3 <= cfg["n"] <= 8


def test_labels_inside_a_branch_are_modelled() -> None:
    # the optimum lies inside branch 0, at (u, v) = (3, -1); branch 1 is flat and worse
    space = hp.choice(
        "branch",
        [
            {"b": 0, "u": hp.uniform("u", -5, 5), "v": hp.uniform("v", -5, 5)},
            {"b": 1, "w": hp.uniform("w", -5, 5)},
        ],
    )

    def fn(cfg: dict) -> float:
        return (cfg["u"] - 3) ** 2 + (cfg["v"] + 1) ** 2 if cfg["b"] == 0 else 30.0

    best = []
    for seed in range(5):
        trials = Trials()
        fmin(
            fn,
            space,
            algo=MetaAlgo().suggest,
            max_evals=30,
            trials=trials,
            rstate=np.random.default_rng(seed),
            show_progressbar=False,
        )
        best.append(min(trials.losses()))
        for doc in trials.trials:  # the branch not taken leaves its labels unset
            vals = doc["misc"]["vals"]
            assert (len(vals["u"]), len(vals["w"])) == ((1, 0) if vals["branch"][0] == 0 else (0, 1))
    # with (u, v) drawn at random inside the branch the median best was 2.07 (tpe.suggest 0.64)
    assert float(np.median(best)) < 0.1


def test_priors_from_trials_and_pickles_warm_start(tmp_path: Path) -> None:
    prior = _run(tpe.suggest, n=40, seed=3, fn=functools.partial(loss, shift=1.2))
    path = tmp_path / "prior.pkl"
    path.write_bytes(pickle.dumps(prior))
    for source in (prior, str(path)):
        first = _run(MetaAlgo(source_trials=[source]).suggest, n=3)
        # The portfolio proposes configurations that were good on the related prior run.
        assert min(first.losses()) < 1.0


def test_several_new_ids_at_once_are_distinct() -> None:
    algo = MetaAlgo()
    trials = Trials()
    fmin(
        loss,
        SPACE,
        algo=algo.suggest,
        max_evals=12,
        trials=trials,
        max_queue_len=3,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
    )
    xs = [d["misc"]["vals"]["x"][0] for d in trials.trials]
    assert len(set(xs)) == len(xs)


def test_failed_and_nan_trials_are_ignored() -> None:
    calls = iter(range(100))

    def flaky(cfg: dict) -> dict:
        i = next(calls)
        if i % 4 == 1:
            return {"status": STATUS_FAIL}
        if i % 4 == 2:
            return {"loss": float("nan"), "status": STATUS_OK}
        return {"loss": loss(cfg), "status": STATUS_OK}

    trials = _run(MetaAlgo(n_startup_trials=3).suggest, n=14, fn=flaky)
    assert len(trials.trials) == 14


def test_failed_trials_are_recorded_as_failed_configurations(tmp_path: Path) -> None:
    # A prior run's failures reach the knowledge base (and from there the feasibility model).
    def flaky(cfg: dict) -> dict:
        if cfg["x"] < 0:
            return {"status": STATUS_FAIL}
        return {"loss": loss(cfg), "status": STATUS_OK}

    done = _run(tpe.suggest, n=20, seed=1, fn=flaky)
    url = f"sqlite:///{tmp_path / 'kb.db'}"
    record_trials(done, SPACE, url, "flaky-run")
    (study,) = KnowledgeBase(url).load()
    assert len(study.failed) > 0
    assert len(study.failed) + len(study.trials) == 20
    assert all(f["x"] < 0 for f in study.failed)
    assert all(t.params["x"] >= 0 for t in study.trials)


def test_partial_configuration_and_pickling() -> None:
    algo = functools.partial(MetaAlgo(max_prior_points=64).suggest)
    clone = pickle.loads(pickle.dumps(algo))
    assert len(_run(clone, n=4).trials) == 4


def test_record_trials_shares_history_through_the_knowledge_base(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kb.db'}"
    done = _run(tpe.suggest, n=20, seed=1)
    record_trials(done, SPACE, url, "hyperopt-run")
    (study,) = KnowledgeBase(url).load()
    assert study.name == "hyperopt-run"
    assert len(study.trials) == 20
    assert {t.params["act"] for t in study.trials} <= {"relu", "tanh"}  # stored by value
    trials = _run(MetaAlgo(knowledge_base=url).suggest, n=3)
    assert len(trials.trials) == 3


def test_bad_sources_name_the_field() -> None:
    with pytest.raises(TypeError, match=r"source_trials\[0\] must be"):
        MetaAlgo(source_trials=[42])
    with pytest.raises(TypeError, match="source_trials must be a list"):
        MetaAlgo(source_trials="prior.pkl")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_startup_trials must be an integer >= 0"):
        MetaAlgo(n_startup_trials=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="surrogate_cache must be a path"):
        MetaAlgo(surrogate_cache=42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        "quadratic1",
        "q1_lognormal",
        "q1_choice",
        "n_arms",
        "distractor",
        "gauss_wave",
        "gauss_wave2",
        "many_dists",
        "branin",
    ],
)
def test_hyperopt_standard_domains(name: str) -> None:
    domain = getattr(td, name)()
    trials = Trials()
    fmin(
        lambda x: x,
        domain.expr,
        algo=MetaAlgo(n_startup_trials=4).suggest,
        max_evals=7,
        trials=trials,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
    )
    assert len(trials.trials) == 7
    assert all(np.isfinite(trials.losses()))


@pytest.mark.expects_fallback
def test_a_space_it_cannot_read_falls_back_to_random_search(monkeypatch: pytest.MonkeyPatch) -> None:
    import hyperopt_meta._algo

    def boom(expr: object) -> None:
        raise RuntimeError("simulated unreadable space")

    monkeypatch.setattr(hyperopt_meta._algo, "labels_of", boom)
    trials = _run(MetaAlgo().suggest, n=4)
    assert len(trials.trials) == 4
    assert all(d["misc"]["metahpo"] == {"phase": "fallback"} for d in trials.trials)


def test_without_priors_the_docs_record_the_random_start_up_then_the_gp() -> None:
    trials = _run(MetaAlgo().suggest, n=12)
    phases = [d["misc"]["metahpo"]["phase"] for d in trials.trials]
    assert phases == ["startup"] * 10 + ["gp"] * 2


@pytest.mark.expects_fallback
def test_a_model_that_raises_leaves_a_random_draw_recorded_as_a_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(self: MetaEngine, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("simulated model failure")

    monkeypatch.setattr(MetaEngine, "suggest", boom)
    trials = _run(MetaAlgo().suggest, n=4)
    assert [d["misc"]["metahpo"] for d in trials.trials] == [{"phase": "fallback"}] * 4
    assert all(np.isfinite(trials.losses()))


def test_asynchronous_driver_with_new_and_running_docs(caplog: pytest.LogCaptureFixture) -> None:
    """As SparkTrials / MongoTrials call it: from the driver, while earlier docs are still NEW or
    RUNNING (no result yet); they are pending points, never crash the call, never repeated."""
    from hyperopt import JOB_STATE_RUNNING
    from hyperopt.base import Domain

    prior = _run(tpe.suggest, n=30, seed=3, fn=functools.partial(loss, shift=1.2))
    algo = MetaAlgo(source_trials=[prior], n_startup_trials=2)
    trials = _run(algo.suggest, n=6)
    domain = Domain(loss, SPACE)
    with caplog.at_level("WARNING", logger="hyperopt.metahpo"):
        for step in range(4):
            ids = trials.new_trial_ids(2)
            docs = algo.suggest(ids, domain, trials, seed=100 + step)
            assert [d["tid"] for d in docs] == ids
            trials.insert_trial_docs(docs)
            trials.refresh()
            trials.trials[-1]["state"] = JOB_STATE_RUNNING  # one started, one still queued
            trials.refresh()
    assert not caplog.records  # the model served every call: no fallback
    configs = [
        tuple(sorted((k, round(float(v[0]), 12)) for k, v in d["misc"]["vals"].items() if v))
        for d in trials.trials
    ]
    assert len(set(configs)) == len(configs)


def _scripted(algo: MetaAlgo, results: list[float | None]) -> Trials:
    """A run of ``len(results)`` trials whose losses are ``results`` in order (None: failed)."""
    it = iter(results)

    def fn(cfg: dict) -> dict:
        v = next(it)
        return {"status": STATUS_FAIL} if v is None else {"loss": v, "status": STATUS_OK}

    return _run(algo.suggest, n=len(results), fn=fn)


@pytest.fixture
def prior() -> Trials:
    """A related prior run (made before ``engine_calls`` starts recording)."""
    return _run(tpe.suggest, n=30, seed=3, fn=functools.partial(loss, shift=1.2))


@pytest.fixture
def engine_calls(prior: Trials, monkeypatch: pytest.MonkeyPatch) -> list[tuple[MetaEngine, Suggestion]]:
    """Records every engine suggestion (the engine, what it suggested) while the test runs."""
    calls: list[tuple[MetaEngine, Suggestion]] = []
    original = MetaEngine.suggest

    def spy(self: MetaEngine, *args: Any, **kwargs: Any) -> Suggestion:
        suggestion = original(self, *args, **kwargs)
        calls.append((self, suggestion))
        return suggestion

    monkeypatch.setattr(MetaEngine, "suggest", spy)
    return calls


def _next_doc(algo: MetaAlgo, trials: Trials, new_id: int) -> dict:
    from hyperopt.base import Domain

    (doc,) = algo.suggest([new_id], Domain(loss, SPACE), trials, seed=5)
    return doc


def _plain(algo: MetaAlgo, calls: list[tuple[MetaEngine, Suggestion]]) -> list[Suggestion]:
    return [s for engine, s in calls if engine is algo._plain_engine]


def test_with_priors_the_study_gp_takes_even_trials_while_the_study_stalls(
    prior: Trials, engine_calls: list[tuple[MetaEngine, Suggestion]]
) -> None:
    algo = MetaAlgo(source_trials=[prior])
    # the first result is the best; the 9 after it are worse: stalled (7 labels, patience 7);
    # trial 8 is the first whose last 7 results brought no new best, trial 9 (odd) the model's
    trials = _scripted(algo, [0.0, *(1.0 + i for i in range(9))])
    assert len(_plain(algo, engine_calls)) == 1
    assert len(engine_calls) == 10
    assert engine_calls[8][0] is algo._plain_engine
    doc = _next_doc(algo, trials, 10)
    engine, suggestion = engine_calls[-1]
    assert engine is algo._plain_engine
    assert not engine.priors
    assert suggestion.phase == "gp"  # no random start-up: the study has results
    assert doc["misc"]["vals"]["x"] == [suggestion.params["x"]]
    assert doc["misc"]["metahpo"] == {"phase": "gp", "reason": "stall"}
    odd = _next_doc(algo, trials, 11)  # odd: the transfer model's
    assert engine_calls[-1][0] is algo._engine
    assert engine_calls[-1][1].phase in ("mtgp", "neural")
    assert odd["misc"]["metahpo"] == {"phase": engine_calls[-1][1].phase}
    # the stored docs say which model chose each trial: portfolio, then the transfer model and
    # the study's GP
    phases = [d["misc"]["metahpo"]["phase"] for d in trials.trials]
    assert phases[0] == "portfolio"
    assert set(phases) <= {"portfolio", "mtgp", "neural", "gp"}
    assert [d["misc"]["metahpo"].get("reason") for d in trials.trials].count("stall") == 1


def test_the_study_gp_does_not_serve_a_study_that_improves_has_failed_or_has_no_priors(
    prior: Trials, engine_calls: list[tuple[MetaEngine, Suggestion]]
) -> None:
    improving = MetaAlgo(source_trials=[prior])
    _next_doc(improving, _scripted(improving, [10.0 - i for i in range(10)]), 10)
    failed = MetaAlgo(source_trials=[prior])
    _next_doc(failed, _scripted(failed, [0.0, None, *(1.0 + i for i in range(8))]), 10)
    none = MetaAlgo()
    _next_doc(none, _scripted(none, [0.0, *(1.0 + i for i in range(11))]), 12)
    assert len(engine_calls) == 11 + 11 + 13  # every trial asked the engine
    assert all(algo._plain_engine is None for algo in (improving, failed, none))


def test_where_the_study_gp_raises_the_transfer_model_serves(
    prior: Trials, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def suggest(self, *args: Any, **kwargs: Any) -> Suggestion:
            raise RuntimeError("no GP today")

    monkeypatch.setattr(MetaAlgo, "_get_plain_engine", lambda self: Broken())
    algo = MetaAlgo(source_trials=[prior])
    trials = _scripted(algo, [0.0, *(1.0 + i for i in range(9))])  # trial 8 was stalled and even
    assert any("the transfer model serves instead" in r.getMessage() for r in caplog.records)
    assert len(trials.trials) == 10  # and the autouse check: no trial fell back to a random draw
    assert "reason" not in trials.trials[8]["misc"]["metahpo"]


def test_a_pickled_algo_leaves_both_engines_behind_and_older_pickles_load(prior: Trials) -> None:
    algo = MetaAlgo(source_trials=[prior])
    _scripted(algo, [0.0, *(1.0 + i for i in range(9))])
    assert algo._plain_engine is not None
    copy = pickle.loads(pickle.dumps(algo))
    assert copy._engine is None
    assert copy._plain_engine is None
    state = algo.__getstate__()
    del state["_plain_engine"]  # as pickled before the hedge existed
    old = MetaAlgo.__new__(MetaAlgo)
    old.__setstate__(state)
    assert old._plain_engine is None


def test_several_new_ids_of_a_stalled_study_alternate_and_stay_distinct(
    prior: Trials, engine_calls: list[tuple[MetaEngine, Suggestion]]
) -> None:
    from hyperopt.base import Domain

    algo = MetaAlgo(source_trials=[prior])
    trials = _scripted(algo, [0.0, *(1.0 + i for i in range(9))])
    del engine_calls[:]
    docs = algo.suggest([10, 11, 12], Domain(loss, SPACE), trials, seed=5)  # as SparkTrials asks
    assert [engine is algo._plain_engine for engine, _ in engine_calls] == [True, False, True]
    # three distinct configurations (each later id sees the earlier ones as pending)
    xs = [doc["misc"]["vals"]["x"][0] for doc in docs]
    assert len(set(xs)) == 3
