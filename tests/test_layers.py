"""The three layers (ARCHITECTURE.md), read off the import statements of every source file, and
the wheel's package list."""

from __future__ import annotations

import ast
import pathlib

import pytest
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
OURS = ("metahpo", "optuna_meta", "hyperopt_meta", "metahpo_cli")
# folder -> import name
PACKAGES = {"shared": "metahpo", "optuna_meta": "optuna_meta", "hyperopt_meta": "hyperopt_meta"}
PACKAGES["metahpo_cli"] = "metahpo_cli"
FORBIDDEN = {
    "shared": {"optuna", "hyperopt", "optuna_meta", "hyperopt_meta", "metahpo_cli"},
    "optuna_meta": {"hyperopt", "hyperopt_meta", "metahpo_cli"},
    "hyperopt_meta": {"optuna", "optuna_meta", "metahpo_cli"},
    "metahpo_cli": set(),
}


def imports(path: pathlib.Path, package: str | None, root: pathlib.Path = ROOT) -> list[str]:
    """Absolute module names ``path`` imports (``from a import b`` gives ``a.b``: ``b`` may be a
    module), relative imports resolved against ``package``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = [package, *path.relative_to(root).parts[1:-1]] if package else []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            out += [f"{base}.{alias.name}" for alias in node.names]
    return out


def sources(folder: str) -> list[pathlib.Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def is_private(name: str) -> bool:
    """``metahpo._engine``, ``optuna_meta._sampler.X``: a private module of one of our packages."""
    parts = name.split(".")
    return parts[0] in OURS and any(p.startswith("_") and not p.startswith("__") for p in parts[1:])


def crossings(folder: str, root: pathlib.Path = ROOT) -> list[str]:
    """Imports in ``root / folder`` that cross a layer the wrong way."""
    bad = []
    for path in sorted((root / folder).rglob("*.py")):
        for name in imports(path, PACKAGES[folder], root):
            top = name.split(".")[0]
            if top in FORBIDDEN[folder]:
                bad.append(f"{path.relative_to(root)}: {name}")
            # adapters use the core's public API only
            if folder in ("optuna_meta", "hyperopt_meta") and top == "metahpo" and is_private(name):
                bad.append(f"{path.relative_to(root)}: {name} (private core name)")
    return bad


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_import_crosses_a_layer_the_wrong_way(folder: str) -> None:
    bad = crossings(folder)
    assert not bad, "imports that cross a layer:\n" + "\n".join(bad)


@pytest.mark.parametrize("folder", ["benchmarks", "examples", "package"])
def test_scripts_use_public_names_only(folder: str) -> None:
    bad = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sources(folder)
        for name in imports(path, None)
        if is_private(name)
    ]
    assert not bad, "private names used by scripts:\n" + "\n".join(bad)


def test_the_checker_sees_a_crossing(tmp_path: pathlib.Path) -> None:
    """The rule above is not vacuous: planted crossings are caught, clean imports are not."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "_bad.py").write_text("import numpy\nfrom optuna.trial import FrozenTrial\n")
    (tmp_path / "optuna_meta").mkdir()
    (tmp_path / "optuna_meta" / "_bad.py").write_text(
        "from metahpo import SearchSpace\nfrom metahpo._engine import MetaEngine\nimport hyperopt_meta\n"
    )
    assert crossings("shared", tmp_path) == ["shared/_bad.py: optuna.trial.FrozenTrial"]
    assert crossings("optuna_meta", tmp_path) == [
        "optuna_meta/_bad.py: metahpo._engine.MetaEngine (private core name)",
        "optuna_meta/_bad.py: hyperopt_meta",
    ]


def test_every_package_folder_is_in_the_wheel() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    dirs = cfg.get("package-dir", {})
    missing = []
    for name in cfg["packages"]:
        root = ROOT / dirs.get(name, name.replace(".", "/"))
        for init in root.rglob("__init__.py"):
            sub = ".".join([name, *init.parent.relative_to(root).parts])
            if sub not in listed:
                missing.append(sub)
    assert not missing
    assert {"metahpo", "optuna_meta", "hyperopt_meta", "metahpo_cli"} <= listed
    assert dirs == {"metahpo": "shared"}  # the core installs as metahpo, never as shared
