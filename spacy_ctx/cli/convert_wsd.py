"""`python -m spacy_ctx convert-wsd DATA.xml GOLD.key.txt OUT.spacy`."""
from pathlib import Path

import spacy
import typer
from wasabi import msg

from ._app import app
from ._util import user_errors


@app.command("convert-wsd")
def convert_wsd_cli(
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Raganato XML file"),
    gold_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Gold key file"),
    output_path: Path = typer.Argument(..., dir_okay=False, help="Output .spacy file"),
    lang: str = typer.Option("en", help="Language of the blank vocab"),
):
    """Convert Raganato-format WSD data into a DocBin: tokens, lemma, coarse
    POS, and gold senses in doc.spans["wsd"] (label = sense key, id = instance id)."""
    from ..senses.raganato import raganato_to_docbin

    with user_errors():
        docbin = raganato_to_docbin(spacy.blank(lang).vocab, data_path, gold_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    docbin.to_disk(output_path)
    msg.good(f"Wrote {len(docbin)} docs to {output_path}")
