"""The systems the cases compare, each defined once: the transformers loop,
spacy-transformers, sentence-transformers, Model2Vec and ctx_encoder at a
setting. A runner encodes a list of texts (timing.interleave's unit)."""
import json
import os
import subprocess
from typing import Callable, Dict, List, Optional, Sequence

import numpy
import torch

from spacy_ctx.models.hf_loading import resolve_model_dir
from spacy_ctx.models.transformer import find_hf_shim
from spacy_ctx.pipeline.loading import find_encoder, load_pipeline

from . import MODEL
from .timing import Runner

BATCH_SIZE = 64


def hf_model(name: str = MODEL, **model_kwargs):
    """(tokenizer, model) straight from transformers, in eval mode."""
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model_dir(name)
    model = AutoModel.from_pretrained(path, local_files_only=True, **model_kwargs).eval()
    return AutoTokenizer.from_pretrained(path, local_files_only=True), model


def sorted_batches(tokenizer, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> List:
    """The texts sorted by wordpiece count, `batch_size` at a time, padded to the longest."""
    encoded = tokenizer(list(texts))["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    return [tokenizer([texts[i] for i in order[k : k + batch_size]], padding=True, return_tensors="pt")
            for k in range(0, len(order), batch_size)]


def hidden_states(model, device: str = "cpu", autocast=None) -> Callable:
    """The model's own forward of a batch to every hidden state (fp32, or under autocast to a dtype)."""

    def forward(batch):
        with torch.inference_mode(), torch.autocast(device, dtype=autocast, enabled=autocast is not None):
            return model(**batch.to(device), output_hidden_states=True).hidden_states

    return forward


def transformers_loop(tokenizer, forward: Callable, synchronize: bool = False) -> Runner:
    """The loop a user writes: sorted_batches through `forward`."""

    def run(texts):
        for batch in sorted_batches(tokenizer, texts):
            forward(batch)
        if synchronize:
            torch.cuda.synchronize()

    return run


def ctx_pipeline(precision: str = "fp32", gpu_id: int = -1, settings: Optional[Dict] = None, model: str = MODEL):
    """The default pipeline on `model` at a precision, with ctx_encoder settings by path ({"mix.layers": [4]})."""
    overrides = {"components.ctx_encoder.model.precision": precision, "components.ctx_encoder.model.name": model}
    overrides.update((f"components.ctx_encoder.{key}", value) for key, value in (settings or {}).items())
    return load_pipeline("default", gpu_id=gpu_id, overrides=overrides)


def pipe(nlp, batch_size: Optional[int] = None, each: Callable = None, stored: Optional[Dict] = None,
         synchronize: bool = False, **encoder) -> Runner:
    """nlp.pipe, calling `each` on every doc and adding up the stored bytes and tokens in `stored`. `encoder` sets
    ctx_encoder's switches (pack, fuse, min_batch_words) at each call: runners may share a pipeline."""

    def run(texts):
        if encoder:
            component = find_encoder(nlp)
            layers = find_hf_shim(component.model).encoder
            layers.pack, layers.fuse = encoder.get("pack", True), encoder.get("fuse", True)
            component.cfg["min_batch_words"] = encoder.get("min_batch_words", 4096)
        for doc in nlp.pipe(texts, batch_size=batch_size):
            if each is not None:
                each(doc)
            if stored is not None:
                stored["bytes"] += doc._.ctx_layers.nbytes + doc.tensor.nbytes
                stored["tokens"] += len(doc)
        if synchronize:
            torch.cuda.synchronize()

    return run


def stored_layers(nlp, texts: Sequence[str]) -> numpy.ndarray:
    """doc._.ctx_layers of the texts side by side: [n_layers, n_tokens, width]."""
    layers = [d._.ctx_layers for d in nlp.pipe(texts)]
    return numpy.concatenate([(a.get() if hasattr(a, "get") else a).astype("float32") for a in layers], axis=1)


def spacy_transformers(gpu: bool = False, name: str = MODEL):
    """spacy-transformers' transformer component on a model (name or directory)."""
    import spacy
    import spacy_transformers  # noqa: F401  (registers the factory)

    if gpu:
        spacy.require_gpu(0)
    nlp = spacy.blank("en")
    model = {"@architectures": "spacy-transformers.TransformerModel.v3", "name": str(resolve_model_dir(name)),
             "tokenizer_config": {"use_fast": True}}
    nlp.add_pipe("transformer", config={"model": model})
    nlp.initialize()
    return nlp


def sentence_transformer(name: str = MODEL, device: str = "cpu"):
    """sentence-transformers' model of a name or directory (ImportError names the extra)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ImportError("sentence-transformers is not installed (pip install 'spacy-ctx[bench]')") from err
    return SentenceTransformer(str(resolve_model_dir(name)), device=device)


def sentence_transformers_vectors(texts: Sequence[str], batch_size: int = 64, name: str = MODEL):
    """sentence-transformers' `encode()` of a model: (vectors, a note), or (None, why)."""
    try:
        vectors = sentence_transformer(name).encode(list(texts), batch_size=batch_size, convert_to_numpy=True)
    except ImportError as err:
        return None, f"skipped: {err}"
    return numpy.asarray(vectors, dtype="float32"), f"{name}, with the pooling its modules.json defines"


def sentence_transformers_tokens(name: str = MODEL, batch_size: int = 64, device: str = "cpu") -> Runner:
    """sentence-transformers' `encode(output_value="token_embeddings")`: the last layer per wordpiece, batches of
    `batch_size` that it sorts by length itself."""
    model = sentence_transformer(name, device)

    def run(texts):
        model.encode(list(texts), output_value="token_embeddings", batch_size=batch_size, show_progress_bar=False)
        if device == "cuda":
            torch.cuda.synchronize()

    return run


# Model2Vec runs in a venv of its own (it needs huggingface-hub >= 1.0, which
# the pinned transformers refuses): a child that distils once, says how long
# it took, then encodes each JSON line of texts it is sent (saving the
# vectors where asked) and answers with the seconds encoding took.
M2V_SERVER = r"""
import json, sys, time
import numpy, torch
torch.set_num_threads(1)
import model2vec
from model2vec.distill import distill
job = json.loads(sys.stdin.readline())
cpu, wall = time.process_time(), time.perf_counter()
model = distill(model_name=job["model"], pca_dims=256)
print(json.dumps({"distill_cpu_s": time.process_time() - cpu, "distill_wall_s": time.perf_counter() - wall,
      "version": model2vec.__version__, "vocab_size": len(model.tokens), "width": int(model.embedding.shape[1])}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    start = time.perf_counter()
    vectors = model.encode(job["texts"], show_progress_bar=False)
    seconds = time.perf_counter() - start
    if job.get("save"):
        numpy.save(job["save"], vectors)
    print(json.dumps({"seconds": seconds}), flush=True)
"""


class Model2Vec:
    """Model2Vec's distill(pca_dims=256) of a model in a child of `python` (a venv with model2vec[distill]):
    `info` (its seconds and sizes); called, it encodes texts (a runner); `encode` returns vectors (a .npy path)."""

    def __init__(self, python: str, name: str = MODEL):
        env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
        self.child = subprocess.Popen([python, "-c", M2V_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, env=env)
        self.info = self._send({"model": str(resolve_model_dir(name))})

    def _send(self, job: Dict) -> Dict:
        self.child.stdin.write(json.dumps(job) + "\n")
        self.child.stdin.flush()
        line = self.child.stdout.readline()
        if not line:
            raise RuntimeError("Model2Vec's child process ended")
        return json.loads(line)

    def __call__(self, texts) -> float:
        return self._send({"texts": list(texts)})["seconds"]

    def encode(self, texts, path) -> numpy.ndarray:
        self._send({"texts": list(texts), "save": str(path)})
        return numpy.load(path)

    def close(self) -> None:
        self.child.stdin.close()
        self.child.wait()
