"""Fixtures of the CLI tests: small benchmark files for similarity, distill-static and fit-normalizer."""
import pytest

from ..util import STS_SAMPLE, WORDSIM_SAMPLE


FIT = [
    "The weather is nice today.", "Nobody came to the party.", "A dog barks at the mailman.",
    "Prices rose again this year.", "He reads a book on the train.", "The band played all night.",
]


@pytest.fixture(scope="module")
def similarity_files(tmp_path_factory):
    """An STS-B file, fitting texts, a SimLex-999 directory and texts to distil
    from, written here: {"root", "sts", "fit", "wordsim", "texts"}."""
    root = tmp_path_factory.mktemp("similarity")
    sts = root / "sts.csv"
    sts.write_text("".join(f"g\tf\t2012\t{i}\t{g}\t{a}\t{b}\n" for i, (a, b, g) in enumerate(STS_SAMPLE)), encoding="utf8")
    fit = root / "fit.txt"
    fit.write_text("\n".join(FIT) + "\n", encoding="utf8")
    wordsim = root / "wordsim"
    wordsim.mkdir()
    (wordsim / "EN-SIMLEX-999.txt").write_text("".join(f"{a}\t{b}\t{g}\n" for a, b, g in WORDSIM_SAMPLE), encoding="utf8")
    texts = root / "texts.txt"
    texts.write_text("\n".join(a + " " + b for a, b, _ in STS_SAMPLE) + "\nA dog and a cat.\n", encoding="utf8")
    return {"root": root, "sts": sts, "fit": fit, "wordsim": wordsim, "texts": texts}
