"""The spaCy project (project.yml): commands, files, workflows, a corpus converted as laid out, and `all` end to end."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.tokens import DocBin
from weasel.cli.run import project_run
from weasel.util import load_project_config

from .util import ROOT, SHARED_DATA

# What a fresh checkout gives the project: the files `all` and `full` read.
PROJECT_FILES = ["project.yml", "configs", "corpus"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """project.yml, loaded and validated by weasel with its default vars
    (from a copy: loading creates the project's directories)."""
    return _load(tmp_path_factory.mktemp("project"))


def _load(project_dir: Path, **overrides):
    shutil.copy(ROOT / "project.yml", project_dir / "project.yml")
    return load_project_config(project_dir, overrides=overrides)


def _copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / name)
    return dest


def _run(project_dir: Path, name: str, *overrides: str, timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", name, str(project_dir), *overrides],
        capture_output=True, text=True, env=env, timeout=timeout,
    )


def _script_paths(command):
    """Repository paths a command's script reads (configs, corpus, bench
    scripts; not what it writes to bench/results/)."""
    for line in command["script"]:
        for word in line.split():
            if word.startswith(("configs/", "corpus/", "bench/")) and not word.startswith("bench/results/"):
                yield word


def test_workflows_run_defined_commands_in_dependency_order(project):
    commands = {cmd["name"]: cmd for cmd in project["commands"]}
    assert set(project["workflows"]) == {"all", "full", "curves", "base"}
    for name, steps in project["workflows"].items():
        assert set(steps) <= set(commands), name
        made = set()
        for step in steps:
            for dep in commands[step].get("deps", []):
                # Each dep is in the repository or made by an earlier step;
                # the raw corpora of `full` and `curves` come from the user's vars.
                from_vars = step in ("convert-full", "pretrain-elmo")
                assert from_vars or dep in made or (ROOT / dep).exists(), (name, step, dep)
            made.update(commands[step].get("outputs", []))
        trained = {out for step in steps for out in commands[step].get("outputs", [])}
        if name in ("all", "full"):
            assert {"training/ner/model-best", "training/tagger/model-best", "training/wsd/model-best"} <= trained
        if name == "base":
            assert {"training/ner-base/model-best", "training/tagger-base/model-best"} <= trained


def test_training_steps_are_the_configs_own():
    """By default the project trains each head on its config's schedule: the
    max_steps it passes to the NER and tagger trainings is theirs, and WSD's
    0 keeps wsd.cfg's epochs."""
    from thinc.api import Config

    project = srsly.read_yaml(ROOT / "project.yml")  # vars not yet substituted
    commands = {cmd["name"]: " ".join(cmd["script"]) for cmd in project["commands"]}
    for step, config in (("train-ner", "ner.cfg"), ("train-tagger", "tagger.cfg")):
        assert "--training.max_steps ${vars.max_steps}" in commands[step]
        training = Config().from_disk(ROOT / "configs" / config, interpolate=False)["training"]
        assert project["vars"]["max_steps"] == training["max_steps"], config
    assert "--training.max_steps ${vars.wsd_max_steps}" in commands["train-wsd"]
    wsd = Config().from_disk(ROOT / "configs" / "wsd.cfg", interpolate=False)["training"]
    assert project["vars"]["wsd_max_steps"] == wsd["max_steps"] > 0  # 0 with max_epochs 0 would never stop


def test_scripts_name_files_that_exist(project):
    for command in project["commands"]:
        for path in _script_paths(command):
            assert (ROOT / path).exists(), (command["name"], path)
    benches = [cmd["name"] for cmd in project["commands"] if cmd["name"].startswith("bench-")]
    assert len(benches) >= 5
    # Benchmarks stay out of the training workflows; `curves` is one.
    training = {step for name, steps in project["workflows"].items() if name != "curves" for step in steps}
    assert not set(benches) & training
    assert project["workflows"]["curves"] == ["pretrain-elmo", "bench-curves"]


def test_bench_commands_use_options_their_case_has(project):
    """Every --option a bench-* command passes is one its case defines (a renamed option fails here, not after
    the hours a bench command can take)."""
    for command in project["commands"]:
        for line in command["script"]:
            words = line.split()
            cases = [w for w in words if w.startswith("bench/") and w.endswith(".py")]
            if not cases:
                continue
            source = (ROOT / cases[0]).read_text() + (ROOT / "bench" / "harness" / "__init__.py").read_text()
            for word in words:
                option = word.split("=")[0]
                if option.startswith("--"):
                    assert f'"{option}"' in source, (command["name"], option)


def test_pretrain_elmo_follows_its_vars(project, tmp_path):
    def script(config):
        command = {cmd["name"]: cmd for cmd in config["commands"]}["pretrain-elmo"]
        return " ".join(command["script"]).split()

    default = script(project)
    assert (ROOT / project["vars"]["elmo_config"]).exists()
    assert default[default.index("--gpu-id") + 1] == "-1"
    gpu = {"vars.gpu_id": 0, "vars.elmo_config": "configs/pretrain_elmo_wide.cfg",
           "vars.elmo_minutes": 5, "vars.elmo_epochs": 200}
    wide = script(_load(tmp_path, **gpu))
    for option, value in [("--gpu-id", "0"), ("--config", "configs/pretrain_elmo_wide.cfg"),
                          ("--max-minutes", "5"), ("--epochs", "200")]:
        assert wide[wide.index(option) + 1] == value, option
    assert (ROOT / "configs/pretrain_elmo_wide.cfg").exists()


def test_defaults_never_point_into_shared_data(project, tmp_path):
    used = [*project["vars"].values()]
    for command in project["commands"]:
        used += [*command["script"], *command.get("deps", []), *command.get("outputs", [])]
    assert not [text for text in used if "shared" in str(text)]
    # Full-data paths follow the data var, so one override moves them all.
    overridden = _load(tmp_path, **{"vars.data": "/corpora"})
    assert overridden["vars"]["conll"] == "/corpora/conll2003"
    assert overridden["vars"]["semeval"] == "/corpora/wsd/semeval2007/semeval2007"
    commands = {cmd["name"]: cmd for cmd in overridden["commands"]}
    assert commands["convert-full"]["deps"][:3] == [
        "/corpora/conll2003/train.txt", "/corpora/conll2003/valid.txt", "/corpora/ud_english_ewt/en_ewt-ud-train.conllu"
    ]


def test_every_dep_and_output_is_one_path(project):
    """Each entry stays one path after interpolation (confection joins an
    entry that ends in a var with a next one that starts with a var)."""
    for command in project["commands"]:
        paths = [*command.get("deps", []), *command.get("outputs", [])]
        assert not [path for path in paths if ", " in path or " " in path.strip()], command["name"]
        assert len(set(paths)) == len(paths), command["name"]


def test_raw_samples_match_the_docbin_samples():
    """corpus/*.conll and *.conllu.txt (what the project converts) hold the same sentences
    and labels as corpus/*.spacy (what the configs default to), read back
    with the package's own corpus reader."""
    from spacy_ctx.corpora import read_docs

    nlp = spacy.blank("en")
    for name, suffix in [("ner-train", ".conll"), ("ner-dev", ".conll"), ("tagger-train", ".conllu.txt"), ("tagger-dev", ".conllu.txt")]:
        gold = list(DocBin().from_disk(ROOT / "corpus" / f"{name}.spacy").get_docs(nlp.vocab))
        fmt = "ner" if name.startswith("ner") else "conllu"
        raw = read_docs(ROOT / "corpus" / f"{name}{suffix}", nlp, fmt=fmt)
        if name.startswith("ner"):
            key = lambda doc: [(t.text, t.ent_iob_, t.ent_type_) for t in doc]  # noqa: E731
        else:
            key = lambda doc: [(t.text, t.tag_, t.pos_) for t in doc]  # noqa: E731
        assert [key(doc) for doc in raw] == [key(doc) for doc in gold], name


@pytest.mark.slow
def test_convert_full_reads_a_corpus_layout(tmp_path):
    """convert-full on the samples laid out like the real corpora: CoNLL's
    -DOCSTART- lines split documents instead of becoming tokens."""
    project_dir = _copy_project(tmp_path / "project")
    data = tmp_path / "corpora"
    layout = {
        "conll2003/train.txt": "ner-train.conll",
        "conll2003/valid.txt": "ner-dev.conll",
        "ud_english_ewt/en_ewt-ud-train.conllu": "tagger-train.conllu.txt",
        "ud_english_ewt/en_ewt-ud-dev.conllu": "tagger-dev.conllu.txt",
        "wsd/semcor30_from_naf.data.xml": "wsd-train.data.xml",
        "wsd/semcor30_from_naf.gold.key.txt": "wsd-train.gold.key.txt",
        "wsd/semeval2007/semeval2007.data.xml": "wsd-dev.data.xml",
        "wsd/semeval2007/semeval2007.gold.key.txt": "wsd-dev.gold.key.txt",
    }
    for dest, sample in layout.items():
        (data / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "corpus" / sample, data / dest)
    result = _run(project_dir, "convert-full", f"--vars.data={data}", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    nlp = spacy.blank("en")
    ner = list(DocBin().from_disk(project_dir / "training/ner-train.spacy").get_docs(nlp.vocab))
    # The sample has a -DOCSTART- before every 10 of its 48 sentences.
    assert len(ner) == 5
    assert not any(t.text == "-DOCSTART-" for doc in ner for t in doc)
    assert sum(len(doc.ents) for doc in ner) > 100
    tagger = list(DocBin().from_disk(project_dir / "training/tagger-dev.spacy").get_docs(nlp.vocab))
    assert [t.tag_ for t in tagger[0][:3]] == ["DT", "NN", "VBD"]
    wsd = list(DocBin().from_disk(project_dir / "training/wsd-dev.spacy").get_docs(nlp.vocab))
    assert sum(len(doc.spans["wsd"]) for doc in wsd) > 0


def test_convert_full_names_a_missing_corpus(tmp_path, capsys):
    project_dir = _copy_project(tmp_path / "project")
    with pytest.raises(SystemExit):
        project_run(project_dir, "convert-full", overrides={"vars.data": str(tmp_path / "nowhere")})
    out = capsys.readouterr().out
    assert "Missing dependency" in out and "nowhere/conll2003/train.txt" in out
    assert not (project_dir / "project.lock").exists()


@pytest.mark.slow
def test_project_run_all(tmp_path):
    """`spacy project run all` in a copy of the project: three trained
    pipelines and their dev scores (WSD when WordNet can be found)."""
    project_dir = _copy_project(tmp_path / "project")
    wordnet = SHARED_DATA / "wordnet30" / "dict"
    args = ["all", "--vars.max_steps=10", "--vars.wsd_max_steps=10"]
    if wordnet.exists():
        args.append(f"--vars.wordnet={wordnet}")
    result = _run(project_dir, *args, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for head in ("ner", "tagger"):
        assert (project_dir / "training" / head / "model-best" / "ctx_encoder").is_dir()
    ner = srsly.read_json(project_dir / "metrics/ner.json")
    tagger = srsly.read_json(project_dir / "metrics/tagger.json")
    assert 0.0 <= ner["ents_f"] <= 1.0
    assert 0.0 < tagger["pos_acc"] <= 1.0 and 0.0 < tagger["tag_acc"] <= 1.0
    if wordnet.exists():
        wsd = srsly.read_json(project_dir / "metrics/wsd.json")
        assert 0.0 < wsd["wsd_f"] <= 1.0
    else:
        assert "Skipping train-wsd" in result.stdout
