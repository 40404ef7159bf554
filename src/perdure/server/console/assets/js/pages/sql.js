// SQL: any read-only query over the introspection views, results as a table. Not live:
// a query runs when asked (Run, or Ctrl+Enter); the last one stays in the URL.

import { query } from "../api.js";
import { h, message, panel, table } from "../dom.js";

export const title = "SQL";

const EXAMPLES = [
  ["Invocations by status", "SELECT status, COUNT(*) AS n FROM sys_invocation GROUP BY status ORDER BY n DESC"],
  ["Retrying invocations", "SELECT id, target, retry_count, last_failure, next_retry_at FROM sys_invocation WHERE status = 'backing-off' ORDER BY modified_at DESC LIMIT 50"],
  ["Busiest handlers", "SELECT target_service_name, target_handler_name, COUNT(*) AS n FROM sys_invocation GROUP BY target_service_name, target_handler_name ORDER BY n DESC LIMIT 20"],
  ["Locked keys and their inbox", "SELECT l.service_name, l.service_key, l.invocation_id, COUNT(b.id) AS waiting FROM sys_keyed_service_status l LEFT JOIN sys_inbox b ON b.service_name = l.service_name AND b.service_key = l.service_key GROUP BY l.service_name, l.service_key, l.invocation_id"],
  ["State entries", "SELECT service_name, service_key, key, value_length FROM state ORDER BY service_name, service_key, key LIMIT 100"],
  ["Services", "SELECT name, ty, deployment_id FROM sys_service ORDER BY name"],
];

const MAX_CELL = 300;

function cell(value) {
  if (value === undefined) return h("span", { class: "muted" }, "null");
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > MAX_CELL ? h("span", { title: text }, `${text.slice(0, MAX_CELL)}…`) : text;
}

/** The columns of rows whose null fields are omitted: every name seen, in first-seen order. */
export function columnsOf(rows) {
  const names = [];
  for (const row of rows) for (const name of Object.keys(row)) if (!names.includes(name)) names.push(name);
  return names;
}

export function mount(root, { params }) {
  const editor = h("textarea", { id: "sql-query", rows: 6, spellcheck: "false" });
  editor.value = params.get("q") ?? EXAMPLES[0][1];
  const output = h("div", { id: "sql-result" });
  const run = h("button", { type: "button", class: "primary", id: "sql-run", onclick: () => execute() }, "Run");

  async function execute() {
    const sql = editor.value.trim();
    if (!sql) return;
    const url = new URL(location.href);
    url.searchParams.set("q", sql);
    history.replaceState(null, "", url);
    run.disabled = true;
    const started = performance.now();
    try {
      const rows = await query(sql);
      const ms = Math.round(performance.now() - started);
      const names = columnsOf(rows);
      output.replaceChildren(
        h("div", { class: "muted", id: "sql-summary" }, `${rows.length} row${rows.length === 1 ? "" : "s"} in ${ms} ms`),
        h("div", { class: "results" }, table(names.map((name) => ({ label: name, cell: (r) => cell(r[name]) })), rows, { empty: "No rows." })),
      );
    } catch (error) {
      output.replaceChildren(message("error", `HTTP ${error.status ?? "?"}: ${error.message}`));
    } finally {
      run.disabled = false;
    }
  }

  editor.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      execute();
    }
  });

  root.append(
    h("h1", null, "SQL", h("span", { class: "sub" }, "read-only, over sys_invocation, sys_journal, state, sys_inbox, sys_keyed_service_status, sys_promise, sys_service, sys_deployment")),
    panel(null,
      editor,
      h("div", { class: "row", style: "margin-top: 8px" }, run, h("span", { class: "muted" }, "Ctrl+Enter runs"),
        h("span", { class: "muted" }, " · examples:"),
        EXAMPLES.map(([label, sql]) => h("a", { href: "#", onclick: (event) => { event.preventDefault(); editor.value = sql; execute(); } }, label)))),
    panel(null, output),
  );
  if (params.get("q")) execute();
  return {};
}
