"""Tests that need a service or a data set: skipped on a developer's machine without it, failed
under ``CI=true`` (CI must test what it claims to test)."""

from __future__ import annotations

import os

import pytest


def need(available: bool, what: str, *, module: bool = False) -> None:
    """Skip (or under ``CI=true`` fail) unless ``available``; ``module`` for a module-level call."""
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is missing; under CI=true a test never skips for it", pytrace=False)
    pytest.skip(f"{what} is missing", allow_module_level=module)
