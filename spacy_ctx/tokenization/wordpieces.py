"""Plan a transformer forward pass over spaCy docs.

The planner turns a batch of docs into padded wordpiece windows, sorted by
length, plus an alignment from wordpieces back to spaCy tokens. It is plain
NumPy: the torch module in `models/pytorch/layer_encoder.py` executes the plan, and
can backpropagate through the pooling because the pooling is a scatter.

Why this bypasses parts of spacy-transformers:
- Span getters there split docs by spaCy tokens (`strided_spans`), so a window
  can still exceed the model's maximum wordpiece length and is then truncated.
  Windows here are cut in wordpieces, so nothing is ever truncated.
- Alignment there matches token strings with spacy-alignments. A fast
  tokenizer's character offsets give the exact alignment directly, and it is
  a single vectorised NumPy pass instead of a per-doc string diff.
"""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy
import torch
from spacy.tokens import Doc

from ..errors import Errors, SpacyCtxError

POOLINGS = ("mean", "first", "last", "max")
_EMPTY = numpy.zeros(0, dtype="int64")


@dataclass
class WindowBatch:
    """One padded batch of windows: ids and mask are [batch, seq_len].

    `source[k]` is a row of this batch's flattened hidden states
    ([batch * seq_len, width]) and `target[k]` the batch-global spaCy token it
    pools into.
    """

    input_ids: numpy.ndarray
    attention_mask: numpy.ndarray
    source: numpy.ndarray  # [n_pairs] int64
    target: numpy.ndarray  # [n_pairs] int64


@dataclass
class EncoderPlan:
    """Everything the torch module needs to encode and pool one batch of docs.
    Tokens without any wordpiece get no (source, target) pair: they stay zero.
    """

    batches: List[WindowBatch]
    counts: numpy.ndarray  # [n_tokens] float32, pairs per token (>= 1)
    lengths: List[int]  # spaCy tokens per doc
    pooling: str

    def to_torch(self, device=None) -> Dict[str, object]:
        """The keyword arguments of LayerEncoder.forward, on `device`."""
        as_tensor = lambda a: torch.as_tensor(a, device=device)
        return {
            "input_ids": [as_tensor(b.input_ids) for b in self.batches],
            "attention_mask": [as_tensor(b.attention_mask) for b in self.batches],
            "sources": [as_tensor(b.source) for b in self.batches],
            "targets": [as_tensor(b.target) for b in self.batches],
            "counts": as_tensor(self.counts),
            "pooling": self.pooling,
        }


class WordpiecePlanner:
    """Tokenize docs into wordpiece windows and align them to spaCy tokens.

    tokenizer: a Hugging Face *fast* tokenizer (offsets are needed).
    max_length: the model's maximum sequence length, special tokens included.
    window: wordpieces per window, without special tokens (0 = as many as fit).
    stride: step between window starts (0 = three quarters of the window).
    max_batch_items: padded wordpieces per forward batch.
    pooling: "mean", "first", "last" or "max".
    """

    def __init__(
        self,
        tokenizer,
        *,
        max_length: int,
        window: int = 0,
        stride: int = 0,
        max_batch_items: int = 2048,
        pooling: str = "mean",
    ):
        if pooling not in POOLINGS:
            raise SpacyCtxError(
                Errors.E004.format(pooling=pooling, options=", ".join(POOLINGS))
            )
        if not getattr(tokenizer, "is_fast", False):
            raise SpacyCtxError(Errors.E013.format(name=getattr(tokenizer, "name_or_path", "")))
        self.tokenizer = tokenizer
        self.prefix, self.suffix = special_tokens(tokenizer)
        self.n_prefix = len(self.prefix)
        self.n_special = len(self.prefix) + len(self.suffix)
        self.max_window = max_length - self.n_special
        self.window = window or self.max_window
        if not 0 < self.window <= self.max_window:
            raise SpacyCtxError(Errors.E007.format(stride=stride, window=self.max_window))
        self.stride = stride or max(1, (self.window * 3) // 4)
        if not 0 < self.stride <= self.window:
            raise SpacyCtxError(Errors.E007.format(stride=self.stride, window=self.window))
        self.max_batch_items = max_batch_items
        self.pooling = pooling
        self.pad_id = tokenizer.pad_token_id or 0

    def __call__(self, docs: Sequence[Doc]) -> EncoderPlan:
        texts = [doc.text for doc in docs]
        encoded = self.tokenizer(
            texts,
            add_special_tokens=False,
            return_offsets_mapping=True,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,  # long docs are windowed below, never truncated
        )
        windows: List[Tuple[int, int, int]] = []  # (doc, start, length)
        for i, ids in enumerate(encoded["input_ids"]):
            windows.extend((i, start, n) for start, n in self._windows(len(ids)))
        # Sort by length (stable, so equal lengths keep document order) and cut
        # into batches of at most max_batch_items padded wordpieces.
        order = sorted(range(len(windows)), key=lambda w: -windows[w][2])
        batches, row_of_window, batch_offsets = self._batch(
            windows, order, encoded["input_ids"]
        )
        windows_of_doc: List[List[int]] = [[] for _ in docs]
        for w, (doc_i, _, _) in enumerate(windows):
            windows_of_doc[doc_i].append(w)
        sources, targets = [], []
        token_offset = 0
        for i, doc in enumerate(docs):
            ids = encoded["input_ids"][i]
            doc_windows = windows_of_doc[i]
            if ids and len(doc):
                tok, wp = _align(doc, len(texts[i]), numpy.asarray(encoded["offset_mapping"][i]))
                tok, wp = _select(tok, wp, self.pooling)
                row = self._wordpiece_rows(len(ids), doc_windows, windows, row_of_window)
                sources.append(row[wp])
                targets.append(tok + token_offset)
            token_offset += len(doc)
        source = _cat(sources)
        target = _cat(targets)
        counts = numpy.bincount(target, minlength=token_offset).astype("float32")
        # Hand each batch the pairs that read from it, with batch-local rows.
        batch_of_pair = numpy.searchsorted(batch_offsets, source, side="right") - 1
        for b, batch in enumerate(batches):
            mine = batch_of_pair == b
            batch.source = source[mine] - batch_offsets[b]
            batch.target = target[mine]
        return EncoderPlan(
            batches=batches,
            counts=numpy.maximum(counts, 1.0),
            lengths=[len(doc) for doc in docs],
            pooling=self.pooling,
        )

    def _windows(self, n: int) -> List[Tuple[int, int]]:
        """Window (start, length) pairs covering n wordpieces. The last window
        is aligned to the end, so no window is shorter than needed."""
        if n == 0:
            return []
        if n <= self.window:
            return [(0, n)]
        starts = list(range(0, n - self.window, self.stride)) + [n - self.window]
        return [(s, self.window) for s in starts]

    def _batch(self, windows, order, all_ids):
        batches: List[WindowBatch] = []
        row_of_window = numpy.zeros(len(windows), dtype="int64")
        offsets: List[int] = []
        row_offset = 0
        k = 0
        while k < len(order):
            seq_len = windows[order[k]][2] + self.n_special
            n = max(1, min(len(order) - k, self.max_batch_items // seq_len))
            members = order[k : k + n]
            ids = numpy.full((n, seq_len), self.pad_id, dtype="int64")
            mask = numpy.zeros((n, seq_len), dtype="int64")
            for r, w in enumerate(members):
                doc_i, start, length = windows[w]
                piece = self.prefix + all_ids[doc_i][start : start + length] + self.suffix
                ids[r, : len(piece)] = piece
                mask[r, : len(piece)] = 1
                row_of_window[w] = row_offset + r * seq_len + self.n_prefix
            batches.append(WindowBatch(ids, mask, _EMPTY, _EMPTY))
            offsets.append(row_offset)
            row_offset += n * seq_len
            k += n
        return batches, row_of_window, numpy.asarray(offsets, dtype="int64")

    def _wordpiece_rows(self, n_wp, doc_windows, windows, row_of_window):
        """The hidden-state row that represents each wordpiece of a doc.

        Where windows overlap, a wordpiece is read from the window in which it
        lies farthest from a cut edge (ties go to the earlier window). This is
        deterministic and gives every wordpiece as much context as possible.
        """
        positions = numpy.arange(n_wp)
        best_score = numpy.full(n_wp, -1, dtype="int64")
        rows = numpy.zeros(n_wp, dtype="int64")
        for w in doc_windows:
            _, start, length = windows[w]
            end = start + length
            inside = (positions >= start) & (positions < end)
            # A document's own start and end are not cuts: no context is lost.
            left = positions - start if start > 0 else numpy.full(n_wp, n_wp)
            right = end - 1 - positions if end < n_wp else numpy.full(n_wp, n_wp)
            score = numpy.where(inside, numpy.minimum(left, right), -1)
            better = score > best_score
            best_score = numpy.where(better, score, best_score)
            rows = numpy.where(better, row_of_window[w] + positions - start, rows)
        return rows


def special_tokens(tokenizer) -> Tuple[List[int], List[int]]:
    """The ids a tokenizer puts before and after one text, e.g. BERT's
    ([CLS], [SEP]), RoBERTa's (<s>, </s>), T5's ((), </s>).

    Read from what `tokenizer(text)` does, i.e. from the Rust post-processor.
    `build_inputs_with_special_tokens` would be wrong for a plain
    PreTrainedTokenizerFast (ModernBERT's), whose Python side adds nothing.
    """
    probe = tokenizer(
        "a", add_special_tokens=True, return_special_tokens_mask=True, verbose=False
    )
    ids, special = probe["input_ids"], probe["special_tokens_mask"]
    text_at = [i for i, is_special in enumerate(special) if not is_special]
    return ids[: text_at[0]], ids[text_at[-1] + 1 :]


def _align(
    doc: Doc, n_chars: int, offsets: numpy.ndarray
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """(token, wordpiece) pairs that share at least one character, sorted by
    token then wordpiece."""
    n_wp = len(offsets)
    starts_lens = doc.to_array(["IDX", "LENGTH"]).astype("int64")
    # n_chars is passed in: doc.text builds every Token object again.
    char_to_token = numpy.full(n_chars, -1, dtype="int64")
    char_to_token[_expand(starts_lens[:, 0], starts_lens[:, 1])] = numpy.repeat(
        numpy.arange(len(doc)), starts_lens[:, 1]
    )
    wp_lens = offsets[:, 1] - offsets[:, 0]
    chars = _expand(offsets[:, 0], wp_lens)
    wp_of_char = numpy.repeat(numpy.arange(n_wp), wp_lens)
    tok_of_char = char_to_token[chars]
    keep = tok_of_char >= 0
    pairs = numpy.unique(tok_of_char[keep] * n_wp + wp_of_char[keep])
    return pairs // n_wp, pairs % n_wp


def _select(tok, wp, pooling):
    """Reduce the pairs to one per token for first/last pooling."""
    if pooling not in ("first", "last") or len(tok) == 0:
        return tok, wp
    if pooling == "first":
        _, idx = numpy.unique(tok, return_index=True)
    else:
        _, idx = numpy.unique(tok[::-1], return_index=True)
        idx = len(tok) - 1 - idx
    return tok[idx], wp[idx]


def _expand(starts: numpy.ndarray, lengths: numpy.ndarray) -> numpy.ndarray:
    """Concatenate arange(start, start + length) for every pair, vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return numpy.zeros(0, dtype="int64")
    run_starts = numpy.cumsum(lengths) - lengths
    return numpy.repeat(starts - run_starts, lengths) + numpy.arange(total)


def _cat(arrays: List[numpy.ndarray]) -> numpy.ndarray:
    return numpy.concatenate(arrays) if arrays else numpy.zeros(0, dtype="int64")
