"""The corpora as the cases read them, through spacy_ctx.corpora and spaCy's converters."""
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import spacy
from spacy.tokens import DocBin

from spacy_ctx.corpora import read_docs

from . import TASKS


def sentences(path: Path, limit: Optional[int] = None) -> Tuple[List[str], List[int]]:
    """The text and the number of words of each sentence of an annotated corpus: CoNLL-U as its `# text` lines have
    it, CoNLL NER columns as the tokens joined by spaces. `limit` 0 or None: all."""
    docs = read_docs(path, spacy.blank("en"), limit=limit or None)
    return [doc.text.rstrip() for doc in docs], [len(doc) for doc in docs]


def unique_texts(pairs) -> List[str]:
    """Each text of sentence pairs (STS-B) once, in order."""
    return list(dict.fromkeys(t for p in pairs for t in p[:2]))


def docbin(path: Path, out: Path, limit: Optional[int] = None, stride: int = 1, n_sents: int = 10) -> Path:
    """A corpus as a .spacy file: the first `limit` docs of `n_sents` sentences (CoNLL-U, CoNLL NER), or every stride-
    th sentence with its gold senses (Raganato XML)."""
    if not out.exists():
        docs = read_docs(path, spacy.blank("en"), limit=limit, n_sents=n_sents)[::stride]
        DocBin(docs=docs, store_user_data=True).to_disk(out)
    return out


def convert(task: str, data: Path, work: Path, train_limit: int = 0, dev_limit: int = 0, n_sents: Optional[int] = None) -> Dict:
    """A task's train and dev sets as .spacy files in `work`, converted as `spacy convert` does, keeping the first
    train_limit / dev_limit docs (0 = all): the paths and the counts of docs and words.

    CoNLL-2003: one doc per article (spaCy's converter ignores `-n` where -DOCSTART- lines are), or with `n_sents`
    each article cut into docs of that many sentences. EWT: docs of `n_sents` sentences (default 10)."""
    from spacy.training.converters import conll_ner_to_docs, conllu_to_docs

    paths: Dict = {}
    for split, limit in (("train", train_limit), ("dev", dev_limit)):
        text = (data / TASKS[task][split]).read_text(encoding="utf8")
        if task == "ner":
            # spaCy splits documents on "-DOCSTART- -X- O O"; this copy has a chunk column of -X-, so the marker
            # needs normalising first.
            docs = list(conll_ner_to_docs(text.replace("-DOCSTART- -X- -X- O", "-DOCSTART- -X- O O"), no_print=True))
            docs = [part for doc in docs for part in split_sentences(doc, n_sents)] if n_sents else docs
        else:
            docs = list(conllu_to_docs(text, n_sents=n_sents or 10, no_print=True))
        docs = docs[:limit] if limit else docs
        paths[split] = work / f"{split}.spacy"
        DocBin(docs=docs, store_user_data=False).to_disk(paths[split])
        paths.update({f"n_{split}_words": sum(len(doc) for doc in docs), f"n_{split}_docs": len(docs)})
    return paths


def split_sentences(doc, n_sents: int) -> List:
    """`doc` cut into docs of `n_sents` sentences, entities kept."""
    sents = list(doc.sents)
    return [doc[sents[i].start : sents[min(i + n_sents, len(sents)) - 1].end].as_doc() for i in range(0, len(sents), n_sents)]


def load_docs(path: Path, vocab=None) -> List:
    return list(DocBin().from_disk(path).get_docs(vocab or spacy.blank("en").vocab))
