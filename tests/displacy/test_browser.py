"""The explorer in headless Chromium: type, click a token, read the DOM.

Skips without selenium, chromium or chromedriver. The window is 1,400 px
wide. Screenshots go to $SPACY_CTX_SCREENSHOTS (default: a tmp dir);
`SPACY_CTX_SCREENSHOTS=docs/figures` writes the ones docs/explore.md shows.
"""
import contextlib
import os
import shutil
import threading
from pathlib import Path

import numpy
import pytest
from sklearn.metrics import silhouette_score

from spacy_ctx import displacy
from spacy_ctx.displacy.html import format_number
from spacy_ctx.displacy.server import Explorer, make_page_server, make_server
from spacy_ctx.displacy.views import cosine_matrix

from ..util import BANK_TEXTS
from .conftest import SENSE_TEXTS

webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the [test] extra)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
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
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
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
    # One chart of the cosines across the layers, its numbers in the table under it.
    section = browser.find_element(By.CSS_SELECTOR, 'section[data-style="layers"]')
    assert len(section.find_elements(By.CSS_SELECTOR, "svg.ctx-chart polyline.ctx-series")) == 3 + 1  # 3 pairs, baseline
    refs = [(d, t.i) for d, doc in enumerate(docs) for t in doc if t.lower_ == "bank"]
    pairs = [(0, 1), (0, 2), (1, 2)]

    def vector(d, i, k):
        return docs[d]._.ctx_layers[k, i] if k < 7 else docs[d].tensor[i]

    # Row by row: each pair's cosine in every layer and the mix.
    expected = [cosine_matrix(vector(*refs[a], k)[None], vector(*refs[b], k)[None])[0, 0] for a, b in pairs for k in range(8)]
    cells = section.find_elements(By.CSS_SELECTOR, "td.cell")
    # The page re-encodes the text, so agreement is to float32 noise.
    shown = [float(c.get_attribute("data-value")) for c in cells]
    assert shown[: len(expected)] == pytest.approx(expected, rel=1e-5)
    assert [c.text for c in cells] == [format_number(v) for v in shown]
    dots = section.find_elements(By.CSS_SELECTOR, "circle.ctx-value")
    assert [float(d.get_attribute("data-value")) for d in dots] == pytest.approx(shown, rel=1e-12)
    # The chart and the sense map are in the first 1,000 px of the 1,400 px page, side by side.
    assert browser.execute_script("return window.innerWidth") == 1400
    for selector in (
        'section[data-style="layers"] svg.ctx-chart',
        'section[data-style="sensemap"] svg.ctx-plot',
        'section[data-style="sensemap"] svg.ctx-separation-chart',
    ):
        bottom = browser.execute_script(
            "const r = document.querySelector(arguments[0]).getBoundingClientRect(); return r.bottom + window.scrollY;", selector
        )
        assert bottom <= 1000, selector
    browser.execute_script("window.scrollTo(0, 0);")
    browser.save_screenshot(str(shots / "explore-top.png"))

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


@contextlib.contextmanager
def running(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def rgba(hex_color):
    """"#4e79a7" as Chromium writes a computed colour: "rgba(78, 121, 167, 1)"."""
    return "rgba({}, {}, {}, 1)".format(*(int(hex_color[k : k + 2], 16) for k in (1, 3, 5)))


def sensemap_state(browser):
    """(key, separation shown, every point's (cx, cy)) of the sense map now."""
    box = browser.find_element(By.CSS_SELECTOR, '[data-style="sensemap"] .ctx-figure')
    points = box.find_elements(By.CSS_SELECTOR, "circle.ctx-point")
    value = box.find_element(By.CLASS_NAME, "ctx-separation").get_attribute("data-value")
    xy = [(float(p.get_attribute("cx")), float(p.get_attribute("cy"))) for p in points]
    return box.get_attribute("data-key"), float(value), xy


@pytest.mark.data
def test_sense_map_in_a_browser(browser, sense_nlp, shots):
    """`explore --word bank --text ...` on twelve sentences: the colours are
    ctx_wsd's senses, the slider moves the points, the separation is
    sklearn's silhouette; the screenshots of docs/explore.md."""
    docs = list(sense_nlp.pipe(SENSE_TEXTS))
    refs = [(d, t.i) for d, doc in enumerate(docs) for t in doc if t.lower_ == "bank"]
    senses = [docs[d][i]._.sense for d, i in refs]
    assert len(set(senses)) == 2  # both senses, so the colours say something
    explorer = Explorer(sense_nlp, text="\n".join(SENSE_TEXTS), word="bank")
    with running(make_server(explorer, port=0, quiet=True)) as url:
        browser.get(url)
        # --word opens the first "bank" by itself.
        wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, 'section[data-style="sensemap"] circle.ctx-point')) == 12)
        box = browser.find_element(By.CSS_SELECTOR, 'section[data-style="sensemap"] .ctx-figure')
        assert "colours: ctx_wsd's senses" in box.find_element(By.CLASS_NAME, "ctx-legend").text

        # Each point's colour is its ctx_wsd sense's, as the legend names it.
        legend = box.find_elements(By.CSS_SELECTOR, ".ctx-legend")[0].find_elements(By.CLASS_NAME, "ctx-legend-item")
        names = [item.text for item in legend]
        colours = [item.find_element(By.CLASS_NAME, "ctx-swatch").value_of_css_property("background-color") for item in legend]
        points = box.find_elements(By.CSS_SELECTOR, "circle.ctx-point")
        for point, sense in zip(points, senses):
            label = int(point.get_attribute("data-label"))
            assert names[label] == sense
            assert rgba(point.get_attribute("fill")) == colours[label]

        # With ctx_wsd, the layers chart is same- against cross-sense means, and the baseline.
        lines = browser.find_elements(By.CSS_SELECTOR, 'section[data-style="layers"] polyline.ctx-series')
        assert [line.get_attribute("data-role") for line in lines] == ["same", "cross", "baseline"]

        # Hover: the sentence, with the word marked, as text.
        webdriver.ActionChains(browser).move_to_element(points[7]).perform()
        detail = box.find_element(By.CLASS_NAME, "ctx-detail")
        assert SENSE_TEXTS[7] in detail.text and detail.find_element(By.TAG_NAME, "mark").text == "bank"

        # The slider: layer by layer the points move, and the separation is
        # the cosine silhouette of ctx_wsd's labels among the full vectors.
        slider = box.find_element(By.CLASS_NAME, "ctx-slider")
        slider.send_keys(Keys.HOME)
        labels = [sorted(set(senses)).index(s) for s in senses]
        states = []
        for k in range(8):
            if k:
                slider.send_keys(Keys.ARROW_RIGHT)
            key, shown, xy = sensemap_state(browser)
            X = numpy.stack([docs[d]._.ctx_layers[k, i] if k < 7 else docs[d].tensor[i] for d, i in refs])
            assert key == (f"layer{k}" if k < 7 else "mix")
            assert shown == pytest.approx(silhouette_score(X, labels, metric="cosine"), abs=1e-5)
            states.append((shown, xy))
        for (_, before), (_, after) in zip(states[:-2], states[1:-1]):  # layer to layer
            assert max(abs(a - b) for p, q in zip(before, after) for a, b in zip(p, q)) > 1.0
        # The senses separate more at the top than in the input embedding.
        best = int(numpy.argmax([shown for shown, _ in states[:7]]))
        assert best > 0 and states[best][0] > states[0][0] + 0.1

        slider.send_keys(Keys.HOME)
        browser.execute_script("arguments[0].scrollIntoView();", box)
        box.screenshot(str(shots / "sensemap-layer0.png"))
        for _ in range(best):
            slider.send_keys(Keys.ARROW_RIGHT)
        assert sensemap_state(browser)[0] == f"layer{best}"
        box.screenshot(str(shots / "sensemap-best.png"))


def slider_moves_points(browser):
    """Whether the first sense map's slider, moved from its first key to
    its second, moves its points."""
    box = browser.find_element(By.CSS_SELECTOR, '.ctx-figure[data-kind="sensemap"]')
    slider = box.find_element(By.CLASS_NAME, "ctx-slider")
    slider.send_keys(Keys.HOME)
    first = sensemap_state(browser)
    slider.send_keys(Keys.ARROW_RIGHT)
    second = sensemap_state(browser)
    return (first[0], second[0]) == ("layer0", "layer1") and first[2] != second[2]


def test_render_draws_the_sense_map_inline_as_a_page_and_served(browser, docs, tmp_path):
    """render's own inline script draws the figure and runs the slider: in a
    page of its own (page=True, under its meta CSP), as a fragment in a page
    (as Jupyter shows it), and served by displacy.serve (under its header CSP)."""
    options = {"target": "bank"}
    page = tmp_path / "page.html"
    page.write_text(displacy.render(docs, "sensemap", options, page=True, jupyter=False), encoding="utf-8")
    fragment = tmp_path / "fragment.html"
    fragment.write_text(
        "<!DOCTYPE html><html><body><p>notebook</p>" + displacy.render(docs, "sensemap", options, jupyter=False) + "</body></html>",
        encoding="utf-8",
    )
    for url in (page.as_uri(), fragment.as_uri()):
        browser.get(url)
        wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "circle.ctx-point")) == 3)
        assert slider_moves_points(browser), url
    html = displacy.render(docs, "layers", options, page=True, jupyter=False)
    with running(make_page_server(html, port=0, quiet=True)) as url:
        browser.get(url)
        wait(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "polyline.ctx-series")) == 4)
