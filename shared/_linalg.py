"""The one Cholesky factorisation with a jitter fallback that every GP here uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metahpo._lazy import LazyImport

if TYPE_CHECKING:
    import torch
else:
    torch = LazyImport("torch")

__all__ = ["robust_cholesky"]


def robust_cholesky(K: torch.Tensor, first_jitter: float) -> torch.Tensor:
    """Lower Cholesky factor of ``K`` (``(..., n, n)``, symmetric positive semi-definite).

    When the factorisation fails (round-off on nearly equal rows), ``jitter * I`` is added with
    ``jitter = first_jitter, 10 first_jitter, ...`` below 1, as GPyTorch's ``psd_safe_cholesky``
    does; the last attempt is returned whatever its status.
    """
    L, info = torch.linalg.cholesky_ex(K)
    jitter = first_jitter
    while bool((info != 0).any()) and jitter < 1.0:
        eye = torch.eye(K.shape[-1], dtype=K.dtype, device=K.device)
        L, info = torch.linalg.cholesky_ex(K + jitter * eye)
        jitter *= 10.0
    factor: torch.Tensor = L
    return factor
