"""``MetaSampler``: the Optuna adapter of the metahpo engine (thin glue; numerics live in
:mod:`metahpo`)."""

from __future__ import annotations

import functools
import json
import math
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import FrozenTrial, TrialState

from metahpo import EngineConfig, KnowledgeBase, MetaEngine, PriorStudy, SearchSpace
from metahpo._space import merge_spaces
from optuna_meta import _compat, _priors
from optuna_meta._space import contains, to_space, union_space

if TYPE_CHECKING:
    from optuna.study import Study

_logger = optuna.logging.get_logger("optuna.metahpo")

_ATTR = "metahpo"
_RELATIVE_KEY = f"{_ATTR}:relative_params"
_SYSTEM_ATTR_MAX = 2045  # RDB storage's limit for one system attribute value
_CLAIM_ATTEMPTS = 3  # suggestions per trial when concurrent workers pick the same configuration


class MetaSampler(BaseSampler):
    """A sampler that learns from earlier studies: a zero-shot portfolio of configurations that
    were good on prior studies, then a BoTorch multi-task GP over the prior studies and this one.

    With no usable prior it is a single-task GP sampler after ``n_startup_trials`` random trials.
    Every parameter the finished trials used with one distribution is modelled, conditional ones
    included (where a trial did not set one, it is imputed, as a prior's missing parameter is);
    a parameter whose distribution changed between trials goes to ``independent_sampler``.
    Any error inside a suggestion is logged once and that trial falls back to
    ``independent_sampler``: the sampler never fails the user's study.

    Args:
        source_studies: prior studies.  ``None`` (default): every other study in the same storage
            as the study being optimised.  Otherwise a list whose entries are ``optuna.Study``
            objects, ``"URL"`` / ``"URL::pattern"`` strings (an Optuna storage URL and a shell
            pattern over study names, e.g. ``"sqlite:///team.db::xgb-*"``), lists of
            ``FrozenTrial`` (taken to share the target's direction), or
            :class:`metahpo.PriorStudy`.  ``[]`` disables priors from storages.
        knowledge_base: a metahpo knowledge base (URL or :class:`metahpo.KnowledgeBase`) whose
            studies are added to the priors.
        seed: seed for reproducible suggestions.
        n_startup_trials: trials before the GP takes over.  ``None``: 3 when priors are usable
            (served from the zero-shot portfolio), 10 otherwise (uniformly random).
        independent_sampler: sampler for parameters outside the relative search space and for
            fallbacks.  Default: ``RandomSampler(seed)``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` for the surrogate's tensors.
        surrogate: ``"mtgp"`` (multi-task GP on the most similar prior studies, subsampled),
            ``"neural"`` (deep-kernel GP meta-trained on every prior trial, trained on first use
            and cached, see ``metahpo train``) or ``"auto"`` (default: neural from 2,000 usable
            prior trials on, where the multi-task GP would keep an eighth of them or less).
        surrogate_cache: where the neural surrogate is cached: a folder (files named by a
            fingerprint of the priors and the space) or a ``.pt`` file such as the output of
            ``metahpo train``.  Default ``$METAHPO_CACHE_DIR`` or ``~/.cache/metahpo``.  A stale,
            foreign or corrupt file is reported and retrained, never used.
        max_source_studies: how many prior studies enter the multi-task GP (the most similar ones).
        max_prior_points: cap on prior points in the GP (bounds the cost of a suggestion).
        min_overlap: minimum fraction of this study's parameters a prior study must share.
    """

    def __init__(
        self,
        *,
        source_studies: Sequence[_priors.SourceSpec] | None = None,
        knowledge_base: str | KnowledgeBase | None = None,
        seed: int | None = None,
        n_startup_trials: int | None = None,
        independent_sampler: BaseSampler | None = None,
        device: str = "auto",
        surrogate: str = "auto",
        surrogate_cache: str | None = None,
        max_source_studies: int = 8,
        max_prior_points: int = 256,
        min_overlap: float = 0.5,
    ) -> None:
        self._config = EngineConfig(
            n_startup_trials=n_startup_trials,
            max_source_studies=max_source_studies,
            max_prior_points=max_prior_points,
            min_overlap=min_overlap,
            device=device,
            surrogate=surrogate,
            surrogate_cache=None if surrogate_cache is None else str(surrogate_cache),
        )
        if source_studies is not None and (
            isinstance(source_studies, (str, PriorStudy)) or not isinstance(source_studies, Sequence)
        ):
            raise TypeError(
                "source_studies must be a list (e.g. [study_a, 'sqlite:///x.db::a-*'])"
                f", got {type(source_studies).__name__}"
            )
        if isinstance(knowledge_base, str):
            knowledge_base = KnowledgeBase(knowledge_base)
        self._knowledge_base = knowledge_base
        # Study objects and trial lists are converted now (they may not pickle); storage URLs
        # are read lazily, at the first suggestion, in the process that makes it.
        self._specs: list[Any] | None = None
        if source_studies is not None:
            self._specs = [
                spec if isinstance(spec, str) else _priors.resolve(spec, i)
                for i, spec in enumerate(source_studies)
            ]
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._independent_sampler = independent_sampler or RandomSampler(seed=seed)
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.RLock()
        self._engine: MetaEngine | None = None
        self._zero_shot: dict[tuple[str, int], dict[str, Any]] = {}
        # Suggestions of this process whose trials are still running: threads (n_jobs > 1) see
        # each other's before the storage does.
        self._inflight: dict[tuple[str, int], dict[str, Any]] = {}
        self._warned: set[str] = set()
        self._reported: set[Any] = set()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("_lock", "_engine", "_zero_shot", "_inflight", "_warned", "_reported"):
            state.pop(key)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._independent_sampler.reseed_rng()

    # ------------------------------------------------------------------ priors
    def _get_engine(self, study: Study) -> MetaEngine:
        with self._lock:
            if self._engine is None:
                priors: list[PriorStudy] = []
                exclude = [study.study_name]
                if self._specs is None:
                    priors += self._read_source(
                        "the study's storage",
                        lambda: _priors.from_storage(_compat.study_storage(study), exclude=exclude),
                    )
                else:
                    for i, spec in enumerate(self._specs):
                        if isinstance(spec, str):
                            priors += self._read_source(
                                f"source_studies[{i}] ({spec!r})",
                                functools.partial(_priors.resolve, spec, i, exclude),
                            )
                        else:
                            priors += spec
                if self._knowledge_base is not None:
                    kb = self._knowledge_base
                    priors += self._read_source(
                        f"knowledge_base ({kb.url!r})", lambda: kb.load(exclude=exclude)
                    )
                self._engine = MetaEngine(priors, self._config)
                _logger.info(
                    f"MetaSampler loaded {len(priors)} prior studies "
                    f"({sum(len(p.trials) for p in priors)} trials)."
                )
            return self._engine

    def prior_studies(self, study: Study) -> list[PriorStudy]:
        """The prior studies this sampler learns from for ``study`` (loads them if needed)."""
        return list(self._get_engine(study).priors)

    def _read_source(self, label: str, read: Callable[[], list[PriorStudy]]) -> list[PriorStudy]:
        """Prior studies from one storage; one that cannot be read (unreachable server, missing
        or corrupt file) is reported and left out: the study goes on with the other priors."""
        try:
            return read()
        except (ValueError, TypeError):
            raise  # a malformed argument is the caller's to fix, not a runtime fault
        except Exception as e:
            self._warn_once(
                f"source:{label}",
                f"MetaSampler could not read prior studies from {label} ({type(e).__name__}: {e}); "
                "continuing without them.",
            )
            return []

    # ------------------------------------------------------------------ Optuna API
    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if len(study.directions) > 1:
            return {}
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        space = union_space(t.distributions for t in done)
        return {n: d for n, d in space.items() if not d.single()}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if len(study.directions) > 1:
            self._warn_once(
                "multi_objective",
                "MetaSampler meta-learns single-objective studies "
                "only; this multi-objective study uses the independent sampler.",
            )
            return {}
        if not search_space:
            return {}
        try:
            return self._sample_relative(study, trial, search_space)
        except Exception as e:  # the user's study must go on: fall back for this trial
            self._fallback(study, trial, e)
            return {}

    def _sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        space = to_space(search_space)
        fixed = {
            k: v
            for k, v in trial.system_attrs.get("fixed_params", {}).items()
            if k in space.params and space.contains(k, v)
        }
        engine = self._get_engine(study)
        for attempt in range(_CLAIM_ATTEMPTS):
            # Reading the pending trials, suggesting and recording the suggestion as in flight
            # form one step, so that threads sharing this sampler never propose the same
            # configuration.  Pending trials are read before finished ones: a trial only moves
            # from RUNNING to a finished state, so one that finishes in between is still seen in
            # one of the two lists.
            with self._lock:
                seed = _call_seed(self._rng, trial.number)
                pending, _ = self._pending(study, trial)
                observed, values = self._history(study, space)
                suggestion = engine.suggest(
                    space, _direction(study), observed, values, pending, seed=seed, fixed=fixed
                )
                params = {k: _plain(v) for k, v in suggestion.params.items()}
                self._inflight[(study.study_name, trial.number)] = params
                first_time = space.signature() not in self._reported
                self._reported.add(space.signature())
            if first_time and engine.priors:
                report = engine.alignment(space, _direction(study))
                _logger.info(f"MetaSampler prior alignment for {sorted(space.params)}: {report.summary()}")
            self._record(study, trial, suggestion.phase, suggestion.info)
            self._set_attr(study, trial, _RELATIVE_KEY, json.dumps(params))
            if not self._claimed_elsewhere(study, trial, params, attempt):
                break
        return params

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        if len(study.directions) == 1 and not param_distribution.single():
            try:
                value = self._zero_shot_value(study, trial, param_name, param_distribution)
            except Exception as e:  # the user's study must go on: fall back for this trial
                self._fallback(study, trial, e)
                value = None
            if value is not None:
                return value
        return self._independent_sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent_sampler.before_trial(study, trial)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        with self._lock:
            self._zero_shot.pop((study.study_name, trial.number), None)
            self._inflight.pop((study.study_name, trial.number), None)
        self._independent_sampler.after_trial(study, trial, state, values)

    # ------------------------------------------------------------------ internals
    def _zero_shot_value(
        self, study: Study, trial: FrozenTrial, name: str, dist: BaseDistribution
    ) -> Any | None:
        """Before this study has any finished trial there is no relative search space: serve the
        zero-shot portfolio parameter by parameter, in the space the prior studies used."""
        key = (study.study_name, trial.number)
        with self._lock:
            cfg = self._zero_shot.get(key)
        if cfg is None:
            engine = self._get_engine(study)
            space = _prior_space(engine.priors) if engine.priors else None
            if space is None:
                return None
            for attempt in range(_CLAIM_ATTEMPTS):
                with self._lock:
                    # before finished trials: see _sample_relative
                    pending, n_unknown = self._pending(study, trial)
                    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                        return None
                    # Earlier trials of other processes whose configuration is not known yet
                    # take the portfolio rows before this one (see MetaEngine.suggest).
                    suggestion = engine.suggest(
                        space,
                        _direction(study),
                        [],
                        [],
                        pending,
                        seed=_call_seed(self._rng, trial.number),
                        portfolio_offset=n_unknown,
                    )
                    cfg = suggestion.params if suggestion.phase == "portfolio" else {}
                    self._zero_shot[key] = cfg
                    self._inflight[key] = cfg
                if not cfg:
                    break
                self._record(study, trial, suggestion.phase, suggestion.info)
                claim = {k: _plain(v) for k, v in cfg.items()}
                self._set_attr(study, trial, _RELATIVE_KEY, json.dumps(claim))
                if not self._claimed_elsewhere(study, trial, claim, attempt):
                    break
        if not cfg:
            return None
        if name in cfg and contains(dist, cfg[name]):
            return _plain(cfg[name])
        return None

    def _history(self, study: Study, space: SearchSpace) -> tuple[list[dict[str, Any]], list[float]]:
        observed, values = [], []
        skipped = 0
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.values is None or not any(n in t.params for n in space.params):
                continue
            v = float(t.values[0])
            if not math.isfinite(v):
                skipped += 1
                continue
            # parameters a trial did not set (inactive conditional ones) are left out: imputed
            observed.append({n: t.params[n] for n in space.params if n in t.params})
            values.append(v)
        if skipped:
            self._warn_once(
                "non_finite",
                f"MetaSampler ignores {skipped} finished trial(s) with "
                "a non-finite objective value when fitting its model.",
            )
        return observed, values

    def _pending(self, study: Study, trial: FrozenTrial) -> tuple[list[dict[str, Any]], int]:
        """Configurations of the other running trials (parameters set so far, completed by the
        suggestion each one recorded), and how many running trials numbered before this one have
        nothing known yet (another process is choosing their configuration right now)."""
        out = []
        n_unknown_earlier = 0
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.number == trial.number:
                continue
            params = dict(t.params)
            for k, v in _read_chunked(t.system_attrs, _RELATIVE_KEY).items():
                params.setdefault(k, v)
            for k, v in self._inflight.get((study.study_name, t.number), {}).items():
                params.setdefault(k, v)
            if params:
                out.append(params)
            elif t.number < trial.number:
                n_unknown_earlier += 1
        return out, n_unknown_earlier

    def _claimed_elsewhere(
        self, study: Study, trial: FrozenTrial, params: dict[str, Any], attempt: int
    ) -> bool:
        """After recording a suggestion in the storage, check that no other trial holds the same
        configuration.  Two processes that suggested at the same moment could not see each
        other's choice; each records its own before it reads the others', so at least one of them
        sees the clash, and it suggests again with the other's configuration as pending."""
        if attempt + 1 >= _CLAIM_ATTEMPTS or not params:
            return False
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE)):
            if t.number == trial.number:
                continue
            other = dict(t.params)
            if t.state == TrialState.RUNNING:
                for k, v in _read_chunked(t.system_attrs, _RELATIVE_KEY).items():
                    other.setdefault(k, v)
            if all(k in other and other[k] == v for k, v in params.items()):
                _logger.debug(
                    f"MetaSampler: trial {trial.number} and trial {t.number} were given the same "
                    "configuration by concurrent workers; suggesting again."
                )
                return True
        return False

    def _record(self, study: Study, trial: FrozenTrial, phase: str, info: dict[str, Any]) -> None:
        self._set_attr(study, trial, f"{_ATTR}:phase", phase)
        compact = {k: v for k, v in info.items() if isinstance(v, (int, float, str))}
        self._set_attr(study, trial, f"{_ATTR}:info", json.dumps(compact))
        if "device_warning" in info:
            self._warn_once("device", str(info["device_warning"]))
        if "surrogate_warning" in info:
            note = str(info["surrogate_warning"])
            self._warn_once(f"surrogate:{note}", f"MetaSampler: {note}")

    def _set_attr(self, study: Study, trial: FrozenTrial, key: str, value: str) -> None:
        storage = _compat.study_storage(study)
        tid = _compat.trial_id(study, trial)
        chunks = [value[i : i + _SYSTEM_ATTR_MAX] for i in range(0, len(value), _SYSTEM_ATTR_MAX)]
        if len(chunks) <= 1:
            storage.set_trial_system_attr(tid, key, value)
        else:
            for i, c in enumerate(chunks):
                storage.set_trial_system_attr(tid, f"{key}:{i}", c)

    def _fallback(self, study: Study, trial: FrozenTrial, error: BaseException) -> None:
        msg = (
            f"MetaSampler could not use its model for trial {trial.number} "
            f"({type(error).__name__}: {error}); this trial falls back to "
            f"{type(self._independent_sampler).__name__}."
        )
        self._warn_once(f"fallback:{type(error).__name__}", msg)
        try:
            self._set_attr(study, trial, f"{_ATTR}:phase", "fallback")
        except Exception:
            _logger.debug("could not record the fallback in the trial's system attrs")

    def _warn_once(self, key: str, msg: str) -> None:
        with self._lock:
            first = key not in self._warned
            self._warned.add(key)
        if first:
            _logger.warning(msg)
        else:
            _logger.debug(msg)


def _direction(study: Study) -> Literal["minimize", "maximize"]:
    return "maximize" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "minimize"


def _call_seed(rng: np.random.Generator, trial_number: int) -> int:
    """The seed of one suggestion: the sampler's stream (reproducible) mixed with the trial
    number, so workers started with the same ``seed`` still make different suggestions."""
    return (int(rng.integers(2**31 - 1)) + 1_000_003 * trial_number) % (2**31 - 1)


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def _read_chunked(attrs: dict[str, Any], key: str) -> dict[str, Any]:
    raw = attrs.get(key)
    if raw is None:
        parts = []
        i = 0
        while f"{key}:{i}" in attrs:
            parts.append(attrs[f"{key}:{i}"])
            i += 1
        raw = "".join(parts) if parts else None
    if not raw:
        return {}
    try:
        out = json.loads(raw)
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def _prior_space(priors: Sequence[PriorStudy]) -> SearchSpace | None:
    """The space of the prior studies together (their declared spaces merged)."""
    spaces = [p.space for p in priors if p.space is not None and p.trials]
    return merge_spaces(spaces) if spaces else None


__all__ = ["MetaSampler"]
