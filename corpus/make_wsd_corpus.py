"""Write the small WSD samples in corpus/: hand-written sentences in the
Raganato XML + key format, with WordNet 3.0 sense keys, and their .spacy files.

    python corpus/make_wsd_corpus.py

The sentences were written for this project (not taken from SemCor or
SemEval). A target is written ``text[lemma#POS=key]`` (two gold keys:
``key1+key2``); a multiword target joins its words with ``_`` in the text.
Other words get their lower-case form as lemma and a coarse POS from a small
word list (X when unlisted). With --wordnet, every key is checked to be a
candidate of its lemma and POS.
"""
import argparse
import re
import sys
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

TRAIN = [
    "She deposited[deposit#VERB=deposit%2:40:00::] the money[money#NOUN=money%1:21:00::] in the bank[bank#NOUN=bank%1:14:00::] .",
    "We sat[sit#VERB=sit%2:35:00::] on the bank[bank#NOUN=bank%1:17:01::] of the river[river#NOUN=river%1:17:00::] .",
    "The bank[bank#NOUN=bank%1:14:00::] raised the interest[interest#NOUN=interest%1:21:00::] rate[rate#NOUN=rate%1:21:00::] on the loan[loan#NOUN=loan%1:21:00::] .",
    "Fish swam near the muddy bank[bank#NOUN=bank%1:17:01::] of the lake[lake#NOUN=lake%1:17:00::] .",
    "The plant[plant#NOUN=plant%1:06:01::] hired[hire#VERB=hire%2:41:00::] two hundred workers[worker#NOUN=worker%1:18:00::] .",
    "She watered[water#VERB=water%2:40:00::] the plant[plant#NOUN=plant%1:03:00::] by the window[window#NOUN=window%1:06:00::] .",
    "The car[car#NOUN=car%1:06:00::] factory[factory#NOUN=factory%1:06:00::] is a huge plant[plant#NOUN=plant%1:06:01::] .",
    "Tall plants[plant#NOUN=plant%1:03:00::] grow[grow#VERB=grow%2:30:02::] in her garden[garden#NOUN=garden%1:06:00::] .",
    "He plays[play#VERB=play%2:36:12::] the bass[bass#NOUN=bass%1:06:02::] in a band .",
    "They caught[catch#VERB=catch%2:35:00::] a large bass[bass#NOUN=bass%1:05:00::] in the lake[lake#NOUN=lake%1:17:00::] .",
    "The children played[play#VERB=play%2:33:00::] a game[game#NOUN=game%1:04:00::] in the garden[garden#NOUN=garden%1:06:00::] .",
    "The judge[judge#NOUN=judge%1:18:00::] entered the court[court#NOUN=court%1:06:02::] in the morning[morning#NOUN=morning%1:28:00::] .",
    "The student[student#NOUN=student%1:18:00::] wrote[write#VERB=write%2:36:00::] a paper[paper#NOUN=paper%1:10:01::] on music[music#NOUN=music%1:10:00::] .",
    "He wrapped the box[box#NOUN=box%1:06:00::] in brown paper[paper#NOUN=paper%1:27:00::] .",
    "The light[light#NOUN=light%1:19:00::] of the sun[sun#NOUN=sun%1:17:00::] was bright[bright#ADJ=bright%3:00:00::] .",
    "She turned on the light[light#NOUN=light%1:06:00::] near the window[window#NOUN=window%1:06:00::] .",
    "They moved to New_York[new_york#NOUN=new_york%1:15:01::] and bought a car[car#NOUN=car%1:06:00::] .",
    "Prices[price#NOUN=price%1:21:00::] rose[rise#VERB=rise%2:30:00::] quickly[quickly#ADV=quickly%4:02:00::+quickly%4:02:02::] last year .",
]

DEV = [
    "He paid[pay#VERB=pay%2:40:00::] back the loan[loan#NOUN=loan%1:21:00::] to the bank[bank#NOUN=bank%1:14:00::] .",
    "The boat[boat#NOUN=boat%1:06:00::] drifted toward the bank[bank#NOUN=bank%1:17:01::] .",
    "The workers[worker#NOUN=worker%1:18:00::] at the plant[plant#NOUN=plant%1:06:01::] built[build#VERB=build%2:36:00::] cars[car#NOUN=car%1:06:00::] .",
    "He grew[grow#VERB=grow%2:30:02::] a plant[plant#NOUN=plant%1:03:00::] with red flowers[flower#NOUN=flower%1:20:02::] .",
    "The team[team#NOUN=team%1:14:00::] won[win#VERB=win%2:33:00::] the game[game#NOUN=game%1:04:00::] .",
    "The paper[paper#NOUN=paper%1:10:03::] published[publish#VERB=publish%2:36:01::] her essay[essay#NOUN=essay%1:10:00::] .",
]

CLOSED = {
    "the": "DET", "a": "DET", "an": "DET", "her": "PRON", "she": "PRON", "he": "PRON",
    "we": "PRON", "they": "PRON", "his": "PRON", "in": "ADP", "on": "ADP", "of": "ADP",
    "by": "ADP", "near": "ADP", "to": "ADP", "at": "ADP", "with": "ADP", "toward": "ADP",
    "and": "CONJ", "two": "NUM", "hundred": "NUM", "back": "PRT", ".": ".",
}
TARGET = re.compile(r"^(\S+?)\[([^#\]]+)#([A-Z]+)=([^\]]+)\]$")


def parse(sentence: str):
    """Yield (text, lemma, pos, keys or None) for each word of a sentence."""
    for word in sentence.split():
        match = TARGET.match(word)
        if match:
            text, lemma, pos, keys = match.groups()
            yield text.replace("_", " "), lemma, pos, keys.split("+")
        else:
            yield word, word.lower(), CLOSED.get(word.lower(), "X"), None


def write_raganato(sentences, name: str, out_dir: Path):
    """Write ``{name}.data.xml`` and ``{name}.gold.key.txt``; return their paths."""
    xml = ['<?xml version="1.0" encoding="UTF-8" ?>', f'<corpus lang="en" source="{name}">', '<text id="d000">']
    keys = []
    for s, sentence in enumerate(sentences):
        sid = f"d000.s{s:03d}"
        xml.append(f'<sentence id="{sid}">')
        t = 0
        for text, lemma, pos, gold in parse(sentence):
            attrs = f"lemma={quoteattr(lemma)} pos={quoteattr(pos)}"
            if gold:
                iid = f"{sid}.t{t:03d}"
                t += 1
                xml.append(f'<instance id="{iid}" {attrs}>{escape(text)}</instance>')
                keys.append(f"{iid} {' '.join(gold)}")
            else:
                xml.append(f"<wf {attrs}>{escape(text)}</wf>")
        xml.append("</sentence>")
    xml += ["</text>", "</corpus>"]
    data_path = out_dir / f"{name}.data.xml"
    gold_path = out_dir / f"{name}.gold.key.txt"
    data_path.write_text("\n".join(xml) + "\n", encoding="utf8")
    gold_path.write_text("\n".join(keys) + "\n", encoding="utf8")
    return data_path, gold_path


def check_keys(sentences, wordnet: Path) -> None:
    from spacy_ctx.senses.wordnet import WordNetInventory

    inventory = WordNetInventory(wordnet)
    for sentence in sentences:
        for text, lemma, pos, gold in parse(sentence):
            for key in gold or []:
                if key not in inventory.candidates(lemma, pos):
                    raise ValueError(f"{key} is not a sense of {lemma}#{pos} in WordNet")


def main() -> None:
    import spacy

    from spacy_ctx.senses.raganato import raganato_to_docbin

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--wordnet", type=Path, default=None, help="check keys against this dict dir")
    args = parser.parse_args()
    if args.wordnet:
        check_keys(TRAIN + DEV, args.wordnet)
    vocab = spacy.blank("en").vocab
    for name, sentences in (("wsd-train", TRAIN), ("wsd-dev", DEV)):
        data_path, gold_path = write_raganato(sentences, name, args.out)
        docbin = raganato_to_docbin(vocab, data_path, gold_path)
        docbin.to_disk(args.out / f"{name}.spacy")
        print(f"{name}: {len(docbin)} docs -> {args.out / (name + '.spacy')}")


if __name__ == "__main__":
    main()
