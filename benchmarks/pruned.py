"""Studies with a pruner: what pruned trials teach MetaSampler.

YAHPO lcbench (``$METAHPO_BENCH_DATA/yahpo/lcbench``) with its learning curves: a trial trains for
up to 52 epochs and reports ``100 - val_accuracy`` after every epoch (the surrogate's prediction at
that epoch); Optuna's ``MedianPruner`` (its defaults: 5 start-up trials, no warm-up) stops it when
it is behind, or with ``--pruner hyperband`` Optuna's ``HyperbandPruner`` (its defaults), which
shows the sampler one bracket's trials at a time. Tasks are split as ``metahpo bench`` splits them
(``--split-seed``): the first ``--test-tasks`` of the permutation are tuned, the next
``--prior-tasks`` give one prior study each of ``--prior-trials`` random configurations trained for
52 epochs (no pruning), in an Optuna SQLite storage in ``--out``.

Reported per method, mean over the (task, seed) pairs: the normalised regret of the best *completed*
trial after 10 / 25 / 50 trials, ``(best - best known) / (worst known - best known)`` at 52 epochs,
best and worst known from 20,000 random configurations of the task; the share of trials pruned; the
epochs spent; the trials that repeated an earlier trial's configuration. Every figure is measured in
this run.

    python benchmarks/pruned.py --methods meta gp tpe --seeds 3 --out /tmp/pruned
    python benchmarks/pruned.py --pruner hyperband --out /tmp/pruned-hb
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from metahpo_cli.bench import build_priors, lcbench_curve, load_problem
from optuna_meta import MetaSampler

BUDGETS = (5, 10, 15, 25, 35, 50)
PRUNERS = {"median": optuna.pruners.MedianPruner, "hyperband": optuna.pruners.HyperbandPruner}


def make_sampler(method: str, seed: int, storage: str, cache: Path) -> optuna.samplers.BaseSampler:
    """The sampler that ``metahpo bench`` runs under the name ``method``."""
    if method == "meta":
        return MetaSampler(source_studies=[f"{storage}::lcbench-prior-*"], seed=seed, surrogate_cache=cache)
    if method == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if method == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    raise ValueError(f"--methods: {method!r} is not one of meta, gp, tpe")


def run(
    problem: Any,
    curve_of: Any,
    task: str,
    method: str,
    seed: int,
    budget: int,
    storage: str,
    cache: Path,
    pruner: str = "median",
) -> dict[str, Any]:
    """One study of ``budget`` trials; each trial's final value (None: pruned), epochs and the
    number of pruned trials the model estimated (MetaSampler; 0 elsewhere), and how many trials
    repeated an earlier trial's configuration."""
    sampler = make_sampler(method, seed, storage, cache)
    study = optuna.create_study(sampler=sampler, pruner=PRUNERS[pruner]())
    finals: list[float | None] = []
    epochs: list[int] = []
    for _ in range(budget):
        trial = study.ask()
        params = problem.suggest(trial)
        curve = [float(v) for v in curve_of(task, params)]
        for e, v in enumerate(curve, start=1):
            trial.report(v, e)
            if e < len(curve) and trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                finals.append(None)
                epochs.append(e)
                break
        else:
            study.tell(trial, curve[-1])
            finals.append(curve[-1])
            epochs.append(len(curve))
    infos = [json.loads(t.system_attrs.get("metahpo:info", "{}")) for t in study.trials]
    served = [info.get("n_pruned_estimated", 0) for info in infos]
    configs = [tuple(sorted(t.params.items())) for t in study.trials]
    repeats = len(configs) - len(set(configs))
    return {"finals": finals, "epochs": epochs, "estimated": served, "repeats": repeats}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("METAHPO_BENCH_DATA", "../shared/data"))
    p.add_argument("--out", default="pruned-out")
    p.add_argument("--methods", nargs="+", default=["meta", "gp", "tpe"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--budget", type=int, default=50)
    p.add_argument("--test-tasks", type=int, default=5)
    p.add_argument("--prior-tasks", type=int, default=29)
    p.add_argument("--prior-trials", type=int, default=100)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--pruner", choices=sorted(PRUNERS), default="median")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    problem = load_problem(Path(args.data), "lcbench")
    curve_of = lcbench_curve(Path(args.data))
    order = np.random.default_rng(args.split_seed).permutation(len(problem.tasks))
    test = [problem.tasks[i] for i in order[: args.test_tasks]]
    prior = [problem.tasks[i] for i in order[args.test_tasks : args.test_tasks + args.prior_tasks]]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{(out / f'kb-lcbench-split{args.split_seed}.db').resolve()}"
    build_priors(problem, prior, storage, args.prior_trials, args.split_seed)
    cache = (out / "surrogate-cache").resolve()
    scans = {t: problem.scan(t, np.random.default_rng(args.split_seed)) for t in test}
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in args.methods}
    for task in test:
        for seed in range(args.seeds):
            for m in args.methods:
                t0 = time.perf_counter()
                r = run(problem, curve_of, task, m, seed, args.budget, storage, cache, args.pruner)
                r.update(task=task, seed=seed, seconds=time.perf_counter() - t0)
                runs[m].append(r)
                print(f"{task} s{seed} {m}: {time.perf_counter() - t0:.0f} s", flush=True)
    (out / "runs.json").write_text(json.dumps({"test": test, "runs": runs}))
    budgets = [b for b in BUDGETS if b <= args.budget]
    print(
        f"\nlcbench with {PRUNERS[args.pruner].__name__}, split {args.split_seed}: "
        f"{len(test)} tasks x {args.seeds} seeds, {args.budget} trials"
    )
    heads = " | ".join(f"regret @{b}" for b in budgets)
    print(f"| method | {heads} | pruned | epochs | trials using estimates | repeated |")
    print("|---|" + "---:|" * (len(budgets) + 4))
    for m, rs in runs.items():
        reg = []
        for r in rs:
            s = scans[r["task"]]
            lo, hi = float(s.min()), float(s.max())
            best = np.minimum.accumulate([np.inf if v is None else v for v in r["finals"]])
            reg.append([(min(best[b - 1], hi) - lo) / (hi - lo) for b in budgets])
        R = np.mean(reg, axis=0)
        pruned = np.mean([np.mean([v is None for v in r["finals"]]) for r in rs])
        ep = np.mean([sum(r["epochs"]) for r in rs])
        est = np.mean([np.mean([e > 0 for e in r["estimated"]]) for r in rs])
        rep = np.mean([r["repeats"] for r in rs])
        cells = " | ".join(f"{x:.4f}" for x in R)
        print(f"| {m} | {cells} | {pruned:.0%} | {ep:.0f} | {est:.0%} | {rep:.1f} |")


if __name__ == "__main__":
    main()
