/**
 * The dashboard's script (dashboard.ts): plain browser JavaScript in a string, inline in the page and
 * allowed by its hash. Every value from the API goes in as text (textContent), never as HTML.
 */
export const SCRIPT = `
"use strict";
const KEY = "syncd.token";
const $ = (id) => document.getElementById(id);
let token = localStorage.getItem(KEY) || "";
const fromHash = /(?:^#|&)token=([^&]+)/.exec(location.hash);
if (fromHash) {
  token = decodeURIComponent(fromHash[1]);
  localStorage.setItem(KEY, token);
  history.replaceState(null, "", location.pathname + location.search);
}
let events = null;
let running = false;
let instanceNames = new Map();
let libraryView = "recent";
let searchTimer = null;
// The run in flight, as the transfer box shows it: each transfer phase's latest figures.
let run = null;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function plural(n, one, many) { return n + " " + (n === 1 ? one : (many || one + "s")); }
function bytes(n) {
  if (!(n >= 0)) return "?";
  if (n < 1024) return n + " B";
  const u = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return v.toFixed(v < 10 ? 1 : 0) + " " + u[i];
}
function duration(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}
function clock(iso) { return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }
function ago(iso) {
  if (!iso) return "never";
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (s < 45) return "just now";
  if (s < 3600) return plural(Math.round(s / 60), "minute") + " ago";
  if (s < 86400) return plural(Math.round(s / 3600), "hour") + " ago";
  return new Date(iso).toLocaleString();
}
function setText(id, text, cls) { const e = $(id); e.textContent = text; if (cls !== undefined) e.className = cls; }

async function api(path, init) {
  init = init || {};
  const headers = Object.assign({}, init.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, Object.assign({}, init, { headers }));
  if (res.status === 401) { askToken(); throw new Error("The daemon needs its token."); }
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body && body.error ? body.error.message : "The daemon answered " + res.status + ".");
  return body;
}

function askToken() {
  $("auth").classList.remove("hidden");
  if (events) { events.close(); events = null; }
}
$("auth-form").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value.trim();
  localStorage.setItem(KEY, token);
  $("auth").classList.add("hidden");
  start();
});

// ---- the state at a glance --------------------------------------------------------------------------
const BUSY = { "lock-busy": 1, "local-lock-busy": 1 };
function overall(s, d) {
  if (d.running) return ["busy", "Syncing…"];
  const err = d.lastError || (!d.lastRun && s.lastError ? { code: "", message: s.lastError } : null);
  if (err && BUSY[err.code]) return ["wait", "Another machine is syncing; will retry" + (d.nextRunAt ? " at " + clock(d.nextRunAt) : "") + "."];
  if (err) return ["bad", "Needs attention: the last sync failed.", err.message];
  if (s.conflicts > 0) return ["bad", "Needs attention: " + plural(s.conflicts, "conflict") + " to resolve below."];
  if (s.syncNeeded === null) return ["bad", "Needs attention: the share cannot be reached right now."];
  if (s.localVersion === null) return ["wait", "Not synced yet."];
  if (s.unsynced > 0 || s.syncNeeded) return ["wait", "Changes waiting to sync."];
  return ["ok", "In sync"];
}
async function refreshStatus() {
  let s;
  try { s = await api("/api/v1/sync/status"); } catch (e) { setText("status-error", e.message); return; }
  setText("status-error", "");
  const d = s.daemon;
  // The stream's end of a run may have been missed (a reconnect): the daemon's word settles it.
  if (!d.running && run) endRun("", "");
  if (d.instance) setText("instance", d.instance.name);
  const [cls, text, reason] = overall(s, d);
  if (!(d.running && run)) {
    setText("state", text, cls);
    setText("state-reason", reason || "", "err"); // in full: it is what the user needs to act on
  }
  const parts = [];
  if (d.entries) parts.push(d.entries.live.toLocaleString() + (d.entries.live === 1 ? " entry" : " entries"));
  parts.push(s.lastSyncAt ? "last synced " + ago(s.lastSyncAt) : "never synced");
  if (s.unsynced > 0) parts.push(plural(s.unsynced, "change") + " here waiting to sync");
  if (!d.running && d.nextRunAt) parts.push("next check at " + clock(d.nextRunAt));
  setText("state-detail", parts.join(" · ") + ".");
  setRunning(d.running);
  renderRuns(d.recentRuns);
}

// ---- live transfer ----------------------------------------------------------------------------------
const PHASES = {
  check: "Checking for changes", lock: "Waiting for the share's lock", metadata: "Reading the share's catalogue",
  plan: "Working out what changed", upload: "Uploading", download: "Downloading", publish: "Publishing the changes",
  apply: "Applying the changes here",
};
function setRunning(on) {
  running = on;
  $("sync-now").disabled = on;
}
function startRun() {
  run = { phase: "check", transfers: {} };
  setRunning(true);
  setText("state", "Syncing…", "busy");
  setText("state-reason", "");
  setText("state-detail", PHASES.check + "…");
}
function showProgress(p) {
  if (!run) startRun();
  run.phase = p.phase;
  setText("state", "Syncing…", "busy");
  let detail = (PHASES[p.phase] || p.phase) + "…";
  if (p.phase === "upload") detail = "Sending this machine's changes to the share.";
  if (p.phase === "download") detail = "Fetching the other machines' changes.";
  if (p.phase === "lock" && p.lock) {
    const h = p.lock.holder;
    detail = "Waiting for " + (h ? h.instance + " (" + h.host + ")" : "another machine") + " to finish syncing; giving up in " + duration(p.lock.leftSeconds) + ".";
  }
  setText("state-detail", detail);
  if (p.phase !== "upload" && p.phase !== "download") return; // the bar keeps what it showed
  run.transfers[p.phase] = p;
  if (p.total === 0 && p.bytesTotal === 0) return;
  // The bar covers every transfer of this run, so it never falls back to 0 when a phase begins.
  let done = 0, total = 0, files = 0, filesTotal = 0;
  for (const t of Object.values(run.transfers)) { done += t.bytesDone; total += t.bytesTotal; files += t.done; filesTotal += t.total; }
  const frac = total > 0 ? done / total : filesTotal > 0 ? files / filesTotal : 0;
  $("transfer").classList.remove("hidden");
  $("bar").value = Math.round(Math.min(1, Math.max(0, frac)) * 1000);
  const verb = p.phase === "upload" ? "Uploading" : "Downloading";
  const parts = [verb + " " + plural(p.total, "file") + ": " + p.done + " done", bytes(p.bytesDone) + " of " + bytes(p.bytesTotal)];
  if (typeof p.bytesPerSecond === "number") parts.push(bytes(p.bytesPerSecond) + "/s");
  if (typeof p.etaSeconds === "number") parts.push("about " + duration(p.etaSeconds) + " left");
  setText("transfer-text", parts.join(" · "));
  setText("transfer-current", p.current ? p.current : "");
}
function endRun(text, cls) {
  run = null;
  $("transfer").classList.add("hidden");
  $("bar").value = 0;
  setText("transfer-text", "");
  setText("transfer-current", "");
  setRunning(false);
  setText("result", text, cls);
}
function describe(s) {
  if (s.skipped) return "nothing to do";
  const parts = [];
  if (s.uploaded) parts.push(s.uploaded + " uploaded");
  if (s.downloaded) parts.push(s.downloaded + " downloaded");
  if (s.deletedLocal + s.deletedRemote) parts.push((s.deletedLocal + s.deletedRemote) + " deleted");
  if (s.metadataPushed + s.metadataPulled) parts.push(plural(s.metadataPushed + s.metadataPulled, "name or tag change"));
  if (s.conflicts) parts.push(plural(s.conflicts, "conflict"));
  if (parts.length === 0) return "nothing to do";
  if (s.bytesUp || s.bytesDown) parts.push(bytes(s.bytesUp + s.bytesDown) + " moved");
  return parts.join(", ");
}
$("sync-now").addEventListener("click", async () => {
  if (!run) startRun();
  try {
    await api("/api/v1/sync", { method: "POST", body: "{}" });
  } catch (e) {
    // The event stream reports the failure too; this covers a page whose stream is down.
    if (run) endRun("", "");
    setText("status-error", e.message);
  }
  refreshAll();
});

// ---- run history: idle checks folded together ------------------------------------------------------
const TRIGGERS = { startup: "at start", interval: "scheduled", write: "after a change", manual: "Sync now", retry: "retry" };
function idle(r) { return r.ok && r.summary && describe(r.summary) === "nothing to do"; }
function renderRuns(runs) {
  const list = $("runs");
  list.replaceChildren();
  for (let i = 0; i < runs.length; ) {
    const r = runs[i];
    let j = i + 1;
    if (idle(r)) while (j < runs.length && idle(runs[j])) j++;
    const li = el("li");
    if (j - i > 1) {
      const oldest = runs[j - 1];
      li.append(el("span", plural(j - i, "check") + ", nothing to do, " + clock(oldest.startedAt) + "–" + clock(r.finishedAt)));
      li.dataset.folded = String(j - i);
    } else if (r.ok) {
      li.append(el("span", clock(r.finishedAt) + " · " + describe(r.summary) + " (" + (TRIGGERS[r.trigger] || r.trigger) + ", " + duration(r.durationMs / 1000) + ")"));
    } else if (BUSY[r.error.code]) {
      li.append(el("span", clock(r.finishedAt) + " · another machine was syncing; retried later.", "muted"));
    } else {
      const msg = r.error.message;
      const span = el("span", clock(r.finishedAt) + " · failed: " + msg, "err clamp");
      span.title = "Click to see all of it";
      span.addEventListener("click", () => span.classList.toggle("clamp"));
      li.append(span);
    }
    list.append(li);
    i = j;
  }
  if (runs.length === 0) list.append(el("li", "No runs yet.", "muted"));
}

// ---- conflicts: both sides' differing values -------------------------------------------------------
function show(v) {
  if (v === undefined) return "(not set)";
  const t = typeof v === "string" ? v : JSON.stringify(v);
  return t.length > 300 ? t.slice(0, 300) + "…" : t;
}
function sideName(origin) { return instanceNames.get(origin) || null; }
function conflictRows(c) {
  const l = c.local, r = c.remote, rows = [];
  const differs = new Set(c.fields);
  rows.push(["Name", l.name, r.name, l.name !== r.name || differs.has("name")]);
  if (l.deleted || r.deleted) rows.push(["State", l.deleted ? "deleted" : "kept", r.deleted ? "deleted" : "kept", l.deleted !== r.deleted]);
  rows.push(["Size", bytes(l.size), bytes(r.size), l.hash !== r.hash]);
  if (l.hash !== r.hash) rows.push(["Content", "this machine's version", "the share's version", true]);
  const keys = new Set(Object.keys(l.meta || {}).concat(Object.keys(r.meta || {})));
  for (const k of Array.from(keys).sort()) {
    const a = (l.meta || {})[k], b = (r.meta || {})[k];
    const diff = JSON.stringify(a) !== JSON.stringify(b);
    if (diff || differs.has("meta." + k)) rows.push([k, show(a), show(b), true]);
  }
  return rows;
}
const KINDS = {
  content: "Both machines changed the content.", name: "Both machines renamed it.", meta: "Both machines changed its details.",
  "edit-delete": "One machine deleted it while the other changed it.",
};
async function refreshConflicts() {
  let list;
  try { list = await api("/api/v1/sync/conflicts"); } catch (e) { setText("conflicts-error", e.message); return; }
  setText("conflicts-error", "");
  setText("conflicts-count", list.length ? "(" + list.length + ")" : "");
  const box = $("conflicts");
  box.replaceChildren();
  for (const c of list) {
    const card = el("div", null, "conflict");
    card.dataset.conflict = c.id;
    card.append(el("h3", c.local.name === c.remote.name ? c.local.name : c.local.name + " / " + c.remote.name));
    card.append(el("p", KINDS[c.kind] || "The two machines disagree.", "muted small"));
    const table = el("table");
    const head = el("tr");
    const other = sideName(c.remote.origin);
    head.append(el("th", ""), el("th", "This machine"), el("th", other ? "The share (from " + other + ")" : "The share"));
    table.append(el("thead"));
    table.firstChild.append(head);
    const body = el("tbody");
    for (const [field, a, b, diff] of conflictRows(c)) {
      const tr = el("tr", null, diff ? "differs" : "");
      tr.dataset.field = field;
      tr.append(el("th", field), el("td", a, "local"), el("td", b, "remote"));
      body.append(tr);
    }
    table.append(body);
    card.append(table);
    const actions = el("div", null, "row");
    actions.append(el("span", "Keep:", "muted"));
    for (const [strategy, label] of [["local_wins", "This machine's"], ["remote_wins", "The share's"], ["keep_both", "Both (as two entries)"]]) {
      const b = el("button", label);
      b.dataset.strategy = strategy;
      b.addEventListener("click", () => resolve(c.id, strategy, card));
      actions.append(b);
    }
    card.append(actions);
    box.append(card);
  }
  if (list.length === 0) box.append(el("p", "No conflicts.", "muted"));
}
async function resolve(id, strategy, card) {
  for (const b of card.querySelectorAll("button")) b.disabled = true;
  try {
    await api("/api/v1/sync/resolve-conflict", { method: "POST", body: JSON.stringify({ id, strategy }) });
    setText("conflicts-error", "");
  } catch (e) {
    setText("conflicts-error", e.message);
  }
  await Promise.all([refreshConflicts(), refreshStatus(), refreshLibrary()]);
}

// ---- the library ------------------------------------------------------------------------------------
const PAGE = 20;
const VIEWS = { recent: "order=recent", name: "order=name", deleted: "deleted=only&order=recent" };
async function refreshLibrary() {
  const q = $("search").value.trim();
  // A search lists what it finds by name: the daemon then reads only the name index (quick on a big library).
  const view = q ? (libraryView === "deleted" ? "deleted=only&order=name" : "order=name") : VIEWS[libraryView];
  const path = "/api/v1/files?limit=" + PAGE + "&" + view + (q ? "&q=" + encodeURIComponent(q) : "");
  let list;
  try { list = await api(path); } catch (e) { setText("library-error", e.message); return; }
  setText("library-error", "");
  for (const b of document.querySelectorAll("#views button")) b.classList.toggle("on", b.dataset.view === libraryView);
  const tbody = $("entries");
  tbody.replaceChildren();
  for (const f of list) {
    const tr = el("tr");
    tr.dataset.entry = f.id;
    const state = f.deleted ? "deleted" : f.syncStatus === "pending" ? "waiting to sync" : f.syncStatus === "conflict" ? "in conflict" : "synced";
    const action = el("td");
    if (f.deleted) {
      const b = el("button", "Restore");
      b.addEventListener("click", () => restore(f, b));
      action.append(b);
    } else action.append(el("span", state, "muted small"));
    tr.append(el("td", f.name, "name"), el("td", bytes(f.size)), el("td", ago(f.updatedAt), "muted small"), action);
    tbody.append(tr);
  }
  const none = q ? "Nothing matches “" + q + "”." : libraryView === "deleted" ? "No deleted entries." : "The library is empty.";
  if (list.length === 0) { const tr = el("tr"); const td = el("td", none, "muted"); td.colSpan = 4; tr.append(td); tbody.append(tr); }
  setText("library-note", list.length === PAGE ? "The first " + PAGE + " shown; search by name to find others." : "");
}
async function restore(f, button) {
  button.disabled = true;
  try {
    await api("/api/v1/files/" + encodeURIComponent(f.id) + "/restore", { method: "POST" });
    setText("library-msg", "Restored " + f.name + "; it syncs with the next run.", "");
  } catch (e) {
    setText("library-msg", "Could not restore " + f.name + ": " + e.message, "err");
  }
  await Promise.all([refreshLibrary(), refreshStatus()]);
}
for (const b of document.querySelectorAll("#views button")) {
  b.addEventListener("click", () => { libraryView = b.dataset.view; refreshLibrary(); });
}
$("search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(refreshLibrary, 250);
});

// ---- instances and the invitation -------------------------------------------------------------------
async function refreshInstances() {
  let list;
  try { list = await api("/api/v1/instances"); } catch (e) { setText("instances-error", e.message); return; }
  setText("instances-error", "");
  instanceNames = new Map(list.map((i) => [i.id, i.name]));
  const ul = $("instances");
  ul.replaceChildren();
  for (const i of list) {
    const li = el("li");
    li.dataset.instance = i.id;
    li.append(el("strong", i.name), el("span", i.thisMachine ? " (this machine)" : "", "muted"));
    const seen = i.lastSeen ? "last published a change " + ago(i.lastSeen) : "has not published a change yet";
    li.append(el("div", seen + (i.lastVersion !== null ? " (share version " + i.lastVersion + ")" : ""), "muted small"));
    ul.append(li);
  }
}
async function refreshInvite() {
  let inv;
  try { inv = await api("/api/v1/invite"); } catch (e) { setText("invite-error", e.message); return; }
  const box = $("invite");
  box.replaceChildren();
  if (!inv.available) { box.append(el("p", inv.reason)); return; }
  for (const w of inv.warnings) box.append(el("p", "Note: " + w, "err"));
  box.append(el("p", "On the other machine, with syncd installed, run these commands in a terminal:"));
  box.append(el("p", "1. Save this machine's token to a file only you can read (paste it and press Enter):", "small"));
  box.append(el("pre", inv.saveSecret));
  box.append(el("p", "The token is server.token in this machine's configuration file; syncd invite on this machine prints it.", "muted small"));
  box.append(el("p", "2. Set up syncd there, pointing at this machine's share:", "small"));
  box.append(el("pre", inv.init));
  box.append(el("p", "3. Sync:", "small"));
  box.append(el("pre", "syncd sync"));
}

// ---- the event stream -------------------------------------------------------------------------------
function connect() {
  if (events) events.close();
  events = new EventSource("/api/v1/sse/subscribe" + (token ? "?token=" + encodeURIComponent(token) : ""));
  events.addEventListener("open", () => setText("live", "live", "muted small"));
  events.addEventListener("error", () => setText("live", "reconnecting…", "muted small"));
  events.addEventListener("sync.started", () => { startRun(); setText("result", ""); });
  events.addEventListener("sync.progress", (e) => showProgress(JSON.parse(e.data)));
  events.addEventListener("sync.completed", (e) => {
    const s = JSON.parse(e.data).summary;
    endRun(s.skipped ? "" : "Last sync: " + describe(s) + ".", "");
    refreshAll();
  });
  events.addEventListener("sync.failed", () => {
    endRun("", ""); // the state above says what went wrong (refreshStatus)
    refreshStatus();
  });
  events.addEventListener("conflict", () => { refreshConflicts(); refreshStatus(); });
}

function refreshAll() {
  return Promise.all([refreshStatus(), refreshConflicts(), refreshLibrary(), refreshInstances()]);
}
async function start() {
  connect();
  await refreshInstances(); // first: conflicts name the other side by its instance
  refreshStatus();
  refreshConflicts();
  refreshLibrary();
  refreshInvite();
}
setInterval(() => { if (!running) refreshStatus(); }, 15000);
setInterval(() => { if (!running) refreshInstances(); }, 60000);
start();
`;
