"""The one place where the Optuna adapter touches something Optuna does not document.

Optuna has no public accessor for a study's storage, and a sampler needs it for three things:
reading the *other* studies of the same storage (``MetaSampler()`` with no ``source_studies``),
writing per-trial diagnostics and the relative parameters of running trials (what Optuna's own
``GPSampler`` does), and seeing the whole study where Optuna hands the sampler one bracket of it
(``HyperbandPruner``).  Everything else here goes through public storage methods.  Tested on
Optuna 5.0 by ``test_storage_access_helper_reaches_the_rdb_storage`` in
``tests/test_optuna_sampler.py``; the package declares ``optuna>=5.0,<6``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna

if TYPE_CHECKING:
    from optuna.storages import BaseStorage
    from optuna.study import Study
    from optuna.trial import FrozenTrial


def study_storage(study: Study) -> BaseStorage:
    """The storage behind ``study``."""
    storage = getattr(study, "_storage", None)
    if storage is None:
        raise RuntimeError(
            "optuna_meta could not find the storage of the study (Optuna's Study._storage); "
            "this Optuna version is not supported, pass source_studies= explicitly"
        )
    return storage  # type: ignore[no-any-return]


def trial_id(study: Study, trial: FrozenTrial) -> int:
    """Storage id of ``trial`` through public storage methods."""
    storage = study_storage(study)
    study_id = storage.get_study_id_from_name(study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)


def whole_study(study: Study) -> Study:
    """``study`` with every trial in view.

    Under ``HyperbandPruner`` Optuna hands the sampler a view of the study that lists only the
    trials of the current trial's bracket.  A sampler that learns from that view alone proposes
    again, in each bracket, what it proposed in the others (with priors: the portfolio), and
    judges by a fraction of the results.  Completed trials are comparable across brackets (each
    ran to the end), so the whole study, loaded through the same storage, is what the sampler
    reads.  Any other study is returned as it is.  (Optuna picks the bracket view by the same
    test, ``isinstance(study.pruner, HyperbandPruner)``, in its private ``pruners._filter_study``;
    ``tests/test_optuna_sampler.py`` checks that the two views differ and what this returns.)"""
    if not isinstance(study.pruner, optuna.pruners.HyperbandPruner):
        return study
    return optuna.load_study(
        study_name=study.study_name, storage=study_storage(study), sampler=study.sampler, pruner=study.pruner
    )
