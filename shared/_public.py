"""Public prior studies shipped with the package: one *family* per model people tune most.

Each family is one gzip-compressed JSON file in ``metahpo/public_priors/`` built from public HPO
data by ``tools/build_public_priors.py`` (the wheel ships the result, not the data):

=================  ==========================================================  =========
family             source                                                      evaluated
=================  ==========================================================  =========
``random_forest``  openml-pimp: scikit-learn RandomForestClassifier on OpenML   real runs
``lightgbm``       TabRepo: 104 LightGBM configurations on OpenML datasets     real runs
``xgboost``        YAHPO Gym ``rbv2_xgboost`` surrogate, random configurations  surrogate
``mlp``            YAHPO Gym ``lcbench`` surrogate (funnel MLP), random ones    surrogate
=================  ==========================================================  =========

File layout (one JSON object): ``family``, ``title``, ``source``, ``license``, ``attribution``,
``license_text``, ``evaluated`` (``"real"`` or ``"surrogate"``), ``objective`` (its name) and
``direction``, ``params`` (name -> ``{"type": "float"|"int"|"categorical", "low", "high", "log"}``
or ``{"type": "categorical", "choices": [...]}``), ``aliases`` (name -> other names users write
for it), and ``tasks``: a list of ``{"name", "params": [names of the columns], "rows": [[value
or null (inactive), ...], ...], "values": [...]}``, with ``"description": {"n_rows", "n_features",
"n_classes"}`` where the source gives the data set's meta-features (``lightgbm``: OpenML's;
``n_classes`` 0 for regression).
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import warnings
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import numpy as np

from metahpo._config import EngineConfig
from metahpo._prior import PriorStudy, PriorTrial
from metahpo._space import CategoricalParam, FloatParam, IntParam, Param, SearchSpace
from metahpo._validation import require

__all__ = ["PublicFamily", "public_families", "public_priors"]

_FOLDER = "public_priors"
# What a task description may say of a data set (FLAML's meta-features): rows, input features,
# classes (0 for regression).
_DESCRIPTION_KEYS = ("n_rows", "n_features", "n_classes")
_SIMILAR_TASKS = 16


@dataclass(frozen=True, eq=False)
class PublicFamily:
    """What :func:`public_families` says about one shipped family.

    Attributes:
        name: the family's name (``public_priors(name)``).
        title: the model, as its library names it.
        source: where the data come from.
        license: the data's license.
        attribution: whom to credit.
        evaluated: ``"real"`` (measured runs) or ``"surrogate"`` (predicted by a surrogate model
            of real runs).
        objective: the objective's name; ``direction``: its direction.
        space: the family's search space under its canonical parameter names.
        aliases: canonical name -> the other names users write for it.
        n_tasks: the data sets; ``n_trials``: the configurations evaluated on them in all.
        task_descriptions: task name -> its description (``n_rows``, ``n_features``,
            ``n_classes``) where the source gives one; empty for families without them.
    """

    name: str
    title: str
    source: str
    license: str
    attribution: str
    evaluated: str
    objective: str
    direction: str
    space: SearchSpace
    aliases: dict[str, tuple[str, ...]]
    n_tasks: int
    n_trials: int
    task_descriptions: Mapping[str, Mapping[str, int]]


def _files() -> list[str]:
    folder = resources.files("metahpo").joinpath(_FOLDER)
    return sorted(p.name.removesuffix(".json.gz") for p in folder.iterdir() if p.name.endswith(".json.gz"))


@functools.lru_cache(maxsize=8)
def _load(family: str) -> dict[str, Any]:
    names = _files()
    require(family in names, "family", f"must be one of {', '.join(names)}", family)
    raw = resources.files("metahpo").joinpath(_FOLDER, f"{family}.json.gz").read_bytes()
    data: dict[str, Any] = json.loads(gzip.decompress(raw))
    return data


def _param(spec: dict[str, Any]) -> Param:
    if spec["type"] == "categorical":
        return CategoricalParam(tuple(spec["choices"]))
    if spec["type"] == "int":
        return IntParam(int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)))
    return FloatParam(float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)))


def public_families() -> list[PublicFamily]:
    """The families shipped in this package, by name."""
    out = []
    for name in _files():
        data = _load(name)
        out.append(
            PublicFamily(
                name=name,
                title=data["title"],
                source=data["source"],
                license=data["license"],
                attribution=data["attribution"],
                evaluated=data["evaluated"],
                objective=data["objective"],
                direction=data["direction"],
                space=SearchSpace({k: _param(v) for k, v in data["params"].items()}),
                aliases={k: tuple(v) for k, v in data.get("aliases", {}).items()},
                n_tasks=len(data["tasks"]),
                n_trials=sum(len(t["values"]) for t in data["tasks"]),
                task_descriptions={
                    t["name"]: dict(t["description"]) for t in data["tasks"] if "description" in t
                },
            )
        )
    return out


def public_priors(
    family: str,
    *,
    names: Iterable[str] | None = None,
    trials_per_task: int | Literal["auto"] | None = "auto",
    exclude_tasks: Sequence[str] = (),
    task: Mapping[str, float] | None = None,
    n_tasks: int | Literal["auto"] = "auto",
) -> list[PriorStudy]:
    """The public prior studies of ``family``: one :class:`PriorStudy` per task (data set), in the
    form every adapter takes as ``source_studies`` / ``source_trials``.

    Args:
        family: a shipped family (see :func:`public_families`; ``metahpo info --public``).
        names: the parameter names of the user's study.  A family parameter is renamed to the
            first of its aliases that appears here (``eta`` for XGBoost's ``learning_rate`` when
            the study calls it that); names that match nothing stay canonical and simply do not
            align.  ``None`` keeps the canonical names.
        trials_per_task: keep at most this many trials of each task: the best half of them and a
            fixed, seeded spread of the rest (the multi-task GP uses the best and a spread of each
            prior anyway).  ``"auto"``: 20, fewer where the family has so many tasks that the total
            would reach :attr:`metahpo.EngineConfig.neural_min_prior_trials` (the sampler would
            then meta-train the neural surrogate at its first model trial): the first suggestion
            stays fast and the model on the multi-task GP path.  ``None`` keeps every trial.
        exclude_tasks: task names to leave out (for leave-tasks-out evaluations).
        task: a description of the user's data set, any of ``n_rows``, ``n_features`` (input
            features) and ``n_classes`` (0 for regression), as FLAML describes data sets.  The
            family's tasks of the same kind (regression, binary, multiclass) come first, then
            the nearest in the described meta-features (log scale, each scaled by its spread over
            the family's tasks); only the ``n_tasks`` most similar are returned, with more trials
            each under ``trials_per_task="auto"``.  A family without task descriptions (see
            :attr:`PublicFamily.task_descriptions`) ignores it, with a warning: its tasks count
            as equally similar.  ``None``: every task, equally similar.
        n_tasks: with ``task``, how many of the most similar tasks to keep; ``"auto"``: 16.

    Returns:
        One prior study per task, named ``public:<family>:<task>``, with the family's direction
        (the most similar first when ``task`` is given).
    """
    require(isinstance(family, str), "family", "must be a string", family)
    require(
        trials_per_task in (None, "auto") or (isinstance(trials_per_task, int) and trials_per_task >= 2),
        "trials_per_task",
        "must be 'auto', None or an int >= 2",
        trials_per_task,
    )
    require(
        n_tasks == "auto" or (isinstance(n_tasks, int) and not isinstance(n_tasks, bool) and n_tasks >= 1),
        "n_tasks",
        "must be 'auto' or an int >= 1",
        n_tasks,
    )
    data = _load(family)
    excluded = set(exclude_tasks)
    tasks = [t for t in data["tasks"] if t["name"] not in excluded]
    described = False
    if task is not None:
        wanted = _validated_description(task)
        described = all("description" in t for t in tasks)
        if described:
            order = sorted(range(len(tasks)), key=_similarity_key(tasks, wanted))
            tasks = [tasks[i] for i in order[: _SIMILAR_TASKS if n_tasks == "auto" else n_tasks]]
        else:
            warnings.warn(
                f"public_priors({family!r}): the family has no task descriptions, so task= is "
                "ignored and every task counts as equally similar",
                stacklevel=2,
            )
    elif n_tasks != "auto":
        require(False, "n_tasks", "is only used with task= (a description of the data set)", n_tasks)
    if trials_per_task == "auto":
        # 20 per task (more for a handful of similar tasks), below the neural surrogate's threshold
        room = (EngineConfig().neural_min_prior_trials - 1) // max(1, len(tasks))
        trials_per_task = max(2, min(100 if described else 20, room))
    rename = _renaming(data, names)
    space = SearchSpace({rename.get(k, k): _param(v) for k, v in data["params"].items()})
    out = []
    for task_ in tasks:
        columns = [rename.get(p, p) for p in task_["params"]]
        values = np.asarray(task_["values"], dtype=float)
        keep = _subsample(values, data["direction"], trials_per_task, f"{family}:{task_['name']}")
        trials = tuple(
            PriorTrial(
                {c: v for c, v in zip(columns, task_["rows"][i], strict=True) if v is not None},
                (float(values[i]),),
            )
            for i in keep
        )
        out.append(
            PriorStudy(
                f"public:{family}:{task_['name']}",
                trials=trials,
                directions=(data["direction"],),
                space=space,  # declared: a new study's first trials come from the portfolio
                source=f"metahpo public priors ({data['source']})",
            )
        )
    return out


def _validated_description(task: Mapping[str, float]) -> dict[str, float]:
    require(isinstance(task, Mapping), "task", "must be a mapping such as {'n_rows': 5000}", task)
    unknown = sorted(set(task).difference(_DESCRIPTION_KEYS))
    require(not unknown, "task", f"may only hold {', '.join(_DESCRIPTION_KEYS)}", unknown)
    require(bool(task), "task", f"must hold at least one of {', '.join(_DESCRIPTION_KEYS)}", task)
    for k, v in task.items():
        ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        require(ok and math.isfinite(float(v)) and float(v) >= 0, f"task[{k!r}]", "must be a number >= 0", v)
    return {k: float(v) for k, v in task.items()}


def _kind(n_classes: float) -> int:
    """0 regression, 1 binary, 2 multiclass."""
    return 0 if n_classes < 2 else (1 if n_classes < 3 else 2)


def _similarity_key(tasks: Sequence[dict[str, Any]], wanted: Mapping[str, float]) -> Any:
    """Sort key of a task index: another kind of problem (regression / binary / multiclass) last,
    then the distance of the described meta-features in log scale, each over its spread among
    the family's tasks; ties keep the file's order."""
    logs = {k: np.log1p([float(t["description"][k]) for t in tasks]) for k in wanted}
    spread = {k: float(v.std()) or 1.0 for k, v in logs.items()}

    def key(i: int) -> tuple[int, float, int]:
        other_kind = 0
        if "n_classes" in wanted:
            other_kind = int(_kind(wanted["n_classes"]) != _kind(tasks[i]["description"]["n_classes"]))
        dist = sum(abs(logs[k][i] - math.log1p(v)) / spread[k] for k, v in wanted.items())
        return other_kind, dist, i

    return key


def _renaming(data: dict[str, Any], names: Iterable[str] | None) -> dict[str, str]:
    if names is None:
        return {}
    wanted = list(names)
    require(all(isinstance(n, str) for n in wanted), "names", "must be parameter names (strings)", wanted)
    rename = {}
    for canonical, aliases in data.get("aliases", {}).items():
        if canonical in wanted:
            continue
        for alias in aliases:
            if alias in wanted:
                rename[canonical] = alias
                break
    return rename


def _subsample(values: np.ndarray, direction: str, quota: int | str | None, key: str) -> np.ndarray:
    """Indices of the best ``quota // 2`` and a seeded spread of the rest, in the file's order."""
    n = values.size
    if not isinstance(quota, int) or n <= quota:
        return np.arange(n)
    order = np.argsort(values if direction == "minimize" else -values, kind="stable")
    n_best = quota // 2
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    rest = rng.choice(order[n_best:], size=quota - n_best, replace=False)
    return np.sort(np.concatenate([order[:n_best], rest]))
