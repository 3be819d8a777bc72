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
trials; GPSampler ignores the priors, so its row is the same for every kind.  Every figure is
measured in this run.

    python benchmarks/unrelated_priors.py --seeds 6
"""

from __future__ import annotations

import argparse
import math
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


def best_curve(sampler: optuna.samplers.BaseSampler, fn: Function) -> np.ndarray:
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective(fn, TARGET), n_trials=BUDGETS[-1])
    return np.minimum.accumulate([t.value for t in study.trials])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--functions", nargs="+", default=list(FUNCTIONS), choices=list(FUNCTIONS))
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print("| function | sampler, priors | " + " | ".join(f"@{b}" for b in BUDGETS) + " |")
    print("|---|---|" + "---:|" * len(BUDGETS))
    for name in args.functions:
        fn = FUNCTIONS[name]
        rows: dict[str, list[np.ndarray]] = {}
        for seed in range(args.seeds):
            rows.setdefault("GPSampler", []).append(best_curve(optuna.samplers.GPSampler(seed=seed), fn))
            for kind in ("related", "elsewhere", "negated"):
                sampler = MetaSampler(source_studies=priors(fn, kind, seed), seed=seed)
                rows.setdefault(f"MetaSampler, {kind}", []).append(best_curve(sampler, fn))
        for label, curves in rows.items():
            med = np.median(np.array(curves), axis=0)
            print(
                f"| {name} | {label} | " + " | ".join(f"{med[b - 1]:.3f}" for b in BUDGETS) + " |", flush=True
            )


if __name__ == "__main__":
    main()
