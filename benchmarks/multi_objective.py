"""Multi-objective studies: hypervolume and cost against Optuna's samplers, without priors and
with three related prior studies.

A ZDT1-like problem (4 parameters in [0, 1], two objectives minimised), 50 trials, median of
``--seeds`` seeds, every sampler run in this process; hypervolume against the reference point
(1.1, 11) after 10, 25 and 50 trials, and seconds per trial.  The related priors are the same
problem with its Pareto set moved (``x1..x3`` optimal at 0.05, 0.1 and 0.15 instead of 0), 40
random trials each; the unrelated ones have the objectives' roles swapped and the set at 0.9.

With ``--constrained`` every study (the priors' too) records one constraint, ``x1 >= 0.5``
(``trial.set_constraint("x1_floor", 0.5 - x1)``; Optuna 5 reads ``FrozenTrial.constraints``,
feasible iff every value <= 0), which moves the Pareto set off ``x1 = 0`` (and off the related
priors' 0.05-0.15); the hypervolume counts feasible trials only, and the table adds the share of
feasible trials after the first 10.

With ``--cost`` it times instead one suggestion around trial 50 (the median of trials 48-50 of
each seed's study) for MetaSampler with 5,000 prior trials (50 related prior studies x 100 random
trials) and without priors, against GPSampler on the same problem, in this process one after the
other (the issue's cost target: at most 2x GPSampler).

    python benchmarks/multi_objective.py --seeds 3
    python benchmarks/multi_objective.py --constrained --seeds 5
    python benchmarks/multi_objective.py --cost --seeds 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import optuna
import torch
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated

from optuna_meta import MetaSampler

X1_FLOOR = 0.5  # --constrained: feasible iff x1 >= X1_FLOOR (half of the box)


def zdt1(
    trial: optuna.Trial, shift: float = 0.0, swap: bool = False, constrained: bool = False
) -> tuple[float, float]:
    x = [trial.suggest_float(f"x{i}", 0, 1) for i in range(4)]
    if constrained:
        trial.set_constraint("x1_floor", X1_FLOOR - x[1])
    g = 1 + 9 * sum(abs(v - shift) for v in x[1:]) / 3
    f1, f2 = x[0], g * (1 - (x[0] / g) ** 0.5)
    return (f2, f1) if swap else (f1, f2)


def priors(
    shifts: tuple[float, ...], swap: bool = False, n_trials: int = 40, constrained: bool = False
) -> list[optuna.Study]:
    out = []
    for i, shift in enumerate(shifts):
        study = optuna.create_study(
            directions=["minimize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=100 + i)
        )
        study.optimize(lambda t, s=shift: zdt1(t, s, swap, constrained), n_trials=n_trials)
        out.append(study)
    return out


def cost(seeds: int) -> None:
    many = priors(tuple(0.2 * i / 49 for i in range(50)), n_trials=100)
    samplers = {
        "MetaSampler, 5,000 prior trials": lambda s: MetaSampler(source_studies=many, seed=s),
        "MetaSampler, no priors": lambda s: MetaSampler(source_studies=[], seed=s),
        "GPSampler": lambda s: optuna.samplers.GPSampler(seed=s),
    }
    print(f"seconds per suggestion around trial 50, median over {seeds} seeds\n")
    print("| sampler | s/suggestion @ 48-50 | first suggestion s |\n|---|---:|---:|")
    for name, make in samplers.items():
        at50, first = [], []
        for seed in range(seeds):
            study = optuna.create_study(directions=["minimize", "minimize"], sampler=make(seed))
            times = []
            for _ in range(50):
                t0 = time.perf_counter()
                trial = study.ask()
                values = zdt1(trial)  # the suggestions; the objective itself costs microseconds
                times.append(time.perf_counter() - t0)
                study.tell(trial, values)
            at50.append(statistics.median(times[47:50]))
            first.append(times[0])
        print(f"| {name} | {statistics.median(at50):.3f} | {statistics.median(first):.3f} |")


def feasible(t: optuna.trial.FrozenTrial) -> bool:
    return all(v <= 0 for v in (t.constraints or {}).values())


def hypervolume(trials: list[optuna.trial.FrozenTrial], n: int) -> float:
    """Hypervolume of the first ``n`` trials' feasible values."""
    # BoTorch maximises: negate the minimised objectives and the reference point
    values = [t.values for t in trials[:n] if t.values and feasible(t)]
    if not values:
        return 0.0
    Y = -torch.tensor(values, dtype=torch.float64)
    ref = torch.tensor([-1.1, -11.0], dtype=torch.float64)
    Y = Y[(Y - ref >= 0).all(-1)]
    if Y.shape[0] == 0:
        return 0.0
    hv = Hypervolume(ref_point=ref)
    return float(hv.compute(Y[is_non_dominated(Y)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cost", action="store_true", help="time suggestions with 5,000 prior trials")
    parser.add_argument("--constrained", action="store_true", help="one constraint on every study: x1 >= 0.5")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.cost:
        cost(args.seeds)
        return
    con = args.constrained
    related = priors((0.05, 0.1, 0.15), constrained=con)
    unrelated = priors((0.9, 0.9, 0.9), swap=True, constrained=con)
    samplers = {
        "MetaSampler": lambda s: MetaSampler(seed=s),
        "MetaSampler, 3 related priors": lambda s: MetaSampler(source_studies=related, seed=s),
        "MetaSampler, 3 unrelated priors": lambda s: MetaSampler(source_studies=unrelated, seed=s),
        "GPSampler": lambda s: optuna.samplers.GPSampler(seed=s),
        "TPESampler": lambda s: optuna.samplers.TPESampler(seed=s),
        "NSGAIISampler": lambda s: optuna.samplers.NSGAIISampler(seed=s),
    }
    print(f"median over {args.seeds} seeds, 50 trials" + (", constraint x1 >= 0.5" if con else "") + "\n")
    share = " feasible after 10 |" if con else ""
    print(
        f"| sampler | HV@10 | HV@25 | HV@50 | s/trial |{share}\n|---|---:|---:|---:|---:|"
        + ("---:|" if con else "")
    )
    for name, make in samplers.items():
        rows = []
        for seed in range(args.seeds):
            study = optuna.create_study(directions=["minimize", "minimize"], sampler=make(seed))
            t0 = time.perf_counter()
            study.optimize(lambda t: zdt1(t, constrained=con), n_trials=50)
            seconds = (time.perf_counter() - t0) / 50
            after = study.trials[10:]
            rows.append(
                [
                    *(hypervolume(study.trials, n) for n in (10, 25, 50)),
                    seconds,
                    sum(map(feasible, after)) / len(after),
                ]
            )
        m = [statistics.median(r[i] for r in rows) for i in range(5)]
        extra = f" {m[4]:.0%} |" if con else ""
        print(f"| {name} | {m[0]:.3f} | {m[1]:.3f} | {m[2]:.3f} | {m[3]:.3f} |{extra}", flush=True)


if __name__ == "__main__":
    main()
