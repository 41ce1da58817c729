"""`python -m spacy_ctx anisotropy PIPELINE DATA OUTPUT_DIR`: Ethayarajh's measures per layer."""
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from ..analysis.workflows import anisotropy_corpus, check_corrections, write_anisotropy_outputs
from ..pipeline.loading import load_pipeline
from ._app import app
from ._util import user_errors


@app.command("anisotropy")
def anisotropy_cli(
    pipeline: str = typer.Argument(..., help="A pipeline directory with ctx_encoder, or 'default' for the bundled MiniLM."),
    data_path: Path = typer.Argument(..., help="Data: .spacy, .conllu, CoNLL NER columns, Raganato WSD .xml (adds the polysemy AUC) or .txt.", exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(..., help="Directory for anisotropy.json, anisotropy.md and anisotropy.png."),
    corrections: str = typer.Option("none", "--corrections", "-c", help="Comma-separated: none, center, whiten, abtt, pipeline (the normalizer saved with the ctx_encoder)."),
    fit_path: Optional[Path] = typer.Option(None, "--fit-data", help="Corpus to fit the corrections on (default: DATA itself).", exists=True, dir_okay=False),
    limit: Optional[int] = typer.Option(None, "--limit", help="Read at most this many DATA docs."),
    fit_limit: Optional[int] = typer.Option(None, "--fit-limit", help="Read at most this many --fit-data docs."),
    n_components: Optional[int] = typer.Option(None, "--n-components", "-D", help="Directions removed by abtt (default: width / 100)."),
    skip_below: Optional[float] = typer.Option(None, "--skip-below", help="Corrections leave a layer as it is when its random-pair cosine on the fit data is <= this."),
    n_pairs: int = typer.Option(10000, "--n-pairs", help="Random token pairs for the baseline cosine."),
    min_count: int = typer.Option(5, "--min-count", help="Contexts a word type needs for self-similarity."),
    encoder_name: Optional[str] = typer.Option(None, "--encoder", help="Name of the ctx_encoder component (default: the first one)."),
    seed: int = typer.Option(0, "--seed"),
):
    """Ethayarajh's anisotropy measures per layer, raw and corrected.

    Random-pair cosine, self-similarity, intra-sentence similarity and their
    anisotropy-adjusted versions, plus the polysemy AUC when DATA has senses;
    writes anisotropy.json, anisotropy.md and anisotropy.png to OUTPUT_DIR.
    """
    names = [c.strip() for c in corrections.split(",") if c.strip()]
    with user_errors():
        check_corrections(names)  # before the slow pipeline load
    nlp = load_pipeline(pipeline)
    with user_errors():
        result = anisotropy_corpus(
            nlp, data_path,
            corrections=names,
            fit_path=fit_path, limit=limit, fit_limit=fit_limit, n_components=n_components, skip_below=skip_below,
            n_pairs=n_pairs, min_count=min_count, encoder_name=encoder_name, seed=seed, progress=True,
        )
    paths = write_anisotropy_outputs(result, output_dir)
    for name, rows in result["anisotropy"].items():
        worst = max(v["random_pair_cosine"] for v in rows.values())
        msg.info(f"{name}: highest random-pair cosine over layers {worst:.3f}")
    msg.good(f"Wrote {', '.join(str(p) for p in paths.values())}")
