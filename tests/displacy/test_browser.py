"""The explorer in headless Chromium: type, click a token, read the DOM.

Skips without selenium, chromium or chromedriver. Screenshots go to
$SPACY_CTX_SCREENSHOTS (default: a tmp dir); `SPACY_CTX_SCREENSHOTS=docs/figures`
writes the ones docs/explore.md shows.
"""
import os
import shutil
import threading
from pathlib import Path

import pytest

from spacy_ctx.displacy.html import format_number
from spacy_ctx.displacy.server import Explorer, make_server
from spacy_ctx.displacy.views import cosine_matrix

from ..util import BANK_TEXTS

webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the [test] extra)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def url(nlp, corpus_path):
    from spacy_ctx.displacy.neighbors import EmbeddedCorpus

    server = make_server(Explorer(nlp, EmbeddedCorpus(corpus_path), max_chars=5000), port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or not Path(CHROMEDRIVER).exists():
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1600"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    path = Path(os.environ.get("SPACY_CTX_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def wait(browser, condition, timeout=60):
    return WebDriverWait(browser, timeout).until(condition)


def type_text(browser, text):
    box = browser.find_element(By.ID, "text")
    # Setting the value from a script argument is typing without the
    # seconds that send_keys takes for long pastes.
    browser.execute_script("arguments[0].value = arguments[1];", box, text)


def tokenize(browser, text):
    type_text(browser, text)
    browser.find_element(By.ID, "parse").click()


def show(browser, doc, token):
    browser.execute_script("document.body.dataset.state = 'waiting';")
    for field, value in (("doc-index", doc), ("token-index", token)):
        box = browser.find_element(By.ID, field)
        box.clear()
        box.send_keys(str(value))
    browser.find_element(By.ID, "show").click()
    wait(browser, lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done")


def message(browser):
    box = browser.find_element(By.ID, "message")
    wait(browser, lambda b: box.is_displayed() and box.text)
    return box.text


def test_explorer_in_a_browser(browser, url, docs, shots):
    browser.get(url)
    wait(browser, lambda b: "5000" in b.find_element(By.ID, "limits").text)

    # Type, tokenize, click "bank" in the money sentence.
    tokenize(browser, "\n".join(BANK_TEXTS))
    wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#tokens .token")) == sum(len(d) for d in docs))
    browser.execute_script("document.body.dataset.state = 'waiting';")
    browser.find_element(By.CSS_SELECTOR, '#tokens .token[data-doc="1"][data-token="7"]').click()
    wait(browser, lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done")
    section = browser.find_element(By.CSS_SELECTOR, 'section[data-style="layers"]')
    panels = section.find_elements(By.CLASS_NAME, "ctx-panel")
    assert len(panels) == 8  # 7 layers and the mix
    refs = [(d, t.i) for d, doc in enumerate(docs) for t in doc if t.lower_ == "bank"]
    last = cosine_matrix(*[[docs[d]._.ctx_layers[-1, i] for d, i in refs]] * 2).ravel()
    cells = panels[6].find_elements(By.CSS_SELECTOR, "td.cell")
    # The page re-encodes the text, so agreement is to float32 noise.
    shown = [float(c.get_attribute("data-value")) for c in cells]
    assert shown == pytest.approx(list(last), rel=1e-6)
    assert [c.text for c in cells] == [format_number(v) for v in shown]
    browser.execute_script("arguments[0].scrollIntoView();", section)
    browser.save_screenshot(str(shots / "explore-layers.png"))

    tokens = browser.find_element(By.CSS_SELECTOR, 'section[data-style="tokens"]')
    first = tokens.find_elements(By.CLASS_NAME, "ctx-panel")[0].find_elements(By.CSS_SELECTOR, "td.cell")
    q = docs[1]._.ctx_layers[:, 7]
    expected = [cosine_matrix(docs[0]._.ctx_layers[k, :1], q[k : k + 1])[0, 0] for k in range(len(q))]
    assert [float(c.get_attribute("data-value")) for c in first[: len(q)]] == pytest.approx(expected, rel=1e-6)
    browser.execute_script("arguments[0].scrollIntoView();", tokens)
    browser.save_screenshot(str(shots / "explore-tokens.png"))
    neighbors = browser.find_element(By.CSS_SELECTOR, 'section[data-style="neighbors"]').text
    assert "[bank]" in neighbors
    assert "E506" in browser.find_element(By.CSS_SELECTOR, 'section[data-style="senses"]').text

    # A script typed into the box is shown as text, never run.
    tokenize(browser, "<script>window.__pwned=1</script> by the bank <img src=x onerror=window.__pwned=2>")
    wait(browser, lambda b: "bank" in b.find_element(By.ID, "tokens").text)
    show(browser, 0, 0)
    assert browser.execute_script("return window.__pwned;") is None
    assert "</script" in browser.find_element(By.ID, "tokens").text
    assert browser.find_elements(By.CSS_SELECTOR, "#tokens script, #views script, #tokens img, #views img") == []

    # Bad input: a message in the page each time, and the next request still served.
    tokenize(browser, "   ")
    assert "E500" in message(browser)
    type_text(browser, "a river bank")
    show(browser, 0, 99)
    assert "E504" in message(browser) and "3 tokens" in message(browser)
    tokenize(browser, "bank " * 40_000)
    text = message(browser)
    assert "E501" in text and "200000 characters" in text and "at most 5000" in text
    browser.save_screenshot(str(shots / "explore-error.png"))
    tokenize(browser, "a river bank")
    wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#tokens .token")) == 3)
    assert not browser.find_element(By.ID, "message").is_displayed()
