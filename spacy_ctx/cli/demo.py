"""`python -m spacy_ctx demo`: polysemy on the default model or any encoder."""
import shlex
from typing import Optional, Sequence

import typer
from wasabi import msg

from ..analysis.polysemy import sense_demo
from ..errors import Errors, SpacyCtxError
from ..pipeline.loading import load_pipeline
from ._app import app
from ._util import user_errors


@app.command("demo")
def demo_cli(
    model: str = typer.Option("default", "--model", "-m", help="Pipeline directory, or 'default'."),
    hf_model: Optional[str] = typer.Option(None, "--hf-model", help="A Hugging Face encoder (a local directory or a Hub id) for a blank pipeline's ctx_encoder, instead of the bundled MiniLM."),
):
    """Show that "bank" gets a different vector in each sense, in the token
    mix and in every layer."""
    with user_errors():
        nlp = demo_pipeline(model, hf_model)
    result = sense_demo(nlp)
    labels = [f"{i}:{sense}" for i, (sense, _) in enumerate(result["contexts"])]
    rows = [[label] + [f"{value:.3f}" for value in row] for label, row in zip(labels, result["similarity"])]
    if hf_model is not None:
        msg.text(f"Encoder: {hf_model}")
    for i, (sense, text) in enumerate(result["contexts"]):
        msg.text(f"{i}: [{sense}] {text}")
    msg.table(rows, header=[""] + labels, divider=True, title="cosine similarity of 'bank'")
    msg.info(f"mean same-sense {result['same_sense']:.3f} vs cross-sense {result['cross_sense']:.3f}")
    if result["layers"]:
        rows = [
            [row["layer"]]
            + [f"{row[key]:.3f}" for key in ("same_sense", "cross_sense")]
            + [f"{row['same_sense'] - row['cross_sense']:+.3f}"]
            + [f"{row[key]:.3f}" for key in ("baseline", "same_adjusted", "cross_adjusted")]
            for row in result["layers"]
        ]
        header = ["layer", "same", "cross", "gap", "random pair", "same (adj.)", "cross (adj.)"]
        msg.table(rows, header=header, divider=True, aligns=("r",) * len(header),
                  title="per layer: raw cosines, the random-pair baseline, and (c - b) / (1 - b)")
        msg.text("Layer 0 is the input embedding: the same 'bank' in every sentence. The gap opens "
                 "in the layers above. Adjusted, 0 means no closer than two unrelated tokens: "
                 "the raw cosines of an anisotropic layer are all high. The matrix above is "
                 "token.similarity: the pipeline's token mix.")
    if hf_model is not None:
        # explore takes a pipeline: say how to make one with this encoder.
        msg.text("To see the sense map, save this pipeline (nlp = spacy.blank('en'); "
                 f"nlp.add_pipe('ctx_encoder', config={{'model': {{'name': {hf_model!r}}}}}); "
                 "nlp.to_disk(DIR)) and run `python -m spacy_ctx explore DIR --word bank`.")
        return
    msg.text("To see it, the sense map of 'bank' across the layers for these sentences:")
    # One line, unwrapped, to copy.
    typer.echo(explore_command(model, [text for _, text in result["contexts"]], "bank"))


def demo_pipeline(model: str, hf_model: Optional[str] = None):
    """The pipeline the demo runs: `model` (a saved pipeline or "default"),
    or blank English whose ctx_encoder reads the Hugging Face encoder
    `hf_model` with every other setting at its default."""
    if hf_model is None:
        return load_pipeline(model)
    if model != "default":
        raise SpacyCtxError(Errors.E072.format(model=model))
    return load_pipeline("default", overrides={"components.ctx_encoder.model.name": hf_model})


def explore_command(model: str, texts: Sequence[str], word: str) -> str:
    """The `explore` command that opens the page on these sentences with
    `word` shown."""
    parts = ["python -m spacy_ctx explore"] + ([shlex.quote(model)] if model != "default" else [])
    parts += [f"--word {shlex.quote(word)}"] + [f"--text {shlex.quote(text)}" for text in texts]
    return " ".join(parts)
