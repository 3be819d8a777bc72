from __future__ import annotations

import warnings

import pytest


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    try:
        import optuna
    except ImportError:  # pragma: no cover
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
