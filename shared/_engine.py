"""The framework-neutral meta-learning engine behind both adapters.

One call of :meth:`MetaEngine.suggest` turns (target space, target history, pending
configurations, prior studies) into one configuration, in one of these phases:

``portfolio``
    fewer than ``n_startup_trials`` target results and usable priors: the next configuration of
    the greedy zero-shot portfolio (:mod:`metahpo._portfolio`) that is not observed or pending.
``startup``
    fewer than ``n_startup_trials`` target results and no usable prior (or the portfolio is
    used up before the first result): a uniformly random legal configuration.
``mtgp`` / ``gp``
    a multi-task GP over the target and the most similar prior studies (or a single-task GP when
    no prior is usable), maximising LogEI (:mod:`metahpo._gp`).
``neural``
    with ``surrogate="neural"`` (or ``"auto"`` and a large knowledge base): a deep-kernel GP
    meta-trained on every aligned prior trial (:mod:`metahpo._neural`, cached on disk by a
    fingerprint of the priors and the space), fine-tuned on and conditioned on the target's results.

Costs are bounded: alignment and the portfolio are computed once per target space; the prior
points a GP keeps are capped (``max_prior_points``; per study the best half of its quota plus a
fixed random half of the rest); the set of prior tasks is re-chosen only when the target history
has grown by half since the last choice; the GP's hyper-parameters are warm-started from the last
fit of the same task set (or of the previous task set when the choice of prior tasks changes) and
re-optimised at every suggestion only while the target history is short; later, whenever it has
grown by 10% (the model is conditioned on every new result in any case).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metahpo._prior import AlignedStudy, AlignmentReport, Direction, PriorStudy, align_studies
from metahpo._space import CategoricalParam, SearchSpace
from metahpo._validation import require

__all__ = ["EngineConfig", "MetaEngine", "Suggestion"]

# Hyper-parameters are re-optimised at every suggestion while the target history is short, then
# whenever it has grown by 10% since they were last optimised (conditioning on new data in between).
_REFIT_EVERY_TRIAL_BELOW = 20
SURROGATES = ("auto", "mtgp", "neural")
_REFIT_GROWTH = 1.1


@dataclass(frozen=True)
class EngineConfig:
    """Settings of :class:`MetaEngine` (see the adapters' docstrings for their meaning)."""

    n_startup_trials: int | None = None
    max_source_studies: int = 8
    max_points_per_study: int = 48
    max_prior_points: int = 256
    min_overlap: float = 0.5
    n_candidates: int = 1024
    fit_maxiter_cold: int = 60
    fit_maxiter_warm: int = 12
    device: str = "auto"
    surrogate: str = "auto"
    surrogate_cache: str | None = None
    neural_min_prior_trials: int = 2000

    def __post_init__(self) -> None:
        if self.n_startup_trials is not None:
            require(self.n_startup_trials >= 0, "n_startup_trials", "must be >= 0", self.n_startup_trials)
        require(self.max_source_studies >= 0, "max_source_studies", "must be >= 0", self.max_source_studies)
        require(
            self.max_points_per_study >= 2, "max_points_per_study", "must be >= 2", self.max_points_per_study
        )
        require(self.max_prior_points >= 0, "max_prior_points", "must be >= 0", self.max_prior_points)
        require(0.0 <= self.min_overlap <= 1.0, "min_overlap", "must lie in [0, 1]", self.min_overlap)
        require(self.n_candidates >= 16, "n_candidates", "must be >= 16", self.n_candidates)
        require(
            self.fit_maxiter_cold >= 1 and self.fit_maxiter_warm >= 1,
            "fit_maxiter_*",
            "must be >= 1",
            (self.fit_maxiter_cold, self.fit_maxiter_warm),
        )
        require(
            isinstance(self.device, str)
            and (self.device in ("auto", "cpu") or self.device.startswith("cuda")),
            "device",
            "must be 'auto', 'cpu', 'cuda' or 'cuda:N'",
            self.device,
        )

        require(
            self.surrogate in SURROGATES,
            "surrogate",
            f"must be one of {', '.join(SURROGATES)}",
            self.surrogate,
        )
        require(
            self.neural_min_prior_trials >= 0,
            "neural_min_prior_trials",
            "must be >= 0",
            self.neural_min_prior_trials,
        )

    def use_neural(self, n_prior_trials: int) -> bool:
        """``surrogate="auto"`` picks the neural surrogate once the aligned prior trials are at
        least ``neural_min_prior_trials`` (default 2,000: from there the multi-task GP keeps at most
        ``max_prior_points`` of them, an eighth or less)."""
        if self.surrogate == "auto":
            return n_prior_trials >= self.neural_min_prior_trials
        return self.surrogate == "neural"

    def startup_trials(self, has_priors: bool) -> int:
        if self.n_startup_trials is not None:
            return self.n_startup_trials
        return 3 if has_priors else 10


@dataclass
class Suggestion:
    """What the engine proposes.

    Attributes:
        params: the configuration.
        phase: ``portfolio``, ``startup``, ``mtgp`` or ``gp``.
        info: diagnostics (JSON-serialisable) for logs and trial attributes.
    """

    params: dict[str, Any]
    phase: str
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class _SpaceState:
    aligned: list[AlignedStudy]
    report: AlignmentReport
    portfolio: np.ndarray
    selected: list[int] | None = None
    selected_at: int = 0
    # task set -> (hyper-parameters of its last fit, target size when they were last optimised)
    warm: dict[tuple[str, ...], tuple[dict[str, Any], int]] = field(default_factory=dict)
    last_state: dict[str, Any] | None = None
    neural: Any = None  # metahpo._neural.TrainResult once trained or loaded
    neural_note: str | None = None  # why the neural surrogate is not used (reported once)


class MetaEngine:
    """Meta-learning optimiser state for one target study (thread-safe).

    Args:
        priors: prior studies, in any space; alignment happens per target space.
        config: the settings.
    """

    def __init__(self, priors: Sequence[PriorStudy], config: EngineConfig | None = None) -> None:
        self.priors = list(priors)
        self.config = config or EngineConfig()
        self._states: dict[tuple[Any, ...], _SpaceState] = {}
        self._lock = threading.RLock()
        self._device_warning: str | None = None
        self._cpu_only = False

    def __getstate__(self) -> dict[str, Any]:
        # Fitted models and caches are per process; only priors and settings travel.
        return {"priors": self.priors, "config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["priors"], state["config"])  # type: ignore[misc]

    def _device_name(self) -> str:
        return "cpu" if self._cpu_only else self.config.device

    def alignment(self, space: SearchSpace, direction: Direction) -> AlignmentReport:
        """The alignment report of the priors against ``space``."""
        return self._state(space, direction).report

    def _state(self, space: SearchSpace, direction: Direction) -> _SpaceState:
        key = (space.signature(), direction)
        with self._lock:
            st = self._states.get(key)
            if st is None:
                aligned, report = align_studies(
                    space, self.priors, direction, min_overlap=self.config.min_overlap
                )
                from metahpo._portfolio import greedy_portfolio

                portfolio = greedy_portfolio(aligned, size=max(16, self.config.startup_trials(True) * 4))
                if portfolio.size:
                    portfolio = space.snap(portfolio)
                st = _SpaceState(aligned=aligned, report=report, portfolio=portfolio)
                self._states[key] = st
            return st

    def suggest(
        self,
        space: SearchSpace,
        direction: Direction,
        observed: Sequence[Mapping[str, Any]],
        values: Sequence[float],
        pending: Sequence[Mapping[str, Any]] = (),
        *,
        seed: int,
        fixed: Mapping[str, Any] | None = None,
        portfolio_offset: int = 0,
    ) -> Suggestion:
        """Propose one configuration of ``space``.

        Args:
            space: the target search space.
            direction: the target's direction.
            observed: finished target configurations; a parameter a configuration lacks (an
                inactive conditional one) is imputed like a prior's missing parameter.
            values: their objective values (finite).
            pending: configurations being evaluated now (complete or partial; partial ones are
                completed with the centre of the missing ranges).
            seed: the seed of this call.
            fixed: parameter values the suggestion must keep (e.g. a partially enqueued trial).
            portfolio_offset: portfolio rows to leave to concurrent trials that started earlier
                and whose configuration is not known yet (other processes): the suggestion is
                the ``portfolio_offset``-th unused row, and past the portfolio's end no row.
        """
        require(
            len(observed) == len(values),
            "values",
            "must have one entry per observed config",
            (len(observed), len(values)),
        )
        with self._lock:
            args = (space, direction, observed, values, pending, seed, fixed or {}, portfolio_offset)
            try:
                return self._suggest(*args)
            except Exception as e:
                if not _is_cuda_oom(e) or self._cpu_only:
                    raise
                # The GPU ran out of memory: this engine moves to the CPU for good, and says so.
                self._cpu_only = True
                suggestion = self._suggest(*args)
                suggestion.info["device_warning"] = f"CUDA out of memory ({e}); using the CPU from now on"
                return suggestion

    def _suggest(
        self,
        space: SearchSpace,
        direction: Direction,
        observed: Sequence[Mapping[str, Any]],
        values: Sequence[float],
        pending: Sequence[Mapping[str, Any]],
        seed: int,
        fixed: Mapping[str, Any],
        portfolio_offset: int = 0,
    ) -> Suggestion:
        st = self._state(space, direction)
        report = st.report
        info: dict[str, Any] = {
            "n_prior_studies_used": report.n_studies_used,
            "n_prior_studies_skipped": report.n_studies_skipped,
            "n_prior_trials_used": report.n_trials_used,
            "n_prior_trials_skipped": report.n_trials_skipped,
        }
        X_obs = _encode_partial(space, observed)
        X_pend = _encode_partial(space, pending)
        exclude = np.vstack([X_obs, X_pend])
        n_obs = X_obs.shape[0]
        has_priors = bool(st.aligned) and self.config.max_source_studies > 0
        n_startup = self.config.startup_trials(has_priors)

        if n_obs < n_startup or n_obs == 0:
            if has_priors:
                skip = portfolio_offset
                for row in _with_fixed(space, st.portfolio, fixed):
                    if exclude.shape[0] == 0 or np.min(np.abs(exclude - row).max(axis=1)) > 1e-9:
                        if skip == 0:
                            return Suggestion(space.decode(row[None])[0], "portfolio", info)
                        skip -= 1
            if n_obs == 0 or not has_priors:
                rng = np.random.default_rng(seed)
                row = _with_fixed(space, space.snap(rng.random((1, space.n_features))), fixed)
                return Suggestion(space.decode(row)[0], "startup", info)

        from metahpo._gp import fit_surrogate, limit_threads, optimize_acquisition, resolve_device
        from metahpo._prior import copula_scores

        z_obs = copula_scores(np.asarray(values, dtype=float), direction)
        if has_priors and self.config.use_neural(sum(a.X.shape[0] for a in st.aligned)):
            neural = self._neural_suggestion(st, space, direction, X_obs, z_obs, X_pend, exclude, seed, fixed)
            if neural is not None:
                neural.info = {**info, **neural.info}
                return neural
            if st.neural_note is not None:
                info["surrogate_warning"] = st.neural_note
        sources = self._select_sources(st, X_obs, z_obs) if has_priors else []
        X_tasks = [X_obs] + [X for X, _ in sources]
        z_tasks = [z_obs] + [z for _, z in sources]
        key = tuple(st.aligned[i].name for i in (st.selected or [])) if sources else ()
        warm = st.warm.get(key)
        if warm is None:
            # A new task set: start from the last fit of any set (its data-kernel lengthscales carry
            # over; a state of another shape is ignored) and optimise fully.
            init, maxiter, n_fit = st.last_state, self.config.fit_maxiter_cold, n_obs
        elif n_obs < _REFIT_EVERY_TRIAL_BELOW or n_obs >= _REFIT_GROWTH * warm[1]:
            init, maxiter, n_fit = warm[0], self.config.fit_maxiter_warm, n_obs
        else:
            # The history grew by less than 10% since the hyper-parameters were last optimised:
            # keep them and only condition on the new data.
            init, maxiter, n_fit = warm[0], 0, warm[1]
        device, msg = resolve_device(self._device_name())
        if msg is not None and self._device_warning is None:
            self._device_warning = msg
            info["device_warning"] = msg
        with limit_threads(1 if sum(x.shape[0] for x in X_tasks) < 600 else 2):
            import torch

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                fit = fit_surrogate(X_tasks, z_tasks, device=device, warm_state=init, maxiter=maxiter)
                st.warm[key] = (fit.state, n_fit)
                st.last_state = fit.state
                top = X_obs[np.argsort(-z_obs)[:5]]
                prior_top = [X[np.argsort(-z)[:2]] for X, z in sources[:3]]
                incumbents = np.vstack([top, *prior_top]) if prior_top else top
                x, acq = optimize_acquisition(
                    fit,
                    space,
                    best_f=float(z_obs.max()),
                    incumbents=incumbents,
                    pending=X_pend,
                    exclude=exclude,
                    seed=seed,
                    n_candidates=self.config.n_candidates,
                    fixed=_fixed_features(space, fixed),
                )
        info.update(
            {
                "n_source_tasks": len(sources),
                "n_prior_points": int(sum(X.shape[0] for X, _ in sources)),
                "log_acq": acq,
                "hyperparameters_optimised": maxiter > 0,
                "device": str(device),
            }
        )
        return Suggestion(space.decode(x[None])[0], "mtgp" if sources else "gp", info)

    def _neural_suggestion(
        self,
        st: _SpaceState,
        space: SearchSpace,
        direction: Direction,
        X_obs: np.ndarray,
        z_obs: np.ndarray,
        X_pend: np.ndarray,
        exclude: np.ndarray,
        seed: int,
        fixed: Mapping[str, Any],
    ) -> Suggestion | None:
        """A suggestion of the neural surrogate, or None when it is not available (another
        process is training it; the caller then uses the multi-task GP)."""
        from metahpo._gp import limit_threads, optimize_acquisition, resolve_device

        device, _ = resolve_device(self._device_name())
        info: dict[str, Any] = {}
        if st.neural is None:
            result = self._neural_model(st, space, direction, device, info)
            if result is None:
                return None
            st.neural = result
        from metahpo._neural import AdaptedPredictor

        with limit_threads(1):
            import torch

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                predictor = AdaptedPredictor(st.neural, X_obs, z_obs, X_pend, device=device, seed=seed)
                top = X_obs[np.argsort(-z_obs)[:5]]
                x, acq = optimize_acquisition(
                    predictor,
                    space,
                    best_f=float(z_obs.max()),
                    incumbents=top,
                    pending=X_pend,
                    exclude=exclude,
                    seed=seed,
                    n_candidates=self.config.n_candidates,
                    fixed=_fixed_features(space, fixed),
                )
        n_prior = int(sum(a.X.shape[0] for a in st.aligned))
        info.update({"log_acq": acq, "device": str(device), "n_prior_points": n_prior})
        return Suggestion(space.decode(x[None])[0], "neural", info)

    def train_neural(
        self,
        space: SearchSpace,
        direction: Direction,
        *,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        force: bool = False,
    ) -> tuple[Any, str, dict[str, Any]]:
        """Load the neural surrogate for ``space`` from the cache, or train and cache it (what
        ``metahpo train`` runs; a sampler does the same lazily on first use).

        Returns:
            the :class:`metahpo._neural.TrainResult` (or None when another process holds the
            training lock), the cache path, and notes (``surrogate_warning`` for a stale, foreign or
            corrupt cache file that was replaced, ``neural_trained_seconds`` after training).
        """
        from metahpo._gp import resolve_device

        st = self._state(space, direction)
        require(bool(st.aligned), "priors", "no prior study aligns with this space", len(self.priors))
        device, _ = resolve_device(self._device_name())
        info: dict[str, Any] = {}
        result = self._neural_model(st, space, direction, device, info, on_epoch=on_epoch, force=force)
        if result is not None:
            st.neural = result
        return result, str(info.get("neural_cache", "")), info

    def _neural_model(
        self,
        st: _SpaceState,
        space: SearchSpace,
        direction: Direction,
        device: Any,
        info: dict[str, Any],
        *,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        force: bool = False,
    ) -> Any:
        from metahpo import _neural
        from metahpo._gp import limit_threads

        cfg = _neural.NeuralConfig()
        digest = _neural.fingerprint(space, direction, st.aligned, cfg)
        path = _neural.cache_path(self.config.surrogate_cache, digest)
        info["neural_cache"] = str(path)
        result, reason = (None, "missing") if force else _neural.load_cached(path, digest)
        if result is not None:
            st.neural_note = None
            return result
        if reason != "missing":
            info["surrogate_warning"] = f"neural surrogate cache {path} is {reason}; retraining it"
        with _neural.TrainingLock(path) as lock:
            if not lock.acquired:
                st.neural_note = (
                    f"another process is training the neural surrogate ({lock.path}); "
                    "the multi-task GP serves meanwhile"
                )
                return None
            with limit_threads(1):
                result = _neural.meta_train(
                    [(a.X, a.z) for a in st.aligned],
                    space.n_features,
                    config=cfg,
                    seed=0,
                    device=device,
                    on_epoch=on_epoch,
                )
            meta = {"space": repr(space.signature()), "direction": direction, "studies": len(st.aligned)}
            _neural.save_cached(path, result, digest, meta)
        st.neural_note = None
        info["neural_trained_seconds"] = round(result.seconds, 3)
        return result

    def _select_sources(
        self, st: _SpaceState, X_obs: np.ndarray, z_obs: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Choose prior tasks (most similar first) and subsample each to its quota."""
        from metahpo._portfolio import kendall_tau, knn_predict

        n_obs = X_obs.shape[0]
        cfg = self.config
        if st.selected is None or n_obs >= max(st.selected_at + 2, int(1.5 * st.selected_at)):
            if n_obs >= 3:
                sims = [kendall_tau(z_obs, knn_predict(s, X_obs)) for s in st.aligned]
            else:
                sims = [0.0] * len(st.aligned)
            order = sorted(
                range(len(st.aligned)),
                key=lambda i: (
                    -sims[i],
                    -st.aligned[i].overlap,
                    -st.aligned[i].X.shape[0],
                    st.aligned[i].name,
                ),
            )
            st.selected = order[: cfg.max_source_studies]
            st.selected_at = n_obs
        chosen = st.selected
        if not chosen or cfg.max_prior_points < 2:
            return []
        quota = max(2, min(cfg.max_points_per_study, cfg.max_prior_points // len(chosen)))
        out = []
        for i in chosen:
            s = st.aligned[i]
            idx = _subsample(s, quota)
            out.append((s.X[idx], s.z[idx]))
        return out


def _is_cuda_oom(error: BaseException) -> bool:
    return type(error).__name__ == "OutOfMemoryError" or "CUDA out of memory" in str(error)


def _subsample(study: AlignedStudy, quota: int) -> np.ndarray:
    """Indices of at most ``quota`` points: the best half of the quota, then a fixed random
    sample (seeded by the study's name, so the choice is stable from call to call) of the rest."""
    n = study.z.size
    if n <= quota:
        return np.arange(n)
    order = np.argsort(-study.z, kind="stable")
    n_best = quota // 2
    rest = order[n_best:]
    rng = np.random.default_rng(zlib.crc32(study.name.encode()))
    return np.concatenate([order[:n_best], rng.choice(rest, size=quota - n_best, replace=False)])


def _fixed_features(space: SearchSpace, fixed: Mapping[str, Any]) -> dict[int, float]:
    """Encoded feature index -> value for the fixed parameters."""
    out: dict[int, float] = {}
    for name, v in fixed.items():
        sl = space.feature_slice(name)
        for j, u in zip(range(sl.start, sl.stop), space.encode_value(name, v), strict=True):
            out[j] = float(u)
    return out


def _with_fixed(space: SearchSpace, X: np.ndarray, fixed: Mapping[str, Any]) -> np.ndarray:
    if not fixed or X.size == 0:
        return X
    X = X.copy()
    for j, u in _fixed_features(space, fixed).items():
        X[:, j] = u
    return X


def _encode_partial(space: SearchSpace, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Encode possibly partial configurations; missing or illegal values take the range centre
    (numerical) or the unknown-choice block (categorical)."""
    out = np.empty((len(configs), space.n_features))
    for i, cfg in enumerate(configs):
        for name, p in space.params.items():
            sl = space.feature_slice(name)
            v = cfg.get(name)
            if name in cfg and space.contains(name, v):
                out[i, sl] = space.encode_value(name, v)
            else:
                out[i, sl] = 0.0 if isinstance(p, CategoricalParam) else 0.5
    return out
