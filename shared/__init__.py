"""metahpo: the framework-neutral core of the metahpo meta-learning samplers.

The repository folder ``shared/`` installs as this package, ``metahpo`` (never as ``shared``).
It never imports Optuna, Hyperopt, an adapter or the application: the Optuna adapter lives in
:mod:`optuna_meta`, the Hyperopt adapter in :mod:`hyperopt_meta`, the ``metahpo`` command in
:mod:`metahpo_cli` (see ARCHITECTURE.md).  Importing this package is cheap: torch, botorch and
gpytorch are imported only when a surrogate is fitted.

Public API
----------
Search spaces: :class:`SearchSpace`, :class:`FloatParam`, :class:`IntParam`,
:class:`CategoricalParam` (:data:`Param` is any of them), :func:`merge_spaces`.
Prior studies: :class:`PriorStudy`, :class:`PriorTrial`, :class:`AlignmentReport`,
:func:`prior_space`, :class:`KnowledgeBase`.
Public priors shipped with the package: :func:`public_priors`, :func:`public_families`
(:class:`PublicFamily`).
The engine: :class:`MetaEngine`, :class:`EngineConfig`, :class:`Suggestion` (:data:`Phase`).
For adapters: :func:`read_priors` (per-source fault isolation), :class:`WarnOnce`,
:func:`as_knowledge_base`, :func:`plain`, :data:`Direction`, :func:`stalled` (when a study with
priors has stalled: the rule of both adapters' hedge).
Reports: :func:`score_against` (the outcome of a suggestion on its model's scale).
"""

from metahpo._config import EngineConfig, SurrogateName
from metahpo._engine import MetaEngine, Phase, Suggestion
from metahpo._kb import KnowledgeBase
from metahpo._prior import AlignmentReport, Direction, PriorStudy, PriorTrial, prior_space, score_against
from metahpo._public import PublicFamily, public_families, public_priors
from metahpo._space import CategoricalParam, FloatParam, IntParam, Param, SearchSpace, merge_spaces
from metahpo._stall import stalled
from metahpo._support import PriorSource, WarnOnce, as_knowledge_base, plain, read_priors

__version__ = "0.1.0"

__all__ = [
    "AlignmentReport",
    "CategoricalParam",
    "Direction",
    "EngineConfig",
    "FloatParam",
    "IntParam",
    "KnowledgeBase",
    "MetaEngine",
    "Param",
    "Phase",
    "PriorSource",
    "PriorStudy",
    "PriorTrial",
    "PublicFamily",
    "SearchSpace",
    "Suggestion",
    "SurrogateName",
    "WarnOnce",
    "__version__",
    "as_knowledge_base",
    "merge_spaces",
    "plain",
    "prior_space",
    "public_families",
    "public_priors",
    "read_priors",
    "score_against",
    "stalled",
]
