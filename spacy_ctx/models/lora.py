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
(`ADAPTER_FILE`), and rebuilds both at load. With `merge`, inference runs a
copy whose adapted linears are folded back into plain `nn.Linear`s
(`merged_copy`), so it takes the same path as the base model, oneDNN's fused
linears included; the adapted model beside it, base weights and adapters
apart, is what is saved. The copy costs a second set of the weights in
memory. Measured against the base model in docs/heads.md#lora.
"""
import copy
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


def merged_copy(transformer: nn.Module) -> nn.Module:
    """A copy of `transformer` with every adapter folded into its base
    linear, which replaces the adapted module: plain `nn.Linear`s, as in the
    base model, so every fast path that takes the base model takes this one
    (peft's `merge_and_unload`, for a model injected without a PeftModel).
    `transformer` keeps its adapters unmerged."""
    merged = copy.deepcopy(transformer)
    adapted = {id(module) for module in lora_layers(merged)}
    for name, module in [(n, m) for n, m in merged.named_modules() if id(m) in adapted]:
        module.merge()
        parent_name, _, attr = name.rpartition(".")
        parent = merged.get_submodule(parent_name) if parent_name else merged
        setattr(parent, attr, module.get_base_layer())
    merged.requires_grad_(False)
    return merged.eval()


def count_parameters(module: nn.Module) -> Dict[str, int]:
    """{"trainable": n, "total": n} parameters of a torch module."""
    params = list(module.parameters())
    return {"trainable": sum(p.numel() for p in params if p.requires_grad), "total": sum(p.numel() for p in params)}
