"""NER on WNUT-17 (3,394 training sentences) on the shipped configs' schedule
(by updates, with early stopping on dev), 3 seeds per system.

    nice -n 10 python bench/bench_wnut.py --systems ner=configs/ner.cfg \\
        few=configs/ner_few_labels.cfg cnn=spacy --jobs 2 --out bench/results/wnut-shipped.json

A system is NAME=CONFIG, or NAME=CONFIG@ENCODER to set the ctx_encoder's
model (a directory, e.g. one written by pretrain-mlm), or NAME=spacy for
spaCy's own CNN NER (`spacy init config --pipeline ner --optimize
efficiency`). Every run: `spacy train` on the schedule of configs/ner.cfg
(max_epochs, max_steps, eval_frequency and patience, the updates without a
better dev score), or of the config given by --schedule, with any of them
set by --max-steps, --eval-frequency and --patience; torch on one thread; the
score is model-best's on all of emerging.dev.conll (so dev picks the
checkpoint, as spaCy does). The .spacy files are the CoNLL files converted in
docs of 10 sentences.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import DATA, RESULTS, emit, log, machine

SCHEDULE_KEYS = ("max_epochs", "max_steps", "eval_frequency", "patience")


def shipped_schedule(config: Path) -> dict:
    """The [training] stopping settings of a config, as spacy train overrides."""
    from spacy.util import load_config

    training = load_config(config, interpolate=False)["training"]
    return {f"training.{key}": training[key] for key in SCHEDULE_KEYS}


def convert(work: Path):
    import spacy
    from spacy.tokens import DocBin

    from spacy_ctx.corpora import read_docs

    paths = {}
    for split, name in (("train", "wnut17train.conll"), ("dev", "emerging.dev.conll")):
        out = work / f"wnut_{split}.spacy"
        if not out.exists():
            DocBin(docs=list(read_docs(DATA / "wnut17" / name, spacy.blank("en"), n_sents=10)), store_user_data=False).to_disk(out)
        paths[split] = out
    return paths


def config_of(spec: str, work: Path):
    if spec == "spacy":
        path = work / "cnn_ner.cfg"
        if not path.exists():
            subprocess.run([sys.executable, "-m", "spacy", "init", "config", str(path), "--lang", "en",
                            "--pipeline", "ner", "--optimize", "efficiency", "--force"], check=True)
        return path, {}
    config, _, encoder = spec.partition("@")
    return Path(config), ({"components.ctx_encoder.model.name": encoder} if encoder else {})


def train(config: Path, overrides: dict, schedule: dict, paths: dict, seed: int, output: Path) -> dict:
    settings = {**schedule, **overrides, "paths.train": paths["train"], "paths.dev": paths["dev"],
                "training.seed": seed, "system.seed": seed}
    args = [f"--{key}={value}" for key, value in settings.items()]
    start = time.time()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "spacy", "train", str(config), "--output", str(output), *args],
                   check=True, env=env, capture_output=True)
    meta = json.loads((output / "model-best" / "meta.json").read_text())
    scores = {k: round(100 * meta["performance"][k], 2) for k in ("ents_f", "ents_p", "ents_r")}
    return {"seed": seed, **scores, "wall_s": round(time.time() - start)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", required=True, help="NAME=CONFIG[@ENCODER] or NAME=spacy")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_wnut"))
    parser.add_argument("--schedule", type=Path, default=Path("configs/ner.cfg"), help="config whose schedule every run uses")
    parser.add_argument("--max-steps", type=int, help="instead of the config's")
    parser.add_argument("--eval-frequency", type=int, help="instead of the config's")
    parser.add_argument("--patience", type=int, help="instead of the config's")
    parser.add_argument("--out", type=Path, default=RESULTS / "wnut-shipped.json")
    args = parser.parse_args()
    schedule = shipped_schedule(args.schedule)
    for key in ("max_steps", "eval_frequency", "patience"):
        if getattr(args, key) is not None:
            schedule[f"training.{key}"] = getattr(args, key)
    args.work.mkdir(parents=True, exist_ok=True)
    paths = convert(args.work)
    systems = dict(spec.split("=", 1) for spec in args.systems)
    def run(name: str, seed: int) -> dict:
        config, overrides = config_of(systems[name], args.work)
        log(f"{name} seed {seed}")
        return train(config, overrides, schedule, paths, seed, args.work / f"{name}-s{seed}")

    # Each training is its own process on one torch thread: --jobs 2 keeps
    # both cores of a 2-core machine busy.
    jobs = [(name, seed) for seed in args.seeds for name in systems]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run(*job), jobs))
    runs = {name: [row for (job_name, _), row in zip(jobs, results) if job_name == name] for name in systems}
    summary = {}
    for name, rows in runs.items():
        f = [row["ents_f"] for row in rows]
        summary[name] = {"ents_f_mean": round(statistics.mean(f), 2), "ents_f_sd": round(statistics.stdev(f), 2) if len(f) > 1 else None}
    emit({"task": "WNUT-17 NER, emerging.dev.conll", "machine": machine(f"torch on one thread per training, {args.jobs} at once"),
          "schedule": {"from": str(args.schedule), **schedule}, "systems": systems, "summary": summary, "runs": runs}, args.out)


if __name__ == "__main__":
    main()
