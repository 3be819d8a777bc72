"""`metahpo report` and optuna_meta.visualization: what the sampler records per trial, the four
figures, and the page in a real headless browser (Chromium)."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import optuna
import pytest
from _needs import need
from matplotlib.figure import Figure

from metahpo import score_against
from metahpo_cli import main
from optuna_meta import MetaSampler
from optuna_meta import visualization as viz

optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(shift: float):  # type: ignore[no-untyped-def]
    def f(t: optuna.Trial) -> float:
        x = t.suggest_float("x", 0, 10)
        y = t.suggest_float("y", -5, 5)
        k = t.suggest_categorical("k", ["a", "b"])
        return (x - 3 - shift) ** 2 + (y - shift) ** 2 + (0.5 if k == "b" else 0.0)

    return f


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'runs.db'}"
    for i, shift in enumerate((0.0, 0.5, -0.5)):
        s = optuna.create_study(
            storage=url, study_name=f"prior-{i}", sampler=optuna.samplers.RandomSampler(seed=i)
        )
        s.optimize(objective(shift), n_trials=15)
    other = optuna.create_study(
        storage=url, study_name="other-space", sampler=optuna.samplers.RandomSampler(seed=9)
    )
    other.optimize(lambda t: t.suggest_float("lr", 1e-4, 1, log=True), n_trials=5)
    target = optuna.create_study(storage=url, study_name="target", sampler=MetaSampler(seed=0))
    target.optimize(objective(0.3), n_trials=10)
    return url


def test_score_against_is_the_copula_score_with_the_value_added() -> None:
    from metahpo._prior import copula_scores, standardised_scores

    history = np.array([3.0, 1.0, 2.0, 5.0, 2.0])
    for value in (0.5, 2.0, 6.0):
        for direction in ("minimize", "maximize"):
            both = np.append(history, value)
            assert score_against(history, value, direction, "copula") == pytest.approx(
                copula_scores(both, direction)[-1]
            )
    # standardised: against the history's own mean and spread
    z = standardised_scores(history, "maximize")
    assert score_against(history, 5.0, "maximize", "standardised") == pytest.approx(z[3])
    with pytest.raises(ValueError, match="history"):
        score_against(np.array([]), 1.0, "minimize", "copula")


def test_the_sampler_records_sources_weights_predictions_and_alignment(storage: str) -> None:
    study = optuna.load_study(study_name="target", storage=storage)
    records = viz.trial_records(study)
    phases = [r.phase for r in records]
    assert phases[:3] == ["portfolio"] * 3
    # while the study stalls, Optuna's GPSampler takes every other trial (optuna_meta._plain_gp)
    hedge = [r for r in records[3:] if r.info.get("reason") == "stall"]
    model = [r for r in records[3:] if r.info.get("reason") != "stall"]
    assert {r.phase for r in model} == {"mtgp"}
    for r in hedge:
        assert r.phase == "gp"
        assert r.number % 2 == 0
        assert r.info == {"sampler": "optuna.samplers.GPSampler", "reason": "stall"}
    for r in records[:3]:  # a portfolio trial names the prior study its configuration came from
        assert len(r.info["sources"]) == 1
        assert r.info["sources"][0].startswith("prior-")
    for r in model:
        assert sorted(r.info["sources"]) == ["prior-0", "prior-1", "prior-2"]
        assert all(0.0 <= w <= 1.0 + 1e-9 for w in r.info["source_weights"])
        assert math.isfinite(r.info["predicted_score"])
        assert r.info["predicted_score_sd"] > 0
        assert r.info["score_scale"] == "copula"  # with priors every task is on the copula scale
    alignment = {a["name"]: a for a in viz.alignment_records(study)}
    assert alignment["other-space"]["skipped_study"] == "no_overlap"
    assert alignment["other-space"]["dropped"] == ["lr"]
    assert alignment["prior-0"]["skipped_study"] is None
    assert sorted(alignment["prior-0"]["shared"]) == ["k", "x", "y"]
    points = viz.calibration_points(study)
    assert len(points) == len(model)  # every model suggestion, scored against the trials before it
    assert all(np.isfinite(p[2:]).all() for p in points)


def test_the_four_figures(storage: str) -> None:
    study = optuna.load_study(study_name="target", storage=storage)
    for plot in (viz.plot_transfer_history, viz.plot_prior_weights, viz.plot_alignment, viz.plot_calibration):
        assert isinstance(plot(study), Figure)
    mo = optuna.create_study(directions=["minimize", "minimize"], sampler=MetaSampler(seed=0))
    mo.optimize(lambda t: (t.suggest_float("x", 0, 1), 1 - t.suggest_float("y", 0, 1)), n_trials=3)
    with pytest.raises(ValueError, match="single-objective"):
        viz.plot_transfer_history(mo)
    assert isinstance(viz.plot_prior_weights(mo), Figure)  # nothing to show, says so


def test_report_command_writes_one_self_contained_page(storage: str, tmp_path: Path) -> None:
    assert main(["report", "--storage", storage, "--study", "target", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    for key in ("history", "prior_weights", "alignment", "calibration"):
        assert (tmp_path / f"{key}.png").stat().st_size > 1000
        assert f"id='fig-{key}'" in page
    assert "src='data:image/png;base64," in page  # embedded: no file next to it is needed
    assert "skipped: no_overlap" in page
    assert main(["report", "--storage", storage, "--study", "nope", "--out", str(tmp_path)]) == 2


def test_report_opens_in_a_headless_browser(storage: str, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    need(chromium is not None, "Chromium (Debian package chromium; bash .ci/run installs it)")
    assert main(["report", "--storage", storage, "--study", "target", "--out", str(tmp_path)]) == 0
    url = (tmp_path / "report.html").as_uri()
    flags = [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    assert 'data-figures-loaded="4"' in dom  # the browser decoded all four figures
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*flags, "--hide-scrollbars", "--window-size=1200,3000", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 20_000


def test_a_prior_left_out_as_misleading_is_named_in_the_trial_and_the_alignment_table() -> None:
    # a prior that maximised the study's objective: its best configurations are the study's worst
    misleading = optuna.create_study(
        study_name="maximised", direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    misleading.optimize(objective(0.0), n_trials=30)
    related = optuna.create_study(study_name="related", sampler=optuna.samplers.RandomSampler(seed=1))
    related.optimize(objective(0.0), n_trials=30)
    history = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
    history.optimize(objective(0.0), n_trials=20)

    study = optuna.create_study(sampler=MetaSampler(source_studies=[misleading], seed=0))
    study.add_trials(history.trials)
    study.optimize(objective(0.0), n_trials=1)
    (last,) = [r for r in viz.trial_records(study) if r.number == 20]
    assert last.info["misleading_sources"] == ["maximised"]
    rows = {row[0]: row[1] for row in viz.alignment_rows(study)}
    assert rows == {"maximised": "left out: misleading at trial 20"}

    # beside a prior of the same objective the transfer model serves, without the misleading one
    study = optuna.create_study(sampler=MetaSampler(source_studies=[misleading, related], seed=0))
    study.add_trials(history.trials)
    study.optimize(objective(0.0), n_trials=1)
    rows = {row[0]: row[1] for row in viz.alignment_rows(study)}
    assert rows == {"maximised": "left out: misleading at trial 20", "related": "used"}
