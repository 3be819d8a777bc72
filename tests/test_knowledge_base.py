"""The SQL knowledge base: round trips, atomic replace, patterns."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from metahpo import CategoricalParam, FloatParam, KnowledgeBase, PriorStudy, PriorTrial, SearchSpace


def _study(name: str, n: int = 3) -> PriorStudy:
    space = SearchSpace({"x": FloatParam(0, 1), "c": CategoricalParam(("a", 1, None))})
    trials = tuple(PriorTrial({"x": i / n, "c": ("a", 1, None)[i % 3]}, (float(i),)) for i in range(n))
    return PriorStudy(name, trials, ("maximize",), space)


def test_round_trip_keeps_values_types_directions_and_space(tmp_path: Path) -> None:
    kb = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    kb.add_study(_study("xgb-a"))
    # A second handle on the same file sees the same study (it is really stored).
    (loaded,) = KnowledgeBase(kb.url).load()
    original = _study("xgb-a")
    assert loaded.name == "xgb-a"
    assert loaded.directions == ("maximize",)
    assert loaded.space == original.space
    assert [dict(t.params) for t in loaded.trials] == [dict(t.params) for t in original.trials]
    assert [t.values for t in loaded.trials] == [t.values for t in original.trials]


def test_patterns_exclude_and_framework(tmp_path: Path) -> None:
    kb = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    for name in ("xgb-a", "xgb-b", "lgbm-a"):
        kb.add_study(_study(name))
    kb.add_study(_study("xgb-a"), framework="hyperopt")
    assert [s.name for s in kb.load("xgb-*", exclude=["xgb-b"])] == ["xgb-a", "xgb-a"]
    assert kb.study_names(framework="optuna") == ["xgb-a", "xgb-b", "lgbm-a"]


def test_duplicate_names_need_replace_and_replace_is_whole(tmp_path: Path) -> None:
    kb = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    kb.add_study(_study("s", 3))
    with pytest.raises(ValueError, match="already in the knowledge base"):
        kb.add_study(_study("s", 5))
    assert len(kb.load()[0].trials) == 3  # the failed add changed nothing
    kb.add_study(_study("s", 5), replace=True)
    (s,) = kb.load()
    assert len(s.trials) == 5


def test_numpy_scalars_and_non_finite_values_are_stored_as_json(tmp_path: Path) -> None:
    kb = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    space = SearchSpace({"c": CategoricalParam((math.inf, None, 1.0)), "x": FloatParam(0.0, 1.0)})
    trials = (
        PriorTrial({"x": np.float64(0.5), "n": np.int64(3), "c": math.inf}, (math.inf,)),
        PriorTrial({"x": 0.25, "c": None}, (-math.inf,)),
        PriorTrial({"x": 0.75, "c": 1.0}, (math.nan,)),
    )
    kb.add_study(PriorStudy("np", trials, space=space))
    (s,) = kb.load()
    # a non-finite number reads back as itself: the choice inf is not the choice None
    assert [t.params for t in s.trials] == [
        {"x": 0.5, "n": 3, "c": math.inf},
        {"x": 0.25, "c": None},
        {"x": 0.75, "c": 1.0},
    ]
    assert s.trials[0].values == (math.inf,)
    assert s.trials[1].values == (-math.inf,)
    assert math.isnan(s.trials[2].values[0])
    assert s.space == space


def test_bad_url_is_rejected_with_the_field_name() -> None:
    with pytest.raises(ValueError, match="knowledge_base must be a SQLAlchemy URL"):
        KnowledgeBase("kb.db")


def test_pickles_by_url(tmp_path: Path) -> None:
    kb = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    kb.add_study(_study("s"))
    assert [s.name for s in pickle.loads(pickle.dumps(kb)).load()] == ["s"]


def test_failed_configurations_round_trip_apart_from_the_trials(tmp_path: Path) -> None:
    kb = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    study = _study("xgb-a")
    failed = ({"x": 0.9, "c": None}, {"x": 0.95})
    kb.add_study(PriorStudy(study.name, study.trials, study.directions, study.space, failed=failed))
    (loaded,) = kb.load()
    assert [dict(f) for f in loaded.failed] == [dict(f) for f in failed]
    assert [t.values for t in loaded.trials] == [t.values for t in study.trials]


def test_constraint_values_round_trip_per_trial(tmp_path: Path) -> None:
    kb = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    trials = (
        PriorTrial({"x": 0.1}, (1.0,), {"latency": -0.5, "memory": 2.0}),
        PriorTrial({"x": 0.2}, (2.0,)),
        PriorTrial({"x": 0.3}, (3.0,), {"latency": 0.25}),
    )
    kb.add_study(PriorStudy("c", trials, failed=({"x": 0.9},)))
    (loaded,) = kb.load()
    assert [dict(t.constraints) for t in loaded.trials] == [dict(t.constraints) for t in trials]
    kb.add_study(PriorStudy("c", trials[:1]), replace=True)  # replacing drops the old values
    (again,) = kb.load()
    assert [dict(t.constraints) for t in again.trials] == [{"latency": -0.5, "memory": 2.0}]


def test_a_database_of_an_earlier_version_is_read_without_writing(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the two tables of the version before constraints
        db.execute(
            "CREATE TABLE metahpo_studies (id INTEGER PRIMARY KEY, name VARCHAR(512) NOT NULL, "
            "framework VARCHAR(64) NOT NULL, directions TEXT NOT NULL, space TEXT, created_at DATETIME NOT NULL)"
        )
        db.execute(
            "CREATE TABLE metahpo_trials (id INTEGER PRIMARY KEY, study_id INTEGER NOT NULL, "
            'number INTEGER NOT NULL, params TEXT NOT NULL, "values" TEXT NOT NULL)'
        )
        db.execute(
            "INSERT INTO metahpo_studies VALUES (1, 'old', 'optuna', '[\"minimize\"]', NULL, '2026-01-01')"
        )
        db.execute("INSERT INTO metahpo_trials VALUES (1, 1, 0, '{\"x\": 0.5}', '[1.0]')")
    # opened read-only: loading must not try to create the third table
    (study,) = KnowledgeBase(f"sqlite:///file:{path}?mode=ro&uri=true").load()
    assert study.name == "old"
    assert [dict(t.constraints) for t in study.trials] == [{}]


def test_infinite_constraint_values_are_kept(tmp_path: Path) -> None:
    kb = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    kb.add_study(PriorStudy("c", (PriorTrial({"x": 0.1}, (1.0,), {"latency": math.inf}),)))
    (loaded,) = kb.load()
    assert loaded.trials[0].constraints == {"latency": math.inf}


def test_a_database_written_before_the_non_finite_tag_reads_as_it_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import metahpo._kb as kb_module

    def untagged(v: object) -> object:  # the writer before the tag: non-finite floats as null
        v = v.item() if isinstance(v, np.generic) else v
        return None if isinstance(v, float) and not math.isfinite(v) else v

    monkeypatch.setattr(kb_module, "_json_value", untagged)
    kb = KnowledgeBase(f"sqlite:///{tmp_path / 'kb.db'}")
    kb.add_study(PriorStudy("old", (PriorTrial({"x": 0.5, "c": math.inf}, (math.inf,)),)))
    monkeypatch.undo()
    (s,) = kb.load()
    assert s.trials[0].params == {"x": 0.5, "c": None}
    assert math.isnan(s.trials[0].values[0])
