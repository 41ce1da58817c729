"""The ELMo encoder architecture: char-CNN + highway + 2-layer biLSTM, 3 layers out."""
from functools import partial
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple, Union

import torch
from spacy.tokens import Doc
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v2, torch2xp, xp2torch

from ..errors import Errors, SpacyCtxError
from ..tokenization.chars import encode_sequences
from .pytorch.elmo import ELMoEncoderModule
from .torch_io import planned_inputs
from .types import DocLayers, EncoderInput, unpack_request

WEIGHTS_FILE = "elmo.pt"


def build_elmo_encoder_v1(
    weights: Optional[str] = None,
    char_dim: int = 16,
    filters: List[List[int]] = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 128]],
    n_highway: int = 1,
    projection_dim: int = 128,
    hidden_size: int = 128,
    dropout: float = 0.0,
    max_chunk_chars: int = 32768,
) -> Model[EncoderInput, DocLayers]:
    """An ELMo-style encoder over the characters of each token.

    weights: pretrained weights written by `python -m spacy_ctx pretrain-elmo`
        (the `elmo.pt` file or the output directory holding it); None = random
        initialisation. The sizes below must match the pretrained ones. They
        are read by `initialize` (nlp.initialize(), spacy train), never when
        the model is built, and saved with the pipeline: a pipeline saved with
        nlp.to_disk loads without this file.
    char_dim: byte embedding width.
    filters: [width, n_filters] of each char convolution.
    n_highway: highway layers after the convolutions.
    projection_dim: word vector width, and each LSTM direction's output width.
    hidden_size: LSTM cell size; larger than projection_dim adds an ELMo-style
        projection (slower on CPU), equal uses the fused LSTM.
    dropout: dropout on each biLSTM layer's input while training.
    max_chunk_chars: padded characters per char-CNN chunk. Words are never
        truncated: a very long word gets a chunk of its own.

    Output, per doc: [3, n_tokens, 2 * projection_dim]. Layer 0 is the
    char-CNN word vector (repeated twice to match the width), layers 1 and 2
    are [forward; backward] of the two biLSTM layers (layer 2 includes the
    residual from layer 1). A doc is one sequence, between <S> and </S>.
    Input: docs, or (docs, LayerRequest): all three layers are computed, and
    the request's are returned in its dtype.
    """
    module = ELMoEncoderModule(
        char_dim=char_dim,
        filters=[tuple(f) for f in filters],
        n_highway=n_highway,
        projection_dim=projection_dim,
        hidden_size=hidden_size,
        dropout=dropout,
    )
    wrapper = PyTorchWrapper_v2(
        module,
        convert_inputs=planned_inputs(partial(_plan_chars, min_length=module.min_length, max_chunk_chars=max_chunk_chars)),
        convert_outputs=_convert_outputs,
    )
    return Model(
        "ctx_elmo",
        _forward,
        init=partial(_init, module=module),
        layers=[wrapper],
        dims={"nO": module.width},
        attrs={"n_layers": module.n_layers, "weights": str(weights) if weights else None},
    )


def _init(model: Model, X=None, Y=None, *, module: ELMoEncoderModule) -> None:
    weights = model.attrs["weights"]
    if weights:
        load_encoder_weights(module, weights)


def load_encoder_weights(module: ELMoEncoderModule, path: Union[str, Path]) -> None:
    """Load pretrained encoder weights, checking that the sizes match."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    if not path.is_file():
        raise SpacyCtxError(Errors.E401.format(path=path))
    saved = torch.load(path, map_location="cpu", weights_only=True)
    config = saved["config"]
    if config != module.config:
        raise SpacyCtxError(
            Errors.E402.format(path=path, saved=config, configured=module.config)
        )
    module.load_state_dict(saved["state_dict"])


def save_encoder_weights(module: ELMoEncoderModule, path: Union[str, Path]) -> None:
    """Save the encoder's weights and sizes, for `weights = ...` in a config."""
    # CPU tensors, so that weights trained on a GPU load on any machine.
    state = {name: tensor.cpu() for name, tensor in module.state_dict().items()}
    torch.save({"config": module.config, "state_dict": state}, str(path))


def _forward(model: Model, X: EncoderInput, is_train: bool):
    docs, request = unpack_request(X)
    outputs, backprop = model.layers[0](docs, is_train)
    if request.layers is None and request.dtype == "float32":
        return outputs, backprop
    rows = list(range(model.attrs["n_layers"])) if request.layers is None else list(request.layers)
    xp = model.ops.xp

    def backprop_rows(d_selected: DocLayers) -> List[Doc]:
        d_outputs = []
        for X_doc, dS in zip(outputs, d_selected):
            dX = xp.zeros(X_doc.shape, dtype="f")
            for k, layer in enumerate(rows):
                dX[layer] += dS[k]
            d_outputs.append(dX)
        return backprop(d_outputs)

    return [X_doc[rows].astype(request.dtype) for X_doc in outputs], backprop_rows


def _plan_chars(docs: List[Doc], *, min_length: int, max_chunk_chars: int):
    return encode_sequences([[token.text for token in doc] for doc in docs], min_length, max_chunk_chars)


def _convert_outputs(
    model: Model, inputs_outputs: Tuple[List[Doc], Any], is_train: bool
) -> Tuple[DocLayers, Callable]:
    docs, Y_torch = inputs_outputs
    # [n_layers, n_docs, max_len + 2, width]: drop each doc's <S>, </S> and padding.
    Y = torch2xp(Y_torch.detach() if not is_train else Y_torch, ops=model.ops)
    outputs = [Y[:, i, 1 : len(doc) + 1] for i, doc in enumerate(docs)]
    outputs = [model.ops.xp.ascontiguousarray(y) for y in outputs]

    def backprop(d_outputs: DocLayers) -> ArgsKwargs:
        dY = model.ops.xp.zeros(Y.shape, dtype=Y.dtype)
        for i, (doc, d) in enumerate(zip(docs, d_outputs)):
            dY[:, i, 1 : len(doc) + 1] = d
        dY_torch = xp2torch(dY, device=Y_torch.device)
        return ArgsKwargs(args=(Y_torch,), kwargs={"grad_tensors": dY_torch})

    return outputs, backprop
