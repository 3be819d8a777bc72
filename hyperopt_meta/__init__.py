"""hyperopt_meta: a Hyperopt ``algo`` that learns from prior studies (the metahpo Hyperopt adapter).

Importing this package imports Hyperopt and the metahpo core, never torch.
"""

from hyperopt_meta._algo import MetaAlgo, record_trials

__all__ = ["MetaAlgo", "record_trials"]
