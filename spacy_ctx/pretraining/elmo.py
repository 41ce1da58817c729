"""Bidirectional language-model pretraining of the ELMo encoder.

Library code behind `python -m spacy_ctx pretrain-elmo`: reading texts,
building the word vocabulary, batching, the training loop with checkpoints
and resume, and held-out perplexity of the forward and backward LMs.

Output directory:
    elmo.pt          encoder weights and sizes: `weights = "DIR"` in a config
    checkpoint.pt    the full LM, optimizer and position, for --resume
    vocab.json       the softmax vocabulary (most frequent first)
    metrics.json     perplexities before and after, steps, tokens, time
"""
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import srsly
import torch

from ..corpora import read_sequences
from ..errors import Errors, SpacyCtxError
from ..models.elmo import WEIGHTS_FILE, save_encoder_weights
from ..models.pytorch.elmo import ELMoEncoderModule
from ..tokenization.chars import encode_sequences
from .bilm import BidirectionalLM
from .common import (
    check_known_settings,
    load_checkpoint,
    make_batches,
    new_position,
    resumed_settings,
    run_epochs,
    save_checkpoint as write_checkpoint,
    split_heldout,
    to_cpu,
    training_device,  # noqa: F401 (the CLI's)
)

UNK, BOS_WORD, EOS_WORD = "<unk>", "<S>", "</S>"


@dataclass
class PretrainConfig:
    """Sizes and settings of a pretraining run (saved in the checkpoint)."""

    # Encoder sizes: the arguments of spacy_ctx.ELMoEncoder.v1.
    char_dim: int = 16
    filters: List[List[int]] = field(
        default_factory=lambda: [[1, 32], [2, 32], [3, 64], [4, 128], [5, 128]]
    )
    n_highway: int = 1
    projection_dim: int = 128
    hidden_size: int = 128
    dropout: float = 0.1
    # Softmax vocabulary and adaptive-softmax cluster boundaries.
    vocab_size: int = 20000
    min_count: int = 2
    cutoffs: List[int] = field(default_factory=lambda: [1000, 5000])
    # Optimisation.
    batch_tokens: int = 2048
    max_length: int = 64
    learning_rate: float = 2e-3
    grad_clip: float = 5.0
    epochs: int = 1
    heldout_fraction: float = 0.02
    max_heldout: int = 1000
    seed: int = 0

    def encoder_kwargs(self) -> dict:
        return {
            "char_dim": self.char_dim,
            "filters": [tuple(f) for f in self.filters],
            "n_highway": self.n_highway,
            "projection_dim": self.projection_dim,
            "hidden_size": self.hidden_size,
            "dropout": self.dropout,
        }


def read_pretrain_config(path: Union[str, Path]) -> PretrainConfig:
    """The settings of a run from a .cfg file's [pretrain_elmo] section (see
    configs/pretrain_elmo.cfg) or a .json object. A name that is not a
    setting of PretrainConfig fails (E406) rather than being ignored."""
    path = Path(path)
    if path.suffix == ".cfg":
        from thinc.api import Config

        settings = dict(Config().from_disk(path)["pretrain_elmo"])
    else:
        settings = srsly.read_json(path)
    check_known_settings(settings, [f.name for f in fields(PretrainConfig)], path)
    return PretrainConfig(**settings)


# Vocabulary and batches


def build_vocab(sequences: Iterable[Sequence[str]], max_size: int, min_count: int) -> List[str]:
    """The softmax vocabulary, most frequent first (as the adaptive softmax
    needs): <unk>, <S>, </S> and the words seen at least min_count times."""
    counts: Counter = Counter()
    n_seqs = 0
    for seq in sequences:
        counts.update(seq)
        n_seqs += 1
    specials = (UNK, BOS_WORD, EOS_WORD)
    words = [w for w, c in counts.most_common() if c >= min_count and w not in specials]
    words = words[: max(0, max_size - len(specials))]
    n_unknown = sum(counts.values()) - sum(counts[w] for w in words)
    entries = [(counts[w], w) for w in words]
    entries += [(n_seqs, BOS_WORD), (n_seqs, EOS_WORD), (n_unknown, UNK)]
    entries.sort(key=lambda entry: -entry[0])  # stable: ties keep their order
    return [w for _, w in entries]


def split_long(sequences: Iterable[Sequence[str]], max_length: int) -> List[List[str]]:
    """Cut sequences into pieces of at most max_length words (for the LM
    objective only: the encoder itself never cuts a doc)."""
    out = []
    for seq in sequences:
        for start in range(0, len(seq), max_length):
            out.append(list(seq[start : start + max_length]))
    return out


class Batcher:
    """Turns batches of word sequences into LM inputs and targets."""

    def __init__(self, vocab: List[str], min_length: int):
        self.ids: Dict[str, int] = {w: i for i, w in enumerate(vocab)}
        self.unk = self.ids[UNK]
        self.bos = self.ids[BOS_WORD]
        self.eos = self.ids[EOS_WORD]
        self.min_length = min_length

    def __call__(
        self, sequences: Sequence[Sequence[str]], device: Optional[torch.device] = None
    ) -> Tuple[dict, torch.Tensor]:
        batch = encode_sequences(sequences, self.min_length)
        targets = torch.full(batch.word_index.shape, self.eos, dtype=torch.long)
        for i, seq in enumerate(sequences):
            row = [self.bos, *(self.ids.get(w, self.unk) for w in seq), self.eos]
            targets[i, : len(row)] = torch.as_tensor(row)
        return batch.to_torch(device), targets.to(device)


# Training


@dataclass
class Perplexity:
    forward: float
    backward: float
    n_predictions: int


def evaluate(
    lm: BidirectionalLM,
    batcher: Batcher,
    sequences: Sequence[Sequence[str]],
    batch_tokens: int,
    device: Optional[torch.device] = None,
) -> Perplexity:
    """Held-out perplexity of the forward and the backward LM (each word, and
    </S> / <S>, predicted from one side; out-of-vocabulary words as <unk>)."""
    lm.eval()
    total_f = total_b = 0.0
    n = 0
    with torch.no_grad():
        for batch in make_batches(sequences, batch_tokens, seed=None):
            inputs, targets = batcher([sequences[i] for i in batch], device)
            nll_f, nll_b, count = lm(**inputs, targets=targets)
            total_f += float(nll_f)
            total_b += float(nll_b)
            n += count
    lm.train()
    return Perplexity(math.exp(total_f / max(n, 1)), math.exp(total_b / max(n, 1)), n)


def pretrain(
    texts: Sequence[Path],
    output_dir: Path,
    config: Optional[PretrainConfig] = None,
    *,
    resume: bool = False,
    epochs: Optional[int] = None,
    max_steps: int = 0,
    max_minutes: float = 0.0,
    checkpoint_every: int = 500,
    lang: str = "en",
    device: Union[str, torch.device] = "cpu",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Pretrain the encoder as a forward + backward LM and save it.

    max_steps / max_minutes: stop after this many updates in all / minutes of
    training in this call (0 = no limit); the run always ends with a held-out evaluation,
    a checkpoint and the encoder weights. resume: continue from the
    checkpoint in output_dir (its config and vocabulary win; settings of
    `config` that differ from it are reported and not used). epochs: passes
    over the texts in all, counting those before a resume (default
    config.epochs), so a resumed run can train longer than first planned.
    device: the torch device to train on ("cpu", "cuda:0"); the weights and
    checkpoints are saved for the CPU, so they load anywhere.
    Returns the metrics written to metrics.json.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = load_checkpoint(output_dir) if resume else None
    if checkpoint:
        config = resumed_settings(config, PretrainConfig(**checkpoint["config"]), output_dir, epochs)
    config = config or PretrainConfig()
    if epochs is not None:
        config = replace(config, epochs=epochs)
    torch.manual_seed(config.seed)

    read_start = time.time()
    sequences = [seq for path in texts for seq in read_sequences(Path(path), lang)]
    train, heldout = split_heldout(
        sequences, config.heldout_fraction, config.max_heldout, config.seed
    )
    train = split_long(train, config.max_length)
    heldout = split_long(heldout, config.max_length)
    if not train or not heldout:
        raise SpacyCtxError(Errors.E404.format(n_train=len(train), n_heldout=len(heldout)))
    vocab = checkpoint["vocab"] if checkpoint else build_vocab(train, config.vocab_size, config.min_count)
    n_train_tokens = sum(len(s) for s in train)
    log(
        f"Read {len(sequences)} sequences in {time.time() - read_start:.0f}s: "
        f"{n_train_tokens} training tokens, {sum(len(s) for s in heldout)} held-out; "
        f"vocabulary {len(vocab)}"
    )

    encoder = ELMoEncoderModule(**config.encoder_kwargs())
    lm = BidirectionalLM(encoder, len(vocab), config.cutoffs).to(device)
    optimizer = torch.optim.Adam(lm.parameters(), lr=config.learning_rate)
    batcher = Batcher(vocab, encoder.min_length)
    state = new_position()
    if checkpoint:
        lm.load_state_dict(checkpoint["lm"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        state = checkpoint["state"]
        before = Perplexity(**checkpoint["before"])
        log(f"Resumed at step {state['step']} (epoch {state['epoch']})")
    else:
        before = evaluate(lm, batcher, heldout, config.batch_tokens, device)
        log(f"Held-out perplexity before: forward {before.forward:.1f}, backward {before.backward:.1f}")

    def save_checkpoint() -> None:
        data = {
            "config": asdict(config),
            "vocab": vocab,
            "lm": to_cpu(lm.state_dict()),
            "optimizer": to_cpu(optimizer.state_dict()),
            "state": state,
            "before": asdict(before),
        }
        write_checkpoint(data, output_dir)
        save_encoder_weights(encoder, output_dir / WEIGHTS_FILE)

    def step(batch: List[int]):
        inputs, targets = batcher([train[i] for i in batch], device)
        nll_f, nll_b, n = lm(**inputs, targets=targets)
        loss = (nll_f + nll_b) / (2 * n)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), config.grad_clip)
        optimizer.step()
        loss_value = float(loss.detach())
        postfix = {"loss": f"{loss_value:.3f}", "ppl": f"{math.exp(loss_value):.0f}"}
        return loss_value, postfix, sum(len(train[i]) for i in batch)  # words, no markers

    lm.train()
    stopped = run_epochs(
        state,
        epochs=config.epochs,
        batches_of_epoch=lambda epoch: make_batches(train, config.batch_tokens, config.seed + epoch),
        step=step,
        save=save_checkpoint,
        max_steps=max_steps,
        max_minutes=max_minutes,
        checkpoint_every=checkpoint_every,
        progress=progress,
    )

    after = evaluate(lm, batcher, heldout, config.batch_tokens, device)
    log(f"Held-out perplexity after: forward {after.forward:.1f}, backward {after.backward:.1f}")
    metrics = {
        "perplexity_before": asdict(before),
        "perplexity_after": asdict(after),
        "steps": state["step"],
        "epochs_completed": state["epoch"],
        "tokens_trained": state["tokens"],
        "train_seconds": round(state["train_seconds"], 1),
        "stopped_by": stopped,
        "train_tokens_per_epoch": n_train_tokens,
        "heldout_sequences": len(heldout),
        "vocab_size": len(vocab),
        "config": asdict(config),
        "texts": [str(p) for p in texts],
    }
    srsly.write_json(output_dir / "metrics.json", metrics)
    srsly.write_json(output_dir / "vocab.json", vocab)
    srsly.write_json(output_dir / "config.json", _encoder_config(config, output_dir))
    return metrics


def _encoder_config(config: PretrainConfig, output_dir: Path) -> dict:
    """The spacy_ctx.ELMoEncoder.v1 block that loads these weights."""
    return {
        "@architectures": "spacy_ctx.ELMoEncoder.v1",
        "weights": str(output_dir.resolve()),
        "char_dim": config.char_dim,
        "filters": config.filters,
        "n_highway": config.n_highway,
        "projection_dim": config.projection_dim,
        "hidden_size": config.hidden_size,
    }
