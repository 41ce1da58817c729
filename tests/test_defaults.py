"""Each default is written once: the ctx_encoder's default config, the
builders' signatures and the shipped configs agree."""
import inspect
from pathlib import Path

import pytest
from thinc.api import Config

from spacy_ctx.models.elmo import build_elmo_encoder_v1
from spacy_ctx.models.scalar_mix import build_scalar_mix_v1
from spacy_ctx.models.transformer import build_transformer_encoder_v1
from spacy_ctx.pipeline.encoder import DEFAULT_ENCODER_CONFIG, DEFAULT_MIX_CONFIG, CtxEncoder

CONFIGS = Path(__file__).parent.parent / "configs"
BUILDERS = {
    "spacy_ctx.TransformerEncoder.v1": build_transformer_encoder_v1,
    "spacy_ctx.ELMoEncoder.v1": build_elmo_encoder_v1,
    "spacy_ctx.ScalarMix.v1": build_scalar_mix_v1,
}


def signature_defaults(function) -> dict:
    return {
        name: param.default
        for name, param in inspect.signature(function).parameters.items()
        if param.default is not inspect.Parameter.empty
    }


# The inference mix's one deliberate difference from ScalarMix's defaults:
# the top layer alone (chosen on STS-B, docs/similarity.md).
INFERENCE_MIX = {"layers": [-1]}


@pytest.mark.parametrize("text,overrides", [(DEFAULT_ENCODER_CONFIG, {}), (DEFAULT_MIX_CONFIG, INFERENCE_MIX)])
def test_default_model_configs_are_the_builders_defaults(text, overrides):
    block = dict(Config().from_str(text)["model"])
    builder = BUILDERS[block.pop("@architectures")]
    assert block == {**signature_defaults(builder), **overrides}


def test_factory_settings_are_the_component_defaults():
    from spacy.language import Language

    factory = Language.get_factory_meta("ctx_encoder").default_config
    settings = {key: value for key, value in factory.items() if key not in ("model", "mix")}
    component = {
        name: param.default
        for name, param in inspect.signature(CtxEncoder.__init__).parameters.items()
        if param.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert settings == component


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.cfg")), ids=lambda p: p.name)
def test_shipped_configs_spell_out_the_builder_defaults(path):
    # A shipped config names every setting of its encoder and mix builders,
    # so a user sees (and can change) each one.
    config = Config().from_disk(path, interpolate=False)
    encoder = config.get("components", {}).get("ctx_encoder")
    if encoder is None:
        pytest.skip("no ctx_encoder in this config")
    for key in ("model", "mix"):
        block = dict(encoder[key])
        builder = BUILDERS[block.pop("@architectures")]
        assert set(block) == set(signature_defaults(builder)), key
    # The transformer configs run the default encoder as it is.
    model = dict(encoder["model"])
    if model.pop("@architectures") == "spacy_ctx.TransformerEncoder.v1":
        # (a base-size config names its encoder by a variable, [paths] encoder)
        expected = signature_defaults(build_transformer_encoder_v1)
        if path.name.endswith("_base.cfg"):
            assert model.pop("name") == "${paths.encoder}"
            expected.pop("name")
        assert model == expected
        # ... with the default inference mix.
        assert encoder["mix"]["layers"] == INFERENCE_MIX["layers"]
