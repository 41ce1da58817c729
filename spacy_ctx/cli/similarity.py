"""`python -m spacy_ctx similarity PIPELINE`: sentence and word similarity, per layer."""
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from ..analysis.report import similarity_markdown, write_similarity_outputs
from ..analysis.similarity import similarity_corpus
from ..errors import Errors, SpacyCtxError
from ..pipeline.loading import load_pipeline
from ._app import app
from ._util import user_errors


@app.command("similarity")
def similarity_cli(
    pipeline: str = typer.Argument(..., help="A pipeline directory with ctx_encoder, or 'default' for the bundled MiniLM."),
    stsb: Optional[Path] = typer.Option(None, "--stsb", help="STS Benchmark file to score, e.g. sts-dev.csv (7 tab-separated columns).", exists=True, dir_okay=False),
    fit_path: Optional[Path] = typer.Option(None, "--fit-data", help="Texts to fit the normalizers on: an STS-B .csv (its unique sentences, e.g. sts-train.csv; never the scored file) or a corpus (.txt, .conllu, ...).", exists=True, dir_okay=False),
    fit_limit: Optional[int] = typer.Option(None, "--fit-limit", help="Fit on at most this many texts."),
    corrections: str = typer.Option("center,whiten,abtt", "--corrections", "-c", help="Comma-separated normalizer methods to fit (empty: none)."),
    n_components: Optional[int] = typer.Option(None, "--n-components", "-D", help="Directions removed by abtt (default: width / 100)."),
    wordsim: Optional[Path] = typer.Option(None, "--wordsim", help="Directory of word-similarity files (EN-SIMLEX-999.txt, EN-WS-353-*.txt, EN-MEN-TR-3k.txt, EN-RG-65.txt, EN-MC-30.txt).", exists=True, file_okay=False),
    vectors: List[str] = typer.Option([], "--vectors", help="A vectors table to score on the word sets, as PATH or NAME=PATH (a `distill-static` or `spacy init vectors` output); repeatable."),
    isolation: bool = typer.Option(True, "--isolation/--no-isolation", help="Score the encoder's vectors of each word alone, per layer."),
    output_dir: Optional[Path] = typer.Option(None, "--output", "-o", help="Directory for similarity.json, similarity.md and similarity.png."),
    encoder_name: Optional[str] = typer.Option(None, "--encoder", help="Name of the ctx_encoder component (default: the first one)."),
):
    """Spearman x 100 of cosine similarity against human scores.

    STS-B (--stsb): per layer and for the scalar mix, the mean token vector,
    the first wordpiece and each fitted normalizer; doc.similarity of the
    pipeline as loaded. Word similarity (--wordsim): the encoder's words in
    isolation per layer, the pipeline's static vectors and every --vectors
    table, with coverage.
    """
    tables = dict(_named(v) for v in vectors)
    methods = [m.strip() for m in corrections.split(",") if m.strip()]
    with user_errors():
        if stsb is None and wordsim is None:  # before the slow pipeline load
            raise SpacyCtxError(Errors.E300)
    nlp = load_pipeline(pipeline)
    with user_errors():
        result = similarity_corpus(
            nlp, stsb_path=stsb, fit_path=fit_path, fit_limit=fit_limit, methods=methods,
            n_components=n_components, wordsim_dir=wordsim, vectors=tables,
            isolation=isolation, encoder_name=encoder_name, progress=True,
        )
    print(similarity_markdown(result))
    if output_dir is not None:
        paths = write_similarity_outputs(result, output_dir)
        msg.good(f"Wrote {', '.join(str(p) for p in paths.values())}")


def _named(spec: str):
    name, sep, path = spec.partition("=")
    return (name, Path(path)) if sep else (Path(spec).name, Path(spec))
