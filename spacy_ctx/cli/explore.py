"""`python -m spacy_ctx explore [PIPELINE]`: the interactive explorer."""
from pathlib import Path
from typing import List, Optional

import typer

from ..displacy.neighbors import DEFAULT_THRESHOLD, EmbeddedCorpus
from ..displacy.server import DEFAULT_MAX_CHARS, Explorer, make_server, serve_forever
from ..pipeline.loading import load_pipeline
from ._app import app
from ._util import user_errors


@app.command("explore")
def explore_cli(
    pipeline: str = typer.Argument("default", help="A pipeline directory or package, or 'default' (blank English with the bundled MiniLM)."),
    corpus: Optional[Path] = typer.Option(None, "--corpus", "-c", help="A corpus embedded with `python -m spacy_ctx embed` (Parquet file or directory), for nearest neighbours."),
    port: int = typer.Option(5000, "--port", "-p", help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; the default is reachable from this machine only."),
    allow_host: List[str] = typer.Option([], "--allow-host", help="A host name (or name:port) the page may be reached by, besides the bound address; required to bind 0.0.0.0. Repeat for more."),
    max_chars: int = typer.Option(DEFAULT_MAX_CHARS, "--max-chars", help="The longest text accepted; longer ones are refused, never cut."),
    threshold: int = typer.Option(DEFAULT_THRESHOLD, "--ann-threshold", help="Corpora of more tokens are searched with an approximate index (pip install 'spacy-ctx[explore]')."),
    text: List[str] = typer.Option([], "--text", "-t", help="A sentence the page opens with (repeat for more; default: three about 'bank')."),
    word: Optional[str] = typer.Option(None, "--word", "-w", help="Show this word's first occurrence at once: its sense map and its cosines across the layers."),
):
    """Serve a local page: type sentences, click a token, and see its sense
    map across the layers, its per-layer similarities, the heads' layer
    weights, its senses and its nearest neighbours in a corpus."""
    with user_errors():
        nlp = load_pipeline(pipeline)
        embedded = EmbeddedCorpus(corpus, threshold) if corpus is not None else None
        explorer = Explorer(nlp, embedded, max_chars, "\n".join(text) or None, word)
        server = make_server(explorer, host, port, allow_hosts=allow_host)
    serve_forever(server, "explorer")
