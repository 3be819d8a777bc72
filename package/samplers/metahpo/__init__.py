"""OptunaHub entry point of metahpo's MetaSampler: a thin import of the installed package."""

from __future__ import annotations


try:
    from optuna_meta import load_prior_studies
    from optuna_meta import MetaSampler
except ModuleNotFoundError as e:  # the registry loads this file; the sampler itself comes from pip
    if e.name not in ("optuna_meta", "metahpo"):
        raise
    raise ModuleNotFoundError(
        "The OptunaHub package samplers/metahpo needs metahpo with its Optuna extra: "
        "pip install -r https://hub.optuna.org/package/samplers/metahpo/requirements.txt "
        "(or pip install 'metahpo[optuna]')",
        name=e.name,
    ) from e


__all__ = ["MetaSampler", "load_prior_studies"]
