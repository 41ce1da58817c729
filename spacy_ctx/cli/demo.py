"""`python -m spacy_ctx demo`: polysemy on the default model."""
import typer
from wasabi import msg

from ..analysis.polysemy import sense_demo
from ..pipeline.loading import load_pipeline
from ._app import app


@app.command("demo")
def demo_cli(
    model: str = typer.Option("default", "--model", "-m", help="Pipeline directory, or 'default'."),
):
    """Show that "bank" gets a different vector in each sense."""
    result = sense_demo(load_pipeline(model))
    labels = [f"{i}:{sense}" for i, (sense, _) in enumerate(result["contexts"])]
    rows = [[label] + [f"{value:.3f}" for value in row] for label, row in zip(labels, result["similarity"])]
    for i, (sense, text) in enumerate(result["contexts"]):
        msg.text(f"{i}: [{sense}] {text}")
    msg.table(rows, header=[""] + labels, divider=True, title="cosine similarity of 'bank'")
    msg.info(f"mean same-sense {result['same_sense']:.3f} vs cross-sense {result['cross_sense']:.3f}")
