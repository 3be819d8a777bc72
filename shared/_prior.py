"""Prior studies, their alignment with a target search space, and scale-free objectives.

A *prior study* is a finished tuning run of some earlier task: the configurations it tried and
the objective values it measured.  Its search space may differ from the target's.  Alignment maps
what the prior shares with the target into the target's encoding (see :mod:`metahpo._space`):

* a parameter the prior lacks is imputed at the centre of its range (numerical) or as the
  "unknown choice" all-zero block (categorical), and counted as ``imputed``;
* a parameter the target lacks is dropped, and counted as ``dropped``;
* a numerical value outside the target's range is kept while it lies within ``margin`` of the
  unit cube (the GP is defined on all of R^F and such points inform it about the boundary) and the
  trial is skipped past that (``out_of_range``); a categorical value the target does not know
  becomes the all-zero block (``foreign_choice``); a value of the wrong type skips the trial
  (``type_conflict``); a non-finite objective skips the trial (``bad_value``);
* a study is skipped whole when it is multi-objective, shares fewer than ``min_overlap`` of the
  target's parameters, keeps fewer than 2 usable trials, or has an all-equal objective.

Objectives are made direction-aware (higher is better after the transform) and scale-free with a
Gaussian copula: ``z = Phi^-1((rank + 0.5) / n)`` per study, so a prior measured in accuracy and
a target measured in log-loss become comparable.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from metahpo._space import CategoricalParam, SearchSpace, merge_spaces
from metahpo._validation import require

__all__ = [
    "AlignedStudy",
    "AlignmentReport",
    "PriorStudy",
    "PriorTrial",
    "align_studies",
    "copula_scores",
    "prior_space",
    "standardised_scores",
]

Direction = Literal["minimize", "maximize"]


@dataclass(frozen=True)
class PriorTrial:
    """One finished trial of a prior study: external parameter values, objective value(s) and
    constraint values by name (feasible iff every value is <= 0, as Optuna's
    ``trial.set_constraint``; empty when the study had no constraints)."""

    params: Mapping[str, Any]
    values: tuple[float, ...]
    constraints: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PriorStudy:
    """A prior study in framework-neutral form.

    Args:
        name: the study's name (used in reports and in ``source_studies`` patterns).
        trials: its finished trials.
        directions: one direction per objective; ``None`` means "the same as the target study"
            (for bare trial lists whose direction is not recorded).
        space: the study's declared search space, if known (used for reports only).
        source: where it came from (a storage URL, ``"memory"``, ...).
        failed: the configurations (external parameter values) whose trial failed: raised, or
            gave no finite objective.  They teach the target's feasibility model where trials
            fail (:class:`metahpo.MetaEngine`).
    """

    name: str
    trials: tuple[PriorTrial, ...]
    directions: tuple[Direction, ...] | None = ("minimize",)
    space: SearchSpace | None = None
    source: str = "memory"
    failed: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        require(isinstance(self.name, str), "PriorStudy.name", "must be a string", self.name)
        if self.directions is not None:
            require(
                len(self.directions) >= 1,
                "PriorStudy.directions",
                "must hold at least one direction",
                self.directions,
            )
            for d in self.directions:
                require(
                    d in ("minimize", "maximize"),
                    "PriorStudy.directions",
                    "entries must be 'minimize' or 'maximize'",
                    d,
                )
        object.__setattr__(self, "trials", tuple(self.trials))
        object.__setattr__(self, "failed", tuple(self.failed))
        for i, f in enumerate(self.failed):
            require(isinstance(f, Mapping), f"PriorStudy.failed[{i}]", "must map names to values", f)


def prior_space(priors: Sequence[PriorStudy]) -> SearchSpace | None:
    """The declared spaces of the prior studies that have trials, merged into one
    (:func:`metahpo.merge_spaces`); None when no such study declares a space."""
    spaces = [p.space for p in priors if p.space is not None and p.trials]
    return merge_spaces(spaces) if spaces else None


@dataclass
class StudyReport:
    """What alignment did with one prior study."""

    name: str
    n_trials: int
    n_used: int = 0
    n_failed: int = 0  # failed configurations kept for the feasibility model
    skipped_study: str | None = None
    shared: list[str] = field(default_factory=list)
    imputed: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    skipped_trials: Counter[str] = field(default_factory=Counter)
    foreign_choice_values: int = 0

    @property
    def n_skipped(self) -> int:
        return self.n_trials - self.n_used


@dataclass
class AlignmentReport:
    """Counts of everything alignment used, imputed, dropped and skipped, per study."""

    studies: list[StudyReport] = field(default_factory=list)

    @property
    def n_studies_used(self) -> int:
        return sum(1 for s in self.studies if s.skipped_study is None)

    @property
    def n_studies_skipped(self) -> int:
        return sum(1 for s in self.studies if s.skipped_study is not None)

    @property
    def n_trials_used(self) -> int:
        return sum(s.n_used for s in self.studies)

    @property
    def n_trials_skipped(self) -> int:
        return sum(s.n_skipped for s in self.studies)

    def skip_reasons(self) -> Counter[str]:
        """Skipped trials by reason, whole skipped studies counted under ``study:<reason>``."""
        total: Counter[str] = Counter()
        for s in self.studies:
            if s.skipped_study is not None:
                total[f"study:{s.skipped_study}"] += s.n_trials
            else:
                total.update(s.skipped_trials)
        return total

    def as_dicts(self) -> list[dict[str, Any]]:
        """One JSON-serialisable record per prior study: ``name``, ``n_trials``, ``n_used``,
        ``n_failed``, ``skipped_study`` (the reason, or None when used), ``shared``, ``imputed``,
        ``dropped`` (parameter names), ``skipped_trials`` (reason -> count) and
        ``foreign_choice_values``."""
        return [
            {
                "name": s.name,
                "n_trials": s.n_trials,
                "n_used": s.n_used,
                "n_failed": s.n_failed,
                "skipped_study": s.skipped_study,
                "shared": list(s.shared),
                "imputed": list(s.imputed),
                "dropped": list(s.dropped),
                "skipped_trials": dict(s.skipped_trials),
                "foreign_choice_values": s.foreign_choice_values,
            }
            for s in self.studies
        ]

    def summary(self) -> str:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.skip_reasons().items()))
        return (
            f"{self.n_studies_used} prior studies used ({self.n_trials_used} trials), "
            f"{self.n_studies_skipped} skipped; {self.n_trials_skipped} prior trials skipped"
            + (f" ({reasons})" if reasons else "")
        )


@dataclass(frozen=True)
class AlignedStudy:
    """A prior study in the target's encoding.

    Attributes:
        name: the prior study's name.
        X: ``(n, F)`` encoded configurations.
        z: ``(n,)`` copula scores, higher is better.
        overlap: fraction of the target's parameters the study shares.
        X_fail: ``(m, F)`` encoded configurations whose trial failed (``m`` may be 0).
        constraints: per constraint name the ``(n,)`` values of the trials in ``X`` (NaN where a
            trial did not record it); feasible iff <= 0.
        Z: multi-objective studies only: ``(n, k)`` copula scores per objective (higher is
            better); ``z`` then scores the trials by Pareto depth (the front highest), so the
            portfolio draws from the study's Pareto front.
    """

    name: str
    X: np.ndarray
    z: np.ndarray
    overlap: float
    X_fail: np.ndarray | None = None
    constraints: Mapping[str, np.ndarray] = field(default_factory=dict)
    Z: np.ndarray | None = None

    @property
    def feasible(self) -> np.ndarray:
        """``(n,)`` True where no recorded constraint value is above 0."""
        ok = np.ones(self.X.shape[0], dtype=bool)
        for c in self.constraints.values():
            ok &= ~(c > 0)  # NaN (not recorded) counts as feasible
        return ok

    @property
    def failures(self) -> np.ndarray:
        """``(m, F)`` encoded failed configurations (``(0, F)`` when there are none)."""
        return self.X_fail if self.X_fail is not None else np.empty((0, self.X.shape[1]))


def copula_scores(values: np.ndarray, direction: Direction) -> np.ndarray:
    """Direction-aware Gaussian-copula transform: ``(n,)`` values -> ``(n,)`` scores, higher is
    better, ties share their mean rank.  Non-finite values must be removed first."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    v = np.asarray(values, dtype=float)
    require(v.ndim == 1 and bool(np.all(np.isfinite(v))), "values", "must be a finite 1-d array", v.shape)
    if v.size == 0:
        return v.copy()
    signed = -v if direction == "minimize" else v
    ranks = rankdata(signed, method="average") - 1.0  # 0 .. n-1, best is n-1
    return np.asarray(ndtri((ranks + 0.5) / v.size), dtype=float)


def standardised_scores(values: np.ndarray, direction: Direction) -> np.ndarray:
    """Direction-aware standardisation: ``(n,)`` values -> ``(n,)`` scores with mean 0 and standard
    deviation 1 (0 for a single or constant value), higher is better."""
    v = np.asarray(values, dtype=float)
    require(v.ndim == 1 and bool(np.all(np.isfinite(v))), "values", "must be a finite 1-d array", v.shape)
    signed = -v if direction == "minimize" else v
    sd = float(signed.std()) if v.size > 1 else 0.0
    return (signed - signed.mean()) / sd if sd > 0 else np.zeros_like(signed)


def score_against(
    history: np.ndarray, value: float, direction: Direction, scale: Literal["copula", "standardised"]
) -> float:
    """The score a new ``value`` gets against the ``(n,)`` finished values a model was fit on, on
    that model's scale (higher is better): the observed counterpart of a prediction.

    ``"copula"``: the normal quantile of the value's mid-rank among the history and itself (as
    :func:`copula_scores` gives it with the value added); ``"standardised"``: the value less the
    history's mean, over its standard deviation (:func:`standardised_scores`; 0 without spread)."""
    from scipy.special import ndtri

    h = np.asarray(history, dtype=float)
    require(
        h.ndim == 1 and h.size > 0 and bool(np.all(np.isfinite(h))),
        "history",
        "must be a finite, non-empty 1-d array",
        h.shape,
    )
    require(bool(np.isfinite(value)), "value", "must be finite", value)
    sign = -1.0 if direction == "minimize" else 1.0
    signed, new = sign * h, sign * float(value)
    if scale == "standardised":
        sd = float(signed.std()) if h.size > 1 else 0.0
        return (new - float(signed.mean())) / sd if sd > 0 else 0.0
    rank = float(np.sum(signed < new) + 0.5 * np.sum(signed == new))  # 0 = worst of n + 1
    return float(ndtri((rank + 0.5) / (h.size + 1)))


def _numeric(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def align_studies(
    space: SearchSpace,
    priors: Sequence[PriorStudy],
    target_direction: Direction,
    *,
    min_overlap: float = 0.5,
    margin: float = 0.25,
    n_objectives: int = 1,
) -> tuple[list[AlignedStudy], AlignmentReport]:
    """Map prior studies into ``space``'s encoding.

    Args:
        space: the target search space (``F`` features).
        priors: prior studies.
        target_direction: used for priors whose ``directions`` is ``None``.
        min_overlap: minimum fraction of target parameters a prior must share.
        margin: how far outside the unit cube an encoded prior value may lie.
        n_objectives: the target's objectives; a prior with another number of objectives is
            skipped (``multi_objective`` for a single-objective target, ``objective_count``
            otherwise).  Objectives pair up by position, each scored in its prior's own direction.

    Returns:
        The usable studies (each with at least two trials and a non-constant objective) and the
        report of what was used and skipped.
    """
    require(0.0 <= min_overlap <= 1.0, "min_overlap", "must lie in [0, 1]", min_overlap)
    require(margin >= 0.0, "margin", "must be >= 0", margin)
    report = AlignmentReport()
    aligned: list[AlignedStudy] = []
    names = space.names
    for prior in priors:
        rep = StudyReport(name=prior.name, n_trials=len(prior.trials))
        report.studies.append(rep)
        directions = prior.directions or (target_direction,) * n_objectives
        if len(directions) != n_objectives:
            rep.skipped_study = "multi_objective" if n_objectives == 1 else "objective_count"
            continue
        seen: set[str] = set()
        for t in prior.trials:
            seen.update(t.params)
        if prior.space is not None:
            seen.update(prior.space.params)
        rep.shared = [n for n in names if n in seen]
        rep.imputed = [n for n in names if n not in seen]
        rep.dropped = sorted(seen.difference(names))
        overlap = len(rep.shared) / len(names) if names else 0.0
        if not rep.shared or overlap < min_overlap:
            rep.skipped_study = "no_overlap" if not rep.shared else "low_overlap"
            continue

        rows: list[np.ndarray] = []
        vals: list[tuple[float, ...]] = []
        kept: list[PriorTrial] = []
        for t in prior.trials:
            if len(t.values) != n_objectives or not all(
                _numeric(v) and math.isfinite(float(v)) for v in t.values
            ):
                rep.skipped_trials["bad_value"] += 1
                continue
            row, reason = _encode_row(space, t.params, rep, margin)
            if reason is not None:
                rep.skipped_trials[reason] += 1
                continue
            rows.append(row)
            vals.append(tuple(float(v) for v in t.values))
            kept.append(t)
        # a failure that did not set a parameter the study's trials set is not imputed (its label
        # would be made up at the centre of that range)
        done_names = {n for t in prior.trials for n in t.params if n in names}
        complete = [f for f in prior.failed if done_names <= f.keys()]
        fails = [r for r, why in (_encode_row(space, f, None, margin) for f in complete) if why is None]
        if len(rows) < 2:
            rep.skipped_study = "too_few_trials"
            continue
        V = np.asarray(vals)  # (n, k)
        if np.any(np.ptp(V, axis=0) == 0.0):
            rep.skipped_study = "constant_objective"
            continue
        rep.n_used = len(rows)
        rep.n_failed = len(fails)
        Z = np.column_stack([copula_scores(V[:, j], d) for j, d in enumerate(directions)])
        aligned.append(
            AlignedStudy(
                name=prior.name,
                X=np.vstack(rows),
                z=Z[:, 0] if n_objectives == 1 else copula_scores(-domination_count(Z), "maximize"),
                overlap=overlap,
                X_fail=np.vstack(fails) if fails else None,
                constraints=constraint_columns([t.constraints for t in kept]),
                Z=None if n_objectives == 1 else Z,
            )
        )
    return aligned, report


def domination_count(Y: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """``(n, k)`` scores (higher is better) -> ``(n,)`` how many rows dominate each row (0 on the
    Pareto front), in row chunks so that memory stays ``O(chunk * n)``."""
    n = Y.shape[0]
    out = np.zeros(n)
    for a in range(0, n, chunk):
        block = Y[a : a + chunk]  # (c, k)
        ge = np.all(Y[None, :, :] >= block[:, None, :], axis=-1)  # (c, n): row j at least as good
        gt = np.any(Y[None, :, :] > block[:, None, :], axis=-1)
        out[a : a + chunk] = np.sum(ge & gt, axis=1)
    return out


def constraint_columns(constraints: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Per constraint name the ``(n,)`` values of ``n`` trials' constraint mappings (NaN where a
    trial did not record it or recorded something that is not a number; +inf, which Optuna
    accepts and counts as infeasible, is kept)."""
    names = sorted({k for c in constraints for k in c})
    out = {}
    for k in names:
        col = np.full(len(constraints), np.nan)
        for i, c in enumerate(constraints):
            v: Any = c.get(k)
            if _numeric(v) and not math.isnan(float(v)):
                col[i] = float(v)
        out[k] = col
    return out


def _encode_row(
    space: SearchSpace, params: Mapping[str, Any], rep: StudyReport | None, margin: float
) -> tuple[np.ndarray, str | None]:
    """One prior configuration in ``space``'s encoding (see :func:`align_studies` for the rules),
    and the reason it cannot be used (None when it can)."""
    row = np.empty(space.n_features)
    for name in space.names:
        sl = space.feature_slice(name)
        p = space.params[name]
        if name not in params:
            # Imputed: centre of the range, or the unknown-choice block.
            row[sl] = 0.0 if isinstance(p, CategoricalParam) else 0.5
            continue
        v = params[name]
        if isinstance(p, CategoricalParam):
            enc = space.encode_value(name, v)
            if not enc.any() and rep is not None:
                rep.foreign_choice_values += 1
            row[sl] = enc
            continue
        if not _numeric(v) or not math.isfinite(float(v)):
            return row, "type_conflict" if not _numeric(v) else "bad_param"
        if getattr(p, "log", False) and float(v) <= 0:
            return row, "out_of_range"
        u = space.encode_value(name, v)[0]
        if not (-margin <= u <= 1.0 + margin):
            return row, "out_of_range"
        row[sl] = u
    return row, None
