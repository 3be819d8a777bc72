"""Optuna distributions <-> the core's :class:`metahpo.SearchSpace`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from metahpo import CategoricalParam, FloatParam, IntParam, Param, SearchSpace, merge_spaces


def to_param(dist: BaseDistribution) -> Param:
    """One Optuna distribution -> one core parameter."""
    if isinstance(dist, FloatDistribution):
        return FloatParam(dist.low, dist.high, dist.log, dist.step)
    if isinstance(dist, IntDistribution):
        return IntParam(dist.low, dist.high, dist.log, dist.step)
    if isinstance(dist, CategoricalDistribution):
        return CategoricalParam(_distinct(dist.choices))
    raise TypeError(f"unsupported Optuna distribution {type(dist).__name__}")


def _distinct(choices: Iterable[Any]) -> tuple[Any, ...]:
    """The choices less those equal to an earlier one: Optuna finds a value's choice by equality
    (``tuple.index``), so of ``(0.0, -0.0)`` or ``(1, True)`` only the first can ever be suggested
    or stored (its distribution accepts both; the core, which tells types apart, would model a
    second choice that runs as the first, or reject ``0.0`` and ``-0.0`` as duplicates).  NaN
    choices are one choice, as Optuna treats them."""
    out: list[Any] = []
    for c in choices:
        v = c.item() if isinstance(c, np.generic) else c
        if not any(v == o or (_is_nan(v) and _is_nan(o)) for o in out):
            out.append(v)
    return tuple(out)


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and v != v


def to_search_space(search_space: Mapping[str, BaseDistribution]) -> SearchSpace:
    """An Optuna search space (name -> distribution) as the core's :class:`metahpo.SearchSpace`,
    parameters in sorted name order."""
    return SearchSpace({name: to_param(search_space[name]) for name in sorted(search_space)})


def merged_space(distributions: Iterable[Mapping[str, BaseDistribution]]) -> SearchSpace:
    """One space covering several trials' distributions (see :func:`metahpo.merge_spaces`)."""
    return merge_spaces([to_search_space(d) for d in distributions])


def contains(dist: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` (external representation) is legal for ``dist``."""
    try:
        return to_search_space({"x": dist}).contains("x", value)
    except (TypeError, ValueError):
        return False


def union_space(distributions: Iterable[Mapping[str, BaseDistribution]]) -> dict[str, BaseDistribution]:
    """Every parameter that appears in the given trials with one and the same distribution.

    Conditional parameters (set in some trials only) are included: the model sees them as missing
    where they were inactive (imputed like a prior's missing parameter).  A parameter whose
    distribution changed between trials is left to the independent sampler.
    """
    seen: dict[str, BaseDistribution] = {}
    conflicting: set[str] = set()
    for dists in distributions:
        for name, d in dists.items():
            if name in conflicting:
                continue
            if name not in seen:
                seen[name] = d
            elif seen[name] != d:
                conflicting.add(name)
                del seen[name]
    return seen
