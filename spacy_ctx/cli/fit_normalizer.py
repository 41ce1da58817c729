"""`python -m spacy_ctx fit-normalizer PIPELINE DATA OUTPUT`: correct the anisotropy."""
from pathlib import Path
from typing import Optional

import typer
from spacy.cli._util import parse_config_overrides
from wasabi import msg

from ..analysis.workflows import fit_normalizer_corpus
from ..normalizer import METHODS
from ..pipeline.loading import load_pipeline
from ._app import app
from ._util import user_errors


@app.command("fit-normalizer", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def fit_normalizer_cli(
    ctx: typer.Context,
    pipeline: str = typer.Argument(..., help="A pipeline directory with ctx_encoder, or 'default' for the bundled MiniLM."),
    data_path: Path = typer.Argument(..., help="Corpus to fit on: .txt (one doc per line), .spacy, .conllu, CoNLL NER columns or Raganato .xml.", exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., help="Directory to save the pipeline to, normalizer included."),
    method: str = typer.Option("abtt", "--method", "-m", help="One of: " + ", ".join(METHODS) + "."),
    n_components: Optional[int] = typer.Option(None, "--n-components", "-D", help="Directions removed by abtt (default: width / 100)."),
    eps: float = typer.Option(0.1, "--eps", help="Shrinkage for whiten, relative to the largest eigenvalue."),
    skip_below: Optional[float] = typer.Option(None, "--skip-below", help="Leave a layer as it is when its random-pair cosine is already <= this (e.g. 0.05)."),
    mix_only: bool = typer.Option(False, "--mix-only", help="Fit only the scalar mix (what doc.vector and doc.similarity use), not every layer."),
    enable: bool = typer.Option(True, "--enable/--disable", help="Switch the corrected space on (components.<encoder>.normalize)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Read at most this many docs."),
    encoder_name: Optional[str] = typer.Option(None, "--encoder", help="Name of the ctx_encoder component (default: the first one)."),
):
    """Fit an anisotropy correction and save it with the ctx_encoder.

    Mean-centering, whitening or all-but-the-top, fitted on DATA. Once
    enabled, doc.tensor and the vectors and .similarity() of docs and spans
    of the pipeline saved to OUTPUT use the corrected space (token vectors
    read the token mix, which stays raw). Config overrides as `spacy train`
    takes them change the pipeline first and are saved with it, e.g.
    `--components.ctx_encoder.mix.layers null` (an inference mix of every
    layer instead of the default top layer).
    """
    with user_errors():
        nlp = load_pipeline(pipeline, overrides=parse_config_overrides(ctx.args))
        norm = fit_normalizer_corpus(
            nlp, data_path, method, n_components=n_components, eps=eps, skip_below=skip_below, mix_only=mix_only,
            enable=enable, limit=limit, encoder_name=encoder_name, progress=True,
        )
    nlp.to_disk(output_path)
    state = "enabled" if enable else "saved, disabled"
    kept = f"; left as they are (already isotropic): {', '.join(norm.kept_raw)}" if norm.kept_raw else ""
    msg.good(f"Fitted '{method}' on {', '.join(norm.keys)} ({state}){kept}; saved the pipeline to {output_path}")
