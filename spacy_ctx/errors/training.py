"""The messages of training the encoder: fine-tuning, LoRA, and pretraining ELMo and masked LMs.

Codes and ranges: see `spacy_ctx.errors.Errors`."""


class TrainingErrors:
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
