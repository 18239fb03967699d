/**
 * The dashboard at `/`: one self-contained page, no framework and no build step. It reads everything
 * through the same API as any client (so it needs the token like any client): status, runs, conflicts,
 * the library, the instances and the invitation by fetch, live progress by EventSource.
 *
 * What it shows, top to bottom: the state in a few words ("In sync", "Syncing…", "Needs attention: …"),
 * the transfer in flight (bytes, rate, time left, the entry), conflicts with both sides' differing values
 * and the three choices, the library (search, recently changed, deleted ones to restore), the instances
 * sharing it, how to connect another machine, and the run history with idle checks folded together.
 *
 * The token: open `http://host:port/#token=…` once (a fragment never reaches the server or its logs), or
 * type it when asked; the page keeps it in localStorage. EventSource cannot send headers, so the stream
 * gets it as `?token=`, which the daemon accepts on that route only and never logs.
 *
 * Values from the API are only ever inserted as text (textContent), never as HTML; the Content-Security-
 * Policy allows exactly this page's inline script and style (by hash) and requests to this origin. Long
 * names and messages wrap (overflow-wrap: anywhere), so that nothing widens the page on a phone.
 */
import { createHash } from "node:crypto";
import { SCRIPT } from "./dashboard/script.js";
import { STYLE } from "./dashboard/style.js";

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>syncd</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>syncd <span id="instance" class="muted"></span></h1><span class="muted small" id="live">connecting…</span></header>
<section id="auth" class="hidden">
  <form id="auth-form">
    <p><label for="token">This daemon needs its token (<code>server.token</code> in its configuration file):</label></p>
    <div class="row"><input id="token" type="password" autocomplete="off"><button type="submit">Use token</button></div>
  </form>
</section>
<section id="overview">
  <p id="state" class="busy">Loading…</p>
  <p id="state-reason" class="err"></p>
  <p id="state-detail" class="muted"></p>
  <p class="err" id="status-error"></p>
  <div class="row"><button id="sync-now" class="primary">Sync now</button><span id="result"></span></div>
  <div id="transfer" class="hidden">
    <progress id="bar" max="1000" value="0"></progress>
    <div id="transfer-text"></div>
    <div id="transfer-current" class="muted small"></div>
  </div>
</section>
<section id="conflicts-section">
  <h2>Conflicts <span id="conflicts-count" class="muted"></span></h2>
  <p class="muted small">The same entry changed on two machines. Compare the two sides and choose which to keep.</p>
  <p class="err" id="conflicts-error"></p>
  <div id="conflicts"></div>
</section>
<section id="library">
  <h2>Library</h2>
  <div class="row"><input id="search" type="search" placeholder="Search by name" aria-label="Search by name">
    <span id="views" class="row"><button data-view="recent">Recently changed</button><button data-view="name">By name</button><button data-view="deleted">Deleted</button></span></div>
  <p class="err" id="library-error"></p>
  <p id="library-msg"></p>
  <table class="entries"><thead><tr><th>Name</th><th>Size</th><th>Changed</th><th></th></tr></thead><tbody id="entries"></tbody></table>
  <p id="library-note" class="muted small"></p>
</section>
<section id="instances-section">
  <h2>Machines sharing this library</h2>
  <p class="err" id="instances-error"></p>
  <ul id="instances" class="plain"></ul>
</section>
<section id="invite-section">
  <h2>Connect another machine</h2>
  <p class="err" id="invite-error"></p>
  <div id="invite"></div>
</section>
<section id="history">
  <h2>Recent runs</h2>
  <ul id="runs" class="plain"></ul>
</section>
<script>${SCRIPT}</script>
</body>
</html>
`;
