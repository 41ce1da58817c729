"""NER on WNUT-17 (3,394 training sentences) with a schedule by updates and
early stopping on dev, 3 seeds per system.

    nice -n 10 python bench/bench_wnut.py --systems ner=configs/ner.cfg \\
        ner-adapted=configs/ner.cfg@/tmp/mlm_tweets few=configs/ner_few_labels.cfg cnn=spacy \\
        --out bench/results/wnut-steps.json

A system is NAME=CONFIG, or NAME=CONFIG@ENCODER to set the ctx_encoder's
model (a directory, e.g. one written by pretrain-mlm), or NAME=spacy for
spaCy's own CNN NER (`spacy init config --pipeline ner --optimize
efficiency`). Every run: `spacy train` with max_epochs 0, max_steps 2,500,
eval_frequency 250, patience 1,000 (updates without a better dev score),
torch on one thread; the score is model-best's on all of emerging.dev.conll
(so dev picks the checkpoint, as spaCy does). The .spacy files are the
CoNLL files converted in docs of 10 sentences.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import DATA, RESULTS, emit, log, machine

SCHEDULE = {"training.max_epochs": 0, "training.max_steps": 2500, "training.eval_frequency": 250, "training.patience": 1000}


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


def train(config: Path, overrides: dict, paths: dict, seed: int, output: Path) -> dict:
    settings = {**SCHEDULE, **overrides, "paths.train": paths["train"], "paths.dev": paths["dev"],
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
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_wnut"))
    parser.add_argument("--out", type=Path, default=RESULTS / "wnut-steps.json")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    paths = convert(args.work)
    systems = dict(spec.split("=", 1) for spec in args.systems)
    runs = {name: [] for name in systems}
    for seed in args.seeds:
        for name, spec in systems.items():
            config, overrides = config_of(spec, args.work)
            log(f"{name} seed {seed}")
            runs[name].append(train(config, overrides, paths, seed, args.work / f"{name}-s{seed}"))
    summary = {}
    for name, rows in runs.items():
        f = [row["ents_f"] for row in rows]
        summary[name] = {"ents_f_mean": round(statistics.mean(f), 2), "ents_f_sd": round(statistics.stdev(f), 2) if len(f) > 1 else None}
    emit({"task": "WNUT-17 NER, emerging.dev.conll", "machine": machine("torch on one thread"),
          "schedule": SCHEDULE, "systems": systems, "summary": summary, "runs": runs}, args.out)


if __name__ == "__main__":
    main()
