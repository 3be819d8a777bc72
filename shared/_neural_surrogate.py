"""The neural surrogate as the engine sees it: load the meta-trained deep-kernel GP from the
cache or train it (one process at a time), then adapt it to the target at every suggestion."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from metahpo import _neural_cache as cache
from metahpo._acqf import LogEI
from metahpo._config import EngineConfig
from metahpo._neural import AdaptedPredictor, NeuralConfig, TrainResult, meta_train
from metahpo._prior import AlignedStudy, Direction
from metahpo._runtime import derived_seed, limit_threads, seeded
from metahpo._space import SearchSpace
from metahpo._surrogate import Fitted, SurrogateUnavailable, TargetData

__all__ = ["NeuralSurrogate", "NeuralTraining"]


@dataclass
class NeuralTraining:
    """What loading or training the neural surrogate did.

    Attributes:
        result: the model, or None when another process holds the training lock.
        path: the cache file.
        trained: True when it was trained now (False: loaded from the cache).
        warm_start: the model it was fine-tuned from (trained on other priors for the same space
            and settings: bounded retraining), or None.
        warnings: e.g. a stale, foreign or corrupt cache file that was replaced.
    """

    result: TrainResult | None
    path: str
    trained: bool
    warnings: list[str]
    warm_start: str | None = None


class NeuralSurrogate:
    """Deep-kernel GP meta-trained on every aligned prior trial (:mod:`metahpo._neural`).

    Args:
        space, direction: the target's space and direction (part of the cache fingerprint).
        aligned: the prior studies in the target's encoding (non-empty).
        config: the engine's settings (``surrogate_cache``).
    """

    def __init__(
        self, space: SearchSpace, direction: Direction, aligned: Sequence[AlignedStudy], config: EngineConfig
    ) -> None:
        self._space = space
        self._direction = direction
        self._aligned = list(aligned)
        self._config = config
        self._result: TrainResult | None = None

    def fit(self, data: TargetData) -> Fitted:
        info: dict[str, Any] = {"n_prior_points": int(sum(a.X.shape[0] for a in self._aligned))}
        notes: list[str] = []
        result = self._result
        if result is None:
            training = self.train(data.device)
            notes += training.warnings
            if training.result is None:
                raise SurrogateUnavailable(
                    f"another process is training the neural surrogate ({training.path}.lock); "
                    "the multi-task GP serves meanwhile"
                )
            result = training.result
            if training.trained:
                info["neural_trained_seconds"] = round(result.seconds, 3)
                info["neural_warm_start"] = training.warm_start is not None
        with limit_threads(1), seeded(derived_seed("neural-predictor", data.seed)):
            predictor = AdaptedPredictor(
                result, data.X_obs, data.z_obs, data.X_pend, device=data.device, seed=data.seed
            )
        return Fitted(
            acquisition=LogEI(predictor, data.incumbent(data.z_obs)),
            incumbents=data.top(5),
            phase="neural",
            info=info,
            warnings=notes,
            predict=predictor,
            scale="copula",
        )

    def train(
        self,
        device: torch.device,
        *,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        force: bool = False,
        replace_file: bool = False,
    ) -> NeuralTraining:
        """Load the model from the cache, or train and cache it (``force``: always train).

        A ``surrogate_cache`` that names a ``.pt`` file (the user's, e.g. from ``metahpo train``)
        is never overwritten unless ``replace_file``: when it holds another model, the model for
        this study is trained into the default cache folder and the file is left as it is.

        When the priors changed (a study finished, the union space grew) but a model of the same
        space and settings is cached, it is fine-tuned on the current priors for a bounded number
        of epochs (:func:`metahpo._neural.meta_train`'s ``init``) instead of trained from scratch,
        so the weights cached for a set of priors depend on the models cached before it."""
        cfg = NeuralConfig()
        digest = cache.fingerprint(self._space, self._direction, self._aligned, cfg)
        family = cache.family(self._space, self._direction, cfg)
        path = cache.cache_path(self._config.surrogate_cache, digest, family)
        result, reason = (None, "missing") if force else cache.load_cached(path, digest)
        legacy = cache.legacy_path(self._config.surrogate_cache, digest)
        if result is None and reason == "missing" and not force and legacy is not None:
            result, _ = cache.load_cached(legacy, digest)  # a file of an earlier metahpo
            path = legacy if result is not None else path
        notes: list[str] = []
        users_file = str(self._config.surrogate_cache or "").endswith(".pt")
        if result is None and reason != "missing" and users_file and not replace_file:
            kept = path
            path = cache.cache_path(None, digest, family)
            notes.append(
                f"neural surrogate file {kept} is {reason}; it is left as it is and the model for "
                f"this study is cached at {path}"
            )
            result, reason = cache.load_cached(path, digest)
        if result is not None:
            self._result = result
            return NeuralTraining(result, str(path), trained=False, warnings=notes)
        if reason != "missing":
            notes.append(f"neural surrogate cache {path} is {reason}; retraining it")
        with cache.TrainingLock(path) as lock:
            if not lock.acquired and lock.error is None:
                return NeuralTraining(None, str(path), trained=False, warnings=notes)
            init, init_path = (None, "") if force else cache.newest_of_family([path, path.parent], family)
            with limit_threads(1):
                result = meta_train(
                    [(a.X, a.z) for a in self._aligned],
                    self._space.n_features,
                    config=cfg,
                    seed=0,
                    device=device,
                    on_epoch=on_epoch,
                    init=init,
                )
            meta: dict[str, Any] = {
                "space": repr(self._space.signature()),
                "direction": self._direction,
                "studies": len(self._aligned),
            }
            if init is not None:
                meta["warm_start"] = init_path
            unwritable: OSError | None = lock.error
            if unwritable is None:
                try:
                    cache.save_cached(path, result, digest, meta, family)
                except OSError as e:  # a full disk, say: the model serves this process all the same
                    unwritable = e
            if unwritable is not None and replace_file:
                raise unwritable  # ``metahpo train``: writing the file is the point
            if unwritable is not None:
                notes.append(
                    f"neural surrogate cache {path} cannot be written ({type(unwritable).__name__}: "
                    f"{unwritable}); the model is kept in memory for this process, not cached"
                )
        self._result = result
        return NeuralTraining(result, str(path), trained=True, warnings=notes, warm_start=init_path or None)
