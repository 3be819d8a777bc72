"""Benchmark problems on real prior-study data (the folder of ``METAHPO_BENCH_DATA``).

Every problem is a set of *tasks* (datasets) sharing one search space; a task's objective is
minimised.  Each problem also gives an exhaustive or large scan of a task, for the best and
worst values known (normalised regret).

YAHPO scenarios (``yahpo/<scenario>/``) are driven directly with onnxruntime.  The input layout is
read from the folder: parameter kinds, order and conditions from ``param_set.R`` (its ``domain``
block: continuous inputs in that order, factor inputs with the task factor first), bounds and log
scales from ``config_space.json``, factor codes from ``encoding.json``; fidelity parameters
(``tags = "budget"``) are held at their upper bound (full fidelity); an inactive numerical input is
fed as 0.  The order of the model's outputs is in no file: it is YAHPO's ``y_names``, given here
for the known scenarios and read from an ``outputs.json`` (a JSON list of names) in any other
scenario folder.

Three problems on lcbench's model have several outputs (issue "multi-objective and constrained
studies"): ``lcbench-mo`` minimises ``100 - val_accuracy`` and ``time`` (seconds) together;
``lcbench-constrained`` minimises ``100 - val_accuracy`` subject to ``time`` at most the task's
30th percentile of time over 20,000 random configurations (constraint ``time - threshold <= 0``);
``lcbench-mo-constrained`` (not run by default) minimises both objectives of ``lcbench-mo``
subject to a balanced-accuracy floor, ``100 - val_balanced_accuracy`` at most the task's 30th
percentile of it over the same random configurations (constraint ``balanced_error``): the
accuracy / training-time trade-off among models that do not neglect the minority classes.

TabRepo LightGBM (``tabrepo_lightgbm/``) is a pool problem: 104 real configurations evaluated on
93 datasets; a proposal is snapped to the nearest pool configuration in the encoded unit cube of
the pool's space that this run has not evaluated yet (the same rule for every method: as in pool
benchmarks such as HPO-B, a trial never re-evaluates a pool member) and its measured
``metric_error`` is returned.  Optuna cannot change a trial's parameters after ``ask``, so the
sampler is told that value at its own proposal: under this rule what it learns at a point depends
on what the run evaluated before.  ``tabrepo_lightgbm-nearest`` (not run by default) is the same
pool under the other rule: a proposal evaluates its nearest pool configuration, evaluated before
or not, so the objective is a fixed (piecewise constant) function of the proposal and a repeated
pool configuration is a spent trial.  Its prior studies are built under the default rule (each a
set of distinct pool configurations, as for ``tabrepo_lightgbm``).

``random_forest`` (not run by default) is scikit-learn's RandomForestClassifier on openml-pimp's
real runs (94 OpenML tasks x 500 random configurations, 10-fold cross-validated; the family that
``metahpo.public_priors("random_forest")`` ships, read from the package): each task has its own
500 runs, and a proposal gets the accuracy of the task's nearest run in the encoded unit cube (a
fixed, piecewise-constant function of the proposal; no pool to snap to), minimised as
``1 - accuracy``.  None of the engine's choices were measured on it before it was added, so it
stands in for a problem the engine was not tuned on.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from metahpo import CategoricalParam, IntParam, SearchSpace
from optuna_meta import to_search_space

# YAHPO's y_names (output order of the ONNX models), checked here against the models' behaviour
# (time grows with epochs / nrounds, accuracies lie in their ranges).
KNOWN_OUTPUTS = {
    "lcbench": [
        "time",
        "val_accuracy",
        "val_cross_entropy",
        "val_balanced_accuracy",
        "test_cross_entropy",
        "test_balanced_accuracy",
    ],
    "rbv2_xgboost": ["acc", "bac", "auc", "brier", "f1", "logloss", "timetrain", "timepredict", "memory"],
}
# objective = sign * output + offset, minimised.
TARGETS = {"lcbench": ("val_accuracy", -1.0, 100.0), "rbv2_xgboost": ("acc", -1.0, 1.0)}


ProblemKind = Literal["single", "multi", "constrained"]


@dataclass
class Problem:
    """A benchmark problem: tasks sharing a search space, each with objectives to minimise.

    ``evaluate(task, configs)`` gives ``(n,)`` values, or ``(n, k)`` for ``n_objectives = k > 1``;
    ``scan(task, rng)`` the values of a large or exhaustive scan of the task (for a constrained
    problem, of its feasible configurations only); ``constraint(task, configs)`` (constrained
    problems) ``(n,)`` values, feasible where <= 0, recorded under ``constraint_name``."""

    name: str
    tasks: list[str]
    distributions: dict[str, BaseDistribution]
    conditions: dict[str, tuple[str, tuple[Any, ...]]] = field(default_factory=dict)
    evaluate: Callable[[str, list[dict[str, Any]]], np.ndarray] = field(repr=False, default=None)  # type: ignore[assignment]
    scan: Callable[[str, np.random.Generator], np.ndarray] = field(repr=False, default=None)  # type: ignore[assignment]
    # pool problems: (proposal, pool indices this run has taken) -> the pool configuration it
    # evaluates; the chosen index is added to the set.
    snap: Callable[[dict[str, Any], set[int]], dict[str, Any]] | None = field(repr=False, default=None)
    # the same for the prior studies' random configurations (None: ``snap``)
    prior_snap: Callable[[dict[str, Any], set[int]], dict[str, Any]] | None = field(repr=False, default=None)
    n_objectives: int = 1
    constraint: Callable[[str, list[dict[str, Any]]], np.ndarray] | None = field(repr=False, default=None)
    constraint_name: str = "constraint"
    # objectives whose regret is measured on the log scale (heavy-tailed ones such as seconds)
    log_objectives: tuple[int, ...] = ()

    @property
    def kind(self) -> ProblemKind:
        if self.n_objectives > 1:
            return "multi"
        return "single" if self.constraint is None else "constrained"

    def active(self, name: str, params: Mapping[str, Any]) -> bool:
        cond = self.conditions.get(name)
        return cond is None or params.get(cond[0]) in cond[1]

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Suggest a configuration define-by-run (conditional parameters only when active)."""
        params: dict[str, Any] = {}
        for name, d in self.distributions.items():
            if not self.active(name, params):
                continue
            if isinstance(d, FloatDistribution):
                params[name] = trial.suggest_float(name, d.low, d.high, log=d.log)
            elif isinstance(d, IntDistribution):
                params[name] = trial.suggest_int(name, d.low, d.high, log=d.log)
            else:
                assert isinstance(d, CategoricalDistribution)
                params[name] = trial.suggest_categorical(name, d.choices)
        return params

    def random_configs(self, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
        """``n`` uniformly random configurations (conditional parameters only when active)."""
        space = to_search_space(self.distributions)
        out = []
        for cfg in space.decode(rng.random((n, space.n_features))):
            ordered: dict[str, Any] = {}
            for name in self.distributions:
                if self.active(name, ordered):
                    ordered[name] = cfg[name]
            out.append(ordered)
        return out


# ----------------------------------------------------------------------------------- YAHPO
def _param_set(path: Path) -> tuple[list[tuple[str, str, str]], str | None]:
    """``domain`` block of param_set.R -> [(name, kind, text of its definition)] in order, and
    the name of the factor tagged ``task_id``."""
    text = path.read_text()
    start = text.index("domain = ps(")
    end = text.find("codomain", start)
    block = text[start : end if end > 0 else len(text)]
    heads = list(re.finditer(r"([\w.]+)\s*=\s*p_(\w+)\(", block))
    entries = []
    for i, m in enumerate(heads):
        body = block[m.end() : heads[i + 1].start() if i + 1 < len(heads) else len(block)]
        entries.append((m.group(1), m.group(2), body))
    task = next((n for n, k, body in entries if k == "fct" and '"task_id"' in body), None)
    return entries, task


def _yahpo_model(
    folder: Path,
) -> tuple[
    dict[str, BaseDistribution],
    dict[str, tuple[str, tuple[Any, ...]]],
    list[str],
    list[str],
    Callable[..., np.ndarray],
]:
    """A YAHPO scenario folder -> (distributions, conditions, tasks, output names, predict), where
    ``predict(task, configs)`` gives the model's ``(n, outputs)`` predictions at full fidelity
    (``predict(task, configs, {"epoch": 4})`` at another value of a fidelity parameter)."""
    import onnxruntime as ort

    name = folder.name
    cs = json.loads((folder / "config_space.json").read_text())
    enc = json.loads((folder / "encoding.json").read_text())
    hps = {h["name"]: h for h in cs["hyperparameters"]}
    entries, task_param = _param_set(folder / "param_set.R")
    if task_param is None:
        raise ValueError(f'{folder}/param_set.R: no factor tagged "task_id"')
    outputs_file = folder / "outputs.json"
    outputs = json.loads(outputs_file.read_text()) if outputs_file.exists() else KNOWN_OUTPUTS.get(name)
    if outputs is None:
        raise ValueError(
            f"{folder}: the model's output order is unknown; add outputs.json "
            "(a JSON list of the output names, YAHPO's y_names)"
        )
    cat = [task_param] + [n for n, k, _ in entries if k in ("fct", "lgl") and n != task_param]
    cont = [n for n, k, _ in entries if k not in ("fct", "lgl")]
    budget = {n for n, _, body in entries if '"budget"' in body}
    fixed = {n: hps[n]["upper"] for n in budget}
    dists: dict[str, BaseDistribution] = {}
    for n, _, _ in entries:
        if n == task_param or n in budget:
            continue
        h = hps[n]
        if h["type"] == "categorical":
            dists[n] = CategoricalDistribution(h["choices"])
        elif h["type"] == "uniform_int":
            dists[n] = IntDistribution(int(h["lower"]), int(h["upper"]), log=bool(h.get("log")))
        else:
            dists[n] = FloatDistribution(float(h["lower"]), float(h["upper"]), log=bool(h.get("log")))
    conditions = {
        c["child"]: (c["parent"], tuple(c["values"]) if "values" in c else (c["value"],))
        for c in cs.get("conditions", [])
    }
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    tasks = [str(t) for t in hps[task_param]["choices"] if str(t) in enc[task_param]]

    def predict(
        task: str, configs: list[dict[str, Any]], fidelity: Mapping[str, float] | None = None
    ) -> np.ndarray:
        unknown = set(fidelity or ()) - budget
        if unknown:
            raise ValueError(f"fidelity: {sorted(unknown)} not among {name}'s fidelities {sorted(budget)}")
        xc = np.zeros((len(configs), len(cont)), dtype=np.float32)
        xk = np.zeros((len(configs), len(cat)), dtype=np.int32)
        for i, cfg in enumerate(configs):
            full = {**cfg, **fixed, **(fidelity or {}), task_param: task}
            xc[i] = [float(full.get(n, 0.0)) for n in cont]
            xk[i] = [enc[n][str(full.get(n, "#na#"))] for n in cat]
        return np.asarray(session.run(None, {"x_cat": xk, "x_cont": xc})[0], dtype=float)

    return dists, conditions, tasks, list(outputs), predict


def load_yahpo(folder: Path, target: tuple[str, float, float] | None = None) -> Problem:
    """A YAHPO scenario folder -> :class:`Problem` (full fidelity)."""
    dists, conditions, tasks, outputs, predict = _yahpo_model(folder)
    tgt = target or TARGETS.get(folder.name)
    if tgt is None:
        raise ValueError(f"{folder}: no default target; pass target=(output, sign, offset)")
    out_idx, sign, offset = outputs.index(tgt[0]), tgt[1], tgt[2]

    def evaluate(task: str, configs: list[dict[str, Any]]) -> np.ndarray:
        return np.asarray(sign * predict(task, configs)[:, out_idx] + offset, dtype=float)

    problem = Problem(folder.name, tasks, dists, conditions)
    problem.evaluate = evaluate
    problem.scan = lambda task, rng: evaluate(task, problem.random_configs(20000, rng))
    return problem


LCBENCH_EPOCHS = 52  # lcbench's fidelity: epochs 1 .. 52


def lcbench_curve(data: Path) -> Callable[[str, Mapping[str, Any]], np.ndarray]:
    """YAHPO lcbench's learning curves (``data / "yahpo" / "lcbench"``): ``curve(task, config)``
    gives the ``(52,)`` values of ``100 - val_accuracy`` after epochs 1 .. 52 (the surrogate's
    prediction at each epoch; the last is the value ``load_problem(data, "lcbench")`` gives)."""
    _, _, _, outputs, predict = _yahpo_model(data / "yahpo" / "lcbench")
    acc = outputs.index("val_accuracy")

    def curve(task: str, config: Mapping[str, Any]) -> np.ndarray:
        rows = [predict(task, [dict(config)], {"epoch": e})[0, acc] for e in range(1, LCBENCH_EPOCHS + 1)]
        return np.asarray(100.0 - np.asarray(rows, dtype=float), dtype=float)

    return curve


_SCAN_SIZE = 20000
_TIME_QUANTILE = 0.3  # lcbench-constrained: time <= this quantile of random configurations' time
# lcbench-mo-constrained: 100 - val_balanced_accuracy <= this quantile of random configurations'
_BALANCED_QUANTILE = 0.3


LcbenchKind = Literal["multi", "constrained", "multi-constrained"]
_PROBLEM_NAMES: dict[LcbenchKind, str] = {
    "multi": "lcbench-mo",
    "constrained": "lcbench-constrained",
    "multi-constrained": "lcbench-mo-constrained",
}


def load_lcbench_outputs(folder: Path, kind: LcbenchKind) -> Problem:
    """lcbench with two outputs: ``100 - val_accuracy`` and ``time`` as two objectives
    (``kind="multi"``, problem ``lcbench-mo``), or ``time`` as a constraint at the task's 30th
    percentile of time over 20,000 random configurations (seeded, the same for every split and
    method; ``kind="constrained"``, problem ``lcbench-constrained``), or the two objectives subject
    to ``100 - val_balanced_accuracy`` at most its 30th percentile over the same configurations
    (``kind="multi-constrained"``, problem ``lcbench-mo-constrained``)."""
    dists, conditions, tasks, outputs, predict = _yahpo_model(folder)
    acc, time_ = outputs.index("val_accuracy"), outputs.index("time")
    bacc = outputs.index("val_balanced_accuracy")
    problem = Problem(_PROBLEM_NAMES[kind], tasks, dists, conditions)
    cache: dict[str, np.ndarray] = {}

    def task_scan(task: str) -> np.ndarray:
        """``(20000, 3)`` (error, time, balanced error) of the fixed random scan of ``task``."""
        if task not in cache:
            out = predict(task, problem.random_configs(_SCAN_SIZE, np.random.default_rng(0)))
            cache[task] = np.column_stack([100.0 - out[:, acc], out[:, time_], 100.0 - out[:, bacc]])
        return cache[task]

    def threshold(task: str) -> float:
        return float(np.quantile(task_scan(task)[:, 1], _TIME_QUANTILE))

    if kind in ("multi", "multi-constrained"):
        problem.n_objectives = 2
        problem.log_objectives = (1,)  # seconds are heavy-tailed (30 s to over an hour on one task)

        def evaluate(task: str, configs: list[dict[str, Any]]) -> np.ndarray:
            out = predict(task, configs)
            return np.column_stack([100.0 - out[:, acc], out[:, time_]])

        if kind == "multi":
            problem.scan = lambda task, rng: task_scan(task)[:, :2]
        else:

            def floor(task: str) -> float:
                return float(np.quantile(task_scan(task)[:, 2], _BALANCED_QUANTILE))

            def balanced(task: str, configs: list[dict[str, Any]]) -> np.ndarray:
                return np.asarray(100.0 - predict(task, configs)[:, bacc] - floor(task), dtype=float)

            def feasible_scan(task: str, rng: np.random.Generator) -> np.ndarray:
                s = task_scan(task)
                return np.asarray(s[s[:, 2] <= floor(task), :2])

            problem.constraint = balanced
            problem.constraint_name = "balanced_error"
            problem.scan = feasible_scan
    else:

        def evaluate(task: str, configs: list[dict[str, Any]]) -> np.ndarray:
            return np.asarray(100.0 - predict(task, configs)[:, acc], dtype=float)

        def constraint(task: str, configs: list[dict[str, Any]]) -> np.ndarray:
            return np.asarray(predict(task, configs)[:, time_] - threshold(task), dtype=float)

        def scan(task: str, rng: np.random.Generator) -> np.ndarray:
            s = task_scan(task)
            return np.asarray(s[s[:, 1] <= threshold(task), 0])

        problem.constraint = constraint
        problem.constraint_name = "time"
        problem.scan = scan
    problem.evaluate = evaluate
    return problem


# ----------------------------------------------------------------------------------- TabRepo
_LGBM_DEFAULTS = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "feature_fraction": 1.0,
    "min_data_in_leaf": 20,
    "extra_trees": False,
}


def load_tabrepo(folder: Path, *, untried_only: bool = True) -> Problem:
    """TabRepo's LightGBM pool -> :class:`Problem` whose proposals snap to pool configurations: the
    nearest one the run has not evaluated yet (``tabrepo_lightgbm``) or, with ``untried_only=False``,
    the nearest one (``tabrepo_lightgbm-nearest``; see the module docstring)."""
    configs = json.loads((folder / "configs_lightgbm.json").read_text())
    pool_names = sorted(configs)
    pool = []
    for n in pool_names:
        hp = {k: v for k, v in configs[n]["hyperparameters"].items() if k in _LGBM_DEFAULTS}
        pool.append({**_LGBM_DEFAULTS, **hp})
    dists: dict[str, BaseDistribution] = {
        "learning_rate": FloatDistribution(
            min(c["learning_rate"] for c in pool), max(c["learning_rate"] for c in pool), log=True
        ),
        "num_leaves": IntDistribution(
            min(c["num_leaves"] for c in pool), max(c["num_leaves"] for c in pool), log=True
        ),
        "feature_fraction": FloatDistribution(
            min(c["feature_fraction"] for c in pool), max(c["feature_fraction"] for c in pool)
        ),
        "min_data_in_leaf": IntDistribution(
            min(c["min_data_in_leaf"] for c in pool), max(c["min_data_in_leaf"] for c in pool), log=True
        ),
        "extra_trees": CategoricalDistribution([False, True]),
    }
    space: SearchSpace = to_search_space(dists)
    X_pool = space.encode(pool)
    errors: dict[str, dict[str, float]] = {}
    with (folder / "lgbm_results.csv").open() as f:
        for row in csv.DictReader(f):
            errors.setdefault(row["dataset"], {})[row["framework"]] = float(row["metric_error"])
    tasks = sorted(d for d, e in errors.items() if all(n in e for n in pool_names))

    def nearest(cfg: dict[str, Any], taken: Collection[int] = ()) -> int:
        x = space.encode([cfg])[0]
        dist = ((X_pool - x) ** 2).sum(axis=1)
        if 0 < len(taken) < len(pool):
            dist[list(taken)] = np.inf
        return int(np.argmin(dist))

    def snap_untried(cfg: dict[str, Any], taken: set[int]) -> dict[str, Any]:
        i = nearest(cfg, taken)
        taken.add(i)
        return dict(pool[i])

    def snap_nearest(cfg: dict[str, Any], taken: set[int]) -> dict[str, Any]:
        i = nearest(cfg)
        taken.add(i)
        return dict(pool[i])

    def evaluate(task: str, cfgs: list[dict[str, Any]]) -> np.ndarray:
        return np.array([errors[task][pool_names[nearest(c)]] for c in cfgs])

    problem = Problem("tabrepo_lightgbm" if untried_only else "tabrepo_lightgbm-nearest", tasks, dists)
    problem.evaluate = evaluate
    problem.scan = lambda task, rng: np.array([errors[task][n] for n in pool_names])
    problem.snap = snap_untried if untried_only else snap_nearest
    problem.prior_snap = snap_untried
    return problem


def load_random_forest() -> Problem:
    """openml-pimp's random-forest runs -> :class:`Problem`: a proposal gets the accuracy of the
    task's nearest run (see the module docstring), minimised as ``1 - accuracy``."""
    from metahpo import public_families, public_priors

    family = next(f for f in public_families() if f.name == "random_forest")
    space = family.space
    pools: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for study in public_priors("random_forest", trials_per_task=None):
        X = space.encode([t.params for t in study.trials])
        pools[study.name.removeprefix("public:random_forest:")] = (
            X,
            1.0 - np.array([t.values[0] for t in study.trials]),
        )
    dists: dict[str, BaseDistribution] = {}
    for n, param in space.params.items():
        if isinstance(param, CategoricalParam):
            dists[n] = CategoricalDistribution(list(param.choices))
        elif isinstance(param, IntParam):
            dists[n] = IntDistribution(param.low, param.high, log=param.log)
        else:
            dists[n] = FloatDistribution(param.low, param.high, log=param.log)

    def evaluate(task: str, cfgs: list[dict[str, Any]]) -> np.ndarray:
        X, y = pools[task]
        E = space.encode(cfgs)
        return np.array([y[int(np.argmin(((X - e) ** 2).sum(axis=1)))] for e in E])

    problem = Problem("random_forest", sorted(pools), dists)
    problem.evaluate = evaluate
    problem.scan = lambda task, rng: pools[task][1]
    return problem


def load_problem(data: Path, name: str) -> Problem:
    """``lcbench``, ``rbv2_xgboost`` (or any YAHPO scenario folder name), ``tabrepo_lightgbm``
    (``tabrepo_lightgbm-nearest``: the other pool rule), ``lcbench-mo`` (two objectives),
    ``lcbench-constrained`` or ``lcbench-mo-constrained``; ``random_forest`` (openml-pimp's runs,
    shipped with the package)."""
    if name == "random_forest":
        return load_random_forest()
    if name in ("tabrepo_lightgbm", "tabrepo_lightgbm-nearest"):
        return load_tabrepo(data / "tabrepo_lightgbm", untried_only=name == "tabrepo_lightgbm")
    for kind, problem_name in _PROBLEM_NAMES.items():
        if name == problem_name:
            return load_lcbench_outputs(data / "yahpo" / "lcbench", kind)
    folder = data / "yahpo" / name
    if not folder.is_dir():
        raise ValueError(f"--problems: no scenario folder {folder}")
    return load_yahpo(folder)
