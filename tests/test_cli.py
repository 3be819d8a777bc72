"""The ``metahpo`` command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from metahpo_cli import main


def test_demo_runs_a_meta_learned_study_and_prints_its_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    report = tmp_path / "report"
    args = ["demo", "--trials", "5", "--seeds", "1", "--prior-trials", "6", "--storage", url]
    assert main([*args, "--report-dir", str(report), "--public-trials", "3"]) == 0
    out = capsys.readouterr().out
    assert "| trials | MetaSampler | GPSampler | TPESampler |" in out
    rows = [line for line in out.splitlines() if line.startswith("| 5 |")]
    assert len(rows) == 1
    values = [float(c) for c in rows[0].strip("|").split("|")[1:4]]
    assert all(0.0 < v <= 1.0 for v in values)
    assert "MetaSampler phases (last seed): portfolio x3, mtgp x2" in out
    # the zero-history case: a scikit-learn random forest with the public priors shipped in metahpo
    assert "| trials | MetaSampler + public priors | GPSampler | TPESampler |" in out
    tail = out.split("| trials | MetaSampler + public priors |")[1]
    public = [line for line in tail.splitlines() if line.startswith("| 3 |")]
    assert len(public) == 1
    assert all(0.5 < float(c) <= 1.0 for c in public[0].strip("|").split("|")[1:4])
    # The held-out runs were removed from the storage; the 7 prior studies stay.
    import optuna

    assert len(optuna.get_all_study_names(storage=url)) == 7
    # The report of the last MetaSampler run, on a copy of that study kept beside it.
    assert f"report of the last MetaSampler run: {report / 'report.html'}" in out
    assert (report / "calibration.png").is_file()
    kept = optuna.load_study(
        study_name="heldout-credit_g-metasampler-seed0", storage=f"sqlite:///{report}/study.db"
    )
    assert [t.system_attrs["metahpo:phase"] for t in kept.trials] == ["portfolio"] * 3 + ["mtgp"] * 2


def test_demo_rejects_bad_arguments_naming_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--dataset", "mnist"]) == 2
    assert "--dataset must be one of" in capsys.readouterr().err
    assert main(["demo", "--trials", "0"]) == 2
    assert main(["demo", "--public-trials", "-1"]) == 2
    assert "--trials must be >= 1" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "metahpo_cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "demo" in out.stdout


def test_info_lists_objectives_directions_constraints_and_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path / 'runs.db'}"

    def constrained(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if x > 0.9:
            raise RuntimeError("out of memory")
        trial.set_constraint("latency", x - 0.5)
        return x

    single = optuna.create_study(storage=url, study_name="single", sampler=optuna.samplers.RandomSampler(0))
    single.optimize(constrained, n_trials=20, catch=(RuntimeError,))
    multi = optuna.create_study(storage=url, study_name="multi", directions=["minimize", "maximize"])
    multi.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=3)
    assert main(["info", "--storage", url]) == 0
    rows = {line.split(" | ")[0].strip("| "): line for line in capsys.readouterr().out.splitlines()}
    n_failed = sum(t.state == optuna.trial.TrialState.FAIL for t in single.trials)
    assert n_failed > 0
    assert f"| {20 - n_failed} | {n_failed} | 1 | minimize | latency | x |" in rows["single"]
    assert "| 3 | 0 | 2 | minimize, maximize | - | x, y |" in rows["multi"]
