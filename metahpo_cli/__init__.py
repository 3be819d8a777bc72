"""metahpo_cli: the application layer of metahpo (the ``metahpo`` command).

It holds the command line (:mod:`metahpo_cli._main`), the demo (:mod:`metahpo_cli._demo`) and the
benchmark runner (:mod:`metahpo_cli.bench`).  It may import everything: the core (``metahpo``),
the Optuna adapter (``optuna_meta``) and the Hyperopt adapter (``hyperopt_meta``); nothing imports
it.  See ARCHITECTURE.md for the three layers.
"""

from metahpo_cli._main import main

__all__ = ["main"]
