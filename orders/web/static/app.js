// The dashboard: plain JavaScript, no dependencies, works offline. Every value from the API is
// put in the page with textContent (never innerHTML): order names are customer input.
"use strict";

const REFRESH_MS = 5000;
const TIMELINE_PAGE = 100;  // the timeline shows the newest entries; "Older" shows a page more
const TIMELINE_MAX = 1000;
const UPCOMING_HOURS = 3;  // the "Coming up" chart: one bar per minute
let timelineLimit = TIMELINE_PAGE;
const $ = (id) => document.getElementById(id);
const store = window.sessionStorage;  // the tokens die with the tab
const openHistories = new Set();  // failed orders whose attempt history is unfolded

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

// ---- API ------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
  }
}

async function call(method, path, body, token = store.getItem("access")) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// One refresh at a time: the overview's parallel calls all share it (a refresh token is spent
// once used; presenting it again later would end the session as if it had been stolen).
let refreshing = null;
function refreshTokens() {
  refreshing ??= call("POST", "/auth/refresh", null, store.getItem("refresh"))
    .then((tokens) => {
      store.setItem("access", tokens.access_token);
      store.setItem("refresh", tokens.refresh_token);  // refresh tokens rotate: keep the new one
    })
    .finally(() => { refreshing = null; });
  return refreshing;
}

async function api(method, path, body) {
  try {
    return await call(method, path, body);
  } catch (error) {
    if (error.status !== 401 || !store.getItem("refresh")) throw error;
    await refreshTokens();  // the access token expired: renew once
    return call(method, path, body);
  }
}

// ---- formatting -----------------------------------------------------------------------------

const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
const fmtSeconds = (s) => (s === null || s === undefined ? "–" : s < 1 ? `${Math.round(s * 1000)} ms` : s < 120 ? `${s.toFixed(1)} s` : `${Math.round(s / 60)} min`);
const orderLink = (id) => el("a", { href: `/dashboard/orders/${id}` }, `#${id}`);

function table(node, columns, rows, empty = "Nothing here.") {
  node.replaceChildren();
  if (!rows.length) {
    node.append(el("tbody", {}, el("tr", {}, el("td", { class: "muted" }, empty))));
    return;
  }
  node.append(el("thead", {}, el("tr", {}, ...columns.map(([title]) => el("th", {}, title)))));
  node.append(el("tbody", {}, ...rows.map((row) =>
    el("tr", {}, ...columns.map(([, cell]) => el("td", {}, cell(row)))))));
}

function flash(message, kind = "ok") {
  const node = $("flash");
  node.textContent = message;
  node.className = kind;
  node.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { node.hidden = true; }, 6000);
}

// ---- actions --------------------------------------------------------------------------------

function actionButtons(order, after) {
  const act = (verb) => async () => {
    try {
      const result = await api("POST", `/dashboard/api/orders/${order.order_id}/${verb}`);
      flash(`Order #${result.order_id} is now ${result.status}.`);
      after();
    } catch (error) {
      flash(error.message, "error");
    }
  };
  const buttons = [];
  if (order.status === "failed") buttons.push(el("button", { type: "button", onclick: act("retry") }, "Retry"));
  if (order.status === "failed" || order.status === "scheduled") {
    buttons.push(el("button", { type: "button", class: "secondary", onclick: act("cancel") }, "Cancel"));
  }
  if (order.status === "scheduled" && order.paused !== undefined) {
    const verb = order.paused ? "resume" : "pause";
    const target = { scope: "order", target: String(order.order_id) };
    buttons.push(el("button", { type: "button", class: "secondary", onclick: pauseAction(verb, target, after) },
      order.paused ? "Resume" : "Pause"));
  }
  return el("span", { class: "actions" }, ...buttons);
}

// Pause or resume `target` ({scope, target, reason}) through the pauses API (orders_pause).
function pauseAction(verb, target, after) {
  return async () => {
    try {
      const result = await api("POST", `/dashboard/api/pauses/${verb}`, target);
      flash(`${verb === "pause" ? "Paused" : "Resumed"} ${result.scope}: ${result.changed.join(", ") || "all"}.`);
      after();
    } catch (error) {
      flash(error.message, "error");
    }
  };
}

function pauseForm(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { scope: form.get("scope"), target: form.get("target") || null, reason: form.get("reason") || null };
  if (body.scope === "all") body.target = null;
  pauseAction(event.submitter?.value === "resume" ? "resume" : "pause", body, refresh)();
}

function renderPauses(p) {
  table($("paused"), [["What", (r) => r.scope],
    ["Target", (r) => (r.scope === "order" ? orderLink(r.target) : r.target)],
    ["Since", (r) => fmtTime(r.paused_at)], ["By", (r) => r.paused_by], ["Reason", (r) => r.reason ?? ""],
    ["", (r) => el("button", { type: "button", class: "secondary",
      onclick: pauseAction("resume", { scope: r.scope, target: r.target }, refresh) }, "Resume")]],
  p.paused, "Nothing is paused.");
  table($("operator-actions"), [["At", (r) => fmtTime(r.at)], ["Operator", (r) => r.operator],
    ["Action", (r) => r.action], ["Scope", (r) => r.scope], ["Target", (r) => r.target ?? ""],
    ["Reason", (r) => r.reason ?? ""]], p.actions, "No pauses yet.");
}

// ---- overview -------------------------------------------------------------------------------

function renderCounts(counts) {
  $("order-counts").replaceChildren(...counts.map((c) =>
    el("div", { class: `card count ${c.status}` }, el("div", { class: "n" }, c.n), el("div", {}, c.status))));
}

function renderChart(points, hours) {
  $("window").textContent = `· last ${hours} h`;
  const width = 720, height = 160, pad = 24;
  const max = Math.max(1, ...points.map((p) => p.executions));
  const bar = (width - pad) / Math.max(points.length, 1);
  const { svg, add, base } = barChart({ width, height, pad, max, label: "executions per minute" });
  points.forEach((p, i) => {
    const h = ((height - pad) * p.executions) / max;
    const f = ((height - pad) * p.failed) / max;
    const x = pad + i * bar, w = Math.max(bar - 1, 1);
    const minute = add(svg, "g", { class: "minute" });
    add(minute, "title", {}, `${new Date(p.minute).toLocaleTimeString()}: ${p.executions} runs, ${p.failed} failed`);
    add(minute, "rect", { x, y: base - h, width: w, height: h - f, class: "ok" });
    add(minute, "rect", { x, y: base - f, width: w, height: f, class: "failed" });
  });
  $("chart").replaceChildren(svg);
}

function renderLateness(l) {
  const rows = [["Overdue now", l.overdue], ["Stuck now", l.stuck], ["Most overdue", fmtSeconds(l.max_lateness)],
    ["Runs (window)", l.runs], ["Failed runs", l.failed], ["Lateness p50", fmtSeconds(l.p50)],
    ["Lateness p95", fmtSeconds(l.p95)], ["Lateness max", fmtSeconds(l.max)]];
  $("lateness").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function attemptHistory(order) {
  if (!order.history.length) return el("span", { class: "muted" }, "–");
  const details = el("details", openHistories.has(order.order_id) ? { open: "" } : {},
    el("summary", {}, `${order.history.length} attempts`),
    el("ol", {}, ...order.history.map((a) =>
      el("li", {}, el("span", { class: "muted" }, `${fmtTime(a.occurred_at)} · ${a.worker}: `), a.error))));
  details.addEventListener("toggle", () => {  // stays open across auto-refreshes
    if (details.open) openHistories.add(order.order_id); else openHistories.delete(order.order_id);
  });
  return details;
}

function renderOverview(o, mail) {
  renderCounts(o.orders);
  renderChart(o.throughput, o.window_hours);
  renderLateness(o.lateness);
  $("failed-count").textContent = o.failed.length;
  table($("failed"), [["Order", (r) => orderLink(r.order_id)], ["Name", (r) => r.order_name],
    ["Customer", (r) => r.email], ["Attempts", (r) => r.attempts ?? "–"],
    ["Last error", (r) => el("span", { class: "error" }, r.last_error ?? "–")],
    ["History", attemptHistory], ["Failed at", (r) => fmtTime(r.failed_at)],
    ["", (r) => actionButtons({ ...r, status: "failed" }, refresh)]], o.failed, "No failed orders.");
  table($("queues"), [["Queue", (r) => r.queue_name], ["Status", (r) => r.status], ["Jobs", (r) => r.n],
    ["Oldest due waiting", (r) => fmtSeconds(r.oldest_due_waiting)]], o.queues, "No jobs.");
  table($("workers"), [["Worker", (r) => r.worker_id], ["Heartbeat", (r) => `${fmtSeconds(r.heartbeat_age)} ago`],
    ["Running", (r) => r.jobs_running]], o.workers, "No live workers.");
  table($("recurring"), [["Order", (r) => orderLink(r.order_id)], ["Name", (r) => r.order_name],
    ["Customer", (r) => r.email],
    ["Every", (r) => r.cron ? `cron ${r.cron}` : `${r.repeat_interval} ${r.repeat_unit}`],
    ["Runs", (r) => `${r.executions_count} / ${r.max_executions ?? "∞"}`],
    ["Next run", (r) => fmtTime(r.next_run_at)], ["Status", (r) => r.status]], o.recurring, "No recurring orders.");
  table($("stuck"), [["Order", (r) => orderLink(r.order_id)], ["Name", (r) => r.order_name],
    ["Status", (r) => r.status], ["Late by", (r) => fmtSeconds(r.late_seconds)],
    ["Job", (r) => `${r.job_id ?? "–"} (${r.job_status})`]], o.stuck, "No stuck orders.");
  table($("mail"), [["Kind", (r) => r.kind], ["Status", (r) => r.status], ["Mails", (r) => r.count],
    ["Oldest", (r) => fmtTime(r.oldest)]], mail.counts, "No mail yet.");
  table($("mail-problems"), [["Mail", (r) => r.outbox_id], ["To", (r) => r.recipient],
    ["Status", (r) => r.status], ["Attempts", (r) => r.attempts],
    ["Last error", (r) => el("span", { class: "error" }, r.last_error ?? "–")]], mail.problems, "No mail problems.");
}

function renderDownstream(d) {
  const w = d.webhooks;
  $("webhook-summary").textContent = `${w.pending} waiting · ${w.delivering} in flight · ${w.failed} failed` +
    (w.oldest_due_seconds > 0 ? ` · oldest due ${fmtSeconds(w.oldest_due_seconds)}` : "");
  table($("circuits"), [["Kind", (r) => r.kind], ["Destination", (r) => r.destination],
    ["State", (r) => el("span", { class: `badge ${r.state === "closed" ? "completed" : "failed"}` }, r.state)],
    ["Failures in a row", (r) => r.consecutive_failures], ["Retry at", (r) => fmtTime(r.retry_at)],
    ["Opened", (r) => r.opens], ["Last error", (r) => el("span", { class: "error" }, r.last_error ?? "–")]],
  d.circuits, "No circuit has tripped.");
  table($("webhook-problems"), [["Delivery", (r) => r.delivery_id], ["Customer", (r) => r.email],
    ["Event", (r) => r.event_type], ["Order", (r) => (r.order_id ? orderLink(r.order_id) : "–")],
    ["Status", (r) => r.status], ["Attempts", (r) => r.attempts], ["Answer", (r) => r.last_status_code ?? "–"],
    ["Last error", (r) => el("span", { class: "error" }, r.last_error ?? "–")], ["Next", (r) => fmtTime(r.next_attempt_at)]],
  d.problems, "No webhook problems.");
}

// ---- order page -----------------------------------------------------------------------------

function renderOrder(detail) {
  const o = detail.order;
  $("order-title").replaceChildren(`Order #${o.order_id} · `, o.order_name, " ", el("span", { class: `badge ${o.status}` }, o.status),
    o.paused ? el("span", { class: "badge paused" }, "paused") : null);
  $("order-actions").replaceChildren(actionButtons(o, refresh));
  const fields = ["user_id", "schedule_time", "is_recurring", "repeat_interval", "repeat_unit", "cron",
    "timezone", "max_executions", "executions_count", "next_run_at", "last_run_at", "job_id", "last_error",
    "created_at", "updated_at"];
  $("order-fields").replaceChildren(...fields.flatMap((f) => [el("dt", {}, f),
    el("dd", {}, f.endsWith("_at") || f === "schedule_time" ? fmtTime(o[f]) : o[f] ?? "–")]));
  table($("timeline"), [["At", (r) => fmtTime(r.at)], ["Source", (r) => el("span", { class: `source ${r.source}` }, r.source)],
    ["Event", (r) => r.event], ["Status", (r) => (r.to_status ? `${r.from_status ?? "–"} → ${r.to_status}` : "")],
    ["Job", (r) => r.job_id ?? ""], ["Actor", (r) => r.actor ?? ""], ["Detail", (r) => (r.detail === "{}" ? "" : r.detail ?? "")]],
  detail.timeline, "No events.");
  $("timeline-more").hidden = !detail.next_cursor || timelineLimit >= TIMELINE_MAX;
}

// ---- page flow ------------------------------------------------------------------------------

const orderId = () => (location.pathname.match(/^\/dashboard\/orders\/(\d+)$/) || [])[1];

function show(section) {
  for (const id of ["login", "overview", "order"]) $(id).hidden = id !== section;
  $("session").hidden = section === "login";
}

async function refresh() {
  try {
    if (orderId()) {
      renderOrder(await api("GET", `/dashboard/api/orders/${orderId()}?limit=${timelineLimit}`));
      show("order");
    } else {
      const [overview, mail, downstream, pauses, upcoming] = await Promise.all([api("GET", "/dashboard/api/overview"),
        api("GET", "/dashboard/mail"), api("GET", "/dashboard/api/downstream"), api("GET", "/dashboard/api/pauses"),
        upcomingChart(api, UPCOMING_HOURS)]);
      renderOverview(overview, mail);
      renderDownstream(downstream);
      renderPauses(pauses);
      renderUpcoming(upcoming, UPCOMING_HOURS);
      show("overview");
    }
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    if (error.status === 401 || error.status === 403) return logout(error.status === 403 ? "This account is not an admin." : null);
    flash(error.message, "error");
  }
}

function logout(message) {
  store.clear();
  show("login");
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
}

async function login(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const tokens = await call("POST", "/auth/login", { email: form.get("email"), password: form.get("password") }, null);
    store.setItem("access", tokens.access_token);
    store.setItem("refresh", tokens.refresh_token);
    const me = await api("GET", "/auth/me");
    if (me.role !== "admin") return logout("This account is not an admin.");
    store.setItem("email", me.email);
    $("who").textContent = me.email;
    event.target.reset();
    await refresh();
  } catch (error) {
    logout(error.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("pause-form").addEventListener("submit", pauseForm);
  $("timeline-more").addEventListener("click", () => {
    timelineLimit = Math.min(timelineLimit + TIMELINE_PAGE, TIMELINE_MAX);
    refresh();
  });
  $("logout").addEventListener("click", async () => {
    await call("POST", "/auth/logout").catch(() => null);  // revoke the token server-side too
    logout(null);
  });
  $("who").textContent = store.getItem("email") || "";
  if (store.getItem("access")) refresh(); else show("login");
  setInterval(() => {
    if ($("auto").checked && !document.hidden && store.getItem("access")) refresh();
  }, REFRESH_MS);
});
