"""Priors that do not help: MetaSampler against GPSampler when the prior studies are related,
unrelated or misleading (the product's promise: never worse than the sampler the user would pick).

Two 4-parameter targets in [0, 1]^4, minimised, optimum at ``c = (0.2, 0.8, 0.35, 0.6)``:
``ackley`` (an Ackley-type function of ``x - c``: a basin of width ~0.2 in a plateau rippled twice
per unit) and ``bowl``
(``sum_i w_i (x_i - c_i)^2`` with weights 1, 2, 4, 8).  Five prior studies of 40 random trials
each, of one kind:

* ``related``: the same function with its optimum moved by N(0, 0.05) per coordinate;
* ``elsewhere``: the same function with its optimum drawn uniformly in the box (unrelated);
* ``negated``: the target's function maximised, so the priors' best configurations are the
  target's worst (misleading).

40 trials, median over ``--seeds`` seeds of the best value found after 5 / 10 / 20 / 30 / 40
trials, and the mean number of trials per run that MetaSampler gave to Optuna's GPSampler, by the
reason it recorded (``stall``: the hedge beside a stalled transfer model; ``misleading_priors``:
every prior left out as misleading); GPSampler ignores the priors, so its row is the same for
every kind.  Every figure is
measured in this run.

    python benchmarks/unrelated_priors.py --seeds 6
    python benchmarks/unrelated_priors.py --seeds 12 --surrogate neural --kinds negated

``--surrogate`` forces MetaSampler's surrogate (``auto`` is the multi-task GP on these 200 prior
trials); ``--kinds`` runs some kinds of priors only.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from collections.abc import Callable

import numpy as np
import optuna

from optuna_meta import MetaSampler

D = 4
Function = Callable[[np.ndarray, np.ndarray], float]
TARGET = np.array([0.2, 0.8, 0.35, 0.6])
BUDGETS = (5, 10, 20, 30, 40)
_WEIGHTS = np.array([1.0, 2.0, 4.0, 8.0])


def ackley(x: np.ndarray, c: np.ndarray) -> float:
    z = x - c
    return float(-20 * np.exp(-np.sqrt((z**2).mean())) - np.exp(np.cos(4 * np.pi * z).mean()) + 20 + math.e)


def bowl(x: np.ndarray, c: np.ndarray) -> float:
    return float((_WEIGHTS * (x - c) ** 2).sum())


FUNCTIONS: dict[str, Function] = {"ackley": ackley, "bowl": bowl}
KINDS = ("related", "elsewhere", "negated")


def objective(fn: Function, c: np.ndarray, sign: float = 1.0) -> Callable[[optuna.Trial], float]:
    def f(trial: optuna.Trial) -> float:
        x = np.array([trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(D)])
        return sign * fn(x, c)

    return f


def priors(fn: Function, kind: str, seed: int) -> list[optuna.Study]:
    rng = np.random.default_rng(1000 + seed)
    out = []
    for k in range(5):
        if kind == "related":
            c, sign = TARGET + rng.normal(0.0, 0.05, D), 1.0
        elif kind == "elsewhere":
            c, sign = rng.random(D), 1.0
        else:  # negated
            c, sign = TARGET, -1.0
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=100 * seed + k))
        study.optimize(objective(fn, c, sign), n_trials=40)
        out.append(study)
    return out


def best_curve(sampler: optuna.samplers.BaseSampler, fn: Function) -> tuple[np.ndarray, Counter[str]]:
    """The best value after each trial, and how many trials MetaSampler gave to Optuna's
    GPSampler, by the reason it recorded (``metahpo:info``)."""
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective(fn, TARGET), n_trials=BUDGETS[-1])
    handed: Counter[str] = Counter()
    for t in study.trials:
        info = json.loads(str(t.system_attrs.get("metahpo:info", "{}")))
        if info.get("sampler") == "optuna.samplers.GPSampler":
            handed[str(info.get("reason", "no priors"))] += 1
    return np.minimum.accumulate(np.array([t.value for t in study.trials], dtype=float)), handed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--functions", nargs="+", default=list(FUNCTIONS), choices=list(FUNCTIONS))
    parser.add_argument(
        "--surrogate",
        default="auto",
        choices=["auto", "mtgp", "neural"],
        help="MetaSampler's surrogate (auto takes the multi-task GP on these 200 prior trials)",
    )
    parser.add_argument(
        "--kinds", nargs="+", default=list(KINDS), choices=list(KINDS), help="the kinds of priors to run"
    )
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(
        "| function | sampler, priors | "
        + " | ".join(f"@{b}" for b in BUDGETS)
        + " | trials MetaSampler gave GPSampler, per run (by reason) |"
    )
    print("|---|---|" + "---:|" * len(BUDGETS) + "---|")
    for name in args.functions:
        fn = FUNCTIONS[name]
        rows: dict[str, list[np.ndarray]] = {}
        handed: dict[str, Counter[str]] = {}
        for seed in range(args.seeds):
            curve, _ = best_curve(optuna.samplers.GPSampler(seed=seed), fn)
            rows.setdefault("GPSampler", []).append(curve)
            for kind in args.kinds:
                sampler = MetaSampler(
                    source_studies=priors(fn, kind, seed), seed=seed, surrogate=args.surrogate
                )
                curve, counts = best_curve(sampler, fn)
                rows.setdefault(f"MetaSampler, {kind}", []).append(curve)
                handed.setdefault(f"MetaSampler, {kind}", Counter()).update(counts)
        for label, curves in rows.items():
            med = np.median(np.array(curves), axis=0)
            by_reason = ""
            if label in handed:
                by_reason = (
                    ", ".join(f"{r} {c / args.seeds:.1f}" for r, c in sorted(handed[label].items())) or "none"
                )
            print(
                f"| {name} | {label} | "
                + " | ".join(f"{med[b - 1]:.3f}" for b in BUDGETS)
                + f" | {by_reason} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
