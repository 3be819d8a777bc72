"""What every framework adapter needs from the core besides the engine: reading prior sources
with per-source fault isolation, logging a message once, plain Python values."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from metahpo._kb import KnowledgeBase
from metahpo._prior import PriorStudy

__all__ = ["PriorSource", "WarnOnce", "as_knowledge_base", "plain", "read_priors"]

# A label for messages and a function that reads the prior studies of one source.
PriorSource = tuple[str, Callable[[], Sequence[PriorStudy]]]


class WarnOnce:
    """Log each distinct ``key``'s message at WARNING the first time, at DEBUG afterwards
    (thread-safe, picklable)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, key: str, message: str) -> None:
        with self._lock:
            first = key not in self._seen
            self._seen.add(key)
        (self._logger.warning if first else self._logger.debug)(message)

    def __getstate__(self) -> dict[str, Any]:
        return {"logger": self._logger.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(logging.getLogger(state["logger"]))  # type: ignore[misc]


def read_priors(sources: Sequence[PriorSource], warn: WarnOnce, reader: str) -> list[PriorStudy]:
    """The prior studies of every source; a source that cannot be read (unreachable server,
    missing or corrupt file, a value the target cannot hold) is reported once through ``warn``
    and left out, so the study goes on with the others.

    Args:
        sources: ``(label, read)`` pairs.
        warn: where the report goes.
        reader: who reads (``"MetaSampler"``), for the message.
    """
    priors: list[PriorStudy] = []
    for label, read in sources:
        try:
            priors += read()
        except Exception as e:
            warn(
                f"source:{label}",
                f"{reader} could not read prior studies from {label} ({type(e).__name__}: {e}); "
                "continuing without them.",
            )
    return priors


def as_knowledge_base(value: str | KnowledgeBase | None) -> KnowledgeBase | None:
    """``knowledge_base=`` as the adapters take it: a SQLAlchemy URL, a
    :class:`metahpo.KnowledgeBase` or None (connects on first use, never here)."""
    if value is None or isinstance(value, KnowledgeBase):
        return value
    if isinstance(value, str):
        return KnowledgeBase(value)
    raise TypeError(
        f"knowledge_base must be a SQLAlchemy URL or a metahpo.KnowledgeBase (got {type(value).__name__})"
    )


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python scalar it holds; anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value
