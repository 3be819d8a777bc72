"""Multi-objective studies without priors: hypervolume and cost against Optuna's samplers.

A ZDT1-like problem (4 parameters in [0, 1], two objectives minimised), 50 trials, median of
``--seeds`` seeds, every sampler run in this process; hypervolume against the reference point
(1.1, 11) after 10, 25 and 50 trials, and seconds per trial.

    python benchmarks/multi_objective.py --seeds 3
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


def zdt1(trial: optuna.Trial) -> tuple[float, float]:
    x = [trial.suggest_float(f"x{i}", 0, 1) for i in range(4)]
    g = 1 + 9 * sum(x[1:]) / 3
    return x[0], g * (1 - (x[0] / g) ** 0.5)


def hypervolume(trials: list[optuna.trial.FrozenTrial], n: int) -> float:
    # BoTorch maximises: negate the minimised objectives and the reference point
    Y = -torch.tensor([t.values for t in trials[:n] if t.values], dtype=torch.float64)
    ref = torch.tensor([-1.1, -11.0], dtype=torch.float64)
    Y = Y[(Y - ref >= 0).all(-1)]
    if Y.shape[0] == 0:
        return 0.0
    hv = Hypervolume(ref_point=ref)
    return float(hv.compute(Y[is_non_dominated(Y)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {
        "MetaSampler": lambda s: MetaSampler(seed=s),
        "GPSampler": lambda s: optuna.samplers.GPSampler(seed=s),
        "TPESampler": lambda s: optuna.samplers.TPESampler(seed=s),
        "NSGAIISampler": lambda s: optuna.samplers.NSGAIISampler(seed=s),
    }
    print(f"median over {args.seeds} seeds, 50 trials\n")
    print("| sampler | HV@10 | HV@25 | HV@50 | s/trial |\n|---|---:|---:|---:|---:|")
    for name, make in samplers.items():
        rows = []
        for seed in range(args.seeds):
            study = optuna.create_study(directions=["minimize", "minimize"], sampler=make(seed))
            t0 = time.perf_counter()
            study.optimize(zdt1, n_trials=50)
            seconds = (time.perf_counter() - t0) / 50
            rows.append([*(hypervolume(study.trials, n) for n in (10, 25, 50)), seconds])
        m = [statistics.median(r[i] for r in rows) for i in range(4)]
        print(f"| {name} | {m[0]:.3f} | {m[1]:.3f} | {m[2]:.3f} | {m[3]:.3f} |")


if __name__ == "__main__":
    main()
