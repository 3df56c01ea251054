"""The calibration report: one self-contained HTML file that opens offline.

A summary table of every quantity (n, censored, status, family, parameters, GOF p-value, the
censored mean beside the naive one), then per fitted quantity the candidates with their
log-likelihood, AIC and BIC, the chosen parameters with confidence intervals, the goodness of
fit, the notes, a QQ plot of the chosen family and the CDFs of all candidates over the data.
With censoring both plots use the nonparametric ML estimate (Kaplan-Meier, or Turnbull with
left censoring): a QQ point is the fitted quantile at the midpoint of the estimate's jump at
an uncensored value. Plotly's JavaScript is embedded once (no CDN, no network).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from twin.fit_dist import family
from twin.fit_stats import npmle
from twin.fit_variant import write_text_atomic

if TYPE_CHECKING:
    from twin.fit import FitResult, QuantityFit

__all__ = ["report_html", "write_report", "qq_points"]

MAX_POINTS = 1000
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem 2rem;
color:#222;max-width:1200px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2.2rem;border-top:1px solid #ddd;
padding-top:1rem}table{border-collapse:collapse;margin:.6rem 0;font-size:.86rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.chosen td{font-weight:600;background:#eef6ee}.kept{color:#8a5a00}.bad{color:#b00020}
code{font-size:.85rem}.notes{font-size:.85rem;color:#444}.method{font-size:.88rem;color:#333}
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _f(x: float | None, digits: int = 4) -> str:
    return "" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


def qq_points(q: QuantityFit) -> tuple[np.ndarray, np.ndarray]:
    """(fitted quantiles, observed values) of the chosen family; plotting positions are the
    midpoints of the nonparametric ML estimate's jumps (i - 1/2)/n without censoring."""
    if q.family in (None, "fixed", "empirical") or not q.theta:
        return np.zeros(0), np.zeros(0)
    u, before, at = npmle(q.sample)
    p = np.clip((before + at) / 2, 1e-9, 1 - 1e-9)
    if len(u) > MAX_POINTS:
        idx = np.unique(np.linspace(0, len(u) - 1, MAX_POINTS).round().astype(int))
        u, p = u[idx], p[idx]
    return np.asarray(family(q.family).rv(q.theta).ppf(p), dtype=float), u


def _figure(q: QuantityFit, index: int) -> str:
    theo, obs = qq_points(q)
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(f"QQ plot: {q.family}", "CDF: data (nonparametric ML) and candidates"),
        horizontal_spacing=0.1,
    )
    unit = f" ({q.unit})" if q.unit else ""
    fig.add_trace(
        go.Scatter(x=theo, y=obs, mode="markers", name="observed", marker={"size": 5}),
        row=1,
        col=1,
    )
    lo = float(min(theo.min(), obs.min())) if len(obs) else 0.0
    hi = float(max(theo.max(), obs.max())) if len(obs) else 1.0
    fig.add_trace(
        go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="y = x", line={"dash": "dash"}),
        row=1,
        col=1,
    )
    u, before, at = npmle(q.sample)
    if len(u) > MAX_POINTS:
        idx = np.unique(np.linspace(0, len(u) - 1, MAX_POINTS).round().astype(int))
        u, before, at = u[idx], before[idx], at[idx]
    xs = np.repeat(u, 2)
    ys = np.column_stack((before, at)).ravel()
    fig.add_trace(
        go.Scatter(x=xs, y=ys, mode="lines", name="data", line={"color": "black", "width": 2}),
        row=1,
        col=2,
    )
    top = max(float(u.max()) if len(u) else 1.0, float(q.sample.right.max(initial=0.0))) * 1.15
    grid = np.linspace(0.0, top, 300)
    for c in q.candidates:
        if not c.theta:
            continue
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=family(c.family).cdf(c.theta, grid),
                mode="lines",
                name=c.family + (" (chosen)" if c.family == q.family else ""),
                line={"width": 3 if c.family == q.family else 1.2},
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text=f"fitted quantile{unit}", row=1, col=1)
    fig.update_yaxes(title_text=f"observed{unit}", row=1, col=1)
    fig.update_xaxes(title_text=f"value{unit}", row=1, col=2)
    fig.update_yaxes(title_text="P(X <= x)", range=[0, 1.02], row=1, col=2)
    fig.update_layout(
        height=380, margin={"l": 50, "r": 20, "t": 40, "b": 45}, template="plotly_white"
    )
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"qq-{index}",
        config={"displaylogo": False, "responsive": True},
    )


def _params(q: QuantityFit) -> str:
    if q.family == "empirical":
        vals, ws = q.params.get("values", []), q.params.get("weights", [])
        return ", ".join(f"{_f(v)}: {_f(w, 3)}" for v, w in zip(vals, ws, strict=False))
    return ", ".join(f"{k} {_f(v)}" for k, v in q.params.items())


def _status(q: QuantityFit) -> str:
    if q.status == "kept":
        return '<span class="kept">kept the scenario\'s value</span>'
    if q.written is None:
        return "fitted, not written"
    return "fitted"


def _summary(result: FitResult) -> list[str]:
    rows = [
        "<table><tr><th>quantity</th><th>n</th><th>censored</th><th>status</th><th>family</th>"
        "<th>parameters</th><th>GOF p</th><th>mean (censored ML)</th><th>naive mean</th></tr>"
    ]
    for i, q in enumerate(result.quantities):
        p = q.gof.p_value if q.gof is not None else None
        cls = ' class="bad"' if p is not None and p < result.alpha else ""
        cens = f"{q.n_right} right" if q.n_right else ""
        cens += (", " if cens and q.n_left else "") + (f"{q.n_left} left" if q.n_left else "")
        rows.append(
            f'<tr><td><a href="#q{i}"><code>{_e(q.path)}</code></a><br>{_e(q.label)}</td>'
            f'<td class="num">{q.n}</td><td>{_e(cens)}</td><td>{_status(q)}</td>'
            f"<td>{_e(q.family or '')}</td><td>{_e(_params(q))}</td>"
            f'<td class="num"{cls}>{_f(p, 3)}</td><td class="num">{_f(q.mean)}</td>'
            f'<td class="num">{_f(q.naive_mean)}</td></tr>'
        )
    rows.append("</table>")
    return rows


def _section(q: QuantityFit, i: int, result: FitResult) -> list[str]:
    out = [f'<h2 id="q{i}"><code>{_e(q.path)}</code></h2>', f"<p>{_e(q.label)}</p>"]
    cens = []
    if q.n_right:
        cens.append(f"{q.n_right} right-censored")
    if q.n_left:
        cens.append(f"{q.n_left} left-censored")
    out.append(
        f"<p>n = {q.n} uncensored"
        + (f", {', '.join(cens)}" if cens else "")
        + f"; {_status(q)}"
        + (f": <b>{_e(q.family)}</b>" if q.family else "")
        + "</p>"
    )
    if q.candidates:
        best_aic = min((c.aic for c in q.candidates), default=np.inf)
        best_bic = min((c.bic for c in q.candidates), default=np.inf)
        out.append(
            "<table><tr><th>candidate</th><th>ML parameters</th><th>log L</th><th>AIC</th>"
            "<th>&Delta;AIC</th><th>BIC</th><th>&Delta;BIC</th></tr>"
        )
        for c in q.candidates:
            chosen = ' class="chosen"' if c.family == q.family else ""
            pars = ", ".join(f"{k} {_f(v)}" for k, v in c.params.items()) or _e(c.note)
            out.append(
                f"<tr{chosen}><td>{_e(c.family)}</td><td>{_e(pars)}</td>"
                f'<td class="num">{_f(c.loglik, 6)}</td><td class="num">{_f(c.aic, 6)}</td>'
                f'<td class="num">{_f(c.aic - best_aic, 3)}</td><td class="num">{_f(c.bic, 6)}</td>'
                f'<td class="num">{_f(c.bic - best_bic, 3)}</td></tr>'
            )
        out.append("</table>")
    if q.status == "fitted" and q.family not in (None, "fixed"):
        level = f"{100 * (1 - result.alpha):g}%"
        out.append(f"<table><tr><th>parameter</th><th>estimate</th><th>{level} CI</th></tr>")
        if q.family == "empirical":
            for name, ci in q.ci.items():
                out.append(
                    f"<tr><td>{_e(name)}</td><td></td><td>[{_f(ci[0], 3)}, {_f(ci[1], 3)}]"
                    "</td></tr>"
                )
        for name, v in q.params.items():
            if isinstance(v, list):
                continue
            ci = q.ci.get(name)
            out.append(
                f'<tr><td>{_e(name)}</td><td class="num">{_f(v)}</td><td>'
                + (f"[{_f(ci[0])}, {_f(ci[1])}]" if ci else "")
                + "</td></tr>"
            )
        if q.mean is not None:
            ci_m = q.mean_ci
            out.append(
                f'<tr><td>mean of the distribution</td><td class="num">{_f(q.mean)}</td><td>'
                + (f"[{_f(ci_m[0])}, {_f(ci_m[1])}]" if ci_m else "")
                + "</td></tr>"
            )
        if q.naive_mean is not None:
            out.append(
                f'<tr><td>naive mean (uncensored values only)</td><td class="num">'
                f"{_f(q.naive_mean)}</td><td></td></tr>"
            )
        out.append("</table>")
    if q.gof is not None:
        bad = q.gof.p_value < result.alpha
        out.append(
            f"<p{' class=bad' if bad else ''}>Goodness of fit: {_e(q.gof.statistic)} = "
            f"{_f(q.gof.value)}, p = {_f(q.gof.p_value, 3)} (parametric bootstrap, "
            f"{q.gof.replicates} replicates, parameters refitted in each)</p>"
        )
    if q.notes:
        out.append('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in q.notes) + "</ul>")
    if q.status == "fitted" and q.family not in (None, "fixed", "empirical") and q.n:
        out.append(_figure(q, i))
    return out


def report_html(result: FitResult) -> str:
    """The whole report as one HTML document."""
    window = f"events before {result.until:g} h" if result.until is not None else "the whole log"
    level = f"{100 * (1 - result.alpha):g}%"
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Calibration of {_e(result.scenario)}</title>",
        f"<style>{_CSS}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>Calibration of {_e(result.scenario)} from {_e(result.source)}</h1>",
        f"<p>Base scenario: <code>{_e(result.base or '(given as an object)')}</code>. "
        f"Log: {_e(window)}, {result.events} events; running activities censored at "
        f"{result.end:g} h.</p>",
        '<p class="method">Candidates: '
        + _e(", ".join(result.families))
        + f"; chosen by {result.criterion.upper()} among the families a variant can write. "
        f"Maximum likelihood with censored observations (right: still running at the end or "
        f"renewed by maintenance; left: a QC release that may have waited for the analyst). "
        f"Intervals: {level} basic parametric bootstrap ({result.bootstrap} replicates, "
        f"censored like the data and refitted; log scale for scale parameters). Goodness of "
        f"fit from the same replicates: Anderson-Darling (Cramer-von Mises for uniform and "
        f"triangular) without censoring, Kolmogorov-Smirnov against the Kaplan-Meier or "
        f"Turnbull estimate with censoring. Nothing is fitted from fewer than {result.min_n} "
        f"uncensored observations. Durations in hours.</p>",
    ]
    body = _summary(result)
    for i, q in enumerate(result.quantities):
        body += _section(q, i, result)
    return "\n".join(head + body + ["</body></html>"]) + "\n"


def write_report(result: FitResult, path: str | Path) -> Path:
    """Write the report atomically (temporary file, then rename); never over a folder."""
    return write_text_atomic(path, report_html(result), "--report")
