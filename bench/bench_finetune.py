"""Dev score against training time: a frozen, fine-tuned or LoRA encoder, on
docs of one sentence, 10 sentences or whole articles.

Trains one config on the full train set with spaCy's loop, scores the whole
dev set every --eval-frequency updates, and rewrites the JSON after every
evaluation: per point the update, epoch, wall and process CPU seconds, the
seconds spent training (wall less evaluation) and the scores. It stops
after --max-epochs epochs (6 unless given) or --max-steps updates,
or at the first evaluation after --budget-min minutes of training.

    nice python bench/bench_finetune.py ner --mode frozen --threads 1 --out bench/results/finetune-ner-frozen.json
    nice python bench/bench_finetune.py ner --mode frozen --n-sents 1 --threads 1 --out bench/results/context-ner-1.json
    nice python bench/bench_finetune.py ner --mode finetune --threads 1 --out bench/results/finetune-ner-full.json
    nice python bench/bench_finetune.py ner --mode lora --threads 1 --out bench/results/finetune-ner-lora.json
    python bench/bench_finetune.py plot --inputs bench/results/finetune-ner-*.json --png docs/figures/finetune-curves.png
    nice python bench/bench_finetune.py ner --mode finetune --threads 1 --max-steps 3000 --seed 1 --out bench/results/finetune-ner-full-seed1.json
    nice python bench/bench_finetune.py pos --mode finetune --threads 1 --max-steps 1500 --seed 0 --out bench/results/finetune-pos-full-seed0.json
    python bench/bench_finetune.py seeds --step 3000 --inputs bench/results/finetune-ner-frozen*.json bench/results/finetune-ner-full*.json

`seeds` gives each mode's mean and sd over the reports' seeds at one update.

Modes: frozen is configs/ner.cfg (tagger.cfg); finetune is ner_finetune.cfg
(discriminative rates, gradual unfreezing; for the tagger, tagger.cfg with
that config's optimizer and schedule); lora is ner_finetune.cfg with
LoRA adapters (the `lora` block below, the encoder's rate x10, as adapters
want). Method and results: docs/heads.md.
"""
import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import spacy
import torch
from spacy.util import registry
from thinc.api import Config

from _common import CONFIGS, DATA, TASKS, convert, emit, machine, score, set_schedule, task_config, train

FINETUNE = CONFIGS / "ner_finetune.cfg"
# task -> (its headline score, how the plot names it)
METRIC = {"ner": ("ents_f", "CoNLL-2003 valid F1"), "pos": ("pos_acc", "UD English EWT dev UPOS")}
LORA = {"@misc": "spacy_ctx.LoRA.v1", "rank": 8, "alpha": 16.0, "dropout": 0.1, "target_modules": None, "merge": False}


class OutOfBudget(Exception):
    """Raised by the curve logger to end training at its time budget."""


CURVE: Dict = {"points": [], "budget_s": 0.0, "out": None, "report": {}}


@registry.loggers("spacy_ctx_bench.curve_logger.v1")
def make_curve_logger():
    """A logger that keeps every evaluation's scores with the clock, the
    process CPU time and the seconds spent evaluating, writes the report
    after each, and raises OutOfBudget once training has used its budget."""

    def setup(nlp, stdout=sys.stdout, stderr=sys.stderr):
        start, cpu = time.perf_counter(), time.process_time()
        evaluating = CURVE["evaluating"] = {"s": 0.0}
        evaluate = nlp.evaluate

        def timed_evaluate(*args, **kwargs):
            begin = time.perf_counter()
            try:
                return evaluate(*args, **kwargs)
            finally:
                evaluating["s"] += time.perf_counter() - begin

        nlp.evaluate = timed_evaluate

        def log_step(info):
            if info is None:
                return
            wall = time.perf_counter() - start
            point = {
                "step": info["step"],
                "epoch": info["epoch"],
                "wall_s": round(wall, 1),
                "cpu_s": round(time.process_time() - cpu, 1),
                "train_s": round(wall - evaluating["s"], 1),
                "eval_s": round(evaluating["s"], 1),
                "score": round(100 * float(info["score"]), 2),
                "scores": {k: round(100 * float(v), 2) for k, v in info["other_scores"].items() if isinstance(v, float)},
                "losses": {k: round(float(v), 1) for k, v in info["losses"].items()},
            }
            CURVE["points"].append(point)
            print(json.dumps(point), file=stderr, flush=True)
            write_report()
            if CURVE["budget_s"] and point["train_s"] >= CURVE["budget_s"]:
                raise OutOfBudget()

        return log_step, lambda: None

    return setup


def write_report() -> None:
    points = CURVE["points"]
    scored = points + ([CURVE["report"]["final"]] if "final" in CURVE["report"] else [])
    best = max(scored, key=lambda p: p["score"], default=None)
    report = {**CURVE["report"], "points": points, "best": best, "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    if CURVE["out"]:
        Path(CURVE["out"]).write_text(json.dumps(report, indent=2) + "\n")
    CURVE["last"] = report


def make_config(args, paths: Dict) -> Config:
    frozen = TASKS[args.task]["config"]
    source = args.config or (FINETUNE if args.mode != "frozen" and args.task == "ner" else frozen)
    config = task_config(source, paths, 0)
    if args.mode != "frozen" and source == frozen:
        graft_finetuning(config)
    epochs = 0 if args.max_steps else args.max_epochs
    set_schedule(config, epochs=epochs, steps=args.max_steps, eval_frequency=args.eval_frequency, seed=args.seed)
    config["training"]["logger"] = {"@loggers": "spacy_ctx_bench.curve_logger.v1"}
    if args.mode == "lora":
        config["components"]["ctx_encoder"]["model"]["lora"] = dict(LORA)
        optimizer = config["training"]["optimizer"]
        optimizer["encoder_learn_rate"] = optimizer["encoder_learn_rate"] * 10
    return config


def graft_finetuning(config: Config) -> None:
    """Give a frozen config ner_finetune.cfg's optimizer and unfreezing
    schedule, so that a head with no fine-tuning config of its own (the
    tagger) fine-tunes exactly as NER does."""
    finetune = Config().from_disk(FINETUNE, interpolate=False)["training"]
    config["training"]["optimizer"] = dict(finetune["optimizer"])
    config["training"]["before_update"] = dict(finetune["before_update"])


def label(report: Dict) -> str:
    if report["task"] != "ner":  # docs of 10 sentences, as spacy convert -n 10 gives
        return report["mode"]
    context = {None: "articles", 0: "articles", 1: "1 sentence"}.get(report["n_sents"], f"{report['n_sents']} sentences")
    return f"{report['mode']} ({context})"


def metric(report: Dict, point: Dict) -> float:
    """The task's headline score of one point: NER F1, or UPOS accuracy (the
    tagger configs' weighted score also counts XPOS)."""
    return point["scores"][METRIC[report["task"]][0]]


def plot(inputs: List[Path], png: Path) -> None:
    """Dev score against minutes of training (evaluation excluded), a line per report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for path in inputs:
        report = json.loads(path.read_text())
        points = [p for p in report["points"] if p["step"] > 0] + ([report["final"]] if "final" in report else [])
        budget = f", {report['max_steps']:,} updates" if report.get("max_steps") else ""
        seed = f", seed {report['seed']}"
        ax.plot([p["train_s"] / 60 for p in points], [metric(report, p) for p in points], marker="o",
                label=label(report) + budget + seed)
    ax.set_xlabel("minutes of training (one torch thread, evaluation excluded)")
    ax.set_ylabel(f"dev score ({METRIC[report['task']][1]})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)


def seeds(inputs: List[Path], step: int) -> Dict:
    """Mean and sd over seeds of each mode's dev score at update `step`, with
    the minutes of training to it and the peak memory."""
    runs: Dict[str, List[Dict]] = {}
    for path in inputs:
        report = json.loads(path.read_text())
        at = [p for p in report["points"] if p["step"] == step]
        if not at:
            raise SystemExit(f"{path}: no evaluation at update {step}")
        runs.setdefault(label(report), []).append({"report": report, "point": at[0], "path": str(path)})
    table = {}
    for name, found in runs.items():
        scores = [metric(r["report"], r["point"]) for r in found]
        minutes = [r["point"]["train_s"] / 60 for r in found]
        table[name] = {
            "metric": METRIC[found[0]["report"]["task"]][0],
            "seeds": [r["report"]["seed"] for r in found],
            "scores": scores,
            "mean": round(statistics.mean(scores), 2),
            "sd": round(statistics.stdev(scores), 2) if len(scores) > 1 else None,
            "train_min_mean": round(statistics.mean(minutes), 1),
            "peak_rss_mib_max": max(r["report"]["peak_rss_mib"] for r in found),
            "inputs": [r["path"] for r in found],
        }
    return {"step": step, "modes": table}


def main(argv=None) -> Dict:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["plot"]:
        parser = argparse.ArgumentParser(description=plot.__doc__)
        parser.add_argument("--inputs", type=Path, nargs="+", required=True)
        parser.add_argument("--png", type=Path, required=True)
        plotted = parser.parse_args(argv[1:])
        plot(plotted.inputs, plotted.png)
        return {}
    if argv[:1] == ["seeds"]:
        parser = argparse.ArgumentParser(description=seeds.__doc__)
        parser.add_argument("--inputs", type=Path, nargs="+", required=True)
        parser.add_argument("--step", type=int, required=True)
        parser.add_argument("--out", type=Path, default=None)
        summed = parser.parse_args(argv[1:])
        return emit(seeds(summed.inputs, summed.step), summed.out)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--mode", choices=["frozen", "finetune", "lora"], default="frozen")
    parser.add_argument("--config", type=Path, default=None, help="train this config instead of the mode's")
    parser.add_argument("--n-sents", type=int, default=None, help="sentences per doc (default: spacy convert's, articles for CoNLL-2003)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many updates instead (0 = by epochs)")
    parser.add_argument("--eval-frequency", type=int, default=500)
    parser.add_argument("--budget-min", type=float, default=0.0, help="stop at the first evaluation after this many minutes of training (0 = none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    CURVE.update(budget_s=args.budget_min * 60, out=args.out)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = convert(args.task, args.data, work, n_sents=args.n_sents)
        config = make_config(args, paths)
        CURVE["report"] = {
            "machine": machine(f"torch threads {torch.get_num_threads()}"),
            "command": " ".join(["python", "bench/bench_finetune.py", *argv]),
            "task": args.task, "mode": args.mode, "n_sents": args.n_sents, "seed": args.seed,
            "train_docs": paths["n_train_docs"], "train_words": paths["n_train_words"],
            "dev_docs": paths["n_dev_docs"], "dev_words": paths["n_dev_words"],
            "max_epochs": config["training"]["max_epochs"], "max_steps": config["training"]["max_steps"],
            "budget_min": args.budget_min,
            "config": {k: config[k] for k in ("components", "training")},
        }
        try:
            trained = train(config, work / "out")
        except OutOfBudget:
            CURVE["report"]["stopped"] = "budget"
        else:
            # The loop evaluates every eval_frequency steps, not at its end:
            # model-last is scored on the whole dev set here.
            scored = score(spacy.load(trained["model"]), paths["dev"], TASKS[args.task]["scores"])
            CURVE["report"]["stopped"] = "max_steps" if config["training"]["max_steps"] else "max_epochs"
            CURVE["report"]["final"] = {
                "wall_s": round(trained["train_s"], 1),
                "cpu_s": round(trained["train_cpu_s"], 1),
                "train_s": round(trained["train_s"] - CURVE["evaluating"]["s"], 1),
                "score": scored["scores"][TASKS[args.task]["scores"][0]],
                "scores": scored["scores"],
                "infer_words_per_s": round(paths["n_dev_words"] / scored["seconds"], 1),
            }
    write_report()
    return emit(CURVE["last"])


if __name__ == "__main__":
    main()
