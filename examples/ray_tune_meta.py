"""Ray Tune with MetaSampler: ``OptunaSearch(sampler=MetaSampler(...))``.

Two earlier studies of a related task sit in a SQLite storage; Ray Tune runs 12 trials, two at a
time, with the meta-learned sampler.  Ray's OptunaSearch keeps its own in-memory study, so the
priors are named explicitly (``source_studies``).

Run:  pip install -e ".[ray]" && python examples/ray_tune_meta.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import optuna
import ray
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from optuna_meta import MetaSampler


def loss(x: float, lr: float, shift: float = 0.0) -> float:
    import math

    return (x - 1.0 - shift) ** 2 + (math.log10(lr) + 2.5) ** 2


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'runs.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for i, shift in enumerate([0.2, -0.1]):
        prior = optuna.create_study(storage=url, study_name=f"model-prior-{i}")
        prior.optimize(
            lambda t, s=shift: loss(t.suggest_float("x", -3, 3), t.suggest_float("lr", 1e-5, 1, log=True), s),
            n_trials=30,
        )

    def trainable(config: dict) -> dict:
        return {"loss": loss(config["x"], config["lr"])}

    search = OptunaSearch(
        sampler=MetaSampler(source_studies=[f"{url}::model-prior-*"], seed=0), metric="loss", mode="min"
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = tune.Tuner(
            trainable,
            param_space={"x": tune.uniform(-3, 3), "lr": tune.loguniform(1e-5, 1)},
            tune_config=tune.TuneConfig(search_alg=search, num_samples=12, max_concurrent_trials=2),
            run_config=tune.RunConfig(storage_path=str(folder / "ray"), verbose=0),
        ).fit()
    finally:
        ray.shutdown()
    best = results.get_best_result(metric="loss", mode="min")
    print(f"best loss {best.metrics['loss']:.5f} at {best.config}")


if __name__ == "__main__":
    main()
