// PoundCake incident board: draws /ui/state.json with text nodes only (alert
// text never becomes markup) and refreshes itself every few seconds.
"use strict";

const REFRESH_MS = 5000;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function age(stamp, now) {
  if (!stamp) return "";
  const seconds = Math.max(0, Math.round((now - Date.parse(stamp)) / 1000));
  if (seconds < 120) return seconds + " s";
  if (seconds < 7200) return Math.round(seconds / 60) + " min";
  if (seconds < 172800) return Math.round(seconds / 3600) + " h";
  return Math.round(seconds / 86400) + " d";
}

function fill(table, rows, columns, empty) {
  const body = document.querySelector("#" + table + " tbody");
  body.replaceChildren();
  if (!rows.length) {
    const tr = el("tr");
    const td = el("td", empty, "empty");
    td.colSpan = columns;
    tr.appendChild(td);
    body.appendChild(tr);
    return;
  }
  rows.forEach((cells) => {
    const tr = el("tr");
    cells.forEach((cell) => tr.appendChild(cell instanceof Node ? cell : el("td", cell)));
    body.appendChild(tr);
  });
}

function remediationCell(r) {
  const td = el("td");
  if (!r) return td;
  td.appendChild(el("span", (r.workflow || "pending").replace(/^poundcake\./, "") + ": " + r.outcome));
  if (r.dry_run) td.appendChild(el("span", "dry run", "dry"));
  return td;
}

function executionCell(r) {
  const td = el("td");
  if (!r || !r.execution_id) return td;
  const url = r.execution_url || "";
  if (/^https?:\/\//.test(url)) {
    const a = el("a", r.execution_id);
    a.href = url;
    a.rel = "noreferrer";
    td.appendChild(a);
  } else {
    td.appendChild(el("span", r.execution_id));
  }
  return td;
}

function incidentRow(i, now) {
  const alert = el("td");
  alert.appendChild(el("div", i.alertname));
  const labels = Object.keys(i.labels || {}).sort()
    .filter((k) => k !== "alertname")
    .map((k) => k + "=" + i.labels[k]).join(" ");
  alert.appendChild(el("div", labels, "labels"));
  return [
    el("td", i.state, "state state-" + i.state),
    alert,
    i.severity,
    i.instance,
    age(i.created_at, now),
    remediationCell(i.remediation),
    executionCell(i.remediation),
    i.note,
  ];
}

function draw(state) {
  const now = Date.now();
  const counts = document.getElementById("counts");
  counts.replaceChildren();
  const c = state.counts || {};
  const add = (n, label) => {
    const box = el("div", null, "count");
    box.appendChild(el("b", n));
    box.appendChild(el("span", label));
    counts.appendChild(box);
  };
  add(c.total || 0, "incidents");
  Object.entries(c.by_status || {}).sort().forEach(([k, n]) => add(n, k));
  Object.entries(c.by_severity || {}).sort().forEach(([k, n]) => add(n, "severity " + k));
  fill("breakers", (state.breakers || []).map((b) => [
    b.alertname, b.opened_at, b.failures, "st2 run poundcake.reset_breaker alertname=" + b.alertname,
  ]), 4, "none open");
  fill("suppressions", (state.suppressions || []).map((s) => [
    s.suppression_id,
    (s.matchers || []).map((m) => m.name + " " + m.op + " " + (m.value || "")).join(", "),
    s.ends_at, s.author, s.reason,
  ]), 5, "none open");
  fill("incidents", (state.incidents || []).map((i) => incidentRow(i, now)), 8, "no incidents recorded");
  const status = document.getElementById("status");
  status.textContent = state.generated_at
    ? "records read " + age(state.generated_at, now) + " ago (" + state.generated_at + ")"
    : "waiting for the first read of the records";
  status.className = "";
}

async function refresh() {
  try {
    // from the origin: a page opened as http://user:pw@host/ui resolves a relative
    // URL with the credentials in it, which fetch() refuses
    const url = new URL("/ui/state.json", window.location.origin);
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    draw(await response.json());
  } catch (err) {
    const status = document.getElementById("status");
    status.textContent = "cannot refresh: " + err.message + " (showing the last data)";
    status.className = "stale";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  refresh();
  setInterval(refresh, REFRESH_MS);
});
