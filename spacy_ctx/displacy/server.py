"""The explorer: a local web app on the standard library's HTTP server.

One static page (static/index.html, explore.js, charts.js: the SVG charts,
explore.css, and /views.css: the styles `render` inlines) calls two JSON
endpoints: POST /api/parse {"text"} returns the tokens of each line, and
POST /api/explore {"text", "doc", "token"} returns every view for that token.
`Explorer` holds the state and the endpoints without HTTP; `make_server`
puts it behind a `ThreadingHTTPServer`, as displaCy serves with wsgiref: no
web framework to install, and nothing but this machine can reach it unless
the host says so.

The threat is a web page open in the user's browser (docs/explore.md): it
can make the browser send requests here, and with DNS rebinding read the
answers under its own name. So every request must name this server in its
Host header (`allowed_hosts`), a POST must be JSON (which a cross-site page
cannot send without asking, and this server never says yes) from no page or
this server's own, every response forbids inline script, sniffing and
referrers, and at most `MAX_REQUESTS` are served at once, each reading a
bounded body within `TIMEOUT` seconds.

User errors (a `SpacyCtxError`) come back as {"error": message} with status
400 (403 for a foreign Host or Origin, 415 for a body that is not JSON, 503
when busy); anything else is logged with its traceback and answered with
E517, and the server goes on serving.
"""
import json
import re
import socket
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Tuple
from urllib.parse import urlsplit

from spacy.language import Language

from ..errors import Errors, SpacyCtxError
from ..pipeline.loading import find_encoder
from .html import STYLE_CSS, page_csp
from .neighbors import EmbeddedCorpus, neighbors_view
from .sensemap import sensemap_view
from .views import check_token, layers_view, mix_view, occurrence_senses, senses_view, tokens_view

DEFAULT_MAX_CHARS = 5000
# The most request bytes read: room for max_chars characters even when JSON
# escapes each as \uXXXX\uXXXX (12 bytes), and never under 1 MiB, so that a
# long paste is answered with E501 (its length), not only its size.
MIN_BODY_BYTES = 1 << 20
# Requests served at once; more are answered 503 without a thread.
MAX_REQUESTS = 8
# Seconds a connection may take to send its request (headers and body).
TIMEOUT = 10.0
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("0.0.0.0", "::", "")
# No script but the served files, no plugins, no framing, no referrer.
EXPLORER_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/explore.js": ("explore.js", "text/javascript; charset=utf-8"),
    "/charts.js": ("charts.js", "text/javascript; charset=utf-8"),
    "/explore.css": ("explore.css", "text/css; charset=utf-8"),
}


class Explorer:
    """The explorer's endpoints: JSON in, JSON out.

    nlp: a pipeline with a ctx_encoder (and optionally trained heads, ctx_wsd).
    corpus: an embedded corpus for the "neighbors" view, or None.
    max_chars: the longest text accepted; longer ones are refused (E501).
    text, word: the sentences the page opens with (one per line) and the
        word whose first occurrence it shows at once (`demo` prints the command).
    """

    def __init__(
        self,
        nlp: Language,
        corpus: Optional[EmbeddedCorpus] = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        text: Optional[str] = None,
        word: Optional[str] = None,
    ):
        if max_chars < 1:
            raise SpacyCtxError(Errors.E205.format(setting="max_chars", min=1, value=max_chars))
        if text is not None and len(text) > max_chars:
            raise SpacyCtxError(Errors.E501.format(n=len(text), max=max_chars))
        # What the page opens with: its sentences, and the word it shows.
        self.text = text
        self.word = word
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
            "text": self.text,
            "word": self.word,
            # The file's name, never its absolute path: nothing about this
            # machine's layout goes into a response.
            "corpus": self.corpus.path.name if self.corpus is not None else None,
        }

    def parse(self, payload: Dict[str, Any]) -> Dict[str, Any]:
        """{"text"} -> {"docs": [[token text, ...], ...]}: one doc per non-empty line."""
        return {"docs": [[t.text for t in doc] for doc in self._docs(payload)]}

    def explore(self, payload: Dict[str, Any]) -> Dict[str, Any]:
        """{"text", "doc", "token"} -> the docs' tokens and every view of that
        token; a view that does not apply carries its message instead."""
        docs = self._docs(payload)
        query = check_token(docs, (_index(payload, "doc", 0), _index(payload, "token", -1)))
        word = docs[query[0]][query[1]].text
        views: List[Tuple[str, Callable]] = [
            ("sensemap", lambda: sensemap_view(docs, word, self.nlp, self.corpus)),
            ("layers", lambda: layers_view(docs, word, self.encoder, occurrence_senses(self.nlp, docs, word))),
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
                out.append({"style": style, "title": style, "panels": [], "notes": [], "figures": [], "message": str(err)})
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


def _index(payload: Dict[str, Any], name: str, default: int) -> int:
    value = payload.get(name, default)
    # JSON integers only: int() of a float, a bool or a string would take
    # 1.5, true or "7" (and raise OverflowError on 1e400).
    if not isinstance(value, int) or isinstance(value, bool):
        raise SpacyCtxError(Errors.E515.format(reason=f"'{name}' is not an integer"))
    return value


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _host_port(value: str, default_port: int = 80) -> Optional[Tuple[str, int]]:
    """A Host header or an --allow-host name as (lower-cased name, port);
    None when it is not one."""
    match = re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?", value.strip())
    if match is None:
        return None
    return match.group(1).lower(), int(match.group(2)) if match.group(2) else default_port


def allowed_hosts(host: str, port: int, allow: Iterable[str] = ()) -> FrozenSet[Tuple[str, int]]:
    """The (name, port) pairs a request's Host header may give.

    Bound to a loopback address: the loopback names with the port. Bound to
    one other address or name: that one. Bound to every interface
    (0.0.0.0 or ::): only the names in `allow` (E526 without any), since
    any name may then reach it. Names in `allow` ("name" or "name:port",
    the bound port by default) are added in every case.
    """
    name = f"[{host}]" if ":" in host else host.lower()
    if host in WILDCARDS:
        names = set()
        if not allow:
            raise SpacyCtxError(Errors.E526.format(host=host or "every interface"))
    elif name in LOOPBACK_NAMES or name.startswith("127."):
        names = {(loopback, port) for loopback in LOOPBACK_NAMES} | {(name, port)}
    else:
        names = {(name, port)}
    for value in allow:
        parsed = _host_port(value, port)
        if parsed is None:
            raise SpacyCtxError(Errors.E522.format(host=value, allowed="a host name or address, with an optional :port"))
        names.add(parsed)
    return frozenset(names)


class _SafeHandler(BaseHTTPRequestHandler):
    """What every response of the explorer and of `displacy.serve` shares:
    only requests naming this server (Host) are answered, each within
    `timeout` seconds, and every response carries the security headers."""

    allowed: FrozenSet[Tuple[str, int]] = frozenset()
    csp = EXPLORER_CSP
    quiet = False
    timeout = TIMEOUT  # StreamRequestHandler sets it on the socket
    server_version = "spacy-ctx"

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        host = self.headers.get("Host", "")
        if _host_port(host) not in self.allowed:
            allowed = ", ".join(sorted(f"{name}:{port}" for name, port in self.allowed))
            self._json(HTTPStatus.FORBIDDEN, {"error": Errors.E522.format(host=host, allowed=allowed)})
            return False
        return True

    def end_headers(self) -> None:
        # send_error ends its headers here too, so no response goes without them.
        self.send_header("Content-Security-Policy", self.csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def _json(self, status: HTTPStatus, data: Dict[str, Any]) -> None:
        self._send(status, json.dumps(data, allow_nan=False).encode("utf-8"), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        if not self.quiet:
            super().log_message(format, *args)


class _Handler(_SafeHandler):
    """Serves the static page and the explorer's JSON endpoints."""

    explorer: Explorer
    server_version = "spacy-ctx-explore"

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
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
        path = urlsplit(self.path).path
        endpoints = {"/api/parse": self.explorer.parse, "/api/explore": self.explorer.explore}
        endpoint = endpoints.get(path)
        if endpoint is None:
            self.close_connection = True  # the unread body must not be taken for a request
            self._json(HTTPStatus.NOT_FOUND, {"error": Errors.E516.format(path=path)})
            return
        try:
            status, payload = self._payload()
            if status is not HTTPStatus.OK:
                self._json(status, {"error": payload})
                return
            self._json(HTTPStatus.OK, endpoint(payload))
        except SpacyCtxError as err:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
        except Exception as err:  # a bug must not stop the server
            traceback.print_exc(file=sys.stderr)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": Errors.E517.format(error=type(err).__name__)})

    def _payload(self) -> Tuple[HTTPStatus, Any]:
        """(OK, the JSON object of the body), or a refusal (status, message)."""
        self.close_connection = True  # nothing after a POST is read as a request
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower() != f"http://{self.headers.get('Host', '')}".lower():
            return HTTPStatus.FORBIDDEN, Errors.E524.format(origin=origin)
        content_type = self.headers.get("Content-Type", "")
        if self.headers.get_content_type() != "application/json":
            return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, Errors.E523.format(value=content_type)
        lengths = self.headers.get_all("Content-Length") or []
        if self.headers.get("Transfer-Encoding") or len(lengths) != 1 or not re.fullmatch(r"[0-9]{1,15}", lengths[0]):
            raise SpacyCtxError(Errors.E520.format(value=", ".join(lengths) or None))
        n = int(lengths[0])
        if n > self.explorer.max_body:
            raise SpacyCtxError(Errors.E502.format(n=n, max=self.explorer.max_body, chars=self.explorer.max_chars))
        try:
            body = self.rfile.read(n)
        except (TimeoutError, socket.timeout):
            return HTTPStatus.REQUEST_TIMEOUT, Errors.E525.format(seconds=self.timeout)
        if len(body) != n:
            raise SpacyCtxError(Errors.E515.format(reason=f"the body has {len(body)} of its {n} bytes"))
        try:
            payload = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise SpacyCtxError(Errors.E515.format(reason=err)) from None
        if not isinstance(payload, dict):
            raise SpacyCtxError(Errors.E515.format(reason="not an object"))
        return HTTPStatus.OK, payload


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


class BoundedServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that serves at most `max_requests` connections
    at once: beyond that, the accepting thread answers 503 (E521) itself and
    starts no thread, so a flood costs neither threads nor the pipeline."""

    daemon_threads = True

    def __init__(self, address, handler, max_requests: int = MAX_REQUESTS):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self.max_requests = max_requests
        self._slots = threading.BoundedSemaphore(max_requests)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self._busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _busy(self, request) -> None:
        handler = self.RequestHandlerClass
        body = json.dumps({"error": Errors.E521.format(n=self.max_requests)}).encode("utf-8")
        head = (
            "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nContent-Security-Policy: {handler.csp}\r\n"
            "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n"
        )
        try:
            # Read what the client sends first (waiting a moment), so that
            # closing with it unread does not reset the connection.
            request.settimeout(0.2)
            try:
                request.recv(1 << 16)
            except OSError:
                pass
            request.settimeout(1.0)
            request.sendall(head.encode("ascii") + body)
        except OSError:
            pass


def make_server(
    explorer: Explorer,
    host: str = "127.0.0.1",
    port: int = 5000,
    quiet: bool = False,
    allow_hosts: Iterable[str] = (),
    max_requests: int = MAX_REQUESTS,
    timeout: float = TIMEOUT,
) -> BoundedServer:
    """The explorer behind a BoundedServer (port 0: any free port; the bound
    one is `server.server_address[1]`). Call `serve_forever`.

    allow_hosts: more names the Host header may give (`allowed_hosts`);
        required when binding every interface.
    """
    attrs = {"explorer": explorer, "quiet": quiet, "timeout": timeout}
    return _bind(_Handler, attrs, host, port, allow_hosts, max_requests)


def _bind(base, attrs: Dict[str, Any], host: str, port: int, allow_hosts: Iterable[str], max_requests: int) -> BoundedServer:
    allow_hosts = list(allow_hosts)
    allowed_hosts(host, port, allow_hosts)  # E526 before binding
    handler = type(base.__name__.lstrip("_"), (base,), dict(attrs))
    server = BoundedServer((host, port), handler, max_requests)
    # Port 0 binds any free port: the names are those of the bound one.
    handler.allowed = allowed_hosts(host, server.server_address[1], allow_hosts)
    return server


def serve_explorer(explorer: Explorer, host: str = "127.0.0.1", port: int = 5000, allow_hosts: Iterable[str] = ()) -> None:
    """Serve the explorer until interrupted."""
    serve_forever(make_server(explorer, host, port, allow_hosts=allow_hosts), "explorer")


class _PageHandler(_SafeHandler):
    """Serves one page at every path (`displacy.serve`)."""

    body = b""

    def do_GET(self) -> None:
        self._send(HTTPStatus.OK, self.body, "text/html; charset=utf-8")


def make_page_server(html: str, host: str = "127.0.0.1", port: int = 5000, allow_hosts: Iterable[str] = (), quiet: bool = False) -> BoundedServer:
    """One rendered page behind a BoundedServer, with the explorer's checks
    and headers (its CSP from `page_csp`)."""
    attrs = {"body": html.encode("utf-8"), "csp": page_csp(html) + "; frame-ancestors 'none'", "quiet": quiet}
    return _bind(_PageHandler, attrs, host, port, allow_hosts, MAX_REQUESTS)


def serve_page(html: str, host: str = "127.0.0.1", port: int = 5000, style: str = "", allow_hosts: Iterable[str] = ()) -> None:
    """Serve one rendered page at every path until interrupted (`displacy.serve`)."""
    serve_forever(make_page_server(html, host, port, allow_hosts), f"'{style}' visualizer")


def serve_forever(server: ThreadingHTTPServer, what: str) -> None:
    """Serve until interrupted, saying where."""
    host, port = server.server_address[:2]
    print(f"Using the {what}\nServing on http://{host}:{port} ...\n", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print(f"Shutting down server on port {port}.")
    finally:
        server.server_close()
