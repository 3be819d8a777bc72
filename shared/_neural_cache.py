"""Disk cache of meta-trained neural surrogates: a fingerprint of everything a model depends
on, atomic writes, validation on read, and a lock file so that one process trains at a time."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metahpo._neural import DeepKernelGP, NeuralConfig, TrainResult
from metahpo._prior import AlignedStudy
from metahpo._space import SearchSpace

__all__ = [
    "CACHE_FORMAT",
    "TrainingLock",
    "cache_path",
    "family",
    "fingerprint",
    "legacy_path",
    "load_cached",
    "newest_of_family",
    "save_cached",
]

CACHE_FORMAT = "metahpo-dkgp/1"
_LOCK_STALE_SECONDS = 1800.0


def fingerprint(
    space: SearchSpace, direction: str, studies: Sequence[AlignedStudy], config: NeuralConfig
) -> str:
    """A hex digest of everything the model depends on: the format, the target space, the
    direction, the settings and every aligned prior point (configurations, scores; not the
    studies' names: an unnamed in-memory Optuna study gets a new one in every process)."""
    h = hashlib.sha256()
    h.update(CACHE_FORMAT.encode())
    h.update(repr(space.signature()).encode())
    h.update(direction.encode())
    h.update(json.dumps(asdict(config), sort_keys=True).encode())
    for s in sorted(studies, key=lambda s: (s.content_seed, s.X.shape, s.z.size)):
        h.update(np.ascontiguousarray(s.X, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(s.z, dtype=np.float64).tobytes())
    return h.hexdigest()


def family(space: SearchSpace, direction: str, config: NeuralConfig) -> str:
    """A hex digest of what a model's weights fit regardless of the prior data (format, space,
    direction, settings): a model of the same family is a warm start when the priors change."""
    h = hashlib.sha256()
    h.update(CACHE_FORMAT.encode())
    h.update(repr(space.signature()).encode())
    h.update(direction.encode())
    h.update(json.dumps(asdict(config), sort_keys=True).encode())
    return h.hexdigest()


def cache_path(location: str | os.PathLike[str] | None, digest: str, family: str = "") -> Path:
    """``location`` a ``.pt`` file: that file; a folder (or None: ``$METAHPO_CACHE_DIR``, else
    ``~/.cache/metahpo``): ``<folder>/dkgp-<family[:10]>-<digest[:20]>.pt``."""
    if location is not None and str(location).endswith(".pt"):
        return Path(location)
    return _folder(location) / f"dkgp-{family[:10]}-{digest[:20]}.pt"


def legacy_path(location: str | os.PathLike[str] | None, digest: str) -> Path | None:
    """Where metahpo before the family-named files cached the same model (None for a ``.pt``)."""
    if location is not None and str(location).endswith(".pt"):
        return None
    return _folder(location) / f"dkgp-{digest[:20]}.pt"


def _folder(location: str | os.PathLike[str] | None) -> Path:
    return Path(
        location or os.environ.get("METAHPO_CACHE_DIR") or Path.home() / ".cache" / "metahpo"
    ).expanduser()


def newest_of_family(paths: Sequence[Path], family: str) -> tuple[TrainResult | None, str]:
    """The most recently written readable model among ``paths`` (and, for folders among them,
    their ``dkgp-<family[:10]>-*.pt`` files) whose family is ``family``, and its path; ``(None,
    "")`` when there is none."""
    files: list[Path] = []
    for p in paths:
        files += sorted(p.glob(f"dkgp-{family[:10]}-*.pt")) if p.is_dir() else [p] if p.is_file() else []
    stamped = []
    for f in set(files):
        with contextlib.suppress(OSError):  # removed meanwhile by another process
            stamped.append((f.stat().st_mtime_ns, f))
    for _, f in sorted(stamped, reverse=True):
        result, _ = load_cached(f, None, family=family)
        if result is not None:
            return result, str(f)
    return None, ""


def save_cached(path: Path, result: TrainResult, digest: str, meta: dict[str, Any], family: str = "") -> None:
    """Write atomically: a temporary file in the same folder, then ``os.replace``; readers see the
    old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CACHE_FORMAT,
        "fingerprint": digest,
        "family": family,
        "n_features": result.n_features,
        "config": json.dumps(asdict(result.config)),
        "history": json.dumps(result.history),
        "meta": json.dumps(meta),
        "seconds": result.seconds,
        "device": result.device,
        "state": result.state,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_cached(path: Path, digest: str | None, *, family: str = "") -> tuple[TrainResult | None, str]:
    """Read a cached model if it is exactly the one wanted (``digest``), or with ``digest`` None
    any model of ``family``.

    Returns:
        ``(result, "ok")``, or ``(None, reason)`` with reason ``"missing"``, ``"corrupt: ..."``
        (unreadable or truncated), ``"foreign: ..."`` (not a metahpo model of this format) or
        ``"stale: ..."`` (another knowledge base, space or setting).  Never trusts a mismatch.
    """
    if not path.exists():
        return None, "missing"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, garbage, or a pickle that weights_only refuses
        return None, f"corrupt: {type(e).__name__}: {str(e)[:200]}"
    if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
        return None, f"foreign: not a {CACHE_FORMAT} file"
    if digest is None and (not family or payload.get("family") != family):
        return None, "stale: a model of another space or settings"
    if digest is not None and payload.get("fingerprint") != digest:
        return None, "stale: trained on another knowledge base, space or settings"
    try:
        config = NeuralConfig(**json.loads(payload["config"]))
        result = TrainResult(
            state=dict(payload["state"]),
            history=list(json.loads(payload["history"])),
            n_features=int(payload["n_features"]),
            config=config,
            seconds=float(payload["seconds"]),
            device=str(payload["device"]),
        )
        # the weights must fit the architecture they claim: checked on a module built on the meta
        # device, which draws nothing from torch's generator (loading a model must leave the
        # caller's generator as training it does, or a seeded study would depend on the cache)
        with torch.device("meta"):
            check = DeepKernelGP(result.n_features, config.hidden, config.features).double()
        check.load_state_dict(result.state, assign=True)
    except Exception as e:
        return None, f"corrupt: {type(e).__name__}: {str(e)[:200]}"
    return result, "ok"


class TrainingLock:
    """An exclusive lock file next to the cache path: one process trains, the others see
    ``acquired`` False and use the multi-task GP meanwhile.  A lock older than 30 minutes is
    taken to be left by a crashed process and is broken.  Where the folder cannot be written,
    ``error`` holds why (and ``acquired`` is False)."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self.acquired = False
        self.error: OSError | None = None  # the cache folder cannot be written (then not acquired)

    def __enter__(self) -> TrainingLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self.error = e
            return self
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    age = time.time() - self.path.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age > _LOCK_STALE_SECONDS:
                    self.path.unlink(missing_ok=True)
                    continue
                return self
            except OSError as e:
                self.error = e
                return self
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            self.acquired = True
            return self
        return self

    def __exit__(self, *exc: object) -> None:
        if self.acquired:
            self.path.unlink(missing_ok=True)
            self.acquired = False
