// Stratum dashboard: plain JavaScript, no framework and no network access beyond this server.
// Every number comes from the REST API with the token the user typed (kept in sessionStorage);
// charts are inline SVG drawn here. Pages refresh every few seconds without reloading.
"use strict";

const TOKEN_KEY = "stratum.token";
const THEME_KEY = "stratum.theme";
const REFRESH_MS = 5000;
const ROUTES = ["overview", "jobs", "nodes", "usage", "store", "alerts", "planner"];
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
// Small amounts keep two significant digits: a short job's 0.003 GPU-hours is not "0".
const fmt = (n, digits = 1) => {
  const v = Number(n);
  return v !== 0 && Math.abs(v) < Math.pow(10, -digits)
    ? v.toLocaleString(undefined, { maximumSignificantDigits: 2 })
    : v.toLocaleString(undefined, { maximumFractionDigits: digits });
};
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
  $("jobs-table").tBodies[0].replaceChildren(...jobs.map((j) => el("tr", { "data-job": j.id, "data-state": j.state, class: j.id === detailJobId() ? "selected" : "" },
    el("td", { class: "num" }, j.id), el("td", {}, el("a", { href: `/ui/jobs/${j.id}`, "data-route": "jobs", class: "job-link" }, j.name)), el("td", {}, j.project), el("td", {}, j.owner),
    el("td", {}, badge(j.state)), el("td", { class: "reason" }, why[j.id] ?? j.reason ?? ""), el("td", {}, when(j.submittedAt)),
    el("td", {},
      j.attempts.length > 0 ? el("a", { href: "#", class: "logs-link", onclick: (e) => { e.preventDefault(); openLogs(j.id); } }, "logs") : null,
      ["Pending", "Running", "Preempted"].includes(j.state) && !j.stopping
        ? el("button", { type: "button", class: "small danger", onclick: () => cancelJob(j.id) }, "cancel") : null))));
  if (logsJob !== null) await loadLogs();
  await renderJobDetail(detailJobId());
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

// --- time-series charts ---------------------------------------------------------------------

// Fixed hues that read on both themes; a project keeps its colour while the set of projects is stable.
const PALETTE = ["#3b6cf6", "#1f9d55", "#e08a0b", "#9b51e0", "#d93f3f", "#0fa3b1", "#c2185b", "#7a8699", "#5d8c00", "#8d6e63"];
const DAY_MS = 86_400_000;
const utcDay = (ms) => new Date(ms).toISOString().slice(0, 10);

/** Columns per x (e.g. per UTC day), stacked by series: series of {label, color, values[]}, one value per x. */
function stackedColumns(container, xs, series, format) {
  container.replaceChildren();
  const totals = xs.map((_, i) => series.reduce((s, r) => s + r.values[i], 0));
  if (totals.every((t) => t === 0)) { container.append(el("div", { class: "empty" }, "Nothing used in this window.")); return; }
  const width = 560, height = 220, left = 64, bottom = 22, top = 8;
  const max = Math.max(...totals);
  const column = (width - left) / xs.length;
  const scale = (height - top - bottom) / max;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  for (const fraction of [0, 0.5, 1]) {
    const y = height - bottom - fraction * max * scale;
    chart.append(svg("line", { x1: left, x2: width, y1: y, y2: y, class: "axis" }));
    const label = svg("text", { x: left - 6, y: y + 4, "text-anchor": "end" }); label.textContent = format(fraction * max); chart.append(label);
  }
  xs.forEach((x, i) => {
    const group = svg("g", { "data-x": x, "data-total": totals[i] });
    let y = height - bottom;
    for (const s of series) {
      const h = s.values[i] * scale;
      if (h <= 0) continue;
      y -= h;
      const rect = svg("rect", { x: left + i * column + 1, y, width: Math.max(1, column - 2), height: h, fill: s.color });
      const title = svg("title"); title.textContent = `${x} · ${s.label}: ${format(s.values[i])}`; rect.append(title);
      group.append(rect);
    }
    chart.append(group);
    if ((i % 7 === 0 && i < xs.length - 4) || i === xs.length - 1) {
      const last = i === xs.length - 1;
      const label = svg("text", { x: last ? width : left + (i + 0.5) * column, y: height - 6, "text-anchor": last ? "end" : "middle" }); label.textContent = x.slice(5); chart.append(label);
    }
  });
  container.append(chart);
}

/** Lines over time: series of {label, color, points: [{t (ms), v}], dashed}; the y axis starts at zero. */
function lineChart(container, from, until, series, format) {
  container.replaceChildren();
  if (series.every((s) => s.points.length === 0 || s.dashed)) { container.append(el("div", { class: "empty" }, "No samples yet (the sampler runs every few seconds while the job runs).")); return; }
  const width = 420, height = 150, left = 52, bottom = 20, top = 8;
  const max = Math.max(1e-9, ...series.flatMap((s) => s.points.map((p) => p.v))) * 1.1;
  const span = Math.max(1, until - from);
  const x = (t) => left + ((t - from) / span) * (width - left - 4);
  const y = (v) => height - bottom - (v / max) * (height - top - bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  for (const fraction of [0, 0.5, 1]) {
    chart.append(svg("line", { x1: left, x2: width, y1: y(fraction * max), y2: y(fraction * max), class: "axis" }));
    const label = svg("text", { x: left - 6, y: y(fraction * max) + 4, "text-anchor": "end" }); label.textContent = format(fraction * max); chart.append(label);
  }
  for (const [t, anchor] of [[from, "start"], [until, "end"]]) {
    const label = svg("text", { x: x(t), y: height - 4, "text-anchor": anchor }); label.textContent = new Date(t).toLocaleTimeString(); chart.append(label);
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    const path = svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, class: s.dashed ? "requested" : "", "data-series": s.label });
    const title = svg("title"); title.textContent = s.label; path.append(title);
    chart.append(path);
  }
  container.append(chart);
}

// --- usage and cost -------------------------------------------------------------------------

/**
 * The usage API groups by one key at a time, so the per-project split of each day is computed here from
 * the jobs' run times (each job's cost and GPU-hours spread over the UTC days its attempts overlap), then
 * scaled so that every day's total is exactly the API's by=day figure.
 */
function dailyByProject(byDay, byJob, jobs) {
  const since = Date.parse(byDay.since), until = Date.parse(byDay.until);
  const days = [];
  for (let t = Date.UTC(new Date(since).getUTCFullYear(), new Date(since).getUTCMonth(), new Date(since).getUTCDate()); t < until; t += DAY_MS) days.push(utcDay(t));
  const index = Object.fromEntries(days.map((d, i) => [d, i]));
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const split = {}; // project -> {cost[], gpu[]}
  const lane = (project) => (split[project] ??= { cost: days.map(() => 0), gpu: days.map(() => 0) });
  for (const row of byJob.rows) {
    const job = byId.get(Number.parseInt(row.key, 10));
    const hours = days.map(() => 0);
    for (const a of job?.attempts ?? []) {
      let start = Math.max(since, Date.parse(a.startedAt));
      const end = Math.min(until, a.endedAt ? Date.parse(a.endedAt) : until);
      while (start < end) {
        const midnight = Math.floor(start / DAY_MS) * DAY_MS + DAY_MS;
        const i = index[utcDay(start)];
        if (i !== undefined) hours[i] += Math.min(end, midnight) - start;
        start = midnight;
      }
    }
    const total = hours.reduce((s, h) => s + h, 0);
    if (total === 0) continue;
    const l = lane(job.project);
    hours.forEach((h, i) => { l.cost[i] += Number(row.cost) * h / total; l.gpu[i] += row.gpuHours * h / total; });
  }
  for (const dayRow of byDay.rows) {
    const i = index[dayRow.key];
    if (i === undefined) continue;
    for (const [field, exact] of [["cost", Number(dayRow.cost)], ["gpu", dayRow.gpuHours]]) {
      const shown = Object.values(split).reduce((s, l) => s + l[field][i], 0);
      if (shown > 0) for (const l of Object.values(split)) l[field][i] *= exact / shown;
      else if (exact > 0) lane("other")[field][i] = exact; // jobs beyond the listing cap
    }
  }
  return { days, split };
}

function budgetCell(budget) {
  if (!budget) return el("span", { class: "muted" }, "no budget");
  const used = Number(budget.used);
  const bar = svg("svg", { viewBox: "0 0 100 8", preserveAspectRatio: "none" });
  bar.append(svg("rect", { x: 0, y: 0, width: 100, height: 8, rx: 4, fill: css("--line") }));
  bar.append(svg("rect", { x: 0, y: 0, width: 100 * Math.min(1, used), height: 8, rx: 4, fill: css(used > 1 ? "--bad" : used >= 0.8 ? "--warn" : "--accent") }));
  return el("div", { class: "meter" + (used > 1 ? " over" : ""), "data-used": used },
    bar, el("span", {}, `${money(budget.spentThisMonth, budget.currency)} / ${money(budget.monthly, budget.currency)} (${fmt(used * 100, 0)}%)`));
}

async function renderUsage() {
  const [byProject, byDay, byJob, advice, jobs] = await Promise.all([
    api("/api/v1/usage?by=project&since=30d"), api("/api/v1/usage?by=day&since=30d"), api("/api/v1/usage?by=job&since=30d"),
    api("/api/v1/advice?since=7d"), listJobs()]);
  const currency = byProject.total.currency;
  document.querySelector("[data-testid=usage-cost]").textContent = money(byProject.total.cost, currency);
  document.querySelector("[data-testid=usage-gpu-hours]").textContent = fmt(byProject.total.gpuHours, 2);
  document.querySelector("[data-testid=usage-cpu-hours]").textContent = fmt(byProject.total.cpuHours, 2);
  document.querySelector("[data-testid=advice-saving]").textContent = advice.currency === "mixed"
    ? `${fmt(advice.gpuHoursSaved, 2)} GPU-h` : money(advice.moneySaved, advice.currency);

  const { days, split } = dailyByProject(byDay, byJob, jobs);
  // Largest spender at the bottom of each column and first in the legend, as in the table.
  const order = [...byProject.rows.map((r) => r.key), "other"].filter((p) => split[p]);
  for (const p of Object.keys(split)) if (!order.includes(p)) order.push(p);
  const color = (i) => PALETTE[i % PALETTE.length];
  stackedColumns($("chart-daily-cost"), days, order.map((p, i) => ({ label: p, color: color(i), values: split[p].cost })), (v) => money(v, currency));
  stackedColumns($("chart-daily-gpu"), days, order.map((p, i) => ({ label: p, color: color(i), values: split[p].gpu })), (v) => fmt(v, 2));
  // An SVG swatch: the page's Content-Security-Policy refuses inline style attributes.
  const swatch = (fill) => { const box = svg("svg", { class: "swatch", viewBox: "0 0 10 10" }); box.append(svg("rect", { width: 10, height: 10, rx: 2, fill })); return box; };
  $("daily-legend").replaceChildren(...order.map((p, i) => el("span", {}, swatch(color(i)), p)));

  $("budget-table").tBodies[0].replaceChildren(...byProject.rows.map((r) => el("tr", { "data-project": r.key },
    el("td", {}, r.key), el("td", { class: "num" }, fmt(r.gpuHours, 2)), el("td", { class: "num" }, fmt(r.cpuHours, 2)),
    el("td", { class: "num" }, r.jobs), el("td", { class: "num" }, money(r.cost, r.currency)), el("td", {}, budgetCell(r.budget)))));

  $("advice-summary").textContent = advice.recommendations.length === 0
    ? "(nothing to change over the last 7 days)" : `(last 7 days: ${advice.recommendations.length}, largest saving first)`;
  $("advice-table").tBodies[0].replaceChildren(...advice.recommendations.map((a) => el("tr", { "data-kind": a.kind, "data-job": a.jobId ?? "" },
    el("td", {}, a.message, el("div", { class: "muted" }, a.kind)), el("td", {}, a.project),
    el("td", {}, a.jobId ? el("a", { href: `/ui/jobs/${a.jobId}`, "data-route": "jobs" }, `#${a.jobId}`) : ""),
    el("td", { class: "num" }, fmt(a.gpuHoursSaved, 2)), el("td", { class: "num" }, money(a.moneySaved, a.currency)))));
}

// --- job detail -----------------------------------------------------------------------------

const GIB = 1024 ** 3;

/** /ui/jobs/ID shows that job's panel under the list. */
function detailJobId() {
  const id = Number.parseInt(location.pathname.split("/")[3] ?? "", 10);
  return Number.isFinite(id) ? id : null;
}

async function renderJobDetail(id) {
  if (id === null) { $("job-panel").hidden = true; return; }
  let job;
  try {
    job = await api(`/api/v1/jobs/${id}`);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status === 401) throw e;
    $("job-title").textContent = `Job ${id}: ${e.message}`;
    $("job-panel").hidden = false;
    return;
  }
  const started = job.startedAt ? Date.parse(job.startedAt) : Date.now();
  // The whole run, at least five minutes, in whole minutes (the API's since= takes a duration).
  const minutes = Math.min(366 * 1440, Math.max(5, Math.ceil((Date.now() - started) / 60_000) + 1));
  const [usage, telemetry] = await Promise.all([
    api(`/api/v1/jobs/${id}/usage`),
    api(`/api/v1/telemetry?job=${id}&since=${minutes}m`)]);
  const points = (metric, divisor = 1) => (telemetry.series.find((s) => s.metric === metric)?.points ?? [])
    .map((p) => ({ t: Date.parse(p.at), v: p.average / divisor }));
  const from = Math.max(Date.parse(telemetry.since), started - 5_000);
  const until = job.endedAt ? Math.min(Date.parse(telemetry.until), Date.parse(job.endedAt) + 5_000) : Date.parse(telemetry.until);
  const requestedLine = (v) => ({ label: "requested", color: css("--muted"), dashed: true, points: [{ t: from, v }, { t: until, v }] });
  const cpuRequested = usage.cpuCoresRequested ?? job.resources.cpuMillis / 1000;
  const memoryRequested = usage.memoryBytesRequested / GIB;
  lineChart($("chart-job-cpu"), from, until, [{ label: "used", color: css("--accent"), points: points("cpu_cores") }, requestedLine(cpuRequested)], (v) => fmt(v, 2));
  lineChart($("chart-job-memory"), from, until, [{ label: "used", color: css("--ok"), points: points("memory_bytes", GIB) }, requestedLine(memoryRequested)], (v) => fmt(v, 2));

  const pair = (avg, max, f) => avg === null || avg === undefined ? "not measured" : `${f(avg)} / ${f(max)}`;
  const stat = (name, text) => { document.querySelector(`[data-testid=${name}]`).textContent = text; };
  stat("job-cpu-requested", fmt(cpuRequested, 2));
  stat("job-cpu-used", pair(usage.cpuCoresAverage, usage.cpuCoresMax, (v) => fmt(v, 2)));
  stat("job-memory-requested", bytes(usage.memoryBytesRequested));
  stat("job-memory-used", pair(usage.memoryBytesAverage, usage.memoryBytesMax, bytes));
  stat("job-gpus", `${usage.gpusRequested}` + (usage.gpuUtilizationAverage !== null && usage.gpuUtilizationAverage !== undefined ? ` / ${fmt(usage.gpuUtilizationAverage, 0)}%` : ""));
  $("job-title").replaceChildren(`Job ${job.id} `, el("span", { class: "muted" }, `${job.name} · ${job.project} · `), badge(job.state));
  $("job-window").textContent = `${usage.samples} samples, ${telemetry.resolution} resolution`;
  $("job-panel").hidden = false;
  $("job-panel").dataset.job = id;
  $("job-panel").dataset.samples = usage.samples;
}

// --- store ----------------------------------------------------------------------------------

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

function bytes(n) {
  let value = Number(n), unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) { value /= 1024; unit++; }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

// du reads every commit's manifest; refreshing it every 30 s rather than every 5 s keeps big stores cheap.
const DU_MS = 30_000;
const duCache = new Map();

async function diskUsage(name) {
  const cached = duCache.get(name);
  if (cached && Date.now() - cached.at < DU_MS) return cached.value;
  const value = await api(`/api/v1/repos/${encodeURIComponent(name)}/du`).catch(() => null);
  duCache.set(name, { at: Date.now(), value });
  return value;
}

function selectedRepository() {
  const name = location.pathname.split("/")[3];
  return name ? decodeURIComponent(name) : null;
}

async function renderStore() {
  const repos = await api("/api/v1/repos");
  const usage = Object.fromEntries(await Promise.all(repos.map(async (r) => [r.name, await diskUsage(r.name)])));
  const selected = selectedRepository();
  $("repos-empty").hidden = repos.length > 0;
  $("repos-table").tBodies[0].replaceChildren(...repos.map((r) => {
    const du = usage[r.name];
    return el("tr", { "data-repo": r.name, class: r.name === selected ? "selected" : "" },
      el("td", {}, el("a", { href: `/ui/store/${encodeURIComponent(r.name)}`, "data-route": "store" }, r.name)),
      el("td", {}, r.kind), el("td", {}, r.project ?? el("span", { class: "muted" }, "admins")),
      el("td", { class: "num", "data-bytes": du?.logicalBytes ?? "" }, du ? bytes(du.logicalBytes) : "?"),
      el("td", { class: "num", "data-bytes": du?.storedBytes ?? "" }, du ? bytes(du.storedBytes) : "?"),
      el("td", { class: "num" }, du && du.storedBytes > 0 ? `${fmt(du.dedupRatio, 2)}×` : du ? "–" : "?"),
      el("td", { class: "num" }, du ? du.commits : "?"), el("td", {}, when(r.createdAt)));
  }));
  const repo = repos.find((r) => r.name === selected);
  $("repo-panel").hidden = !repo;
  if (!repo) return;

  const path = `/api/v1/repos/${encodeURIComponent(repo.name)}`;
  const [branches, tags] = await Promise.all([api(path + "/branches"), api(path + "/tags")]);
  const select = $("repo-ref");
  const refs = [...branches.map((b) => b.name), ...tags.map((t) => t.name)];
  if (select.dataset.repo !== repo.name || select.options.length !== refs.length) {
    const keep = select.dataset.repo === repo.name ? select.value : repo.defaultBranch;
    select.replaceChildren(...branches.map((b) => el("option", { value: b.name }, b.name)), ...tags.map((t) => el("option", { value: t.name }, "tag " + t.name)));
    select.value = refs.includes(keep) ? keep : repo.defaultBranch;
    select.dataset.repo = repo.name;
  }
  $("repo-title").replaceChildren(repo.name, " ", el("span", { class: "muted" }, `${repo.kind}, default branch ${repo.defaultBranch}`));
  const refRow = (r) => el("tr", { "data-ref": r.name }, el("td", {}, r.name), el("td", {}, el("code", {}, r.commitId.slice(0, 12))));
  $("branches-table").tBodies[0].replaceChildren(...branches.map(refRow));
  $("tags-table").tBodies[0].replaceChildren(...(tags.length ? tags.map(refRow) : [el("tr", {}, el("td", { class: "muted", colspan: 2 }, "no tags"))]));

  const log = select.value ? await api(`${path}/refs/${encodeURIComponent(select.value)}/log?limit=20`) : [];
  $("commits-table").tBodies[0].replaceChildren(...log.map((c) => el("tr", { "data-commit": c.id },
    el("td", {}, el("code", { title: c.id }, c.id.slice(0, 12))), el("td", {}, c.message), el("td", {}, c.author), el("td", {}, when(c.time)),
    el("td", { class: "num" }, c.files), el("td", { class: "num", "data-bytes": c.bytes }, bytes(c.bytes)),
    el("td", { class: "lineage" }, c.lineage ? [c.lineage.jobId ? `job ${c.lineage.jobId}` : "", ...(c.lineage.inputs ?? [])].filter(Boolean).join(" ← ") : ""))));
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
    else if (page === "usage") await renderUsage();
    else if (page === "store") await renderStore();
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
  $("repo-ref").addEventListener("change", refresh);
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
