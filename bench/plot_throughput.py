"""Bar chart of bench/results/encoder.json: words per second of each system.

    python bench/plot_throughput.py [--json bench/results/encoder.json] [--png docs/figures/throughput.png]
"""
import argparse
import json
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parent.parent
LABELS = {
    "a_ctx_encoder": "ctx_encoder\n(all layers on the Doc)",
    "b_raw_transformers": "raw transformers\n(all hidden states)",
    "c_spacy_transformers": "spacy-transformers\n(transformer component)",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "encoder.json")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "figures" / "throughput.png")
    args = parser.parse_args()
    report = json.loads(args.json.read_text())
    names = list(report["results"])
    speeds = [report["results"][n]["words_per_s"] for n in names]
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bars = ax.bar([LABELS.get(n, n) for n in names], speeds, color=["tab:blue", "tab:gray", "tab:orange"])
    ax.bar_label(bars, [f"{s:.0f}" for s in speeds])
    ax.set_ylabel("words / s")
    ax.set_title(f"Bundled MiniLM, {report['sentences']} EWT sentences ({report['date']}, {report['machine']})", fontsize="small")
    fig.savefig(args.png, dpi=110)


if __name__ == "__main__":
    main()
