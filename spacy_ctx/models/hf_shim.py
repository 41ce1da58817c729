"""The thinc shim of a Hugging Face encoder: loaded after the model is built,
and saved whole (config, tokenizer files and weights) with the pipeline."""
import contextlib
import copy
import warnings
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Optional

import srsly
import torch
from spacy.util import logger
from thinc.api import PyTorchShim, get_torch_default_device
from torch import nn

from ..errors import Errors, SpacyCtxError, Warnings
from .hf_loading import load_encoder, load_encoder_dir, usable_length
from .lora import (
    ADAPTER_FILE, LoRASettings, adapter_state_dict, base_state_dict, has_lora, inject_lora, load_adapters, merged_copy,
)
from .pytorch.layer_encoder import LayerEncoder
from .pytorch.auto_precision import PrecisionChoice, choose_precision, probe_inputs
from .pytorch.precision import CALIBRATION_TEXTS, calibration_batches, convert, unsupported_reason
from ..tokenization.wordpieces import WordpiecePlanner


class HFShim(PyTorchShim):
    """Holds a fast tokenizer, its wordpiece planner and a `LayerEncoder`.

    Until `load_named` (called by the model's `init`) or `from_bytes` it holds an
    empty module: building a pipeline reads no files. `to_bytes` saves what
    `save_pretrained` writes for the tokenizer and the current (possibly
    fine-tuned) model, so `from_bytes` rebuilds both without the directory or
    Hub id they first came from, as spacy-transformers' HFShim does.

    name, revision: where `load_named` finds the model (see
        `hf_loading.resolve_model_dir`).
    planner_settings: keyword arguments of `WordpiecePlanner` other than the
        tokenizer and max_length (window, stride, max_batch_items, pooling).
    precision: "fp32", "bf16" or "int8" for inference (precision.py), or
        "auto" (auto_precision.py, measured at load and logged once); the
        fp32 weights are kept, saved and fine-tuned.
    lora: LoRA settings (models/lora.py): adapters are injected at load, and
        saved apart from the base weights.
    mixed_precision: fine-tune under bf16 autocast where inference runs a
        bf16 copy; otherwise the training forward is fp32.

    Inference runs a copy beside the fp32 model when the precision or merged
    LoRA adapters ask for one (`LayerEncoder.set_fast`). An optimizer step
    on the fp32 weights leaves that copy stale: the next prediction remakes
    it from the updated weights.
    """

    def __init__(
        self, name: str, revision: Optional[str], planner_settings: dict, precision: str = "fp32",
        lora: Optional[LoRASettings] = None, mixed_precision: bool = False,
    ):
        super().__init__(nn.Module())
        self.name = name
        self.revision = revision
        self.planner_settings = dict(planner_settings)
        self.precision = precision
        self.lora = lora
        self.mixed_precision = mixed_precision
        self.choice: Optional[PrecisionChoice] = None  # what "auto" measured
        self.tokenizer = None
        self.planner: Optional[WordpiecePlanner] = None
        # The precision of the inference copy, and whether it lags the fp32 weights.
        self._fast_precision = "fp32"
        self._stale = False

    @property
    def loaded(self) -> bool:
        return self.tokenizer is not None

    @property
    def encoder(self) -> nn.Module:
        """The torch module: a LayerEncoder once loaded."""
        return self._model

    def load_named(self) -> None:
        """Load the tokenizer and weights that `name` and `revision` name."""
        self.load(*load_encoder(self.name, self.revision))

    def load(self, tokenizer, transformer: nn.Module, adapters: Optional[dict] = None) -> None:
        """Install a fast tokenizer and its encoder on the default device,
        with LoRA adapters when the settings ask for them (`adapters`: saved
        adapter weights to load into them), and the inference copy that the
        precision asks for."""
        if self.lora is not None:
            transformer = inject_lora(transformer, self.lora)
            if adapters:
                load_adapters(transformer, adapters)
        self.planner = WordpiecePlanner(
            tokenizer,
            max_length=usable_length(transformer, tokenizer),
            **self.planner_settings,
        )
        self.tokenizer = tokenizer
        device = get_torch_default_device()
        self._model = LayerEncoder(transformer).to(device)
        self._grad_scaler.to_(device)
        self._model.probe_inputs = _model_inputs(tokenizer, CALIBRATION_TEXTS[:2], device)
        if self.precision == "auto":
            base = self._inference_base()
            choice, fast = choose_precision(base, probe_inputs(tokenizer, device), calibration_batches(tokenizer))
            logger.info(choice.describe())
            self.use_choice(choice, fast if fast is not None or base is transformer else base)
            return
        reason = unsupported_reason(self.precision, device)
        if reason:
            warnings.warn(Warnings.W060.format(precision=self.precision, device=device.type.upper(), reason=reason))
        self._set_fast("fp32" if reason else self.precision)

    def use_choice(self, choice: PrecisionChoice, fast: Optional[nn.Module] = None) -> None:
        """Run inference in the precision `choice` chose (`fast`: its copy,
        made from the current weights, if the caller has it)."""
        self.choice = choice
        self._set_fast(choice.precision, fast)

    @property
    def active_precision(self) -> str:
        """The precision inference runs in: for "auto", what it chose."""
        if self.precision == "auto":
            return self.choice.precision if self.choice is not None else "auto"
        return self.precision

    def _inference_base(self) -> nn.Module:
        """The fp32 model inference starts from: with merged LoRA adapters a
        copy of plain linears (lora.merged_copy), else the transformer."""
        transformer = self._model.transformer
        return merged_copy(transformer) if self.lora is not None and self.lora.merge else transformer

    def _set_fast(self, precision: str, fast: Optional[nn.Module] = None) -> None:
        """Make (unless given) and install the inference copy in `precision`."""
        transformer = self._model.transformer
        if fast is None:
            base = self._inference_base()
            if precision != "fp32":
                calibration = calibration_batches(self.tokenizer) if precision == "int8" else ()
                fast = convert(base if base is not transformer else copy.deepcopy(base), precision, calibration)
            elif base is not transformer:
                fast = base
        self._model.set_fast(fast)
        self._fast_precision = precision
        self._stale = False

    # Training: the fp32 weights train; the inference copy follows them.

    def begin_update(self, inputs):
        """The training forward, on the fp32 weights: under bf16 autocast
        where `mixed_precision` is set and inference runs bf16."""
        if not (self.mixed_precision and self._fast_precision == "bf16"):
            return super().begin_update(inputs)
        device_type = self.device.type
        # thinc's begin_update opens torch.autocast("cuda", enabled=self._mixed_precision),
        # which would switch ours off on a GPU; enabled, it keeps our dtype.
        self._mixed_precision = device_type == "cuda"
        try:
            with torch.autocast(device_type, dtype=torch.bfloat16):
                return super().begin_update(inputs)
        finally:
            self._mixed_precision = False

    def finish_update(self, optimizer) -> None:
        if any(param.grad is not None for param in self._model.parameters()):
            self._stale = True
        super().finish_update(optimizer)

    @contextlib.contextmanager
    def use_params(self, params):
        prefix = f"pytorch_{self.id}_"
        swapped = any(isinstance(key, str) and key.startswith(prefix) for key in params)
        self._stale = self._stale or swapped
        with super().use_params(params):
            yield
        self._stale = self._stale or swapped

    def predict(self, inputs):
        if self._stale:
            self._set_fast(self._fast_precision)
        return super().predict(inputs)

    def to_bytes(self) -> bytes:
        files = {}
        if self.loaded:
            with TemporaryDirectory() as tmp:
                self.tokenizer.save_pretrained(tmp)
                self._save_transformer(Path(tmp))
                files = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
        return srsly.msgpack_dumps({"files": files})

    def from_bytes(self, bytes_data: bytes) -> "HFShim":
        msg = srsly.msgpack_loads(bytes_data)
        files = msg["files"]
        if files:
            with TemporaryDirectory() as tmp:
                for name, data in files.items():
                    (Path(tmp) / name).write_bytes(data)
                adapters = None
                if ADAPTER_FILE in files:
                    if self.lora is None:
                        raise SpacyCtxError(Errors.E044)
                    from safetensors.torch import load_file

                    adapters = load_file(str(Path(tmp) / ADAPTER_FILE))
                self.load(*load_encoder_dir(Path(tmp), name="(saved with the pipeline)"), adapters=adapters)
        return self

    def _save_transformer(self, path: Path) -> None:
        """save_pretrained, with LoRA adapters in a file of their own."""
        transformer = self._model.transformer
        if not has_lora(transformer):
            transformer.save_pretrained(path)
            return
        from safetensors.torch import save_file

        transformer.save_pretrained(path, state_dict=base_state_dict(transformer))
        save_file(adapter_state_dict(transformer), str(path / ADAPTER_FILE))


def _model_inputs(tokenizer, texts, device) -> dict:
    """A padded batch of `texts` as the model's input_ids and attention_mask on `device`."""
    batch = tokenizer(list(texts), padding=True, return_tensors="pt")
    return {key: batch[key].to(device) for key in ("input_ids", "attention_mask")}
