"""What pretraining buys: encoders from pretrain-mlm (and pretrain-elmo) as
frozen features under bench_train.py's learning-curve protocol (its
`--encoder` puts a pretrain-mlm output under the `ctx` system). `report`: one
JSON of each system's held-out perplexity beside its curve scores (--system
LABEL=METRICS_JSON:CURVES_JSON[:SYSTEM], the first the baseline) and the
--attach NAME=JSON files; `plot`: held-out perplexity against UPOS gain.
Method and results: docs/pretraining.md.
"""
import json
from pathlib import Path
from typing import Dict, List

from harness import emit, options
from harness.plots import figure


def report(systems: List[str], out: Path, attach: List[str]) -> Dict:
    """Held-out perplexity of each pretrained system beside its UPOS at each curve size and the gain over the
    baseline system (the first given)."""
    rows = []
    for spec in systems:
        label, files = spec.split("=", 1)
        metrics_path, curves_path, *system = files.split(":")
        metrics = json.loads(Path(metrics_path).read_text()) if metrics_path else {}
        scores = json.loads(Path(curves_path).read_text())["summary"]["pos_acc"][system[0] if system else "ctx"]
        rows.append({"system": label, "pretraining": perplexity(metrics), "pos_acc": scores,
                     "metrics": metrics_path or None, "curves": curves_path})
    base = rows[0]["pos_acc"]
    for row in rows:
        row["gain_over_" + rows[0]["system"]] = {s: round(row["pos_acc"][s]["mean"] - base[s]["mean"], 2)
                                                 for s in row["pos_acc"] if s in base}
    attached = {name: json.loads(Path(path).read_text()) for name, path in (a.split("=", 1) for a in attach)}
    return emit({"rows": rows, "attached": attached}, out)


def perplexity(metrics: Dict) -> Dict:
    """The held-out figures of a pretrain-mlm or pretrain-elmo metrics.json."""
    if not metrics:
        return {}
    if "heldout_after" in metrics:  # pretrain-mlm
        keys = ("steps", "epochs_completed", "wordpieces_trained", "train_seconds", "parameters", "stopped_by")
        return {"objective": "masked LM", "pseudo_perplexity_before": metrics["heldout_before"]["pseudo_perplexity"],
                "pseudo_perplexity_after": metrics["heldout_after"]["pseudo_perplexity"],
                "loss_after": metrics["heldout_after"]["loss"], **{k: metrics.get(k) for k in keys}}
    keys = ("steps", "epochs_completed", "tokens_trained", "train_seconds", "stopped_by")
    return {"objective": "biLM", "perplexity_before": metrics["perplexity_before"],
            "perplexity_after": metrics["perplexity_after"], **{k: metrics.get(k) for k in keys}}


def plot(inputs: List[Path], png: Path) -> None:
    """Held-out perplexity (log scale) against the UPOS gain at each size."""
    with figure(png, size=(6, 4)) as (ax,):
        for path in inputs:
            data = json.loads(path.read_text())
            baseline = data["rows"][0]["system"]
            for row in data["rows"][1:]:
                pre = row["pretraining"]
                ppl = pre.get("pseudo_perplexity_after") or pre.get("perplexity_after", {}).get("forward")
                for size, gain in row[f"gain_over_{baseline}"].items():
                    ax.scatter(ppl, gain, label=f"{row['system']}, {size}%")
        ax.set_xscale("log")
        ax.set_xlabel("held-out perplexity after pretraining (MLM: pseudo; biLM: forward)")
        ax.set_ylabel(f"UPOS gain over {baseline} (points)")
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend(fontsize=7)


def main(argv=None):
    parser = options(__doc__, threads=None)
    parser.add_argument("command", choices=["report", "plot"])
    parser.add_argument("--system", action="append", default=[], help="report: LABEL=METRICS_JSON:CURVES_JSON[:SYSTEM]")
    parser.add_argument("--attach", action="append", default=[], help="report: NAME=JSON, embedded whole (e.g. a similarity.json)")
    parser.add_argument("--inputs", nargs="+", type=Path, default=[])
    parser.add_argument("--png", type=Path, default=None)
    args = parser.parse_args(argv)
    return report(args.system, args.out, args.attach) if args.command == "report" else plot(args.inputs, args.png)


if __name__ == "__main__":
    main()
