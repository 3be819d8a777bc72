"""Per-suggestion time of MetaSampler against Optuna's GPSampler on the same study.

For each knowledge-base size (0 and 2,000 prior trials by default: 10 prior studies x 200 random
trials of related tasks, in an in-memory storage), one study of 50 trials is run per sampler and
seed with the ask/tell interface; the time of ask + all suggest calls of a trial is the sampler's
cost (the objective costs microseconds).  Printed: the median over seeds of the median over the
3 trials around trial 10, 25 and 50.

Threads matter: MetaSampler sets torch's thread count for each fit and acquisition by the size of
the problem, GPSampler runs with torch's default.  The header line says what the run had; compare
like with like (``OMP_NUM_THREADS=1`` holds both samplers to one thread).

Run: python benchmarks/suggest_time.py [--seeds 2] [--prior-trials 0 2000]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np
import optuna
import torch
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from optuna_meta import MetaSampler

SPACE = {
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "x1": FloatDistribution(-3, 3),
    "x2": FloatDistribution(-3, 3),
    "x3": FloatDistribution(0, 1),
    "depth": IntDistribution(1, 12),
    "kind": CategoricalDistribution(["a", "b", "c"]),
}


def value(p: dict, shift: float) -> float:
    return (
        (math.log10(p["lr"]) + 3 + shift) ** 2
        + (p["x1"] - shift) ** 2
        + 0.5 * (p["x2"] + shift) ** 2
        + p["x3"]
        + 0.05 * abs(p["depth"] - 6)
        + (0.0 if p["kind"] == "b" else 0.5)
    )


def build_priors(n_trials: int, n_studies: int = 10) -> list[optuna.Study]:
    if n_trials == 0:
        return []
    studies = []
    rng = np.random.default_rng(123)
    for i in range(n_studies):
        study = optuna.create_study(study_name=f"prior-{i}")
        sampler = optuna.samplers.RandomSampler(seed=i)
        shift = float(rng.normal(0, 0.5))
        trials = []
        for _ in range(n_trials // n_studies):
            params = {n: sampler.sample_independent(study, None, n, d) for n, d in SPACE.items()}  # type: ignore[arg-type]
            trials.append(optuna.create_trial(params=params, distributions=SPACE, value=value(params, shift)))
        study.add_trials(trials)
        studies.append(study)
    return studies


def suggest(trial: optuna.Trial, name: str, d: optuna.distributions.BaseDistribution) -> object:
    if isinstance(d, FloatDistribution):
        return trial.suggest_float(name, d.low, d.high, log=d.log)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, log=d.log)
    assert isinstance(d, CategoricalDistribution)
    return trial.suggest_categorical(name, d.choices)


def time_study(sampler: optuna.samplers.BaseSampler, n_trials: int = 51) -> list[float]:
    study = optuna.create_study(sampler=sampler)
    out = []
    for _ in range(n_trials):
        t0 = time.perf_counter()
        trial = study.ask()
        params = {n: suggest(trial, n, d) for n, d in SPACE.items()}
        out.append(time.perf_counter() - t0)
        study.tell(trial, value(params, 0.2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--prior-trials", type=int, nargs="+", default=[0, 2000])
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    marks = (10, 25, 50)
    omp = os.environ.get("OMP_NUM_THREADS", "unset")
    print(f"torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={omp}\n")
    print("| prior trials | sampler | " + " | ".join(f"s/suggestion @ trial {m}" for m in marks) + " |")
    print("|---:|---|" + "---:|" * len(marks))
    for n_prior in args.prior_trials:
        priors = build_priors(n_prior)
        rows: dict[str, list[list[float]]] = {"MetaSampler": [], "GPSampler": []}
        for seed in range(args.seeds):
            meta = (
                MetaSampler(source_studies=priors, seed=seed)
                if priors
                else MetaSampler(source_studies=[], seed=seed)
            )
            for name, sampler in (("MetaSampler", meta), ("GPSampler", optuna.samplers.GPSampler(seed=seed))):
                times = time_study(sampler)
                rows[name].append([statistics.median(times[m - 2 : m + 1]) for m in marks])
        for name, per_seed in rows.items():
            cells = [statistics.median(s[i] for s in per_seed) for i in range(len(marks))]
            print(f"| {n_prior} | {name} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
