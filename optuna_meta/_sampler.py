"""``MetaSampler``: the Optuna adapter of the metahpo engine (glue only; numerics live in
:mod:`metahpo`, the worker claim protocol in :mod:`optuna_meta._claims`)."""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from metahpo import (
    Direction,
    EngineConfig,
    KnowledgeBase,
    MetaEngine,
    PriorSource,
    PriorStudy,
    SearchSpace,
    Suggestion,
    SurrogateName,
    WarnOnce,
    as_knowledge_base,
    plain,
    prior_space,
    read_priors,
    stalled,
)
from optuna_meta import _claims, _compat, _plain_gp, _priors
from optuna_meta._random import TrialSeededRandomSampler
from optuna_meta._space import contains, to_search_space, union_space

if TYPE_CHECKING:
    from optuna.study import Study

_logger = optuna.logging.get_logger("optuna.metahpo")

_CLAIM_ATTEMPTS = 3  # suggestions per trial when concurrent workers pick the same configuration
_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


class _History(NamedTuple):
    observed: list[dict[str, Any]]
    values: list[Any]  # a float per observed trial, or a list of floats (multi-objective)
    failed: list[dict[str, Any]]
    pruned: list[dict[str, Any]]
    constraints: list[dict[str, float]]  # per observed trial (empty dicts without constraints)
    n_complete: int  # COMPLETE trials, in the space or not
    curves: list[dict[int, float]]  # per observed trial: its intermediate values by step
    pruned_curves: list[dict[int, float]]  # per pruned trial


class MetaSampler(BaseSampler):
    """A sampler that learns from earlier studies: a zero-shot portfolio of configurations that
    were good on prior studies, then a BoTorch multi-task GP over the prior studies and this one.

    With no usable prior there is nothing to transfer: after ``n_startup_trials`` random trials
    Optuna's own ``GPSampler`` (seeded with ``seed``) proposes, and MetaSampler's single-task GP
    serves where GPSampler would do less (a failed trial in the study, conditional parameters, a
    partially enqueued trial, constraint keys that differ between trials, a proposal already
    tried, failed, pruned or pending, an error in GPSampler); so does ``max_source_studies=0``.
    A multi-objective study learns from its priors through the portfolio only (its start), so
    after the portfolio GPSampler models it too, with or without constraints, under the same
    conditions (the engine's GPs, one per objective, where it cannot).  So is a single-objective study
    without constraints while its multi-task GP leaves every prior study out as misleading (each
    ranked the study's results the wrong way round; :meth:`metahpo.MetaEngine.learns_from_priors`):
    until the priors are chosen again, as the history grows by half (``metahpo:info`` records
    ``"reason": "misleading_priors"`` and the studies left out, ``misleading_sources``).
    With priors, while a single-objective study that the transfer model serves stalls (no new
    best in its last ``max(4, d)`` results, ``d`` parameters; with constraints only a feasible
    result counts), GPSampler proposes every other trial, on the same results, where it can
    serve; the next new best hands every trial back to the model.
    Every parameter the finished trials used with one distribution is modelled, conditional ones
    included (where a trial did not set one, it is imputed, as a prior's missing parameter is);
    a parameter whose distribution changed between trials goes to ``independent_sampler``.
    Constraints set with ``trial.set_constraint`` are modelled (probability of feasibility times
    LogEI over the best feasible result; in a single-objective study, once a feasible result
    exists, a configuration the constraint models give less than a 0.2 chance of feasibility is
    penalised steeply), FAIL trials teach a feasibility model, pruned ones are never proposed
    again and, in a single-objective study whose trials ``report`` intermediate values, teach
    the engine's models at an estimate of their final value: the completed trials' final value
    at the rank the pruned trial had among them at the latest step it reported that three of
    them reported too (a diverged run, NaN or infinitely bad there, as the worst; Optuna's
    ``GPSampler``, where it serves, ignores pruned trials).
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
            fallbacks.  Default: uniform random draws seeded by ``(seed, trial number, parameter)``
            (Optuna's ``RandomSampler`` per draw), so workers started with the same ``seed`` differ.
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
        surrogate: SurrogateName = "auto",
        surrogate_cache: str | os.PathLike[str] | None = None,
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
            surrogate_cache=surrogate_cache,
        )
        if source_studies is not None and (
            isinstance(source_studies, (str, PriorStudy)) or not isinstance(source_studies, Sequence)
        ):
            raise TypeError(
                "source_studies must be a list (e.g. [study_a, 'sqlite:///x.db::a-*'])"
                f", got {type(source_studies).__name__}"
            )
        self._knowledge_base = as_knowledge_base(knowledge_base)
        # Study objects and trial lists are converted now (they may not pickle); storage URLs
        # are checked now and read lazily, at the first suggestion, in the process that makes it.
        self._specs: list[str | list[PriorStudy]] | None = None
        if source_studies is not None:
            self._specs = [
                _priors.check_url(spec, i) if isinstance(spec, str) else _priors.resolve(spec, i)
                for i, spec in enumerate(source_studies)
            ]
        if seed is not None and (
            not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or not 0 <= seed < 2**32
        ):
            raise ValueError(f"seed must be None or an integer in [0, 2**32 - 1] (got {seed!r})")
        if independent_sampler is not None and not isinstance(independent_sampler, BaseSampler):
            raise TypeError(
                "independent_sampler must be an Optuna sampler (optuna.samplers.BaseSampler), "
                f"got {type(independent_sampler).__name__}"
            )
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._independent_sampler = independent_sampler or TrialSeededRandomSampler(seed)
        self._warn = WarnOnce(_logger)
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.RLock()
        self._engines: dict[str, MetaEngine] = {}  # study name -> its engine (its priors)
        # (study name, trial number) -> the zero-shot configuration served parameter by parameter
        self._zero_shot: dict[tuple[str, int], dict[str, Any]] = {}
        # (study name, trial number) of trials that started with an empty relative search space
        # (no finished trial yet): if other workers' trials finish before they ask for their
        # parameters, they are served in the relative search space, not at random
        self._zero_shot_open: set[tuple[str, int]] = set()
        # study name -> trial number -> suggestions of this process whose trials are still running:
        # threads (n_jobs > 1) see each other's before the storage does.
        self._inflight: dict[str, dict[int, dict[str, Any]]] = {}
        self._reported: set[Any] = set()
        self._plain_gp = _plain_gp.PlainGP(self._seed, self._independent_sampler)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in (
            "_lock",
            "_engines",
            "_zero_shot",
            "_zero_shot_open",
            "_inflight",
            "_reported",
            "_plain_gp",
        ):
            state.pop(key)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._independent_sampler.reseed_rng()
        self._plain_gp.reseed_rng()

    def prior_studies(self, study: Study) -> list[PriorStudy]:
        """The prior studies this sampler learns from for ``study`` (loads them if needed)."""
        return list(self._get_engine(study).priors)

    # ------------------------------------------------------------------ Optuna API
    # Every hook reads the whole study: under HyperbandPruner Optuna passes one bracket's trials.
    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        study = self._whole(study)
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        space = union_space(t.distributions for t in done)
        relative = {n: d for n, d in space.items() if not d.single()}
        if not relative:
            with self._lock:
                self._zero_shot_open.add((study.study_name, trial.number))
        return relative

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        try:
            study = self._whole(study)
            return self._sample_relative(study, trial, search_space)
        except Exception as e:  # the user's study must go on: fall back for this trial
            self._fallback(study, trial, e)
            return {}

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        study = self._whole(study)
        if not param_distribution.single():
            try:
                value = self._zero_shot_value(study, trial, param_name, param_distribution)
            except Exception as e:  # the user's study must go on: fall back for this trial
                self._fallback(study, trial, e)
                value = None
            if value is not None:
                return value
        return self._independent_sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent_sampler.before_trial(self._whole(study), trial)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        with self._lock:
            self._zero_shot.pop((study.study_name, trial.number), None)
            self._zero_shot_open.discard((study.study_name, trial.number))
            self._inflight.get(study.study_name, {}).pop(trial.number, None)
        self._independent_sampler.after_trial(self._whole(study), trial, state, values)

    def _whole(self, study: Study) -> Study:
        """The whole study (Optuna hands the hooks one bracket of it under ``HyperbandPruner``);
        the study as given, with a warning, where it cannot be loaded."""
        try:
            return _compat.whole_study(study)
        except Exception as e:  # the user's study must go on, on the trials Optuna showed
            self._warn(
                f"whole:{type(e).__name__}",
                f"MetaSampler could not load the whole study {study.study_name!r} ({e!r}); it reads "
                "the trials Optuna passed (under HyperbandPruner: one bracket's).",
            )
            return study

    # ------------------------------------------------------------------ suggestions
    def _sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        space = to_search_space(search_space)
        fixed = _fixed_params(trial, space)
        engine = self._get_engine(study)
        direction = _direction(study)
        # nothing to learn from: Optuna's GPSampler serves where it can (optuna_meta._plain_gp)
        no_priors = engine.alignment(space, direction).n_studies_used == 0
        plain_gp = no_priors or self._config.max_source_studies == 0

        def make(pending: list[dict[str, Any]], rows_to_leave: int) -> Suggestion:
            seed = _call_seed(self._rng, trial.number)
            h = self._history(study, space)
            gpsampler_serves = _plain_gp.serves(
                h.observed, h.n_complete, h.failed, h.constraints, len(space.params), fixed
            )
            # where the engine's model would learn from the study alone, GPSampler serves it as it
            # serves a study without priors: after the portfolio of a multi-objective study (the
            # priors only choose its start; with constraints too, measured), and while the
            # transfer model of a single-objective one leaves every prior out as misleading
            reason: dict[str, str] = {}
            if len(direction) > 1:
                study_alone = True
            else:
                study_alone = (
                    not plain_gp
                    and gpsampler_serves
                    and not any(h.constraints)
                    and not engine.learns_from_priors(space, direction[0], h.observed, h.values)
                )
                if study_alone:
                    reason = {"reason": "misleading_priors"}
            if plain_gp or study_alone:
                start = self._config.startup_trials(not plain_gp)
                use_gpsampler = len(h.observed) >= start and gpsampler_serves
            else:  # the transfer model stalls: GPSampler takes every other trial (optuna_meta._plain_gp)
                use_gpsampler = (
                    trial.number % 2 == 0
                    and gpsampler_serves
                    and stalled(
                        h.values,
                        direction[0] == "maximize",
                        len(space.params),
                        [all(v <= 0 for v in c.values()) for c in h.constraints],
                    )
                )
                reason = {"reason": "stall"}
            if use_gpsampler:
                taken = [*h.observed, *h.failed, *h.pruned, *pending]
                instead = "the transfer model" if reason.get("reason") == "stall" else "MetaSampler's own GP"
                params = self._plain_gp.propose(
                    study, trial, search_space, space, taken, self._warn, instead, pruned=h.pruned
                )
                if params is not None:
                    info: dict[str, Any] = {"sampler": "optuna.samplers.GPSampler", **reason}
                    if reason.get("reason") == "misleading_priors":
                        info["misleading_sources"] = list(engine.misleading_sources(space, direction[0]))
                    return Suggestion(params, "gp", info)
            return engine.suggest(
                space,
                direction,
                h.observed,
                h.values,
                pending,
                seed=seed,
                fixed=fixed,
                portfolio_offset=rows_to_leave,
                failed=h.failed,
                pruned=h.pruned,
                constraints=h.constraints if any(h.constraints) else (),
                # pruned trials teach the model at an estimate of their final value
                curves=h.curves if any(h.pruned_curves) else (),
                pruned_curves=h.pruned_curves if any(h.pruned_curves) else (),
            )

        def scatter(pending: list[dict[str, Any]], other: int) -> Suggestion:
            # a uniformly random legal configuration that no trial holds: the later of two trials
            # given one model proposal moves here (see _claim)
            h = self._history(study, space)
            taken = [*h.observed, *h.failed, *h.pruned, *pending]
            rng = np.random.default_rng(_call_seed(self._rng, trial.number))
            configs = [{**c, **fixed} for c in space.decode(space.snap(rng.random((64, space.n_features))))]
            fresh = [c for c in configs if not _plain_gp.is_taken(space, c, taken)]
            return Suggestion((fresh or configs)[0], "startup", {"reason": "clash", "clashed_with": other})

        params = self._claim(study, trial, make, scatter)
        with self._lock:
            first_time = (study.study_name, space.signature()) not in self._reported
            self._reported.add((study.study_name, space.signature()))
        if first_time and engine.priors:
            report = engine.alignment(space, direction)
            _logger.info(f"MetaSampler prior alignment for {sorted(space.params)}: {report.summary()}")
            # for `metahpo report` and optuna_meta.visualization.plot_alignment: diagnostics only,
            # so a failed write costs nothing but the record (the log line above has the summary)
            records = report.as_dicts()
            record = {
                "studies": records[:_ALIGNMENT_RECORDS],
                "n_more": max(0, len(records) - _ALIGNMENT_RECORDS),
            }
            try:
                _claims.set_attr(study, trial, "metahpo:alignment", json.dumps(record))
            except Exception as e:
                _logger.debug(f"MetaSampler could not record the alignment on trial {trial.number}: {e}")
        return params

    def _zero_shot_value(
        self, study: Study, trial: FrozenTrial, name: str, dist: BaseDistribution
    ) -> Any | None:
        """Before this study has any finished trial there is no relative search space: serve the
        zero-shot portfolio parameter by parameter, in the space the prior studies used.  A trial
        that started so, but asks after other workers' trials have finished (it was loading the
        priors meanwhile), is served as any later trial: in the relative search space."""
        key = (study.study_name, trial.number)
        with self._lock:
            cfg = self._zero_shot.get(key)
            started_empty = key in self._zero_shot_open
        if cfg is None:
            cfg = self._zero_shot_config(study, trial)
            if not cfg and started_empty:
                relative = self.infer_relative_search_space(study, trial)
                if relative:
                    cfg = self._sample_relative(study, trial, relative)
            with self._lock:
                self._zero_shot[key] = cfg
        if name in cfg and contains(dist, cfg[name]):
            return cfg[name]
        return None

    def _zero_shot_config(self, study: Study, trial: FrozenTrial) -> dict[str, Any]:
        """The next zero-shot portfolio row, claimed for ``trial``; empty without priors, once the
        portfolio is used up or once this study has a finished trial."""
        engine = self._get_engine(study)
        space = prior_space(engine.priors)
        if space is None:
            return {}

        def make(pending: list[dict[str, Any]], rows_to_leave: int) -> Suggestion | None:
            if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                return None
            seed = _call_seed(self._rng, trial.number)
            suggestion = engine.suggest(
                space,
                _direction(study),
                [],
                [],
                pending,
                seed=seed,
                fixed=_fixed_params(trial, space),  # a partially enqueued trial keeps its values
                portfolio_offset=rows_to_leave,
                # a portfolio row that failed or was pruned is not served again
                failed=(h := self._history(study, space)).failed,
                pruned=h.pruned,
            )
            return suggestion if suggestion.phase == "portfolio" else None

        return self._claim(study, trial, make)

    def _claim(
        self,
        study: Study,
        trial: FrozenTrial,
        make: Callable[[list[dict[str, Any]], int], Suggestion | None],
        scatter: Callable[[list[dict[str, Any]], int], Suggestion] | None = None,
    ) -> dict[str, Any]:
        """Suggest, record the suggestion as this trial's claim, and suggest again (up to
        ``_CLAIM_ATTEMPTS`` times) while another worker holds the same configuration.

        A model proposal that an earlier trial holds too is replaced by ``scatter(pending,
        other)`` (a random configuration no trial holds) when given: two workers that fit one
        model on the same results can propose the same configuration again after seeing each other's,
        so suggesting again in both would clash again (CI once caught two of four PostgreSQL
        workers on one configuration after three tries).  The earlier trial suggests again with
        the later one's claim pending, so whichever of the two saw the clash, they part.

        ``make(pending, rows_to_leave)`` suggests; ``rows_to_leave`` is the number of portfolio
        rows to leave to earlier trials: one per earlier running trial whose configuration is not
        known yet (another process is choosing it), plus one per clash with an earlier trial (both
        workers skip the clashing row; the later one skips one more, so they part).

        Reading the pending trials, suggesting and recording the suggestion as in flight form one
        step under the lock, so threads sharing this sampler never propose the same configuration.
        Pending trials are read before finished ones (``make`` reads those): a trial only moves
        from RUNNING to a finished state, so one that finishes in between is seen in one list.
        """
        inflight = self._inflight.setdefault(study.study_name, {})
        params: dict[str, Any] = {}
        yielded = 0
        earlier: int | None = None  # an earlier trial that holds this trial's model proposal
        for attempt in range(_CLAIM_ATTEMPTS):
            with self._lock:
                pending, n_unknown = _claims.pending(study, trial, inflight)
                if earlier is not None and scatter is not None:
                    suggestion: Suggestion | None = scatter(pending, earlier)
                else:
                    suggestion = make(pending, n_unknown + yielded)
                if suggestion is None:
                    return {}
                params = {k: plain(v) for k, v in suggestion.params.items()}
                inflight[trial.number] = params
            self._record(study, trial, suggestion)
            _claims.set_attr(study, trial, _claims.RELATIVE_KEY, json.dumps(params))
            if attempt + 1 >= _CLAIM_ATTEMPTS:
                break
            other = _claims.clash(study, trial, params)
            if other is None:
                break
            yielded += int(other < trial.number)
            if other < trial.number and suggestion.phase not in ("portfolio", "startup"):
                earlier = other
            _logger.debug(
                f"MetaSampler: trial {trial.number} and trial {other} were given the same "
                "configuration by concurrent workers; suggesting again."
            )
        return params

    # ------------------------------------------------------------------ internals
    def _get_engine(self, study: Study) -> MetaEngine:
        """The engine of ``study``: one per study name, so that one sampler object passed to
        several studies gives each its own priors (the other studies of its storage, or the same
        sources less the study itself), never another study's nor a copy of itself."""
        with self._lock:
            engine = self._engines.get(study.study_name)
            if engine is None:
                exclude = [study.study_name]
                sources: list[PriorSource] = []
                if self._specs is None:
                    storage = _compat.study_storage(study)
                    sources.append(
                        ("the study's storage", lambda: _priors.load_prior_studies(storage, exclude=exclude))
                    )
                else:
                    for i, spec in enumerate(self._specs):
                        if isinstance(spec, str):
                            sources.append(
                                (f"source_studies[{i}] ({spec!r})", _priors.url_reader(spec, exclude))
                            )
                        else:
                            sources.append((f"source_studies[{i}]", functools.partial(list, spec)))
                kb = self._knowledge_base
                if kb is not None:
                    sources.append((f"knowledge_base ({kb.url!r})", lambda: kb.load(exclude=exclude)))
                priors = read_priors(sources, self._warn, "MetaSampler")
                engine = self._engines[study.study_name] = MetaEngine(priors, self._config)
                _logger.info(
                    f"MetaSampler loaded {len(priors)} prior studies "
                    f"({sum(len(p.trials) for p in priors)} trials) for study {study.study_name!r}."
                )
            return engine

    def _history(self, study: Study, space: SearchSpace) -> _History:
        """The finished trials in ``space``'s terms: observed configurations and their values,
        failed ones (raised, or a non-finite value: never proposed again, and a feasibility model
        learns where they happen) and pruned ones (never proposed again; with their learning
        curves, and the completed trials', the engine models them at an estimate of their final
        value).  Parameters a trial did not set (inactive conditional ones, or those a pruned trial
        never reached) are left out: the engine imputes them."""
        trials = study.get_trials(deepcopy=False, states=_FINISHED)
        h = _History([], [], [], [], [], sum(t.state == TrialState.COMPLETE for t in trials), [], [])
        for t in trials:
            params = {n: t.params[n] for n in space.params if n in t.params}
            if not params:
                continue
            if t.state == TrialState.PRUNED:
                h.pruned.append(params)
                h.pruned_curves.append(_curve(t))
                continue
            vs = [float(v) for v in t.values] if t.state == TrialState.COMPLETE and t.values else [math.nan]
            if all(math.isfinite(v) for v in vs):
                h.observed.append(params)
                h.values.append(vs[0] if len(vs) == 1 else vs)
                h.constraints.append(dict(t.constraints))
                h.curves.append(_curve(t))
            else:
                h.failed.append(params)
        return h

    def _record(self, study: Study, trial: FrozenTrial, suggestion: Suggestion) -> None:
        _claims.set_attr(study, trial, "metahpo:phase", suggestion.phase)
        compact = {
            k: v for k, v in suggestion.info.items() if _json_scalar(v) or _json_list(v) or _json_dict(v)
        }
        _claims.set_attr(study, trial, "metahpo:info", json.dumps(compact))
        for note in suggestion.warnings:
            self._warn(f"note:{note}", f"MetaSampler: {note}")

    def _fallback(self, study: Study, trial: FrozenTrial, error: BaseException) -> None:
        msg = (
            f"MetaSampler could not use its model for trial {trial.number} "
            f"({type(error).__name__}: {error}); this trial falls back to "
            f"{type(self._independent_sampler).__name__}."
        )
        self._warn(f"fallback:{type(error).__name__}", msg)
        try:
            _claims.set_attr(study, trial, "metahpo:phase", "fallback")
        except Exception:
            _logger.debug("could not record the fallback in the trial's system attrs")


def _curve(trial: FrozenTrial) -> dict[int, float]:
    """The trial's intermediate values by step, as the engine takes them: a step that is no int or
    a value that is no number (possible in a trial added with ``create_trial``) is left out, so
    one odd record costs its own entry, not the model."""
    return {
        int(step): float(value)
        for step, value in trial.intermediate_values.items()
        if isinstance(step, (int, np.integer))
        and isinstance(value, numbers.Real)
        and not isinstance(step, (bool, np.bool_))
        and not isinstance(value, (bool, np.bool_))
    }


# prior studies whose alignment is recorded on the trial (the rest are counted): one storage write
# per 2,045 characters, about 250 characters each
_ALIGNMENT_RECORDS = 200


def _json_scalar(value: object) -> bool:
    return isinstance(value, (int, float, str))


def _json_list(value: object) -> bool:
    return isinstance(value, list) and all(_json_scalar(v) for v in value)


def _json_dict(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and _json_scalar(v) for k, v in value.items())


def _fixed_params(trial: FrozenTrial, space: SearchSpace) -> dict[str, Any]:
    """The values a partially enqueued trial fixes, where ``space`` can hold them."""
    fixed = trial.system_attrs.get("fixed_params", {})
    return {k: v for k, v in fixed.items() if k in space.params and space.contains(k, v)}


def _direction(study: Study) -> tuple[Direction, ...]:
    """One direction per objective."""
    return tuple(
        "maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize" for d in study.directions
    )


def _call_seed(rng: np.random.Generator, trial_number: int) -> int:
    """The seed of one suggestion: the sampler's stream (reproducible) mixed with the trial
    number, so workers started with the same ``seed`` still make different suggestions."""
    return (int(rng.integers(2**31 - 1)) + 1_000_003 * trial_number) % (2**31 - 1)


__all__ = ["MetaSampler"]
