"""Compare ``metahpo bench`` runs of the same settings made with and without a change (an ablation).

Each run's ``results.json`` is given a label; the meta-learning methods of every run are renamed
``<method>@<label>``, the baselines are taken from the first run, and everything is normalised
together (best and worst known from the task scans and from every curve of every run), so the
tables compare like with like::

    metahpo bench --methods meta gp --seeds 2 --budget 50 --out /tmp/base ...   # before the change
    metahpo bench --methods meta --seeds 2 --budget 50 --out /tmp/new ...       # after, same settings
    python benchmarks/ablation.py --data ../shared/data base=/tmp/base/results.json new=/tmp/new/results.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from metahpo_cli.bench import BenchConfig, format_report, load_problem, summarise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the benchmark data folder")
    parser.add_argument("runs", nargs="+", help="LABEL=path/to/results.json (the first gives the baselines)")
    args = parser.parse_args()
    loaded = []
    for spec in args.runs:
        label, _, path = spec.partition("=")
        loaded.append((label, json.loads(Path(path).read_text())))
    first = loaded[0][1]
    cfg = BenchConfig(**{**first["config"], "problems": tuple(first["config"]["problems"])})
    for pname, base in first["problems"].items():
        runs: dict[str, dict[str, list[dict[str, object]]]] = {}
        for i, (label, res) in enumerate(loaded):
            if pname not in res["problems"]:
                continue
            for m, by_task in res["problems"][pname]["runs"].items():
                if m.startswith("meta") or m.startswith("hyperopt-meta"):
                    runs[f"{m}@{label}"] = by_task
                elif i == 0:
                    runs[m] = by_task
        problem = load_problem(Path(args.data), pname)
        scans = {t: problem.scan(t, np.random.default_rng(cfg.split_seed)) for t in base["test_tasks"]}
        summary = summarise(runs, scans, cfg.budget, problem)
        print("\n".join(format_report(pname, summary, len(base["prior_tasks"]), cfg)))


if __name__ == "__main__":
    main()
