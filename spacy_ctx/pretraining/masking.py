"""BERT's masking for the masked-language-model objective, and the batches
of masked wordpieces it makes.

Of the wordpieces that are not special tokens ([CLS], [SEP], padding), 15%
are chosen as targets. Of the targets, 80% are replaced by the mask token,
10% by a random wordpiece and 10% kept as they are (Devlin et al. 2019,
3.1): the model cannot rely on seeing [MASK] where it must predict, and
learns a representation of every token. With `whole_word`, the words
(the tokenizer's pre-tokenized words, `word_ids`) are chosen instead, and
every wordpiece of a chosen word is a target; the 80/10/10 draw is then made
per wordpiece, as in BERT's own whole-word-masking data.

The draws come from a `torch.Generator`, so a batch masked under one seed is
masked the same way again: the held-out loss is measured on fixed masks, and
a resumed run masks its batches as the uninterrupted run did.

Written here rather than taken from transformers' collators: those draw from
torch's global generator, and DataCollatorForWholeWordMask finds words by
"##" prefixes, which only WordPiece vocabularies have.
"""
from typing import List, Optional, Sequence, Tuple

import torch

# The label of a position that is not a target (ignored by cross-entropy).
IGNORE = -100


def mask_tokens(
    input_ids: torch.Tensor,
    special: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    generator: torch.Generator,
    probability: float = 0.15,
    word_ids: Optional[Sequence[Sequence[Optional[int]]]] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) of the MLM objective for one batch.

    input_ids, special: [batch, seq_len]; special is True at special tokens and
        padding, which are never targets.
    word_ids: per row, the word index of each wordpiece (None for special
        tokens), as a fast tokenizer's `word_ids()` gives: whole-word masking.
        None: each wordpiece is drawn on its own.
    Returns inputs with the targets replaced (80% mask, 10% random, 10% kept)
    and labels that hold the original ids at the targets and IGNORE elsewhere.
    """
    # [batch, seq_len]
    if word_ids is None:
        chosen = torch.rand(input_ids.shape, generator=generator) < probability
    else:
        chosen = _whole_words(word_ids, input_ids.shape, probability, generator)
    chosen &= ~special
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    draw = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (draw < 0.8)
    to_random = chosen & (draw >= 0.8) & (draw < 0.9)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator, dtype=input_ids.dtype)
    inputs = torch.where(to_mask, torch.full_like(input_ids, mask_id), input_ids)
    inputs = torch.where(to_random, random_ids, inputs)
    return inputs, labels


def _whole_words(
    word_ids: Sequence[Sequence[Optional[int]]], shape, probability: float, generator: torch.Generator
) -> torch.Tensor:
    """[batch, seq_len] True at every wordpiece of the chosen words."""
    chosen = torch.zeros(shape, dtype=torch.bool)
    for row, words in enumerate(word_ids):
        known: List[int] = [w for w in words if w is not None]
        if not known:
            continue
        n_words = max(known) + 1
        picked = torch.rand(n_words, generator=generator) < probability
        for col, word in enumerate(words):
            if word is not None and picked[word]:
                chosen[row, col] = True
    return chosen


# Batches


def encode_texts(tokenizer, texts: Sequence[str], max_length: int) -> List[dict]:
    """Each text as {"ids", "special", "words"}: wordpieces with special
    tokens, cut to max_length; True at special tokens; the word of each
    wordpiece (None at special tokens)."""
    encoded = []
    for start in range(0, len(texts), 1000):
        batch = tokenizer(
            list(texts[start : start + 1000]), truncation=True, max_length=max_length,
            return_special_tokens_mask=True, return_attention_mask=False, return_token_type_ids=False,
        )
        for i, ids in enumerate(batch["input_ids"]):
            encoded.append({"ids": ids, "special": batch["special_tokens_mask"][i], "words": batch.word_ids(i)})
    return encoded


class MaskedBatcher:
    """Pads encoded texts into tensors and masks them."""

    def __init__(self, tokenizer, probability: float = 0.15, whole_word: bool = False):
        self.pad = tokenizer.pad_token_id or 0
        self.mask_id = tokenizer.mask_token_id
        self.vocab_size = len(tokenizer)
        self.probability = probability
        self.whole_word = whole_word

    def __call__(self, items: Sequence[dict], generator: torch.Generator, device) -> Tuple[torch.Tensor, ...]:
        width = max(len(item["ids"]) for item in items)
        ids = torch.full((len(items), width), self.pad, dtype=torch.long)  # [batch, seq_len]
        special = torch.ones((len(items), width), dtype=torch.bool)
        for row, item in enumerate(items):
            ids[row, : len(item["ids"])] = torch.as_tensor(item["ids"])
            special[row, : len(item["ids"])] = torch.as_tensor(item["special"], dtype=torch.bool)
        attention = torch.zeros_like(ids)
        for row, item in enumerate(items):
            attention[row, : len(item["ids"])] = 1
        inputs, labels = mask_tokens(
            ids, special, mask_id=self.mask_id, vocab_size=self.vocab_size, generator=generator,
            probability=self.probability,
            word_ids=[item["words"] for item in items] if self.whole_word else None,
        )
        return inputs.to(device), attention.to(device), labels.to(device)
