"""Warm-start a new Optuna study from earlier studies in the same storage.

Run: python examples/optuna_warm_start.py
"""

from __future__ import annotations

import os
import tempfile

import optuna

from optuna_meta import MetaSampler


def objective_for(shift: float):  # type: ignore[no-untyped-def]
    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        depth = trial.suggest_int("depth", 2, 12)
        booster = trial.suggest_categorical("booster", ["gbtree", "dart", "gblinear"])
        penalty = {"gbtree": 0.0, "dart": 0.05, "gblinear": 0.3}[booster]
        import math

        return (math.log10(lr) + 2.5 + shift) ** 2 + 0.02 * (depth - 7) ** 2 + penalty

    return objective


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{os.path.join(tempfile.mkdtemp(), 'runs.db')}"
    for i, shift in enumerate((0.0, 0.3, -0.2)):  # three earlier, related studies
        old = optuna.create_study(storage=url, study_name=f"xgb-dataset-{i}")
        old.optimize(objective_for(shift), n_trials=40)

    study = optuna.create_study(storage=url, study_name="xgb-new-dataset", sampler=MetaSampler(seed=0))
    study.optimize(objective_for(0.1), n_trials=15)
    for t in study.trials:
        print(f"trial {t.number:2d}  {t.system_attrs['metahpo:phase']:9s}  value {t.value:.4f}")
    print("best:", study.best_params, round(study.best_value, 4))


if __name__ == "__main__":
    main()
