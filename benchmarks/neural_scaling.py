"""Scaling of the neural surrogate with the size of the knowledge base (CPU or GPU).

Prior studies of 100 trials each on a 6-parameter mixed space (4 floats, 1 int, 1 categorical)
of related tasks; sizes 1k, 10k, 100k prior trials by default.  For each size: time to align the
priors and build the portfolio, time to meta-train (``metahpo train``'s code path, default
settings: all ``max_epochs``), epochs, and the median seconds per suggestion of ``MetaEngine`` with
``surrogate="neural"`` around target trials 10, 25 and 50 (the model already trained); the
multi-task GP (``surrogate="mtgp"``) is timed alongside for comparison.

With ``--first-only``: only the first suggestion (alignment + zero-shot portfolio, once per search
space) at each size, timed in a fresh engine after one warm-up at the smallest size (imports).

Run: python benchmarks/neural_scaling.py [--sizes 1000 10000 100000] [--device cpu|cuda] [--first-only]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time

import numpy as np

from metahpo import (
    CategoricalParam,
    EngineConfig,
    FloatParam,
    IntParam,
    MetaEngine,
    PriorStudy,
    PriorTrial,
    SearchSpace,
)

SPACE = SearchSpace(
    {
        "lr": FloatParam(1e-5, 1e-1, log=True),
        "x1": FloatParam(-3, 3),
        "x2": FloatParam(-3, 3),
        "x3": FloatParam(0, 1),
        "depth": IntParam(1, 12),
        "kind": CategoricalParam(("a", "b", "c")),
    }
)


def value(p: dict, shift: float) -> float:
    return (
        (math.log10(p["lr"]) + 3 + shift) ** 2
        + (p["x1"] - shift) ** 2
        + 0.5 * (p["x2"] + shift) ** 2
        + p["x3"]
        + 0.05 * abs(p["depth"] - 6)
        + (0.0 if p["kind"] == "b" else 0.5)
    )


def priors(n_trials: int, per_study: int = 100) -> list[PriorStudy]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n_trials // per_study):
        shift = float(rng.normal(0, 0.5))
        cfgs = SPACE.decode(rng.random((per_study, SPACE.n_features)))
        out.append(PriorStudy(f"p{i}", tuple(PriorTrial(c, (value(c, shift),)) for c in cfgs), ("minimize",)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--first-only", action="store_true", help="time the first suggestion only")
    args = ap.parse_args()
    if args.first_only:
        MetaEngine(priors(min(args.sizes))).suggest(SPACE, "minimize", [], [], seed=0)  # imports
        print("| prior trials | prior studies | first suggestion s (alignment + portfolio) |")
        print("|---:|---:|---:|")
        for size in args.sizes:
            ps = priors(size)
            engine = MetaEngine(ps)
            t0 = time.perf_counter()
            s = engine.suggest(SPACE, "minimize", [], [], seed=0)
            assert s.phase == "portfolio"
            print(f"| {size} | {len(ps)} | {time.perf_counter() - t0:.2f} |", flush=True)
        return
    rows = []
    for size in args.sizes:
        ps = priors(size)
        cache = tempfile.mkdtemp()
        times: dict[str, dict[int, float]] = {}
        train_s = align_s = 0.0
        epochs = 0
        for surrogate in ("neural", "mtgp"):
            config = EngineConfig(surrogate=surrogate, surrogate_cache=cache, device=args.device)
            engine = MetaEngine(ps, config)
            t0 = time.perf_counter()
            engine.alignment(SPACE, "minimize")
            if surrogate == "neural":
                align_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                training = engine.train_neural(SPACE, "minimize")
                train_s = time.perf_counter() - t0
                if training.result is None:
                    raise SystemExit(f"another process holds the training lock of {training.path}")
                epochs = len(training.result.history)
            rng = np.random.default_rng(1)
            observed: list[dict] = []
            values: list[float] = []
            per: dict[int, list[float]] = {10: [], 25: [], 50: []}
            for i in range(51):
                t0 = time.perf_counter()
                s = engine.suggest(SPACE, "minimize", observed, values, seed=i)
                dt = time.perf_counter() - t0
                for mark in per:
                    if abs(i + 1 - mark) <= 1:
                        per[mark].append(dt)
                observed.append(s.params)
                values.append(value(s.params, float(rng.normal(0, 0.5))))
            times[surrogate] = {m: statistics.median(v) for m, v in per.items()}
        rows.append((size, align_s, train_s, epochs, times))
        print(rows[-1], flush=True)
    print(f"\ndevice: {args.device}")
    print(
        "| prior trials | align + portfolio s | train s | epochs | neural s/suggestion @10 / @25 / @50 "
        "| mtgp s/suggestion @10 / @25 / @50 |"
    )
    print("|---:|---:|---:|---:|---|---|")
    for size, align_s, train_s, epochs, t in rows:
        n = " / ".join(f"{t['neural'][m]:.3f}" for m in (10, 25, 50))
        g = " / ".join(f"{t['mtgp'][m]:.3f}" for m in (10, 25, 50))
        print(f"| {size} | {align_s:.1f} | {train_s:.1f} | {epochs} | {n} | {g} |")


if __name__ == "__main__":
    main()
