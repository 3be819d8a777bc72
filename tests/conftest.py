from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    try:
        import optuna
    except ImportError:  # pragma: no cover
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


@pytest.fixture
def metahpo_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Warnings of the ``optuna.metahpo`` logger (Optuna's loggers do not propagate by default)."""
    import optuna

    optuna.logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING, logger="optuna.metahpo"):
            yield caplog
    finally:
        optuna.logging.disable_propagation()
