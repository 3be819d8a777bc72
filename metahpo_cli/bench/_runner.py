"""The benchmark protocol, metrics and report of ``metahpo bench``.

Protocol (per problem):
1. Tasks are split with a fixed seed (``split_seed``): the first ``test_tasks`` of a permutation
   are held out, the next ``prior_tasks`` are prior tasks.
2. One prior study per prior task (``prior_trials`` uniformly random configurations, evaluated on
   the task) is stored in an Optuna SQLite storage ``<out>/kb-<problem>-split<k>.db``, as a user's earlier
   studies would be.  Methods never see a held-out task's data.
3. Each method runs ``budget`` trials on every held-out task with every seed, through Optuna's
   ask/tell interface; pool problems snap every proposal to the nearest pool configuration not yet
   evaluated in the run (``tabrepo_lightgbm-nearest``: to the nearest pool configuration; prior
   studies always take distinct pool configurations).  MetaSampler learns from
   ``"<storage>::<problem>-prior-*"``; CmaEsSampler gets all prior trials as ``source_trials``
   (Optuna's own transfer method).  ``meta`` is the default ``MetaSampler``
   (``surrogate="auto"``); ``meta-mtgp`` / ``meta-neural`` (not run by default) force a
   surrogate.  The neural surrogate is cached in ``<out>/surrogate-cache/<problem>-split<k>/``,
   one folder per problem and split, never in the user's cache, so a fresh ``--out`` trains it
   from the run's prior studies alone (a model cached before for other priors of the same space
   would be fine-tuned instead, and the figures would depend on what the machine had run
   before; a second run into the same ``--out`` with more ``--prior-tasks`` does fine-tune the
   first run's model).  The Hyperopt methods
   (``hyperopt-tpe`` = ``tpe.suggest``, ``hyperopt-meta`` = :class:`hyperopt_meta.MetaAlgo` with
   the same prior studies) run ``fmin`` on the same space written with ``hp.*``; conditional
   parameters are sampled in every trial there and the objective ignores them when inactive
   (Hyperopt nests conditional labels under an ``hp.choice`` of dictionaries, whose stored
   values are option indices, so the prior studies' booster values would not align).

Multi-objective and constrained problems (``lcbench-mo``, ``lcbench-constrained`` and
``lcbench-mo-constrained``, both at once) run the methods that take them (``meta``, ``random``,
``tpe``, ``gp`` and, multi-objective only, ``nsga2`` = NSGAIISampler; the constraint is set with
``trial.set_constraint``, which Optuna 5's samplers read); their prior studies record both
objectives and the constraint where the problem has them, as a user's would.

Metrics: normalised regret ``(best so far - best known) / (worst known - best known)``, where best
and worst known come from a scan of the task (20,000 random configurations of a surrogate, or the
whole pool) and everything any method found; best-feasible regret and hypervolume regret for the
constrained and multi-objective problems (:mod:`metahpo_cli.bench._metrics`); mean and standard
error over (task, seed) pairs; average rank across methods; trials MetaSampler needs to reach
TPE's / GP's mean regret at the last budget; the fraction of pairs where MetaSampler's regret at
50 is worse than GPSampler's by more than 0.01; median sampler seconds per trial (ask + suggest,
objective excluded); on problems with a constraint the share of feasible trials after the first 10
(every method's start-up).  For MetaSampler and MetaAlgo each run also records how every trial
was chosen (``served``: ``{"phase": ...}``, with ``"reason": "stall"`` on the hedge's trials and,
for MetaSampler, ``"sampler": "GPSampler"`` where Optuna's GPSampler proposed and any other reason
it recorded: ``misleading_priors``, ``clash``).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from metahpo import SurrogateName
from metahpo_cli.bench._metrics import regret_rows
from metahpo_cli.bench._problems import Problem, load_problem

DEFAULT_METHODS = ("meta", "random", "tpe", "gp", "cmaes", "nsga2", "hyperopt-tpe", "hyperopt-meta")
METHODS = (*DEFAULT_METHODS, "meta-mtgp", "meta-neural")
BUDGETS = (1, 5, 10, 25, 50, 100)
_META_SURROGATES: dict[str, SurrogateName] = {"meta": "auto", "meta-mtgp": "mtgp", "meta-neural": "neural"}
PROBLEMS = ("lcbench", "rbv2_xgboost", "tabrepo_lightgbm", "lcbench-mo", "lcbench-constrained")
# trials every method may spend on its start-up before the feasible share is counted
_FEASIBLE_AFTER = 10
_REGRET_NAME = {
    "single": "normalised regret",
    "constrained": "best-feasible regret",
    "multi": "hypervolume regret",
}


def applies(method: str, problem: Problem) -> bool:
    """Whether ``method`` takes ``problem``: Hyperopt and CmaEsSampler only single-objective
    unconstrained problems (Hyperopt has no multi-objective API; CmaEsSampler ignores constraints),
    NSGAIISampler only multi-objective ones (the others take every kind)."""
    if method.startswith("hyperopt-") or method == "cmaes":
        return problem.kind == "single"
    if method == "nsga2":
        return problem.kind == "multi"
    return True


@dataclass(frozen=True)
class BenchConfig:
    """Settings of one benchmark run (the command line's options)."""

    data: str
    out: str
    problems: tuple[str, ...] = PROBLEMS
    methods: tuple[str, ...] = DEFAULT_METHODS
    seeds: int = 3
    budget: int = 100
    test_tasks: int = 5
    prior_tasks: int = 30
    prior_trials: int = 100
    split_seed: int = 0

    @classmethod
    def quick(cls, data: str, out: str) -> BenchConfig:
        return cls(
            data,
            out,
            problems=("lcbench", "tabrepo_lightgbm"),
            methods=("meta", "random", "tpe", "gp", "hyperopt-tpe", "hyperopt-meta"),
            seeds=1,
            budget=10,
            test_tasks=2,
            prior_tasks=6,
            prior_trials=30,
        )


def _sampler(
    method: str, seed: int, storage: str, problem: Problem, surrogate_cache: Path | None = None
) -> optuna.samplers.BaseSampler:
    if method in _META_SURROGATES:
        from optuna_meta import MetaSampler

        surrogate = _META_SURROGATES[method]
        return MetaSampler(
            source_studies=[f"{storage}::{problem.name}-prior-*"],
            seed=seed,
            surrogate=surrogate,
            surrogate_cache=surrogate_cache,
        )
    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if method == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if method == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if method == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if method == "cmaes":
        trials: list[optuna.trial.FrozenTrial] = []
        for name in optuna.get_all_study_names(storage):
            if name.startswith(f"{problem.name}-prior-"):
                trials += optuna.load_study(study_name=name, storage=storage).get_trials(
                    deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
                )
        return optuna.samplers.CmaEsSampler(
            seed=seed, source_trials=trials or None, warn_independent_sampling=False
        )
    raise ValueError(f"--methods: unknown method {method!r} (choose from {', '.join(METHODS)})")


def build_priors(problem: Problem, tasks: Sequence[str], storage: str, n_trials: int, seed: int) -> None:
    """One random-search study per prior task in ``storage`` (existing ones are kept)."""
    existing = (
        set(optuna.get_all_study_names(storage))
        if Path(storage.removeprefix("sqlite:///")).exists()
        else set()
    )
    for i, task in enumerate(tasks):
        name = f"{problem.name}-prior-{task}"
        if name in existing:
            continue
        rng = np.random.default_rng(seed * 100_003 + i)
        cfgs = problem.random_configs(n_trials, rng)
        snap = problem.prior_snap or problem.snap
        if snap is not None:
            taken: set[int] = set()
            cfgs = [snap(c, taken) for c in cfgs]
        values = problem.evaluate(task, cfgs).reshape(len(cfgs), problem.n_objectives)
        constraints = problem.constraint(task, cfgs) if problem.constraint is not None else None
        study = optuna.create_study(
            storage=storage, study_name=name, directions=["minimize"] * problem.n_objectives
        )
        study.add_trials(
            [
                optuna.trial.create_trial(
                    params=c,
                    distributions={k: problem.distributions[k] for k in c},
                    values=[float(x) for x in values[i]],
                    constraints=(
                        {problem.constraint_name: float(constraints[i])} if constraints is not None else None
                    ),
                )
                for i, c in enumerate(cfgs)
            ]
        )


def run_one(
    problem: Problem,
    task: str,
    method: str,
    seed: int,
    budget: int,
    storage: str,
    surrogate_cache: Path | None = None,
) -> dict[str, Any]:
    """One optimisation run; returns the values (a list per trial on multi-objective problems),
    the constraint values (constrained problems), the sampler's seconds per trial and, for
    MetaSampler and MetaAlgo, how each trial was chosen (``served``).
    ``surrogate_cache``: where MetaSampler / MetaAlgo cache the neural surrogate (None: the
    user's cache)."""
    if not applies(method, problem):
        raise ValueError(f"{method} does not take {problem.kind} problems such as {problem.name}")
    if method.startswith("hyperopt-"):
        return _run_hyperopt(problem, task, method, seed, budget, storage, surrogate_cache)
    study = optuna.create_study(
        sampler=_sampler(method, seed, storage, problem, surrogate_cache),
        directions=["minimize"] * problem.n_objectives,
    )
    values: list[Any] = []
    constraints: list[float] = []
    seconds: list[float] = []
    taken: set[int] = set()
    for _ in range(budget):
        t0 = time.perf_counter()
        trial = study.ask()
        params = problem.suggest(trial)
        seconds.append(time.perf_counter() - t0)
        if problem.snap is not None:
            params = problem.snap(params, taken)
        value = np.asarray(problem.evaluate(task, [params])[0], dtype=float)
        if problem.constraint is not None:
            c = float(problem.constraint(task, [params])[0])
            trial.set_constraint(problem.constraint_name, c)
            constraints.append(c)
        if problem.n_objectives > 1:
            values.append([float(v) for v in value])
            study.tell(trial, values[-1])
        else:
            values.append(float(value))
            study.tell(trial, values[-1])
    out: dict[str, Any] = {"values": values, "seconds": seconds}
    if problem.constraint is not None:
        out["constraints"] = constraints
    if method.startswith("meta"):
        out["served"] = [_served_optuna(t.system_attrs) for t in study.trials]
    return out


def _served_optuna(attrs: dict[str, Any]) -> dict[str, str]:
    """How MetaSampler chose a trial (its system attributes ``metahpo:phase`` and
    ``metahpo:info``), in the form MetaAlgo records in ``misc["metahpo"]``, plus ``"sampler":
    "GPSampler"`` where Optuna's GPSampler proposed (phase ``gp`` either way) and the reason it
    recorded, if any (``stall``, ``misleading_priors``, ``clash``); ``"independent"`` where no
    phase is recorded (the independent sampler drew the trial)."""
    served = {"phase": str(attrs.get("metahpo:phase", "independent"))}
    try:
        info = json.loads(attrs.get("metahpo:info", "{}"))
    except (TypeError, ValueError):
        info = {}
    if isinstance(info, dict):
        if info.get("sampler") == "optuna.samplers.GPSampler":
            served["sampler"] = "GPSampler"
        if isinstance(info.get("reason"), str):
            served["reason"] = info["reason"]
    return served


def _hyperopt_space(problem: Problem) -> dict[str, Any]:
    """The problem's distributions written with ``hp.*`` (flat; see the module docstring)."""
    from hyperopt import hp

    space: dict[str, Any] = {}
    for name, d in problem.distributions.items():
        if isinstance(d, FloatDistribution):
            space[name] = (
                hp.loguniform(name, math.log(d.low), math.log(d.high))
                if d.log
                else hp.uniform(name, d.low, d.high)
            )
        elif isinstance(d, IntDistribution):
            if d.step != 1:
                raise ValueError(f"{problem.name}: integer parameter {name!r} with step {d.step}")
            space[name] = (
                hp.qloguniform(name, math.log(d.low), math.log(d.high), 1)
                if d.log
                else hp.quniform(name, d.low, d.high, 1)
            )
        else:
            assert isinstance(d, CategoricalDistribution)
            space[name] = hp.choice(name, list(d.choices))
    return space


def _run_hyperopt(
    problem: Problem,
    task: str,
    method: str,
    seed: int,
    budget: int,
    storage: str,
    surrogate_cache: Path | None,
) -> dict[str, Any]:
    from hyperopt import Trials, fmin, tpe

    if method == "hyperopt-tpe":
        algo: Callable[..., Any] = tpe.suggest
    elif method == "hyperopt-meta":
        from hyperopt_meta import MetaAlgo
        from optuna_meta import load_prior_studies

        algo = MetaAlgo(
            source_trials=load_prior_studies(storage, f"{problem.name}-prior-*"),
            surrogate_cache=surrogate_cache,
        ).suggest
    else:
        raise ValueError(f"--methods: unknown method {method!r} (choose from {', '.join(METHODS)})")
    values: list[float] = []
    seconds: list[float] = []
    taken: set[int] = set()
    trials = Trials()

    def timed(new_ids: Any, domain: Any, trials: Any, algo_seed: int) -> Any:
        t0 = time.perf_counter()
        docs = algo(new_ids, domain, trials, algo_seed)
        seconds.append(time.perf_counter() - t0)
        return docs

    def objective(sampled: dict[str, Any]) -> float:
        params: dict[str, Any] = {}
        for name, d in problem.distributions.items():
            if problem.active(name, params):
                v = sampled[name]
                params[name] = round(v) if isinstance(d, IntDistribution) else v
        if problem.snap is not None:
            params = problem.snap(params, taken)
        value = float(problem.evaluate(task, [params])[0])
        values.append(value)
        return value

    fmin(
        objective,
        _hyperopt_space(problem),
        algo=timed,
        max_evals=budget,
        trials=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    out: dict[str, Any] = {"values": values, "seconds": seconds}
    if method == "hyperopt-meta":
        out["served"] = [dict(d["misc"].get("metahpo", {})) for d in trials.trials]
    return out


def _progress(total: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # the progress bar is optional
        return None
    return tqdm(total=total, unit="run", dynamic_ncols=True)


def run_bench(cfg: BenchConfig, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the benchmark; print the report; write ``results.json``, ``results.md`` and a PNG."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"config": asdict(cfg), "problems": {}}
    report: list[str] = []
    for pname in cfg.problems:
        problem = load_problem(Path(cfg.data), pname)
        order = np.random.default_rng(cfg.split_seed).permutation(len(problem.tasks))
        test = [problem.tasks[i] for i in order[: cfg.test_tasks]]
        prior = [problem.tasks[i] for i in order[cfg.test_tasks : cfg.test_tasks + cfg.prior_tasks]]
        storage = f"sqlite:///{(out_dir / f'kb-{pname}-split{cfg.split_seed}.db').resolve()}"
        cache = (out_dir / "surrogate-cache" / f"{pname}-split{cfg.split_seed}").resolve()
        t0 = time.perf_counter()
        build_priors(problem, prior, storage, cfg.prior_trials, cfg.split_seed)
        methods = [m for m in cfg.methods if applies(m, problem)]
        not_applicable = [m for m in cfg.methods if m not in methods]
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {m: {} for m in methods}
        failed: dict[str, str] = {}
        bar = _progress(len(test) * cfg.seeds * len(methods))
        for task in test:
            for seed in range(cfg.seeds):
                for m in methods:
                    if bar is not None:
                        bar.set_description(f"{pname} {task} {m} s{seed}")
                        bar.update(1)
                    if m in failed:
                        continue
                    try:
                        run = run_one(problem, task, m, seed, cfg.budget, storage, cache)
                    except Exception as e:  # a baseline that rejects the problem is reported, not fatal
                        failed[m] = f"{type(e).__name__}: {e}"
                        continue
                    runs[m].setdefault(task, []).append(run)
        if bar is not None:
            bar.close()
        for m in failed:
            runs.pop(m, None)
        scans = {t: problem.scan(t, np.random.default_rng(cfg.split_seed)) for t in test}
        summary = summarise(runs, scans, cfg.budget, problem)
        results["problems"][pname] = {
            "test_tasks": test,
            "prior_tasks": prior,
            "storage": storage,
            "failed": failed,
            "seconds": time.perf_counter() - t0,
            "runs": runs,
            "summary": summary,
        }
        lines = format_report(pname, summary, len(prior), cfg)
        lines += [f"- {m} failed on this problem and is left out: {msg}" for m, msg in failed.items()]
        if not_applicable:
            lines.append(f"- not run ({problem.kind} problem): {', '.join(not_applicable)}")
        out("\n".join(lines))
        report += lines
        _plot(pname, summary, out_dir / f"regret-{pname}.png", _REGRET_NAME[problem.kind])
        # Written after every problem, so a long run keeps what it finished.
        (out_dir / "results.md").write_text("\n".join(report) + "\n")
        (out_dir / "results.json").write_text(json.dumps(results))
    return results


def summarise(
    runs: dict[str, dict[str, list[dict[str, Any]]]],
    scans: dict[str, np.ndarray],
    budget: int,
    problem: Problem | None = None,
) -> dict[str, Any]:
    """Regret curves (of the problem's kind; single-objective without ``problem``) and the
    aggregate metrics of one problem."""
    methods = list(runs)
    kind = problem.kind if problem is not None else "single"
    rows: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    for task in runs[methods[0]]:
        task_rows = regret_rows(
            kind,
            {m: runs[m][task] for m in methods},
            scans[task],
            problem.log_objectives if problem is not None else (),
        )
        for m in methods:
            rows[m] += task_rows[m]
    regret = {m: np.vstack(rows[m]) for m in methods}  # method -> (pairs, budget)
    budgets = [b for b in BUDGETS if b <= budget]
    mean = {m: regret[m].mean(axis=0) for m in methods}
    se = {
        m: regret[m].std(axis=0, ddof=1) / math.sqrt(regret[m].shape[0])
        if regret[m].shape[0] > 1
        else np.zeros(budget)
        for m in methods
    }
    ranks = {m: [] for m in methods}  # type: dict[str, list[float]]
    for b in budgets:
        at = np.stack([regret[m][:, b - 1] for m in methods], axis=1)  # (pairs, methods)
        from scipy.stats import rankdata

        r = np.apply_along_axis(rankdata, 1, at).mean(axis=0)
        for m, v in zip(methods, r, strict=True):
            ranks[m].append(float(v))
    out: dict[str, Any] = {
        "kind": kind,
        "regret": _REGRET_NAME[kind],
        "budgets": budgets,
        "mean": {m: mean[m].tolist() for m in methods},
        "se": {m: se[m].tolist() for m in methods},
        "rank": ranks,
        "seconds_per_trial": {
            m: statistics.median(s for rs in runs[m].values() for r in rs for s in r["seconds"])
            for m in methods
        },
    }
    if "meta" in methods:
        for ref in ("tpe", "gp"):
            if ref in methods:
                target = mean[ref][-1]
                hit = np.flatnonzero(mean["meta"] <= target + 1e-12)
                out[f"meta_trials_to_{ref}_final"] = int(hit[0]) + 1 if hit.size else None
        if "gp" in methods and budget >= 50:
            worse = regret["meta"][:, 49] > regret["gp"][:, 49] + 0.01
            out["meta_worse_than_gp_at_50"] = float(worse.mean())
    if "gp" in methods:
        out["vs_gp"] = {m: _versus_gp(regret[m], regret["gp"]) for m in methods if m.startswith("meta")}
    if problem is not None and problem.constraint is not None and budget > _FEASIBLE_AFTER:
        out["feasible_share_after_10"] = {
            m: float(
                np.mean(
                    [
                        np.mean(np.asarray(r["constraints"][_FEASIBLE_AFTER:]) <= 0)
                        for rs in runs[m].values()
                        for r in rs
                    ]
                )
            )
            for m in methods
        }
    return out


def _versus_gp(meta: np.ndarray, gp: np.ndarray) -> dict[str, Any]:
    """The transfer targets of one meta-learning method against GPSampler (issue "transfer that
    keeps winning"), from ``(pairs, budget)`` regret curves on the same (task, seed) pairs."""
    budget = gp.shape[1]
    m_mean, g_mean = meta.mean(axis=0), gp.mean(axis=0)
    hit = np.flatnonzero(m_mean <= g_mean[-1] + 1e-12)
    at = min(50, budget)  # 50, or the whole budget when it is shorter
    return {
        "at": at,
        "ratio_at10": float(m_mean[9] / g_mean[9]) if budget >= 10 and g_mean[9] > 0 else None,
        "trials_to_gp_final": int(hit[0]) + 1 if hit.size else None,
        "worse_than_gp_at_budgets": [int(b) + 1 for b in np.flatnonzero(m_mean > g_mean + 1e-12)],
        "pairs_worse_at": float((meta[:, at - 1] > gp[:, at - 1] + 0.01).mean()),
        "at10_le_gp_at": bool(budget >= 10 and m_mean[9] <= g_mean[at - 1] + 1e-12),
    }


def format_report(pname: str, s: dict[str, Any], n_prior: int, cfg: BenchConfig) -> list[str]:
    """Markdown tables of one problem."""
    methods = list(s["mean"])
    b = s["budgets"]
    lines = [
        f"\n## {pname}: {cfg.test_tasks} held-out tasks x {cfg.seeds} seeds, "
        f"{n_prior} prior studies x {cfg.prior_trials} random trials",
        "",
        f"{s.get('regret', 'normalised regret')}, mean ± s.e. (lower is better)",
        "",
        "| method | " + " | ".join(f"@{x}" for x in b) + " |",
        "|---|" + "---:|" * len(b),
    ]
    for m in methods:
        cells = [f"{s['mean'][m][x - 1]:.4f} ± {s['se'][m][x - 1]:.4f}" for x in b]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "average rank across methods (1 = best)",
        "",
        "| method | " + " | ".join(f"@{x}" for x in b) + " | s/trial (median) |",
        "|---|" + "---:|" * (len(b) + 1),
    ]
    for m in methods:
        lines.append(
            f"| {m} | "
            + " | ".join(f"{v:.2f}" for v in s["rank"][m])
            + f" | {s['seconds_per_trial'][m]:.3f} |"
        )
    extras = [(k, v) for k, v in s.items() if k.startswith("meta_")]
    if extras:
        lines += [""] + [f"- {k}: {v}" for k, v in extras]
    if s.get("vs_gp"):
        at = next(iter(s["vs_gp"].values()))["at"]
        lines += [
            "",
            f"against GPSampler (same pairs): budgets where the mean regret is worse, pairs worse at {at} "
            f"by > 0.01, trials to reach GP's final mean regret, regret@10 <= GP's @{at}, "
            "mean regret@10 over GP's @10",
            "",
            f"| method | worse at budgets | pairs worse @{at} | trials to GP final | @10 <= GP@{at} "
            "| @10 / GP@10 |",
            "|---|---|---:|---:|---|---:|",
        ]
        for m, v in s["vs_gp"].items():
            worse = _ranges(v["worse_than_gp_at_budgets"]) or "none"
            ratio = "" if v.get("ratio_at10") is None else f"{v['ratio_at10']:.2f}"
            lines.append(
                f"| {m} | {worse} | {v['pairs_worse_at']:.0%} | {v['trials_to_gp_final'] or 'never'} "
                f"| {'yes' if v['at10_le_gp_at'] else 'no'} | {ratio} |"
            )
    if s.get("feasible_share_after_10"):
        lines += ["", f"share of feasible trials after the first {_FEASIBLE_AFTER}", ""]
        lines += ["| method | feasible |", "|---|---:|"]
        lines += [f"| {m} | {v:.0%} |" for m, v in s["feasible_share_after_10"].items()]
    return lines


def _ranges(xs: Sequence[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    out: list[str] = []
    for x in xs:
        if out and out[-1].split("-")[-1] == str(x - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{x}"
        else:
            out.append(str(x))
    return ", ".join(out)


def _plot(pname: str, s: dict[str, Any], path: Path, ylabel: str = "normalised regret") -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the plot is optional; the JSON has every curve
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for m, curve in s["mean"].items():
        x = np.arange(1, len(curve) + 1)
        c = np.asarray(curve)
        e = np.asarray(s["se"][m])
        ax.plot(x, np.maximum(c, 1e-5), label=m)
        ax.fill_between(x, np.maximum(c - e, 1e-5), np.maximum(c + e, 1e-5), alpha=0.15)
    ax.set_yscale("log")
    ax.set_xlabel("trials")
    ax.set_ylabel(f"{ylabel} (mean)")
    ax.set_title(pname)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
