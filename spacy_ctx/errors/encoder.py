"""The messages of the encoder: the ctx_encoder component, its listeners and windows, loading Hugging Face encoders, reduced precision.

Codes and ranges: see `spacy_ctx.errors.Errors`."""


class EncoderErrors:
    # E001-E019: the ctx_encoder component, its listeners, layer settings and wordpiece windows.
    E001 = (
        "Encoder model path '{path}' does not exist or is not a "
        "Hugging Face model directory (no config.json). Give a local directory "
        "saved with `save_pretrained`, or '{default}' for the bundled MiniLM."
    )
    E002 = (
        "Layer index {index} in '{setting}' is out of range: the "
        "encoder has {n_layers} layers (valid: 0..{last} or -{n_layers}..-1)."
    )
    E003 = (
        "A spacy_ctx.CtxListener.v1 layer found no "
        "upstream 'ctx_encoder' in the pipeline. Add a ctx_encoder before it "
        "(nlp.add_pipe('ctx_encoder', first=True)), or check that its "
        "'upstream' setting ('{upstream}') names a ctx_encoder."
    )
    E004 = (
        "Unknown pooling '{pooling}'. Choose one of: {options}."
    )
    E005 = (
        "Unknown storage dtype '{dtype}'. Choose 'float32' or 'float16'."
    )
    E006 = (
        "The listener needs layer {layer}, but the upstream "
        "ctx_encoder stores only layers {stored} on the Doc. Add it to the "
        "encoder's 'store_layers' setting."
    )
    E007 = (
        "The window stride ({stride}) must be between 1 and the "
        "window length ({window})."
    )
    E008 = (
        "Doc has no contextual layers: run the 'ctx_encoder' "
        "component on it first, or check that the listener's upstream is right."
    )
    E009 = (
        "Scalar mix got {got} initial weights for {n} layers."
    )
    E010 = (
        "Unknown input format for '{path}': use .txt (one text per line), "
        ".jsonl (a 'text' field), .parquet (a 'text' column), .conllu, CoNLL "
        "columns or Raganato .xml."
    )
    E011 = (
        "Unknown output format for '{path}': use .parquet, .spacy "
        "or a directory (DocBin shards)."
    )
    E012 = "Layer dropout must be in [0, 1), got {value}."
    E013 = (
        "The encoder needs a fast (Rust) Hugging Face tokenizer for character "
        "offsets; '{name}' has only a slow one. Convert it with "
        "`AutoTokenizer.from_pretrained(..., use_fast=True)` and save it."
    )
    E014 = (
        "The ctx_encoder '{name}' has not loaded its model yet, so its depth "
        "and width are unknown: call nlp.initialize() or the component's "
        "load_model(), or encode a doc first."
    )
    E015 = "ctx_encoder has no labels: it has no add_label."
    E016 = (
        "'{setting}' is an empty list: give at least one layer, or null for "
        "{default}."
    )

    # E020-E039: finding, loading and saving Hugging Face encoders.
    E020 = (
        "The encoder '{name}' (revision '{revision}') is neither a local "
        "directory nor in the Hugging Face cache '{cache}', and HF_HUB_OFFLINE "
        "forbids downloading it. Download it once while online (unset "
        "HF_HUB_OFFLINE), point HF_HUB_CACHE or HF_HOME at a cache that holds "
        "it, or give a local directory saved with `save_pretrained`."
    )
    E021 = (
        "The encoder '{name}' (revision '{revision}') is neither a local "
        "directory nor in the Hugging Face cache '{cache}', and downloading it "
        "failed: {err}. Check the id, revision and network (and HF_TOKEN for "
        "a gated model), or give a local directory saved with `save_pretrained`."
    )
    E022 = (
        "Cannot load the Hugging Face encoder '{name}' from '{path}': {err}"
    )
    E023 = (
        "The encoder '{name}' is an encoder-decoder ('{model_type}') without "
        "an encoder-only class in transformers: give an encoder model."
    )
    E024 = (
        "The transformer encoder '{name}' is not loaded yet: call "
        "nlp.initialize() (or model.initialize()), or load a saved pipeline."
    )

    # E060-E069: reduced-precision inference.
    E060 = "Unknown encoder precision '{precision}': use one of {options}."
    E061 = (
        "The encoder runs in precision '{precision}', which is for inference "
        "only: {reason}. Set precision = \"fp32\" or \"auto\" to fine-tune the "
        "encoder's fp32 weights (for bf16 under autocast: mixed_precision = "
        "true), or freeze it."
    )
    E062 = (
        "Cannot keep {k} hidden layers of {n_layers}: give 1..{n_layers}."
    )
    E063 = (
        "Cannot find the layer stack of {model}: looked for the module lists "
        "{paths}."
    )
    E064 = (
        "int8 conversion needs calibration batches (model inputs) to measure "
        "each linear's input ranges: pass calibration_batches(tokenizer)."
    )
