"""Masked-language-model pretraining of a Hugging Face encoder (BERT's objective).

Library code behind `python -m spacy_ctx pretrain-mlm`: it continues an
encoder (the bundled MiniLM, a local directory or a Hub id: domain
adaptation) or trains one from scratch from an architecture config with the
base model's tokenizer, with BERT's masking (masking.py), checkpoints and
resume, and the held-out masked-token loss after every pass.

The MLM head is the model's own where its weights hold one; otherwise
(the bundled MiniLM has none) a new head whose decoder weight is the input
embedding matrix (tied), so only its small transform and bias are new.

Output directory (a Hugging Face model directory: `name = "DIR"` in a
spacy_ctx.TransformerEncoder.v1 block):
    config.json, model.safetensors   the encoder alone (no MLM head), CPU tensors
    tokenizer files                  the base model's tokenizer
    checkpoint.pt                    encoder + head, optimizer and position, for --resume
    metrics.json                     held-out loss and pseudo-perplexity per pass, steps, time
"""
import math
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import srsly
import torch

from ..corpora import TEXT_FORMATS, read_texts, sniff_format
from ..errors import Errors, SpacyCtxError
from ..util import DEFAULT_MODEL
from .common import (
    check_known_settings,
    load_checkpoint,
    make_batches,
    new_position,
    resumed_settings,
    run_epochs,
    save_checkpoint,
    split_heldout,
    to_cpu,
)
from .masking import IGNORE, MaskedBatcher, encode_texts

# The head module of the MLM classes that take hidden states alone: their
# logits are computed at the targets only (15% of the positions; the
# vocabulary projection is as costly as MiniLM's six layers). Other model
# types compute them everywhere, through the model's own forward.
_HEAD_ATTRIBUTE = {"bert": "cls", "roberta": "lm_head", "xlm-roberta": "lm_head", "camembert": "lm_head"}


@dataclass
class MLMConfig:
    """Settings of a masked-LM run (saved in the checkpoint)."""

    # Masking: BERT's 15% of the wordpieces (80% mask, 10% random, 10% kept).
    mask_probability: float = 0.15
    whole_word: bool = False
    # Texts are cut to max_length wordpieces (special tokens included).
    max_length: int = 128
    # Optimisation: AdamW, batches of about batch_tokens padded wordpieces,
    # linear warm-up over warmup_steps, then a constant rate.
    batch_tokens: int = 2048
    learning_rate: float = 5e-5
    # The rate of a new head's own weights (its transform and bias; the tied
    # decoder is the embeddings): it starts at chance and must catch up.
    head_learning_rate: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    epochs: int = 1
    # Held-out texts for the masked-token loss: this fraction, at most max_heldout.
    heldout_fraction: float = 0.02
    max_heldout: int = 1000
    seed: int = 0


def read_mlm_config(path: Union[str, Path]) -> Tuple[Optional[MLMConfig], Optional[dict]]:
    """(settings, architecture) from a file. A .cfg has a [pretrain_mlm]
    section (the settings of MLMConfig) and/or a [model] section (a
    transformers config, e.g. {"model_type": "bert", "num_hidden_layers": 4};
    with it the model trains from scratch): see configs/pretrain_mlm_small.cfg.
    A .json is an architecture (a transformers config.json). A file that
    does not parse fails with E423, an unknown setting with E406."""
    path = Path(path)
    try:
        if path.suffix == ".cfg":
            from thinc.api import Config

            data = Config().from_disk(path)
            settings, architecture = data.get("pretrain_mlm"), data.get("model")
            if settings is None and architecture is None:
                raise ValueError("it has neither a [pretrain_mlm] nor a [model] section")
        else:
            settings, architecture = None, srsly.read_json(path)
            if not isinstance(architecture, dict):
                raise ValueError("the JSON is not an object")
    except Exception as err:  # configparser, thinc and JSON errors alike
        raise SpacyCtxError(Errors.E423.format(path=path, err=err)) from err
    if settings is not None:
        check_known_settings(dict(settings), [f.name for f in fields(MLMConfig)], path)
        settings = MLMConfig(**settings)
    return settings, dict(architecture) if architecture is not None else None


# Texts


def read_pretraining_texts(paths: Sequence[Union[str, Path]]) -> List[str]:
    """The texts of files or directories (every file of a text format in
    them), read with corpora.read_texts: one per line of .txt, per record of
    .jsonl, per sentence of .conllu / CoNLL / Raganato .xml. A file with no
    text fails (E420), naming it."""
    texts: List[str] = []
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and sniff_format(p) in TEXT_FORMATS)
            if not files:
                raise SpacyCtxError(Errors.E403.format(path=path, reason="no text files in it"))
        elif not path.is_file():
            raise SpacyCtxError(Errors.E403.format(path=path, reason="no such file"))
        else:
            files = [path]
        for file in files:
            found = [r.text for r in read_texts(file, on_error=lambda bad: None) if r.text.strip()]
            if not found:
                raise SpacyCtxError(Errors.E420.format(path=file))
            texts.extend(found)
    return texts


# Model


def load_tokenizer(model_dir: Path, name: str):
    """The fast tokenizer of a model directory: E421 for a model without one
    (word boundaries and special-token masks need it), E422 for one without
    a mask token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True, use_fast=True)
    if not getattr(tokenizer, "is_fast", False):
        raise SpacyCtxError(Errors.E421.format(name=name))
    if tokenizer.mask_token_id is None:
        raise SpacyCtxError(Errors.E422.format(name=name))
    return tokenizer


def architecture_config(architecture: dict, tokenizer, path: str = "the architecture"):
    """A transformers config from an architecture dict (model_type default
    "bert"), sized for the tokenizer's vocabulary. E424 for a key the model
    type does not have, E425 for a model type transformers does not know."""
    from transformers import AutoConfig

    settings = dict(architecture)
    model_type = settings.pop("model_type", "bert")
    try:
        defaults = AutoConfig.for_model(model_type).to_dict()
    except ValueError as err:
        raise SpacyCtxError(Errors.E425.format(model_type=model_type, err=err)) from err
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise SpacyCtxError(Errors.E424.format(path=path, model_type=model_type, unknown=unknown))
    settings.update(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    return AutoConfig.for_model(model_type, **settings)


def build_mlm(config, encoder=None, weights_dir: Optional[Path] = None):
    """(MLM model, new_head) around `encoder` (built from `config` when
    None): the masked-LM class of its model type with the encoder as its
    base model, so that training it trains the encoder that is saved. With
    weights_dir, the head comes from its weights where they hold one. A new
    head's decoder is tied to the input embeddings."""
    from transformers import AutoModel, AutoModelForMaskedLM

    try:
        if weights_dir is not None:
            mlm, info = AutoModelForMaskedLM.from_pretrained(
                weights_dir, config=config, local_files_only=True, output_loading_info=True
            )
            prefix = mlm.base_model_prefix + "."
            new_head = any(not key.startswith(prefix) for key in info["missing_keys"])
        else:
            mlm, new_head = AutoModelForMaskedLM.from_config(config), True
    except ValueError as err:  # no masked-LM class for this model type
        raise SpacyCtxError(Errors.E425.format(model_type=config.model_type, err=err)) from err
    encoder = encoder if encoder is not None else AutoModel.from_config(config)
    setattr(mlm, mlm.base_model_prefix, encoder)
    if new_head or getattr(config, "tie_word_embeddings", True):
        mlm.get_output_embeddings().weight = mlm.get_input_embeddings().weight
    return mlm, new_head


def load_start(base: str, architecture: Optional[dict], seed: int):
    """(tokenizer, encoder, mlm, new_head) to start from: `base` continued,
    or, with an architecture, a new model (seeded) with base's tokenizer."""
    from ..models.hf_loading import encoder_class, resolve_model_dir

    model_dir = resolve_model_dir(base)
    tokenizer = load_tokenizer(model_dir, base)
    torch.manual_seed(seed)
    if architecture is not None:
        config = architecture_config(architecture, tokenizer)
        return (tokenizer, *_new_model(config))
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    encoder = encoder_class(config, base).from_pretrained(model_dir, config=config, local_files_only=True)
    return (tokenizer, encoder, *build_mlm(config, encoder, model_dir))


def _new_model(config):
    from transformers import AutoModel

    encoder = AutoModel.from_config(config)
    return (encoder, *build_mlm(config, encoder))


def _target_logits(mlm, inputs: torch.Tensor, attention: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """[n_targets, vocab] logits at the positions where targets is True."""
    head = _HEAD_ATTRIBUTE.get(mlm.config.model_type)
    if head is None:
        return mlm(input_ids=inputs, attention_mask=attention).logits[targets]
    hidden = mlm.base_model(input_ids=inputs, attention_mask=attention).last_hidden_state
    return getattr(mlm, head)(hidden[targets])  # [n_targets, width] -> [n_targets, vocab]


def _optimizer(mlm, config: MLMConfig, new_head: bool) -> torch.optim.Optimizer:
    """AdamW with BERT's groups: no weight decay on biases and layer norms;
    a new head's own weights at head_learning_rate."""
    encoder_params = {id(p) for p in mlm.base_model.parameters()}
    groups: Dict[Tuple[bool, bool], List] = {}
    for param in mlm.parameters():
        head = new_head and id(param) not in encoder_params
        groups.setdefault((head, param.ndim > 1), []).append(param)
    return torch.optim.AdamW(
        [
            {
                "params": params,
                "base_lr": config.head_learning_rate if head else config.learning_rate,
                "weight_decay": config.weight_decay if decay else 0.0,
            }
            for (head, decay), params in sorted(groups.items())
        ],
        lr=config.learning_rate,
    )


def masked_loss(mlm, batch: Tuple[torch.Tensor, ...]) -> Tuple[torch.Tensor, int]:
    """(summed cross-entropy at the targets, number of targets)."""
    inputs, attention, labels = batch
    targets = labels != IGNORE
    logits = _target_logits(mlm, inputs, attention, targets)
    loss = torch.nn.functional.cross_entropy(logits.float(), labels[targets], reduction="sum")
    return loss, int(targets.sum())


def evaluate(mlm, batcher: MaskedBatcher, heldout: Sequence[dict], config: MLMConfig, device) -> Dict:
    """The held-out masked-token loss (nats per target) and its exp, the
    pseudo-perplexity. The masks are drawn from one seed: every evaluation
    of a run scores the same targets."""
    generator = torch.Generator().manual_seed(config.seed)
    total, n = 0.0, 0
    mlm.eval()
    with torch.no_grad():
        for batch in make_batches([item["ids"] for item in heldout], config.batch_tokens, seed=None, extra=0):
            loss, count = masked_loss(mlm, batcher([heldout[i] for i in batch], generator, device))
            total += float(loss)
            n += count
    mlm.train()
    loss = total / max(n, 1)
    return {"loss": round(loss, 4), "pseudo_perplexity": round(math.exp(loss), 2), "n_targets": n}


def pretrain_mlm(
    texts: Sequence[Path],
    output_dir: Path,
    config: Optional[MLMConfig] = None,
    *,
    base: str = DEFAULT_MODEL,
    architecture: Optional[dict] = None,
    resume: bool = False,
    epochs: Optional[int] = None,
    max_steps: int = 0,
    max_minutes: float = 0.0,
    checkpoint_every: int = 500,
    device: Union[str, torch.device] = "cpu",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Train an encoder with the masked-LM objective and save it.

    base: the encoder to continue (see hf_loading.resolve_model_dir), or with
    `architecture` (a transformers config dict) the tokenizer of a new
    model. resume: continue from output_dir's checkpoint and model files
    (their settings win, W401 reports the others; `epochs` may change).
    epochs, max_steps, max_minutes, checkpoint_every, device: as in
    elmo.pretrain. Returns the metrics written to metrics.json.
    """
    from transformers import AutoConfig

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = load_checkpoint(output_dir) if resume else None
    if checkpoint:
        config = resumed_settings(config, MLMConfig(**checkpoint["config"]), output_dir, epochs)
        tokenizer = load_tokenizer(output_dir, str(output_dir))
        encoder, mlm, _ = _new_model(AutoConfig.from_pretrained(output_dir, local_files_only=True))
        mlm.load_state_dict(checkpoint["model"])
        base, from_scratch, new_head = checkpoint["base"], checkpoint["from_scratch"], checkpoint["new_head"]
    else:
        config = config or MLMConfig()
        tokenizer, encoder, mlm, new_head = load_start(base, architecture, config.seed)
        from_scratch = architecture is not None
        tokenizer.save_pretrained(output_dir)
        encoder.config.save_pretrained(output_dir)
    if epochs is not None:
        config = replace(config, epochs=epochs)
    mlm.to(device).train()

    read_start = time.time()
    train, heldout = split_heldout(read_pretraining_texts(texts), config.heldout_fraction, config.max_heldout, config.seed)
    positions = getattr(mlm.config, "max_position_embeddings", None) or config.max_length
    max_length = min(config.max_length, positions)
    train, heldout = encode_texts(tokenizer, train, max_length), encode_texts(tokenizer, heldout, max_length)
    n_train_pieces = sum(len(item["ids"]) for item in train)
    log(
        f"Read {len(train) + len(heldout)} texts in {time.time() - read_start:.0f}s: "
        f"{n_train_pieces} training wordpieces, {len(heldout)} held-out texts; "
        + ("a new model" if from_scratch else f"continuing {base}")
        + (", a new MLM head tied to the input embeddings" if new_head else ", its own MLM head")
    )

    batcher = MaskedBatcher(tokenizer, config.mask_probability, config.whole_word)
    optimizer = _optimizer(mlm, config, new_head)
    state = new_position()
    if checkpoint:
        optimizer.load_state_dict(checkpoint["optimizer"])
        state, history = checkpoint["state"], checkpoint["history"]
        log(f"Resumed at step {state['step']} (epoch {state['epoch']})")
    else:
        history = [{"epoch": 0, "step": 0, **evaluate(mlm, batcher, heldout, config, device)}]
        log(f"Held-out masked-token loss before: {history[0]['loss']:.3f} (pseudo-perplexity {history[0]['pseudo_perplexity']:.1f})")

    def save() -> None:
        data = {
            "config": asdict(config), "base": base, "from_scratch": from_scratch, "new_head": new_head,
            "model": to_cpu(mlm.state_dict()), "optimizer": to_cpu(optimizer.state_dict()),
            "state": state, "history": history,
        }
        save_checkpoint(data, output_dir)
        # The encoder alone, as CPU tensors: a model directory after every checkpoint.
        encoder.save_pretrained(output_dir, state_dict=to_cpu(encoder.state_dict()))

    def step(batch: List[int]):
        # Masks and dropout are drawn from the step's own seed: a resumed run
        # trains exactly as the uninterrupted one.
        step_seed = config.seed * 1_000_003 + state["step"]
        torch.manual_seed(step_seed)
        inputs = batcher([train[i] for i in batch], torch.Generator().manual_seed(step_seed), device)
        warmup = min(1.0, (state["step"] + 1) / max(1, config.warmup_steps))
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * warmup
        loss_sum, n = masked_loss(mlm, inputs)
        loss = loss_sum / max(n, 1)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(mlm.parameters(), config.grad_clip)
        optimizer.step()
        value = float(loss.detach())
        return value, {"loss": f"{value:.3f}"}, sum(len(train[i]["ids"]) for i in batch)

    def after_epoch() -> None:
        history.append({"epoch": state["epoch"], "step": state["step"], **evaluate(mlm, batcher, heldout, config, device)})
        log(f"Epoch {state['epoch']}: held-out loss {history[-1]['loss']:.3f} (pseudo-perplexity {history[-1]['pseudo_perplexity']:.1f})")

    train_ids = [item["ids"] for item in train]
    stopped = run_epochs(
        state, epochs=config.epochs,
        batches_of_epoch=lambda epoch: make_batches(train_ids, config.batch_tokens, config.seed + epoch, extra=0),
        step=step, save=save, max_steps=max_steps, max_minutes=max_minutes,
        checkpoint_every=checkpoint_every, progress=progress, on_epoch_end=after_epoch,
    )
    if history[-1]["step"] != state["step"]:  # stopped within a pass
        history.append({"epoch": state["epoch"], "step": state["step"], **evaluate(mlm, batcher, heldout, config, device)})
        save()
    metrics = {
        "heldout_before": history[0],
        "heldout_after": history[-1],
        "heldout_per_epoch": history,
        "steps": state["step"],
        "epochs_completed": state["epoch"],
        "wordpieces_trained": state["tokens"],
        "train_seconds": round(state["train_seconds"], 1),
        "stopped_by": stopped,
        "train_texts": len(train),
        "train_wordpieces_per_epoch": n_train_pieces,
        "heldout_texts": len(heldout),
        "base": base,
        "from_scratch": from_scratch,
        "new_head_tied": new_head,
        "parameters": sum(p.numel() for p in encoder.parameters()),
        "config": asdict(config),
        "architecture": encoder.config.to_diff_dict(),
        "texts": [str(p) for p in texts],
    }
    srsly.write_json(output_dir / "metrics.json", metrics)
    return metrics
