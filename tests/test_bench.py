"""``metahpo bench``: loaders read the real data correctly and a tiny run gives well-formed curves.

Uses the benchmark data beside the repository (``../shared/data``) or ``$METAHPO_BENCH_DATA``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import optuna
import pytest
from _needs import need

from metahpo_cli import main
from metahpo_cli.bench import load_problem

DATA = Path(os.environ.get("METAHPO_BENCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
need((DATA / "yahpo").is_dir(), f"benchmark data at {DATA} (set METAHPO_BENCH_DATA)", module=True)


def test_lcbench_layout_gives_sensible_predictions() -> None:
    p = load_problem(DATA, "lcbench")
    assert len(p.tasks) == 34
    assert "epoch" not in p.distributions  # fidelity held at full
    cfg = {
        "batch_size": 91,
        "learning_rate": 3e-3,
        "momentum": 0.5,
        "weight_decay": 0.05,
        "num_layers": 3,
        "max_units": 256,
        "max_dropout": 0.5,
    }
    err = p.evaluate("189909", [cfg, {**cfg, "learning_rate": 1e-4}])
    assert np.all((err > 0) & (err < 100))  # 100 - validation accuracy in percent
    assert err[0] != err[1]


def test_rbv2_conditions_and_booster_effect() -> None:
    p = load_problem(DATA, "rbv2_xgboost")
    assert p.conditions["rate_drop"] == ("booster", ("dart",))
    rng = np.random.default_rng(0)
    cfgs = p.random_configs(200, rng)
    for c in cfgs:
        assert ("eta" in c) == (c["booster"] != "gblinear")
    err = p.evaluate(p.tasks[0], cfgs)
    assert np.all((err >= 0) & (err <= 1))
    assert np.ptp(err) > 0.05


def test_tabrepo_snaps_to_the_pool() -> None:
    p = load_problem(DATA, "tabrepo_lightgbm")
    assert len(p.tasks) == 93
    assert p.snap is not None
    pool_best = p.scan(p.tasks[0], np.random.default_rng(0)).min()
    proposal = {
        "learning_rate": 0.05,
        "num_leaves": 31,
        "feature_fraction": 1.0,
        "min_data_in_leaf": 20,
        "extra_trees": False,
    }
    taken: set[int] = set()
    cfgs = [p.snap(proposal, taken) for _ in range(104)]
    assert p.evaluate(p.tasks[0], cfgs[:1])[0] >= pool_best
    # the same proposal evaluates a new pool member each time, until the pool is used up
    assert len(taken) == 104
    assert len({tuple(sorted(c.items())) for c in cfgs}) == 104
    assert sorted(p.evaluate(p.tasks[0], cfgs)) == sorted(p.scan(p.tasks[0], np.random.default_rng(0)))
    assert p.snap(proposal, taken) == cfgs[0]


def test_the_nearest_pool_rule_is_a_fixed_function_of_the_proposal() -> None:
    p = load_problem(DATA, "tabrepo_lightgbm-nearest")
    assert p.name == "tabrepo_lightgbm-nearest"
    assert p.snap is not None
    rng = np.random.default_rng(0)
    proposals = p.random_configs(30, rng)
    taken: set[int] = set()
    first = [p.snap(c, taken) for c in proposals]
    again = [p.snap(c, taken) for c in proposals]  # whatever the run evaluated before
    assert first == again
    values = p.evaluate(p.tasks[0], proposals)
    assert np.array_equal(values, p.evaluate(p.tasks[0], first))
    # under the default rule the same proposals evaluate other pool members the second time
    default = load_problem(DATA, "tabrepo_lightgbm")
    assert default.snap is not None
    taken.clear()
    first = [default.snap(c, taken) for c in proposals]
    assert [default.snap(c, taken) for c in proposals] != first


def test_random_forest_returns_the_error_of_the_tasks_nearest_real_run() -> None:
    from metahpo import public_priors

    p = load_problem(DATA, "random_forest")
    assert len(p.tasks) == 94
    assert p.snap is None
    assert p.kind == "single"
    name = f"public:random_forest:{p.tasks[3]}"
    study = next(s for s in public_priors("random_forest", trials_per_task=None) if s.name == name)
    runs = study.trials[:40]
    # a run's own configuration gets its own 10-fold accuracy back, as an error
    values = p.evaluate(p.tasks[3], [t.params for t in runs])
    assert np.allclose(values, [1.0 - t.values[0] for t in runs])
    scan = p.scan(p.tasks[3], np.random.default_rng(0))
    assert scan.shape == (500,)
    assert np.isclose(scan.min(), 1.0 - max(t.values[0] for t in study.trials))
    # another task's runs answer differently for the same configurations
    assert not np.allclose(values, p.evaluate(p.tasks[4], [t.params for t in runs]))
    # any configuration of the space gets one of the task's 500 results
    random = p.evaluate(p.tasks[3], p.random_configs(20, np.random.default_rng(1)))
    assert np.isin(random, scan).all()


def test_the_nearest_pool_problem_runs_with_priors_of_distinct_pool_configurations(tmp_path: Path) -> None:
    args = ["bench", "--data", str(DATA), "--out", str(tmp_path), "--quick", "--problems"]
    args += ["tabrepo_lightgbm-nearest", "--methods", "random", "--budget", "3", "--test-tasks", "1"]
    args += ["--prior-tasks", "2", "--prior-trials", "60"]
    assert main(args) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert set(res["problems"]) == {"tabrepo_lightgbm-nearest"}
    storage = f"sqlite:///{tmp_path / 'kb-tabrepo_lightgbm-nearest-split0.db'}"
    names = optuna.get_all_study_names(storage)
    assert len(names) == 2
    assert all(n.startswith("tabrepo_lightgbm-nearest-prior-") for n in names)
    for name in names:
        trials = optuna.load_study(study_name=name, storage=storage).trials
        # 60 random configurations of a 104-configuration pool: distinct, as a user's study would be
        assert len({tuple(sorted(t.params.items())) for t in trials}) == 60


def test_quick_run_writes_well_formed_curves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "bench",
        "--data",
        str(DATA),
        "--out",
        str(tmp_path),
        "--quick",
        "--problems",
        "lcbench",
        "--methods",
        "meta",
        "random",
        "--budget",
        "5",
        "--test-tasks",
        "1",
        "--prior-tasks",
        "3",
        "--prior-trials",
        "10",
    ]
    assert main(args) == 0
    assert "| meta |" in capsys.readouterr().out
    res = json.loads((tmp_path / "results.json").read_text())
    summary = res["problems"]["lcbench"]["summary"]
    for curve in summary["mean"].values():
        c = np.asarray(curve)
        assert c.shape == (5,)
        assert np.all((c >= 0) & (c <= 1))
        assert np.all(np.diff(c) <= 1e-12)
    assert (tmp_path / "regret-lcbench.png").stat().st_size > 1000
    assert (tmp_path / "results.md").exists()
    (meta,) = res["problems"]["lcbench"]["runs"]["meta"].values()
    # how MetaSampler chose each trial: the portfolio first (priors), then its models
    assert [s["phase"] for s in meta[0]["served"]][:1] == ["portfolio"]
    assert {s["phase"] for s in meta[0]["served"]} <= {"portfolio", "mtgp", "neural", "gp"}
    (rand,) = res["problems"]["lcbench"]["runs"]["random"].values()
    assert "served" not in rand[0]


def test_each_problem_and_split_trains_its_neural_surrogate_in_its_own_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The figures must not depend on what the machine cached before: the bench never reads or
    # writes the user's cache, and each problem and split has a folder of its own.
    user_cache = tmp_path / "user-cache"
    monkeypatch.setenv("METAHPO_CACHE_DIR", str(user_cache))
    out = tmp_path / "out"
    args = ["bench", "--data", str(DATA), "--out", str(out), "--quick", "--problems", "lcbench"]
    args += ["--methods", "meta-neural", "--budget", "5", "--test-tasks", "1", "--prior-tasks", "3"]
    args += ["--prior-trials", "10"]
    assert main(args) == 0
    assert not user_cache.exists() or not any(user_cache.iterdir())
    (model,) = (out / "surrogate-cache" / "lcbench-split0").glob("*.pt")
    assert model.stat().st_size > 0
    assert sorted(p.name for p in (out / "surrogate-cache").iterdir()) == ["lcbench-split0"]


def test_hyperopt_methods_run_on_conditional_and_pool_problems(tmp_path: Path) -> None:
    args = ["bench", "--data", str(DATA), "--out", str(tmp_path), "--quick", "--problems", "rbv2_xgboost"]
    args += ["tabrepo_lightgbm", "--methods", "hyperopt-tpe", "hyperopt-meta", "--budget", "6"]
    args += ["--test-tasks", "1", "--prior-tasks", "3", "--prior-trials", "10"]
    assert main(args) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    for pname in ("rbv2_xgboost", "tabrepo_lightgbm"):
        prob = res["problems"][pname]
        assert prob["failed"] == {}
        for method in ("hyperopt-tpe", "hyperopt-meta"):
            (run,) = prob["runs"][method][prob["test_tasks"][0]]
            assert len(run["values"]) == 6
            assert all(np.isfinite(run["values"]))
            assert len(run["seconds"]) == 6
        (run,) = prob["runs"]["hyperopt-meta"][prob["test_tasks"][0]]
        # how MetaAlgo chose each trial: the portfolio first (priors), then its models
        assert len(run["served"]) == 6
        assert run["served"][0] == {"phase": "portfolio"}
        assert {s["phase"] for s in run["served"]} <= {"portfolio", "mtgp", "neural", "gp"}
        assert "served" not in prob["runs"]["hyperopt-tpe"][prob["test_tasks"][0]][0]


def test_bad_options_are_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["bench", "--data", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "--data (or $METAHPO_BENCH_DATA)" in capsys.readouterr().err
    assert main(["bench", "--data", str(DATA), "--out", str(tmp_path), "--methods", "magic"]) == 2
    assert "--methods must be among" in capsys.readouterr().err


def test_served_reads_metasamplers_phase_sampler_and_reason() -> None:
    from metahpo_cli.bench._runner import _served_optuna

    gpsampler = '{"sampler": "optuna.samplers.GPSampler", "reason": "stall"}'
    assert _served_optuna({"metahpo:phase": "gp", "metahpo:info": gpsampler}) == {
        "phase": "gp",
        "sampler": "GPSampler",
        "reason": "stall",
    }
    after_portfolio = '{"sampler": "optuna.samplers.GPSampler"}'  # a multi-objective study's model trial
    assert _served_optuna({"metahpo:phase": "gp", "metahpo:info": after_portfolio}) == {
        "phase": "gp",
        "sampler": "GPSampler",
    }
    misled = '{"sampler": "optuna.samplers.GPSampler", "reason": "misleading_priors"}'
    assert _served_optuna({"metahpo:phase": "gp", "metahpo:info": misled})["reason"] == "misleading_priors"
    clash = '{"reason": "clash", "clashed_with": 3}'
    assert _served_optuna({"metahpo:phase": "startup", "metahpo:info": clash}) == {
        "phase": "startup",
        "reason": "clash",
    }
    engine_gp = '{"reason": "stall", "n_obs": 12}'
    assert _served_optuna({"metahpo:phase": "gp", "metahpo:info": engine_gp})["reason"] == "stall"
    assert _served_optuna({"metahpo:phase": "neural", "metahpo:info": "{}"}) == {"phase": "neural"}
    assert _served_optuna({"metahpo:phase": "mtgp", "metahpo:info": "not json"}) == {"phase": "mtgp"}
    assert _served_optuna({}) == {"phase": "independent"}


def test_the_comparison_with_gpsampler_counts_budgets_pairs_and_trials() -> None:
    from metahpo_cli.bench._runner import _versus_gp

    gp = np.array([[0.5, 0.4, 0.3, 0.2], [0.5, 0.4, 0.3, 0.2]])
    meta = np.array([[0.3, 0.3, 0.3, 0.1], [0.3, 0.5, 0.35, 0.3]])  # mean 0.3 0.4 0.325 0.2
    v = _versus_gp(meta, gp)
    assert v["at"] == 4  # the whole budget when it is shorter than 50
    assert v["worse_than_gp_at_budgets"] == [3]
    assert v["pairs_worse_at"] == 0.5  # the second pair ends 0.1 worse
    assert v["trials_to_gp_final"] == 4
    assert v["at10_le_gp_at"] is False  # no budget of 10 to compare


def test_paired_comparison_tells_a_shift_from_scatter() -> None:
    from metahpo_cli.bench import paired_comparison

    rng = np.random.default_rng(0)
    base = rng.random(40) * 0.1
    # the same regrets: no effect, nothing better or worse
    same = paired_comparison(base, base)
    assert (same.mean, same.low, same.high) == (0.0, 0.0, 0.0)
    assert (same.better, same.worse, same.p_sign) == (0, 0, 1.0)
    # every pair 0.01 worse: the interval excludes 0 and the sign test is far below 0.05
    worse = paired_comparison(base, base + 0.01)
    assert (worse.better, worse.worse) == (0, 40)
    assert worse.low > 0.0
    assert worse.mean == pytest.approx(0.01)
    assert worse.p_sign == pytest.approx(2.0 / 2**40)
    # symmetric scatter around 0: an interval around 0 and a sign test far from significance
    d = np.concatenate([np.full(20, 0.02), np.full(20, -0.02)])
    scatter = paired_comparison(base, base + d)
    assert (scatter.better, scatter.worse, scatter.p_sign) == (20, 20, 1.0)
    assert scatter.low < 0.0 < scatter.high
    # differences within the threshold count neither way
    assert paired_comparison(base, base + 0.004).worse == 0
    with pytest.raises(ValueError, match="one shape"):
        paired_comparison(base, base[:-1])
    with pytest.raises(ValueError, match="1-d"):
        paired_comparison(base.reshape(4, 10), base.reshape(4, 10))
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        paired_comparison(base, base, threshold=-0.01)
    # thousands of differing pairs: the sign test stays exact (no float overflow)
    many = paired_comparison(np.zeros(3000), np.full(3000, 0.01))
    assert many.p_sign == 0.0
    assert many.worse == 3000
    # one task that moves on all its seeds: drawn as a group, its pairs count as one task, and the
    # interval is wider than when the pairs are drawn one by one
    d = np.zeros(40)
    d[:4] = 0.05  # task 0, seeds 0-3
    groups = [i // 4 for i in range(40)]
    by_pair = paired_comparison(base, base + d)
    by_task = paired_comparison(base, base + d, groups=groups)
    assert by_task.mean == by_pair.mean
    assert by_task.high - by_task.low > by_pair.high - by_pair.low
    with pytest.raises(ValueError, match="groups must label every pair"):
        paired_comparison(base, base, groups=groups[:-1])


def test_hypervolume_2d_matches_botorch_and_a_hand_computed_front() -> None:
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    from metahpo_cli.bench._metrics import hypervolume_2d

    F = np.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.2], [0.9, 0.9], [1.5, 0.1]])
    # the last two add nothing: one is dominated, the other lies beyond the reference point
    assert hypervolume_2d(F) == pytest.approx(0.3 * 0.2 + 0.3 * 0.5 + 0.2 * 0.8)
    assert hypervolume_2d(np.zeros((0, 2))) == 0.0
    rng = np.random.default_rng(0)
    for _ in range(5):
        G = rng.random((30, 2))
        ref = torch.tensor([-1.0, -1.0], dtype=torch.float64)
        want = Hypervolume(ref_point=ref).compute(-torch.as_tensor(G))
        assert hypervolume_2d(G) == pytest.approx(float(want))


def test_constrained_regret_counts_only_feasible_results() -> None:
    from metahpo_cli.bench._metrics import regret_rows

    runs = {"a": [{"values": [0.0, 5.0, 3.0, 1.0], "constraints": [1.0, -1.0, 0.5, 0.0]}]}
    (curve,) = regret_rows("constrained", runs, np.array([1.0, 11.0]))["a"]
    # 0.0 broke the constraint; 3.0 too; feasible results 5.0 then 1.0 (0 is feasible)
    assert curve.tolist() == [1.0, 0.4, 0.4, 0.0]


def test_constrained_hypervolume_regret_counts_only_feasible_results() -> None:
    from metahpo_cli.bench._metrics import regret_rows

    scan = np.array([[0.0, 1.0], [1.0, 0.0]])  # the feasible scan: HV* = 0.5 between them
    values = [[0.0, 0.0], [0.5, 0.5], [5.0, 5.0]]
    feasible = {"values": values, "constraints": [1.0, 0.0, -1.0]}
    (curve,) = regret_rows("multi", {"a": [feasible]}, scan)["a"]
    # (0, 0) broke the constraint: it adds nothing and does not move the scale; (5, 5) is
    # feasible and sets the worst known values, so the box is [0, 5] x [0, 5]
    # everything known, in the unit box: the scan at (0, 0.2) and (0.2, 0), (0.5, 0.5) at (0.1, 0.1)
    hv_star = 0.1 * 0.8 + 0.1 * 0.9 + 0.8 * 1.0
    hv = 0.9 * 0.9  # the run's feasible front: (0.1, 0.1)
    assert curve.tolist() == pytest.approx([1.0, 1.0 - hv / hv_star, 1.0 - hv / hv_star])
    (plain,) = regret_rows("multi", {"a": [{"values": values}]}, scan)["a"]
    assert plain[0] == pytest.approx(0.0)  # without constraints (0, 0) dominates everything known


def test_the_constrained_multi_objective_lcbench_problem(tmp_path: Path) -> None:
    mc, mo = load_problem(DATA, "lcbench-mo-constrained"), load_problem(DATA, "lcbench-mo")
    assert (mc.kind, mc.n_objectives, mc.constraint_name) == ("multi", 2, "balanced_error")
    rng = np.random.default_rng(2)
    cfgs = mc.random_configs(2000, rng)
    task = mc.tasks[1]
    np.testing.assert_allclose(mc.evaluate(task, cfgs), mo.evaluate(task, cfgs))
    c = mc.constraint(task, cfgs)  # type: ignore[misc]
    assert 0.2 < np.mean(c <= 0) < 0.4  # the 30th percentile of random configurations' balanced error
    scan = mc.scan(task, rng)
    assert scan.shape[1] == 2
    assert 0.25 * 20000 < scan.shape[0] < 0.35 * 20000
    assert mo.scan(task, rng).shape == (20000, 2)

    args = ["bench", "--data", str(DATA), "--out", str(tmp_path), "--problems", "lcbench-mo-constrained"]
    args += ["--methods", "meta", "nsga2", "--seeds", "1", "--budget", "5", "--test-tasks", "1"]
    args += ["--prior-tasks", "3", "--prior-trials", "10"]
    assert main(args) == 0
    res = json.loads((tmp_path / "results.json").read_text())["problems"]["lcbench-mo-constrained"]
    (run,) = res["runs"]["meta"][res["test_tasks"][0]]
    assert np.asarray(run["values"]).shape == (5, 2)
    assert len(run["constraints"]) == 5
    for curve in res["summary"]["mean"].values():
        assert np.all(np.diff(np.asarray(curve)) <= 1e-12)
    (name, *_) = [
        n for n in optuna.get_all_study_names(res["storage"]) if n.startswith("lcbench-mo-constrained-prior-")
    ]
    prior = optuna.load_study(study_name=name, storage=res["storage"])
    assert len(prior.trials[0].values) == 2
    assert set(prior.trials[0].constraints) == {"balanced_error"}


def test_multi_objective_and_constrained_lcbench_problems(tmp_path: Path) -> None:
    mo, con = load_problem(DATA, "lcbench-mo"), load_problem(DATA, "lcbench-constrained")
    assert (mo.kind, mo.n_objectives, con.kind) == ("multi", 2, "constrained")
    rng = np.random.default_rng(1)
    cfgs = mo.random_configs(2000, rng)
    task = mo.tasks[0]
    F = mo.evaluate(task, cfgs)
    assert F.shape == (2000, 2)
    assert np.all((F[:, 0] > 0) & (F[:, 0] < 100))
    assert np.all(F[:, 1] > 0)
    np.testing.assert_allclose(con.evaluate(task, cfgs), F[:, 0])
    c = con.constraint(task, cfgs)  # type: ignore[misc]
    np.testing.assert_allclose(c - c[0], F[:, 1] - F[0, 1], rtol=1e-6)  # time less a threshold
    assert 0.2 < np.mean(c <= 0) < 0.4  # the 30th percentile of random configurations' time
    scan = con.scan(task, rng)
    assert 0.25 * 20000 < scan.size < 0.35 * 20000  # the feasible configurations only

    args = ["bench", "--data", str(DATA), "--out", str(tmp_path), "--problems", "lcbench-mo"]
    args += ["lcbench-constrained", "--methods", "meta", "gp", "nsga2", "--seeds", "1", "--budget", "12"]
    args += ["--test-tasks", "1", "--prior-tasks", "3", "--prior-trials", "10"]
    assert main(args) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    mo_res, con_res = res["problems"]["lcbench-mo"], res["problems"]["lcbench-constrained"]
    assert set(mo_res["runs"]) == {"meta", "gp", "nsga2"}
    assert set(con_res["runs"]) == {"meta", "gp"}  # NSGA-II is run on multi-objective problems only
    (run,) = mo_res["runs"]["meta"][mo_res["test_tasks"][0]]
    assert np.asarray(run["values"]).shape == (12, 2)
    (run,) = con_res["runs"]["meta"][con_res["test_tasks"][0]]
    assert len(run["constraints"]) == 12
    for r in (mo_res, con_res):
        for curve in r["summary"]["mean"].values():
            c = np.asarray(curve)
            assert np.all((c >= 0) & (c <= 1))
            assert np.all(np.diff(c) <= 1e-12)
    assert set(con_res["summary"]["feasible_share_after_10"]) == {"meta", "gp"}
    # the prior studies a user would have: both objectives, or the constraint, recorded
    import optuna

    storage = mo_res["storage"]
    (name, *_) = [n for n in optuna.get_all_study_names(storage) if n.startswith("lcbench-mo-prior-")]
    prior = optuna.load_study(study_name=name, storage=storage)
    assert len(prior.directions) == 2
    assert len(prior.trials[0].values) == 2
    storage = con_res["storage"]
    (name, *_) = [
        n for n in optuna.get_all_study_names(storage) if n.startswith("lcbench-constrained-prior-")
    ]
    assert set(optuna.load_study(study_name=name, storage=storage).trials[0].constraints) == {"time"}
    assert "hypervolume regret" in (tmp_path / "results.md").read_text()


def test_same_start_script_gives_both_samplers_the_same_first_trials(tmp_path: Path) -> None:
    """``benchmarks/same_start.py``: on the bench's held-out tasks, GPSampler and MetaSampler
    continue studies whose first ``--startup`` trials are the same random ones, their models take
    over from there, and ``benchmarks/ablation.py`` reads the output."""
    import subprocess
    import sys

    out = tmp_path / "same.json"
    root = Path(__file__).resolve().parents[1]
    args = ["--data", str(DATA), "--problem", "lcbench", "--seeds", "1", "--budget", "6", "--startup", "3"]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "same_start.py"), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    res = json.loads(out.read_text())["problems"]["lcbench"]
    problem = load_problem(DATA, "lcbench")
    order = np.random.default_rng(0).permutation(len(problem.tasks))
    assert res["test_tasks"] == [problem.tasks[i] for i in order[:5]]
    assert set(res["runs"]) == {"gp", "meta"}
    for task in res["test_tasks"]:
        gp, meta = res["runs"]["gp"][task][0]["values"], res["runs"]["meta"][task][0]["values"]
        assert len(gp) == len(meta) == 6
        assert gp[:3] == meta[:3]  # the shared random start
        # then MetaSampler, with no priors, hands over to a GPSampler of its own: the same proposals
        assert gp[3:] == meta[3:]
    report = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "ablation.py"), "--data", str(DATA), f"same={out}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.returncode == 0, report.stderr
    assert "meta@same" in report.stdout
    # benchmarks/paired.py reads it too: a run against itself differs in no pair
    paired = subprocess.run(
        [
            sys.executable,
            str(root / "benchmarks" / "paired.py"),
            "--data",
            str(DATA),
            "--budgets",
            "3,6",
            f"{out}:{out}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert paired.returncode == 0, paired.stderr
    assert "| @6 | 5 | +0.0000 | [+0.0000, +0.0000] | 0 / 0 | 1.00 |" in paired.stdout
    # runs of other settings are no pairs: the script names the cell and the setting
    other = tmp_path / "other.json"
    res_all = json.loads(out.read_text())
    res_all["config"]["split_seed"] = 1
    other.write_text(json.dumps(res_all))
    mismatch = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "paired.py"), "--data", str(DATA), f"{out}:{other}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert mismatch.returncode != 0
    assert "differ in split_seed" in mismatch.stderr
    bad = subprocess.run(
        [
            sys.executable,
            str(root / "benchmarks" / "same_start.py"),
            *args[:-2],
            "--startup",
            "9",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert bad.returncode == 2
    assert "--startup must be between 1 and --budget - 1" in bad.stderr


def test_pruned_script_runs_studies_with_a_pruner_and_metasampler_learns_from_them(tmp_path: Path) -> None:
    """``benchmarks/pruned.py``: lcbench trials report their learning curve and MedianPruner stops
    them; MetaSampler's model trials take the pruned ones' estimates; the table prints."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    args = ["--data", str(DATA), "--methods", "meta", "gp", "--seeds", "1", "--budget", "14"]
    args += ["--test-tasks", "1", "--prior-tasks", "4", "--prior-trials", "20", "--out", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "pruned.py"), *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    assert "| meta |" in done.stdout
    assert "| gp |" in done.stdout
    runs = json.loads((tmp_path / "runs.json").read_text())["runs"]
    meta, gp = runs["meta"][0], runs["gp"][0]
    assert len(meta["finals"]) == len(gp["finals"]) == 14
    assert any(v is None for v in meta["finals"])  # the pruner stopped trials
    assert max(meta["estimated"]) > 0  # and the model learnt from them
    # a completed trial trained every epoch, a pruned one fewer
    assert all((e == 52) == (v is not None) for e, v in zip(meta["epochs"], meta["finals"], strict=True))
