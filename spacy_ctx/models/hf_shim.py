"""The thinc shim of a Hugging Face encoder: loaded after the model is built,
and saved whole (config, tokenizer files and weights) with the pipeline."""
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Optional

import srsly
from thinc.api import PyTorchShim, get_torch_default_device
from torch import nn

from ..errors import Errors, SpacyCtxError
from .hf_loading import load_encoder, load_encoder_dir, usable_length
from .lora import (
    ADAPTER_FILE, LoRASettings, adapter_state_dict, base_state_dict, has_lora, inject_lora, is_merged,
    load_adapters, merge_lora, unmerge_lora,
)
from .pytorch.layer_encoder import LayerEncoder
from .pytorch.auto_precision import PrecisionChoice, choose_precision
from .pytorch.precision import CALIBRATION_TEXTS, calibration_batches, inference_copy
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
        "auto" (auto_precision.py, measured at load); the fp32 weights are
        kept, saved and fine-tuned.
    lora: LoRA settings (models/lora.py): adapters are injected at load, and
        saved apart from the base weights.
    """

    def __init__(
        self, name: str, revision: Optional[str], planner_settings: dict, precision: str = "fp32",
        lora: Optional[LoRASettings] = None,
    ):
        super().__init__(nn.Module())
        self.name = name
        self.revision = revision
        self.planner_settings = dict(planner_settings)
        self.precision = precision
        self.lora = lora
        self.choice: Optional[PrecisionChoice] = None  # what "auto" measured
        self.tokenizer = None
        self.planner: Optional[WordpiecePlanner] = None

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
        adapter weights to load into them)."""
        if self.lora is not None:
            transformer = inject_lora(transformer, self.lora)
            if adapters:
                load_adapters(transformer, adapters)
            if self.lora.merge:
                merge_lora(transformer)
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
            probe = _model_inputs(tokenizer, list(CALIBRATION_TEXTS) * 4, device)
            self.choice, fast = choose_precision(transformer, probe, calibration_batches(tokenizer))
            self._model.set_fast(fast)
            return
        calibration = calibration_batches(tokenizer) if self.precision == "int8" else ()
        self._model.set_fast(inference_copy(transformer, self.precision, calibration, device))

    @property
    def active_precision(self) -> str:
        """The precision inference runs in: for "auto", what it chose."""
        if self.precision == "auto":
            return self.choice.precision if self.choice is not None else "auto"
        return self.precision

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
        """save_pretrained, with LoRA adapters (unmerged) in a file of their own."""
        transformer = self._model.transformer
        if not has_lora(transformer):
            transformer.save_pretrained(path)
            return
        from safetensors.torch import save_file

        merged = is_merged(transformer)
        if merged:
            unmerge_lora(transformer)
        try:
            transformer.save_pretrained(path, state_dict=base_state_dict(transformer))
            save_file(adapter_state_dict(transformer), str(path / ADAPTER_FILE))
        finally:
            if merged:
                merge_lora(transformer)


def _model_inputs(tokenizer, texts, device) -> dict:
    """A padded batch of `texts` as the model's input_ids and attention_mask on `device`."""
    batch = tokenizer(list(texts), padding=True, return_tensors="pt")
    return {key: batch[key].to(device) for key in ("input_ids", "attention_mask")}
