"""Optuna's own ``GPSampler`` for a study that has nothing to learn from, for a multi-objective
study after its portfolio, for a single-objective one while every prior is left out as
misleading, and beside the transfer model while a study with priors stalls.

With no prior study that aligns with the search space there is nothing to transfer, and
MetaSampler's promise is to be no worse than the sampler the user would otherwise pick: Optuna's
``GPSampler``.  So in that case MetaSampler hands the suggestion to a ``GPSampler`` (its public
``sample_relative``), one per study, seeded with MetaSampler's seed, and keeps its own guarantees
around it.  Its own single-task GP (the engine's ``gp`` phase) serves instead wherever GPSampler
would do less:

- a failed trial in the study: GPSampler learns nothing from failures, the engine's failure model
  does (and then serves the rest of the study, so the model does not switch back and forth);
- a parameter some finished trials did not set (a conditional space): GPSampler would leave it to
  its independent sampler, the engine imputes it;
- a partially enqueued trial (fixed parameters): the engine conditions on them;
- constraints recorded with different keys on different trials (GPSampler raises);
- a complete trial without a value for the relative search space's parameters (GPSampler reads
  every complete trial);
- a proposal equal to a configuration already tried, failed, pruned or pending (GPSampler does not
  check): the engine proposes one that is not;
- a proposal equal to a pruned configuration that set every parameter up to 1e-4 of the range
  on its continuous parameters (floats without a ``step``; the others exactly): GPSampler learns
  nothing from pruned trials, so a region where its trials are pruned stays its best guess, and
  its optimiser lands there again with the last digits changed (under ``HyperbandPruner``, trial
  after trial); the engine, which models pruned trials at an estimate of their final value,
  proposes instead;
- any error inside GPSampler (logged once).

A multi-objective study takes from its priors only its start: the portfolio, chosen from the
priors' Pareto fronts (feasible configurations first), serves its first trials, and the engine's
model after it is one GP per objective on the study's own results (prior studies as further tasks
of those GPs did worse, see :mod:`metahpo._engine`).  So after the portfolio GPSampler serves such
a study as it serves one without priors (the engine's GPs where it cannot, as above), with
constraints too: the engine's constraint models learn from the priors that recorded the same keys,
but on the constrained ZDT1-like benchmark the engine with related priors did worse after the
portfolio than GPSampler from the same start (MEASUREMENTS.md, "Constrained multi-objective studies to
`GPSampler` after the portfolio too").

The stall hedge below therefore serves single-objective studies only.

A single-objective study without constraints is modelled by GPSampler, under the same conditions,
while the engine's multi-task GP leaves every prior study out as misleading (each ranked the
study's results the wrong way round: :meth:`metahpo.MetaEngine.learns_from_priors`).  The engine's
model would then be a GP on the study alone, so nothing is lost that GPSampler does not model; the
choice of priors is made again as the history grows by half, and a prior that passes brings the
transfer model back.  (The neural surrogate, which serves from 2,000 prior trials under
``surrogate="auto"``, makes no such choice.)

With priors, GPSampler also takes every other trial (the even-numbered ones) while the study
stalls: while its last ``max(4, d)`` results (``d`` parameters; TuRBO's failure tolerance, Eriksson
et al. 2019) brought no new best (:func:`metahpo.stalled`, the rule of the Hyperopt adapter's
hedge too).  A transfer model that has brought the study close to a good region can keep
proposing beside its incumbent long after that stops paying (a model whose noise and
lengthscales were learned on the priors, and which the study's tied results do not move);
GPSampler, fitted on the same results, proposes elsewhere.  The first new best from either hands
every trial back to the transfer model.  In a constrained study the best is the best feasible
result (every constraint at most 0), and GPSampler models the constraints as it does in its own
studies.  A study with priors takes the hedge only where GPSampler can serve at all (the list
above).

The random start-up trials stay MetaSampler's (seeded per trial, so workers differ).  GPSampler
runs on the CPU (``device`` does not apply to it) and records each proposal in the trial's system
attributes under its own key, as it does in its own studies; a proposal MetaSampler sets aside
stays recorded there, and other workers' GPSamplers count it as that running trial's point until
the trial's parameters are set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from metahpo import FloatParam, SearchSpace, plain

if TYPE_CHECKING:
    from optuna.samplers import BaseSampler, GPSampler
    from optuna.study import Study

__all__ = ["PRUNED_NEAR", "PlainGP", "is_taken", "serves"]

# a GPSampler proposal this close to a pruned configuration (encoded, on every continuous parameter;
# grid and categorical values exactly) is that configuration again: its optimiser's last digits,
# not a new point (see the module docstring)
PRUNED_NEAR = 1e-4


class PlainGP:
    """One ``GPSampler`` per study (it keeps warm-start state per study), created on first use.

    Args:
        seed: GPSampler's seed (``None``: unseeded).
        independent_sampler: GPSampler's independent sampler (MetaSampler's).
    """

    def __init__(self, seed: int | None, independent_sampler: BaseSampler) -> None:
        self._seed = seed
        self._independent = independent_sampler
        self._samplers: dict[str, GPSampler] = {}
        self._lock = threading.Lock()

    def reseed_rng(self) -> None:
        with self._lock:
            self._seed = None  # GPSamplers created from now on are unseeded too
            for sampler in self._samplers.values():
                sampler.reseed_rng()

    def propose(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: Mapping[str, BaseDistribution],
        space: SearchSpace,
        taken: Sequence[Mapping[str, Any]],
        warn: Callable[[str, str], None],
        instead: str = "MetaSampler's own GP",
        pruned: Sequence[Mapping[str, Any]] = (),
    ) -> dict[str, Any] | None:
        """GPSampler's configuration for ``trial`` over ``search_space`` (``space`` in the core's
        terms), or ``None`` where it gives none, raises, proposes one of ``taken``
        (configurations already tried, failed, pruned or pending) or one within ``PRUNED_NEAR``
        of the ``pruned`` configurations; ``instead`` names, in the warning, what serves the trial
        then."""
        sampler = self._sampler(study.study_name)
        try:
            # in name order, as GPSampler orders its own search space (the order of the dimensions
            # decides which random candidates land where)
            params = sampler.sample_relative(study, trial, dict(sorted(search_space.items())))
        except Exception as e:  # the engine's own GP serves this trial
            warn(
                f"plain-gp:{type(e).__name__}",
                f"MetaSampler: Optuna's GPSampler failed on trial {trial.number} "
                f"({type(e).__name__}: {e}); {instead} serves instead.",
            )
            return None
        params = {k: plain(v) for k, v in params.items()}
        if set(params) != set(space.params) or not all(space.contains(k, v) for k, v in params.items()):
            return None
        if is_taken(space, params, taken) or is_taken(space, params, pruned, tol=PRUNED_NEAR):
            return None
        return params

    def _sampler(self, study_name: str) -> GPSampler:
        with self._lock:
            sampler = self._samplers.get(study_name)
            if sampler is None:
                from optuna.samplers import GPSampler

                # the start-up trials are MetaSampler's; GPSampler serves from the first call
                sampler = GPSampler(
                    seed=self._seed,
                    independent_sampler=self._independent,
                    n_startup_trials=0,
                    warn_independent_sampling=False,
                )
                self._samplers[study_name] = sampler
            return sampler


def serves(
    observed: Sequence[Mapping[str, Any]],
    n_complete: int,
    failed: Sequence[Any],
    constraints: Sequence[Mapping[str, float]],
    n_params: int,
    fixed: Mapping[str, Any],
) -> bool:
    """Whether GPSampler can serve a study in which these trials finished, in place of the engine
    (see the module docstring): ``observed`` are the complete trials' configurations in the relative
    space (``n_complete`` complete trials in all; GPSampler reads every one of them)."""
    if failed or fixed or len(observed) != n_complete:
        return False
    if any(len(p) != n_params for p in observed):
        return False
    keys = {frozenset(c) for c in constraints}
    return len(keys) <= 1


def is_taken(
    space: SearchSpace, params: Mapping[str, Any], taken: Sequence[Mapping[str, Any]], tol: float = 1e-9
) -> bool:
    """Whether ``params`` is one of the configurations in ``taken``: for those that set every
    parameter of ``space``, compared encoded (to 1e-9, as the engine compares, or to ``tol`` of
    the encoded range on continuous parameters, floats without a ``step``: GPSampler's values
    pass through its own encoding, so a stored value and GPSampler's value of one grid point can
    differ in the last bits); for those of a conditional space that set only some, equal on every
    parameter of ``space`` they set (a configuration that differs from one only in parameters it
    leaves inactive is the same configuration)."""
    full = [t for t in taken if all(n in t and space.contains(n, t[n]) for n in space.params)]
    partial = [t for t in taken if any(n not in t for n in space.params)]
    for t in partial:
        shared = [n for n in space.params if n in t]
        if shared and all(n in params and params[n] == t[n] for n in shared):
            return True
    if not full:
        return False
    x = space.encode([params])[0]
    X = space.encode([{n: t[n] for n in space.params} for t in full])
    tols = np.full(space.n_features, 1e-9)
    for name, p in space.params.items():
        if isinstance(p, FloatParam) and p.step is None:
            tols[space.feature_slice(name)] = max(tol, 1e-9)
    return bool(np.any((np.abs(X - x) <= tols).all(axis=1)))
