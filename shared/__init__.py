"""metahpo: the framework-neutral core of the metahpo meta-learning samplers.

The Optuna adapter lives in :mod:`optuna_meta`, the Hyperopt adapter in :mod:`hyperopt_meta`.
Importing this package is cheap: torch, botorch and gpytorch are imported only when a surrogate
is fitted.
"""

from metahpo._engine import EngineConfig, MetaEngine, Suggestion
from metahpo._kb import KnowledgeBase
from metahpo._prior import AlignmentReport, PriorStudy, PriorTrial
from metahpo._space import CategoricalParam, FloatParam, IntParam, SearchSpace
from metahpo._validation import MetaHPOFallbackWarning, MetaHPOWarning, PriorAlignmentWarning

__version__ = "0.1.0"

__all__ = [
    "AlignmentReport",
    "CategoricalParam",
    "EngineConfig",
    "FloatParam",
    "IntParam",
    "KnowledgeBase",
    "MetaEngine",
    "MetaHPOFallbackWarning",
    "MetaHPOWarning",
    "PriorAlignmentWarning",
    "PriorStudy",
    "PriorTrial",
    "SearchSpace",
    "Suggestion",
    "__version__",
]
