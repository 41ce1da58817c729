"""The explorer's endpoints, directly and over HTTP: bounded, escaped, still
serving after errors, and closed to what a hostile web page can send.

The HTTP tests send real requests with http.client to 127.0.0.1, each with
the Host, Origin and Content-Type headers it names (a browser sets them).
"""
import base64
import contextlib
import hashlib
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy
import pytest

from spacy_ctx import displacy
from spacy_ctx.displacy.html import charts_js
from spacy_ctx.displacy.neighbors import EmbeddedCorpus
from spacy_ctx.displacy.server import (
    DEFAULT_MAX_CHARS,
    Explorer,
    allowed_hosts,
    make_page_server,
    make_server,
)
from spacy_ctx.errors import SpacyCtxError

from ..util import BANK_TEXTS

SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


@pytest.fixture(scope="module")
def explorer(nlp):
    return Explorer(nlp, max_chars=DEFAULT_MAX_CHARS)


@pytest.fixture(scope="module")
def url(explorer):
    server = make_server(explorer, port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def request(url, path, payload=None, raw=None):
    data = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else None)
    req = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_explore_returns_every_view(explorer):
    result = explorer.explore({"text": "\n".join(BANK_TEXTS), "doc": 0, "token": 6})
    assert result["query"] == [0, 6]
    styles = {view["style"]: view for view in result["views"]}
    assert list(styles) == ["sensemap", "layers", "tokens", "mix", "senses", "neighbors"]
    assert len(styles["sensemap"]["figures"][0]["labels"]) == 3
    assert [s["role"] for s in styles["layers"]["figures"][0]["series"]] == ["pair"] * 3 + ["baseline"]
    assert len(styles["tokens"]["panels"]) == 3
    assert "E506" in styles["senses"]["message"] and "E508" in styles["neighbors"]["message"]
    assert "E507" in styles["mix"]["notes"][0]


@pytest.mark.parametrize(
    "payload,code",
    [
        ({"text": "  \n "}, "E500"),
        ({"text": "a" * 200_000}, "E501"),
        ({"text": "a bank", "doc": 0, "token": 7}, "E504"),
        ({"text": "a bank", "doc": 3, "token": 0}, "E503"),
        ({"text": "a bank", "doc": "x", "token": 0}, "E515"),
        ({"words": "a bank"}, "E515"),
    ],
)
def test_bad_requests_get_their_message(explorer, payload, code):
    with pytest.raises(SpacyCtxError, match=code):
        explorer.explore(payload)


def test_the_page_opens_with_the_text_and_word_given(nlp):
    explorer = Explorer(nlp, text="a river bank\nthe bank", word="bank")
    assert explorer.info({})["text"] == "a river bank\nthe bank" and explorer.info({})["word"] == "bank"
    assert Explorer(nlp).info({})["text"] is None
    with pytest.raises(SpacyCtxError, match="E501"):
        Explorer(nlp, max_chars=5, text="a river bank")


def test_the_cap_is_settable_and_nothing_is_cut(nlp):
    small = Explorer(nlp, max_chars=10)
    with pytest.raises(SpacyCtxError, match="at most 10"):
        small.parse({"text": "a river bank"})
    assert small.parse({"text": "a bank"}) == {"docs": [["a", "bank"]]}
    with pytest.raises(SpacyCtxError, match="E205"):
        Explorer(nlp, max_chars=0)


def test_http_serves_the_page_and_answers_errors_then_goes_on(url, explorer, monkeypatch):
    status, body = request(url, "/")
    assert status == 200 and b'<script src="/explore.js"' in body
    assert request(url, "/explore.js")[0] == 200
    assert json.loads(request(url, "/api/info")[1])["max_chars"] == DEFAULT_MAX_CHARS
    status, body = request(url, "/nope")
    assert status == 404 and "E516" in json.loads(body)["error"]
    status, body = request(url, "/api/parse", raw=b"{not json")
    assert status == 400 and "E515" in json.loads(body)["error"]
    status, body = request(url, "/api/parse", {"text": "x" * 200_000})
    assert status == 400 and "E501" in json.loads(body)["error"]

    def broken(payload):
        raise RuntimeError("a bug")

    monkeypatch.setattr(explorer, "parse", broken)
    status, body = request(url, "/api/parse", {"text": "a bank"})
    assert status == 500 and "E517" in json.loads(body)["error"] and "Traceback" not in body.decode()
    monkeypatch.undo()
    status, body = request(url, "/api/parse", {"text": "<b>a</b> bank"})
    assert status == 200 and json.loads(body)["docs"][0][-1] == "bank"


def test_importing_the_package_imports_no_server_and_no_optional_package():
    code = (
        "import sys, spacy_ctx; bad = [m for m in ('spacy_ctx.displacy', 'http.server', 'usearch', 'selenium') "
        "if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@contextlib.contextmanager
def running(server):
    """A server serving in a thread; yields its port."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def corpus_explorer(nlp, corpus_path):
    return Explorer(nlp, EmbeddedCorpus(corpus_path))


@pytest.fixture(scope="module")
def port(corpus_explorer):
    with running(make_server(corpus_explorer, port=0, quiet=True)) as port:
        yield port


def send(port, method, path, body=None, headers=None, timeout=60):
    """(status, headers, body) of one request to 127.0.0.1:port. Host is
    127.0.0.1:port and a body's Content-Type application/json unless
    `headers` says otherwise (None drops a header)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    sent = {"Host": f"127.0.0.1:{port}"}
    if body is not None:
        body = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        sent.update({"Content-Type": "application/json", "Content-Length": str(len(body))})
    sent.update(headers or {})
    for name, value in sent.items():
        if value is not None:
            for one in value if isinstance(value, list) else [value]:
                conn.putheader(name, one)
    conn.endheaders(body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.headers, data


def error(data):
    return json.loads(data)["error"]


def assert_safe_headers(headers):
    csp = headers["Content-Security-Policy"]
    assert "script-src" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:{other}", "127.0.0.1", "", None, "a b"])
def test_a_host_header_not_naming_the_server_is_refused(port, host):
    host = host.format(port=port, other=port + 1) if host else host
    for method, path, body in (("GET", "/api/info", None), ("GET", "/", None), ("POST", "/api/parse", {"text": "a bank"})):
        status, headers, data = send(port, method, path, body, {"Host": host})
        assert status == 403 and "E522" in error(data), (method, path)
        assert_safe_headers(headers)


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "[::1]:{port}"])
def test_the_loopback_names_with_the_port_are_answered(port, host):
    status, _, data = send(port, "GET", "/api/info", headers={"Host": host.format(port=port)})
    assert status == 200 and json.loads(data)["max_chars"] == DEFAULT_MAX_CHARS


def test_allowed_hosts_by_bound_address():
    assert allowed_hosts("127.0.0.1", 80) == {("127.0.0.1", 80), ("localhost", 80), ("[::1]", 80)}
    assert allowed_hosts("myhost.lan", 8080) == {("myhost.lan", 8080)}
    assert allowed_hosts("0.0.0.0", 8080, ["MyHost.lan", "proxy:443"]) == {("myhost.lan", 8080), ("proxy", 443)}
    for wildcard in ("0.0.0.0", "::"):
        with pytest.raises(SpacyCtxError, match="E526"):
            allowed_hosts(wildcard, 8080)


def test_every_interface_answers_only_the_names_given(corpus_explorer):
    with pytest.raises(SpacyCtxError, match="E526"):
        make_server(corpus_explorer, host="0.0.0.0", port=0)
    server = make_server(corpus_explorer, host="0.0.0.0", port=0, quiet=True, allow_hosts=["myhost.lan"])
    with running(server) as port:
        assert send(port, "GET", "/api/info", headers={"Host": f"myhost.lan:{port}"})[0] == 200
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "evil.example"):
            assert send(port, "GET", "/api/info", headers={"Host": host})[0] == 403


@pytest.mark.parametrize(
    "content_type", ["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
def test_a_post_that_is_not_json_is_refused(port, content_type):
    # The three "simple" types any page may send cross-site without asking, and none.
    status, headers, data = send(port, "POST", "/api/parse", {"text": "a bank"}, {"Content-Type": content_type})
    assert status == 415 and "E523" in error(data)
    assert_safe_headers(headers)


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:{other}", "https://127.0.0.1:{port}"])
def test_a_post_from_another_page_is_refused(port, origin):
    origin = origin.format(port=port, other=port + 1)
    status, _, data = send(port, "POST", "/api/parse", {"text": "a bank"}, {"Origin": origin})
    assert status == 403 and "E524" in error(data)


def test_a_post_from_no_page_or_its_own_page_is_answered(port):
    for headers in ({}, {"Origin": f"http://127.0.0.1:{port}"}, {"Content-Type": "application/json; charset=utf-8"}):
        status, _, data = send(port, "POST", "/api/parse", {"text": "a bank"}, headers)
        assert status == 200 and json.loads(data) == {"docs": [["a", "bank"]]}


def test_post_paths_drop_their_query_as_get_paths_do(port):
    status, _, data = send(port, "POST", "/api/parse?x=1", {"text": "a bank"})
    assert status == 200 and json.loads(data) == {"docs": [["a", "bank"]]}
    assert send(port, "GET", "/api/info?x=1")[0] == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "a bank", "doc": Infinity, "token": 0}',
        b'{"text": "a bank", "doc": 0, "token": NaN}',
        b'{"text": "a bank", "doc": -Infinity, "token": 0}',
        b'{"text": "a bank", "doc": 1e400, "token": 0}',
        b'{"text": "a bank", "doc": 0.5, "token": 0}',
        b'{"text": "a bank", "doc": true, "token": 0}',
        b'{"text": "a bank", "doc": "0", "token": 0}',
        b'{"text": "a \xff bank"}',
        b"\xfe\xff\x00{",
        b"[" * 100_000,
        b"[1, 2]",
        b"",
    ],
    ids=["Infinity", "NaN", "-Infinity", "1e400", "float", "bool", "string", "latin-1", "utf-16", "deep", "array", "empty"],
)
def test_malformed_json_bodies_get_400_E515(port, body):
    status, headers, data = send(port, "POST", "/api/explore", body)
    assert status == 400 and "E515" in error(data)
    assert_safe_headers(headers)


@pytest.mark.parametrize("length", ["-5", "abc", "1e3", " ", "9" * 40, ["3", "4"]])
def test_a_bad_content_length_gets_400_E520(port, length):
    status, _, data = send(port, "POST", "/api/parse", b'{"t"}', {"Content-Length": length})
    assert status == 400 and "E520" in error(data)


def test_a_chunked_body_gets_400_E520(port):
    status, _, data = send(port, "POST", "/api/parse", b"2\r\n{}\r\n0\r\n\r\n", {"Transfer-Encoding": "chunked", "Content-Length": None})
    assert status == 400 and "E520" in error(data)


def test_a_body_over_the_limit_is_not_read_and_gets_400_E502(port, corpus_explorer):
    n = corpus_explorer.max_body + 1
    status, _, data = send(port, "POST", "/api/parse", b"{}", {"Content-Length": str(n)})
    assert status == 400 and "E502" in error(data) and str(n) in error(data)
    assert send(port, "GET", "/api/info")[0] == 200


def test_a_slow_body_times_out_with_408_E525(nlp):
    server = make_server(Explorer(nlp), port=0, quiet=True, timeout=1.0)
    with running(server) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(
                f"POST /api/parse HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                "Content-Length: 100\r\n\r\n{\"text\"".encode()
            )
            start = time.monotonic()
            answer = sock.makefile("rb").read()
        assert time.monotonic() - start < 10
        assert answer.startswith(b"HTTP/1.0 408") and b"E525" in answer


def test_more_than_eight_requests_at_once_get_503_E521(nlp):
    server = make_server(Explorer(nlp), port=0, quiet=True, timeout=30.0)
    with running(server) as port:
        # Eight connections that send half a request and wait hold the eight slots.
        holders = [socket.create_connection(("127.0.0.1", port), timeout=20) for _ in range(8)]
        for sock in holders:
            sock.sendall(b"GET /api/info HTTP/1.1\r\n")
        time.sleep(0.5)  # accepted by the serving thread
        status, headers, data = send(port, "GET", "/api/info")
        assert status == 503 and "E521" in error(data) and "8 requests" in error(data)
        assert_safe_headers(headers)
        for sock in holders:
            sock.close()
        deadline = time.monotonic() + 20
        while send(port, "GET", "/api/info")[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_every_response_carries_the_security_headers(port):
    requests = [
        ("GET", "/", None),
        ("GET", "/explore.js", None),
        ("GET", "/views.css", None),
        ("GET", "/api/info", None),
        ("GET", "/nope", None),
        ("POST", "/api/parse", {"text": "a bank"}),
        ("POST", "/api/parse", {"text": ""}),
        ("POST", "/nope", {}),
        ("DELETE", "/", None),
    ]
    for method, path, body in requests:
        status, headers, _ = send(port, method, path, body)
        assert_safe_headers(headers)
    assert status == 501  # the standard library's own error page gets them too
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(b"GET a b HTTP/1.1\r\n\r\n")  # four words: bad syntax
        answer = sock.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.0 400") and b"Referrer-Policy: no-referrer" in answer


def test_displacy_serve_sends_the_headers_and_checks_the_host(docs):
    html = displacy.render(docs, "layers", {"target": "bank"}, page=True, jupyter=False)
    with running(make_page_server(html, port=0, quiet=True)) as port:
        status, headers, body = send(port, "GET", "/")
        assert status == 200 and body == html.encode("utf-8")
        assert_safe_headers(headers)
        # The page's own drawing script is allowed by its hash, and nothing else.
        digest = base64.b64encode(hashlib.sha256(charts_js().encode("utf-8")).digest()).decode()
        assert f"script-src 'sha256-{digest}';" in headers["Content-Security-Policy"]
        assert send(port, "GET", "/", headers={"Host": "evil.example"})[0] == 403
    # The page itself says the same, for when it is opened as a file.
    assert '<meta name="referrer" content="no-referrer">' in html
    assert 'http-equiv="Content-Security-Policy"' in html


def test_responses_name_no_absolute_path(port, corpus_path):
    status, _, data = send(port, "GET", "/api/info")
    assert status == 200 and json.loads(data)["corpus"] == corpus_path.name
    status, _, data = send(port, "POST", "/api/explore", {"text": BANK_TEXTS[0], "doc": 0, "token": 6})
    assert status == 200 and "[bank]" in data.decode()
    for body in (send(port, "GET", "/api/info")[2], data):
        assert str(corpus_path.parent) not in body.decode() and str(corpus_path.parent.parent) not in body.decode()


def test_neighbour_search_normalises_each_key_once_in_float32(port, corpus_explorer):
    corpus = corpus_explorer.corpus
    send(port, "POST", "/api/explore", {"text": BANK_TEXTS[0], "doc": 0, "token": 6})
    first = dict(corpus._units)
    assert sorted(first) == sorted(corpus.keys)
    status, _, data = send(port, "POST", "/api/explore", {"text": BANK_TEXTS[1], "doc": 0, "token": 7})
    assert status == 200
    for key, units in corpus._units.items():
        assert units is first[key] and units.dtype == numpy.float32
        X = corpus.vectors[key].astype("float64")
        assert units == pytest.approx(X / numpy.linalg.norm(X, axis=1, keepdims=True), abs=1e-6)
