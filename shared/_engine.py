"""The framework-neutral meta-learning engine behind both adapters.

One call of :meth:`MetaEngine.suggest` turns (target space, target history, pending
configurations, prior studies) into one configuration, in one of these phases:

``portfolio``
    fewer than ``n_startup_trials`` target results and usable priors: the next configuration of
    the greedy zero-shot portfolio (:mod:`metahpo._portfolio`) that is not observed or pending.
``startup``
    fewer than ``n_startup_trials`` target results and no usable prior (or the portfolio is
    used up before the first result): a uniformly random legal configuration.
``mtgp`` / ``gp`` / ``neural``
    a surrogate (:mod:`metahpo._surrogate`) gives an acquisition, which
    :func:`metahpo._optim.optimize_acquisition` maximises: the multi-task GP over the target and
    the most similar prior studies, or a single-task GP without priors (:mod:`metahpo._mtgp`); with
    ``surrogate="neural"`` (or ``"auto"`` and a large knowledge base) the deep-kernel GP meta-trained
    on every aligned prior trial (:mod:`metahpo._neural_surrogate`).  With priors, from
    ``_PREQ_WINDOW`` results a GP on the target alone is fitted beside that transfer model; each
    predicts every result before it is known, and the one that ranked the recent results better
    serves (:func:`_prequential_choice`).
    A multi-objective target (several directions) has one GP per objective on its own results
    under LogEHVI (qLogEHVI with running trials) instead (``gp``); prior studies with as many
    objectives start it through the portfolio.

Alignment, the portfolio and the surrogates are built once per target space and direction.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from metahpo._acqf import Acquisition, FeasibilityWeighted, LogEHVI, QLogEHVI, pareto_front
from metahpo._config import EngineConfig
from metahpo._lazy import LazyImport
from metahpo._mtgp import GPFit, GPSurrogate, TargetPosterior, fit_gp
from metahpo._optim import is_row_of, optimize_acquisition
from metahpo._portfolio import greedy_portfolio_with_origin, kendall_tau
from metahpo._prior import (
    AlignedStudy,
    AlignmentReport,
    Direction,
    PriorStudy,
    align_studies,
    constraint_columns,
    copula_scores,
    score_against,
    standardised_scores,
)
from metahpo._pruned import estimate_pruned_values
from metahpo._runtime import is_cuda_oom, limit_threads, resolve_device, seeded, threads_for
from metahpo._space import SearchSpace
from metahpo._surrogate import Fitted, SurrogateUnavailable, TargetData
from metahpo._validation import require

if TYPE_CHECKING:
    import torch

    from metahpo import _neural_surrogate
else:
    _neural_surrogate = LazyImport("metahpo._neural_surrogate")

__all__ = ["MetaEngine", "Phase", "Suggestion"]

Phase = Literal["portfolio", "startup", "gp", "mtgp", "neural"]

# the most recent target results by which two candidate models are compared (and the target size
# from which the target-only GP is fitted beside the transfer model)
_PREQ_WINDOW = 15
# the scored results kept per space (the comparison reads the most recent _PREQ_WINDOW)
_PREQ_RECORDS = 4 * _PREQ_WINDOW
# a single-objective study's floor on the probability of meeting the constraints, once a feasible
# result exists (FeasibilityWeighted's floor): LogEI times the probability alone spent 11 of 47
# model trials of a traced lcbench-constrained run on long shots the models gave less than 0.1 (2
# were feasible); a floor of 0.5 cost more regret, likely by keeping the search off the
# constraint's boundary, where the best feasible configurations lie (MEASUREMENTS.md, "The feasibility
# floor").  Not measured on multi-objective studies, which take no floor.
_FEASIBILITY_FLOOR = 0.2


@dataclass
class Suggestion:
    """What the engine proposes.

    Attributes:
        params: the configuration.
        phase: how it was chosen (see the module docstring).
        info: diagnostics (JSON-serialisable) for logs and trial attributes.
        warnings: messages for the user; an adapter logs each distinct message once.
    """

    params: dict[str, Any]
    phase: Phase
    info: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Call:
    """The inputs of one :meth:`MetaEngine.suggest`, encoded."""

    space: SearchSpace
    directions: tuple[Direction, ...]  # one per objective
    X_obs: np.ndarray  # (n, F)
    V: np.ndarray  # (n, m) objective values
    X_pend: np.ndarray  # (p, F)
    X_fail: np.ndarray  # (f, F) configurations whose trial failed
    C_obs: dict[str, np.ndarray]  # constraint name -> (n,) values of the observed (NaN: not recorded)
    X_est: np.ndarray  # (e, F) pruned configurations with an estimated final value
    v_est: np.ndarray  # (e,) those estimates (single-objective only; metahpo._pruned)
    # not to propose again: the finished, failed and pruned configurations with NaN where the trial
    # did not set a parameter (inactive: any value of it is the same configuration; a trial that
    # failed before setting an active parameter therefore blocks every value of it), then the
    # pending ones, NaN too where a claim leaves a parameter out (an adapter leaves out those of
    # another branch than the claim's)
    exclude: np.ndarray
    seed: int
    fixed: dict[int, float]  # encoded feature -> value
    portfolio_offset: int

    @property
    def direction(self) -> Direction:
        """The direction of a single-objective call."""
        return self.directions[0]

    @property
    def values(self) -> np.ndarray:
        """``(n,)`` the values of a single-objective call."""
        return self.V[:, 0]

    @property
    def feasible(self) -> np.ndarray | None:
        """``(n,)`` True where the observed trial broke no constraint; None without constraints."""
        if not self.C_obs:
            return None
        ok = np.ones(self.X_obs.shape[0], dtype=bool)
        for c in self.C_obs.values():
            ok &= ~(c > 0)
        return ok

    def with_fixed(self, X: np.ndarray) -> np.ndarray:
        """Rows with the fixed features set and, in a conditional space, the inactive parameters
        encoded as unset (as pending and observed rows are), so equal configurations compare equal."""
        if X.size == 0:
            return X
        if self.space.conditions:
            X = self.space.impute_inactive(X)
        if not self.fixed:
            return X
        X = X.copy()
        for j, u in self.fixed.items():
            X[:, j] = u
        return X


@dataclass
class _SpaceState:
    """What the engine keeps per target space and direction."""

    space: SearchSpace
    direction: Direction
    aligned: list[AlignedStudy]
    report: AlignmentReport
    portfolio: np.ndarray  # (k, F)
    gp: GPSurrogate
    neural: _neural_surrogate.NeuralSurrogate | None = None
    # the GPs besides the surrogate (("feasibility",), ("objective", j) of a multi-objective study,
    # ("constraint", name)) -> (hyper-parameters of the last fit, target size when optimised)
    aux_fits: dict[tuple[Any, ...], tuple[dict[str, Any], int]] = field(default_factory=dict)
    # constraint name -> its prior tasks (chosen once)
    constraint_tasks: dict[str, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    # the prior studies' failure labels, one (X, +1/-1 labels) task each (see MetaEngine._feasibility)
    failure_tasks: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    # per portfolio row, the prior study it was among the best configurations of
    portfolio_origin: list[str] = field(default_factory=list)
    # the GP on the target alone (beside the transfer model); per target result that arrived while
    # several candidate models were fitted, (its encoded configuration, candidate -> the mean that
    # candidate's last fit before the result predicted there), the most recent _PREQ_RECORDS; the
    # posteriors of that last fit; and how many times each encoded result was accounted for
    _target_gp: GPSurrogate | None = None
    predictions: deque[tuple[np.ndarray, dict[str, float]]] = field(
        default_factory=lambda: deque(maxlen=_PREQ_RECORDS)
    )
    last_models: dict[str, Callable[[Any], tuple[Any, Any]]] = field(default_factory=dict)
    scored: Counter[bytes] = field(default_factory=Counter)

    def target_gp(self, config: EngineConfig) -> GPSurrogate:
        if self._target_gp is None:
            # the guard against negative transfer keeps BoTorch's noise prior (measured: see
            # metahpo._mtgp._gamma_noise_likelihood)
            self._target_gp = GPSurrogate([], config, noise_prior="lognormal")
        return self._target_gp

    @property
    def n_prior_trials(self) -> int:
        return int(sum(a.X.shape[0] for a in self.aligned))


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
        self._device_warned = False
        self._cpu_only = False

    def __getstate__(self) -> dict[str, Any]:
        # Fitted models and caches are per process; only priors and settings travel.
        return {"priors": self.priors, "config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["priors"], state["config"])  # type: ignore[misc]

    def alignment(self, space: SearchSpace, direction: Direction | tuple[Direction, ...]) -> AlignmentReport:
        """The alignment report of the priors against ``space``."""
        return self._state(space, direction).report

    def learns_from_priors(
        self,
        space: SearchSpace,
        direction: Direction,
        observed: Sequence[Mapping[str, Any]],
        values: Sequence[float],
    ) -> bool:
        """Whether the next suggestion for a single-objective study with this history (its finished
        configurations and their values, as :meth:`suggest` takes them) takes anything from the
        prior studies.

        False without a usable prior, and while the multi-task GP leaves every prior study out as
        misleading for this history (each ranked the study's results the wrong way round; the
        choice is made again as the history grows by half, so priors can come back): the model is
        then a GP on the study alone.  True while the portfolio serves, with the neural surrogate
        (meta-trained on every prior) and where the priors' failure labels weight the acquisition.
        Constraints are not looked at (their models take the priors that recorded the same name),
        nor is ``max_prior_points`` below 2 (a setting that keeps no prior point: True, as with
        it the engine's own GP serves on).  Makes the choice of prior studies that :meth:`suggest`
        would make on the same history.
        """
        require(
            len(observed) == len(values),
            "values",
            "must have one entry per observed config",
            (len(observed), len(values)),
        )
        with self._lock:
            st = self._state(space, direction)
            if not self._has_priors(st):
                return False
            if (
                len(observed) < self.config.startup_trials(True)
                or st.failure_tasks
                or self.config.use_neural(st.n_prior_trials)
            ):
                return True
            z = copula_scores(np.asarray(values, dtype=float), direction)
            if st.gp.keeps_priors(space.encode_partial(observed), z):
                return True
            # as a fit with one candidate model would: the models of the last fit with priors do
            # not score the results to come (see _record_predictions)
            st.last_models = {}
            return False

    def misleading_sources(self, space: SearchSpace, direction: Direction) -> tuple[str, ...]:
        """Names of the prior studies that the multi-task GP's last choice for ``space`` and
        ``direction`` left out as misleading (each ranked the study's results the wrong way round,
        beyond chance); empty before any choice and where none was.  The choice is the one
        :meth:`learns_from_priors` or :meth:`suggest` made last, so ask after them."""
        with self._lock:
            return self._state(space, direction).gp.misleading

    def train_neural(
        self,
        space: SearchSpace,
        direction: Direction,
        *,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        force: bool = False,
    ) -> _neural_surrogate.NeuralTraining:
        """Load the neural surrogate for ``space`` from the cache, or train and cache it (what
        ``metahpo train`` runs: it writes the ``surrogate_cache`` file it was given; a suggestion
        does the same lazily on first use, but never overwrites a user's ``.pt`` file)."""
        st = self._state(space, direction)
        require(bool(st.aligned), "priors", "no prior study aligns with this space", len(self.priors))
        device, _ = resolve_device(self._device())
        return self._neural(st).train(device, on_epoch=on_epoch, force=force, replace_file=True)

    def suggest(
        self,
        space: SearchSpace,
        direction: Direction | Sequence[Direction],
        observed: Sequence[Mapping[str, Any]],
        values: Sequence[float] | Sequence[Sequence[float]],
        pending: Sequence[Mapping[str, Any]] = (),
        *,
        seed: int,
        fixed: Mapping[str, Any] | None = None,
        portfolio_offset: int = 0,
        failed: Sequence[Mapping[str, Any]] = (),
        pruned: Sequence[Mapping[str, Any]] = (),
        constraints: Sequence[Mapping[str, float]] = (),
        curves: Sequence[Mapping[int, float]] = (),
        pruned_curves: Sequence[Mapping[int, float]] = (),
    ) -> Suggestion:
        """Propose one configuration of ``space``.

        Args:
            space: the target search space.
            direction: the target's direction, or one per objective (a multi-objective study:
                one GP per objective and LogEHVI; prior studies with as many objectives give its
                portfolio).
            observed: finished target configurations; a parameter a configuration lacks (an
                inactive conditional one) is imputed like a prior's missing parameter.
            values: their objective values (finite): one per configuration, or one sequence of
                one value per objective.
            pending: configurations being evaluated now (complete or partial: the model completes
                a partial one with the centre of the missing ranges, and no suggestion repeats it
                in the parameters it names).
            seed: the seed of this call.
            fixed: parameter values the suggestion must keep (e.g. a partially enqueued trial).
            portfolio_offset: portfolio rows to leave to concurrent trials that started earlier
                and whose configuration is not known yet (other processes): the suggestion is
                the ``portfolio_offset``-th unused row, and past the portfolio's end no row.
            failed: target configurations whose trial failed (raised, or gave a non-finite
                value): never proposed again (unless nothing else is left), and a feasibility model
                learns where trials fail (the acquisition is weighted by the probability of success).
            pruned: target configurations whose trial was pruned: never proposed again, and, in a
                single-objective study with learning curves (``curves`` and ``pruned_curves``),
                modelled at an estimate of their final value (they teach where not to go; a
                pruned trial was stopped for being unpromising, not for failing, so the
                feasibility model does not learn from it).
            constraints: empty, or one mapping per observed configuration of constraint values by
                name (feasible iff every value is <= 0; a name a trial lacks is not known for
                it).  Each constraint gets a GP (multi-task with the prior studies that recorded
                the same name); the acquisition is weighted by the probability of feasibility and
                improves on the best feasible result (before any: the probability alone); once a
                feasible result exists, a single-objective study's acquisition is penalised
                steeply below a 0.2 probability of meeting the constraints.
            curves: empty, or one learning curve per observed configuration (step -> intermediate
                value, in the objective's direction; empty where a trial reported none).
            pruned_curves: empty, or one learning curve per pruned configuration.  A pruned
                trial is ranked among the observed ones at the latest step it
                reported (NaN values aside) that at least three of them reported too, and its
                estimate is their final value at that rank; a trial whose last value is NaN or
                infinitely bad (diverged) is estimated at the worst final value
                (:func:`metahpo._pruned.estimate_pruned_values`).  A pruned trial joins the
                models' fit at its estimate (parameters it did not set imputed as an observed
                configuration's are), scored against the results as a new result would be, and
                is never the best result.
        """
        require(
            len(observed) == len(values),
            "values",
            "must have one entry per observed config",
            (len(observed), len(values)),
        )
        directions: tuple[Direction, ...] = (direction,) if isinstance(direction, str) else tuple(direction)
        require(len(directions) >= 1, "direction", "must name at least one direction", directions)
        V = np.asarray(values, dtype=float).reshape(len(observed), -1) if len(observed) else None
        require(
            V is None or V.shape[1] == len(directions),
            "values",
            "must hold one value per direction for each observed config",
            (None if V is None else V.shape, len(directions)),
        )
        require(
            not constraints or len(constraints) == len(observed),
            "constraints",
            "must be empty or have one mapping per observed config",
            (len(constraints), len(observed)),
        )
        require(
            not curves or len(curves) == len(observed),
            "curves",
            "must be empty or have one learning curve per observed config",
            (len(curves), len(observed)),
        )
        require(
            not pruned_curves or len(pruned_curves) == len(pruned),
            "pruned_curves",
            "must be empty or have one learning curve per pruned config",
            (len(pruned_curves), len(pruned)),
        )
        X_est, v_est = np.empty((0, space.n_features)), np.empty(0)
        if curves and pruned_curves and len(directions) == 1 and V is not None:
            estimates = estimate_pruned_values(curves, V[:, 0], pruned_curves, directions[0])
            known = np.flatnonzero(np.isfinite(estimates))
            if known.size:
                # a trial pruned before it set every parameter reported its values before the rest
                # existed, so they speak of the parameters it set: the rest are imputed as a
                # finished trial's inactive ones and a prior's missing ones are (define-by-run
                # studies that prune before their branch parameters otherwise learn nothing)
                X_est = space.encode_partial([pruned[int(i)] for i in known])
                v_est = estimates[known]
        call = _Call(
            space=space,
            directions=directions,
            X_obs=space.encode_partial(observed),
            V=V if V is not None else np.empty((0, len(directions))),
            X_pend=space.encode_partial(pending),
            X_fail=space.encode_partial(failed),
            C_obs=constraint_columns(constraints),
            X_est=X_est,
            v_est=v_est,
            exclude=np.vstack(
                [
                    space.encode_partial([*observed, *failed, *pruned], missing=np.nan),
                    space.encode_partial(pending, missing=np.nan),
                ]
            ),
            seed=seed,
            fixed=space.fixed_features(fixed or {}),
            portfolio_offset=portfolio_offset,
        )
        with self._lock:
            try:
                return self._suggest(call)
            except Exception as e:
                if not is_cuda_oom(e) or self._cpu_only:
                    raise
                # The GPU ran out of memory: this engine moves to the CPU for good, and says so.
                self._cpu_only = True
                suggestion = self._suggest(call)
                suggestion.warnings.append(f"CUDA out of memory ({e}); using the CPU from now on")
                return suggestion

    # ------------------------------------------------------------------------------ phases
    def _suggest(self, call: _Call) -> Suggestion:
        st = self._state(call.space, call.directions)
        report = st.report
        info: dict[str, Any] = {
            "n_prior_studies_used": report.n_studies_used,
            "n_prior_studies_skipped": report.n_studies_skipped,
            "n_prior_trials_used": report.n_trials_used,
            "n_prior_trials_skipped": report.n_trials_skipped,
        }
        start = self._startup(st, call, info)
        if start is not None:
            return start
        return self._model(st, call, info) if len(call.directions) == 1 else self._model_mo(st, call, info)

    def _has_priors(self, st: _SpaceState) -> bool:
        return bool(st.aligned) and self.config.max_source_studies > 0

    def _startup(self, st: _SpaceState, call: _Call, info: dict[str, Any]) -> Suggestion | None:
        """A portfolio row or a random configuration while the target history is short, else
        None (the model's turn; also when the portfolio is used up after the first result)."""
        n_obs = call.X_obs.shape[0]
        has_priors = self._has_priors(st)
        if n_obs >= self.config.startup_trials(has_priors) and n_obs > 0:
            return None
        if has_priors:
            exclude, skip = call.exclude, call.portfolio_offset
            for i, row in enumerate(call.with_fixed(st.portfolio)):
                if not is_row_of(row, exclude):
                    if skip == 0:
                        info["sources"] = [st.portfolio_origin[i]]
                        return Suggestion(call.space.decode(row[None])[0], "portfolio", info)
                    skip -= 1
        if n_obs == 0 or not has_priors:
            # a random legal configuration not tried yet (the first draw when the space is exhausted)
            rng = np.random.default_rng(call.seed)
            rows = call.with_fixed(call.space.snap(rng.random((64, call.space.n_features))))
            fresh = [i for i in range(rows.shape[0]) if not is_row_of(rows[i], call.exclude)]
            return Suggestion(call.space.decode(rows[fresh[0] if fresh else 0][None])[0], "startup", info)
        return None

    def _model(self, st: _SpaceState, call: _Call, info: dict[str, Any]) -> Suggestion:
        """Fit the surrogate in turn and maximise its acquisition."""
        notes: list[str] = []
        device, msg = resolve_device(self._device())
        if msg is not None and not self._device_warned:
            self._device_warned = True
            notes.append(msg)
        data = TargetData(
            X_obs=call.X_obs,
            z_obs=copula_scores(call.values, call.direction),
            y_obs=standardised_scores(call.values, call.direction),
            X_pend=call.X_pend,
            seed=call.seed,
            device=device,
            feasible=call.feasible,
        )
        _record_predictions(st, data)
        fit_data = data
        if call.v_est.size:
            # pruned trials' estimated final values teach the models where not to go, each scored
            # against the results as a new result would be (the results keep their scores); the
            # record of predictions and the choice between models keep to the results
            n, e = call.X_obs.shape[0], call.v_est.size
            fit_data = TargetData(
                X_obs=np.vstack([call.X_obs, call.X_est]),
                z_obs=np.r_[
                    data.z_obs, [score_against(call.values, v, call.direction, "copula") for v in call.v_est]
                ],
                y_obs=np.r_[
                    data.y_obs,
                    [score_against(call.values, v, call.direction, "standardised") for v in call.v_est],
                ],
                X_pend=call.X_pend,
                seed=call.seed,
                device=device,
                feasible=None if call.feasible is None else np.r_[call.feasible, np.ones(e, dtype=bool)],
                estimated=np.r_[np.zeros(n, dtype=bool), np.ones(e, dtype=bool)],
            )
            info["n_pruned_estimated"] = int(call.v_est.size)
        with seeded(call.seed):
            candidates = self._candidates(st, fit_data, notes)
            st.last_models = (
                {k: f.predict for k, f in candidates.items() if f.predict is not None}
                if len(candidates) > 1
                else {}
            )
            # With priors, every candidate model predicts each result before it is known, and the
            # one that ranked the results best (prequentially) serves.
            if len(candidates) > 1:
                name, taus = _prequential_choice(st.predictions, data, list(candidates))
                info["served_by"] = name
                info["prequential_tau"] = {k: round(v, 4) for k, v in taus.items()}
            else:
                name = next(iter(candidates))
            fitted = candidates[name]
            acquisition: Acquisition = fitted.acquisition
            terms: list[tuple[Any, float, bool]] = []
            if call.X_fail.shape[0] > 0 or (st.failure_tasks and self._has_priors(st)):
                terms.append((self._feasibility(st, call, device), 0.0, True))
            constraint_terms = self._constraint_terms(st, call, device, info)
            terms += constraint_terms
            if terms:
                # before the first feasible result only the probability of feasibility counts
                none_feasible = (
                    bool(constraint_terms) and data.feasible is not None and not data.feasible.any()
                )
                acquisition = FeasibilityWeighted(
                    None if none_feasible else acquisition, terms, floor=_FEASIBILITY_FLOOR
                )
            with limit_threads(fitted.n_threads):
                x, log_acq = optimize_acquisition(
                    acquisition,
                    call.space,
                    incumbents=fitted.incumbents,
                    exclude=call.exclude,
                    seed=call.seed,
                    n_candidates=self.config.n_candidates,
                    fixed=call.fixed,
                )
        info.update(fitted.info)
        info.update({"log_acq": log_acq, "device": str(device)})
        info.update(_prediction(fitted, x, device))
        info.update(_feasibility_prediction(acquisition, x, device))
        return Suggestion(call.space.decode(x[None])[0], fitted.phase, info, notes + fitted.warnings)

    def _model_mo(self, st: _SpaceState, call: _Call, info: dict[str, Any]) -> Suggestion:
        """A multi-objective suggestion: one GP per objective on its standardised values (higher
        is better), LogEHVI over the feasible results' front (BoTorch's qLogEHVI when trials are
        running, fantasised jointly; the reference point just below the worst feasible value of
        each objective), weighted by the failure and constraint models like the single-objective
        acquisition."""
        notes: list[str] = []
        device, msg = resolve_device(self._device())
        if msg is not None and not self._device_warned:
            self._device_warned = True
            notes.append(msg)
        cfg = self.config
        # Prior studies with as many objectives start the study (the portfolio from their Pareto
        # fronts) but do not join the objectives' GPs: with them as further tasks of each GP the
        # hypervolume was worse (ZDT1-like, 3 related priors, median of 3 seeds, HV@10/@25/@50: all
        # tasks on the copula scale 11.000/11.000/11.143, the target standardised 11.449/11.658/
        # 11.710, target-only GPs after the portfolio 11.389/11.704/11.732; no priors 8.432/11.646/
        # 11.715), and unrelated priors held the copula variant at 11.000 from 25 trials on.
        Y = np.column_stack([standardised_scores(call.V[:, j], d) for j, d in enumerate(call.directions)])
        feasible = call.feasible
        ok = feasible if feasible is not None and feasible.any() else np.ones(Y.shape[0], dtype=bool)
        with seeded(call.seed):
            pending = call.X_pend.shape[0] > 0  # running trials are fantasised jointly by qLogEHVI
            fits = [
                self._fit_aux(
                    st,
                    ("objective", j),
                    [call.X_obs],
                    [Y[:, j]],
                    device,
                    seed=call.seed,
                    posterior=not pending,
                )
                for j in range(Y.shape[1])
            ]
            acquisition: Acquisition
            if pending:
                acquisition = QLogEHVI([f.model for f, _ in fits], Y[ok], call.X_pend, seed=call.seed)
            else:
                posteriors = [p for _, p in fits if p is not None]
                assert len(posteriors) == len(fits)  # posterior=True
                acquisition = LogEHVI(posteriors, Y[ok], seed=call.seed)
            terms: list[tuple[Any, float, bool]] = []
            if call.X_fail.shape[0] > 0:
                terms.append((self._feasibility(st, call, device), 0.0, True))
            constraint_terms = self._constraint_terms(st, call, device, info)
            terms += constraint_terms
            if terms:
                none_feasible = bool(constraint_terms) and feasible is not None and not feasible.any()
                acquisition = FeasibilityWeighted(None if none_feasible else acquisition, terms)
            front = call.X_obs[ok][pareto_front(Y[ok])]
            with limit_threads(threads_for(call.X_obs.shape[0])):
                x, log_acq = optimize_acquisition(
                    acquisition,
                    call.space,
                    incumbents=front[:10],
                    exclude=call.exclude,
                    seed=call.seed,
                    n_candidates=cfg.n_candidates,
                    fixed=call.fixed,
                )
        info.update({"n_objectives": Y.shape[1], "log_acq": log_acq, "device": str(device)})
        info.update(_feasibility_prediction(acquisition, x, device))
        return Suggestion(call.space.decode(x[None])[0], "gp", info, notes)

    def _feasibility(self, st: _SpaceState, call: _Call, device: torch.device) -> TargetPosterior:
        """A GP on +1 (finished) / -1 (failed) labels, warm-started from its previous fit: the
        target's trials, and as further tasks of a multi-task GP the prior studies that recorded
        failures (so a region where the priors failed is avoided before the target fails there;
        the task correlation is learnt, so priors that fail elsewhere lose their say)."""
        X = np.vstack([call.X_obs, call.X_fail])
        y = np.concatenate([np.ones(call.X_obs.shape[0]), -np.ones(call.X_fail.shape[0])])
        tasks = st.failure_tasks if self._has_priors(st) else []
        X_tasks = [X] + [Xt for Xt, _ in tasks]
        y_tasks = [y] + [yt for _, yt in tasks]
        post = self._fit_aux(st, ("feasibility",), X_tasks, y_tasks, device, seed=call.seed)[1]
        assert post is not None  # posterior=True
        return post

    def _fit_aux(
        self,
        st: _SpaceState,
        key: tuple[Any, ...],
        X_tasks: list[np.ndarray],
        y_tasks: list[np.ndarray],
        device: torch.device,
        *,
        seed: int,
        shared_noise: bool = False,
        posterior: bool = True,
    ) -> tuple[GPFit, TargetPosterior | None]:
        """Fit one of the GPs besides the surrogate, warm-started from its previous fit and
        re-optimised at every suggestion, and (``posterior``) its cached target posterior, built
        under the same thread limit.  (The surrogate's schedule, which only conditions between 10%
        growth steps past 20 trials, was tried for these: 10% less time per multi-objective trial
        and no clear effect on quality, so the simpler rule stays.)"""
        warm = st.aux_fits.get(key)
        cfg = self.config
        init, maxiter = (None, cfg.fit_maxiter_cold) if warm is None else (warm[0], cfg.fit_maxiter_warm)
        n_fit = X_tasks[0].shape[0]
        with limit_threads(threads_for(sum(x.shape[0] for x in X_tasks))):
            fit = fit_gp(
                X_tasks,
                y_tasks,
                device=device,
                warm_state=init,
                maxiter=maxiter,
                shared_noise=shared_noise,
                seed=seed,
            )
            post = TargetPosterior(fit) if posterior else None
        st.aux_fits[key] = (fit.state, n_fit)
        return fit, post

    def _constraint_terms(
        self, st: _SpaceState, call: _Call, device: torch.device, info: dict[str, Any]
    ) -> list[tuple[TargetPosterior, float, bool]]:
        """Per constraint a GP on its standardised values (multi-task with the prior studies that
        recorded the same name, each standardised on its own), warm-started from its previous fit,
        and the standardised threshold where the raw value is 0."""
        terms = []
        cfg = self.config
        for name, c in call.C_obs.items():
            known = np.isfinite(c)  # +inf (infeasible, no magnitude) joins only the feasibility mask
            if not known.any():
                continue
            if name not in st.constraint_tasks:
                st.constraint_tasks[name] = _constraint_tasks(st.aligned, name, cfg)
            prior_tasks = st.constraint_tasks[name] if self._has_priors(st) else []
            if np.ptp(c[known]) == 0.0 and not prior_tasks:
                continue  # nothing to learn from (yet)
            mean, sd = float(c[known].mean()), float(c[known].std()) or 1.0
            X_tasks = [call.X_obs[known], *(X for X, _ in prior_tasks)]
            y_tasks = [(c[known] - mean) / sd, *(y for _, y in prior_tasks)]
            post = self._fit_aux(
                st, ("constraint", name), X_tasks, y_tasks, device, seed=call.seed, shared_noise=True
            )[1]
            assert post is not None  # posterior=True
            terms.append((post, -mean / sd, False))
            info["n_constraint_prior_tasks"] = info.get("n_constraint_prior_tasks", 0) + len(X_tasks) - 1
        if terms:
            info["n_constraint_models"] = len(terms)
        return terms

    def _fit(self, st: _SpaceState, data: TargetData, notes: list[str]) -> Fitted:
        """The neural surrogate when configured and available, else the GP."""
        if self._has_priors(st) and self.config.use_neural(st.n_prior_trials):
            try:
                return self._neural(st).fit(data)
            except SurrogateUnavailable as e:
                notes.append(str(e))
        return st.gp.fit(data)

    def _candidates(self, st: _SpaceState, data: TargetData, notes: list[str]) -> dict[str, Fitted]:
        """The models fitted for this suggestion, by name, the default first.

        Without priors only the GP.  With priors the transfer model (:meth:`_fit`) and, once the
        target has ``_PREQ_WINDOW`` results, a GP on the target alone (the guard against negative
        transfer), unless the transfer model kept no prior and is such a GP already.  (Fitting the
        multi-task GP beside the neural surrogate and choosing between them the same way was
        measured and not kept: no better on 6 problem x split cells, twice the cost until the
        choice settles.)
        """
        fitted = self._fit(st, data, notes)
        if not self._has_priors(st):
            return {fitted.phase: fitted}
        out: dict[str, Fitted] = {fitted.phase: fitted}
        # no challenger when the transfer model kept no prior (every one left out as misleading,
        # or none usable): it is a GP on the target alone itself
        if data.n_results >= _PREQ_WINDOW and fitted.phase != "gp":
            out["target_gp"] = st.target_gp(self.config).fit(data)
        return out

    # ------------------------------------------------------------------------------ state
    def _device(self) -> str:
        return "cpu" if self._cpu_only else self.config.device

    def _neural(self, st: _SpaceState) -> _neural_surrogate.NeuralSurrogate:
        if st.neural is None:
            st.neural = _neural_surrogate.NeuralSurrogate(st.space, st.direction, st.aligned, self.config)
        return st.neural

    def _state(self, space: SearchSpace, direction: Direction | tuple[Direction, ...]) -> _SpaceState:
        directions = (direction,) if isinstance(direction, str) else direction
        key = (space.signature(), directions)
        with self._lock:
            st = self._states.get(key)
            if st is None:
                # a multi-objective target learns from priors with as many objectives
                aligned, report = align_studies(
                    space,
                    self.priors,
                    directions[0],
                    min_overlap=self.config.min_overlap,
                    n_objectives=len(directions),
                )
                # configurations that broke a prior's constraints are no portfolio candidates, and
                # count as the worst where a candidate lies nearest to one
                portfolio, origin = greedy_portfolio_with_origin(
                    aligned, size=max(16, self.config.startup_trials(True) * 4)
                )
                if portfolio.size:
                    portfolio = space.snap(portfolio)
                st = _SpaceState(
                    space,
                    directions[0],
                    aligned,
                    report,
                    portfolio,
                    GPSurrogate(aligned, self.config),
                    failure_tasks=_failure_tasks(aligned, self.config),
                    portfolio_origin=[aligned[j].name for j in origin],
                )
                self._states[key] = st
            return st


def _prediction(fitted: Fitted, x: np.ndarray, device: torch.device) -> dict[str, Any]:
    """What the model expected of the suggestion ``(F,)``: posterior mean and standard deviation
    on the scale of the scores it was fit on (``metahpo.score_against`` gives the outcome's score
    on the same scale); empty when the surrogate gives no posterior."""
    import torch  # already imported by the surrogate that made ``fitted``

    if fitted.predict is None:
        return {}
    try:
        with torch.no_grad():
            mean, sd = fitted.predict(torch.as_tensor(x[None], dtype=torch.float64, device=device))
    except Exception:  # a diagnostic: never worth the suggestion it describes
        return {}
    return {
        "predicted_score": float(mean.reshape(-1)[0]),
        "predicted_score_sd": float(sd.reshape(-1)[0]),
        "score_scale": fitted.scale,
    }


def _feasibility_prediction(acquisition: Acquisition, x: np.ndarray, device: torch.device) -> dict[str, Any]:
    """The probability the failure and constraint models gave the suggestion ``(F,)`` of
    succeeding and being feasible (empty when the acquisition is not weighted by one)."""
    import torch

    if not isinstance(acquisition, FeasibilityWeighted):
        return {}
    try:
        with torch.no_grad():
            log_p = acquisition.log_feasibility(torch.as_tensor(x[None], dtype=torch.float64, device=device))
    except Exception:  # a diagnostic: never worth the suggestion it describes
        return {}
    return {"predicted_feasibility": round(float(np.exp(float(log_p.reshape(-1)[0]))), 4)}


def _prequential_choice(
    records: Sequence[tuple[np.ndarray, dict[str, float]]], data: TargetData, candidates: Sequence[str]
) -> tuple[str, dict[str, float]]:
    """The candidate model to serve, and the Kendall tau each had in its last comparison.

    ``candidates[0]`` (the default) holds until a challenger, taken in order, ranked better
    (strictly higher Kendall tau between predictions and outcomes' scores) the last
    ``_PREQ_WINDOW`` target results that both predicted before the result was known (``records``,
    oldest first); the winner then faces the next challenger.  A challenger with fewer such
    results does not compete yet.
    """
    champion, taus = candidates[0], {}
    for challenger in candidates[1:]:
        compared = _compare(records, data, champion, challenger)
        if compared is None:
            continue
        taus[champion], taus[challenger] = compared
        if taus[challenger] > taus[champion]:
            champion = challenger
    return champion, taus


def _compare(
    records: Sequence[tuple[np.ndarray, dict[str, float]]],
    data: TargetData,
    a: str,
    b: str,
) -> tuple[float, float] | None:
    """Kendall taus of models ``a`` and ``b`` against the outcomes' scores on the last
    ``_PREQ_WINDOW`` results both predicted; None while there are fewer."""
    matched: list[tuple[float, float, float]] = []
    for x, means in reversed(records):
        if len(matched) == _PREQ_WINDOW:
            break
        if a not in means or b not in means:
            continue
        hit = np.flatnonzero(np.all(np.abs(data.X_obs - x) < 1e-9, axis=1))
        if hit.size:
            matched.append((means[a], means[b], float(data.z_obs[hit[0]])))
    if len(matched) < _PREQ_WINDOW:
        return None
    m = np.asarray(matched)
    return kendall_tau(m[:, 2], m[:, 0]), kendall_tau(m[:, 2], m[:, 1])


def _record_predictions(st: _SpaceState, data: TargetData) -> None:
    """Score the target results that arrived since the last model suggestion with the candidate
    models of that suggestion (fitted before those results were known), each at the configuration
    as encoded for the models (so inactive parameters and snapping count as they will).  A
    configuration evaluated again counts as a new result; a history that lost results (the engine
    now serves another study of the same space) starts the record afresh."""
    import torch

    rows = [x.tobytes() for x in data.X_obs]
    counts = Counter(rows)
    if any(counts[k] < n for k, n in st.scored.items()):
        st.scored.clear()
        st.predictions.clear()
        st.last_models = {}
    seen: Counter[bytes] = Counter()
    new = []
    for i, key in enumerate(rows):
        seen[key] += 1
        if seen[key] > st.scored[key]:
            new.append(i)
    st.scored = counts
    # the models are let go here: the fits of this suggestion replace them
    models, st.last_models = st.last_models, {}
    if not new or not models:
        return
    X_new = data.X_obs[new]
    means: dict[str, np.ndarray] = {}
    for name, predict in models.items():
        try:
            with torch.no_grad():
                mean, _ = predict(torch.as_tensor(X_new, dtype=torch.float64, device=data.device))
        except Exception:  # a record for the comparison only: never worth the suggestion
            continue
        means[name] = mean.detach().cpu().numpy().reshape(-1)
    for j, row in enumerate(X_new):
        st.predictions.append((row.copy(), {k: float(v[j]) for k, v in means.items()}))


def _failure_tasks(
    aligned: Sequence[AlignedStudy], config: EngineConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The prior studies that recorded failures as feasibility tasks: ``(X, labels)`` with +1 for
    a finished and -1 for a failed configuration, at most ``max_source_studies`` studies (the
    largest overlap with the target first, then the most failures), each subsampled at random
    (fixed seed) to the objective model's quota per study (``max_points_per_study``, and
    ``max_prior_points`` in all), failures first up to half of it."""
    with_failures = [a for a in aligned if a.failures.shape[0] > 0]
    with_failures.sort(key=lambda a: (-a.overlap, -a.failures.shape[0]))
    chosen = with_failures[: config.max_source_studies]
    if not chosen:
        return []
    quota, rng = _quota(len(chosen), config), np.random.default_rng(0)
    out = []
    for a in chosen:
        fails, done = a.failures, a.X
        n_fail = min(fails.shape[0], max(1, quota // 2))
        n_done = min(done.shape[0], quota - n_fail)
        fails = fails[np.sort(rng.choice(fails.shape[0], n_fail, replace=False))]
        done = done[np.sort(rng.choice(done.shape[0], n_done, replace=False))]
        out.append((np.vstack([done, fails]), np.concatenate([np.ones(n_done), -np.ones(n_fail)])))
    return out


def _constraint_tasks(
    aligned: Sequence[AlignedStudy], name: str, config: EngineConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The prior studies that recorded constraint ``name`` (on at least 2 trials, not all equal):
    ``(X, standardised values)``, the largest overlap first, at most ``max_source_studies``, each
    subsampled at random (fixed seed) to the objective model's quota per study."""
    usable = []
    for a in aligned:
        c = a.constraints.get(name)
        if c is None:
            continue
        known = np.isfinite(c)
        if known.sum() >= 2 and np.ptp(c[known]) > 0:
            usable.append((a.overlap, a.X[known], c[known]))
    usable.sort(key=lambda u: -u[0])
    usable = usable[: config.max_source_studies]
    if not usable:
        return []
    quota, rng = _quota(len(usable), config), np.random.default_rng(0)
    out = []
    for _, X, c in usable:
        idx = np.sort(rng.choice(X.shape[0], min(quota, X.shape[0]), replace=False))
        out.append((X[idx], (c[idx] - c.mean()) / c.std()))
    return out


def _quota(n_studies: int, config: EngineConfig) -> int:
    """Rows per prior study of a feasibility or constraint model: the objective model's quota."""
    return max(2, min(config.max_points_per_study, config.max_prior_points // n_studies))
