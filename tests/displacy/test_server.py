"""The explorer's endpoints, directly and over HTTP: bounded, escaped, and still serving after errors."""
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from spacy_ctx.displacy.server import DEFAULT_MAX_CHARS, Explorer, make_server
from spacy_ctx.errors import SpacyCtxError

from ..util import BANK_TEXTS


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
    assert list(styles) == ["layers", "tokens", "mix", "senses", "neighbors"]
    assert len(styles["layers"]["panels"]) == 8 and len(styles["tokens"]["panels"]) == 3
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
