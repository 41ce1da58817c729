"""Looking inside the encoder: linear probes per layer, anisotropy measures,
polysemy, similarity benchmarks and static vectors distilled from contextual
ones. The CLI commands `probe`, `anisotropy`, `fit-normalizer`, `similarity`
and `distill-static` are thin shells over these modules. The corrections they
fit live in `spacy_ctx.normalizer`, which a saved pipeline loads without
scikit-learn.
"""
