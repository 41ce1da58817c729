"""Markdown tables of the analysis results (probe, anisotropy, similarity),
and `write_report`, which saves a result as JSON, Markdown and PNG."""
from pathlib import Path
from typing import Callable, Dict, Mapping, Optional, Union

import srsly
from wasabi import MarkdownRenderer

from .anisotropy import MEASURES
from .plots import similarity_plot


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.{digits}f}"
    return str(value)


def _fmt_change(values: Mapping[str, float], name: str) -> str:
    if name not in values:
        return "-"
    return f"{values[name]:+.3f} [{values[name + '_lo']:+.3f}, {values[name + '_hi']:+.3f}]"


def probe_markdown(report: Dict) -> str:
    """One row per property: baseline, accuracy per representation, best layer."""
    keys = report["keys"]
    md = MarkdownRenderer()
    md.add(md.title(3, "Probe accuracy by layer"))
    header = ["property", "n train", "n scored", "baseline"] + keys + ["best layer"]
    rows = []
    for prop, res in report["properties"].items():
        rows.append(
            [prop, str(res["n_train"]), str(res["n_scored"]), _fmt(res["baseline"])]
            + [_fmt(res["accuracy"][k]) for k in keys]
            + [res["best"] or "-"]
        )
    md.add(md.table(rows, header, aligns=("l",) + ("r",) * (len(header) - 1)))
    if report.get("skipped"):
        md.add(f"Not in the data (skipped): {', '.join(report['skipped'])}.")
    return md.text + "\n"


def anisotropy_markdown(
    table: Mapping[str, Mapping[str, Mapping[str, float]]],
    polysemy: Optional[Mapping[str, Mapping[str, Mapping[str, float]]]] = None,
) -> str:
    """One table per correction: the measures per representation and, with
    sense data, the polysemy AUC (pooled and per-lemma mean) and, for a
    correction, its change from the raw space with a 95% bootstrap interval."""
    md = MarkdownRenderer()
    for correction, rows_by_key in table.items():
        md.add(md.title(3, f"Anisotropy: {correction}"))
        header = ["representation"] + list(MEASURES)
        auc = polysemy.get(correction) if polysemy else None
        changes = auc is not None and any("auc_change" in v for v in auc.values())
        if auc is not None:
            header += ["polysemy_auc", "polysemy_auc_macro"]
        if changes:
            header += ["auc change [95% CI]", "auc_macro change [95% CI]"]
        rows = []
        for key, values in rows_by_key.items():
            row = [key] + [_fmt(values[m]) for m in MEASURES]
            if auc is not None:
                row += [_fmt(auc[key]["auc"]), _fmt(auc[key]["auc_macro"])]
            if changes:
                row += [_fmt_change(auc[key], "auc_change"), _fmt_change(auc[key], "auc_macro_change")]
            rows.append(row)
        md.add(md.table(rows, header, aligns=("l",) + ("r",) * (len(header) - 1)))
    return md.text + "\n"


def similarity_markdown(result: Dict) -> str:
    """The STS-B table (rows: representations, columns: pooling and
    corrections) and the word-similarity table (rho, coverage, shared)."""
    md = MarkdownRenderer()
    sts = result.get("sts")
    if sts:
        md.add(md.title(3, f"STS-B: Spearman x 100 ({sts['n_pairs']} pairs)"))
        columns = list(sts["rows"])
        rows = [[key] + [_fmt(sts["rows"][c].get(key), 1) for c in columns] for key in sts["keys"]]
        md.add(md.table(rows, ["representation"] + columns, aligns=("l",) + ("r",) * len(columns)))
        pipe = sts["pipeline"]
        md.add(
            f"doc.similarity of this pipeline (mix of layers {pipe['mix_layers']}, "
            f"normalizer: {pipe['normalizer'] or 'none'}): **{_fmt(pipe['score'], 1)}**"
        )
        for note in sts["notes"]:
            md.add(f"Note: {note}")
    words = result.get("words")
    if words:
        names = list(words["datasets"])
        md.add(md.title(3, "Word similarity: Spearman x 100 (coverage) / on the pairs every row covers"))
        header = ["vectors"] + [f"{n} ({words['datasets'][n]}; shared {words['n_shared'][n]})" for n in names]
        rows = [
            [row] + [f"{_fmt(v[n]['spearman'], 1)} ({v[n]['coverage']:.0%}) / {_fmt(v[n]['shared'], 1)}" for n in names]
            for row, v in words["rows"].items()
        ]
        md.add(md.table(rows, header, aligns=("l",) + ("r",) * len(names)))
    return md.text + "\n"


def write_report(
    result: Dict,
    output_dir: Union[str, Path],
    stem: str,
    markdown: Callable[[Dict], str],
    plot: Callable[[Dict, Path], object],
) -> Dict[str, Path]:
    """Write an analysis result as STEM.json, STEM.md (markdown(result)) and
    STEM.png (plot(result, path)) in output_dir; returns the three paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{stem}.{ext}" for ext in ("json", "md", "png")}
    srsly.write_json(paths["json"], result)
    paths["md"].write_text(markdown(result), encoding="utf8")
    plot(result, paths["png"])
    return paths


def write_similarity_outputs(result: Dict, output_dir: Union[str, Path]) -> Dict[str, Path]:
    """similarity.json, similarity.md and similarity.png in output_dir."""
    return write_report(result, output_dir, "similarity", similarity_markdown, similarity_plot)
