"""Pretraining of spacy-ctx encoders (the ELMo biLM)."""
