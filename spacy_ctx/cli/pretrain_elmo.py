"""`python -m spacy_ctx pretrain-elmo TEXTS... OUTPUT_DIR`: biLM pretraining."""
from pathlib import Path
from typing import List

import typer
from wasabi import msg

from ._app import app
from ._util import user_errors


@app.command("pretrain-elmo")
def pretrain_elmo_cli(
    texts: List[Path] = typer.Argument(
        ...,
        help="Text files or directories: .txt (one text per line, or CoNLL columns), "
        ".jsonl, .conllu, .conll, Raganato .xml.",
    ),
    output_dir: Path = typer.Argument(..., help="Where weights, checkpoints and metrics go."),
    config: Path = typer.Option(
        None,
        "--config",
        "-c",
        help="Settings (sizes, vocabulary, optimiser): a .cfg with a [pretrain_elmo] "
        "section (see configs/pretrain_elmo.cfg) or a .json object.",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT_DIR/checkpoint.pt."),
    max_minutes: float = typer.Option(0.0, "--max-minutes", help="Training time budget (0 = none)."),
    max_steps: int = typer.Option(0, "--max-steps", help="Update budget (0 = none)."),
    epochs: int = typer.Option(
        None,
        "--epochs",
        help="Passes over the texts in all (default 1, or the checkpoint's). With "
        "--resume, a larger number trains on.",
    ),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", help="Steps between checkpoints."),
    threads: int = typer.Option(
        1,
        "--threads",
        help="torch CPU threads (0 = torch's default). One is the default: on a "
        "busy machine, OpenMP threads waiting on each other made a step ~10-40x slower.",
    ),
    lang: str = typer.Option("en", "--lang", help="spaCy language of the tokenizer for raw text."),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to train on (-1 = the CPU)."),
):
    """Pretrain the ELMo encoder as a forward and a backward language model.

    Trains on the CPU, or on a GPU with --gpu-id. Writes OUTPUT_DIR/elmo.pt
    (CPU tensors, also after GPU training), to load with `weights = "OUTPUT_DIR"` in a
    spacy_ctx.ELMoEncoder.v1 block (OUTPUT_DIR/config.json has the block).
    """
    import torch

    from ..pretraining.elmo import pretrain, read_pretrain_config, training_device

    if threads:
        torch.set_num_threads(threads)
    with user_errors():
        device = training_device(gpu_id, "--gpu-id")
        # Without --config: the defaults, or on --resume the checkpoint's.
        settings = read_pretrain_config(config) if config is not None else None
        metrics = pretrain(
            texts,
            output_dir,
            settings,
            resume=resume,
            epochs=epochs,
            max_steps=max_steps,
            max_minutes=max_minutes,
            checkpoint_every=checkpoint_every,
            lang=lang,
            device=device,
            log=msg.info,
        )
    before, after = metrics["perplexity_before"], metrics["perplexity_after"]
    msg.good(
        f"Held-out perplexity forward {before['forward']:.1f} -> {after['forward']:.1f}, "
        f"backward {before['backward']:.1f} -> {after['backward']:.1f} "
        f"({metrics['steps']} steps, {metrics['tokens_trained']} tokens, "
        f"{metrics['train_seconds']:.0f}s training)"
    )
    msg.info(f"Weights: {output_dir / 'elmo.pt'}")
