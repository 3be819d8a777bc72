"""Does the sampler disturb the random numbers of an objective that runs beside it on threads?

Torch has one random generator per process.  A sampler that seeds it while it fits (and gives
the caller's state back afterwards) hands a thread that draws meanwhile the numbers of the seeded
stream; where two such blocks use one seed, that thread gets the same numbers twice.  This runs
``study.optimize(objective, n_trials, n_jobs=2)``: the objective draws ``torch.rand`` (float64,
so a repeat by chance is practically impossible) in a loop while the other thread asks the
sampler, and the table counts the draws that repeat an earlier one, per sampler and seed (the
counts depend on how the threads interleave; the neural surrogate is trained in the first seed's
run and loaded from its cache in the others)::

    python benchmarks/torch_rng_threads.py --trials 24 --seeds 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable

import optuna
import torch

from optuna_meta import MetaSampler


def _prior() -> optuna.Study:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(lambda t: _f(t, 1.2), n_trials=30)
    return study


def _f(trial: optuna.Trial, shift: float) -> float:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", -5, 5)
    return (x - shift) ** 2 + y**2


def _repeats(
    make: Callable[[], optuna.samplers.BaseSampler], trials: int, draws_per_trial: int
) -> tuple[int, int]:
    draws: list[float] = []
    lock = threading.Lock()

    def objective(trial: optuna.Trial) -> float:
        for _ in range(draws_per_trial):
            value = float(torch.rand(1, dtype=torch.float64))
            with lock:
                draws.append(value)
            time.sleep(0.0005)
        return _f(trial, 1.0)

    study = optuna.create_study(sampler=make())
    study.optimize(objective, n_trials=trials, n_jobs=2)
    return len(draws), len(draws) - len(set(draws))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--draws", type=int, default=200, help="torch.rand draws per trial")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    prior = _prior()
    with tempfile.TemporaryDirectory(prefix="metahpo-rng-") as cache:
        _table(prior, cache, args.trials, args.seeds, args.draws)


def _table(prior: optuna.Study, cache: str, trials: int, n_seeds: int, draws: int) -> None:
    samplers: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
        "RandomSampler": lambda s: optuna.samplers.RandomSampler(seed=s),
        "GPSampler": lambda s: optuna.samplers.GPSampler(seed=s),
        "MetaSampler (multi-task GP)": lambda s: MetaSampler(
            source_studies=[prior], seed=s, surrogate="mtgp"
        ),
        "MetaSampler (neural)": lambda s: MetaSampler(
            source_studies=[prior], seed=s, surrogate="neural", surrogate_cache=cache
        ),
    }
    print(f"| sampler | draws per run | repeated draws, seeds 0-{n_seeds - 1} | median |")
    print("|---|---:|---|---:|")
    for name, make in samplers.items():
        counts = []
        n = 0
        for seed in range(n_seeds):
            n, repeated = _repeats(lambda: make(seed), trials, draws)  # noqa: B023
            counts.append(repeated)
        print(f"| {name} | {n} | {', '.join(map(str, counts))} | {statistics.median(counts):g} |")


if __name__ == "__main__":
    main()
