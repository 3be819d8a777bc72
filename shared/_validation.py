"""Small named validators for user input (instead of ``assert``)."""

from __future__ import annotations

import numbers
import os
import re

__all__ = ["require", "require_device", "require_int", "require_path", "require_real"]


def require(condition: bool, field: str, rule: str, value: object = None) -> None:
    """Raise ``ValueError("<field> <rule> (got <value>)")`` unless ``condition`` holds, so the
    message names the field and the rule."""
    if not condition:
        raise ValueError(f"{field} {rule} (got {value!r})")


def require_int(value: object, field: str, minimum: int) -> None:
    """``value`` is an integer (not a bool) of at least ``minimum``."""
    require(
        isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= minimum,
        field,
        f"must be an integer >= {minimum}",
        value,
    )


def require_real(value: object, field: str, low: float, high: float) -> None:
    """``value`` is a real number (not a bool) in ``[low, high]``."""
    require(
        isinstance(value, numbers.Real) and not isinstance(value, bool) and low <= float(value) <= high,
        field,
        f"must be a number in [{low:g}, {high:g}]",
        value,
    )


def require_device(value: object, field: str = "device") -> None:
    """``value`` is ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    require(
        isinstance(value, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", value) is not None,
        field,
        "must be 'auto', 'cpu', 'cuda' or 'cuda:N'",
        value,
    )


def require_path(value: object, field: str) -> None:
    """``value`` is None, a string or an ``os.PathLike``."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{field} must be a path (str or os.PathLike) or None (got {type(value).__name__})")
