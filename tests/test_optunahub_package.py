"""The OptunaHub package in ``package/samplers/metahpo``: what the registry checks and what a user
meets (its conformance tests live in the package's own ``tests/`` folder and run with these)."""

from __future__ import annotations

import builtins
import runpy
import sys
from typing import Any

import optuna
import optunahub
import pytest
from test_layers import ROOT, imports

PACKAGE = ROOT / "package" / "samplers" / "metahpo"


def load() -> Any:
    return optunahub.load_local_module("samplers/metahpo", registry_root=str(ROOT / "package"))


def front_matter() -> dict[str, str]:
    text = (PACKAGE / "README.md").read_text()
    head, sep, _ = text.removeprefix("---\n").partition("\n---\n")
    assert text.startswith("---\n"), "README.md must open with the registry's front matter"
    assert sep, "the front matter must end with a --- line"
    return dict(line.split(": ", 1) for line in head.splitlines())


def test_the_package_has_the_registry_files_and_front_matter() -> None:
    for name in ("__init__.py", "README.md", "LICENSE", "requirements.txt", "example.py"):
        assert (PACKAGE / name).is_file(), name
    meta = front_matter()
    assert set(meta) == {"author", "title", "description", "tags", "optuna_versions", "license"}
    assert "sampler" in [t.strip() for t in meta["tags"].strip("[]").split(",")]
    assert meta["license"] == "MIT License"
    assert (PACKAGE / "LICENSE").read_text().startswith("MIT License")
    # the listed versions are Optuna releases of the major version tested here (a patch release of
    # Optuna must not fail the build; the list says what was confirmed)
    listed = [v.strip(" '\"") for v in meta["optuna_versions"].strip("[]").split(",")]
    assert listed
    assert all(v.split(".")[0] == optuna.__version__.split(".")[0] for v in listed)
    text = (PACKAGE / "README.md").read_text()
    for section in ("## Abstract", "## APIs", "## Installation", "## Example", "## Others"):
        assert section in text
    requirement = (PACKAGE / "requirements.txt").read_text().split()
    assert requirement
    assert requirement[0].startswith("metahpo[optuna]")


def test_the_package_imports_only_the_optuna_adapter_public_api() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in imports(path, None):
            top = name.split(".")[0]
            assert top not in {"metahpo", "hyperopt_meta", "metahpo_cli", "hyperopt"}, (path, name)


def test_loaded_module_is_metahpo_sampler_and_warm_starts() -> None:
    from optuna_meta import MetaSampler

    module = load()
    assert module.MetaSampler is MetaSampler
    prior = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    prior.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1) ** 2, n_trials=15)
    study = optuna.create_study(sampler=module.MetaSampler(source_studies=[prior], seed=0))
    study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1.2) ** 2, n_trials=6)
    assert study.trials[0].params == prior.best_params
    assert all(t.system_attrs["metahpo:phase"] != "fallback" for t in study.trials)


def test_missing_metahpo_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_metahpo(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == "optuna_meta":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_metahpo)
    with pytest.raises(ModuleNotFoundError, match=r"requirements\.txt.*metahpo\[optuna\]"):
        load()
    sys.modules.pop("optunahub_registry.package.samplers.metahpo", None)


def test_example_runs_a_warm_started_study(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # optunahub.load_module downloads from GitHub; the local copy is the same package.
    monkeypatch.setattr(optunahub, "load_module", lambda package: load())
    runpy.run_path(str(PACKAGE / "example.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "MetaSampler  @1:" in out
    assert "GPSampler    @1:" in out
