"""``metahpo report``: one self-contained HTML page (and its figures as PNG files) showing what
MetaSampler transferred into a study.

The page holds the four figures of :mod:`optuna_meta.visualization` (embedded as base64 PNG, so the
one file can be mailed or attached to a ticket), a summary line, the phase counts and the alignment
table as HTML.  A small script in the page marks ``<body data-figures-loaded="N">`` once the
browser has decoded N figures (what the headless-browser test reads).
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

__all__ = ["write_report"]

_FIGURES = (
    ("history", "Best so far, each trial by phase", "plot_transfer_history"),
    ("prior_weights", "Prior studies used and their weight over time", "plot_prior_weights"),
    ("alignment", "Alignment of every prior study", "plot_alignment"),
    ("calibration", "Predicted vs observed (is the transfer calibrated?)", "plot_calibration"),
)

_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.querySelectorAll("img.figure");
  var ok = 0;
  imgs.forEach(function (img) { if (img.complete && img.naturalWidth > 0) { ok += 1; } });
  document.body.setAttribute("data-figures-loaded", String(ok));
});
"""

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; } td, th { border: 1px solid #ccc; padding: 3px 6px; }
tr.skipped { color: #777; } img.figure { max-width: 100%; border: 1px solid #eee; }
.note { color: #a33; }
"""


def write_report(study: optuna.Study, out: str | Path) -> Path:
    """Write ``report.html`` and one PNG per figure for ``study`` into ``out``; returns the page's
    path.  A figure that cannot be drawn for this study (a multi-objective study has no single
    best-so-far curve) is replaced by a note saying why."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from optuna_meta import visualization as viz

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = viz.trial_records(study)
    phases = Counter(r.phase for r in records)
    sections = []
    for key, title, function in _FIGURES:
        buffer = io.BytesIO()
        try:
            fig = getattr(viz, function)(study)
            try:
                fig.savefig(buffer, format="png", dpi=110)
            finally:
                plt.close(fig)
        except ValueError as e:
            sections.append(f"<h2>{html.escape(title)}</h2><p class='note'>{html.escape(str(e))}</p>")
            continue
        png = buffer.getvalue()
        (out / f"{key}.png").write_bytes(png)
        data = base64.b64encode(png).decode("ascii")
        alt = html.escape(title)
        body = f"<img class='figure' id='fig-{key}' alt='{alt}' src='data:image/png;base64,{data}'>"
        if key == "alignment":
            body += _alignment_table(viz.alignment_rows(study, limit=500), viz.ALIGNMENT_COLUMNS)
        sections.append(f"<h2>{html.escape(title)}</h2>{body}")
    page = out / "report.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>metahpo report: {html.escape(study.study_name)}</title><style>{_STYLE}</style>"
        f"<script>{_SCRIPT}</script></head><body>"
        f"<h1>What MetaSampler transferred into <code>{html.escape(study.study_name)}</code></h1>"
        f"<p>{_summary(study, records, phases)}</p>" + "".join(sections) + "</body></html>",
        encoding="utf-8",
    )
    return page


def _summary(study: optuna.Study, records: list[Any], phases: Counter[str]) -> str:
    directions = ", ".join(d.name.lower() for d in study.directions)
    parts = [f"{len(records)} trials ({directions})"]
    values = [r.value for r in records if r.value is not None]
    if values and len(study.directions) == 1:
        best = min(values) if directions == "minimize" else max(values)
        parts.append(f"best value {best:.6g}")
    parts.append("phases: " + ", ".join(f"{k} {v}" for k, v in sorted(phases.items())))
    return html.escape("; ".join(parts))


def _alignment_table(rows: list[list[str]], columns: list[str]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        f"<tr class='{'used' if r[1] in ('used', '') else 'skipped'}'>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in r)
        + "</tr>"
        for r in rows
    )
    return f"<table id='alignment-table'><tr>{head}</tr>{body}</table>"
