"""The messages of analysis: similarity benchmarks, static vectors, normalizers, probes, the explorer.

Codes and ranges: see `spacy_ctx.errors.Errors`."""


class AnalysisErrors:
    # E300-E319: similarity benchmarks and static vectors distilled from layers.
    E300 = (
        "Nothing to score: give an STS Benchmark file (--stsb) and/or a "
        "directory of word-similarity files (--wordsim)."
    )
    E301 = (
        "'{path}' is not an STS Benchmark file: line {line} has {n} "
        "tab-separated columns, expected 7 (genre, file, year, id, score, "
        "sentence 1, sentence 2)."
    )
    E302 = (
        "'{path}' is not a word-similarity file: line {line} should be "
        "'word1<TAB>word2<TAB>score'."
    )
    E303 = "No word-similarity files in '{path}': expected any of {names}."
    E304 = (
        "'{path}' holds no spaCy vectors table (looked in '{path}/vocab' and "
        "'{path}' for 'vectors' and 'key2row'). Write one with `python -m "
        "spacy_ctx distill-static` or `spacy init vectors`."
    )
    E305 = "Unknown distillation method '{method}'. Choose from: {options}."
    E306 = (
        "Unknown representation '{key}': give 'mix', 'token' or a layer index "
        "(0..{last}, or -{n}..-1 from the top)."
    )
    E307 = (
        "No word type occurs at least {min_count} times in the texts: nothing "
        "to distill. Lower --min-count or give more text."
    )
    E308 = (
        "The normalizer ({source}) has no parameters for '{key}' (fitted: "
        "{keys}). Fit it on that representation (fit-normalizer without "
        "--mix-only fits every layer)."
    )
    E309 = (
        "--normalizer pipeline: the ctx_encoder '{name}' has no fitted "
        "normalizer. Fit one with `python -m spacy_ctx fit-normalizer`, or "
        "give the path of a saved Normalizer."
    )
    E310 = "Unknown key attribute '{attr}'. Choose from: {options}."
    E311 = (
        "Wordpiece vectors need a Hugging Face wordpiece encoder; the "
        "ctx_encoder '{name}' has none (ELMo reads characters). Distil "
        "without --subwords."
    )
    E312 = "Unknown sentence weighting '{weighting}'. Choose from: {options}."
    E313 = "--pca-dims must be between 1 and the width {width}, got {dims}."
    E314 = (
        "The ctx_static_vectors component '{name}' holds no wordpiece table: "
        "load it from a `distill-static --subwords` output, or call "
        "set_tables first."
    )
    E315 = (
        "The wordpiece table is {piece_width} wide but the vocab's vectors "
        "are {width} wide: both must come from the same distillation."
    )

    # E500-E539: rendering and the explorer.
    E500 = "Nothing to show: the text is empty. Type or paste a sentence (one per line)."
    E501 = (
        "The text has {n} characters; the explorer takes at most {max} "
        "(set with --max-chars). Nothing was cut: shorten the text and try again."
    )
    E502 = (
        "The request has {n} bytes, more than the {max} the explorer reads "
        "(texts of at most {chars} characters)."
    )
    E503 = "Unknown doc {doc}: there {n} (numbered from 0)."
    E504 = "Unknown token {token} in doc {doc}: it has {n} tokens (numbered from 0)."
    E505 = "'{target}' is not a token of the docs (whole tokens, any case)."
    E506 = (
        "The pipeline has no ctx_wsd component, so there are no senses to "
        "show. Components: {components}."
    )
    E507 = (
        "The pipeline has no trained heads reading the encoder (no "
        "initialised CtxListener): only the ctx_encoder's own mix is shown."
    )
    E508 = (
        "No corpus to search for neighbours: give one with --corpus (or the "
        "'corpus' option), a Parquet file or directory written by "
        "`python -m spacy_ctx embed`."
    )
    E509 = "Unknown style '{style}'. Choose from: {options}."
    E510 = "The '{style}' style needs the option '{option}': {what}."
    E511 = (
        "The docs have no contextual layers: run them through a pipeline "
        "with a ctx_encoder first."
    )
    E512 = "The docs store different layers ({a} and {b}): encode them with one pipeline."
    E513 = (
        "Cannot read the embedded corpus '{path}': {reason}. Give a Parquet "
        "file or directory written by `python -m spacy_ctx embed`."
    )
    E514 = (
        "The corpus' '{key}' vectors have width {corpus}, the pipeline's "
        "{pipeline}: embed the corpus with the same encoder."
    )
    E515 = "The request is not a JSON object with a 'text' string: {reason}."
    E516 = "Unknown page '{path}'."
    E517 = (
        "The explorer failed on this request ({error}). The server keeps "
        "running; its log has the details."
    )
    E518 = "ctx_wsd found no target word with WordNet senses in these sentences."
    E519 = (
        "The corpus has no vectors that the pipeline stores (corpus: {corpus}; "
        "pipeline: {pipeline})."
    )
    E520 = (
        "The request's body length is not one Content-Length of 0 or more "
        "bytes (got {value!r}; chunked bodies are not read)."
    )
    E521 = "The explorer is answering {n} requests already; try again in a moment."
    E522 = (
        "The request's Host {host!r} is not an address this server answers "
        "({allowed}). A page that reaches it under another name is refused; "
        "name the host with --allow-host if you serve it on purpose."
    )
    E523 = "The explorer takes POST bodies of Content-Type application/json only, got {value!r}."
    E524 = "The request comes from the page {origin!r}, not from this server's own page: refused."
    E525 = "The request body did not arrive within {seconds} seconds."
    E526 = (
        "Binding {host} serves every network this machine is on: name the "
        "host names it should answer with --allow-host (e.g. --allow-host "
        "myhost.lan), or bind 127.0.0.1."
    )
    E527 = "'{target}' occurs more often: the sense map shows its first {n} occurrences."

    # A001-A099: analysis tools: normalizers, probes and the corpora they read.
    A001 = (
        "Unknown normalizer method '{method}'. Choose one of: "
        "{options}."
    )
    A002 = (
        "The normalizer has no parameters for '{key}' (fitted "
        "keys: {keys}). Fit it on that layer, or on 'mix' for the ctx_encoder."
    )
    A003 = (
        "Too few vectors to fit the '{method}' normalizer for "
        "'{key}': got {n}, need at least {need}. Fit on more text."
    )
    A004 = (
        "Vectors for '{key}' have width {got}, but the "
        "normalizer was fitted on width {expected}."
    )
    A005 = (
        "n_components for all-but-the-top must be between 1 "
        "and the width minus one ({max}), got {value}."
    )
    A006 = (
        "The pipeline has no ctx_encoder component{name}. "
        "Components: {components}."
    )
    A007 = (
        "Unknown data format for '{path}'. Use .spacy, "
        ".conllu, CoNLL NER columns (.iob, .conll, .tsv), Raganato WSD XML "
        "(.xml, with its .gold.key.txt beside it) or plain text (.txt, one "
        "document per line). Other formats: run `spacy convert` first."
    )
    A008 = "No documents with tokens were read from '{path}'."
    A009 = (
        "Unknown probe propert{plural} {names}. Choose from: "
        "{options}."
    )
    A010 = (
        "None of the requested properties ({names}) has labels "
        "in both the training and the test data."
    )
    A011 = (
        "Unknown correction '{name}'. Choose from: {options}."
    )
    A012 = "Not a serialized spacy-ctx Normalizer (missing '{field}')."
    A013 = "No features for '{key}': choose from {keys}."
