"""A distilled table as a blank spaCy pipeline, in memory (`write_static_vectors` saves it).

The vocab holds the word table, keyed by ORTH as `spacy init vectors` keys
it (spaCy 3.8 saves a table's key attribute only for floret vectors): each
type string and every surface form seen of it ("bank", "Bank", "BANK") is a
key of the type's row. With a wordpiece table the pipeline also gets the
`ctx_static_vectors` component, so every word has a vector and doc vectors
are weighted means. With `pca_dims` both tables are centred and projected
onto the top principal directions of their rows, stacked; the projection is
kept in `pca.npz`-ready arrays on the returned info.
"""
from typing import Dict, Optional, Tuple

import numpy
from spacy.language import Language

from ..pipeline.static_vectors import StaticSubwordVectors
from .static_subwords import fit_pca, project


def static_pipeline(
    table, *, lang: str = "en", name: Optional[str] = None, weighting: str = "zipf",
    sif_a: float = 1e-2, pca_dims: Optional[int] = None,
) -> Tuple[Language, Dict]:
    """A blank `lang` pipeline holding `table` (a `static.StaticTable`): its
    vectors in the vocab and, when it carries a wordpiece table, the
    ctx_static_vectors component. Returns (nlp, info), info holding the
    PCA ({"mean", "components"}, or {} without one)."""
    import spacy
    from spacy.vectors import Vectors

    words, pieces = table.vectors, table.subwords.vectors if table.subwords is not None else None
    pca: Dict = {}
    if pca_dims:
        blocks = [words] if pieces is None else [words, pieces]
        mean, components = fit_pca(blocks, pca_dims)
        pca = {"mean": mean, "components": components}
        words = project(words, mean, components)
        pieces = None if pieces is None else project(pieces, mean, components)
    nlp = spacy.blank(lang)
    for word in list(table.words) + list(table.forms):
        nlp.vocab[word]  # the lexeme and its strings, as `spacy init vectors` adds them
    vectors = Vectors(strings=nlp.vocab.strings, data=numpy.ascontiguousarray(words), keys=table.words)
    for form, row in table.forms.items():
        vectors.add(form, row=row)
    nlp.vocab.vectors = vectors
    nlp.vocab.vectors.name = name or f"spacy_ctx_{table.key}_{table.method}"
    nlp.meta["name"] = nlp.vocab.vectors.name
    nlp.meta["vectors"]["name"] = nlp.vocab.vectors.name
    if pieces is not None:
        # Importing the component's module registered the factory (the entry
        # point does the same for spacy.load).
        component: StaticSubwordVectors = nlp.add_pipe("ctx_static_vectors", config={"weighting": weighting, "sif_a": sif_a})
        component.set_tables(
            pieces, table.subwords.tokenizer_json, table.counts, piece_counts=table.subwords.counts,
            info={"key": table.key, "pca_dims": pca_dims, **table.subwords.settings},
        )
    return nlp, pca
