// The "Coming up" card: runs due per minute over the next hours (GET /dashboard/api/upcoming),
// as bars, from the upcoming_runs table. Loaded before app.js, whose refresh() calls it.
"use strict";

// The chart aggregates up to hundreds of thousands of rows at a million orders (~150 ms): it is
// fetched once a minute, not at every 5-second refresh; `load` is the page's api() call.
const UPCOMING_EVERY_MS = 60000;
let upcomingCache = { at: 0, chart: null };

async function upcomingChart(load, hours) {
  if (!upcomingCache.chart || Date.now() - upcomingCache.at > UPCOMING_EVERY_MS) {
    upcomingCache = { at: Date.now(), chart: await load("GET", `/dashboard/api/upcoming?hours=${hours}`) };
  }
  return upcomingCache.chart;
}

function renderUpcoming(chart, hours) {
  document.getElementById("upcoming-window").textContent =
    `· next ${hours} h · ${chart.total_runs} run${chart.total_runs === 1 ? "" : "s"} (table covers ${chart.horizon_hours} h)`;
  const width = 1200, height = 160, pad = 24;
  const start = Date.now() - (Date.now() % 60000), slots = Math.round(hours * 60);
  const byMinute = new Map(chart.minutes.map((m) => [Math.round((Date.parse(m.minute) - start) / 60000), m]));
  const max = Math.max(1, ...chart.minutes.map((m) => m.runs));
  const bar = (width - pad) / slots;
  const { svg, add, base } = barChart({ width, height, pad, max, label: "upcoming runs per minute" });
  for (const [i, m] of byMinute) {
    if (i < 0 || i >= slots) continue;
    const h = ((height - pad) * m.runs) / max;
    const g = add(svg, "g", { class: "minute" });
    add(g, "title", {}, `${new Date(m.minute).toLocaleTimeString()}: ${m.runs} runs of ${m.orders} orders`);
    add(g, "rect", { x: pad + i * bar, y: base - h, width: Math.max(bar - 1, 1), height: h, class: "ok" });
  }
  document.getElementById("upcoming").replaceChildren(svg);
}
