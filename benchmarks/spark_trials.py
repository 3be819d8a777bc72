"""Hyperopt on a real local Spark: ``SparkTrials(parallelism=P)`` with MetaAlgo against tpe.suggest,
and MetaAlgo with serial ``Trials`` (same objective, same priors, same seeds).

The objective sleeps to stand in for a training run, so that trials overlap on the executors and
the driver asks the algo while earlier trials are still NEW or RUNNING (they are pending points).
Each row: median over seeds of the best loss, the wall time, and the totals of repeated
configurations and failed trials.  Needs pyspark and a Java runtime (``pip install 'metahpo[spark]'``).

Run: python benchmarks/spark_trials.py [--evals 20] [--seeds 3] [--parallelism 2] [--sleep 0.5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
from hyperopt import STATUS_OK, Trials, fmin, hp, tpe

from hyperopt_meta import MetaAlgo

SPACE = {
    "lr": hp.loguniform("lr", np.log(1e-4), 0.0),
    "depth": hp.quniform("depth", 1, 12, 1),
    "subsample": hp.uniform("subsample", 0.3, 1.0),
    "booster": hp.choice("booster", ["gbtree", "dart", "gblinear"]),
}


def make_loss(shift: float, sleep: float) -> Callable[[dict], dict]:
    """A boosted-trees-like validation loss on one data set; ``shift`` moves its optimum."""

    def loss(cfg: dict) -> dict:
        time.sleep(sleep)
        value = (
            0.2 * (np.log10(cfg["lr"]) + 2.0 + shift) ** 2
            + 0.01 * (cfg["depth"] - 6 - 2 * shift) ** 2
            + 0.5 * (cfg["subsample"] - 0.8) ** 2
            + {"gbtree": 0.0, "dart": 0.02, "gblinear": 0.15}[cfg["booster"]]
        )
        return {"loss": float(value), "status": STATUS_OK}

    return loss


def priors(n: int = 3, evals: int = 40) -> list[Trials]:
    out = []
    for i, shift in enumerate(np.linspace(-0.3, 0.3, n)):
        trials = Trials()
        fmin(
            make_loss(float(shift), 0.0),
            SPACE,
            algo=tpe.suggest,
            max_evals=evals,
            trials=trials,
            rstate=np.random.default_rng(100 + i),
            show_progressbar=False,
        )
        out.append(trials)
    return out


def run(spark: object, method: str, sources: list[Trials], args: argparse.Namespace, seed: int) -> dict:
    from hyperopt.spark import SparkTrials

    trials = Trials() if method.endswith("Trials") else SparkTrials(args.parallelism, spark_session=spark)
    algo = tpe.suggest if method.startswith("tpe") else MetaAlgo(source_trials=sources).suggest
    t0 = time.perf_counter()
    fmin(
        make_loss(0.1, args.sleep),
        SPACE,
        algo=algo,
        max_evals=args.evals,
        trials=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    wall = time.perf_counter() - t0
    configs = [tuple(sorted((k, float(v[0])) for k, v in t["misc"]["vals"].items())) for t in trials.trials]
    return {
        "best": min(trials.losses()),
        "wall": wall,
        "repeats": len(configs) - len(set(configs)),
        "failed": sum(t["result"].get("status") != STATUS_OK for t in trials.trials),
        "n": len(trials.trials),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evals", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--sleep", type=float, default=0.5)
    args = parser.parse_args()

    import pyspark
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = (
        SparkSession.builder.master(f"local[{args.parallelism}]")
        .appName("metahpo-bench")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    sources = priors()
    methods = (
        f"MetaAlgo, SparkTrials({args.parallelism})",
        f"tpe.suggest, SparkTrials({args.parallelism})",
        "MetaAlgo, Trials",
    )
    rows = {m: [run(spark, m, sources, args, seed) for seed in range(args.seeds)] for m in methods}
    spark.stop()
    print(
        f"\npyspark {pyspark.__version__}; {args.evals} evaluations of {args.sleep} s each, "
        f"median of {args.seeds} seeds (optimum 0.0)\n"
    )
    print("| algo, trials | best loss | wall s | repeated configs | failed | trials run |")
    print("|---|---:|---:|---:|---:|---:|")
    for m, rs in rows.items():
        print(
            f"| {m} | {statistics.median(r['best'] for r in rs):.4f} | "
            f"{statistics.median(r['wall'] for r in rs):.1f} | {sum(r['repeats'] for r in rs)} | "
            f"{sum(r['failed'] for r in rs)} | {sum(r['n'] for r in rs)} |"
        )


if __name__ == "__main__":
    main()
