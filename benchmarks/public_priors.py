"""The public priors shipped with the package (``metahpo.public_priors``), measured.

Parts (``--parts``):

- ``families``: leave-tasks-out on each family's own data.  5 held-out tasks per family are left
  out of its public priors (``exclude_tasks``); MetaSampler with the rest (and, for a family with
  task descriptions, with the 16 tasks most similar to the held-out task's own description, at the
  default 100 and at 20 trials per task) against GPSampler on the held-out tasks (YAHPO
  rbv2_xgboost for ``xgboost``, YAHPO lcbench for ``mlp``, TabRepo's pool for ``lightgbm``: the
  bench problems of ``metahpo bench``; for ``random_forest`` each held-out task's
  500 real runs, a proposal getting the nearest run's accuracy).  Normalised regret at 10 / 25 / 50
  (median over tasks x seeds); target: MetaSampler@10 <= GPSampler@50.
- ``sklearn``: real scikit-learn RandomForestClassifier runs (3-fold CV accuracy) on data sets that
  scikit-learn ships: ``MetaSampler(source_studies=public_priors("random_forest"))`` against
  GPSampler, TPESampler and MetaSampler without priors; best accuracy at 5 / 10 / 20.
- ``unrelated``: AdaBoost, whose ``learning_rate`` and ``n_estimators`` share names with the
  XGBoost family but not its behaviour: MetaSampler with ``public_priors("xgboost", names=...)``
  against MetaSampler without priors at 25 trials (must not be worse).
- ``first``: seconds to the first suggestion with each family's public priors loaded.
- ``ceiling``: how much a zero-shot start can buy on LightGBM's pool at all.  Every public task ran
  the same 104 configurations, so the best fixed portfolio is computable: chosen greedily on the
  prior tasks (all 104 results of each known, the mean over tasks of the best regret so far
  minimised), from all 88 prior tasks and from the 16 the held-out task's description picks; its
  regret on the held-out tasks at 1 / 5 / 10 against random search's (expected over 2,000 draws).

Run: python benchmarks/public_priors.py [--parts families sklearn unrelated first ceiling] [--seeds 3]
Needs the bench data (``METAHPO_BENCH_DATA``) for ``families`` and scikit-learn for ``sklearn`` /
``unrelated``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from metahpo import public_families, public_priors
from metahpo_cli.bench import Problem, load_problem
from optuna_meta import MetaSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)

FAMILY_PROBLEMS = {"xgboost": "rbv2_xgboost", "mlp": "lcbench", "lightgbm": "tabrepo_lightgbm"}
TASK_PREFIX = {"xgboost": "openml-task-", "mlp": "openml-task-", "lightgbm": "openml-", "random_forest": ""}


def regret_curve(values: list[float], lo: float, hi: float) -> np.ndarray:
    best = np.minimum.accumulate(np.asarray(values))
    return (best - lo) / max(hi - lo, 1e-12)


def families(data: Path, seeds: int, budget: int, only: list[str] | None = None) -> None:
    print(
        f"\n## Leave-tasks-out on each family's own data "
        f"(5 held-out tasks x {seeds} seeds, {budget} trials)\n"
    )
    print("normalised regret, median over tasks x seeds (lower is better)\n")
    print("| family | method | @1 | @10 | @25 | @50 | meta@10 <= GP@50 |")
    print("|---|---|---:|---:|---:|---:|---|")
    for family, name in (*FAMILY_PROBLEMS.items(), ("random_forest", "")):
        if only and family not in only:
            continue
        problem = load_problem(data, name or "random_forest")
        held = list(np.random.default_rng(0).choice(sorted(problem.tasks), size=5, replace=False))
        excluded = [TASK_PREFIX[family] + str(t) for t in held]
        names = list(problem.distributions)
        priors = public_priors(family, names=names, exclude_tasks=excluded)
        assert len(priors) == len(public_priors(family)) - 5, "held-out tasks must be left out"
        described = next(f for f in public_families() if f.name == family).task_descriptions
        curves: dict[str, list[np.ndarray]] = {"MetaSampler (public priors)": [], "GPSampler": []}
        for task, key in zip(held, excluded, strict=True):
            scan = problem.scan(task, np.random.default_rng(0))
            lo, hi = float(np.min(scan)), float(np.max(scan))
            if described:  # the held-out task's own description: its 16 most similar tasks
                near = public_priors(family, names=names, exclude_tasks=excluded, task=described[key])
                near20 = public_priors(
                    family, names=names, exclude_tasks=excluded, task=described[key], trials_per_task=20
                )
            for seed in range(seeds):
                samplers: dict[str, optuna.samplers.BaseSampler] = {
                    "MetaSampler (public priors)": MetaSampler(source_studies=priors, seed=seed),
                    "GPSampler": optuna.samplers.GPSampler(seed=seed),
                }
                if described:
                    samplers["MetaSampler (task description)"] = MetaSampler(source_studies=near, seed=seed)
                    samplers["MetaSampler (task description, 20 trials/task)"] = MetaSampler(
                        source_studies=near20, seed=seed
                    )
                for method, sampler in samplers.items():
                    curves.setdefault(method, [])
                    study = optuna.create_study(sampler=sampler)
                    values: list[float] = []
                    taken: set[int] = set()
                    for _ in range(budget):
                        trial = study.ask()
                        params = problem.suggest(trial)
                        if problem.snap is not None:
                            params = problem.snap(params, taken)
                        value = float(problem.evaluate(task, [params])[0])
                        study.tell(trial, value)
                        values.append(value)
                    curves[method].append(regret_curve(values, lo, hi))
        med = {m: np.median(np.vstack(c), axis=0) for m, c in curves.items()}
        for method, m in med.items():
            ok = ""
            if method.startswith("Meta"):
                ok = "yes" if m[9] <= med["GPSampler"][budget - 1] else "no"
            at = [m[b - 1] for b in (1, 10, 25, 50) if b <= budget]
            print(f"| {family} | {method} | " + " | ".join(f"{v:.4f}" for v in at) + f" | {ok} |")


def _cv_objective(model: str, X: np.ndarray, y: np.ndarray, seed: int) -> Callable[[optuna.Trial], float]:
    from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)

    def objective(trial: optuna.Trial) -> float:
        if model == "random_forest":
            estimator: Any = RandomForestClassifier(
                n_estimators=100,
                max_features=trial.suggest_float("max_features", 0.05, 1.0),
                min_samples_leaf=trial.suggest_int("min_samples_leaf", 1, 20),
                min_samples_split=trial.suggest_int("min_samples_split", 2, 20),
                bootstrap=trial.suggest_categorical("bootstrap", [True, False]),
                criterion=trial.suggest_categorical("criterion", ["gini", "entropy", "log_loss"]),
                random_state=seed,
                n_jobs=1,
            )
        else:
            estimator = AdaBoostClassifier(
                learning_rate=trial.suggest_float("learning_rate", 1e-3, 2.0, log=True),
                n_estimators=trial.suggest_int("n_estimators", 10, 300, log=True),
                random_state=seed,
            )
        return float(cross_val_score(estimator, X, y, cv=folds).mean())

    return objective


def _datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine

    return {
        "breast_cancer": load_breast_cancer(return_X_y=True),
        "wine": load_wine(return_X_y=True),
        "digits": load_digits(return_X_y=True),
    }


def _best_at(study: optuna.Study, budgets: tuple[int, ...]) -> list[float]:
    vals = np.maximum.accumulate([t.value for t in study.trials])
    return [float(vals[b - 1]) for b in budgets]


def sklearn_runs(seeds: int, budget: int) -> None:
    budgets = tuple(b for b in (1, 5, 10, 20) if b <= budget)
    print(f"\n## RandomForestClassifier on scikit-learn's data sets (3-fold CV accuracy, {seeds} seeds)\n")
    print("best accuracy, median over seeds (higher is better)\n")
    print("| data set | sampler | " + " | ".join(f"@{b}" for b in budgets) + " | s/trial |")
    print("|---|---|" + "---:|" * (len(budgets) + 1))
    priors = public_priors("random_forest")
    makers: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
        "MetaSampler (public priors)": lambda s: MetaSampler(source_studies=priors, seed=s),
        "MetaSampler (no priors)": lambda s: MetaSampler(source_studies=[], seed=s),
        "GPSampler": lambda s: optuna.samplers.GPSampler(seed=s),
        "TPESampler": lambda s: optuna.samplers.TPESampler(seed=s),
    }
    for name, (X, y) in _datasets().items():
        for method, make in makers.items():
            rows, secs = [], []
            for seed in range(seeds):
                study = optuna.create_study(direction="maximize", sampler=make(seed))
                t0 = time.perf_counter()
                study.optimize(_cv_objective("random_forest", X, y, seed), n_trials=budget)
                secs.append((time.perf_counter() - t0) / budget)
                rows.append(_best_at(study, budgets))
            med = np.median(np.array(rows), axis=0)
            print(
                f"| {name} | {method} | "
                + " | ".join(f"{v:.4f}" for v in med)
                + f" | {statistics.median(secs):.2f} |"
            )


def unrelated(seeds: int, budget: int) -> None:
    print(
        "\n## AdaBoost tuned with the XGBoost family's priors "
        f"(names overlap, behaviour does not; {seeds} seeds)\n"
    )
    print("best 3-fold CV accuracy at 10 / 25, median over seeds\n")
    print("| data set | sampler | @10 | @25 |")
    print("|---|---|---:|---:|")
    priors = public_priors("xgboost", names=["learning_rate", "n_estimators"])
    makers: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
        "MetaSampler (xgboost public priors)": lambda s: MetaSampler(source_studies=priors, seed=s),
        "MetaSampler (no priors)": lambda s: MetaSampler(source_studies=[], seed=s),
        "GPSampler": lambda s: optuna.samplers.GPSampler(seed=s),
    }
    sets = _datasets()
    for name in ("breast_cancer", "wine"):
        X, y = sets[name]
        for method, make in makers.items():
            rows = []
            for seed in range(seeds):
                study = optuna.create_study(direction="maximize", sampler=make(seed))
                study.optimize(_cv_objective("adaboost", X, y, seed), n_trials=budget)
                rows.append(_best_at(study, (10, budget)))
            med = np.median(np.array(rows), axis=0)
            print(f"| {name} | {method} | {med[0]:.4f} | {med[1]:.4f} |")


def first_suggestion() -> None:
    print("\n## First suggestion with a family's public priors loaded (this CPU, one process each)\n")
    print("| family | prior studies | prior trials | load s | first suggestion s |")
    print("|---|---:|---:|---:|---:|")
    for fam in public_families():
        t0 = time.perf_counter()
        priors = public_priors(fam.name)
        load = time.perf_counter() - t0
        study = optuna.create_study(
            direction=fam.direction, sampler=MetaSampler(source_studies=priors, seed=0)
        )
        t0 = time.perf_counter()
        trial = study.ask()
        for p, param in fam.space.params.items():
            if hasattr(param, "choices"):
                trial.suggest_categorical(p, list(param.choices))
            elif type(param).__name__ == "IntParam":
                trial.suggest_int(p, param.low, param.high, log=param.log)
            else:
                trial.suggest_float(p, param.low, param.high, log=param.log)
        first = time.perf_counter() - t0
        print(
            f"| {fam.name} | {len(priors)} | {sum(len(s.trials) for s in priors)} | "
            f"{load:.2f} | {first:.2f} |"
        )


def _pool_regrets(problem: Problem, family: str) -> tuple[list[str], np.ndarray]:
    """The public family's results on its pool as a ``(tasks, configurations)`` regret matrix,
    each task scaled to [0, 1] between its best and worst configuration."""
    runs = {
        p.name.removeprefix("public:" + family + ":" + TASK_PREFIX[family]): p
        for p in public_priors(family, trials_per_task=None)
    }
    tasks = sorted(problem.tasks)

    def key(params: dict[str, Any]) -> tuple[tuple[str, float], ...]:
        return tuple(sorted((k, round(float(v), 6)) for k, v in params.items()))

    configs = [key(t.params) for t in runs[tasks[0]].trials]
    rows = []
    for task in tasks:
        by_config = {key(t.params): t.values[0] for t in runs[task].trials}
        if set(by_config) != set(configs):
            raise ValueError(f"task {task} of {family!r} did not run the same pool")
        rows.append([by_config[c] for c in configs])
    A = np.array(rows)
    return tasks, (A - A.min(1, keepdims=True)) / np.ptp(A, axis=1, keepdims=True)


def _greedy_portfolio(R: np.ndarray, k: int) -> list[int]:
    """``k`` columns of the ``(tasks, configurations)`` regret matrix ``R``, each minimising the
    mean over tasks of the best regret among those chosen so far."""
    chosen: list[int] = []
    best = np.full(R.shape[0], np.inf)
    for _ in range(k):
        j = int(np.argmin(np.minimum(best[:, None], R).mean(0)))
        chosen.append(j)
        best = np.minimum(best, R[:, j])
    return chosen


def ceiling(data: Path, family: str = "lightgbm") -> None:
    budgets = (1, 5, 10)
    problem = load_problem(data, FAMILY_PROBLEMS[family])
    tasks, R = _pool_regrets(problem, family)
    held = list(np.random.default_rng(0).choice(tasks, size=5, replace=False))  # as in ``families``
    excluded = [TASK_PREFIX[family] + str(t) for t in held]
    described = next(f for f in public_families() if f.name == family).task_descriptions
    others = [i for i, t in enumerate(tasks) if t not in held]
    every = _greedy_portfolio(R[others], max(budgets))
    rng = np.random.default_rng(0)
    print(f"\n## Zero-shot ceiling on {family}'s pool ({R.shape[1]} configurations, 5 held-out tasks)\n")
    print("best regret among the first k configurations (0 = the task's best in the pool)\n")
    print("| held-out task | portfolio from | " + " | ".join(f"@{b}" for b in budgets) + " |")
    print("|---|---|" + "---:|" * len(budgets))
    table: dict[str, list[list[float]]] = {}
    for task, key in zip(held, excluded, strict=True):
        i = tasks.index(task)
        near = public_priors(family, exclude_tasks=excluded, task=described[key])
        prefix = "public:" + family + ":" + TASK_PREFIX[family]
        rows = [tasks.index(p.name.removeprefix(prefix)) for p in near]
        picks = {
            f"all {len(others)} prior tasks": every,
            f"the {len(rows)} described as most similar": _greedy_portfolio(R[rows], max(budgets)),
        }
        draws = np.array([rng.permutation(R.shape[1])[: max(budgets)] for _ in range(2000)])
        for name, cols in picks.items():
            table.setdefault(name, []).append([float(R[i, cols[:b]].min()) for b in budgets])
        table.setdefault("random search (expected)", []).append(
            [float(np.mean(R[i, draws[:, :b]].min(1))) for b in budgets]
        )
        for name, cells in table.items():
            print(f"| {task} | {name} | " + " | ".join(f"{v:.4f}" for v in cells[-1]) + " |")
    for name, cells in table.items():
        med = np.median(np.array(cells), axis=0)
        print(f"| median | {name} | " + " | ".join(f"{v:.4f}" for v in med) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parts = ["families", "sklearn", "unrelated", "first", "ceiling"]
    parser.add_argument("--parts", nargs="+", default=parts)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", default=os.environ.get("METAHPO_BENCH_DATA", "../shared/data"))
    parser.add_argument("--families", nargs="+", default=None, help="for --parts families (default: all)")
    args = parser.parse_args()
    if "first" in args.parts:
        first_suggestion()
    if "sklearn" in args.parts:
        sklearn_runs(args.seeds, 20)
    if "unrelated" in args.parts:
        unrelated(args.seeds, 25)
    if "families" in args.parts:
        families(Path(args.data), args.seeds, 50, args.families)
    if "ceiling" in args.parts:
        ceiling(Path(args.data))


if __name__ == "__main__":
    main()
