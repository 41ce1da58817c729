"""The layer-by-layer picture, 12 layers beside 6: probe accuracy and the
polysemy AUC per layer, each task min-max normalised over its own layers, one
panel per model. Reads the `probe` and `anisotropy` JSONs in bench/results/
(layers-MODEL-*.json; commands in docs/analysis.md) and draws
docs/figures/layers-by-model.png.

    python bench/bench_layers.py
"""
import json

from harness import FIGURES, RESULTS
from harness.plots import figure

TASKS = ["upos", "xpos", "dep", "ner", "sense", "polysemy AUC (per lemma)"]  # one colour each, in both panels
MODELS = {"minilm": "MiniLM-L6-H384 (6 layers)", "mpnet": "all-mpnet-base-v2 (12 layers)"}


def curves(model: str) -> dict:
    """{task: [score per layer]} from every probe and anisotropy JSON of `model`."""
    out = {}
    for path in sorted(RESULTS.glob(f"layers-{model}-*.json")):
        data = json.loads(path.read_text())
        for prop, res in (data.get("properties") or {}).items():
            out[prop] = by_layer(res["accuracy"])
        raw = (data.get("polysemy") or {}).get("none")
        if raw:
            out["polysemy AUC (per lemma)"] = by_layer({k: v["auc_macro"] for k, v in raw.items()})
    return out


def by_layer(scores: dict) -> list:
    """The layer rows of {"layer0": x, ..., "mix": y}, in layer order."""
    keys = sorted((k for k in scores if k.startswith("layer")), key=lambda k: int(k[5:]))
    return [scores[k] for k in keys]


def main() -> None:
    with figure(FIGURES / "layers-by-model.png", panels=2, size=(5.5, 4)) as axes:
        for ax, (model, title) in zip(axes, MODELS.items()):
            for task, ys in sorted(curves(model).items(), key=lambda item: TASKS.index(item[0])):
                lo, hi = min(ys), max(ys)
                ax.plot(range(len(ys)), [(y - lo) / (hi - lo) for y in ys], marker="o", label=task, color=f"C{TASKS.index(task)}")
            ax.set_title(title)
            ax.set_xlabel("layer (0 = embeddings)")
            ax.set_ylim(-0.05, 1.05)
        axes[0].set_ylabel("score, min-max normalised per task")
        axes[1].legend(fontsize=8)

if __name__ == "__main__":
    main()
