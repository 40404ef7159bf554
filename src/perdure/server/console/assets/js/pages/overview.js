// Overview: the services, how many invocations are in each status, and what failed lately.

import { admin, query } from "../api.js";
import { h, invocationLink, link, message, panel, Slot, statusBadge, table, time } from "../dom.js";
import { lit } from "../sql.js";

export const title = "Overview";

// Most useful first: what needs attention, then what is moving, then what is done.
const STATUS_ORDER = ["backing-off", "paused", "running", "suspended", "pending", "scheduled", "ready", "completed"];
const SERVICE_TY = { Service: "service", VirtualObject: "virtual object", Workflow: "workflow" };

const statusHref = (status) => `/ui/invocations?status=${encodeURIComponent(status)}`;

function counts(rows, failed) {
  const byStatus = new Map(rows.map((r) => [r.status, Number(r.n)]));
  const ordered = [...STATUS_ORDER.filter((s) => byStatus.has(s)), ...[...byStatus.keys()].filter((s) => !STATUS_ORDER.includes(s))];
  const total = [...byStatus.values()].reduce((a, b) => a + b, 0);
  return h(
    "div",
    { class: "cards", id: "status-counts" },
    h("a", { class: "card", href: "/ui/invocations" }, h("span", { class: "n" }, String(total)), "all"),
    ordered.map((status) =>
      h("a", { class: "card", href: statusHref(status), dataset: { status } },
        h("span", { class: "n" }, String(byStatus.get(status))), statusBadge(status)),
    ),
    h("a", { class: "card", href: statusHref("failed"), dataset: { status: "failed" } },
      h("span", { class: "n" }, String(failed)), h("span", { class: "badge failure" }, "completed · failure")),
  );
}

function servicesTable(services) {
  return table(
    [
      { label: "Service", cell: (s) => link(`/ui/services?service=${encodeURIComponent(s.name)}`, s.name) },
      { label: "Type", cell: (s) => SERVICE_TY[s.ty] ?? s.ty },
      { label: "Handlers", class: "num", cell: (s) => String(s.handlers.length) },
      { label: "Deployment", cell: (s) => h("span", { class: "mono" }, s.deployment_id) },
    ],
    services,
    { empty: "No services registered yet: register a deployment (perdure deployments register URI)." },
  );
}

function failuresTable(rows, failureCell) {
  return table(
    [
      { label: "Invocation", cell: (r) => invocationLink(r.id) },
      { label: "Target", cell: (r) => r.target },
      { label: "Status", cell: (r) => statusBadge(r.status, r.completion_result) },
      { label: "Failure", cell: (r) => h("span", { class: "clip", title: failureCell(r) }, failureCell(r)) },
      { label: "When", cell: (r) => time(r.modified_at) },
    ],
    rows,
    { empty: "None." },
  );
}

export function mount(root) {
  const countsSlot = new Slot();
  const servicesSlot = new Slot({ id: "overview-services" });
  const retryingSlot = new Slot({ id: "recent-failures" });
  const failedSlot = new Slot({ id: "failed-completions" });
  root.append(
    h("h1", null, "Overview"),
    panel("Invocations by status", countsSlot.el),
    panel("Recent failures (retrying or paused)", retryingSlot.el),
    panel("Recently completed with a failure", failedSlot.el),
    panel("Services", servicesSlot.el),
  );

  async function load(slot, fetch, build) {
    try {
      slot.render(await fetch(), build);
    } catch (error) {
      slot.showError(error);
      throw error;
    }
  }

  return {
    refresh: () => Promise.all([
      load(countsSlot, async () => {
        const rows = await query("SELECT status, COUNT(*) AS n FROM sys_invocation GROUP BY status");
        const failed = await query(`SELECT COUNT(*) AS n FROM sys_invocation WHERE completion_result = ${lit("failure")}`);
        return { rows, failed: Number(failed[0]?.n ?? 0) };
      }, (d) => counts(d.rows, d.failed)),
      load(servicesSlot, async () => (await admin("GET", "/services")).body.services, servicesTable),
      load(retryingSlot, () => query(
        "SELECT id, target, status, completion_result, retry_count, last_failure, modified_at " +
        "FROM sys_invocation WHERE last_failure IS NOT NULL ORDER BY modified_at DESC LIMIT 10",
      ), (rows) => failuresTable(rows, (r) => `${r.last_failure} · retried ${r.retry_count ?? 0}×`)),
      load(failedSlot, () => query(
        "SELECT id, target, status, completion_result, completion_failure, modified_at " +
        `FROM sys_invocation WHERE completion_result = ${lit("failure")} ORDER BY modified_at DESC LIMIT 10`,
      ), (rows) => failuresTable(rows, (r) => r.completion_failure ?? "")),
    ]),
  };
}

/** The page for a /ui/... path no route knows. */
export function notFound(root, path) {
  root.append(h("h1", null, "Not found"), message("error", `The console has no page at ${path}.`), link("/ui/", "Back to the overview"));
  return {};
}
