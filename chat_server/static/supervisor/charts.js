// Tiny inline-SVG charts for the supervisor dashboard (no library; text via textContent only).
// Numbers follow the staff pages' language (static/staff/i18n.js); opts.x / opts.y are axis titles.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }
  function frame(width, height) {
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
    return svg;
  }
  const i18n = window.C311I18n || null;
  const num = v => (i18n ? i18n.number(v) : String(v));
  const share = v => (i18n ? i18n.percent(v) : `${Math.round(v * 100)}%`);
  // A chart is an image to a screen reader (role=img): its name says what it shows, not just its title
  // (WCAG 1.1.1; the bars' tooltips are not read, probe AH).
  const say = (key, params) => (i18n ? i18n.t(key, params) : params.title);
  function barsSummary(title, rows, total) {
    const all = total.reduce((a, b) => a + b, 0);
    if (!all) return say("dash.chart_no_figures", { title });
    const peak = total.indexOf(Math.max(...total));
    return say("dash.chart_bars_summary", { title, total: num(all), peak: rows[peak].label, value: num(total[peak]) });
  }
  function lineSummary(title, rows, key, target) {
    const known = rows.filter(r => r[key] != null);
    const goal = target != null ? "; " + say("dash.chart_target", { target: share(target) }) : "";
    if (!known.length) return say("dash.chart_no_figures", { title }) + goal;
    const last = known[known.length - 1];
    const low = known.reduce((a, b) => (b[key] < a[key] ? b : a));
    return say("dash.chart_line_summary", { title, last: last.label, value: share(last[key]), low: low.label,
      low_value: share(low[key]) }) + goal;
  }
  const W = 520, H = 214, L = 46, B = 34, T = 8, R = 6;
  // The axis titles: the y one turned along the axis, the x one under the tick labels.
  function titles(svg, opts) {
    if (opts.y) {
      const y = el("text", { x: 0, y: 0, "text-anchor": "middle", class: "axis axis-title",
        transform: `translate(11 ${T + (H - T - B) / 2}) rotate(-90)` }, svg);
      y.textContent = opts.y;
    }
    if (opts.x) {
      const x = el("text", { x: L + (W - L - R) / 2, y: H - 3, "text-anchor": "middle", class: "axis axis-title" }, svg);
      x.textContent = opts.x;
    }
  }
  // Axis for counts: a round step (1, 2 or 5 × 10^k, at least 1) and a top that is a whole number of
  // steps, so every grid line sits exactly on the whole number written next to it.
  function countAxis(v) {
    const rough = Math.max(v, 1) / 4;
    const p = Math.pow(10, Math.floor(Math.log10(rough)));
    const step = Math.max(1, [1, 2, 5, 10].map(m => m * p).find(s => s >= rough));
    return { step, max: step * Math.max(1, Math.ceil(v / step)) };
  }
  // series: [{key, color, label}]; rows: [{label, <key>: number}] → stacked bars.
  function bars(container, rows, series, opts) {
    opts = opts || {};
    const svg = frame(W, H);
    const total = rows.map(r => series.reduce((s, x) => s + (Number(r[x.key]) || 0), 0));
    const axis = countAxis(Math.max(1, ...total)), max = axis.max;
    const plotW = W - L - R, plotH = H - T - B;
    const bw = plotW / Math.max(rows.length, 1);
    for (let v = 0; v <= max; v += axis.step) {
      const y = T + plotH - (plotH * v) / max;
      el("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#e3e8ee", class: "grid", "data-value": v }, svg);
      const t = el("text", { x: L - 4, y: y + 3, "text-anchor": "end", class: "axis tick" }, svg);
      t.textContent = num(v);
    }
    rows.forEach((r, i) => {
      let y = T + plotH;
      for (const s of series) {
        const v = Number(r[s.key]) || 0;
        const h = (plotH * v) / max;
        y -= h;
        const rect = el("rect", { x: L + i * bw + 1, y, width: Math.max(bw - 2, 1), height: h, fill: s.color,
          "data-value": v }, svg);
        const tip = el("title", {}, rect);
        tip.textContent = `${r.label}: ${s.label} ${num(v)}`;
      }
      const every = opts.labelEvery || 1;
      if (i % every === 0) {
        const t = el("text", { x: L + i * bw + bw / 2, y: H - B + 13, "text-anchor": "middle", class: "axis" }, svg);
        t.textContent = r.short || r.label;
      }
    });
    legend(svg, series, L);
    titles(svg, opts);
    container.replaceChildren(svg);
    svg.setAttribute("aria-label", barsSummary(opts.title || "bar chart", rows, total));
  }
  function legend(svg, series, x0) {
    let x = x0 + 4;
    for (const s of series) {
      el("rect", { x, y: 2, width: 9, height: 9, fill: s.color }, svg);
      const t = el("text", { x: x + 12, y: 10, class: "axis" }, svg);
      t.textContent = s.label;
      x += 14 + s.label.length * 6;
    }
  }
  // values are 0..1 shares or null; target draws a dashed line.
  function line(container, rows, key, target, opts) {
    opts = opts || {};
    const svg = frame(W, H);
    const plotW = W - L - R, plotH = H - T - B;
    const step = plotW / Math.max(rows.length - 1, 1);
    const yOf = v => T + plotH - plotH * v;
    for (let i = 0; i <= 4; i++) {
      const y = yOf(i / 4);
      el("line", { x1: L, x2: W - R, y1: y, y2: y, stroke: "#e3e8ee" }, svg);
      const t = el("text", { x: L - 4, y: y + 3, "text-anchor": "end", class: "axis" }, svg);
      t.textContent = share(i / 4);
    }
    if (target != null) {
      el("line", { x1: L, x2: W - R, y1: yOf(target), y2: yOf(target), stroke: "#b42318", "stroke-dasharray": "4 3" }, svg);
    }
    let d = "";
    rows.forEach((r, i) => {
      const v = r[key];
      if (v == null) return;
      const x = L + i * step, y = yOf(v);
      d += (d ? " L" : "M") + `${x.toFixed(1)} ${y.toFixed(1)}`;
      const dot = el("circle", { cx: x, cy: y, r: 2.5, fill: "#0b5cad" }, svg);
      const tip = el("title", {}, dot);
      tip.textContent = `${r.label}: ${share(v)}`;
    });
    if (d) el("path", { d, fill: "none", stroke: "#0b5cad", "stroke-width": 1.5 }, svg);
    rows.forEach((r, i) => {
      if (i % (opts.labelEvery || 1) === 0) {
        const t = el("text", { x: L + i * step, y: H - B + 13, "text-anchor": "middle", class: "axis" }, svg);
        t.textContent = r.short || r.label;
      }
    });
    titles(svg, opts);
    svg.setAttribute("aria-label", lineSummary(opts.title || "line chart", rows, key, target));
    container.replaceChildren(svg);
  }
  window.C311Charts = { bars, line, countAxis };
})();
