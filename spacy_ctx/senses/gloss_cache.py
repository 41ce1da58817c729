"""Gloss embeddings kept on disk between initialisations of ctx_wsd.

Encoding the WordNet glosses is most of what initialising a sense table
costs (docs/wsd.md, Cost), and the rows depend only on what made them: the
encoder (its settings and weights), the listener that pools them (its layers
and mix weights) and the gloss texts. `GlossCache` keeps one folder per such
encoder and listener state, named by a digest of it, holding each gloss
text's unit row in float16:

    DIR/<digest>/texts.json   the gloss texts, in row order
    DIR/<digest>/rows.npy     [n_texts, width] float16
    DIR/<digest>/identity.json  what the digest was made of (to read, not used)

A later initialisation with the same state reads the rows of the texts it
finds and encodes only the others, which are then added. A different
encoder, weights, precision or layer request gives another digest, so rows
made by one are never read for another.
"""
import hashlib
import json
import os
from pathlib import Path
from typing import Dict, Iterable, Optional, Union

import numpy
from thinc.api import Model

from ..models.transformer import precision_of


def state_digest(model: Model, hasher=None) -> "hashlib._Hash":
    """A digest of a thinc model's weights: every param of every node and
    the state dicts of its torch shims, in walk order."""
    hasher = hasher or hashlib.sha256()
    for node in model.walk():
        for name in node.param_names:
            if node.has_param(name):
                hasher.update(f"{node.name}.{name}".encode())
                hasher.update(numpy.ascontiguousarray(model.ops.to_numpy(node.get_param(name))).tobytes())
        for shim in node.shims:
            module = getattr(shim, "_model", None)
            if module is not None and hasattr(module, "state_dict"):
                for key, tensor in module.state_dict().items():
                    hasher.update(key.encode())
                    hasher.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return hasher


def gloss_identity(nlp, encoder, tok2vec: Model) -> Dict:
    """What determines a gloss row besides its text: the encoder's settings
    (from the pipeline's config), its precision and stored dtype, the
    listener's layers and the language (its tokenizer)."""
    config = nlp.config["components"].get(encoder.name, {}) if nlp is not None else {}
    return {
        "lang": nlp.lang if nlp is not None else None,
        "encoder_model": _plain(config.get("model", {})),
        "precision": precision_of(encoder.model),
        "store_dtype": encoder.cfg.get("store_dtype"),
        "normalize": bool(encoder.cfg.get("normalize")),
        "listener_layers": list(tok2vec.attrs.get("selected") or []),
        "width": tok2vec.get_dim("nO"),
    }


def gloss_digest(nlp, encoder, tok2vec: Model) -> str:
    """The cache folder's name: the identity above, the encoder's weights
    (and normaliser, when on) and the listener's mix and projection weights."""
    hasher = hashlib.sha256(json.dumps(gloss_identity(nlp, encoder, tok2vec), sort_keys=True).encode())
    state_digest(encoder.model, hasher)
    normalizer = getattr(encoder, "normalizer", None)
    if encoder.cfg.get("normalize") and normalizer is not None and hasattr(normalizer, "to_bytes"):
        hasher.update(normalizer.to_bytes())
    state_digest(tok2vec, hasher)
    return hasher.hexdigest()[:32]


class GlossCache:
    """The float16 gloss rows of one encoder and listener state, on disk."""

    def __init__(self, path: Union[str, Path], digest: str, identity: Optional[Dict] = None):
        self.path = Path(path) / digest
        self.identity = identity

    @classmethod
    def for_listener(cls, path: Union[str, Path], nlp, encoder, tok2vec: Model) -> "GlossCache":
        return cls(path, gloss_digest(nlp, encoder, tok2vec), gloss_identity(nlp, encoder, tok2vec))

    def read(self, texts: Iterable[str]) -> Dict[str, numpy.ndarray]:
        """The stored rows of those of `texts` the cache holds (float16)."""
        stored = self._load()
        return {text: stored[text] for text in texts if text in stored}

    def add(self, rows: Dict[str, numpy.ndarray]) -> None:
        """Store more rows (as float16) beside the ones already there."""
        if not rows:
            return
        stored = self._load()
        stored.update({text: numpy.asarray(row, dtype="float16") for text, row in rows.items()})
        texts = list(stored)
        self.path.mkdir(parents=True, exist_ok=True)
        # Rows first, then the texts that index them: a reader that finds
        # the two of different lengths (a write cut short) reads nothing.
        _replace(self.path / "rows.npy", lambda f: numpy.save(f, numpy.stack([stored[t] for t in texts])))
        _replace(self.path / "texts.json", lambda f: f.write(json.dumps(texts).encode("utf8")))
        if self.identity is not None and not (self.path / "identity.json").exists():
            _replace(self.path / "identity.json", lambda f: f.write(json.dumps(self.identity, indent=2).encode("utf8")))

    def _load(self) -> Dict[str, numpy.ndarray]:
        texts_path, rows_path = self.path / "texts.json", self.path / "rows.npy"
        if not (texts_path.exists() and rows_path.exists()):
            return {}
        texts = json.loads(texts_path.read_text(encoding="utf8"))
        rows = numpy.load(rows_path)
        if len(rows) != len(texts):
            return {}
        return dict(zip(texts, rows))


def _replace(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        write(f)
    os.replace(tmp, path)


def _plain(value):
    """A config section as plain JSON values (thinc's Config is a dict)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))
