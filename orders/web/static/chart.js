// The frame both bar charts draw on (executions per minute, coming up): an SVG with its axis
// labels and baseline, and `add` to put bars in it. Loaded before upcoming.js and app.js.
"use strict";

function barChart({ width, height, pad, max, label }) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const add = (parent, tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    parent.append(node);
    return node;
  };
  const base = height - pad / 2;
  add(svg, "text", { x: 0, y: 12, class: "axis" }, String(max));
  add(svg, "text", { x: 0, y: height - 4, class: "axis" }, "0");
  add(svg, "line", { x1: pad, y1: base, x2: width, y2: base, class: "baseline" });
  return { svg, add, base };
}
