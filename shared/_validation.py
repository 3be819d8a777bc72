"""Small named validators and the package's warning classes."""

from __future__ import annotations

__all__ = ["MetaHPOFallbackWarning", "MetaHPOWarning", "PriorAlignmentWarning", "require"]


class MetaHPOWarning(UserWarning):
    """Base class of the warnings metahpo emits."""


class MetaHPOFallbackWarning(MetaHPOWarning):
    """A suggestion could not use the meta-learned model and fell back to a simpler strategy."""


class PriorAlignmentWarning(MetaHPOWarning):
    """Prior studies (or parts of them) could not be aligned with the target search space."""


def require(condition: bool, field: str, rule: str, value: object = None) -> None:
    """Raise ``ValueError("<field> <rule> (got <value>)")`` unless ``condition`` holds.

    Used for user input instead of ``assert``, so the message names the field and the rule.
    """
    if not condition:
        raise ValueError(f"{field} {rule} (got {value!r})")
