"""Thinc builders. Nothing here reads files except the encoder loader."""
