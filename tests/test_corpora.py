"""spacy_ctx.corpora and spacy_ctx.evaluation_sets: the format sniffer, the -DOCSTART- rule, the readers of texts, docs, sequences, and of the evaluation sets."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import spacy

from spacy_ctx.corpora import BadRecord, Record, is_docstart, read_docs, read_sequences, read_texts, sniff_format
from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.evaluation_sets import ScoredPair, read_sts, read_tweeteval, read_word_pairs

CONLL = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n"


@pytest.mark.parametrize(
    "name,content,fmt",
    [
        ("a.txt", "Hello.\n", "text"),
        ("a.txt", "\n-DOCSTART- -X- O O\n\nEU B-ORG\n", "ner"),
        ("a.TSV", "New York\tB-location\n", "ner"),
        ("a.conllu", "", "conllu"),
        ("semeval2007.data.xml", "", "wsd"),
        ("semeval2007.gold.key.txt", "d000.s000.t000 key%1\n", "wsd_key"),
        ("a.jsonl", "", "jsonl"),
        ("a.spacy", "", "spacy"),
        ("a.csv", "x", "unknown"),
    ],
)
def test_sniff_format(tmp_path, name, content, fmt):
    path = tmp_path / name
    path.write_text(content, encoding="utf8")
    assert sniff_format(path) == fmt


def test_is_docstart():
    assert is_docstart("-DOCSTART- -X- -X- O") and is_docstart("-DOCSTART-\tO")
    assert not is_docstart("EU NNP B-NP B-ORG")


def test_read_texts_text_and_jsonl_ids(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text("First doc.\n\nThird line.\n", encoding="utf8")
    assert list(read_texts(txt)) == [Record("0", "First doc.", {}), Record("2", "Third line.", {})]
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"id": "x", "text": "One.", "lang": "en"}\n\n{"text": "Two."}\n', encoding="utf8")
    assert list(read_texts(jsonl)) == [Record("x", "One.", {"lang": "en"}), Record("2", "Two.", {})]


def test_read_texts_sends_bad_records_to_on_error(tmp_path):
    jsonl = tmp_path / "bad.jsonl"
    lines = [b'{"text": "Fine."}', b'{"text": "bad \xff byte"}', b'{"id": "n", "title": "no text"}', b"{oops", b'{"text": 3}', b'{"text": "Also fine."}']
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    bad = []
    good = list(read_texts(jsonl, on_error=bad.append))
    assert [r.text for r in good] == ["Fine.", "Also fine."] and [r.id for r in good] == ["0", "5"]
    assert [b.id for b in bad] == ["1", "n", "3", "4"]
    assert "UTF-8" in bad[0].reason and bad[1].reason == "no text"
    assert "JSON" in bad[2].reason and "not a string" in bad[3].reason
    assert all(isinstance(b, BadRecord) for b in bad)
    # Without on_error, the first bad record stops the reader, naming itself.
    with pytest.raises(SpacyCtxError, match=r"E200.*record 1 of"):
        list(read_texts(jsonl))


def test_read_texts_ranges_equal_slices(tmp_path):
    lines = [f"Line number {n}." if n % 4 else "" for n in range(23)]
    txt = tmp_path / "a.txt"
    txt.write_text("\n".join(lines) + "\n", encoding="utf8")
    full = list(read_texts(txt))
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode("utf8")) + 1)
    for start, stop in [(0, 5), (5, 12), (12, 23), (20, None)]:
        expected = [r for r in full if start <= int(r.id) < (stop or 99)]
        assert list(read_texts(txt, start=start, stop=stop)) == expected
        # Seeking to the byte offset of line `start` gives the same records.
        assert list(read_texts(txt, start=start, stop=stop, offset=offsets[start])) == expected


def test_read_texts_parquet_row_ranges_across_row_groups(tmp_path):
    path = tmp_path / "a.parquet"
    table = pa.table({"id": [f"d{n}" for n in range(10)], "text": [f"Text {n}." if n != 4 else None for n in range(10)]})
    pq.write_table(table, path, row_group_size=3)
    bad = []
    records = list(read_texts(path, start=2, stop=8, on_error=bad.append))
    assert [r.id for r in records] == ["d2", "d3", "d5", "d6", "d7"]
    assert records[0].text == "Text 2." and bad == [BadRecord("d4", "no text")]
    no_text = tmp_path / "b.parquet"
    pq.write_table(pa.table({"body": ["x"]}), no_text)
    with pytest.raises(SpacyCtxError, match="E206"):
        list(read_texts(no_text))


def test_read_texts_joins_the_words_of_tokenized_formats(tmp_path):
    conll = tmp_path / "a.txt"
    conll.write_text(CONLL, encoding="utf8")
    assert list(read_texts(conll)) == [Record("0", "EU rejects German", {}), Record("1", "Peter Blackburn", {})]
    with pytest.raises(SpacyCtxError, match="E010"):
        list(read_texts(tmp_path / "a.spacy"))


def test_read_docs_ner_columns_drop_docstart_and_keep_entities(tmp_path):
    nlp = spacy.blank("en")
    conll = tmp_path / "a.txt"
    conll.write_text(CONLL, encoding="utf8")
    docs = read_docs(conll, nlp)
    assert [d.text for d in docs] == ["EU rejects German ", "Peter Blackburn "]
    assert [(e.text, e.label_) for e in docs[0].ents] == [("EU", "ORG"), ("German", "MISC")]
    assert [t.tag_ for t in docs[0]] == ["NNP", "VBZ", "JJ"] and docs[1].ents[0].text == "Peter Blackburn"
    assert docs[0].vocab is nlp.vocab
    # Two sentences per doc: one doc, two sentence starts.
    (both,) = read_docs(conll, nlp, n_sents=2)
    assert len(both) == 5 and [s.text for s in both.sents] == ["EU rejects German", "Peter Blackburn"]
    # Tab-separated columns keep spaces inside tokens (WNUT-17).
    wnut = tmp_path / "w.conll"
    wnut.write_text("New York\tB-location\nrocks\tO\n", encoding="utf8")
    (doc,) = read_docs(wnut, nlp)
    assert [t.text for t in doc] == ["New York", "rocks"]
    assert [(e.text, e.label_) for e in doc.ents] == [("New York", "location")]


def test_read_docs_text_and_jsonl(tmp_path):
    nlp = spacy.blank("en")
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text(json.dumps({"text": "A doc here."}) + "\n", encoding="utf8")
    assert [t.text for t in read_docs(jsonl, nlp)[0]] == ["A", "doc", "here", "."]
    with pytest.raises(SpacyCtxError, match="A007"):
        read_docs(tmp_path / "a.csv", nlp)


def test_read_sequences_directory_skips_wsd_key_files(tmp_path):
    (tmp_path / "a.data.xml").write_text(
        '<corpus><text id="d0"><sentence id="d0.s0"><wf lemma="x" pos="X">Fulton County</wf>'
        '<instance id="d0.s0.t0" lemma="say" pos="VERB">said</instance></sentence></text></corpus>',
        encoding="utf8",
    )
    (tmp_path / "a.gold.key.txt").write_text("d0.s0.t0 say%2:32:00::\n", encoding="utf8")
    (tmp_path / "b.txt").write_text(CONLL, encoding="utf8")
    assert list(read_sequences(tmp_path)) == [
        ["Fulton", "County", "said"],
        ["EU", "rejects", "German"],
        ["Peter", "Blackburn"],
    ]


def test_readers(tmp_path):
    conllu = tmp_path / "a.conllu"
    conllu.write_text(
        "# text = Don't go\n1-2\tDon't\t_\n1\tDo\tdo\n2\tn't\tnot\n3\tgo\tgo\n\n", encoding="utf8"
    )
    conll = tmp_path / "b.txt"
    conll.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n", encoding="utf8")
    wnut = tmp_path / "c.conll"
    wnut.write_text("New York\tB-location\nrocks\tO\n", encoding="utf8")
    assert list(read_sequences(conllu)) == [["Do", "n't", "go"]]
    assert list(read_sequences(conll)) == [["EU", "rejects"]]
    assert list(read_sequences(wnut)) == [["New York", "rocks"]]
    raw = tmp_path / "d.txt"
    raw.write_text("Hello, world!\n", encoding="utf8")
    assert list(read_sequences(raw)) == [["Hello", ",", "world", "!"]]
    with pytest.raises(ValueError, match="E403"):
        list(read_sequences(tmp_path / "nothing.txt"))


def test_read_sts_keeps_quotes(tmp_path):
    path = tmp_path / "sts.csv"
    path.write_text('g\tf\t2012\t1\t3.5\tHe said "hi.\tShe said \'no\'.\n', encoding="utf8")
    assert read_sts(path) == [ScoredPair('He said "hi.', "She said 'no'.", 3.5)]


def test_read_sts_rejects_short_lines(tmp_path):
    path = tmp_path / "sts.csv"
    path.write_text("g\tf\t2012\t1\t3.5\tonly one sentence\n", encoding="utf8")
    with pytest.raises(SpacyCtxError, match="E301"):
        read_sts(path)


def test_read_word_pairs(tmp_path):
    path = tmp_path / "EN-MC-30.txt"
    path.write_text("car\tautomobile\t3.92\n\nnoon\tstring\t0.08\n", encoding="utf8")
    assert read_word_pairs(path) == [ScoredPair("car", "automobile", 3.92), ScoredPair("noon", "string", 0.08)]
    path.write_text("car automobile\n", encoding="utf8")
    with pytest.raises(SpacyCtxError, match="E302"):
        read_word_pairs(path)


def test_read_tweeteval_keeps_line_separators_inside_tweets(tmp_path):
    (tmp_path / "mapping.txt").write_text("0\tnegative\n1\tpositive\n", encoding="utf8")
    (tmp_path / "val_text.txt").write_text("so bad\u2028really \n@user great\x0cday\n", encoding="utf8")
    (tmp_path / "val_labels.txt").write_text("0\n1\n", encoding="utf8")
    assert read_tweeteval(tmp_path, "val") == [("so bad\u2028really ", "negative"), ("@user great\x0cday", "positive")]
    (tmp_path / "val_labels.txt").write_text("0\n", encoding="utf8")
    with pytest.raises(SpacyCtxError, match="E200.*2 texts but 1 labels"):
        read_tweeteval(tmp_path, "val")
    (tmp_path / "val_labels.txt").write_text("0\n7\n", encoding="utf8")
    with pytest.raises(SpacyCtxError, match="E200.*label '7'"):
        read_tweeteval(tmp_path, "val")
