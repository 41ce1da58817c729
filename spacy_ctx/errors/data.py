"""The messages of data and commands: optional packages, loading pipelines, WSD and sense-annotated data, corpora and embedding at scale.

Codes and ranges: see `spacy_ctx.errors.Errors`."""


class DataErrors:
    # E070-E079: optional packages and loading pipelines for the commands.
    E070 = (
        "{feature} needs the optional package '{module}' ({err}). Install it "
        "with: pip install 'spacy-ctx[{extra}]'"
    )
    E071 = (
        "Config overrides for the 'default' pipeline must be settings of its "
        "ctx_encoder ('{prefix}...'); got: {keys}. Save a pipeline with those "
        "components and pass its path instead."
    )
    E072 = (
        "`demo --hf-model` puts a Hugging Face encoder into a blank pipeline; "
        "it cannot replace the encoder of the saved pipeline '{model}'. Pass "
        "one of --model and --hf-model."
    )

    # E100-E199: the WSD head, WordNet and sense-annotated data.
    E101 = (
        "'{path}' is not a WordNet 3.0 dict directory (missing: "
        "{missing}). Set the ctx_wsd 'wordnet_path' (config: "
        "[paths] wordnet) to a directory with index.sense, data.noun, lexnames, ..."
    )
    E102 = (
        "ctx_wsd found no sense-annotated instances in the "
        "training data: expected Span objects with sense-key labels in "
        "doc.spans['{key}'] (make them with `python -m spacy_ctx convert-wsd`)."
    )
    E104 = (
        "The pipeline '{pipeline}' has no ctx_wsd component "
        "(its components: {names})."
    )
    E105 = (
        "ctx_wsd has gloss_weight = {weight} but no upstream "
        "ctx_encoder to encode the WordNet glosses with: initialize it inside "
        "a pipeline (nlp.initialize(), or ctx_wsd.initialize(..., nlp=nlp)) "
        "whose ctx_encoder it listens to, or set gloss_weight = 0."
    )
    E106 = "ctx_wsd gloss_weight must be >= 0, got {weight}."
    E107 = (
        "ctx_wsd needs WordNet 3.0 to initialize (trained pipelines carry "
        "what they need of it), and found none: its 'wordnet_path' is not set "
        "and nltk has no 'wordnet' corpus (searched: {searched}). Get it with "
        "`python -m nltk.downloader wordnet`, or set wordnet_path (config: "
        "[paths] wordnet, e.g. --paths.wordnet /path/to/WordNet-3.0/dict)."
    )
    E108 = "ctx_wsd takes its labels (sense keys) from WordNet: it has no add_label."

    # E200-E219: corpus reading and embedding at scale.
    E200 = "Cannot read record {id} of '{path}': {reason}."
    E201 = (
        "'{path}' holds the output of another job ({what}: {old} there, {new} "
        "now). Resume with the same input, model, block size, layers and "
        "dtype, or write to a new directory."
    )
    E202 = "No input file matches '{pattern}'."
    E203 = (
        "An embedding job on Ray writes a directory of Parquet files, but "
        "'{path}' is a file. Give a new directory, or the one of an earlier "
        "run to resume it."
    )
    E204 = (
        "Cannot embed '{path}' on Ray: its format is '{fmt}'. Give .txt, "
        ".jsonl or .parquet files."
    )
    E205 = "{setting} must be at least {min}, got {value}."
    E206 = "'{path}' has no 'text' column (its columns: {columns})."
    E207 = "Nothing to write: choose some layers or keep the scalar mix."
