// Workflows: per key, the run invocation and its durable promises (resolved ones from
// sys_promise; awaited ones are the promise reads in a running journal that have no value).

import { admin, query } from "../api.js";
import { h, invocationLink, link, options, panel, Slot, statusBadge, table, time, valueInline } from "../dom.js";
import { decodeHex } from "../format.js";
import { inList, lit } from "../sql.js";

export const title = "Workflows";

const LIMIT = 200;

function promiseView(p) {
  const body = p.awaited
    ? h("span", { class: "badge suspended" }, "awaited")
    : p.completion_failure
      ? h("span", { class: "badge failure" }, `rejected ${p.completion_failure}`)
      : valueInline(decodeHex(p.completion_success_value ?? ""));
  return h("div", { class: "promise", dataset: { promise: p.key } }, h("code", null, p.key), ": ", body);
}

export function mount(root, { params, navigate }) {
  let service = params.get("service") ?? "";
  const select = h("select", { id: "workflow-service", onchange: () => navigate(`/ui/workflows?service=${encodeURIComponent(select.value)}`) });
  const filter = h("input", { placeholder: "filter keys", oninput: () => draw() });
  const slot = new Slot({ id: "workflow-keys" });
  let last = null;
  root.append(
    h("h1", null, "Workflows"),
    panel(null, h("div", { class: "row" }, h("label", { class: "field" }, "Workflow", select), h("label", { class: "field" }, "Key", filter))),
    panel(null, slot.el),
  );

  function draw() {
    if (!last) return;
    const wanted = filter.value.trim();
    const rows = last.rows.filter((r) => !wanted || r.key.includes(wanted));
    slot.render({ rows, service }, () => table(
      [
        { label: "Key", cell: (r) => link(`/ui/state?service=${encodeURIComponent(service)}&key=${encodeURIComponent(r.key)}`, h("code", null, r.key)) },
        { label: "Run", cell: (r) => (r.run ? invocationLink(r.run.id) : h("span", { class: "muted" }, "not started")) },
        { label: "Status", cell: (r) => (r.run ? statusBadge(r.run.status, r.run.completion_result) : "") },
        { label: "Promises", cell: (r) => (r.promises.length ? r.promises.map(promiseView) : h("span", { class: "muted" }, "none")) },
        { label: "Started", cell: (r) => (r.run ? time(r.run.created_at) : "") },
      ],
      rows,
      { empty: "No workflow of this kind has run yet.", rowProps: (r) => ({ dataset: { key: r.key } }) },
    ));
  }

  return {
    async refresh() {
      const all = (await admin("GET", "/services")).body.services.filter((s) => s.ty === "Workflow");
      options(select, all.map((s) => s.name), all.length ? undefined : { blank: "no workflows registered" });
      if (!service && all.length) {
        service = all[0].name;
        navigate(`/ui/workflows?service=${encodeURIComponent(service)}`, { replace: true });
        return;
      }
      select.value = service;
      const definition = all.find((s) => s.name === service);
      const runHandler = definition?.handlers.find((x) => x.ty === "Workflow")?.name ?? "run";
      const runs = await query(
        "SELECT id, target_service_key, status, completion_result, created_at FROM sys_invocation " +
        `WHERE target_service_name = ${lit(service)} AND target_handler_name = ${lit(runHandler)} ORDER BY created_at DESC LIMIT ${LIMIT}`,
      );
      const promises = await query(
        "SELECT service_key, key, completed, completion_success_value, completion_failure FROM sys_promise " +
        `WHERE service_name = ${lit(service)} ORDER BY service_key, key LIMIT ${LIMIT * 10}`,
      );
      const open = runs.filter((r) => r.status !== "completed").map((r) => r.id);
      const reads = await query(
        `SELECT id, entry_json FROM sys_journal WHERE ${inList("id", open)} ` +
        "AND (entry_type = 'Command: GetPromise' OR entry_type = 'Command: PeekPromise')",
      );
      const byKey = new Map();
      const entry = (key) => {
        if (!byKey.has(key)) byKey.set(key, { key, run: null, promises: [] });
        return byKey.get(key);
      };
      for (const run of runs) if (!entry(run.target_service_key ?? "").run) entry(run.target_service_key ?? "").run = run;
      for (const p of promises) entry(p.service_key).promises.push(p);
      const runKeys = new Map(runs.map((r) => [r.id, r.target_service_key ?? ""]));
      for (const read of reads) {
        let name;
        try {
          const command = JSON.parse(read.entry_json ?? "{}").Command ?? {};
          name = Object.values(command)[0]?.key;
        } catch {
          continue;
        }
        const row = entry(runKeys.get(read.id));
        if (name !== undefined && !row.promises.some((p) => p.key === name)) row.promises.push({ key: name, awaited: true });
      }
      last = { rows: [...byKey.values()] };
      draw();
    },
  };
}
