// SVG charts drawn by our own code: stacked bars (cost or tokens per day/hour, by model) and the
// window-history line with its even-pace guide. Colours come from style.css classes, so the
// charts follow the light or dark theme with the rest of the page.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const HEIGHT = 260;
  const MARGIN = { top: 14, right: 14, bottom: 30, left: 60 };

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function titled(node, text) {
    el("title", {}, node).textContent = text;
    return node;
  }

  // A round axis top at or above `value`: 1, 2, 2.5 or 5 times a power of ten.
  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
    return 10 * power;
  }

  function frame(container, label) {
    container.replaceChildren();
    const width = Math.max(280, Math.floor(container.clientWidth || 800));
    const svg = el("svg", {
      viewBox: `0 0 ${width} ${HEIGHT}`, width: "100%", height: HEIGHT, role: "img",
      "aria-label": label, class: "chart",
    }, container);
    const plot = {
      x: MARGIN.left, y: MARGIN.top,
      w: width - MARGIN.left - MARGIN.right, h: HEIGHT - MARGIN.top - MARGIN.bottom,
    };
    return { svg, plot };
  }

  function yAxis(svg, plot, top, format) {
    for (let i = 0; i <= 4; i++) {
      const value = (top * i) / 4;
      const y = plot.y + plot.h - (plot.h * i) / 4;
      el("line", { x1: plot.x, x2: plot.x + plot.w, y1: y, y2: y, class: i ? "grid" : "axis" }, svg);
      el("text", { x: plot.x - 8, y: y + 4, class: "tick", "text-anchor": "end" }, svg)
        .textContent = format(value);
    }
  }

  function empty(svg, plot, text) {
    el("text", { x: plot.x + plot.w / 2, y: plot.y + plot.h / 2, class: "empty", "text-anchor": "middle" }, svg)
      .textContent = text;
  }

  // points: [{label, models: {name: value}}]; models: the stacking order; colourOf(name) -> index.
  function stackedBars(container, { points, models, format, tickLabel, colourOf, label }) {
    const { svg, plot } = frame(container, label);
    const totals = points.map((p) => models.reduce((sum, m) => sum + (p.models[m] || 0), 0));
    const top = niceMax(Math.max(0, ...totals));
    yAxis(svg, plot, top, format);
    if (!points.length || !totals.some((t) => t > 0)) {
      empty(svg, plot, "No usage in this range");
      return svg;
    }
    const slot = plot.w / points.length;
    const bar = Math.max(1, Math.min(48, slot * 0.72));
    const every = Math.max(1, Math.ceil(points.length / Math.max(1, Math.floor(plot.w / 64))));
    points.forEach((point, i) => {
      const x = plot.x + slot * i + (slot - bar) / 2;
      let y = plot.y + plot.h;
      for (const model of models) {
        const value = point.models[model] || 0;
        if (value <= 0) continue;
        const h = (value / top) * plot.h;
        y -= h;
        titled(el("rect", { x, y, width: bar, height: Math.max(h, 0.5), class: `seg c${colourOf(model)}`, rx: bar > 6 ? 2 : 0 }, svg),
          `${point.label} · ${model}: ${format(value)}`);
      }
      titled(el("rect", { x: plot.x + slot * i, y: plot.y, width: slot, height: plot.h, class: "hit" }, svg),
        `${point.label}: ${format(totals[i])}`);
      if (i % every === 0) {
        el("text", { x: plot.x + slot * i + slot / 2, y: plot.y + plot.h + 18, class: "tick", "text-anchor": "middle" }, svg)
          .textContent = tickLabel(point.label);
      }
    });
    return svg;
  }

  // series: [{name, colour, steps: [[startMs, endMs, used]]}]; guides: [[startMs, resetMs]].
  function historyLines(container, { start, end, series, guides, label }) {
    const { svg, plot } = frame(container, label);
    yAxis(svg, plot, 100, (v) => `${v}%`);
    const span = Math.max(1, end - start);
    const X = (t) => plot.x + ((Math.min(end, Math.max(start, t)) - start) / span) * plot.w;
    const Y = (v) => plot.y + plot.h - (Math.max(0, Math.min(100, v)) / 100) * plot.h;
    const ticks = Math.max(2, Math.min(6, Math.floor(plot.w / 90)));
    for (let i = 0; i <= ticks; i++) {
      const t = start + (span * i) / ticks;
      const d = new Date(t);
      const text = span > 2 * 86400e3 ? Format.shortDay(d.toISOString().slice(0, 10)) : Format.clock(d);
      el("text", { x: X(t), y: plot.y + plot.h + 18, class: "tick", "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" }, svg)
        .textContent = text;
    }
    // Even pace: 0% at a window's start rising to 100% at its reset, clipped to the view.
    for (const [from, reset] of guides) {
      if (reset <= start || from >= end) continue;
      const a = Math.max(from, start), b = Math.min(reset, end);
      const at = (t) => ((t - from) / (reset - from)) * 100;
      titled(el("line", { x1: X(a), y1: Y(at(a)), x2: X(b), y2: Y(at(b)), class: "pace" }, svg),
        "Even pace: the share of the window that has elapsed");
      if (reset < end) el("line", { x1: X(reset), x2: X(reset), y1: plot.y, y2: plot.y + plot.h, class: "reset" }, svg);
    }
    let drawn = false;
    for (const s of series) {
      if (!s.steps.length) continue;
      drawn = true;
      let d = "";
      let previousEnd = null;
      for (const [a, b, used] of s.steps) {
        d += (previousEnd === null ? "M" : "L") + `${X(a).toFixed(1)},${Y(used).toFixed(1)}`;
        d += `L${X(b).toFixed(1)},${Y(used).toFixed(1)}`;
        previousEnd = b;
      }
      el("path", { d, class: `line c${s.colour}` }, svg);
      const [, lastEnd, lastUsed] = s.steps[s.steps.length - 1];
      titled(el("circle", { cx: X(lastEnd), cy: Y(lastUsed), r: 3.5, class: `dot c${s.colour}` }, svg),
        `${s.name}: ${Format.percent(lastUsed)} used`);
    }
    if (!drawn) empty(svg, plot, "No readings saved for this window yet");
    return svg;
  }

  return { stackedBars, historyLines };
})();
