"""Framework-neutral search space and its encoding to the unit cube.

Notation
--------
``D``: number of parameters; ``F``: number of encoded features (a numerical parameter takes one
feature, a categorical parameter with ``k`` choices takes ``k`` one-hot features); ``n``: number of
configurations.

Encoding rules (grid values -- ints, stepped floats, choices -- round-trip exactly through
``decode(encode(.))``; continuous floats to within 1e-12 relative, the rounding of log/exp):

* continuous float: ``u = (x - low) / (high - low)``; with ``log=True`` the same in ``log x``.
* discrete numbers (ints, and floats with a ``step``): the grid ``low, low + step, ..., high`` is
  padded by half a step on both sides before scaling, so every grid point owns an interval of the
  same width and rounding the decoded value lands back on it.  ``log=True`` ints use the log of the
  padded bounds, as Optuna's GP does.
* categorical with ``k`` choices: one-hot in ``k`` features.  An all-zero block means "a choice the
  target space does not know" (used for aligned prior trials, never produced by ``decode``).
* a parameter whose range is a single value encodes to 0.5 (or 1.0 for a lone choice).

This module depends on NumPy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import numpy as np

from metahpo._validation import require

__all__ = [
    "CategoricalParam",
    "FloatParam",
    "IntParam",
    "Param",
    "SearchSpace",
    "merge_spaces",
]

CategoricalChoice = None | bool | int | float | str


@dataclass(frozen=True)
class FloatParam:
    """A real-valued parameter on ``[low, high]``, optionally on a log scale, a ``step`` grid
    (``low + k * step``), or both: a grid modelled on the log scale, such as Hyperopt's
    ``qloguniform`` (Optuna has no such distribution)."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        require(
            math.isfinite(self.low) and math.isfinite(self.high),
            "FloatParam.low/high",
            "must be finite",
            (self.low, self.high),
        )
        require(self.low <= self.high, "FloatParam.low", "must be <= high", (self.low, self.high))
        if self.log:
            require(self.low > 0, "FloatParam.low", "must be > 0 when log=True", self.low)
        if self.step is not None:
            require(self.step > 0, "FloatParam.step", "must be > 0", self.step)
            if self.log:  # the grid's cells reach half a step below low, on the log scale
                require(
                    self.low > self.step / 2,
                    "FloatParam.low",
                    "must be > step / 2 when log=True and a step is set",
                    (self.low, self.step),
                )
            # As Optuna does: a high that is off the step grid is moved down onto it.
            lo, st = Decimal(str(self.low)), Decimal(str(self.step))
            k = int((Decimal(str(self.high)) - lo) // st)
            object.__setattr__(self, "high", min(self.high, float(lo + k * st)))

    @property
    def n_features(self) -> int:
        return 1


@dataclass(frozen=True)
class IntParam:
    """An integer parameter on ``[low, high]`` with a ``step`` grid or a log scale."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        require(self.low <= self.high, "IntParam.low", "must be <= high", (self.low, self.high))
        require(self.step >= 1, "IntParam.step", "must be >= 1", self.step)
        if self.log:
            require(self.low >= 1, "IntParam.low", "must be >= 1 when log=True", self.low)
            require(self.step == 1, "IntParam.step", "must be 1 when log=True", self.step)
        object.__setattr__(self, "high", self.high - (self.high - self.low) % self.step)

    @property
    def n_features(self) -> int:
        return 1


@dataclass(frozen=True)
class CategoricalParam:
    """A parameter taking one of a finite tuple of choices (None, bool, int, float or str)."""

    choices: tuple[CategoricalChoice, ...]

    def __post_init__(self) -> None:
        require(len(self.choices) >= 1, "CategoricalParam.choices", "must not be empty", self.choices)
        keys = [_choice_key(c) for c in self.choices]
        require(
            len(set(keys)) == len(keys),
            "CategoricalParam.choices",
            "must not contain duplicates",
            self.choices,
        )

    @property
    def n_features(self) -> int:
        return len(self.choices)

    def index(self, value: object) -> int | None:
        """Index of ``value`` among the choices, matching type as well as value (``1 != True``)."""
        key = _choice_key(value)
        for i, choice in enumerate(self.choices):
            if _choice_key(choice) == key:
                return i
        return None


Param = FloatParam | IntParam | CategoricalParam


def _choice_key(value: object) -> tuple[str, object]:
    # Type-aware identity for categorical choices: True, 1 and 1.0 are different choices, NaN
    # equals NaN, and numpy scalars match the Python value they hold.
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return (type(value).__name__, value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value)
    return (type(value).__name__, repr(value))


def _grid_size(p: FloatParam | IntParam) -> int:
    assert p.step is not None  # only called for discrete parameters
    return round((p.high - p.low) / p.step) + 1


def _is_discrete(p: FloatParam | IntParam) -> bool:
    return isinstance(p, IntParam) or p.step is not None


@dataclass(frozen=True)
class SearchSpace:
    """An ordered mapping from parameter names to :class:`FloatParam`, :class:`IntParam` or
    :class:`CategoricalParam`, with an encoding to ``[0, 1]^F`` and back.

    Args:
        params: parameter name -> definition; the order of the mapping fixes the feature order.
        conditions: for a conditional parameter, when it is active: a sequence of alternatives,
            each a sequence of ``(categorical parameter, value)`` pairs that must all hold (a
            Hyperopt label inside nested ``hp.choice`` branches).  An inactive parameter is encoded
            the way :meth:`encode_partial` encodes a parameter a trial did not set, so the model
            scores a candidate as the configuration that would run; the value a suggestion gives
            an inactive parameter is a placeholder (its first choice or the range centre).
            Parameters not named are always active.  Kept in memory only: the knowledge base
            stores a prior's parameters, not its conditions.
    """

    params: Mapping[str, Param]
    conditions: Mapping[str, Sequence[Sequence[tuple[str, object]]]] = field(default_factory=dict)
    _slices: dict[str, slice] = field(init=False, repr=False, compare=False)
    _rules: tuple[tuple[slice, bool, tuple[tuple[int, ...], ...]], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        ordered: dict[str, Param] = {}
        for name, p in self.params.items():
            require(
                isinstance(name, str) and name != "",
                "SearchSpace.params",
                "names must be non-empty strings",
                name,
            )
            require(
                isinstance(p, (FloatParam, IntParam, CategoricalParam)),
                f"SearchSpace.params[{name!r}]",
                "must be a FloatParam, IntParam or CategoricalParam",
                p,
            )
            ordered[name] = p
        object.__setattr__(self, "params", ordered)
        slices: dict[str, slice] = {}
        start = 0
        for name, p in ordered.items():
            slices[name] = slice(start, start + p.n_features)
            start += p.n_features
        object.__setattr__(self, "_slices", slices)
        self._set_conditions()

    def _set_conditions(self) -> None:
        """Validate ``conditions`` and compile them to feature rules: per conditional parameter,
        its columns, whether it is categorical, and per alternative the one-hot columns that must
        all be set; ordered so that a parent's activity is settled before its children's."""
        conds: dict[str, tuple[tuple[tuple[str, object], ...], ...]] = {}
        require(
            isinstance(self.conditions, Mapping),
            "SearchSpace.conditions",
            "must be a mapping from parameter names to alternatives",
            self.conditions,
        )
        for name, alternatives in dict(self.conditions).items():
            field_name = f"SearchSpace.conditions[{name!r}]"
            require(name in self.params, field_name, "must name a parameter of the space", name)
            require(
                _is_sequence(alternatives) and len(alternatives) > 0,
                field_name,
                "must be a non-empty sequence of alternatives",
                alternatives,
            )
            alts = []
            for alt in alternatives:
                require(
                    _is_sequence(alt),
                    field_name,
                    "each alternative must be a sequence of (parameter, value) pairs",
                    alt,
                )
                pairs = []
                for pair in alt:
                    require(
                        _is_sequence(pair) and len(pair) == 2,
                        field_name,
                        "each alternative must be a sequence of (parameter, value) pairs",
                        pair,
                    )
                    parent, value = pair
                    p = self.params.get(parent) if isinstance(parent, str) else None
                    require(
                        isinstance(p, CategoricalParam) and parent != name,
                        field_name,
                        "a condition's parameter must be another categorical parameter of the space",
                        parent,
                    )
                    p = cast(CategoricalParam, p)
                    require(
                        p.index(value) is not None,
                        field_name,
                        f"{value!r} is not a choice of {parent!r}",
                        value,
                    )
                    pairs.append((parent, value))
                alts.append(tuple(pairs))
            conds[name] = tuple(alts)
        object.__setattr__(self, "conditions", conds)

        def depth(name: str, seen: frozenset[str] = frozenset()) -> int:
            require(name not in seen, "SearchSpace.conditions", "must not be circular", name)
            parents = {parent for alt in conds.get(name, ()) for parent, _ in alt}
            return 1 + max((depth(q, seen | {name}) for q in parents), default=0)

        rules = []
        for name in sorted(conds, key=depth):
            columns = tuple(
                tuple(
                    self._slices[parent].start + int(cast(CategoricalParam, self.params[parent]).index(value))  # type: ignore[arg-type]
                    for parent, value in alt
                )
                for alt in conds[name]
            )
            rules.append((self._slices[name], isinstance(self.params[name], CategoricalParam), columns))
        object.__setattr__(self, "_rules", tuple(rules))

    # ----------------------------------------------------------------------------- structure
    @property
    def names(self) -> list[str]:
        return list(self.params)

    @property
    def n_features(self) -> int:
        return sum(p.n_features for p in self.params.values())

    def feature_slice(self, name: str) -> slice:
        """Columns of the encoded matrix that belong to parameter ``name``."""
        return self._slices[name]

    @property
    def numerical_features(self) -> np.ndarray:
        """Feature indices of the numerical parameters (one each)."""
        return np.array(
            [s.start for n, s in self._slices.items() if not isinstance(self.params[n], CategoricalParam)],
            dtype=np.int64,
        )

    def signature(self) -> tuple[Any, ...]:
        """A hashable identity of the space (names, order and definitions; conditions, if any)."""
        if not self.conditions:
            return tuple(self.params.items())
        return (*self.params.items(), ("conditions", tuple(sorted(self.conditions.items()))))

    def impute_inactive(self, X: np.ndarray) -> np.ndarray:
        """``(n, F)`` encoded rows with every inactive conditional parameter encoded as a trial
        that did not set it (range centre, or the all-zero choice block); a copy."""
        X = np.array(X, dtype=float, copy=True)
        for sl, categorical, alts in self._rules:
            active = np.zeros(X.shape[0], dtype=bool)
            for cols in alts:
                active |= np.all(X[:, list(cols)] > 0.5, axis=1)
            X[~active, sl] = 0.0 if categorical else 0.5
        return X

    # ----------------------------------------------------------------------------- values
    def contains(self, name: str, value: object) -> bool:
        """Whether ``value`` is a legal value of parameter ``name`` (on its grid, in range)."""
        p = self.params[name]
        if isinstance(p, CategoricalParam):
            return p.index(value) is not None
        if not _is_number(value):
            return False
        x = float(value)  # type: ignore[arg-type]
        if not (p.low <= x <= p.high):
            return False
        if _is_discrete(p):
            k = (x - p.low) / p.step  # type: ignore[operator]
            return abs(k - round(k)) < 1e-8
        return True

    def encode_value(self, name: str, value: object) -> np.ndarray:
        """Encode one value of parameter ``name``; numbers outside the range map outside
        ``[0, 1]`` (alignment of prior studies relies on it), unknown choices to all zeros.

        Raises:
            ValueError: if the value has the wrong type, or is not positive for a log parameter.
        """
        p = self.params[name]
        if isinstance(p, CategoricalParam):
            out = np.zeros(p.n_features)
            i = p.index(value)
            if i is not None:
                out[i] = 1.0
            return out
        require(_is_number(value), f"params[{name!r}]", "must be a real number", value)
        return np.array([_encode_number(p, float(value))])  # type: ignore[arg-type]

    def encode(self, configs: Sequence[Mapping[str, object]]) -> np.ndarray:
        """Encode configurations into an ``(n, F)`` array.  Every parameter must be present."""
        out = np.empty((len(configs), self.n_features))
        for i, cfg in enumerate(configs):
            for name in self.params:
                require(name in cfg, "configs", f"each config must hold parameter {name!r}", sorted(cfg))
                out[i, self._slices[name]] = self.encode_value(name, cfg[name])
        return out

    def encode_partial(
        self, configs: Sequence[Mapping[str, object]], *, missing: float | None = None
    ) -> np.ndarray:
        """Encode possibly partial configurations into ``(n, F)``: a missing or illegal value takes
        the range centre (numerical) or the unknown-choice block (categorical), as an aligned prior
        trial's missing parameter does; with ``missing`` (e.g. NaN) it takes that value instead."""
        out = np.empty((len(configs), self.n_features))
        for i, cfg in enumerate(configs):
            for name, p in self.params.items():
                sl = self._slices[name]
                if name in cfg and self.contains(name, cfg[name]):
                    out[i, sl] = self.encode_value(name, cfg[name])
                elif missing is not None:
                    out[i, sl] = missing
                else:
                    out[i, sl] = 0.0 if isinstance(p, CategoricalParam) else 0.5
        return out

    def fixed_features(self, fixed: Mapping[str, object]) -> dict[int, float]:
        """Encoded feature index -> value for parameters held at a given value."""
        out: dict[int, float] = {}
        for name, v in fixed.items():
            sl = self._slices[name]
            for j, u in zip(range(sl.start, sl.stop), self.encode_value(name, v), strict=True):
                out[j] = float(u)
        return out

    def decode(self, X: np.ndarray) -> list[dict[str, Any]]:
        """Map an ``(n, F)`` array (any real values) to ``n`` legal configurations.

        Numbers are clipped to the range and rounded to the grid; a one-hot block becomes its
        arg-max choice.  Values are plain Python ``int``/``float`` or the choice object itself.
        """
        X = np.atleast_2d(np.asarray(X, dtype=float))
        require(X.shape[1] == self.n_features, "X", f"must have {self.n_features} columns", X.shape)
        configs: list[dict[str, Any]] = [{} for _ in range(X.shape[0])]
        for name, p in self.params.items():
            cols = X[:, self._slices[name]]
            if isinstance(p, CategoricalParam):
                idx = np.argmax(cols, axis=1)
                for cfg, i in zip(configs, idx, strict=True):
                    cfg[name] = p.choices[int(i)]
            else:
                for cfg, u in zip(configs, cols[:, 0], strict=True):
                    cfg[name] = _decode_number(p, float(u))
        return configs

    def snap(self, X: np.ndarray) -> np.ndarray:
        """Project encoded rows onto legal configurations; equals ``encode(decode(X))``, done
        column-wise in NumPy (it runs over thousands of candidates per suggestion)."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        out = np.empty_like(X)
        for name, p in self.params.items():
            sl = self._slices[name]
            if isinstance(p, CategoricalParam):
                block = np.zeros((X.shape[0], p.n_features))
                block[np.arange(X.shape[0]), np.argmax(X[:, sl], axis=1)] = 1.0
                out[:, sl] = block
            else:
                out[:, sl.start] = _snap_numbers(p, X[:, sl.start])
        return out


def _is_sequence(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _is_number(value: object) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, (int, float, np.integer, np.floating))


def _padded_bounds(p: FloatParam | IntParam) -> tuple[float, float]:
    if _is_discrete(p):
        half = 0.5 * float(p.step)  # type: ignore[arg-type]
        return float(p.low) - half, float(p.high) + half
    return float(p.low), float(p.high)


def _log_scale(p: FloatParam | IntParam) -> bool:
    """Whether ``p`` is encoded on the log scale: log=True, unless its range is too narrow for
    the logarithms of its ends to differ (then linearly, so distinct values stay distinct)."""
    if not p.log:
        return False
    lo, hi = _padded_bounds(p)
    return math.log(hi) != math.log(lo)


def _encode_number(p: FloatParam | IntParam, x: float) -> float:
    lo, hi = _padded_bounds(p)
    if p.low == p.high and not _is_discrete(p):
        return 0.5 if x == p.low else (0.0 if x < p.low else 1.0)
    if p.log:
        require(x > 0, "value", "must be > 0 for a log-scaled parameter", x)
    if _log_scale(p):
        return (math.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return (x - lo) / (hi - lo)


def _snap_numbers(p: FloatParam | IntParam, u: np.ndarray) -> np.ndarray:
    """Vectorised ``_encode_number(_decode_number(u))`` for one numerical column."""
    u = np.clip(np.where(np.isfinite(u), u, 0.5), 0.0, 1.0)
    if p.low == p.high:
        return np.full_like(u, _encode_number(p, float(p.low)))
    lo, hi = _padded_bounds(p)
    x = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo))) if _log_scale(p) else lo + u * (hi - lo)
    if _is_discrete(p):
        step = float(p.step)  # type: ignore[arg-type]
        k = np.clip(np.round((x - p.low) / step), 0, _grid_size(p) - 1)
        x = p.low + k * step
    x = np.clip(x, p.low, p.high)
    if _log_scale(p):
        return np.asarray((np.log(x) - np.log(lo)) / (np.log(hi) - np.log(lo)))
    return np.asarray((x - lo) / (hi - lo))


def _decode_number(p: FloatParam | IntParam, u: float) -> int | float:
    if not math.isfinite(u):
        u = 0.5
    u = min(max(u, 0.0), 1.0)
    lo, hi = _padded_bounds(p)
    if p.low == p.high:
        return int(p.low) if isinstance(p, IntParam) else float(p.low)
    x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if _log_scale(p) else lo + u * (hi - lo)
    if _is_discrete(p):
        step = float(p.step)  # type: ignore[arg-type]
        k = min(max(round((x - p.low) / step), 0), _grid_size(p) - 1)
        if isinstance(p, IntParam):
            return int(p.low + k * p.step)
        # Recompute from the grid index so the value is exactly on the grid Optuna checks.
        return float(min(max(p.low + k * step, p.low), p.high))
    return float(min(max(x, p.low), p.high))


def merge_spaces(spaces: Sequence[SearchSpace]) -> SearchSpace:
    """One space covering several: numerical ranges of the same kind, scale and step are united,
    categorical choices are united (first-seen order); where two spaces give a name different
    kinds, the first definition is kept."""
    merged: dict[str, Param] = {}
    for space in spaces:
        for name, p in space.params.items():
            old = merged.get(name)
            if old is None:
                merged[name] = p
            elif isinstance(old, CategoricalParam) and isinstance(p, CategoricalParam):
                extra = tuple(c for c in p.choices if old.index(c) is None)
                if extra:
                    merged[name] = CategoricalParam(old.choices + extra)
            elif (
                type(old) is type(p)
                and isinstance(p, (FloatParam, IntParam))
                and isinstance(old, (FloatParam, IntParam))
                and old.log == p.log
                and old.step == p.step
            ):
                if isinstance(p, IntParam):
                    merged[name] = IntParam(min(old.low, p.low), max(old.high, p.high), p.log, p.step)  # type: ignore[arg-type]
                else:
                    merged[name] = FloatParam(min(old.low, p.low), max(old.high, p.high), p.log, p.step)
    return SearchSpace(merged)
