"""MetaSampler without priors against GPSampler from the same first trials.

The first ``--startup`` trials of every run come from Optuna's ``RandomSampler(seed)``; then
GPSampler or MetaSampler (no prior studies), each told to start its model after ``--startup``
trials, takes over the same study.  With the default 10 (both samplers' own start) GPSampler's
curves are those of ``metahpo bench``, whose own start is that random sampler; MetaSampler's
differ from ``metahpo bench --prior-tasks 0`` only in where it starts.  So a gap between the two
here lies in the model or the acquisition, not in the start.  Held-out tasks as
``metahpo bench --split-seed N`` chooses them.

Since c6530c5 MetaSampler without priors hands its suggestions to a GPSampler of its own, which
from the same trials proposes what the study's GPSampler proposes: the two curves now coincide
trial by trial (the test of this script checks it).  The same-start tables in MEASUREMENTS.md measured
the engine's own single-task GP, before that hand-over (up to 40c07f4)::

    python benchmarks/same_start.py --data ../shared/data --problem lcbench --split-seed 1 --out same.json
    python benchmarks/ablation.py --data ../shared/data same=same.json   # tables against GPSampler

``results.json``-shaped output (methods ``gp`` and ``meta``), so ``benchmarks/ablation.py`` reads it.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from metahpo_cli.bench import BenchConfig, Problem, load_problem, summarise


def _run(problem: Problem, task: str, method: str, seed: int, budget: int, startup: int) -> dict[str, Any]:
    from optuna_meta import MetaSampler

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    values: list[float] = []
    seconds: list[float] = []
    for t in range(budget):
        if t == startup:
            study.sampler = (
                optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
                if method == "gp"
                else MetaSampler(source_studies=[], seed=seed, n_startup_trials=startup)
            )
        t0 = time.perf_counter()
        trial = study.ask()
        params = problem.suggest(trial)
        seconds.append(time.perf_counter() - t0)
        values.append(float(problem.evaluate(task, [params])[0]))
        study.tell(trial, values[-1])
    return {"values": values, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the benchmark data folder")
    parser.add_argument("--problem", default="lcbench")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--startup", type=int, default=10, help="random trials before the samplers take over")
    parser.add_argument("--out", required=True, help="where to write the results.json-shaped file")
    args = parser.parse_args()
    if not 0 < args.startup < args.budget:
        parser.error(f"--startup must be between 1 and --budget - 1 (got {args.startup})")
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1 (got {args.seeds})")
    if args.split_seed < 0:
        parser.error(f"--split-seed must be >= 0 (got {args.split_seed})")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        problem = load_problem(Path(args.data), args.problem)
    except (OSError, ValueError, KeyError) as e:
        parser.error(f"--problem {args.problem} from --data {args.data}: {e}")
    if problem.n_objectives != 1 or problem.constraint is not None or problem.snap is not None:
        parser.error(f"{args.problem}: only single-objective, unconstrained, unpooled problems")
    cfg = BenchConfig(
        data=args.data,
        out=str(Path(args.out).parent),
        problems=(args.problem,),
        methods=("gp", "meta"),
        seeds=args.seeds,
        budget=args.budget,
        prior_tasks=0,
        split_seed=args.split_seed,
    )
    order = np.random.default_rng(cfg.split_seed).permutation(len(problem.tasks))
    test = [problem.tasks[i] for i in order[: cfg.test_tasks]]
    runs = {
        m: {t: [_run(problem, t, m, s, cfg.budget, args.startup) for s in range(cfg.seeds)] for t in test}
        for m in cfg.methods
    }
    result = {"test_tasks": test, "prior_tasks": [], "runs": runs}
    Path(args.out).write_text(json.dumps({"config": asdict(cfg), "problems": {args.problem: result}}))
    scans = {t: problem.scan(t, np.random.default_rng(cfg.split_seed)) for t in test}
    s = summarise(runs, scans, cfg.budget, problem)
    marks = sorted({b for b in (10, 25, 50, 100) if b < cfg.budget} | {cfg.budget})
    print(f"| method | {' | '.join(f'@{b}' for b in marks)} |")
    print(f"|---|{'---:|' * len(marks)}")
    for m in cfg.methods:
        print(f"| {m} | " + " | ".join(f"{s['mean'][m][b - 1]:.4f}" for b in marks) + " |")


if __name__ == "__main__":
    main()
