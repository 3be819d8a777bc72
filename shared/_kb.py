"""The knowledge base: prior studies kept in a relational database through SQLAlchemy.

Any SQLAlchemy URL works: ``sqlite:///kb.db`` on one machine (the default), PostgreSQL or MySQL
for a team.  Three tables, created by the first write (a database of an earlier version gains the
third then; until then it is read without constraint values):

``metahpo_studies``
    ``id``, ``name``, ``framework`` ("optuna", "hyperopt", ...), ``directions`` (JSON list),
    ``space`` (JSON, may be null), ``created_at``.  ``(name, framework)`` is unique.
``metahpo_trials``
    ``id``, ``study_id``, ``number``, ``params`` (JSON object of external values), ``values``
    (JSON list of floats; an empty list marks a configuration whose trial failed).

``metahpo_constraints``
    ``study_id``, ``number`` (the trial's), ``key``, ``value``: constraint values of trials
    (feasible iff <= 0), for studies that recorded any.

A study is written in one transaction (it is there whole or not at all); replacing a study deletes
and rewrites it in the same transaction, so readers never see half a study.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
import math
from collections.abc import Sequence
from typing import Any

from metahpo._prior import PriorStudy, PriorTrial
from metahpo._space import CategoricalParam, FloatParam, IntParam, Param, SearchSpace
from metahpo._validation import require

__all__ = ["KnowledgeBase", "space_from_json", "space_to_json"]


def space_to_json(space: SearchSpace) -> list[dict[str, Any]]:
    """A JSON-ready description of ``space`` (round-trips through :func:`space_from_json`)."""
    out: list[dict[str, Any]] = []
    for name, p in space.params.items():
        if isinstance(p, CategoricalParam):
            out.append({"name": name, "type": "categorical", "choices": list(p.choices)})
        elif isinstance(p, IntParam):
            out.append(
                {"name": name, "type": "int", "low": p.low, "high": p.high, "log": p.log, "step": p.step}
            )
        else:
            out.append(
                {"name": name, "type": "float", "low": p.low, "high": p.high, "log": p.log, "step": p.step}
            )
    return out


def space_from_json(data: Sequence[dict[str, Any]]) -> SearchSpace:
    """Inverse of :func:`space_to_json`."""
    params: dict[str, Param] = {}
    for d in data:
        kind = d.get("type")
        require(
            kind in ("float", "int", "categorical"),
            "space[].type",
            "must be 'float', 'int' or 'categorical'",
            kind,
        )
        if kind == "categorical":
            params[d["name"]] = CategoricalParam(tuple(d["choices"]))
        elif kind == "int":
            params[d["name"]] = IntParam(
                int(d["low"]), int(d["high"]), bool(d.get("log")), int(d.get("step") or 1)
            )
        else:
            params[d["name"]] = FloatParam(
                float(d["low"]), float(d["high"]), bool(d.get("log")), d.get("step")
            )
    return SearchSpace(params)


_FLOAT_TAG = "$float"  # a non-finite float in a stored JSON value: {"$float": "inf"}


def _json_value(v: Any) -> Any:
    # numpy scalars and other number-likes become plain JSON values; a non-finite float, which
    # JSON cannot hold, is tagged so that it reads back as itself (a categorical choice inf is
    # not the choice None; an objective value inf is not NaN).  Databases written before the tag
    # hold null there, read as None (a parameter) or NaN (a value).
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return {_FLOAT_TAG: repr(v)}
    return v


def _untag(obj: dict[str, Any]) -> Any:
    """``json.loads``'s ``object_hook``: a tagged non-finite float back to the float."""
    if len(obj) == 1 and _FLOAT_TAG in obj and obj[_FLOAT_TAG] in ("inf", "-inf", "nan"):
        return float(obj[_FLOAT_TAG])
    return obj


class KnowledgeBase:
    """Prior studies stored in a SQL database.

    Args:
        url: a SQLAlchemy URL, e.g. ``"sqlite:///kb.db"`` or
            ``"postgresql+psycopg2://user@localhost/kb"``.

    Example:
        >>> kb = KnowledgeBase("sqlite:///:memory:")
        >>> kb.add_study(PriorStudy("a", (PriorTrial({"x": 0.5}, (1.0,)),)))  # doctest: +SKIP
    """

    def __init__(self, url: str) -> None:
        require(
            isinstance(url, str) and "://" in url,
            "knowledge_base",
            "must be a SQLAlchemy URL such as 'sqlite:///kb.db'",
            url,
        )
        import sqlalchemy as sa

        self.url = url
        self._engine = sa.create_engine(url, future=True)
        meta = sa.MetaData()
        self._studies = sa.Table(
            "metahpo_studies",
            meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("name", sa.String(512), nullable=False),
            sa.Column("framework", sa.String(64), nullable=False),
            sa.Column("directions", sa.Text, nullable=False),
            sa.Column("space", sa.Text, nullable=True),
            sa.Column("created_at", sa.DateTime, nullable=False),
            sa.UniqueConstraint("name", "framework", name="uq_metahpo_study"),
        )
        self._trials = sa.Table(
            "metahpo_trials",
            meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column(
                "study_id", sa.Integer, sa.ForeignKey("metahpo_studies.id"), nullable=False, index=True
            ),
            sa.Column("number", sa.Integer, nullable=False),
            sa.Column("params", sa.Text, nullable=False),
            sa.Column("values", sa.Text, nullable=False),
        )
        self._constraints = sa.Table(
            "metahpo_constraints",
            meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column(
                "study_id", sa.Integer, sa.ForeignKey("metahpo_studies.id"), nullable=False, index=True
            ),
            sa.Column("number", sa.Integer, nullable=False),
            sa.Column("key", sa.String(512), nullable=False),
            sa.Column("value", sa.Float, nullable=False),
        )
        self._meta = meta
        self._tables_ready = False

    def _db(self, *, write: bool = False) -> Any:
        """The SQLAlchemy engine; before the first write the tables are created (constructing or
        reading a knowledge base creates nothing, so a read-only database or role can be read and
        an unreachable server surfaces where the data is used, which a sampler turns into a
        warning inside a running study)."""
        if write and not self._tables_ready:
            self._meta.create_all(self._engine)
            self._tables_ready = True
        return self._engine

    def _tables(self, conn: Any) -> set[str]:
        import sqlalchemy as sa

        names = {t.name for t in self._meta.sorted_tables}
        return {n for n in names if sa.inspect(conn).has_table(n)}

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"KnowledgeBase({self.url!r})"

    def add_study(self, study: PriorStudy, *, framework: str = "optuna", replace: bool = False) -> int:
        """Store ``study`` (all its trials) in one transaction and return its id.

        Raises:
            ValueError: if a study of that name and framework exists and ``replace`` is False.
        """
        import sqlalchemy as sa

        rows = []
        constraints = [
            {"number": i, "key": str(k), "value": float(v)}
            for i, t in enumerate(study.trials)
            for k, v in t.constraints.items()
            if not math.isnan(float(v))  # +inf (infeasible) is kept
        ]
        for i, t in enumerate(study.trials):
            rows.append(
                {
                    "number": i,
                    "params": json.dumps({k: _json_value(v) for k, v in t.params.items()}),
                    "values": json.dumps([_json_value(v) for v in t.values]),
                }
            )
        for j, f in enumerate(study.failed):
            rows.append(
                {
                    "number": len(study.trials) + j,
                    "params": json.dumps({k: _json_value(v) for k, v in f.items()}),
                    "values": "[]",
                }
            )
        with self._db(write=True).begin() as conn:
            old = conn.execute(
                sa.select(self._studies.c.id).where(
                    self._studies.c.name == study.name, self._studies.c.framework == framework
                )
            ).scalar_one_or_none()
            if old is not None:
                require(
                    replace,
                    "study.name",
                    f"is already in the knowledge base for framework {framework!r}; "
                    "pass replace=True to overwrite it",
                    study.name,
                )
                conn.execute(sa.delete(self._trials).where(self._trials.c.study_id == old))
                conn.execute(sa.delete(self._constraints).where(self._constraints.c.study_id == old))
                conn.execute(sa.delete(self._studies).where(self._studies.c.id == old))
            inserted = conn.execute(
                sa.insert(self._studies).values(
                    name=study.name,
                    framework=framework,
                    directions=json.dumps(list(study.directions) if study.directions else None),
                    space=json.dumps(space_to_json(study.space)) if study.space is not None else None,
                    created_at=_dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None),
                )
            ).inserted_primary_key
            assert inserted is not None  # a single-row insert always reports its key
            sid = inserted[0]
            if rows:
                conn.execute(sa.insert(self._trials), [{"study_id": sid, **r} for r in rows])
            if constraints:
                conn.execute(sa.insert(self._constraints), [{"study_id": sid, **c} for c in constraints])
        return int(sid)

    def study_names(self, framework: str | None = None) -> list[str]:
        """Names of the stored studies (optionally of one framework)."""
        import sqlalchemy as sa

        q = sa.select(self._studies.c.name).order_by(self._studies.c.id)
        if framework is not None:
            q = q.where(self._studies.c.framework == framework)
        with self._db().connect() as conn:
            if "metahpo_studies" not in self._tables(conn):
                return []
            return [r[0] for r in conn.execute(q)]

    def load(self, pattern: str = "*", *, exclude: Sequence[str] = ()) -> list[PriorStudy]:
        """Prior studies whose name matches the shell pattern ``pattern``, minus ``exclude``."""
        import sqlalchemy as sa

        out: list[PriorStudy] = []
        with self._db().connect() as conn:
            tables = self._tables(conn)
            if "metahpo_studies" not in tables:
                return out
            studies = conn.execute(sa.select(self._studies).order_by(self._studies.c.id)).all()
            for s in studies:
                if not fnmatch.fnmatchcase(s.name, pattern) or s.name in exclude:
                    continue
                trials = conn.execute(
                    sa.select(self._trials.c.number, self._trials.c.params, self._trials.c["values"])
                    .where(self._trials.c.study_id == s.id)
                    .order_by(self._trials.c.number)
                ).all()
                directions = json.loads(s.directions)
                by_number: dict[int, dict[str, float]] = {}
                if "metahpo_constraints" in tables:  # a database of an earlier version lacks it
                    for number, key, value in conn.execute(
                        sa.select(
                            self._constraints.c.number, self._constraints.c.key, self._constraints.c.value
                        )
                        .where(self._constraints.c.study_id == s.id)
                        .order_by(self._constraints.c.id)
                    ):
                        by_number.setdefault(number, {})[key] = float(value)
                done: list[PriorTrial] = []
                failed: list[dict[str, Any]] = []
                for number, p, vals in trials:
                    values = json.loads(vals, object_hook=_untag)
                    params = json.loads(p, object_hook=_untag)
                    if values:
                        nums = tuple(float("nan") if v is None else float(v) for v in values)
                        done.append(PriorTrial(params, nums, by_number.get(number, {})))
                    else:
                        failed.append(params)
                out.append(
                    PriorStudy(
                        name=s.name,
                        trials=tuple(done),
                        directions=tuple(directions) if directions else None,
                        space=space_from_json(json.loads(s.space)) if s.space else None,
                        source=self.url,
                        failed=tuple(failed),
                    )
                )
        return out
