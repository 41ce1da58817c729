"""Planners that turn spaCy docs into encoder inputs: wordpiece windows for
transformers (`wordpieces`), character ids for ELMo (`chars`)."""
