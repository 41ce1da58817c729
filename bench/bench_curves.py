"""Learning curves: what contextual features buy when labels are scarce.

Each system trains on 1, 2, 5, 10 and 25% of CoNLL-2003 train (ner) or UD
English EWT train (pos), nested subsets per seed, with spaCy's own loop for
max(--min-steps, --epochs epochs) updates, and is scored on the whole dev set
(ents_f; pos_acc = UPOS). Systems: ctx (configs/ner.cfg, tagger.cfg), ctx-few
(configs/ner_few_labels.cfg), hash and hash-few (their ablations without
context, bench/_common.ablate), cnn (`spacy init config`, efficiency), elmo
(configs/elmo_tagger.cfg with --elmo-weights); --encoder puts another model
under ctx and ctx-few (e.g. a pretrain-mlm output). The runs of one encoder share
one frozen-feature store (encoder.frozen_cache.share), dev is scored through
it (checked against nlp.evaluate, --check-eval), and the JSON is rewritten
after every run. Method and results: docs/curves.md.

    nice -n 10 python bench/bench_curves.py ner --systems ctx hash cnn --out bench/results/curves-ner.json
    nice -n 10 python bench/bench_curves.py pos --systems ctx hash cnn elmo --upos-only \
        --elmo-weights /tmp/elmo_stage1 --label-suffix " (stage 1)" --out bench/results/curves-pos.json
    python bench/bench_curves.py plot --inputs bench/results/curves-*.json bench/results/onego-curves-pos.json \
        --png docs/figures/curves.png

(the other curves-*.json: docs/curves.md). --jobs N spreads the runs over N
worker processes; --sizes and --only-seeds split them over separate calls,
whose reports `plot` merges.
"""
import argparse
import contextlib
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy
import spacy
import torch
from spacy.cli.init_config import init_config
from spacy.scorer import Scorer
from spacy.tokens import DocBin
from spacy.training import Corpus
from spacy.training.initialize import init_nlp
from spacy.training.loop import train as train_loop
from spacy.util import fix_random_seed, load_config, registry
from thinc.api import Config

from _common import CONFIGS, DATA, TASKS, ablate, convert, elmo_config, emit, keep_heads, set_schedule, task_config

SIZES = [1.0, 2.0, 5.0, 10.0, 25.0]
SCORES = {task: TASKS[task]["scores"] for task in TASKS}
HEADS = {task: TASKS[task]["heads"] for task in TASKS}
# The frozen-feature store each system reads: one per encoder weights.
STORE_OF = {"ctx": "ctx", "ctx-few": "ctx", "elmo": "elmo"}
CNN_PIPELINE = {"ner": ["ner"], "pos": ["tagger", "morphologizer"]}
# The 100% points are not re-run: they are the full-data runs of
# bench_heads.py in docs/heads.md. Its "cnn" is spaCy's CNN tok2vec inside the
# same heads as ctx, not the `spacy init config` pipeline of this script.
REUSED_FULL = {
    "ner": {"source": "docs/heads.md, bench/bench_heads.py ner --max-epochs 6", "ctx": 92.21, "cnn_tok2vec_in_ctx_heads": 87.34},
    "pos": {"source": "docs/heads.md, bench/bench_heads.py pos --max-epochs 4", "ctx": 95.59, "cnn_tok2vec_in_ctx_heads": 93.73},
}


def load_docs(path: Path, vocab) -> List:
    return list(DocBin().from_disk(path).get_docs(vocab))


def subsets(n_docs: int, sizes: List[float], seeds: int, max_seeded: float) -> List[Dict]:
    """(size, seed, doc indices) of every run, nested per seed."""
    runs = []
    for seed in range(seeds):
        order = numpy.random.RandomState(seed).permutation(n_docs)
        for size in sizes:
            if seed > 0 and size > max_seeded:
                continue
            n = max(1, math.ceil(n_docs * size / 100))
            runs.append({"size": size, "seed": seed, "docs": sorted(int(i) for i in order[:n])})
    return sorted(runs, key=lambda r: (r["size"], r["seed"]))


def make_config(task: str, system: str, paths: Dict, args) -> Config:
    """The system's config, before the schedule is set."""
    heads = HEADS[task][:1] if task == "pos" and args.upos_only else HEADS[task]
    if system == "cnn":
        pipeline = ["morphologizer"] if task == "pos" and args.upos_only else CNN_PIPELINE[task]
        config = init_config(lang="en", pipeline=pipeline, optimize="efficiency", gpu=False)
        return task_config(Config().from_str(config.to_str(), interpolate=False), paths, args.dev_limit_during_training)
    if system == "elmo":
        config = elmo_config(paths, args.elmo_weights, args.dev_limit_during_training)
    else:
        source = CONFIGS / "ner_few_labels.cfg" if system.endswith("-few") else TASKS[task]["config"]
        config = task_config(source, paths, args.dev_limit_during_training)
        if args.encoder:
            config["components"]["ctx_encoder"]["model"]["name"] = str(args.encoder)
    if task == "pos":
        keep_heads(config, heads)
    return ablate(config, heads, "hash") if system.startswith("hash") else config


def count_steps(config: Config, docs: List, epochs: int, seed: int) -> int:
    """Updates that `epochs` epochs over `docs` take with the config's batcher."""
    batcher = registry.resolve({"b": config["training"]["batcher"]})["b"]
    rng = random.Random(seed)
    docs = list(docs)
    steps = 0
    for _ in range(epochs):
        rng.shuffle(docs)
        steps += sum(1 for _ in batcher(docs))
    return steps


def score_cached(nlp, examples: List, store: Dict, batch_size: int) -> Dict:
    """nlp.evaluate's scores, with the encoder's layers read from `store`."""
    docs = [eg.predicted for eg in examples]
    for name, proc in nlp.pipeline:
        if name == "ctx_encoder":
            proc.frozen_cache.share(store)
            for i in range(0, len(docs), batch_size):
                batch = docs[i : i + batch_size]
                proc.set_annotations(batch, proc.cached_predict(batch))
        else:
            docs = list(proc.pipe(docs, batch_size=batch_size))
    for eg, doc in zip(examples, docs):
        eg.predicted = doc
    return Scorer(nlp).score(examples)


class Runner:
    def __init__(self, task: str, args, paths: Dict, work: Path):
        self.task, self.args, self.paths, self.work = task, args, paths, work
        # One frozen-feature store per encoder (never shared between encoders).
        self.stores: Dict[str, Dict] = {"ctx": {}, "elmo": {}}
        self.checked = False

    def run(self, system: str, size: float, seed: int, subset: Path, docs: List) -> Dict:
        args = self.args
        config = make_config(self.task, system, dict(self.paths, train=subset), args)
        epoch_steps = count_steps(config, docs, args.epochs, seed)
        steps = max(args.min_steps, epoch_steps)
        # Evaluate (on a few dev docs, for the log only) after the last
        # update; the curves score the whole dev set afterwards.
        set_schedule(config, steps=steps, seed=seed)
        config_path = self.work / f"{system}-{size}-{seed}.cfg"
        config.to_disk(config_path)
        config = load_config(config_path, interpolate=False)
        fix_random_seed(seed)
        start = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # stdout is the report's
            nlp = init_nlp(config, use_gpu=-1)
        store = self.stores.get(STORE_OF.get(system, ""))
        if store is not None:
            nlp.get_pipe("ctx_encoder").frozen_cache.share(store)
        train_loop(nlp, None, stdout=sys.stderr, stderr=sys.stderr)
        train_s = time.perf_counter() - start

        start = time.perf_counter()
        examples = list(Corpus(self.paths["dev"])(nlp))
        if store is None:
            scores = nlp.evaluate(examples, batch_size=args.batch_size)
        else:
            if args.check_eval and not self.checked:
                self.checked = True
                self.check = self.check_eval(nlp, store)
            scores = score_cached(nlp, examples, store, args.batch_size)
        eval_s = time.perf_counter() - start
        result = {
            "system": system,
            "size": size,
            "seed": seed,
            "train_docs": len(docs),
            "train_sents": sum(len(list(d.sents)) for d in docs),
            "train_words": sum(len(d) for d in docs),
            "steps": steps,
            "epochs": round(steps / max(1, epoch_steps / args.epochs), 1),
            "train_s": round(train_s, 1),
            "eval_s": round(eval_s, 1),
            "scores": {k: round(100 * float(scores[k]), 2) for k in SCORES[self.task] if scores.get(k) is not None},
        }
        if store is not None:
            result["cache_docs"] = len(store)
        print(json.dumps(result), file=sys.stderr, flush=True)
        return result

    def check_eval(self, nlp, store: Dict) -> Dict:
        """The cached scoring path against nlp.evaluate on a dev slice."""
        examples = list(Corpus(self.paths["dev"], limit=self.args.check_eval)(nlp))
        plain = nlp.evaluate(examples, batch_size=self.args.batch_size)
        examples = list(Corpus(self.paths["dev"], limit=self.args.check_eval)(nlp))
        cached = score_cached(nlp, examples, store, self.args.batch_size)
        keys = [k for k in SCORES[self.task] if plain.get(k) is not None]
        diff = max(abs(float(plain[k]) - float(cached[k])) for k in keys)
        check = {
            "dev_docs": self.args.check_eval,
            "nlp_evaluate": {k: round(100 * float(plain[k]), 4) for k in keys},
            "cached": {k: round(100 * float(cached[k]), 4) for k in keys},
            "max_abs_diff": diff,
        }
        print(json.dumps({"check_eval": check}), file=sys.stderr, flush=True)
        if diff > 1e-9:
            raise SystemExit(f"cached scoring disagrees with nlp.evaluate: {check}")
        return check


def summarise(runs: List[Dict], key: str) -> Dict:
    table: Dict = {}
    for run in runs:
        table.setdefault(run["system"], {}).setdefault(str(run["size"]), []).append(run["scores"][key])
    out: Dict = {}
    for system, sizes in table.items():
        out[system] = {}
        for size, values in sizes.items():
            values_arr = numpy.asarray(values)
            out[system][size] = {
                "mean": round(float(values_arr.mean()), 2),
                "sd": round(float(values_arr.std(ddof=1)), 2) if len(values) > 1 else None,
                "n": len(values),
                "values": values,
            }
    return out


LABELS = {
    "ctx": "ctx (MiniLM, frozen)",
    "ctx-few": "ctx, one window layer (ner_few_labels.cfg)",
    "hash": "hash (no context)",
    "hash-few": "hash, one window layer (no context)",
    "cnn": "spaCy CNN (init config)",
    "elmo": "ELMo (pretrained, frozen)",
}
COLORS = {"ctx": "C0", "ctx-few": "C5", "hash": "C1", "hash-few": "C7", "cnn": "C2", "elmo": "C4"}
LATER_STAGE_COLORS = {"(stage 2)": "C3", "(stage 3)": "C9", "(stage 4)": "C8", "(GPU, 5 min)": "C6"}


def plot(inputs: List[Path], png: Path) -> None:
    """One panel per task: mean +- sd of the main score against % of train."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reports = [json.loads(p.read_text()) for p in inputs]
    tasks = sorted({r["task"] for r in reports}, key=["ner", "pos"].index)
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        key = SCORES[task][0]
        # Reports of one task (e.g. the small and the large sizes run in two
        # processes) are merged per system and label.
        # A run measured again in a later report (the same system, label,
        # size and seed) counts once: the first report's.
        curves: Dict[str, Dict[float, List[float]]] = {}
        seen = set()
        for report in (r for r in reports if r["task"] == task):
            for run in report["runs"]:
                suffix = report.get("label_suffix", "") if run["system"] == "elmo" else ""
                label = LABELS[run["system"]] + suffix
                if (label, run["size"], run["seed"]) in seen:
                    continue
                seen.add((label, run["size"], run["seed"]))
                curves.setdefault(label, {}).setdefault(run["size"], []).append(run["scores"][key])
        order = list(LABELS.values())
        colors = {LABELS[system]: color for system, color in COLORS.items()}

        def base(label: str) -> str:
            return next(name for name in order if label.startswith(name))

        for label in sorted(curves, key=lambda lab: (order.index(base(lab)), lab)):
            points = curves[label]
            # Later sets of ELMo weights get colours of their own.
            color = next((c for stage, c in LATER_STAGE_COLORS.items() if label.endswith(stage)), colors[base(label)])
            x = sorted(points)
            y = [numpy.mean(points[size]) for size in x]
            err = [numpy.std(points[size], ddof=1) if len(points[size]) > 1 else 0.0 for size in x]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label, color=color)
        ax.set_xscale("log")
        ax.set_xticks(SIZES)
        ax.set_xticklabels([f"{s:g}%" for s in SIZES])
        ax.set_xlabel("% of the train documents (log scale)")
        ax.set_ylabel("CoNLL-2003 valid ents_f" if task == "ner" else "EWT dev UPOS accuracy")
        ax.set_title("NER (CoNLL-2003)" if task == "ner" else "POS (UD English EWT)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["ner", "pos", "plot"], help="plot: draw --inputs into --png")
    parser.add_argument("--inputs", nargs="+", type=Path, default=[], help="plot: the curves JSON files")
    parser.add_argument("--png", type=Path, default=None, help="plot: the figure to write")
    parser.add_argument("--label-suffix", default="", help="added to elmo's name in the plot legend (e.g. the weights' stage)")
    parser.add_argument("--systems", nargs="+", default=["ctx", "hash", "cnn"], choices=list(LABELS))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sizes", nargs="+", type=float, default=SIZES, help="%% of the train docs")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only-seeds", nargs="+", type=int, default=[], help="run only these seeds (to split the runs over processes)")
    parser.add_argument("--max-seeded", type=float, default=10.0, help="sizes above this run seed 0 only")
    parser.add_argument("--min-steps", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=1, help="at least this many epochs (when > --min-steps)")
    parser.add_argument("--elmo-weights", type=Path, default=None)
    parser.add_argument("--encoder", default=None, help="ctx, ctx-few: the ctx_encoder's model (default: the config's, the bundled MiniLM)")
    parser.add_argument("--upos-only", action="store_true", help="pos: train the morphologizer (UPOS + features) only, not the XPOS tagger")
    parser.add_argument("--dev-limit", type=int, default=0, help="score the first N dev docs (0 = all)")
    parser.add_argument("--dev-limit-during-training", type=int, default=2)
    parser.add_argument("--check-eval", type=int, default=20, help="dev docs for the cached-vs-nlp.evaluate check (0 = skip)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes for the runs (each with --threads torch threads)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.task == "plot":
        plot(args.inputs, args.png)
        return {}
    torch.set_num_threads(args.threads)
    if "elmo" in args.systems and (args.task != "pos" or args.elmo_weights is None):
        parser.error("elmo runs on pos only and needs --elmo-weights")
    if {"ctx-few", "hash-few"} & set(args.systems) and args.task != "ner":
        parser.error("ctx-few and hash-few run on ner only (tagger.cfg already has one window layer)")

    start_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"spacy_ctx_curves_{args.task}_") as tmp:
        work = Path(tmp)
        paths = convert(args.task, args.data, work, 0, args.dev_limit)
        vocab = spacy.blank("en").vocab
        train_docs = load_docs(paths["train"], vocab)
        report: Dict = {
            "task": args.task,
            "measured": time.strftime("%Y-%m-%d"),
            "unit": "documents of 10 sentences (spaCy's converters)",
            "train_docs_total": len(train_docs),
            "train_words_total": paths["n_train_words"],
            "dev_docs": paths["n_dev_docs"],
            "dev_words": paths["n_dev_words"],
            "schedule": f"max({args.min_steps} steps, {args.epochs} epochs) with each config's batcher",
            "torch_threads": args.threads,
            "elmo_weights": str(args.elmo_weights) if args.elmo_weights else None,
            "argv": sys.argv[1:] if argv is None else argv,
            "reused_100_percent": REUSED_FULL[args.task],
            "label_suffix": args.label_suffix,
            "pos_heads": None if args.task != "pos" else (["morphologizer"] if args.upos_only else HEADS["pos"]),
            "runs": [],
        }
        specs = [
            spec for spec in subsets(len(train_docs), args.sizes, args.seeds, args.max_seeded)
            if not args.only_seeds or spec["seed"] in args.only_seeds
        ]
        items = [(system, spec) for spec in specs for system in args.systems]
        if args.jobs > 1:
            report["jobs"] = args.jobs
            results = run_in_processes(items, args, paths, work)
        else:
            runner = Runner(args.task, args, paths, work)
            results = (run_item(runner, train_docs, item) for item in items)
        for result, check in results:
            report["runs"].append(result)
            key = SCORES[args.task][0]
            report["summary"] = {key: summarise(report["runs"], key)}
            if check is not None:
                report["eval_check"] = check
            report["total_s"] = round(time.perf_counter() - start_all, 1)
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(report, indent=2) + "\n")
    report["runs"].sort(key=lambda run: (run["size"], run["seed"], args.systems.index(run["system"])))
    return emit(report, args.out)


def run_item(runner: "Runner", train_docs: List, item) -> tuple:
    """Train and score one (system, subset) run; (its result, the eval check)."""
    system, spec = item
    docs = [train_docs[i] for i in spec["docs"]]
    subset = runner.work / f"train-{spec['size']}-{spec['seed']}.spacy"
    if not subset.exists():
        DocBin(docs=docs, store_user_data=False).to_disk(subset)
    result = runner.run(system, spec["size"], spec["seed"], subset, docs)
    return result, getattr(runner, "check", None)


# --jobs: one Runner (and its frozen-feature stores) per worker process.
_worker: Dict = {}


def _start_worker(task: str, args, paths: Dict, work: Path) -> None:
    torch.set_num_threads(args.threads)
    lane = Path(tempfile.mkdtemp(prefix="lane_", dir=work))
    _worker["runner"] = Runner(task, args, paths, lane)
    _worker["train_docs"] = load_docs(paths["train"], spacy.blank("en").vocab)


def _run_in_worker(item) -> tuple:
    return run_item(_worker["runner"], _worker["train_docs"], item)


def run_in_processes(items: List, args, paths: Dict, work: Path):
    """Spread the runs over args.jobs worker processes (one CPU core each).
    Each worker encodes the dev set once for itself: the price of the lanes."""
    import multiprocessing

    # Large subsets first, so that no worker is left with a long run at the end.
    items = sorted(items, key=lambda item: -item[1]["size"])
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.jobs, _start_worker, (args.task, args, paths, work), maxtasksperchild=None) as pool:
        yield from pool.imap_unordered(_run_in_worker, items)


if __name__ == "__main__":
    main()
