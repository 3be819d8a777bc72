"""optuna_meta: Optuna samplers that learn from prior studies (the metahpo Optuna adapter).

Importing this package imports Optuna and the metahpo core, never torch: the surrogate stack is
imported at the first model fit.
"""

from optuna_meta._sampler import MetaSampler

__all__ = ["MetaSampler"]
