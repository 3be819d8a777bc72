"""Many workers on one storage: MetaSampler with 4 worker processes x 25 trials against 1 worker x
100 trials, same prior knowledge base, same held-out tasks (YAHPO lcbench, as in ``metahpo bench``).

Each worker is a separate process that loads the shared study from the storage and runs
``study.optimize`` with its own ``MetaSampler(seed=0)`` (the same script started N times).  Printed:
per (task, seed) the normalised regret after the whole budget for both set-ups, their medians and
means, the number of duplicate configurations and of non-COMPLETE trials, and the wall time.

Run (PostgreSQL, as in CI; SQLite by default):
    python benchmarks/parallel_workers.py --storage postgresql+psycopg://postgres@127.0.0.1:54329/metahpo_test
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import optuna

from metahpo_cli.bench import build_priors, load_problem
from optuna_meta import MetaSampler


def worker(data: str, storage: str, study_name: str, task: str, n_trials: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    problem = load_problem(Path(data), "lcbench")
    sampler = MetaSampler(source_studies=[f"{storage}::lcbench-prior-*"], seed=0)
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        return float(problem.evaluate(task, [problem.suggest(trial)])[0])

    study.optimize(objective, n_trials=n_trials)


def run(
    data: str, storage: str, task: str, n_workers: int, budget: int
) -> tuple[list[float], int, int, float]:
    name = f"parallel-{uuid.uuid4().hex[:10]}"
    optuna.create_study(storage=storage, study_name=name)
    ctx = multiprocessing.get_context("spawn")
    t0 = time.perf_counter()
    procs = [
        ctx.Process(target=worker, args=(data, storage, name, task, budget // n_workers))
        for _ in range(n_workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    keys = [tuple(sorted(t.params.items())) for t in done]
    values = [float(t.value) for t in sorted(done, key=lambda t: t.number) if t.value is not None]
    return values, len(keys) - len(set(keys)), len(trials) - len(done), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("METAHPO_BENCH_DATA", "../shared/data"))
    ap.add_argument("--storage", default=None, help="Optuna storage URL (default: a temporary SQLite file)")
    ap.add_argument("--tasks", type=int, default=3, help="held-out lcbench tasks")
    ap.add_argument("--seeds", type=int, default=2, help="repetitions per task")
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    storage = args.storage or f"sqlite:///{Path(tempfile.mkdtemp()) / 'parallel.db'}"
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    problem = load_problem(Path(args.data), "lcbench")
    order = np.random.default_rng(0).permutation(len(problem.tasks))  # the split of `metahpo bench`
    test = [problem.tasks[i] for i in order[: args.tasks]]
    build_priors(problem, [problem.tasks[i] for i in order[5:35]], storage, 100, 0)
    rows = []
    for task in test:
        scan = problem.scan(task, np.random.default_rng(0))
        for rep in range(args.seeds):
            out = {}
            for n in (1, args.workers):
                values, dup, lost, wall = run(args.data, storage, task, n, args.budget)
                lo, hi = min(scan.min(), min(values)), max(scan.max(), max(values))
                out[n] = ((min(values) - lo) / (hi - lo), dup, lost, wall, len(values))
            rows.append((task, rep, out))
            print(task, rep, out, flush=True)
    w = args.workers
    print(
        f"\n| task | rep | regret, 1 worker x {args.budget} | regret, {w} workers x {args.budget // w} "
        "| duplicates (1 / N) | lost (1 / N) | wall s (1 / N) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for task, rep, out in rows:
        a, b = out[1], out[w]
        cells = [
            f"{a[0]:.4f}",
            f"{b[0]:.4f}",
            f"{a[1]} / {b[1]}",
            f"{a[2]} / {b[2]}",
            f"{a[3]:.0f} / {b[3]:.0f}",
        ]
        print(f"| {task} | {rep} | " + " | ".join(cells) + " |")
    one = [out[1][0] for _, _, out in rows]
    many = [out[w][0] for _, _, out in rows]
    print(f"| median | | {statistics.median(one):.4f} | {statistics.median(many):.4f} | | | |")
    print(f"| mean | | {statistics.mean(one):.4f} | {statistics.mean(many):.4f} | | | |")


if __name__ == "__main__":
    main()
