"""The claim protocol that keeps workers from proposing the same configuration.

Nothing is shared through a process: each worker records its suggestion in the trial's system
attributes (``metahpo:relative_params``, chunked under the RDB storage's 2,045-character limit) as
soon as it is made; the others read running trials' parameters, completed by that record, as
pending points.  Two workers that suggest at the same instant cannot see each other, so after
recording its suggestion each worker re-reads the storage (:func:`clash`), and suggests again if
another trial holds the same configuration (at least one of two simultaneous workers sees the
other's record: each writes before it reads).  Portfolio rows are handed out in trial-number
order: a trial leaves one row to every earlier running trial whose configuration is not known yet,
and after a clash with an earlier trial one more, so the two never take the same next row.
"""

from __future__ import annotations

import datetime
import json
import statistics
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from optuna_meta import _compat

if TYPE_CHECKING:
    from optuna.study import Study

__all__ = [
    "RELATIVE_KEY",
    "clash",
    "effective",
    "pending",
    "read_attr",
    "running_trials",
    "same_configuration",
    "set_attr",
]

RELATIVE_KEY = "metahpo:relative_params"
_SYSTEM_ATTR_MAX = 2045  # RDB storage's limit for one system attribute value
# A running trial older than this (and than 10 times the median duration of finished trials) is
# taken to belong to a crashed worker: it stops counting as pending and as a claim.  Optuna's own
# remedy, a storage with heartbeats (``heartbeat_interval``), marks such trials FAIL by itself.
# (A day at least: start times are the workers' local clocks, which may sit in other time zones.)
_STALE_AFTER = datetime.timedelta(hours=24)


def running_trials(study: Study, now: datetime.datetime | None = None) -> list[FrozenTrial]:
    """The running trials that are not stale at ``now`` (default: the current time; see
    ``_STALE_AFTER``)."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return running
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    seconds = [t.duration.total_seconds() for t in done if t.duration is not None]
    typical = datetime.timedelta(seconds=10 * statistics.median(seconds)) if seconds else _STALE_AFTER
    limit = max(_STALE_AFTER, typical)
    now = now or datetime.datetime.now()
    return [t for t in running if t.datetime_start is None or now - t.datetime_start <= limit]


def set_attr(study: Study, trial: FrozenTrial, key: str, value: str) -> None:
    """Write a trial system attribute, in ``key:0``, ``key:1``, ... chunks when it is long."""
    storage = _compat.study_storage(study)
    tid = _compat.trial_id(study, trial)
    chunks = [value[i : i + _SYSTEM_ATTR_MAX] for i in range(0, len(value), _SYSTEM_ATTR_MAX)]
    if len(chunks) <= 1:
        storage.set_trial_system_attr(tid, key, value)
    else:
        for i, c in enumerate(chunks):
            storage.set_trial_system_attr(tid, f"{key}:{i}", c)


def read_attr(attrs: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A JSON object written by :func:`set_attr` (``{}`` when absent or unreadable)."""
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


class _Branches:
    """What the completed trials show of a conditional space: each one's parameters, and which
    parameters are categorical (they choose the branches).  Failed and pruned trials are left
    out: they may have stopped before setting every parameter of their branch."""

    def __init__(self, study: Study) -> None:
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        self.finished = [t.params for t in done if t.params]
        self.categorical = {
            k for t in done for k, d in t.distributions.items() if isinstance(d, CategoricalDistribution)
        }


def effective(claim: Mapping[str, Any], set_so_far: Mapping[str, Any], branches: _Branches) -> dict[str, Any]:
    """The part of a running trial's ``claim`` that the trial will set, as the completed trials
    show it.  A claim names every parameter of the relative search space, those of other branches
    too; compared in full, a proposal that differs from it only in parameters neither trial will
    set would count as another configuration.  A parameter is left out only on evidence that the
    claim's branch does not set it: a categorical parameter ``g`` that every completed trial
    setting it set to one value ``v``, while the claim has another, and a completed trial with
    ``g`` not ``v`` that did not set it (``k``, set only where ``model == "a"`` and absent where
    ``model == "c"``, is left out of a claim with ``model == "b"``).  Parameters the trial has set
    (``set_so_far``) always stay."""
    out = {}
    for name, value in claim.items():
        if name in set_so_far or not _other_branch(name, claim, branches):
            out[name] = value
    return out


def _other_branch(name: str, claim: Mapping[str, Any], branches: _Branches) -> bool:
    setters = [f for f in branches.finished if name in f]
    if not setters:
        return False
    for g in branches.categorical:
        if g == name or g not in claim or any(g not in f for f in setters):
            continue
        v = setters[0][g]
        if claim[g] == v or any(f[g] != v for f in setters):
            continue
        if any(g in f and f[g] != v and name not in f for f in branches.finished):
            return True
    return False


def pending(
    study: Study, trial: FrozenTrial, inflight: Mapping[int, Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """Configurations of the other running trials (parameters set so far, completed by their
    recorded claim and by this process's ``inflight`` suggestions, by trial number, less the
    parameters of other branches: :func:`effective`), and how many running trials numbered
    before ``trial`` have nothing known yet (another process is choosing their configuration
    right now)."""
    out = []
    n_unknown_earlier = 0
    branches: _Branches | None = None
    for t in running_trials(study):
        if t.number == trial.number:
            continue
        params = dict(t.params)
        for k, v in read_attr(t.system_attrs, RELATIVE_KEY).items():
            params.setdefault(k, v)
        for k, v in inflight.get(t.number, {}).items():
            params.setdefault(k, v)
        if params:
            branches = branches or _Branches(study)
            out.append(effective(params, t.params, branches))
        elif t.number < trial.number:
            n_unknown_earlier += 1
    return out, n_unknown_earlier


def clash(study: Study, trial: FrozenTrial, params: Mapping[str, Any]) -> int | None:
    """The number of another running or finished trial holding ``params`` (its parameters, or
    for a running one its recorded claim; see :func:`same_configuration`), or None.  A running
    trial without a claim (another sampler's, or its parameters not all set yet) names only part
    of its configuration and is compared only once it has set every parameter of ``params``: one
    shared value is no evidence of a clash."""
    if not params:
        return None
    others: Sequence[FrozenTrial] = [
        *running_trials(study),
        *study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)),
    ]
    branches: _Branches | None = None
    for t in others:
        if t.number == trial.number:
            continue
        other = dict(t.params)
        if t.state == TrialState.RUNNING:
            claim = read_attr(t.system_attrs, RELATIVE_KEY)
            if not claim and not set(params) <= set(other):
                continue
            for k, v in claim.items():
                other.setdefault(k, v)
            branches = branches or _Branches(study)
            other = effective(other, t.params, branches)
        if same_configuration(params, other):
            return t.number
    return None


def same_configuration(ours: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether a suggestion ``ours`` is the configuration another trial holds: equal on every
    parameter both name.  A finished trial names only the parameters it set (inactive conditional
    ones are absent), so a suggestion that differs from it only in those is the same
    configuration; a running one names its complete claim."""
    shared = [k for k in other if k in ours]
    return bool(shared) and all(ours[k] == other[k] for k in shared)
