"""Tok2vec architectures that combine a contextual listener with spaCy's own
hash-embedding features."""
from typing import List, Optional

from spacy.tokens import Doc
from thinc.api import Maxout, Model, chain, concatenate, noop, with_array
from thinc.types import Floats2d


def build_ctx_hash_tok2vec_v1(
    ctx: Model[List[Doc], List[Floats2d]],
    embed: Model[List[Doc], List[Floats2d]],
    width: int,
    maxout_pieces: int = 3,
    dropout: float = 0.0,
    encode: Optional[Model[List[Floats2d], List[Floats2d]]] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """Concatenate a contextual mix with hash embeddings, as ELMo did with
    the task model's own inputs, then mix the two into `width` dimensions.

    ctx: the contextual features, normally a spacy_ctx.CtxListener.v1 block
        (its own learned scalar mix over the ctx_encoder layers).
    embed: context-independent word features, normally spacy.MultiHashEmbed.v2
        over NORM, PREFIX, SUFFIX and SHAPE. The default encoder is uncased,
        so casing and word shape come from here.
    width: output width. A maxout layer with layer normalisation maps the
        concatenation [ctx width + embed width] to it.
    maxout_pieces, dropout: of that maxout layer.
    encode: an optional List[Floats2d] -> List[Floats2d] encoder of the
        same width, run after the mix: spacy.TorchBiLSTMEncoder.v1
        (configs/ner.cfg) or spacy.MaxoutWindowEncoder.v2 (configs/tagger.cfg).
    """
    # Per doc: [n_tokens, ctx_width + embed_width] -> [n_tokens, width]
    combine = with_array(
        Maxout(nO=width, nP=maxout_pieces, dropout=dropout, normalize=True)
    )
    model = chain(concatenate(ctx, embed), combine, encode or noop())
    model.set_dim("nO", width)
    model.set_ref("ctx", ctx)
    model.set_ref("embed", embed)
    return model
