"""Tiny random-weight Hugging Face encoders of every supported family, built
locally, for tests and benchmarks.

Each family's tokenizer is trained with `tokenizers` on generated sentences
(`sentences`), its model has width 32 and 2 layers with seeded random
weights, and both are saved as a real model directory (`save_pretrained` of
the model and of a fast tokenizer) that `ctx_encoder` loads by path:

    build_family(FAMILY["roberta"], directory)

Nothing is fetched from a model hub. The figures such models give say how a
tokenizer or architecture family behaves, never how a real checkpoint scores.
"""
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from tokenizers import Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

VOCAB_SIZE = 2000
WIDTH = 32
N_LAYERS = 2


@dataclass(frozen=True)
class Family:
    """One tokenizer + architecture family of the test matrix.

    limit: the longest input (special tokens included) the encoder may be
        given: what the position embeddings or the tokenizer allow.
    """

    name: str
    covers: str
    build: Callable[[Path, List[str], "Family"], None]
    limit: int
    model_max_length: Optional[int]


def sentences(n: int = 3000, seed: int = 0) -> List[str]:
    """Generated English-like training sentences, with some accents, CJK,
    emoji, numbers and URLs so that no family meets them only as unknowns."""
    rng = random.Random(seed)
    subjects = ["The engineer", "A farmer", "Our neighbour", "The old sailor", "Every student",
                "She", "He", "They", "My sister", "The committee", "A small child", "Dr. Smith",
                "The company", "Ms. García", "The café owner", "Zoë", "The government"]
    verbs = ["repaired", "painted", "carried", "described", "sold", "bought", "visited",
             "announced", "rejected", "discovered", "is reading", "was building", "will open",
             "can't find", "didn't like", "has finished", "e-mailed", "photographed"]
    objects = ["the red bicycle", "a wooden boat", "the broken fence", "an ancient map",
               "the tiny radio", "a new contract", "the river bank", "three apples",
               "the quarterly report", "her grandmother's house", "a naïve proposal",
               "the museum in São Paulo", "the office in Zürich", "a bowl of crème brûlée",
               "the U.S. embassy", "twenty-five chairs", "the software update"]
    tails = ["yesterday", "on Monday", "in 2019", "at 5:30pm", "for $12.50", "with great care",
             "before the storm", "near the station", "in 北京", "in 東京", "after lunch 😀",
             "at https://example.com/page?id=7", "for the third time", "quietly", "again 🎉",
             "with 100% effort", "in the morning", "(as planned)", "— or so they said"]
    out = []
    for _ in range(n):
        words = [rng.choice(subjects), rng.choice(verbs), rng.choice(objects), rng.choice(tails)]
        if rng.random() < 0.3:
            words.append(f"and {rng.choice(verbs)} {rng.choice(objects)}")
        out.append(" ".join(words) + rng.choice([".", "!", "?", "..."]))
    return out


# Tokenizers, as the transformers converters configure them for the real models


def wordpiece(texts: List[str], lowercase: bool, specials: Optional[List[str]] = None) -> Tokenizer:
    """BERT's WordPiece, cased or uncased (lowercased, accents stripped).
    With `specials` (MPNet's), the post-processor is left unset."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=lowercase, lowercase=lowercase
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    bert = specials is None
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] if bert else specials
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=VOCAB_SIZE, special_tokens=specials))
    if bert:
        tok.post_processor = _template(tok, "[CLS]", "[SEP]")
    return tok


def byte_bpe(texts: List[str], specials: List[str], add_prefix_space: bool) -> Tokenizer:
    """GPT-2 style byte-level BPE (RoBERTa, ModernBERT); post-processor unset."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def unigram(texts: List[str], specials: List[str], unk: str, lowercase: bool = False) -> Tokenizer:
    """SentencePiece-style Unigram with Metaspace (XLM-R, DeBERTa-v3, ALBERT,
    T5): NFKC, runs of spaces collapsed; ALBERT also lowercases and strips
    accents. Post-processor unset."""
    steps = [normalizers.NFKD(), normalizers.StripAccents(), normalizers.Lowercase()] if lowercase else [normalizers.NFKC()]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence(steps + [normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=VOCAB_SIZE, special_tokens=specials, unk_token=unk)
    tok.train_from_iterator(texts, trainer)
    return tok


def _template(tok: Tokenizer, first: Optional[str], last: str) -> processors.TemplateProcessing:
    single = f"{first} $A {last}" if first else f"$A {last}"
    pair = f"{single} $B:1 {last}:1"
    names = [t for t in (first, last) if t]
    return processors.TemplateProcessing(
        single=single, pair=pair, special_tokens=[(t, tok.token_to_id(t)) for t in names]
    )


def _ids(tok: Tokenizer, **names: str) -> Dict[str, int]:
    return {f"{key}_token_id": tok.token_to_id(token) for key, token in names.items()}


def _small(**sizes) -> dict:
    return dict(num_hidden_layers=N_LAYERS, num_attention_heads=2, intermediate_size=64, **sizes)


# Family builders: each saves a model directory


def _bert_like(directory: Path, texts: List[str], family: Family) -> None:
    from transformers import (BertConfig, BertModel, BertTokenizerFast, DistilBertConfig,
                              DistilBertModel, DistilBertTokenizerFast, ElectraConfig,
                              ElectraModel, ElectraTokenizerFast)

    lowercase = family.name in ("bert-uncased", "electra")
    tok = wordpiece(texts, lowercase)
    kind = family.name.split("-")[0]
    tokenizer_cls = {"bert": BertTokenizerFast, "electra": ElectraTokenizerFast,
                     "distilbert": DistilBertTokenizerFast}[kind]
    pad = _ids(tok, pad="[PAD]")
    positions = 64
    if kind == "distilbert":
        config = DistilBertConfig(vocab_size=tok.get_vocab_size(), dim=WIDTH, n_layers=N_LAYERS,
                                  n_heads=2, hidden_dim=64, max_position_embeddings=positions, **pad)
        model = DistilBertModel(config)
    elif kind == "electra":
        # ELECTRA projects smaller embeddings up to the hidden width.
        config = ElectraConfig(vocab_size=tok.get_vocab_size(), embedding_size=16, hidden_size=WIDTH,
                               max_position_embeddings=positions, **_small(), **pad)
        model = ElectraModel(config)
    else:
        config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=WIDTH,
                            max_position_embeddings=positions, **_small(), **pad)
        model = BertModel(config)
    _save(directory, model, tokenizer_cls(
        tokenizer_object=tok, do_lower_case=lowercase, unk_token="[UNK]", sep_token="[SEP]",
        pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", **_max_length(family)))


def _roberta(directory: Path, texts: List[str], family: Family) -> None:
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    prefix = family.name == "roberta-prefix-space"
    tok = byte_bpe(texts, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], prefix)
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")),
        trim_offsets=True, add_prefix_space=prefix,
    )
    ids = _ids(tok, pad="<pad>", bos="<s>", eos="</s>")
    # Position ids start after the padding index (1): 66 rows, 64 positions.
    config = RobertaConfig(vocab_size=tok.get_vocab_size(), hidden_size=WIDTH,
                           max_position_embeddings=66, type_vocab_size=1, **_small(), **ids)
    _save(directory, RobertaModel(config), RobertaTokenizerFast(
        tokenizer_object=tok, add_prefix_space=prefix, trim_offsets=True, bos_token="<s>",
        eos_token="</s>", sep_token="</s>", cls_token="<s>", unk_token="<unk>",
        pad_token="<pad>", mask_token="<mask>", **_max_length(family)))


def _mpnet(directory: Path, texts: List[str], family: Family) -> None:
    from transformers import MPNetConfig, MPNetModel, MPNetTokenizerFast

    # As all-mpnet-base-v2: uncased WordPiece with RoBERTa's specials and
    # template; the padding id must be 1, MPNet's fixed padding index.
    tok = wordpiece(texts, lowercase=True, specials=["<s>", "<pad>", "</s>", "[UNK]", "<mask>"])
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")), trim_offsets=True, add_prefix_space=False
    )
    ids = _ids(tok, pad="<pad>", bos="<s>", eos="</s>")
    # Position ids start after the padding index (1): 66 rows, 64 positions.
    config = MPNetConfig(vocab_size=tok.get_vocab_size(), hidden_size=WIDTH, max_position_embeddings=66,
                         relative_attention_num_buckets=32, **_small(), **ids)
    _save(directory, MPNetModel(config), MPNetTokenizerFast(
        tokenizer_object=tok, do_lower_case=True, bos_token="<s>", eos_token="</s>", sep_token="</s>",
        cls_token="<s>", unk_token="[UNK]", pad_token="<pad>", mask_token="<mask>", **_max_length(family)))


def _modernbert(directory: Path, texts: List[str], family: Family) -> None:
    from transformers import ModernBertConfig, ModernBertModel, PreTrainedTokenizerFast

    tok = byte_bpe(texts, ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"], False)
    tok.post_processor = _template(tok, "[CLS]", "[SEP]")
    ids = _ids(tok, pad="[PAD]", bos="[CLS]", eos="[SEP]", cls="[CLS]", sep="[SEP]")
    # Rotary positions: no table, max_position_embeddings is the trained length.
    config = ModernBertConfig(vocab_size=tok.get_vocab_size(), hidden_size=WIDTH,
                              max_position_embeddings=family.limit, local_attention=16,
                              global_attn_every_n_layers=2, reference_compile=False,
                              **_small(), **ids)
    # As on the Hub: a plain PreTrainedTokenizerFast, whose Python side adds
    # no special tokens; only its post-processor does.
    _save(directory, ModernBertModel(config), PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        pad_token="[PAD]", mask_token="[MASK]", model_input_names=["input_ids", "attention_mask"],
        **_max_length(family)))


def _sentencepiece_like(directory: Path, texts: List[str], family: Family) -> None:
    from transformers import (AlbertConfig, AlbertModel, AlbertTokenizerFast, DebertaV2Config,
                              DebertaV2Model, DebertaV2TokenizerFast, T5Config,
                              T5ForConditionalGeneration, T5TokenizerFast, XLMRobertaConfig,
                              XLMRobertaModel, XLMRobertaTokenizerFast)

    if family.name == "xlm-roberta":
        tok = unigram(texts, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<unk>")
        tok.post_processor = _template(tok, "<s>", "</s>")
        ids = _ids(tok, pad="<pad>", bos="<s>", eos="</s>")
        # RoBERTa-style positions: padding index 1, so 66 rows hold 64.
        config = XLMRobertaConfig(vocab_size=tok.get_vocab_size(), hidden_size=WIDTH,
                                  max_position_embeddings=66, type_vocab_size=1, **_small(), **ids)
        model = XLMRobertaModel(config)
        tokenizer = XLMRobertaTokenizerFast(
            tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>",
            cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
            **_max_length(family))
    elif family.name == "deberta-v3":
        tok = unigram(texts, ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"], "[UNK]")
        tok.post_processor = _template(tok, "[CLS]", "[SEP]")
        # DeBERTa-v3: relative attention only, no absolute position table.
        config = DebertaV2Config(vocab_size=tok.get_vocab_size(), hidden_size=WIDTH,
                                 max_position_embeddings=512, relative_attention=True,
                                 position_buckets=16, norm_rel_ebd="layer_norm", share_att_key=True,
                                 pos_att_type=["p2c", "c2p"], position_biased_input=False,
                                 max_relative_positions=-1, type_vocab_size=0, **_small(),
                                 **_ids(tok, pad="[PAD]"))
        model = DebertaV2Model(config)
        tokenizer = DebertaV2TokenizerFast(
            tokenizer_object=tok, bos_token="[CLS]", eos_token="[SEP]", unk_token="[UNK]",
            sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]",
            **_max_length(family))
    elif family.name == "albert":
        tok = unigram(texts, ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"], "<unk>", lowercase=True)
        tok.post_processor = _template(tok, "[CLS]", "[SEP]")
        config = AlbertConfig(vocab_size=tok.get_vocab_size(), embedding_size=16, hidden_size=WIDTH,
                              max_position_embeddings=family.limit, **_small(),
                              **_ids(tok, pad="<pad>", bos="[CLS]", eos="[SEP]"))
        model = AlbertModel(config)
        tokenizer = AlbertTokenizerFast(
            tokenizer_object=tok, do_lower_case=True, bos_token="[CLS]", eos_token="[SEP]",
            unk_token="<unk>", sep_token="[SEP]", pad_token="<pad>", cls_token="[CLS]",
            mask_token="[MASK]", **_max_length(family))
    else:  # t5
        tok = unigram(texts, ["<pad>", "</s>", "<unk>"], "<unk>")
        tok.post_processor = _template(tok, None, "</s>")
        # Relative position buckets: the tokenizer's maximum is the only limit.
        config = T5Config(vocab_size=tok.get_vocab_size(), d_model=WIDTH, d_kv=16, d_ff=64,
                          num_layers=N_LAYERS, num_decoder_layers=1, num_heads=2,
                          relative_attention_num_buckets=8, decoder_start_token_id=0,
                          **_ids(tok, pad="<pad>", eos="</s>"))
        # Saved whole, as t5-small is; the encoder loads as T5EncoderModel.
        model = T5ForConditionalGeneration(config)
        tokenizer = T5TokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>",
                                    pad_token="<pad>", extra_ids=0, **_max_length(family))
    _save(directory, model, tokenizer)


def _max_length(family: Family) -> dict:
    # None: the tokenizer is saved without a maximum (as many community
    # RoBERTa and XLM-R models are), so only the model's positions limit it.
    return {} if family.model_max_length is None else {"model_max_length": family.model_max_length}


def _save(directory: Path, model, tokenizer) -> None:
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


FAMILIES = [
    Family("bert-cased", "WordPiece, cased (BERT)", _bert_like, 64, 512),
    Family("bert-uncased", "WordPiece, uncased, accents stripped (BERT)", _bert_like, 48, 48),
    Family("electra", "WordPiece, uncased; embeddings projected to the width (ELECTRA)", _bert_like, 64, None),
    Family("distilbert", "WordPiece, cased; no token_type_ids (DistilBERT)", _bert_like, 64, 512),
    Family("roberta", "byte-level BPE; padding-offset positions, no model_max_length (RoBERTa)", _roberta, 64, None),
    Family("roberta-prefix-space", "byte-level BPE with add_prefix_space (RoBERTa)", _roberta, 64, 64),
    Family("xlm-roberta", "Unigram + Metaspace; padding-offset positions, no model_max_length (XLM-R)", _sentencepiece_like, 64, None),
    Family("deberta-v3", "Unigram + Metaspace; relative positions only (DeBERTa-v2/v3)", _sentencepiece_like, 56, 56),
    Family("albert", "Unigram + Metaspace, lowercased, accents stripped; factorised embeddings (ALBERT)", _sentencepiece_like, 64, 512),
    Family("mpnet", "WordPiece, uncased, RoBERTa's specials and positions; relative position bias (MPNet)", _mpnet, 64, 512),
    Family("modernbert", "byte-level BPE, plain PreTrainedTokenizerFast; rotary positions (ModernBERT)", _modernbert, 64, None),
    Family("t5-encoder", "Unigram + Metaspace, </s> only; relative buckets; encoder of an encoder-decoder (T5EncoderModel)", _sentencepiece_like, 64, 64),
]
FAMILY_NAMES = [f.name for f in FAMILIES]
FAMILY = {f.name: f for f in FAMILIES}


def build_family(family: Family, directory: Path, texts: Optional[List[str]] = None) -> Path:
    """Train the family's tokenizer, make a random model (seeded), and save
    both into `directory`, which is returned."""
    import torch

    torch.manual_seed(0)
    directory.mkdir(parents=True, exist_ok=True)
    family.build(directory, texts if texts is not None else sentences(), family)
    return directory
