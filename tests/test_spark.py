"""Hyperopt's ``SparkTrials`` on a real local Spark (pyspark, a JVM, local mode on loopback), with
``MetaAlgo(...).suggest`` as the algo: the driver calls it while earlier trials run on executors."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from _needs import need
from hyperopt import JOB_STATE_NEW, JOB_STATE_RUNNING, STATUS_OK, Trials, fmin, hp, tpe

from hyperopt_meta import MetaAlgo

try:
    import pyspark
except ImportError:  # reported by need(): skipped locally, a failure under CI=true
    pyspark = None
need(pyspark is not None, "pyspark (pip install 'metahpo[spark]')", module=True)
need(shutil.which("java") is not None, "a Java runtime for Spark (Debian: default-jre-headless)", module=True)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Spark session is not provided:UserWarning"),
]

SPACE = {
    "x": hp.uniform("x", -5, 5),
    "lr": hp.loguniform("lr", np.log(1e-4), 0.0),
    "act": hp.choice("act", ["relu", "tanh"]),
    "depth": hp.quniform("depth", 1, 10, 1),
}


def make_loss(shift: float) -> Callable[[dict], dict]:
    """The objective, built in a function so that Spark's workers unpickle it by value (they
    cannot import this test module)."""

    def loss(cfg: dict) -> dict:
        time.sleep(0.3)  # trials overlap on the two executor slots
        value = (cfg["x"] - shift) ** 2 + (np.log10(cfg["lr"]) + 2) ** 2 + 0.01 * (cfg["depth"] - 4) ** 2
        return {"loss": float(value + (0.0 if cfg["act"] == "tanh" else 0.3)), "status": STATUS_OK}

    return loss


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # the workers run this interpreter, not whichever python3 is first on PATH (which may lack hyperopt)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("metahpo-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_trials_with_meta_algo(spark: object, caplog: pytest.LogCaptureFixture) -> None:
    from hyperopt.spark import SparkTrials

    prior = Trials()
    fmin(
        make_loss(1.3),
        SPACE,
        algo=tpe.suggest,
        max_evals=25,
        trials=prior,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
    )
    trials = SparkTrials(parallelism=2, spark_session=spark)
    meta = MetaAlgo(source_trials=[prior], n_startup_trials=3)
    unfinished: list[int] = []  # per call of the algo: trials that were NEW or RUNNING then

    def algo(new_ids: list[int], domain: object, trials: object, seed: int) -> list[dict]:
        docs = trials.trials  # type: ignore[attr-defined]
        unfinished.append(sum(d["state"] in (JOB_STATE_NEW, JOB_STATE_RUNNING) for d in docs))
        return meta.suggest(new_ids, domain, trials, seed)

    with caplog.at_level("WARNING", logger="hyperopt.metahpo"):
        fmin(
            make_loss(1.0),
            SPACE,
            algo=algo,
            max_evals=14,
            trials=trials,
            rstate=np.random.default_rng(0),
            show_progressbar=False,
        )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "the model fell back"
    assert len(trials.trials) == 14
    assert max(unfinished) > 0  # the driver asked while trials were still running: pending points
    assert all(t["result"]["status"] == STATUS_OK for t in trials.trials)  # every trial completed
    configs = [tuple(sorted((k, float(v[0])) for k, v in t["misc"]["vals"].items())) for t in trials.trials]
    assert len(set(configs)) == len(configs)  # no configuration twice
    # the priors were used: the first suggestion is the prior's best configuration (the portfolio)
    best_prior = min(prior.trials, key=lambda t: t["result"]["loss"])
    first = min(trials.trials, key=lambda t: t["tid"])
    assert first["misc"]["vals"] == best_prior["misc"]["vals"]
    assert min(trials.losses()) < 0.2
