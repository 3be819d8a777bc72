"""optuna_meta: Optuna samplers that learn from prior studies (the metahpo Optuna adapter).

Importing this package imports Optuna and the metahpo core, never torch: the surrogate stack is
imported at the first model fit.  It uses the core's public API only, and never the Hyperopt
adapter or the application.

Public names: :class:`MetaSampler`; :func:`load_prior_studies` (the studies of an Optuna storage
as :class:`metahpo.PriorStudy`); :func:`to_search_space` (Optuna distributions as a
:class:`metahpo.SearchSpace`).  The module :mod:`optuna_meta.visualization` (imported on its own;
matplotlib at call time) draws what MetaSampler transferred into a study.
"""

from optuna_meta._priors import load_prior_studies
from optuna_meta._sampler import MetaSampler
from optuna_meta._space import to_search_space

__all__ = ["MetaSampler", "load_prior_studies", "to_search_space"]
