"""``MetaAlgo``: the Hyperopt adapter of the metahpo engine (thin glue; numerics in :mod:`metahpo`)."""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import pickle
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hyperopt import JOB_STATE_DONE, JOB_STATE_ERROR, JOB_STATE_NEW, JOB_STATE_RUNNING, STATUS_OK, rand
from hyperopt.base import miscs_update_idxs_vals

from hyperopt_meta._space import Label, active, labels_of, model_space
from metahpo import (
    EngineConfig,
    KnowledgeBase,
    MetaEngine,
    PriorSource,
    PriorStudy,
    PriorTrial,
    Suggestion,
    SurrogateName,
    WarnOnce,
    as_knowledge_base,
    plain,
    read_priors,
    stalled,
)

_logger = logging.getLogger("hyperopt.metahpo")
_FINISHED = (JOB_STATE_DONE, JOB_STATE_ERROR)


def _finite_loss(doc: dict[str, Any]) -> float | None:
    result = doc.get("result") or {}
    if doc.get("state") != JOB_STATE_DONE or result.get("status") != STATUS_OK:
        return None
    loss: Any = result.get("loss")
    try:
        v = float(loss)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _stored(doc: dict[str, Any]) -> dict[str, Any]:
    """label -> stored value for the labels active in a trial doc."""
    return {k: v[0] for k, v in doc["misc"]["vals"].items() if len(v) > 0}


def trials_to_prior(trials: Any, name: str, labels: dict[str, Label] | None = None) -> PriorStudy:
    """Finished hyperopt trials -> a prior study (losses are minimised).

    With ``labels`` (the space the trials were run on), choice indices become option values, so
    the study aligns by value with studies of other frameworks; without, values are kept as stored.
    """
    rows, failed = [], []
    for doc in trials.trials:
        if doc.get("state") not in _FINISHED:
            continue
        stored = _stored(doc)
        params = {
            k: (labels[k].to_core(v) if labels is not None and k in labels else plain(v))
            for k, v in stored.items()
        }
        loss = _finite_loss(doc)
        if loss is not None:
            rows.append(PriorTrial(params, (loss,)))
        elif params:  # an error, a status other than ok, or a non-finite loss
            failed.append(params)
    return PriorStudy(name, tuple(rows), ("minimize",), source="hyperopt", failed=tuple(failed))


def _read_trials(source: Any, index: int, labels: dict[str, Label]) -> list[PriorStudy]:
    """One ``source_trials`` entry (a ``Trials`` object or a path to a pickled one) as a prior
    study; prior runs are taken to share this space's choice options (indices -> values)."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as f:
            source = pickle.load(f)
    return [trials_to_prior(source, f"trials[{index}]", labels)]


class MetaAlgo:
    """A Hyperopt ``algo`` that learns from prior studies, with the same engine as
    :class:`optuna_meta.MetaSampler` (zero-shot portfolio, then a multi-task GP).

    Use ``algo=MetaAlgo(...).suggest`` in ``fmin``.  Every label is modelled, those inside
    conditional branches (nested ``hp.choice``) too: a trial's configuration holds the labels
    active in it, the engine imputes the others, and a suggestion keeps the labels of the branch
    the model picked.

    With priors, the engine's GP on this study alone (what serves a study without priors)
    proposes every other trial (even trial ids) while the study stalls: while its last
    ``max(4, d)`` results (``d`` labels) brought no new best (:func:`metahpo.stalled`, the rule of
    :class:`optuna_meta.MetaSampler`'s hedge, where Optuna's ``GPSampler`` takes those trials).  A
    transfer model that has brought a study close to a good region can keep proposing beside its
    incumbent; a model of the study's own results proposes elsewhere.  The first new best hands
    every trial back to the transfer model.  Not in a study with a failed trial, as in
    MetaSampler's (the transfer model's failure model learns from the prior studies' failures
    too); unlike MetaSampler's, also with conditional labels (the engine imputes them; in
    MetaSampler's conditional studies this GP as the hedge was measured and not kept, MEASUREMENTS.md "The
    engine's GP as the hedge of a conditional Optuna study").  Where that GP raises, the transfer
    model serves (logged once).  ``tpe.suggest`` in that role was measured and not kept (MEASUREMENTS.md,
    "The hedge in the Hyperopt adapter").

    Each new trial doc records how its configuration was chosen, in ``doc["misc"]["metahpo"]``:
    ``{"phase": ...}`` with the engine's phase (``"startup"``, ``"portfolio"``, ``"mtgp"``,
    ``"neural"``, ``"gp"``), ``"random"`` (a space without a label to model: every value is drawn)
    or ``"fallback"`` (a random draw after an error), and ``"reason": "stall"`` on the hedge's
    trials.

    Args:
        source_trials: prior hyperopt runs: ``Trials`` objects or paths to pickled ``Trials``
            (their choice values are taken as indices into this space's options), or
            :class:`metahpo.PriorStudy`.
        knowledge_base: a metahpo knowledge base (URL or object) whose studies are priors too.
        n_startup_trials, max_source_studies, max_prior_points, min_overlap, device, surrogate,
            surrogate_cache: as for :class:`optuna_meta.MetaSampler`.
    """

    def __init__(
        self,
        *,
        source_trials: Sequence[Any] = (),
        knowledge_base: str | KnowledgeBase | None = None,
        n_startup_trials: int | None = None,
        max_source_studies: int = 8,
        max_prior_points: int = 256,
        min_overlap: float = 0.5,
        device: str = "auto",
        surrogate: SurrogateName = "auto",
        surrogate_cache: str | os.PathLike[str] | None = None,
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
        if isinstance(source_trials, (str, Path)) or not isinstance(source_trials, Sequence):
            raise TypeError("source_trials must be a list of Trials, pickle paths or PriorStudy")
        self._sources = list(source_trials)
        for i, s in enumerate(self._sources):
            if not isinstance(s, (str, Path, PriorStudy)) and not hasattr(s, "trials"):
                raise TypeError(
                    f"source_trials[{i}] must be a hyperopt Trials, a path to a pickled Trials or "
                    f"a metahpo.PriorStudy (got {type(s).__name__})"
                )
        self._kb = as_knowledge_base(knowledge_base)
        self._engine: MetaEngine | None = None
        self._plain_engine: MetaEngine | None = None
        self._lock = threading.RLock()
        self._warn = WarnOnce(_logger)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_engine"] = None
        state["_plain_engine"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_plain_engine", None)  # pickled before the hedge existed
        self._lock = threading.RLock()

    def _get_engine(self, labels: dict[str, Label]) -> MetaEngine:
        """The engine, built once; a source that cannot be read is reported once and left out."""
        with self._lock:
            if self._engine is None:
                sources: list[PriorSource] = []
                for i, src in enumerate(self._sources):
                    read = (
                        functools.partial(list, [src])
                        if isinstance(src, PriorStudy)
                        else functools.partial(_read_trials, src, i, labels)
                    )
                    sources.append((f"source_trials[{i}]", read))
                if self._kb is not None:
                    sources.append((f"knowledge_base ({self._kb.url!r})", self._kb.load))
                self._engine = MetaEngine(read_priors(sources, self._warn, "MetaAlgo"), self._config)
            return self._engine

    def _get_plain_engine(self) -> MetaEngine:
        """The engine without priors, for the trials of a stalled study: its GP on this study
        alone, from the first result (no random start-up: the study has results)."""
        with self._lock:
            if self._plain_engine is None:
                self._plain_engine = MetaEngine([], dataclasses.replace(self._config, n_startup_trials=0))
            return self._plain_engine

    def suggest(self, new_ids: Sequence[int], domain: Any, trials: Any, seed: int) -> list[dict[str, Any]]:
        """Hyperopt's algo contract: new trial docs for ``new_ids``."""
        rng = np.random.default_rng(seed)
        try:
            labels = labels_of(domain.expr)
        except Exception as e:  # fmin must go on
            self._fallback(e, "this space is not understood; trials are drawn by rand.suggest")
            drawn = list(rand.suggest(new_ids, domain, trials, seed))
            for doc in drawn:
                doc["misc"]["metahpo"] = {"phase": "fallback"}
            return drawn
        docs = []
        # NEW / RUNNING docs (SparkTrials, MongoTrials, several new_ids) are pending points.
        pending = [_stored(d) for d in trials.trials if d.get("state") in (JOB_STATE_NEW, JOB_STATE_RUNNING)]
        for new_id in new_ids:
            stored, served = self._one(labels, trials, pending, int(rng.integers(2**31 - 1)), rng, new_id)
            flags = active(labels, stored)
            pending.append({k: v for k, v in stored.items() if flags[k]})
            idxs = {k: ([new_id] if flags[k] else []) for k in labels}
            vals = {k: ([stored[k]] if flags[k] else []) for k in labels}
            misc = {"tid": new_id, "cmd": domain.cmd, "workdir": domain.workdir, "metahpo": served}
            miscs_update_idxs_vals([misc], idxs, vals)
            docs.extend(trials.new_trial_docs([new_id], [None], [domain.new_result()], [misc]))
        return docs

    def _one(
        self,
        labels: dict[str, Label],
        trials: Any,
        pending: list[dict[str, Any]],
        seed: int,
        rng: np.random.Generator,
        new_id: int,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The stored values of trial ``new_id`` and how they were chosen (the class docstring's
        ``misc["metahpo"]``)."""
        stored = {k: lab.sample(rng) for k, lab in labels.items()}
        space = model_space(labels)
        if not space.params:
            return stored, {"phase": "random"}
        hedged = False
        try:
            always = [k for k, lab in labels.items() if lab.unconditional]
            observed, values, failed = [], [], []
            for doc in trials.trials:
                vals = _stored(doc)
                if doc.get("state") not in _FINISHED or not all(k in vals for k in always):
                    continue
                # the labels active in this trial; the inactive ones are the engine's to impute
                cfg = {k: labels[k].to_core(v) for k, v in vals.items() if k in space.params}
                loss = _finite_loss(doc)
                if loss is None:  # an error, a status other than ok, or a non-finite loss
                    failed.append(cfg)
                else:
                    observed.append(cfg)
                    values.append(loss)
            pend = [{k: labels[k].to_core(v) for k, v in p.items() if k in space.params} for p in pending]
            engine = self._get_engine(labels)

            def ask(e: MetaEngine) -> Suggestion:
                return e.suggest(space, "minimize", observed, values, pend, seed=seed, failed=failed)

            suggestion: Suggestion | None = None
            if (
                new_id % 2 == 0
                and not failed
                and self._config.max_source_studies > 0
                and engine.alignment(space, "minimize").n_studies_used > 0
                and stalled(values, False, len(space.params))
            ):
                try:
                    suggestion = ask(self._get_plain_engine())
                    hedged = True
                except Exception as e:  # the transfer model serves this trial
                    self._warn(
                        f"stall-gp:{type(e).__name__}",
                        f"MetaAlgo: the study's own GP failed on trial {new_id} "
                        f"({type(e).__name__}: {e}); the transfer model serves instead.",
                    )
            if suggestion is None:
                suggestion = ask(engine)
            for note in suggestion.warnings:
                self._warn(f"note:{note}", f"MetaAlgo: {note}")
            stored.update({k: labels[k].to_hyperopt(v) for k, v in suggestion.params.items()})
            served = {"phase": suggestion.phase, **({"reason": "stall"} if hedged else {})}
        except Exception as e:  # fmin must go on: this trial keeps its random draw
            self._fallback(e, "this trial is drawn at random")
            served = {"phase": "fallback"}
        return stored, served

    def _fallback(self, error: Exception, consequence: str) -> None:
        self._warn(
            f"fallback:{type(error).__name__}",
            f"MetaAlgo could not use its model ({type(error).__name__}: {error}); {consequence}.",
        )


def record_trials(
    trials: Any, space: Any, knowledge_base: str | KnowledgeBase, name: str, *, replace: bool = False
) -> int:
    """Store a finished ``fmin`` run in the knowledge base (choices stored by value) and return
    the study's id, so Optuna and Hyperopt users share one history."""
    kb = as_knowledge_base(knowledge_base)
    if kb is None:
        raise TypeError("knowledge_base must be a SQLAlchemy URL or a metahpo.KnowledgeBase (got None)")
    labels = labels_of(space)
    prior = trials_to_prior(trials, name, labels)
    prior = PriorStudy(
        prior.name, prior.trials, prior.directions, model_space(labels), "hyperopt", prior.failed
    )
    return kb.add_study(prior, framework="hyperopt", replace=replace)
