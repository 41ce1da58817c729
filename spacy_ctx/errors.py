"""Every user-facing message of spacy-ctx, in one place, in spaCy's style.

The code of a message is its attribute name: `Errors.E002` reads
"[spacy-ctx E002] ...". Raise user errors as `SpacyCtxError`, which the CLI
shows as a clean message.
"""


class SpacyCtxError(ValueError):
    """A user-facing error of spacy-ctx: bad input, settings or data."""


class _WithCodes(type):
    def __getattribute__(self, code: str) -> str:
        # Names with a leading underscore are not messages of their own
        # (e.g. a prefix that says where an error happened): no code.
        msg = super().__getattribute__(code)
        if code.startswith("_"):
            return msg
        return f"[spacy-ctx {code}] {msg}"


class Warnings(metaclass=_WithCodes):
    """Warnings, numbered by the ranges of `Errors`."""

    W001 = (
        "Component '{name}' has normalize = true but no fitted "
        "normalizer: vectors stay in the raw space. Fit one with "
        "`python -m spacy_ctx fit-normalizer`."
    )
    W060 = (
        "Encoder precision '{precision}' is not native on this {device} "
        "({reason}): the encoder runs in fp32, which is faster here."
    )
    W200 = "{n} records failed: see {path}."
    W300 = "No labels in the data for: {names}."
    W401 = (
        "Resuming from {path}: its settings win over the ones given for "
        "{settings}. Only the number of epochs can change when resuming: "
        "pass it as epochs (--epochs)."
    )


class Errors(metaclass=_WithCodes):
    """Errors by code range (`_IN_COMPONENT` is a prefix, not an error):

    - E001-E019: the ctx_encoder component, its listeners, layer settings and wordpiece windows;
    - E020-E039: finding, loading and saving Hugging Face encoders;
    - E040-E059: fine-tuning: discriminative rates, unfreezing and LoRA;
    - E060-E069: reduced-precision inference;
    - E070-E079: optional packages and loading pipelines for the commands;
    - E100-E199: the WSD head, WordNet and sense-annotated data;
    - E200-E219: corpus reading and embedding at scale;
    - E300-E319: similarity benchmarks and static vectors distilled from layers;
    - E400-E419: the ELMo encoder and its pretraining;
    - E420-E439: masked-language-model pretraining;
    - E500-E519: rendering and the explorer;
    - A001-A099: analysis tools: normalizers, probes and the corpora they read.
    """

    _IN_COMPONENT = "In component '{name}': {error}"

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

    # E040-E059: fine-tuning: discriminative rates, unfreezing and LoRA.
    E040 = "{setting} must be {allowed}, got {value}."
    E041 = (
        "gradual_unfreezing found no ctx_encoder with listeners in the pipeline "
        "(components: {names}). It sets the listeners' grad_factor: add a "
        "spacy_ctx.CtxListener.v1 head, or drop [training.before_update]."
    )
    E042 = (
        "LoRA found no layers to adapt in this '{model_type}' encoder ({err}). "
        "Name them in lora.target_modules (for BERT: [\"query\", \"value\"])."
    )
    E043 = (
        "The saved LoRA adapters do not fit the encoder's lora settings "
        "({keys}). Load the pipeline with the lora settings it was saved with."
    )
    E044 = (
        "This pipeline's encoder was saved with LoRA adapters, but its config "
        "has lora = null, which would drop them. Load it with its saved config, "
        "or with [components.ctx_encoder.model.lora] set."
    )
    E045 = (
        "The encoder's LoRA adapters are merged into its weights (lora.merge = "
        "true), so they cannot train: a listener has grad_factor > 0. Train with "
        "merge = false, and merge when loading the trained pipeline for inference."
    )

    # E060-E069: reduced-precision inference.
    E060 = "Unknown encoder precision '{precision}': use one of {options}."
    E061 = (
        "The encoder runs in precision '{precision}', which is for inference "
        "only: {reason}. Set precision = \"fp32\" to fine-tune the encoder, or "
        "freeze it."
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
        "Unknown representation '{key}': give 'mix' or a layer index "
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

    # E400-E419: the ELMo encoder and its pretraining.
    E401 = (
        "No ELMo weights at '{path}'. Give the `elmo.pt` file "
        "(or the directory holding it) written by `python -m spacy_ctx "
        "pretrain-elmo`, or set `weights = null` for random initialisation."
    )
    E402 = (
        "The ELMo weights in '{path}' were pretrained with sizes "
        "{saved}, but the architecture is configured with {configured}. Set the "
        "same sizes in the spacy_ctx.ELMoEncoder.v1 block."
    )
    E403 = (
        "Cannot read pretraining texts from '{path}': {reason}. "
        "Give .txt (one text per line), .jsonl ({{\"text\": ...}}), .conllu, "
        "CoNLL column files or Raganato .xml, or a directory of them."
    )
    E404 = (
        "Not enough pretraining text: {n_train} training and "
        "{n_heldout} held-out sequences (need at least 1 of each)."
    )
    E405 = (
        "Cannot resume: no checkpoint in '{path}'."
    )
    E406 = "Unknown pretraining settings in '{path}': {unknown}. Known: {known}."
    E407 = "{setting} {gpu_id}: torch sees {n} CUDA device(s)."

    # E420-E439: masked-language-model pretraining.
    E420 = (
        "No text to pretrain on in '{path}': it holds no non-empty line, "
        "record or sentence. Remove it from the texts or give it some."
    )
    E421 = (
        "The base model '{name}' has no fast tokenizer: pretrain-mlm needs "
        "one (Rust, `tokenizers`) for word boundaries and special-token masks. "
        "Choose a model with a tokenizer.json, or save a fast version with "
        "`AutoTokenizer.from_pretrained(..., use_fast=True).save_pretrained(DIR)`."
    )
    E422 = (
        "The base model '{name}' has a tokenizer without a mask token: the "
        "masked-LM objective needs one (BERT's [MASK], RoBERTa's <mask>)."
    )
    E423 = (
        "Cannot read the pretraining config '{path}': {err}. Give a .cfg with a "
        "[pretrain_mlm] and/or a [model] section (see configs/pretrain_mlm_small.cfg), "
        "or a transformers config .json object ({{\"model_type\": \"bert\", ...}})."
    )
    E424 = (
        "Unknown architecture settings in '{path}' for model_type '{model_type}': "
        "{unknown}. Use the names of its transformers config (e.g. BertConfig: "
        "num_hidden_layers, hidden_size, num_attention_heads, intermediate_size)."
    )
    E425 = (
        "No masked-language-model class for model_type '{model_type}' in "
        "transformers ({err}): pretrain-mlm trains encoders that have one "
        "(BERT, RoBERTa, DistilBERT, ELECTRA, ...)."
    )

    # E500-E519: rendering and the explorer.
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
