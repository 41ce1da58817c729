"""Pretraining of spacy-ctx encoders (the ELMo biLM and the masked LM)."""
