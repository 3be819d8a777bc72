"""Ray Tune's ``OptunaSearch(sampler=MetaSampler(...))``: a small local Ray run."""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
import pytest
from _needs import need

try:
    import ray
except ImportError:  # reported by need(): skipped locally, a failure under CI=true
    ray = None
need(ray is not None, "Ray (pip install 'metahpo[ray]')", module=True)


def test_optuna_search_with_meta_sampler_uses_the_priors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from optuna_meta import MetaSampler

    url = f"sqlite:///{tmp_path / 'kb.db'}"
    best_prior = float("inf")
    for i in range(2):
        prior = optuna.create_study(
            storage=url, study_name=f"prior-{i}", sampler=optuna.samplers.RandomSampler(i)
        )
        prior.optimize(
            lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2 + t.suggest_float("y", 0, 1), n_trials=20
        )
        best_prior = min(best_prior, prior.best_value)

    def trainable(config: dict) -> dict:
        return {"loss": (config["x"] - 1) ** 2 + config["y"]}

    # Ray's OptunaSearch keeps its own in-memory study, so the priors are named explicitly.
    search = OptunaSearch(
        sampler=MetaSampler(source_studies=[f"{url}::prior-*"], seed=0), metric="loss", mode="min"
    )
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        with caplog.at_level(logging.INFO, logger="optuna.metahpo"):
            results = tune.Tuner(
                trainable,
                param_space={"x": tune.uniform(-3, 3), "y": tune.uniform(0, 1)},
                tune_config=tune.TuneConfig(search_alg=search, num_samples=6, max_concurrent_trials=1),
                run_config=tune.RunConfig(storage_path=str(tmp_path / "ray"), verbose=0),
            ).fit()
    finally:
        ray.shutdown()
    losses = [r.metrics["loss"] for r in results]
    assert len(losses) == 6
    assert "MetaSampler loaded 2 prior studies (40 trials)" in caplog.text
    # the zero-shot portfolio replays the best prior configuration first (same task here)
    assert min(losses) <= best_prior + 1e-9
