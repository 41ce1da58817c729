"""`python -m spacy_ctx predict-wsd PIPELINE DATA.xml > keys.txt`."""
import sys
from pathlib import Path

import spacy
import typer

from ._app import app
from ._util import user_errors


@app.command("predict-wsd")
def predict_wsd_cli(
    pipeline: str = typer.Argument(..., help="Pipeline (path or package) with a ctx_wsd"),
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Raganato XML file"),
    batch_size: int = typer.Option(32, help="Docs per batch"),
):
    """Write `instance_id sense_key` lines (the framework's key format) to stdout.
    The pipeline needs no WordNet: it carries its sense inventory."""
    from ..errors import Errors, SpacyCtxError
    from ..pipeline.wsd import CtxWSD
    from ..senses.corpus import predict_keys
    from ..senses.raganato import write_keys

    with user_errors():
        nlp = spacy.load(pipeline)
        wsd = [pipe for _, pipe in nlp.pipeline if isinstance(pipe, CtxWSD)]
        if not wsd:
            raise SpacyCtxError(Errors.E104.format(pipeline=pipeline, names=nlp.pipe_names))
        write_keys(predict_keys(nlp, data_path, wsd[0].cfg["spans_key"], batch_size), sys.stdout)
