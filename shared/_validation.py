"""Small named validators for user input (instead of ``assert``)."""

from __future__ import annotations

__all__ = ["require"]


def require(condition: bool, field: str, rule: str, value: object = None) -> None:
    """Raise ``ValueError("<field> <rule> (got <value>)")`` unless ``condition`` holds, so the
    message names the field and the rule."""
    if not condition:
        raise ValueError(f"{field} {rule} (got {value!r})")
