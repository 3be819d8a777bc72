"""``metahpo bench``: MetaSampler against the baselines a user would pick, on real prior-study data.

Public for scripts (``benchmarks/``): :class:`BenchConfig` and :func:`run_bench` (the command),
:func:`load_problem` and :class:`Problem` (the problems), :func:`lcbench_curve` (lcbench's
learning curves, for studies with a pruner), :func:`build_priors` (prior studies in an
Optuna storage), :func:`run_one` (one optimisation run), :func:`regret_rows` (regret curves of
one task's runs) and :func:`paired_comparison` (a change's effect on paired regrets).
"""

from metahpo_cli.bench._metrics import PairedComparison, paired_comparison, regret_rows
from metahpo_cli.bench._problems import Problem, lcbench_curve, load_problem
from metahpo_cli.bench._runner import (
    METHODS,
    BenchConfig,
    build_priors,
    format_report,
    run_bench,
    run_one,
    summarise,
)

__all__ = [
    "METHODS",
    "BenchConfig",
    "PairedComparison",
    "Problem",
    "build_priors",
    "format_report",
    "lcbench_curve",
    "load_problem",
    "paired_comparison",
    "regret_rows",
    "run_bench",
    "run_one",
    "summarise",
]
