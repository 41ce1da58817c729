"""`python -m spacy_ctx distill-static PIPELINE TEXTS OUTPUT`: static vectors from contextual ones."""
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from ..analysis.static import ATTRS, distill_static, load_normalizer, write_static_vectors
from ..analysis.static_subwords import PIECE_POOLINGS
from ..pipeline.static_vectors import WEIGHTINGS
from ..pipeline.loading import load_pipeline
from ._app import app
from ._util import user_errors


@app.command("distill-static")
def distill_static_cli(
    pipeline: str = typer.Argument(..., help="A pipeline directory with ctx_encoder, or 'default' for the bundled MiniLM."),
    texts: str = typer.Argument(..., help="Text files, comma-separated: .txt (one text per line), .jsonl, .parquet, .conllu, CoNLL NER columns or Raganato .xml."),
    output: Path = typer.Argument(..., help="Directory to write the vectors to, as `spacy init vectors` does (use it as [initialize] vectors)."),
    layer: str = typer.Option("mix", "--layer", "-l", help="'mix' (the sentence mix, what doc.vector reads), 'token' (the token mix, what token.vector reads) or a layer index (negative from the top)."),
    method: str = typer.Option("mean", "--method", "-m", help="mean (of all occurrences) or pca (first principal component of a sample)."),
    normalizer: Optional[str] = typer.Option(None, "--normalizer", help="Correct the vectors first: 'pipeline' (the ctx_encoder's fitted normalizer) or the path of a saved Normalizer."),
    attr: str = typer.Option("LOWER", "--attr", help="What a word type is: " + ", ".join(ATTRS) + " (LOWER for an uncased encoder)."),
    min_count: int = typer.Option(1, "--min-count", help="Keep the types seen at least this often."),
    max_occurrences: int = typer.Option(32, "--max-occurrences", help="Occurrences per type sampled for pca."),
    vocab_size: Optional[int] = typer.Option(None, "--vocab-size", help="Keep at most this many types, the most frequent."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Read at most this many texts."),
    batch_size: int = typer.Option(64, "--batch-size", help="Texts encoded per batch."),
    encoder_name: Optional[str] = typer.Option(None, "--encoder", help="Name of the ctx_encoder component (default: the first one)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the pca sample."),
    subwords: bool = typer.Option(True, "--subwords/--no-subwords", help="Also distil every wordpiece (the default; --no-subwords: the word table alone) (in context, or alone when the texts never show it) and add the ctx_static_vectors component: every word gets a vector, doc.vector a weighted mean."),
    subword_pooling: str = typer.Option("mean", "--subword-pooling", help="Pooling of a wordpiece encoded alone: " + ", ".join(PIECE_POOLINGS) + " ('mean' over [CLS] piece [SEP], as Model2Vec; 'piece': its own position)."),
    weighting: str = typer.Option("zipf", "--weighting", help="Token weights of doc.vector with --subwords: " + ", ".join(WEIGHTINGS) + " (a / (a + p), p from the corpus counts or a Zipf law over the ranks)."),
    sif_a: float = typer.Option(1e-2, "--sif-a", help="The a of the SIF weights (chosen on STS-B train, docs/similarity.md)."),
    pca_dims: Optional[int] = typer.Option(None, "--pca-dims", help="Centre both tables and project them onto this many principal directions."),
):
    """Distil a static vectors table from the encoder's contextual vectors.

    Each word type's vector is the mean of its vectors over TEXTS (Bommasani
    et al. 2020) or their first principal component (Ethayarajh 2019). The
    output is a blank pipeline holding the table, like `spacy init vectors`
    writes, with distill.json beside it. By default (--subwords) it also holds the
    ctx_static_vectors component and its wordpiece table, so that any word
    has a vector and doc.similarity works without the encoder.
    """
    nlp = load_pipeline(pipeline)
    paths = [Path(p.strip()) for p in texts.split(",") if p.strip()]
    with user_errors():
        norm = load_normalizer(nlp, normalizer, encoder_name)
        tables = distill_static(
            nlp, paths, keys=[layer], methods=[method], normalizer=norm, attr=attr, min_count=min_count,
            max_occurrences=max_occurrences, vocab_size=vocab_size, limit=limit, batch_size=batch_size,
            encoder_name=encoder_name, seed=seed, subwords=subwords, subword_pooling=subword_pooling, progress=True,
        )
        (table,) = tables.values()
        write_static_vectors(table, output, lang=nlp.lang, weighting=weighting, sif_a=sif_a, pca_dims=pca_dims)
    msg.good(
        f"{len(table.words)} types x {table.vectors.shape[1]} ({table.key}, {table.method}) from "
        f"{table.settings['n_tokens']} tokens"
        + (f", {table.subwords.settings['n_pieces']} wordpieces" if table.subwords is not None else "")
        + f"; wrote {output}"
    )

