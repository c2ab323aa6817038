// Stratum dashboard: plain JavaScript, no framework and no network access beyond this server.
// Every number comes from the REST API with the token the user typed (kept in sessionStorage);
// charts are inline SVG drawn here. Pages refresh every few seconds without reloading.
"use strict";

const TOKEN_KEY = "stratum.token";
const THEME_KEY = "stratum.theme";
const REFRESH_MS = 5000;
const ROUTES = ["overview", "jobs", "nodes", "alerts", "planner"];
const SVG = "http://www.w3.org/2000/svg";
const STATE_COLORS = { Pending: "--warn", Preempted: "--warn", Running: "--ok", Succeeded: "--accent", Failed: "--bad", Cancelled: "--idle" };

let timer = null;
let logsJob = null;

const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem(TOKEN_KEY);
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: "Bearer " + token(), Accept: "application/json", ...(options.headers || {}) },
  });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

const badge = (text) => el("span", { class: "badge " + text }, text);
const fmt = (n, digits = 1) => Number(n).toLocaleString(undefined, { maximumFractionDigits: digits });
const money = (n, currency) => Number(n).toLocaleString(undefined, { style: "currency", currency: currency || "USD" });
const when = (iso) => iso ? new Date(iso).toLocaleString() : "";

// --- charts ---------------------------------------------------------------------------------

/** Horizontal bars: rows of {label, value, color}. */
function barChart(container, rows, format = (v) => fmt(v)) {
  container.replaceChildren();
  if (rows.length === 0) { container.append(el("div", { class: "empty" }, "Nothing yet.")); return; }
  const width = 560, row = 26, labelWidth = 130, valueWidth = 80;
  const max = Math.max(...rows.map((r) => r.value), 1e-9);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${rows.length * row + 4}`, role: "img" });
  rows.forEach((r, i) => {
    const y = i * row + 4;
    const bar = Math.max(2, ((width - labelWidth - valueWidth) * r.value) / max);
    const label = svg("text", { x: 0, y: y + 14 }); label.textContent = r.label; chart.append(label);
    chart.append(svg("rect", { x: labelWidth, y, width: r.value > 0 ? bar : 0, height: row - 10, rx: 3, fill: r.color || css("--accent") }));
    const value = svg("text", { x: labelWidth + (r.value > 0 ? bar : 0) + 6, y: y + 14, "data-value": r.value }); value.textContent = format(r.value);
    chart.append(value);
  });
  container.append(chart);
}

/** Stacked bars per item: used vs total, e.g. GPUs allocated of allocatable per node. */
function capacityChart(container, rows) {
  container.replaceChildren();
  if (rows.length === 0) { container.append(el("div", { class: "empty" }, "No nodes with GPUs.")); return; }
  const width = 560, row = 26, labelWidth = 130, valueWidth = 70;
  const max = Math.max(...rows.map((r) => r.total), 1);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${rows.length * row + 4}`, role: "img" });
  rows.forEach((r, i) => {
    const y = i * row + 4, scale = (width - labelWidth - valueWidth) / max;
    const label = svg("text", { x: 0, y: y + 14 }); label.textContent = r.label; chart.append(label);
    chart.append(svg("rect", { x: labelWidth, y, width: r.total * scale, height: row - 10, rx: 3, fill: css("--line") }));
    chart.append(svg("rect", { x: labelWidth, y, width: r.used * scale, height: row - 10, rx: 3, fill: css("--accent") }));
    const value = svg("text", { x: labelWidth + r.total * scale + 6, y: y + 14 }); value.textContent = `${fmt(r.used)} / ${fmt(r.total)}`;
    chart.append(value);
  });
  container.append(chart);
}

function meter(used, total, unit = "") {
  const share = total > 0 ? Math.min(1, used / total) : 0;
  const bar = svg("svg", { viewBox: "0 0 100 8", preserveAspectRatio: "none" });
  bar.append(svg("rect", { x: 0, y: 0, width: 100, height: 8, rx: 4, fill: css("--line") }));
  bar.append(svg("rect", { x: 0, y: 0, width: 100 * share, height: 8, rx: 4, fill: css(share > 0.9 ? "--warn" : "--accent") }));
  return el("div", { class: "meter" }, bar, el("span", {}, `${fmt(used)} / ${fmt(total)}${unit}`));
}

// --- data -----------------------------------------------------------------------------------

/** Every job in the given states (or all), following the cursor; capped so a huge history stays fast. */
async function listJobs(states = [], cap = 2000) {
  const jobs = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: "1000" });
    states.forEach((s) => query.append("state", s));
    if (cursor) query.set("cursor", cursor);
    const page = await api("/api/v1/jobs?" + query);
    jobs.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && jobs.length < cap);
  return jobs;
}

async function renderOverview() {
  const [nodes, jobs, usage] = await Promise.all([api("/api/v1/nodes"), listJobs(), api("/api/v1/usage?by=project&since=30d")]);
  const ready = nodes.filter((n) => n.state === "Ready");
  const allocatable = ready.reduce((s, n) => s + n.allocatable.gpus, 0);
  const allocated = nodes.reduce((s, n) => s + n.allocated.gpus, 0);
  const byState = {};
  for (const job of jobs) byState[job.state] = (byState[job.state] || 0) + 1;
  $("stat-gpus-allocated").textContent = allocated;
  $("stat-gpus-idle").textContent = Math.max(0, allocatable - allocated);
  $("stat-queued").textContent = (byState.Pending || 0) + (byState.Preempted || 0);
  $("stat-running").textContent = byState.Running || 0;
  $("stat-nodes").textContent = `${ready.length} / ${nodes.length}`;
  $("stat-cost").textContent = money(usage.total.cost, usage.total.currency);

  barChart($("chart-states"), Object.keys(STATE_COLORS).filter((s) => byState[s]).map((s) => ({ label: s, value: byState[s], color: css(STATE_COLORS[s]) })), (v) => fmt(v, 0));
  capacityChart($("chart-gpus"), nodes.filter((n) => n.allocatable.gpus > 0).map((n) => ({ label: n.name, used: n.allocated.gpus, total: n.allocatable.gpus })));
  barChart($("chart-usage"), usage.rows.map((r) => ({ label: r.key, value: Number(r.cost) })), (v) => money(v, usage.total.currency));
  $("usage-table").tBodies[0].replaceChildren(...usage.rows.map((r) => el("tr", { "data-project": r.key },
    el("td", {}, r.key), el("td", { class: "num" }, fmt(r.gpuHours, 2)), el("td", { class: "num" }, fmt(r.cpuHours, 2)),
    el("td", { class: "num" }, fmt(r.memoryGbHours, 2)), el("td", { class: "num" }, r.jobs), el("td", { class: "num" }, money(r.cost, r.currency)))));
}

async function renderJobs() {
  const state = $("filter-state").value;
  const project = $("filter-project").value.trim();
  let jobs = await listJobs(state ? [state] : [], 500);
  if (project) jobs = jobs.filter((j) => j.project.includes(project));
  // The wait reason comes from /why for queued jobs (the scheduler's last explanation); at most 50.
  const queued = jobs.filter((j) => j.state === "Pending" || j.state === "Preempted").slice(0, 50);
  const why = Object.fromEntries(await Promise.all(queued.map(async (j) => {
    try {
      const w = await api(`/api/v1/jobs/${j.id}/why`);
      const rejections = Object.entries(w.nodeRejections || {}).map(([reason, count]) => `${count}× ${reason}`).join(", ");
      return [j.id, [w.reason, w.queuePosition ? `#${w.queuePosition} in queue` : "", rejections].filter(Boolean).join(" · ")];
    } catch { return [j.id, j.reason]; }
  })));
  $("jobs-count").textContent = `${jobs.length} jobs`;
  $("jobs-table").tBodies[0].replaceChildren(...jobs.map((j) => el("tr", { "data-job": j.id, "data-state": j.state },
    el("td", { class: "num" }, j.id), el("td", {}, j.name), el("td", {}, j.project), el("td", {}, j.owner),
    el("td", {}, badge(j.state)), el("td", { class: "reason" }, why[j.id] ?? j.reason ?? ""), el("td", {}, when(j.submittedAt)),
    el("td", {},
      j.attempts.length > 0 ? el("a", { href: "#", class: "logs-link", onclick: (e) => { e.preventDefault(); openLogs(j.id); } }, "logs") : null,
      ["Pending", "Running", "Preempted"].includes(j.state) && !j.stopping
        ? el("button", { type: "button", class: "small danger", onclick: () => cancelJob(j.id) }, "cancel") : null))));
  if (logsJob !== null) await loadLogs();
}

async function cancelJob(id) {
  if (!confirm(`Cancel job ${id}?`)) return;
  await api(`/api/v1/jobs/${id}/cancel`, { method: "POST" });
  await refresh();
}

function openLogs(id) { logsJob = id; $("logs-panel").hidden = false; loadLogs(); }

async function loadLogs() {
  $("logs-title").textContent = `Logs of job ${logsJob}`;
  try {
    $("logs").textContent = await api(`/api/v1/jobs/${logsJob}/logs?stream=${$("logs-stream").value}`) || "(empty)";
  } catch (e) { $("logs").textContent = e.message; }
}

async function renderNodes() {
  const nodes = await api("/api/v1/nodes");
  const gib = 1024 ** 3;
  $("nodes-table").tBodies[0].replaceChildren(...nodes.map((n) => el("tr", { "data-node": n.name },
    el("td", {}, n.name), el("td", {}, n.pool), el("td", {}, badge(n.state), n.stateReason ? el("div", { class: "muted" }, n.stateReason) : null),
    el("td", {}, n.allocatable.gpus > 0 ? meter(n.allocated.gpus, n.allocatable.gpus) : el("span", { class: "muted" }, "none")),
    el("td", {}, meter(n.allocated.cpuMillis / 1000, n.allocatable.cpuMillis / 1000, " cores")),
    el("td", {}, meter(n.allocated.memoryBytes / gib, n.allocatable.memoryBytes / gib, " GiB")),
    el("td", { class: "num" }, n.runningJobs))));
}

async function renderAlerts(status) {
  status = status || await api("/api/v1/alerts");
  const firing = status.rules.filter((r) => r.state === "firing").length;
  $("alerts-summary").textContent = status.rules.length === 0
    ? "No alert rules. Write them in alerts.yaml in the data directory (see docs/observability.md)."
    : `${status.rules.length} rules, ${firing} firing; evaluated every ${status.interval}` + (status.lastEvaluation ? `, last at ${when(status.lastEvaluation)}` : "");
  $("alerts-errors").replaceChildren(...status.loadErrors.map((e) => el("p", { class: "error" }, e)));
  $("alerts-table").tBodies[0].replaceChildren(...status.rules.map((r) => el("tr", { "data-rule": r.name },
    el("td", {}, r.name, r.annotations.summary ? el("div", { class: "muted" }, r.annotations.summary) : null),
    el("td", {}, badge(r.state)), el("td", {}, badge(r.severity)), el("td", {}, el("code", {}, r.expr)), el("td", {}, r.for),
    el("td", {}, ...r.alerts.map((a) => el("div", {}, badge(a.state), " ",
      Object.entries(a.labels).filter(([k]) => k !== "alertname" && k !== "severity").map(([k, v]) => `${k}=${v}`).join(" "),
      a.value !== undefined && a.value !== null ? el("span", { class: "muted" }, ` (value ${fmt(a.value, 3)})`) : null))))));
}

async function updateAlertBadge() {
  const status = await api("/api/v1/alerts");
  const firing = status.rules.reduce((s, r) => s + r.alerts.filter((a) => a.state === "firing").length, 0);
  $("alert-badge").hidden = firing === 0;
  $("alert-badge").textContent = firing;
  return status;
}

// --- planner --------------------------------------------------------------------------------

let plannerCatalogLoaded = false;

/** Fills the GPU list from the catalog once; the plan itself runs only when the form is sent. */
async function renderPlanner() {
  if (plannerCatalogLoaded) return;
  const catalog = await api("/api/v1/plan/catalog");
  const select = $("plan-gpu");
  select.replaceChildren(...catalog.accelerators.map((a) => el("option", { value: a.name }, a.name)));
  if (catalog.accelerators.some((a) => a.name === "nvidia-h100-sxm")) select.value = "nvidia-h100-sxm";
  plannerCatalogLoaded = true;
}

/** A number the user typed (176e9, 1_000, 90); null when empty; NaN when not a number, which the server then names. */
function typedNumber(id) {
  const text = $(id).value.trim().replaceAll("_", "");
  return text === "" ? null : Number(text);
}

async function submitPlan(e) {
  e.preventDefault();
  $("plan-error").textContent = "";
  const body = { params: typedNumber("plan-params"), tokens: typedNumber("plan-tokens"), gpu: $("plan-gpu").value, precision: $("plan-precision").value };
  const optional = { activeParams: typedNumber("plan-active"), gpus: typedNumber("plan-gpus"), deadlineDays: typedNumber("plan-deadline") };
  for (const [key, value] of Object.entries({ ...body, ...optional })) {
    if (typeof value === "number" && !Number.isFinite(value)) { $("plan-error").textContent = `${key}: '${$("plan-form").elements[key].value}' is not a number`; return; }
  }
  for (const [key, value] of Object.entries(optional)) if (value !== null) body[key] = value;
  $("plan-submit").disabled = true;
  try {
    const plan = await api("/api/v1/plan/train", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
    showPlan(plan);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) { signOut("The token was refused: " + error.message); return; }
    $("plan-result").hidden = true;
    $("plan-error").textContent = error.message;
  } finally {
    $("plan-submit").disabled = false;
  }
}

function showPlan(plan) {
  const stat = (id, text) => { document.querySelector(`[data-testid=${id}]`).textContent = text; };
  stat("plan-gpu-hours", fmt(plan.gpuHours, 0));
  stat("plan-days", fmt(plan.wallClockDays, 1));
  stat("plan-mfu", (plan.mfu * 100).toFixed(1) + "%");
  stat("plan-memory", `${fmt(plan.memoryPerGpuGb, 1)} / ${fmt(plan.gpuMemoryGb, 0)}`);
  stat("plan-gpus", plan.gpus);
  const layout = plan.layout;
  $("plan-summary").textContent = `${plan.gpus} x ${plan.gpu}, TP ${layout.tensor} x PP ${layout.pipeline} x DP ${layout.data}, ${plan.precision}` +
    (plan.cheapest ? `; cheapest${plan.deadlineDays ? " that meets the deadline" : ""}: ${plan.cheapest.option} (${plan.cheapest.provider} ${plan.cheapest.instance}), ${money(plan.cheapest.totalUsd)}` : "");
  const costs = plan.costs;
  const where = (c) => `${c.provider} ${c.instance}`.trim();
  barChart($("chart-plan-costs"), costs.map((c) => ({ label: c.option, value: c.totalUsd, color: css(c.meetsDeadline ? "--accent" : "--idle") })), (v) => money(v));
  $("plan-costs").tBodies[0].replaceChildren(...costs.map((c) => el("tr", { "data-option": c.option },
    el("td", {}, c.option), el("td", {}, where(c)), el("td", { class: "num" }, money(c.totalUsd)), el("td", { class: "num" }, fmt(c.usdPerGpuHour, 2)),
    el("td", { class: "num" }, fmt(c.wallClockDays, 1)), el("td", {}, badge(c.meetsDeadline ? "yes" : "no")))));
  const working = plan.working;
  $("plan-working").replaceChildren(
    ...working.warnings.map((w) => el("li", { class: "warning" }, "warning: " + w)),
    ...working.formulas.map((f) => el("li", {}, f)),
    ...working.assumptions.map((a) => el("li", {}, a)));
  $("plan-result").hidden = false;
  document.body.dataset.planned = String(Date.now());
}

// --- shell ----------------------------------------------------------------------------------

function route() {
  const name = location.pathname.replace(/^\/ui\/?/, "").split("/")[0];
  return ROUTES.includes(name) ? name : "overview";
}

async function refresh() {
  clearTimeout(timer);
  if (!token()) { show("signin"); return; }
  const page = route();
  show(page);
  try {
    const status = await updateAlertBadge();
    if (page === "overview") await renderOverview();
    else if (page === "jobs") await renderJobs();
    else if (page === "nodes") await renderNodes();
    else if (page === "planner") await renderPlanner();
    else await renderAlerts(status);
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = page;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { signOut("The token was refused: " + e.message); return; }
    $("updated").textContent = "update failed: " + e.message;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function show(page) {
  const signedIn = page !== "signin";
  $("nav").hidden = !signedIn;
  $("signout").hidden = !signedIn;
  for (const section of document.querySelectorAll(".page")) section.hidden = section.id !== page + "-page";
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.route === page);
}

function signOut(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  delete document.body.dataset.loaded;
  $("signin-error").textContent = message;
  show("signin");
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem(THEME_KEY, theme);
}

document.addEventListener("DOMContentLoaded", () => {
  applyTheme(localStorage.getItem(THEME_KEY) || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
  $("theme").addEventListener("click", () => { applyTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"); refresh(); });
  $("signout").addEventListener("click", () => signOut());
  $("signin").addEventListener("submit", async (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    $("signin-error").textContent = "";
    if (location.pathname === "/" || location.pathname === "/ui") history.replaceState(null, "", "/ui/overview");
    await refresh();
  });
  document.addEventListener("click", (e) => {
    const link = e.target.closest("a[data-route]");
    if (!link) return;
    e.preventDefault();
    history.pushState(null, "", link.getAttribute("href"));
    refresh();
  });
  window.addEventListener("popstate", refresh);
  $("filter-state").addEventListener("change", refresh);
  $("filter-project").addEventListener("input", refresh);
  $("logs-stream").addEventListener("change", loadLogs);
  $("plan-form").addEventListener("submit", submitPlan);
  $("logs-close").addEventListener("click", () => { logsJob = null; $("logs-panel").hidden = true; });
  $("prom-rules").addEventListener("click", async (e) => {
    e.preventDefault();
    const text = await api("/api/v1/alerts/prometheus-rules");
    const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/yaml" })), download: "stratum-rules.yaml" });
    link.click();
  });
  refresh();
});
