"""Deferred imports: ``torch = LazyImport("torch")`` declared once at the top of a module, the
import itself happening at the first attribute access (as Optuna's ``_LazyImport``)."""

from __future__ import annotations

import importlib
import types
from typing import Any

__all__ = ["LazyImport"]


class LazyImport(types.ModuleType):
    """A stand-in for module ``name`` that imports it on first use."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._name = name

    def _load(self) -> types.ModuleType:
        module = importlib.import_module(self._name)
        self.__dict__.update(module.__dict__)
        return module

    def __getattr__(self, item: str) -> Any:
        return getattr(self._load(), item)
