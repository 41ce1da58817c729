"""Wordpiece-level static vectors, so that every word has a vector.

One row per wordpiece of the encoder's vocabulary (rows by tokenizer id):

- in context: the mean of the wordpiece's hidden states (one layer, or the
  encoder's scalar mix) over every occurrence in the texts, special tokens
  left out. Each text is one sequence with the model's special tokens; a
  text longer than the model's maximum continues in further sequences, so
  every wordpiece counts (with less context at the cuts).
- alone, for the wordpieces the texts never showed: the piece encoded on
  its own as `[CLS] piece [SEP]`, pooled ("mean" over the three positions,
  as Model2Vec does, or "piece": the piece's own position).

A word outside the word table then gets the mean of its wordpieces' rows
(`pipeline.static_vectors`). `fit_pca` / `project` give the optional PCA,
fitted on the word and wordpiece rows together so both stay in one space.
"""
from dataclasses import dataclass, field
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy
from spacy.util import minibatch

from ..errors import Errors, SpacyCtxError
from ..models.transformer import find_hf_shim
from ..pipeline.encoder import CtxEncoder
from ..util import MIX_KEY, TOKEN_MIX_KEY

PIECE_POOLINGS = ("mean", "piece")


@dataclass
class SubwordTable:
    """vectors[i] ([n_wordpieces, width]) is the row of wordpiece id i;
    counts[i] its occurrences in context (0: distilled from the model alone);
    `tokenizer_json` the fast tokenizer that maps words to those ids."""

    vectors: numpy.ndarray
    counts: numpy.ndarray
    key: str
    tokenizer_json: str
    settings: Dict = field(default_factory=dict)


def _shim(encoder: CtxEncoder):
    encoder.load_model()
    shim = find_hf_shim(encoder.model)
    if shim is None:
        raise SpacyCtxError(Errors.E311.format(name=encoder.name))
    return shim


def _select(encoder: CtxEncoder, hidden, keys: Sequence[str], mask, normalizer=None) -> Dict[str, numpy.ndarray]:
    """{key: [n_kept, width]}: the hidden states (a tuple of n_layers
    [batch, seq_len, width] tensors) at the positions `mask` keeps, per layer
    key, and the encoder's (uncorrected) mixes for "mix" and "token_mix"; corrected
    by `normalizer` when one is given."""
    out = {}
    mixes = {key: mix for key, mix in ((MIX_KEY, encoder.mix), (TOKEN_MIX_KEY, encoder.token_mix)) if key in keys}
    for key in keys:
        if key not in mixes:
            out[key] = hidden[int(key[5:])][mask].float().cpu().numpy()
    if mixes:
        stacked = numpy.stack([h[mask].float().cpu().numpy() for h in hidden])  # [n_layers, n_kept, width]
        for key, mix in mixes.items():
            # The kept wordpieces of the batch count as one doc for the mix.
            out[key] = mix.ops.to_numpy(mix.predict([mix.ops.asarray(stacked)])[0]).astype("float32")
    if normalizer is not None:
        out = {key: normalizer.transform(X, key) for key, X in out.items()}
    return out


def wordpiece_sums(
    encoder: CtxEncoder, texts: Iterable[str], keys: Sequence[str], *, batch_size: int = 64,
    normalizer=None, bar=None,
) -> Tuple[Dict[str, numpy.ndarray], numpy.ndarray]:
    """In-context sums ({key: [n_wordpieces, width]} float64) and counts
    ([n_wordpieces]) of every wordpiece's hidden states over `texts`."""
    import torch

    shim = _shim(encoder)
    tokenizer, transformer = shim.tokenizer, shim.encoder.transformer
    n_pieces = len(tokenizer)
    max_length = shim.planner.max_window + shim.planner.n_special
    sums = {key: torch.zeros((n_pieces, encoder.width), dtype=torch.float64) for key in keys}
    counts = torch.zeros(n_pieces, dtype=torch.int64)
    device = next(transformer.parameters()).device
    was_training = transformer.training
    transformer.eval()
    try:
        with torch.no_grad():
            for batch in _length_sorted(texts, batch_size):
                # A text longer than the model's maximum continues in further
                # rows (overflowing tokens), so no wordpiece is left out.
                enc = tokenizer(
                    list(batch), padding=True, truncation=True, max_length=max_length,
                    return_overflowing_tokens=True, return_special_tokens_mask=True, return_tensors="pt",
                )
                enc.pop("overflow_to_sample_mapping", None)
                special = enc.pop("special_tokens_mask").bool()
                enc = enc.to(device)
                hidden = transformer(**enc, output_hidden_states=True).hidden_states
                keep = enc["attention_mask"].bool().cpu() & ~special  # [batch, seq_len]
                ids = enc["input_ids"].cpu()[keep]  # [n_kept]
                counts.index_add_(0, ids, torch.ones_like(ids))
                for key, X in _select(encoder, hidden, keys, keep.to(device), normalizer).items():
                    sums[key].index_add_(0, ids, torch.from_numpy(X).double())
                if bar is not None:
                    bar.update(len(batch))
    finally:
        transformer.train(was_training)
    return {key: s.numpy() for key, s in sums.items()}, counts.numpy()


def _length_sorted(texts: Iterable[str], batch_size: int, window: int = 16) -> Iterable[Sequence[str]]:
    """Batches of texts, sorted by length within runs of `window` batches so
    that little of each padded batch is padding."""
    for run in minibatch(texts, batch_size * window):
        run = sorted(run, key=len)
        yield from minibatch(run, batch_size)


def isolated_wordpieces(
    encoder: CtxEncoder, keys: Sequence[str], *, pooling: str = "mean",
    ids: Optional[Sequence[int]] = None, batch_size: int = 512, normalizer=None,
) -> Dict[str, numpy.ndarray]:
    """{key: [len(ids), width]}: each wordpiece id (default: the whole
    vocabulary) encoded alone as `[CLS] piece [SEP]`, pooled by `pooling`."""
    import torch

    if pooling not in PIECE_POOLINGS:
        raise SpacyCtxError(Errors.E004.format(pooling=pooling, options=", ".join(PIECE_POOLINGS)))
    shim = _shim(encoder)
    tokenizer, transformer = shim.tokenizer, shim.encoder.transformer
    ids = numpy.arange(len(tokenizer)) if ids is None else numpy.asarray(ids, dtype="int64")
    prefix, suffix = shim.planner.prefix, shim.planner.suffix
    n_prefix = len(prefix)
    out = {key: numpy.zeros((len(ids), encoder.width), dtype="float32") for key in keys}
    device = next(transformer.parameters()).device
    was_training = transformer.training
    transformer.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(ids), batch_size):
                chunk = ids[start : start + batch_size]
                # [batch, n_prefix + 1 + n_suffix]: every sequence is one piece.
                seq = numpy.concatenate(
                    [numpy.tile(prefix, (len(chunk), 1)), chunk[:, None], numpy.tile(suffix, (len(chunk), 1))], axis=1
                ).astype("int64")
                input_ids = torch.as_tensor(seq, device=device)
                hidden = transformer(
                    input_ids=input_ids, attention_mask=torch.ones_like(input_ids), output_hidden_states=True
                ).hidden_states
                if pooling == "piece":
                    hidden = tuple(h[:, n_prefix : n_prefix + 1] for h in hidden)
                # The mean over the kept positions: one row per sequence.
                hidden = tuple(h.mean(dim=1, keepdim=True) for h in hidden)  # [batch, 1, width] each
                mask = torch.ones((len(chunk), 1), dtype=torch.bool, device=device)
                for key, X in _select(encoder, hidden, keys, mask, normalizer).items():
                    out[key][start : start + len(chunk)] = X
    finally:
        transformer.train(was_training)
    return out


def distill_subwords(
    encoder: CtxEncoder, texts: Iterable[str], keys: Sequence[str], *,
    pooling: str = "mean", batch_size: int = 64, isolated_batch_size: int = 512, normalizer=None, bar=None,
) -> Dict[str, SubwordTable]:
    """One SubwordTable per key: the in-context mean of each wordpiece seen
    in `texts`, and the piece alone (`isolated_wordpieces`) for the others;
    every vector corrected by `normalizer` first, as the word table's are."""
    sums, counts = wordpiece_sums(encoder, texts, keys, batch_size=batch_size, normalizer=normalizer, bar=bar)
    unseen = numpy.flatnonzero(counts == 0)
    alone = isolated_wordpieces(
        encoder, keys, pooling=pooling, ids=unseen, batch_size=isolated_batch_size, normalizer=normalizer
    )
    tokenizer_json = _shim(encoder).tokenizer.backend_tokenizer.to_str()
    tables = {}
    for key in keys:
        vectors = (sums[key] / numpy.maximum(counts, 1)[:, None]).astype("float32")
        vectors[unseen] = alone[key]
        tables[key] = SubwordTable(
            vectors=vectors, counts=counts, key=key, tokenizer_json=tokenizer_json,
            settings={"isolated_pooling": pooling, "n_pieces": len(counts), "n_pieces_in_context": int((counts > 0).sum())},
        )
    return tables


def fit_pca(blocks: Sequence[numpy.ndarray], dims: int) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """(mean [width], components [dims, width]) of the rows of all `blocks`
    stacked: the top `dims` principal directions of the centred rows."""
    width = blocks[0].shape[1]
    if not 1 <= dims <= width:
        raise SpacyCtxError(Errors.E313.format(width=width, dims=dims))
    n = sum(len(b) for b in blocks)
    mean = sum(b.sum(axis=0, dtype="float64") for b in blocks) / n
    cov = sum((b - mean).T @ (b - mean) for b in blocks) / n  # [width, width]
    values, vectors = numpy.linalg.eigh(cov)
    order = numpy.argsort(values)[::-1][:dims]
    return mean.astype("float32"), vectors[:, order].T.astype("float32")


def project(X: numpy.ndarray, mean: numpy.ndarray, components: numpy.ndarray) -> numpy.ndarray:
    """[n, width] -> [n, dims]: the rows centred and projected."""
    return ((X - mean) @ components.T).astype("float32")
