"""`python -m spacy_ctx demo`: polysemy on the default model."""
import typer
from wasabi import msg

from ._app import app
from ._util import load_pipeline

SENTENCES = [
    ("river", "The boat drifted toward the river bank.", "bank"),
    ("river", "We had a picnic on the grassy bank of the stream.", "bank"),
    ("money", "She deposited her salary at the bank on Monday.", "bank"),
    ("money", "The bank raised its interest rates again.", "bank"),
]


@app.command("demo")
def demo_cli(
    model: str = typer.Option("default", "--model", "-m", help="Pipeline directory, or 'default'."),
):
    """Show that "bank" gets a different vector in each sense."""
    nlp = load_pipeline(model)
    tokens = []
    for sense, text, word in SENTENCES:
        doc = nlp(text)
        tokens.append((sense, text, next(t for t in doc if t.lower_ == word)))
    header = [""] + [f"{i}:{s}" for i, (s, _, _) in enumerate(tokens)]
    rows = [
        [f"{i}:{s}"] + [f"{a.similarity(b):.3f}" for _, _, b in tokens]
        for i, (s, _, a) in enumerate(tokens)
    ]
    for i, (sense, text, _) in enumerate(tokens):
        msg.text(f"{i}: [{sense}] {text}")
    msg.table(rows, header=header, divider=True, title="cosine similarity of 'bank'")
    same = (tokens[0][2].similarity(tokens[1][2]), tokens[2][2].similarity(tokens[3][2]))
    cross = [tokens[i][2].similarity(tokens[j][2]) for i in (0, 1) for j in (2, 3)]
    msg.info(
        f"mean same-sense {sum(same) / 2:.3f} vs cross-sense {sum(cross) / 4:.3f}"
    )
