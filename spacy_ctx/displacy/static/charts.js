// The charts of spacy_ctx.displacy, drawn in SVG from a figure's JSON (views.py,
// sensemap.py): the explorer serves this file, and `render` inlines it.
// No library, nothing fetched; text goes in with textContent or
// createTextNode only, never innerHTML.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  // Tableau 10: distinguishable, and readable in grey.
  const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
  const ROLE_COLORS = { same: "#4e79a7", cross: "#e15759", baseline: "#888888", separation: "#59a14f" };
  const NO_LABEL = "#aaaaaa";

  function svg(tag, attrs, parent) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs || {}).forEach(([name, value]) => node.setAttribute(name, String(value)));
    if (parent) parent.appendChild(node);
    return node;
  }

  function svgText(text, attrs, parent) {
    const node = svg("text", attrs, parent);
    node.textContent = String(text);
    return node;
  }

  function el(tag, text, className, parent) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    if (parent) parent.appendChild(node);
    return node;
  }

  const fmt = (v) => (v === null || v === undefined ? "n/a" : v.toFixed(3));
  const labelColor = (label) => (label < 0 ? NO_LABEL : PALETTE[label % PALETTE.length]);
  // "layer 3" -> "3", "mix (doc.tensor)" -> "mix": the x axis' tick labels.
  const shortKey = (title) => (title.startsWith("layer ") ? title.slice(6) : title.split(" ")[0]);

  function swatch(color, text, parent, dashed) {
    const item = el("span", null, "ctx-legend-item", parent);
    const mark = el("span", null, "ctx-swatch", item);
    mark.style.background = color;
    if (dashed) mark.style.opacity = "0.6";
    item.appendChild(document.createTextNode(text));
    return item;
  }

  // A line chart: one line per series over fig.x, points with their value in
  // data-value and a <title>. Returns {node, xOf} so a caller can mark an x.
  function lineChart(box, fig, size) {
    const W = size.width, H = size.height, L = 44, R = 10, T = 8, B = 30;
    const values = fig.series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
    let lo = Math.min(0, ...values), hi = Math.max(...values, lo + 0.1);
    lo = Math.floor(lo * 10 + 1e-9) / 10;
    hi = Math.ceil(hi * 10 - 1e-9) / 10;
    const n = fig.x.length;
    const xOf = (i) => L + (n > 1 ? (i * (W - L - R)) / (n - 1) : (W - L - R) / 2);
    const yOf = (v) => T + ((hi - v) * (H - T - B)) / (hi - lo || 1);
    const node = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "ctx-chart" }, box);
    const ticks = 4;
    for (let t = 0; t <= ticks; t++) {
      const v = lo + ((hi - lo) * t) / ticks;
      svg("line", { x1: L, x2: W - R, y1: yOf(v), y2: yOf(v), stroke: v === 0 ? "#999" : "#e4e4e4" }, node);
      svgText(v.toFixed(2), { x: L - 4, y: yOf(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#555" }, node);
    }
    fig.x.forEach((title, i) => {
      svgText(shortKey(title), { x: xOf(i), y: H - B + 14, "text-anchor": "middle", "font-size": 10, fill: "#555" }, node);
    });
    svgText("layer", { x: (L + W - R) / 2, y: H - 3, "text-anchor": "middle", "font-size": 10, fill: "#555" }, node);
    svgText(fig.y_label || "", { x: 10, y: T + (H - T - B) / 2, "font-size": 10, fill: "#555", transform: `rotate(-90 10 ${T + (H - T - B) / 2})`, "text-anchor": "middle" }, node);
    const legend = el("div", null, "ctx-legend");
    fig.series.forEach((s, k) => {
      const color = ROLE_COLORS[s.role] || PALETTE[k % PALETTE.length];
      const points = s.values.map((v, i) => (v === null || v === undefined ? null : [xOf(i), yOf(v)])).filter(Boolean);
      const line = svg("polyline", { points: points.map((p) => p.map((c) => c.toFixed(1)).join(",")).join(" "), fill: "none", stroke: color, "stroke-width": 2, class: "ctx-series" }, node);
      line.dataset.role = s.role;
      if (s.role === "baseline") line.setAttribute("stroke-dasharray", "5 4");
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        const dot = svg("circle", { cx: xOf(i), cy: yOf(v), r: 3, fill: color, class: "ctx-value" }, node);
        dot.dataset.value = String(v);
        dot.dataset.series = String(k);
        svg("title", {}, dot).textContent = `${s.name}, ${fig.x[i]}: ${fmt(v)}`;
      });
      swatch(color, s.name, legend, s.role === "baseline");
    });
    if (fig.series.length > 1) box.appendChild(legend);
    return { node, xOf, T, H, B };
  }

  function lines(box, fig) {
    el("div", fig.title, "ctx-figure-title", box);
    lineChart(box, fig, { width: 560, height: 240 });
  }

  // The sense map: a scatter of the occurrences per key, a slider over the
  // keys, the hovered point's context, and the separation per key.
  function sensemap(box, fig) {
    const W = 400, H = 290, M = 14;
    // One scale for every key: the vectors are unit length, so the layers
    // are comparable, and a layer whose occurrences nearly coincide shows so.
    let r = 0;
    fig.coords.forEach((points) => points.forEach(([x, y]) => (r = Math.max(r, Math.abs(x), Math.abs(y)))));
    r = r || 1;
    const sx = (x) => W / 2 + (x / r) * (W / 2 - M);
    const sy = (y) => H / 2 - (y / r) * (H / 2 - M);
    const controls = el("div", null, "ctx-controls", box);
    const label = el("label", "layer ", null, controls);
    const slider = el("input", null, "ctx-slider", label);
    Object.assign(slider, { type: "range", min: 0, max: fig.keys.length - 1, step: 1 });
    slider.setAttribute("aria-label", "layer");
    const keyName = el("strong", "", "ctx-key", controls);
    const sepText = el("span", "", "ctx-separation", controls);
    const plot = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "ctx-plot" }, box);
    svg("rect", { x: 0.5, y: 0.5, width: W - 1, height: H - 1, fill: "none", stroke: "#ddd" }, plot);
    svg("line", { x1: sx(0), x2: sx(0), y1: 0, y2: H, stroke: "#eee" }, plot);
    svg("line", { x1: 0, x2: W, y1: sy(0), y2: sy(0), stroke: "#eee" }, plot);
    const detail = el("p", "Hover a point for its sentence.", "ctx-detail", box);
    const showDetail = (p) => {
      const [left, word, right] = fig.contexts[p];
      const name = fig.labels[p] >= 0 ? fig.label_names[fig.labels[p]] : "no label";
      detail.replaceChildren();
      el("span", `${name} (${fig.where[p]}): `, "ctx-detail-label", detail);
      detail.appendChild(document.createTextNode(left));
      el("mark", word, null, detail);
      detail.appendChild(document.createTextNode(right));
    };
    const dots = fig.labels.map((labelIndex, p) => {
      const dot = svg("circle", { r: 5, fill: labelColor(labelIndex), "fill-opacity": 0.8, stroke: "#fff", class: "ctx-point" }, plot);
      dot.dataset.index = String(p);
      dot.dataset.label = String(labelIndex);
      const [left, word, right] = fig.contexts[p];
      svg("title", {}, dot).textContent = `${left}[${word}]${right}`;
      dot.addEventListener("mouseenter", () => showDetail(p));
      return dot;
    });
    const legend = el("div", `colours: ${fig.labelled_by}. `, "ctx-legend", box);
    fig.label_names.forEach((name, k) => {
      const item = swatch(labelColor(k), name, legend);
      if (fig.label_glosses && fig.label_glosses[k]) item.title = fig.label_glosses[k];
    });
    if (fig.labels.some((l) => l < 0)) swatch(NO_LABEL, "no label", legend);
    el("div", `separation per layer: silhouette of the labels (${fig.metric} distance, all dimensions)`, "ctx-figure-title", box);
    const sep = lineChart(box, { x: fig.titles, y_label: "silhouette", series: [{ name: "separation", role: "separation", values: fig.separation }] }, { width: W, height: 110 });
    sep.node.classList.add("ctx-separation-chart");
    const marker = svg("line", { y1: sep.T, y2: sep.H - sep.B, stroke: "#333", "stroke-dasharray": "2 2" }, sep.node);
    const show = (k) => {
      slider.value = String(k);
      box.dataset.key = fig.keys[k];
      keyName.textContent = fig.titles[k];
      sepText.textContent = ` separation ${fmt(fig.separation[k])}`;
      sepText.dataset.value = String(fig.separation[k]);
      dots.forEach((dot, p) => {
        dot.setAttribute("cx", sx(fig.coords[k][p][0]).toFixed(2));
        dot.setAttribute("cy", sy(fig.coords[k][p][1]).toFixed(2));
      });
      marker.setAttribute("x1", sep.xOf(k));
      marker.setAttribute("x2", sep.xOf(k));
    };
    slider.addEventListener("input", () => show(Number(slider.value)));
    show(fig.best);
  }

  const KINDS = { lines, sensemap };

  function draw(box, fig) {
    box.replaceChildren();
    box.dataset.kind = fig.kind;
    KINDS[fig.kind](box, fig);
    box.dataset.drawn = "1";
  }

  // Figures `render` wrote as data-ctx-figure attributes, not drawn yet.
  function drawAll(root) {
    (root || document).querySelectorAll("[data-ctx-figure]:not([data-drawn])").forEach((box) => {
      draw(box, JSON.parse(box.dataset.ctxFigure));
    });
  }

  if (!window.ctxCharts) window.ctxCharts = { draw, drawAll };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => window.ctxCharts.drawAll());
  else window.ctxCharts.drawAll();
})();
