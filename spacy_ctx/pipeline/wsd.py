"""The ctx_wsd component: WordNet word-sense disambiguation on contextual layers."""
from collections import defaultdict
from itertools import islice
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Tuple, Union

import numpy
import srsly
from spacy import util
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span, Token
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate
from tqdm import tqdm

from ..errors import Errors, SpacyCtxError
from ..models.wsd import WSDBatch
from ..senses.embeddings import propagate_sense_embeddings
from ..senses.raganato import WSD_SPANS_KEY, doc_to_instances
from ..senses.scoring import score_wsd
from ..senses.wordnet import POS_TO_WN, WordNetInventory, get_inventory

DEFAULT_WSD_MODEL = """
[model]
@architectures = "spacy_ctx.WSDScorer.v1"
scale = 10.0
prior_weight = 0.5
train_senses = false

[model.tok2vec]
@architectures = "spacy_ctx.CtxListener.v1"
upstream = "*"
grad_factor = 0.0
layers = [-4,-3,-2,-1]
"""
# Defaults measured on SemEval-2007 (bench/bench_wsd.py, 1/5 of SemCor):
# the last 4 layers and a fixed sense table E (only W, b, the prior weight
# and the mix learn) gave 59.6 F1 at 7k words/s per epoch, against 59.1 at
# 0.9k words/s for all layers with E trained (dense Adam over E is slow).
# Adding gloss embeddings to E (gloss_weight 1) and a lighter prior (0.5,
# i.e. 0.05 per unit of cosine) gave about +3 F1 before any training; any
# choice of layers from 3-6 and weights 0.5-1.5 was within 0.5 F1.

# A target is (start token, end token, instance id, lemma, coarse POS or None).
Target = Tuple[int, int, str, str, Optional[str]]

if not Token.has_extension("sense"):
    Token.set_extension("sense", default=None)
if not Token.has_extension("sense_score"):
    Token.set_extension("sense_score", default=None)


def make_wsd_scorer(spans_key: str = WSD_SPANS_KEY) -> Callable:
    """WSD precision/recall/F1 (``{spans_key}_p/_r/_f``), framework definitions."""

    def scorer(examples: Iterable[Example], **kwargs) -> Dict[str, float]:
        return score_wsd(examples, spans_key=spans_key)

    return scorer


@Language.factory(
    "ctx_wsd",
    assigns=["token._.sense", "token._.sense_score", "doc.spans"],
    requires=["doc._.ctx_layers"],
    default_config={
        "model": Config().from_str(DEFAULT_WSD_MODEL)["model"],
        "wordnet_path": "",
        "spans_key": WSD_SPANS_KEY,
        "init_from_data": True,
        "gloss_weight": 1.0,
        "scorer": {"@scorers": "spacy_ctx.wsd_scorer.v1", "spans_key": WSD_SPANS_KEY},
    },
    default_score_weights={"wsd_f": 1.0, "wsd_p": 0.0, "wsd_r": 0.0},
)
def make_ctx_wsd(
    nlp: Language,
    name: str,
    model: Model[WSDBatch, numpy.ndarray],
    wordnet_path: str,
    spans_key: str,
    init_from_data: bool,
    gloss_weight: float,
    scorer: Optional[Callable],
) -> "CtxWSD":
    """Create a ctx_wsd component: one WordNet sense key per target word.

    model: the scorer (spacy_ctx.WSDScorer.v1) with a CtxListener tok2vec.
    wordnet_path: a WordNet 3.0 dict directory (the sense inventory). It is
        read at initialize/load time; the saved pipeline refers to it.
    spans_key: the span group with gold senses (training) and predictions.
        If a doc already has this group at prediction time (even empty), its spans are the
        targets (e.g. the instances of a Raganato file); else every
        NOUN/VERB/ADJ/ADV token (from the tagger, or any alphabetic non-stop
        word when there is no POS) with WordNet candidates is a target.
    init_from_data: initialise the sense table from the mean contextual
        vector of each sense in the training data (LMMS-style, propagated to
        unseen senses through WordNet); otherwise zeros (the sense prior only).
    gloss_weight: add this weight times each sense's gloss embedding (the
        unit-norm mean vector of its synset's lemma names, definition and
        examples, encoded by the upstream ctx_encoder at initialize, as in
        LMMS) to its initial row; 0 = no glosses. It lets senses rare or
        unseen in training compete by meaning, not only by frequency.
    """
    return CtxWSD(
        nlp.vocab,
        model,
        name,
        wordnet_path=wordnet_path,
        spans_key=spans_key,
        init_from_data=init_from_data,
        gloss_weight=gloss_weight,
        scorer=scorer,
    )


class CtxWSD(TrainablePipe):
    """Predicts WordNet senses among the candidates of each target's lemma and POS.

    Senses of lemmas seen in training are scored by the model; a target
    whose candidates are not all in the model's sense table (a lemma unseen
    in training) falls back to its most frequent sense (WordNet's first).
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "ctx_wsd",
        *,
        wordnet_path: str = "",
        spans_key: str = WSD_SPANS_KEY,
        init_from_data: bool = True,
        gloss_weight: float = 1.0,
        scorer: Optional[Callable] = None,
    ):
        if gloss_weight < 0:
            raise SpacyCtxError(Errors.E106.format(weight=gloss_weight))
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg = {
            "wordnet_path": str(wordnet_path),
            "spans_key": spans_key,
            "init_from_data": init_from_data,
            "gloss_weight": float(gloss_weight),
            "senses": [],
        }
        self._inventory: Optional[WordNetInventory] = None
        self._rows: Dict[str, int] = {}
        self._priors: Dict[Tuple[str, ...], numpy.ndarray] = {}

    # The sense inventory and table

    @property
    def inventory(self) -> WordNetInventory:
        if self._inventory is None:
            path = self.cfg["wordnet_path"]
            if not path:
                raise SpacyCtxError(Errors.E103.format(path=path))
            self._inventory = get_inventory(path)
        return self._inventory

    @property
    def senses(self) -> List[str]:
        """The sense keys of the model's sense table, in row order."""
        return list(self.cfg["senses"])

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["senses"])

    def _set_senses(self, senses: List[str]) -> None:
        self.cfg["senses"] = list(senses)
        self._rows = {key: i for i, key in enumerate(senses)}

    def candidates(self, lemma: str, pos: Optional[str]) -> Tuple[str, ...]:
        """Candidate sense keys of a lemma and coarse POS, most frequent first."""
        return self.inventory.candidates(lemma, pos)

    def log_prior(self, keys: Tuple[str, ...]) -> numpy.ndarray:
        """Sense-frequency log prior over a candidate list (add-one counts;
        WordNet order breaks ties, so the argmax is WordNet's first sense)."""
        if keys not in self._priors:
            self._priors[keys] = self._log_prior(keys)
        return self._priors[keys]

    def _log_prior(self, keys: Tuple[str, ...]) -> numpy.ndarray:
        counts = numpy.asarray([self.inventory.count(k) for k in keys], dtype="f") + 1.0
        prior = numpy.log(counts / counts.sum())
        return (prior - 1e-3 * numpy.arange(len(keys), dtype="f")).astype("f")

    # Targets

    def _targets(self, doc: Doc) -> List[Target]:
        """Targets of a doc at prediction time (see the factory doc)."""
        key = self.cfg["spans_key"]
        targets: List[Target] = []
        if key in doc.spans:
            seen = set()
            for span in doc.spans[key]:
                ident = (span.start, span.end, span.id_)
                if ident in seen:
                    continue
                seen.add(ident)
                lemma, pos = _span_lemma_pos(span)
                targets.append((span.start, span.end, span.id_, lemma, pos))
            return targets
        for token in doc:
            pos = token.pos_ or None
            if pos is None:
                if not token.is_alpha or token.is_stop:
                    continue
            elif pos not in POS_TO_WN:
                continue
            lemma = token.lemma_ or token.lower_
            if self.candidates(lemma, pos):
                targets.append((token.i, token.i + 1, "", lemma, pos))
        return targets

    def _make_batch(
        self, docs: List[Doc], targets: List[List[Target]]
    ) -> Tuple[WSDBatch, List[Tuple[int, int, Tuple[str, ...]]], List]:
        """Split targets into model-scored ones and fallbacks.

        Returns the batch, the (doc, target, candidates) of each scored target
        and the decided answers [(doc, target, key, score)] of the others.
        """
        scored, decided = [], []
        spans, rows, lengths, priors = [], [], [], []
        for d, doc_targets in enumerate(targets):
            for t, (start, end, _, lemma, pos) in enumerate(doc_targets):
                keys = self.candidates(lemma, pos)
                if not keys:
                    continue
                if len(keys) == 1:
                    decided.append((d, t, keys[0], 1.0))
                elif all(k in self._rows for k in keys):
                    scored.append((d, t, keys))
                    spans.append((d, start, end))
                    rows.extend(self._rows[k] for k in keys)
                    lengths.append(len(keys))
                    priors.append(self.log_prior(keys))
                else:  # a lemma unseen in training: most frequent sense
                    prob = float(numpy.exp(self.log_prior(keys)[0]))
                    decided.append((d, t, keys[0], prob))
        batch = WSDBatch(
            docs=docs,
            targets=spans,
            rows=numpy.asarray(rows, dtype="i"),
            lengths=numpy.asarray(lengths, dtype="i"),
            log_prior=numpy.concatenate(priors) if priors else numpy.zeros((0,), "f"),
        )
        return batch, scored, decided

    # Prediction

    def predict(self, docs: Iterable[Doc]):
        """Score the candidates of every target. Returns, per doc, a list of
        (target, sense key, probability) answers."""
        docs = list(docs)
        targets = [self._targets(doc) if len(doc) else [] for doc in docs]
        answers: List[list] = [[] for _ in docs]
        batch, scored, decided = self._make_batch(docs, targets)
        for d, t, key, prob in decided:
            answers[d].append((targets[d][t], key, prob))
        if scored:
            scores = self.model.ops.to_numpy(self.model.predict(batch))
            probs = _segment_softmax(scores, batch.lengths)
            offset = 0
            for (d, t, keys), n in zip(scored, batch.lengths):
                best = int(probs[offset : offset + n].argmax())
                answers[d].append((targets[d][t], keys[best], float(probs[offset + best])))
                offset += n
        for doc_answers in answers:
            doc_answers.sort(key=lambda a: (a[0][0], a[0][1]))
        return answers

    def set_annotations(self, docs: Iterable[Doc], answers) -> None:
        """Write token._.sense/_.sense_score and the span group (label = key,
        id = instance id). Targets without candidates get no span."""
        key = self.cfg["spans_key"]
        for doc, doc_answers in zip(docs, answers):
            spans = []
            for (start, end, iid, _, _), sense, prob in doc_answers:
                spans.append(Span(doc, start, end, label=sense, span_id=iid))
                for token in doc[start:end]:
                    token._.sense = sense
                    token._.sense_score = prob
            doc.spans[key] = spans

    # Training

    def _gold_targets(self, eg: Example) -> Tuple[List[Target], List[List[str]]]:
        """Gold instances of an example, on the predicted doc's tokens, with
        lemma/POS from the reference (gold annotation)."""
        targets, golds = [], []
        for iid, keys, span in doc_to_instances(eg.reference, self.cfg["spans_key"]):
            if not keys:
                continue
            pred = eg.predicted.char_span(span.start_char, span.end_char, alignment_mode="expand")
            if pred is None or len(pred) == 0:
                continue
            lemma, pos = _span_lemma_pos(span)
            targets.append((pred.start, pred.end, iid, lemma, pos))
            golds.append(keys)
        return targets, golds

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch: cross-entropy over each instance's candidates."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "CtxWSD.update")
        docs = [eg.predicted for eg in examples]
        gold_targets = [self._gold_targets(eg) for eg in examples]
        batch, scored, _ = self._make_batch(docs, [t for t, _ in gold_targets])
        # Every doc must go through the listener so that it consumes the
        # batch the encoder sent, even when no target of the batch is scored.
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update(batch)
        if not scored:
            return losses
        golds = [gold_targets[d][1][t] for d, t, _ in scored]
        loss, d_scores = self.get_loss(examples, (self.model.ops.to_numpy(scores), batch, scored, golds))
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples, scores_and_batch) -> Tuple[float, numpy.ndarray]:
        """Cross-entropy against the gold keys among each target's candidates
        (mass shared when there are several gold keys); targets whose gold
        keys are not candidates add nothing."""
        scores, batch, scored, golds = scores_and_batch
        probs = _segment_softmax(scores, batch.lengths)
        truth = numpy.zeros_like(probs)
        mask = numpy.zeros_like(probs)
        loss = 0.0
        offset = 0
        for (_, _, keys), gold, n in zip(scored, golds, batch.lengths):
            hits = [i for i, k in enumerate(keys) if k in gold]
            if hits:
                truth[offset + numpy.asarray(hits)] = 1.0 / len(hits)
                mask[offset : offset + n] = 1.0
                loss -= float(numpy.log(probs[offset + numpy.asarray(hits)].sum() + 1e-12))
            offset += n
        n_targets = max(1, len(scored))
        d_scores = (probs - truth) * mask / n_targets
        return loss / n_targets, self.model.ops.asarray1f(d_scores)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        wordnet_path: Optional[str] = None,
    ) -> None:
        """Load the inventory, build the sense table from the candidates of
        every training lemma/POS, and (init_from_data) initialise it from the
        training data's mean vectors, LMMS-style."""
        validate_get_examples(get_examples, "CtxWSD.initialize")
        if wordnet_path is not None:
            self.cfg["wordnet_path"] = str(wordnet_path)
            self._inventory = None
        inventory = self.inventory  # clear error now for a bad path
        # Saved absolute, so the trained pipeline loads from anywhere.
        self.cfg["wordnet_path"] = str(inventory.path)
        senses: Dict[str, None] = {}
        n_instances = 0
        for eg in get_examples():
            for _, keys, span in doc_to_instances(eg.reference, self.cfg["spans_key"]):
                if keys:
                    n_instances += 1
                    for key in self.candidates(*_span_lemma_pos(span)):
                        senses[key] = None
        if not n_instances:
            raise SpacyCtxError(Errors.E102.format(key=self.cfg["spans_key"]))
        self._set_senses(list(senses))
        self.model.set_dim("nS", len(self.cfg["senses"]), force=True)
        tok2vec = self.model.get_ref("tok2vec")
        tok2vec.initialize()
        weight = self.cfg.get("gloss_weight", 0.0)
        if self.cfg["init_from_data"] or weight:
            E = numpy.zeros((len(self.cfg["senses"]), tok2vec.get_dim("nO")), dtype="f")
            if weight:  # first: it fails fast without an upstream encoder
                E += weight * self._gloss_table(nlp, inventory)
            if self.cfg["init_from_data"]:
                E += self._mean_sense_table(get_examples, nlp, inventory)
            self.model.attrs["init_senses"] = E
        self.model.initialize()

    def _mean_sense_table(self, get_examples, nlp, inventory) -> numpy.ndarray:
        tok2vec = self.model.get_ref("tok2vec")
        width = tok2vec.get_dim("nO")
        sums: Dict[str, numpy.ndarray] = defaultdict(lambda: numpy.zeros((width,), "f"))
        counts: Dict[str, int] = defaultdict(int)
        encoder = _upstream_encoder(nlp, self.name)
        examples = iter(get_examples())
        while True:
            chunk = list(islice(examples, 64))
            if not chunk:
                break
            docs = [eg.predicted for eg in chunk]
            if encoder is not None and any(doc._.ctx_layers is None for doc in docs):
                # The frozen cache (when on) then serves the first epoch too.
                outputs = encoder.cached_predict(docs)
                encoder.set_annotations(docs, outputs)
            vectors = [self.model.ops.to_numpy(h) for h in tok2vec.predict(docs)]
            for eg, doc_vectors in zip(chunk, vectors):
                for (start, end, _, _, _), keys in zip(*self._gold_targets(eg)):
                    vec = doc_vectors[start:end].mean(axis=0)
                    vec = vec / (numpy.linalg.norm(vec) + 1e-8)
                    for key in keys:
                        sums[key] += vec
                        counts[key] += 1
        seen = {key: sums[key] / counts[key] for key in counts}
        table = propagate_sense_embeddings(inventory, seen, self.cfg["senses"])
        E = numpy.zeros((len(self.cfg["senses"]), width), dtype="f")
        for i, key in enumerate(self.cfg["senses"]):
            vec = table.get(key)
            if vec is not None:
                E[i] = vec / (numpy.linalg.norm(vec) + 1e-8)
        return E

    def _gloss_table(self, nlp: Optional[Language], inventory, batch_size: int = 256) -> numpy.ndarray:
        """Unit-norm gloss embeddings, one row per sense of the table: the
        tok2vec's vectors averaged over the sense's gloss_text. Senses of one
        synset share a text, which is encoded once."""
        encoder = _upstream_encoder(nlp, self.name)
        if encoder is None:
            raise SpacyCtxError(Errors.E105.format(weight=self.cfg["gloss_weight"]))
        tok2vec = self.model.get_ref("tok2vec")
        texts: Dict[str, List[int]] = defaultdict(list)
        for i, key in enumerate(self.cfg["senses"]):
            text = inventory.gloss_text(key)
            if text:
                texts[text].append(i)
        G = numpy.zeros((len(self.cfg["senses"]), tok2vec.get_dim("nO")), dtype="f")
        # Sorted by length so that each encoder batch pads little.
        ordered = sorted(texts, key=len)
        # Minutes for a SemCor-sized table: show progress on a terminal.
        bar = tqdm(total=len(ordered), desc="Encoding WordNet glosses", unit="gloss", disable=None, leave=False)
        for start in range(0, len(ordered), batch_size):
            chunk = ordered[start : start + batch_size]
            # The encoder's own pipe, not the frozen cache: glosses are not
            # training docs.
            docs = list(encoder.pipe((nlp.make_doc(text) for text in chunk), batch_size=len(chunk)))
            for text, vectors in zip(chunk, tok2vec.predict(docs)):
                vec = self.model.ops.to_numpy(vectors).mean(axis=0)
                G[texts[text]] = vec / (numpy.linalg.norm(vec) + 1e-8)
            bar.update(len(chunk))
        bar.close()
        return G

    def add_label(self, label: str) -> int:
        raise NotImplementedError("ctx_wsd takes its labels (sense keys) from WordNet.")

    # Serialisation: cfg (with the sense table's keys) and model weights.

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        serialize = {
            "cfg": lambda: srsly.json_dumps(self.cfg),
            "model": lambda: self.model.to_bytes(),
        }
        return util.to_bytes(serialize, exclude)

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "CtxWSD":
        def load_model(b):
            self.model.set_dim("nS", len(self.cfg["senses"]), force=True)
            self.model.from_bytes(b)

        deserialize = {"cfg": self._load_cfg, "model": load_model}
        util.from_bytes(bytes_data, deserialize, exclude)
        return self

    def to_disk(self, path: Union[str, Path], *, exclude=tuple()) -> None:
        serialize = {
            "cfg": lambda p: srsly.write_json(p, self.cfg),
            "model": lambda p: self.model.to_disk(p),
        }
        util.to_disk(path, serialize, exclude)

    def from_disk(self, path: Union[str, Path], *, exclude=tuple()) -> "CtxWSD":
        def load_model(p):
            self.model.set_dim("nS", len(self.cfg["senses"]), force=True)
            self.model.from_disk(p)

        deserialize = {
            "cfg": lambda p: self._load_cfg(srsly.read_json(p)),
            "model": load_model,
        }
        util.from_disk(path, deserialize, exclude)
        return self

    def _load_cfg(self, cfg) -> None:
        if isinstance(cfg, (bytes, str)):
            cfg = srsly.json_loads(cfg)
        self.cfg.update(cfg)
        self._set_senses(self.cfg["senses"])
        self._inventory = None


def _span_lemma_pos(span: Span) -> Tuple[str, Optional[str]]:
    """Lemma and coarse POS of a target: those of its first token, or its
    lower-cased text (and any POS) when the tokens carry none."""
    first = span[0]
    lemma = first.lemma_ or "_".join(t.lower_ for t in span)
    return lemma, (first.pos_ or None)


def _upstream_encoder(nlp: Optional[Language], name: str):
    if nlp is None:
        return None
    for _, component in nlp.pipeline:
        if name in getattr(component, "listening_components", []):
            return component
    return None


def _segment_softmax(scores: numpy.ndarray, lengths: numpy.ndarray) -> numpy.ndarray:
    """Softmax within each consecutive segment of ``lengths`` scores."""
    out = numpy.empty_like(scores)
    offset = 0
    for n in lengths:
        seg = scores[offset : offset + n]
        e = numpy.exp(seg - seg.max())
        out[offset : offset + n] = e / e.sum()
        offset += n
    return out
