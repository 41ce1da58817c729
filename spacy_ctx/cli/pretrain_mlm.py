"""`python -m spacy_ctx pretrain-mlm TEXTS... OUTPUT_DIR`: masked-LM pretraining."""
from pathlib import Path
from typing import List

import typer
from wasabi import msg

from ._app import app
from ._util import user_errors
from ..util import DEFAULT_MODEL


@app.command("pretrain-mlm")
def pretrain_mlm_cli(
    texts: List[Path] = typer.Argument(
        ...,
        help="Text files or directories: .txt (one text per line), .jsonl, .parquet, "
        ".conllu, CoNLL columns, Raganato .xml (one text per sentence).",
    ),
    output_dir: Path = typer.Argument(..., help="The model directory to write (also checkpoints and metrics)."),
    base: str = typer.Option(
        DEFAULT_MODEL,
        "--base",
        "-b",
        help="Encoder to continue (the bundled model, a local directory or a Hub id); "
        "with a --config that has an architecture, the tokenizer of the new model.",
    ),
    config: Path = typer.Option(
        None,
        "--config",
        "-c",
        help="A .cfg with [pretrain_mlm] settings and/or a [model] architecture "
        "(train from scratch; see configs/pretrain_mlm_small.cfg), or a transformers config .json.",
    ),
    whole_word: bool = typer.Option(None, "--whole-word/--no-whole-word", help="Mask whole words (default: the config's, off)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT_DIR/checkpoint.pt."),
    max_minutes: float = typer.Option(0.0, "--max-minutes", help="Training time budget (0 = none)."),
    max_steps: int = typer.Option(0, "--max-steps", help="Update budget (0 = none)."),
    epochs: int = typer.Option(
        None, "--epochs", help="Passes over the texts in all (default 1, or the checkpoint's). With --resume, a larger number trains on."
    ),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", help="Steps between checkpoints."),
    threads: int = typer.Option(1, "--threads", help="torch CPU threads (0 = torch's default)."),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to train on (-1 = the CPU)."),
):
    """Train an encoder with BERT's masked-language-model objective.

    Continues --base (domain adaptation), or trains a new model from the
    architecture in --config with --base's tokenizer. OUTPUT_DIR is a Hugging
    Face model directory (the encoder without its MLM head, CPU tensors, and
    the tokenizer): `name = "OUTPUT_DIR"` in a spacy_ctx.TransformerEncoder.v1 block.
    """
    from dataclasses import replace

    import torch

    from ..pretraining.common import training_device
    from ..pretraining.mlm import MLMConfig, pretrain_mlm, read_mlm_config

    if threads:
        torch.set_num_threads(threads)
    with user_errors():
        device = training_device(gpu_id, "--gpu-id")
        settings, architecture = read_mlm_config(config) if config is not None else (None, None)
        if whole_word is not None:
            settings = replace(settings or MLMConfig(), whole_word=whole_word)
        metrics = pretrain_mlm(
            texts,
            output_dir,
            settings,
            base=base,
            architecture=architecture,
            resume=resume,
            epochs=epochs,
            max_steps=max_steps,
            max_minutes=max_minutes,
            checkpoint_every=checkpoint_every,
            device=device,
            log=msg.info,
        )
    before, after = metrics["heldout_before"], metrics["heldout_after"]
    msg.good(
        f"Held-out masked-token loss {before['loss']:.3f} -> {after['loss']:.3f} "
        f"(pseudo-perplexity {before['pseudo_perplexity']:.1f} -> {after['pseudo_perplexity']:.1f}; "
        f"{metrics['steps']} steps, {metrics['wordpieces_trained']} wordpieces, {metrics['train_seconds']:.0f}s training)"
    )
    msg.info(f"Model directory: {output_dir}")
