// Picket's dashboard: the overview at /, one check at /checks/{id}. Plain
// JavaScript and SVG drawn here: no framework, no CDN, no build step.
//
// Every value from the API is set as text (textContent or an attribute),
// never as markup: check names, labels and failure messages come from
// configuration and from the targets probed.
//
// The page's query string: refresh=<seconds> (default 10), limit=<checks per
// page> (default 100), and on the overview q, label (repeatable) and state;
// on a check page range=1h|6h|24h|7d|30d|90d.
"use strict";

const params = new URLSearchParams(location.search);
const REFRESH_MS = intParam("refresh", 10, 1, 3600) * 1000;
const PAGE_SIZE = intParam("limit", 100, 1, 1000);
const RANGES = ["1h", "6h", "24h", "7d", "30d", "90d"];

function intParam(name, def, lo, hi) {
  const n = Number.parseInt(params.get(name) ?? "", 10);
  return Number.isFinite(n) && n >= lo && n <= hi ? n : def;
}

// el builds an element: attrs are attributes (class, href, data-*, …) or, for
// "text", its text; children are nodes or strings (as text).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) e.append(c);
  }
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  return e;
}

// APIError carries the HTTP status and the problem's detail.
class APIError extends Error {
  constructor(path, status, detail) {
    super(`${path}: ${status}${detail ? " — " + detail : ""}`);
    this.status = status;
  }
}

// The bearer token, when the API wants one (auth.tokens): kept for the
// browser tab's session, given once in the banner's form or as
// #token=… in the address (taken out of it at once).
const TOKEN_KEY = "picket-token";
function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (_) { return ""; }
}
function setToken(t) {
  try { sessionStorage.setItem(TOKEN_KEY, t); } catch (_) { /* storage off: this page only */ }
}
function tokenFromAddress() {
  const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (!m) return false;
  setToken(decodeURIComponent(m[1]));
  history.replaceState(null, "", location.pathname + location.search);
  return true;
}
tokenFromAddress();
window.addEventListener("hashchange", () => { if (tokenFromAddress()) location.reload(); });

async function api(path) {
  let r;
  const headers = { Accept: "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  try {
    r = await fetch(path, { headers });
  } catch (e) {
    throw new APIError(path, "unreachable", e.message);
  }
  if (!r.ok) {
    let detail = r.statusText;
    try {
      const p = await r.json();
      detail = p.detail || p.title || detail;
    } catch (_) { /* not a problem document */ }
    throw new APIError(path, r.status, detail);
  }
  return r.json();
}

// optional is api for an endpoint this server may not have yet: null on 404.
async function optional(path) {
  try {
    return await api(path);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

// ---- formatting (the browser test formats the API's numbers the same way)

function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(2) + " %"; }
function ms(v, runs) { return runs === 0 || v === null || v === undefined ? "—" : v.toFixed(1) + " ms"; }
function ago(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}
function since(at, t) { return ago((Date.parse(at) - Date.parse(t)) / 1000); }
function days(seconds) { return seconds % 86400 === 0 ? seconds / 86400 + " d" : seconds / 3600 + " h"; }
function pad(n) { return String(n).padStart(2, "0"); }
function clock(t) { const d = new Date(t); return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`; }
function stamp(t) {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(t)}`;
}
function className(c) { return (c || "").replace(/^FAILURE_CLASS_/, "").toLowerCase().replaceAll("_", " "); }
// availClass colours an availability: null (no run) grey, ≥ 99.9 % up, ≥ 95 % degraded, else down.
function availClass(v) {
  if (v === null || v === undefined) return "nodata";
  if (v >= 0.999) return "up";
  if (v >= 0.95) return "degraded";
  return "down";
}
function stateBadge(state) { return el("span", { class: "state " + state, text: state }); }
function labelChips(labels) {
  return Object.entries(labels || {}).sort().map(([k, v]) => el("span", { class: "label", text: `${k}:${v}` }));
}

// ---- the error banner: an API error is shown, and what is still on the
// page is greyed and said to be stale, never left looking current.

let lastGood = null;

function showError(err) {
  const b = document.getElementById("banner");
  b.hidden = false;
  b.replaceChildren(el("span", { text: "The API did not answer: " + err.message + ". " }),
    lastGood ? el("span", { class: "stale-note", text: `The figures below are from ${clock(lastGood)} and are stale.` })
      : el("span", { text: "Nothing could be shown." }));
  if (err.status === 401) b.append(tokenForm());
  document.getElementById("data")?.classList.add("stale-data");
  document.getElementById("updated").textContent = lastGood ? `stale since ${clock(lastGood)}` : "";
}

// tokenForm asks for the API's token (a 401): kept for this tab's session.
function tokenForm() {
  const f = el("form", { id: "token-form", class: "token-form" });
  const input = el("input", { type: "password", name: "token", placeholder: "API token", autocomplete: "off", "aria-label": "API token" });
  f.append(el("span", { text: token() ? "The token given was refused. " : "This API needs a token. " }), input,
    el("button", { type: "submit", text: "Use token" }));
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    if (input.value.trim()) {
      setToken(input.value.trim());
      location.reload();
    }
  });
  return f;
}

function clearError() {
  document.getElementById("banner").hidden = true;
  document.getElementById("data")?.classList.remove("stale-data");
  lastGood = Date.now();
  document.getElementById("updated").textContent = `updated ${clock(lastGood)} · every ${REFRESH_MS / 1000} s`;
}

// every runs load now and then REFRESH_MS after each run ends (never two at
// once); an error goes to the banner.
function every(load) {
  const run = async () => {
    try {
      await load();
      clearError();
    } catch (e) {
      console.error(e);
      showError(e);
    }
    setTimeout(run, REFRESH_MS);
  };
  run();
}

// reload is one load outside the refresh loop (a filter or page changed).
function reload(load) { load().then(clearError, e => { console.error(e); showError(e); }); }

// ---- the overview

const overview = {
  q: params.get("q") || "",
  labels: params.getAll("label").join(" "),
  state: params.get("state") || "",
  cursors: [""], // the cursor of each page seen, the first page's empty
  page: 0,
  generation: 0,
};

function overviewQuery(withCursor) {
  const q = new URLSearchParams();
  if (overview.q) q.set("q", overview.q);
  for (const l of overview.labels.split(/[\s,]+/).filter(Boolean)) q.append("label", l);
  if (overview.state) q.set("state", overview.state);
  if (withCursor) {
    q.set("limit", PAGE_SIZE);
    if (overview.cursors[overview.page]) q.set("cursor", overview.cursors[overview.page]);
  }
  return q;
}

function renderOverviewShell() {
  const main = document.getElementById("main");
  const search = el("input", { type: "search", id: "q", placeholder: "Search name or id", "aria-label": "Search" });
  search.value = overview.q;
  const labels = el("input", { id: "labels", class: "labels", placeholder: "Labels: team:payments tier:1", "aria-label": "Label filter" });
  labels.value = overview.labels;
  const state = el("select", { id: "state", "aria-label": "State" },
    ["", "down", "degraded", "stale", "up"].map(s => el("option", { value: s, text: s || "any state" })));
  state.value = overview.state;
  let debounce;
  const changed = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      overview.q = search.value.trim();
      overview.labels = labels.value.trim();
      overview.state = state.value;
      overview.cursors = [""];
      overview.page = 0;
      const q = overviewQuery(false);
      for (const k of ["refresh", "limit"]) if (params.has(k)) q.set(k, params.get(k));
      history.replaceState(null, "", q.toString() ? "?" + q : location.pathname);
      reload(refreshOverview);
    }, 250);
  };
  search.addEventListener("input", changed);
  labels.addEventListener("input", changed);
  state.addEventListener("change", changed);
  const prev = el("button", { id: "prev", type: "button", text: "← Previous" });
  const next = el("button", { id: "next", type: "button", text: "Next →" });
  prev.addEventListener("click", () => { if (overview.page > 0) { overview.page--; reload(refreshOverview); } });
  next.addEventListener("click", () => { if (overview.cursors[overview.page + 1]) { overview.page++; reload(refreshOverview); } });
  main.replaceChildren(
    el("section", { id: "open-alerts" }, el("h2", { text: "Open alerts" }), el("div", { id: "alert-list" })),
    el("h2", { text: "Checks" }),
    el("div", { class: "toolbar" }, search, labels, state),
    el("div", { id: "data" },
      el("table", { class: "checks", id: "checks" },
        el("thead", {}, el("tr", {},
          el("th", { text: "State" }), el("th", { text: "Check" }), el("th", { text: "Last 30 min" }),
          el("th", { class: "num", text: "10 m" }), el("th", { class: "num", text: "24 h" }), el("th", { class: "num", text: "30 d" }),
          el("th", { class: "num", text: "p95 24 h" }), el("th", { text: "Last checked" }), el("th", { text: "Last error" }))),
        el("tbody")),
      el("div", { class: "pager" }, prev, el("span", { id: "pageinfo", class: "muted" }), next)));
}

function renderOpenAlerts(alerts) {
  const box = document.getElementById("alert-list");
  const h = document.querySelector("#open-alerts h2");
  h.replaceChildren("Open alerts ", el("span", { class: "muted", text: `(${alerts.length})` }));
  if (alerts.length === 0) {
    box.replaceChildren(el("p", { class: "none", text: "No open alerts." }));
    return;
  }
  const shown = alerts.slice(0, 50);
  box.replaceChildren(el("ul", { class: "alerts" }, shown.map(a => el("li", { class: a.state, "data-check": a.check_id },
    stateBadge(a.state),
    el("a", { href: "/checks/" + encodeURIComponent(a.check_id), text: a.check_name || a.check_id }),
    el("span", { class: "muted", text: `rule ${a.rule} · since ${stamp(a.at)}` }),
    el("span", { text: a.summary || a.message }),
    a.failing_locations.length ? el("span", { class: "muted", text: `failing: ${a.failing_locations.join(", ")}` }) : null))));
  if (alerts.length > shown.length) box.append(el("p", { class: "muted", text: `and ${alerts.length - shown.length} more` }));
}

// minuteCells are the overview's bar: one cell per minute of the last 30 up
// to the API's now, coloured by that minute's runs (all ok, some failed, all
// failed, none).
function minuteCells(minutes, at) {
  const byT = new Map(minutes.map(m => [Date.parse(m.t), m]));
  const last = Math.floor(Date.parse(at) / 60000) * 60000;
  const cells = [];
  for (let i = 29; i >= 0; i--) {
    const t = last - i * 60000, m = byT.get(t);
    const cls = !m ? "nodata" : m.successes === m.runs ? "up" : m.successes === 0 ? "down" : "degraded";
    cells.push(el("i", { class: cls, title: `${clock(t)}: ${m ? `${m.successes} of ${m.runs} runs ok` : "no run"}` }));
  }
  return cells;
}

function overviewRow(c, at) {
  const windows = [["10 m", c.availability_10m], ["24 h", c.availability_24h], ["30 d", c.availability_30d]];
  const err = c.last_error;
  return el("tr", { "data-id": c.id },
    el("td", { class: "st" }, stateBadge(c.state)),
    el("td", { class: "name" }, el("a", { href: "/checks/" + encodeURIComponent(c.id), text: c.name || c.id }),
      c.name && c.name !== c.id ? el("div", { class: "muted small", text: c.id }) : null, el("div", {}, labelChips(c.labels))),
    el("td", { class: "bars" }, el("span", { class: "bar minutes" }, minuteCells(c.recent_minutes, at))),
    windows.map(([w, v]) => el("td", { class: "num avail " + availClass(v), "data-k": w, text: pct(v) })),
    el("td", { class: "num p95", "data-k": "p95", text: ms(c.p95_ms_24h, c.runs_24h) }),
    el("td", { class: "seen", "data-k": "checked", title: stamp(c.last_seen), text: since(at, c.last_seen) }),
    el("td", { class: "err", title: err ? stamp(err.scheduled_at) : "" },
      err ? [el("span", { class: "msg", text: err.failure_message || className(err.failure_class) }),
        el("span", { class: "muted small", text: ` · ${err.location} · ${since(at, err.scheduled_at)}` })] : ""));
}

let firstRows = false;

async function refreshOverview() {
  const gen = ++overview.generation;
  const [open, o] = await Promise.all([api("/api/v1/alerts/open"), api("/api/v1/overview?" + overviewQuery(true))]);
  if (gen !== overview.generation) return; // a newer load (a filter changed) owns the page
  renderOpenAlerts(open.alerts);
  const body = document.querySelector("#checks tbody");
  body.replaceChildren(...o.checks.map(c => overviewRow(c, o.at)));
  if (o.checks.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: 9, class: "muted", text: "No check matches." })));
  }
  overview.cursors[overview.page + 1] = o.next_cursor || "";
  const first = overview.page * PAGE_SIZE;
  document.getElementById("pageinfo").textContent = o.checks.length
    ? `checks ${first + 1}–${first + o.checks.length}${o.next_cursor ? "" : " (last page)"}` : "";
  document.getElementById("prev").disabled = overview.page === 0;
  document.getElementById("next").disabled = !o.next_cursor;
  if (!firstRows) {
    firstRows = true;
    performance.mark("picket-first-rows"); // read by the browser test
  }
}

// ---- charts: SVG drawn from series points

const W = 800, H = 220, ML = 56, MR = 12, MT = 10, MB = 24;

// chart draws series ({name, color, points: [[ms, value|null]]}) over
// [from, to) into an <svg>; stacked fills each series on top of the previous.
function chart({ from, to, series, yMin = 0, yMax, fmt, stacked = false, id }) {
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", id, role: "img" });
  let top = yMax;
  if (top === undefined) {
    top = 0;
    if (stacked) {
      for (let i = 0; i < (series[0]?.points.length || 0); i++) {
        top = Math.max(top, series.reduce((sum, se) => sum + (se.points[i][1] || 0), 0));
      }
    } else {
      for (const se of series) for (const [, v] of se.points) if (v !== null) top = Math.max(top, v);
    }
    top = top > 0 ? top * 1.1 : 1;
  }
  const x = t => ML + (t - from) / (to - from) * (W - ML - MR);
  const y = v => MT + (1 - (v - yMin) / (top - yMin)) * (H - MT - MB);
  for (let i = 0; i <= 4; i++) {
    const v = yMin + (top - yMin) * i / 4;
    s.append(svg("line", { class: "grid", x1: ML, x2: W - MR, y1: y(v), y2: y(v) }),
      svg("text", { x: ML - 6, y: y(v) + 4, "text-anchor": "end", text: fmt(v) }));
  }
  const long = to - from > 36 * 3600e3;
  for (let i = 0; i <= 4; i++) {
    const t = from + (to - from) * i / 4, d = new Date(t);
    s.append(svg("text", { x: x(t), y: H - 6, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle",
      text: long ? `${pad(d.getMonth() + 1)}-${pad(d.getDate())}` : `${pad(d.getHours())}:${pad(d.getMinutes())}` }));
  }
  s.append(svg("line", { class: "axis", x1: ML, x2: W - MR, y1: H - MB, y2: H - MB }));
  const base = new Array(series[0]?.points.length || 0).fill(0);
  for (const se of series) {
    let d = "", open = false, points = 0;
    if (stacked) { // an area from the previous series' top to this one's
      const lower = [], upper = [];
      se.points.forEach(([t, v], i) => {
        if (v === null) return;
        lower.push(`${x(t).toFixed(1)},${y(base[i]).toFixed(1)}`);
        base[i] += v;
        upper.push(`${x(t).toFixed(1)},${y(base[i]).toFixed(1)}`);
      });
      if (upper.length) d = "M" + upper.join("L") + "L" + lower.reverse().join("L") + "Z";
      points = upper.length;
      s.append(svg("path", { class: "series area", d, style: `fill:${se.color};fill-opacity:.8;stroke:none`, "data-name": se.name, "data-points": points }));
      continue;
    }
    for (const [t, v] of se.points) {
      if (v === null) { open = false; continue; }
      d += `${open ? "L" : "M"}${x(t).toFixed(1)},${y(Math.max(v, yMin)).toFixed(1)}`;
      open = true;
      points++;
    }
    const p = svg("path", { class: "series", d, stroke: se.color, "stroke-linecap": "round", "data-name": se.name, "data-points": points });
    p.append(svg("title", { text: se.name }));
    s.append(p);
  }
  return s;
}

function legend(series) {
  return el("p", { class: "legend" }, series.map(se => el("span", {}, el("i", { style: `background:${se.color}` }), se.name)));
}

function points(series, pick = p => p.value) {
  return series.points.map(p => [Date.parse(p.t), pick(p)]);
}

// hbars lists counts as horizontal bars, largest first.
function hbars(counts, label, bad) {
  const entries = Object.entries(counts || {}).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  if (entries.length === 0) return el("p", { class: "muted", text: "None in this range." });
  const most = entries[0][1];
  return el("div", { class: "hbar" }, entries.flatMap(([k, n]) => [
    el("span", { class: "key", title: k, text: label(k) }),
    el("div", { class: "track" }, el("div", { class: "fill" + (bad(k) ? " bad" : ""), style: `width:${(n / most * 100).toFixed(1)}%` })),
    el("span", { class: "num count", text: String(n) })]));
}

// ---- one check

const PHASES = [["dns", "DNS", "#8e6cc7"], ["connect", "connect", "#3a8fb7"], ["tls", "TLS", "#48a868"],
  ["processing", "processing", "#e0a030"], ["transfer", "transfer", "#d0604c"]];

function evidence(a) {
  const v = a.unit === "ratio" ? pct(a.value) : a.unit === "ms" ? ms(a.value) : `${a.value} ${a.unit}`;
  const t = a.unit === "ratio" ? pct(a.threshold) : a.unit === "ms" ? ms(a.threshold) : `${a.threshold} ${a.unit}`;
  const parts = [];
  if (a.kind) parts.push(`${a.kind}: ${v} against ${t}`);
  if (a.samples) parts.push(`${a.successes} of ${a.samples} runs succeeded`);
  if (a.locations) parts.push(`failing ${a.failing_locations.length} of ${a.locations} locations${a.failing_locations.length ? " (" + a.failing_locations.join(", ") + ")" : ""}, quorum ${a.quorum}`);
  if (a.first_result_id) parts.push(`results ${a.first_result_id} … ${a.last_result_id}`);
  if (a.silenced) parts.push(`silenced${a.silence ? " by " + a.silence : ""}`);
  if (a.historical) parts.push(`historical (found ${stamp(a.detected_at)}, never paged)`);
  return parts.join(" · ");
}


function renderCheckShell(id, range) {
  const main = document.getElementById("main");
  main.replaceChildren(
    el("p", {}, el("a", { href: "/", text: "← All checks" })),
    el("h1", { id: "title" }, id),
    el("p", { id: "subtitle", class: "muted" }),
    el("div", { class: "ranges toolbar" }, RANGES.map(r => {
      const b = el("button", { type: "button", class: r === range ? "on" : null, "data-range": r, text: r });
      b.addEventListener("click", () => {
        const q = new URLSearchParams(location.search);
        q.set("range", r);
        location.search = q.toString();
      });
      return b;
    })),
    el("div", { id: "data" },
      el("section", {}, el("h2", { text: "Locations" }), el("table", { class: "plain", id: "locations" })),
      el("section", {}, el("h2", { id: "recent-title", text: "Recent results" }), el("div", { class: "bar results", id: "recent" })),
      el("div", { class: "cards", id: "summary" }),
      el("div", { class: "grid2" },
        el("section", {}, el("h2", { text: "Availability" }), el("div", { id: "availability" })),
        el("section", {}, el("h2", { text: "Response time p50 · p95 · p99" }), el("div", { id: "latency" }))),
      el("div", { class: "grid2" },
        el("section", {}, el("h2", { text: "Where the time goes (average per phase)" }), el("div", { id: "phases" })),
        el("section", {}, el("h2", { text: "Status codes" }), el("div", { id: "codes" }),
          el("h2", { text: "Failure classes" }), el("div", { id: "classes" }))),
      // SLO budget and burn (GET /api/v1/checks/{id}/slos): shown when an
      // SLO covers the check.
      el("section", { id: "slos", hidden: true }, el("h2", { text: "SLOs: error budget and burn" }),
        el("div", { class: "scroll" }, el("table", { class: "plain", id: "slo-table" }))),
      el("section", {}, el("h2", { text: "Recent failures" }), el("table", { class: "plain", id: "failures" })),
      el("section", {}, el("h2", { text: "Alert history" }), el("table", { class: "plain", id: "alert-history" }))));
}

function table(id, head, rows, empty) {
  const t = document.getElementById(id);
  t.replaceChildren(el("thead", {}, el("tr", {}, head.map(h => el("th", { text: h })))),
    el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: head.length, class: "muted", text: empty }))));
}

async function refreshCheck(id, range) {
  const enc = encodeURIComponent(id), w = "window=" + range;
  const figure = f => api(`/api/v1/checks/${enc}/series?figure=${f}&${w}`);
  const [c, stats, avail, p50, p95, p99, avg, recent, failures, alerts, slos] = await Promise.all([
    api(`/api/v1/checks/${enc}`), api(`/api/v1/checks/${enc}/stats?${w}`),
    figure("availability"), figure("p50"), figure("p95"), figure("p99"), figure("avg_ms"),
    api(`/api/v1/checks/${enc}/results?${w}&limit=100`),
    api(`/api/v1/checks/${enc}/results?${w}&failures=true&limit=20`),
    api(`/api/v1/alerts?check_id=${enc}&${w}&limit=50`),
    optional(`/api/v1/checks/${enc}/slos`),
  ]);
  document.title = `${c.name || c.id} · Picket`;
  document.getElementById("title").replaceChildren(stateBadge(c.state), " ", c.name || c.id);
  document.getElementById("subtitle").replaceChildren(
    `${c.id} · ${c.type || "?"}${c.target ? ` · ${c.target}` : ""}${c.interval_seconds ? ` · every ${c.interval_seconds} s` : ""} · last result ${c.last_seen && Date.parse(c.last_seen) > 0 ? stamp(c.last_seen) : "none in 30 days"} `,
    ...labelChips(c.labels));
  table("locations", ["Location", "State", "Last result", "Status", "Time", "Last failure"], c.location_states.map(l =>
    el("tr", { "data-location": l.location }, el("td", { text: l.location }), el("td", {}, stateBadge(l.state)),
      el("td", { text: stamp(l.last_result.scheduled_at) }), el("td", { text: String(l.last_result.http_status || "—") }),
      el("td", { class: "num", text: ms(l.last_result.duration_ms) }),
      el("td", { class: "err", text: l.last_failure ? `${stamp(l.last_failure.scheduled_at)}: ${l.last_failure.failure_message || className(l.last_failure.failure_class)}` : "" }))),
  "No location reported in 30 days.");

  const runs = recent.results.slice().reverse();
  document.getElementById("recent-title").textContent = `Recent results (${runs.length === 100 ? "newest 100" : runs.length} in ${range}, oldest first)`;
  document.getElementById("recent").replaceChildren(...runs.map(r => el("i", {
    class: r.success ? "up" : r.failure_class === "FAILURE_CLASS_OVERLOAD" ? "skipped" : "down",
    title: `${stamp(r.scheduled_at)} ${r.location}: ${r.success ? "ok" : r.failure_message || className(r.failure_class)} (${r.http_status || "no response"}, ${ms(r.duration_ms)})`,
  })));

  const rt = stats.response_time_ms;
  document.getElementById("summary").replaceChildren(...[
    ["availability", pct(stats.samples ? stats.availability : null), `availability ${range}`],
    ["samples", String(stats.samples), "runs"], ["p50", ms(rt.p50, stats.samples), "p50"], ["p95", ms(rt.p95, stats.samples), "p95"],
    ["p99", ms(rt.p99, stats.samples), "p99"], ["avg", ms(rt.avg, stats.samples), "average"], ["skipped", String(stats.skipped), "skipped (prober overloaded)"],
  ].map(([k, v, label]) => el("div", { class: "card", "data-k": k }, el("b", { text: v }), el("span", { text: label }))));

  const from = Date.parse(avail.from), to = Date.parse(avail.to);
  const values = avail.points.map(p => p.value).filter(v => v !== null);
  const low = values.length ? Math.min(...values) : 1;
  const availSeries = [{ name: "availability", color: "#1f8a3a", points: points(avail) }];
  document.getElementById("availability").replaceChildren(
    chart({ id: "chart-availability", from, to, series: availSeries, yMin: Math.min(0.9, Math.floor(low * 10) / 10), yMax: 1, fmt: v => (v * 100).toFixed(v === 1 ? 0 : 1) + " %" }),
    el("p", { class: "legend", text: `step ${avail.step_seconds / 60} min` }));
  const lat = [{ name: "p50", color: "#3a78c2", points: points(p50) }, { name: "p95", color: "#e08a1e", points: points(p95) },
    { name: "p99", color: "#c62828", points: points(p99) }];
  document.getElementById("latency").replaceChildren(chart({ id: "chart-latency", from, to, series: lat, fmt: v => v.toFixed(0) + " ms" }), legend(lat));
  const ph = PHASES.map(([k, name, color]) => ({ name, color, points: points(avg, p => p.value === null ? null : p.phases_ms?.[k] ?? 0) }));
  document.getElementById("phases").replaceChildren(chart({ id: "chart-phases", from, to, series: ph, stacked: true, fmt: v => v.toFixed(0) + " ms" }), legend(ph));

  document.getElementById("codes").replaceChildren(hbars(stats.status_codes, k => k === "0" ? "no response" : k, k => !/^[23]/.test(k)));
  document.getElementById("classes").replaceChildren(hbars(stats.failure_classes, className, () => true));

  // SLOs covering the check: hidden when none does.
  const sloList = slos === null ? [] : slos.slos || [];
  document.getElementById("slos").hidden = sloList.length === 0;
  table("slo-table", ["SLO", "Objective", "Window", "Budgeting", "Achieved", "Budget left", "Burn 5m", "30m", "1h", "6h", "3d"],
    sloList.map(s => {
      const f = s.total, b = f.error_budget, br = f.burn_rates;
      const burn = v => el("td", { class: "num burn" + (v !== null && v >= 1 ? " hot" : ""), text: v === null ? "—" : v.toFixed(2) + "×" });
      return el("tr", { "data-slo": s.name }, el("td", { text: s.name }), el("td", { class: "num", text: (s.objective * 100).toFixed(2) + " %" }),
        el("td", { text: days(s.window_seconds) }), el("td", { text: s.budgeting }),
        el("td", { class: "num achieved", text: pct(f.achieved) }),
        el("td", { class: "num budget", text: b.remaining_fraction === null ? "—" :
          `${(b.remaining_fraction * 100).toFixed(1)} % (${b.remaining.toFixed(1)} of ${b.total.toFixed(1)} ${b.unit})` }),
        burn(br["5m"]), burn(br["30m"]), burn(br["1h"]), burn(br["6h"]), burn(br["3d"]));
    }), "No SLO covers this check.");

  table("failures", ["Time", "Location", "Class", "Status", "Failed at", "Message"], failures.results.map(r =>
    el("tr", { "data-result": r.result_id }, el("td", { text: stamp(r.scheduled_at) }), el("td", { text: r.location }),
      el("td", { class: "class", text: className(r.failure_class) }), el("td", { text: String(r.http_status || "—") }),
      el("td", { class: "failed-at", text: [r.failed_step && `step ${r.failed_step}`, r.failed_assertion].filter(Boolean).join(": ") }),
      el("td", { class: "err msg", text: r.failure_message }))), `No failure in ${range}.`);

  table("alert-history", ["Time", "Rule", "Transition", "What", "Evidence"], alerts.alerts.map(a =>
    el("tr", { "data-event": a.event_id }, el("td", { text: stamp(a.at) }), el("td", { text: a.rule }),
      el("td", {}, a.previous_state ? el("span", { class: "muted", text: a.previous_state + " → " }) : null, stateBadge(a.state)),
      el("td", { text: a.summary || a.message }),
      el("td", { class: "evidence" }, evidence(a), deliveries(a.event_id)))), `No alert transition in ${range}.`);
  probeDeliveries(alerts.alerts[0]?.event_id);
}

// Deliveries of an alert (GET /api/v1/alerts/{event_id}/deliveries, the
// notifier's delivery log): each alert gets a collapsed list that loads
// when opened; all of them stay hidden unless the endpoint answers 200.
function deliveries(eventID) {
  const d = el("details", { class: "deliveries", hidden: true }, el("summary", { text: "deliveries" }), el("div"));
  d.addEventListener("toggle", async () => {
    if (!d.open) return;
    const body = d.querySelector("div");
    try {
      const r = await optional(`/api/v1/alerts/${encodeURIComponent(eventID)}/deliveries`);
      const rows = r === null ? [] : Array.isArray(r) ? r : r.deliveries || [];
      body.replaceChildren(rows.length === 0 ? el("p", { class: "muted", text: "No delivery recorded." })
        : el("ul", {}, rows.map(x => el("li", { class: "delivery", "data-destination": x.destination,
          text: `${stamp(x.at)} ${x.destination} · attempt ${x.attempt} · ${x.status}` +
            `${x.latency_ms ? " in " + ms(x.latency_ms) : ""}${x.error ? " — " + x.error : ""}` }))));
    } catch (e) {
      body.replaceChildren(el("p", { class: "stale-note", text: e.message }));
    }
  });
  return d;
}

let deliveriesServed = null;

async function probeDeliveries(eventID) {
  if (!eventID) return;
  if (deliveriesServed === null) {
    try {
      deliveriesServed = (await optional(`/api/v1/alerts/${encodeURIComponent(eventID)}/deliveries`)) !== null;
    } catch (_) {
      return;
    }
  }
  for (const d of document.querySelectorAll("details.deliveries")) d.hidden = !deliveriesServed;
}

// ---- which page

const checkPath = location.pathname.match(/^\/checks\/([^/]+)\/?$/);
if (checkPath) {
  const id = decodeURIComponent(checkPath[1]);
  const range = RANGES.includes(params.get("range")) ? params.get("range") : "24h";
  renderCheckShell(id, range);
  every(() => refreshCheck(id, range));
} else {
  renderOverviewShell();
  every(refreshOverview);
}
