// The console's shell: routes /ui/... paths to pages (History API, so links are real URLs
// the admin app answers with index.html), and keeps the shown page live by asking it to
// refresh every 2 s while the tab is visible (paused when hidden or by the toggle).

import { formatTime } from "./format.js";
import * as invocation from "./pages/invocation.js";
import * as invocations from "./pages/invocations.js";
import * as limits from "./pages/limits.js";
import * as overview from "./pages/overview.js";
import * as schedules from "./pages/schedules.js";
import * as services from "./pages/services.js";
import * as sql from "./pages/sql.js";
import * as state from "./pages/state.js";
import * as workflows from "./pages/workflows.js";

export const REFRESH_MS = 2000;

const ROUTES = [
  [/^\/ui\/?$/, overview, "overview"],
  [/^\/ui\/invocations\/?$/, invocations, "invocations"],
  [/^\/ui\/invocations\/([^/]+)\/?$/, invocation, "invocations"],
  [/^\/ui\/state\/?$/, state, "state"],
  [/^\/ui\/workflows\/?$/, workflows, "workflows"],
  [/^\/ui\/services\/?$/, services, "services"],
  [/^\/ui\/schedules\/?$/, schedules, "schedules"],
  [/^\/ui\/limits\/?$/, limits, "limits"],
  [/^\/ui\/sql\/?$/, sql, "sql"],
];

const root = document.getElementById("page");
const liveStatus = document.getElementById("live-status");
const liveToggle = document.getElementById("live-toggle");

let current = null; // {refresh?, unmount?} of the shown page
let generation = 0; // bumps at every navigation; a stale refresh result is dropped
let refreshing = false;
let refreshes = 0;
let paused = sessionStorage.getItem("perdure.live") === "off";

function showLive(kind, text) {
  liveStatus.className = `live-status ${kind}`;
  liveStatus.textContent = text;
  liveStatus.dataset.refreshes = String(refreshes);
  liveToggle.textContent = paused ? "resume" : "pause";
}

async function refresh(force = false) {
  const page = current;
  if (!page?.refresh || (refreshing && !force)) return;
  if (!force && (paused || document.visibilityState !== "visible")) {
    showLive("", paused ? "paused" : "hidden");
    return;
  }
  const mine = generation;
  refreshing = true;
  try {
    await page.refresh();
    if (mine !== generation) return;
    if (paused && !force) {
      showLive("", "paused"); // paused while it ran: it does not count as a live update
      return;
    }
    refreshes += 1;
    showLive(paused ? "" : "on", paused ? "paused" : `live · ${formatTime(Date.now())}`);
  } catch (error) {
    if (mine === generation) showLive("error", `error: ${error.message ?? error}`);
  } finally {
    refreshing = false;
  }
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
}

function route() {
  const path = decodeURI(location.pathname);
  const params = new URLSearchParams(location.search);
  current?.unmount?.();
  generation += 1;
  root.replaceChildren();
  for (const a of document.querySelectorAll("#nav a")) a.classList.remove("active");
  const found = ROUTES.find(([pattern]) => pattern.test(path));
  if (!found) {
    current = overview.notFound(root, path);
    return;
  }
  const [pattern, page, section] = found;
  const args = path.match(pattern).slice(1).map(decodeURIComponent);
  document.querySelector(`#nav a[data-section="${section}"]`)?.classList.add("active");
  document.title = `${page.title} · perdure console`;
  current = page.mount(root, { params, args, navigate, refreshNow: () => refresh(true) });
  if (current.refresh) refresh(true);
  else showLive("", "runs on request");
}

// In-console links navigate without reloading; modified clicks (new tab) keep their default.
document.addEventListener("click", (event) => {
  const a = event.target.closest("a[href]");
  if (!a || a.target || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/ui")) return;
  if (url.hash && url.pathname === location.pathname && url.search === location.search) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});

liveToggle.addEventListener("click", () => {
  paused = !paused;
  sessionStorage.setItem("perdure.live", paused ? "off" : "on");
  if (paused) showLive("", "paused");
  else refresh();
});

window.addEventListener("popstate", route);
document.addEventListener("visibilitychange", () => refresh());
setInterval(() => refresh(), REFRESH_MS);
route();
