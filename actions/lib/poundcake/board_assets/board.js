// PoundCake incident board: draws /ui/state.json with text nodes only (alert
// text never becomes markup) and refreshes itself every few seconds. The
// filters live in the page's query string (?state=failed&alertname=X&host=Y),
// so a filtered board is a URL to share; the sensor checks and applies them.
"use strict";

const REFRESH_MS = 5000;
const FILTERS = ["state", "alertname", "host"];
const COLUMNS = 9;
const GROUP_TITLES = {
  "must act": "PoundCake must act, or is acting",
  acted: "PoundCake acted",
  noted: "Noted only: recorded, suppressed, or resolved with no remediation",
};
const opened = new Set(); // tracking ids of expanded rows, kept across refreshes
let last = null;
let asked = 0; // the newest refresh; an older answer is not drawn over it
let optionsFilled = false;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function number(n) {
  return Number(n || 0).toLocaleString("en-US");
}

function age(stamp, now) {
  if (!stamp) return "";
  const seconds = Math.max(0, Math.round((now - Date.parse(stamp)) / 1000));
  if (seconds < 120) return seconds + " s";
  if (seconds < 7200) return Math.round(seconds / 60) + " min";
  if (seconds < 172800) return Math.round(seconds / 3600) + " h";
  return Math.round(seconds / 86400) + " d";
}

function link(url, text) {
  if (!/^https?:\/\//.test(url || "")) return el("span", text);
  const a = el("a", text);
  a.href = url;
  a.rel = "noreferrer";
  return a;
}

function cell(value) {
  if (!(value instanceof Node)) return el("td", value);
  if (value.tagName === "TD") return value;
  const td = el("td");
  td.appendChild(value);
  return td;
}

function rowsInto(body, rows, columns, empty) {
  body.replaceChildren();
  if (!rows.length) {
    const td = el("td", empty, "empty");
    td.colSpan = columns;
    body.appendChild(el("tr")).appendChild(td);
    return;
  }
  rows.forEach((cells) => {
    const tr = el("tr");
    cells.forEach((value) => tr.appendChild(cell(value)));
    body.appendChild(tr);
  });
}

function fill(table, rows, columns, empty) {
  rowsInto(document.querySelector("#" + table + " tbody"), rows, columns, empty);
}

function table(headers, rows, empty) {
  const t = el("table", null, "steps");
  const head = t.appendChild(el("thead")).appendChild(el("tr"));
  headers.forEach((h) => head.appendChild(el("th", h)));
  rowsInto(t.appendChild(el("tbody")), rows, headers.length, empty);
  return t;
}

function facts(pairs) {
  const dl = el("dl", null, "facts");
  pairs.forEach(([name, value]) => {
    if (value === undefined || value === null || value === "") return;
    dl.appendChild(el("dt", name));
    const dd = el("dd");
    dd.appendChild(value instanceof Node ? value : el("span", value));
    dl.appendChild(dd);
  });
  return dl;
}

// --- filters -------------------------------------------------------------

function urlFilters() {
  const params = new URLSearchParams(window.location.search);
  const found = {};
  FILTERS.forEach((k) => {
    if (params.get(k)) found[k] = params.get(k);
  });
  return found;
}

function showFilters() {
  const found = urlFilters();
  FILTERS.forEach((k) => {
    document.getElementById("f-" + k).value = found[k] || "";
  });
}

function go(found) {
  const params = new URLSearchParams();
  FILTERS.forEach((k) => {
    if (found[k]) params.set(k, found[k]);
  });
  const query = params.toString();
  history.pushState(null, "", query ? "?" + query : window.location.pathname);
  showFilters();
  refresh();
}

function applyFilters() {
  const found = {};
  FILTERS.forEach((k) => {
    found[k] = document.getElementById("f-" + k).value.trim();
  });
  go(found);
}

function fillOptions(state) {
  const names = document.getElementById("alertnames");
  names.replaceChildren();
  (state.alertnames || []).forEach((name) => {
    const option = el("option");
    option.value = name;
    names.appendChild(option);
  });
  if (optionsFilled) return;
  const select = document.getElementById("f-state");
  (state.states || []).forEach((s) => select.appendChild(el("option", s)));
  optionsFilled = true;
  showFilters();
}

// --- incidents -----------------------------------------------------------

function remediationCell(r) {
  const td = el("td");
  if (!r) return td;
  td.appendChild(el("span", (r.workflow || "pending").replace(/^poundcake\./, "") + ": " + r.outcome));
  if (r.dry_run) td.appendChild(el("span", "dry run", "dry"));
  return td;
}

function toggleCell(i) {
  const open = opened.has(i.tracking_id);
  const button = el("button", open ? "▾" : "▸", "toggle");
  button.type = "button";
  button.title = "history and steps";
  button.setAttribute("aria-expanded", String(open));
  button.addEventListener("click", () => {
    if (open) opened.delete(i.tracking_id);
    else opened.add(i.tracking_id);
    drawIncidents(last);
  });
  return button;
}

function incidentCells(i, now) {
  const alert = el("td");
  alert.appendChild(el("div", i.alertname));
  const labels = Object.keys(i.labels || {}).sort()
    .filter((k) => k !== "alertname")
    .map((k) => k + "=" + i.labels[k]).join(" ");
  alert.appendChild(el("div", labels, "labels"));
  const r = i.remediation;
  return [
    toggleCell(i),
    el("td", i.state, "state state-" + i.state),
    alert,
    i.severity,
    i.instance,
    age(i.created_at, now),
    remediationCell(r),
    r && r.execution_id ? link(r.execution_url, r.execution_id) : "",
    i.reason,
  ];
}

function answer(a) {
  if (!a.answered_at) return "";
  return (a.approved ? "approved" : "not approved") + (a.comment ? ": " + a.comment : "") + " (" + a.answered_at + ")";
}

function detailCell(i) {
  const td = el("td");
  td.colSpan = COLUMNS;
  td.appendChild(facts([
    ["why", i.reason],
    ["tracking id", i.tracking_id],
    ["every firing", i.fingerprint ? "st2 run poundcake.get_alert fingerprint=" + i.fingerprint : ""],
  ]));
  td.appendChild(el("h3", "History"));
  td.appendChild(table(["time", "state", "note"], (i.history || []).map((h) => [h.at, h.state, h.note]), "no history"));
  const r = i.remediation;
  if (r) {
    td.appendChild(el("h3", "Remediation"));
    td.appendChild(facts([
      ["workflow", r.workflow],
      ["outcome", r.outcome + (r.dry_run ? " (dry run: nothing changed)" : "")],
      ["finding", r.detail],
      ["failure", r.failure],
      ["escalated", r.escalated === true ? "yes" : r.escalated === false ? "no: no one was told" : ""],
    ]));
  }
  td.appendChild(el("h3", "Steps (st2 executions)"));
  td.appendChild(table(
    ["execution", "workflow", "status", "started", "finished"],
    (i.executions || []).map((e) => [link(e.url, e.id), e.workflow, e.status, e.started_at, e.finished_at]),
    "none: nothing was run",
  ));
  const a = i.approval;
  if (a) {
    td.appendChild(el("h3", "Approval"));
    td.appendChild(facts([
      ["why asked", a.why],
      ["asked", a.asked_at],
      ["inquiry", a.inquiry_id ? link(a.inquiry_url, a.inquiry_id) : ""],
      ["expires", a.expires_at],
      ["answer", answer(a)],
      ["approve with", a.approve],
      ["deny with", a.deny],
    ]));
  }
  return td;
}

function drawIncidents(state) {
  const body = document.querySelector("#incidents tbody");
  const incidents = (state && state.incidents) || [];
  const filtered = state && Object.keys(state.filters || {}).length;
  if (!incidents.length) {
    rowsInto(body, [], COLUMNS, filtered ? "no incidents match these filters" : "no incidents recorded");
    return;
  }
  body.replaceChildren();
  const now = Date.now();
  let group = null;
  incidents.forEach((i) => {
    if (i.group !== group) {
      group = i.group;
      const th = el("th", GROUP_TITLES[group] || group);
      th.colSpan = COLUMNS;
      body.appendChild(el("tr", null, "group")).appendChild(th);
    }
    const tr = el("tr", null, "incident group-" + String(group).replace(/\W+/g, "-"));
    tr.dataset.trackingId = i.tracking_id;
    incidentCells(i, now).forEach((value) => tr.appendChild(cell(value)));
    body.appendChild(tr);
    if (opened.has(i.tracking_id)) {
      const detail = el("tr", null, "detail");
      detail.dataset.detailOf = i.tracking_id;
      detail.appendChild(detailCell(i));
      body.appendChild(detail);
    }
  });
}

// --- the page ------------------------------------------------------------

function countBox(n, label, state) {
  const box = el(state ? "a" : "div", null, "count");
  box.appendChild(el("b", number(n)));
  box.appendChild(el("span", label));
  if (state) {
    box.href = "/ui?" + new URLSearchParams({ state: state }).toString();
    box.addEventListener("click", (event) => {
      event.preventDefault();
      go({ state: state });
    });
  }
  return box;
}

function drawCounts(state) {
  const c = state.counts || {};
  const groups = document.getElementById("groups");
  groups.replaceChildren(countBox(c.total, "incidents"));
  Object.keys(GROUP_TITLES).forEach((g) => groups.appendChild(countBox((c.by_group || {})[g], g)));
  const counts = document.getElementById("counts");
  counts.replaceChildren();
  const byStatus = c.by_status || {};
  (state.states || []).filter((s) => byStatus[s]).forEach((s) => counts.appendChild(countBox(byStatus[s], s, s)));
  Object.entries(c.by_severity || {}).sort().forEach(([k, n]) => counts.appendChild(countBox(n, "severity " + k)));
  document.getElementById("counts-note").textContent = state.counts_note || "";
}

function drawMatched(state) {
  const shown = (state.incidents || []).length;
  const filters = Object.entries(state.filters || {}).map(([k, v]) => k + "=" + v).join(", ");
  const n = state.matched;
  let text = number(n) + (n === 1 ? " incident" : " incidents") + (filters ? (n === 1 ? " matches " : " match ") + filters : "");
  if (shown < state.matched) text += "; showing the first " + number(shown);
  document.getElementById("matched").textContent = text + ", most urgent first.";
}

function draw(state) {
  const now = Date.now();
  last = state;
  fillOptions(state);
  drawCounts(state);
  fill("breakers", (state.breakers || []).map((b) => [
    b.alertname, b.state || "open", b.opened_at, b.failures,
    b.trial ? "trial " + b.trial + " running" : (b.half_opens_at || "at reset only"),
    "st2 run poundcake.reset_breaker alertname=" + b.alertname,
  ]), 6, "none open");
  fill("suppressions", (state.suppressions || []).map((s) => [
    s.suppression_id,
    (s.matchers || []).map((m) => m.name + " " + m.op + " " + (m.value || "")).join(", "),
    s.ends_at, s.author, s.reason,
  ]), 5, "none open");
  drawMatched(state);
  drawIncidents(state);
  const status = document.getElementById("status");
  status.textContent = state.generated_at
    ? "records read " + age(state.generated_at, now) + " ago (" + state.generated_at + ")"
    : "waiting for the first read of the records";
  status.className = "";
}

function refused(message) {
  const status = document.getElementById("status");
  status.textContent = "bad filter: " + message;
  status.className = "stale";
  document.getElementById("matched").textContent = "";
  rowsInto(document.querySelector("#incidents tbody"), [], COLUMNS, "fix or clear the filters");
}

async function refresh() {
  const mine = ++asked;
  try {
    // from the origin: a page opened as http://user:pw@host/ui resolves a relative
    // URL with the credentials in it, which fetch() refuses
    const url = new URL("/ui/state.json", window.location.origin);
    url.search = window.location.search;
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    const body = await response.json().catch(() => ({}));
    if (mine !== asked) return;
    if (response.status === 400) return refused(body.error || "HTTP 400");
    if (!response.ok) throw new Error("HTTP " + response.status);
    draw(body);
  } catch (err) {
    if (mine !== asked) return;
    const status = document.getElementById("status");
    status.textContent = "cannot refresh: " + err.message + " (showing the last data)";
    status.className = "stale";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  showFilters();
  document.getElementById("f-apply").addEventListener("click", applyFilters);
  document.getElementById("f-state").addEventListener("change", applyFilters);
  ["f-alertname", "f-host"].forEach((id) => document.getElementById(id).addEventListener("keydown", (event) => {
    if (event.key === "Enter") applyFilters();
  }));
  document.getElementById("f-clear").addEventListener("click", (event) => {
    event.preventDefault();
    go({});
  });
  window.addEventListener("popstate", () => {
    showFilters();
    refresh();
  });
  refresh();
  setInterval(refresh, REFRESH_MS);
});
