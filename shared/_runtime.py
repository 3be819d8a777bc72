"""Where torch runs: intra-op threads, the device, and what to do when a GPU runs out of memory."""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from metahpo._lazy import LazyImport

if TYPE_CHECKING:
    import torch
else:
    torch = LazyImport("torch")

__all__ = ["derived_seed", "is_cuda_oom", "limit_threads", "resolve_device", "seeded", "threads_for"]

# Below this many training points one thread is faster than two on small GP algebra (10-25x
# spikes with 2 threads on 2 cores); around 1,000 points two threads are 1.5-2x faster.
_ONE_THREAD_BELOW = 600
_THREADS_LOCK = threading.RLock()


def threads_for(n_points: int) -> int:
    """Intra-op threads for a model with ``n_points`` training points."""
    return 1 if n_points < _ONE_THREAD_BELOW else 2


@contextmanager
def limit_threads(n_threads: int = 1) -> Iterator[None]:
    """Run torch with ``n_threads`` intra-op threads, restoring the caller's setting afterwards.

    torch's setting is process-wide: one module-level lock lets one suggestion at a time change
    it (engines in several threads would otherwise restore each other's values).  The
    ``OPENBLAS_NUM_THREADS`` variable is set for libraries loaded meanwhile (an OpenBLAS already
    loaded keeps its own setting)."""
    with _THREADS_LOCK:
        old = torch.get_num_threads()
        old_env = os.environ.get("OPENBLAS_NUM_THREADS")
        os.environ["OPENBLAS_NUM_THREADS"] = str(n_threads)
        torch.set_num_threads(n_threads)
        try:
            yield
        finally:
            torch.set_num_threads(old)
            if old_env is None:
                os.environ.pop("OPENBLAS_NUM_THREADS", None)
            else:
                os.environ["OPENBLAS_NUM_THREADS"] = old_env


def resolve_device(device: str) -> tuple[torch.device, str | None]:
    """Map ``"auto" | "cpu" | "cuda" | "cuda:N"`` to a torch device.

    Returns:
        The device, and a warning message when ``cuda`` was asked for but is not available.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu"), None
    if device.startswith("cuda") and not torch.cuda.is_available():
        return torch.device("cpu"), f"device={device!r} requested but CUDA is not available; using CPU"
    return torch.device(device), None


def is_cuda_oom(error: BaseException) -> bool:
    """Whether ``error`` is a CUDA out-of-memory error."""
    return type(error).__name__ == "OutOfMemoryError" or "CUDA out of memory" in str(error)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run with torch's generators seeded by ``seed`` and give the caller's states back afterwards:
    the CPU generator and, where CUDA is initialised, every CUDA device's (``torch.manual_seed``
    seeds those too, so they are saved and restored as well).

    Torch has one generator per process, so another thread that draws from it meanwhile (a user's
    objective on ``n_jobs > 1``) draws from the seeded stream.  A block that runs again and again
    (every suggestion, every fit) therefore takes a seed of its own (a suggestion's, or
    :func:`derived_seed` of it or of the data), not a constant and not its enclosing block's: a
    stream that restarts would hand that thread the same numbers a second time."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []  # type: ignore[no-untyped-call]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def derived_seed(*parts: int | str | np.ndarray) -> int:
    """A seed in ``[0, 2**31)`` that is a fixed function of ``parts``, the same in every process,
    run and platform (unlike ``hash``): ints and strings by value, numeric NumPy arrays by dtype,
    shape and little-endian C-order bytes.

    Raises:
        TypeError: for anything else (a tensor, a list, an object array: their bytes or ``repr``
            would not identify them).
    """
    crc = 0
    for part in parts:
        if isinstance(part, np.ndarray) and part.dtype.kind in "biuf":
            a = part.astype(part.dtype.newbyteorder("<"), copy=False)
            head, data = f"array:{a.dtype.str}:{a.shape}", a.tobytes(order="C")
        elif isinstance(part, (int, np.integer)):
            head, data = "int", str(int(part)).encode()
        elif isinstance(part, str):
            head, data = "str", part.encode()
        else:
            raise TypeError(
                f"derived_seed takes ints, strings and numeric NumPy arrays, got {type(part).__name__}"
            )
        crc = zlib.crc32(data, zlib.crc32(head.encode(), crc))
    return crc & 0x7FFFFFFF
