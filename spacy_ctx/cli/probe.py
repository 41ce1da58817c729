"""`python -m spacy_ctx probe PIPELINE TRAIN OUTPUT_DIR`: linear probes per layer."""
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from ..analysis.probing import PROPERTIES
from ..analysis.workflows import probe_corpus, write_probe_outputs
from ..errors import Warnings
from ..pipeline.loading import load_pipeline
from ._app import app
from ._util import user_errors


@app.command("probe")
def probe_cli(
    pipeline: str = typer.Argument(..., help="A pipeline directory with ctx_encoder, or 'default' for the bundled MiniLM."),
    train_path: Path = typer.Argument(..., help="Training data: .spacy, .conllu, CoNLL NER columns (.iob/.conll/.tsv) or Raganato WSD .xml.", exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., help="Directory for probe.json, probe.md and probe.png."),
    dev_path: Optional[Path] = typer.Option(None, "--dev", "-d", help="Test data (same formats). Default: hold out --test-fraction of TRAIN.", exists=True, dir_okay=False),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Share of TRAIN docs held out when no --dev is given."),
    properties: str = typer.Option(",".join(PROPERTIES), "--properties", "-p", help="Comma-separated: " + ", ".join(PROPERTIES) + ". Those without labels in the data are skipped."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Read at most this many TRAIN docs."),
    dev_limit: Optional[int] = typer.Option(None, "--dev-limit", help="Read at most this many --dev docs."),
    max_train: Optional[int] = typer.Option(None, "--max-train", help="Subsample at most this many training items per property."),
    C: float = typer.Option(1.0, "--C", help="Inverse L2 strength of the logistic regression."),
    max_iter: int = typer.Option(200, "--max-iter", help="L-BFGS iterations per probe."),
    encoder_name: Optional[str] = typer.Option(None, "--encoder", help="Name of the ctx_encoder component (default: the first one)."),
    seed: int = typer.Option(0, "--seed"),
):
    """Linear probes on every frozen layer and on the scalar mix.

    One logistic regression per layer and property (UPOS, XPOS, NER BIO tags,
    dependency labels, word senses) that the data carries; writes probe.json,
    probe.md and probe.png to OUTPUT_DIR.
    """
    nlp = load_pipeline(pipeline)
    with user_errors():
        report = probe_corpus(
            nlp, train_path, dev_path=dev_path, test_fraction=test_fraction,
            properties=[p.strip() for p in properties.split(",") if p.strip()],
            limit=limit, dev_limit=dev_limit, max_train=max_train, C=C, max_iter=max_iter,
            encoder_name=encoder_name, seed=seed, progress=True,
        )
    paths = write_probe_outputs(report, output_dir)
    for prop, res in report["properties"].items():
        msg.info(f"{prop}: best {res['best']} ({res['accuracy'][res['best']]:.3f}), mix {res['accuracy'].get('mix', float('nan')):.3f}, baseline {res['baseline']:.3f}")
    if report["skipped"]:
        msg.warn(Warnings.W300.format(names=", ".join(report["skipped"])))
    msg.good(f"Wrote {', '.join(str(p) for p in paths.values())}")
