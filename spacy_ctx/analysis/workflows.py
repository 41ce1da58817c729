"""The three analysis jobs end to end: what the CLI commands run.

Each takes a loaded pipeline and paths, and returns (and optionally writes)
plain dicts, so scripts and notebooks can call them as well.
"""
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

from spacy.language import Language

from ..corpora import read_docs
from ..errors import Errors, SpacyCtxError
from ..normalizer import METHODS, Normalizer
from ..pipeline.loading import find_encoder
from ..util import TOKEN_MIX_KEY
from .anisotropy import anisotropy_table, token_info
from .features import encode_docs
from .plots import anisotropy_plot, probe_plot
from .polysemy import polysemy_table, sense_items
from .probing import run_probes, split_docs
from .report import anisotropy_markdown, probe_markdown, write_report

PathLike = Union[str, Path]


def probe_corpus(
    nlp: Language,
    train_path: PathLike,
    *,
    dev_path: Optional[PathLike] = None,
    test_fraction: float = 0.2,
    properties: Optional[Sequence[str]] = None,
    limit: Optional[int] = None,
    dev_limit: Optional[int] = None,
    max_train: Optional[int] = None,
    C: float = 1.0,
    max_iter: int = 200,
    encoder_name: Optional[str] = None,
    seed: int = 0,
    progress: bool = False,
) -> Dict:
    """Encode the data and probe every layer and the mix (see run_probes).
    Without dev_path, a seeded `test_fraction` of the training docs is held out."""
    encoder = find_encoder(nlp, encoder_name)
    docs = read_docs(train_path, nlp, limit=limit)
    if dev_path is None:
        train_docs, test_docs = split_docs(docs, test_fraction, seed)
    else:
        train_docs, test_docs = docs, read_docs(dev_path, nlp, limit=dev_limit)
    train_feats = encode_docs(encoder, train_docs, progress=progress, desc="Encoding train")
    test_feats = encode_docs(encoder, test_docs, progress=progress, desc="Encoding test")
    report = run_probes(
        train_feats, train_docs, test_feats, test_docs, properties,
        C=C, max_iter=max_iter, max_train=max_train, seed=seed, progress=progress,
    )
    report["settings"] = {
        "train": str(train_path),
        "dev": str(dev_path) if dev_path else f"{test_fraction:.0%} of train held out",
        "n_train_docs": len(train_docs),
        "n_test_docs": len(test_docs),
        "C": C,
        "max_iter": max_iter,
        "max_train": max_train,
        "seed": seed,
    }
    return report


def write_probe_outputs(report: Dict, output_dir: PathLike) -> Dict[str, Path]:
    """probe.json, probe.md and probe.png in output_dir."""
    return write_report(report, output_dir, "probe", probe_markdown, probe_plot)


CORRECTIONS = ("none", "pipeline") + METHODS


def check_corrections(corrections: Sequence[str]) -> None:
    """Fail (A011) naming the first unknown correction, before any encoding."""
    for name in corrections:
        if name not in CORRECTIONS:
            raise SpacyCtxError(Errors.A011.format(name=name, options=", ".join(CORRECTIONS)))


def anisotropy_corpus(
    nlp: Language,
    data_path: PathLike,
    *,
    corrections: Sequence[str] = ("none",),
    fit_path: Optional[PathLike] = None,
    limit: Optional[int] = None,
    fit_limit: Optional[int] = None,
    n_components: Optional[int] = None,
    skip_below: Optional[float] = None,
    n_pairs: int = 10000,
    min_count: int = 5,
    encoder_name: Optional[str] = None,
    seed: int = 0,
    progress: bool = False,
) -> Dict:
    """Ethayarajh's measures per layer, raw and under each correction, and,
    when the data has senses in doc.spans["wsd"], the polysemy AUC.

    corrections: "none", the methods of METHODS (fitted on fit_path, or on
        the data itself), and "pipeline" (the normalizer saved with the
        ctx_encoder, on the keys it has).
    """
    check_corrections(corrections)
    encoder = find_encoder(nlp, encoder_name)
    docs = read_docs(data_path, nlp, limit=limit)
    features = encode_docs(encoder, docs, progress=progress, desc="Encoding")
    fit_features = features
    methods = [c for c in corrections if c in METHODS]
    if methods and fit_path is not None:
        fit_docs = read_docs(fit_path, nlp, limit=fit_limit)
        fit_features = encode_docs(encoder, fit_docs, progress=progress, desc="Encoding fit data")
    normalizers: Dict[str, Optional[Normalizer]] = {}
    for name in corrections:
        if name == "none":
            normalizers[name] = None
        elif name == "pipeline":
            if encoder.normalizer is not None:
                normalizers[f"pipeline ({encoder.normalizer.method})"] = encoder.normalizer
        else:
            norm = Normalizer(name, n_components=n_components, skip_below=skip_below)
            normalizers[name] = norm.fit(fit_features.as_dict())
    info = token_info(docs)
    result = {
        "anisotropy": anisotropy_table(
            features, info, normalizers, n_pairs=n_pairs, min_count=min_count, seed=seed
        ),
        "polysemy": None,
        "settings": {
            "data": str(data_path),
            "fit_data": str(fit_path or data_path),
            "n_docs": len(docs),
            "n_tokens": features.n_tokens,
            "n_components": n_components,
            "skip_below": skip_below,
            "n_pairs": n_pairs,
            "min_count": min_count,
            "seed": seed,
        },
    }
    items = sense_items(docs)
    if len(items):
        result["polysemy"] = polysemy_table(features, items, normalizers, seed=seed)
    return result


def write_anisotropy_outputs(result: Dict, output_dir: PathLike) -> Dict[str, Path]:
    """anisotropy.json, anisotropy.md and anisotropy.png in output_dir."""
    return write_report(
        result,
        output_dir,
        "anisotropy",
        lambda r: anisotropy_markdown(r["anisotropy"], r["polysemy"]),
        lambda r, path: anisotropy_plot(r["anisotropy"], path, r["polysemy"]),
    )


def fit_normalizer_corpus(
    nlp: Language,
    data_path: PathLike,
    method: str,
    *,
    n_components: Optional[int] = None,
    eps: float = 0.1,
    skip_below: Optional[float] = None,
    mix_only: bool = False,
    enable: bool = True,
    limit: Optional[int] = None,
    encoder_name: Optional[str] = None,
    progress: bool = False,
) -> Normalizer:
    """Fit a Normalizer on the corpus (the mix, the token mix and, unless
    mix_only, every layer) and attach it to the pipeline's ctx_encoder."""
    encoder = find_encoder(nlp, encoder_name)
    norm = Normalizer(method, n_components=n_components, eps=eps, skip_below=skip_below)  # checks the method first
    docs = read_docs(data_path, nlp, limit=limit)
    features = encode_docs(encoder, docs, progress=progress, desc="Encoding")
    norm.fit({**features.as_dict(["mix"] if mix_only else None), TOKEN_MIX_KEY: features.token_mix})
    encoder.set_normalizer(norm, enable=enable)
    # Keep config.cfg in step with the component's own cfg.
    nlp.get_pipe_config(encoder.name)["normalize"] = enable
    return norm
