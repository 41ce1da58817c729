"""Heads trained on contextual layers and without them: scores, learning
curves, and dev score against training time.

    python bench/bench_train.py TASK --systems SYSTEM... [--sizes %...] [--seeds N...]
    python bench/bench_train.py plot --inputs JSON... --png PNG [--by minutes]
    python bench/bench_train.py seeds --step N --inputs JSON...

TASK: ner (CoNLL-2003) or pos (UD English EWT). A run trains one system on
--sizes % of the train docs (nested subsets per seed) and scores model-last on
the whole dev set. Systems: ctx, ctx-few, finetune, lora (the task's configs or
--config), elmo, elmo-random (elmo_tagger.cfg), static, static-none
(*_static.cfg), cnn (`spacy init config`) and, without context, hash, hash-few,
cnn-heads (bench/configs/ablations.cfg). Frozen systems share one feature store
per encoder unless --timed-eval. `plot`: mean +- sd over seeds against % of
train, or each run's points by minutes; `seeds`: mean and sd at one update.
"""
import contextlib
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy
import spacy
import torch
from spacy.scorer import Scorer
from spacy.tokens import DocBin
from spacy.training import Corpus
from spacy.training.initialize import init_nlp
from spacy.training.loop import train as train_loop
from spacy.util import fix_random_seed, load_config, registry
from thinc.api import Config

from harness import CONFIGS, ROOT, TASKS, emit, machine, options, parse, peak_rss_mib
from harness.peers import pipe
from harness.plots import errorbars, figure
from harness.readers import convert, load_docs
from harness.timing import interleave
from harness.training import FINETUNE, ablate, elmo_config, fine_tuned, initialized, keep_heads, score, set_schedule
from harness.training import learned_mixes, spacy_cnn_config, task_config
from spacy_ctx.models.pytorch.precision import PRECISIONS, supports

SIZES = [1.0, 2.0, 5.0, 10.0, 25.0]
CURVES = ["--sizes", *map(str, SIZES), "--seeds", "0", "1", "2", "--max-seeded", "10", "--min-steps", "200"]
LABELS = {
    "ctx": "ctx (MiniLM, frozen)", "ctx-few": "ctx, one window layer (ner_few_labels.cfg)", "hash": "hash (no context)",
    "hash-few": "hash, one window layer (no context)", "cnn": "spaCy CNN (init config)", "elmo": "ELMo (pretrained, frozen)",
    "cnn-heads": "spaCy CNN tok2vec in the ctx heads", "finetune": "fine-tuned", "lora": "LoRA", "elmo-random": "ELMo (random)",
    "static": "spaCy CNN + static table", "static-none": "spaCy CNN, static config without the table",
}
COLORS = {"ctx": "C0", "ctx-few": "C5", "hash": "C1", "hash-few": "C7", "cnn": "C2", "elmo": "C4", "cnn-heads": "C3"}
LATER_STAGE_COLORS = {"(stage 2)": "C3", "(stage 3)": "C9", "(stage 4)": "C8", "(GPU, 5 min)": "C6"}
STORE_OF = {"ctx": "ctx", "ctx-few": "ctx", "elmo": "elmo"}  # the frozen-feature store each system reads
MODE = {"ctx": "frozen"}  # what the plots and `seeds` call a system (the former fine-tuning modes)
RUN: Dict = {"points": [], "budget_s": 0.0, "evaluating": 0.0, "on_point": None}


class OutOfBudget(Exception):
    """Raised by the points logger to end training at its time budget."""


@registry.loggers("spacy_ctx_bench.points_logger.v1")
def points_logger():
    """Keeps every evaluation's scores with the clock, the process CPU time and the seconds spent evaluating, and
    raises OutOfBudget once training has used its budget."""

    def setup(nlp, stdout=sys.stdout, stderr=sys.stderr):
        start, cpu, evaluate = time.perf_counter(), time.process_time(), nlp.evaluate

        def timed_evaluate(*args, **kwargs):
            begin = time.perf_counter()
            scores = evaluate(*args, **kwargs)
            RUN["evaluating"] += time.perf_counter() - begin
            return scores

        def log_step(info):
            if info is None:
                return
            wall = time.perf_counter() - start
            point = {"step": info["step"], "epoch": info["epoch"], "wall_s": round(wall, 1),
                     "cpu_s": round(time.process_time() - cpu, 1), "train_s": round(wall - RUN["evaluating"], 1),
                     "eval_s": round(RUN["evaluating"], 1), "score": round(100 * float(info["score"]), 2),
                     "scores": {k: round(100 * float(v), 2) for k, v in info["other_scores"].items() if isinstance(v, float)},
                     "losses": {k: round(float(v), 1) for k, v in info["losses"].items()}}
            RUN["points"].append(point)
            print(json.dumps(point), file=stderr, flush=True)
            if RUN["on_point"]:
                RUN["on_point"]()
            if RUN["budget_s"] and point["train_s"] >= RUN["budget_s"]:
                raise OutOfBudget()

        nlp.evaluate = timed_evaluate
        return log_step, lambda: None

    return setup


def make_config(task: str, system: str, paths: Dict, args) -> Config:
    """The system's config on the run's data, before its schedule."""
    limit = 0 if args.eval_frequency else 2  # points are whole-dev scores; otherwise a log line
    heads = TASKS[task]["heads"][:1] if task == "pos" and args.upos_only else TASKS[task]["heads"]
    if system == "cnn":
        pipeline = {"ner": ["ner"], "pos": ["morphologizer"] if args.upos_only else ["tagger", "morphologizer"]}[task]
        return task_config(spacy_cnn_config(pipeline), paths, limit)
    if system.startswith("static"):  # spaCy's CNN heads, with the static table of --vectors or without
        config = task_config(CONFIGS / {"ner": "ner_static.cfg", "pos": "tagger_static.cfg"}[task], paths, limit)
        config["paths"]["vectors"] = str(args.vectors) if system == "static" else None
        for head in TASKS[task]["heads"]:
            config["components"][head]["model"]["tok2vec"]["embed"]["include_static_vectors"] = system == "static"
        return config
    if system.startswith("elmo"):
        config = elmo_config(paths, args.elmo_weights if system == "elmo" else None, limit)
    else:
        finetuning = system in ("finetune", "lora")
        source = CONFIGS / "ner_few_labels.cfg" if system.endswith("-few") else args.config or TASKS[task]["config"]
        config = task_config(FINETUNE if finetuning and task == "ner" and not args.config else source, paths, limit)
        if finetuning:
            fine_tuned(config, lora=system == "lora")
        if args.encoder and "encoder" in config["paths"]:  # the base-size configs: a variable
            config["paths"]["encoder"] = str(args.encoder)
        elif args.encoder:
            config["components"]["ctx_encoder"]["model"]["name"] = str(args.encoder)
    if task == "pos":
        keep_heads(config, heads)
    if args.grad_factor is not None and system.startswith("ctx"):
        for head in heads:
            config["components"][head]["model"]["tok2vec"]["ctx"]["grad_factor"] = args.grad_factor
    if args.learn_rate:  # spacy-transformers' schedule: fine-tuning wants a small rate
        config["training"]["optimizer"]["learn_rate"] = {"@schedules": "warmup_linear.v1", "warmup_steps": 250,
                                                         "total_steps": 20000, "initial_rate": args.learn_rate}
    return ablate(config, heads, system.split("-")[0]) if system.startswith(("hash", "cnn-")) else config


def epoch_steps(config: Config, docs: List, seed: int) -> int:
    """Updates that one epoch over `docs` (shuffled by `seed`) takes with the config's batcher."""
    docs = list(docs)
    random.Random(seed).shuffle(docs)
    return sum(1 for _ in registry.resolve({"b": config["training"]["batcher"]})["b"](docs))


def score_cached(nlp, examples: List, store: Dict, batch_size: int = 64) -> Dict:
    """nlp.evaluate's scores, with the encoder's layers read from `store`."""
    docs = [eg.predicted for eg in examples]
    for name, proc in nlp.pipeline:
        if name == "ctx_encoder":
            proc.frozen_cache.share(store)
            for i in range(0, len(docs), batch_size):
                proc.set_annotations(docs[i : i + batch_size], proc.cached_predict(docs[i : i + batch_size]))
        else:
            docs = list(proc.pipe(docs, batch_size=batch_size))
    for eg, doc in zip(examples, docs):
        eg.predicted = doc
    return Scorer(nlp).score(examples)


class Runner:
    """Trains and scores runs, keeping one frozen-feature store per encoder."""

    def __init__(self, task: str, args, paths: Dict, work: Path):
        self.task, self.args, self.paths, self.work = task, args, paths, work
        self.stores: Dict[str, Dict] = {"ctx": {}, "elmo": {}}
        self.check, self.trained = None, {}

    def run(self, system: str, size: float, seed: int, docs: List) -> Dict:
        args, keys = self.args, TASKS[self.task]["scores"]
        subset = self.work / f"train-{size}-{seed}.spacy"
        if not subset.exists():
            DocBin(docs=docs, store_user_data=False).to_disk(subset)
        config = make_config(self.task, system, dict(self.paths, train=subset), args)
        one_epoch = epoch_steps(config, docs, seed) if args.min_steps else 0
        steps = max(args.min_steps, one_epoch) if args.min_steps else args.max_steps
        set_schedule(config, epochs=0 if steps else args.max_epochs, steps=steps,
                     eval_frequency=args.eval_frequency or steps or 1000, batch_words=args.batch_words, seed=seed)
        config["training"]["logger"] = {"@loggers": "spacy_ctx_bench.points_logger.v1"}
        config_path = self.work / f"{system}-{size}-{seed}.cfg"
        config.to_disk(config_path)
        RUN.update(points=[], evaluating=0.0, budget_s=args.budget_min * 60)
        fix_random_seed(seed)
        start, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(sys.stderr):  # stdout is the report's
            nlp = init_nlp(load_config(config_path, interpolate=False), use_gpu=-1)
        store = None if args.timed_eval else self.stores.get(STORE_OF.get(system, ""))
        if store is not None:
            nlp.get_pipe("ctx_encoder").frozen_cache.share(store)
        try:
            train_loop(nlp, None, stdout=sys.stderr, stderr=sys.stderr)
            stopped = "max_steps" if steps else "max_epochs"
        except OutOfBudget:
            stopped = "budget"
        wall, train_cpu = time.perf_counter() - start, time.process_time() - cpu
        if store is not None and args.check_eval and self.check is None:
            self.check = self.check_eval(nlp, store)
        scorer = (lambda examples: score_cached(nlp, examples, store)) if store is not None else None
        scored = score(nlp, self.paths["dev"], keys, 64, scorer)
        epochs = round(steps / max(1, one_epoch), 1) if one_epoch else args.max_epochs
        result = {
            "system": system, "size": size, "seed": seed, "n_sents": args.n_sents, "train_docs": len(docs),
            "train_words": sum(len(d) for d in docs), "steps": steps or (RUN["points"] or [{"step": 0}])[-1]["step"],
            "epochs": epochs, "stopped": stopped, "wall_s": round(wall, 1), "train_cpu_s": round(train_cpu, 1),
            "train_s": round(wall - RUN["evaluating"], 1), "eval_s": round(scored["seconds"], 1),
            "infer_words_per_s": None if store is not None else round(scored["words"] / scored["seconds"], 1),
            "scores": scored["scores"], "score": scored["scores"].get(keys[0]), "points": RUN["points"],
            "peak_rss_mib": round(peak_rss_mib()),
        }
        if store is not None:
            result["cache_docs"] = len(store)
        if "ctx_encoder" in nlp.pipe_names:
            result["mixes"] = learned_mixes(nlp)
        if args.precisions and "ctx_encoder" in nlp.pipe_names:
            rows = result["precisions"] = self.precisions(nlp, keys)
            result["loss_vs_fp32"] = {p: round(rows["fp32"]["scores"][keys[0]] - row["scores"][keys[0]], 2)
                                      for p, row in rows.items()}
        if args.speed:
            self.trained[system] = nlp
        print(json.dumps({k: v for k, v in result.items() if k != "points"}), file=sys.stderr, flush=True)
        return result

    def precisions(self, nlp, keys) -> Dict:
        """Dev scores of the trained pipeline, its encoder at each precision this CPU runs natively."""
        nlp.to_disk(self.work / "trained")
        rows = {}
        for precision in filter(supports, self.args.precisions):
            config = {"components": {"ctx_encoder": {"model": {"precision": precision}}}}
            run = score(spacy.load(self.work / "trained", config=config), self.paths["dev"], keys)
            rows[precision] = {"scores": run["scores"], "words_per_s": round(run["words"] / run["seconds"], 1)}
        return rows

    def check_eval(self, nlp, store: Dict) -> Dict:
        """The cached scoring path against nlp.evaluate on a dev slice."""
        examples = lambda: list(Corpus(self.paths["dev"], limit=self.args.check_eval)(nlp))  # noqa: E731
        plain, cached = nlp.evaluate(examples(), batch_size=64), score_cached(nlp, examples(), store)
        keys = [k for k in TASKS[self.task]["scores"] if plain.get(k) is not None]
        check = {"dev_docs": self.args.check_eval, **{name: {k: round(100 * float(s[k]), 4) for k in keys}
                                                      for name, s in (("nlp_evaluate", plain), ("cached", cached))},
                 "max_abs_diff": max(abs(float(plain[k]) - float(cached[k])) for k in keys)}
        if check["max_abs_diff"] > 1e-9:
            raise SystemExit(f"cached scoring disagrees with nlp.evaluate: {check}")
        return check


def speed(trained: Dict, task: str, paths: Dict, n_docs: int) -> Dict:
    """nlp.pipe words/s of the trained pipelines and of the task's ctx config
    (heads untrained: a forward pass costs the same), interleaved on dev docs."""
    ctx = initialized(task_config(TASKS[task]["config"], paths), paths["train"], limit=20)
    texts = [eg.reference.text for eg in Corpus(paths["dev"])(ctx)][:n_docs]
    words = sum(len(ctx.make_doc(t)) for t in texts)
    runners = {name: pipe(nlp, 64) for name, nlp in {**trained, "ctx (untrained heads)": ctx}.items()}
    seconds = interleave(runners, texts, 4, warmup=8)
    return {"n_docs": len(texts), "n_words": words, "words_per_s": {name: round(words / s, 1) for name, s in seconds.items()}}


def subsets(n_docs: int, sizes: List[float], seeds: List[int], max_seeded: float) -> List[Dict]:
    """(size, seed, doc indices) of every run, nested per seed; 100% is every doc in order."""
    runs = []
    for seed in seeds:
        order = numpy.random.RandomState(seed).permutation(n_docs)
        for size in (s for s in sizes if seed == 0 or s <= max_seeded):
            docs = range(n_docs) if size >= 100 else sorted(int(i) for i in order[: max(1, math.ceil(n_docs * size / 100))])
            runs.append({"size": size, "seed": seed, "docs": list(docs)})
    return sorted(runs, key=lambda r: (r["size"], r["seed"]))


def mean_sd(values: List[float]) -> Dict:
    sd = round(statistics.stdev(values), 2) if len(values) > 1 else None
    return {"mean": round(statistics.mean(values), 2), "sd": sd}


def summarise(runs: List[Dict], key: str) -> Dict:
    """Per system and size: the mean, sd and values of `key` over seeds."""
    table: Dict = {}
    for run in runs:
        table.setdefault(run["system"], {}).setdefault(str(run["size"]), []).append(run["scores"][key])
    return {system: {size: {**mean_sd(v), "n": len(v), "values": v} for size, v in sizes.items()}
            for system, sizes in table.items()}


_worker: Dict = {}  # --jobs: one Runner (and its stores) per worker process


def _start_worker(task, args, paths, work):
    torch.set_num_threads(args.threads or 1)
    lane = Path(tempfile.mkdtemp(prefix="lane_", dir=work))
    _worker.update(runner=Runner(task, args, paths, lane), docs=load_docs(paths["train"]))


def _run_in_worker(item):
    system, spec = item
    result = _worker["runner"].run(system, spec["size"], spec["seed"], [_worker["docs"][i] for i in spec["docs"]])
    return result, _worker["runner"].check


def runs_of(report: Dict) -> List[Dict]:
    """A report's runs, the final score as the last point; a report of one fine-tuning run (the former
    bench_finetune.py, as finetune-*.json and context-*.json are) is one run, its mode the system."""
    if "runs" in report:
        return [{**run, "points": run["points"] + [{"train_s": run["train_s"], "scores": run["scores"]}]}
                for run in report["runs"]]
    final = report.get("final") or {}
    return [{"system": {"frozen": "ctx"}.get(report["mode"], report["mode"]), "seed": report["seed"],
             "task": report["task"], "n_sents": report.get("n_sents"), "steps": report.get("max_steps"),
             "points": report["points"] + ([final] if final else []), "peak_rss_mib": report["peak_rss_mib"]}]


def label(run: Dict, task: str) -> str:
    name, n = MODE.get(run["system"], run["system"]), run.get("n_sents")
    if task != "ner":  # docs of 10 sentences, as spacy convert -n 10 gives
        return name
    return f"{name} ({'articles' if not n else '1 sentence' if n == 1 else f'{n} sentences'})"


def metric(task: str, point: Dict) -> float:
    """The task's headline score: NER F1, or UPOS (the tagger configs' weighted score also counts XPOS)."""
    return point["scores"][TASKS[task]["scores"][0]]


def plot(inputs: List[Path], png: Path, by: str) -> None:
    reports = [json.loads(p.read_text()) for p in inputs]
    tasks = sorted({r["task"] for r in reports}, key=["ner", "pos"].index)
    with figure(png, len(tasks) if by == "size" else 1, size=(6, 4.5) if by == "size" else (7, 4.5)) as axes:
        for ax, task in zip(axes, tasks):
            ax.set_ylabel("CoNLL-2003 valid F1" if task == "ner" else "UD English EWT dev UPOS")
            if by == "minutes":
                for run in (run for report in reports for run in runs_of(report)):
                    points = [p for p in run["points"] if p.get("step", 1) > 0]
                    budget = f", {run['steps']:,} updates" if run.get("steps") else ""
                    ax.plot([p["train_s"] / 60 for p in points], [metric(task, p) for p in points], marker="o",
                            label=f"{label(run, task)}{budget}, seed {run['seed']}")
                ax.set_xlabel("minutes of training (one torch thread, evaluation excluded)")
                ax.grid(alpha=0.3)
                ax.legend(fontsize="small")
                continue
            # A run measured again in a later report (same label, size and seed) counts once: the first.
            curves: Dict[str, Dict[float, List[float]]] = {}
            seen, colors = set(), {}
            for report in (r for r in reports if r["task"] == task):
                for run in report["runs"]:
                    name = LABELS[run["system"]] + (report.get("label_suffix", "") if run["system"] == "elmo" else "")
                    if (name, run["size"], run["seed"]) not in seen:
                        seen.add((name, run["size"], run["seed"]))
                        curves.setdefault(name, {}).setdefault(run["size"], []).append(metric(task, run))
                        stage = next((c for s, c in LATER_STAGE_COLORS.items() if name.endswith(s)), None)
                        colors[name] = stage or COLORS.get(run["system"])
            order = list(LABELS.values())
            base = lambda name: order.index(next(o for o in order if name.startswith(o)))  # noqa: E731
            errorbars(ax, {k: curves[k] for k in sorted(curves, key=lambda k: (base(k), k))}, colors, SIZES)
            ax.set_xlabel("% of the train documents (log scale)")
            ax.set_title("NER (CoNLL-2003)" if task == "ner" else "POS (UD English EWT)")


def seeds(inputs: List[Path], step: int) -> Dict:
    """Mean and sd over seeds of each system's dev score at update `step`,
    with the minutes of training to it and the peak memory."""
    found: Dict[str, List] = {}
    for path in inputs:
        report = json.loads(path.read_text())
        for run in runs_of(report):
            at = [p for p in run["points"] if p.get("step") == step]
            if not at:
                raise SystemExit(f"{path}: no evaluation at update {step}")
            found.setdefault(label(run, report["task"]), []).append((run, at[0], str(path), report["task"]))
    table = {}
    for name, rows in found.items():
        scores = [metric(task, point) for _, point, _, task in rows]
        table[name] = {"metric": TASKS[rows[0][3]]["scores"][0], "seeds": [run["seed"] for run, *_ in rows],
                       "scores": scores, **mean_sd(scores),
                       "train_min_mean": round(statistics.mean(p["train_s"] / 60 for _, p, _, _ in rows), 1),
                       "peak_rss_mib_max": max(run["peak_rss_mib"] for run, *_ in rows),
                       "inputs": [path for _, _, path, _ in rows]}
    return {"step": step, "modes": table}


def main(argv=None) -> Dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = options(__doc__, threads=1)
    add = parser.add_argument
    if argv[:1] in (["plot"], ["seeds"]):
        add("command")
        add("--inputs", type=Path, nargs="+", required=True)
        add("--png", type=Path)
        add("--by", choices=["size", "minutes"], default="size", help="plot: the x axis")
        add("--step", type=int, help="seeds: the update to compare at")
        args = parser.parse_args(argv)
        return plot(args.inputs, args.png, args.by) if args.command == "plot" else emit(seeds(args.inputs, args.step), args.out)
    add("task", choices=sorted(TASKS))
    add("--systems", nargs="+", default=["ctx", "cnn-heads"], choices=list(LABELS))
    add("--sizes", nargs="+", type=float, default=[100.0], help="%% of the train docs")
    add("--seeds", nargs="+", type=int, default=[0])
    add("--max-seeded", type=float, default=100.0, help="sizes above this run seed 0 only")
    add("--curves", action="store_true", help=f"the learning curves' defaults: {' '.join(CURVES)}")
    add("--n-sents", type=int, default=None, help="sentences per doc (default: spacy convert's; CoNLL: articles)")
    add("--train-limit", type=int, default=0, help="keep the first N train docs (0 = all)")
    add("--dev-limit", type=int, default=0, help="score the first N dev docs (0 = all)")
    add("--max-epochs", type=int, default=6)
    add("--max-steps", type=int, default=0, help="stop after this many updates instead (0 = by epochs)")
    add("--min-steps", type=int, default=0, help="train max(this, one epoch) updates instead")
    add("--eval-frequency", type=int, default=0, help="score the whole dev set every N updates (0: at the end)")
    add("--budget-min", type=float, default=0.0, help="stop at the first evaluation after this many minutes")
    add("--batch-words", type=int, default=0, help="fixed batch size in words (0 = the config's schedule)")
    add("--encoder", default=None, help="ctx systems: the ctx_encoder's model (e.g. a pretrain-mlm output)")
    add("--config", type=Path, default=None, help="ctx systems: this config, not the task's (e.g. configs/ner_base.cfg)")
    add("--resume", action="store_true", help="keep the runs already in --out and run only the others")
    add("--elmo-weights", type=Path, default=None, help="elmo: pretrain-elmo's output")
    add("--vectors", type=Path, default=None, help="static: the static table (a distill-static output)")
    add("--precisions", nargs="*", default=[], choices=PRECISIONS, help="also score each run at these precisions")
    add("--pipeline", type=Path, help="with --precisions: score this trained pipeline instead of training")
    add("--speed", type=int, default=0, metavar="N", help="then time the trained pipelines and the ctx config, interleaved, on N dev docs")
    add("--upos-only", action="store_true", help="pos: the morphologizer only, not the XPOS tagger")
    add("--grad-factor", type=float, default=None, help="ctx systems: the listeners' grad_factor")
    add("--learn-rate", type=float, default=0.0, help="warm-up + linear decay from this rate")
    add("--label-suffix", default="", help="added to elmo's name in the plot legend")
    add("--timed-eval", action="store_true", help="score through nlp.evaluate, timing inference")
    add("--check-eval", type=int, default=20, help="dev docs for the cached-vs-nlp.evaluate check (0 = skip)")
    add("--jobs", type=int, default=1, help="worker processes for the runs (each with --threads threads)")
    args = parse(parser, argv)
    if args.curves:  # where not given
        for key, value in vars(parser.parse_args([*CURVES, args.task])).items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    if {"elmo", "elmo-random"} & set(args.systems) and args.task != "pos" or "elmo" in args.systems and not args.elmo_weights:
        parser.error("elmo runs on pos only and needs --elmo-weights")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"spacy_ctx_train_{args.task}_") as tmp:
        work = Path(tmp)
        paths = convert(args.task, args.data, work, args.train_limit, args.dev_limit, args.n_sents)
        train_docs, runner = load_docs(paths["train"]), Runner(args.task, args, paths, work)
        report: Dict = {
            "task": args.task, "machine": machine(f"torch threads {torch.get_num_threads()}"),
            "train_docs_total": len(train_docs), "train_words_total": paths["n_train_words"],
            "dev_docs": paths["n_dev_docs"], "dev_words": paths["n_dev_words"], "torch_threads": torch.get_num_threads(),
            "elmo_weights": str(args.elmo_weights) if args.elmo_weights else None, "label_suffix": args.label_suffix,
            "config": str(args.config or TASKS[args.task]["config"].relative_to(ROOT)), "encoder": args.encoder, "runs": []}
        items = [(system, spec) for spec in subsets(len(train_docs), args.sizes, args.seeds, args.max_seeded)
                 for system in args.systems]
        if args.resume and args.out and args.out.exists():
            report["runs"] = json.loads(args.out.read_text())["runs"]
            done = {(run["system"], run["size"], run["seed"]) for run in report["runs"]}
            items = [(system, spec) for system, spec in items if (system, spec["size"], spec["seed"]) not in done]
        key = TASKS[args.task]["scores"][0]

        def save(result=None, check=None):
            if result is not None:
                report["runs"].append(result)
                report["summary"] = {key: summarise(report["runs"], key)}
            if check is not None:
                report["eval_check"] = check
            report["total_s"] = round(time.perf_counter() - start, 1)
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps({**report, "running": RUN["points"]}, indent=2) + "\n")

        if args.pipeline:
            report["pipeline"] = {"path": str(args.pipeline), "precisions": runner.precisions(
                spacy.load(args.pipeline), TASKS[args.task]["scores"])}
            items = []
        if args.jobs > 1:
            import multiprocessing

            items.sort(key=lambda item: -item[1]["size"])  # large subsets first: no long run left at the end
            with multiprocessing.get_context("spawn").Pool(args.jobs, _start_worker, (args.task, args, paths, work)) as pool:
                for result, check in pool.imap_unordered(_run_in_worker, items):
                    save(result, check)
        else:
            RUN["on_point"] = save
            for system, spec in items:
                save(runner.run(system, spec["size"], spec["seed"], [train_docs[i] for i in spec["docs"]]), runner.check)
        if args.speed:
            report["speed"] = speed(runner.trained, args.task, paths, args.speed)
    report["runs"].sort(key=lambda run: (run["size"], run["seed"], args.systems.index(run["system"])))
    return emit(report, args.out)


if __name__ == "__main__":
    main()
