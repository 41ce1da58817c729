// The explorer's page: every piece of text goes in with textContent, never innerHTML.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function showMessage(text) {
  const box = $("message");
  box.textContent = text || "";
  box.hidden = !text;
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  let data;
  try {
    data = await response.json();
  } catch (err) {
    throw new Error(response.status + " " + response.statusText);
  }
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

// As html.py's format_number and cell_color.
const formatNumber = (v) => v.toFixed(3);
const cellColor = (v) => "hsl(210, 70%, " + (100 - 45 * Math.max(0, Math.min(1, v))).toFixed(1) + "%)";

function numberCell(value, kind) {
  const td = el("td", null, "cell");
  td.dataset.value = String(value);
  if (kind === "bars") {
    const bar = el("span", null, "bar");
    bar.style.width = (100 * Math.max(0, Math.min(1, value))).toFixed(1) + "px";
    td.appendChild(bar);
  } else if (kind === "heatmap") {
    td.style.background = cellColor(value);
  }
  td.appendChild(document.createTextNode(formatNumber(value)));
  return td;
}

function renderPanel(panel) {
  const box = el("div", null, "ctx-panel");
  box.dataset.kind = panel.kind;
  box.appendChild(el("h3", panel.title));
  const table = el("table");
  const head = el("tr");
  head.appendChild(el("th"));
  panel.cols.forEach((col) => head.appendChild(el("th", col)));
  table.appendChild(head);
  panel.rows.forEach((label, r) => {
    const tr = el("tr");
    tr.appendChild(el("th", label));
    panel.values[r].forEach((value) => {
      // Numbers are floats (views send other cells as text).
      tr.appendChild(typeof value === "number" ? numberCell(value, panel.kind) : el("td", value));
    });
    table.appendChild(tr);
  });
  box.appendChild(table);
  return box;
}

// The sense map and the layers chart side by side at the top, the rest below.
const TOP_STYLES = ["sensemap", "layers"];

function renderViews(views) {
  const box = $("views");
  box.replaceChildren();
  const top = el("div", null, "ctx-row");
  box.appendChild(top);
  views.forEach((view) => {
    const section = el("section", null, "ctx-view");
    section.dataset.style = view.style;
    section.appendChild(el("h2", view.title));
    if (view.message) section.appendChild(el("p", view.message, "note"));
    view.notes.forEach((note) => section.appendChild(el("p", note, "note")));
    (view.figures || []).forEach((figure) => {
      const figureBox = el("div", null, "ctx-figure");
      section.appendChild(figureBox);
      window.ctxCharts.draw(figureBox, figure);
    });
    view.panels.forEach((panel) => section.appendChild(renderPanel(panel)));
    (TOP_STYLES.includes(view.style) ? top : box).appendChild(section);
  });
}

function renderTokens(docs, query) {
  const box = $("tokens");
  box.replaceChildren();
  docs.forEach((tokens, d) => {
    const line = el("div", null, "sentence");
    line.appendChild(el("span", d + ": "));
    tokens.forEach((text, i) => {
      const button = el("button", text, "token");
      button.type = "button";
      button.dataset.doc = d;
      button.dataset.token = i;
      if (query && query[0] === d && query[1] === i) button.classList.add("selected");
      button.addEventListener("click", () => explore(d, i));
      line.appendChild(button);
    });
    box.appendChild(line);
  });
}

async function parse() {
  showMessage("");
  $("views").replaceChildren();
  try {
    const data = await post("/api/parse", { text: $("text").value });
    renderTokens(data.docs, null);
  } catch (err) {
    $("tokens").replaceChildren();
    showMessage(err.message);
  }
}

async function explore(d, i) {
  showMessage("");
  $("doc-index").value = d;
  $("token-index").value = i;
  document.body.dataset.state = "loading";
  try {
    const data = await post("/api/explore", { text: $("text").value, doc: d, token: i });
    renderTokens(data.docs, data.query);
    renderViews(data.views);
  } catch (err) {
    $("views").replaceChildren();
    showMessage(err.message);
  } finally {
    document.body.dataset.state = "done";
  }
}

// Tokenize the text and show the first occurrence of word (explore --word).
async function openWord(word) {
  const data = await post("/api/parse", { text: $("text").value });
  renderTokens(data.docs, null);
  const target = word.toLowerCase();
  for (let d = 0; d < data.docs.length; d++) {
    const i = data.docs[d].findIndex((token) => token.toLowerCase() === target);
    if (i >= 0) return explore(d, i);
  }
  showMessage("'" + word + "' is not a token of the text.");
}

async function init() {
  $("parse").addEventListener("click", parse);
  $("show").addEventListener("click", () => explore(Number($("doc-index").value), Number($("token-index").value)));
  try {
    const info = await (await fetch("/api/info")).json();
    $("limits").textContent = "At most " + info.max_chars + " characters.";
    if (info.text) $("text").value = info.text;
    if (info.word) await openWord(info.word);
  } catch (err) {
    showMessage(err.message);
  }
}

document.addEventListener("DOMContentLoaded", init);
