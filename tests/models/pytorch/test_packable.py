"""Which models the padding-free forward takes: an allowlist by model type,
each family proven exact in test_packed.py, and the structural checks a
type alone does not settle. Everything else is refused."""
import pytest
import torch

from spacy_ctx.models.pytorch.packed import FAMILIES, packable, refusal
from spacy_ctx.testing import FAMILY_NAMES

from ...reference import reference_or_minilm

pytestmark = pytest.mark.usefixtures("one_thread")

ALLOWED = {"bert", "roberta", "xlm-roberta", "electra", "camembert", "mpnet", "distilbert", "albert",
           "deberta-v2", "t5", "modernbert"}


def tiny_bert(**settings):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, **settings)
    return BertModel(config).eval()


def test_the_allowlist_is_the_proven_families():
    assert set(FAMILIES) == ALLOWED


@pytest.mark.parametrize("family", FAMILY_NAMES + ["minilm"])
def test_every_family_of_the_matrix_packs(tiny_model, family):
    _, model = reference_or_minilm(tiny_model, family)
    assert refusal(model) is None and packable(model)


def test_roformer_is_refused():
    """RoFormer's layers wear BERT's names, and its attention rotates
    queries and keys: BERT's layer forward, which passes every structural
    check, would skip that and give wrong vectors."""
    from transformers import RoFormerConfig, RoFormerModel

    from spacy_ctx.models.pytorch.packed import bert, core

    torch.manual_seed(0)
    config = RoFormerConfig(vocab_size=100, embedding_size=32, hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=64, initializer_range=0.5)
    model = RoFormerModel(config).eval()
    assert not packable(model)
    assert "roformer" in refusal(model)
    # What packing it by its names would compute: far from its own states.
    assert bert.refuse(model) is None
    ids = torch.randint(5, 100, (2, 16))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        own = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1].reshape(32, -1)
        hidden = bert.embed(model, ids, mask, torch.arange(32))
        run = core.Pass(core.length_runs(mask), False, config.hidden_act)
        for layer in model.encoder.layer:
            hidden = bert.forward(model, layer, hidden, run)
    assert float(torch.nn.functional.cosine_similarity(hidden, own).min()) < 0.9


def test_relative_key_positions_are_refused():
    for position in ("relative_key", "relative_key_query"):
        model = tiny_bert(position_embedding_type=position)
        assert not packable(model)
        assert position in refusal(model)
    assert packable(tiny_bert(position_embedding_type="absolute"))


def test_a_decoder_is_refused():
    model = tiny_bert(is_decoder=True)
    assert not packable(model) and "decoder" in refusal(model)


def test_cross_attention_is_refused():
    model = tiny_bert(is_decoder=True, add_cross_attention=True)
    assert not packable(model) and "cross-attention" in refusal(model)


def test_pruned_heads_are_refused(tiny_model):
    model = tiny_bert()
    model.prune_heads({1: [0]})
    assert not packable(model) and "pruned" in refusal(model)
    _, mpnet = reference_or_minilm(tiny_model, "mpnet")
    mpnet.prune_heads({0: [1]})
    assert not packable(mpnet) and "pruned" in refusal(mpnet)


def test_a_t5_encoder_decoder_is_refused():
    from transformers import T5Config, T5Model

    model = T5Model(T5Config(vocab_size=100, d_model=32, d_kv=16, d_ff=64, num_layers=1, num_heads=2)).eval()
    assert not packable(model) and "T5EncoderModel" in refusal(model)


def test_camembert_packs_exactly():
    """CamemBERT is RoBERTa's architecture under its own model type."""
    from transformers import CamembertConfig, CamembertModel

    from spacy_ctx.models.pytorch.packed import packed_hidden_states

    torch.manual_seed(0)
    config = CamembertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=64, max_position_embeddings=66, pad_token_id=1)
    model = CamembertModel(config).eval()
    ids = torch.randint(5, 100, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, 9:] = mask[2, 5:] = 0
    ids[mask == 0] = 1
    with torch.no_grad():
        own = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        states, _ = packed_hidden_states(model, ids, mask, 2)
    real = mask.reshape(-1).bool()
    assert packable(model)
    for state, full in zip(states, own):
        torch.testing.assert_close(state, full.reshape(-1, 32)[real], atol=1e-5, rtol=0)


def test_deberta_with_a_convolution_layer_is_refused():
    """DeBERTa-v2's optional convolution mixes neighbouring wordpieces after
    the first layer: a position term the packed layer does not run."""
    from transformers import DebertaV2Config, DebertaV2Model

    config = DebertaV2Config(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=64, relative_attention=True, position_buckets=16,
                             pos_att_type=["p2c", "c2p"], conv_kernel_size=3)
    model = DebertaV2Model(config).eval()
    assert not packable(model) and "convolution" in refusal(model)
    config.conv_kernel_size = 0
    assert packable(DebertaV2Model(config).eval())


def test_scaled_rotary_positions_are_refused(tiny_model):
    _, model = reference_or_minilm(tiny_model, "modernbert")
    assert packable(model)
    model.config.rope_scaling = {"rope_type": "linear", "factor": 2.0}
    assert not packable(model) and "rope_scaling" in refusal(model)
