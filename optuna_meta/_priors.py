"""Turn what a user passes as ``source_studies`` into the core's :class:`metahpo.PriorStudy`."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import optuna
from optuna.trial import FrozenTrial, TrialState

from metahpo import PriorStudy, PriorTrial
from optuna_meta._space import merged_space

__all__ = ["SourceSpec", "check_url", "load_prior_studies", "resolve", "url_reader"]

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

_logger = optuna.logging.get_logger("optuna.metahpo")

SourceSpec = Union["optuna.study.Study", str, Sequence[FrozenTrial], PriorStudy]


_READ = (TrialState.COMPLETE, TrialState.FAIL)


def _usable(t: FrozenTrial) -> bool:
    return t.state == TrialState.COMPLETE and t.values is not None


def _failed(t: FrozenTrial) -> bool:
    # A trial that failed after setting its parameters (one that raised before the first suggest
    # says nothing about where trials fail).
    return t.state == TrialState.FAIL and bool(t.params)


def from_trials(
    name: str, trials: Sequence[FrozenTrial], directions: Sequence[str] | None, source: str
) -> PriorStudy:
    """Finished Optuna trials -> a prior study: COMPLETE trials with their values, and the
    configurations of FAIL trials (for the feasibility model)."""
    done = [t for t in trials if _usable(t)]
    space = merged_space(t.distributions for t in done) if done else None
    return PriorStudy(
        name=name,
        trials=tuple(
            PriorTrial(dict(t.params), tuple(float(v) for v in t.values), dict(t.constraints)) for t in done
        ),
        directions=tuple(d for d in directions) if directions is not None else None,  # type: ignore[misc]
        space=space,
        source=source,
        failed=tuple(dict(t.params) for t in trials if _failed(t)),
    )


def _direction_names(dirs: Sequence[Any]) -> list[str]:
    return ["maximize" if d == optuna.study.StudyDirection.MAXIMIZE else "minimize" for d in dirs]


def load_prior_studies(
    storage: BaseStorage | str, pattern: str = "*", exclude: Sequence[str] = ()
) -> list[PriorStudy]:
    """The studies of an Optuna storage (object or URL) whose name matches the shell pattern
    ``pattern``, except those named in ``exclude``, as :class:`metahpo.PriorStudy` (COMPLETE
    trials, and the configurations of FAIL trials); what
    ``MetaSampler(source_studies=["URL::pattern"])`` reads."""
    label = storage if isinstance(storage, str) else type(storage).__name__
    if isinstance(storage, str):
        storage = optuna.storages.get_storage(storage)
    out = []
    for s in storage.get_all_studies():
        if s.study_name in exclude or not fnmatch.fnmatchcase(s.study_name, pattern):
            continue
        sid = storage.get_study_id_from_name(s.study_name)
        trials = storage.get_all_trials(sid, deepcopy=False, states=_READ)
        try:
            out.append(from_trials(s.study_name, trials, _direction_names(s.directions), str(label)))
        except (TypeError, ValueError) as e:  # one study the core cannot hold: the others still serve
            _logger.warning(
                f"MetaSampler left out prior study {s.study_name!r} of {label} "
                f"({type(e).__name__}: {e}); the other studies of that storage are read."
            )
    return out


def check_url(spec: str, index: int) -> str:
    """A ``"URL"`` or ``"URL::pattern"`` entry of ``source_studies``, checked (not opened)."""
    url, _, _ = spec.partition("::")
    if "://" not in url:
        raise ValueError(
            f"source_studies[{index}] must be 'URL' or 'URL::pattern' with a "
            f"storage URL such as 'sqlite:///runs.db' (got {spec!r})"
        )
    return spec


def url_reader(spec: str, exclude: Sequence[str] = ()) -> Callable[[], list[PriorStudy]]:
    """A function that reads a checked ``"URL::pattern"`` entry (a prior source).  A SQLite file
    that does not exist is an error (opening it would create an empty database: a misspelt path
    would pass unnoticed), and a source that holds no matching study is logged."""
    url, _, pattern = spec.partition("::")

    def read() -> list[PriorStudy]:
        if url.startswith("sqlite"):
            import sqlalchemy

            parsed = sqlalchemy.engine.make_url(url)
            database = parsed.database
            if (
                parsed.get_backend_name() == "sqlite"
                and database
                and database != ":memory:"
                and not database.startswith("file:")  # a URI filename (uri=true): SQLite's own syntax
                and not Path(database).exists()
            ):
                raise FileNotFoundError(f"no SQLite database at {database!r}")
        studies = load_prior_studies(url, pattern or "*", exclude)
        if not studies:
            _logger.warning(f"MetaSampler found no prior study matching {pattern or '*'!r} in {url}.")
        return studies

    return read


def resolve(spec: Any, index: int) -> list[PriorStudy]:
    """One ``source_studies`` entry other than a URL string -> prior studies.

    Accepted: an ``optuna.Study``; a sequence of ``FrozenTrial`` (same direction as the target);
    a :class:`metahpo.PriorStudy`.
    """
    if isinstance(spec, PriorStudy):
        return [spec]
    if isinstance(spec, optuna.study.Study):
        return [
            from_trials(
                spec.study_name,
                spec.get_trials(deepcopy=False, states=_READ),
                _direction_names(spec.directions),
                "study",
            )
        ]
    if (
        isinstance(spec, Sequence)
        and not isinstance(spec, str)
        and all(isinstance(t, FrozenTrial) for t in spec)
    ):
        return [from_trials(f"trials[{index}]", spec, None, "trials")]
    raise TypeError(
        f"source_studies[{index}] must be an optuna.Study, a 'URL::pattern' string, a "
        f"list of FrozenTrial or a metahpo.PriorStudy (got {type(spec).__name__})"
    )
