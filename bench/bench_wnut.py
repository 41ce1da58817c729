"""NER on WNUT-17 on the shipped configs' schedule (early stopping on dev,
model-best scored on emerging.dev.conll), a `spacy train` process per run on
one thread, seeds 0-2. A system is NAME=CONFIG, NAME=CONFIG@ENCODER (the
ctx_encoder's model) or NAME=spacy (spaCy's CNN NER); --max-steps,
--eval-frequency and --patience change ner.cfg's schedule.

    nice -n 10 python bench/bench_wnut.py --systems ner=configs/ner.cfg \\
        few=configs/ner_few_labels.cfg cnn=spacy --jobs 2 --out bench/results/wnut-shipped.json
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import CONFIGS, RESULTS, emit, log, machine, options, parse, peak_rss_mib
from harness.readers import docbin
from harness.training import spacy_cnn_config

SCHEDULE_KEYS = ("max_epochs", "max_steps", "eval_frequency", "patience")
WORK = Path("/tmp/bench_wnut")


def train(spec: str, schedule: dict, paths: dict, seed: int, output: Path) -> dict:
    if spec == "spacy":
        config, overrides = output.with_suffix(".cfg"), {}
        spacy_cnn_config(["ner"]).to_disk(config)
    else:
        config, _, encoder = spec.partition("@")
        overrides = {"components.ctx_encoder.model.name": encoder} if encoder else {}
    settings = {**schedule, **overrides, "paths.train": paths["train"], "paths.dev": paths["dev"], "training.seed": seed, "system.seed": seed}
    start = time.time()
    subprocess.run([sys.executable, "-m", "spacy", "train", str(config), "--output", str(output), *(f"--{k}={v}" for k, v in settings.items())],
                   check=True, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True)
    meta = json.loads((output / "model-best" / "meta.json").read_text())
    return {"seed": seed, **{k: round(100 * meta["performance"][k], 2) for k in ("ents_f", "ents_p", "ents_r")}, "wall_s": round(time.time() - start),
            "peak_rss_mib_so_far": round(peak_rss_mib(resource.RUSAGE_CHILDREN))}  # the largest training ended by then


def main():
    parser = options(__doc__, RESULTS / "wnut-shipped.json", threads=None)
    parser.add_argument("--systems", nargs="+", required=True, help="NAME=CONFIG[@ENCODER] or NAME=spacy")
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once (each on one torch thread)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out and run only the others")
    for key in SCHEDULE_KEYS[1:]:
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, help="instead of the config's")
    args = parse(parser)
    from spacy.util import load_config

    training = load_config(CONFIGS / "ner.cfg", interpolate=False)["training"]
    schedule = {f"training.{key}": training[key] if getattr(args, key, None) is None else getattr(args, key) for key in SCHEDULE_KEYS}
    WORK.mkdir(parents=True, exist_ok=True)
    paths = {split: docbin(args.data / "wnut17" / name, WORK / f"wnut_{split}.spacy")
             for split, name in (("train", "wnut17train.conll"), ("dev", "emerging.dev.conll"))}
    systems = dict(spec.split("=", 1) for spec in args.systems)

    def run(job):
        name, seed = job
        log(f"{name} seed {seed}")
        return train(systems[name], schedule, paths, seed, WORK / f"{name}-s{seed}")

    done = json.loads(args.out.read_text())["runs"] if args.resume and args.out.exists() else {}
    jobs = [(name, seed) for seed in args.seeds for name in systems if seed not in {r["seed"] for r in done.get(name, [])}]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run, jobs))
    runs = {name: sorted(done.get(name, []) + [row for (job, _), row in zip(jobs, results) if job == name], key=lambda r: r["seed"])
            for name in systems}
    summary = {name: {"ents_f_mean": round(statistics.mean(r["ents_f"] for r in rows), 2),
                      "ents_f_sd": round(statistics.stdev(r["ents_f"] for r in rows), 2) if len(rows) > 1 else None} for name, rows in runs.items()}
    emit({"task": "WNUT-17 NER, emerging.dev.conll", "machine": machine(f"torch on one thread per training, {args.jobs} at once"),
          "schedule": {"from": "configs/ner.cfg", **schedule}, "systems": systems, "summary": summary, "runs": runs}, args.out)


if __name__ == "__main__":
    main()
