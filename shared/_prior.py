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

import functools
import math
import numbers
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from metahpo._space import (
    CategoricalParam,
    SearchSpace,
    _choice_key,
    _encode_number,
    _is_discrete,
    _log_scale,
    _padded_bounds,
    merge_spaces,
)
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

    def __post_init__(self) -> None:
        require(
            isinstance(self.params, Mapping), "PriorTrial.params", "must map names to values", self.params
        )
        require(
            isinstance(self.values, Sequence) and not isinstance(self.values, (str, bytes)),
            "PriorTrial.values",
            "must be a sequence of numbers, one per objective, such as (0.93,)",
            self.values,
        )
        values = tuple(self.values)
        require(
            len(values) >= 1 and all(_is_number(v) for v in values),
            "PriorTrial.values",
            "must hold at least one number (NaN and inf mark a failed trial)",
            values,
        )
        object.__setattr__(self, "values", values)
        require(
            isinstance(self.constraints, Mapping)
            and all(isinstance(k, str) and _is_number(v) for k, v in self.constraints.items()),
            "PriorTrial.constraints",
            "must map constraint names to numbers",
            self.constraints,
        )


def _is_number(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


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
        for i, t in enumerate(self.trials):
            require(isinstance(t, PriorTrial), f"PriorStudy.trials[{i}]", "must be a PriorTrial", t)
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

    @functools.cached_property
    def content_seed(self) -> int:
        """A seed fixed by the study's encoded configurations and scores, for the random samples
        drawn from it that must be the same from call to call and from run to run.  Not its name:
        an unnamed in-memory Optuna study gets a new random name in every process, and a seed from
        the name made two runs with the same priors and seed choose different prior points."""
        seed = zlib.crc32(np.ascontiguousarray(self.X, dtype=np.float64).tobytes())
        return zlib.crc32(np.ascontiguousarray(self.z, dtype=np.float64).tobytes(), seed)

    @property
    def failures(self) -> np.ndarray:
        """``(m, F)`` encoded failed configurations (``(0, F)`` when there are none)."""
        return self.X_fail if self.X_fail is not None else np.empty((0, self.X.shape[1]))


def copula_scores(values: np.ndarray, direction: Direction) -> np.ndarray:
    """Direction-aware Gaussian-copula transform: ``(n,)`` values -> ``(n,)`` scores, higher is
    better, ties share their mean rank.  Non-finite values must be removed first."""
    from scipy.special import ndtri

    v = np.asarray(values, dtype=float)
    require(v.ndim == 1 and bool(np.all(np.isfinite(v))), "values", "must be a finite 1-d array", v.shape)
    if v.size == 0:
        return v.copy()
    signed = -v if direction == "minimize" else v
    ranks = average_ranks(signed)  # 0 .. n-1, best is n-1
    return np.asarray(ndtri((ranks + 0.5) / v.size), dtype=float)


def average_ranks(v: np.ndarray) -> np.ndarray:
    """``(n,)`` values -> ``(n,)`` 0-based ranks, ties sharing their mean rank (SciPy's
    ``rankdata(v, "average") - 1``, without importing ``scipy.stats``: seconds on a cold start)."""
    order = np.argsort(v, kind="mergesort")
    sv = v[order]
    group = np.cumsum(np.r_[True, sv[1:] != sv[:-1]]) - 1  # (n,) tie group of each sorted value
    counts = np.bincount(group)
    ends = np.cumsum(counts) - 1.0  # last 0-based rank of each group
    ranks = np.empty(v.size)
    ranks[order] = (ends - (counts - 1) / 2.0)[group]
    return ranks


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
    encoder = _RowEncoder(space, margin)
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

        good = [
            t
            for t in prior.trials
            if len(t.values) == n_objectives
            and all(_numeric(v) and math.isfinite(float(v)) for v in t.values)
        ]
        if len(good) < len(prior.trials):
            rep.skipped_trials["bad_value"] += len(prior.trials) - len(good)
        X_all, reasons = encoder.encode([t.params for t in good], rep)
        for why in reasons:
            if why is not None:
                rep.skipped_trials[why] += 1
        ok = [i for i, why in enumerate(reasons) if why is None]
        rows = X_all[ok]
        kept = [good[i] for i in ok]
        vals = [tuple(float(v) for v in t.values) for t in kept]
        # a failure that did not set a parameter the study's trials set is not imputed (its label
        # would be made up at the centre of that range)
        done_names = {n for t in prior.trials for n in t.params if n in names}
        complete = [f for f in prior.failed if done_names <= f.keys()]
        X_f, why_f = encoder.encode(complete, None)
        fails = X_f[[i for i, why in enumerate(why_f) if why is None]]
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
                X=rows,
                z=Z[:, 0] if n_objectives == 1 else copula_scores(-domination_count(Z), "maximize"),
                overlap=overlap,
                X_fail=fails if len(fails) else None,
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


_MISSING = object()


class _RowEncoder:
    """The encoding of one target space, planned once per alignment and applied to a whole
    study's configurations column by column: 100,000 prior trials are aligned in seconds instead
    of half a minute with one :meth:`SearchSpace.encode_value` call per value.  Gives exactly what
    ``encode_value`` gives, and the same reasons (tested)."""

    def __init__(self, space: SearchSpace, margin: float) -> None:
        self.n_features = space.n_features
        self.margin = margin
        # per parameter: (name, start, stop, choice key -> index) or (name, start, None, encoder)
        self.plan: list[tuple[str, int, int | None, Any]] = []
        for name in space.names:
            sl, p = space.feature_slice(name), space.params[name]
            if isinstance(p, CategoricalParam):
                keys = {_choice_key(c): i for i, c in enumerate(p.choices)}
                self.plan.append((name, sl.start, sl.stop, keys))
            else:
                self.plan.append((name, sl.start, None, _number_encoder(p)))

    def encode(
        self, configs: Sequence[Mapping[str, Any]], rep: StudyReport | None
    ) -> tuple[np.ndarray, list[str | None]]:
        """Prior configurations in the space's encoding (see :func:`align_studies` for the rules):
        ``(n, F)`` and per configuration the reason it cannot be used (None when it can; the
        first parameter in the space's order that fails gives it).  ``rep`` counts the unknown
        choices of configurations usable up to that parameter."""
        n = len(configs)
        X = np.empty((n, self.n_features))
        reasons: list[str | None] = [None] * n
        alive = np.ones(n, dtype=bool)

        def fail(mask: np.ndarray, why: str) -> None:
            for i in np.flatnonzero(mask & alive):
                reasons[i] = why
            alive[mask] = False

        for name, start, stop, how in self.plan:
            col = [c.get(name, _MISSING) for c in configs]
            if stop is not None:  # categorical: one-hot, all zeros for an unknown choice
                X[:, start:stop] = 0.0
                for i, v in enumerate(col):
                    if v is _MISSING:
                        continue
                    k = how.get(_choice_key(v))
                    if k is not None:
                        X[i, start + k] = 1.0
                    elif rep is not None and alive[i]:
                        rep.foreign_choice_values += 1
                continue
            x = np.full(n, np.nan)
            given = np.zeros(n, dtype=bool)
            wrong_type = np.zeros(n, dtype=bool)
            for i, v in enumerate(col):
                if v is _MISSING:
                    continue
                if type(v) is float or type(v) is int or _numeric(v):
                    x[i] = float(v)
                    given[i] = True
                else:
                    wrong_type[i] = True
            fail(wrong_type, "type_conflict")
            finite = np.isfinite(x)
            fail(given & ~finite, "bad_param")
            log, encode = how
            usable = given & finite
            if log:
                fail(usable & (x <= 0), "out_of_range")
                usable &= x > 0
            idx = np.flatnonzero(usable)
            u = encode(x[idx])
            outside = np.zeros(n, dtype=bool)
            outside[idx[(u < -self.margin) | (u > 1.0 + self.margin)]] = True
            fail(outside, "out_of_range")
            X[:, start] = 0.5  # imputed: the centre of the range
            X[idx, start] = u
        return X, reasons


def _number_encoder(p: Any) -> tuple[bool, Any]:
    """``(log, (k,) values -> (k,) encoded)``: the numerical encoding of ``p`` exactly as
    :func:`metahpo._space._encode_number` computes it, its constants worked out once (logarithms
    with ``math.log``, as there: NumPy's may differ in the last bit)."""
    lo, hi = _padded_bounds(p)
    if p.low == p.high and not _is_discrete(p):
        return bool(p.log), lambda x: np.array([_encode_number(p, float(v)) for v in x])
    if _log_scale(p):
        llo, lspan = math.log(lo), math.log(hi) - math.log(lo)
        return True, lambda x: (np.array([math.log(v) for v in x]) - llo) / lspan
    span = hi - lo
    return bool(p.log), lambda x: (x - lo) / span
