"""Shared helpers of the Optuna adapter tests: small real prior studies."""

from __future__ import annotations

import optuna


def quadratic(shift: float):  # type: ignore[no-untyped-def]
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -5, 5)
        y = trial.suggest_float("y", 1e-3, 10, log=True)
        c = trial.suggest_categorical("c", ["a", "b", "c"])
        k = trial.suggest_int("k", 1, 8)
        return (x - shift) ** 2 + 0.1 * abs(k - 4) + (0.0 if c == "b" else 1.0) + 0.01 * y

    return objective


def make_prior(
    storage: str | None = None, name: str = "prior", shift: float = 1.0, n: int = 30, seed: int = 0
):  # type: ignore[no-untyped-def]
    study = optuna.create_study(
        storage=storage, study_name=name, sampler=optuna.samplers.RandomSampler(seed=seed)
    )
    study.optimize(quadratic(shift), n_trials=n)
    return study
