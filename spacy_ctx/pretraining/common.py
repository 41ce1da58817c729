"""What both pretraining objectives share (ELMo's biLM in elmo.py, the
masked LM in mlm.py): the training device, the held-out split, batching by
length, checkpoints that resume, and the loop with its step and time budgets
and progress bar.

A loop position is a dict, saved in the checkpoint:
    step, epoch, batch_in_epoch, tokens, train_seconds
"""
import math
import random
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

import torch

from ..errors import Errors, SpacyCtxError, Warnings

CHECKPOINT_FILE = "checkpoint.pt"


def training_device(gpu_id: int, setting: str = "gpu_id") -> str:
    """The torch device to train on: "cpu" for a negative `gpu_id`, else
    "cuda:<gpu_id>", checked against the CUDA devices torch sees (E407,
    naming `setting`)."""
    if gpu_id < 0:
        return "cpu"
    if gpu_id >= torch.cuda.device_count():
        raise SpacyCtxError(Errors.E407.format(setting=setting, gpu_id=gpu_id, n=torch.cuda.device_count()))
    return f"cuda:{gpu_id}"


def check_known_settings(settings: dict, known: Sequence[str], path: Path) -> None:
    """E406 for a name in `settings` that is not in `known`, rather than
    ignoring it."""
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise SpacyCtxError(Errors.E406.format(path=path, unknown=unknown, known=sorted(known)))


def split_heldout(sequences: List, fraction: float, max_heldout: int, seed: int) -> Tuple[List, List]:
    """A deterministic (train, held-out) split of whole sequences."""
    order = list(range(len(sequences)))
    random.Random(seed).shuffle(order)
    n_heldout = min(max_heldout, max(1, int(len(sequences) * fraction)))
    if len(sequences) < 2:
        raise SpacyCtxError(Errors.E404.format(n_train=len(sequences), n_heldout=0))
    heldout = {i for i in order[:n_heldout]}
    train = [s for i, s in enumerate(sequences) if i not in heldout]
    held = [sequences[i] for i in sorted(heldout)]
    return train, held


def make_batches(sequences: Sequence[Sequence], batch_tokens: int, seed: Optional[int], extra: int = 2) -> List[List[int]]:
    """Group sequence indices into batches of about batch_tokens padded
    items (each sequence counted with `extra` markers, e.g. <S> and </S>),
    similar lengths together; shuffled when a seed is given."""
    order = list(range(len(sequences)))
    rng = random.Random(seed)
    if seed is not None:
        rng.shuffle(order)
    # Sort within large pools only, so batches still differ between epochs.
    pool = 5000
    batches: List[List[int]] = []
    for start in range(0, len(order), pool):
        batch: List[int] = []
        longest = 0
        for i in sorted(order[start : start + pool], key=lambda i: len(sequences[i])):
            length = len(sequences[i]) + extra
            if batch and max(longest, length) * (len(batch) + 1) > batch_tokens:
                batches.append(batch)
                batch, longest = [], 0
            batch.append(i)
            longest = max(longest, length)
        if batch:
            batches.append(batch)
    if seed is not None:
        rng.shuffle(batches)
    return batches


# Checkpoints


def to_cpu(state):
    """A state dict (nested dicts and lists of tensors) with its tensors on the CPU."""
    if isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, dict):
        return {key: to_cpu(value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(to_cpu(value) for value in state)
    return state


def save_checkpoint(data: Dict[str, Any], output_dir: Path) -> None:
    """Write output_dir/checkpoint.pt atomically: never half a checkpoint."""
    tmp = output_dir / (CHECKPOINT_FILE + ".tmp")
    torch.save(data, str(tmp))
    tmp.replace(output_dir / CHECKPOINT_FILE)


def load_checkpoint(output_dir: Path) -> Dict[str, Any]:
    """The checkpoint of output_dir, on the CPU (E405 without one)."""
    path = output_dir / CHECKPOINT_FILE
    if not path.is_file():
        raise SpacyCtxError(Errors.E405.format(path=output_dir))
    return torch.load(path, map_location="cpu", weights_only=False)


def resumed_settings(config, saved, path: Path, epochs: Optional[int]):
    """`saved` (a checkpoint's settings), reporting (W401) the settings of
    `config` that differ from it; `epochs` is the one a caller may change."""
    ignored = _differing_settings(config, saved, skip={"epochs"} if epochs is not None else set())
    if ignored:
        warnings.warn(Warnings.W401.format(path=path / CHECKPOINT_FILE, settings=ignored))
    return replace(saved, epochs=epochs) if epochs is not None else saved


def _differing_settings(config, saved, skip: Set[str]) -> List[str]:
    """The settings of `config` (but `skip`) that differ from the saved ones."""
    if config is None:
        return []
    mine, theirs = asdict(config), asdict(saved)
    return [name for name in mine if name not in skip and mine[name] != theirs[name]]


def new_position() -> Dict[str, Any]:
    return {"step": 0, "epoch": 0, "batch_in_epoch": 0, "tokens": 0, "train_seconds": 0.0}


# The loop


def run_epochs(
    state: Dict[str, Any],
    *,
    epochs: int,
    batches_of_epoch: Callable[[int], List],
    step: Callable[[Any], Tuple[float, Dict[str, str], int]],
    save: Callable[[], None],
    max_steps: int = 0,
    max_minutes: float = 0.0,
    checkpoint_every: int = 0,
    progress: bool = True,
    on_epoch_end: Optional[Callable[[], None]] = None,
) -> str:
    """Train from position `state` (updated in place) until `epochs` passes
    (counting those before a resume), `max_steps` updates in all or
    `max_minutes` of training in this call (0 = no limit). `step(batch)`
    makes one update and returns (loss, progress-bar fields, tokens);
    `save()` writes a checkpoint, every `checkpoint_every` steps and always
    at the end; `on_epoch_end()` runs after each completed pass (before
    the next checkpoint). Returns what stopped it: "epochs", "max_steps" or
    "max_minutes"."""
    from tqdm import tqdm

    budget_seconds = max_minutes * 60 if max_minutes else math.inf
    total = epochs * len(batches_of_epoch(0))
    if max_steps:
        total = min(total, max_steps)
    bar = tqdm(total=total, initial=min(state["step"], total), disable=not progress, unit="batch")
    stopped: Optional[str] = None
    session_seconds = 0.0  # the time budget is per call, also when resuming
    try:
        while state["epoch"] < epochs and stopped is None:
            for batch in batches_of_epoch(state["epoch"])[state["batch_in_epoch"] :]:
                if max_steps and state["step"] >= max_steps:
                    stopped = "max_steps"
                elif session_seconds >= budget_seconds:
                    stopped = "max_minutes"
                if stopped:
                    break
                start = time.time()
                _, postfix, n_tokens = step(batch)
                state["step"] += 1
                state["batch_in_epoch"] += 1
                state["tokens"] += n_tokens
                state["train_seconds"] += time.time() - start
                session_seconds += time.time() - start
                bar.update(1)
                bar.set_postfix(**postfix)
                if checkpoint_every and state["step"] % checkpoint_every == 0:
                    save()
            if stopped is None:
                state["epoch"] += 1
                state["batch_in_epoch"] = 0
                if on_epoch_end is not None:
                    on_epoch_end()
    finally:
        bar.close()
        save()
    return stopped or "epochs"
