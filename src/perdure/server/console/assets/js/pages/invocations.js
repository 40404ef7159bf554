// Invocations: a filtered, paged table. The filters live in the URL (shareable, back
// button works): status, service, handler, key, age in minutes, a free SQL condition.

import { query, queryOne } from "../api.js";
import { h, invocationLink, message, options, panel, Slot, statusBadge, table, time } from "../dom.js";
import { isoMinutesAgo } from "../format.js";
import { lit, where } from "../sql.js";

export const title = "Invocations";

export const STATUSES = ["pending", "scheduled", "ready", "running", "suspended", "backing-off", "paused", "completed"];
const AGES = [["", "any time"], ["5", "last 5 minutes"], ["60", "last hour"], ["1440", "last 24 hours"], ["10080", "last 7 days"]];
const DEFAULT_LIMIT = 50;
const COLUMNS =
  "id, target, status, completion_result, created_at, modified_at, retry_count, last_failure, invoked_by_id";

/** The WHERE conditions the URL's filters stand for. */
export function conditions(params) {
  const status = params.get("status");
  const out = [];
  if (status === "failed") out.push(`completion_result = ${lit("failure")}`);
  else if (status) out.push(`status = ${lit(status)}`);
  if (params.get("service")) out.push(`target_service_name = ${lit(params.get("service"))}`);
  if (params.get("handler")) out.push(`target_handler_name = ${lit(params.get("handler"))}`);
  if (params.get("key")) out.push(`target_service_key = ${lit(params.get("key"))}`);
  const age = Number(params.get("age"));
  if (age > 0) out.push(`created_at >= ${lit(isoMinutesAgo(age))}`);
  if (params.get("where")) out.push(params.get("where"));
  return out;
}

function field(label, control) {
  return h("label", { class: "field" }, label, control);
}

export function mount(root, { params, navigate }) {
  const limit = Math.max(1, Math.min(500, Number(params.get("limit")) || DEFAULT_LIMIT));
  const pageNo = Math.max(0, Number(params.get("page")) || 0);

  const status = h("select", { name: "status" });
  options(status, [...STATUSES, ["failed", "completed with a failure"]], { blank: "any status" });
  status.value = params.get("status") ?? "";
  const service = h("select", { name: "service" });
  options(service, params.get("service") ? [params.get("service")] : [], { blank: "any service" });
  service.value = params.get("service") ?? "";
  const handler = h("input", { name: "handler", placeholder: "any handler", value: params.get("handler") ?? "" });
  const key = h("input", { name: "key", placeholder: "any key", value: params.get("key") ?? "" });
  const age = h("select", { name: "age" });
  options(age, AGES);
  age.value = params.get("age") ?? "";
  const whereInput = h("input", {
    name: "where", class: "wide", value: params.get("where") ?? "",
    placeholder: "SQL condition, e.g. retry_count > 0 AND target LIKE 'Cart/%'",
  });

  const form = h(
    "form",
    {
      class: "filters",
      id: "invocation-filters",
      onsubmit: (event) => {
        event.preventDefault();
        const next = new URLSearchParams();
        for (const [name, control] of Object.entries({ status, service, handler, key, age, where: whereInput })) {
          if (control.value.trim()) next.set(name, control.value.trim());
        }
        if (params.get("limit")) next.set("limit", params.get("limit"));
        navigate(`/ui/invocations${next.size ? `?${next}` : ""}`);
      },
    },
    field("Status", status), field("Service", service), field("Handler", handler), field("Key", key),
    field("Created", age), field("Where", whereInput),
    h("button", { type: "submit", class: "primary" }, "Apply"),
    h("a", { href: "/ui/invocations" }, "clear"),
  );

  const results = new Slot({ id: "invocations-table" });
  root.append(h("h1", null, "Invocations"), panel(null, form), panel(null, results.el));

  const pageHref = (n) => {
    const next = new URLSearchParams(params);
    if (n > 0) next.set("page", String(n));
    else next.delete("page");
    return `/ui/invocations?${next}`;
  };

  function build({ rows, total }) {
    const shown = rows.slice(0, limit);
    const first = pageNo * limit;
    return [
      table(
        [
          { label: "Invocation", cell: (r) => invocationLink(r.id) },
          { label: "Target", cell: (r) => r.target },
          { label: "Status", cell: (r) => statusBadge(r.status, r.completion_result) },
          { label: "Created", cell: (r) => time(r.created_at) },
          { label: "Modified", cell: (r) => time(r.modified_at) },
          { label: "Retries", class: "num", cell: (r) => String(r.retry_count ?? 0) },
          { label: "Last failure", cell: (r) => h("span", { class: "clip", title: r.last_failure ?? "" }, r.last_failure ?? "") },
        ],
        shown,
        { empty: "No invocation matches.", rowProps: (r) => ({ dataset: { id: r.id } }) },
      ),
      h(
        "div",
        { class: "pager" },
        pageNo > 0 ? h("a", { href: pageHref(pageNo - 1), rel: "prev" }, "‹ newer") : null,
        h("span", { class: "muted", id: "invocations-range" },
          shown.length ? `${first + 1}–${first + shown.length} of ${total}` : `0 of ${total}`),
        rows.length > limit ? h("a", { href: pageHref(pageNo + 1), rel: "next" }, "older ›") : null,
      ),
    ];
  }

  return {
    async refresh() {
      const services = await query("SELECT name FROM sys_service ORDER BY name");
      options(service, services.map((s) => s.name), { blank: "any service" });
      const filter = where(conditions(params));
      try {
        const rows = await query(
          `SELECT ${COLUMNS} FROM sys_invocation${filter} ORDER BY created_at DESC, id LIMIT ${limit + 1} OFFSET ${pageNo * limit}`,
        );
        const count = await queryOne(`SELECT COUNT(*) AS n FROM sys_invocation${filter}`);
        results.render({ rows, total: Number(count?.n ?? 0) }, build);
      } catch (error) {
        results.key = null;
        results.el.replaceChildren(message("error", `The query failed: ${error.message}`));
        throw error;
      }
    },
  };
}
