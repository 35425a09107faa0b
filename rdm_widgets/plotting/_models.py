"""Model comparison figure: bars per layer with SEM or bootstrap-CI error bars, the noise-ceiling band,
significance stars and pairwise-comparison brackets."""
from __future__ import annotations

import numpy as np

from ._figures import _plotly

__all__ = ["model_comparison_figure", "error_bars", "stars"]

#: the space between groups of bars (pinned so that the brackets know where each bar is)
BARGAP = 0.2
#: star marks of a corrected p: (upper bound, text), first match wins
STARS = ((0.001, "***"), (0.01, "**"))


def _finite(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def stars(p: float, alpha: float = 0.05) -> str:
    """``'***'`` (p ≤ 0.001), ``'**'`` (p ≤ 0.01), ``'*'`` (p ≤ alpha), else ``''``."""
    if _finite(p) is None or p > alpha:
        return ""
    return next((text for bound, text in STARS if p <= bound and bound <= alpha), "*")


def error_bars(rows: list) -> tuple[list, list, bool]:
    """``(plus, minus, any_ci)`` of each row's error bar: its bootstrap CI when ``ci_low``/``ci_high``
    are finite (asymmetric: ``ci_high - r``, ``r - ci_low``), else ``r_sem`` both ways (0 if NaN)."""
    plus, minus, any_ci = [], [], False
    for r in rows:
        lo, hi = _finite(r.get("ci_low")), _finite(r.get("ci_high"))
        if lo is not None and hi is not None:
            plus.append(hi - r["r"])
            minus.append(r["r"] - lo)
            any_ci = True
        else:
            sem = _finite(r.get("r_sem")) or 0.0
            plus.append(sem)
            minus.append(sem)
    return plus, minus, any_ci


def _pairwise_rows(pairwise) -> list:
    """Comparisons as ``[{model_a, model_b, p_corrected[, brain]}]`` from a list of such dicts, a
    :class:`~rdm_widgets.bootstrap.PairwiseComparison` (its 'models' family: keys ``a``, ``b``), or a
    dict ``{brain: either}`` (a PairwiseComparison is of one brain region)."""
    if pairwise is None:
        return []
    if isinstance(pairwise, dict):
        return [dict(row, brain=brain) for brain, part in pairwise.items() for row in _pairwise_rows(part)]
    if hasattr(pairwise, "select") and hasattr(pairwise, "rows"):      # PairwiseComparison
        return [{"model_a": r["a"], "model_b": r["b"], "p_corrected": r["p_corrected"]}
                for r in pairwise.select("models")]
    return [dict(r) for r in pairwise]


def _bar_key(name: str, bars: dict) -> tuple | None:
    """A pairwise table's name of a bar -> its (model, layer): ``'model/layer'``, ``'model / layer'``,
    ``'model · layer'``, ``'model:layer'``, a layer name unique in the panel, or a model with one layer there."""
    name = str(name)
    for sep in (" · ", " / ", "/", ":"):
        if sep in name:
            model, layer = name.split(sep, 1)
            if (model, layer) in bars:
                return model, layer
    by_layer = [k for k in bars if k[1] == name]
    by_model = [k for k in bars if k[0] == name]
    for found in (by_layer, by_model):
        if len(found) == 1:
            return found[0]
    return None


def _brackets(fig, col: int, brain: str, bars: dict, pairwise, alpha: float, top: float, step: float) -> list:
    """Draw a bracket with stars over each significant pair of this panel; return what was drawn."""
    axis = "x" if col == 1 else f"x{col}"
    yaxis = "y" if col == 1 else f"y{col}"
    todo = []
    for row in pairwise:
        if row.get("brain") not in (None, brain):
            continue
        a, b = _bar_key(row["model_a"], bars), _bar_key(row["model_b"], bars)
        if a is None or b is None:
            continue
        p = _finite(row.get("p_corrected"))
        mark = stars(p, alpha) if p is not None else ""
        if mark:
            todo.append((a, b, p, mark, *sorted((bars[a], bars[b]))))
    drawn = []
    # narrow brackets first (lowest), so that wider ones arch over them
    for level, (a, b, p, mark, xa, xb) in enumerate(sorted(todo, key=lambda item: (item[5] - item[4], item[4]))):
        y = top + (level + 1) * step
        for x0, y0, x1, y1 in ((xa, y - step / 3, xa, y), (xa, y, xb, y), (xb, y, xb, y - step / 3)):
            fig.add_shape(type="line", xref=axis, yref=yaxis, x0=x0, x1=x1, y0=y0, y1=y1,
                          line=dict(color="#333", width=1))
        fig.add_annotation(xref=axis, yref=yaxis, x=(xa + xb) / 2, y=y, text=mark, showarrow=False,
                           yanchor="bottom", font=dict(size=13),
                           hovertext=f"{' · '.join(a)} vs {' · '.join(b)}: p corrected = {p:.3g}")
        drawn.append([brain, " · ".join(a), " · ".join(b), p])
    return drawn


def _check_pairwise(table, brains: list, pairwise: list) -> None:
    """Every comparison names two bars of some panel (of its ``brain`` when given), else ValueError."""
    for row in pairwise:
        missing = {"model_a", "model_b", "p_corrected"} - set(row)
        if missing:
            raise ValueError(f"A pairwise comparison needs keys model_a, model_b, p_corrected; {row} lacks "
                             f"{sorted(missing)}.")
        panels = [row["brain"]] if row.get("brain") is not None else brains
        found = False
        for brain in panels:
            keys = {(r["model"], r["layer"]): 0.0 for r in table.select(brain=brain)}
            found = found or (_bar_key(row["model_a"], keys) is not None
                              and _bar_key(row["model_b"], keys) is not None)
        if not found:
            some = [f"{r['model']}/{r['layer']}" for r in table.rows[:4]]
            raise ValueError(f"Pairwise comparison {row['model_a']!r} vs {row['model_b']!r} names no two bars of "
                             f"{'brain ' + repr(row['brain']) if row.get('brain') is not None else 'any panel'}; "
                             f"name bars as 'model/layer' (e.g. {some}), a unique layer or a one-layer model.")


def model_comparison_figure(table, alpha: float = 0.05, title: str = "", pairwise=None):
    """Bars of model-brain similarity per layer, grouped by model, one panel per brain RDM.

    Parameters
    ----------
    table : RSATable
        From :func:`rdm_widgets.model_rsa.model_brain_table` (anything with ``rows``,
        ``brains``, ``models``, ``select`` and ``method``).
    alpha : float
        Bars with ``p_fdr <= alpha`` get a ``*`` above them; pairs with ``p_corrected <= alpha``
        a bracket.
    title : str
        Default ``"Model–brain RSA (<method>)"``.
    pairwise : list of dict, PairwiseComparison, dict {brain: either}, or None
        Pairwise comparisons: dicts with ``model_a``, ``model_b`` (a bar: ``'model/layer'``,
        ``'model / layer'``, ``'model · layer'``, a layer name unique in the panel or a model with one
        layer there), ``p_corrected`` and optionally ``brain`` (else every panel holding both
        bars); or :func:`rdm_widgets.bootstrap.bootstrap_compare` results (their 'models' family),
        per brain in a dict. Significant pairs get a bracket with ``*``/``**``/``***``
        (narrower brackets below wider ones); the corrected p is in the mark's hover text.

    Returns
    -------
    plotly.graph_objects.Figure
        Per (brain, model) one ``go.Bar`` with error bars — the bootstrap CI
        (``error_y.array = ci_high - r``, ``arrayminus = r - ci_low``) for rows with finite
        ``ci_low``/``ci_high``, else the SEM over subjects — and one text ``go.Scatter`` (name
        ``"<model> p_FDR ≤ alpha"``) with ``*`` above the significant bars; the noise ceiling
        (lower..upper) of each stack as a grey rectangle behind the bars. ``layout.meta`` holds
        ``noise_ceiling`` ``{brain: [lower, upper]}``, ``error`` (``'bootstrap CI'`` or ``'SEM'``)
        and ``pairwise`` (``[brain, bar a, bar b, p]`` of each bracket, bottom to top).
    """
    go = _plotly("graph_objects")
    make_subplots = _plotly("subplots").make_subplots

    brains = list(table.brains)
    pairwise = _pairwise_rows(pairwise)
    _check_pairwise(table, brains, pairwise)
    fig = make_subplots(rows=1, cols=max(len(brains), 1), shared_yaxes=True, subplot_titles=brains or None,
                        horizontal_spacing=0.04)
    colours = _plotly("colors").qualitative.Plotly
    ceilings, brackets, uses_ci = {}, [], False
    for col, brain in enumerate(brains, start=1):
        present = [m for m in table.models if table.select(brain=brain, model=m)]
        categories: list = []
        bars, tops = {}, []
        for k, model in enumerate(table.models):
            rows = table.select(brain=brain, model=model)
            if not rows:
                continue
            plus, minus, any_ci = error_bars(rows)
            uses_ci = uses_ci or any_ci
            marks = ["*" if (_finite(r["p_fdr"]) is not None and r["p_fdr"] <= alpha) else "" for r in rows]
            hover = [f"{model} · {r['layer']}<br>r = {r['r']:.4g}<br>p = {r['p']:.3g} ({r['test']})"
                     f"<br>p FDR = {r['p_fdr']:.3g}<br>matched {r['matched']}"
                     + (f"<br>CI {r['ci_low']:.3g} – {r['ci_high']:.3g}"
                        if _finite(r.get("ci_low")) is not None and _finite(r.get("ci_high")) is not None else "")
                     for r in rows]
            layers = [r["layer"] for r in rows]
            fig.add_trace(go.Bar(x=layers, y=[r["r"] for r in rows], name=model, legendgroup=model,
                                 showlegend=col == 1, marker_color=colours[k % len(colours)],
                                 offsetgroup=model, alignmentgroup=brain,
                                 error_y=dict(type="data", array=plus, arrayminus=minus if any_ci else None,
                                              symmetric=not any_ci, visible=any(plus) or any(minus)),
                                 hovertext=hover, hoverinfo="text"), row=1, col=col)
            # the stars above the error bars, in the bar's slot of the group
            bar_tops = [max(r["r"], 0.0) + s for r, s in zip(rows, plus)]
            tops += bar_tops
            fig.add_trace(go.Scatter(x=layers, y=bar_tops, mode="text", text=marks, textposition="top center",
                                     textfont=dict(size=18), name=f"{model} p_FDR ≤ {alpha:g}", legendgroup=model,
                                     showlegend=False, offsetgroup=model, alignmentgroup=brain,
                                     hoverinfo="skip", cliponaxis=False), row=1, col=col)
            # where plotly puts this bar: category index, then the model's slot in the group
            slot, width = present.index(model), (1.0 - BARGAP) / len(present)
            for layer in layers:
                if layer not in categories:
                    categories.append(layer)
                bars[(model, layer)] = categories.index(layer) - (1.0 - BARGAP) / 2 + (slot + 0.5) * width
        first = table.select(brain=brain)[0]
        lo, hi = _finite(first["noise_lower"]), _finite(first["noise_upper"])
        if lo is not None and hi is not None:
            ceilings[brain] = [lo, hi]
            xaxis, yaxis = ("x", "y") if col == 1 else (f"x{col}", f"y{col}")
            fig.add_shape(type="rect", xref=f"{xaxis} domain", yref=yaxis, x0=0, x1=1, y0=lo, y1=hi,
                          fillcolor="rgba(128,128,128,0.15)", line=dict(color="rgba(90,90,90,0.6)", width=1,
                                                                        dash="dot"), layer="below")
            fig.add_annotation(xref=f"{xaxis} domain", yref=yaxis, x=1, y=hi, text="noise ceiling",
                               showarrow=False, xanchor="right", yanchor="bottom", font=dict(size=10))
        if pairwise:
            top = max(tops + ([hi] if hi is not None else []), default=0.0)
            span = max(top - min(min((r["r"] for r in table.select(brain=brain)), default=0.0), 0.0), 1e-6)
            brackets += _brackets(fig, col, brain, bars, pairwise, alpha, top, 0.08 * span)
    method = getattr(table, "method", "")
    error = "bootstrap CI" if uses_ci else "SEM"
    fig.update_layout(title=title or f"Model–brain RSA ({method}); * p_FDR ≤ {alpha:g}"
                                     + ("; error bars: bootstrap CI" if uses_ci else ""),
                      barmode="group", bargap=BARGAP, bargroupgap=0.0, scattermode="group",
                      yaxis_title=f"{method} r", legend_title_text="model", plot_bgcolor="white",
                      meta={"noise_ceiling": ceilings, "alpha": alpha, "error": error, "pairwise": brackets})
    fig.update_yaxes(zeroline=True, zerolinecolor="#888", gridcolor="#eee")
    return fig
