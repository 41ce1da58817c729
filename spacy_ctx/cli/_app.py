"""The typer app that every CLI module adds its command to."""
import typer

app = typer.Typer(
    name="spacy_ctx",
    help="spacy-ctx: contextual token embeddings for spaCy.",
    no_args_is_help=True,
    add_completion=False,
)
