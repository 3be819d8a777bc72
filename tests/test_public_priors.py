"""The public prior families shipped in the package (``metahpo.public_priors``)."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import numpy as np
import optuna
import pytest

from metahpo import PriorStudy, public_families, public_priors
from metahpo_cli import main
from optuna_meta import MetaSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)

FAMILIES = {"random_forest": 94, "lightgbm": 93, "xgboost": 119, "mlp": 34}


def test_every_family_ships_with_its_license_and_attribution() -> None:
    families = {f.name: f for f in public_families()}
    assert {k: f.n_tasks for k, f in families.items()} == FAMILIES
    for name, f in families.items():
        assert f.license in ("Apache-2.0", "BSD-3-Clause")
        assert f.attribution
        assert f.evaluated == ("real" if name in ("random_forest", "lightgbm") else "surrogate")
        raw = resources.files("metahpo").joinpath("public_priors", f"{name}.json.gz").read_bytes()
        data = json.loads(gzip.decompress(raw))
        assert len(data["license_text"]) > 500  # the source's license travels with its data
        # ... and beside it as the license file the wheel's metadata lists (tools/build_public_priors.py)
        text = resources.files("metahpo").joinpath("public_priors", f"LICENSE.{name}").read_text()
        assert data["license_text"].strip() in text
        assert f"License: {f.license}" in text
        if f.license == "Apache-2.0":  # the License itself, not only its notice (section 4(a))
            assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    shipped = {p.name for p in resources.files("metahpo").joinpath("public_priors").iterdir()}
    assert {n for n in shipped if n.startswith("LICENSE.")} == {f"LICENSE.{n}" for n in families}
    assert sorted(families["random_forest"].space.params) == [
        "bootstrap",
        "criterion",
        "max_features",
        "min_samples_leaf",
        "min_samples_split",
    ]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_priors_are_prior_studies_with_a_declared_space(family: str) -> None:
    priors = public_priors(family)
    assert len(priors) == FAMILIES[family]
    for p in priors:
        assert isinstance(p, PriorStudy)
        assert p.name.startswith(f"public:{family}:")
        assert p.space is not None
        assert 2 <= len(p.trials) <= 20
        for t in p.trials:
            assert set(t.params) <= set(p.space.params)
            assert all(p.space.contains(k, v) for k, v in t.params.items())
            assert np.isfinite(t.values[0])


def test_auto_subsample_keeps_every_family_on_the_gp_path() -> None:
    from metahpo import EngineConfig

    limit = EngineConfig().neural_min_prior_trials
    for family in FAMILIES:
        assert sum(len(p.trials) for p in public_priors(family)) < limit
    assert all(len(p.trials) == 20 for p in public_priors("random_forest"))  # 94 x 20 fits
    assert all(len(p.trials) == 16 for p in public_priors("xgboost"))  # 119 x 20 would not


def test_subsample_keeps_the_best_and_is_deterministic() -> None:
    full = public_priors("random_forest", trials_per_task=None)
    assert sum(len(p.trials) for p in full) == 47_000
    few = public_priors("random_forest", trials_per_task=10)
    assert few == public_priors("random_forest", trials_per_task=10)
    for a, b in zip(full, few, strict=True):
        assert len(b.trials) == 10
        assert max(t.values[0] for t in b.trials) == max(t.values[0] for t in a.trials)  # maximised


def test_names_rename_to_the_aliases_a_study_uses() -> None:
    canonical = public_priors("xgboost", trials_per_task=4)[0]
    assert "eta" in canonical.space.params
    assert "num_boost_round" in canonical.space.params
    renamed = public_priors(
        "xgboost", names=["learning_rate", "n_estimators", "max_depth"], trials_per_task=4
    )[0]
    assert {"learning_rate", "n_estimators", "max_depth"} <= set(renamed.space.params)
    assert "eta" not in renamed.space.params
    # a study that uses the canonical name keeps it, even if it also uses an alias elsewhere
    both = public_priors("lightgbm", names=["learning_rate", "eta", "colsample_bytree"], trials_per_task=4)[0]
    assert {"learning_rate", "colsample_bytree"} <= set(both.space.params)
    assert "eta" not in both.space.params


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(ValueError, match="family"):
        public_priors("catboost")
    with pytest.raises(ValueError, match="trials_per_task"):
        public_priors("mlp", trials_per_task=1)
    with pytest.raises(ValueError, match="names"):
        public_priors("mlp", names=[1, 2])  # type: ignore[list-item]


def test_a_task_description_picks_the_most_similar_tasks_of_the_same_kind() -> None:
    described = next(f for f in public_families() if f.name == "lightgbm").task_descriptions
    assert len(described) == FAMILIES["lightgbm"]
    assert all(set(d) == {"n_rows", "n_features", "n_classes"} for d in described.values())
    want = {"n_rows": 5000, "n_features": 20, "n_classes": 0}  # a regression data set
    near = public_priors("lightgbm", task=want)
    assert len(near) == 16
    assert len(near[0].trials) > 20  # fewer tasks, more of each one's trials (still on the GP path)
    names = [p.name.removeprefix("public:lightgbm:") for p in near]
    assert all(described[n]["n_classes"] == 0 for n in names)  # regression first
    rows = [abs(np.log1p(described[n]["n_rows"]) - np.log1p(5000)) for n in names]
    assert rows[0] <= np.median(rows)  # the most similar first
    others = [n for n in described if n not in names and described[n]["n_classes"] == 0]
    far = max(others, key=lambda n: abs(np.log1p(described[n]["n_rows"]) - np.log1p(5000)))
    assert far not in names
    assert [p.name for p in public_priors("lightgbm", task=want, n_tasks=3)] == [p.name for p in near[:3]]
    # a family without descriptions says so and treats every task alike, as without task=
    with pytest.warns(UserWarning, match="no task descriptions"):
        ignored = public_priors("mlp", task=want)
    assert ignored == public_priors("mlp")


def test_bad_task_descriptions_name_the_field() -> None:
    with pytest.raises(ValueError, match="task may only hold"):
        public_priors("lightgbm", task={"rows": 10})
    with pytest.raises(ValueError, match=r"task\['n_rows'\] must be a number >= 0"):
        public_priors("lightgbm", task={"n_rows": -1})
    with pytest.raises(ValueError, match="n_tasks"):
        public_priors("lightgbm", task={"n_rows": 10}, n_tasks=0)
    with pytest.raises(ValueError, match="n_tasks is only used with task="):
        public_priors("lightgbm", n_tasks=4)


def test_exclude_tasks_leaves_them_out() -> None:
    first = public_priors("mlp")[0].name.removeprefix("public:mlp:")
    left = public_priors("mlp", exclude_tasks=[first])
    assert len(left) == FAMILIES["mlp"] - 1
    assert all(not p.name.endswith(first) for p in left)


def test_a_study_starts_from_the_public_portfolio() -> None:
    priors = public_priors("random_forest")
    study = optuna.create_study(direction="maximize", sampler=MetaSampler(source_studies=priors, seed=0))

    def objective(trial: optuna.Trial) -> float:
        f = trial.suggest_float("max_features", 0.05, 1.0)
        leaf = trial.suggest_int("min_samples_leaf", 1, 20)
        trial.suggest_categorical("criterion", ["gini", "entropy", "log_loss"])
        return 1.0 - abs(f - 0.3) - 0.01 * leaf

    study.optimize(objective, n_trials=5)
    phases = [t.system_attrs["metahpo:phase"] for t in study.trials]
    assert phases[:3] == ["portfolio"] * 3
    assert "fallback" not in phases
    # the first trial is a configuration of a public prior, served in the study's own space
    first = study.trials[0].params
    assert any(
        abs(t.params["max_features"] - first["max_features"]) < 1e-9
        and t.params["min_samples_leaf"] == first["min_samples_leaf"]
        for p in priors
        for t in p.trials
    )


def test_hyperopt_takes_them_too() -> None:
    from hyperopt import Trials, fmin, hp

    from hyperopt_meta import MetaAlgo

    space = {
        "learning_rate": hp.loguniform("learning_rate", -7, 0),
        "num_leaves": hp.quniform("num_leaves", 8, 256, 1),
    }
    trials = Trials()
    fmin(
        lambda c: (np.log10(c["learning_rate"]) + 1.5) ** 2 + 0.001 * c["num_leaves"],
        space,
        algo=MetaAlgo(source_trials=public_priors("lightgbm")).suggest,
        max_evals=5,
        trials=trials,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
    )
    assert len(trials.trials) == 5


def test_info_public_lists_families(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--public"]) == 0
    out = capsys.readouterr().out
    for family in FAMILIES:
        assert f"| {family} |" in out
    assert "| xgboost | eta | " in out
    assert "learning_rate" in out
    assert "BSD-3-Clause" in out
    assert "| lightgbm | LightGBM | 93 | 9672 | metric_error (minimize) | real | yes |" in out
