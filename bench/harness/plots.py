"""Figures for docs/figures: one way to open, lay out and save them."""
import contextlib
from pathlib import Path
from typing import Dict, Iterator, List, Sequence


@contextlib.contextmanager
def figure(png: Path, panels: int = 1, size=(6.4, 4.5)) -> Iterator[List]:
    """The axes of a figure of `panels` side by side, saved to `png` on exit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, panels, figsize=(size[0] * panels, size[1]), squeeze=False)
    yield list(axes[0])
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)


def bars(ax, values: Dict[str, float], ylabel: str, title: str = "", fmt: str = "{:.0f}") -> None:
    """A bar per label, its value written on it."""
    drawn = ax.bar(list(values), list(values.values()), color=[f"C{i}" for i in range(len(values))])
    ax.bar_label(drawn, [fmt.format(v) for v in values.values()])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="small")


def errorbars(ax, curves: Dict[str, Dict[float, List[float]]], colors: Dict[str, str], xticks: Sequence[float] = ()) -> None:
    """A line per label: the mean +- sd (over seeds) of its values at each x."""
    import numpy

    for label, points in curves.items():
        x = sorted(points)
        err = [numpy.std(points[k], ddof=1) if len(points[k]) > 1 else 0.0 for k in x]
        ax.errorbar(x, [numpy.mean(points[k]) for k in x], yerr=err, marker="o", capsize=3, label=label, color=colors.get(label))
    if xticks:
        ax.set_xscale("log")
        ax.set_xticks(list(xticks))
        ax.set_xticklabels([f"{s:g}%" for s in xticks])
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
