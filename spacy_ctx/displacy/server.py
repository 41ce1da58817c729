"""The explorer: a local web app on the standard library's HTTP server.

One static page (static/index.html, explore.js, explore.css, and /views.css:
the styles `render` inlines) calls two JSON
endpoints: POST /api/parse {"text"} returns the tokens of each line, and
POST /api/explore {"text", "doc", "token"} returns every view for that token.
`Explorer` holds the state and the endpoints without HTTP; `make_server`
puts it behind a `ThreadingHTTPServer`, as displaCy serves with wsgiref: no
web framework to install, and nothing but this machine can reach it unless
the host says so.

User errors (a `SpacyCtxError`) come back as {"error": message} with status
400; anything else is logged with its traceback and answered with E517, and
the server goes on serving.
"""
import json
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable, Dict, List, Optional, Tuple

from spacy.language import Language

from ..errors import Errors, SpacyCtxError
from ..pipeline.loading import find_encoder
from .html import STYLE_CSS
from .neighbors import EmbeddedCorpus, neighbors_view
from .views import check_token, layers_view, mix_view, senses_view, tokens_view

DEFAULT_MAX_CHARS = 5000
# The most request bytes read: room for max_chars characters even when JSON
# escapes each as \uXXXX\uXXXX (12 bytes), and never under 1 MiB, so that a
# long paste is answered with E501 (its length), not only its size.
MIN_BODY_BYTES = 1 << 20
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/explore.js": ("explore.js", "text/javascript; charset=utf-8"),
    "/explore.css": ("explore.css", "text/css; charset=utf-8"),
}


class Explorer:
    """The explorer's endpoints: JSON in, JSON out.

    nlp: a pipeline with a ctx_encoder (and optionally trained heads, ctx_wsd).
    corpus: an embedded corpus for the "neighbors" view, or None.
    max_chars: the longest text accepted; longer ones are refused (E501).
    """

    def __init__(self, nlp: Language, corpus: Optional[EmbeddedCorpus] = None, max_chars: int = DEFAULT_MAX_CHARS):
        if max_chars < 1:
            raise SpacyCtxError(Errors.E205.format(setting="max_chars", min=1, value=max_chars))
        self.nlp = nlp
        self.encoder = find_encoder(nlp)
        self.corpus = corpus
        self.max_chars = int(max_chars)
        self.max_body = max(MIN_BODY_BYTES, 12 * self.max_chars + 4096)
        # One request at a time through the pipeline: torch and the encoder's
        # state are not made for concurrent calls.
        self._lock = threading.Lock()

    def info(self, payload: Dict[str, Any]) -> Dict[str, Any]:
        """The limits and what the pipeline has, for the page."""
        return {
            "max_chars": self.max_chars,
            "components": self.nlp.pipe_names,
            "corpus": str(self.corpus.path) if self.corpus is not None else None,
        }

    def parse(self, payload: Dict[str, Any]) -> Dict[str, Any]:
        """{"text"} -> {"docs": [[token text, ...], ...]}: one doc per non-empty line."""
        return {"docs": [[t.text for t in doc] for doc in self._docs(payload)]}

    def explore(self, payload: Dict[str, Any]) -> Dict[str, Any]:
        """{"text", "doc", "token"} -> the docs' tokens and every view of that
        token; a view that does not apply carries its message instead."""
        docs = self._docs(payload)
        try:
            query = check_token(docs, (int(payload.get("doc", 0)), int(payload.get("token", -1))))
        except (TypeError, ValueError) as err:
            raise SpacyCtxError(Errors.E515.format(reason=err)) from None
        word = docs[query[0]][query[1]].text
        views: List[Tuple[str, Callable]] = [
            ("layers", lambda: layers_view(docs, word, self.encoder)),
            ("tokens", lambda: tokens_view(docs, query)),
            ("mix", lambda: mix_view(self.nlp)),
            ("senses", lambda: senses_view(self.nlp, docs)),
            ("neighbors", lambda: self._neighbors(docs, query)),
        ]
        out = []
        for style, compute in views:
            try:
                with self._lock:
                    out.append(compute().to_dict())
            except SpacyCtxError as err:
                out.append({"style": style, "title": style, "panels": [], "notes": [], "message": str(err)})
        return {"docs": [[t.text for t in doc] for doc in docs], "query": list(query), "views": out}

    def _neighbors(self, docs, query):
        if self.corpus is None:
            raise SpacyCtxError(Errors.E508)
        return neighbors_view(self.corpus, docs, query)

    def _docs(self, payload: Dict[str, Any]):
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str):
            raise SpacyCtxError(Errors.E515.format(reason="no 'text' string"))
        if len(text) > self.max_chars:
            raise SpacyCtxError(Errors.E501.format(n=len(text), max=self.max_chars))
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            raise SpacyCtxError(Errors.E500)
        with self._lock:
            return list(self.nlp.pipe(lines))


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    """Serves the static page and the explorer's JSON endpoints."""

    explorer: Explorer
    quiet = False
    server_version = "spacy-ctx-explore"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/views.css":  # the styles `render` inlines, shared by the page
            self._send(HTTPStatus.OK, STYLE_CSS.encode("utf-8"), "text/css; charset=utf-8")
        elif path in STATIC_FILES:
            name, content_type = STATIC_FILES[path]
            self._send(HTTPStatus.OK, _static(name), content_type)
        elif path == "/api/info":
            self._json(HTTPStatus.OK, self.explorer.info({}))
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": Errors.E516.format(path=path)})

    def do_POST(self) -> None:
        endpoints = {"/api/parse": self.explorer.parse, "/api/explore": self.explorer.explore}
        endpoint = endpoints.get(self.path)
        if endpoint is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": Errors.E516.format(path=self.path)})
            return
        try:
            self._json(HTTPStatus.OK, endpoint(self._payload()))
        except SpacyCtxError as err:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
        except Exception as err:  # a bug must not stop the server
            traceback.print_exc(file=sys.stderr)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": Errors.E517.format(error=type(err).__name__)})

    def _payload(self) -> Dict[str, Any]:
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if n < 0 or n > self.explorer.max_body:
            self.close_connection = True  # the unread body must not be taken for a request
            raise SpacyCtxError(Errors.E502.format(n=n, max=self.explorer.max_body, chars=self.explorer.max_chars))
        try:
            payload = json.loads(self.rfile.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise SpacyCtxError(Errors.E515.format(reason=err)) from None
        if not isinstance(payload, dict):
            raise SpacyCtxError(Errors.E515.format(reason="not an object"))
        return payload

    def _json(self, status: HTTPStatus, data: Dict[str, Any]) -> None:
        self._send(status, json.dumps(data, allow_nan=False).encode("utf-8"), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        if not self.quiet:
            super().log_message(format, *args)


def make_server(explorer: Explorer, host: str = "127.0.0.1", port: int = 5000, quiet: bool = False):
    """The explorer behind a ThreadingHTTPServer (port 0: any free port;
    the bound one is `server.server_address[1]`). Call `serve_forever`."""
    handler = type("ExplorerHandler", (_Handler,), {"explorer": explorer, "quiet": quiet})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve_explorer(explorer: Explorer, host: str = "127.0.0.1", port: int = 5000) -> None:
    """Serve the explorer until interrupted."""
    _serve_forever(make_server(explorer, host, port), "explorer")


def serve_page(html: str, host: str = "127.0.0.1", port: int = 5000, style: str = "") -> None:
    """Serve one rendered page at every path until interrupted (`displacy.serve`)."""
    body = html.encode("utf-8")

    class PageHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    _serve_forever(ThreadingHTTPServer((host, port), PageHandler), f"'{style}' visualizer")


def _serve_forever(server: ThreadingHTTPServer, what: str) -> None:
    host, port = server.server_address[:2]
    print(f"Using the {what}\nServing on http://{host}:{port} ...\n", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print(f"Shutting down server on port {port}.")
    finally:
        server.server_close()
