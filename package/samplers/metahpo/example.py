"""A new study warm-started from three earlier, related studies, with the sampler from OptunaHub.

Each earlier study tuned the same kind of model (C, gamma, kernel) on another data set; the new
study starts from their best configurations and models all of them together.
"""

from __future__ import annotations

from collections.abc import Callable
import math

import optuna
import optunahub


def objective_for(shift: float) -> Callable[[optuna.Trial], float]:
    """Validation error of an SVM-like model on one data set; ``shift`` moves its optimum."""

    def objective(trial: optuna.Trial) -> float:
        c = trial.suggest_float("C", 1e-3, 1e3, log=True)
        gamma = trial.suggest_float("gamma", 1e-4, 1e1, log=True)
        kernel = trial.suggest_categorical("kernel", ["rbf", "poly", "sigmoid"])
        bias = {"rbf": 0.0, "poly": 0.04, "sigmoid": 0.12}[kernel]
        bowl = (
            0.02 * (math.log10(c) - 1.0 - shift) ** 2
            + 0.05 * (math.log10(gamma) + 2.0 + shift) ** 2
        )
        return 0.1 + bias + bowl

    return objective


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    module = optunahub.load_module(package="samplers/metahpo")

    earlier = []
    for i, shift in enumerate((0.0, 0.3, -0.2)):
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=i))
        study.optimize(objective_for(shift), n_trials=40)
        earlier.append(study)

    sampler = module.MetaSampler(source_studies=earlier, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective_for(0.1), n_trials=15)

    baseline = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=0))
    baseline.optimize(objective_for(0.1), n_trials=15)
    print("best value so far (the optimum is 0.1)")
    for name, s in (("MetaSampler", study), ("GPSampler", baseline)):
        values = [t.value for t in s.trials if t.value is not None]
        row = "  ".join(f"@{n}: {min(values[:n]):.4f}" for n in (1, 3, 5, 10, 15))
        print(f"{name:12s} {row}")
    print("MetaSampler's best parameters:", study.best_params)


if __name__ == "__main__":
    main()
