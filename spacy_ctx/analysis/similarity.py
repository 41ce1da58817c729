"""How well cosine similarity of spacy-ctx vectors agrees with people.

Two benchmarks, each scored as Spearman's rho x 100 between the gold scores
and the cosine of two vectors (the files are read by `spacy_ctx.corpora`):

- Sentence similarity on the STS Benchmark. Rows, per layer and for the
  uncorrected scalar mix: the mean of the token vectors (what `doc.vector`
  is), the first wordpiece ([CLS]), and the mean under each fitted
  normalizer; then `doc.similarity` of the pipeline as it is loaded.
- Word similarity on SimLex-999, WS-353 (all / sim / rel), MEN, RG-65 and
  MC-30. Rows: the encoder's vectors of each word in isolation (the word
  alone as a one-word doc, per layer), and any spaCy vectors table (e.g.
  written by `distill-static`). Each row scores the pairs it covers;
  "shared" scores only the pairs every row covers, so rows with different
  coverage compare like for like.

`similarity_corpus` runs both; `analysis.report.write_similarity_outputs`
writes similarity.json, similarity.md and similarity.png. The `similarity`
command is a thin shell over them.
"""
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab

from ..compat import require
from ..corpora import read_docs
from ..evaluation_sets import ScoredPair, find_wordsim_sets, read_sts, read_word_pairs
from ..errors import Errors, SpacyCtxError
from ..models.transformer import find_hf_shim
from ..normalizer import METHODS, Normalizer
from ..pipeline.encoder import CtxEncoder
from ..pipeline.loading import find_encoder
from ..util import layer_key
from .features import LayerFeatures, encode_docs
from .static import load_vectors_vocab, table_info

PathLike = Union[str, Path]
MEAN_ROW = "mean"
FIRST_ROW = "first wordpiece"


# Scoring


def spearman(gold: Sequence[float], predicted: Sequence[float]) -> float:
    """Spearman's rho x 100 (ties get their average rank); nan for fewer than
    two pairs or a constant side."""
    spearmanr = require("scipy.stats", "analysis", "Spearman's rho (similarity)").spearmanr
    gold = numpy.asarray(gold, dtype="float64")
    predicted = numpy.asarray(predicted, dtype="float64")
    if len(gold) < 2 or numpy.ptp(gold) == 0 or numpy.ptp(predicted) == 0:
        return float("nan")
    return float(100 * spearmanr(gold, predicted)[0])


def row_cosines(A: numpy.ndarray, B: numpy.ndarray) -> numpy.ndarray:
    """Cosine of each row of A with the same row of B ([n, width] each);
    0.0 where either row is all zeros, as `doc.similarity` gives."""
    A = numpy.asarray(A, dtype="float64")
    B = numpy.asarray(B, dtype="float64")
    norms = numpy.linalg.norm(A, axis=1) * numpy.linalg.norm(B, axis=1)
    dots = numpy.einsum("ij,ij->i", A, B)
    return numpy.divide(dots, norms, out=numpy.zeros_like(dots), where=norms > 0)


# Sentence vectors


def doc_means(X: numpy.ndarray, offsets: numpy.ndarray) -> numpy.ndarray:
    """The mean row of each doc: [n_tokens, width] -> [n_docs, width]
    (zeros for a doc without tokens), as `doc.vector` takes it."""
    # Cumulative sums in float64: a difference of two float32 running sums
    # over a long corpus would lose digits.
    cum = numpy.zeros((X.shape[0] + 1, X.shape[1]), dtype="float64")
    numpy.cumsum(X, axis=0, dtype="float64", out=cum[1:])
    lengths = numpy.diff(offsets).astype("float64")
    sums = cum[offsets[1:]] - cum[offsets[:-1]]
    return (sums / numpy.maximum(lengths, 1.0)[:, None]).astype("float32")


def first_wordpiece_vectors(
    encoder: CtxEncoder, texts: Sequence[str], *, batch_size: int = 32
) -> Optional[numpy.ndarray]:
    """Every layer's hidden state of the first wordpiece ([CLS], <s>) of each
    text: [n_layers, n_texts, width]. None for an encoder without one (ELMo).

    The ctx_encoder pools wordpieces into spaCy tokens by character offsets,
    and a special token covers no character, so [CLS] never reaches a token.
    It is read here from the encoder's own tokenizer and transformer (the
    weights the pipeline holds, fine-tuned or not), one text per sequence
    with the model's special tokens; a text longer than the model's maximum
    is truncated, so its [CLS] has seen only the first window.
    """
    encoder.load_model()
    shim = find_hf_shim(encoder.model)
    if shim is None:
        return None
    import torch

    transformer = shim.encoder.transformer
    device = next(transformer.parameters()).device
    out = numpy.zeros((encoder.n_layers, len(texts), encoder.width), dtype="float32")
    was_training = transformer.training
    transformer.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                batch = shim.tokenizer(
                    list(texts[start : start + batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=shim.planner.max_window + shim.planner.n_special,
                    return_tensors="pt",
                ).to(device)
                hidden = transformer(**batch, output_hidden_states=True).hidden_states
                # n_layers x [batch, seq_len, width] -> [n_layers, batch, width]
                first = torch.stack([h[:, 0] for h in hidden])
                out[:, start : start + first.shape[1]] = first.float().cpu().numpy()
    finally:
        transformer.train(was_training)
    return out


# STS-B


def encode_fit_data(
    nlp: Language,
    path: PathLike,
    *,
    limit: Optional[int] = None,
    encoder_name: Optional[str] = None,
    progress: bool = False,
) -> LayerFeatures:
    """Every layer's token vectors of the texts the normalizers are fitted
    on: the unique sentences of an STS-B .csv, or a corpus `read_docs` reads."""
    encoder = find_encoder(nlp, encoder_name)
    path = Path(path)
    if path.suffix.lower() == ".csv":
        texts = _unique(t for pair in read_sts(path) for t in pair[:2])[:limit]
        docs = [nlp.make_doc(text) for text in texts]
    else:
        docs = read_docs(path, nlp, limit=limit)
    return encode_docs(encoder, docs, progress=progress, desc="Encoding fit data")


def sts_benchmark(
    nlp: Language,
    pairs: Sequence[ScoredPair],
    *,
    fit_features: Optional[LayerFeatures] = None,
    methods: Sequence[str] = METHODS,
    n_components: Optional[int] = None,
    encoder_name: Optional[str] = None,
    batch_size: int = 64,
    progress: bool = False,
) -> Dict:
    """Spearman x 100 of every sentence representation on `pairs`.

    Returns {"keys", "rows": {row: {key: score}}, "pipeline", "notes"}.
    Rows: "mean" (the mean token vector of a layer or the uncorrected mix),
    "first wordpiece", and one per normalizer method, fitted on
    `fit_features` (skipped without them). "pipeline" is `doc.similarity`
    of the two docs as `nlp` makes them: its mix, and its own normalizer
    when it has one switched on.
    """
    encoder = find_encoder(nlp, encoder_name)
    texts = _unique(t for pair in pairs for t in pair[:2])
    index = {text: i for i, text in enumerate(texts)}
    a = numpy.asarray([index[p.a] for p in pairs])
    b = numpy.asarray([index[p.b] for p in pairs])
    gold = [p.gold for p in pairs]

    def score(V: numpy.ndarray) -> float:
        return _rounded(spearman(gold, row_cosines(V[a], V[b])))

    docs = _pipe(nlp, texts, batch_size, progress)
    pipeline_score = score(numpy.stack([_doc_vector(doc) for doc in docs]))
    features = _features_of(nlp, encoder, docs)
    if features is None:
        features = encode_docs(encoder, docs, progress=progress)
    keys = features.keys
    means = {key: doc_means(features.get(key), features.offsets) for key in keys}
    rows = {MEAN_ROW: {key: score(V) for key, V in means.items()}}
    notes = []
    first = first_wordpiece_vectors(encoder, texts)
    if first is None:
        notes.append(f"{FIRST_ROW}: skipped, the encoder has no special first token")
    else:
        rows[FIRST_ROW] = {layer_key(i): score(first[i]) for i in range(len(first))}
    if fit_features is not None:
        for method in methods:
            norm = Normalizer(method, n_components=n_components).fit(fit_features.as_dict(keys))
            # The corrections are affine, so correcting each token and then
            # averaging equals correcting the mean: what doc.similarity does
            # with the normalizer switched on.
            rows[method] = {key: score(norm.transform(V, key)) for key, V in means.items()}
    elif methods:
        notes.append("normalizers: skipped, no fit data given")
    return {
        "n_pairs": len(pairs),
        "n_sentences": len(texts),
        "keys": keys,
        "rows": rows,
        "pipeline": {
            "score": pipeline_score,
            "mix_layers": list(encoder.mix.attrs["layers"]),
            "normalizer": _normalizer_name(encoder),
        },
        "notes": notes,
    }


def _pipe(nlp: Language, texts: Sequence[str], batch_size: int, progress: bool) -> List[Doc]:
    from tqdm import tqdm

    docs = nlp.pipe(texts, batch_size=batch_size)
    return list(tqdm(docs, total=len(texts), desc="Running the pipeline", unit="doc", disable=not progress, leave=False))


def _doc_vector(doc: Doc) -> numpy.ndarray:
    # doc.vector through the pipeline's hooks: what doc.similarity compares.
    return numpy.asarray(doc.vector, dtype="float32")


def _features_of(nlp: Language, encoder: CtxEncoder, docs: Sequence[Doc]) -> Optional[LayerFeatures]:
    """LayerFeatures from the layers the pipeline stored on the docs, when it
    stored every layer (then nothing is encoded twice); else None."""
    # The docs keep the layers of the last ctx_encoder that ran: another
    # encoder's, when --encoder names an earlier one.
    last = [pipe for _, pipe in nlp.pipeline if isinstance(pipe, CtxEncoder)][-1]
    every = list(range(encoder.n_layers))
    if not docs or last is not encoder or any(doc._.ctx_layer_ids != every for doc in docs):
        return None
    layers = [numpy.asarray(doc._.ctx_layers, dtype="float32") for doc in docs]
    ops = encoder.mix.ops
    mixed = encoder.mix.predict([ops.asarray(X) for X in layers])  # uncorrected
    offsets = numpy.concatenate([[0], numpy.cumsum([len(doc) for doc in docs])]).astype("int64")
    return LayerFeatures(
        layers=numpy.concatenate(layers, axis=1),
        mix=numpy.concatenate([ops.to_numpy(m) for m in mixed]).astype("float32"),
        offsets=offsets,
    )


def _normalizer_name(encoder: CtxEncoder) -> Optional[str]:
    norm = encoder.normalizer
    if norm is None or not encoder.cfg.get("normalize"):
        return None
    extra = f", n_components={norm.n_components}" if norm.method == "abtt" else ""
    return f"{norm.method}{extra}"


def _rounded(value: float) -> Optional[float]:
    # JSON has no nan: an undefined correlation is None ("-" in the tables).
    return None if value != value else round(value, 2)


def _unique(texts) -> List[str]:
    return list(dict.fromkeys(texts))


# Word similarity

Lookup = Callable[[str], Optional[numpy.ndarray]]


def vocab_lookup(vocab: Vocab) -> Lookup:
    """A word's vector from a vocab's table (by the table's key attribute),
    or None when the table has no row for it."""

    def lookup(word: str) -> Optional[numpy.ndarray]:
        if not vocab.has_vector(word):
            return None
        vector = vocab.get_vector(word)
        # spaCy keeps a table on the current ops' device: cupy on a GPU.
        return numpy.asarray(vector.get() if hasattr(vector, "get") else vector)

    return lookup


def isolation_vectors(
    encoder: CtxEncoder, words: Sequence[str], *, make_doc: Callable[[str], Doc], batch_size: int = 256
) -> Dict[str, Dict[str, numpy.ndarray]]:
    """{key: {word: vector}}: each word alone as a one-word doc through the
    encoder ([CLS] word [SEP] for BERT), every layer and the uncorrected mix,
    each the mean over the word's spaCy tokens of the encoder's pooled
    wordpieces. Layer 0 is then the embedding layer's output (wordpiece +
    position + segment embeddings, layer-normed) averaged over the word's
    wordpieces."""
    docs = [make_doc(word) for word in words]
    features = encode_docs(encoder, docs, batch_size=batch_size)
    out = {}
    for key in features.keys:
        means = doc_means(features.get(key), features.offsets)
        out[key] = {w: v for w, v, doc in zip(words, means, docs) if len(doc)}
    return out


def word_similarity(
    lookups: Mapping[str, Lookup], datasets: Mapping[str, Sequence[ScoredPair]]
) -> Dict:
    """Spearman x 100 of each lookup on each dataset, over the pairs whose two
    words it has vectors for ("spearman", with "n" pairs and "coverage"), and
    over the pairs every lookup covers ("shared")."""
    covered: Dict[str, Dict[str, numpy.ndarray]] = {}
    cosines: Dict[str, Dict[str, numpy.ndarray]] = {}
    for row, lookup in lookups.items():
        covered[row], cosines[row] = {}, {}
        for name, pairs in datasets.items():
            cos = numpy.full(len(pairs), numpy.nan)
            for i, (a, b, _) in enumerate(pairs):
                va, vb = lookup(a), lookup(b)
                # A missing or all-zero vector leaves the pair uncovered.
                if va is not None and vb is not None and numpy.any(va) and numpy.any(vb):
                    cos[i] = row_cosines(va[None], vb[None])[0]
            covered[row][name], cosines[row][name] = ~numpy.isnan(cos), cos
    shared = {name: numpy.ones(len(pairs), dtype=bool) for name, pairs in datasets.items()}
    for row in lookups:
        for name in datasets:
            shared[name] &= covered[row][name]
    table: Dict[str, Dict[str, Dict]] = {}
    for row in lookups:
        table[row] = {}
        for name, pairs in datasets.items():
            gold = numpy.asarray([p.gold for p in pairs])
            ok, cos, both = covered[row][name], cosines[row][name], shared[name]
            table[row][name] = {
                "spearman": _rounded(spearman(gold[ok], cos[ok])),
                "n": int(ok.sum()),
                "coverage": round(float(ok.mean()), 4) if len(pairs) else 0.0,
                "shared": _rounded(spearman(gold[both], cos[both])),
            }
    return {
        "datasets": {name: len(pairs) for name, pairs in datasets.items()},
        "n_shared": {name: int(mask.sum()) for name, mask in shared.items()},
        "rows": table,
    }


# End to end


def similarity_corpus(
    nlp: Language,
    *,
    stsb_path: Optional[PathLike] = None,
    fit_path: Optional[PathLike] = None,
    fit_limit: Optional[int] = None,
    fit_features: Optional[LayerFeatures] = None,
    sts_limit: Optional[int] = None,
    methods: Sequence[str] = METHODS,
    n_components: Optional[int] = None,
    wordsim_dir: Optional[PathLike] = None,
    vectors: Optional[Mapping[str, PathLike]] = None,
    isolation: bool = True,
    encoder_name: Optional[str] = None,
    progress: bool = False,
) -> Dict:
    """Score the pipeline on STS-B (`stsb_path`, normalizers fitted on
    `fit_path` or given `fit_features`) and/or the word-similarity sets in
    `wordsim_dir`: the encoder's words in isolation, the pipeline's own
    static vectors if it has any, and the tables in `vectors` ({row name:
    path}). At least one benchmark must be given."""
    if stsb_path is None and wordsim_dir is None:
        raise SpacyCtxError(Errors.E300)
    for method in methods:
        Normalizer(method)  # an unknown method fails before any encoding
    encoder = find_encoder(nlp, encoder_name)
    result: Dict = {"sts": None, "words": None, "settings": {
        "stsb": str(stsb_path) if stsb_path else None,
        "fit_data": str(fit_path) if fit_path else ("given" if fit_features is not None else None),
        "fit_limit": fit_limit,
        "methods": list(methods),
        "n_components": n_components,
        "wordsim": str(wordsim_dir) if wordsim_dir else None,
        "vectors": {name: str(path) for name, path in (vectors or {}).items()},
    }}
    if stsb_path is not None:
        if fit_features is None and fit_path is not None:
            fit_features = encode_fit_data(nlp, fit_path, limit=fit_limit, encoder_name=encoder_name, progress=progress)
        result["sts"] = sts_benchmark(
            nlp, read_sts(stsb_path, sts_limit), fit_features=fit_features, methods=methods,
            n_components=n_components, encoder_name=encoder_name, progress=progress,
        )
        if fit_features is not None:
            result["sts"]["n_fit_tokens"] = fit_features.n_tokens
    if wordsim_dir is not None:
        datasets = {name: read_word_pairs(path) for name, path in find_wordsim_sets(wordsim_dir).items()}
        lookups: Dict[str, Lookup] = {}
        info: Dict[str, Dict] = {}
        if isolation:
            words = _unique(w for pairs in datasets.values() for p in pairs for w in p[:2])
            for key, table in isolation_vectors(encoder, words, make_doc=nlp.make_doc).items():
                lookups[f"isolation {key}"] = table.get
                info[f"isolation {key}"] = {"kind": "isolation", "key": key}
        if nlp.vocab.vectors.shape[0]:
            lookups["pipeline static vectors"] = vocab_lookup(nlp.vocab)
            info["pipeline static vectors"] = {"kind": "vectors"}
        for name, path in (vectors or {}).items():
            lookups[name] = vocab_lookup(load_vectors_vocab(path, nlp.lang))
            info[name] = {"kind": "vectors", **table_info(path)}
        result["words"] = word_similarity(lookups, datasets)
        result["words"]["row_info"] = info
    return result
