"""Every user-facing error message of spacy-ctx, in one place."""


class Errors:
    E001 = (
        "[spacy-ctx E001] Encoder model path '{path}' does not exist or is not a "
        "Hugging Face model directory (no config.json). Give a local directory "
        "saved with `save_pretrained`, or '{default}' for the bundled MiniLM."
    )
    E002 = (
        "[spacy-ctx E002] Layer index {index} in '{setting}' is out of range: the "
        "encoder has {n_layers} layers (valid: 0..{last} or -{n_layers}..-1)."
    )
    E003 = (
        "[spacy-ctx E003] A spacy_ctx.CtxListener.v1 layer found no "
        "upstream 'ctx_encoder' in the pipeline. Add a ctx_encoder before it "
        "(nlp.add_pipe('ctx_encoder', first=True)), or check that its "
        "'upstream' setting ('{upstream}') names a ctx_encoder."
    )
    E004 = (
        "[spacy-ctx E004] Unknown pooling '{pooling}'. Choose one of: {options}."
    )
    E005 = (
        "[spacy-ctx E005] Unknown storage dtype '{dtype}'. Choose 'float32' or 'float16'."
    )
    E006 = (
        "[spacy-ctx E006] The listener needs layer {layer}, but the upstream "
        "ctx_encoder stores only layers {stored} on the Doc. Add it to the "
        "encoder's 'store_layers' setting."
    )
    E007 = (
        "[spacy-ctx E007] The window stride ({stride}) must be between 1 and the "
        "window length ({window})."
    )
    E008 = (
        "[spacy-ctx E008] Doc has no contextual layers: run the 'ctx_encoder' "
        "component on it first, or check that the listener's upstream is right."
    )
    E009 = (
        "[spacy-ctx E009] Scalar mix got {got} initial weights for {n} layers."
    )
    E010 = "[spacy-ctx E010] Unknown input format for '{path}': use .txt or .jsonl."
    E011 = (
        "[spacy-ctx E011] Unknown output format for '{path}': use .parquet, .npz "
        "or .spacy."
    )
    E012 = "[spacy-ctx E012] Layer dropout must be in [0, 1), got {value}."
