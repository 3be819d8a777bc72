"""Build the public prior studies shipped in the package (``metahpo/public_priors/*.json.gz``)
from the public HPO data in ``../shared/data`` (see its README), and beside each its source's
license file (``LICENSE.<family>``).  The wheel ships the result, never the data.  Re-running it
gives the same files (seeded, sorted, no time stamps).

Run: python tools/build_public_priors.py [--data ../shared/data] [--generated-trials 100]
     python tools/build_public_priors.py --licenses-only   # the license files from the built families

Families (the file layout is documented in ``metahpo/_public.py``):
- ``random_forest``: openml-pimp's real runs of scikit-learn's RandomForestClassifier (500 per
  OpenML-100 task), under scikit-learn's parameter names; the imputation strategy of its pipeline
  and the constant parameters are left out.
- ``lightgbm``: TabRepo's real results of 104 LightGBM configurations on its data sets
  (``metric_error``, lower is better; unset parameters take the defaults TabRepo's configurations
  were run with: AutoGluon's LightGBM defaults), each task described by its OpenML meta-features
  (``task_metadata.csv``: rows, input features = OpenML's NumberOfFeatures less the target, classes
  with 0 for regression).
- ``xgboost``: YAHPO Gym's ``rbv2_xgboost`` surrogate, ``--generated-trials`` random configurations
  per task (accuracy, full fidelity), under XGBoost's native Python names.
- ``mlp``: YAHPO Gym's ``lcbench`` surrogate (funnel-shaped MLP), the same way (validation accuracy
  in percent after 52 epochs).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from metahpo_cli.bench import load_problem

OUT = Path(__file__).resolve().parents[1] / "shared" / "public_priors"

# Names users write for the same parameter (canonical first in the family's own files).
ALIASES = {
    "lightgbm": {
        "learning_rate": ["eta", "shrinkage_rate"],
        "num_leaves": ["max_leaves", "num_leaf"],
        "feature_fraction": ["colsample_bytree", "sub_feature"],
        "min_data_in_leaf": ["min_child_samples", "min_data_per_leaf", "min_data"],
        "extra_trees": ["extra_tree"],
    },
    "xgboost": {
        "eta": ["learning_rate"],
        "num_boost_round": ["n_estimators", "nrounds", "num_rounds"],
        "lambda": ["reg_lambda"],
        "alpha": ["reg_alpha"],
        "gamma": ["min_split_loss"],
    },
    "mlp": {
        "learning_rate": ["lr", "learning_rate_init"],
        "num_layers": ["n_layers", "depth"],
        "max_units": ["width", "hidden_units"],
        "max_dropout": ["dropout"],
    },
    "random_forest": {},
}
# TabRepo's LightGBM configurations leave unset parameters at AutoGluon's defaults.
LGBM_DEFAULTS = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "feature_fraction": 1.0,
    "min_data_in_leaf": 20,
    "extra_trees": False,
}
# YAHPO names -> XGBoost's native Python names; the imputation of rbv2's pipeline is left out.
XGB_NAMES = {"nrounds": "num_boost_round"}
XGB_DROPPED = {"num.impute.selected.cpo"}


def spec(dist: Any) -> dict[str, Any]:
    """An Optuna distribution (the bench problems') -> the file's parameter record."""
    kind = type(dist).__name__
    if kind == "CategoricalDistribution":
        return {"type": "categorical", "choices": list(dist.choices)}
    return {
        "type": "int" if kind == "IntDistribution" else "float",
        "low": dist.low,
        "high": dist.high,
        "log": dist.log,
    }


def write(family: str, data: dict[str, Any]) -> None:
    data["aliases"] = ALIASES[family]
    data["tasks"].sort(key=lambda t: t["name"])
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    path = OUT / f"{family}.json.gz"
    path.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    write_license(family, data)
    n = sum(len(t["values"]) for t in data["tasks"])
    print(f"{family}: {len(data['tasks'])} tasks, {n} trials, {path.stat().st_size / 1e6:.2f} MB -> {path}")


def write_license(family: str, data: dict[str, Any]) -> None:
    """``LICENSE.<family>``: the source's license text with its attribution, beside the family file
    (the wheel lists it in ``project.license-files``).  A source that ships only the Apache-2.0
    notice (YAHPO Gym) gets the License's full text after it (Apache-2.0 section 4(a)), taken
    from a family already built whose source ships it (TabRepo)."""
    head = (
        f"{data['title']}: {data['source']}\n"
        f"Attribution: {data['attribution']}\nLicense: {data['license']}\n\n"
    )
    text = head + data["license_text"].rstrip("\n") + "\n"
    if data["license"] == "Apache-2.0" and _APACHE_TERMS not in data["license_text"]:
        text += "\n\nThe License referred to above:\n\n" + _apache_full_text()
    (OUT / f"LICENSE.{family}").write_text(text, encoding="utf-8")


_APACHE_TERMS = "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION"


def _apache_full_text() -> str:
    for path in sorted(OUT.glob("*.json.gz")):
        built = json.loads(gzip.decompress(path.read_bytes()))
        if built["license"] == "Apache-2.0" and _APACHE_TERMS in built["license_text"]:
            return str(built["license_text"]).rstrip("\n") + "\n"
    raise RuntimeError("no family file holds the full Apache-2.0 text: build lightgbm (TabRepo) first")


def random_forest(data: Path) -> None:
    folder = data / "openml_pimp_random_forest"
    prefix = "randomforestclassifier__"
    lines = (folder / "random_forest.arff").read_text().splitlines()
    columns = [line.split()[1] for line in lines if line.upper().startswith("@ATTRIBUTE")]
    start = next(i for i, line in enumerate(lines) if line.strip().upper() == "@DATA") + 1
    keep = ["bootstrap", "criterion", "max_features", "min_samples_leaf", "min_samples_split"]
    tasks: dict[str, dict[str, Any]] = {}
    for row in csv.reader(line for line in lines[start:] if line.strip() and not line.startswith("%")):
        rec = dict(zip(columns, row, strict=True))
        name = f"openml-task-{int(float(rec['task_id']))}"
        cfg = [
            rec[prefix + "bootstrap"] == "True",
            rec[prefix + "criterion"],
            float(f"{float(rec[prefix + 'max_features']):.7g}"),
            int(rec[prefix + "min_samples_leaf"]),
            int(rec[prefix + "min_samples_split"]),
        ]
        task = tasks.setdefault(name, {"name": name, "params": keep, "rows": [], "values": []})
        task["rows"].append(cfg)
        task["values"].append(float(rec["predictive_accuracy"]))
    write(
        "random_forest",
        {
            "title": "scikit-learn RandomForestClassifier",
            "source": "openml-pimp (van Rijn and Hutter, KDD 2018): OpenML-100 runs of flow 6969",
            "license": "BSD-3-Clause",
            "attribution": (
                "Jan N. van Rijn and Frank Hutter, Hyperparameter Importance Across Datasets "
                "(KDD 2018); OpenML"
            ),
            "license_text": (folder / "LICENSE").read_text(),
            "evaluated": "real",
            "objective": "predictive_accuracy",
            "direction": "maximize",
            "params": {
                "bootstrap": {"type": "categorical", "choices": [True, False]},
                "criterion": {"type": "categorical", "choices": ["gini", "entropy"]},
                "max_features": {"type": "float", "low": 0.1, "high": 0.9, "log": False},
                "min_samples_leaf": {"type": "int", "low": 1, "high": 20, "log": False},
                "min_samples_split": {"type": "int", "low": 2, "high": 20, "log": False},
            },
            "tasks": list(tasks.values()),
        },
    )


def lightgbm(data: Path) -> None:
    folder = data / "tabrepo_lightgbm"
    configs = json.loads((folder / "configs_lightgbm.json").read_text())
    names = list(LGBM_DEFAULTS)
    pool = {}
    for key, c in configs.items():
        hp = {**LGBM_DEFAULTS, **{k: v for k, v in c["hyperparameters"].items() if k in LGBM_DEFAULTS}}
        pool[key] = [hp[n] for n in names]
    errors: dict[str, dict[str, float]] = {}
    with (folder / "lgbm_results.csv").open() as f:
        for row in csv.DictReader(f):
            errors.setdefault(row["dataset"], {})[row["framework"]] = float(row["metric_error"])
    with (folder / "task_metadata.csv").open() as f:
        meta = {row["tid"]: row for row in csv.DictReader(f)}
    tasks = []
    for dataset, errs in errors.items():
        keys = sorted(k for k in errs if k in pool)
        m = meta[dataset]
        tasks.append(
            {
                "name": f"openml-{dataset}",
                "params": names,
                "rows": [pool[k] for k in keys],
                "values": [errs[k] for k in keys],
                "description": {
                    "n_rows": int(float(m["NumberOfInstances"])),
                    "n_features": int(float(m["NumberOfFeatures"])) - 1,  # OpenML counts the target
                    "n_classes": int(float(m["NumberOfClasses"])),
                },
            }
        )
    column = {n: [p[i] for p in pool.values()] for i, n in enumerate(names)}
    write(
        "lightgbm",
        {
            "title": "LightGBM",
            "source": "TabRepo (Salinas and Erickson, 2023): LightGBM results on OpenML data sets",
            "license": "Apache-2.0",
            "attribution": (
                "David Salinas and Nick Erickson, TabRepo: A Large Scale Repository of Tabular "
                "Model Evaluations and its AutoML Applications (2023)"
            ),
            "license_text": (folder / "LICENSE").read_text(),
            "evaluated": "real",
            "objective": "metric_error",
            "direction": "minimize",
            "params": {
                **{
                    name: {"type": kind, "low": min(column[name]), "high": max(column[name]), "log": log}
                    for name, kind, log in (
                        ("learning_rate", "float", True),
                        ("num_leaves", "int", True),
                        ("feature_fraction", "float", False),
                        ("min_data_in_leaf", "int", True),
                    )
                },
                "extra_trees": {"type": "categorical", "choices": [False, True]},
            },
            "tasks": tasks,
        },
    )


def yahpo(data: Path, scenario: str, family: str, n_trials: int) -> None:
    problem = load_problem(data, scenario)
    # The bench problems minimise sign * output + offset (YAHPO's accuracies, maximised); back to the output.
    objective, offset = {"lcbench": ("val_accuracy", 100.0), "rbv2_xgboost": ("acc", 1.0)}[scenario]
    rename = XGB_NAMES if family == "xgboost" else {}
    params = [p for p in problem.distributions if p not in XGB_DROPPED]
    tasks = []
    for i, task in enumerate(problem.tasks):
        configs = problem.random_configs(n_trials, np.random.default_rng(1000 + i))
        values = offset - problem.evaluate(task, configs)
        rows = [[_plain(c.get(p)) for p in params] for c in configs]
        tasks.append(
            {
                "name": f"openml-task-{task}",
                "params": [rename.get(p, p) for p in params],
                "rows": rows,
                "values": [float(f"{v:.7g}") for v in values],
            }
        )
    title = {"xgboost": "XGBoost", "mlp": "MLP (funnel-shaped, LCBench)"}[family]
    write(
        family,
        {
            "title": title,
            "source": (
                f"YAHPO Gym {scenario} surrogate (v1.0.2 data): {n_trials} random configurations "
                "per task, predicted"
            ),
            "license": "Apache-2.0",
            "attribution": (
                "Florian Pfisterer, Lennart Schneider, Julia Moosbauer, Martin Binder and Bernd "
                "Bischl, YAHPO Gym (AutoML-Conf 2022)"
            ),
            "license_text": (data / "yahpo" / "LICENSE").read_text(),
            "evaluated": "surrogate",
            "objective": objective,
            "direction": "maximize",
            "params": {rename.get(p, p): spec(problem.distributions[p]) for p in params},
            "conditions": {
                rename.get(k, k): [rename.get(v[0], v[0]), list(v[1])] for k, v in problem.conditions.items()
            },
            "tasks": tasks,
        },
    )


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float):
        return float(f"{v:.7g}")  # significant digits: log-scaled ranges reach 1e-5
    return v


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("METAHPO_BENCH_DATA", "../shared/data"))
    parser.add_argument("--generated-trials", type=int, default=100)
    parser.add_argument(
        "--licenses-only",
        action="store_true",
        help="only write LICENSE.<family> from the family files already built (no data needed)",
    )
    args = parser.parse_args()
    if args.licenses_only:
        for path in sorted(OUT.glob("*.json.gz")):
            write_license(path.name.removesuffix(".json.gz"), json.loads(gzip.decompress(path.read_bytes())))
        return
    data = Path(args.data)
    OUT.mkdir(parents=True, exist_ok=True)
    random_forest(data)
    lightgbm(data)
    yahpo(data, "rbv2_xgboost", "xgboost", args.generated_trials)
    yahpo(data, "lcbench", "mlp", args.generated_trials)


if __name__ == "__main__":
    main()
