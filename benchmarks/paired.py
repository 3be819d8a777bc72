"""Is a change better, worse or within the benchmark's scatter? Paired regrets, pooled over cells.

Each argument is one cell: ``BASE:NEW``, two ``metahpo bench`` ``results.json`` files of the same
settings (problem, split, tasks, seeds, budget) made before and after a change. Within a cell every
(task, seed) pair is normalised once over both runs (best and worst known from the task's scan and
both runs); the pairs of all cells are pooled::

    metahpo bench --methods meta --budget 100 --split-seed 0 --out /tmp/base-0 ...   # before
    metahpo bench --methods meta --budget 100 --split-seed 0 --out /tmp/new-0 ...    # after
    python benchmarks/paired.py --data ../shared/data /tmp/base-0/results.json:/tmp/new-0/results.json ...

It prints each cell's mean regret before -> after, then per budget the pooled mean difference (new
- base) with a bootstrap 95% interval (whole tasks drawn, a task's seeds together, as they are not
independent), the pairs better / worse by more than ``--threshold`` and a sign test on them. A
sequential optimiser's run parts from another at its first differing proposal, so single cells move
both ways between two equally good engines; an interval that excludes 0 over many tasks is the
evidence to keep (or drop) a change.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from metahpo_cli.bench import load_problem, paired_comparison, regret_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the benchmark data folder")
    parser.add_argument("--method", default="meta", help="the method compared in both files (default: meta)")
    parser.add_argument(
        "--budgets", default="10,25,50,100", help="comma-separated budgets (default: 10,25,50,100)"
    )
    parser.add_argument("--threshold", type=float, default=0.005, help="pairs differ beyond this")
    parser.add_argument("cells", nargs="+", help="BASE_results.json:NEW_results.json, one per cell")
    args = parser.parse_args()
    try:
        args.budgets = [int(b) for b in args.budgets.split(",")]
    except ValueError:
        parser.error(f"--budgets: expected comma-separated integers, got {args.budgets!r}")
    pooled: dict[int, tuple[list[float], list[float], list[str]]] = {b: ([], [], []) for b in args.budgets}
    print("| cell | base @" + " / @".join(map(str, args.budgets)) + " | new |")
    print("|---|---|---|")
    for ci, cell in enumerate(args.cells):
        base_path, sep, new_path = cell.partition(":")
        if not sep:
            parser.error(f"cell {cell!r}: expected BASE_results.json:NEW_results.json")
        base, new = json.loads(Path(base_path).read_text()), json.loads(Path(new_path).read_text())
        for key in ("split_seed", "seeds", "budget", "test_tasks"):
            if base["config"].get(key) != new["config"].get(key):
                parser.error(f"cell {cell!r}: the two runs differ in {key} (the same settings are compared)")
        split = int(base["config"]["split_seed"])
        for pname, res in base["problems"].items():
            if pname not in new["problems"]:
                parser.error(f"cell {cell!r}: problem {pname} is missing from {new_path}")
            problem = load_problem(Path(args.data), pname)
            rows: dict[str, list[np.ndarray]] = {"base": [], "new": []}
            labels: list[str] = []
            for task in res["test_tasks"]:
                runs = {
                    "base": res["runs"][args.method][task],
                    "new": new["problems"][pname]["runs"][args.method][task],
                }
                if len(runs["base"]) != len(runs["new"]):
                    parser.error(
                        f"cell {cell!r}: task {task} has {len(runs['base'])} and {len(runs['new'])} runs"
                    )
                scan = problem.scan(task, np.random.default_rng(split))
                curves = regret_rows(problem.kind, runs, scan, problem.log_objectives)
                for k in rows:
                    rows[k] += curves[k]
                labels += [f"{ci}/{pname}/{task}"] * len(runs["base"])
            R = {k: np.vstack(v) for k, v in rows.items()}
            budgets = [b for b in args.budgets if b <= R["base"].shape[1]]
            for b in budgets:
                pooled[b][0].extend(R["base"][:, b - 1])
                pooled[b][1].extend(R["new"][:, b - 1])
                pooled[b][2].extend(labels)
            means = {k: " / ".join(f"{R[k][:, b - 1].mean():.4f}" for b in budgets) for k in R}
            print(f"| {pname} split {split} | {means['base']} | {means['new']} |")
    print()
    print("(interval: bootstrap over tasks, a task's seeds drawn together)")
    print("| budget | pairs | mean new - base | 95% interval | better / worse | sign test p |")
    print("|---|---:|---:|---|---|---:|")
    for b, (bs, ns, groups) in pooled.items():
        if not bs:
            continue
        c = paired_comparison(np.asarray(bs), np.asarray(ns), groups=groups, threshold=args.threshold)
        interval = f"[{c.low:+.4f}, {c.high:+.4f}]"
        print(f"| @{b} | {c.n} | {c.mean:+.4f} | {interval} | {c.better} / {c.worse} | {c.p_sign:.2f} |")


if __name__ == "__main__":
    main()
