"""Figures of what MetaSampler transferred into a study, in the manner of
``optuna.visualization.matplotlib``: each function takes a study and returns a matplotlib
``Figure``.

They read what MetaSampler records on each trial (system attributes ``metahpo:phase``,
``metahpo:info`` and, once per sampler and search space, ``metahpo:alignment``), so they work on a
study loaded from any storage, after the fact.  Trials of other samplers have no phase and show as
``other``.

- :func:`plot_transfer_history`: every value and the best so far, each trial marked by how it was
  chosen (portfolio, start-up, model, fallback).
- :func:`plot_prior_weights`: which prior studies the model used at each trial and how much each
  weighed (the multi-task GP's correlation of that study with this one; a portfolio trial credits
  the study its configuration came from).
- :func:`plot_alignment`: every prior study the sampler saw: used or skipped (why), trials used,
  shared, imputed and dropped parameters.
- :func:`plot_calibration`: the model's prediction for each suggestion against what came out, on
  the model's own scale (is the transfer calibrated?).

matplotlib is imported when a function is called (``pip install matplotlib``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.trial import TrialState

from metahpo import Direction, score_against
from optuna_meta import _claims

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "TrialRecord",
    "alignment_records",
    "plot_alignment",
    "plot_calibration",
    "plot_prior_weights",
    "plot_transfer_history",
    "trial_records",
]

_MODEL_PHASES = ("gp", "mtgp", "neural")
PHASE_COLOURS = {
    "portfolio": "#1f77b4",
    "startup": "#7f7f7f",
    "gp": "#2ca02c",
    "mtgp": "#d62728",
    "neural": "#9467bd",
    "fallback": "#ff7f0e",
    "other": "#bcbd22",
}


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the figures read it.

    Attributes:
        number: the trial's number.
        state: its state.
        value: its value (single-objective, COMPLETE with a finite value) or None.
        phase: how MetaSampler chose it (``portfolio``, ``startup``, ``gp``, ``mtgp``, ``neural``,
            ``fallback``), or ``other`` for another sampler's trial.
        info: MetaSampler's diagnostics for the trial (``sources``, ``source_weights``,
            ``predicted_score``, ``predicted_score_sd``, ``score_scale``, ...).
    """

    number: int
    state: TrialState
    value: float | None
    phase: str
    info: dict[str, Any]


def trial_records(study: optuna.Study) -> list[TrialRecord]:
    """The study's trials in number order, as the figures read them."""
    out = []
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        value = None
        if t.state == TrialState.COMPLETE and t.values is not None and len(t.values) == 1:
            v = float(t.values[0])
            value = v if math.isfinite(v) else None
        phase = str(t.system_attrs.get("metahpo:phase", "other"))
        out.append(
            TrialRecord(t.number, t.state, value, phase, _claims.read_attr(t.system_attrs, "metahpo:info"))
        )
    return out


def alignment_records(study: optuna.Study) -> list[dict[str, Any]]:
    """The latest alignment MetaSampler recorded in the study: one record per prior study (see
    :meth:`metahpo.AlignmentReport.as_dicts`); empty when it had no priors."""
    studies = _alignment_attr(study).get("studies", [])
    return [s for s in studies if isinstance(s, dict)] if isinstance(studies, list) else []


def _alignment_attr(study: optuna.Study) -> dict[str, Any]:
    """The latest ``metahpo:alignment`` record (``studies`` and ``n_more``), ``{}`` without one."""
    for t in sorted(study.get_trials(deepcopy=False), key=lambda t: -t.number):
        attr = _claims.read_attr(t.system_attrs, "metahpo:alignment")
        if "studies" in attr:
            return attr
    return {}


def _plt() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("optuna_meta.visualization needs matplotlib: pip install matplotlib") from e
    return plt


def _single_objective(study: optuna.Study, what: str) -> None:
    if len(study.directions) != 1:
        raise ValueError(
            f"{what} shows single-objective studies; this study has {len(study.directions)} objectives"
        )


def plot_transfer_history(study: optuna.Study) -> Figure:
    """Every trial's value and the best value so far; each trial marked by its phase."""
    _single_objective(study, "plot_transfer_history")
    plt = _plt()
    records = trial_records(study)
    minimize = study.direction == optuna.study.StudyDirection.MINIMIZE
    fig: Figure
    ax: Any
    fig, ax = plt.subplots(figsize=(8, 4.2))
    best: list[float] = []
    xs: list[int] = []
    current = math.inf if minimize else -math.inf
    for r in records:
        if r.value is not None:
            current = min(current, r.value) if minimize else max(current, r.value)
        if math.isfinite(current):
            xs.append(r.number)
            best.append(current)
    ax.step(xs, best, where="post", color="black", lw=1.5, label="best so far", zorder=1)
    for phase in PHASE_COLOURS:
        pts = [(r.number, r.value) for r in records if r.phase == phase and r.value is not None]
        if pts:
            ax.scatter(*zip(*pts, strict=True), s=28, color=PHASE_COLOURS[phase], label=phase, zorder=2)
    failed = [
        r.number for r in records if r.phase != "other" and r.state in (TrialState.FAIL, TrialState.PRUNED)
    ]
    for n in failed:
        ax.axvline(n, color="#ff7f0e", alpha=0.25, lw=1)
    values = [r.value for r in records if r.value is not None]
    if values and min(values) > 0 and max(values) > 20 * min(values):
        ax.set_yscale("log")  # a few poor trials would flatten the best-so-far curve
    ax.set_xlabel("trial")
    ax.set_ylabel("objective value")
    title = f"{study.study_name}: values by phase"
    if failed:
        title += f" ({len(failed)} failed or pruned, shaded)"
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def plot_prior_weights(study: optuna.Study) -> Figure:
    """Per prior study, its weight at each trial: the multi-task GP's correlation between the
    study and this one (0 = ignored, 1 = the same task), 1 at a portfolio trial that served one
    of its configurations."""
    plt = _plt()
    records = trial_records(study)
    series: dict[str, list[tuple[int, float]]] = {}
    portfolio: dict[str, list[int]] = {}
    neural = [r.number for r in records if r.phase == "neural"]
    for r in records:
        sources = r.info.get("sources")
        if not isinstance(sources, list):
            continue
        if r.phase == "portfolio":
            for name in sources:
                portfolio.setdefault(str(name), []).append(r.number)
            continue
        weights = r.info.get("source_weights")
        if isinstance(weights, list) and len(weights) == len(sources):
            for name, w in zip(sources, weights, strict=True):
                series.setdefault(str(name), []).append((r.number, float(w)))
    fig: Figure
    ax: Any
    fig, ax = plt.subplots(figsize=(8, 4.2))
    names = sorted(set(series) | set(portfolio))
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(names):
        colour = cmap(i % 20)
        if name in series:
            ax.plot(*zip(*series[name], strict=True), marker=".", color=colour, label=name)
        if name in portfolio:
            ax.scatter(
                portfolio[name],
                [1.0] * len(portfolio[name]),
                marker="s",
                color=colour,
                s=40,
                label=None if name in series else name,
            )
    for n in neural:
        ax.axvspan(n - 0.5, n + 0.5, color=PHASE_COLOURS["neural"], alpha=0.12, lw=0)
    ax.set_ylim(-0.05, 1.1)
    ax.set_xlabel("trial")
    ax.set_ylabel("weight (task correlation)")
    if not names:
        ax.text(0.5, 0.5, "no prior study was used", ha="center", va="center", transform=ax.transAxes)
    title = "prior studies used, and their weight (squares: portfolio trials)"
    if neural:
        title += "\nshaded: neural surrogate (trained on every prior, no per-study weight)"
    ax.set_title(title, fontsize=10)
    if names:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def _short(names: Sequence[str], limit: int = 4) -> str:
    names = list(names)
    if len(names) <= limit:
        return ", ".join(names) or "-"
    return ", ".join(names[:limit]) + f" (+{len(names) - limit})"


def _last_misleading(study: optuna.Study) -> tuple[int, list[str]] | None:
    """``(trial number, names)``: the prior studies that the last choice of prior studies recorded
    in the study left out as misleading (``metahpo:info`` ``misleading_sources`` of a model trial;
    one that records ``sources`` without it chose none).  None when no trial recorded a choice."""
    for r in reversed(trial_records(study)):
        if r.phase not in _MODEL_PHASES:  # a portfolio trial names the study its row came from
            continue
        names = r.info.get("misleading_sources")
        if isinstance(names, list):
            return r.number, [str(n) for n in names]
        if "sources" in r.info:
            return r.number, []
    return None


def alignment_rows(study: optuna.Study, limit: int | None = None) -> list[list[str]]:
    """The alignment as table rows: prior study, status, trials used / total, failed kept, shared,
    imputed and dropped parameters; with ``limit``, the first ``limit`` studies and a last row
    counting the others.  A study the last choice of prior studies left out as misleading
    (``metahpo:info`` ``misleading_sources``) has the status ``left out: misleading at trial N``."""
    rows = []
    records = alignment_records(study)
    more = int(_alignment_attr(study).get("n_more", 0)) + max(
        0, len(records) - limit if limit is not None else 0
    )
    last_choice = _last_misleading(study)
    misled = set(last_choice[1]) if last_choice is not None else set()
    for s in records[:limit]:
        status = "used" if s.get("skipped_study") is None else f"skipped: {s['skipped_study']}"
        if status == "used" and last_choice is not None and s.get("name") in misled:
            status = f"left out: misleading at trial {last_choice[0]}"
        rows.append(
            [
                str(s.get("name")),
                status,
                f"{s.get('n_used', 0)} / {s.get('n_trials', 0)}",
                str(s.get("n_failed", 0)),
                _short(s.get("shared", [])),
                _short(s.get("imputed", [])),
                _short(s.get("dropped", [])),
            ]
        )
    if more:
        rows.append([f"... {more} more prior studies", "", "", "", "", "", ""])
    return rows


ALIGNMENT_COLUMNS = ["prior study", "status", "trials used", "failed kept", "shared", "imputed", "dropped"]


def plot_alignment(study: optuna.Study) -> Figure:
    """A table of every prior study MetaSampler saw for this study and what alignment did with it."""
    plt = _plt()
    rows = alignment_rows(study, limit=40)  # a figure tall enough for a few screens at most
    fig: Figure
    ax: Any
    fig, ax = plt.subplots(figsize=(11, 0.6 + 0.32 * max(len(rows), 1)))
    ax.axis("off")
    if not rows:
        ax.text(0.5, 0.5, "MetaSampler recorded no prior studies for this study", ha="center", va="center")
    else:
        table = ax.table(cellText=rows, colLabels=ALIGNMENT_COLUMNS, loc="center", cellLoc="left")
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        table.auto_set_column_width(list(range(len(ALIGNMENT_COLUMNS))))
        for (row, _), cell in table.get_celld().items():
            if row > 0 and rows[row - 1][1] not in ("used", ""):
                cell.set_facecolor("#f3f3f3")
    ax.set_title("alignment of the prior studies", fontsize=10)
    fig.tight_layout()
    return fig


def calibration_points(study: optuna.Study) -> list[tuple[int, str, float, float, float]]:
    """``(trial number, scale, predicted score, its standard deviation, observed score)`` for each
    model suggestion that finished with a value.  The observed score is the value's score against
    the values finished before the trial (:func:`metahpo.score_against`), on the scale the model
    predicted on."""
    _single_objective(study, "plot_calibration")
    direction: Direction = (
        "minimize" if study.direction == optuna.study.StudyDirection.MINIMIZE else "maximize"
    )
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    finished = [t for t in trials.values() if t.state == TrialState.COMPLETE and t.values is not None]
    out = []
    for r in trial_records(study):
        mean, sd, scale = (r.info.get(k) for k in ("predicted_score", "predicted_score_sd", "score_scale"))
        if (
            r.value is None
            or not isinstance(mean, float)
            or not isinstance(sd, float)
            or scale
            not in (
                "copula",
                "standardised",
            )
        ):
            continue
        start = trials[r.number].datetime_start
        history = [
            float(t.values[0])
            for t in finished
            if t.number != r.number
            and math.isfinite(t.values[0])
            and (t.datetime_complete is not None and start is not None and t.datetime_complete <= start)
        ]
        if not history:
            continue
        observed = score_against(np.asarray(history), r.value, direction, scale)
        out.append((r.number, str(scale), mean, sd, observed))
    return out


def plot_calibration(study: optuna.Study) -> Figure:
    """The model's predicted score (mean and one standard deviation) of each suggestion against the
    score of what came out, on the model's scale (higher is better; ``copula``: normal quantile of
    the rank among the results so far, ``standardised``: in standard deviations of them).  The
    title gives the share of outcomes within one and two standard deviations and the rank
    correlation of predicted and observed.  The standard deviation is the model's uncertainty about
    the function, without observation noise: noisy objectives fall outside it more often than the
    nominal 68% / 95%.  The neural surrogate's prediction also counts the running trials' believed
    values (its standard deviation is smaller then); the GP's does not."""
    plt = _plt()
    points = calibration_points(study)
    fig: Figure
    ax: Any
    fig, ax = plt.subplots(figsize=(5.6, 5))
    if not points:
        ax.text(0.5, 0.5, "no model suggestion with a result yet", ha="center", va="center")
        ax.axis("off")
        return fig
    for scale, marker in (("copula", "o"), ("standardised", "^")):
        pts = [p for p in points if p[1] == scale]
        if pts:
            _, _, mean, sd, obs = (np.array(c) for c in zip(*pts, strict=True))
            ax.errorbar(
                mean, obs, xerr=sd, fmt=marker, ms=4, alpha=0.8, lw=0.8, label=f"{scale} scale ({len(pts)})"
            )
    mean = np.array([p[2] for p in points])
    sd = np.array([p[3] for p in points])
    obs = np.array([p[4] for p in points])
    lo, hi = float(min(mean.min(), obs.min())) - 0.2, float(max(mean.max(), obs.max())) + 0.2
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, ls="--")
    z = np.abs(obs - mean) / np.maximum(sd, 1e-12)
    within1, within2 = float(np.mean(z <= 1)), float(np.mean(z <= 2))
    rho = _spearman(mean, obs) if len(points) > 2 else float("nan")
    ax.set_xlabel("predicted score (mean, +/- 1 sd of the function, without noise)")
    ax.set_ylabel("observed score")
    ax.set_title(
        f"calibration of {len(points)} model suggestions\nwithin 1 sd {within1:.0%}, within 2 sd "
        f"{within2:.0%}, rank correlation {rho:.2f}",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _spearman(a: Any, b: Any) -> float:
    from scipy.stats import spearmanr

    r = spearmanr(a, b).statistic
    return float(r) if r == r else float("nan")
