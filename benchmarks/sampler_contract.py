"""The sampler contract under real studies: failures, conditional spaces, same-seed workers.

Prints one table (case, MetaSampler, GPSampler, TPESampler), every figure measured in this run:

* failing region: int ``x`` in 0..20, ``x <= 1`` raises, minimise ``x``, 20 trials, 4 start-up
  trials; with and without 5 prior studies (random search on the same objective, whose ``x <= 1``
  trials failed): failed trials (median over seeds); and a continuous one, ``x < 4`` of [0, 20]
  raises, minimise ``x + y``, 30 trials (the optimum lies on the failure boundary), without priors,
  with 5 priors that failed there too, and (best value found) with 5 priors that failed near the
  target's optimum (``4 <= x < 6``) where the target does not: misleading priors must not hurt;
* conditional space: ``kind`` in {a, b}, ``a_k`` / ``b_k`` ints with 50 values under each branch,
  30 trials: trials that repeat an earlier effective configuration (active parameters only);
* same-seed workers: two samplers with the same seed and no priors, on one storage, taking turns
  for 10 rounds: rounds where both proposed the same configuration.

    python benchmarks/sampler_contract.py --seeds 3
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Callable

import optuna

from optuna_meta import MetaSampler

SamplerFactory = Callable[[int, list[optuna.Study]], optuna.samplers.BaseSampler]


def _samplers() -> dict[str, SamplerFactory]:
    return {
        "MetaSampler": lambda seed, priors: MetaSampler(source_studies=priors, seed=seed, n_startup_trials=4),
        "GPSampler": lambda seed, priors: optuna.samplers.GPSampler(seed=seed, n_startup_trials=4),
        "TPESampler": lambda seed, priors: optuna.samplers.TPESampler(seed=seed, n_startup_trials=4),
    }


def failing(trial: optuna.Trial) -> float:
    x = trial.suggest_int("x", 0, 20)
    if x <= 1:
        raise RuntimeError("out of memory")
    return float(x)


def failures(make: SamplerFactory, seed: int, with_priors: bool) -> int:
    priors = []
    if with_priors:
        for i in range(5):
            p = optuna.create_study(study_name=f"prior-{i}", sampler=optuna.samplers.RandomSampler(100 + i))
            p.optimize(failing, n_trials=30, catch=(RuntimeError,))
            priors.append(p)
    study = optuna.create_study(sampler=make(seed, priors))
    study.optimize(failing, n_trials=20, catch=(RuntimeError,))
    return sum(t.state == optuna.trial.TrialState.FAIL for t in study.trials)


def failing_continuous(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 20.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    if x < 4.0:
        raise RuntimeError("diverged")
    return x + y


def _continuous_priors(lo: float, hi: float) -> list[optuna.Study]:
    """5 random-search studies of ``x + y`` whose trials failed for ``lo <= x < hi``."""

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 20.0)
        y = trial.suggest_float("y", 0.0, 1.0)
        if lo <= x < hi:
            raise RuntimeError("diverged")
        return x + y

    priors = []
    for i in range(5):
        p = optuna.create_study(study_name=f"prior-{i}", sampler=optuna.samplers.RandomSampler(100 + i))
        p.optimize(objective, n_trials=30, catch=(RuntimeError,))
        priors.append(p)
    return priors


def continuous_study(make: SamplerFactory, seed: int, priors: str) -> optuna.Study:
    sources = {"none": [], "same": _continuous_priors(0.0, 4.0), "elsewhere": _continuous_priors(4.0, 6.0)}
    study = optuna.create_study(sampler=make(seed, sources[priors]))
    study.optimize(failing_continuous, n_trials=30, catch=(RuntimeError,))
    return study


def continuous_failures(make: SamplerFactory, seed: int, priors: str = "none") -> int:
    study = continuous_study(make, seed, priors)
    return sum(t.state == optuna.trial.TrialState.FAIL for t in study.trials)


def continuous_best(make: SamplerFactory, seed: int, priors: str) -> float:
    return continuous_study(make, seed, priors).best_value


def conditional(trial: optuna.Trial) -> float:
    kind = trial.suggest_categorical("kind", ["a", "b"])
    k = trial.suggest_int(f"{kind}_k", 0, 49)
    return abs(k - 17) + (0.0 if kind == "a" else 5.0)


def repeats(make: SamplerFactory, seed: int) -> int:
    study = optuna.create_study(sampler=make(seed, []))
    study.optimize(conditional, n_trials=30)
    seen = [tuple(sorted(t.params.items())) for t in study.trials]
    return len(seen) - len(set(seen))


def smooth(trial: optuna.Trial) -> float:
    return (trial.suggest_float("x", -3, 3) - 1) ** 2 + trial.suggest_int("k", 0, 9)


def random_failures_best(make: SamplerFactory, seed: int) -> float:
    """Best value of 30 trials of a smooth 3-d objective whose trials fail at random (1 in 4,
    wherever they are): failures that teach nothing must not distort the search."""
    rng = random.Random(seed)

    def objective(trial: optuna.Trial) -> float:
        x, y = trial.suggest_float("x", -3, 3), trial.suggest_float("y", -3, 3)
        k = trial.suggest_int("k", 0, 9)
        if rng.random() < 0.25:
            raise RuntimeError("node lost")
        return (x - 1) ** 2 + (y + 0.5) ** 2 + 0.1 * k

    study = optuna.create_study(sampler=make(seed, []))
    study.optimize(objective, n_trials=30, catch=(RuntimeError,))
    return study.best_value


def constrained(trial: optuna.Trial) -> float:
    x, y = trial.suggest_float("x", -3, 3), trial.suggest_float("y", -3, 3)
    trial.set_constraint("latency", x + 0.5 * y - 1.0)  # feasible iff x + y / 2 <= 1
    return (x - 2) ** 2 + (y - 1) ** 2


def constrained_study(make: SamplerFactory, seed: int, with_priors: bool = False) -> optuna.Study:
    priors = []
    if with_priors:  # 5 random-search studies of the same constrained problem
        for i in range(5):
            p = optuna.create_study(study_name=f"prior-{i}", sampler=optuna.samplers.RandomSampler(100 + i))
            p.optimize(constrained, n_trials=30)
            priors.append(p)
    study = optuna.create_study(sampler=make(seed, priors))
    study.optimize(constrained, n_trials=25)
    return study


def feasible_trials(study: optuna.Study) -> int:
    return sum(all(v <= 0 for v in t.constraints.values()) for t in study.trials)


def best_feasible(study: optuna.Study) -> float:
    ok = [t.value for t in study.trials if all(v <= 0 for v in t.constraints.values())]
    return min(v for v in ok if v is not None) if ok else float("inf")


def same_seed_clashes(make: SamplerFactory, seed: int) -> int:
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(storage=storage, study_name="shared")
    workers = [
        optuna.load_study(study_name="shared", storage=storage, sampler=make(seed, [])) for _ in range(2)
    ]
    clashes = 0
    for _ in range(10):
        trials = [w.ask() for w in workers]
        params = [(t.suggest_float("x", -3, 3), t.suggest_int("k", 0, 9)) for t in trials]
        clashes += params[0] == params[1]
        for w, t, (x, k) in zip(workers, trials, params, strict=True):
            w.tell(t, (x - 1) ** 2 + k)
    return clashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cases", default="", help="comma-separated case numbers (1-based); all by default")
    parser.add_argument("--samplers", default="", help="comma-separated sampler names; all by default")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    cases: dict[str, Callable[[SamplerFactory, int], float]] = {
        "failed trials of 20, failing region, no priors": lambda m, s: failures(m, s, False),
        "failed trials of 20, failing region, 5 priors that failed there": lambda m, s: failures(m, s, True),
        "failed trials of 30, continuous failing region (x < 4 of [0, 20])": continuous_failures,
        "same, 5 priors that failed there": lambda m, s: continuous_failures(m, s, "same"),
        "best value of 30 (optimum 4), 5 priors that failed at 4 <= x < 6, the target does not": (
            lambda m, s: continuous_best(m, s, "elsewhere")
        ),
        "best value of 30 (optimum 0), 1 in 4 trials fails at random": random_failures_best,
        "best feasible value of 25, minimise (x-2)^2 + (y-1)^2 s.t. x + y/2 <= 1 (optimum 1.8)": (
            lambda m, s: best_feasible(constrained_study(m, s))
        ),
        "feasible trials of 25, same study": lambda m, s: feasible_trials(constrained_study(m, s)),
        "best feasible value of 25, same, 5 priors of the same constrained problem": (
            lambda m, s: best_feasible(constrained_study(m, s, True))
        ),
        "feasible trials of 25, same": lambda m, s: feasible_trials(constrained_study(m, s, True)),
        "repeated effective configurations of 30, conditional space (50 per branch)": repeats,
        "rounds of 10 where two same-seed workers proposed the same configuration": same_seed_clashes,
    }
    samplers = _samplers()
    if args.samplers:
        samplers = {k: v for k, v in samplers.items() if k in args.samplers.split(",")}
    if args.cases:
        keep = {int(c) - 1 for c in args.cases.split(",")}
        cases = {k: v for i, (k, v) in enumerate(cases.items()) if i in keep}
    print(f"median over {args.seeds} seeds\n")
    print("| case | " + " | ".join(samplers) + " |")
    print("|---|" + "---:|" * len(samplers))
    for label, case in cases.items():
        cells = [
            statistics.median(case(make, seed) for seed in range(args.seeds)) for make in samplers.values()
        ]
        print(f"| {label} | " + " | ".join(f"{c:.4g}" for c in cells) + " |")


if __name__ == "__main__":
    main()
