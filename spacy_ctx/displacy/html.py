"""HTML for views: every piece of text escaped, every number shown as
`format_number` writes it and kept whole in the cell's data-value.

A figure is written as its JSON in an escaped data-ctx-figure attribute; the
page's own inline copy of static/charts.js draws it (the explorer serves
that file instead, under a CSP that allows no inline script)."""
import base64
import hashlib
import json
import re
from html import escape
from importlib import resources
from typing import Any, Dict, List

from .views import Panel, View, json_safe

STYLE_CSS = """
.ctx-view { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1em 0; }
.ctx-view h2 { font-size: 1.1em; margin: 0.6em 0; }
.ctx-view h3 { font-size: 0.95em; margin: 0.8em 0 0.3em; }
.ctx-view table { border-collapse: collapse; font-size: 0.8em; }
.ctx-view th, .ctx-view td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
.ctx-view td.cell { text-align: right; min-width: 3.5em; }
.ctx-view .bar { display: inline-block; height: 0.8em; background: #4a7ebb; margin-right: 4px; }
.ctx-view .note { color: #8a5a00; }
.ctx-view .ctx-figure { margin: 0.4em 0; }
.ctx-view .ctx-figure-title { font-size: 0.85em; color: #444; margin: 0.3em 0 0.1em; }
.ctx-view .ctx-controls { font-size: 0.85em; margin: 0.2em 0; }
.ctx-view .ctx-controls input { vertical-align: middle; width: 14em; }
.ctx-view .ctx-plot, .ctx-view .ctx-chart { display: block; font-family: inherit; }
.ctx-view .ctx-detail { font-size: 0.8em; min-height: 1.2em; margin: 0.2em 0; max-width: 36em; }
.ctx-view .ctx-detail mark { background: #ffe58a; font-weight: bold; }
.ctx-view .ctx-legend { font-size: 0.75em; max-width: 40em; }
.ctx-view .ctx-legend-item { display: inline-block; margin-right: 0.9em; }
.ctx-view .ctx-swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.3em; vertical-align: middle; }
"""


def charts_js() -> str:
    """The drawing code of figures (static/charts.js)."""
    return resources.files(__package__).joinpath("static", "charts.js").read_text(encoding="utf-8")


def figure_html(figure: Dict[str, Any]) -> str:
    """A figure as a div holding its JSON, escaped (for charts.js to draw)."""
    data = json.dumps(json_safe(figure), allow_nan=False)
    return f'<div class="ctx-figure" data-ctx-figure="{escape(data, quote=True)}"></div>'



def format_number(value: float) -> str:
    """How a number is shown: three decimals (JS: value.toFixed(3))."""
    return f"{value:.3f}"


def cell_color(value: float) -> str:
    """The background of a heatmap cell: white at cosine <= 0, deeper blue
    towards 1 (the explorer's JS computes the same)."""
    lightness = 100 - 45 * max(0.0, min(1.0, value))
    return f"hsl(210, 70%, {lightness:.1f}%)"


def _number_cell(value: float, heat: bool) -> str:
    style = f' style="background: {cell_color(value)}"' if heat else ""
    return f'<td class="cell" data-value="{value!r}"{style}>{format_number(value)}</td>'


def _bar_cell(value: float) -> str:
    width = 100 * max(0.0, min(1.0, value))
    return (
        f'<td class="cell" data-value="{value!r}"><span class="bar" style="width: {width:.1f}px"></span>'
        f"{format_number(value)}</td>"
    )


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, float):
        return _bar_cell(value) if kind == "bars" else _number_cell(value, kind == "heatmap")
    return f"<td>{escape(str(value))}</td>"


def panel_html(panel: Panel) -> str:
    """One panel as a titled table: a header row of `cols`, then one row per
    label with its cells."""
    head = "".join(f"<th>{escape(col)}</th>" for col in panel.cols)
    body: List[str] = []
    for label, row in zip(panel.rows, panel.values):
        cells = "".join(_cell(value, panel.kind) for value in row)
        body.append(f"<tr><th>{escape(label)}</th>{cells}</tr>")
    return (
        f'<div class="ctx-panel" data-kind="{escape(panel.kind)}"><h3>{escape(panel.title)}</h3>'
        f"<table><tr><th></th>{head}</tr>{''.join(body)}</table></div>"
    )


def view_html(view: View) -> str:
    """A view: its title, notes, figures and panels, in a div of class ctx-view."""
    notes = "".join(f'<p class="note">{escape(note)}</p>' for note in view.notes)
    figures = "".join(figure_html(figure) for figure in view.figures)
    panels = "".join(panel_html(panel) for panel in view.panels)
    return (
        f'<div class="ctx-view" data-style="{escape(view.style)}"><h2>{escape(view.title)}</h2>'
        f"{notes}{figures}{panels}</div>"
    )


def with_script(body: str) -> str:
    """Rendered views and, when they hold figures, the inline script that
    draws them (for Jupyter and `page=True`, which have no served file)."""
    if "data-ctx-figure=" not in body:
        return body
    return f"{body}<script>{charts_js()}</script>"


def page_csp(html: str) -> str:
    """The Content-Security-Policy of a page `render` made: no script but
    the page's own inline ones, allowed by their hashes (every piece of user
    text is escaped, so no <script> in it is the user's), nothing fetched."""
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    hashes = [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode('utf-8')).digest()).decode()}'" for s in scripts]
    script_src = " ".join(hashes) or "'none'"
    return (
        f"default-src 'none'; script-src {script_src}; style-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def page_html(body: str, title: str = "spacy-ctx") -> str:
    """A whole HTML page around rendered views, with its CSP and no referrer
    in meta tags (`displacy.serve` also sends them as headers)."""
    body = with_script(body)
    csp = page_csp(body)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(csp)}">'
        f'<meta name="referrer" content="no-referrer"><title>{escape(title)}</title>'
        f"<style>{STYLE_CSS}</style></head><body>{body}</body></html>"
    )


def fragment_html(body: str) -> str:
    """Rendered views with their style, for Jupyter or another page."""
    return f"<style>{STYLE_CSS}</style>{with_script(body)}"
