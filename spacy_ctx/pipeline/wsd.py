"""The ctx_wsd component: WordNet word-sense disambiguation on contextual layers."""
from pathlib import Path
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple, Union

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span, Token
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate
from thinc.types import Floats1d

from ..errors import Errors, SpacyCtxError
from ..models.wsd import WSDBatch, repeat_segments, segment_softmax
from ..senses.embeddings import fold, initial_sense_table
from ..senses.inventory import SenseInventory
from ..senses.raganato import WSD_SPANS_KEY, doc_to_instances
from ..senses.scoring import make_wsd_scorer
from ..senses.targets import Answer, Scored, Target, find_targets, gold_targets, plan_batch, span_lemma_pos
from ..senses.wordnet import get_inventory
from .wsd_saving import SavedWSD

__all__ = ["CtxWSD", "Ranking", "Target", "make_ctx_wsd", "make_wsd_scorer"]

DEFAULT_WSD_MODEL = """
[model]
@architectures = "spacy_ctx.WSDScorer.v1"
scale = 10.0
prior_weight = 0.5
train_senses = false
gloss_projection = false
identity_l2 = 0.0

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

class Ranking(NamedTuple):
    """A target's candidate sense keys and their probabilities, best first."""

    target: Target
    keys: Tuple[str, ...]
    scores: Tuple[float, ...]


if not Token.has_extension("sense"):
    Token.set_extension("sense", default=None)
if not Token.has_extension("sense_score"):
    Token.set_extension("sense_score", default=None)


@Language.factory(
    "ctx_wsd",
    assigns=["token._.sense", "token._.sense_score", "doc.spans"],
    requires=["doc._.ctx_layers"],
    default_config={
        "model": Config().from_str(DEFAULT_WSD_MODEL)["model"],
        "wordnet_path": None,
        "spans_key": WSD_SPANS_KEY,
        "init_from_data": True,
        "gloss_weight": 1.0,
        "cross_fit": True,
        "scorer": {"@scorers": "spacy_ctx.wsd_scorer.v1", "spans_key": WSD_SPANS_KEY},
    },
    default_score_weights={"wsd_f": 1.0, "wsd_p": 0.0, "wsd_r": 0.0},
)
def make_ctx_wsd(
    nlp: Language,
    name: str,
    model: Model[WSDBatch, numpy.ndarray],
    wordnet_path: Optional[str],
    spans_key: str,
    init_from_data: bool,
    gloss_weight: float,
    cross_fit: bool,
    scorer: Optional[Callable],
) -> "CtxWSD":
    """Create a ctx_wsd component: one WordNet sense key per target word.

    model: the scorer (spacy_ctx.WSDScorer.v1) with a CtxListener tok2vec.
    wordnet_path: a WordNet 3.0 dict directory, read at initialize only;
        None or "": nltk's `wordnet` corpus (`python -m nltk.downloader
        wordnet`). The component saves what prediction needs of WordNet (its
        candidates, counts and morphology, see senses/inventory.py) with the
        pipeline, which then loads and predicts with no WordNet and no nltk.
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
    cross_fit: with init_from_data and a fixed table, train against rows
        built from the other half of the training data (the docs split in
        two by a hash of their text): a row built from the instance being
        scored already holds that instance, so the training loss starts
        near zero for rare senses and training learns to trust a similarity
        the dev data does not show. Prediction uses the rows from all data.
    """
    return CtxWSD(
        nlp.vocab,
        model,
        name,
        wordnet_path=wordnet_path,
        spans_key=spans_key,
        init_from_data=init_from_data,
        gloss_weight=gloss_weight,
        cross_fit=cross_fit,
        scorer=scorer,
    )


class CtxWSD(SavedWSD, TrainablePipe):
    """Predicts WordNet senses among the candidates of each target's lemma and POS.

    Senses of lemmas seen in training are scored by the model; the other
    targets get a fallback answer (see spacy_ctx.senses.targets).
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "ctx_wsd",
        *,
        wordnet_path: Optional[str] = None,
        spans_key: str = WSD_SPANS_KEY,
        init_from_data: bool = True,
        gloss_weight: float = 1.0,
        cross_fit: bool = True,
        scorer: Optional[Callable] = None,
    ):
        if gloss_weight < 0:
            raise SpacyCtxError(Errors.E106.format(weight=gloss_weight))
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg = {
            "wordnet_path": str(wordnet_path or ""),
            "spans_key": spans_key,
            "init_from_data": init_from_data,
            "gloss_weight": float(gloss_weight),
            "cross_fit": bool(cross_fit),
            "senses": [],
        }
        # [2, nS, width] float16: the rows each half of the training docs is
        # trained against (see cross_fit). Made at initialize, not saved.
        self._cross_rows: Optional[numpy.ndarray] = None
        self._inventory: Optional[SenseInventory] = None
        self._rows: Dict[str, int] = {}

    # The sense inventory and table

    @property
    def inventory(self) -> SenseInventory:
        """What the component knows of WordNet: candidates, counts, morphology.
        Saved with the pipeline; before initialize (or in a pipeline saved
        without it), read from the WordNet of `wordnet_path`."""
        if self._inventory is None:
            self._inventory = get_inventory(self.cfg["wordnet_path"] or None).senses
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
        return self.inventory.log_prior(keys)

    # Prediction

    def predict(self, docs: Iterable[Doc]) -> List[List[Answer]]:
        """Score the candidates of every target. Returns, per doc, its answers
        (target, sense key, probability) in token order."""
        return [[Answer(r.target, r.keys[0], r.scores[0]) for r in ranked] for ranked in self.rank(docs)]

    def rank(self, docs: Iterable[Doc]) -> List[List[Ranking]]:
        """Every candidate of every target with its probability, best first:
        per doc, in token order. What `predict` answers is each target's first
        candidate; the second is the runner-up (a target decided without the
        model has its answer first, then the other candidates by prior)."""
        docs = list(docs)
        targets = [find_targets(doc, self.cfg["spans_key"], self.inventory) if len(doc) else [] for doc in docs]
        batch, scored, decided = plan_batch(docs, targets, self.inventory, self._rows)
        ranked: List[List[Ranking]] = [[] for _ in docs]
        for d, answer in decided:
            keys = self.candidates(answer.target.lemma, answer.target.pos)
            others = [(k, float(p)) for k, p in zip(keys, numpy.exp(self.log_prior(keys))) if k != answer.key]
            pairs = [(answer.key, answer.score)] + others
            ranked[d].append(Ranking(answer.target, *map(tuple, zip(*pairs))))
        if scored:
            ops = self.model.ops
            probs = ops.to_numpy(segment_softmax(ops, self.model.predict(batch), batch.lengths))
            offset = 0
            for (d, t, keys), n in zip(scored, batch.lengths):
                segment = probs[offset : offset + n]
                order = numpy.argsort(-segment, kind="stable")  # ties: the first candidate, as argmax
                ranked[d].append(
                    Ranking(targets[d][t], tuple(keys[j] for j in order), tuple(float(segment[j]) for j in order))
                )
                offset += n
        for doc_ranked in ranked:
            doc_ranked.sort(key=lambda r: (r.target.start, r.target.end))
        return ranked

    def set_annotations(self, docs: Iterable[Doc], answers: List[List[Answer]]) -> None:
        """Write token._.sense/_.sense_score and the span group (label = key,
        id = instance id). Targets without candidates get no span."""
        key = self.cfg["spans_key"]
        for doc, doc_answers in zip(docs, answers):
            spans = []
            for target, sense, prob in doc_answers:
                spans.append(Span(doc, target.start, target.end, label=sense, span_id=target.id))
                for token in doc[target.start : target.end]:
                    token._.sense = sense
                    token._.sense_score = prob
            doc.spans[key] = spans

    # Training

    def _gold_batch(self, examples: List[Example]) -> Tuple[WSDBatch, List[Scored], List[List[str]]]:
        """The model's input for the gold instances of examples, the scored
        targets and the gold keys of each."""
        gold = [gold_targets(eg, self.cfg["spans_key"]) for eg in examples]
        docs = [eg.predicted for eg in examples]
        batch, scored, _ = plan_batch(docs, [targets for targets, _ in gold], self.inventory, self._rows)
        return batch, scored, [gold[d][1][t] for d, t, _ in scored]

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
        batch, scored, _ = self._gold_batch(examples)
        if self._cross_rows is not None and scored:
            folds = numpy.repeat([fold(examples[d]) for d, _, _ in scored], batch.lengths)  # [n_candidates]
            batch.sense_rows = self._cross_rows[folds, batch.rows].astype("f")
        # Every doc must go through the listener so that it consumes the
        # batch the encoder sent, even when no target of the batch is scored.
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update(batch)
        if not scored:
            return losses
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples: Iterable[Example], scores: Floats1d) -> Tuple[float, Floats1d]:
        """Cross-entropy of the model's scores for the gold instances of
        examples (in the order update gives them) against their gold keys
        among each target's candidates (mass shared when there are several
        gold keys); targets whose gold keys are not candidates add nothing.
        Averaged over the scored targets."""
        _, scored, golds = self._gold_batch(list(examples))
        ops = self.model.ops
        if not scored:
            return 0.0, ops.alloc1f(0)
        lengths = ops.asarray1i([len(keys) for _, _, keys in scored])
        truth = numpy.zeros((int(lengths.sum()),), dtype="f")  # [n_candidates]
        offset = 0
        for (_, _, keys), gold in zip(scored, golds):
            hits = numpy.asarray([key in gold for key in keys], dtype="f")
            truth[offset : offset + len(keys)] = hits / max(1.0, hits.sum())
            offset += len(keys)
        truth = ops.asarray1f(truth)
        probs = segment_softmax(ops, scores, lengths)
        # Per target: the probability of its gold keys, and whether it has
        # any among its candidates (its truth segment sums to 1, else 0).
        hit_mass = ops.reduce_sum(ops.reshape2f(probs * (truth > 0), -1, 1), lengths)  # [n_targets, 1]
        counted = (ops.reduce_sum(ops.reshape2f(truth, -1, 1), lengths) > 0.5).astype("f")  # [n_targets, 1]
        d_scores = (probs - truth) * repeat_segments(ops, counted, lengths) / len(scored)
        loss = -float((ops.xp.log(hit_mass + 1e-12) * counted).sum()) / len(scored)
        return loss, ops.asarray1f(d_scores)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        wordnet_path: Optional[str] = None,
        extra_senses: Union[str, Iterable[str], None] = None,
        gloss_cache: Union[str, Path, None] = None,
    ) -> None:
        """Read WordNet (wordnet_path, else the component's, else nltk's
        corpus), keep what prediction needs of it, make the sense table from
        the candidates of every training lemma/POS, and start it LMMS-style
        (init_from_data: training means; gloss_weight: gloss embeddings).

        extra_senses: more sense keys to give rows, from their glosses and
            the training means propagated through WordNet (synset,
            hypernyms, lexname), so that the model scores lemmas the
            training data lacks instead of answering their first sense;
            "all" = every key of WordNet (206,949; the glosses of all
            117,659 synsets then take long to encode). A lemma gets the
            model only when all its candidates have rows, so give whole
            lemmas (e.g. ``candidates(lemma, pos)``).
        gloss_cache: a folder for the gloss embeddings, reused by any later
            initialisation with the same encoder (settings and weights) and
            listener (layers and mix weights); the glosses it lacks are
            encoded and added (see senses/gloss_cache.py). None = no cache."""
        validate_get_examples(get_examples, "CtxWSD.initialize")
        if wordnet_path is not None:
            self.cfg["wordnet_path"] = str(wordnet_path)
        wordnet = get_inventory(self.cfg["wordnet_path"] or None)  # a clear error now
        self._inventory = wordnet.senses
        senses: Dict[str, None] = {}
        n_instances = 0
        for eg in get_examples():
            for _, keys, span in doc_to_instances(eg.reference, self.cfg["spans_key"]):
                if keys:
                    n_instances += 1
                    senses.update(dict.fromkeys(self.inventory.candidates(*span_lemma_pos(span))))
        if not n_instances:
            raise SpacyCtxError(Errors.E102.format(key=self.cfg["spans_key"]))
        if extra_senses == "all":
            extra_senses = self.inventory.keys()
        senses.update(dict.fromkeys(extra_senses or ()))
        self._set_senses(list(senses))
        self.model.set_dim("nS", len(senses), force=True)
        self.model.initialize()
        weight, encoder = self.cfg["gloss_weight"], _upstream_encoder(nlp, self.name)
        if weight and encoder is None:
            raise SpacyCtxError(Errors.E105.format(weight=weight))
        self._cross_rows = None
        if self.cfg["init_from_data"] or weight:
            table = initial_sense_table(
                self.model.get_ref("tok2vec"), encoder, nlp, self.senses, wordnet, get_examples,
                spans_key=self.cfg["spans_key"], gloss_weight=weight, from_data=self.cfg["init_from_data"],
                cross_fit=self.cfg["cross_fit"] and not self.model.attrs["train_senses"],
                separate_glosses=self.model.attrs.get("gloss_projection", False), gloss_cache=gloss_cache,
            )
            self.model.set_param("E", self.model.ops.asarray2f(table.E))
            if table.glosses is not None:
                self.model.set_param("G", self.model.ops.asarray2f(table.glosses))
            self._cross_rows = table.cross_rows

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, float]:
        """The framework's P/R/F1, and F1 on the MFS and LFS instances (gold
        sense WordNet's first sense or not, by the component's inventory)."""
        if self.scorer is None:
            return {}
        return self.scorer(examples, first_sense=self.inventory.is_first_sense, **kwargs)

    def add_label(self, label: str) -> int:
        raise NotImplementedError(Errors.E108)


def _upstream_encoder(nlp: Optional[Language], name: str):
    if nlp is None:
        return None
    for _, component in nlp.pipeline:
        if name in getattr(component, "listening_components", []):
            return component
    return None
