// Stratum dashboard: plain JavaScript, no framework and no network access beyond this server.
// Every number comes from the REST API with the token the user typed (kept in sessionStorage);
// charts are drawn by uPlot (embedded from npm at build time, see Dashboard/package.json). Pages
// refresh every few seconds without reloading; charts update in place.
"use strict";

const TOKEN_KEY = "stratum.token";
const THEME_KEY = "stratum.theme";
const REFRESH_MS = 5000;
const ROUTES = ["overview", "jobs", "nodes", "projects", "usage", "store", "alerts", "planner"];
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

// --- charts (uPlot) -------------------------------------------------------------------------
//
// Every chart is drawn by uPlot (installed from npm at build time, pinned in Dashboard/package-lock.json).
// A chart is created once per container and updated in place with setData on each refresh, so live
// updates do not flicker; it is made again only when its shape (series, categories, theme) changes.
// The container keeps the instance as `container.uplot` and the series it was handed as
// `container.chartSeries`: the browser tests read both to compare what is drawn with the API.

const PALETTE = ["#3b6cf6", "#1f9d55", "#e08a0b", "#9b51e0", "#d93f3f", "#0fa3b1", "#c2185b", "#7a8699", "#5d8c00", "#8d6e63"];
const resized = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const u = entry.target.uplot;
    const width = Math.floor(entry.contentRect.width);
    if (u && width > 0 && Math.abs(width - u.width) > 1) u.setSize({ width, height: u.height });
  }
});

function chartEmpty(container, text) {
  container.uplot?.destroy();
  container.uplot = null;
  container.chartSeries = [];
  delete container.dataset.chartKey;
  container.replaceChildren(el("div", { class: "empty" }, text));
}

function axisStyle(extra = {}) {
  const muted = css("--muted"), line = css("--line");
  return { stroke: muted, font: "11px system-ui, sans-serif", grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1, size: 4 }, ...extra };
}

/** Creates or updates the chart in container; key says when the options must change (series, categories, theme). */
function plot(container, key, options, data, series) {
  key = JSON.stringify([key, document.documentElement.dataset.theme]);
  let u = container.uplot;
  if (u && container.dataset.chartKey === key) {
    u.setData(data);
  } else {
    u?.destroy();
    container.replaceChildren();
    const width = Math.max(240, Math.floor(container.clientWidth) || 560);
    u = new uPlot({ width, legend: { live: true }, cursor: { drag: { x: false, y: false } }, ...options }, data, container);
    container.uplot = u;
    container.dataset.chartKey = key;
    resized.observe(container);
  }
  container.chartSeries = series;
  container.dataset.drawn = String(Date.now());
  return u;
}

// Tick steps for counts (jobs, GPUs): whole numbers only.
const WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];
const zeroBased = (headroom = 1.1) => (u, min, max) => [0, max > 0 ? max * headroom : 1];

/**
 * Bars per category (a state, a node, a project, a day): series of {label, color, values[]}, one value
 * per category (null: no bar). Overlaid: later series are drawn over earlier ones at the same place
 * (used over capacity). Stacked: each category's bars add up, the largest sum at the back; the legend
 * still shows each series' own value. Horizontal suits long labels.
 */
function categoryBars(container, categories, series, { format = (v) => fmt(v), stacked = false, horizontal = false, height = 220, empty = "Nothing yet.", name = "", legend = true, counts = false } = {}) {
  if (categories.length === 0 || series.every((s) => s.values.every((v) => !v))) { chartEmpty(container, empty); return; }
  const xs = categories.map((_, i) => i);
  let drawn = series;
  if (stacked) {
    // uPlot draws series in order; the running sums from the top of the stack down keep each band visible.
    const sums = series.map((_, k) => xs.map((i) => series.slice(0, k + 1).reduce((s, r) => s + (r.values[i] || 0), 0)));
    drawn = series.map((s, k) => ({ ...s, values: sums[k] })).reverse();
  }
  const labelEvery = Math.max(1, Math.ceil(categories.length / Math.max(1, Math.floor((container.clientWidth || 560) / 70))));
  const categoryAxis = axisStyle({
    splits: () => xs,
    // Every labelEvery-th label and the last one, without crowding the last one.
    values: (u, splits) => splits.map((i) => (horizontal || i === categories.length - 1 || (i % labelEvery === 0 && categories.length - 1 - i >= labelEvery) ? categories[i] : "")),
    grid: { show: false },
    size: horizontal ? Math.min(200, 14 + 7 * Math.max(...categories.map((c) => String(c).length))) : 30,
    ...(horizontal ? { side: 3 } : {}),
  });
  const valueAxis = axisStyle({ values: (u, splits) => splits.map((v) => format(v)), size: horizontal ? 30 : 70, ...(counts ? { incrs: WHOLE } : {}), ...(horizontal ? { side: 2 } : {}) });
  const bars = uPlot.paths.bars({ size: [horizontal ? 0.7 : 0.6, 48], align: 0 });
  const options = {
    height: horizontal ? Math.max(height, 40 + 28 * categories.length) : height,
    legend: { show: legend, live: true },
    scales: {
      x: { time: false, range: [-0.5, categories.length - 0.5], ...(horizontal ? { ori: 1, dir: -1 } : {}) },
      y: { range: zeroBased(), ...(horizontal ? { ori: 0 } : {}) },
    },
    axes: [categoryAxis, valueAxis],
    series: [
      { label: name, value: (u, i) => (i === null || i === undefined ? "" : categories[i]) },
      ...drawn.map((s) => ({
        label: s.label, stroke: s.color, fill: s.color, width: 0, paths: bars, points: { show: false },
        // A stacked series holds running sums; the legend shows the project's own amount, read at hover time
        // from the series last handed over (setData keeps this closure).
        value: (u, v, si, i) => { const own = stacked ? container.chartSeries[series.length - si]?.values[i] : v; return own === null || own === undefined ? "–" : format(own); },
      })),
    ],
  };
  plot(container, { categories, labels: series.map((s) => s.label), colors: series.map((s) => s.color), stacked, horizontal }, options, [xs, ...drawn.map((s) => s.values)], series);
}

/**
 * Lines over time: series of {label, color, points: [{t (ms), v}], dashed, constant}; a constant series
 * (a request, a limit) is one value across the window. The y axis starts at zero.
 */
function timeLines(container, from, until, series, format, { height = 170, stepped = false, empty = "No samples yet.", counts = false } = {}) {
  if (series.every((s) => s.constant !== undefined || s.points.length === 0)) { chartEmpty(container, empty); return; }
  const seconds = new Set([from / 1000, until / 1000]);
  for (const s of series) for (const p of s.points ?? []) seconds.add(p.t / 1000);
  const xs = [...seconds].sort((a, b) => a - b);
  const columns = series.map((s) => {
    if (s.constant !== undefined) return xs.map(() => s.constant);
    const at = new Map(s.points.map((p) => [p.t / 1000, p.v]));
    return xs.map((x) => (at.has(x) ? at.get(x) : null));
  });
  const path = stepped ? uPlot.paths.stepped({ align: 1 }) : undefined;
  const options = {
    height,
    scales: { x: { time: true, range: [from / 1000, until / 1000] }, y: { range: zeroBased() } },
    axes: [axisStyle(), axisStyle({ values: (u, splits) => splits.map((v) => format(v)), size: 60, ...(counts ? { incrs: WHOLE } : {}) })],
    series: [
      {},
      ...series.map((s) => ({
        label: s.label, stroke: s.color, width: s.dashed ? 1.5 : 2, dash: s.dashed ? [5, 4] : undefined, spanGaps: true,
        points: { show: false }, paths: s.constant === undefined ? path : undefined,
        value: (u, v) => (v === null || v === undefined ? "–" : format(v)),
      })),
    ],
  };
  plot(container, { labels: series.map((s) => s.label), stepped }, options, [xs, ...columns], series);
}

/** Mixes two #rrggbb colours: t=0 gives a, t=1 gives b. */
function mix(a, b, t) {
  const channel = (hex, i) => Number.parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16);
  return "#" + [0, 1, 2].map((i) => Math.round(channel(a, i) + (channel(b, i) - channel(a, i)) * Math.min(1, Math.max(0, t))).toString(16).padStart(2, "0")).join("");
}

/**
 * A heatmap: rows of {label, values[]} (0..1 or null per time bucket) against xs (bucket starts, seconds).
 * uPlot lays out the time and row axes, the cursor and the legend; the cells are filled in its draw hook
 * from its own scales (valToPos), the extension point its heatmap demos use.
 */
function heatmap(container, xs, step, rows, { empty = "No utilisation samples yet." } = {}) {
  if (rows.length === 0 || rows.every((r) => r.values.every((v) => v === null))) { chartEmpty(container, empty); return; }
  const cold = css("--line"), hot = css("--accent"), busy = css("--warn");
  const color = (v) => (v < 0.8 ? mix(cold, hot, v / 0.8) : mix(hot, busy, (v - 0.8) / 0.2));
  const position = (r) => rows.length - 1 - r; // the first row at the top
  const options = {
    height: 40 + Math.max(3, rows.length) * 22,
    legend: { show: rows.length <= 16, live: true },
    scales: { x: { time: true, range: (u) => [u.data[0][0], u.data[0][u.data[0].length - 1] + step] }, row: { auto: false, range: [-0.5, rows.length - 0.5] } },
    axes: [
      axisStyle(),
      axisStyle({ scale: "row", splits: () => rows.map((_, r) => position(r)), values: (u, splits) => splits.map((p) => rows[rows.length - 1 - p]?.label ?? ""), grid: { show: false },
        size: Math.min(220, 14 + 7 * Math.max(...rows.map((r) => r.label.length))) }),
    ],
    series: [{}, ...rows.map((r) => ({ label: r.label, scale: "row", stroke: hot, paths: () => null, points: { show: false },
      value: (u, v) => (v === null || v === undefined ? "–" : `${fmt(v * 100, 0)}%`) }))],
    hooks: {
      draw: [(u) => {
        const { ctx } = u;
        ctx.save();
        ctx.beginPath();
        ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
        ctx.clip();
        // From u.data, not this closure's rows: setData replaces the values on every refresh.
        const [starts, ...values] = u.data;
        values.forEach((row, ri) => {
          const top = u.valToPos(position(ri) + 0.5, "row", true), bottom = u.valToPos(position(ri) - 0.5, "row", true);
          row.forEach((v, i) => {
            if (v === null) return;
            const left = u.valToPos(starts[i], "x", true), right = u.valToPos(starts[i] + step, "x", true);
            ctx.fillStyle = color(v);
            ctx.fillRect(left, top + 1, Math.max(1, right - left - 1), Math.max(1, bottom - top - 2));
          });
        });
        ctx.restore();
      }],
    },
  };
  plot(container, { labels: rows.map((r) => r.label), step }, options, [xs, ...rows.map((r) => r.values)], rows);
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
  // The heatmap's telemetry is asked for as soon as the nodes are known, alongside the other requests.
  const nodesRequest = api("/api/v1/nodes");
  const [nodes, jobs, usage, utilisation] = await Promise.all([
    nodesRequest, listJobs(), api("/api/v1/usage?by=project&since=30d"), nodesRequest.then(utilisationRows)]);
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

  const states = Object.keys(STATE_COLORS).filter((s) => byState[s]);
  // One series per state, each with a bar only in its own column, so every state keeps its colour and legend entry.
  categoryBars($("chart-states"), states, states.map((s, i) => ({ label: s, color: css(STATE_COLORS[s]), values: states.map((_, k) => (k === i ? byState[s] : null)) })),
    { format: (v) => fmt(v, 0), height: 200, name: "State", counts: true, empty: "No jobs yet." });
  const gpuNodes = nodes.filter((n) => n.allocatable.gpus > 0);
  categoryBars($("chart-gpus"), gpuNodes.map((n) => n.name), [
    { label: "allocatable", color: css("--idle"), values: gpuNodes.map((n) => n.allocatable.gpus) },
    { label: "allocated", color: css("--accent"), values: gpuNodes.map((n) => n.allocated.gpus) }],
  { format: (v) => fmt(v, 0), height: 200, name: "Node", counts: true, empty: "No nodes with GPUs." });
  categoryBars($("chart-usage"), usage.rows.map((r) => r.key), [{ label: "cost", color: css("--accent"), values: usage.rows.map((r) => Number(r.cost)) }],
    { format: (v) => money(v, usage.total.currency), horizontal: true, height: 120, name: "Project",
      empty: usage.rows.length ? "No cost in the last 30 days: the pools used have no price (docs/observability.md)." : "Nothing used in the last 30 days." });
  queueDepth($("chart-queue"), jobs);
  heatmap($("chart-heatmap"), utilisation.xs, HEATMAP_STEP_S, utilisation.rows,
    { empty: "No utilisation samples in the last hour (the server samples nodes every telemetryInterval)." });
  $("usage-table").tBodies[0].replaceChildren(...usage.rows.map((r) => el("tr", { "data-project": r.key },
    el("td", {}, r.key), el("td", { class: "num" }, fmt(r.gpuHours, 2)), el("td", { class: "num" }, fmt(r.cpuHours, 2)),
    el("td", { class: "num" }, fmt(r.memoryGbHours, 2)), el("td", { class: "num" }, r.jobs), el("td", { class: "num" }, money(r.cost, r.currency)))));
}

const QUEUE_WINDOW_MS = 6 * 3_600_000;

/**
 * Queued and running jobs over the last hours, from the jobs' own times: a job is queued from its submit
 * (or the end of a preempted attempt) to the start of its next attempt, and running during each attempt.
 * It covers the jobs listed (the newest 2,000), which is every job a laptop or a small cluster has.
 */
function queueDepth(container, jobs) {
  // The last 6 hours, or less when every job is younger (at least 10 minutes): a new cluster's first jobs are visible.
  const now = Date.now();
  const earliest = Math.min(now, ...jobs.map((j) => Date.parse(j.submittedAt)).filter((t) => t > now - QUEUE_WINDOW_MS));
  const from = Math.max(now - QUEUE_WINDOW_MS, Math.min(now - 600_000, earliest - (now - earliest) * 0.05));
  const changes = [];
  // end null: still going, so it has no change at the window's end.
  const span = (kind, start, end) => {
    if ((end ?? now) <= from || start >= (end ?? now)) return;
    changes.push([Math.max(start, from), kind, 1]);
    if (end !== null) changes.push([end, kind, -1]);
  };
  for (const job of jobs) {
    let queuedSince = Date.parse(job.submittedAt);
    for (const attempt of job.attempts) {
      const started = Date.parse(attempt.startedAt), ended = attempt.endedAt ? Date.parse(attempt.endedAt) : null;
      if (queuedSince !== null) span("queued", queuedSince, started);
      span("running", started, ended);
      queuedSince = attempt.endedAt && (job.state === "Pending" || job.state === "Preempted" || attempt !== job.attempts.at(-1)) ? ended : null;
    }
    if (queuedSince !== null) span("queued", queuedSince, job.endedAt ? Date.parse(job.endedAt) : null);
  }
  changes.sort((a, b) => a[0] - b[0]);
  const level = { queued: 0, running: 0 };
  const points = { queued: [{ t: from, v: 0 }], running: [{ t: from, v: 0 }] };
  for (const [t, kind, delta] of changes) {
    level[kind] += delta;
    const t0 = Math.min(now, t);
    for (const k of ["queued", "running"]) {
      const series = points[k];
      if (series.at(-1).t === t0) series.at(-1).v = level[k]; else series.push({ t: t0, v: level[k] });
    }
  }
  for (const k of ["queued", "running"]) points[k].push({ t: now, v: level[k] });
  timeLines(container, from, now, [
    { label: "queued", color: css("--warn"), points: points.queued },
    { label: "running", color: css("--ok"), points: points.running }], (v) => fmt(v, 0), { stepped: true, counts: true, empty: "No jobs in the last 6 hours." });
}

// Node telemetry changes slowly and costs a request per node: read it every 30 s, for at most 24 nodes.
const HEATMAP_MS = 30_000, HEATMAP_NODES = 24, HEATMAP_STEP_S = 60;
let heatmapCache = { at: 0, key: "", rows: null };

/** Each GPU's utilisation (gpuN_utilization) and each node's CPU utilisation over the last hour, a row each. */
async function utilisationRows(nodes) {
  const shown = nodes.filter((n) => n.state !== "Down").slice(0, HEATMAP_NODES);
  const key = shown.map((n) => n.name).join(",");
  if (heatmapCache.key !== key || Date.now() - heatmapCache.at > HEATMAP_MS || !heatmapCache.rows) {
    const reports = await Promise.all(shown.map((n) => api(`/api/v1/telemetry?node=${encodeURIComponent(n.name)}&since=1h&step=${HEATMAP_STEP_S}s`).catch(() => null)));
    // The API's buckets start at its window's start; the first answer's grid is the chart's (the others were asked within milliseconds of it).
    const since = Date.parse(reports.find((r) => r)?.since ?? new Date(Date.now() - 3_600_000).toISOString()) / 1000;
    const xs = Array.from({ length: 3600 / HEATMAP_STEP_S }, (_, i) => since + i * HEATMAP_STEP_S);
    const gpuRows = [], cpuRows = [];
    reports.forEach((report, k) => {
      for (const series of report?.series ?? []) {
        const gpu = /^gpu(\d+)_utilization$/.exec(series.metric);
        if (!gpu && series.metric !== "cpu_utilization") continue;
        const values = xs.map(() => null);
        for (const p of series.points) {
          const i = Math.round((Date.parse(p.at) / 1000 - since) / HEATMAP_STEP_S);
          if (i >= 0 && i < xs.length) values[i] = p.average;
        }
        (gpu ? gpuRows : cpuRows).push({ label: gpu ? `${shown[k].name} gpu${gpu[1]}` : `${shown[k].name} cpu`, values });
      }
    });
    gpuRows.sort((a, b) => a.label.localeCompare(b.label, undefined, { numeric: true }));
    heatmapCache = { at: Date.now(), key, rows: [...gpuRows, ...cpuRows], xs };
  }
  return heatmapCache;
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

const SUFFIXES = { m: 1e-3, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50 };

/** A quantity as quotas write it ("4", "500m", "64Gi"); null when absent or unreadable. */
function quantity(text) {
  const match = /^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]{0,2})$/.exec(String(text ?? "").trim());
  if (!match || (match[2] && !(match[2] in SUFFIXES))) return null;
  return Number(match[1]) * (match[2] ? SUFFIXES[match[2]] : 1);
}

async function renderProjects() {
  const [projects, nodes, fair] = await Promise.all([api("/api/v1/projects"), api("/api/v1/nodes"), api("/api/v1/fair-share")]);
  const fairBy = Object.fromEntries(fair.projects.map((f) => [f.project, f]));
  const ready = nodes.filter((n) => n.state === "Ready");
  const total = (field) => ready.reduce((s, n) => s + n.allocatable[field], 0);
  const cluster = { cpu: total("cpuMillis") / 1000, memory: total("memoryBytes"), gpus: total("gpus") };
  const against = (used, limit, unit = "") => (limit === null || limit === undefined
    ? el("span", {}, `${fmt(used)}${unit} `, el("span", { class: "muted" }, "(no quota)"))
    : meter(used, limit, unit));
  const rows = projects.map((p) => {
    const used = { cpu: (p.used?.cpuMillis ?? 0) / 1000, memory: p.used?.memoryBytes ?? 0, gpus: p.used?.gpus ?? 0 };
    const share = Math.max(...["cpu", "memory", "gpus"].map((k) => (cluster[k] > 0 ? used[k] / cluster[k] : 0)));
    return { p, used, share, quota: { cpu: quantity(p.quota?.cpu), memory: quantity(p.quota?.memory), gpus: p.quota?.gpus ?? null } };
  });
  categoryBars($("chart-projects"), rows.map((r) => r.p.name), [
    { label: "GPU quota", color: css("--idle"), values: rows.map((r) => r.quota.gpus) },
    { label: "GPUs used", color: css("--accent"), values: rows.map((r) => r.used.gpus) }],
  { format: (v) => fmt(v, 0), height: 200, name: "Project", counts: true, empty: "No project holds or is entitled to GPUs." });
  // Shares of the projects this caller sees; the entitlement is of all projects, as the scheduler counts it.
  const fairRows = rows.map((r) => fairBy[r.p.name]).filter(Boolean);
  $("fair-share-note").textContent = fair.at
    ? `(policy ${fair.policy}${fair.fairShare ? `, weight ${fmt(fair.weight)}` : ", not ordering by fair share"}; half-life ${fmt(fair.halfLifeHours / 24, 1)} days; pass at ${when(fair.at)})`
    : "(no scheduling pass yet)";
  categoryBars($("chart-fair-share"), fairRows.map((f) => f.project), [
    { label: "Entitlement %", color: css("--idle"), values: fairRows.map((f) => f.entitlement * 100) },
    { label: "Decayed usage share %", color: css("--accent"), values: fairRows.map((f) => f.usageShare * 100) }],
  { format: (v) => `${fmt(v, 0)}%`, height: 200, name: "Project", empty: "No decayed usage yet: no project has run GPU jobs within the half-life." });
  const fairCells = (name) => {
    const f = fairBy[name];
    if (!f) return [el("td", { class: "num muted" }, "–"), el("td", { class: "num muted" }, "–"), el("td", { class: "num muted" }, "–")];
    return [el("td", { class: "num" }, fmt(f.decayedGpuHours, 2)),
      el("td", { class: "num" }, `${fmt(f.usageShare * 100, 1)}% / ${fmt(f.entitlement * 100, 1)}%`),
      el("td", { class: "num" }, f.penalty === null || f.penalty === undefined ? el("span", { class: "muted" }, "off") : fmt(f.penalty, 2))];
  };
  $("projects-table").tBodies[0].replaceChildren(...rows.map(({ p, used, share, quota }) => el("tr", {
    "data-project": p.name, "data-share": share,
    "data-decayed-gpu-hours": fairBy[p.name]?.decayedGpuHours ?? "", "data-usage-share": fairBy[p.name]?.usageShare ?? "", "data-penalty": fairBy[p.name]?.penalty ?? "" },
    el("td", {}, p.name, p.description ? el("div", { class: "muted" }, p.description) : null),
    el("td", {}, against(used.gpus, quota.gpus)),
    el("td", {}, against(used.cpu, quota.cpu)),
    el("td", {}, against(used.memory / GIB, quota.memory === null ? null : quota.memory / GIB)),
    el("td", { class: "num" }, p.runningJobs ?? 0), el("td", { class: "num" }, p.queuedJobs ?? 0),
    el("td", {}, p.quota?.cohort ?? el("span", { class: "muted" }, "none")),
    el("td", { class: "num" }, `${fmt(share * 100, 1)}%`), ...fairCells(p.name))));
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

const DAY_MS = 86_400_000;
const utcDay = (ms) => new Date(ms).toISOString().slice(0, 10);

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
  const labels = days.map((d) => d.slice(5));
  categoryBars($("chart-daily-cost"), labels, order.map((p, i) => ({ label: p, color: color(i), values: split[p].cost })),
    { format: (v) => money(v, currency), stacked: true, legend: false, empty: "Nothing used in this window." });
  categoryBars($("chart-daily-gpu"), labels, order.map((p, i) => ({ label: p, color: color(i), values: split[p].gpu })),
    { format: (v) => fmt(v, 2), stacked: true, legend: false, empty: "Nothing used in this window." });
  $("chart-daily-cost").dataset.days = days.join(",");
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
  const requestedLine = (v) => ({ label: "requested", color: css("--muted"), dashed: true, constant: v });
  const noSamples = "No samples yet (the sampler runs every few seconds while the job runs).";
  const cpuRequested = usage.cpuCoresRequested ?? job.resources.cpuMillis / 1000;
  const memoryRequested = usage.memoryBytesRequested / GIB;
  timeLines($("chart-job-cpu"), from, until, [{ label: "used", color: css("--accent"), points: points("cpu_cores") }, requestedLine(cpuRequested)], (v) => fmt(v, 2), { empty: noSamples });
  timeLines($("chart-job-memory"), from, until, [{ label: "used", color: css("--ok"), points: points("memory_bytes", GIB) }, requestedLine(memoryRequested)], (v) => fmt(v, 2), { empty: noSamples });
  const gpus = usage.gpusRequested > 0;
  $("job-gpu-chart").hidden = !gpus;
  if (gpus) {
    timeLines($("chart-job-gpu"), from, until, [{ label: "utilisation", color: css("--accent"), points: points("gpu_utilization", 0.01) }],
      (v) => `${fmt(v, 0)}%`, { empty: noSamples });
  }

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
  // Two series so that options meeting the deadline and those missing it keep their own colour and legend entry.
  const byDeadline = (meets) => costs.map((c) => (c.meetsDeadline === meets ? c.totalUsd : null));
  categoryBars($("chart-plan-costs"), costs.map((c) => c.option), [
    { label: "meets deadline", color: css("--accent"), values: byDeadline(true) },
    { label: "misses deadline", color: css("--idle"), values: byDeadline(false) }], { format: (v) => money(v), horizontal: true, name: "Option" });
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
    else if (page === "projects") await renderProjects();
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
