"""PNG plots of per-layer results (matplotlib, no display needed)."""
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Union

from ..compat import require
from ..util import MIX_KEY

Series = Mapping[str, float]  # key ("layer0".."layerN", "mix") -> value


def plot_panels(
    panels: Mapping[str, Mapping[str, Series]],
    keys: Sequence[str],
    path: Union[str, Path],
    *,
    ylabel: Optional[Mapping[str, str]] = None,
    title: Optional[str] = None,
    n_cols: int = 3,
) -> Path:
    """Draw one panel per entry of `panels` ({panel title: {line name:
    series}}), with the layers on the x axis and the scalar mix as a separate
    point at the right, and save it as a PNG."""
    # The object API with an Agg canvas: no pyplot state, no display.
    FigureCanvasAgg = require("matplotlib.backends.backend_agg", "analysis", "Plots").FigureCanvasAgg
    Figure = require("matplotlib.figure", "analysis", "Plots").Figure

    layer_keys = [k for k in keys if k != "mix"]
    has_mix = "mix" in keys
    n_cols = min(n_cols, len(panels))
    n_rows = -(-len(panels) // n_cols)
    fig = Figure(figsize=(4.6 * n_cols, 3.6 * n_rows), layout="constrained")
    FigureCanvasAgg(fig)
    xs = list(range(len(layer_keys)))
    ticks = xs + ([len(xs)] if has_mix else [])
    tick_labels = [k.replace("layer", "") for k in layer_keys] + (["mix"] if has_mix else [])
    for n, (panel, lines) in enumerate(panels.items()):
        ax = fig.add_subplot(n_rows, n_cols, n + 1)
        for color, (name, series) in zip(_colors(), lines.items()):
            ax.plot(xs, [series.get(k, float("nan")) for k in layer_keys], "o-", color=color, label=name)
            if has_mix and "mix" in series:
                ax.plot([len(xs)], [series["mix"]], "D", color=color)
        ax.set_title(panel)
        ax.set_xticks(ticks, tick_labels)
        ax.set_xlabel("layer")
        if ylabel and panel in ylabel:
            ax.set_ylabel(ylabel[panel])
        ax.grid(alpha=0.3)
        if len(lines) > 1 or n == 0:
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def _layer_order(keys: Iterable[str]) -> List[str]:
    """Distinct keys in layer order ("layer2" before "layer10"), the mix last."""
    return sorted(set(keys), key=lambda k: (k == MIX_KEY, len(k), k))


def _nan(value: Optional[float]) -> float:
    # An undefined score is None in a result (JSON has no nan): a gap in a line.
    return float("nan") if value is None else value


def _colors():
    colormaps = require("matplotlib", "analysis", "Plots").colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(50)]


def probe_plot(report: Dict, path: Union[str, Path]) -> Path:
    """Accuracy by layer, one line per property (from run_probes)."""
    lines = {prop: res["accuracy"] for prop, res in report["properties"].items()}
    return plot_panels(
        {"Probe accuracy by layer": lines}, report["keys"], path, ylabel={"Probe accuracy by layer": "accuracy"}
    )


ANISOTROPY_PANELS = {
    "random_pair_cosine": "Random-pair cosine (baseline)",
    "self_similarity": "Self-similarity",
    "intra_similarity": "Intra-sentence similarity",
    "self_similarity_adj": "Self-similarity, adjusted",
    "intra_similarity_adj": "Intra-sentence, adjusted",
}


def anisotropy_plot(
    table: Mapping[str, Mapping[str, Mapping[str, float]]],
    path: Union[str, Path],
    polysemy: Optional[Mapping[str, Mapping[str, Mapping[str, float]]]] = None,
) -> Path:
    """One panel per measure, one line per correction; with `polysemy`, a
    last panel with the sense-separation AUC."""
    keys = _layer_order(k for rows in table.values() for k in rows)
    panels = {
        title: {c: {k: v[measure] for k, v in rows.items()} for c, rows in table.items()}
        for measure, title in ANISOTROPY_PANELS.items()
    }
    if polysemy:
        panels["Polysemy AUC (same vs different sense)"] = {
            c: {k: v["auc"] for k, v in rows.items()} for c, rows in polysemy.items()
        }
    return plot_panels(panels, keys, path)


def similarity_plot(result: Dict, path: Union[str, Path]) -> Path:
    """STS-B by layer (one line per row, the pipeline as a flat line), and
    per word-similarity set the isolation and distilled rows by layer (other
    tables as flat lines), on the pairs every row covers."""
    panels: Dict[str, Dict[str, Dict[str, float]]] = {}
    keys: List[str] = []
    sts = result.get("sts")
    if sts:
        keys = list(sts["keys"])
        lines = {row: dict(values) for row, values in sts["rows"].items()}
        lines["doc.similarity (pipeline)"] = dict.fromkeys(keys, sts["pipeline"]["score"])
        panels["STS-B dev, Spearman x 100"] = lines
    words = result.get("words")
    if words:
        info = words["row_info"]
        keys = keys or _layer_order(i["key"] for i in info.values() if "key" in i)
        for name in words["datasets"]:
            lines = {}
            for row, values in words["rows"].items():
                row_info = info.get(row, {})
                series = "isolation" if row_info.get("kind") == "isolation" else row_info.get("method")
                if series and row_info.get("key") in keys:
                    label = series if series == "isolation" else f"distilled {series}"
                    lines.setdefault(label, {})[row_info["key"]] = _nan(values[name]["shared"])
                else:
                    lines[row] = dict.fromkeys(keys, _nan(values[name]["shared"]))
            panels[f"{name} ({words['n_shared'][name]} shared pairs)"] = lines
    return plot_panels(panels, keys, path)
