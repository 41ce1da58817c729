"""LoRA adapters for the transformer encoder, through peft (the [lora] extra).

`spacy_ctx.LoRA.v1` is the value of the encoder's `lora` setting:

    [components.ctx_encoder.model.lora]
    @misc = "spacy_ctx.LoRA.v1"
    rank = 8
    alpha = 16.0
    dropout = 0.1
    target_modules = null   # null: peft's choice for the family (BERT: query, value)
    merge = false           # true: fold the adapters into the weights (inference)

The adapters (low-rank A and B beside each target linear layer, B zero at
first, so the encoder starts as it was) are injected into the transformer in
place, and every other weight of the transformer is frozen: only the
adapters train. The pipeline saves the base weights and the adapters apart
(`ADAPTER_FILE`), and rebuilds both at load. With `merge`, the adapters are
added into the base weights after loading, so inference costs what the base
model costs; they are taken out again to save, so what is saved is the same.
"""
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional

from torch import nn

from ..compat import require
from ..errors import Errors, SpacyCtxError

ADAPTER_FILE = "adapter_model.safetensors"
LORA_MARK = "lora_"


@dataclass(frozen=True)
class LoRASettings:
    """What `spacy_ctx.LoRA.v1` builds (see the module docstring)."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: Optional[List[str]] = None
    merge: bool = False

    def to_dict(self) -> Dict:
        return asdict(self)


def create_lora_v1(
    rank: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.0,
    target_modules: Optional[List[str]] = None,
    merge: bool = False,
) -> LoRASettings:
    """LoRA settings for `spacy_ctx.TransformerEncoder.v1`'s `lora`."""
    if rank < 1:
        raise SpacyCtxError(Errors.E040.format(setting="lora rank", allowed="at least 1", value=rank))
    if alpha <= 0:
        raise SpacyCtxError(Errors.E040.format(setting="lora alpha", allowed="> 0", value=alpha))
    if not 0.0 <= dropout < 1.0:
        raise SpacyCtxError(Errors.E040.format(setting="lora dropout", allowed="in [0, 1)", value=dropout))
    targets = None if target_modules is None else list(target_modules)
    return LoRASettings(rank, float(alpha), float(dropout), targets, bool(merge))


def inject_lora(transformer: nn.Module, settings: LoRASettings) -> nn.Module:
    """Add adapters to `transformer` in place and freeze everything else."""
    peft = require("peft", "lora", "LoRA fine-tuning")
    config = peft.LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
    )
    try:
        transformer = peft.inject_adapter_in_model(config, transformer)
    except ValueError as err:
        raise SpacyCtxError(Errors.E042.format(model_type=getattr(transformer.config, "model_type", "?"), err=err)) from err
    for name, param in transformer.named_parameters():
        param.requires_grad_(LORA_MARK in name)
    return transformer


def has_lora(transformer: nn.Module) -> bool:
    return any(LORA_MARK in name for name, _ in transformer.named_parameters())


def base_state_dict(transformer: nn.Module) -> Dict:
    """The transformer's weights under their names without adapters, as
    `from_pretrained` of the plain model reads them."""
    return {
        name.replace(".base_layer", ""): tensor
        for name, tensor in transformer.state_dict().items()
        if LORA_MARK not in name
    }


def adapter_state_dict(transformer: nn.Module) -> Dict:
    peft = require("peft", "lora", "LoRA fine-tuning")
    return {name: tensor.detach().cpu().contiguous() for name, tensor in peft.get_peft_model_state_dict(transformer).items()}


def load_adapters(transformer: nn.Module, state: Dict) -> None:
    """Load saved adapter weights into the injected adapters: every saved
    one must have its adapter, every adapter its saved weights, in shape."""
    peft = require("peft", "lora", "LoRA fine-tuning")
    try:
        result = peft.set_peft_model_state_dict(transformer, state)
    except RuntimeError as err:  # a size mismatch: another rank
        raise SpacyCtxError(Errors.E043.format(keys=str(err).splitlines()[0])) from None
    unexpected = list(getattr(result, "unexpected_keys", None) or [])
    missing = [key for key in getattr(result, "missing_keys", None) or [] if LORA_MARK in key]
    if unexpected or missing:
        raise SpacyCtxError(Errors.E043.format(keys=", ".join((unexpected + missing)[:5])))


def lora_layers(transformer: nn.Module):
    peft = require("peft", "lora", "LoRA fine-tuning")
    return [module for module in transformer.modules() if isinstance(module, peft.tuners.lora.LoraLayer)]


def merge_lora(transformer: nn.Module) -> None:
    """Fold the adapters into the base weights (inference at base cost)."""
    for module in lora_layers(transformer):
        module.merge()


def unmerge_lora(transformer: nn.Module) -> None:
    for module in lora_layers(transformer):
        module.unmerge()


def is_merged(transformer: nn.Module) -> bool:
    return any(module.merged for module in lora_layers(transformer))


def count_parameters(module: nn.Module) -> Dict[str, int]:
    """{"trainable": n, "total": n} parameters of a torch module."""
    params = list(module.parameters())
    return {"trainable": sum(p.numel() for p in params if p.requires_grad), "total": sum(p.numel() for p in params)}
