"""Training configs, their ablations and schedules, and `spacy train` with scoring."""
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

from thinc.api import Config

from . import CONFIGS, ROOT

ABLATIONS = ROOT / "bench" / "configs" / "ablations.cfg"  # the tok2vec blocks of `ablate`
FINETUNE = CONFIGS / "ner_finetune.cfg"
LORA = {"@misc": "spacy_ctx.LoRA.v1", "rank": 8, "alpha": 16.0, "dropout": 0.1, "target_modules": None, "merge": False}


def task_config(source, paths: Dict, dev_limit_during_training: int = 0) -> Config:
    """A config (a path or a Config, uninterpolated) on the converted data, evaluating during training on the first
    dev docs (0: all)."""
    config = source if isinstance(source, Config) else Config().from_disk(source, interpolate=False)
    config["paths"].update(train=str(paths["train"]), dev=str(paths["dev"]))
    config["corpora"]["dev"]["limit"] = dev_limit_during_training
    return config


def spacy_cnn_config(pipeline: Sequence[str], gpu: bool = False) -> Config:
    """`spacy init config` (efficiency; `gpu`: spacy-transformers'), uninterpolated."""
    from spacy.cli.init_config import init_config

    config = init_config(lang="en", pipeline=list(pipeline), optimize="efficiency", gpu=gpu)
    return Config().from_str(config.to_str(), interpolate=False)


def initialized(config: Config, train: Path, limit: Optional[int] = None):
    """A pipeline from a config, initialised on the first `limit` docs of a .spacy file."""
    from spacy.training import Corpus
    from spacy.util import load_model_from_config

    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    examples = list(Corpus(str(train), limit=limit or 0)(nlp))
    nlp.initialize(lambda: examples)
    return nlp


def elmo_config(paths: Dict, weights: Optional[Path], dev_limit_during_training: int = 0) -> Config:
    """configs/elmo_tagger.cfg with pretrain-elmo's weights (any size), or None: random."""
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
    """A POS config with only these heads (each has its own tok2vec: the others are unchanged)."""
    config["nlp"]["pipeline"] = ["ctx_encoder", *heads]
    if "tagger" not in heads:
        del config["components"]["tagger"]
        config["training"]["score_weights"] = {"pos_acc": 1.0, "morph_acc": 0.0}
    return config


def fine_tuned(config: Config, lora: bool = False) -> Config:
    """A frozen config with ner_finetune.cfg's optimizer and unfreezing, so the tagger fine-tunes as NER does;
    `lora`: LoRA adapters at 10x the rate."""
    finetune = Config().from_disk(FINETUNE, interpolate=False)["training"]
    config["training"]["optimizer"] = dict(finetune["optimizer"])
    config["training"]["before_update"] = dict(finetune["before_update"])
    if lora:
        config["components"]["ctx_encoder"]["model"]["lora"] = dict(LORA)
        config["training"]["optimizer"]["encoder_learn_rate"] *= 10
    return config


def set_schedule(config: Config, *, epochs=0, steps=0, eval_frequency=0, batch_words=0, seed=None) -> None:
    """`epochs` epochs or `steps` updates (the other 0), no early stop, evaluating every `eval_frequency` steps."""
    training = config["training"]
    training.update(max_epochs=epochs, max_steps=steps, patience=0, eval_frequency=eval_frequency or steps)
    if batch_words:
        training["batcher"]["size"] = batch_words
    if seed is not None:
        training["seed"] = config["system"]["seed"] = seed


def ablate(config: Config, heads: Sequence[str], system: str) -> Config:
    """The config without ctx_encoder: each head's tok2vec the hash embeddings of bench/configs/ablations.cfg and its
    own `encode` ("hash") or spaCy's CNN window layers ("cnn")."""
    blocks = Config().from_disk(ABLATIONS, interpolate=False)
    for head in heads:
        model = config["components"][head]["model"]
        encode = blocks["cnn_encode"] if system == "cnn" else {**model["tok2vec"]["encode"], "width": blocks["embed"]["width"]}
        model["tok2vec"] = {"@architectures": "spacy.Tok2Vec.v2", "embed": dict(blocks["embed"]), "encode": dict(encode)}
    config["nlp"]["pipeline"] = [name for name in config["nlp"]["pipeline"] if name != "ctx_encoder"]
    del config["components"]["ctx_encoder"]
    return config


def train(config, output: Path, overrides: Optional[Dict] = None) -> Dict:
    """`spacy train` on a config path, logging to stderr: model-last's path and the wall seconds."""
    from spacy.cli.train import train as spacy_train

    start = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        spacy_train(config, output, overrides=overrides or {}, use_gpu=-1)
    return {"model": output / "model-last", "train_s": time.perf_counter() - start}


def score(nlp, dev: Path, keys: Sequence[str], batch_size: int = 64, scorer=None) -> Dict:
    """nlp.evaluate (or `scorer`) on every doc of `dev`: the scores x 100 of `keys`, seconds and words."""
    from spacy.training import Corpus

    examples = list(Corpus(str(dev))(nlp))
    start, cpu = time.perf_counter(), time.process_time()
    scores = scorer(examples) if scorer else nlp.evaluate(examples, batch_size=batch_size)
    return {"scores": {k: round(100 * float(scores[k]), 2) for k in keys if scores.get(k) is not None},
            "seconds": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
            "words": sum(len(eg.reference) for eg in examples)}


def learned_mixes(nlp) -> Dict:
    """Each head listener's layers, softmaxed scalar-mix weights and gamma (after training)."""
    from spacy_ctx.displacy.views import mix_weights

    mixes = {}
    for name, proc in nlp.pipeline:
        for node in proc.model.walk() if name != "ctx_encoder" and hasattr(proc, "model") else ():
            if node.name == "ctx_listener" and node.is_connected:
                weights, gamma = mix_weights(node.get_ref("mix"))
                mixes[name] = {"layers": list(node.selected), "n_layers": node.attrs["n_layers"],
                               "weights": [round(w, 4) for w in weights], "gamma": round(gamma, 4)}
    return mixes
