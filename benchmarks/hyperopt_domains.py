"""MetaAlgo against tpe.suggest and rand.suggest on Hyperopt's standard test domains.

No priors are given (these domains have no related earlier studies), so this measures the engine
as a plain Bayesian optimiser inside Hyperopt: loss after N evaluations, median over seeds.

Run: python benchmarks/hyperopt_domains.py [--evals 50] [--seeds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from hyperopt import Trials, fmin, rand, tpe
from hyperopt.tests.unit import test_domains as td

from hyperopt_meta import MetaAlgo

DOMAINS = (
    "quadratic1",
    "q1_lognormal",
    "q1_choice",
    "n_arms",
    "distractor",
    "gauss_wave",
    "gauss_wave2",
    "many_dists",
    "branin",
)


def run(domain_name: str, algo: object, evals: int, seed: int) -> tuple[float, float]:
    domain = getattr(td, domain_name)()
    trials = Trials()
    t0 = time.perf_counter()
    fmin(
        lambda x: x,
        domain.expr,
        algo=algo,
        max_evals=evals,
        trials=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    return float(min(trials.losses())), (time.perf_counter() - t0) / evals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--evals", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--domains", nargs="+", default=list(DOMAINS))
    args = parser.parse_args()
    algos = {
        "MetaAlgo": lambda: MetaAlgo().suggest,
        "tpe.suggest": lambda: tpe.suggest,
        "rand.suggest": lambda: rand.suggest,
    }
    print(f"best loss after {args.evals} evaluations, median over {args.seeds} seeds (lower is better)")
    print("| domain | " + " | ".join(algos) + " | MetaAlgo s/eval |")
    print("|---|" + "---:|" * (len(algos) + 1))
    for d in args.domains:
        cells, meta_time = [], 0.0
        for name, make in algos.items():
            res = [run(d, make(), args.evals, s) for s in range(args.seeds)]
            cells.append(statistics.median(r[0] for r in res))
            if name == "MetaAlgo":
                meta_time = statistics.median(r[1] for r in res)
        print(f"| {d} | " + " | ".join(f"{c:.4g}" for c in cells) + f" | {meta_time:.3f} |", flush=True)


if __name__ == "__main__":
    main()
