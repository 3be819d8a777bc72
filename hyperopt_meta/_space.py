"""Hyperopt search spaces (pyll graphs) <-> the core's :class:`metahpo.SearchSpace`.

Each hyperopt label becomes one core parameter:

==========================  ====================================================================
hyperopt                     core parameter (values are what hyperopt stores in ``misc["vals"]``)
==========================  ====================================================================
uniform(a, b)                ``FloatParam(a, b)``
loguniform(a, b)             ``FloatParam(e^a, e^b, log=True)`` (hyperopt's bounds are in log space)
quniform(a, b, q)            ``FloatParam(round(a/q) q, round(b/q) q, step=q)``
qloguniform(a, b, q)         ``FloatParam(lo, hi, log=True, step=q)``: the multiples of ``q`` from
                             ``lo = max(q, round(e^a / q) q)`` to ``hi = round(e^b / q) q``
normal / qnormal(mu, s)      ``FloatParam(mu - 3s, mu + 3s)`` (``step=q`` for qnormal)
lognormal / qlognormal       ``FloatParam(e^(mu-3s), e^(mu+3s), log=True)`` (``qlognormal``: on the
                             multiples of ``q`` there, as ``qloguniform``)
randint(n) / randint(a, b)   ``IntParam(0, n - 1)`` / ``IntParam(a, b - 1)``
choice / pchoice             ``CategoricalParam``: the option values themselves when every option
                             is a constant (so studies recorded from Optuna align by value),
                             else the option indices
==========================  ====================================================================

Unbounded distributions are modelled on mu +- 3 sigma; a draw outside is still a legal hyperopt
value, the model only clips what it proposes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hyperopt import pyll

from metahpo import CategoricalParam, FloatParam, IntParam, Param, SearchSpace


@dataclass(frozen=True)
class Label:
    """One hyperopt label: its core parameter and how to map values both ways.

    Attributes:
        name: the label.
        param: the core parameter.
        kind: the pyll distribution name (``uniform``, ``randint``, ``choice``, ...).
        args: the distribution's literal arguments.
        options: for choices, the option values (or None when options are expressions).
        conditions: activity conditions: a set of tuples of ``Cond(label, index)``; the label is
            active when every condition of one tuple holds (``()`` = always).
    """

    name: str
    param: Param
    kind: str
    args: dict[str, Any]
    options: tuple[Any, ...] | None
    conditions: frozenset[tuple[Any, ...]]

    @property
    def unconditional(self) -> bool:
        return () in self.conditions

    def to_core(self, stored: Any) -> Any:
        """Hyperopt's stored value -> the core value."""
        v = stored.item() if isinstance(stored, np.generic) else stored
        if self.kind == "choice":
            return self.options[int(v)] if self.options is not None else int(v)
        if self.kind == "randint":
            return int(v)
        return float(v)

    def to_hyperopt(self, value: Any) -> Any:
        """Core value -> what hyperopt stores (choice index, int, or float on the q grid)."""
        if self.kind == "choice":
            if self.options is None:
                return int(value)
            assert isinstance(self.param, CategoricalParam)
            idx = self.param.index(value)
            return int(idx if idx is not None else 0)
        if self.kind == "randint":
            return int(value)
        q = self.args.get("q")
        if q is not None and self.kind in ("qloguniform", "qlognormal"):
            return float(max(q, round(float(value) / q) * q))
        return float(value)

    def sample(self, rng: np.random.Generator) -> Any:
        """A draw from hyperopt's own distribution, in hyperopt's stored form."""
        a = self.args
        k = self.kind
        if k == "choice":
            p = a.get("p")
            n = len(p) if p is not None else a["upper"]
            return int(rng.choice(n, p=None if p is None else np.asarray(p) / np.sum(p)))
        if k == "randint":
            return int(rng.integers(a["low"], a["high"]))
        if k in ("uniform", "quniform"):
            x = rng.uniform(a["low"], a["high"])
        elif k in ("loguniform", "qloguniform"):
            x = math.exp(rng.uniform(a["low"], a["high"]))
        elif k in ("normal", "qnormal"):
            x = rng.normal(a["mu"], a["sigma"])
        else:  # lognormal, qlognormal
            x = math.exp(rng.normal(a["mu"], a["sigma"]))
        q = a.get("q")
        return float(round(x / q) * q) if q is not None else float(x)


def _literal(node: Any) -> Any:
    """A literal argument's value; None for a missing or non-literal argument."""
    return node.obj if getattr(node, "name", None) == "literal" else None


def _choice_options(expr: Any) -> dict[str, tuple[Any, ...] | None]:
    """label -> option values for every ``hp.choice`` / ``hp.pchoice`` (switch nodes)."""
    out: dict[str, tuple[Any, ...] | None] = {}
    for node in pyll.toposort(pyll.as_apply(expr)):
        if node.name != "switch":
            continue
        param = node.pos_args[0]
        if param.name != "hyperopt_param":
            continue
        label = param.arg["label"].obj
        options = node.pos_args[1:]
        consts = [o.obj for o in options if o.name == "literal"]
        ok = len(consts) == len(options) and all(
            c is None or isinstance(c, (bool, int, float, str)) for c in consts
        )
        keys = [(type(c).__name__, c) for c in consts]
        out[label] = tuple(consts) if ok and len(set(keys)) == len(keys) else None
    return out


@dataclass(frozen=True)
class Cond:
    """``label == val``: one branch condition (the same shape as hyperopt's ``EQ``)."""

    name: str
    val: int


def _flatten(expr: Any) -> dict[str, dict[str, Any]]:
    """label -> {"node": distribution node, "conditions": set of condition tuples}.

    A label is active when all conditions of one of its tuples hold.  Walks the graph through
    ``switch`` nodes (``hp.choice``/``hp.pchoice``), adding ``Cond(label, i)`` in branch ``i``; a
    label reached under every branch of a choice drops that choice's condition.
    """
    hps: dict[str, dict[str, Any]] = {}
    seen: set[tuple[int, tuple[Cond, ...]]] = set()

    def walk(node: Any, conds: tuple[Cond, ...]) -> None:
        if (id(node), conds) in seen:
            return
        seen.add((id(node), conds))
        if node.name == "hyperopt_param":
            label = node.arg["label"].obj
            entry = hps.setdefault(label, {"node": node.arg["obj"], "conditions": set()})
            entry["conditions"].add(conds)
            walk(node.arg["obj"], conds)
            return
        if node.name == "switch" and node.pos_args[0].name == "hyperopt_param":
            walk(node.pos_args[0], conds)
            label = node.pos_args[0].arg["label"].obj
            for i, option in enumerate(node.pos_args[1:]):
                walk(option, (*conds, Cond(label, i)))
            return
        for child in node.inputs():
            walk(child, conds)

    walk(pyll.as_apply(expr), ())
    n_options = {
        n.pos_args[0].arg["label"].obj: len(n.pos_args) - 1
        for n in pyll.toposort(pyll.as_apply(expr))
        if n.name == "switch" and n.pos_args[0].name == "hyperopt_param"
    }
    changed = True
    while changed:  # merge "reached under every branch of a choice" into the shorter condition
        changed = False
        for entry in hps.values():
            conds_set = entry["conditions"]
            for c in list(conds_set):
                if not c or c not in conds_set:
                    continue
                prefix, last = c[:-1], c[-1]
                siblings = {(*prefix, Cond(last.name, i)) for i in range(n_options.get(last.name, 0))}
                if siblings and siblings <= conds_set:
                    conds_set -= siblings
                    conds_set.add(prefix)
                    changed = True
    return hps


def labels_of(expr: Any) -> dict[str, Label]:
    """All labels of a hyperopt space, in sorted name order."""
    hps = _flatten(expr)
    choices = _choice_options(expr)
    out: dict[str, Label] = {}
    for name in sorted(hps):
        node = hps[name]["node"]
        args = {k: _literal(v) for k, v in node.arg.items()}
        kind = node.name
        options: tuple[Any, ...] | None = None
        param: Param
        if name in choices or kind == "categorical":
            options = choices.get(name)
            if kind == "categorical":  # hp.pchoice: probabilities may be a constant expression
                args = {"p": [float(v) for v in np.ravel(pyll.rec_eval(node.arg["p"]))]}
                n = len(args["p"])
            else:  # hp.choice is randint(n) under a switch
                n = int(args["low"]) if args.get("high") is None else int(args["high"])
                args = {"upper": n}
            kind = "choice"
            param = CategoricalParam(options if options is not None else tuple(range(n)))
        elif kind == "randint":
            first, second = int(args["low"]), args.get("high")
            low, high = (0, first) if second is None else (first, int(second))  # randint(n): [0, n)
            args = {"low": low, "high": high}
            param = IntParam(low, high - 1)
        elif kind in ("uniform", "quniform"):
            q = args.get("q")
            if q is None:
                param = FloatParam(float(args["low"]), float(args["high"]))
            else:
                lo, hi = round(args["low"] / q) * q, round(args["high"] / q) * q
                param = FloatParam(float(lo), float(max(hi, lo)), step=float(q))
        elif kind in ("loguniform", "qloguniform"):
            param = _log_param(math.exp(args["low"]), math.exp(args["high"]), args.get("q"))
        elif kind in ("normal", "qnormal"):
            mu, s, q = args["mu"], args["sigma"], args.get("q")
            lo, hi = mu - 3 * s, mu + 3 * s
            if q is not None:
                lo, hi = round(lo / q) * q, round(hi / q) * q
            param = FloatParam(float(lo), float(hi), step=float(q) if q else None)
        elif kind in ("lognormal", "qlognormal"):
            mu, s = args["mu"], args["sigma"]
            param = _log_param(math.exp(mu - 3 * s), math.exp(mu + 3 * s), args.get("q"))
        else:
            raise ValueError(f"hyperopt label {name!r}: unsupported distribution {kind!r}")
        out[name] = Label(name, param, kind, args, options, frozenset(hps[name]["conditions"]))
    return out


def _log_param(lo: float, hi: float, q: float | None) -> FloatParam:
    """A log-scaled label on ``[lo, hi]``; with ``q``, on the multiples of ``q`` there (what
    hyperopt stores: ``round(x / q) q``, at least ``q`` so that the log scale holds), so that the
    model proposes grid values and never one that rounds onto a configuration already tried."""
    if q is None:
        return FloatParam(lo, hi, log=True)
    low = max(float(q), round(lo / q) * q)
    return FloatParam(low, max(low, round(hi / q) * q), log=True, step=float(q))


def model_space(labels: dict[str, Label]) -> SearchSpace:
    """Every label, conditional ones included, with the branches that activate them: a trial's
    configuration holds the labels active in it, the engine imputes the others, and a candidate
    is scored with the labels its own branches leave inactive imputed the same way."""
    conditions = {
        name: [
            [(c.name, labels[c.name].to_core(c.val)) for c in alt] for alt in sorted(lab.conditions, key=repr)
        ]
        for name, lab in labels.items()
        if not lab.unconditional
    }
    return SearchSpace({n: lab.param for n, lab in labels.items()}, conditions)


def active(labels: dict[str, Label], stored: dict[str, Any]) -> dict[str, bool]:
    """Which labels are active given stored values of the labels they depend on."""
    out: dict[str, bool] = {}
    for name, lab in labels.items():
        ok = False
        for cond in lab.conditions:
            if all(c.name in stored and int(stored[c.name]) == c.val for c in cond):
                ok = True
                break
        out[name] = ok
    return out
