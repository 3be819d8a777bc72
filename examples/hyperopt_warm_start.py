"""Warm-start a Hyperopt fmin run from an earlier run, and share history through a knowledge base.

Run: python examples/hyperopt_warm_start.py
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from hyperopt import Trials, fmin, hp, space_eval, tpe

from hyperopt_meta import MetaAlgo, record_trials

SPACE = {
    "lr": hp.loguniform("lr", np.log(1e-5), np.log(1e-1)),
    "depth": hp.quniform("depth", 2, 12, 1),
    "booster": hp.choice("booster", ["gbtree", "dart", "gblinear"]),
}


def loss_for(shift: float):  # type: ignore[no-untyped-def]
    def loss(cfg: dict) -> float:
        penalty = {"gbtree": 0.0, "dart": 0.05, "gblinear": 0.3}[cfg["booster"]]
        return float((np.log10(cfg["lr"]) + 2.5 + shift) ** 2 + 0.02 * (cfg["depth"] - 7) ** 2 + penalty)

    return loss


def main() -> None:
    kb = f"sqlite:///{os.path.join(tempfile.mkdtemp(), 'kb.db')}"
    old = Trials()
    fmin(
        loss_for(0.2),
        SPACE,
        algo=tpe.suggest,
        max_evals=40,
        trials=old,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
    )
    record_trials(old, SPACE, kb, "xgb-dataset-a")  # now Optuna users of kb.db see it too

    trials = Trials()
    best = fmin(
        loss_for(0.1),
        SPACE,
        algo=MetaAlgo(knowledge_base=kb).suggest,
        max_evals=12,
        trials=trials,
        rstate=np.random.default_rng(1),
        show_progressbar=False,
    )
    print("losses:", np.round(trials.losses(), 4).tolist())
    print("best:", space_eval(SPACE, best))


if __name__ == "__main__":
    main()
