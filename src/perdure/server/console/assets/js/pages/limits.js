// Limits: every flow-control rule (GET /limits) and, per group of each, how many
// invocations run and how many wait in its queue.

import { admin } from "../api.js";
import { h, panel, Slot, table } from "../dom.js";

export const title = "Limits";

const target = (r) => (r.pattern != null ? `pattern ${r.pattern}` : r.handler ? `${r.service}/${r.handler}` : r.service);
const rate = (r) => (r.rate ? `${r.rate.count} per ${r.rate.period_ms} ms (burst ${r.rate.burst})` : "");

export function mount(root) {
  const slot = new Slot({ id: "limits" });
  root.append(h("h1", null, "Limits"), panel(null, slot.el));
  return {
    async refresh() {
      const rules = (await admin("GET", "/limits")).body.limits;
      const rows = rules.flatMap((r) => (r.groups.length ? r.groups : [{ group: "", running: 0, queued: 0 }]).map((g) => ({ ...r, ...g })));
      slot.render(rows, () => table(
        [
          { label: "Rule", cell: (r) => h("code", null, r.id) },
          { label: "Target", cell: target },
          { label: "Concurrency", cell: (r) => r.concurrency ?? "", class: "num" },
          { label: "Rate", cell: rate },
          { label: "Per", cell: (r) => r.limit_by ?? "" },
          { label: "Group", cell: (r) => (r.group ? h("code", null, r.group) : "") },
          { label: "Running", cell: (r) => String(r.running), class: "num" },
          { label: "Queued", cell: (r) => String(r.queued), class: "num" },
        ],
        rows,
        { empty: "No limits.", rowProps: (r) => ({ dataset: { rule: r.id, group: r.group } }) },
      ));
    },
  };
}
