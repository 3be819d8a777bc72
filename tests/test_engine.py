"""The framework-neutral engine: phases, caps, fixed and pending parameters, reproducibility."""

from __future__ import annotations

import math
import pickle
from collections import Counter, deque
from typing import Any

import numpy as np
import pytest

from metahpo import (
    CategoricalParam,
    EngineConfig,
    FloatParam,
    IntParam,
    MetaEngine,
    PriorStudy,
    PriorTrial,
    SearchSpace,
)
from metahpo._mtgp import subsample
from metahpo._portfolio import greedy_portfolio, kendall_tau
from metahpo._prior import align_studies

SPACE = SearchSpace({"x": FloatParam(-5.0, 5.0), "k": IntParam(1, 8), "c": CategoricalParam(("a", "b"))})


def f(cfg: dict, shift: float) -> float:
    return (cfg["x"] - shift) ** 2 + 0.1 * abs(cfg["k"] - 4) + (0.0 if cfg["c"] == "b" else 1.0)


def prior(name: str, shift: float, n: int = 40, seed: int = 0) -> PriorStudy:
    rng = np.random.default_rng(seed)
    cfgs = SPACE.decode(rng.random((n, SPACE.n_features)))
    return PriorStudy(name, tuple(PriorTrial(c, (f(c, shift),)) for c in cfgs), ("minimize",))


PRIORS = [prior(f"p{i}", s, seed=i) for i, s in enumerate([1.0, 1.2, 0.8])]


def test_without_history_the_portfolio_serves_the_best_prior_configurations() -> None:
    engine = MetaEngine(PRIORS)
    s = engine.suggest(SPACE, "minimize", [], [], seed=0)
    assert s.phase == "portfolio"
    assert s.info["n_prior_studies_used"] == 3
    best_prior = min(f(dict(t.params), 1.0) for p in PRIORS for t in p.trials)
    assert f(s.params, 1.0) <= best_prior + 0.5  # a configuration that was good on the priors


def test_portfolio_skips_observed_and_pending_configurations() -> None:
    engine = MetaEngine(PRIORS)
    first = engine.suggest(SPACE, "minimize", [], [], seed=0).params
    second = engine.suggest(SPACE, "minimize", [], [], pending=[first], seed=0).params
    third = engine.suggest(SPACE, "minimize", [first], [1.0], pending=[second], seed=0).params
    assert len({tuple(sorted(c.items())) for c in (first, second, third)}) == 3


def test_greedy_portfolio_covers_studies_with_different_optima() -> None:
    from metahpo._prior import align_studies

    left = prior("left", -4.0, n=60, seed=1)
    right = prior("right", 4.0, n=60, seed=2)
    aligned, _ = align_studies(SPACE, [left, right], "minimize")
    X = greedy_portfolio(aligned, size=2)
    xs = sorted(SPACE.decode(X)[i]["x"] for i in range(2))
    assert xs[0] < 0 < xs[1]  # one configuration for each kind of task


def test_a_study_without_ranking_leaves_the_portfolio_to_the_others() -> None:
    # three objectives, every trial of the first study on its Pareto front (x against -x): equal
    # scores, nothing to rank by (the regret rule; two objectives take the hypervolume rule)
    rng = np.random.default_rng(3)
    cfgs = SPACE.decode(rng.random((12, SPACE.n_features)))
    flat = PriorStudy(
        "front",
        tuple(PriorTrial(c, (c["x"], -c["x"], float(c["k"]))) for c in cfgs),
        ("minimize", "minimize", "minimize"),
    )
    ranked = PriorStudy(
        "ranked",
        tuple(
            PriorTrial(c, (f(c, 1.0), f(c, 1.5), f(c, 2.0)))
            for c in SPACE.decode(rng.random((30, SPACE.n_features)))
        ),
        ("minimize", "minimize", "minimize"),
    )
    aligned, _ = align_studies(SPACE, [flat, ranked], "minimize", n_objectives=3)
    assert len(aligned) == 2
    assert np.ptp(aligned[0].z) == 0
    assert greedy_portfolio(aligned, size=4).shape[0] == 4  # was cut short by a division by zero


def test_nearest_neighbour_is_the_exact_first_nearest_also_on_grids() -> None:
    from metahpo._portfolio import knn_predict
    from metahpo._prior import AlignedStudy

    rng = np.random.default_rng(0)
    for t in range(40):
        Y = rng.random((int(rng.integers(1, 200)), 5))
        X = rng.random((int(rng.integers(1, 100)), 5))
        if t % 2:  # grid points: many exactly equidistant neighbours
            Y, X = np.round(Y * 2) / 2, np.vstack([np.round(X * 4) / 4, Y[:3]])
        study = AlignedStudy("s", Y, np.arange(Y.shape[0], dtype=float), 1.0)
        brute = np.argmin(((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1), axis=1)
        np.testing.assert_array_equal(knn_predict(study, X), brute.astype(float))


def test_many_prior_studies_still_give_a_portfolio_from_all_of_them() -> None:
    from metahpo._portfolio import greedy_portfolio_with_origin

    studies = [prior(f"s{i}", shift=-4.0 + 8.0 * i / 299, n=12, seed=i) for i in range(300)]
    aligned, _ = align_studies(SPACE, studies, "minimize")
    X, origin = greedy_portfolio_with_origin(aligned, size=16)
    assert X.shape == (16, SPACE.n_features)
    assert len(set(origin)) > 1
    xs = sorted(SPACE.decode(X)[i]["x"] for i in range(16))
    assert xs[0] < -1.0 < 1.0 < xs[-1]  # it covers optima across the range of tasks


def test_model_phase_improves_on_the_target_and_reports_diagnostics() -> None:
    engine = MetaEngine(PRIORS, EngineConfig(n_startup_trials=3))
    observed: list[dict] = []
    values: list[float] = []
    phases = []
    for i in range(10):
        s = engine.suggest(SPACE, "minimize", observed, values, seed=i)
        observed.append(s.params)
        values.append(f(s.params, 1.1))
        phases.append(s.phase)
    assert phases[:3] == ["portfolio"] * 3
    assert set(phases[3:]) == {"mtgp"}
    assert s.info["n_source_tasks"] == 3
    assert min(values) < 0.5  # the optimum is 0; random search needs ~100 trials for this


def test_no_priors_means_startup_then_single_task_gp() -> None:
    engine = MetaEngine([])
    rng = np.random.default_rng(0)
    cfgs = SPACE.decode(rng.random((10, SPACE.n_features)))
    early = engine.suggest(SPACE, "minimize", cfgs[:5], [f(c, 0) for c in cfgs[:5]], seed=0)
    assert early.phase == "startup"
    assert all(SPACE.contains(n, v) for n, v in early.params.items())
    s = engine.suggest(SPACE, "minimize", cfgs, [f(c, 0) for c in cfgs], seed=0)
    assert s.phase == "gp"
    assert SPACE.contains("x", s.params["x"])


def test_fixed_parameters_are_kept() -> None:
    engine = MetaEngine(PRIORS, EngineConfig(n_startup_trials=2))
    cfgs = SPACE.decode(np.random.default_rng(1).random((4, SPACE.n_features)))
    for obs in ([], cfgs):
        s = engine.suggest(SPACE, "minimize", obs, [f(c, 1) for c in obs], seed=0, fixed={"k": 7, "c": "a"})
        assert s.params["k"] == 7
        assert s.params["c"] == "a"


def test_same_seed_same_suggestion_and_pickle_keeps_priors() -> None:
    cfgs = SPACE.decode(np.random.default_rng(2).random((5, SPACE.n_features)))
    vals = [f(c, 1.0) for c in cfgs]
    a = MetaEngine(PRIORS).suggest(SPACE, "minimize", cfgs, vals, seed=7).params
    b = pickle.loads(pickle.dumps(MetaEngine(PRIORS))).suggest(SPACE, "minimize", cfgs, vals, seed=7).params
    assert a == b


def test_prior_points_are_capped_keeping_the_best() -> None:
    big = prior("big", 1.0, n=500, seed=3)
    from metahpo._prior import align_studies

    (aligned,), _ = align_studies(SPACE, [big], "minimize")
    idx = subsample(aligned, 40)
    assert idx.size == 40
    assert np.unique(idx).size == 40
    assert set(np.argsort(-aligned.z)[:20]) <= set(idx.tolist())
    np.testing.assert_array_equal(idx, subsample(aligned, 40))  # stable from call to call
    engine = MetaEngine([big], EngineConfig(max_prior_points=64, n_startup_trials=1))
    cfgs = SPACE.decode(np.random.default_rng(4).random((3, SPACE.n_features)))
    s = engine.suggest(SPACE, "minimize", cfgs, [f(c, 1) for c in cfgs], seed=0)
    assert s.info["n_prior_points"] <= 64


def test_kendall_tau() -> None:
    a = np.arange(5.0)
    assert kendall_tau(a, a) == pytest.approx(1.0)
    assert kendall_tau(a, -a) == pytest.approx(-1.0)
    assert kendall_tau(a[:1], a[:1]) == 0.0


def test_similarity_prior_puts_the_studies_of_the_common_kind_first() -> None:
    from metahpo._mtgp import GPSurrogate
    from metahpo._portfolio import kendall_tau_noise, knn_predict, similarity_prior
    from metahpo._prior import AlignedStudy

    rng = np.random.default_rng(0)
    studies = []
    for k in range(9):
        X = rng.random((60, 3))
        if k < 6:  # six studies of one kind: the same landscape, shifted a little
            z = -((X - 0.3 - 0.02 * k) ** 2).sum(axis=1) + 0.01 * rng.standard_normal(60)
        else:  # three unrelated ones
            z = rng.standard_normal(60)
        studies.append(AlignedStudy(f"s{k}", X, z, 1.0))
    prior = similarity_prior(studies)
    assert prior.mean[:6].min() > prior.mean[6:].max()
    # On 3 target results the measured tau barely moves the choice; on 100 it decides it.
    tau = np.where(np.arange(9) < 6, -1.0, 1.0)
    assert np.argmax(prior.shrink(tau, 3)) < 6
    assert np.argmax(prior.shrink(tau, 100)) >= 6
    assert kendall_tau_noise(2) == pytest.approx(1.0)
    assert kendall_tau_noise(1) == math.inf
    # Too few studies to compare: no information, and the target's tau decides alone.
    few = similarity_prior(studies[:2])
    np.testing.assert_array_equal(few.mean, [0.0, 0.0])
    assert np.argmax(few.shrink(np.array([0.1, 0.2]), 3)) == 1

    # The multi-task GP's choice on 3 results that the unrelated studies happen to rank best.
    # A target of the common kind whose 3 results, by noise, rank two of them the wrong way round
    # (tau 1/3 with the common kind), and unrelated studies that rank all three right by chance.
    X_obs = rng.random((3, 3))
    z_obs = -((X_obs - 0.3) ** 2).sum(axis=1)
    z_obs[np.argsort(z_obs)[:2]] = np.sort(z_obs)[1::-1]
    lucky = [
        AlignedStudy(
            f"u{k}", np.vstack([X_obs, rng.random((40, 3))]), np.r_[z_obs, rng.standard_normal(40)], 1.0
        )
        for k in range(3)
    ]
    assert all(kendall_tau(z_obs, knn_predict(s, X_obs)) == 1.0 for s in lucky)
    assert all(kendall_tau(z_obs, knn_predict(s, X_obs)) < 1.0 for s in studies[:6])
    gp = GPSurrogate(studies[:6] + lucky, EngineConfig(max_source_studies=3))
    gp._select_sources(X_obs, z_obs)
    assert gp._selected is not None
    assert max(gp._selected) < 6

    # Before 3 results there is no tau: the studies most like the others come first.
    # (Named so that the names, the last tie-break, would put the unrelated ones first.)
    renamed = [
        AlignedStudy(("z" if k < 6 else "a") + str(k), st.X, st.z, 1.0) for k, st in enumerate(studies)
    ]
    gp = GPSurrogate(renamed, EngineConfig(max_source_studies=6))
    gp._select_sources(X_obs[:2], z_obs[:2])
    assert sorted(gp._selected or []) == [0, 1, 2, 3, 4, 5]

    # A twin of the target among unrelated studies (their spread is the floor) is chosen once the
    # target has a few dozen results.
    twin_X = rng.random((100, 3))
    strangers = [
        AlignedStudy(f"r{k}", rng.random((100, 3)), rng.standard_normal(100), 1.0) for k in range(20)
    ]
    twin = AlignedStudy("twin", twin_X, -((twin_X - 0.7) ** 2).sum(axis=1), 1.0)
    gp = GPSurrogate([*strangers, twin], EngineConfig(max_source_studies=1))
    X_obs = rng.random((30, 3))
    gp._select_sources(X_obs, -((X_obs - 0.7) ** 2).sum(axis=1))
    assert gp._selected == [20]

    # Studies of 1-2 trials do not judge, but are scored; with fewer than 2 judges, no information.
    tiny = [AlignedStudy(f"t{k}", rng.random((k + 1, 3)), rng.standard_normal(k + 1), 1.0) for k in range(2)]
    mixed = similarity_prior([*studies, *tiny])
    assert np.isfinite(mixed.mean).all()
    assert mixed.mean[:6].min() > mixed.mean[6:].max()
    only_one_judge = similarity_prior([studies[0], *tiny])
    np.testing.assert_array_equal(only_one_judge.mean, [0.0, 0.0, 0.0])


def test_the_choice_and_subsample_of_prior_studies_do_not_depend_on_their_names() -> None:
    import dataclasses

    from metahpo._mtgp import GPSurrogate
    from metahpo._portfolio import similarity_prior
    from metahpo._prior import AlignedStudy

    rng = np.random.default_rng(2)
    studies = [AlignedStudy(f"s{k}", rng.random((60, 3)), rng.standard_normal(60), 1.0) for k in range(4)]
    renamed = [dataclasses.replace(s, name=f"z{9 - k}") for k, s in enumerate(studies)]
    for a, b in zip(studies, renamed, strict=True):
        np.testing.assert_array_equal(subsample(a, 20), subsample(b, 20))
    np.testing.assert_array_equal(similarity_prior(studies).mean, similarity_prior(renamed).mean)
    # Two studies tie on everything the choice weighs (fewer than 3 studies: no similarity
    # information; same overlap and size): the same one is taken whatever their names.
    chosen = []
    for pair in (studies[:2], [renamed[0], renamed[1]]):
        gp = GPSurrogate(pair, EngineConfig(max_source_studies=1))
        gp._select_sources(rng.random((2, 3)), np.zeros(2))
        assert gp._selected is not None
        chosen.append(pair[gp._selected[0]].X)
    np.testing.assert_array_equal(chosen[0], chosen[1])


def test_two_prior_studies_of_one_name_do_not_share_fitted_hyper_parameters() -> None:
    """Names need not be unique (two storages' "study"): the warm start is kept per chosen task
    set by index, so a newly chosen study of the same name as the last is fitted, not conditioned
    on the other one's hyper-parameters."""
    import torch

    from metahpo._mtgp import GPSurrogate
    from metahpo._prior import AlignedStudy
    from metahpo._surrogate import TargetData

    rng = np.random.default_rng(3)
    a = AlignedStudy("study", rng.random((30, 2)), rng.standard_normal(30), 1.0)
    b = AlignedStudy("study", rng.random((30, 2)), rng.standard_normal(30), 1.0)
    gp = GPSurrogate([a, b], EngineConfig(max_source_studies=1))

    def data(n: int) -> TargetData:
        X = np.random.default_rng(n).random((n, 2))
        z = -((X - 0.5) ** 2).sum(axis=1)
        return TargetData(
            X_obs=X, z_obs=z, y_obs=z, X_pend=np.empty((0, 2)), seed=0, device=torch.device("cpu")
        )

    chosen = iter([0, 1])

    def choose(X_obs: np.ndarray, z_obs: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        gp._selected = [next(chosen)]
        s = gp._aligned[gp._selected[0]]
        return [(s.X, s.z)]

    gp._select_sources = choose  # type: ignore[method-assign]
    assert gp.fit(data(20)).info["hyperparameters_optimised"]
    # 21 results, within 10% of the last optimisation: the same task set would only be
    # conditioned; another set (another study of the same name) is optimised
    assert gp.fit(data(21)).info["hyperparameters_optimised"]


def test_prior_studies_that_rank_the_target_the_wrong_way_round_are_left_out() -> None:
    import torch

    from metahpo._mtgp import GPSurrogate
    from metahpo._prior import AlignedStudy
    from metahpo._surrogate import TargetData

    def f(X: np.ndarray) -> np.ndarray:
        return -((X - 0.3) ** 2).sum(axis=1)

    rng = np.random.default_rng(1)
    Xs = [rng.random((60, 3)) for _ in range(4)]
    negated = [AlignedStudy(f"neg{k}", X, -f(X), 1.0) for k, X in enumerate(Xs[:3])]
    related = AlignedStudy("related", Xs[3], f(Xs[3]), 1.0)
    X_obs = rng.random((20, 3))
    z_obs = f(X_obs)

    gp = GPSurrogate([*negated, related], EngineConfig(max_source_studies=4))
    # On 3 results no tau is far enough below 0 to tell a misleading study from chance.
    gp._select_sources(X_obs[:3], z_obs[:3])
    assert sorted(gp._selected or []) == [0, 1, 2, 3]
    # On 20 results the negated studies are left out, the related one stays.
    gp._select_sources(X_obs, z_obs)
    assert gp._selected == [3]
    assert gp._misleading == ["neg0", "neg1", "neg2"]

    # With every prior misleading the target is modelled alone, and the suggestion says why.
    gp = GPSurrogate(negated, EngineConfig(max_source_studies=4))
    data = TargetData(
        X_obs=X_obs, z_obs=z_obs, y_obs=z_obs, X_pend=np.empty((0, 3)), seed=0, device=torch.device("cpu")
    )
    fitted = gp.fit(data)
    assert fitted.phase == "gp"
    assert fitted.info["n_source_tasks"] == 0
    assert fitted.info["misleading_sources"] == ["neg0", "neg1", "neg2"]

    # Asking ahead stores a choice only when it leaves every prior out (no fit follows to make
    # it); one that keeps a prior is left to the fit, at the same history size.
    asked = GPSurrogate([*negated, related], EngineConfig(max_source_studies=4))
    assert asked.keeps_priors(X_obs, z_obs)
    assert asked._selected is None
    asked = GPSurrogate(negated, EngineConfig(max_source_studies=4))
    assert not asked.keeps_priors(X_obs, z_obs)
    assert asked._selected == []
    assert asked._misleading == ["neg0", "neg1", "neg2"]

    # Through the engine: one GP on the target alone, no second one as a challenger.
    space = SearchSpace({f"x{i}": FloatParam(0.0, 1.0) for i in range(3)})
    priors = [
        PriorStudy(
            s.name,
            tuple(
                PriorTrial({f"x{i}": float(v) for i, v in enumerate(x)}, (float(y),))
                for x, y in zip(s.X, f(s.X), strict=True)
            ),
        )
        for s in negated
    ]  # they minimise f, so their best configurations are the (maximising) target's worst
    engine = MetaEngine(priors, EngineConfig(n_startup_trials=3))
    observed = [{f"x{i}": float(v) for i, v in enumerate(x)} for x in X_obs]
    values = [float(v) for v in z_obs]
    # what an adapter asks before it suggests: nothing from the priors enters the model now
    assert not engine.learns_from_priors(space, "maximize", observed, values)
    s = engine.suggest(space, "maximize", observed, values, seed=0)
    assert s.phase == "gp"
    assert s.info["misleading_sources"] == ["neg0", "neg1", "neg2"]
    assert "served_by" not in s.info


def test_learns_from_priors_is_true_until_every_prior_is_left_out() -> None:
    space = SearchSpace({f"x{i}": FloatParam(0.0, 1.0) for i in range(3)})
    rng = np.random.default_rng(2)

    def prior(name: str, sign: float) -> PriorStudy:
        X = rng.random((40, 3))
        return PriorStudy(
            name,
            tuple(
                PriorTrial(
                    {f"x{i}": float(v) for i, v in enumerate(x)}, (sign * float(((x - 0.3) ** 2).sum()),)
                )
                for x in X
            ),
        )

    X_obs = rng.random((20, 3))
    observed = [{f"x{i}": float(v) for i, v in enumerate(x)} for x in X_obs]
    values = [float(((x - 0.3) ** 2).sum()) for x in X_obs]  # minimised
    assert not MetaEngine([]).learns_from_priors(space, "minimize", observed, values)
    misled = MetaEngine([prior("neg0", -1.0), prior("neg1", -1.0)])
    # the portfolio's trials come from the priors; on 3 results no prior can be told misleading
    assert misled.learns_from_priors(space, "minimize", observed[:2], values[:2])
    assert misled.learns_from_priors(space, "minimize", observed[:3], values[:3])
    assert misled.misleading_sources(space, "minimize") == ()
    assert not misled.learns_from_priors(space, "minimize", observed, values)
    assert misled.misleading_sources(space, "minimize") == ("neg0", "neg1")
    # the choice is the one the suggestion makes, and it says so
    s = misled.suggest(space, "minimize", observed, values, seed=0)
    assert s.phase == "gp"
    assert s.info["misleading_sources"] == ["neg0", "neg1"]
    # one prior that ranks the results the right way round keeps the transfer
    mixed = MetaEngine([prior("neg0", -1.0), prior("pos", 1.0)])
    assert mixed.learns_from_priors(space, "minimize", observed, values)
    with pytest.raises(ValueError, match="values"):
        mixed.learns_from_priors(space, "minimize", observed, values[:-1])
    # a setting that keeps no prior point is not looked at: the engine's own GP serves on
    no_points = MetaEngine([prior("pos", 1.0)], EngineConfig(max_prior_points=0))
    assert no_points.learns_from_priors(space, "minimize", observed, values)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_asking_learns_from_priors_does_not_change_the_engines_suggestions(sign: float) -> None:
    # one engine is asked before every suggestion, the other never; on a growing history (with
    # choices of priors due at 3, 5, 7, 10 and 15 results) they suggest the same, whether the
    # priors are kept (sign 1) or all left out as misleading (sign -1: from 15 results on)
    space = SearchSpace({f"x{i}": FloatParam(0.0, 1.0) for i in range(3)})
    rng = np.random.default_rng(3)

    def f(x: np.ndarray) -> float:
        return float(((x - 0.3) ** 2).sum())

    priors = [
        PriorStudy(
            f"p{k}",
            tuple(
                PriorTrial({f"x{i}": float(v) for i, v in enumerate(x)}, (sign * f(x),))
                for x in rng.random((30, 3))
            ),
        )
        for k in range(2)
    ]
    asked, silent = (MetaEngine(priors, EngineConfig(n_candidates=128)) for _ in range(2))
    X = rng.random((16, 3))
    observed = [{f"x{i}": float(v) for i, v in enumerate(x)} for x in X]
    values = [f(x) for x in X]
    answers = []
    for n in range(3, 17):
        answers.append(asked.learns_from_priors(space, "minimize", observed[:n], values[:n]))
        a = asked.suggest(space, "minimize", observed[:n], values[:n], seed=n)
        b = silent.suggest(space, "minimize", observed[:n], values[:n], seed=n)
        assert a.params == b.params
        assert a.phase == b.phase
    assert all(answers) if sign > 0 else not all(answers)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_startup_trials": -1}, "n_startup_trials"),
        ({"max_points_per_study": 1}, "max_points_per_study"),
        ({"min_overlap": 1.5}, "min_overlap"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_config_validation_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        EngineConfig(**kwargs)


def test_cuda_out_of_memory_moves_the_engine_to_the_cpu_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = MetaEngine(PRIORS, EngineConfig(n_startup_trials=2))
    real = MetaEngine._suggest
    devices = []

    def on_a_small_gpu(self: MetaEngine, *args: object) -> object:
        devices.append(self._device())
        if self._device() != "cpu":
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(MetaEngine, "_suggest", on_a_small_gpu)
    cfgs = SPACE.decode(np.random.default_rng(3).random((4, SPACE.n_features)))
    s = engine.suggest(SPACE, "minimize", cfgs, [f(c, 1.0) for c in cfgs], seed=0)
    assert any("CUDA out of memory" in w for w in s.warnings)
    assert devices == ["auto", "cpu"]
    engine.suggest(SPACE, "minimize", cfgs, [f(c, 1.0) for c in cfgs], seed=1)
    assert devices == ["auto", "cpu", "cpu"]  # stays on the CPU


def test_a_row_that_leaves_parameters_unset_matches_any_value_of_them() -> None:
    from metahpo._optim import is_row_of

    X = np.array([[0.2, np.nan, 1.0], [np.nan, np.nan, np.nan]])
    assert is_row_of(np.array([0.2, 0.9, 1.0]), X)  # differs only where the trial set nothing
    assert not is_row_of(np.array([0.3, 0.9, 1.0]), X)
    assert not is_row_of(np.array([0.3, 0.9, 0.0]), X[1:])  # a row that knows nothing matches nothing


def test_nearest_neighbours_of_1000_trials_in_a_100000_trial_study_stay_small() -> None:
    import tracemalloc

    from metahpo._portfolio import knn_predict
    from metahpo._prior import AlignedStudy

    rng = np.random.default_rng(0)
    study = AlignedStudy("big", rng.random((100_000, 7)), rng.normal(size=100_000), 1.0)
    X = rng.random((1_000, 7))
    tracemalloc.start()
    try:
        got = knn_predict(study, X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20  # at once it would be 1,000 x 100,000 x 7 doubles, 5.6 GB
    some = rng.choice(1_000, size=5, replace=False)
    exact = [study.z[np.argmin(((study.X - X[i]) ** 2).sum(axis=1))] for i in some]
    np.testing.assert_array_equal(got[some], exact)


def test_a_suggestion_leaves_the_callers_torch_generator_and_threads_as_they_were() -> None:
    import torch

    engine = MetaEngine(PRIORS, EngineConfig(n_startup_trials=2))
    cfgs = SPACE.decode(np.random.default_rng(3).random((4, SPACE.n_features)))
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    s = engine.suggest(SPACE, "minimize", cfgs, [f(c, 1.0) for c in cfgs], seed=0)
    assert s.phase == "mtgp"
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def _failing_prior(name: str, seed: int, lo: float, hi: float) -> PriorStudy:
    """Random search on ``x`` (minimise ``x``) whose trials failed for ``lo <= x < hi``."""
    space = SearchSpace({"x": FloatParam(0.0, 20.0), "y": FloatParam(0.0, 1.0)})
    cfgs = space.decode(np.random.default_rng(seed).random((30, 2)))
    done = tuple(PriorTrial(c, (c["x"] + c["y"],)) for c in cfgs if not lo <= c["x"] < hi)
    failed = tuple(c for c in cfgs if lo <= c["x"] < hi)
    return PriorStudy(name, done, ("minimize",), failed=failed)


def test_prior_failures_steer_the_target_away_before_it_fails_there() -> None:
    # Every prior failed below x = 4, where a minimiser of x + y would go next; the target has
    # three results above 4 and no failure yet.
    space = SearchSpace({"x": FloatParam(0.0, 20.0), "y": FloatParam(0.0, 1.0)})
    observed = [{"x": 9.0, "y": 0.5}, {"x": 6.0, "y": 0.2}, {"x": 14.0, "y": 0.9}]
    values = [c["x"] + c["y"] for c in observed]
    config = EngineConfig(n_startup_trials=3)
    with_failures = [_failing_prior(f"p{i}", i, 0.0, 4.0) for i in range(3)]
    assert all(len(p.failed) > 0 for p in with_failures)
    without = [PriorStudy(p.name, p.trials, p.directions) for p in with_failures]

    def proposals(priors: list[PriorStudy]) -> list[float]:
        engine = MetaEngine(priors, config)
        return [engine.suggest(space, "minimize", observed, values, seed=s).params["x"] for s in range(4)]

    assert all(x >= 4.0 for x in proposals(with_failures))
    assert sum(x < 4.0 for x in proposals(without)) >= 2  # the same priors, their failures unknown


def test_aligned_priors_keep_their_failed_configurations() -> None:
    p = _failing_prior("p", 0, 0.0, 4.0)
    engine = MetaEngine([p])
    space = SearchSpace({"x": FloatParam(0.0, 20.0), "y": FloatParam(0.0, 1.0)})
    report = engine.alignment(space, "minimize")
    assert report.studies[0].n_failed == len(p.failed) > 0
    # a failure that did not set a parameter the trials set is not imputed; failures add no overlap
    partial = PriorStudy("q", p.trials, failed=({"x": 1.0}, {"x": 2.0, "y": 0.5}, {"z": 1.0}))
    (rep,) = align_studies(space, [partial], "minimize")[1].studies
    assert rep.n_failed == 1
    assert rep.dropped == []
    with pytest.raises(ValueError, match=r"PriorStudy.failed\[0\]"):
        PriorStudy("bad", (), failed=(1.0,))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: PriorTrial({"x": 1.0}, 1.0), "PriorTrial.values must be a sequence"),  # not (1.0,)
        (lambda: PriorTrial({"x": 1.0}, ()), "PriorTrial.values must hold at least one number"),
        (lambda: PriorTrial({"x": 1.0}, ("a",)), "PriorTrial.values must hold at least one number"),
        (lambda: PriorTrial([1.0], (1.0,)), "PriorTrial.params must map"),
        (lambda: PriorTrial({"x": 1.0}, (1.0,), {"c": "x"}), "PriorTrial.constraints must map"),
        (lambda: PriorStudy("s", (1.0,)), r"PriorStudy.trials\[0\] must be a PriorTrial"),
    ],
)
def test_malformed_prior_trials_are_rejected_naming_the_field(make: Any, field: str) -> None:
    # before, a bare float as values was accepted and every model trial of the study fell back
    with pytest.raises(ValueError, match=field):
        make()
    assert PriorTrial({"x": 1.0}, [np.float64(2.0), math.nan]).values[0] == 2.0  # a list and NaN are fine


def _constrained_prior(name: str, seed: int) -> PriorStudy:
    """Minimise (x - 2)^2 + y on [0, 3] x [0, 1] subject to x <= 1 (``limit`` = x - 1)."""
    space = SearchSpace({"x": FloatParam(0.0, 3.0), "y": FloatParam(0.0, 1.0)})
    cfgs = space.decode(np.random.default_rng(seed).random((40, 2)))
    return PriorStudy(
        name,
        tuple(PriorTrial(c, ((c["x"] - 2) ** 2 + c["y"],), {"limit": c["x"] - 1.0}) for c in cfgs),
    )


def test_constraints_of_priors_shape_the_portfolio_and_the_model() -> None:
    space = SearchSpace({"x": FloatParam(0.0, 3.0), "y": FloatParam(0.0, 1.0)})
    priors = [_constrained_prior(f"p{i}", i) for i in range(3)]
    engine = MetaEngine(priors, EngineConfig(n_startup_trials=3))
    # the portfolio serves configurations that were feasible in the priors, not their
    # unconstrained best (x near 2)
    first = engine.suggest(space, "minimize", [], [], seed=0)
    assert first.phase == "portfolio"
    assert first.params["x"] <= 1.0
    observed = [{"x": 0.2, "y": 0.1}, {"x": 0.9, "y": 0.5}, {"x": 1.5, "y": 0.2}]
    values = [(c["x"] - 2) ** 2 + c["y"] for c in observed]
    limits = [{"limit": c["x"] - 1.0} for c in observed]
    s = engine.suggest(space, "minimize", observed, values, seed=1, constraints=limits)
    assert s.info["n_constraint_models"] == 1
    assert s.info["n_constraint_prior_tasks"] == 3
    assert s.params["x"] <= 1.05
    # what the models expected of the suggestion is recorded for the trial's diagnostics
    assert 0.5 < s.info["predicted_feasibility"] <= 1.0
    with pytest.raises(ValueError, match="constraints"):
        engine.suggest(space, "minimize", observed, values, seed=1, constraints=limits[:2])


def test_the_portfolio_prefers_configurations_feasible_across_the_priors() -> None:
    # the limit differs per prior (x <= 0.8, 1.0, 1.4): the last prior's best feasible x near 1.4
    # broke the other two priors' constraint
    space = SearchSpace({"x": FloatParam(0.0, 3.0), "y": FloatParam(0.0, 1.0)})
    priors = []
    for i, t in enumerate((0.8, 1.0, 1.4)):
        cfgs = space.decode(np.random.default_rng(i).random((60, 2)))
        trials = tuple(PriorTrial(c, ((c["x"] - 2) ** 2 + c["y"],), {"limit": c["x"] - t}) for c in cfgs)
        priors.append(PriorStudy(f"p{i}", trials))
    engine = MetaEngine(priors, EngineConfig(n_startup_trials=3))
    first = engine.suggest(space, "minimize", [], [], seed=0).params
    # feasible in every prior: what a new task's limit most likely allows (judged by feasibility
    # in the prior it came from alone, the first was x = 1.22); later rows may cover the others
    assert first["x"] <= 0.85


def test_before_any_feasible_result_the_probability_of_feasibility_leads() -> None:
    space = SearchSpace({"x": FloatParam(0.0, 3.0), "y": FloatParam(0.0, 1.0)})
    engine = MetaEngine([], EngineConfig(n_startup_trials=3))
    observed = [{"x": 2.0, "y": 0.1}, {"x": 2.5, "y": 0.5}, {"x": 1.5, "y": 0.9}]
    values = [(c["x"] - 2) ** 2 + c["y"] for c in observed]
    limits = [{"limit": c["x"] - 1.0} for c in observed]  # all infeasible
    xs = [
        engine.suggest(space, "minimize", observed, values, seed=s, constraints=limits).params["x"]
        for s in range(3)
    ]
    assert all(x < 1.5 for x in xs)
    unconstrained = engine.suggest(space, "minimize", observed, values, seed=0)
    assert "predicted_feasibility" not in unconstrained.info


def test_multi_objective_values_need_one_value_per_direction() -> None:
    space = SearchSpace({"x": FloatParam(0.0, 1.0)})
    engine = MetaEngine([])
    observed = [{"x": 0.1}, {"x": 0.5}, {"x": 0.9}]
    with pytest.raises(ValueError, match="values"):
        engine.suggest(space, ("minimize", "maximize"), observed, [1.0, 2.0, 3.0], seed=0)
    values = [[x["x"], (x["x"] - 0.5) ** 2] for x in observed]
    s = engine.suggest(space, ("minimize", "maximize"), observed, values, seed=0)
    assert s.phase == "startup"  # fewer results than the start-up trials
    engine = MetaEngine([], EngineConfig(n_startup_trials=3))
    s = engine.suggest(space, ("minimize", "maximize"), observed, values, seed=0)
    assert s.phase == "gp"
    assert s.info["n_objectives"] == 2


def test_infinite_constraint_values_are_infeasible_and_nan_unknown() -> None:
    from metahpo._prior import constraint_columns

    cols = constraint_columns([{"a": math.inf}, {"a": -1.0}, {}, {"a": math.nan}])
    assert cols["a"][:2].tolist() == [math.inf, -1.0]
    assert np.isnan(cols["a"][2:]).all()
    space = SearchSpace({"x": FloatParam(0.0, 1.0)})
    trials = tuple(
        PriorTrial({"x": x}, (x,), {"a": c}) for x, c in [(0.1, math.inf), (0.5, -1.0), (0.9, 0.0)]
    )
    (aligned,), _ = align_studies(space, [PriorStudy("p", trials)], "minimize")
    assert aligned.feasible.tolist() == [False, True, True]


def test_pareto_front_and_feasible_first_incumbents() -> None:
    from metahpo._acqf import pareto_front
    from metahpo._surrogate import TargetData

    Y = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.4, 0.4], [1.0, 0.0]])  # higher is better
    assert pareto_front(Y).tolist() == [True, True, True, False, True]
    X = np.arange(4.0)[:, None]
    data = TargetData(
        X_obs=X,
        z_obs=np.array([3.0, 2.0, 1.0, 0.0]),
        y_obs=np.zeros(4),
        X_pend=np.empty((0, 1)),
        seed=0,
        device=None,  # type: ignore[arg-type]
        feasible=np.array([False, True, False, True]),
    )
    assert data.top(3)[:, 0].tolist() == [1.0, 3.0, 0.0]
    assert data.incumbent(data.z_obs) == 2.0


def test_prequential_choice_serves_the_model_that_ranked_recent_outcomes_better() -> None:
    import torch

    from metahpo._engine import _PREQ_WINDOW, _prequential_choice
    from metahpo._surrogate import TargetData

    rng = np.random.default_rng(0)
    n = _PREQ_WINDOW + 5
    X = rng.random((n, 2))
    z = rng.normal(size=n)
    data = TargetData(X_obs=X, z_obs=z, y_obs=z, X_pend=np.empty((0, 2)), seed=0, device=torch.device("cpu"))
    good, bad = list(z), list(rng.normal(size=n))
    # the transfer model predicted noise, the target-only GP the outcomes' order
    records = [(X[i], {"mtgp": bad[i], "target_gp": good[i]}) for i in range(n)]
    choice, taus = _prequential_choice(records, data, ["mtgp", "target_gp"])
    assert choice == "target_gp"
    assert taus["target_gp"] == pytest.approx(1.0)
    records = [(X[i], {"mtgp": good[i], "target_gp": bad[i]}) for i in range(n)]
    assert _prequential_choice(records, data, ["mtgp", "target_gp"])[0] == "mtgp"
    # too few suggestions with an outcome: the default serves
    assert _prequential_choice(records[: _PREQ_WINDOW - 1], data, ["mtgp", "target_gp"]) == ("mtgp", {})
    # records of configurations without an outcome (still running) are not counted
    unseen = [(rng.random(2) + 5.0, {"mtgp": 0.0, "target_gp": 0.0}) for _ in range(5)]
    assert _prequential_choice(records[: _PREQ_WINDOW - 1] + unseen, data, ["mtgp", "target_gp"]) == (
        "mtgp",
        {},
    )


def test_prequential_choice_is_a_tournament_in_the_candidates_order() -> None:
    import torch

    from metahpo._engine import _PREQ_WINDOW, _prequential_choice
    from metahpo._surrogate import TargetData

    rng = np.random.default_rng(1)
    n = 2 * _PREQ_WINDOW
    X = rng.random((n, 2))
    z = rng.normal(size=n)
    data = TargetData(X_obs=X, z_obs=z, y_obs=z, X_pend=np.empty((0, 2)), seed=0, device=torch.device("cpu"))
    noisy = z + rng.normal(scale=1.0, size=n)
    noise = rng.normal(size=n)
    order = ["neural", "mtgp", "target_gp"]
    # the MTGP ranked the outcomes better than the neural surrogate; the target-only GP was fitted
    # only for the last suggestions, too few to compete: the MTGP serves
    records = [
        (X[i], {"neural": noise[i], "mtgp": noisy[i]} | ({"target_gp": z[i]} if i >= n - 5 else {}))
        for i in range(n)
    ]
    name, taus = _prequential_choice(records, data, order)
    assert name == "mtgp"
    assert set(taus) == {"neural", "mtgp"}
    # once the target-only GP has as many predictions with outcomes, it faces the winner
    records = [(X[i], {"neural": noise[i], "mtgp": noisy[i], "target_gp": z[i]}) for i in range(n)]
    assert _prequential_choice(records, data, order)[0] == "target_gp"
    # a missing prediction (the model could not predict) leaves that record out of the comparison
    records = [(X[i], {"neural": z[i]} if i % 3 else {"neural": z[i], "mtgp": noise[i]}) for i in range(n)]
    assert _prequential_choice(records, data, order) == ("neural", {})


def test_the_model_that_served_is_recorded_once_the_target_has_its_own_evidence() -> None:
    from metahpo._engine import _PREQ_WINDOW

    space = SearchSpace({"x": FloatParam(0.0, 1.0)})
    rng = np.random.default_rng(0)
    prior = PriorStudy("p", tuple(PriorTrial({"x": float(x)}, ((x - 0.3) ** 2,)) for x in rng.random(20)))
    engine = MetaEngine([prior], EngineConfig(n_startup_trials=3))
    xs = rng.random(_PREQ_WINDOW)
    observed = [{"x": float(x)} for x in xs]
    values = [float((x - 0.3) ** 2) for x in xs]
    short = engine.suggest(space, "minimize", observed[:-1], values[:-1], seed=0)
    assert "served_by" not in short.info  # no target-only GP yet
    s = engine.suggest(space, "minimize", observed, values, seed=0)
    # no model suggestion has an outcome yet: the transfer model serves
    assert s.info["served_by"] == "mtgp"
    assert s.phase == "mtgp"


def test_candidates_are_compared_on_the_results_as_evaluated_not_as_suggested() -> None:
    # The user evaluates a rounded version of each suggestion (as with a pool of configurations,
    # or an inactive conditional parameter): the candidates' predictions must still be scored
    # against the results, from the models fitted before each result was known.
    from metahpo._engine import _PREQ_WINDOW

    space = SearchSpace({"x": FloatParam(0.0, 1.0)})
    rng = np.random.default_rng(0)
    prior = PriorStudy("p", tuple(PriorTrial({"x": float(x)}, ((x - 0.3) ** 2,)) for x in rng.random(20)))
    engine = MetaEngine([prior], EngineConfig(n_startup_trials=3))
    observed = [{"x": float(x)} for x in rng.random(_PREQ_WINDOW)]
    s = None
    for _ in range(_PREQ_WINDOW + 5):
        values = [float((o["x"] - 0.3) ** 2) for o in observed]
        s = engine.suggest(space, "minimize", observed, values, seed=len(observed))
        observed.append({"x": round(float(s.params["x"]) + 0.0013, 3) % 1.0})
    assert s is not None
    assert set(s.info["prequential_tau"]) == {"mtgp", "target_gp"}
    assert s.info["served_by"] in ("mtgp", "target_gp")


def test_each_result_is_scored_once_by_the_models_fitted_before_it() -> None:
    import types

    import torch

    from metahpo._engine import _record_predictions
    from metahpo._surrogate import TargetData

    calls: list[tuple[str, int]] = []

    def model(name: str, offset: float, fail: bool = False):  # type: ignore[no-untyped-def]
        def predict(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            calls.append((name, X.shape[0]))
            if fail:
                raise RuntimeError("cannot predict")
            return X[:, 0] + offset, torch.ones(X.shape[0], dtype=X.dtype)

        return predict

    def data(xs: list[float]) -> TargetData:
        X = np.asarray(xs, dtype=float)[:, None]
        z = np.zeros(len(xs))
        return TargetData(
            X_obs=X, z_obs=z, y_obs=z, X_pend=np.empty((0, 1)), seed=0, device=torch.device("cpu")
        )

    st = types.SimpleNamespace(scored=Counter(), predictions=deque(maxlen=60), last_models={})
    # the first model suggestion: the results so far had no model before them
    _record_predictions(st, data([0.1, 0.2]))  # type: ignore[arg-type]
    assert list(st.predictions) == []
    assert calls == []
    # two new results, one of them a configuration evaluated again: both are scored, by the models
    # of the suggestion before them; a model that cannot predict is left out of the record
    st.last_models = {"a": model("a", 0.0), "b": model("b", 1.0), "c": model("c", 0.0, fail=True)}
    _record_predictions(st, data([0.1, 0.2, 0.2, 0.5]))  # type: ignore[arg-type]
    assert [(float(x[0]), m) for x, m in st.predictions] == [
        (0.2, {"a": 0.2, "b": 1.2}),
        (0.5, {"a": 0.5, "b": 1.5}),
    ]
    assert st.last_models == {}  # the fits of the new suggestion replace them
    # nothing new: nothing scored again
    st.last_models = {"a": model("a", 0.0)}
    _record_predictions(st, data([0.1, 0.2, 0.2, 0.5]))  # type: ignore[arg-type]
    assert len(st.predictions) == 2
    # a shorter history (another study of the same space): the record starts afresh
    st.last_models = {"a": model("a", 0.0)}
    _record_predictions(st, data([0.7]))  # type: ignore[arg-type]
    assert list(st.predictions) == []


def test_a_pending_configuration_of_a_conditional_space_is_not_proposed_again() -> None:
    # "n" only exists when a == "x"; a pending trial {"a": "y"} (n unset) is the portfolio's first
    # row, so the next suggestion must be another configuration, in the portfolio and after it
    space = SearchSpace(
        {"a": CategoricalParam(("x", "y")), "n": IntParam(0, 3)}, conditions={"n": [[("a", "x")]]}
    )
    prior = PriorStudy(
        "p",
        tuple(
            PriorTrial(c, (v,))
            for c, v in [({"a": "y"}, 0.0), ({"a": "x", "n": 1}, 1.0), ({"a": "x", "n": 3}, 2.0)]
        ),
        ("minimize",),
    )
    for startup in (None, 0):
        engine = MetaEngine([prior], EngineConfig(n_startup_trials=startup))
        first = engine.suggest(space, "minimize", [], [], seed=0)
        assert first.params["a"] == "y"
        for seed in range(3):
            again = engine.suggest(space, "minimize", [], [], pending=[{"a": "y"}], seed=seed)
            assert again.params["a"] == "x", again.params


def test_pruned_trials_estimated_from_their_learning_curves() -> None:
    from metahpo._pruned import estimate_pruned_values

    nan, inf = float("nan"), float("inf")
    curves = [{1: 5.0, 2: 4.0}, {1: 3.0, 2: 2.0}, {1: 4.0, 2: 3.0}, {1: 6.0, 2: nan}]
    finals = [3.5, 1.0, 2.0, 4.0]
    pruned = [{1: 7.0, 2: 5.0}, {1: 3.5}, {1: 1.0}, {3: 1.0}, {}, {1: 4.0, 3: 0.5}]
    est = estimate_pruned_values(curves, finals, pruned, "minimize")
    # behind all three with a value at step 2: their worst final; among the four at step 1, one
    # of four better (the 0.25-quantile of all four finals); ahead of all: the best final
    assert est[:3].tolist() == [3.5, 1.75, 1.0]
    # a step no three completed trials reported, or no curve: nothing to rank against
    assert np.isnan(est[3])
    assert np.isnan(est[4])
    # a last step without references: ranked at the step before, one of four better and one tied
    # (r = 1.5 / 4): the 0.375-quantile of the four finals
    assert est[5] == pytest.approx(2.1875)
    # a run that diverged (NaN, or infinitely bad, at its last step) is as bad as the worst, however
    # good it looked before; an infinitely good value ranks first
    diverged = estimate_pruned_values(
        curves, finals, [{1: 0.5, 2: nan}, {1: 0.5, 2: inf}, {2: -inf}], "minimize"
    )
    assert diverged.tolist() == [4.0, 4.0, 1.0]
    # maximising mirrors minimising
    mirrored = estimate_pruned_values(
        [{k: -v for k, v in c.items()} for c in curves],
        [-v for v in finals],
        [{1: -7.0, 2: -5.0}],
        "maximize",
    )
    assert mirrored.tolist() == [-3.5]
    with pytest.raises(ValueError, match="curves"):
        estimate_pruned_values(curves[:2], finals, pruned, "minimize")
    with pytest.raises(ValueError, match="integers"):
        estimate_pruned_values(curves, finals, [{1.5: 3.0}], "minimize")  # type: ignore[dict-item]


def test_pruned_trials_with_learning_curves_teach_the_model_where_not_to_go() -> None:
    space = SearchSpace({"x": FloatParam(0.0, 1.0)})
    # the results improve towards the right; trials further right were pruned far behind
    observed = [{"x": x} for x in (0.05, 0.15, 0.25, 0.35, 0.45)]
    values = [-c["x"] for c in observed]
    curves = [{1: v + 1.0, 2: v + 0.5} for v in values]
    pruned = [{"x": x} for x in (0.6, 0.7, 0.8, 0.9)]

    def suggest(**kw: Any) -> Any:
        return MetaEngine([], EngineConfig(n_startup_trials=2)).suggest(
            space, "minimize", observed, values, seed=0, pruned=pruned, **kw
        )

    taught = suggest(curves=curves, pruned_curves=[{1: 5.0}] * 4)
    assert taught.info["n_pruned_estimated"] == 4
    assert taught.params["x"] < 0.55
    alone = suggest()  # without curves a pruned trial only blocks its own configuration
    assert "n_pruned_estimated" not in alone.info
    assert alone.params["x"] > 0.55
    with pytest.raises(ValueError, match="pruned_curves"):
        suggest(curves=curves, pruned_curves=[{1: 5.0}])
    # a trial pruned before it set every parameter reported before the rest existed: it is taught
    # at the parameters it set (the rest imputed), as a define-by-run study would otherwise stall
    wide = SearchSpace({"x": FloatParam(0.0, 1.0), "y": FloatParam(0.0, 1.0)})
    partial = MetaEngine([], EngineConfig(n_startup_trials=2)).suggest(
        wide,
        "minimize",
        [{**c, "y": 0.5} for c in observed],
        values,
        seed=0,
        pruned=[{"x": 0.7}, {"x": 0.8, "y": 0.5}],
        curves=curves,
        pruned_curves=[{1: 5.0}] * 2,
    )
    assert partial.info["n_pruned_estimated"] == 2
