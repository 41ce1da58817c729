"""Write the small hand-written training samples in corpus/ as .spacy files.

The sentences below were written for this project (none comes from CoNLL-2003
or UD EWT), so the configs in configs/ train out of the box:

    python corpus/make_corpus.py

writes ner-train.spacy, ner-dev.spacy, tagger-train.spacy and tagger-dev.spacy
next to this script, and the same sentences as raw files in the formats of
the real corpora: ner-{train,dev}.conll (CoNLL-2003 columns, "-DOCSTART-"
lines included) and tagger-{train,dev}.conllu.txt (CoNLL-U with UPOS and XPOS,
no dependencies). The spaCy project (project.yml) converts those raw files
with `spacy convert`, as it converts the real corpora. Real data is passed to
the configs with --paths.train / --paths.dev (see docs/heads.md).

Formats used here:
- NER: tokens separated by spaces; an entity is written [tokens of it](LABEL).
- Tagger: word/XPOS, or word/XPOS/UPOS where the UPOS is not the usual one
  for that Penn Treebank tag (auxiliaries, subordinating conjunctions...).
"""
import re
from pathlib import Path
from typing import List

import spacy
from spacy.tokens import Doc, DocBin, Span

HERE = Path(__file__).resolve().parent
# The document separator of the CoNLL-2003 copy the configs were tuned on.
DOCSTART = "-DOCSTART- -X- -X- O"

NER_TRAIN = """
[Angela Merkel](PER) met [Microsoft](ORG) executives in [Berlin](LOC) on Tuesday .
[Apple](ORG) shares rose 3 percent after the company reported strong sales in [China](LOC) .
The [European Union](ORG) agreed to extend sanctions against [Russia](LOC) for six months .
[Lionel Messi](PER) scored twice as [Barcelona](ORG) beat [Real Madrid](ORG) 3-1 .
Police in [Chicago](LOC) arrested two men on Sunday , a spokesman said .
[Toyota](ORG) will build a new plant in [Kentucky](LOC) , chief executive [Akio Toyoda](PER) said .
The [Dutch](MISC) government said it would sell its stake in [ING](ORG) .
[Serena Williams](PER) won the [Wimbledon](MISC) title for the seventh time .
Oil prices fell in [London](LOC) as [OPEC](ORG) ministers met in [Vienna](LOC) .
[Google](ORG) bought the [Israeli](MISC) mapping firm [Waze](ORG) for $ 1 billion .
[Nelson Mandela](PER) was released from prison in 1990 .
The [World Health Organization](ORG) warned of a new outbreak in [West Africa](LOC) .
[Boris Johnson](PER) flew to [Washington](LOC) to meet [Joe Biden](PER) .
[Siemens](ORG) cut 2,000 jobs at its plants in [Bavaria](LOC) .
Fans waved [Brazilian](MISC) flags outside the stadium in [Rio de Janeiro](LOC) .
The [Bank of England](ORG) left interest rates unchanged on Thursday .
[Marie Curie](PER) won the [Nobel Prize](MISC) in physics in 1903 .
[Ford](ORG) recalled 300,000 cars in [Canada](LOC) and the [United States](LOC) .
Shares in [Nokia](ORG) jumped after the [Finnish](MISC) firm announced a deal with [Samsung](ORG) .
[Pope Francis](PER) visited refugees on the [Greek](MISC) island of [Lesbos](LOC) .
The [United Nations](ORG) Security Council met in [New York](LOC) on Monday .
[Roger Federer](PER) beat [Rafael Nadal](PER) in straight sets .
Heavy rain caused floods across northern [Italy](LOC) .
[Amazon](ORG) opened a warehouse near [Manchester](LOC) , creating 1,500 jobs .
The [Japanese](MISC) yen weakened against the dollar in [Tokyo](LOC) trading .
[Emmanuel Macron](PER) said [France](LOC) would send more troops to [Mali](LOC) .
[Volkswagen](ORG) admitted cheating on emissions tests in the [U.S.](LOC) .
[Usain Bolt](PER) won the 100 metres at the [Olympic Games](MISC) in [Beijing](LOC) .
The [International Monetary Fund](ORG) cut its growth forecast for [Germany](LOC) .
Investors sold [Swiss](MISC) francs after the [Swiss National Bank](ORG) acted .
[Kofi Annan](PER) urged both sides to return to talks in [Geneva](LOC) .
[Ajax](ORG) striker [Dennis Bergkamp](PER) signed a new contract on Friday .
The ship sailed from [Rotterdam](LOC) to [Singapore](LOC) with 4,000 containers .
[Reuters](ORG) reported that [Fiat](ORG) was in talks with [Chrysler](ORG) .
The [Canadian](MISC) dollar edged higher in [Toronto](LOC) .
[Wang Yi](PER) met his [Indian](MISC) counterpart in [New Delhi](LOC) .
A court in [The Hague](LOC) sentenced the former general to 40 years .
[BP](ORG) said output from the [North Sea](LOC) fell last year .
[Steffi Graf](PER) retired from tennis at the age of 30 .
The [Australian](MISC) cricket team arrived in [Cape Town](LOC) for the series .
[Sony](ORG) launched a new console in [Tokyo](LOC) on Wednesday .
The [Red Cross](ORG) sent aid to villages in northern [Kenya](LOC) .
[Michael Jordan](PER) led the [Chicago Bulls](ORG) to six titles .
Unemployment in [Spain](LOC) fell to 14 percent in March .
[Nestle](ORG) , the [Swiss](MISC) food group , raised its dividend .
[Ana Gomez](PER) told [El Pais](ORG) she would stand for election in [Madrid](LOC) .
The [Tour de France](MISC) finished in [Paris](LOC) on Sunday .
[Intel](ORG) and [IBM](ORG) agreed to share chip patents .
"""

NER_DEV = """
[Jacinda Ardern](PER) visited [Christchurch](LOC) on Saturday .
[Airbus](ORG) delivered 60 jets in May , the [French](MISC) company said .
[Novak Djokovic](PER) reached the final of the [Australian Open](MISC) .
The [African Union](ORG) called for a ceasefire in [Sudan](LOC) .
[Philips](ORG) moved its headquarters from [Eindhoven](LOC) to [Amsterdam](LOC) .
Prices rose in [Sweden](LOC) for the third month in a row .
[Greta Thunberg](PER) spoke at the summit in [Glasgow](LOC) .
[Deutsche Bank](ORG) fined for failures in [Moscow](LOC) trades .
The [Mexican](MISC) peso rallied after the election .
[Celtic](ORG) manager [Martin O'Neill](PER) praised his players .
[Shell](ORG) plans to sell oil fields in [Nigeria](LOC) .
Snow closed the airport in [Helsinki](LOC) for several hours .
[Angela Davis](PER) gave a lecture at [Harvard University](ORG) .
[Korean](MISC) carmaker [Hyundai](ORG) reported record profits .
"""

# Penn Treebank tag -> the usual Universal POS tag (as in UD English EWT).
PTB_TO_UPOS = {
    "CC": "CCONJ", "CD": "NUM", "DT": "DET", "EX": "PRON", "FW": "X", "IN": "ADP",
    "JJ": "ADJ", "JJR": "ADJ", "JJS": "ADJ", "LS": "X", "MD": "AUX", "NN": "NOUN",
    "NNS": "NOUN", "NNP": "PROPN", "NNPS": "PROPN", "PDT": "DET", "POS": "PART",
    "PRP": "PRON", "PRP$": "PRON", "RB": "ADV", "RBR": "ADV", "RBS": "ADV",
    "RP": "ADP", "SYM": "SYM", "TO": "PART", "UH": "INTJ", "VB": "VERB",
    "VBD": "VERB", "VBG": "VERB", "VBN": "VERB", "VBP": "VERB", "VBZ": "VERB",
    "WDT": "PRON", "WP": "PRON", "WP$": "PRON", "WRB": "ADV", ".": "PUNCT",
    ",": "PUNCT", ":": "PUNCT", "``": "PUNCT", "''": "PUNCT", "-LRB-": "PUNCT",
    "-RRB-": "PUNCT", "HYPH": "PUNCT", "NFP": "PUNCT", "$": "SYM", "ADD": "X",
}

TAGGER_TRAIN = """
The/DT cat/NN sat/VBD on/IN the/DT mat/NN ./.
I/PRP would/MD like/VB to/TO book/VB a/DT table/NN for/IN two/CD ./.
She/PRP is/VBZ/AUX reading/VBG a/DT long/JJ book/NN about/IN birds/NNS ./.
We/PRP have/VBP/AUX lived/VBN in/IN this/DT town/NN since/IN 2010/CD ./.
The/DT service/NN was/VBD/AUX slow/JJ ,/, but/CC the/DT food/NN was/VBD/AUX great/JJ ./.
Can/MD you/PRP send/VB me/PRP the/DT report/NN by/IN Friday/NNP ?/.
My/PRP$ brother/NN bought/VBD a/DT new/JJ car/NN last/JJ week/NN ./.
They/PRP did/VBD/AUX n't/RB/PART answer/VB the/DT phone/NN ./.
If/IN/SCONJ it/PRP rains/VBZ ,/, we/PRP will/MD stay/VB at/IN home/NN ./.
The/DT children/NNS played/VBD happily/RB in/IN the/DT garden/NN ./.
He/PRP said/VBD that/IN/SCONJ the/DT meeting/NN was/VBD/AUX cancelled/VBN ./.
Please/UH call/VB us/PRP before/IN 5/CD pm/NN ./.
This/DT is/VBZ/AUX the/DT best/JJS pizza/NN in/IN Boston/NNP !/.
Our/PRP$ dog/NN barks/VBZ at/IN every/DT car/NN that/WDT passes/VBZ ./.
The/DT new/JJ manager/NN speaks/VBZ three/CD languages/NNS ./.
I/PRP am/VBP/AUX looking/VBG for/IN a/DT cheap/JJ hotel/NN near/IN the/DT airport/NN ./.
You/PRP should/MD check/VB the/DT prices/NNS online/RB first/RB ./.
The/DT staff/NN were/VBD/AUX very/RB friendly/JJ and/CC helpful/JJ ./.
We/PRP waited/VBD for/IN an/DT hour/NN ,/, then/RB we/PRP left/VBD ./.
Where/WRB did/VBD/AUX you/PRP put/VB the/DT keys/NNS ?/.
John/NNP 's/POS sister/NN works/VBZ at/IN a/DT bank/NN in/IN London/NNP ./.
There/EX are/VBP/VERB two/CD apples/NNS on/IN the/DT table/NN ./.
The/DT price/NN of/IN oil/NN rose/VBD sharply/RB yesterday/NN ./.
She/PRP quickly/RB closed/VBD the/DT door/NN behind/IN her/PRP ./.
Who/WP wrote/VBD this/DT letter/NN ?/.
It/PRP was/VBD/AUX the/DT coldest/JJS winter/NN in/IN ten/CD years/NNS ./.
They/PRP are/VBP/AUX going/VBG to/TO open/VB a/DT second/JJ store/NN ./.
I/PRP gave/VBD the/DT book/NN to/IN my/PRP$ teacher/NN ./.
The/DT rooms/NNS were/VBD/AUX clean/JJ but/CC rather/RB small/JJ ./.
He/PRP has/VBZ/AUX never/RB seen/VBN the/DT sea/NN ./.
Turn/VB left/RB at/IN the/DT second/JJ light/NN ./.
The/DT students/NNS finished/VBD their/PRP$ exams/NNS in/IN June/NNP ./.
Because/IN/SCONJ the/DT bus/NN was/VBD/AUX late/JJ ,/, I/PRP missed/VBD the/DT train/NN ./.
Mary/NNP and/CC Tom/NNP got/VBD married/VBN in/IN May/NNP ./.
The/DT company/NN hired/VBD 20/CD new/JJ engineers/NNS ./.
Do/VBP/AUX not/RB/PART touch/VB the/DT wet/JJ paint/NN !/.
We/PRP can/MD meet/VB at/IN the/DT cafe/NN on/IN Main/NNP Street/NNP ./.
The/DT old/JJ bridge/NN was/VBD/AUX built/VBN in/IN 1890/CD ./.
Everyone/NN/PRON enjoyed/VBD the/DT concert/NN last/JJ night/NN ./.
Their/PRP$ house/NN is/VBZ/AUX bigger/JJR than/IN ours/PRP ./.
The/DT doctor/NN told/VBD him/PRP to/TO rest/VB ./.
Prices/NNS have/VBP/AUX gone/VBN up/RP again/RB ./.
I/PRP really/RB love/VBP this/DT little/JJ shop/NN ./.
The/DT train/NN to/IN Paris/NNP leaves/VBZ at/IN noon/NN ./.
She/PRP sings/VBZ beautifully/RB ./.
"""

TAGGER_DEV = """
The/DT dog/NN slept/VBD under/IN the/DT table/NN ./.
We/PRP will/MD visit/VB our/PRP$ parents/NNS in/IN July/NNP ./.
The/DT hotel/NN was/VBD/AUX quiet/JJ and/CC very/RB clean/JJ ./.
He/PRP is/VBZ/AUX writing/VBG a/DT letter/NN to/IN his/PRP$ friend/NN ./.
I/PRP could/MD n't/RB/PART find/VB the/DT station/NN ./.
They/PRP bought/VBD three/CD tickets/NNS for/IN the/DT show/NN ./.
Where/WRB is/VBZ/AUX the/DT nearest/JJS bank/NN ?/.
The/DT waiter/NN brought/VBD us/PRP the/DT wrong/JJ order/NN ./.
She/PRP has/VBZ/AUX worked/VBN here/RB for/IN five/CD years/NNS ./.
Anna/NNP 's/POS cat/NN likes/VBZ fish/NN ./.
If/IN/SCONJ you/PRP need/VBP help/NN ,/, call/VB me/PRP ./.
The/DT small/JJ shop/NN closes/VBZ early/RB on/IN Sundays/NNPS ./.
"""


def ner_docs(nlp, text: str) -> List[Doc]:
    """Parse the [span](LABEL) markup into Docs with doc.ents set."""
    docs = []
    for line in _lines(text):
        words, ents = [], []
        for match in re.finditer(r"\[([^\]]+)\]\((\w+)\)|(\S+)", line):
            if match.group(3) is not None:
                words.append(match.group(3))
                continue
            start = len(words)
            words.extend(match.group(1).split())
            ents.append((start, len(words), match.group(2)))
        doc = Doc(nlp.vocab, words=words)
        doc.ents = [Span(doc, s, e, label=label) for s, e, label in ents]
        docs.append(doc)
    return docs


def tagger_docs(nlp, text: str) -> List[Doc]:
    """Parse word/XPOS[/UPOS] into Docs with token.tag_ and token.pos_ set."""
    docs = []
    for line in _lines(text):
        words, tags, pos = [], [], []
        for item in line.split():
            word, xpos, *upos = item.split("/")
            words.append(word)
            tags.append(xpos)
            pos.append(upos[0] if upos else PTB_TO_UPOS[xpos])
        docs.append(Doc(nlp.vocab, words=words, tags=tags, pos=pos))
    return docs


def _lines(text: str) -> List[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def conll_text(docs: List[Doc], sents_per_doc: int = 10) -> str:
    """CoNLL-2003 columns (token, POS, chunk, BIO tag) with a "-DOCSTART-"
    line before every `sents_per_doc` sentences, as in the real corpus (which
    has no POS or chunk here: "-X-")."""
    lines = []
    for i, doc in enumerate(docs):
        if i % sents_per_doc == 0:
            lines += [DOCSTART, ""]
        tags = [f"{t.ent_iob_}-{t.ent_type_}" if t.ent_type_ else "O" for t in doc]
        lines += [f"{t.text} -X- -X- {tag}" for t, tag in zip(doc, tags)] + [""]
    return "\n".join(lines) + "\n"


def conllu_text(docs: List[Doc]) -> str:
    """CoNLL-U with FORM, UPOS and XPOS (no lemma, features or dependencies)."""
    lines = []
    for doc in docs:
        lines.append(f"# text = {doc.text}")
        lines += [f"{t.i + 1}\t{t.text}\t_\t{t.pos_}\t{t.tag_}\t_\t_\t_\t_\t_" for t in doc] + [""]
    return "\n".join(lines) + "\n"


def main(out_dir: Path = HERE) -> None:
    nlp = spacy.blank("en")
    parts = {
        "ner-train": ner_docs(nlp, NER_TRAIN),
        "ner-dev": ner_docs(nlp, NER_DEV),
        "tagger-train": tagger_docs(nlp, TAGGER_TRAIN),
        "tagger-dev": tagger_docs(nlp, TAGGER_DEV),
    }
    for name, docs in parts.items():
        path = Path(out_dir) / f"{name}.spacy"
        DocBin(docs=docs, store_user_data=False).to_disk(path)
        print(f"{path}: {len(docs)} sentences, {sum(len(d) for d in docs)} tokens")
        raw = conll_text(docs) if name.startswith("ner") else conllu_text(docs)
        # The CoNLL-U samples end in .txt: a tracked *.conllu reads as a copied corpus.
        raw_path = path.with_suffix(".conll" if name.startswith("ner") else ".conllu.txt")
        raw_path.write_text(raw, encoding="utf8")
        print(f"{raw_path}: the same sentences as raw text")


if __name__ == "__main__":
    main()
