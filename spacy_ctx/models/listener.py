"""The listener: a tok2vec layer fed by an upstream ctx_encoder."""
from typing import Callable, List, Optional

from spacy.tokens import Doc
from thinc.api import Linear, Model, with_array

from ..errors import Errors, SpacyCtxError
from .scalar_mix import build_scalar_mix_v1
from .types import DocLayers, DocVectors


def build_ctx_listener_v1(
    upstream: str = "*",
    grad_factor: float = 0.0,
    layers: Optional[List[int]] = None,
    initial_weights: Optional[List[float]] = None,
    gamma: float = 1.0,
    layer_norm: bool = False,
    mix_dropout: float = 0.1,
    projection: Optional[int] = None,
) -> Model[List[Doc], DocVectors]:
    """A tok2vec layer for any spaCy head, fed by a `ctx_encoder` component.

    Each listener learns its own scalar mix over the encoder layers, as in
    ELMo, then optionally projects the mix to `projection` dimensions.

    upstream: the name of the ctx_encoder component, or "*" for any.
    grad_factor: scales the gradient sent back to the encoder. 0 keeps the
        encoder frozen (ELMo's feature mode; the encoder then caches its
        outputs across epochs); 1 fine-tunes it through the mix.
    layers: which encoder layers to mix (None = all). Negative indices count
        from the top. They must be stored by the encoder on the Doc.
    initial_weights, gamma, layer_norm, mix_dropout: see spacy_ctx.ScalarMix.v1.
    projection: output width of an optional linear projection.
    """
    mix = build_scalar_mix_v1(
        initial_weights=initial_weights,
        gamma=gamma,
        layer_norm=layer_norm,
        dropout=mix_dropout,
    )
    # [n_tokens, width] per doc -> [n_tokens, projection] per doc: with_array
    # runs the Linear over all docs' rows at once.
    project = with_array(Linear(nO=projection)) if projection else None
    return CtxListener(upstream, grad_factor, layers, mix, project)


class CtxListener(Model):
    """Mixes the encoder's layers for a head.

    During training it receives the encoder's layers for the current batch
    (`receive`) and sends gradients back through the encoder's callback; at
    prediction time it reads them from `doc._.ctx_layers`. Then its own
    scalar mix (ref "mix") and optional projection (ref "projection") run.

    Output, per doc: [n_tokens, width] (or [n_tokens, projection]), float32.
    """

    name = "ctx_listener"

    def __init__(
        self,
        upstream_name: str,
        grad_factor: float,
        layers: Optional[List[int]],
        mix: Model,
        projection: Optional[Model] = None,
    ):
        Model.__init__(
            self,
            name=self.name,
            forward=_listener_forward,
            init=_init_listener,
            layers=[mix] + ([projection] if projection is not None else []),
            dims={"nO": None},
            attrs={"grad_factor": grad_factor, "layers": layers, "n_layers": None, "width": None},
        )
        self.set_ref("mix", mix)
        self.set_ref("projection", projection)
        self.upstream_name = upstream_name
        self.upstream_attached: Optional[str] = None
        self._batch_id: Optional[int] = None
        self._outputs: Optional[DocLayers] = None
        self._backprop: Optional[Callable] = None

    @property
    def grad_factor(self) -> float:
        return float(self.attrs["grad_factor"])

    @property
    def is_connected(self) -> bool:
        return self.attrs["n_layers"] is not None

    @property
    def selected(self) -> List[int]:
        """The encoder layers this listener mixes, as positive indices."""
        return list(self.attrs["selected"])

    def attach(self, encoder_name: str) -> None:
        """Called by the upstream encoder when it finds this listener; it is
        connected once the encoder's model is loaded."""
        self.upstream_attached = encoder_name

    def connect(self, n_layers: int, width: int, selected: List[int]) -> None:
        """Called by the upstream encoder once it knows its depth and width."""
        self.attrs["n_layers"] = n_layers
        self.attrs["width"] = width
        self.attrs["selected"] = selected

    @classmethod
    def get_batch_id(cls, docs: List[Doc]) -> int:
        """A content hash of a batch, to match received outputs to inputs."""
        return sum(sum(token.orth for token in doc) for doc in docs)

    def receive(self, batch_id: int, outputs: DocLayers, backprop: Callable) -> None:
        """Store the encoder's training outputs and its backprop callback."""
        self._batch_id = batch_id
        self._outputs = outputs
        self._backprop = backprop
        self.attrs["initializing"] = False


def _listener_forward(model: CtxListener, docs: List[Doc], is_train: bool):
    layers, backprop_layers = _encoder_layers(model, docs, is_train)
    # [n_selected, n_tokens, width] per doc -> [n_tokens, width] per doc
    mixed, backprop_mix = model.get_ref("mix")(layers, is_train)
    projection = model.maybe_get_ref("projection")
    if projection is None:
        return mixed, lambda d_mixed: backprop_layers(backprop_mix(d_mixed))
    projected, backprop_projection = projection(mixed, is_train)
    return projected, lambda d_out: backprop_layers(backprop_mix(backprop_projection(d_out)))


def _encoder_layers(model: CtxListener, docs: List[Doc], is_train: bool):
    """The selected layers of each doc: received from the encoder for this
    training batch, else read from the docs."""
    if not model.is_connected:
        raise SpacyCtxError(Errors.E003.format(upstream=model.upstream_name))
    selected = model.selected
    xp = model.ops.xp
    if is_train and model._batch_id is not None and CtxListener.get_batch_id(docs) == model._batch_id:
        outputs, upstream_backprop = model._outputs, model._backprop
        model._batch_id = None  # each received batch is used once
        grad_factor = model.grad_factor

        def backprop(d_selected: DocLayers) -> List[Doc]:
            if grad_factor == 0.0:
                return upstream_backprop(None)
            d_outputs = []
            for X, dS in zip(outputs, d_selected):
                dX = xp.zeros(X.shape, dtype="f")
                for k, layer in enumerate(selected):
                    dX[layer] += dS[k] * grad_factor
                d_outputs.append(dX)
            return upstream_backprop(d_outputs)

        return [X[selected] for X in outputs], backprop
    # Prediction (or a frozen, annotating encoder): read what the encoder
    # stored on the docs. Batches may differ from the encoder's here.
    return [_read_doc_layers(model, doc, selected) for doc in docs], _no_backprop


def _read_doc_layers(model: CtxListener, doc: Doc, selected: List[int]):
    stored = doc._.ctx_layers
    if stored is None:
        # Heads run a prediction on raw sample docs while they initialise,
        # before any encoder output exists: give them zeros of the right shape.
        if len(doc) == 0 or model.attrs.get("initializing"):
            return model.ops.alloc3f(len(selected), len(doc), model.attrs["width"])
        raise SpacyCtxError(Errors.E008)
    model.attrs["initializing"] = False
    ids = list(doc._.ctx_layer_ids)
    try:
        rows = [ids.index(layer) for layer in selected]
    except ValueError:
        missing = next(layer for layer in selected if layer not in ids)
        raise SpacyCtxError(Errors.E006.format(layer=missing, stored=ids)) from None
    return model.ops.asarray3f(stored[rows].astype("float32"))


def _no_backprop(d_outputs):
    return []


def _init_listener(model: CtxListener, X=None, Y=None) -> None:
    """Give the mix and projection their input sizes from the upstream
    encoder, and initialise them. Until the encoder sends its first batch,
    the listener hands out zeros of the right shape: the head's own
    initialisation predicts on sample docs that carry no layers yet."""
    if not model.is_connected:
        raise SpacyCtxError(Errors.E003.format(upstream=model.upstream_name))
    model.attrs["initializing"] = True
    width = model.attrs["width"]
    mix = model.get_ref("mix")
    mix.set_dim("nL", len(model.selected), force=True)
    mix.initialize()
    projection = model.maybe_get_ref("projection")
    if projection is not None:
        projection.layers[0].set_dim("nI", width, force=True)
        projection.initialize()
        width = projection.get_dim("nO")
    model.set_dim("nO", width, force=True)
